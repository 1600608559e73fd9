//! Learned baselines: a streaming, online anomaly detector per measured series.
//!
//! One [`Detector`] follows one series (volume, null rate, freshness, ...). Each point is first scored
//! against what was learned from the points before it, then learned from, so a replay of history is
//! strictly online and `tidewatch detect` runs exactly the model a monitor uses.
//!
//! Scores: every model turns its evidence into a tail probability `p` (how unlikely a value at least
//! this far from the prediction is under the learned model), reported as `score = s / (s + 2.5)` with
//! `s = -log10(p)` decades of surprise. So a score of 0.5 means `p = 10^-2.5`, 0.75 means `p = 10^-7.5`;
//! the score never saturates below `p = 1e-300`, so thresholds stay distinct at the top. A point is an anomaly when
//! `score >= threshold(sensitivity) = 1 - sensitivity` (sensitivity in the open interval `(0, 1)` as config and `detect` accept it; the model clamps, default
//! [`DEFAULT_SENSITIVITY`]; the generic model also asks for at least the surprise its sampling rate
//! needs to keep the false-alarm budget, so a 5-minute series is held to a stricter `p` than an
//! hourly one); the band `lower..=upper` is the range of values that would score below that
//! threshold at that timestamp.
//!
//! Architecture Invariant: pure and deterministic. No clock, no IO; time is the `ts` argument.

pub mod calendar;
mod freshness;
mod generic;
pub mod stats;

use std::fmt;
use std::str::FromStr;

pub use calendar::Calendar;
pub use freshness::FreshnessModel;
pub use generic::GenericModel;

/// Default sensitivity: the anomaly threshold is `1 - sensitivity = 0.54`, i.e. `p <= 10^-2.93`. Chosen
/// once for the whole NAB dev corpus (its best standard-profile threshold), never per series.
pub const DEFAULT_SENSITIVITY: f64 = 0.46;

/// What kind of series a detector follows; it picks the model and the default minimum changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeriesKind {
    /// Counts per period (rows per hour, row count): seasonal, growing, never negative.
    Volume,
    /// Age of the newest row in seconds: a saw-tooth reset by each load.
    Freshness,
    /// A share of bad rows or messages in `[0, 1]` (null, duplicate, parse-error and late rates,
    /// the stream-to-table reconcile gap): only a rise is an incident unless the monitor's
    /// `direction` says otherwise (see [`Params::default_for`]).
    Rate,
    /// A ratio or other scale-free positive quantity.
    Ratio,
    /// Anything else (min, max, mean, distinct count, NAB series).
    Generic,
}

impl SeriesKind {
    /// The model a monitor's series of `metric` follows; `None` for metrics without a learned
    /// baseline. The one mapping: monitors, `tidewatch detect` users and the lab's suites all use it.
    pub fn for_metric(metric: crate::Metric) -> Option<SeriesKind> {
        use crate::Metric;
        Some(match metric {
            Metric::Volume | Metric::RowsInserted => SeriesKind::Volume,
            Metric::FreshnessSeconds | Metric::LastChangeAgeSeconds => SeriesKind::Freshness,
            Metric::NullRate
            | Metric::DuplicateRate
            | Metric::BucketNullRate
            | Metric::ParseErrorRate
            | Metric::LateRate
            | Metric::ReconcileGap => SeriesKind::Rate,
            Metric::RowCount
            | Metric::MessageCount
            | Metric::ConsumerLag
            | Metric::ConsumerLagSeconds
            | Metric::NullCount
            | Metric::DuplicateCount
            | Metric::NewDuplicateCount
            | Metric::DistinctCount
            | Metric::Min
            | Metric::Max
            | Metric::Mean
            | Metric::RowEstimate
            | Metric::SizeBytes => SeriesKind::Generic,
            Metric::Schema | Metric::NewestRow => return None,
        })
    }

