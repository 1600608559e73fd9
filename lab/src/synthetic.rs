//! A synthetic suite of data-observability series with labelled incidents, and its evaluation of our
//! detector against two simple baselines (a rolling z-score and a seasonal median/MAD).
//!
//! Everything is deterministic: the generators draw from a splitmix64 stream seeded by the caller.
//! Weekend pauses, nights without loads and holidays are part of the normal behaviour, not incidents.

use checks::baseline::{Online, Params, SeriesKind};
use checks::Metric;
use std::collections::HashMap;
use std::fmt::Write as _;

const HOUR: i64 = 3_600;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
/// Monday 2024-01-01 00:00 UTC.
const START: i64 = 1_704_067_200;
/// Incidents are only placed, and alerts only counted, after this warm-up.
const WARMUP: i64 = 2 * WEEK;
/// An alert this long after an incident's end still counts as its detection.
const GRACE: i64 = 2 * HOUR;

/// splitmix64: a tiny, good-enough deterministic generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// One generated series: points, incident intervals `[start, end]` and the metric it imitates.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// The local time zone of the series' loads and seasonality (UTC for the fixed suite).
    pub tz: chrono_tz::Tz,
    /// The monitor metric this series imitates; it picks the model as a monitor does
    /// ([`SeriesKind::for_metric`]).
    pub metric: Metric,
    pub points: Vec<(i64, f64)>,
    pub incidents: Vec<(i64, i64)>,
}

fn hour_of_day(ts: i64) -> i64 {
    ts.rem_euclid(DAY) / HOUR
}

/// Day of week, Monday = 0.
fn weekday(ts: i64) -> i64 {
    (ts - START).rem_euclid(WEEK) / DAY
}

fn in_any(ts: i64, spans: &[(i64, i64)]) -> bool {
    spans.iter().any(|&(a, b)| ts >= a && ts <= b)
}

fn hourly(weeks: u32) -> impl Iterator<Item = i64> {
    (0..i64::from(weeks) * WEEK / HOUR).map(|i| START + i * HOUR)
}

/// Hourly row counts: daily and weekly seasonality, 2 % growth a week, Poisson-like noise. Incidents:
/// a 4-hour drop to 30 % and a 2-hour triple load.
fn volume_seasonal(rng: &mut Rng, weeks: u32) -> Series {
    let drop = (
        START + 3 * WEEK + 2 * DAY + 10 * HOUR,
        START + 3 * WEEK + 2 * DAY + 13 * HOUR,
    );
    let spike = (
        START + 5 * WEEK + 4 * DAY + 15 * HOUR,
        START + 5 * WEEK + 4 * DAY + 16 * HOUR,
    );
    let points = hourly(weeks)
        .map(|t| {
            let growth = 1.0 + 0.02 * (t - START) as f64 / WEEK as f64;
            let daily = 1.0
                + 0.6 * ((hour_of_day(t) as f64 - 8.0) / 24.0 * 2.0 * std::f64::consts::PI).sin();
            let weekly = if weekday(t) >= 5 { 0.55 } else { 1.0 };
            let mean = 800.0 * growth * daily * weekly;
            let mut v = (mean + mean.sqrt() * rng.normal()).max(0.0).round();
            if in_any(t, &[drop]) {
                v = (v * 0.3).round();
            }
            if in_any(t, &[spike]) {
                v *= 3.0;
            }
            (t, v)
        })
        .collect();
    Series {
        name: "volume_seasonal".into(),
        tz: chrono_tz::UTC,
        metric: Metric::Volume,
        points,
        incidents: vec![drop, spike],
    }
}

/// Business-hours table: rows only 08:00-18:00 on weekdays, a holiday (a weekday with no rows) in week
/// 5 that is not an incident. Incidents: a duplicated load (double volume for 2 hours) and a partial
/// outage (a quarter of the volume for 3 hours).
fn volume_business_hours(rng: &mut Rng, weeks: u32) -> Series {
    let holiday = (START + 4 * WEEK + 2 * DAY, START + 4 * WEEK + 3 * DAY - 1);
    let double = (
        START + 2 * WEEK + DAY + 11 * HOUR,
        START + 2 * WEEK + DAY + 12 * HOUR,
    );
    let outage = (
        START + 6 * WEEK + 3 * DAY + 9 * HOUR,
        START + 6 * WEEK + 3 * DAY + 11 * HOUR,
    );
    let points = hourly(weeks)
        .map(|t| {
            let open =
                weekday(t) < 5 && (8..18).contains(&hour_of_day(t)) && !in_any(t, &[holiday]);
            let mean: f64 = if open { 400.0 } else { 0.0 };
            let mut v = (mean + mean.sqrt() * rng.normal()).max(0.0).round();
            if in_any(t, &[double]) {
                v *= 2.0;
            }
            if in_any(t, &[outage]) {
                v = (v * 0.25).round();
            }
            (t, v)
        })
        .collect();
    Series {
        name: "volume_business_hours".into(),
        tz: chrono_tz::UTC,
        metric: Metric::Volume,
        points,
        incidents: vec![double, outage],
    }
}

