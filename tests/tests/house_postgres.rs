//! The holes the house issue closed, each on the real PostgreSQL service: non-finite aggregates,
//! types without equality, a change of bucket width, concurrent scans of one monitor, retention.

// Test code: a panic on a missing value is the assertion.
#![allow(clippy::unwrap_used)]

use checks::{Metric, SeriesKey, Status, Target};
use tidewatch_tests::scan_suite::{config_head, find, Workspace};
use tidewatch_tests::warehouses::{Kind, TestWarehouse};

/// A `float8` column holding NaN and Infinity used to abort the whole scan (exit 2, no report) after
/// earlier monitors had written their buckets. Now only that column's min/max/mean are errors.
#[tokio::test]
async fn non_finite_values_fail_only_their_metrics() -> anyhow::Result<()> {
    let wh = TestWarehouse::create(Kind::Postgres).await?;
    wh.exec(
        "CREATE TABLE readings (id INT, x FLOAT8, y FLOAT8);
         INSERT INTO readings VALUES (1, 1.5, 'Infinity'), (2, 'NaN', 2.0), (3, 3.0, NULL);
         CREATE TABLE other (id INT); INSERT INTO other VALUES (1), (2)",
    )
    .await?;
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: readings\n    source: wh\n    table: {}\n  - name: other\n    source: wh\n    table: {}\n    checks: [row_count = 2]\n",
            wh.dataset("readings"),
            wh.dataset("other")
        );
    let ws = Workspace::new();
    let report = ws.scan(&yaml).await?;
    // PostgreSQL sorts NaN above every number: max(x) is NaN, min(x) a number.
    let max_x = find(&report, "readings", "max", Some("x"));
    assert_eq!(max_x.status, Status::Error, "{max_x:?}");
    assert!(max_x.message.contains("NaN"), "{}", max_x.message);
    assert_eq!(find(&report, "readings", "min", Some("x")).value, Some(1.5));
    let mean_y = find(&report, "readings", "mean", Some("y"));
    assert_eq!(mean_y.status, Status::Error, "{mean_y:?}");
    assert_eq!(find(&report, "readings", "min", Some("y")).value, Some(2.0));
    assert_eq!(
        find(&report, "readings", "null_count", Some("y")).value,
        Some(1.0)
    );
    assert_eq!(
        find(&report, "readings", "row_count", None).value,
        Some(3.0)
    );
    assert_eq!(
        find(&report, "other", "row_count", None).status,
        Status::Pass
    );
    assert_eq!(report.exit_code(), 2);
    // Everything measured was stored, the error rows too.
    let store = ws.store().await?;
    let stored = store.latest("readings").await?;
    assert!(stored
        .iter()
        .any(|r| r.key.metric == Metric::Max && r.status == Status::Error));
    assert!(stored
        .iter()
        .any(|r| r.key.metric == Metric::RowCount && r.value == Some(3.0)));
    store.close().await;
    wh.cleanup().await
}

/// `json`, `xml` and `point` have no equality operator: COUNT(DISTINCT) on them used to fail the whole
/// table. They are profiled without a distinct count, and the result says so.
#[tokio::test]
async fn columns_without_equality_are_profiled_without_distinct() -> anyhow::Result<()> {
    let wh = TestWarehouse::create(Kind::Postgres).await?;
    wh.exec(
        "CREATE TABLE docs (id INT, doc JSON, page XML, spot POINT, tags JSONB);
         INSERT INTO docs VALUES (1, '{\"a\": 1}', '<a/>', '(1,2)', '[1]'), (2, NULL, NULL, NULL, '[1]')",
    )
    .await?;
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: docs\n    source: wh\n    table: {}\n    distinct: [tags, doc]\n    checks: ['distinct_count(doc) > 0', 'null_count(doc) = 1']\n",
            wh.dataset("docs")
        );
    let ws = Workspace::new();
    let report = ws.scan(&yaml).await?;
    for col in ["doc", "page", "spot"] {
        let nulls = find(&report, "docs", "null_count", Some(col));
        assert_eq!(nulls.value, Some(1.0), "{col}");
        let details = nulls.details.as_ref().unwrap();
        assert_eq!(details["not_measured"][0], "distinct_count", "{col}");
        assert!(
            details["reason"]
                .as_str()
                .unwrap()
                .contains("no equality operator"),
            "{details}"
        );
        assert!(!report
            .results
            .iter()
            .any(|r| r.metric == Metric::DistinctCount
                && r.column().as_deref() == Some(col)
                && r.value.is_some()));
    }
    // jsonb has equality: counted when asked for.
    assert_eq!(
        find(&report, "docs", "distinct_count", Some("tags")).value,
        Some(1.0)
    );
    assert_eq!(
        find(&report, "docs", "null_count", Some("doc")).status,
        Status::Pass
    );
    // A check on the skipped metric says why it could not be judged.
    let check = find(&report, "docs", "distinct_count", Some("doc"));
    assert_eq!(check.status, Status::Error);
    assert!(
        check.message.contains("no equality operator"),
        "{}",
        check.message
    );
    assert_eq!(find(&report, "docs", "row_count", None).value, Some(2.0));
    wh.cleanup().await
}