    pub const ALL: [SeriesKind; 5] = [
        SeriesKind::Volume,
        SeriesKind::Freshness,
        SeriesKind::Rate,
        SeriesKind::Ratio,
        SeriesKind::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SeriesKind::Volume => "volume",
            SeriesKind::Freshness => "freshness",
            SeriesKind::Rate => "rate",
            SeriesKind::Ratio => "ratio",
            SeriesKind::Generic => "generic",
        }
    }
}

impl fmt::Display for SeriesKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a series kind or a direction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unknown series kind `{0}` (expected volume, freshness, rate, ratio or generic)")]
    Kind(String),
    #[error("unknown direction `{0}` (expected both, up or down)")]
    Direction(String),
}

impl FromStr for SeriesKind {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SeriesKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ParseError::Kind(s.to_string()))
    }
}

pub use crate::verdict::Direction;

impl FromStr for Direction {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Direction::parse(s).ok_or_else(|| ParseError::Direction(s.to_string()))
    }
}

/// Per-monitor settings of a detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// In `(0, 1)` (config and `detect` refuse 0 and 1); higher flags more. The anomaly threshold on the score is `1 - sensitivity`.
    pub sensitivity: f64,
    pub direction: Direction,
    /// A deviation from the prediction smaller than this is never an anomaly (same unit as the series).
    pub min_abs_change: f64,
    /// A deviation smaller than this fraction of the prediction's magnitude is never an anomaly.
    pub min_rel_change: f64,
    /// Points needed before the detector leaves `learning`.
    pub min_history: usize,
    /// In [`assess_series`], a run of at least this many consecutive anomalies on the same side is taken
    /// as a lasting change and trained on, so the band follows a real level shift.
    pub adapt_after: usize,
    /// The local calendar seasonality and load schedules follow (monitor `timezone:` and
    /// `holidays:`; default UTC without holidays).
    pub calendar: Calendar,
}

impl Params {
    /// The defaults for a kind of series.
    pub fn default_for(kind: SeriesKind) -> Params {
        let base = Params {
            sensitivity: DEFAULT_SENSITIVITY,
            direction: Direction::Both,
            min_abs_change: 0.0,
            min_rel_change: 0.0,
            min_history: 20,
            adapt_after: 12,
            calendar: Calendar::utc(),
        };
        match kind {
            SeriesKind::Volume => Params {
                min_abs_change: 3.0,
                min_rel_change: 0.05,
                ..base
            },
            SeriesKind::Freshness => Params {
                direction: Direction::Up,
                min_history: 6,
                ..base
            },
            // More NULLs, duplicates, undecodable or late messages are the incident; fewer are
            // good news, and on a share of a few rows an hour (a quiet night) they were most of
            // its false alarms: tune seeds 1-20 / 21-60 / 61-100 suite F1 0.771 / 0.755 / 0.734 with
            // both sides, 0.785 / 0.761 / 0.743 up only (null rate 0.665 -> 0.791 on 1-20).
            // A share must move by at least a tenth of a percentage point (one row in a thousand):
            // a table whose duplicate rate sits at zero with a stray duplicate now and then paged
            // for each new stray of 0.05-0.2 %. Chosen on the tune seeds (suite F1; duplicate
            // rate on 1-20): 1e-9 0.785 / 0.761 / 0.743, 0.750; 2e-4 0.790 / 0.778 / 0.747; 5e-4
            // 0.791 / 0.778 / 0.748; 1e-3 0.803 / 0.784 / 0.758, 0.909; 1.5e-3 0.795 / 0.778 /
            // 0.762; 2.5e-3 0.796 / 0.769 / 0.751; 5e-3 (this kind's floor before any metric used
            // it) 0.785 / 0.753 / 0.745. Above 1e-3 duplicate-rate recall falls (0.84 at 1.5e-3,
            // 0.52 at 5e-3 on 1-20): strays learned rather than held back leave the tail reading a
            // later incident as ordinary (seed 15).
            SeriesKind::Rate => Params {
                direction: Direction::Up,
                min_abs_change: 0.001,
                min_rel_change: 0.02,
                ..base
            },
            SeriesKind::Ratio => Params {
                min_abs_change: 1e-9,
                min_rel_change: 0.02,
                ..base
            },
            SeriesKind::Generic => Params {
                min_abs_change: 1e-9,
                min_rel_change: 1e-3,
                ..base
            },
        }
    }

