//! The end-to-end scan suite on a SQLite file (statement timeouts: SQLite has no server-side timeout to test).
use tidewatch_tests::scan_suite as suite;
use tidewatch_tests::warehouses::Kind::Sqlite;

#[tokio::test]
async fn exact_values() -> anyhow::Result<()> {
    suite::exact_values(Sqlite).await
}
#[tokio::test]
async fn schema_drift() -> anyhow::Result<()> {
    suite::schema_drift(Sqlite).await
}
#[tokio::test]
async fn hostile_identifiers() -> anyhow::Result<()> {
    suite::hostile_identifiers(Sqlite).await
}
#[tokio::test]
async fn missing_table_does_not_stop_others() -> anyhow::Result<()> {
    suite::missing_table_does_not_stop_others(Sqlite).await
}

#[tokio::test]
async fn buckets_counted_inline_after_the_warm_start() -> anyhow::Result<()> {
    suite::buckets_counted_inline_after_the_warm_start(Sqlite).await
}

#[tokio::test]
async fn uniqueness_checks_and_where() -> anyhow::Result<()> {
    suite::uniqueness_checks_and_where(Sqlite).await
}

#[tokio::test]
async fn incremental_matches_full() -> anyhow::Result<()> {
    suite::incremental_matches_full(Sqlite).await
}

#[tokio::test]
async fn stale_table_then_rows_arrive() -> anyhow::Result<()> {
    suite::stale_table_then_rows_arrive(Sqlite).await
}
