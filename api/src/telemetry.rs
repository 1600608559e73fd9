//! The Prometheus exposition: per-series gauges (last value, expected band, status) and the service's
//! own counters and histograms, in one registry of the `prometheus` crate.
//!
//! Names follow Prometheus conventions: `tidewatch_` prefix, base units in the name (`_seconds`),
//! `_total` for counters. Labels are bounded: `monitor`, `metric` and `column` come from the config
//! (every series a monitor can produce is named by it), `outcome` and `reason` are closed sets.

use checks::Status;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
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
    /// Held while the series gauges are replaced and while rendering, so a scrape never sees half a
    /// replacement.
    series: Mutex<BTreeMap<String, Vec<SeriesSample>>>,
    value: GaugeVec,
    lower: GaugeVec,
    upper: GaugeVec,
    status: GaugeVec,
    run_duration: HistogramVec,
    runs: IntCounterVec,
    failures: IntCounterVec,
    missed: IntCounterVec,
    skipped: IntCounterVec,
    monitors: IntGauge,
    running: IntGauge,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

const SERIES_LABELS: &[&str] = &["monitor", "metric", "column"];

impl Telemetry {
    pub fn new() -> Result<Telemetry, prometheus::Error> {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| -> Result<GaugeVec, prometheus::Error> {
            let g = GaugeVec::new(Opts::new(name, help), SERIES_LABELS)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let value = gauge(
            "tidewatch_series_value",
            "Last measured value of a series (unit by metric: rows, seconds, ratio 0-1, or the column's own unit).",
        )?;
        let lower = gauge(
            "tidewatch_series_expected_lower",
            "Lower end of the expected band of the last measurement (checks or learned baseline).",
        )?;
        let upper = gauge(
            "tidewatch_series_expected_upper",
            "Upper end of the expected band of the last measurement (checks or learned baseline).",
        )?;
        let status = gauge(
            "tidewatch_series_status_code",
            "Status of the last measurement: 0 pass, 1 learning, 2 anomaly, 3 fail, 4 error.",
        )?;
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
        // Every reason is exposed from the start (as 0), so a rate() over it works before the first one.
        for r in [
            FailureReason::Store,
            FailureReason::Measurement,
        ] {
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
            value,
            lower,
            upper,
            status,
            run_duration,
            runs,
            failures,
            missed,
            skipped,
            monitors,
            running,
        })
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
        if let Some(old) = all.remove(monitor) {
            for s in &old {
                let labels = [s.monitor.as_str(), s.metric.as_str(), s.column.as_str()];
                for g in [&self.value, &self.lower, &self.upper, &self.status] {
                    let _ = g.remove_label_values(&labels);
                }
            }
        }
        for s in &samples {
            let labels = [s.monitor.as_str(), s.metric.as_str(), s.column.as_str()];
            for (g, v) in [
                (&self.value, s.value),
                (&self.lower, s.lower),
                (&self.upper, s.upper),
            ] {
                if let Some(v) = v.filter(|v| v.is_finite()) {
                    g.with_label_values(&labels).set(v);
                }
            }
            self.status
                .with_label_values(&labels)
                .set(status_code(s.status));
        }
        all.insert(monitor.to_string(), samples);
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let _held = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let families = self.registry.gather();
        let mut out = Vec::with_capacity(1 << 16);
        TextEncoder::new().encode(&families, &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
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
        }
    }

    #[test]
    fn replacing_a_monitors_series_drops_the_old_ones() {
        let t = Telemetry::new().expect("registry");
        t.set_series("a", vec![sample("a", "row_count", 5.0), sample("a", "volume", 2.0)]);
        t.set_series("b", vec![sample("b", "row_count", 7.0)]);
        t.set_series("a", vec![sample("a", "row_count", 6.0)]);
        let text = t.render().expect("render");
        assert!(text.contains(
            "tidewatch_series_value{column=\"\",metric=\"row_count\",monitor=\"a\"} 6"
        ), "{text}");
        assert!(!text.contains("metric=\"volume\""), "{text}");
        assert!(text.contains("tidewatch_series_status_code{column=\"\",metric=\"row_count\",monitor=\"b\"} 2"));
        assert!(!text.contains("tidewatch_series_expected_upper{"), "{text}");
    }
}
