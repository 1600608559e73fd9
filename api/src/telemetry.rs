//! The Prometheus exposition: per-series gauges (last value, expected band, status) and the service's
//! own counters and histograms, in one registry of the `prometheus` crate.
//!
//! Names follow Prometheus conventions: `tidewatch_` prefix, base units in the name (`_seconds`),
//! `_total` for counters. Labels are bounded: `monitor`, `metric` and `column` come from the config
//! (every series a monitor can produce is named by it), `outcome` and `reason` are closed sets.

use checks::Status;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// The latest measurement of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSample {
    pub monitor: String,
    pub metric: String,
    /// `""` for table metrics.
    pub column: String,
    pub value: Option<f64>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub status: Status,
    /// The learned baseline's anomaly score, when the measurement has a learned verdict.
    pub score: Option<f64>,
}

/// `tidewatch_series_status_code`: pass 0, learning 1, anomaly 2, fail 3, error 4.
pub fn status_code(s: Status) -> f64 {
    match s {
        Status::Pass => 0.0,
        Status::Learning => 1.0,
        Status::Anomaly => 2.0,
        Status::Fail => 3.0,
        Status::Error => 4.0,
    }
}

/// Why a scheduled run produced no result, for `tidewatch_run_failures_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The state store refused a statement.
    Store,
    /// A measurement could not be taken (an `error` row).
    Measurement,
}

impl FailureReason {
    fn as_str(self) -> &'static str {
        match self {
            FailureReason::Store => "store",
            FailureReason::Measurement => "measurement",
        }
    }
}

/// Why a scheduled slot was not run by this process, for `tidewatch_scheduled_runs_skipped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The previous run of the monitor is still going in this process.
    Overrun,
    /// Another process claimed the slot first.
    ClaimedElsewhere,
    /// Another process's run of the monitor holds its lease.
    LeaseHeld,
}

impl SkipReason {
    fn as_str(self) -> &'static str {
        match self {
            SkipReason::Overrun => "overrun",
            SkipReason::ClaimedElsewhere => "claimed_elsewhere",
            SkipReason::LeaseHeld => "lease_held",
        }
    }
}

