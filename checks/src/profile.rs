//! What a source returns for one monitor: the `Source` contract's answer, the same shape for tables
//! and streams.

use crate::window::BucketCounts;
use crate::{Column, Metric, Observation, Target};

/// One measurement of a monitor by its source: the schema (columns of a table, fields of a payload),
/// the observations, the per-bucket counts and what could not be measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    /// Every column or field with its type as the source reports it; `None` when it could not be read.
    pub schema: Option<Vec<Column>>,
    pub observations: Vec<Observation>,
    /// Counts per bucket of the requested window, when the monitor has a time field.
    pub buckets: Option<BucketCounts>,
    pub failures: Vec<Failure>,
    /// Notes on what was deliberately not measured (e.g. distinct counts of a `json` column), by
    /// target; they travel into the result's `details.not_measured`.
    pub skipped: Vec<Skipped>,
    /// Structure that travels with an observation into its result's `details` (e.g. an estimated
    /// distinct count's `{"approximate": true, "method": ...}`, or the buckets a reconciliation found
    /// disagreeing); merged into that row's `details`.
    pub details: Vec<Detail>,
    /// Set when the source measured only new data (an incremental profile): table-wide metrics are
    /// absent by design, so checks on them are not judged this time (no `error` row). The text says
    /// what was measured.
    pub partial: Option<String>,
}

/// Details of one observation, by metric and target.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub metric: Metric,
    pub target: Target,
    pub value: serde_json::Value,
}

/// A measurement that could not be taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub metric: Metric,
    pub target: Target,
    pub message: String,
    /// Nothing of the dataset could be measured (connection, catalog or profile statement failed).
    pub whole: bool,
}

/// Metrics of one target left out on purpose, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub target: Target,
    pub metrics: Vec<Metric>,
    pub reason: String,
}

impl Failure {
    /// A failure of the whole dataset.
    pub fn whole(message: impl Into<String>) -> Failure {
        Failure {
            metric: Metric::RowCount,
            target: Target::Table,
            message: message.into(),
            whole: true,
        }
    }

    /// Whether this failure is the reason a check found nothing to judge.
    pub fn covers(&self, check: &crate::expr::Check) -> bool {
        self.whole
            || match &self.target {
                Target::Table => check.metric == self.metric,
                t => check.column == t.label(),
            }
    }
}

impl Profile {
    /// A profile of which nothing could be measured.
    pub fn whole_failure(message: impl Into<String>) -> Profile {
        Profile {
            failures: vec![Failure::whole(message)],
            ..Profile::default()
        }
    }
}
