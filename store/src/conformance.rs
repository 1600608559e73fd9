//! The state store contract, written once and run against every backend by
//! [`crate::store_conformance_tests!`]. Each case gets a fresh, empty store.
//!
//! Failures panic: in a test, the panic with its message is the assertion.

use crate::{
    BucketPoint, BucketRecord, Lease, MeasurementRecord, MonitorWrite, Pruned, SeriesPoint, Store,
    StoreError,
};
use checks::{Column, Metric, SeriesKey, Status, Target};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::future::Future;

/// A fresh, empty database for one case, made by the caller of [`crate::store_conformance_tests!`].
pub trait TestDatabase {
    /// The store url of the database.
    fn url(&self) -> String;
    /// Removes the database; every store on it is closed before. Panics on failure.
    fn remove(self) -> impl Future<Output = ()>;
}

/// Generates one `#[tokio::test]` per case of [`crate::conformance`] for a backend, each on a fresh
/// database made by `$fresh`: a closure from the case name to a future of a [`TestDatabase`]. The case
/// list lives here, once, so every backend runs the same suite. The calling crate depends on `tokio`.
///
/// ```text
/// tidewatch_store::store_conformance_tests!(|case| my_tests::fresh_sqlite(case));
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($fresh:expr) => {
        $crate::store_conformance_tests!(@store $fresh;
            round_trip_every_field,
            series_order_since_limit,
            latest_per_metric_and_column,
            insert_is_atomic_and_validated,
            runs_begin_and_finish,
            schema_snapshot_latest_wins,
            buckets_upsert_and_latest,
            buckets_are_keyed_by_width,
            mark_expected_changes_only_the_matched_row,
            series_and_buckets_by_composite_key,
            write_monitor_stores_everything,
            write_monitor_is_atomic,
            leases_serialize_a_monitor,
            prune_deletes_old_history_and_keeps_the_newest_snapshot,
            incidents_one_unresolved_per_series,
            silences_store_and_expire,
            alerting_commit_is_atomic_and_versioned,
            outbox_delivery_states,
            outbox_claims_are_exclusive,
            prune_alerting_keeps_pending_and_recent,
        );

        #[::tokio::test]
        async fn migrations_are_idempotent() {
            let db = ($fresh)("migrations_are_idempotent").await;
            let url = $crate::conformance::TestDatabase::url(&db);
            $crate::conformance::migrations_are_idempotent(&url).await;
            $crate::conformance::TestDatabase::remove(db).await;
        }
    };
    (@store $fresh:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test]
            async fn $case() {
                let db = ($fresh)(stringify!($case)).await;
                let url = $crate::conformance::TestDatabase::url(&db);
                let store = $crate::Store::connect(&url).await.expect("connect");
                $crate::conformance::$case(&store).await;
                store.close().await;
                $crate::conformance::TestDatabase::remove(db).await;
            }
        )*
    };
}

/// 2024-03-01T12:00:00.123456Z: a base time with a microsecond part that must survive the round trip.
pub fn t0() -> DateTime<Utc> {
    ts("2024-03-01T12:00:00.123456Z")
}

pub fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid test timestamp")
        .with_timezone(&Utc)
}

fn us(n: i64) -> Duration {
    Duration::microseconds(n)
}

/// The key of `metric` over `column` (a key metric's `column` is its key columns joined by `,`).
pub fn key(monitor: &str, metric: Metric, column: Option<&str>) -> SeriesKey {
    SeriesKey::new(monitor, metric, Target::from_label(metric, column))
}

/// A passing measurement with the given key and value; other fields are plain defaults.
pub fn rec(
    run_id: i64,
    monitor: &str,
    metric: Metric,
    column: Option<&str>,
    value: f64,
    observed_at: DateTime<Utc>,
) -> MeasurementRecord {
    MeasurementRecord {
        run_id,
        key: key(monitor, metric, column),
        source: "warehouse".into(),
        dataset: "public.orders".into(),
        value: Some(value),
        status: Status::Pass,
        lower: None,
        upper: None,
        message: String::new(),
        details: None,
        observed_at,
        score: None,
    }
}

/// An hourly bucket of `key` starting `n` hours after [`t0`].
pub fn hourly(key: &SeriesKey, n: i64, value: f64) -> BucketRecord {
    BucketRecord {
        key: key.clone(),
        bucket_start: t0() + Duration::hours(n),
        bucket_seconds: 3600,
        value,
        observed_at: t0() + Duration::days(1),
    }
}

fn values(points: &[SeriesPoint]) -> Vec<Option<f64>> {
    points.iter().map(|p| p.value).collect()
}

fn col(name: &str, data_type: &str) -> Column {
    Column {
        name: name.into(),
        data_type: data_type.into(),
    }
}

async fn run(store: &Store) -> i64 {
    store.begin_run(t0()).await.expect("begin_run")
}

/// The run's problem count as stored.
async fn problems(store: &Store, run_id: i64) -> Option<i64> {
    store
        .run(run_id)
        .await
        .expect("read the run")
        .expect("the run exists")
        .problems
}

/// Connecting twice to the same database re-runs migrations as a no-op and keeps the data.
pub async fn migrations_are_idempotent(url: &str) {
    let first = Store::connect(url).await.expect("first connect");
    let run_id = run(&first).await;
    let row = rec(run_id, "orders", Metric::RowCount, None, 42.0, t0());
    first
        .insert_measurements(std::slice::from_ref(&row))
        .await
        .expect("insert");
    first.close().await;

    let second = Store::connect(url)
        .await
        .expect("second connect runs migrations again");
    assert_eq!(second.latest("orders").await.expect("latest"), vec![row]);
    let next = run(&second).await;
    assert!(
        next > run_id,
        "run ids keep increasing: {next} after {run_id}"
    );
    second.close().await;

    let third = Store::connect(url).await.expect("third connect");
    assert_eq!(third.latest("orders").await.expect("latest").len(), 1);
    third.close().await;
}

