//! Freshness: the age of the newest row, a saw-tooth that each load resets.
//!
//! The model learns the load cadence, not an age limit. Each observation gives the newest row's time
//! (`ts - age`); when that moves forward a load happened. From the loads it keeps
//! - the typical interval between loads (the 75th percentile of recent intervals, so rare long pauses
//!   do not widen it) and its jitter (90th percentile of the distance to the median interval among
//!   regular intervals),
//! - a load calendar: loads per hour of the week (once a week of history exists) or per hour of the day.
//!
//! The next load is expected one typical interval after the last one; if the calendar says that hour
//! never has loads (nights, weekends of business-hours loads), it is expected at the start of the next
//! hour that does. With `tol = max(0.15 * median interval, 2 * jitter, 60 s)` and
//! `u = (now - expected next load) / tol`, the evidence is `p = 10^(-2.5 u)`: at the default sensitivity
//! an alert fires two tolerances after the expected load.

use super::stats::quantile;
use super::{p_of_score, score_of_p, Assessment, Params};
use std::collections::VecDeque;

const MAX_INTERVALS: usize = 200;
const MIN_LOADS: usize = 4;
const DECADES_PER_TOL: f64 = 2.5;
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
}

/// The learned cadence at one moment.
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
        }
    }

    pub fn is_learning(&self) -> bool {
        self.n < self.params.min_history || self.loads < MIN_LOADS
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
                self.intervals.push_back((newest - prev) as f64);
                if self.intervals.len() > MAX_INTERVALS {
                    self.intervals.pop_front();
                }
                self.last_load = Some(newest);
                self.count_load(newest);
            }
            Some(_) => {}
        }
    }

    fn count_load(&mut self, at: i64) {
        self.loads += 1;
        self.week_counts[(at.rem_euclid(WEEK) / HOUR) as usize] += 1;
        self.day_counts[(at.rem_euclid(DAY) / HOUR) as usize] += 1;
    }

    fn cadence(&self) -> Option<Cadence> {
        let v: Vec<f64> = self.intervals.iter().copied().collect();
        let median = quantile(&v, 0.5)?;
        let typical = quantile(&v, 0.75)?.max(median);
        let regular: Vec<f64> = v
            .iter()
            .filter(|&&i| i <= 2.0 * median)
            .map(|i| (i - median).abs())
            .collect();
        let jitter = quantile(&regular, 0.9).unwrap_or(0.0);
        let tol = (0.15 * median).max(2.0 * jitter).max(60.0);
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
        // A bin is active when loads happened in it in at least a third of the periods seen.
        let periods = (span as f64 / period as f64).floor().max(1.0);
        let need = (periods / 3.0).ceil().max(1.0) as u32;
        let bins = counts.len() as i64;
        let bin_of = |t: i64| (t.rem_euclid(period) / HOUR) as usize;
        if counts[bin_of(due)] >= need {
            return due;
        }
        let mut start = due - due.rem_euclid(HOUR);
        for _ in 0..bins {
            start += HOUR;
            if counts[bin_of(start)] >= need {
                return start.max(due);
            }
        }
        due
    }

    pub fn assess(&self, ts: i64, age: f64) -> Assessment {
        if self.is_learning() {
            return Assessment::learning();
        }
        let (Some(last), Some(c)) = (self.last_load, self.cadence()) else {
            return Assessment::learning();
        };
        let newest = ts - age.max(0.0).round() as i64;
        // A load newer than the last one known resets the clock.
        let base = newest.max(last);
        let expected = self.expected_next(base, ts, &c);
        let overdue = (ts - expected) as f64 / c.tol;
        let p = if overdue > 0.0 && age > 0.0 {
            10f64.powf(-DECADES_PER_TOL * overdue)
        } else {
            1.0
        };
        let threshold = self.params.threshold();
        let mut score = score_of_p(p);
        let min_change = self.params.min_change(c.median);
        let allowed_age =
            (expected - base) as f64 + c.tol * (-p_of_score(threshold).log10() / DECADES_PER_TOL);
        let upper = allowed_age.max((expected - base) as f64 + min_change);
        if age <= (expected - base) as f64 + min_change {
            score = 0.0;
        }
        let anomaly = score >= threshold && age > upper - 1e-9;
        Assessment {
            score,
            anomaly,
            lower: Some(0.0),
            upper: Some(upper),
            learning: false,
        }
    }
}
