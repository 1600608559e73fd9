//! Check expressions: `metric(column) op value`, e.g. `null_rate(email) < 1%`, `freshness < 2h`.

use crate::metric::Metric;
use std::fmt;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "=",
            Op::Ne => "!=",
        }
    }

    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
            Op::Eq => left == right,
            Op::Ne => left != right,
        }
    }
}

/// A parsed check. `column` is `None` for table metrics and the key columns joined by "," for duplicate
/// metrics, matching [`crate::Observation::column`]. `threshold` is in the metric's own unit: seconds for
/// durations, a fraction for percentages.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub metric: Metric,
    pub column: Option<String>,
    pub op: Op,
    pub threshold: f64,
}

impl Check {
    /// Whether the check holds for a measured value. NaN never holds.
    pub fn holds(&self, value: f64) -> bool {
        self.op.holds(value, self.threshold)
    }

    /// Whether this check applies to an observation of `metric` on `column`.
    pub fn applies_to(&self, metric: Metric, column: Option<&str>) -> bool {
        self.metric == metric && self.column.as_deref() == column
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(
                f,
                "{}({}) {} {}",
                self.metric,
                c,
                self.op.as_str(),
                self.threshold
            ),
            None => write!(f, "{} {} {}", self.metric, self.op.as_str(), self.threshold),
        }
    }
}