/// Every field of a measurement comes back exactly as written.
pub async fn round_trip_every_field(store: &Store) {
    let run1 = run(store).await;
    let run2 = run(store).await;
    let rows = vec![
        MeasurementRecord {
            run_id: run1,
            key: key("orders", Metric::RowCount, None),
            source: "warehouse".into(),
            dataset: "public.orders".into(),
            value: Some(1234.5),
            status: Status::Pass,
            lower: Some(-1.25),
            upper: Some(1e12),
            message: "within band".into(),
            details: Some(json!({
                "list": [1, 2.5, "x", null, false],
                "nested": {"b": true, "n": -7},
                "text": "é ✓ \"quoted\" \\ back\nslash",
            })),
            observed_at: t0() + us(1),
            score: Some(0.875),
        },
        MeasurementRecord {
            run_id: run2,
            key: key("orders", Metric::NullRate, Some("email")),
            source: "warehouse".into(),
            dataset: "public.orders".into(),
            value: None,
            status: Status::Error,
            lower: None,
            upper: None,
            message: "query failed: statement timeout".into(),
            details: None,
            observed_at: t0(),
            score: None,
        },
        MeasurementRecord {
            run_id: run2,
            key: key("orders", Metric::Mean, Some("amount")),
            source: "lake".into(),
            dataset: "s3://bucket/orders/*.parquet".into(),
            value: Some(1e-300),
            status: Status::Learning,
            lower: Some(f64::MIN),
            upper: Some(f64::MAX),
            message: String::new(),
            details: Some(json!([])),
            observed_at: ts("1969-12-31T23:59:59.999999Z"),
            score: None,
        },
        MeasurementRecord {
            run_id: run1,
            key: key("orders", Metric::FreshnessSeconds, None),
            source: "warehouse".into(),
            dataset: "public.orders".into(),
            value: Some(-0.000001),
            status: Status::Fail,
            lower: None,
            upper: Some(7200.0),
            message: "freshness < 2h failed".into(),
            details: Some(json!("a bare string")),
            observed_at: ts("2038-01-19T03:14:08.000001Z"),
            score: None,
        },
        MeasurementRecord {
            run_id: run1,
            key: key("orders", Metric::NullRate, Some("name")),
            source: "warehouse".into(),
            dataset: "public.orders".into(),
            value: Some(0.0),
            status: Status::Anomaly,
            lower: Some(0.0),
            upper: Some(0.5),
            message: "outside band".into(),
            details: Some(json!({"z": 1, "a": 2})),
            observed_at: t0() + Duration::hours(1),
            score: None,
        },
    ];
    store.insert_measurements(&rows).await.expect("insert");

    let mut expected = rows.clone();
    expected.sort_by_key(|r| (r.key.metric.as_str(), r.key.label().unwrap_or_default()));
    assert_eq!(store.latest("orders").await.expect("latest"), expected);

    for row in &rows {
        let points = store.series(&row.key, None, None).await.expect("series");
        assert_eq!(points.len(), 1, "one point for {}", row.key);
        assert_eq!(points[0].observed_at, row.observed_at);
        assert_eq!(points[0].value, row.value);
        assert_eq!(points[0].status, row.status);
        assert!(!points[0].expected_anomaly);
    }
}

/// Series come back oldest first, `since` is inclusive and exact to the microsecond, and `limit`
/// keeps the newest points.
pub async fn series_order_since_limit(store: &Store) {
    let r = run(store).await;
    let offsets = [
        Duration::zero(),
        Duration::seconds(60),
        Duration::seconds(120),
        Duration::seconds(120) + us(1),
        Duration::seconds(180),
    ];
    // Inserted out of order, in two batches, so neither id nor insertion order gives the answer.
    let point = |i: usize| {
        rec(
            r,
            "orders",
            Metric::RowCount,
            None,
            i as f64,
            t0() + offsets[i],
        )
    };
    store
        .insert_measurements(&[point(3), point(0), point(4)])
        .await
        .expect("insert");
    store
        .insert_measurements(&[point(1), point(2)])
        .await
        .expect("insert");
    // Neighbours that must not leak into the series.
    store
        .insert_measurements(&[
            rec(r, "orders", Metric::RowCount, Some("x"), 100.0, t0()),
            rec(r, "orders", Metric::NullCount, None, 200.0, t0()),
            rec(r, "other", Metric::RowCount, None, 300.0, t0()),
        ])
        .await
        .expect("insert neighbours");

    let all = store
        .series(&key("orders", Metric::RowCount, None), None, None)
        .await
        .expect("series");
    assert_eq!(
        values(&all),
        vec![Some(0.0), Some(1.0), Some(2.0), Some(3.0), Some(4.0)]
    );
    let times: Vec<_> = all.iter().map(|p| p.observed_at).collect();
    let want: Vec<_> = offsets.iter().map(|o| t0() + *o).collect();
    assert_eq!(times, want);

    let row_count = key("orders", Metric::RowCount, None);
    let series = |since, limit| store.series(&row_count, since, limit);
    let boundary = t0() + Duration::seconds(120);
    assert_eq!(
        values(&series(Some(boundary), None).await.expect("since")),
        vec![Some(2.0), Some(3.0), Some(4.0)]
    );
    assert_eq!(
        values(
            &series(Some(boundary + us(1)), None)
                .await
                .expect("since + 1µs")
        ),
        vec![Some(3.0), Some(4.0)]
    );
    assert_eq!(
        values(&series(None, Some(2)).await.expect("limit")),
        vec![Some(3.0), Some(4.0)]
    );
    assert_eq!(
        values(&series(None, Some(0)).await.expect("limit 0")),
        Vec::<Option<f64>>::new()
    );
    assert_eq!(
        values(&series(None, Some(10)).await.expect("limit 10")).len(),
        5
    );
    assert_eq!(
        values(
            &series(Some(t0() + Duration::seconds(60)), Some(2))
                .await
                .expect("since and limit")
        ),
        vec![Some(3.0), Some(4.0)]
    );
    assert_eq!(
        values(
            &series(Some(t0() + Duration::seconds(150)), Some(5))
                .await
                .expect("since and limit")
        ),
        vec![Some(4.0)]
    );
    assert!(series(Some(t0() + Duration::hours(1)), None)
        .await
        .expect("future since")
        .is_empty());

    let col = store
        .series(&key("orders", Metric::RowCount, Some("x")), None, None)
        .await
        .expect("column");
    assert_eq!(values(&col), vec![Some(100.0)]);
    assert!(store
        .series(&key("orders", Metric::RowCount, Some("y")), None, None)
        .await
        .expect("none")
        .is_empty());
    assert!(matches!(
        store
            .series(&key("orders", Metric::RowCount, None), None, Some(-1))
            .await,
        Err(StoreError::Invalid { .. })
    ));
}

/// `latest` gives the newest row per (metric, column) by `observed_at`, not by insertion order.
pub async fn latest_per_metric_and_column(store: &Store) {
    let run1 = run(store).await;
    let run2 = run(store).await;
    let run3 = run(store).await;
    let hour = Duration::hours(1);
    store
        .insert_measurements(&[
            rec(run1, "orders", Metric::RowCount, None, 10.0, t0()),
            rec(run1, "orders", Metric::NullRate, Some("email"), 0.1, t0()),
            rec(run1, "orders", Metric::NullRate, Some("name"), 0.2, t0()),
        ])
        .await
        .expect("run 1");
    store
        .insert_measurements(&[
            rec(run2, "orders", Metric::RowCount, None, 11.0, t0() + hour),
            rec(
                run2,
                "orders",
                Metric::NullRate,
                Some("email"),
                0.3,
                t0() + hour,
            ),
        ])
        .await
        .expect("run 2");
    // Inserted last but observed first: must not win.
    store
        .insert_measurements(&[
            rec(run3, "orders", Metric::RowCount, None, 9.0, t0() - hour),
            rec(run3, "other", Metric::RowCount, None, 99.0, t0() + hour * 2),
        ])
        .await
        .expect("run 3");

    let latest = store.latest("orders").await.expect("latest");
    assert_eq!(
        latest,
        vec![
            rec(
                run2,
                "orders",
                Metric::NullRate,
                Some("email"),
                0.3,
                t0() + hour
            ),
            rec(run1, "orders", Metric::NullRate, Some("name"), 0.2, t0()),
            rec(run2, "orders", Metric::RowCount, None, 11.0, t0() + hour),
        ]
    );
    assert!(store
        .latest("nobody")
        .await
        .expect("latest of unknown")
        .is_empty());
}