/// The registry and every metric the service exposes.
pub struct Telemetry {
    registry: Registry,
    /// The latest samples per monitor. The four per-series gauge families are written from here
    /// directly in the text format (see [`Telemetry::render`]); the registry holds the rest.
    series: Mutex<BTreeMap<String, Vec<SeriesSample>>>,
    run_duration: HistogramVec,
    runs: IntCounterVec,
    failures: IntCounterVec,
    missed: IntCounterVec,
    skipped: IntCounterVec,
    monitors: IntGauge,
    running: IntGauge,
    sent: IntCounterVec,
    notify_failures: IntCounterVec,
    outbox_pending: IntGauge,
    outbox_oldest: Gauge,
    source_reads: IntCounterVec,
    abandoned: IntCounterVec,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

/// The per-series families: name, help, and which value of a sample they show.
type Pick = fn(&SeriesSample) -> Option<f64>;
const SERIES_FAMILIES: [(&str, &str, Pick); 5] = [
    (
        "tidewatch_series_value",
        "Last measured value of a series (unit by metric: rows, seconds, ratio 0-1, or the column's own unit).",
        |s| s.value,
    ),
    (
        "tidewatch_series_expected_lower",
        "Lower end of the expected band of the last measurement (checks or learned baseline).",
        |s| s.lower,
    ),
    (
        "tidewatch_series_expected_upper",
        "Upper end of the expected band of the last measurement (checks or learned baseline).",
        |s| s.upper,
    ),
    (
        "tidewatch_series_anomaly_score",
        "Anomaly score of the last measurement under its learned baseline, 0-1 (an anomaly at or above 1 - sensitivity); absent without a learned verdict.",
        |s| s.score,
    ),
    (
        "tidewatch_series_status_code",
        "Status of the last measurement: 0 pass, 1 learning, 2 anomaly, 3 fail, 4 error.",
        |s| Some(status_code(s.status)),
    ),
];

/// A label value in the text format: backslash, double quote and newline escaped.
fn push_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

impl Telemetry {
    pub fn new() -> Result<Telemetry, prometheus::Error> {
        let registry = Registry::new();
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let run_duration = HistogramVec::new(
            HistogramOpts::new(
                "tidewatch_run_duration_seconds",
                "Wall time of one monitor's run, from start to stored results.",
            )
            .buckets(vec![
                0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
            ]),
            &["monitor"],
        )?;
        registry.register(Box::new(run_duration.clone()))?;
        let runs = counter(
            "tidewatch_runs_total",
            "Runs of monitors executed by this process, by outcome (ok, problems, error, skipped).",
            &["outcome"],
        )?;
        let failures = counter(
            "tidewatch_run_failures_total",
            "Runs that produced an error, by reason (store, measurement).",
            &["reason"],
        )?;
        let missed = counter(
            "tidewatch_scheduled_runs_missed_total",
            "Scheduled slots that passed while no process ran (downtime, a late wake-up); counted, not replayed.",
            &["monitor"],
        )?;
        let skipped = counter(
            "tidewatch_scheduled_runs_skipped_total",
            "Scheduled slots this process did not run, by reason (overrun, claimed_elsewhere, lease_held).",
            &["reason"],
        )?;
        let monitors = IntGauge::new(
            "tidewatch_monitors",
            "Monitors in the configuration of this process.",
        )?;
        registry.register(Box::new(monitors.clone()))?;
        let running = IntGauge::new(
            "tidewatch_runs_in_progress",
            "Runs of monitors executing in this process now.",
        )?;
        registry.register(Box::new(running.clone()))?;
        let sent = counter(
            "tidewatch_notifications_sent_total",
            "Notifications a receiver accepted, sent by this process, by receiver.",
            &["receiver"],
        )?;
        let notify_failures = counter(
            "tidewatch_notification_failures_total",
            "Failed notification attempts of this process (retried or dead-lettered), by receiver.",
            &["receiver"],
        )?;
        let abandoned = counter(
            "tidewatch_runs_abandoned_total",
            "Runs left running by a process that died (their lease lapsed), marked abandoned by this process, by monitor.",
            &["monitor"],
        )?;
        let source_reads = counter(
            "tidewatch_source_reads_total",
            "Readings of a source by this process's runs, by source (for a warehouse table: the catalog read and ONE profile statement, plus the warm-start statement on a first scan).",
            &["source"],
        )?;
        let outbox_pending = IntGauge::new(
            "tidewatch_outbox_pending",
            "Notifications in the state store's outbox not yet delivered nor dead (all processes).",
        )?;
        registry.register(Box::new(outbox_pending.clone()))?;
        let outbox_oldest = Gauge::new(
            "tidewatch_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending notification in the outbox (0 when none is pending).",
        )?;
        registry.register(Box::new(outbox_oldest.clone()))?;
        // Every reason is exposed from the start (as 0), so a rate() over it works before the first one.
        for r in [FailureReason::Store, FailureReason::Measurement] {
            failures.with_label_values(&[r.as_str()]);
        }
        for r in [
            SkipReason::Overrun,
            SkipReason::ClaimedElsewhere,
            SkipReason::LeaseHeld,
        ] {
            skipped.with_label_values(&[r.as_str()]);
        }
        for o in ["ok", "problems", "error", "skipped"] {
            runs.with_label_values(&[o]);
        }
        Ok(Telemetry {
            registry,
            series: Mutex::new(BTreeMap::new()),
            run_duration,
            runs,
            failures,
            missed,
            skipped,
            monitors,
            running,
            sent,
            notify_failures,
            outbox_pending,
            outbox_oldest,
            source_reads,
            abandoned,
        })
    }

    /// This process marked a dead process's run of `monitor` abandoned.
    pub fn abandoned(&self, monitor: &str) {
        self.abandoned.with_label_values(&[monitor]).inc();
    }

    /// Exposes each configured source's read counter from the start (as 0).
    pub fn init_sources<'a>(&self, sources: impl IntoIterator<Item = &'a str>) {
        for s in sources {
            self.source_reads.with_label_values(&[s]);
        }
    }

    /// A run read `source` once (its monitor's profile).
    pub fn source_read(&self, source: &str) {
        self.source_reads.with_label_values(&[source]).inc();
    }

    pub fn source_reads(&self, source: &str) -> u64 {
        self.source_reads.with_label_values(&[source]).get()
    }