    /// The score at and above which a point is an anomaly.
    pub fn threshold(&self) -> f64 {
        1.0 - self.sensitivity.clamp(0.0, 1.0)
    }

    /// Smallest deviation that may count as an anomaly around a prediction of `reference`: the larger
    /// of `min_abs_change` and `min_rel_change * |reference|`. Public for models outside this crate
    /// (the lab's comparison models) that apply the same floor.
    pub fn min_change(&self, reference: f64) -> f64 {
        self.min_abs_change
            .max(self.min_rel_change * reference.abs())
    }
}

/// A floor a monitor's `min_change:` (or `tidewatch detect --min-change`) sets for one kind of
/// series: a deviation from the prediction smaller than it is never an anomaly. The other floor of
/// the kind keeps its default ([`Params::default_for`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinChange {
    /// In the series' own unit: rows or messages per bucket, a share in `[0, 1]`, seconds.
    Absolute(f64),
    /// A fraction of the predicted value (written as a percentage, `5%`).
    Relative(f64),
}

impl MinChange {
    /// `0.005` (absolute, in the series' unit) or `5%` (relative to the prediction); never
    /// negative.
    pub fn parse(text: &str) -> Result<MinChange, String> {
        let t = text.trim();
        let (number, relative) = match t.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (t, false),
        };
        match number.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(if relative {
                MinChange::Relative(v / 100.0)
            } else {
                MinChange::Absolute(v)
            }),
            _ => Err(format!(
                "expected a non-negative number in the series' unit (0.005) or a percentage of the expected value (5%), found \"{text}\""
            )),
        }
    }

    /// Whether both are floors of one form (two absolute floors, or two percentages): a kind of
    /// series takes at most one of each, in a config and in `tidewatch detect` alike.
    pub fn same_form(self, other: MinChange) -> bool {
        matches!(
            (self, other),
            (MinChange::Absolute(_), MinChange::Absolute(_))
                | (MinChange::Relative(_), MinChange::Relative(_))
        )
    }

    /// Sets the floor this is in `params`.
    pub fn apply(self, params: &mut Params) {
        match self {
            MinChange::Absolute(v) => params.min_abs_change = v,
            MinChange::Relative(v) => params.min_rel_change = v,
        }
    }
}

/// As written: `0.005` or `5%`.
impl std::fmt::Display for MinChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MinChange::Absolute(v) => write!(f, "{v}"),
            // Rounded to what a person writes: 0.07 * 100 is 7.000000000000001.
            MinChange::Relative(v) => write!(f, "{}%", (v * 100.0 * 1e9).round() / 1e9),
        }
    }
}

/// Which of the model's evidences a verdict rests on: the one with the most decades of surprise.
/// An alert says which, because only for `Point` is the value itself outside the band: a shift
/// alerts on values that each lie inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// The value alone, against the series' own tail of deviations from the prediction.
    Point,
    /// A sustained shift: the recent mean of the deseasonalised values against the slow reference
    /// level; `up` when it moved up.
    Shift { up: bool },
    /// A value beyond every value the series has shown; `up` when above them.
    Record { up: bool },
}

impl Evidence {
    /// The name in a result's `details.evidence`: `point`, `shift_up`, `shift_down`, `record_high`
    /// or `record_low`.
    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::Point => "point",
            Evidence::Shift { up: true } => "shift_up",
            Evidence::Shift { up: false } => "shift_down",
            Evidence::Record { up: true } => "record_high",
            Evidence::Record { up: false } => "record_low",
        }
    }
}

