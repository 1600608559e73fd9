//! A seeded generator of data-observability series with labelled incidents, and the suite that runs
//! our detector beside three reference baselines on it, per family.
//!
//! Every series lives in a local time zone (UTC, US or European, so DST moves its schedule by an
//! hour), with that zone's public holidays, weekend pauses, month-end spikes, growth and the noise of
//! its kind. None of those is an incident. Incidents are placed after the warm-up at random, and about
//! a third of the series have none; an incident that changes no value (a doubled bucket of a
//! business-hours volume at night, when it has no rows) is not labelled. Families:
//!
//! - `volume_hourly`: rows per hour. Incidents: partial drop (20-60 % for 2-6 h), outage (0 for 2-4
//!   h), doubled load (x2 for ONE bucket, a retried load), gradual decay (to 30 % over 1-3 days).
//! - `volume_daily`: rows per local day. Incidents: a half day (50 %), a doubled day.
//! - `freshness_<loader>`: what a monitor records, `freshness_seconds` sampled every 5-60 minutes, for
//!   loaders that run hourly, every 15 minutes, daily at 02:00 local, or hourly in local business hours
//!   (08-18 on weekdays, not on holidays). Slow-but-normal loads (a load finishing up to 40 % of its
//!   interval late) happen. Incidents: a stall (no loads for several intervals) and a late load.
//! - `null_rate`: hourly null rate over each hour's rows. Incidents: a jump (x3-x10 for 3-8 h), a
//!   creep (to x4 over two days).
//! - `duplicate_rate`: hourly duplicate rate, nearly always zero. Incidents: a single-bucket spike, a
//!   3-hour burst.
//! - `stream_rate`: messages per 5 or 15 minutes, bursty (heavy-tailed bursts that are normal).
//!   Incidents: an outage (under 10 % for 1-3 h), a sustained drop (50 % for 6 h).
//!
//! Seeds: `tune` seeds (1-20) are the ones anyone may look at while changing the model; `report`
//! seeds (1001-1040) are only run for the figures that are reported.

use crate::synthetic::{evaluate, Figures, Flagger, Rng, Series};
use checks::baseline::{Online, Params, SeriesKind};
use checks::Metric;
use chrono::{Datelike, NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

const MIN: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
/// Incidents start at least this long after a series' first point (the evaluation's warm-up is two
/// weeks; a third week lets seasonal models see two full weeks).
const FIRST_INCIDENT: i64 = 3 * WEEK;

/// Local calendar facts of one timestamp.
#[derive(Debug, Clone, Copy)]
struct Local {
    hour: u32,
    minute: u32,
    /// Monday = 0.
    weekday: u32,
    date: NaiveDate,
    last_day_of_month: bool,
}

fn local(tz: Tz, ts: i64) -> Local {
    let dt = tz
        .timestamp_opt(ts, 0)
        .single()
        .unwrap_or_else(|| chrono::Utc.timestamp_opt(0, 0).unwrap().with_timezone(&tz));
    let date = dt.date_naive();
    let last_day_of_month = date.succ_opt().is_none_or(|n| n.month() != date.month());
    Local {
        hour: dt.hour(),
        minute: dt.minute(),
        weekday: dt.weekday().num_days_from_monday(),
        date,
        last_day_of_month,
    }
}

/// The unix time of a local wall-clock moment (the earlier one when ambiguous, the next hour when it
/// does not exist).
fn at_local(tz: Tz, date: NaiveDate, hour: u32, minute: u32) -> i64 {
    let naive = date.and_hms_opt(hour, minute, 0).unwrap_or_default();
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.timestamp(),
        chrono::LocalResult::Ambiguous(a, _) => a.timestamp(),
        chrono::LocalResult::None => {
            let later = naive + chrono::Duration::hours(1);
            tz.from_local_datetime(&later)
                .earliest()
                .map_or(0, |t| t.timestamp())
        }
    }
}

/// The zones series are placed in and their public holidays in 2024-2025 (the generator's span).
const ZONES: [(&str, &[&str]); 5] = [
    ("UTC", &[]),
    (
        "America/New_York",
        &[
            "2024-01-01",
            "2024-01-15",
            "2024-02-19",
            "2024-05-27",
            "2024-07-04",
            "2024-09-02",
            "2024-11-28",
            "2024-12-25",
            "2025-01-01",
        ],
    ),
    (
        "America/Los_Angeles",
        &[
            "2024-01-01",
            "2024-01-15",
            "2024-02-19",
            "2024-05-27",
            "2024-07-04",
            "2024-09-02",
            "2024-11-28",
            "2024-12-25",
            "2025-01-01",
        ],
    ),
    (
        "Europe/Berlin",
        &[
            "2024-01-01",
            "2024-03-29",
            "2024-04-01",
            "2024-05-01",
            "2024-05-09",
            "2024-05-20",
            "2024-10-03",
            "2024-12-25",
            "2024-12-26",
            "2025-01-01",
        ],
    ),
    (
        "Europe/London",
        &[
            "2024-01-01",
            "2024-03-29",
            "2024-04-01",
            "2024-05-06",
            "2024-05-27",
            "2024-08-26",
            "2024-12-25",
            "2024-12-26",
            "2025-01-01",
        ],
    ),
];

/// A series' calendar: its zone and holidays.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub tz: Tz,
    pub holidays: Vec<NaiveDate>,
}

impl Calendar {
    fn is_holiday(&self, d: NaiveDate) -> bool {
        self.holidays.contains(&d)
    }
    /// A weekday that is not a holiday.
    fn is_workday(&self, l: &Local) -> bool {
        l.weekday < 5 && !self.is_holiday(l.date)
    }
}

