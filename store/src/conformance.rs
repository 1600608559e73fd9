//! The state store contract, written once and run against every backend by
//! [`crate::store_conformance_tests!`]. Each case gets a fresh, empty store.
//!
//! Failures panic: in a test, the panic with its message is the assertion.

use checks::{Column, Status};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tidewatch::store::{BucketPoint, BucketRecord, MeasurementRecord, Store, StoreError};

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

/// A passing measurement with the given key and value; other fields are plain defaults.
pub fn rec(
    run_id: i64,
    monitor: &str,
    metric: &str,
    column: Option<&str>,
    value: f64,
    observed_at: DateTime<Utc>,
) -> MeasurementRecord {
    MeasurementRecord {
        run_id,
        monitor: monitor.into(),
        source: "warehouse".into(),
        dataset: "public.orders".into(),
        metric: metric.into(),
        column: column.map(str::to_string),
        value: Some(value),
        status: Status::Pass,
        lower: None,
        upper: None,
        message: String::new(),
        details: None,
        observed_at,
    }
}

fn values(points: &[tidewatch::store::SeriesPoint]) -> Vec<Option<f64>> {
    points.iter().map(|p| p.value).collect()
}

async fn run(store: &Store) -> i64 {
    store.begin_run(t0()).await.expect("begin_run")
}

