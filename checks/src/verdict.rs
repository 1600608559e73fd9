//! Verdicts: the status of one measurement and the band it was expected in.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Outcome of one measurement. The string forms are part of the public output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// An explicit check held, or the value sits inside its learned band.
    Pass,
    /// An explicit check did not hold.
    Fail,
    /// Outside the learned band, or schema drift.
    Anomaly,
    /// Not enough history for a band yet.
    Learning,
    /// The measurement could not be taken.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Anomaly => "anomaly",
            Status::Learning => "learning",
            Status::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Pass,
            Status::Fail,
            Status::Anomaly,
            Status::Learning,
            Status::Error,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Whether this status makes `scan` exit non-zero.
    pub fn is_problem(self) -> bool {
        matches!(self, Status::Fail | Status::Anomaly | Status::Error)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The band a value was expected in; an open side is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Expected {
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

impl Expected {
    pub fn contains(&self, v: f64) -> bool {
        self.lower.is_none_or(|l| v >= l) && self.upper.is_none_or(|u| v <= u)
    }
}