fn pick_calendar(rng: &mut Rng) -> Calendar {
    let (name, days) = ZONES[(rng.next_u64() % ZONES.len() as u64) as usize];
    let tz: Tz = name.parse().unwrap_or(chrono_tz::UTC);
    let holidays = days
        .iter()
        .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .collect();
    Calendar { tz, holidays }
}

/// A start (local midnight on a Monday) so that the scored part of the series spans a DST change and,
/// for most zones, a holiday: early February to early March, or mid-September to mid-October 2024.
fn pick_start(rng: &mut Rng, cal: &Calendar) -> i64 {
    let spring = NaiveDate::from_ymd_opt(2024, 2, 5).unwrap_or_default();
    let autumn = NaiveDate::from_ymd_opt(2024, 9, 16).unwrap_or_default();
    let base = if rng.uniform() < 0.5 { spring } else { autumn };
    let date = base + chrono::Duration::weeks((rng.next_u64() % 4) as i64);
    at_local(cal.tz, date, 0, 0)
}

fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.uniform()
}

fn choose<T: Copy>(rng: &mut Rng, xs: &[T]) -> T {
    xs[(rng.next_u64() % xs.len() as u64) as usize]
}

/// A Poisson-like count around `mean` with extra dispersion `over` (1 = Poisson).
fn count(rng: &mut Rng, mean: f64, over: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    (mean + (mean * over).sqrt() * rng.normal())
        .max(0.0)
        .round()
}

/// Places `n` incident start times after [`FIRST_INCIDENT`], at least `gap` apart, ending `room`
/// before the end.
fn incident_starts(rng: &mut Rng, start: i64, end: i64, n: usize, gap: i64, room: i64) -> Vec<i64> {
    let lo = start + FIRST_INCIDENT;
    let hi = end - room;
    let mut out: Vec<i64> = Vec::new();
    let mut tries = 0;
    while out.len() < n && tries < 1000 && hi > lo {
        tries += 1;
        let t = lo + (rng.uniform() * (hi - lo) as f64) as i64;
        let t = t - t.rem_euclid(HOUR);
        if out.iter().all(|&o| (o - t).abs() >= gap) {
            out.push(t);
        }
    }
    out.sort_unstable();
    out
}

/// How many incidents a series gets: none for about a third, else 1-3.
fn incident_count(rng: &mut Rng) -> usize {
    if rng.uniform() < 0.34 {
        0
    } else {
        1 + (rng.next_u64() % 3) as usize
    }
}

/// Seasonal volume shape of one local hour: a daily curve, weekends and holidays, month-end.
struct Shape {
    peak_hour: f64,
    amplitude: f64,
    weekend: f64,
    month_end: f64,
    growth_per_week: f64,
    /// Rows only 08-18 on workdays.
    business_only: bool,
}

impl Shape {
    fn draw(rng: &mut Rng) -> Shape {
        Shape {
            peak_hour: uniform(rng, 10.0, 16.0),
            amplitude: uniform(rng, 0.2, 0.7),
            weekend: uniform(rng, 0.3, 0.8),
            month_end: if rng.uniform() < 0.5 {
                uniform(rng, 1.4, 2.0)
            } else {
                1.0
            },
            growth_per_week: uniform(rng, -0.01, 0.03),
            business_only: rng.uniform() < 0.2,
        }
    }

    fn factor(&self, cal: &Calendar, start: i64, t: i64) -> f64 {
        let l = local(cal.tz, t);
        let h = l.hour as f64 + l.minute as f64 / 60.0;
        let growth = 1.0 + self.growth_per_week * (t - start) as f64 / WEEK as f64;
        if self.business_only {
            return if cal.is_workday(&l) && (8..18).contains(&l.hour) {
                growth
            } else {
                0.0
            };
        }
        let daily = 1.0
            + self.amplitude * ((h - self.peak_hour + 6.0) / 24.0 * std::f64::consts::TAU).sin();
        let week = if cal.is_workday(&l) {
            1.0
        } else {
            self.weekend
        };
        let month = if l.last_day_of_month {
            self.month_end
        } else {
            1.0
        };
        growth * daily * week * month
    }
}

/// The incidents that changed at least one value: a doubled or dropped bucket of a business-hours
/// series at night, when it has no rows anyway, is not in the data, and no detector can see it.
fn observable(incidents: Vec<(i64, i64)>, changed: &[bool]) -> Vec<(i64, i64)> {
    incidents
        .into_iter()
        .zip(changed)
        .filter_map(|(span, &c)| c.then_some(span))
        .collect()
}

fn series(
    name: String,
    metric: Metric,
    cal: &Calendar,
    points: Vec<(i64, f64)>,
    incidents: Vec<(i64, i64)>,
) -> Series {
    Series {
        name,
        tz: cal.tz,
        metric,
        points,
        incidents,
    }
}

