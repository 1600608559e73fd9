//! Freshness: the age of the newest row, a saw-tooth that each load resets, as a monitor records it
//! (sampled at its scan cadence, every 5-60 minutes).
//!
//! The model learns the load cadence, not an age limit. Each observation gives the newest row's time
//! (`ts - age`); when that moves forward a load happened. From the loads it keeps
//! - the typical interval between loads (the 75th percentile of recent intervals, so rare long pauses
//!   do not widen it) and its jitter (90th percentile of the distance to the median interval among
//!   regular intervals), recomputed once per load;
//! - a load calendar on the monitor's local clock ([`super::Calendar`]: time zone with DST, holidays
//!   counted as Sundays): loads per local hour of the week (once a week of history exists) or per
//!   local hour of the day;
//! - the lateness of every past load against the time the model expected it (so slow-but-normal loads
//!   teach the model how late a normal load can be).
//!
//! The next load is expected one typical interval after the last one; if the calendar says that hour
//! and the hours within the tolerance around it never have loads (nights, weekends and holidays of
//! business-hours loads), it is expected at the start of the next hour that does. A load far past the
//! alert level (an incident's end) is not learned as a lateness (`LATE_EXCLUDE`). With `tol = max(0.15 * min(median interval, 8 h), 2 * jitter, 60 s)`, `L` the
//! time since the expected load, `N` past lateness values of which `c(L)` were at least `L`, and `q`
//! their largest (0 if none):
//! `p = (c(L) + PRIOR * 10^(-2.5 * max(0, L - q) / tol)) / (N + PRIOR)`: the share of past loads that
//! were at least this late, shrunk towards an exponential tail beyond the usual lateness.

use super::calendar::OffsetCache;
use super::stats::quantile;
use super::{p_of_score, score_of_p, Assessment, Params};
use std::collections::VecDeque;

const MAX_INTERVALS: usize = 200;
const MIN_LOADS: usize = 4;
const DECADES_PER_TOL: f64 = 2.5;
/// The tolerance is at least this share of the median interval, of at most
/// `TOL_SHARE_MAX_INTERVAL`.
const TOL_SHARE: f64 = 0.15;
/// The longest interval `TOL_SHARE` is taken of (eight hours: a floor of 72 minutes). The share is a
/// floor for loaders whose measured jitter is tiny; a daily loader's share alone was 3.6 hours,
/// about three times the jitter its loads showed, so the exponential tail beyond its latest past
/// load was so wide that a load five to seven hours late finished before it alerted. Chosen on
/// the generator's tune seeds (suite F1 1-20 / 21-60 / 61-100; daily 2 am freshness): no cap
/// 0.759 / 0.749 / 0.722, 0.821 / 0.866 / 0.866; 4 h 0.768 / 0.749 / 0.730, 0.930 / 0.903 /
/// 0.943; 8 h 0.768 / 0.750 / 0.731, 0.930 / 0.913 / 0.952; 12 h 0.764 / 0.750 / 0.731, 0.878 /
/// 0.923 / 0.952; 16 h 0.764 / 0.749 / 0.726, 0.878 / 0.911 / 0.900. Loaders every 8 hours or
/// more often are unchanged; NAB has no freshness series.
const TOL_SHARE_MAX_INTERVAL: f64 = 8.0 * 3600.0;
/// Weight (in loads) of the exponential tail the empirical lateness is shrunk towards.
const LATENESS_PRIOR: f64 = 20.0;
/// A load whose lateness has a tail probability below `p_threshold ^ LATE_EXCLUDE` (three times
/// the alert level's decades) is not learned as a lateness: it is an incident's end, and with a
/// few dozen loads (a daily job over ten weeks) the tail starts at the largest one, so one
/// stall learned would hide every later incident up to a day late. Loads only a little past the
/// alert level are learned, as before: slow-but-normal loads of an hourly job alert once and then
/// belong to the distribution. Chosen on the generator's tune seeds 1-20 (freshness F1 by loader,
/// 15min / business hours / daily / hourly: not excluding 0.744 / 0.778 / 0.686 / 0.837; at 1.5
/// 0.739 / 0.708 / 0.821 / 0.692; at 2 0.773 / 0.791 / 0.821 / 0.766; at 3 0.773 / 0.821 / 0.821 /
/// 0.818; at 4 0.773 / 0.789 / 0.821 / 0.818; at 6 0.744 / 0.811 / 0.686 / 0.837). Measured again
/// with the tail from the largest lateness and the generator's late loads holding the loader up, seeds 21-60: not
/// excluding 0.983 / 0.785 / 0.693 / 0.938, at 2 0.983 / 0.970 / 0.911 / 0.980, at 3 and 4 0.992 /
/// 0.985 / 0.911 / 0.990.
const LATE_EXCLUDE: f64 = 3.0;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct FreshnessModel {
    params: Params,
    n: usize,
    first_ts: Option<i64>,
    last_load: Option<i64>,
    loads: usize,
    intervals: VecDeque<f64>,
    week_counts: Vec<u32>,
    day_counts: Vec<u32>,
    /// The cadence learned from `intervals`, recomputed when a load arrives.
    cadence: Option<Cadence>,
    /// Past lateness in arrival order and sorted, both bounded by `MAX_INTERVALS`.
    lateness: VecDeque<f64>,
    lateness_sorted: Vec<f64>,
    offsets: OffsetCache,
}