/// A batch is stored whole or not at all; invalid records are refused before touching the database.
pub async fn insert_is_atomic_and_validated(store: &Store) {
    let r = run(store).await;
    let good = rec(r, "orders", Metric::RowCount, None, 1.0, t0());
    let unknown_run = rec(
        r + 1_000_000,
        "orders",
        Metric::RowCount,
        None,
        2.0,
        t0() + us(1),
    );
    let err = store
        .insert_measurements(&[good.clone(), unknown_run])
        .await;
    assert!(
        matches!(err, Err(StoreError::Query { .. })),
        "unknown run id is refused: {err:?}"
    );
    assert!(
        store.latest("orders").await.expect("latest").is_empty(),
        "nothing of the failed batch stays"
    );

    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut value = good.clone();
        value.value = Some(bad);
        let mut lower = good.clone();
        lower.lower = Some(bad);
        let mut upper = good.clone();
        upper.upper = Some(bad);
        for row in [value, lower, upper] {
            let err = store.insert_measurements(&[good.clone(), row]).await;
            assert!(
                matches!(err, Err(StoreError::Invalid { .. })),
                "{bad} is refused: {err:?}"
            );
        }
    }
    let mut empty_col = good.clone();
    empty_col.key.target = Target::Column(String::new());
    let err = store.insert_measurements(&[good.clone(), empty_col]).await;
    assert!(
        matches!(err, Err(StoreError::Invalid { .. })),
        "empty column name is refused: {err:?}"
    );
    assert!(store.latest("orders").await.expect("latest").is_empty());

    store
        .insert_measurements(std::slice::from_ref(&good))
        .await
        .expect("good row alone");
    assert_eq!(store.latest("orders").await.expect("latest"), vec![good]);
}

/// Run ids increase, a run reads back as written; finishing an unknown run is an error.
pub async fn runs_begin_and_finish(store: &Store) {
    let a = run(store).await;
    let b = store.begin_run(t0() + us(1)).await.expect("begin_run");
    assert!(b > a, "run ids increase: {a} then {b}");
    let begun = store.run(b).await.expect("read run b").expect("run b");
    assert_eq!(
        (
            begun.id,
            begun.started_at,
            begun.finished_at,
            begun.problems
        ),
        (b, t0() + us(1), None, None)
    );
    store
        .finish_run(a, t0() + Duration::minutes(5), 3)
        .await
        .expect("finish run a");
    store
        .finish_run(b, t0() + Duration::minutes(6), 0)
        .await
        .expect("finish run b");
    let finished = store.run(a).await.expect("read run a").expect("run a");
    assert_eq!(finished.finished_at, Some(t0() + Duration::minutes(5)));
    assert_eq!(finished.problems, Some(3));
    let missing = b + 1_000;
    match store.finish_run(missing, t0(), 0).await {
        Err(StoreError::RunNotFound(id)) => assert_eq!(id, missing),
        other => panic!("expected RunNotFound, got {other:?}"),
    }
    assert_eq!(store.run(missing).await.expect("read missing"), None);
}

/// The schema snapshot with the newest `observed_at` of the monitor wins.
pub async fn schema_snapshot_latest_wins(store: &Store) {
    let col = |n: &str, t: &str| Column {
        name: n.into(),
        data_type: t.into(),
    };
    assert_eq!(store.latest_schema("orders").await.expect("empty"), None);
    let run1 = run(store).await;
    let run2 = run(store).await;
    let run3 = run(store).await;
    let hour = Duration::hours(1);
    let v1 = vec![col("id", "integer"), col("email", "text")];
    let v2 = vec![
        col("note", "text"),
        col("id", "bigint"),
        col("email", "character varying(255)"),
    ];
    store
        .save_schema(run1, "orders", "public.orders", t0(), &v1)
        .await
        .expect("save v1");
    store
        .save_schema(run2, "orders", "public.orders", t0() + hour + us(1), &v2)
        .await
        .expect("save v2");
    // Older snapshot saved last, and a newer one of another monitor: neither wins.
    store
        .save_schema(
            run3,
            "orders",
            "public.orders",
            t0() - hour,
            &[col("x", "int")],
        )
        .await
        .expect("old");
    store
        .save_schema(
            run3,
            "other",
            "public.other",
            t0() + hour * 5,
            &[col("y", "int")],
        )
        .await
        .expect("other");

    let latest = store
        .latest_schema("orders")
        .await
        .expect("latest")
        .expect("a snapshot");
    assert_eq!(latest.run_id, run2);
    assert_eq!(latest.observed_at, t0() + hour + us(1));
    assert_eq!(latest.columns, v2, "columns keep their order and spelling");
    let other = store
        .latest_schema("other")
        .await
        .expect("latest other")
        .expect("a snapshot");
    assert_eq!(other.columns, vec![col("y", "int")]);
}

/// Upserting a bucket with an existing key overwrites it; `latest_bucket` tracks the newest start.
pub async fn buckets_upsert_and_latest(store: &Store) {
    let h = |n: i64| t0() + Duration::hours(n);
    let bucket = |column: Option<&str>, n: i64, value: f64| {
        hourly(&key("orders", Metric::Volume, column), n, value)
    };
    let points = |pairs: &[(i64, f64)]| -> Vec<BucketPoint> {
        pairs
            .iter()
            .map(|(n, v)| BucketPoint {
                bucket_start: h(*n),
                value: *v,
            })
            .collect()
    };
    assert_eq!(
        store
            .latest_bucket(&key("orders", Metric::Volume, None), 3600)
            .await
            .expect("empty"),
        None
    );

    store
        .upsert_buckets(&[
            bucket(None, 2, 30.0),
            bucket(None, 0, 10.0),
            bucket(None, 1, 20.0),
            bucket(None, 3, 40.0),
            bucket(Some("region"), 5, 7.0),
        ])
        .await
        .expect("first backfill");
    let mut other = bucket(None, 9, 1.0);
    other.key.monitor = "other".into();
    store.upsert_buckets(&[other]).await.expect("other monitor");
    assert_eq!(
        store
            .buckets(&key("orders", Metric::Volume, None), 3600, None)
            .await
            .expect("buckets"),
        points(&[(0, 10.0), (1, 20.0), (2, 30.0), (3, 40.0)])
    );

    store
        .upsert_buckets(&[
            bucket(None, 4, 50.0),
            bucket(None, 2, 35.0),
            bucket(None, 1, 25.0),
        ])
        .await
        .expect("re-backfill");
    assert_eq!(
        store
            .buckets(&key("orders", Metric::Volume, None), 3600, None)
            .await
            .expect("buckets"),
        points(&[(0, 10.0), (1, 25.0), (2, 35.0), (3, 40.0), (4, 50.0)])
    );
    assert_eq!(
        store
            .buckets(&key("orders", Metric::Volume, None), 3600, Some(h(2)))
            .await
            .expect("since"),
        points(&[(2, 35.0), (3, 40.0), (4, 50.0)])
    );
    assert_eq!(
        store
            .buckets(&key("orders", Metric::Volume, Some("region")), 3600, None)
            .await
            .expect("column"),
        points(&[(5, 7.0)])
    );
    assert_eq!(
        store
            .latest_bucket(&key("orders", Metric::Volume, None), 3600)
            .await
            .expect("latest"),
        Some(h(4))
    );
    assert_eq!(
        store
            .latest_bucket(&key("orders", Metric::Volume, Some("region")), 3600)
            .await
            .expect("latest"),
        Some(h(5))
    );
    assert_eq!(
        store
            .latest_bucket(&key("orders", Metric::RowCount, None), 3600)
            .await
            .expect("latest"),
        None
    );
    assert_eq!(
        store
            .latest_bucket(&key("other", Metric::Volume, None), 3600)
            .await
            .expect("latest"),
        Some(h(9))
    );
}