fn volume_hourly(rng: &mut Rng, weeks: i64) -> Series {
    let cal = pick_calendar(rng);
    let start = pick_start(rng, &cal);
    let end = start + weeks * WEEK;
    let shape = Shape::draw(rng);
    let base = uniform(rng, 50.0, 5000.0);
    let over = uniform(rng, 1.0, 4.0);
    let n = incident_count(rng);
    let starts = incident_starts(rng, start, end, n, 5 * DAY, 4 * DAY);
    // (start, end, kind): 0 partial drop, 1 outage, 2 doubled bucket, 3 gradual decay.
    let mut incidents = Vec::new();
    let mut kinds = Vec::new();
    for &s in &starts {
        let kind = (rng.next_u64() % 4) as u8;
        let len = match kind {
            0 => (2 + rng.next_u64() % 5) as i64 * HOUR,
            1 => (2 + rng.next_u64() % 3) as i64 * HOUR,
            2 => HOUR,
            _ => (1 + rng.next_u64() % 3) as i64 * DAY,
        };
        let depth = match kind {
            0 => uniform(rng, 0.2, 0.6),
            1 => 0.0,
            2 => 2.0,
            _ => 0.3,
        };
        kinds.push((kind, depth));
        incidents.push((s, s + len - HOUR));
    }
    let mut points = Vec::new();
    let mut changed = vec![false; incidents.len()];
    let mut t = start;
    while t < end {
        let f = shape.factor(&cal, start, t);
        let mut v = count(rng, base * f, over);
        for (i, (&(a, b), &(kind, depth))) in incidents.iter().zip(&kinds).enumerate() {
            let before = v;
            if kind == 3 {
                // Decay from `a` to `b`, and it stays decayed: the incident is the decay itself.
                if t >= a {
                    let frac = ((t - a) as f64 / (b - a).max(1) as f64).min(1.0);
                    v = (v * (1.0 - (1.0 - depth) * frac)).round();
                }
            } else if t >= a && t <= b {
                v = (v * depth).round();
            }
            changed[i] |= v != before && t <= b;
        }
        points.push((t, v));
        t += HOUR;
    }
    let incidents = observable(incidents, &changed);
    // A lasting decay is one incident; a later doubled bucket etc. stays its own.
    series(
        format!("volume_hourly/{}", cal.tz.name()),
        Metric::Volume,
        &cal,
        points,
        incidents,
    )
}

fn volume_daily(rng: &mut Rng, weeks: i64) -> Series {
    let cal = pick_calendar(rng);
    let start = pick_start(rng, &cal);
    let end = start + weeks * WEEK;
    let shape = Shape {
        business_only: false,
        ..Shape::draw(rng)
    };
    let base = uniform(rng, 2_000.0, 200_000.0);
    let over = uniform(rng, 1.0, 20.0);
    let n = incident_count(rng);
    let starts = incident_starts(rng, start, end, n, 10 * DAY, 2 * DAY);
    let mut incidents = Vec::new();
    let mut depths = Vec::new();
    let mut points = Vec::new();
    let mut day = local(cal.tz, start).date;
    let mut changed = vec![false; starts.len()];
    // Daily buckets at local midnight.
    for &s in &starts {
        let d = local(cal.tz, s).date;
        let a = at_local(cal.tz, d, 0, 0);
        incidents.push((a, a));
        depths.push(if rng.uniform() < 0.5 { 0.5 } else { 2.0 });
    }
    loop {
        let t = at_local(cal.tz, day, 0, 0);
        if t >= end {
            break;
        }
        let l = local(cal.tz, t + 12 * HOUR);
        let growth = 1.0 + shape.growth_per_week * (t - start) as f64 / WEEK as f64;
        let week = if cal.is_workday(&l) {
            1.0
        } else {
            shape.weekend
        };
        let month = if l.last_day_of_month {
            shape.month_end
        } else {
            1.0
        };
        let mut v = count(rng, base * growth * week * month, over);
        for (i, (&(a, _), &depth)) in incidents.iter().zip(&depths).enumerate() {
            if a == t {
                let before = v;
                v = (v * depth).round();
                changed[i] |= v != before;
            }
        }
        points.push((t, v));
        day = day.succ_opt().unwrap_or(day);
    }
    let incidents = observable(incidents, &changed);
    series(
        format!("volume_daily/{}", cal.tz.name()),
        Metric::Volume,
        &cal,
        points,
        incidents,
    )
}

/// A loader type of the freshness family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    Hourly,
    Quarter,
    Daily2am,
    BusinessHours,
}

impl Loader {
    pub const ALL: [Loader; 4] = [
        Loader::Hourly,
        Loader::Quarter,
        Loader::Daily2am,
        Loader::BusinessHours,
    ];
    fn name(self) -> &'static str {
        match self {
            Loader::Hourly => "hourly",
            Loader::Quarter => "15min",
            Loader::Daily2am => "daily_2am",
            Loader::BusinessHours => "business_hours",
        }
    }
    fn interval(self) -> i64 {
        match self {
            Loader::Quarter => 15 * MIN,
            Loader::Daily2am => DAY,
            _ => HOUR,
        }
    }
}

/// The scheduled (local) load times of a loader between `start` and `end`.
fn schedule(loader: Loader, cal: &Calendar, start: i64, end: i64) -> Vec<i64> {
    let mut out = Vec::new();
    match loader {
        Loader::Hourly | Loader::Quarter => {
            let step = loader.interval();
            let mut t = start;
            while t < end {
                out.push(t);
                t += step;
            }
        }
        Loader::Daily2am | Loader::BusinessHours => {
            let mut day = local(cal.tz, start).date;
            loop {
                let midnight = at_local(cal.tz, day, 0, 0);
                if midnight >= end {
                    break;
                }
                if loader == Loader::Daily2am {
                    out.push(at_local(cal.tz, day, 2, 0));
                } else {
                    let l = local(cal.tz, midnight + 12 * HOUR);
                    if cal.is_workday(&l) {
                        for h in 8..=18 {
                            out.push(at_local(cal.tz, day, h, 0));
                        }
                    }
                }
                day = day.succ_opt().unwrap_or(day);
            }
        }
    }
    out
}

