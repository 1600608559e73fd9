//! `bench service`: the service's speed figures, printed, never pass/fail.
//!
//! 1. `/metrics` rendering for 10,000 series (1,000 monitors x 10 series, each with value, band and
//!    status): median and max of 20 renders of `Telemetry::render`.
//! 2. API latency at a fixed rate on loopback: the demo warehouse, scanned once, served by
//!    `tidewatch::service::run` (scheduler, API, store as in production) on 127.0.0.1; an open-loop
//!    generator in the same process sends `rate` requests/s for `seconds` (latency measured from each
//!    request's planned send time, so a stall is not hidden) to three read endpoints. With `--url`
//!    the same generator loads a server running in another process (e.g. the release
//!    `tidewatch demo`), so client and server do not share a runtime.
//! 3. The scheduler's own CPU with 1,000 monitors (`every: 1h`, offsets spread) and a no-op executor:
//!    process CPU time (utime + stime from /proc/self/stat) over wall time while idle.

use anyhow::Context;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tidewatch::config::ScheduleSpec;
use tidewatch::service::schedule::Slots;
use tidewatch::service::scheduler::{Clock, Entry, Executor, Scheduler, Trigger};
use tidewatch_api::{SeriesSample, Telemetry};
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// Requests per second of the API load.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// Seconds of API load.
    #[arg(long, default_value_t = 10)]
    pub seconds: u32,
    /// Seconds the idle scheduler is watched.
    #[arg(long, default_value_t = 30)]
    pub idle_seconds: u32,
    /// Load a server already running in another process at this base URL (e.g. the release
    /// `tidewatch demo --listen 127.0.0.1:8080` → `http://127.0.0.1:8080`) instead of one started in
    /// this process; only the API latency part runs.
    #[arg(long)]
    pub url: Option<String>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn metrics_render() -> anyhow::Result<()> {
    let t = Telemetry::new().context("registry")?;
    let metrics = [
        "row_count",
        "volume",
        "freshness_seconds",
        "null_rate",
        "null_rate",
        "null_rate",
        "distinct_count",
        "distinct_count",
        "mean",
        "duplicate_count",
    ];
    for m in 0..1000 {
        let monitor = format!("monitor_{m:04}");
        let samples = metrics
            .iter()
            .enumerate()
            .map(|(i, metric)| SeriesSample {
                monitor: monitor.clone(),
                metric: metric.to_string(),
                column: if i >= 3 {
                    format!("col_{i}")
                } else {
                    String::new()
                },
                value: Some(1000.0 + i as f64),
                lower: Some(900.0),
                upper: Some(1100.0),
                status: checks::Status::Pass,
                score: (i < 3).then_some(0.1),
            })
            .collect();
        t.set_series(&monitor, samples);
    }
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..20 {
        let start = Instant::now();
        let text = t.render().context("render")?;
        times.push(start.elapsed());
        bytes = text.len();
    }
    times.sort();
    println!(
        "metrics: 10000 series (40000 samples), {:.1} MB: render median {:.1} ms, max {:.1} ms (target < 50 ms)",
        bytes as f64 / 1e6,
        ms(percentile(&times, 0.5)),
        ms(*times.last().unwrap_or(&Duration::ZERO))
    );
    Ok(())
}

/// The open-loop load against `base` (see the module docs); prints the figures.
async fn load(base: &str, args: &ServiceArgs, client_note: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .context("client")?;
    let paths = [
        "/api/v1/monitors/orders/series?metric=volume",
        "/api/v1/monitors",
        "/api/v1/datasets/orders/health",
    ];
    // Warm-up: connections and caches.
    for i in 0..200 {
        let _ = client
            .get(format!("{base}{}", paths[i % paths.len()]))
            .send()
            .await;
    }
    let n = (args.rate * args.seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let planned = start + interval * i as u32;
        tokio::time::sleep_until(planned).await;
        let url = format!("{base}{}", paths[i % paths.len()]);
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let ok = match client.get(url).send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            (planned.elapsed(), ok)
        }));
    }
    let mut lat = Vec::with_capacity(n);
    let mut failed = 0;
    for t in tasks {
        let (d, ok) = t.await.context("request task")?;
        lat.push(d);
        if !ok {
            failed += 1;
        }
    }
    let took = start.elapsed();
    lat.sort();
    println!(
        "api ({client_note}): {n} requests at {} req/s over {:.1} s (achieved {:.0} req/s), {failed} failed: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 < 5 ms)",
        args.rate,
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap_or(&Duration::ZERO)),
    );
    Ok(())
}