/// The verdict on one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assessment {
    /// In `[0, 1]`, `s / (s + 2.5)` for `s = -log10(p)` and the model's tail probability `p`.
    pub score: f64,
    /// `score >= threshold`, never while learning.
    pub anomaly: bool,
    /// Values at this timestamp in `lower..=upper` would not be anomalies; an open side is `None`.
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// Not enough history yet: no band and never an anomaly.
    pub learning: bool,
    /// The false-alarm budget this series' threshold is calibrated to, in alerts per series-week
    /// ([`false_alarm_budget`] of the sensitivity), when the model calibrates online; the pipeline can
    /// put it in `details`.
    pub expected_false_alarms_per_week: Option<f64>,
    /// What the score rests on (`Point` while learning).
    pub evidence: Evidence,
}

impl Assessment {
    /// The assessment of a point seen while learning (or of a skipped NaN/infinite value): score 0,
    /// no band, never an anomaly. Public for models outside this crate (the lab's comparison models).
    pub fn learning() -> Assessment {
        Assessment {
            score: 0.0,
            anomaly: false,
            lower: None,
            upper: None,
            learning: true,
            expected_false_alarms_per_week: None,
            evidence: Evidence::Point,
        }
    }

    /// The band as a verdict's `Expected`.
    pub fn expected(&self) -> crate::Expected {
        crate::Expected {
            lower: self.lower,
            upper: self.upper,
        }
    }
}

/// False alarms per series-week the online calibration allows at the default sensitivity.
pub const DEFAULT_FALSE_ALARMS_PER_WEEK: f64 = 0.25;

/// The false-alarm budget (alert episodes per series-week on a clean series) a sensitivity maps to:
/// 0.25 at the default, ten times more for each 0.25 of sensitivity above it, ten times less below.
pub fn false_alarm_budget(sensitivity: f64) -> f64 {
    DEFAULT_FALSE_ALARMS_PER_WEEK
        * 10f64.powf(4.0 * (sensitivity.clamp(0.0, 1.0) - DEFAULT_SENSITIVITY))
}

/// Decades of surprise (`-log10 p`) that score one half.
pub const HALF_SCORE_DECADES: f64 = 2.5;

/// Score of a tail probability (see the module docs).
pub fn score_of_p(p: f64) -> f64 {
    if p.is_nan() || p >= 1.0 {
        return 0.0;
    }
    let s = -p.max(1e-300).log10();
    s / (s + HALF_SCORE_DECADES)
}

/// Tail probability at which a score reaches `threshold`.
pub fn p_of_score(threshold: f64) -> f64 {
    let t = threshold.clamp(0.0, 0.999_999);
    10f64.powf(-HALF_SCORE_DECADES * t / (1.0 - t))
}

/// A streaming detector for one series.
#[derive(Debug, Clone)]
pub enum Detector {
    Generic(Box<GenericModel>),
    Freshness(Box<FreshnessModel>),
}

impl Detector {
    pub fn new(kind: SeriesKind, params: Params) -> Detector {
        match kind {
            SeriesKind::Freshness => Detector::Freshness(Box::new(FreshnessModel::new(params))),
            SeriesKind::Volume => Detector::Generic(Box::new(GenericModel::for_counts(params))),
            SeriesKind::Rate => Detector::Generic(Box::new(GenericModel::for_shares(params))),
            _ => Detector::Generic(Box::new(GenericModel::new(params))),
        }
    }

    /// A point not trained on: its surprise still reaches the false-alarm calibration (see
    /// [`GenericModel::observe_excluded`]); the freshness model has no calibration to feed.
    pub fn observe_excluded(&mut self, ts: i64, value: f64) {
        if let (Detector::Generic(m), true) = (self, value.is_finite()) {
            m.observe_excluded(ts, value);
        }
    }