fn freshness(rng: &mut Rng, weeks: i64, loader: Loader) -> Series {
    let cal = pick_calendar(rng);
    let start = pick_start(rng, &cal);
    let end = start + weeks * WEEK;
    let every = choose(rng, &[5, 10, 15, 20, 30, 60]) * MIN;
    let interval = loader.interval();
    let jitter = (interval as f64 * uniform(rng, 0.02, 0.1)) as i64;
    let planned = schedule(loader, &cal, start - WEEK, end);
    let n = incident_count(rng);
    // The incident's scheduled load and the loads skipped or delayed.
    let starts = incident_starts(rng, start, end, n, 4 * DAY, 2 * DAY);
    let mut incidents = Vec::new();
    let mut loads: Vec<i64> = Vec::new();
    // Loads the first version of the generator skipped without drawing their jitter; the loads a
    // late load holds up still draw theirs, so the random stream (and every later series of the
    // seed) stays the same.
    let mut drawn_skip: Vec<(i64, i64)> = Vec::new();
    for &s in &starts {
        // The first scheduled load at or after s.
        let k = planned.partition_point(|&p| p < s);
        let Some(&first) = planned.get(k) else {
            continue;
        };
        let stall = rng.uniform() < 0.5;
        let missed = if stall {
            match loader {
                Loader::Quarter => 6 + (rng.next_u64() % 10) as usize,
                Loader::Daily2am => 1,
                _ => 3 + (rng.next_u64() % 4) as usize,
            }
        } else {
            1
        };
        let resume = planned.get(k + missed).copied().unwrap_or(end);
        // A late load: the missed one arrives late instead of never.
        let late_by = if stall {
            None
        } else {
            Some(match loader {
                Loader::Quarter => uniform(rng, 1.0, 3.0) * HOUR as f64,
                Loader::Daily2am => uniform(rng, 5.0, 10.0) * HOUR as f64,
                _ => uniform(rng, 2.5, 4.0) * HOUR as f64,
            } as i64)
        };
        // A late load holds the loader up: the loads scheduled before it arrives wait for it (had
        // they run, the newest row would stay fresh and a freshness series could not show the
        // incident at all).
        let (a, b) = match late_by {
            Some(l) => (first, first + l),
            None => (first, resume),
        };
        drawn_skip.push((first, resume));
        if let Some(l) = late_by {
            loads.push(first + l);
        }
        incidents.push((a, b));
    }
    for &p in &planned {
        if drawn_skip.iter().any(|&(a, b)| p >= a && p < b) {
            continue;
        }
        let mut t = p + (rng.uniform() * jitter as f64) as i64;
        // Slow but normal: now and then a load finishes well after its usual time.
        if rng.uniform() < 0.05 {
            t += (uniform(rng, 0.1, 0.4) * interval.min(4 * HOUR) as f64) as i64;
        }
        // Held up by an incident (a stall, or a late load still to come).
        if incidents.iter().any(|&(a, b)| p >= a && p < b) {
            continue;
        }
        loads.push(t);
    }
    loads.sort_unstable();
    // What a monitor records: the age of the newest row at each scan.
    let mut points = Vec::new();
    let mut k = 0usize;
    let mut t = start + (rng.uniform() * every as f64) as i64;
    while t < end {
        while k < loads.len() && loads[k] <= t {
            k += 1;
        }
        let newest = if k == 0 { start - WEEK } else { loads[k - 1] };
        points.push((t, (t - newest) as f64));
        t += every;
    }
    series(
        format!(
            "freshness_{}/{}/{}m",
            loader.name(),
            cal.tz.name(),
            every / MIN
        ),
        Metric::FreshnessSeconds,
        &cal,
        points,
        incidents,
    )
}

fn null_rate(rng: &mut Rng, weeks: i64) -> Series {
    let cal = pick_calendar(rng);
    let start = pick_start(rng, &cal);
    let end = start + weeks * WEEK;
    let shape = Shape {
        business_only: false,
        ..Shape::draw(rng)
    };
    let rows = uniform(rng, 200.0, 5000.0);
    let p0 = uniform(rng, 0.002, 0.1);
    let n = incident_count(rng);
    let starts = incident_starts(rng, start, end, n, 5 * DAY, 3 * DAY);
    let mut incidents = Vec::new();
    let mut kinds = Vec::new();
    for &s in &starts {
        if rng.uniform() < 0.5 {
            let len = (3 + rng.next_u64() % 6) as i64 * HOUR;
            incidents.push((s, s + len - HOUR));
            kinds.push((0u8, uniform(rng, 3.0, 10.0)));
        } else {
            incidents.push((s, s + 2 * DAY));
            kinds.push((1u8, 4.0));
        }
    }
    let mut points = Vec::new();
    let mut t = start;
    while t < end {
        let n_rows = count(rng, rows * shape.factor(&cal, start, t), 1.0).max(20.0);
        let mut p = p0;
        for (&(a, b), &(kind, mult)) in incidents.iter().zip(&kinds) {
            if t >= a && t <= b {
                p = if kind == 0 {
                    p0 * mult
                } else {
                    p0 * (1.0 + (mult - 1.0) * (t - a) as f64 / (b - a) as f64)
                };
            }
        }
        let p = p.min(1.0);
        let nulls = (n_rows * p + (n_rows * p * (1.0 - p)).sqrt() * rng.normal())
            .round()
            .clamp(0.0, n_rows);
        points.push((t, nulls / n_rows));
        t += HOUR;
    }
    series(
        format!("null_rate/{}", cal.tz.name()),
        Metric::BucketNullRate,
        &cal,
        points,
        incidents,
    )
}

fn duplicate_rate(rng: &mut Rng, weeks: i64) -> Series {
    let cal = pick_calendar(rng);
    let start = pick_start(rng, &cal);
    let end = start + weeks * WEEK;
    let stray = uniform(rng, 0.0, 0.05);
    let n = incident_count(rng);
    let starts = incident_starts(rng, start, end, n, 4 * DAY, DAY);
    let mut incidents = Vec::new();
    let mut levels = Vec::new();
    for &s in &starts {
        let len = if rng.uniform() < 0.5 { HOUR } else { 3 * HOUR };
        incidents.push((s, s + len - HOUR));
        levels.push(uniform(rng, 0.02, 0.1));
    }
    let mut points = Vec::new();
    let mut t = start;
    while t < end {
        let mut v = if rng.uniform() < stray {
            uniform(rng, 0.0005, 0.002)
        } else {
            0.0
        };
        for (&(a, b), &lvl) in incidents.iter().zip(&levels) {
            if t >= a && t <= b {
                v = (lvl * (1.0 + 0.2 * rng.normal())).max(0.005);
            }
        }
        points.push((t, v));
        t += HOUR;
    }
    series(
        format!("duplicate_rate/{}", cal.tz.name()),
        Metric::DuplicateRate,
        &cal,
        points,
        incidents,
    )
}