async fn api_latency(args: &ServiceArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("tw_bench_service_{}", std::process::id()));
    let config_path = tidewatch::demo::write_demo(&dir).await?;
    let config = tidewatch::config::load(&config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = Arc::new(
        tidewatch_store::Store::connect(secrecy::ExposeSecret::expose_secret(&config.store))
            .await
            .context("store")?,
    );
    tidewatch::pipeline::scan(&config, &store, None, Utc::now())
        .await
        .context("demo scan")?;
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(tidewatch::service::run(
        Arc::new(config),
        store.clone(),
        "127.0.0.1:0".parse().context("addr")?,
        shutdown.clone(),
        move |addr| {
            let _ = tx.send(addr);
        },
    ));
    let addr = rx.await.context("server did not start")?;
    load(
        &format!("http://{addr}"),
        args,
        "client in the server's process",
    )
    .await?;
    shutdown.cancel();
    server.await.context("server task")??;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

struct Noop;

impl Executor for Noop {
    async fn last_scheduled(&self, _monitor: &str) -> Option<DateTime<Utc>> {
        None
    }
    async fn execute(&self, _monitor: &str, _slot: DateTime<Utc>, _trigger: Trigger) {}
}

/// utime + stime of this process, from /proc/self/stat (clock ticks of 1/100 s).
fn cpu_time() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        f.get(i)
            .context("short /proc/self/stat")?
            .parse::<u64>()
            .context("parsing /proc/self/stat")
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

async fn scheduler_idle(args: &ServiceArgs) -> anyhow::Result<()> {
    let entries: Vec<Entry> = (0..1000)
        .map(|i| {
            let name = format!("monitor_{i:04}");
            Entry {
                slots: Some(Slots::new(
                    &name,
                    &ScheduleSpec::Every(Duration::from_secs(3600)),
                )),
                source: format!("source_{}", i % 10),
                monitor: name,
            }
        })
        .collect();
    let shutdown = CancellationToken::new();
    let telemetry = Arc::new(Telemetry::new().context("registry")?);
    let s = Scheduler::new(
        entries,
        Arc::new(Noop),
        telemetry,
        Clock::System,
        2,
        shutdown.clone(),
    );
    let task = tokio::spawn(s.run());
    // Let the 1,000 tasks start and settle before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu0, wall0) = (cpu_time()?, Instant::now());
    tokio::time::sleep(Duration::from_secs(u64::from(args.idle_seconds))).await;
    let (cpu1, wall) = (cpu_time()?, wall0.elapsed());
    shutdown.cancel();
    task.await.context("scheduler task")?;
    println!(
        "scheduler: 1000 monitors every 1h, idle for {:.0} s: {:.2} s CPU = {:.3}% of one core (target < 1%)",
        wall.as_secs_f64(),
        (cpu1 - cpu0).as_secs_f64(),
        100.0 * (cpu1 - cpu0).as_secs_f64() / wall.as_secs_f64()
    );
    Ok(())
}

pub async fn run(args: &ServiceArgs) -> anyhow::Result<()> {
    if let Some(url) = &args.url {
        return load(url.trim_end_matches('/'), args, "client in its own process").await;
    }
    metrics_render()?;
    scheduler_idle(args).await?;
    api_latency(args).await
}
