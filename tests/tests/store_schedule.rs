//! The service's store additions (`store/src/schedule.rs`) on both backends: a claim is won once, even
//! by concurrent claimers; outcomes and pages read back; history carries bands and the expected flag.

use checks::{Metric, SeriesKey, Status, Target};
use chrono::{DateTime, Duration, Utc};
use tidewatch_store::{MeasurementRecord, RunOutcome, Store};
use tidewatch_tests::db::{fresh, Backend};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-30T12:00:00.123456Z")
        .expect("time")
        .with_timezone(&Utc)
}

async fn claims_are_won_once(backend: Backend) {
    let db = fresh(backend, "schedule_claims").await;
    let store = std::sync::Arc::new(Store::connect(&db.url()).await.expect("store"));
    store.ping().await.expect("ping");
    // Eight concurrent claimers of one slot: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .claim_scheduled_run("m", t0(), "schedule", &format!("holder {i}"), t0())
                .await
                .expect("claim")
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.expect("task") {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    assert!(!store
        .claim_scheduled_run("m", t0(), "manual", "late", t0())
        .await
        .expect("claim again"));
    // Another slot, another monitor: free.
    for (m, dt) in [("m", 5), ("m", 10), ("other", 5)] {
        assert!(store
            .claim_scheduled_run(m, t0() + Duration::seconds(dt), "schedule", "h", t0())
            .await
            .expect("claim"));
    }
    store
        .start_scheduled_run("m", t0(), t0() + Duration::seconds(1))
        .await
        .expect("start");
    store
        .finish_scheduled_run(
            "m",
            t0(),
            &RunOutcome {
                finished_at: t0() + Duration::seconds(2),
                outcome: "ok",
                message: "",
                run_id: Some(7),
            },
        )
        .await
        .expect("finish");
    let all = store
        .scheduled_runs(Some("m"), None, 10)
        .await
        .expect("list");
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[0].scheduled_for,
        t0() + Duration::seconds(10),
        "newest first"
    );
    let first = &all[2];
    assert_eq!(first.scheduled_for, t0(), "microseconds survive");
    assert_eq!(first.outcome.as_deref(), Some("ok"));
    assert_eq!(first.run_id, Some(7));
    assert_eq!(first.started_at, Some(t0() + Duration::seconds(1)));
    assert_eq!(first.finished_at, Some(t0() + Duration::seconds(2)));
    assert!(first.holder.starts_with("holder "));
    let page = store
        .scheduled_runs(None, Some(t0() + Duration::seconds(10)), 10)
        .await
        .expect("page");
    assert_eq!(page.len(), 3, "strictly before the cursor, all monitors");
    assert!(store.scheduled_runs(None, None, 0).await.is_err());
    assert_eq!(
        store.last_scheduled("m").await.expect("last"),
        Some(t0() + Duration::seconds(10))
    );
    assert_eq!(store.last_scheduled("nobody").await.expect("last"), None);

    // History: bands and the expected flag.
    let run_id = store.begin_run(t0()).await.expect("run");
    let key = SeriesKey::new("m", Metric::Volume, Target::Table);
    store
        .insert_measurements(&[MeasurementRecord {
            run_id,
            key: key.clone(),
            source: "s".into(),
            dataset: "d".into(),
            value: Some(3.0),
            status: Status::Anomaly,
            lower: Some(90.0),
            upper: Some(110.0),
            message: "outside".into(),
            details: None,
            observed_at: t0(),
            score: Some(0.9),
        }])
        .await
        .expect("insert");
    store.mark_expected(&key, t0()).await.expect("mark");
    let h = store.history(&key, None, 5).await.expect("history");
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].lower, h[0].upper), (Some(90.0), Some(110.0)));
    assert!(h[0].expected_anomaly);
    assert_eq!(h[0].status, Status::Anomaly);
    if let Ok(store) = std::sync::Arc::try_unwrap(store) {
        store.close().await;
    }
    db.cleanup().await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_claims_are_won_once() {
    claims_are_won_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_claims_are_won_once() {
    claims_are_won_once(Backend::Postgres).await;
}