fn stream_rate(rng: &mut Rng, weeks: i64) -> Series {
    let cal = pick_calendar(rng);
    let start = pick_start(rng, &cal);
    let end = start + weeks * WEEK;
    let step = choose(rng, &[5, 15]) * MIN;
    let shape = Shape {
        business_only: false,
        month_end: 1.0,
        ..Shape::draw(rng)
    };
    let base = uniform(rng, 100.0, 20_000.0) * step as f64 / HOUR as f64;
    let n = incident_count(rng);
    let starts = incident_starts(rng, start, end, n, 4 * DAY, DAY);
    let mut incidents = Vec::new();
    let mut depths = Vec::new();
    for &s in &starts {
        if rng.uniform() < 0.5 {
            let len = (1 + rng.next_u64() % 3) as i64 * HOUR;
            incidents.push((s, s + len - step));
            depths.push(uniform(rng, 0.0, 0.1));
        } else {
            incidents.push((s, s + 6 * HOUR - step));
            depths.push(0.5);
        }
    }
    let mut points = Vec::new();
    let mut changed = vec![false; incidents.len()];
    let mut t = start;
    let mut burst = 1.0f64;
    while t < end {
        // Bursts: a heavy-tailed multiplier that starts now and then and fades over a few buckets.
        if rng.uniform() < 0.01 {
            burst = burst.max(1.0 + (-rng.uniform().max(1e-12).ln()) * 2.0);
        }
        let wobble = (0.25 * rng.normal()).exp();
        let mean = base * shape.factor(&cal, start, t) * burst * wobble;
        let mut v = count(rng, mean, 2.0);
        burst = 1.0 + (burst - 1.0) * 0.6;
        for (i, (&(a, b), &depth)) in incidents.iter().zip(&depths).enumerate() {
            if t >= a && t <= b {
                let before = v;
                v = (v * depth).round();
                changed[i] |= v != before;
            }
        }
        points.push((t, v));
        t += step;
    }
    let incidents = observable(incidents, &changed);
    series(
        format!("stream_rate/{}/{}m", cal.tz.name(), step / MIN),
        Metric::Volume,
        &cal,
        points,
        incidents,
    )
}

/// The family a series belongs to: the part of its name before the first `/`.
pub fn family(s: &Series) -> &str {
    s.name.split('/').next().unwrap_or("")
}

/// All series of one seed: two hourly volumes, one daily volume, one freshness series per loader
/// type, a null rate, a duplicate rate and two stream rates.
pub fn generate(seed: u64, weeks: u32) -> Vec<Series> {
    let weeks = i64::from(weeks.max(6));
    let mut rng = Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED);
    let mut out = vec![
        volume_hourly(&mut rng, weeks),
        volume_hourly(&mut rng, weeks),
        volume_daily(&mut rng, weeks.max(20)),
    ];
    for loader in Loader::ALL {
        out.push(freshness(&mut rng, weeks, loader));
    }
    out.push(null_rate(&mut rng, weeks));
    out.push(duplicate_rate(&mut rng, weeks));
    out.push(stream_rate(&mut rng, weeks));
    out.push(stream_rate(&mut rng, weeks));
    out
}

/// The public holidays of a zone the generator uses.
pub fn zone_holidays(tz: Tz) -> Vec<NaiveDate> {
    ZONES
        .iter()
        .find(|(name, _)| *name == tz.name())
        .map(|(_, days)| {
            days.iter()
                .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Our detector as a monitor runs it on the series' metric, with the defaults of that kind. With
/// `local`, the monitor is configured with the series' `timezone:` and `holidays:` (as a user whose
/// loaders run in that zone would); without, it runs on the default UTC calendar.
pub struct Ours {
    pub local: bool,
}

impl Ours {
    /// Our verdict on every point of `s`, as a monitor runs it (anomalies are not trained on, see
    /// `checks::baseline::Online`); empty for a metric without a learned baseline.
    pub fn assessments(&self, s: &Series) -> Vec<checks::baseline::Assessment> {
        let Some(kind) = SeriesKind::for_metric(s.metric) else {
            return Vec::new();
        };
        let mut params = Params::default_for(kind);
        if self.local {
            params.calendar = checks::baseline::Calendar::new(s.tz)
                .with_holidays(zone_holidays(s.tz))
                .unwrap_or_else(|_| checks::baseline::Calendar::new(s.tz));
        }
        let mut d = Online::new(kind, params);
        s.points.iter().map(|&(t, v)| d.step(t, v)).collect()
    }
}

impl Flagger for Ours {
    fn name(&self) -> &'static str {
        if self.local {
            "tidewatch"
        } else {
            "tidewatch-utc"
        }
    }
    fn flags(&self, s: &Series) -> Vec<bool> {
        let verdicts = self.assessments(s);
        if verdicts.is_empty() {
            return vec![false; s.points.len()];
        }
        verdicts.iter().map(|a| a.anomaly).collect()
    }
}

/// Rolling z-score over the previous `window` points (not including the scored one), `|z| > k`.
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
        let (mut sum, mut sq) = (0.0, 0.0);
        let mut out = Vec::with_capacity(v.len());
        for i in 0..v.len() {
            let flag = if i >= self.window {
                let n = self.window as f64;
                let mean = sum / n;
                let sd = (sq / n - mean * mean).max(0.0).sqrt();
                if sd <= 1e-12 * (1.0 + mean.abs()) {
                    (v[i] - mean).abs() > 1e-12 * (1.0 + mean.abs())
                } else {
                    ((v[i] - mean) / sd).abs() > self.k
                }
            } else {
                false
            };
            out.push(flag);
            sum += v[i];
            sq += v[i] * v[i];
            if i >= self.window {
                sum -= v[i - self.window];
                sq -= v[i - self.window] * v[i - self.window];
            }
        }
        out
    }
}

