//! When a monitor's runs are due: the slots of its `every:` or cron `schedule:`, pure functions of
//! time (no clock, no IO), so two processes compute the same slots.
//!
//! `every: P` runs at `k * P + offset` since the Unix epoch, where the offset is a hash of the monitor's
//! name modulo P (FNV-1a, fixed forever: changing it would move every monitor's slots). Monitors with
//! the same period are spread across it instead of all firing at the top of the hour.

use crate::config::ScheduleSpec;
use chrono::{DateTime, TimeZone, Utc};

/// Slot counts stop here (a cron that fires every second over a month of downtime).
pub const COUNT_CAP: u64 = 100_000;

/// FNV-1a 64-bit of `s`: stable across builds and platforms, unlike `std`'s hasher.
pub fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The slots of one monitor.
#[derive(Debug, Clone)]
pub enum Slots {
    Every {
        /// Microseconds.
        period: i64,
        /// Microseconds, in `[0, period)`.
        offset: i64,
    },
    Cron {
        cron: Box<croner::Cron>,
        tz: chrono_tz::Tz,
    },
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
}

impl Slots {
    pub fn new(monitor: &str, spec: &ScheduleSpec) -> Slots {
        match spec {
            ScheduleSpec::Every(d) => {
                let period = i64::try_from(d.as_micros()).unwrap_or(i64::MAX).max(1);
                // Whole seconds when the period allows, so slots read well in logs.
                let offset = if period % 1_000_000 == 0 {
                    (fnv1a(monitor) % (period / 1_000_000) as u64) as i64 * 1_000_000
                } else {
                    (fnv1a(monitor) % period as u64) as i64
                };
                Slots::Every { period, offset }
            }
            ScheduleSpec::Cron { cron, timezone, .. } => Slots::Cron {
                cron: cron.clone(),
                tz: *timezone,
            },
        }
    }

    /// The first slot strictly after `t`; `None` when the schedule has no further slot.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Slots::Every { period, offset } => {
                let k = (micros(t) - offset).div_euclid(*period) + 1;
                from_micros(k.checked_mul(*period)?.checked_add(*offset)?)
            }
            Slots::Cron { cron, tz } => {
                let local = tz.from_utc_datetime(&t.naive_utc());
                cron.find_next_occurrence(&local, false)
                    .ok()
                    .map(|d| d.with_timezone(&Utc))
            }
        }
    }

    /// The latest slot at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Slots::Every { period, offset } => {
                let k = (micros(t) - offset).div_euclid(*period);
                from_micros(k.checked_mul(*period)?.checked_add(*offset)?)
            }
            Slots::Cron { .. } => {
                // Walk from a day (then a year) back; cron slots are at most that sparse in practice.
                for back in [chrono::Duration::days(1), chrono::Duration::days(366)] {
                    let mut last = None;
                    let mut cur = t - back;
                    let mut n = 0;
                    while let Some(s) = self.next_after(cur) {
                        if s > t || n > COUNT_CAP {
                            break;
                        }
                        last = Some(s);
                        cur = s;
                        n += 1;
                    }
                    if last.is_some() {
                        return last;
                    }
                }
                None
            }
        }
    }

    /// How many slots lie in `(after, until]`, at most [`COUNT_CAP`].
    pub fn count_between(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
        if until <= after {
            return 0;
        }
        match self {
            Slots::Every { period, offset } => {
                let k = |t: DateTime<Utc>| (micros(t) - offset).div_euclid(*period);
                ((k(until) - k(after)).max(0) as u64).min(COUNT_CAP)
            }
            Slots::Cron { .. } => {
                let mut n = 0;
                let mut cur = after;
                while let Some(s) = self.next_after(cur) {
                    if s > until || n >= COUNT_CAP {
                        break;
                    }
                    n += 1;
                    cur = s;
                }
                n
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn every_has_a_stable_offset_per_name() {
        let spec = ScheduleSpec::Every(Duration::from_secs(900));
        let a = Slots::new("orders", &spec);
        let b = Slots::new("customers", &spec);
        let (Slots::Every { offset: oa, .. }, Slots::Every { offset: ob, .. }) = (&a, &b) else {
            panic!("every");
        };
        assert_ne!(oa, ob, "two names, two offsets");
        assert!(*oa >= 0 && *oa < 900_000_000 && oa % 1_000_000 == 0);
        // FNV-1a is fixed: this value must never change (it would move every deployment's slots).
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        let s = a.next_after(t("2026-12-01T10:00:00Z")).expect("slot");
        assert!(s > t("2026-12-01T10:00:00Z") && s <= t("2026-12-01T10:15:00Z"));
        assert_eq!(a.next_after(s), Some(s + chrono::Duration::seconds(900)));
        assert_eq!(a.latest_at_or_before(s), Some(s));
        assert_eq!(
            a.count_between(s, s + chrono::Duration::seconds(3 * 900)),
            3
        );
        assert_eq!(a.count_between(s, s), 0);
    }

    #[test]
    fn cron_in_a_time_zone() {
        let cron = croner::Cron::new("0 9 * * *")
            .with_seconds_optional()
            .parse()
            .expect("cron");
        let spec = ScheduleSpec::Cron {
            expr: "0 9 * * *".into(),
            cron: Box::new(cron),
            timezone: chrono_tz::Europe::Berlin,
        };
        let s = Slots::new("m", &spec);
        // 09:00 in Berlin is 08:00 UTC in winter.
        assert_eq!(
            s.next_after(t("2026-12-01T07:00:00Z")),
            Some(t("2026-12-01T08:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(t("2026-12-03T07:00:00Z")),
            Some(t("2026-12-02T08:00:00Z"))
        );
        assert_eq!(
            s.count_between(t("2026-12-01T00:00:00Z"), t("2026-12-04T00:00:00Z")),
            3
        );
    }
}
