//! `tidewatch run`: the long-running service. Wires the scheduler (`scheduler.rs`, slots from
//! `schedule.rs`, runs through `executor.rs`), the HTTP API and dashboard (crate `tidewatch-api`) and
//! the metric refresh, and shuts them down in order on SIGTERM / Ctrl-C: no new runs, started runs
//! drained, pending notifications delivered (`alerting.rs`, bounded by `alerts.flush_timeout`), then
//! the HTTP server finishes its in-flight requests.

pub mod alerting;
pub mod executor;
pub mod schedule;
pub mod scheduler;

use crate::config::{describe_schedule, Config};
use crate::store::Store;
use anyhow::Context;
use scheduler::{Clock, Entry, Handle, Scheduler, DEFAULT_PER_SOURCE};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tidewatch_api::{ApiState, Limits, MonitorInfo, Service, Telemetry, Tokens, TriggerError};
use tokio_util::sync::CancellationToken;

/// The address `run` listens on when neither `--listen` nor `api.listen` says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// How often every monitor's latest results are re-read into the metric gauges (runs of other
/// processes sharing the store show up within this).
pub const SERIES_REFRESH: Duration = Duration::from_secs(30);

/// Every monitor's latest results as this process last read them from the store: refreshed after
/// each of its runs and every [`SERIES_REFRESH`], so the API answers monitor and health reads
/// without a query (runs of other processes on a shared store show within the refresh).
#[derive(Default)]
pub struct LatestResults(
    std::sync::RwLock<std::collections::HashMap<String, Arc<Vec<crate::store::MeasurementRecord>>>>,
);

impl LatestResults {
    pub fn get(&self, monitor: &str) -> Option<Arc<Vec<crate::store::MeasurementRecord>>> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(monitor)
            .cloned()
    }

    pub fn set(&self, monitor: &str, rows: Vec<crate::store::MeasurementRecord>) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(monitor.to_string(), Arc::new(rows));
    }
}

/// The [`Service`] port the API sees.
struct Port {
    monitors: Vec<MonitorInfo>,
    handle: Handle,
    latest: Arc<LatestResults>,
}

impl Service for Port {
    fn monitors(&self) -> &[MonitorInfo] {
        &self.monitors
    }

    fn trigger(&self, monitor: &str) -> Result<chrono::DateTime<chrono::Utc>, TriggerError> {
        self.handle.trigger(monitor)
    }

    fn latest(&self, monitor: &str) -> Option<Arc<Vec<crate::store::MeasurementRecord>>> {
        self.latest.get(monitor)
    }
}

/// A name for this process in claims and leases.
pub fn holder_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("run pid {} start {nanos}", std::process::id())
}

/// Resolves when SIGTERM or Ctrl-C arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Reads every monitor's latest results into the gauges every [`SERIES_REFRESH`].
async fn refresh_series(
    config: Arc<Config>,
    store: Arc<Store>,
    telemetry: Arc<Telemetry>,
    latest: Arc<LatestResults>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(SERIES_REFRESH) => {},
        }
        load_series(&config, &store, &telemetry, &latest).await;
    }
}

/// Every monitor's latest results into the gauges.
async fn load_series(
    config: &Config,
    store: &Store,
    telemetry: &Telemetry,
    latest: &LatestResults,
) {
    // A `discover:` template's series are its tables' (set by the executor after each run).
    for m in config.monitors.iter().filter(|m| m.discover().is_none()) {
        load_one(store, telemetry, latest, &m.name).await;
    }
}

/// One monitor's latest results from the store into the gauges and the API's snapshot.
pub async fn load_one(store: &Store, telemetry: &Telemetry, latest: &LatestResults, monitor: &str) {
    match store.latest(monitor).await {
        Ok(rows) => {
            telemetry.set_series(
                monitor,
                rows.iter()
                    .map(|r| tidewatch_api::SeriesSample {
                        monitor: r.key.monitor.clone(),
                        metric: r.key.metric.as_str().to_string(),
                        column: r.key.label().unwrap_or_default(),
                        value: r.value,
                        lower: r.lower,
                        upper: r.upper,
                        status: r.status,
                        score: r.score,
                    })
                    .collect(),
            );
            latest.set(monitor, rows);
        }
        Err(e) => {
            tracing::warn!(monitor, error = %e, "cannot read latest results for metrics")
        }
    }
}

