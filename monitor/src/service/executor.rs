//! The production [`Executor`]: claim (monitor, slot) in the store's `scheduled_runs` (one atomic
//! insert: of several processes sharing the store exactly one wins), run the scan pipeline for that
//! monitor under its lease, record the outcome, update the metrics.

use super::scheduler::{Executor, Trigger};
use crate::config::Config;
use crate::pipeline;
use crate::store::{RunOutcome, Store};
use checks::{ResultRow, Status};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tidewatch_api::telemetry::{FailureReason, SkipReason};
use tidewatch_api::{SeriesSample, Telemetry};

/// A running run's lease in `scheduled_runs`: renewed every [`RENEW_EVERY`] while it goes; a run
/// whose lease lapsed was left by a dead process and is reaped ([`reap`]).
pub const RUN_LEASE: std::time::Duration = std::time::Duration::from_secs(30);
pub const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The scan's message when another run holds the monitor's lease (`pipeline::scan`'s skipped row).
const LEASE_HELD_PREFIX: &str = "skipped: another run of monitor";

pub struct ScanExecutor {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    /// Names this process in claims: host-independent, unique per process start.
    pub holder: String,
    pub telemetry: Arc<Telemetry>,
    /// Woken after a run queued alert changes (the service's alert loop); `None` without `alerts:`.
    pub alerts_wake: Option<Arc<tokio::sync::Notify>>,
    /// The API's snapshot of latest results, refreshed after each run.
    pub latest: Arc<super::LatestResults>,
}

/// The metric samples of one run's results.
pub fn samples(rows: &[ResultRow]) -> Vec<SeriesSample> {
    rows.iter()
        .map(|r| SeriesSample {
            monitor: r.monitor.clone(),
            metric: r.metric.as_str().to_string(),
            column: r.column().unwrap_or_default(),
            value: r.value,
            lower: r.expected.as_ref().and_then(|e| e.lower),
            upper: r.expected.as_ref().and_then(|e| e.upper),
            status: r.status,
            score: r.score,
        })
        .collect()
}

/// `pipeline::scan` of one monitor. Its future is `Send`, but not provably so inside a generic `Send`
/// bound (rustc reports "implementation of `FnOnce` is not general enough" for the closures over
/// references inside it), so it runs on a blocking-pool thread driving the runtime with
/// `Handle::block_on`.
async fn scan_one(
    config: Arc<Config>,
    store: Arc<Store>,
    monitor: &str,
    now: DateTime<Utc>,
) -> Result<checks::ScanReport, String> {
    let monitor = monitor.to_string();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        rt.block_on(pipeline::scan(&config, &store, Some(&monitor), now))
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(format!("scan task failed: {e}")))
}

impl ScanExecutor {
    /// Incidents, grouping and the outbox for a run's rows, with the configured (service) timers;
    /// the alert loop flushes and delivers. A failure is logged, the run's outcome stands.
    async fn route_alerts(&self, rows: &[ResultRow], now: DateTime<Utc>) {
        let Some(cfg) = &self.config.alerts else {
            return;
        };
        match crate::alerting::route_and_enqueue(&self.config, cfg, &self.store, rows, now, false)
            .await
        {
            Ok(s) => {
                tracing::debug!(
                    firing = s.firing,
                    opened = s.opened,
                    resolved = s.resolved,
                    queued = s.queued,
                    "alerts routed"
                );
                if let Some(w) = &self.alerts_wake {
                    w.notify_one();
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot route alerts"),
        }
    }
}

impl Executor for ScanExecutor {
    async fn last_scheduled(&self, monitor: &str) -> Option<DateTime<Utc>> {
        match self.store.last_scheduled(monitor).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(monitor, error = %e, "cannot read the last scheduled run");
                None
            }
        }
    }

