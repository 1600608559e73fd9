//! The end-to-end scan suite on the PostgreSQL service.
use tidewatch_tests::scan_suite as suite;
use tidewatch_tests::warehouses::Kind::Postgres;

#[tokio::test]
async fn exact_values() -> anyhow::Result<()> {
    suite::exact_values(Postgres).await
}
#[tokio::test]
async fn schema_drift() -> anyhow::Result<()> {
    suite::schema_drift(Postgres).await
}
#[tokio::test]
async fn hostile_identifiers() -> anyhow::Result<()> {
    suite::hostile_identifiers(Postgres).await
}
#[tokio::test]
async fn missing_table_does_not_stop_others() -> anyhow::Result<()> {
    suite::missing_table_does_not_stop_others(Postgres).await
}
#[tokio::test]
async fn statement_timeout() -> anyhow::Result<()> {
    suite::statement_timeout(Postgres).await
}
#[tokio::test]
async fn volume_warm_start() -> anyhow::Result<()> {
    suite::volume_warm_start(Postgres).await
}

/// The state store on PostgreSQL instead of the default SQLite file: the second scan compares with
/// the schema snapshot and learns from the history the first one stored there.
#[tokio::test]
async fn postgres_state_store() -> anyhow::Result<()> {
    use tidewatch_tests::warehouses::{Kind, TestWarehouse};
    let wh = TestWarehouse::create(Kind::Sqlite).await?;
    wh.exec("CREATE TABLE t (id INTEGER, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, NULL)")
        .await?;
    let store_db = tidewatch_tests::db::fresh_pg_database().await?;
    let yaml = format!(
        "version: 1\nstore: '{}'\nsources:\n  wh:\n    kind: sqlite\n    url: '{}'\nmonitors:\n  - name: t\n    source: wh\n    table: t\n    checks: [row_count = 2]\n",
        store_db.url(),
        wh.url()
    );
    let ws = suite::Workspace::new();
    let first = ws.scan(&yaml).await?;
    assert_eq!(
        suite::find(&first, "t", "schema", None).message,
        "first schema snapshot"
    );
    let second = ws.scan(&yaml).await?;
    assert_eq!(
        suite::find(&second, "t", "schema", None).message,
        "schema unchanged"
    );
    assert_eq!(second.exit_code(), 0);
    assert!(
        !ws.dir.join("state.db").exists(),
        "no SQLite store beside the config"
    );
    let store = tidewatch::store::Store::connect(store_db.url()).await?;
    let history = store
        .series(
            &checks::SeriesKey::new(
                "t",
                checks::Metric::NullRate,
                checks::Target::Column("v".into()),
            ),
            None,
            None,
        )
        .await?;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].value, Some(0.5));
    store.close().await;
    store_db.drop_db().await?;
    wh.cleanup().await
}

#[tokio::test]
async fn freshness_warm_start() -> anyhow::Result<()> {
    suite::freshness_warm_start(Postgres).await
}

#[tokio::test]
async fn buckets_counted_inline_after_the_warm_start() -> anyhow::Result<()> {
    suite::buckets_counted_inline_after_the_warm_start(Postgres).await
}

#[tokio::test]
async fn uniqueness_checks_and_where() -> anyhow::Result<()> {
    suite::uniqueness_checks_and_where(Postgres).await
}

#[tokio::test]
async fn incremental_matches_full() -> anyhow::Result<()> {
    suite::incremental_matches_full(Postgres).await
}

#[tokio::test]
async fn stale_table_then_rows_arrive() -> anyhow::Result<()> {
    suite::stale_table_then_rows_arrive(Postgres).await
}
