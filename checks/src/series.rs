//! Series identity: which monitor, which metric, measured over what.
//!
//! A [`SeriesKey`] names one time series everywhere: the state store keys measurements and buckets by it,
//! baselines replay its history, alerts fingerprint it and `/metrics` turns it into labels. The public
//! output keeps the foundation's flat form (`column` is the column, field path or consumer group, or the
//! key columns joined by `,`): [`Target::label`] is that form and [`Target::from_label`] reads it back.

use crate::Metric;
use std::fmt;

/// What a metric is measured over.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Target {
    /// The whole table or stream (`row_count`, `volume`, `freshness_seconds`, `schema`).
    #[default]
    Table,
    /// One column, payload field path (`user.email`) or other named part (a consumer group).
    Column(String),
    /// The key columns of a uniqueness metric (`duplicate_count(a, b)`), in configured order.
    Key(Vec<String>),
}

impl Target {
    /// The flat form used in output, config checks and the store's `column_name`: `None` for the table,
    /// the column name, or the key columns joined by `,`.
    pub fn label(&self) -> Option<String> {
        match self {
            Target::Table => None,
            Target::Column(c) => Some(c.clone()),
            Target::Key(k) => Some(k.join(",")),
        }
    }

    /// Reads a flat label back for `metric`: key metrics split at `,`, column metrics keep it whole.
    pub fn from_label(metric: Metric, label: Option<&str>) -> Target {
        match label {
            None => Target::Table,
            Some(l) if metric.is_key_metric() => {
                Target::Key(l.split(',').map(|s| s.trim().to_string()).collect())
            }
            Some(l) => Target::Column(l.to_string()),
        }
    }

    /// The column (or joined key) as a borrowed label, when it is a single column.
    pub fn column(&self) -> Option<&str> {
        match self {
            Target::Column(c) => Some(c),
            _ => None,
        }
    }
}

/// One series: a monitor's metric over a target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub monitor: String,
    pub metric: Metric,
    pub target: Target,
}

impl SeriesKey {
    pub fn new(monitor: impl Into<String>, metric: Metric, target: Target) -> SeriesKey {
        SeriesKey {
            monitor: monitor.into(),
            metric,
            target,
        }
    }

    /// A table-level series.
    pub fn table(monitor: impl Into<String>, metric: Metric) -> SeriesKey {
        SeriesKey::new(monitor, metric, Target::Table)
    }

    /// The same monitor and target with another metric (e.g. the `newest_row` series beside `volume`).
    pub fn with_metric(&self, metric: Metric) -> SeriesKey {
        SeriesKey {
            metric,
            ..self.clone()
        }
    }

    /// The column label of the series (see [`Target::label`]).
    pub fn label(&self) -> Option<String> {
        self.target.label()
    }

    /// A stable identity string: `monitor/metric/label` with `/` and `%` in parts percent-escaped, so
    /// two different keys never share one. Alerts use it as the dedup key.
    pub fn fingerprint(&self) -> String {
        fn esc(s: &str) -> String {
            s.replace('%', "%25").replace('/', "%2F")
        }
        format!(
            "{}/{}/{}",
            esc(&self.monitor),
            self.metric.as_str(),
            esc(&self.label().unwrap_or_default())
        )
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.label() {
            Some(l) => write!(f, "{} {}({})", self.monitor, self.metric, l),
            None => write!(f, "{} {}", self.monitor, self.metric),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_per_metric_kind() {
        let key = Target::Key(vec!["a".into(), "b".into()]);
        assert_eq!(key.label().as_deref(), Some("a,b"));
        assert_eq!(Target::from_label(Metric::DuplicateCount, Some("a,b")), key);
        // A column metric keeps a comma inside a (quoted) column name whole.
        assert_eq!(
            Target::from_label(Metric::NullRate, Some("a,b")),
            Target::Column("a,b".into())
        );
        assert_eq!(Target::from_label(Metric::RowCount, None), Target::Table);
    }

    #[test]
    fn fingerprints_tell_apart_keys_that_join_alike() {
        let a = SeriesKey::new("m/x", Metric::NullRate, Target::Column("c".into()));
        let b = SeriesKey::new("m", Metric::NullRate, Target::Column("x/c".into()));
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), "m%2Fx/null_rate/c");
        assert_eq!(
            SeriesKey::table("m", Metric::Volume).fingerprint(),
            "m/volume/"
        );
    }
}