/// Freshness sampled every `every` seconds for loads at `load_times` (sorted): the age of the newest row.
fn freshness_series(weeks: u32, every: i64, load_times: &[i64]) -> Vec<(i64, f64)> {
    let end = START + i64::from(weeks) * WEEK;
    let mut out = Vec::new();
    let mut k = 0usize;
    let mut t = START;
    while t < end {
        while k + 1 < load_times.len() && load_times[k + 1] <= t {
            k += 1;
        }
        let last = if load_times.first().is_some_and(|&f| f <= t) {
            load_times[k]
        } else {
            START - HOUR
        };
        out.push((t, (t - last) as f64));
        t += every;
    }
    out
}

/// Hourly loads with a few minutes of jitter, observed every 15 minutes. Incidents: a 5-hour stall and
/// a load 3 hours late.
fn freshness_hourly(rng: &mut Rng, weeks: u32) -> Series {
    let stall = (
        START + 2 * WEEK + 3 * DAY + 9 * HOUR,
        START + 2 * WEEK + 3 * DAY + 14 * HOUR,
    );
    let late = (
        START + 5 * WEEK + DAY + 20 * HOUR,
        START + 5 * WEEK + DAY + 23 * HOUR,
    );
    let mut loads = Vec::new();
    for t in hourly(weeks) {
        if in_any(t, &[stall, late]) {
            continue;
        }
        loads.push(t + (rng.uniform() * 300.0) as i64);
    }
    loads.sort_unstable();
    // The detectable part of an incident starts once the load is clearly overdue.
    Series {
        name: "freshness_hourly".into(),
        tz: chrono_tz::UTC,
        metric: Metric::FreshnessSeconds,
        points: freshness_series(weeks, 15 * 60, &loads),
        incidents: vec![stall, late],
    }
}

/// A daily 02:00 load observed hourly (ages up to a day are normal). Incident: one day's load missing.
fn freshness_daily(rng: &mut Rng, weeks: u32) -> Series {
    let skipped_day = 4 * 7 + 3;
    let mut loads = Vec::new();
    for d in 0..i64::from(weeks) * 7 {
        if d == skipped_day {
            continue;
        }
        loads.push(START + d * DAY + 2 * HOUR + (rng.uniform() * 900.0) as i64);
    }
    let miss = (
        START + skipped_day * DAY + 2 * HOUR,
        START + (skipped_day + 1) * DAY + 2 * HOUR,
    );
    Series {
        name: "freshness_daily".into(),
        tz: chrono_tz::UTC,
        metric: Metric::FreshnessSeconds,
        points: freshness_series(weeks, HOUR, &loads),
        incidents: vec![miss],
    }
}

/// Hourly loads 08:00-18:00 on weekdays only, observed hourly; nights and weekends pause. Incident: a
/// stall from 11:00 to 16:00 on a Wednesday.
fn freshness_business_hours(rng: &mut Rng, weeks: u32) -> Series {
    let stall = (
        START + 3 * WEEK + 2 * DAY + 11 * HOUR,
        START + 3 * WEEK + 2 * DAY + 16 * HOUR,
    );
    let mut loads = Vec::new();
    for t in hourly(weeks) {
        if weekday(t) < 5 && (8..=18).contains(&hour_of_day(t)) && !in_any(t, &[stall]) {
            loads.push(t + (rng.uniform() * 240.0) as i64);
        }
    }
    Series {
        name: "freshness_business_hours".into(),
        tz: chrono_tz::UTC,
        metric: Metric::FreshnessSeconds,
        points: freshness_series(weeks, HOUR, &loads),
        incidents: vec![stall],
    }
}