/// `mark_expected` flags exactly the measurement with the given key and time.
pub async fn mark_expected_changes_only_the_matched_row(store: &Store) {
    let r = run(store).await;
    let anomaly = |monitor: &str, metric: Metric, column: Option<&str>, at| MeasurementRecord {
        status: Status::Anomaly,
        ..rec(r, monitor, metric, column, 5.0, at)
    };
    let later = t0() + Duration::hours(1);
    store
        .insert_measurements(&[
            anomaly("orders", Metric::RowCount, None, t0()),
            anomaly("orders", Metric::RowCount, None, later),
            anomaly("orders", Metric::RowCount, Some("x"), t0()),
            anomaly("orders", Metric::NullCount, None, t0()),
            anomaly("other", Metric::RowCount, None, t0()),
        ])
        .await
        .expect("insert");
    let flags = |monitor: &'static str, metric: Metric, column: Option<&'static str>| async move {
        store
            .series(&key(monitor, metric, column), None, None)
            .await
            .expect("series")
            .iter()
            .map(|p| p.expected_anomaly)
            .collect::<Vec<bool>>()
    };

    assert_eq!(
        store
            .mark_expected(&key("orders", Metric::RowCount, None), t0())
            .await
            .expect("mark"),
        1
    );
    assert_eq!(
        flags("orders", Metric::RowCount, None).await,
        vec![true, false]
    );
    assert_eq!(
        flags("orders", Metric::RowCount, Some("x")).await,
        vec![false]
    );
    assert_eq!(flags("orders", Metric::NullCount, None).await, vec![false]);
    assert_eq!(flags("other", Metric::RowCount, None).await, vec![false]);

    assert_eq!(
        store
            .mark_expected(&key("orders", Metric::RowCount, None), t0())
            .await
            .expect("again"),
        0,
        "already marked"
    );
    assert_eq!(
        store
            .mark_expected(&key("orders", Metric::RowCount, None), t0() + us(1))
            .await
            .expect("off by 1µs"),
        0
    );
    assert_eq!(
        store
            .mark_expected(&key("nobody", Metric::RowCount, None), t0())
            .await
            .expect("unknown"),
        0
    );

    assert_eq!(
        store
            .mark_expected(&key("orders", Metric::RowCount, Some("x")), t0())
            .await
            .expect("column"),
        1
    );
    assert_eq!(
        flags("orders", Metric::RowCount, Some("x")).await,
        vec![true]
    );
    assert_eq!(
        flags("orders", Metric::RowCount, None).await,
        vec![true, false]
    );
}

/// A bucket series is keyed by its width too: the same key at another width is another series, and
/// a bucket start shared by two widths keeps both.
pub async fn buckets_are_keyed_by_width(store: &Store) {
    let volume = key("orders", Metric::Volume, None);
    let daily = |days: i64, value: f64| BucketRecord {
        bucket_start: t0() + Duration::days(days),
        bucket_seconds: 86_400,
        ..hourly(&volume, 0, value)
    };
    store
        .upsert_buckets(&[
            hourly(&volume, 0, 1.0),
            hourly(&volume, 1, 2.0),
            hourly(&volume, 2, 3.0),
            daily(0, 24.0),
            daily(-1, 20.0),
        ])
        .await
        .expect("two widths");
    let starts = |points: Vec<BucketPoint>| -> Vec<(DateTime<Utc>, f64)> {
        points.iter().map(|p| (p.bucket_start, p.value)).collect()
    };
    assert_eq!(
        starts(store.buckets(&volume, 3600, None).await.expect("hourly")),
        vec![
            (t0(), 1.0),
            (t0() + Duration::hours(1), 2.0),
            (t0() + Duration::hours(2), 3.0)
        ]
    );
    assert_eq!(
        starts(store.buckets(&volume, 86_400, None).await.expect("daily")),
        vec![(t0() - Duration::days(1), 20.0), (t0(), 24.0)],
        "the daily bucket at t0 did not overwrite the hourly one, nor the other way round"
    );
    assert_eq!(
        store
            .latest_bucket(&volume, 3600)
            .await
            .expect("latest hourly"),
        Some(t0() + Duration::hours(2))
    );
    assert_eq!(
        store
            .latest_bucket(&volume, 86_400)
            .await
            .expect("latest daily"),
        Some(t0())
    );
    assert_eq!(
        store.latest_bucket(&volume, 60).await.expect("no minutely"),
        None,
        "a new width starts empty"
    );
    assert!(store
        .buckets(&volume, 60, None)
        .await
        .expect("minutely")
        .is_empty());

    for width in [0, -3600] {
        let mut bad = hourly(&volume, 5, 1.0);
        bad.bucket_seconds = width;
        let err = store.upsert_buckets(&[bad]).await;
        assert!(matches!(err, Err(StoreError::Invalid { .. })), "{err:?}");
        let err = store.buckets(&volume, width, None).await;
        assert!(matches!(err, Err(StoreError::Invalid { .. })), "{err:?}");
        let err = store.latest_bucket(&volume, width).await;
        assert!(matches!(err, Err(StoreError::Invalid { .. })), "{err:?}");
    }
}

