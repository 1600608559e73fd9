//! `discover:` monitors on the real MariaDB service: `information_schema.TABLES` row counts, sizes
//! and `UPDATE_TIME`, tables added and dropped between cycles, include/exclude globs.

// Test code: a panic on a missing value is the assertion.
#![allow(clippy::unwrap_used)]

use checks::{ScanReport, Status};
use sqlx::Connection;
use tidewatch_tests::scan_suite::{config_head, find, Workspace};
use tidewatch_tests::warehouses::{Kind, TestWarehouse};

fn monitors(report: &ScanReport) -> Vec<String> {
    let mut names: Vec<String> = report.results.iter().map(|r| r.monitor.clone()).collect();
    names.sort();
    names.dedup();
    names
}

/// `DATA_LENGTH + INDEX_LENGTH` of a table, as the catalog says.
async fn size(url: &str, table: &str) -> anyhow::Result<f64> {
    let mut c = sqlx::MySqlConnection::connect(url).await?;
    let v: f64 = sqlx::query_scalar(
        "SELECT CAST(DATA_LENGTH + INDEX_LENGTH AS DOUBLE) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
    )
    .bind(table)
    .fetch_one(&mut c)
    .await?;
    c.close().await?;
    Ok(v)
}

#[tokio::test]
async fn tables_added_and_dropped_between_cycles() -> anyhow::Result<()> {
    let wh = TestWarehouse::create(Kind::Mariadb).await?;
    let url = wh.url();
    let db = wh.dataset("x");
    let db = db.trim_end_matches(".x").to_string();
    // MyISAM keeps exact row counts and sizes in the catalog (InnoDB's are estimates).
    wh.exec(
        "CREATE TABLE orders (id INT PRIMARY KEY, email VARCHAR(40)) ENGINE=MyISAM;
         INSERT INTO orders VALUES (1, 'a'), (2, 'b'), (3, NULL);
         CREATE TABLE customers (id INT) ENGINE=MyISAM;
         INSERT INTO customers VALUES (1), (2);
         CREATE TABLE stage_load (id INT) ENGINE=MyISAM;
         CREATE TABLE audit_log (id INT) ENGINE=InnoDB",
    )
    .await?;
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: shop\n    source: wh\n    discover:\n      schemas: [{db}]\n      include: [\"*\"]\n      exclude: [\"stage_*\", \"{db}.audit_*\"]\n    checks:\n      - last_change_age_seconds < 1h\n"
        );
    let ws = Workspace::new();
    let t0 = chrono::Utc::now();
    let r1 = ws.scan_at(&yaml, t0).await?;
    let orders = format!("shop.{db}.orders");
    let customers = format!("shop.{db}.customers");
    let invoices = format!("shop.{db}.invoices");
    assert_eq!(monitors(&r1), [customers.clone(), orders.clone()]);
    assert_eq!(find(&r1, &orders, "row_estimate", None).value, Some(3.0));
    assert_eq!(find(&r1, &customers, "row_estimate", None).value, Some(2.0));
    assert_eq!(
        find(&r1, &orders, "size_bytes", None).value,
        Some(size(&url, "orders").await?)
    );
    let schema = find(&r1, &orders, "schema", None);
    assert_eq!(schema.value, Some(2.0));
    assert_eq!(
        schema.details.as_ref().unwrap()["columns"][1]["type"],
        "varchar(40)"
    );
    // UPDATE_TIME is the catalog's own last-change time: seconds ago, not "since we looked".
    let age = find(&r1, &orders, "last_change_age_seconds", None);
    assert_eq!(age.status, Status::Pass, "{age:#?}");
    assert!(age.value.unwrap() < 120.0, "{age:#?}");
    assert_eq!(
        age.details.as_ref().unwrap()["signal"],
        "catalog last-change time"
    );
    // MariaDB keeps no insert counter.
    assert!(!r1
        .results
        .iter()
        .any(|r| r.metric.as_str() == "rows_inserted"));

    wh.exec(
        "CREATE TABLE invoices (id INT, total DECIMAL(8,2)) ENGINE=MyISAM;
         DROP TABLE customers;
         INSERT INTO orders VALUES (4, 'd')",
    )
    .await?;
    let r2 = ws.scan_at(&yaml, t0 + chrono::Duration::hours(1)).await?;
    assert_eq!(
        monitors(&r2),
        [customers.clone(), invoices.clone(), orders.clone()]
    );
    let dropped: Vec<_> = r2
        .results
        .iter()
        .filter(|r| r.monitor == customers)
        .collect();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].status, Status::Error);
    assert!(dropped[0].message.starts_with("table dropped:"));
    assert_eq!(find(&r2, &orders, "row_estimate", None).value, Some(4.0));

    let r3 = ws.scan_at(&yaml, t0 + chrono::Duration::hours(2)).await?;
    assert_eq!(monitors(&r3), [invoices, orders]);
    wh.cleanup().await
}