    /// [`Detector::step`], learning only when `skip` (given the point's assessment) says false.
    pub fn step_unless(
        &mut self,
        ts: i64,
        value: f64,
        skip: impl FnOnce(&Assessment) -> bool,
    ) -> Assessment {
        if !value.is_finite() {
            let a = self.assess(ts, value);
            let _ = skip(&a);
            return a;
        }
        match self {
            Detector::Generic(m) => m.step_unless(ts, value, skip),
            Detector::Freshness(m) => {
                let a = m.assess(ts, value);
                if !skip(&a) {
                    m.learn(ts, value);
                }
                a
            }
        }
    }

    /// Scores the point using only what came before it, then learns from it. NaN and infinite values
    /// are skipped (a learning-free, non-anomalous assessment). This learns from anomalies too; what a
    /// monitor runs is [`Online`].
    pub fn step(&mut self, ts: i64, value: f64) -> Assessment {
        if !value.is_finite() {
            return self.assess(ts, value);
        }
        match self {
            Detector::Generic(m) => m.step(ts, value),
            Detector::Freshness(m) => {
                let a = m.assess(ts, value);
                m.learn(ts, value);
                a
            }
        }
    }

    /// Scores the point without learning from it.
    pub fn assess(&self, ts: i64, value: f64) -> Assessment {
        if !value.is_finite() {
            return Assessment {
                learning: self.is_learning(),
                ..Assessment::learning()
            };
        }
        match self {
            Detector::Generic(m) => m.assess(ts, value),
            Detector::Freshness(m) => m.assess(ts, value),
        }
    }

    /// Learns from the point without scoring it (history replay, warm start).
    pub fn learn(&mut self, ts: i64, value: f64) {
        if !value.is_finite() {
            return;
        }
        match self {
            Detector::Generic(m) => m.learn(ts, value),
            Detector::Freshness(m) => m.learn(ts, value),
        }
    }

    /// Whether the points learned from now on belong to a lasting run (see
    /// [`GenericModel::set_adapting`]); the freshness model has no calibration to tell.
    pub fn set_adapting(&mut self, on: bool) {
        if let Detector::Generic(m) = self {
            m.set_adapting(on);
        }
    }

    /// Whether the detector is still in its learning period.
    pub fn is_learning(&self) -> bool {
        match self {
            Detector::Generic(m) => m.is_learning(),
            Detector::Freshness(m) => m.is_learning(),
        }
    }
}

/// One stored point of a series' history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryPoint {
    pub ts: i64,
    pub value: f64,
    /// The point was an anomaly when it was measured.
    pub was_anomaly: bool,
    /// A user marked the anomaly as expected: it is trained on like a normal point.
    pub expected: bool,
}

/// One point of a replayed history and, when a scan judged it, that verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayPoint {
    pub ts: i64,
    pub value: f64,
    /// `Some((was_anomaly, marked_expected))` when a scan reported this point; backfilled points
    /// (buckets counted on a first scan) have none and are judged by the detector online.
    pub verdict: Option<(bool, bool)>,
}

/// What a monitor does to one series over its successive scans, as one stream: each point is
/// assessed on what came before it, and trained on unless it was an anomaly (its stored verdict, or
/// for a backfilled point without one the detector's own online verdict), except when a user marked
/// it expected, or when it belongs to a run of at least `params.adapt_after` excluded points in a
/// row: a lasting change the band must follow. Such a run is learned in order once it reaches that
/// length, and every later point of it as it comes; it is no episode of the false-alarm
/// calibration (see [`GenericModel::set_adapting`]).
///
/// [`replay`] (a scan) and `tidewatch detect` and the lab (a stream) both run this, so `detect` says
/// exactly what a monitor fed the same points would have said.
#[derive(Debug, Clone)]
pub struct Online {
    detector: Detector,
    adapt_after: usize,
    pending: Vec<(i64, f64)>,
    lasting: bool,
}