    async fn execute(&self, monitor: &str, slot: DateTime<Utc>, trigger: Trigger) {
        let store = &self.store;
        match store
            .claim_scheduled_run(monitor, slot, trigger.as_str(), &self.holder, Utc::now())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                self.telemetry.skipped(SkipReason::ClaimedElsewhere);
                tracing::debug!(monitor, slot = %slot, "slot claimed by another process");
                return;
            }
            Err(e) => {
                self.telemetry.run_failed(FailureReason::Store);
                tracing::error!(monitor, slot = %slot, error = %e, "cannot claim a scheduled run");
                return;
            }
        }
        let lease = || Utc::now() + chrono::Duration::from_std(RUN_LEASE).unwrap_or_default();
        if let Err(e) = store
            .renew_scheduled_run(monitor, slot, &self.holder, lease())
            .await
        {
            tracing::warn!(monitor, error = %e, "cannot take the run's lease");
        }
        // Renewed while the scan goes; dropped (aborted) when it ends.
        let heartbeat = {
            let (store, holder, name) =
                (self.store.clone(), self.holder.clone(), monitor.to_string());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RENEW_EVERY).await;
                    if let Err(e) = store
                        .renew_scheduled_run(&name, slot, &holder, lease())
                        .await
                    {
                        tracing::warn!(monitor = %name, error = %e, "cannot renew the run's lease");
                    }
                }
            })
        };
        let started = std::time::Instant::now();
        let start = Utc::now();
        if let Err(e) = store.start_scheduled_run(monitor, slot, start).await {
            tracing::warn!(monitor, error = %e, "cannot record the start of a run");
        }
        self.telemetry.running_add(1);
        let report = scan_one(self.config.clone(), self.store.clone(), monitor, start).await;
        self.telemetry.running_add(-1);
        heartbeat.abort();
        let (outcome, message, run_id) = match &report {
            Ok(r) => {
                let lease_held = r
                    .results
                    .iter()
                    .any(|row| row.message.starts_with(LEASE_HELD_PREFIX));
                if lease_held {
                    self.telemetry.skipped(SkipReason::LeaseHeld);
                    (
                        "skipped",
                        "another run of this monitor holds its lease".to_string(),
                        Some(r.run_id),
                    )
                } else {
                    if let Some(m) = self.config.monitors.iter().find(|m| m.name == monitor) {
                        self.telemetry.source_read(&m.source);
                    }
                    self.telemetry.set_series(monitor, samples(&r.results));
                    self.route_alerts(&r.results, start).await;
                    let errors = r
                        .results
                        .iter()
                        .filter(|x| x.status == Status::Error)
                        .count();
                    let problems = r.results.iter().filter(|x| x.status.is_problem()).count();
                    if errors > 0 {
                        self.telemetry.run_failed(FailureReason::Measurement);
                        let first = r
                            .results
                            .iter()
                            .find(|x| x.status == Status::Error)
                            .map(|x| x.message.clone())
                            .unwrap_or_default();
                        (
                            "error",
                            format!("{errors} error(s): {first}"),
                            Some(r.run_id),
                        )
                    } else if problems > 0 {
                        ("problems", format!("{problems} problem(s)"), Some(r.run_id))
                    } else {
                        ("ok", String::new(), Some(r.run_id))
                    }
                }
            }
            Err(e) => {
                self.telemetry.run_failed(FailureReason::Store);
                tracing::error!(monitor, slot = %slot, error = %e, "run failed in the state store");
                (
                    "error",
                    "the state store refused a statement".to_string(),
                    None,
                )
            }
        };
        if run_id.is_some() {
            super::load_one(&self.store, &self.telemetry, &self.latest, monitor).await;
        }
        self.telemetry
            .run_finished(monitor, outcome, started.elapsed());
        tracing::info!(monitor, slot = %slot, trigger = trigger.as_str(), outcome, took_ms = started.elapsed().as_millis() as u64, "run finished");
        let done = RunOutcome {
            finished_at: Utc::now(),
            outcome,
            message: &message,
            run_id,
        };
        if let Err(e) = store.finish_scheduled_run(monitor, slot, &done).await {
            tracing::error!(monitor, slot = %slot, error = %e, "cannot record the end of a run");
        }
    }
}

/// Marks runs that dead processes left running as abandoned (their lease lapsed), counts and logs
/// them. The monitors' next slots are claimed by whichever process is alive, as always; a dead
/// scan's monitor lease (`monitor_leases`) still expires on its own.
pub async fn reap(store: &Store, telemetry: &Telemetry) {
    match store.reap_abandoned_runs(Utc::now()).await {
        Ok(rows) => {
            for r in rows {
                telemetry.abandoned(&r.monitor);
                tracing::warn!(monitor = %r.monitor, slot = %r.scheduled_for, holder = %r.holder, "run abandoned by a process that stopped renewing its lease; marked abandoned");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot reap abandoned runs"),
    }
}
