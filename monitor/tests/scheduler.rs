//! The scheduler's timing on tokio's paused clock (auto-advancing: the test runs in milliseconds but
//! sees minutes pass), with a recording executor instead of scans.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tidewatch::config::ScheduleSpec;
use tidewatch::service::schedule::Slots;
use tidewatch::service::scheduler::{Clock, Entry, Executor, Scheduler, Trigger};
use tidewatch_api::telemetry::SkipReason;
use tidewatch_api::Telemetry;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Recorder {
    /// How long each run takes (on the paused clock).
    takes: Duration,
    /// What `last_scheduled` answers.
    last: Option<DateTime<Utc>>,
    runs: Mutex<Vec<(String, DateTime<Utc>, Trigger)>>,
    finished: AtomicUsize,
    now_running: AtomicUsize,
    max_running: AtomicUsize,
}

impl Executor for Recorder {
    async fn last_scheduled(&self, _monitor: &str) -> Option<DateTime<Utc>> {
        self.last
    }

    async fn execute(&self, monitor: &str, slot: DateTime<Utc>, trigger: Trigger) {
        self.runs
            .lock()
            .expect("lock")
            .push((monitor.to_string(), slot, trigger));
        let n = self.now_running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(self.takes).await;
        self.now_running.fetch_sub(1, Ordering::SeqCst);
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn every(name: &str, source: &str, secs: u64) -> Entry {
    Entry {
        monitor: name.into(),
        source: source.into(),
        slots: Some(Slots::new(
            name,
            &ScheduleSpec::Every(Duration::from_secs(secs)),
        )),
    }
}

struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    telemetry: Arc<Telemetry>,
    handle: tidewatch::service::scheduler::Handle,
}

fn start(entries: Vec<Entry>, rec: Arc<Recorder>, per_source: usize) -> Running {
    let shutdown = CancellationToken::new();
    let telemetry = Arc::new(Telemetry::new().expect("telemetry"));
    let s = Scheduler::new(
        entries,
        rec,
        telemetry.clone(),
        Clock::tokio_at(t0()),
        per_source,
        shutdown.clone(),
    );
    let handle = s.handle();
    Running {
        shutdown,
        task: tokio::spawn(s.run()),
        telemetry,
        handle,
    }
}

impl Running {
    async fn stop(self) -> Arc<Telemetry> {
        self.shutdown.cancel();
        self.task.await.expect("scheduler task");
        self.telemetry
    }
}

fn slots_of(rec: &Recorder, monitor: &str) -> Vec<DateTime<Utc>> {
    rec.runs
        .lock()
        .expect("lock")
        .iter()
        .filter(|r| r.0 == monitor)
        .map(|r| r.1)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_runs_on_its_offset_slots_once_each() {
    let rec = Arc::new(Recorder::default());
    let run = start(
        vec![
            every("orders", "shop", 10),
            every("customers", "shop", 10),
            every("events", "shop", 10),
        ],
        rec.clone(),
        2,
    );
    tokio::time::sleep(Duration::from_millis(60_500)).await;
    run.stop().await;
    for m in ["orders", "customers", "events"] {
        let got = slots_of(&rec, m);
        let slots = Slots::new(m, &ScheduleSpec::Every(Duration::from_secs(10)));
        let mut want = Vec::new();
        let mut t = t0();
        while let Some(s) = slots.next_after(t) {
            if s > t0() + chrono::Duration::milliseconds(60_500) {
                break;
            }
            want.push(s);
            t = s;
        }
        assert_eq!(got, want, "{m}");
        assert_eq!(got.len(), 6, "{m}: {got:?}");
    }
    // Different names, spread offsets: not all at the same instant.
    let firsts: std::collections::BTreeSet<_> = ["orders", "customers", "events"]
        .iter()
        .map(|m| slots_of(&rec, m)[0])
        .collect();
    assert!(firsts.len() > 1, "{firsts:?}");
}

#[tokio::test(start_paused = true)]
async fn an_overrunning_run_is_not_started_twice() {
    let rec = Arc::new(Recorder {
        takes: Duration::from_secs(25),
        ..Recorder::default()
    });
    let mut entry = every("slow", "shop", 10);
    // Slots at t0 + 5 s, 15 s, 25 s, … 55 s.
    entry.slots = Some(Slots::Every {
        period: 10_000_000,
        offset: 5_000_000,
    });
    let run = start(vec![entry], rec.clone(), 2);
    tokio::time::sleep(Duration::from_secs(61)).await;
    let telemetry = run.stop().await;
    let got = slots_of(&rec, "slow");
    // A run takes 25 s: of the six slots, every third runs, the two between are skipped.
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1] - got[0], chrono::Duration::seconds(30));
    assert_eq!(rec.max_running.load(Ordering::SeqCst), 1);
    assert_eq!(telemetry.skipped_count(SkipReason::Overrun), 4);
}