/// The learned cadence at one moment.
#[derive(Debug, Clone, Copy)]
struct Cadence {
    median: f64,
    typical: f64,
    tol: f64,
}

impl FreshnessModel {
    pub fn new(params: Params) -> FreshnessModel {
        FreshnessModel {
            params,
            n: 0,
            first_ts: None,
            last_load: None,
            loads: 0,
            intervals: VecDeque::new(),
            week_counts: vec![0; (WEEK / HOUR) as usize],
            day_counts: vec![0; (DAY / HOUR) as usize],
            cadence: None,
            lateness: VecDeque::new(),
            lateness_sorted: Vec::new(),
            offsets: OffsetCache::default(),
        }
    }

    pub fn is_learning(&self) -> bool {
        self.n < self.params.min_history || self.loads < MIN_LOADS
    }

    /// Position of `t` on the local seasonal clock.
    fn seasonal(&self, t: i64, offset: i64) -> i64 {
        self.params.calendar.seasonal_seconds(t, offset)
    }

    pub fn learn(&mut self, ts: i64, age: f64) {
        self.n += 1;
        self.first_ts.get_or_insert(ts);
        let newest = ts - age.max(0.0).round() as i64;
        match self.last_load {
            None => {
                self.last_load = Some(newest);
                self.count_load(newest);
            }
            Some(prev) if newest > prev => {
                // Lateness is learned once the weekly calendar is in use (before that, a weekend
                // pause would count as a load days late).
                let span = ts - self.first_ts.unwrap_or(ts);
                if !self.is_learning() && span >= WEEK + DAY {
                    if let Some(c) = self.cadence {
                        let expected = self.expected_next(prev, ts, &c);
                        let late = (newest - expected) as f64;
                        // A load far past the alert level ends an incident; learned, it would make
                        // every later incident up to its lateness look normal (see `LATE_EXCLUDE`).
                        if self.lateness_p(late, c.tol)
                            > p_of_score(self.params.threshold()).powf(LATE_EXCLUDE)
                        {
                            self.add_lateness(late);
                        }
                    }
                }
                self.intervals.push_back((newest - prev) as f64);
                if self.intervals.len() > MAX_INTERVALS {
                    self.intervals.pop_front();
                }
                self.last_load = Some(newest);
                self.count_load(newest);
                self.cadence = self.compute_cadence();
            }
            Some(_) => {}
        }
    }

    fn add_lateness(&mut self, l: f64) {
        self.lateness.push_back(l);
        let at = self.lateness_sorted.partition_point(|&x| x < l);
        self.lateness_sorted.insert(at, l);
        if self.lateness.len() > MAX_INTERVALS {
            if let Some(old) = self.lateness.pop_front() {
                let at = self.lateness_sorted.partition_point(|&x| x < old);
                if at < self.lateness_sorted.len() {
                    self.lateness_sorted.remove(at);
                }
            }
        }
    }