/// Hourly null rate of a column over each hour's rows (a monitor's `bucket_null_rate`; 1000 rows an
/// hour, 2 % NULL). Incidents: a jump to 20 % for 6 hours
/// and a creep from 2 % to 10 % over two days.
fn null_rate(rng: &mut Rng, weeks: u32) -> Series {
    let jump = (START + 3 * WEEK + 10 * HOUR, START + 3 * WEEK + 15 * HOUR);
    let creep = (START + 6 * WEEK, START + 6 * WEEK + 2 * DAY);
    let points = hourly(weeks)
        .map(|t| {
            let mut p = 0.02;
            if in_any(t, &[jump]) {
                p = 0.2;
            }
            if in_any(t, &[creep]) {
                p = 0.02 + 0.08 * (t - creep.0) as f64 / (creep.1 - creep.0) as f64;
            }
            let n = 1000.0;
            let v = (p + (p * (1.0 - p) / n).sqrt() * rng.normal()).clamp(0.0, 1.0);
            (t, (v * n).round() / n)
        })
        .collect();
    Series {
        name: "null_rate".into(),
        tz: chrono_tz::UTC,
        metric: Metric::BucketNullRate,
        points,
        incidents: vec![jump, creep],
    }
}

/// Hourly duplicate rate (a monitor's `duplicate_rate`, scanned hourly): zero almost always (a stray duplicate now and then). Incidents: two bursts
/// of 5 % duplicates lasting 3 hours.
fn duplicate_rate(rng: &mut Rng, weeks: u32) -> Series {
    let b1 = (
        START + 2 * WEEK + 4 * DAY + 3 * HOUR,
        START + 2 * WEEK + 4 * DAY + 5 * HOUR,
    );
    let b2 = (
        START + 6 * WEEK + DAY + 17 * HOUR,
        START + 6 * WEEK + DAY + 19 * HOUR,
    );
    let points = hourly(weeks)
        .map(|t| {
            let mut v = if rng.uniform() < 0.03 { 0.001 } else { 0.0 };
            if in_any(t, &[b1, b2]) {
                v = 0.05 + 0.01 * rng.normal();
            }
            (t, v)
        })
        .collect();
    Series {
        name: "duplicate_rate".into(),
        tz: chrono_tz::UTC,
        metric: Metric::DuplicateRate,
        points,
        incidents: vec![b1, b2],
    }
}

/// The whole suite.
pub fn suite(seed: u64, weeks: u32) -> Vec<Series> {
    let weeks = weeks.max(8);
    let mut rng = Rng::new(seed);
    vec![
        volume_seasonal(&mut rng, weeks),
        volume_business_hours(&mut rng, weeks),
        freshness_hourly(&mut rng, weeks),
        freshness_daily(&mut rng, weeks),
        freshness_business_hours(&mut rng, weeks),
        null_rate(&mut rng, weeks),
        duplicate_rate(&mut rng, weeks),
    ]
}

/// A detector under evaluation: one alert flag per point.
pub trait Flagger {
    fn name(&self) -> &'static str;
    fn flags(&self, series: &Series) -> Vec<bool>;
}

/// Our detector as a monitor with the default settings runs it on the series' metric: the model of
/// [`SeriesKind::for_metric`] with that kind's default parameters.
pub struct Ours;

impl Flagger for Ours {
    fn name(&self) -> &'static str {
        "tidewatch"
    }
    fn flags(&self, s: &Series) -> Vec<bool> {
        // A metric without a learned baseline is never an anomaly in a monitor either.
        let Some(kind) = SeriesKind::for_metric(s.metric) else {
            return vec![false; s.points.len()];
        };
        // What a monitor runs: anomalies are not trained on (checks::baseline::Online).
        let mut d = Online::new(kind, Params::default_for(kind));
        s.points
            .iter()
            .map(|&(t, v)| d.step(t, v).anomaly)
            .collect()
    }
}

/// Rolling z-score over the previous `window` points, alert at `|z| > k`.
pub struct RollingZ {
    pub window: usize,
    pub k: f64,
}

impl Flagger for RollingZ {
    fn name(&self) -> &'static str {
        "rolling-z"
    }
    fn flags(&self, s: &Series) -> Vec<bool> {
        let v: Vec<f64> = s.points.iter().map(|p| p.1).collect();
        (0..v.len())
            .map(|i| {
                if i < self.window {
                    return false;
                }
                let w = &v[i - self.window..i];
                let n = w.len() as f64;
                let mean = w.iter().sum::<f64>() / n;
                let sd = (w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
                if sd == 0.0 {
                    v[i] != mean
                } else {
                    ((v[i] - mean) / sd).abs() > self.k
                }
            })
            .collect()
    }
}