#[tokio::test(start_paused = true)]
async fn runs_of_one_source_are_capped() {
    let rec = Arc::new(Recorder {
        takes: Duration::from_secs(4),
        ..Recorder::default()
    });
    let mut entries: Vec<Entry> = (0..6).map(|i| every(&format!("m{i}"), "shop", 5)).collect();
    // Same slots for all: the cap, not the offsets, must keep them apart.
    for e in &mut entries {
        e.slots = Some(Slots::Every {
            period: 5_000_000,
            offset: 0,
        });
    }
    let run = start(entries, rec.clone(), 2);
    tokio::time::sleep(Duration::from_secs(5) + Duration::from_millis(100)).await;
    assert_eq!(rec.now_running.load(Ordering::SeqCst), 2, "two at a time");
    tokio::time::sleep(Duration::from_secs(20)).await;
    run.stop().await;
    assert_eq!(rec.max_running.load(Ordering::SeqCst), 2);
}

/// `max_concurrent_scans:` per source: a source capped at 1 runs its monitors one at a time, one
/// capped at 5 runs 5 at once, whatever the default.
#[tokio::test(start_paused = true)]
async fn a_sources_own_cap_overrides_the_default() {
    for (cap, default, want) in [(1, 3, 1), (5, 2, 5)] {
        let rec = Arc::new(Recorder {
            takes: Duration::from_secs(4),
            ..Recorder::default()
        });
        let mut entries: Vec<Entry> = (0..6)
            .map(|i| every(&format!("m{i}"), "capped", 5))
            .collect();
        for e in &mut entries {
            e.slots = Some(Slots::Every {
                period: 5_000_000,
                offset: 0,
            });
        }
        let shutdown = CancellationToken::new();
        let telemetry = Arc::new(Telemetry::new().expect("telemetry"));
        let s = Scheduler::new(
            entries,
            rec.clone(),
            telemetry,
            Clock::tokio_at(t0()),
            default,
            shutdown.clone(),
        )
        .with_source_caps([("capped".to_string(), cap)].into_iter().collect());
        let task = tokio::spawn(s.run());
        tokio::time::sleep(Duration::from_secs(5) + Duration::from_millis(100)).await;
        assert_eq!(rec.now_running.load(Ordering::SeqCst), want, "cap {cap}");
        tokio::time::sleep(Duration::from_secs(20)).await;
        shutdown.cancel();
        task.await.expect("scheduler");
        assert_eq!(rec.max_running.load(Ordering::SeqCst), want, "cap {cap}");
    }
}

#[tokio::test(start_paused = true)]
async fn downtime_is_counted_not_replayed() {
    let rec = Arc::new(Recorder {
        last: Some(t0() - chrono::Duration::seconds(100)),
        ..Recorder::default()
    });
    let entry = every("orders", "shop", 10);
    let expected = entry
        .slots
        .as_ref()
        .expect("slots")
        .count_between(t0() - chrono::Duration::seconds(100), t0());
    let run = start(vec![entry], rec.clone(), 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let telemetry = run.stop().await;
    assert_eq!(expected, 10);
    assert_eq!(telemetry.missed_count("orders"), 10);
    assert!(slots_of(&rec, "orders").is_empty(), "nothing replayed");
}

#[tokio::test(start_paused = true)]
async fn shutdown_drains_a_running_scan() {
    let rec = Arc::new(Recorder {
        takes: Duration::from_secs(30),
        ..Recorder::default()
    });
    let run = start(vec![every("orders", "shop", 10)], rec.clone(), 2);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(rec.now_running.load(Ordering::SeqCst), 1);
    let before = tokio::time::Instant::now();
    run.stop().await;
    // stop() returned only after the run finished, 30 s after it started.
    assert_eq!(rec.finished.load(Ordering::SeqCst), 1);
    assert!(tokio::time::Instant::now() - before >= Duration::from_secs(19));
    assert_eq!(
        slots_of(&rec, "orders").len(),
        1,
        "no new run after shutdown"
    );
}

#[tokio::test(start_paused = true)]
async fn trigger_runs_now_and_names_unknown_monitors() {
    let rec = Arc::new(Recorder::default());
    let mut entry = every("orders", "shop", 3600);
    entry.slots = None;
    let run = start(vec![entry], rec.clone(), 2);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let at = run.handle.trigger("orders").expect("trigger");
    assert_eq!(at, t0() + chrono::Duration::seconds(5));
    assert!(matches!(
        run.handle.trigger("nope"),
        Err(tidewatch_api::TriggerError::UnknownMonitor(_))
    ));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let shutdown = run.shutdown.clone();
    let handle = run.handle.clone();
    run.stop().await;
    assert!(shutdown.is_cancelled());
    assert!(matches!(
        handle.trigger("orders"),
        Err(tidewatch_api::TriggerError::ShuttingDown)
    ));
    let runs = rec.runs.lock().expect("lock").clone();
    assert_eq!(runs, vec![("orders".to_string(), at, Trigger::Manual)]);
}
