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
