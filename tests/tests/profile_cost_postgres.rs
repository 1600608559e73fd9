//! Profile cost on the real PostgreSQL service: several uniqueness checks and the whole default
//! profile in ONE pass over the table, and free distinct estimates from the planner's statistics.

// Test code: a panic on a missing value is the assertion.
#![allow(clippy::unwrap_used)]

use checks::{Metric, Status};
use sqlx::Connection;
use tidewatch_tests::scan_suite::{config_head, find, Workspace};
use tidewatch_tests::warehouses::{Kind, TestWarehouse};

/// Sequential scans started on `table` so far, once the server's statistics have settled.
async fn seq_scans(url: &str, table: &str) -> anyhow::Result<i64> {
    let mut last = -1;
    // Backends flush their counters when they end (and at most once a second while running): poll
    // until two readings a while apart agree.
    for _ in 0..20 {
        let mut c = sqlx::PgConnection::connect(url).await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COALESCE(seq_scan, 0) FROM pg_stat_user_tables WHERE relname = $1",
        )
        .bind(table)
        .fetch_one(&mut c)
        .await?;
        c.close().await?;
        if n == last {
            return Ok(n);
        }
        last = n;
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    }
    Ok(last)
}

#[tokio::test]
async fn several_uniqueness_checks_in_one_pass() -> anyhow::Result<()> {
    let wh = TestWarehouse::create(Kind::Postgres).await?;
    wh.exec(
        "CREATE TABLE orders (id INT, customer_id INT, a INT, b INT, email TEXT, amount NUMERIC);
         INSERT INTO orders SELECT g, g % 7, g % 3, g % 5, 'x' || g, g FROM generate_series(1, 100) g",
    )
    .await?;
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: orders\n    source: wh\n    table: {}\n    key: [id]\n    checks:\n      - duplicate_count(customer_id) = 0\n      - duplicate_count(a, b) = 0\n      - duplicate_rate(email) < 1%\n",
            wh.dataset("orders")
        );
    let before = seq_scans(&wh.url(), "orders").await?;
    let ws = Workspace::new();
    let report = ws.scan(&yaml).await?;
    let after = seq_scans(&wh.url(), "orders").await?;
    assert_eq!(after - before, 1, "one pass over the table");
    let dups = |col: &str| find(&report, "orders", "duplicate_count", Some(col)).value;
    assert_eq!(dups("id"), Some(0.0));
    assert_eq!(dups("customer_id"), Some(93.0)); // 100 rows, 7 distinct values
    assert_eq!(dups("a,b"), Some(85.0)); // 15 distinct pairs
    assert_eq!(dups("email"), Some(0.0));
    assert_eq!(
        find(&report, "orders", "duplicate_count", Some("customer_id")).status,
        Status::Fail
    );
    wh.cleanup().await
}

#[tokio::test]
async fn distinct_counts_are_exact_where_asked_and_estimated_for_free_elsewhere(
) -> anyhow::Result<()> {
    let wh = TestWarehouse::create(Kind::Postgres).await?;
    wh.exec(
        "CREATE TABLE t (id INT, city TEXT, country TEXT);
         INSERT INTO t SELECT g, 'c' || (g % 40), 'k' || (g % 4) FROM generate_series(1, 2000) g;
         ANALYZE t",
    )
    .await?;
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: t\n    source: wh\n    table: {}\n    distinct: [city]\n",
            wh.dataset("t")
        );
    let report = Workspace::new().scan(&yaml).await?;
    let city = find(&report, "t", "distinct_count", Some("city"));
    assert_eq!(city.value, Some(40.0));
    assert!(city.details.is_none(), "exact: {city:?}");
    let country = find(&report, "t", "distinct_count", Some("country"));
    assert_eq!(
        country.value,
        Some(4.0),
        "the planner's estimate is exact here"
    );
    let details = country.details.as_ref().unwrap();
    assert_eq!(details["approximate"], true);
    assert_eq!(details["method"], "pg_stats.n_distinct");
    // n_distinct is a fraction of the rows for a unique column: scaled by reltuples.
    let id = find(&report, "t", "distinct_count", Some("id"));
    assert_eq!(id.value, Some(2000.0));
    assert!(report
        .results
        .iter()
        .all(|r| r.metric != Metric::DistinctCount || r.status != Status::Error));
    wh.cleanup().await
}

/// `sample:` takes the column statistics from a block sample (marked approximate, with the sample's
/// size) while the row count and duplicates stay exact; a warehouse without TABLESAMPLE makes that
/// monitor an error, and the others still run.
#[tokio::test]
async fn sample_estimates_column_statistics_only() -> anyhow::Result<()> {
    let wh = TestWarehouse::create(Kind::Postgres).await?;
    wh.exec(
        "CREATE TABLE big (id INT, email TEXT, amount INT);
         INSERT INTO big SELECT g, CASE WHEN g % 10 = 0 THEN NULL ELSE 'u' || g END, g % 100
           FROM generate_series(1, 200000) g;
         INSERT INTO big VALUES (7, 'dup', 1), (8, 'dup', 1);
         ANALYZE big",
    )
    .await?;
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: big\n    source: wh\n    table: {}\n    key: [id]\n    sample: 10%\n    checks:\n      - null_rate(email) < 20%\n",
            wh.dataset("big")
        );
    let ws = Workspace::new();
    let report = ws.scan(&yaml).await?;
    assert_eq!(
        find(&report, "big", "row_count", None).value,
        Some(200002.0)
    );
    assert_eq!(
        find(&report, "big", "duplicate_count", Some("id")).value,
        Some(2.0),
        "duplicates are exact, never from the sample"
    );
    let rate = find(&report, "big", "null_rate", Some("email"));
    let r = rate.value.unwrap();
    assert!((r - 0.1).abs() < 0.02, "sampled NULL rate {r}");
    assert_eq!(rate.status, Status::Pass);
    let d = rate.details.as_ref().expect("sampled rate says so");
    assert_eq!(d["approximate"], true);
    assert_eq!(d["sample_percent"], 10.0);
    let sampled = d["sampled_rows"].as_f64().unwrap();
    assert!(sampled > 5_000.0 && sampled < 60_000.0, "{sampled}");
    let count = find(&report, "big", "null_count", Some("email"))
        .value
        .unwrap();
    assert!((count - r * 200002.0).abs() <= 1.0, "{count} vs {r}");
    let mean = find(&report, "big", "mean", Some("amount"));
    assert!(mean.details.is_some());
    assert!(find(&report, "big", "row_count", None).details.is_none());
    wh.cleanup().await?;

    // SQLite has no TABLESAMPLE: that monitor is an error naming it; the other monitor runs.
    let lite = TestWarehouse::create(Kind::Sqlite).await?;
    lite.exec("CREATE TABLE t (id INT); INSERT INTO t VALUES (1), (2)")
        .await?;
    let yaml = config_head(&lite, "")
        + "  - name: sampled\n    source: wh\n    table: t\n    sample: 1%\n"
        + "  - name: whole\n    source: wh\n    table: t\n";
    let report = ws.scan(&yaml).await?;
    let err = report
        .results
        .iter()
        .find(|r| r.monitor == "sampled" && r.status == Status::Error)
        .expect("error row");
    assert!(err.message.contains("TABLESAMPLE"), "{}", err.message);
    assert_eq!(find(&report, "whole", "row_count", None).value, Some(2.0));
    lite.cleanup().await
}
