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

/// Which side of a learned band counts as an anomaly. The string forms are the config spelling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Too low and too high are both anomalies.
    #[default]
    Both,
    /// Only a value above the band is an anomaly.
    Up,
    /// Only a value below the band is an anomaly.
    Down,
}

impl Direction {
    pub const ALL: [Direction; 3] = [Direction::Both, Direction::Up, Direction::Down];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Both => "both",
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        Direction::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The part of a signed deviation (value minus prediction) that counts in this direction.
    pub fn signed(self, deviation: f64) -> f64 {
        match self {
            Direction::Both => deviation.abs(),
            Direction::Up => deviation.max(0.0),
            Direction::Down => (-deviation).max(0.0),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_names_round_trip() {
        for d in Direction::ALL {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
        }
        assert_eq!(Direction::parse("sideways"), None);
        assert_eq!(Direction::default(), Direction::Both);
    }
}
