//! `discover:` on SQLite: the table list and the schema (SQLite keeps no table statistics), tables
//! added and dropped between cycles.

use checks::{ScanReport, Status};
use tidewatch_tests::scan_suite::{config_head, find, Workspace};
use tidewatch_tests::warehouses::{Kind, TestWarehouse};

fn monitors(report: &ScanReport) -> Vec<String> {
    let mut names: Vec<String> = report.results.iter().map(|r| r.monitor.clone()).collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn table_list_and_schema_only() -> anyhow::Result<()> {
    let wh = TestWarehouse::create(Kind::Sqlite).await?;
    wh.exec(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT); INSERT INTO orders VALUES (1, 'a');
         CREATE TABLE scratch_1 (x);",
    )
    .await?;
    let yaml = config_head(&wh, "")
        + "  - name: lite\n    source: wh\n    discover:\n      exclude: [\"scratch_*\"]\n";
    let ws = Workspace::new();
    let t0 = chrono::Utc::now();
    let r1 = ws.scan_at(&yaml, t0).await?;
    assert_eq!(monitors(&r1), ["lite.main.orders"]);
    // Only the schema: no statistics to report.
    assert_eq!(r1.results.len(), 1, "{:#?}", r1.results);
    let schema = find(&r1, "lite.main.orders", "schema", None);
    assert_eq!(schema.value, Some(2.0));
    assert_eq!(schema.status, Status::Pass);

    wh.exec("ALTER TABLE orders ADD COLUMN total REAL; CREATE TABLE items (id INTEGER)")
        .await?;
    let r2 = ws.scan_at(&yaml, t0 + chrono::Duration::hours(1)).await?;
    assert_eq!(monitors(&r2), ["lite.main.items", "lite.main.orders"]);
    let drift = find(&r2, "lite.main.orders", "schema", None);
    assert_eq!(drift.status, Status::Anomaly);
    assert_eq!(drift.message, "schema drift: added: total (real)");

    wh.exec("DROP TABLE items").await?;
    let r3 = ws.scan_at(&yaml, t0 + chrono::Duration::hours(2)).await?;
    let gone = find(&r3, "lite.main.items", "schema", None);
    assert_eq!(gone.status, Status::Error);
    assert!(gone.message.starts_with("table dropped: main.items"));
    let r4 = ws.scan_at(&yaml, t0 + chrono::Duration::hours(3)).await?;
    assert_eq!(monitors(&r4), ["lite.main.orders"]);
    wh.cleanup().await
}