/// Median and MAD of the values at the same time of day over the previous `days` days; alert beyond
/// `k` scaled MADs.
pub struct SeasonalMad {
    pub days: i64,
    pub k: f64,
}

impl Flagger for SeasonalMad {
    fn name(&self) -> &'static str {
        "seasonal-mad"
    }
    fn flags(&self, s: &Series) -> Vec<bool> {
        let by_ts: HashMap<i64, f64> = s.points.iter().copied().collect();
        s.points
            .iter()
            .map(|&(t, v)| {
                let past: Vec<f64> = (1..=self.days)
                    .filter_map(|d| by_ts.get(&(t - d * DAY)).copied())
                    .collect();
                if past.len() < 3 {
                    return false;
                }
                let Some(m) = checks::baseline::stats::median(&past) else {
                    return false;
                };
                let dev: Vec<f64> = past.iter().map(|x| (x - m).abs()).collect();
                let mad = checks::baseline::stats::median(&dev).unwrap_or(0.0) * 1.4826;
                (v - m).abs() > self.k * mad.max(1e-9)
            })
            .collect()
    }
}

/// Figures of one detector on one series (or on the whole suite).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    pub incidents: usize,
    pub detected: usize,
    /// Alert episodes (runs of consecutive alerts) that overlap an incident.
    pub true_alerts: usize,
    /// Alert episodes outside every incident.
    pub false_alerts: usize,
    /// Sum of detection delays in seconds, over detected incidents.
    pub delay_sum: f64,
    pub weeks: f64,
}

impl Figures {
    pub fn precision(&self) -> f64 {
        let all = self.true_alerts + self.false_alerts;
        if all == 0 {
            1.0
        } else {
            self.true_alerts as f64 / all as f64
        }
    }
    pub fn recall(&self) -> f64 {
        if self.incidents == 0 {
            1.0
        } else {
            self.detected as f64 / self.incidents as f64
        }
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
    /// Mean detection delay in hours.
    pub fn mean_delay_hours(&self) -> Option<f64> {
        (self.detected > 0).then(|| self.delay_sum / self.detected as f64 / HOUR as f64)
    }
    pub fn false_alarms_per_week(&self) -> f64 {
        self.false_alerts as f64 / self.weeks.max(1e-9)
    }
    pub fn add(&mut self, o: &Figures) {
        self.incidents += o.incidents;
        self.detected += o.detected;
        self.true_alerts += o.true_alerts;
        self.false_alerts += o.false_alerts;
        self.delay_sum += o.delay_sum;
        self.weeks += o.weeks;
    }
}

/// Scores alert flags against a series' incidents (alerts during the warm-up are not counted).
pub fn evaluate(s: &Series, flags: &[bool]) -> Figures {
    let first = s.points.first().map_or(START, |p| p.0);
    let last = s.points.last().map_or(START, |p| p.0);
    let spans: Vec<(i64, i64)> = s.incidents.iter().map(|&(a, b)| (a, b + GRACE)).collect();
    let mut f = Figures {
        incidents: s.incidents.len(),
        weeks: (last - first - WARMUP).max(0) as f64 / WEEK as f64,
        ..Figures::default()
    };
    let mut first_alert: Vec<Option<i64>> = vec![None; spans.len()];
    let mut i = 0;
    while i < flags.len() {
        if !flags[i] || s.points[i].0 < first + WARMUP {
            i += 1;
            continue;
        }
        let start = i;
        while i < flags.len() && flags[i] {
            i += 1;
        }
        let mut hit = false;
        for (k, &(a, b)) in spans.iter().enumerate() {
            let within: Option<i64> = (start..i)
                .map(|j| s.points[j].0)
                .find(|&t| t >= a && t <= b);
            if let Some(t) = within {
                hit = true;
                first_alert[k] = Some(first_alert[k].map_or(t, |x: i64| x.min(t)));
            }
        }
        if hit {
            f.true_alerts += 1;
        } else {
            f.false_alerts += 1;
        }
    }
    for (k, fa) in first_alert.iter().enumerate() {
        if let Some(t) = fa {
            f.detected += 1;
            f.delay_sum += (t - s.incidents[k].0).max(0) as f64;
        }
    }
    f
}

/// The suite's results: per series and detector, and totals per detector.
#[derive(Debug, Clone)]
pub struct Report {
    pub detectors: Vec<&'static str>,
    pub rows: Vec<(String, Vec<Figures>)>,
    pub totals: Vec<Figures>,
    pub points: usize,
}

impl Report {
    /// Total figures of a detector by name.
    pub fn total(&self, name: &str) -> Option<Figures> {
        self.detectors
            .iter()
            .position(|d| *d == name)
            .map(|i| self.totals[i])
    }

    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<26} {:<13} {:>9} {:>6} {:>5} {:>10} {:>12}",
            "series", "detector", "precision", "recall", "f1", "delay (h)", "false/week"
        );
        let mut line = |name: &str, det: &str, f: &Figures| {
            let delay = f
                .mean_delay_hours()
                .map_or("-".to_string(), |d| format!("{d:.1}"));
            let _ = writeln!(
                out,
                "{:<26} {:<13} {:>9.2} {:>6.2} {:>5.2} {:>10} {:>12.2}",
                name,
                det,
                f.precision(),
                f.recall(),
                f.f1(),
                delay,
                f.false_alarms_per_week()
            );
        };
        for (name, figs) in &self.rows {
            for (det, f) in self.detectors.iter().zip(figs) {
                line(name, det, f);
            }
        }
        for (det, f) in self.detectors.iter().zip(&self.totals) {
            line("ALL", det, f);
        }
        out
    }
}