/// Runs the service until `shutdown` is cancelled. `on_listen` receives the bound address (port 0
/// picks a free one) before the first request is served.
pub async fn run(
    config: Arc<Config>,
    store: Arc<Store>,
    listen: SocketAddr,
    shutdown: CancellationToken,
    on_listen: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let telemetry = Arc::new(Telemetry::new().context("creating the metrics registry")?);
    telemetry.set_monitor_count(config.monitors.len());
    telemetry.init_sources(config.sources.keys().map(String::as_str));
    let entries: Vec<Entry> = config
        .monitors
        .iter()
        .map(|m| Entry {
            monitor: m.name.clone(),
            source: m.source.clone(),
            slots: m
                .schedule
                .as_ref()
                .map(|s| schedule::Slots::new(&m.name, s)),
        })
        .collect();
    for m in config.monitors.iter().filter(|m| m.schedule.is_none()) {
        tracing::warn!(monitor = %m.name, "no schedule or every: this monitor runs only when triggered");
    }
    let holder = holder_name();
    let latest = Arc::new(LatestResults::default());
    let alert_loop = config.alerts.as_ref().map(|a| {
        telemetry.init_receivers(a.notifiers.keys().map(String::as_str));
        alerting::AlertLoop {
            alerts: Arc::new(a.clone()),
            store: store.clone(),
            telemetry: telemetry.clone(),
            holder: holder.clone(),
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    });
    let executor = Arc::new(executor::ScanExecutor {
        config: config.clone(),
        store: store.clone(),
        holder,
        telemetry: telemetry.clone(),
        alerts_wake: alert_loop.as_ref().map(|l| l.wake.clone()),
        latest: latest.clone(),
    });
    let scheduler = Scheduler::new(
        entries,
        executor,
        telemetry.clone(),
        Clock::System,
        DEFAULT_PER_SOURCE,
        shutdown.clone(),
    )
    .with_source_caps(
        config
            .sources
            .values()
            .filter_map(|s| s.max_concurrent_scans.map(|n| (s.name.clone(), n)))
            .collect(),
    );
    let port = Arc::new(Port {
        monitors: config
            .monitors
            .iter()
            .map(|m| MonitorInfo {
                name: m.name.clone(),
                source: m.source.clone(),
                dataset: m.dataset.clone(),
                schedule: m.schedule.as_ref().map(describe_schedule),
                bucket_seconds: m
                    .timestamp_column
                    .as_ref()
                    .map(|_| m.bucket.as_secs() as i64),
            })
            .collect(),
        handle: scheduler.handle(),
        latest: latest.clone(),
    });
    let api = config.api.clone().unwrap_or_default();
    let tokens = Tokens {
        read: api.tokens,
        admin: api.admin_tokens,
        protect_metrics: api.protect_metrics,
    };
    if !tokens.enabled() {
        tracing::warn!("api has no tokens configured: every endpoint is open, admin ones included");
    }
    let state = ApiState::new(
        store.clone(),
        port,
        tokens,
        telemetry.clone(),
        Limits::default(),
    );
    // The first scrape already shows what the store knows.
    load_series(&config, &store, &telemetry, &latest).await;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    on_listen(bound);

    let http_stop = CancellationToken::new();
    let server = {
        let stop = http_stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, tidewatch_api::router(state))
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        })
    };
    let reaper = {
        let (store, telemetry, stop) = (store.clone(), telemetry.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(executor::RENEW_EVERY) => {},
                }
                executor::reap(&store, &telemetry).await;
            }
        })
    };
    let refresher = tokio::spawn(refresh_series(
        config.clone(),
        store.clone(),
        telemetry.clone(),
        latest.clone(),
        shutdown.clone(),
    ));
    // The alert loop stops after the scheduler: the drained runs' alerts are delivered too.
    let alerts_stop = CancellationToken::new();
    let alerter = alert_loop.map(|l| tokio::spawn(l.run(alerts_stop.clone())));
    scheduler.run().await;
    tracing::info!("scheduler stopped; started runs drained");
    alerts_stop.cancel();
    if let Some(a) = alerter {
        let _ = a.await;
    }
    let _ = refresher.await;
    let _ = reaper.await;
    http_stop.cancel();
    match server.await {
        Ok(r) => r.context("serving http")?,
        Err(e) => anyhow::bail!("http server task failed: {e}"),
    }
    Ok(())
}
