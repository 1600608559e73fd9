//! The end-to-end scan suite on the MariaDB service.
use tidewatch_tests::scan_suite as suite;
use tidewatch_tests::warehouses::Kind::Mariadb;

#[tokio::test]
async fn exact_values() -> anyhow::Result<()> {
    suite::exact_values(Mariadb).await
}
#[tokio::test]
async fn schema_drift() -> anyhow::Result<()> {
    suite::schema_drift(Mariadb).await
}
#[tokio::test]
async fn hostile_identifiers() -> anyhow::Result<()> {
    suite::hostile_identifiers(Mariadb).await
}
#[tokio::test]
async fn missing_table_does_not_stop_others() -> anyhow::Result<()> {
    suite::missing_table_does_not_stop_others(Mariadb).await
}
#[tokio::test]
async fn statement_timeout() -> anyhow::Result<()> {
    suite::statement_timeout(Mariadb).await
}

#[tokio::test]
async fn buckets_counted_inline_after_the_warm_start() -> anyhow::Result<()> {
    suite::buckets_counted_inline_after_the_warm_start(Mariadb).await
}

#[tokio::test]
async fn uniqueness_checks_and_where() -> anyhow::Result<()> {
    suite::uniqueness_checks_and_where(Mariadb).await
}

#[tokio::test]
async fn incremental_matches_full() -> anyhow::Result<()> {
    suite::incremental_matches_full(Mariadb).await
}

#[tokio::test]
async fn stale_table_then_rows_arrive() -> anyhow::Result<()> {
    suite::stale_table_then_rows_arrive(Mariadb).await
}