    /// Exposes the receivers' counters from the start (as 0), so `rate()` works before the first
    /// notification.
    pub fn init_receivers<'a>(&self, receivers: impl IntoIterator<Item = &'a str>) {
        for r in receivers {
            self.sent.with_label_values(&[r]);
            self.notify_failures.with_label_values(&[r]);
        }
    }

    pub fn notification_sent(&self, receiver: &str) {
        self.sent.with_label_values(&[receiver]).inc();
    }

    pub fn notification_failed(&self, receiver: &str) {
        self.notify_failures.with_label_values(&[receiver]).inc();
    }

    /// The outbox as last read: pending rows and the age of the oldest (`None`: none pending).
    pub fn set_outbox(&self, pending: usize, oldest: Option<Duration>) {
        self.outbox_pending.set(pending as i64);
        self.outbox_oldest
            .set(oldest.map_or(0.0, |d| d.as_secs_f64()));
    }

    /// Notifications sent and failed so far for `receiver` (for tests and logs).
    pub fn notification_counts(&self, receiver: &str) -> (u64, u64) {
        (
            self.sent.with_label_values(&[receiver]).get(),
            self.notify_failures.with_label_values(&[receiver]).get(),
        )
    }

    pub fn set_monitor_count(&self, n: usize) {
        self.monitors.set(n as i64);
    }

    /// A run of `monitor` ended with `outcome` (`ok`, `problems` or `error`) after `took`.
    pub fn run_finished(&self, monitor: &str, outcome: &str, took: Duration) {
        self.run_duration
            .with_label_values(&[monitor])
            .observe(took.as_secs_f64());
        self.runs.with_label_values(&[outcome]).inc();
    }

    pub fn run_failed(&self, reason: FailureReason) {
        self.failures.with_label_values(&[reason.as_str()]).inc();
    }

    pub fn missed(&self, monitor: &str, slots: u64) {
        self.missed.with_label_values(&[monitor]).inc_by(slots);
    }

    pub fn skipped(&self, reason: SkipReason) {
        self.skipped.with_label_values(&[reason.as_str()]).inc();
    }

    /// Missed slots counted so far for `monitor` (for tests and logs).
    pub fn missed_count(&self, monitor: &str) -> u64 {
        self.missed.with_label_values(&[monitor]).get()
    }

    pub fn skipped_count(&self, reason: SkipReason) -> u64 {
        self.skipped.with_label_values(&[reason.as_str()]).get()
    }

    pub fn running_add(&self, d: i64) {
        self.running.add(d);
    }

    /// Replaces the series of `monitor` with `samples` (the latest measurement of each).
    pub fn set_series(&self, monitor: &str, samples: Vec<SeriesSample>) {
        let mut all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        all.insert(monitor.to_string(), samples);
    }

    /// The text exposition format (version 0.0.4): the per-series gauges, written here in one pass
    /// (the `prometheus` crate's gather and encode take ~200 ms for 10,000 series; this takes a few),
    /// then the registry's families through the crate's `TextEncoder`.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = String::with_capacity(1 << 16);
        {
            let all = self.series.lock().unwrap_or_else(|p| p.into_inner());
            let n: usize = all.values().map(Vec::len).sum();
            out.reserve(n * 4 * 96);
            let mut num = ryu::Buffer::new();
            for (name, help, pick) in SERIES_FAMILIES {
                out.push_str("# HELP ");
                out.push_str(name);
                out.push(' ');
                out.push_str(help);
                out.push_str("\n# TYPE ");
                out.push_str(name);
                out.push_str(" gauge\n");
                for s in all.values().flatten() {
                    let Some(v) = pick(s).filter(|v| v.is_finite()) else {
                        continue;
                    };
                    out.push_str(name);
                    out.push_str("{column=\"");
                    push_label(&mut out, &s.column);
                    out.push_str("\",metric=\"");
                    push_label(&mut out, &s.metric);
                    out.push_str("\",monitor=\"");
                    push_label(&mut out, &s.monitor);
                    out.push_str("\"} ");
                    out.push_str(num.format_finite(v));
                    out.push('\n');
                }
            }
        }
        let families = self.registry.gather();
        let mut rest = Vec::with_capacity(1 << 14);
        TextEncoder::new().encode(&families, &mut rest)?;
        out.push_str(&String::from_utf8(rest).map_err(|e| prometheus::Error::Msg(e.to_string()))?);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(monitor: &str, metric: &str, v: f64) -> SeriesSample {
        SeriesSample {
            monitor: monitor.into(),
            metric: metric.into(),
            column: String::new(),
            value: Some(v),
            lower: Some(1.0),
            upper: None,
            status: Status::Anomaly,
            score: Some(0.8),
        }
    }

    #[test]
    fn replacing_a_monitors_series_drops_the_old_ones() {
        let t = Telemetry::new().expect("registry");
        t.set_series(
            "a",
            vec![sample("a", "row_count", 5.0), sample("a", "volume", 2.0)],
        );
        t.set_series("b", vec![sample("b", "row_count", 7.0)]);
        t.set_series("a", vec![sample("a", "row_count", 6.0)]);
        let text = t.render().expect("render");
        assert!(
            text.contains(
                "tidewatch_series_value{column=\"\",metric=\"row_count\",monitor=\"a\"} 6.0\n"
            ),
            "{text}"
        );
        assert!(!text.contains("metric=\"volume\""), "{text}");
        assert!(text.contains(
            "tidewatch_series_status_code{column=\"\",metric=\"row_count\",monitor=\"b\"} 2.0\n"
        ));
        assert!(!text.contains("tidewatch_series_expected_upper{"), "{text}");
        let mut odd = sample("we\"ird\\\n", "row_count", 1.0);
        odd.column = "a,b".into();
        t.set_series("odd", vec![odd]);
        let text = t.render().expect("render");
        assert!(
            text.contains(
                "column=\"a,b\",metric=\"row_count\",monitor=\"we\\\"ird\\\\\\n\"} 1.0\n"
            ),
            "{text}"
        );
    }
}