/// Elementary-style z-score: mean and standard deviation over the last 14 days of points INCLUDING
/// the scored one (as Elementary's `volume_anomalies` computes its training set), `|z| > 3`, after at
/// least `min_points` points.
pub struct ElementaryZ {
    pub days: i64,
    pub k: f64,
    pub min_points: usize,
}

impl Flagger for ElementaryZ {
    fn name(&self) -> &'static str {
        "elementary-z"
    }
    fn flags(&self, s: &Series) -> Vec<bool> {
        let p = &s.points;
        let (mut sum, mut sq) = (0.0, 0.0);
        let mut lo = 0usize;
        let mut out = Vec::with_capacity(p.len());
        for i in 0..p.len() {
            sum += p[i].1;
            sq += p[i].1 * p[i].1;
            while p[lo].0 <= p[i].0 - self.days * DAY {
                sum -= p[lo].1;
                sq -= p[lo].1 * p[lo].1;
                lo += 1;
            }
            let n = (i + 1 - lo) as f64;
            if (i + 1 - lo) < self.min_points {
                out.push(false);
                continue;
            }
            let mean = sum / n;
            let sd = ((sq / n - mean * mean).max(0.0) * n / (n - 1.0)).sqrt();
            out.push(sd > 1e-12 * (1.0 + mean.abs()) && ((p[i].1 - mean) / sd).abs() > self.k);
        }
        out
    }
}

/// Median and MAD of the values at the same UTC time of day over the previous `days` days; alert
/// beyond `k` scaled MADs.
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
        let mut past = Vec::with_capacity(self.days as usize);
        let mut dev = Vec::with_capacity(self.days as usize);
        s.points
            .iter()
            .map(|&(t, v)| {
                past.clear();
                past.extend((1..=self.days).filter_map(|d| by_ts.get(&(t - d * DAY)).copied()));
                if past.len() < 3 {
                    return false;
                }
                let Some(m) = checks::baseline::stats::median(&past) else {
                    return false;
                };
                dev.clear();
                dev.extend(past.iter().map(|x| (x - m).abs()));
                let mad = checks::baseline::stats::median(&dev).unwrap_or(0.0) * 1.4826;
                (v - m).abs() > self.k * mad.max(1e-9)
            })
            .collect()
    }
}

/// Figures per family and detector over a set of seeds.
#[derive(Debug, Clone)]
pub struct SuiteReport {
    pub detectors: Vec<&'static str>,
    /// Family -> (series count, figures per detector).
    pub families: BTreeMap<String, (usize, Vec<Figures>)>,
    pub totals: Vec<Figures>,
    pub series: usize,
    pub clean_series: usize,
    pub points: usize,
}

impl SuiteReport {
    pub fn total(&self, name: &str) -> Option<Figures> {
        self.detectors
            .iter()
            .position(|d| *d == name)
            .map(|i| self.totals[i])
    }

    pub fn family(&self, family: &str, name: &str) -> Option<Figures> {
        let i = self.detectors.iter().position(|d| *d == name)?;
        self.families.get(family).map(|(_, f)| f[i])
    }

    /// A plain-text table: one block per family, one line per detector.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<24} {:>6} {:<13} {:>9} {:>6} {:>5} {:>9} {:>10} {:>9}",
            "family",
            "series",
            "detector",
            "precision",
            "recall",
            "f1",
            "delay(h)",
            "false/s-wk",
            "incidents"
        );
        let mut line = |fam: &str, n: usize, det: &str, f: &Figures| {
            let delay = f
                .mean_delay_hours()
                .map_or("-".to_string(), |d| format!("{d:.1}"));
            let _ = writeln!(
                out,
                "{:<24} {:>6} {:<13} {:>9.3} {:>6.3} {:>5.3} {:>9} {:>10.3} {:>9}",
                fam,
                n,
                det,
                f.precision(),
                f.recall(),
                f.f1(),
                delay,
                f.false_alarms_per_week(),
                f.incidents
            );
        };
        for (fam, (n, figs)) in &self.families {
            for (det, f) in self.detectors.iter().zip(figs) {
                line(fam, *n, det, f);
            }
        }
        for (det, f) in self.detectors.iter().zip(&self.totals) {
            line("ALL", self.series, det, f);
        }
        out
    }
}

/// The detectors of the suite: ours and the three references.
pub fn flaggers() -> Vec<Box<dyn Flagger>> {
    vec![
        Box::new(Ours { local: true }),
        Box::new(Ours { local: false }),
        Box::new(RollingZ { window: 48, k: 3.0 }),
        Box::new(ElementaryZ {
            days: 14,
            k: 3.0,
            min_points: 20,
        }),
        Box::new(SeasonalMad { days: 14, k: 3.0 }),
    ]
}

