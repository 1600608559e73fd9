//! Shared helpers for the workspace tests.

pub mod db;
pub mod scan_suite;
pub mod store_conformance;
pub mod warehouses;

/// Generates one `#[tokio::test]` per case of [`store_conformance`] for a backend, each on a fresh
/// database. The case list lives here, once, so every backend runs the same suite.
///
/// ```text
/// tidewatch_tests::store_conformance_tests!(tidewatch_tests::db::Backend::Sqlite);
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($backend:expr) => {
        $crate::store_conformance_tests!(@cases $backend;
            round_trip_every_field,
            series_order_since_limit,
            latest_per_metric_and_column,
            insert_is_atomic_and_validated,
            runs_begin_and_finish,
            schema_snapshot_latest_wins,
            buckets_upsert_and_latest,
            mark_expected_changes_only_the_matched_row,
        );

        #[tokio::test]
        async fn migrations_are_idempotent() {
            let fixture = $crate::db::Fixture::create($backend, "migrations_are_idempotent")
                .await
                .expect("create a fresh database");
            $crate::store_conformance::migrations_are_idempotent(&fixture.url()).await;
            fixture.cleanup().await.expect("remove the database");
        }
    };
    (@cases $backend:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let fixture = $crate::db::Fixture::create($backend, stringify!($case))
                    .await
                    .expect("create a fresh database");
                let store = tidewatch::store::Store::connect(&fixture.url()).await.expect("connect");
                $crate::store_conformance::$case(&store).await;
                store.close().await;
                fixture.cleanup().await.expect("remove the database");
            }
        )*
    };
}