/// A composite key (`duplicate_count(region, id)`) is one series: found by its key, read back as
/// `Target::Key`, apart from another key order and from a column metric with the same label.
pub async fn series_and_buckets_by_composite_key(store: &Store) {
    let r = run(store).await;
    let composite = SeriesKey::new(
        "orders",
        Metric::DuplicateCount,
        Target::Key(vec!["region".into(), "id".into()]),
    );
    let reversed = SeriesKey::new(
        "orders",
        Metric::DuplicateCount,
        Target::Key(vec!["id".into(), "region".into()]),
    );
    let column_alike = key("orders", Metric::NullRate, Some("region,id"));
    let at = |key: &SeriesKey, value: f64, observed_at| MeasurementRecord {
        key: key.clone(),
        ..rec(r, "orders", Metric::RowCount, None, value, observed_at)
    };
    store
        .insert_measurements(&[
            at(&composite, 3.0, t0()),
            at(&composite, 4.0, t0() + Duration::hours(1)),
            at(&reversed, 30.0, t0()),
            at(&column_alike, 0.5, t0()),
        ])
        .await
        .expect("insert");
    assert_eq!(
        values(&store.series(&composite, None, None).await.expect("series")),
        vec![Some(3.0), Some(4.0)]
    );
    assert_eq!(
        values(&store.series(&reversed, None, None).await.expect("reversed")),
        vec![Some(30.0)]
    );
    assert_eq!(
        values(
            &store
                .series(&column_alike, None, None)
                .await
                .expect("column")
        ),
        vec![Some(0.5)]
    );
    let latest = store.latest("orders").await.expect("latest");
    let keys: Vec<&SeriesKey> = latest.iter().map(|m| &m.key).collect();
    assert_eq!(keys, vec![&reversed, &composite, &column_alike]);

    store
        .upsert_buckets(&[hourly(&composite, 0, 1.0), hourly(&reversed, 0, 2.0)])
        .await
        .expect("buckets");
    assert_eq!(
        store
            .buckets(&composite, 3600, None)
            .await
            .expect("buckets"),
        vec![BucketPoint {
            bucket_start: t0(),
            value: 1.0
        }]
    );
    assert_eq!(
        store
            .mark_expected(&composite, t0() + Duration::hours(1))
            .await
            .expect("mark"),
        1
    );
    let flags: Vec<bool> = store
        .series(&reversed, None, None)
        .await
        .expect("reversed")
        .iter()
        .map(|p| p.expected_anomaly)
        .collect();
    assert_eq!(flags, vec![false], "another key order is another series");
}

/// The write of one monitor's scan: a measurement batch, bucket upserts, a snapshot, problems added to
/// the run.
fn monitor_write(run_id: i64, monitor: &str) -> MonitorWrite {
    let volume = key(monitor, Metric::Volume, None);
    MonitorWrite {
        run_id,
        monitor: monitor.into(),
        dataset: "public.orders".into(),
        observed_at: t0(),
        measurements: vec![
            rec(run_id, monitor, Metric::RowCount, None, 10.0, t0()),
            MeasurementRecord {
                status: Status::Anomaly,
                ..rec(run_id, monitor, Metric::NullRate, Some("email"), 0.5, t0())
            },
        ],
        buckets: vec![
            hourly(&volume, 0, 4.0),
            hourly(&volume, 1, 6.0),
            hourly(&key(monitor, Metric::NewestRow, None), 1, 1.7e9),
        ],
        schema: Some(vec![col("id", "bigint"), col("email", "text")]),
        problems: 2,
    }
}

/// `write_monitor` stores every part and adds its problems to the run.
pub async fn write_monitor_stores_everything(store: &Store) {
    let r = run(store).await;
    let w = monitor_write(r, "orders");
    store.write_monitor(&w).await.expect("write");

    let mut expected = w.measurements.clone();
    expected.sort_by_key(|m| (m.key.metric.as_str(), m.key.label().unwrap_or_default()));
    assert_eq!(store.latest("orders").await.expect("latest"), expected);
    assert_eq!(
        store
            .buckets(&key("orders", Metric::Volume, None), 3600, None)
            .await
            .expect("volume")
            .len(),
        2
    );
    assert_eq!(
        store
            .latest_bucket(&key("orders", Metric::NewestRow, None), 3600)
            .await
            .expect("newest_row"),
        Some(t0() + Duration::hours(1))
    );
    let snapshot = store
        .latest_schema("orders")
        .await
        .expect("schema")
        .expect("a snapshot");
    assert_eq!(
        (snapshot.run_id, snapshot.observed_at, &snapshot.columns),
        (r, t0(), w.schema.as_ref().expect("schema"))
    );
    assert_eq!(problems(store, r).await, Some(2));

    // A second monitor of the run without a schema snapshot: its problems add up.
    let mut other = monitor_write(r, "other");
    other.schema = None;
    other.problems = 1;
    store.write_monitor(&other).await.expect("write other");
    assert_eq!(store.latest_schema("other").await.expect("schema"), None);
    assert_eq!(problems(store, r).await, Some(3));

    // A monitor with nothing to store still counts its problems.
    let empty = MonitorWrite {
        measurements: vec![],
        buckets: vec![],
        schema: None,
        problems: 4,
        ..monitor_write(r, "empty")
    };
    store.write_monitor(&empty).await.expect("write empty");
    assert_eq!(problems(store, r).await, Some(7));
}

/// Nothing of `run_id`'s monitor `orders` is stored and the run's problems are still `None`.
async fn assert_nothing_written(store: &Store, run_id: i64, why: &str) {
    assert!(
        store.latest("orders").await.expect("latest").is_empty(),
        "{why}: no measurement"
    );
    for metric in [Metric::Volume, Metric::NewestRow] {
        assert!(
            store
                .buckets(&key("orders", metric, None), 3600, None)
                .await
                .expect("buckets")
                .is_empty(),
            "{why}: no {metric} bucket"
        );
    }
    assert_eq!(
        store.latest_schema("orders").await.expect("schema"),
        None,
        "{why}: no snapshot"
    );
    assert_eq!(
        problems(store, run_id).await,
        None,
        "{why}: problems unchanged"
    );
}

/// A write with one invalid record, a record of another monitor or run, or an unknown run stores
/// nothing at all.
pub async fn write_monitor_is_atomic(store: &Store) {
    let r = run(store).await;
    let mut cases: Vec<(&str, MonitorWrite)> = Vec::new();
    let mut w = monitor_write(r, "orders");
    w.buckets.last_mut().expect("a bucket").value = f64::NAN;
    cases.push(("a NaN bucket value", w));
    let mut w = monitor_write(r, "orders");
    w.measurements.last_mut().expect("a measurement").upper = Some(f64::INFINITY);
    cases.push(("an infinite upper bound", w));
    let mut w = monitor_write(r, "orders");
    w.measurements.last_mut().expect("a measurement").key.target = Target::Column(String::new());
    cases.push(("an empty column name", w));
    let mut w = monitor_write(r, "orders");
    w.measurements[1].key.monitor = "other".into();
    cases.push(("a measurement of another monitor", w));
    let mut w = monitor_write(r, "orders");
    w.measurements[1].run_id = r + 1;
    cases.push(("a measurement of another run", w));
    let mut w = monitor_write(r, "orders");
    w.buckets[0].key.monitor = "other".into();
    cases.push(("a bucket of another monitor", w));
    for (why, w) in &cases {
        let err = store.write_monitor(w).await;
        assert!(
            matches!(err, Err(StoreError::Invalid { .. })),
            "{why}: {err:?}"
        );
        assert_nothing_written(store, r, why).await;
    }
    assert!(
        store
            .latest("other")
            .await
            .expect("latest other")
            .is_empty(),
        "nothing of the foreign records either"
    );

    let unknown = r + 1_000;
    match store.write_monitor(&monitor_write(unknown, "orders")).await {
        Err(StoreError::RunNotFound(id)) => assert_eq!(id, unknown),
        other => panic!("expected RunNotFound, got {other:?}"),
    }
    assert_nothing_written(store, r, "an unknown run").await;

    store
        .write_monitor(&monitor_write(r, "orders"))
        .await
        .expect("the valid write");
    assert_eq!(store.latest("orders").await.expect("latest").len(), 2);
    assert_eq!(problems(store, r).await, Some(2));
}