/// Runs every detector on every series of every seed and sums the figures per family.
pub fn run(seeds: &[u64], weeks: u32) -> SuiteReport {
    let flaggers = flaggers();
    let mut families: BTreeMap<String, (usize, Vec<Figures>)> = BTreeMap::new();
    let mut totals = vec![Figures::default(); flaggers.len()];
    let (mut series, mut clean, mut points) = (0, 0, 0);
    for &seed in seeds {
        for s in generate(seed, weeks) {
            series += 1;
            clean += usize::from(s.incidents.is_empty());
            points += s.points.len();
            let entry = families
                .entry(family(&s).to_string())
                .or_insert_with(|| (0, vec![Figures::default(); flaggers.len()]));
            entry.0 += 1;
            for (k, f) in flaggers.iter().enumerate() {
                let fig = evaluate(&s, &f.flags(&s));
                entry.1[k].add(&fig);
                totals[k].add(&fig);
            }
        }
    }
    SuiteReport {
        detectors: flaggers.iter().map(|f| f.name()).collect(),
        families,
        totals,
        series,
        clean_series: clean,
        points,
    }
}

/// Prints, for each series whose name starts with `prefix`, its incidents and our detector's alert
/// episodes (local time, `+` inside an incident, `-` outside; each with its first value and the
/// evidence it rests on: `point`, `shift_up`, `shift_down`, `record_high` or `record_low`).
pub fn show(seeds: &[u64], weeks: u32, prefix: &str) {
    let fmt = |tz: Tz, t: i64| {
        tz.timestamp_opt(t, 0)
            .single()
            .map_or(t.to_string(), |d| d.format("%a %m-%d %H:%M").to_string())
    };
    for &seed in seeds {
        for s in generate(seed, weeks) {
            if !s.name.starts_with(prefix) {
                continue;
            }
            let verdicts = Ours { local: true }.assessments(&s);
            let flags: Vec<bool> = verdicts.iter().map(|a| a.anomaly).collect();
            let inc: Vec<String> = s
                .incidents
                .iter()
                .map(|&(a, b)| format!("{}..{}", fmt(s.tz, a), fmt(s.tz, b)))
                .collect();
            let mut eps = Vec::new();
            let mut i = 0;
            while i < flags.len() {
                if flags[i] && s.points[i].0 >= s.points[0].0 + 2 * WEEK {
                    let t = s.points[i].0;
                    let inside = s
                        .incidents
                        .iter()
                        .any(|&(a, b)| t >= a && t <= b + 2 * HOUR);
                    eps.push(format!(
                        "{}{} (v {:.0}, {})",
                        if inside { '+' } else { '-' },
                        fmt(s.tz, t),
                        s.points[i].1,
                        verdicts[i].evidence.as_str()
                    ));
                    while i < flags.len() && flags[i] {
                        i += 1;
                    }
                }
                i += 1;
            }
            println!("seed {seed} {}: incidents [{}]", s.name, inc.join(", "));
            println!("    alerts [{}]", eps.join(", "));
        }
    }
}

