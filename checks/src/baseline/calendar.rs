//! The local calendar a detector's seasonality and load schedule live in: an IANA time zone (via
//! `chrono-tz`, so DST moves a daily pattern with the wall clock) and explicit holiday dates, which
//! count as Sundays.
//!
//! Pure: the zone rules are compiled in; time is always an argument.

use chrono::{Offset, TimeZone};

pub use chrono_tz::Tz;

const DAY: i64 = 86_400;
/// Holidays a calendar holds (explicit dates; a year of public holidays is about a dozen).
pub const MAX_HOLIDAYS: usize = 64;

/// A monitor's calendar: `Copy`, so it rides along in [`super::Params`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    tz: Tz,
    /// Local days (days since 1970-01-01 in the zone), sorted; only the first `len` are used.
    holidays: [i32; MAX_HOLIDAYS],
    len: u8,
}

impl Default for Calendar {
    fn default() -> Calendar {
        Calendar::utc()
    }
}

/// A holiday list longer than [`MAX_HOLIDAYS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at most {MAX_HOLIDAYS} holidays per calendar, found {0}")]
pub struct TooManyHolidays(pub usize);

impl Calendar {
    pub fn utc() -> Calendar {
        Calendar::new(Tz::UTC)
    }

    pub fn new(tz: Tz) -> Calendar {
        Calendar {
            tz,
            holidays: [0; MAX_HOLIDAYS],
            len: 0,
        }
    }

    /// The calendar with these local dates as holidays.
    pub fn with_holidays(
        mut self,
        dates: impl IntoIterator<Item = chrono::NaiveDate>,
    ) -> Result<Calendar, TooManyHolidays> {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let mut days: Vec<i32> = dates
            .into_iter()
            .map(|d| (d - epoch).num_days() as i32)
            .collect();
        days.sort_unstable();
        days.dedup();
        if days.len() > MAX_HOLIDAYS {
            return Err(TooManyHolidays(days.len()));
        }
        self.len = days.len() as u8;
        self.holidays[..days.len()].copy_from_slice(&days);
        Ok(self)
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn holidays(&self) -> &[i32] {
        &self.holidays[..self.len as usize]
    }

    /// Whether this calendar is plain UTC without holidays (every local computation is the identity).
    pub fn is_plain_utc(&self) -> bool {
        self.tz == Tz::UTC && self.len == 0
    }

    /// Seconds the zone is ahead of UTC at `ts`.
    pub fn offset(&self, ts: i64) -> i64 {
        if self.tz == Tz::UTC {
            return 0;
        }
        match chrono::DateTime::from_timestamp(ts, 0) {
            Some(dt) => i64::from(
                self.tz
                    .offset_from_utc_datetime(&dt.naive_utc())
                    .fix()
                    .local_minus_utc(),
            ),
            None => 0,
        }
    }

    /// The position of `ts` on the seasonal clock: local wall-clock seconds since the local epoch,
    /// with a holiday moved to the Sunday before it (same time of day), so a weekly pattern treats it
    /// like a Sunday. `offset` is [`Calendar::offset`] at `ts` (callers cache it).
    pub fn seasonal_seconds(&self, ts: i64, offset: i64) -> i64 {
        let local = ts + offset;
        if self.len == 0 {
            return local;
        }
        let day = local.div_euclid(DAY);
        if self.holidays().binary_search(&(day as i32)).is_ok() {
            let sunday = day - weekday_of_day(day) as i64;
            sunday * DAY + local.rem_euclid(DAY)
        } else {
            local
        }
    }
}

/// Weekday of day `day` since 1970-01-01, Sunday = 0 (1970-01-04, day 3, was a Sunday).
pub(crate) fn weekday_of_day(day: i64) -> usize {
    (day - 3).rem_euclid(7) as usize
}

/// A one-hour cache of a zone's offset: zone transitions fall on whole hours in every zone a monitor
/// is likely to use, so the offset is looked up once per hour of timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetCache {
    hour: i64,
    offset: i64,
}

impl Default for OffsetCache {
    fn default() -> OffsetCache {
        OffsetCache {
            hour: i64::MIN,
            offset: 0,
        }
    }
}

impl OffsetCache {
    /// The offset at `ts`, from the cache when `ts` is in the cached hour.
    pub fn get(&self, cal: &Calendar, ts: i64) -> i64 {
        if ts.div_euclid(3_600) == self.hour {
            self.offset
        } else {
            cal.offset(ts)
        }
    }

    /// The offset at `ts`, remembered for its hour.
    pub fn update(&mut self, cal: &Calendar, ts: i64) -> i64 {
        let hour = ts.div_euclid(3_600);
        if hour != self.hour {
            self.hour = hour;
            self.offset = cal.offset(ts);
        }
        self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_dst_and_holidays_are_sundays() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let cal = Calendar::new(berlin);
        // 2024-03-31 01:00 UTC: clocks go from 02:00 CET to 03:00 CEST.
        let change = 1_711_846_800;
        assert_eq!(cal.offset(change - 1), 3_600);
        assert_eq!(cal.offset(change), 7_200);
        let day = chrono::NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        let cal = cal.with_holidays([day]).unwrap();
        // 2024-05-01 is a Wednesday; at 10:00 local it sits on Sunday 2024-04-28 10:00.
        let ts = 1_714_550_400; // 2024-05-01 08:00 UTC = 10:00 CEST
        let s = cal.seasonal_seconds(ts, cal.offset(ts));
        assert_eq!(s.rem_euclid(DAY), 10 * 3_600);
        assert_eq!((s.div_euclid(DAY) - 3).rem_euclid(7), 0);
        assert_eq!(
            Calendar::utc().seasonal_seconds(ts, 0),
            ts,
            "plain UTC is the identity"
        );
    }

    #[test]
    fn the_cache_agrees_with_the_zone() {
        let cal = Calendar::new("America/New_York".parse().unwrap());
        let mut c = OffsetCache::default();
        for ts in (1_710_000_000..1_710_200_000).step_by(900) {
            assert_eq!(c.update(&cal, ts), cal.offset(ts));
        }
    }
}