/// The transaction itself: a statement that fails after the buckets and measurements were written
/// rolls them back. Not part of the generated suite: the caller first makes every insert into
/// `schema_snapshots` fail (a trigger), which no store operation can do.
pub async fn write_monitor_rolls_back_when_the_snapshot_fails(store: &Store) {
    let r = run(store).await;
    let err = store.write_monitor(&monitor_write(r, "orders")).await;
    assert!(
        matches!(err, Err(StoreError::Query { .. })),
        "the snapshot insert fails: {err:?}"
    );
    assert_nothing_written(store, r, "a failed snapshot insert").await;

    let mut without = monitor_write(r, "orders");
    without.schema = None;
    store
        .write_monitor(&without)
        .await
        .expect("without a snapshot");
    assert_eq!(store.latest("orders").await.expect("latest").len(), 2);
}

/// Leases: taken when free, refused while another holder's is live, renewed by their holder, taken
/// over once expired, and released only by the holder.
pub async fn leases_serialize_a_monitor(store: &Store) {
    let minute = std::time::Duration::from_secs(60);
    let secs = |n: i64| t0() + Duration::seconds(n);
    let take = |holder: &'static str, at| store.try_lease("orders", holder, minute, at);

    let a = take("a", t0()).await.expect("take").expect("free");
    assert_eq!(
        a,
        Lease {
            monitor: "orders".into(),
            holder: "a".into(),
            expires_at: secs(60),
        }
    );
    assert_eq!(
        take("b", secs(30)).await.expect("try b"),
        None,
        "a's is live"
    );
    let other = store
        .try_lease("other", "b", minute, secs(30))
        .await
        .expect("try other");
    assert!(other.is_some(), "another monitor is free");

    let renewed = take("a", secs(30))
        .await
        .expect("renew")
        .expect("own lease");
    assert_eq!(renewed.expires_at, secs(90));
    assert_eq!(take("b", secs(89)).await.expect("try b"), None, "renewed");
    let b = take("b", secs(90))
        .await
        .expect("take over")
        .expect("expired");
    assert_eq!(b.expires_at, secs(150));

    store.release(&a).await.expect("stale release");
    assert_eq!(
        take("c", secs(100)).await.expect("try c"),
        None,
        "a's release did not free b's lease"
    );
    store.release(&b).await.expect("release");
    let c = take("c", secs(100))
        .await
        .expect("take c")
        .expect("released");
    assert_eq!(c.holder, "c");

    for (holder, ttl) in [("", minute), ("d", std::time::Duration::ZERO)] {
        let err = store.try_lease("orders", holder, ttl, secs(500)).await;
        assert!(matches!(err, Err(StoreError::Invalid { .. })), "{err:?}");
    }
}

/// Retention: everything older than the cutoff goes, in one transaction, except each monitor's newest
/// schema snapshot and the runs that are still referenced. The counts say what went.
pub async fn prune_deletes_old_history_and_keeps_the_newest_snapshot(store: &Store) {
    let cutoff = t0();
    let days = |n: i64| cutoff + Duration::days(n);
    let begin = |at| store.begin_run(at);
    let old_measured = begin(days(-3)).await.expect("run");
    let old_snapshot_newest = begin(days(-3)).await.expect("run");
    let old_snapshot_older = begin(days(-4)).await.expect("run");
    let old_with_new_data = begin(days(-1)).await.expect("run");
    let empty_old = begin(days(-2)).await.expect("run");
    let at_cutoff = begin(cutoff).await.expect("run");

    store
        .insert_measurements(&[
            rec(
                old_measured,
                "orders",
                Metric::RowCount,
                None,
                1.0,
                days(-3),
            ),
            rec(
                old_measured,
                "orders",
                Metric::RowCount,
                None,
                2.0,
                cutoff - us(1),
            ),
            rec(
                old_with_new_data,
                "orders",
                Metric::RowCount,
                None,
                3.0,
                cutoff,
            ),
            rec(at_cutoff, "orders", Metric::RowCount, None, 4.0, days(1)),
        ])
        .await
        .expect("measurements");
    let volume = key("orders", Metric::Volume, None);
    let bucket = |at, value| BucketRecord {
        bucket_start: at,
        ..hourly(&volume, 0, value)
    };
    store
        .upsert_buckets(&[
            bucket(days(-2), 1.0),
            bucket(cutoff - us(1), 2.0),
            bucket(cutoff, 3.0),
        ])
        .await
        .expect("buckets");
    let save = |run_id, monitor, at, name| async move {
        store
            .save_schema(run_id, monitor, "public.orders", at, &[col(name, "int")])
            .await
            .expect("snapshot")
    };
    save(old_snapshot_older, "orders", days(-4), "older").await;
    save(old_snapshot_newest, "orders", days(-3), "newest").await;
    save(old_snapshot_older, "other", days(-4), "other_old").await;
    save(at_cutoff, "other", cutoff, "other_new").await;

    let pruned = store.prune(cutoff).await.expect("prune");
    assert_eq!(
        pruned,
        Pruned {
            measurements: 2,
            buckets: 2,
            runs: 3,
            schema_snapshots: 2,
        }
    );
    assert_eq!(
        values(
            &store
                .series(&key("orders", Metric::RowCount, None), None, None)
                .await
                .expect("series")
        ),
        vec![Some(3.0), Some(4.0)]
    );
    assert_eq!(
        store.buckets(&volume, 3600, None).await.expect("buckets"),
        vec![BucketPoint {
            bucket_start: cutoff,
            value: 3.0
        }]
    );
    let newest = store
        .latest_schema("orders")
        .await
        .expect("schema")
        .expect("the newest snapshot is kept though old");
    assert_eq!(
        (newest.run_id, newest.columns),
        (old_snapshot_newest, vec![col("newest", "int")])
    );
    let other = store
        .latest_schema("other")
        .await
        .expect("schema")
        .expect("other's snapshot");
    assert_eq!(other.columns, vec![col("other_new", "int")]);
    for (id, kept) in [
        (old_measured, false),
        (old_snapshot_newest, true),
        (old_snapshot_older, false),
        (old_with_new_data, true),
        (empty_old, false),
        (at_cutoff, true),
    ] {
        let run = store.run(id).await.expect("read run");
        assert_eq!(run.is_some(), kept, "run {id} kept: {kept}");
    }

    assert_eq!(
        store.prune(cutoff).await.expect("prune again"),
        Pruned::default(),
        "nothing left to prune"
    );
}

