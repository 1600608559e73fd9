//! Evaluation of a measured value against its explicit checks.

use crate::expr::{Check, Op};
use crate::verdict::{Expected, Status};

/// The outcome for one measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: Status,
    pub expected: Option<Expected>,
    pub message: String,
}

/// Applies every check (with the text it was written as) to `value`. `None` when no check is given.
/// The verdict passes only when every check holds; the message names the checks that failed.
pub fn apply_checks(value: f64, checks: &[(&Check, &str)]) -> Option<Verdict> {
    if checks.is_empty() {
        return None;
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(c, _)| !c.holds(value))
        .map(|(_, text)| *text)
        .collect();
    let expected = expected_from_checks(checks.iter().map(|(c, _)| *c));
    let verdict = if failed.is_empty() {
        let texts: Vec<&str> = checks.iter().map(|(_, t)| *t).collect();
        Verdict {
            status: Status::Pass,
            expected,
            message: format!("{} holds", texts.join(", ")),
        }
    } else {
        Verdict {
            status: Status::Fail,
            expected,
            message: format!(
                "{} failed (value {})",
                failed.join(", "),
                format_value(value)
            ),
        }
    };
    Some(verdict)
}

/// The band the checks allow, intersected; `None` when they put no bound (only `!=`).
pub fn expected_from_checks<'a>(checks: impl IntoIterator<Item = &'a Check>) -> Option<Expected> {
    let mut band = Expected {
        lower: None,
        upper: None,
    };
    for c in checks {
        let t = c.threshold;
        match c.op {
            Op::Lt | Op::Le => band.upper = Some(band.upper.map_or(t, |u| u.min(t))),
            Op::Gt | Op::Ge => band.lower = Some(band.lower.map_or(t, |l| l.max(t))),
            Op::Eq => {
                band.upper = Some(band.upper.map_or(t, |u| u.min(t)));
                band.lower = Some(band.lower.map_or(t, |l| l.max(t)));
            }
            Op::Ne => {}
        }
    }
    (band.lower.is_some() || band.upper.is_some()).then_some(band)
}

/// A value for messages: integers without a fraction, other values with at most four decimals.
pub fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metric;

    fn check(metric: Metric, op: Op, threshold: f64) -> Check {
        Check {
            metric,
            column: None,
            op,
            threshold,
        }
    }

    #[test]
    fn all_checks_must_hold() {
        let gt = check(Metric::RowCount, Op::Gt, 0.0);
        let lt = check(Metric::RowCount, Op::Lt, 100.0);
        let v = apply_checks(5.0, &[(&gt, "row_count > 0"), (&lt, "row_count < 100")]).unwrap();
        assert_eq!(v.status, Status::Pass);
        assert_eq!(
            v.expected,
            Some(Expected {
                lower: Some(0.0),
                upper: Some(100.0)
            })
        );
        let v = apply_checks(500.0, &[(&gt, "row_count > 0"), (&lt, "row_count < 100")]).unwrap();
        assert_eq!(v.status, Status::Fail);
        assert_eq!(v.message, "row_count < 100 failed (value 500)");
        assert!(apply_checks(1.0, &[]).is_none());
    }

    #[test]
    fn equality_pins_both_sides_and_not_equal_gives_no_band() {
        let eq = check(Metric::DuplicateCount, Op::Eq, 0.0);
        assert_eq!(
            expected_from_checks([&eq]),
            Some(Expected {
                lower: Some(0.0),
                upper: Some(0.0)
            })
        );
        let ne = check(Metric::DuplicateCount, Op::Ne, 0.0);
        assert_eq!(expected_from_checks([&ne]), None);
    }

    #[test]
    fn values_print_short() {
        assert_eq!(format_value(12.0), "12");
        assert_eq!(format_value(10800.928983), "10800.929");
        assert_eq!(format_value(0.0045), "0.0045");
    }

    #[test]
    fn nan_fails() {
        let gt = check(Metric::RowCount, Op::Gt, 0.0);
        assert_eq!(
            apply_checks(f64::NAN, &[(&gt, "row_count > 0")])
                .unwrap()
                .status,
            Status::Fail
        );
    }
}