    fn count_load(&mut self, at: i64) {
        self.loads += 1;
        let offset = self.offsets.update(&self.params.calendar, at);
        let local = self.seasonal(at, offset);
        self.week_counts[(local.rem_euclid(WEEK) / HOUR) as usize] += 1;
        self.day_counts[(local.rem_euclid(DAY) / HOUR) as usize] += 1;
    }

    fn compute_cadence(&self) -> Option<Cadence> {
        let v: Vec<f64> = self.intervals.iter().copied().collect();
        let median = quantile(&v, 0.5)?;
        let typical = quantile(&v, 0.75)?.max(median);
        let regular: Vec<f64> = v
            .iter()
            .filter(|&&i| i <= 2.0 * median)
            .map(|i| (i - median).abs())
            .collect();
        let jitter = quantile(&regular, 0.9).unwrap_or(0.0);
        let tol = (TOL_SHARE * median.min(TOL_SHARE_MAX_INTERVAL))
            .max(2.0 * jitter)
            .max(60.0);
        Some(Cadence {
            median,
            typical,
            tol,
        })
    }

    /// When the next load is due after a load at `last`, given the calendar seen up to `now`.
    fn expected_next(&self, last: i64, now: i64, c: &Cadence) -> i64 {
        let due = last + c.typical.round() as i64;
        let span = now - self.first_ts.unwrap_or(now);
        let (counts, period) = if span >= WEEK {
            (&self.week_counts, WEEK)
        } else if span >= 2 * DAY {
            (&self.day_counts, DAY)
        } else {
            return due;
        };
        // A bin is active when loads happened in it in at least a third of the periods seen, and in
        // two of them once two were seen (a one-off load does not make an hour active).
        let periods = (span as f64 / period as f64).floor().max(1.0);
        let need = (periods / 3.0).ceil().max(periods.min(2.0)) as u32;
        let bins = counts.len() as i64;
        let cal = &self.params.calendar;
        let mut offset = self.offsets.get(cal, due);
        let bin_of =
            |t: i64, offset: i64| (self.seasonal(t, offset).rem_euclid(period) / HOUR) as usize;
        // The due hour counts as active when loads happened within the tolerance of it: a load
        // whose time wanders over a few hours (a daily job's jitter, a due time a little past the
        // usual hour) spreads its count over them. An hour before the due one counts only when it
        // comes after the last load's: that load's own hour holds it, and says nothing of a next
        // one. A business-hours loader scanned hourly (typical interval two hours, tolerance about
        // two) had its 18:00 load make 19:00-21:00 "active" and paged every weekday evening;
        // generator tune seeds 61-100 business-hours freshness F1 0.747 -> 0.966 (one series of
        // 40 paged 45 times), suite F1 1-20 / 21-60 / 61-100 0.800 / 0.796 / 0.765 -> 0.800 /
        // 0.796 / 0.788. Without the `k >= 0` the due hour itself was dropped when the last load
        // shared it, and 15-minute loaders' lateness was learned against the next hour (their F1
        // 0.98 -> 0.79 on seeds 1-20).
        let reach = ((c.tol / HOUR as f64).floor() as i64).min(bins / 2 - 1);
        let at = bin_of(due, offset) as i64;
        let due_hour = due - (due + offset).rem_euclid(HOUR);
        let last_hour = last - (last + offset).rem_euclid(HOUR);
        let near: u32 = (-reach..=reach)
            .filter(|&k| k >= 0 || due_hour + k * HOUR > last_hour)
            .map(|k| counts[(at + k).rem_euclid(bins) as usize])
            .sum();
        if near >= need {
            return due;
        }
        // The search holds one offset; when the hour it finds has another (a DST change in between),
        // it runs once more with that one.
        let mut from = due;
        for _ in 0..2 {
            let mut start = from - (from + offset).rem_euclid(HOUR);
            let mut found = None;
            for _ in 0..bins {
                start += HOUR;
                if counts[bin_of(start, offset)] >= need {
                    found = Some(start);
                    break;
                }
            }
            let Some(start) = found else { return due };
            let actual = cal.offset(start);
            if actual == offset {
                return start.max(due);
            }
            offset = actual;
            from = start - 2 * HOUR;
        }
        due
    }