/// Connecting twice to the same database re-runs migrations as a no-op and keeps the data.
pub async fn migrations_are_idempotent(url: &str) {
    let first = Store::connect(url).await.expect("first connect");
    let run_id = run(&first).await;
    let row = rec(run_id, "orders", "row_count", None, 42.0, t0());
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
            monitor: "orders".into(),
            source: "warehouse".into(),
            dataset: "public.orders".into(),
            metric: "row_count".into(),
            column: None,
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
        },
        MeasurementRecord {
            run_id: run2,
            monitor: "orders".into(),
            source: "warehouse".into(),
            dataset: "public.orders".into(),
            metric: "null_rate".into(),
            column: Some("email".into()),
            value: None,
            status: Status::Error,
            lower: None,
            upper: None,
            message: "query failed: statement timeout".into(),
            details: None,
            observed_at: t0(),
        },
        MeasurementRecord {
            run_id: run2,
            monitor: "orders".into(),
            source: "lake".into(),
            dataset: "s3://bucket/orders/*.parquet".into(),
            metric: "mean".into(),
            column: Some("amount".into()),
            value: Some(1e-300),
            status: Status::Learning,
            lower: Some(f64::MIN),
            upper: Some(f64::MAX),
            message: String::new(),
            details: Some(json!([])),
            observed_at: ts("1969-12-31T23:59:59.999999Z"),
        },
        MeasurementRecord {
            run_id: run1,
            monitor: "orders".into(),
            source: "warehouse".into(),
            dataset: "public.orders".into(),
            metric: "freshness_seconds".into(),
            column: None,
            value: Some(-0.000001),
            status: Status::Fail,
            lower: None,
            upper: Some(7200.0),
            message: "freshness < 2h failed".into(),
            details: Some(json!("a bare string")),
            observed_at: ts("2038-01-19T03:14:08.000001Z"),
        },
        MeasurementRecord {
            run_id: run1,
            monitor: "orders".into(),
            source: "warehouse".into(),
            dataset: "public.orders".into(),
            metric: "null_rate".into(),
            column: Some("name".into()),
            value: Some(0.0),
            status: Status::Anomaly,
            lower: Some(0.0),
            upper: Some(0.5),
            message: "outside band".into(),
            details: Some(json!({"z": 1, "a": 2})),
            observed_at: t0() + Duration::hours(1),
        },
    ];
    store.insert_measurements(&rows).await.expect("insert");

    let mut expected = rows.clone();
    expected.sort_by(|a, b| {
        (a.metric.as_str(), a.column.as_deref().unwrap_or(""))
            .cmp(&(b.metric.as_str(), b.column.as_deref().unwrap_or("")))
    });
    assert_eq!(store.latest("orders").await.expect("latest"), expected);

    for row in &rows {
        let points = store
            .series(&row.monitor, &row.metric, row.column.as_deref(), None, None)
            .await
            .expect("series");
        assert_eq!(
            points.len(),
            1,
            "one point for {} {:?}",
            row.metric,
            row.column
        );
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
    let point = |i: usize| rec(r, "orders", "row_count", None, i as f64, t0() + offsets[i]);
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
            rec(r, "orders", "row_count", Some("x"), 100.0, t0()),
            rec(r, "orders", "null_count", None, 200.0, t0()),
            rec(r, "other", "row_count", None, 300.0, t0()),
        ])
        .await
        .expect("insert neighbours");

    let all = store
        .series("orders", "row_count", None, None, None)
        .await
        .expect("series");
    assert_eq!(
        values(&all),
        vec![Some(0.0), Some(1.0), Some(2.0), Some(3.0), Some(4.0)]
    );
    let times: Vec<_> = all.iter().map(|p| p.observed_at).collect();
    let want: Vec<_> = offsets.iter().map(|o| t0() + *o).collect();
    assert_eq!(times, want);

    let series = |since, limit| store.series("orders", "row_count", None, since, limit);
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
        .series("orders", "row_count", Some("x"), None, None)
        .await
        .expect("column");
    assert_eq!(values(&col), vec![Some(100.0)]);
    assert!(store
        .series("orders", "row_count", Some("y"), None, None)
        .await
        .expect("none")
        .is_empty());
    assert!(matches!(
        store
            .series("orders", "row_count", None, None, Some(-1))
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
            rec(run1, "orders", "row_count", None, 10.0, t0()),
            rec(run1, "orders", "null_rate", Some("email"), 0.1, t0()),
            rec(run1, "orders", "null_rate", Some("name"), 0.2, t0()),
        ])
        .await
        .expect("run 1");
    store
        .insert_measurements(&[
            rec(run2, "orders", "row_count", None, 11.0, t0() + hour),
            rec(run2, "orders", "null_rate", Some("email"), 0.3, t0() + hour),
        ])
        .await
        .expect("run 2");
    // Inserted last but observed first: must not win.
    store
        .insert_measurements(&[
            rec(run3, "orders", "row_count", None, 9.0, t0() - hour),
            rec(run3, "other", "row_count", None, 99.0, t0() + hour * 2),
        ])
        .await
        .expect("run 3");

    let latest = store.latest("orders").await.expect("latest");
    assert_eq!(
        latest,
        vec![
            rec(run2, "orders", "null_rate", Some("email"), 0.3, t0() + hour),
            rec(run1, "orders", "null_rate", Some("name"), 0.2, t0()),
            rec(run2, "orders", "row_count", None, 11.0, t0() + hour),
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
    let good = rec(r, "orders", "row_count", None, 1.0, t0());
    let unknown_run = rec(
        r + 1_000_000,
        "orders",
        "row_count",
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

    let mut nan = good.clone();
    nan.value = Some(f64::NAN);
    let err = store.insert_measurements(&[good.clone(), nan]).await;
    assert!(
        matches!(err, Err(StoreError::Invalid { .. })),
        "NaN is refused: {err:?}"
    );
    let mut empty_col = good.clone();
    empty_col.column = Some(String::new());
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

/// Run ids increase; finishing an unknown run is an error.
pub async fn runs_begin_and_finish(store: &Store) {
    let a = run(store).await;
    let b = run(store).await;
    assert!(b > a, "run ids increase: {a} then {b}");
    store
        .finish_run(a, t0() + Duration::minutes(5), 3)
        .await
        .expect("finish run a");
    store
        .finish_run(b, t0() + Duration::minutes(6), 0)
        .await
        .expect("finish run b");
    let missing = b + 1_000;
    match store.finish_run(missing, t0(), 0).await {
        Err(StoreError::RunNotFound(id)) => assert_eq!(id, missing),
        other => panic!("expected RunNotFound, got {other:?}"),
    }
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
    let bucket = |column: Option<&str>, n: i64, value: f64| BucketRecord {
        monitor: "orders".into(),
        metric: "volume".into(),
        column: column.map(str::to_string),
        bucket_start: h(n),
        bucket_seconds: 3600,
        value,
        observed_at: t0() + Duration::days(1),
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
            .latest_bucket("orders", "volume", None)
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
    other.monitor = "other".into();
    store.upsert_buckets(&[other]).await.expect("other monitor");
    assert_eq!(
        store
            .buckets("orders", "volume", None, None)
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
            .buckets("orders", "volume", None, None)
            .await
            .expect("buckets"),
        points(&[(0, 10.0), (1, 25.0), (2, 35.0), (3, 40.0), (4, 50.0)])
    );
    assert_eq!(
        store
            .buckets("orders", "volume", None, Some(h(2)))
            .await
            .expect("since"),
        points(&[(2, 35.0), (3, 40.0), (4, 50.0)])
    );
    assert_eq!(
        store
            .buckets("orders", "volume", Some("region"), None)
            .await
            .expect("column"),
        points(&[(5, 7.0)])
    );
    assert_eq!(
        store
            .latest_bucket("orders", "volume", None)
            .await
            .expect("latest"),
        Some(h(4))
    );
    assert_eq!(
        store
            .latest_bucket("orders", "volume", Some("region"))
            .await
            .expect("latest"),
        Some(h(5))
    );
    assert_eq!(
        store
            .latest_bucket("orders", "row_count", None)
            .await
            .expect("latest"),
        None
    );
    assert_eq!(
        store
            .latest_bucket("other", "volume", None)
            .await
            .expect("latest"),
        Some(h(9))
    );
}

/// `mark_expected` flags exactly the measurement with the given key and time.
pub async fn mark_expected_changes_only_the_matched_row(store: &Store) {
    let r = run(store).await;
    let anomaly = |monitor: &str, metric: &str, column: Option<&str>, at| MeasurementRecord {
        status: Status::Anomaly,
        ..rec(r, monitor, metric, column, 5.0, at)
    };
    let later = t0() + Duration::hours(1);
    store
        .insert_measurements(&[
            anomaly("orders", "row_count", None, t0()),
            anomaly("orders", "row_count", None, later),
            anomaly("orders", "row_count", Some("x"), t0()),
            anomaly("orders", "null_count", None, t0()),
            anomaly("other", "row_count", None, t0()),
        ])
        .await
        .expect("insert");
    let flags = |monitor: &'static str, metric: &'static str, column: Option<&'static str>| async move {
        store
            .series(monitor, metric, column, None, None)
            .await
            .expect("series")
            .iter()
            .map(|p| p.expected_anomaly)
            .collect::<Vec<bool>>()
    };

    assert_eq!(
        store
            .mark_expected("orders", "row_count", None, t0())
            .await
            .expect("mark"),
        1
    );
    assert_eq!(flags("orders", "row_count", None).await, vec![true, false]);
    assert_eq!(flags("orders", "row_count", Some("x")).await, vec![false]);
    assert_eq!(flags("orders", "null_count", None).await, vec![false]);
    assert_eq!(flags("other", "row_count", None).await, vec![false]);

    assert_eq!(
        store
            .mark_expected("orders", "row_count", None, t0())
            .await
            .expect("again"),
        0,
        "already marked"
    );
    assert_eq!(
        store
            .mark_expected("orders", "row_count", None, t0() + us(1))
            .await
            .expect("off by 1µs"),
        0
    );
    assert_eq!(
        store
            .mark_expected("nobody", "row_count", None, t0())
            .await
            .expect("unknown"),
        0
    );

    assert_eq!(
        store
            .mark_expected("orders", "row_count", Some("x"), t0())
            .await
            .expect("column"),
        1
    );
    assert_eq!(flags("orders", "row_count", Some("x")).await, vec![true]);
    assert_eq!(flags("orders", "row_count", None).await, vec![true, false]);
}