// ---------------------------------------------------------------- alerting (store/src/alerts.rs)

fn incident(fp: &str, state: &str, at: DateTime<Utc>) -> crate::IncidentRecord {
    crate::IncidentRecord {
        id: 0,
        dedup_key: format!("tw-{fp}"),
        fingerprint: fp.into(),
        state: state.into(),
        severity: "warning".into(),
        first_seen: at,
        last_seen: at,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
        labels: r#"{"dataset":"public.orders"}"#.into(),
        annotations: r#"{"dataset":"public.orders","source":"w","metric":"null_rate"}"#.into(),
        last_status: "fail".into(),
    }
}

fn write(
    version: i64,
    state: &str,
    incidents: Vec<crate::IncidentWrite>,
    outbox: &[&str],
) -> crate::AlertingWrite {
    crate::AlertingWrite {
        incidents,
        state_name: "aggregator".into(),
        expected_version: version,
        state: state.into(),
        outbox: outbox
            .iter()
            .map(|id| crate::OutboxNew {
                notification_id: (*id).into(),
                receiver: "slack".into(),
                body: format!(r#"{{"id":"{id}"}}"#),
                created_at: t0(),
            })
            .collect(),
        at: t0(),
    }
}

/// Incidents round-trip every field; a series has at most one unresolved incident, and a new one
/// may open once the old one resolved.
pub async fn incidents_one_unresolved_per_series(store: &Store) {
    use crate::IncidentWrite::{Open, Update};
    let a = incident("orders/null_rate/email", "open", t0());
    assert!(store
        .commit_alerting(&write(0, "{}", vec![Open(a.clone())], &[]))
        .await
        .expect("open"));
    let got = store
        .unresolved_incident("orders/null_rate/email")
        .await
        .expect("read")
        .expect("found");
    assert!(got.id > 0);
    assert_eq!(
        crate::IncidentRecord {
            id: 0,
            ..got.clone()
        },
        a
    );
    let dup = store
        .commit_alerting(&write(1, "{}", vec![Open(a.clone())], &[]))
        .await;
    assert!(
        dup.is_err(),
        "a second unresolved incident of one series is refused"
    );
    assert_eq!(
        store
            .alert_state("aggregator")
            .await
            .expect("state")
            .expect("some")
            .1,
        1,
        "rolled back"
    );

    let mut acked = got.clone();
    acked.state = "acknowledged".into();
    acked.acknowledged_at = Some(t0() + us(5));
    acked.acknowledged_by = Some("ana".into());
    assert!(store.update_incident(&acked).await.expect("ack"));
    assert_eq!(
        store.incident(got.id).await.expect("read").expect("found"),
        acked
    );
    let mut missing = acked.clone();
    missing.id = got.id + 100;
    assert!(!store.update_incident(&missing).await.expect("update"));

    let mut resolved = acked.clone();
    resolved.state = "resolved".into();
    resolved.resolved_at = Some(t0() + Duration::minutes(5));
    resolved.resolved_by = Some("auto".into());
    let again = incident("orders/null_rate/email", "open", t0() + Duration::hours(1));
    assert!(store
        .commit_alerting(&write(
            1,
            "{}",
            vec![Update(resolved.clone()), Open(again)],
            &[]
        ))
        .await
        .expect("resolve and reopen"));
    assert_eq!(store.incidents(false).await.expect("all").len(), 2);
    let open = store.incidents(true).await.expect("open");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].first_seen, t0() + Duration::hours(1));
    assert_eq!(
        store.incident(got.id).await.expect("read").expect("found"),
        resolved
    );
}

/// Silences keep their fields; listing by end time hides ended ones; expiring moves the end.
pub async fn silences_store_and_expire(store: &Store) {
    let s = crate::SilenceRecord {
        id: 0,
        matchers: r#"{dataset="public.orders"}"#.into(),
        starts_at: t0(),
        ends_at: t0() + Duration::hours(2),
        created_by: "ana".into(),
        comment: "loader fix".into(),
        created_at: t0(),
    };
    let id = store.insert_silence(&s).await.expect("insert");
    let id2 = store.insert_silence(&s).await.expect("insert");
    assert_ne!(id, id2);
    let all = store.silences(None).await.expect("list");
    assert_eq!(all.len(), 2);
    assert_eq!(
        crate::SilenceRecord {
            id: 0,
            ..all[0].clone()
        },
        s
    );
    assert_eq!(
        store
            .silences(Some(t0() + Duration::hours(1)))
            .await
            .expect("list")
            .len(),
        2
    );
    assert_eq!(
        store
            .set_silence_end(id, t0() + Duration::minutes(30))
            .await
            .expect("expire"),
        1
    );
    let live = store
        .silences(Some(t0() + Duration::hours(1)))
        .await
        .expect("list");
    assert_eq!(live.iter().map(|s| s.id).collect::<Vec<_>>(), vec![id2]);
    assert_eq!(
        store
            .set_silence_end(id2 + 100, t0())
            .await
            .expect("expire"),
        0
    );
}

/// The grouping state, incidents and outbox rows are written together or not at all; a writer with
/// a stale version writes nothing; a notification id is stored once.
pub async fn alerting_commit_is_atomic_and_versioned(store: &Store) {
    assert_eq!(store.alert_state("aggregator").await.expect("state"), None);
    assert!(store
        .commit_alerting(&write(0, "s1", vec![], &["n1", "n2"]))
        .await
        .expect("first"));
    assert_eq!(
        store.alert_state("aggregator").await.expect("state"),
        Some(("s1".into(), 1))
    );
    // A second first writer (version 0) lost the race.
    assert!(!store
        .commit_alerting(&write(0, "other", vec![], &["n3"]))
        .await
        .expect("raced"));
    // So did a writer with a stale version.
    assert!(store
        .commit_alerting(&write(1, "s2", vec![], &["n2", "n3"]))
        .await
        .expect("second"));
    assert!(!store
        .commit_alerting(&write(
            1,
            "stale",
            vec![crate::IncidentWrite::Open(incident(
                "x/row_count/",
                "open",
                t0()
            ))],
            &["n4"]
        ))
        .await
        .expect("stale"));
    assert_eq!(
        store.alert_state("aggregator").await.expect("state"),
        Some(("s2".into(), 2))
    );
    assert!(
        store.incidents(false).await.expect("incidents").is_empty(),
        "nothing of the stale write"
    );
    let ids: Vec<String> = store
        .outbox(None)
        .await
        .expect("outbox")
        .into_iter()
        .map(|r| r.notification_id)
        .collect();
    assert_eq!(ids, ["n1", "n2", "n3"], "n2 once, n4 never");
}

