//! A monitor's calendar keys: `timezone:` (an IANA name, default UTC) and `holidays:` (explicit local
//! dates, `YYYY-MM-DD`, one or a list). The learned baselines keep their daily and weekly patterns
//! and load schedules on that local clock (DST included) and treat a holiday like a Sunday.

use super::{start_of_mapping, Walker};
use checks::baseline::calendar::Tz;
use checks::baseline::Calendar;
use marked_yaml::types::MarkedMappingNode;

impl Walker<'_> {
    /// The calendar of a monitor mapping; `None` after reporting every problem.
    pub(super) fn calendar(&mut self, map: &MarkedMappingNode) -> Option<Calendar> {
        let tz = match self.optional(map, "timezone") {
            Some(n) => self.string(n, "timezone").and_then(|s| {
                match s.value.trim().parse::<Tz>() {
                    Ok(tz) => Some(tz),
                    Err(_) => {
                        self.error(
                            s.node.span(),
                            format!(
                                "unknown time zone \"{}\" (expected an IANA name such as Europe/Berlin or UTC)",
                                s.value
                            ),
                        );
                        None
                    }
                }
            }),
            None => Some(Tz::UTC),
        };
        let holidays = match self.optional(map, "holidays") {
            Some(n) => self.string_list(n, "holidays").and_then(|items| {
                let mut out = Vec::new();
                let mut ok = true;
                for s in items {
                    match chrono::NaiveDate::parse_from_str(s.value.trim(), "%Y-%m-%d") {
                        Ok(d) => out.push(d),
                        Err(_) => {
                            self.error(
                                s.node.span(),
                                format!(
                                    "a holiday must be a date such as 2026-12-25, found \"{}\"",
                                    s.value
                                ),
                            );
                            ok = false;
                        }
                    }
                }
                ok.then_some(out)
            }),
            None => Some(Vec::new()),
        };
        match Calendar::new(tz?).with_holidays(holidays?) {
            Ok(c) => Some(c),
            Err(e) => {
                self.error(&start_of_mapping(map), e.to_string());
                None
            }
        }
    }
}