/// Changing `bucket` from 1h to 1d starts a clean series, warm-started again, instead of mixing
/// widths in one stored series.
#[tokio::test]
async fn a_new_bucket_width_starts_a_clean_series() -> anyhow::Result<()> {
    let wh = TestWarehouse::create(Kind::Postgres).await?;
    let hour = 3600;
    let day = 86400;
    let now = chrono::Utc::now().timestamp();
    let today = now - now.rem_euclid(day);
    // Ten rows every hour for the last 10 days.
    wh.exec(&format!(
        "CREATE TABLE ev (id BIGSERIAL, created_at TIMESTAMPTZ NOT NULL);
         INSERT INTO ev (created_at)
         SELECT to_timestamp(h + i * 300) FROM generate_series(CAST({start} AS BIGINT), {end}, {hour}) AS h
         CROSS JOIN generate_series(0, 9) AS i",
        start = today - 10 * day,
        end = today + 2 * hour,
    ))
    .await?;
    let monitor = |bucket: &str| {
        config_head(&wh, "")
            + &format!(
                "  - name: ev\n    source: wh\n    table: {}\n    timestamp_column: created_at\n    bucket: {bucket}\n    lookback: 7d\n",
                wh.dataset("ev")
            )
    };
    let ws = Workspace::new();
    let at = chrono::DateTime::from_timestamp(today + 3 * hour + 60, 0).unwrap();
    let hourly = ws.scan_at(&monitor("1h"), at).await?;
    let v = find(&hourly, "ev", "volume", None);
    assert_eq!(v.value, Some(10.0));
    assert_eq!(v.details.as_ref().unwrap()["bucket_seconds"], 3600);
    let daily = ws.scan_at(&monitor("1d"), at).await?;
    let v = find(&daily, "ev", "volume", None);
    // The last complete day: 24 hours of 10 rows, not a continuation of the hourly series.
    assert_eq!(v.value, Some(240.0), "{v:?}");
    assert_eq!(v.details.as_ref().unwrap()["bucket_seconds"], 86400);
    let store = ws.store().await?;
    let key = SeriesKey::table("ev", Metric::Volume);
    let hours = store.buckets(&key, 3600, None).await?;
    let days = store.buckets(&key, 86400, None).await?;
    assert!(
        hours.iter().all(|b| b.value == 10.0),
        "hourly series unchanged"
    );
    assert_eq!(hours.len(), 7 * 24);
    // Warm-started again over the lookback: 7 complete days, each of 240 rows.
    assert_eq!(days.len(), 7, "{days:?}");
    assert!(days.iter().all(|b| b.value == 240.0), "{days:?}");
    store.close().await;
    wh.cleanup().await
}

/// Two scans of one monitor at the same time on a shared PostgreSQL store: one measures, the other
/// skips with an error, and the history holds one set of measurements.
#[tokio::test]
async fn concurrent_scans_of_one_monitor_do_not_both_write() -> anyhow::Result<()> {
    let wh = TestWarehouse::create(Kind::Postgres).await?;
    // A view that takes two seconds to read keeps the first scan inside its lease.
    wh.exec(
        "CREATE TABLE base (id INT); INSERT INTO base VALUES (1), (2);
         CREATE VIEW slow AS SELECT id FROM base, (SELECT pg_sleep(2)) AS s",
    )
    .await?;
    let store_db = tidewatch_tests::db::fresh_pg_database().await?;
    let yaml = format!(
        "version: 1\nstore: '{}'\nsources:\n  wh:\n    kind: postgres\n    url: '{}'\nmonitors:\n  - name: slow\n    source: wh\n    table: {}\n",
        store_db.url(),
        wh.url(),
        wh.dataset("slow")
    );
    let (a, b) = (Workspace::new(), Workspace::new());
    let (ra, rb) = tokio::join!(a.scan(&yaml), b.scan(&yaml));
    let (ra, rb) = (ra?, rb?);
    let skipped = |r: &checks::ScanReport| {
        r.results
            .iter()
            .any(|row| row.status == Status::Error && row.message.contains("holds its lease"))
    };
    assert!(
        skipped(&ra) != skipped(&rb),
        "exactly one scan skips: {:#?} {:#?}",
        ra.results,
        rb.results
    );
    let store = tidewatch::store::Store::connect(store_db.url()).await?;
    let history = store
        .series(&SeriesKey::table("slow", Metric::RowCount), None, None)
        .await?;
    let measured: Vec<_> = history.iter().filter(|p| p.value.is_some()).collect();
    assert_eq!(measured.len(), 1, "{history:?}");
    // The lease was released: the next scan measures.
    let third = Workspace::new().scan(&yaml).await?;
    assert!(!skipped(&third), "{:#?}", third.results);
    store.close().await;
    store_db.drop_db().await?;
    wh.cleanup().await
}

/// `retention` prunes measurements (and runs) older than it after each scan.
#[tokio::test]
async fn retention_prunes_old_history() -> anyhow::Result<()> {
    let wh = TestWarehouse::create(Kind::Postgres).await?;
    wh.exec("CREATE TABLE t (id INT); INSERT INTO t VALUES (1)")
        .await?;
    let yaml = config_head(&wh, "").replace("monitors:\n", "retention: 30d\nmonitors:\n")
        + &format!(
            "  - name: t\n    source: wh\n    table: {}\n",
            wh.dataset("t")
        );
    let ws = Workspace::new();
    let now = chrono::Utc::now();
    ws.scan_at(&yaml, now - chrono::Duration::days(45)).await?;
    ws.scan_at(&yaml, now - chrono::Duration::days(10)).await?;
    ws.scan_at(&yaml, now).await?;
    let store = ws.store().await?;
    let history = store
        .series(
            &SeriesKey::new("t", Metric::NullRate, Target::Column("id".into())),
            None,
            None,
        )
        .await?;
    assert_eq!(
        history.len(),
        2,
        "the 45-day-old point is gone: {history:?}"
    );
    // The first schema snapshot is older than the retention but is the newest one: kept.
    assert!(store.latest_schema("t").await?.is_some());
    store.close().await;
    wh.cleanup().await
}