/// Pending → retried (attempts, next attempt, error kept) → delivered; dead rows keep the reason;
/// a row that is not pending any more is not changed.
pub async fn outbox_delivery_states(store: &Store) {
    use crate::OutboxState::{Dead, Delivered, Pending};
    store
        .enqueue(&write(0, "", vec![], &["a", "b"]).outbox)
        .await
        .expect("enqueue");
    let rows = store.outbox(Some(Pending)).await.expect("pending");
    assert_eq!(rows.len(), 2);
    let (a, b) = (&rows[0], &rows[1]);
    assert_eq!(
        (a.attempts, a.next_attempt_at, a.created_at),
        (0, t0(), t0())
    );
    assert_eq!(a.body, r#"{"id":"a"}"#);
    let later = t0() + Duration::seconds(7);
    assert_eq!(
        store
            .finish_delivery(a.id, Pending, 1, later, Some("http 429"), t0())
            .await
            .expect("retry"),
        1
    );
    assert_eq!(
        store
            .finish_delivery(b.id, Dead, 1, t0(), Some("http 400: invalid_payload"), t0())
            .await
            .expect("dead"),
        1
    );
    let pending = store.outbox(Some(Pending)).await.expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].attempts, pending[0].next_attempt_at),
        (1, later)
    );
    assert_eq!(pending[0].last_error.as_deref(), Some("http 429"));
    let done = later + us(3);
    assert_eq!(
        store
            .finish_delivery(a.id, Delivered, 2, done, None, done)
            .await
            .expect("delivered"),
        1
    );
    let all = store.outbox(None).await.expect("all");
    let a = all.iter().find(|r| r.notification_id == "a").expect("a");
    assert_eq!(
        (a.state, a.attempts, a.delivered_at),
        (Delivered, 2, Some(done))
    );
    assert_eq!(
        a.last_error.as_deref(),
        Some("http 429"),
        "the last error stays for the record"
    );
    let b = all.iter().find(|r| r.notification_id == "b").expect("b");
    assert_eq!(
        (b.state, b.last_error.as_deref()),
        (Dead, Some("http 400: invalid_payload"))
    );
    assert_eq!(
        store
            .finish_delivery(b.id, Delivered, 2, done, None, done)
            .await
            .expect("no-op"),
        0
    );
    assert!(store
        .outbox(Some(Pending))
        .await
        .expect("pending")
        .is_empty());
}

/// A claim gives a due pending row to one holder at a time, soonest due first; it is not handed out
/// again while live, is taken again once expired (a dead sender), and `finish_delivery` releases
/// it. Rows not yet due and rows not pending are never claimed.
pub async fn outbox_claims_are_exclusive(store: &Store) {
    use crate::OutboxState::{Delivered, Pending};
    store
        .enqueue(&write(0, "", vec![], &["a", "b"]).outbox)
        .await
        .expect("enqueue");
    let until = t0() + Duration::seconds(60);
    let first = store
        .claim_outbox("p1", t0(), until)
        .await
        .expect("claim")
        .expect("a row is due");
    assert_eq!(first.notification_id, "a");
    assert_eq!(
        (first.claimed_by.as_deref(), first.claim_until),
        (Some("p1"), Some(until))
    );
    let second = store
        .claim_outbox("p2", t0(), until)
        .await
        .expect("claim")
        .expect("b is free");
    assert_eq!(second.notification_id, "b");
    assert!(
        store
            .claim_outbox("p3", t0() + Duration::seconds(59), until)
            .await
            .expect("claim")
            .is_none(),
        "both rows are held"
    );
    assert_eq!(
        first.available_at(t0()),
        until,
        "a held row is available when its claim ends"
    );
    // p2 dies; after its claim ends another process takes the row.
    let later = until + us(1);
    let retaken = store
        .claim_outbox("p3", later, later + Duration::seconds(60))
        .await
        .expect("claim")
        .expect("expired claim");
    assert_eq!(retaken.notification_id, "a", "soonest due first");
    // A retry releases the claim; the row is not due again before its next attempt.
    let retry = later + Duration::seconds(30);
    assert_eq!(
        store
            .finish_delivery(retaken.id, Pending, 1, retry, Some("http 503"), later)
            .await
            .expect("retry"),
        1
    );
    let rows = store.outbox(Some(Pending)).await.expect("pending");
    let a = rows.iter().find(|r| r.notification_id == "a").expect("a");
    assert_eq!((a.claimed_by.as_deref(), a.claim_until), (None, None));
    let b = store
        .claim_outbox("p4", later, later + Duration::seconds(60))
        .await
        .expect("claim")
        .expect("b, whose claim ended");
    assert_eq!(b.notification_id, "b");
    assert!(store
        .claim_outbox("p5", later, later + Duration::seconds(60))
        .await
        .expect("claim")
        .is_none());
    assert_eq!(
        store
            .finish_delivery(b.id, Delivered, 1, later, None, later)
            .await
            .expect("delivered"),
        1
    );
    let a = store
        .claim_outbox("p5", retry, retry + Duration::seconds(60))
        .await
        .expect("claim")
        .expect("a is due again");
    assert_eq!(a.notification_id, "a");
    assert!(
        store
            .claim_outbox("p6", retry + Duration::hours(1), retry + Duration::hours(2))
            .await
            .expect("claim")
            .map(|r| r.notification_id)
            .is_some_and(|id| id == "a"),
        "only a: b is delivered"
    );
}

/// Retention: old delivered/dead notifications, resolved incidents and ended silences go; pending
/// notifications and anything recent stay.
pub async fn prune_alerting_keeps_pending_and_recent(store: &Store) {
    use crate::OutboxState::{Dead, Delivered, Pending};
    store
        .enqueue(&write(0, "", vec![], &["old-done", "old-dead", "old-pending"]).outbox)
        .await
        .expect("enqueue");
    for r in store.outbox(None).await.expect("outbox") {
        let state = match r.notification_id.as_str() {
            "old-done" => Delivered,
            "old-dead" => Dead,
            _ => continue,
        };
        store
            .finish_delivery(r.id, state, 1, t0(), None, t0())
            .await
            .expect("finish");
    }
    let mut old = incident("a/row_count/", "resolved", t0());
    old.resolved_at = Some(t0());
    let open = incident("b/row_count/", "open", t0());
    assert!(store
        .commit_alerting(&write(
            0,
            "{}",
            vec![
                crate::IncidentWrite::Open(old),
                crate::IncidentWrite::Open(open)
            ],
            &[]
        ))
        .await
        .expect("incidents"));
    let s = crate::SilenceRecord {
        id: 0,
        matchers: r#"{a="1"}"#.into(),
        starts_at: t0(),
        ends_at: t0() + Duration::hours(1),
        created_by: "ana".into(),
        comment: String::new(),
        created_at: t0(),
    };
    store.insert_silence(&s).await.expect("silence");
    let pruned = store
        .prune_alerting(t0() + Duration::days(1))
        .await
        .expect("prune");
    assert_eq!(pruned, 4);
    let left: Vec<(String, crate::OutboxState)> = store
        .outbox(None)
        .await
        .expect("outbox")
        .into_iter()
        .map(|r| (r.notification_id, r.state))
        .collect();
    assert_eq!(left, [("old-pending".to_string(), Pending)]);
    let incidents = store.incidents(false).await.expect("incidents");
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].fingerprint, "b/row_count/");
    assert!(store.silences(None).await.expect("silences").is_empty());
}