impl Online {
    pub fn new(kind: SeriesKind, params: Params) -> Online {
        Online {
            detector: Detector::new(kind, params),
            adapt_after: params.adapt_after.max(1),
            pending: Vec::new(),
            lasting: false,
        }
    }

    /// Assesses a point on what came before it, without learning.
    pub fn assess(&self, ts: i64, value: f64) -> Assessment {
        self.detector.assess(ts, value)
    }

    /// A stored point of history: `verdict` is `Some((was_anomaly, marked_expected))` when a scan
    /// reported it, `None` for a backfilled point (judged here, online).
    pub fn replay(&mut self, ts: i64, value: f64, verdict: Option<(bool, bool)>) {
        let excluded = match verdict {
            Some((was_anomaly, expected)) => was_anomaly && !expected,
            None => self.assess(ts, value).anomaly,
        };
        if excluded && !self.lasting {
            self.hold(ts, value);
        } else {
            if !excluded {
                self.release();
            }
            self.detector.learn(ts, value);
        }
    }

    /// Assesses the next point, then trains on it as the next scan's replay of its verdict would.
    pub fn step(&mut self, ts: i64, value: f64) -> Assessment {
        if !self.pending.is_empty() && !self.lasting {
            // Inside a held-back run: a normal point must first close the incident (see
            // `release`), so it is assessed and learned in two steps.
            let a = self.detector.assess(ts, value);
            if a.anomaly {
                self.hold(ts, value);
            } else {
                self.release();
                self.detector.learn(ts, value);
            }
            return a;
        }
        let lasting = self.lasting;
        let a = self
            .detector
            .step_unless(ts, value, |a| a.anomaly && !lasting);
        if !a.anomaly {
            self.release();
        } else if !lasting {
            self.hold(ts, value);
        }
        a
    }

    /// A normal point ends a run of held-back anomalies. The run's surprise then reaches the
    /// false-alarm calibration, once the incident is over: while it lasts the threshold must not rise
    /// to the incident's own level (a stall's later hours would pass), and after it the calibration
    /// has to know it happened (without this the suite's false alarms were 3.0 per series-week on
    /// the tune seeds instead of about 0.1).
    fn release(&mut self) {
        if !self.lasting {
            for (ts, v) in self.pending.drain(..) {
                self.detector.observe_excluded(ts, v);
            }
        }
        self.pending.clear();
        self.lasting = false;
        self.detector.set_adapting(false);
    }

    /// An excluded point waits; a run reaching `adapt_after` is learned in order, and lasts.
    fn hold(&mut self, ts: i64, value: f64) {
        self.pending.push((ts, value));
        if self.pending.len() >= self.adapt_after {
            self.lasting = true;
            self.detector.set_adapting(true);
            for (ts, v) in self.pending.drain(..) {
                self.detector.learn(ts, v);
            }
        }
    }
}

/// The call a scan makes: replays `history` (oldest first) through [`Online`] and assesses
/// `current`.
pub fn replay(
    kind: SeriesKind,
    params: &Params,
    history: &[ReplayPoint],
    current: (i64, f64),
) -> Assessment {
    let mut online = Online::new(kind, *params);
    for p in history {
        online.replay(p.ts, p.value, p.verdict);
    }
    online.assess(current.0, current.1)
}

/// [`replay`] of a history whose every point has a stored verdict.
pub fn assess_series(
    kind: SeriesKind,
    params: &Params,
    history: &[HistoryPoint],
    current: (i64, f64),
) -> Assessment {
    let points: Vec<ReplayPoint> = history
        .iter()
        .map(|p| ReplayPoint {
            ts: p.ts,
            value: p.value,
            verdict: Some((p.was_anomaly, p.expected)),
        })
        .collect();
    replay(kind, params, &points, current)
}

#[cfg(test)]
mod tests;