/// Runs the suite for our detector and the two baselines.
pub fn run_suite(seed: u64, weeks: u32) -> Report {
    let flaggers: Vec<Box<dyn Flagger>> = vec![
        Box::new(Ours),
        Box::new(RollingZ { window: 48, k: 3.0 }),
        Box::new(SeasonalMad { days: 14, k: 3.0 }),
    ];
    let series = suite(seed, weeks);
    let mut rows = Vec::new();
    let mut totals = vec![Figures::default(); flaggers.len()];
    let mut points = 0;
    for s in &series {
        points += s.points.len();
        let figs: Vec<Figures> = flaggers.iter().map(|f| evaluate(s, &f.flags(s))).collect();
        for (t, f) in totals.iter_mut().zip(&figs) {
            t.add(f);
        }
        rows.push((s.name.clone(), figs));
    }
    Report {
        detectors: flaggers.iter().map(|f| f.name()).collect(),
        rows,
        totals,
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_labelled_after_the_warm_up_and_has_a_learned_baseline() {
        for s in suite(3, 8) {
            let end = s.points.last().map_or(START, |p| p.0);
            assert!(!s.incidents.is_empty(), "{}", s.name);
            assert!(
                s.incidents
                    .iter()
                    .all(|&(a, b)| a >= START + WARMUP && a <= b && b <= end),
                "{}",
                s.name
            );
            assert!(SeriesKind::for_metric(s.metric).is_some(), "{}", s.name);
        }
    }

    #[test]
    fn evaluation_counts_episodes_and_delay() {
        let s = Series {
            name: "t".into(),
            tz: chrono_tz::UTC,
            metric: Metric::Mean,
            points: hourly(4).map(|t| (t, 0.0)).collect(),
            incidents: vec![(START + 3 * WEEK, START + 3 * WEEK + 2 * HOUR)],
        };
        let mut flags = vec![false; s.points.len()];
        let i0 = (3 * WEEK / HOUR) as usize;
        flags[i0 + 1] = true;
        flags[i0 + 2] = true;
        flags[i0 + 100] = true;
        flags[5] = true; // in the warm-up: not counted
        let f = evaluate(&s, &flags);
        assert_eq!((f.detected, f.true_alerts, f.false_alerts), (1, 1, 1));
        assert_eq!(f.mean_delay_hours(), Some(1.0));
    }

    #[test]
    fn our_detector_beats_both_baselines_on_f1() {
        let r = run_suite(7, 8);
        let ours = r.total("tidewatch").map(|f| f.f1()).unwrap_or(0.0);
        let z = r.total("rolling-z").map(|f| f.f1()).unwrap_or(1.0);
        let mad = r.total("seasonal-mad").map(|f| f.f1()).unwrap_or(1.0);
        assert!(ours > z && ours > mad, "\n{}", r.table());
    }
}