/// Parses `a-b` or `a,b,c` into seeds.
pub fn parse_seeds(spec: &str) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_labelled_after_the_warm_up() {
        let a = generate(3, 8);
        let b = generate(3, 8);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.points, y.points, "{}", x.name);
            assert_eq!(x.incidents, y.incidents);
            let first = x.points[0].0;
            let last = x.points.last().map_or(0, |p| p.0);
            for &(s, e) in &x.incidents {
                assert!(s >= first + 2 * WEEK && s <= e && e <= last, "{}", x.name);
            }
            assert!(SeriesKind::for_metric(x.metric).is_some());
        }
        assert_ne!(generate(4, 8)[0].points, a[0].points);
    }

    #[test]
    fn a_growing_daily_volume_is_quiet_at_its_record_month_ends() {
        // Tune seeds 58 and 59: daily volumes growing through the winter, each month-end close
        // the highest value yet but under the month-end the model learned. A record is news only
        // on the side the value deviates to; counted on the other side, both series paged on
        // 12-31 and 01-31.
        for seed in [58, 59] {
            let s = generate(seed, 10)
                .into_iter()
                .find(|s| s.name.starts_with("volume_daily"))
                .expect("every seed has a daily volume");
            let flags = Ours { local: true }.flags(&s);
            for (&(t, v), &flag) in s.points.iter().zip(&flags) {
                let Some(day) = s.tz.timestamp_opt(t, 0).single() else {
                    continue;
                };
                let (m, d) = (day.month(), day.day());
                let month_end = (m, d) == (12, 31) || (m, d) == (1, 31);
                assert!(
                    !(flag && month_end),
                    "seed {seed} {}: alert at {day} on {v}",
                    s.name
                );
            }
        }
    }

    #[test]
    fn a_first_weekend_misfit_does_not_hold_back_a_volume_s_later_decays() {
        // Tune seed 79: an hourly volume in New York first seen on a Tuesday. Its first
        // Saturday, before the model knew weekends, was a 10-decade down episode; remembered by
        // the calibration, it held the down side's bar at 10-13 decades for eight weeks and all
        // three decays (to 30 % over one to two days) went unalerted. The weekday offsets
        // explain that Saturday, so the calibration forgets it once they are learned.
        let (s, flags) = tune_run(79, "volume_hourly/America/New_York", 3);
        let alerted = s
            .incidents
            .iter()
            .filter(|&&incident| alerted_on(&s, &flags, incident))
            .count();
        assert!(alerted >= 2, "{alerted} of 3 decays alerted");
    }

    /// The series `name` of tune seed `seed` (ten weeks) with `incidents` incidents, and the
    /// alert flags tidewatch (local calendar) raises on it.
    fn tune_run(seed: u64, name: &str, incidents: usize) -> (Series, Vec<bool>) {
        let s = generate(seed, 10)
            .into_iter()
            .find(|s| s.name == name && s.incidents.len() == incidents)
            .unwrap_or_else(|| panic!("seed {seed} has no {name} with {incidents} incidents"));
        let flags = Ours { local: true }.flags(&s);
        (s, flags)
    }

    /// Alert episodes after the warm-up outside every incident, as the suite counts them.
    fn false_alerts(s: &Series, flags: &[bool]) -> usize {
        crate::synthetic::evaluate(s, flags).false_alerts
    }

    /// Whether `flags` raise an alert during `incident` or within a day after its end.
    fn alerted_on(s: &Series, flags: &[bool], (a, b): (i64, i64)) -> bool {
        s.points
            .iter()
            .zip(flags)
            .any(|(&(t, _), &f)| f && t >= a && t <= b + DAY)
    }

    #[test]
    fn a_stream_s_outage_does_not_hold_back_its_later_halving() {
        // Tune seed 2: a 5-minute stream's 3-hour outage (a drop to a few percent) became a
        // lasting run: after `adapt_after` held-back points it was learned as a change. Remembered
        // by the false-alarm calibration as a down episode, it held the down side's bar above the
        // halving a month later (six hours at half the messages), which went unalerted. A lasting
        // run is no episode of the calibration now (without that, this test fails).
        let (s, flags) = tune_run(2, "stream_rate/UTC/5m", 2);
        assert!(alerted_on(&s, &flags, s.incidents[0]), "the outage alerts");
        assert!(alerted_on(&s, &flags, s.incidents[1]), "the halving alerts");
    }

    #[test]
    fn a_stream_s_peak_hour_bursts_are_records_only_among_peak_hours() {
        // Tune seed 11: a 5-minute London stream without incidents whose bursts (up to ten times
        // the rate, fading in a few buckets) set new highs at its busiest hours. Read as records
        // among all the points seen (thousands), each was a 5-decade surprise on top of its own,
        // and two paged (10-21, 11-28). Only the busiest hours' points had the chance to set such
        // a high, and among those the bursts are no news (without that, this test fails).
        let (s, flags) = tune_run(11, "stream_rate/Europe/London/5m", 0);
        assert_eq!(
            false_alerts(&s, &flags),
            0,
            "a clean stream alerted after its warm-up"
        );
        // Tune seed 42: with the early records of a 15-minute stream counted among its peak hours
        // the down side's bar stays low enough for its six-hour halving to alert.
        let (s, flags) = tune_run(42, "stream_rate/America/New_York/15m", 2);
        assert!(alerted_on(&s, &flags, s.incidents[0]), "the halving alerts");
        assert!(alerted_on(&s, &flags, s.incidents[1]), "the outage alerts");
    }

    #[test]
    fn a_null_rate_s_drift_is_taken_into_its_shift_reference() {
        // Tune seed 22: a Berlin null rate without incidents paged twice (02-24, 03-29) on its
        // short shift statistic, whose reference (about 100 hourly points) lagged the rate's slow
        // wander. A count's or share's reference takes about 40 points now
        // (`OBSERVED_ALPHA_REFERENCE`; without it, this test fails).
        let (s, flags) = tune_run(22, "null_rate/Europe/Berlin", 0);
        assert_eq!(false_alerts(&s, &flags), 0, "a clean null rate alerted");
        // Tune seed 17: a London null rate's two-day incident still alerts, and its false
        // alarm of 11-04 is gone.
        let (s, flags) = tune_run(17, "null_rate/Europe/London", 1);
        assert!(
            alerted_on(&s, &flags, s.incidents[0]),
            "the incident alerts"
        );
        assert_eq!(
            false_alerts(&s, &flags),
            0,
            "the null rate alerted outside its incident"
        );
    }

    #[test]
    fn a_daily_2am_loader_follows_local_time_across_dst() {
        let cal = Calendar {
            tz: "Europe/Berlin".parse().unwrap(),
            holidays: vec![],
        };
        // 2024-03-31 is the spring change in Europe: 02:00 does not exist that day.
        let start = at_local(cal.tz, NaiveDate::from_ymd_opt(2024, 3, 25).unwrap(), 0, 0);
        let loads = schedule(Loader::Daily2am, &cal, start, start + 14 * DAY);
        let utc_hours: Vec<i64> = loads.iter().map(|t| t.rem_euclid(DAY) / HOUR).collect();
        assert_eq!(utc_hours.first(), Some(&1), "{utc_hours:?}");
        assert_eq!(utc_hours.last(), Some(&0), "{utc_hours:?}");
    }

    #[test]
    fn business_hours_loaders_pause_on_holidays_and_weekends() {
        let cal = Calendar {
            tz: "America/New_York".parse().unwrap(),
            holidays: vec![NaiveDate::from_ymd_opt(2024, 2, 19).unwrap()],
        };
        let start = at_local(cal.tz, NaiveDate::from_ymd_opt(2024, 2, 19).unwrap(), 0, 0);
        let loads = schedule(Loader::BusinessHours, &cal, start, start + 7 * DAY);
        // Tuesday to Friday, 11 loads a day; Monday is a holiday, the weekend pauses.
        assert_eq!(loads.len(), 4 * 11);
    }

    #[test]
    fn elementary_z_includes_the_scored_point() {
        // A single spike in a constant series: with the point included in its own window the z-score
        // of one outlier among n points is bounded by sqrt(n - 1), so a spike after 5 points is missed.
        let mut points: Vec<(i64, f64)> = (0..5).map(|i| (i * HOUR, 10.0)).collect();
        points.push((5 * HOUR, 1000.0));
        let s = Series {
            name: "t".into(),
            tz: chrono_tz::UTC,
            metric: Metric::Volume,
            points,
            incidents: vec![],
        };
        let f = ElementaryZ {
            days: 14,
            k: 3.0,
            min_points: 2,
        }
        .flags(&s);
        assert!(!f[5]);
    }

    #[test]
    fn seeds_parse() {
        assert_eq!(parse_seeds("1-3,7"), Some(vec![1, 2, 3, 7]));
        assert_eq!(parse_seeds("3-1"), None);
    }
}