    /// Tail probability of a load at least `late` seconds late (see the module docs).
    fn lateness_p(&self, late: f64, tol: f64) -> f64 {
        if late <= 0.0 {
            return 1.0;
        }
        let n = self.lateness_sorted.len();
        let q = self.lateness_q();
        let at_least = n - self.lateness_sorted.partition_point(|&x| x < late);
        let prior = LATENESS_PRIOR * 10f64.powf(-DECADES_PER_TOL * (late - q).max(0.0) / tol);
        ((at_least as f64 + prior) / (n as f64 + LATENESS_PRIOR)).min(1.0)
    }

    /// Where the exponential tail starts: the largest past lateness (0 if none), not a quantile. A
    /// loader with about 5% slow-but-normal loads has ten among its last `MAX_INTERVALS`; from
    /// their 99th percentile (the second or third largest) a slow load only a little past it
    /// alerted every day or two on 15-minute and hourly loaders. Chosen on the generator's tune
    /// seeds 1-20 and 21-60 (freshness F1 15min / business hours / daily / hourly, seeds 1-20: from
    /// the 0.99 quantile 0.941 / 0.850 / 0.821 / 0.818, 0.995 0.980 / 0.944 / 0.821 / 0.857, the
    /// largest 0.980 / 0.971 / 0.821 / 0.923; seeds 21-60: 0.937 / 0.895 / 0.911 / 0.885, 0.959 /
    /// 0.948 / 0.911 / 0.935, 0.992 / 0.985 / 0.911 / 0.990). A stall stays out of it
    /// (`LATE_EXCLUDE`).
    fn lateness_q(&self) -> f64 {
        self.lateness_sorted.last().map_or(0.0, |&x| x.max(0.0))
    }

    /// The smallest lateness whose tail probability is at most `p` (the band's edge).
    fn allowed_lateness(&self, p: f64, tol: f64) -> f64 {
        let n = self.lateness_sorted.len() as f64;
        let q = self.lateness_q();
        // Beyond every past value only the prior remains.
        let budget = p * (n + LATENESS_PRIOR);
        let analytic = q + tol * (LATENESS_PRIOR / budget).log10().max(0.0) / DECADES_PER_TOL;
        // Past values above it still count: the edge is at least the past value with no more than
        // `budget` values at or above it.
        let k = budget.floor() as usize;
        let m = self.lateness_sorted.len();
        let empirical = if k < m {
            self.lateness_sorted[m - 1 - k]
        } else {
            f64::NEG_INFINITY
        };
        analytic.max(empirical).max(0.0)
    }

    pub fn assess(&self, ts: i64, age: f64) -> Assessment {
        if self.is_learning() {
            return Assessment::learning();
        }
        let (Some(last), Some(c)) = (self.last_load, self.cadence) else {
            return Assessment::learning();
        };
        let newest = ts - age.max(0.0).round() as i64;
        // A load newer than the last one known resets the clock.
        let base = newest.max(last);
        let expected = self.expected_next(base, ts, &c);
        let late = (ts - expected) as f64;
        let p = if age > 0.0 {
            self.lateness_p(late, c.tol)
        } else {
            1.0
        };
        let threshold = self.params.threshold();
        let mut score = score_of_p(p);
        let min_change = self.params.min_change(c.median);
        let due_age = (expected - base) as f64;
        let allowed_age = due_age + self.allowed_lateness(p_of_score(threshold), c.tol);
        let upper = allowed_age.max(due_age + min_change);
        if age <= due_age + min_change {
            score = 0.0;
        }
        let anomaly = score >= threshold && age > upper - 1e-9;
        Assessment {
            score,
            anomaly,
            lower: Some(0.0),
            upper: Some(upper),
            learning: false,
            expected_false_alarms_per_week: None,
            // An anomaly here is an age past the band's upper edge.
            evidence: super::Evidence::Point,
        }
    }
}
