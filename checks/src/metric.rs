//! Metric names and observations.

use std::fmt;

/// A metric Tidewatch measures. The string forms are part of the public output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Rows in the table.
    RowCount,
    /// Source clock now minus the newest value of the timestamp column, in seconds.
    FreshnessSeconds,
    /// NULLs in a column.
    NullCount,
    /// NULLs in a column divided by rows (0 on an empty table).
    NullRate,
    /// Rows minus distinct keys (NULL keys included as rows).
    DuplicateCount,
    /// Duplicate count divided by rows.
    DuplicateRate,
    /// Duplicates of a key among the new rows only: the rows an incremental scan reads (timestamp at
    /// or after the first bucket it counts, lateness included), minus their distinct keys. A retried
    /// load shows here on the scan after it lands, long before the next full profile's
    /// `duplicate_count`.
    NewDuplicateCount,
    /// Distinct non-NULL values in a column.
    DistinctCount,
    /// Minimum of a numeric column.
    Min,
    /// Maximum of a numeric column.
    Max,
    /// Mean of a numeric column.
    Mean,
    /// Number of columns; the column list travels beside it.
    Schema,
    /// Rows per time bucket of the timestamp column.
    Volume,
    /// NULLs in a column divided by rows, over the rows of one time bucket (the last complete one):
    /// recent data, which the table-wide `null_rate` dilutes.
    BucketNullRate,
    /// Internal bucket series (never a check or an output row): the newest timestamp per volume bucket in
    /// unix seconds, the table's own load history from which freshness learns its cadence on a first scan.
    NewestRow,
    /// Messages retained by a topic or stream (Kafka: sum of high minus low watermarks).
    MessageCount,
    /// Messages a consumer group (or NATS consumer) has not consumed yet; column = group.
    ConsumerLag,
    /// Age of the oldest message a consumer group has not consumed, in seconds; column = group.
    ConsumerLagSeconds,
    /// Sampled messages whose payload could not be decoded, divided by sampled messages.
    ParseErrorRate,
    /// Sampled messages whose event time is older than their broker time minus the grace, divided by
    /// sampled messages with an event time.
    LateRate,
    /// |stream - table| / stream per complete event-time bucket (the largest gap of the judged buckets).
    ReconcileGap,
    /// The catalog's row estimate of a table (metadata tier, no scan: PostgreSQL `pg_class.reltuples`,
    /// MySQL/MariaDB `TABLES.TABLE_ROWS`, Snowflake `ROW_COUNT`).
    RowEstimate,
    /// Bytes a table takes with its indexes and TOAST, as the catalog says (metadata tier).
    SizeBytes,
    /// Rows inserted since the previous metadata cycle: the delta of the catalog's insert counter
    /// (PostgreSQL `pg_stat_user_tables.n_tup_ins`). Absent where the catalog keeps no counter.
    RowsInserted,
    /// Seconds since the table last changed (metadata tier): since the catalog's last-change time
    /// (MySQL/MariaDB `UPDATE_TIME`, Snowflake `LAST_ALTERED`) or, from change counters, since the
    /// first cycle that saw them move.
    LastChangeAgeSeconds,
}

impl Metric {
    /// Every metric, in output order.
    pub const ALL: [Metric; 24] = [
        Metric::RowCount,
        Metric::MessageCount,
        Metric::Volume,
        Metric::FreshnessSeconds,
        Metric::Schema,
        Metric::DuplicateCount,
        Metric::DuplicateRate,
        Metric::NewDuplicateCount,
        Metric::NullCount,
        Metric::NullRate,
        Metric::BucketNullRate,
        Metric::DistinctCount,
        Metric::Min,
        Metric::Max,
        Metric::Mean,
        Metric::ConsumerLag,
        Metric::ConsumerLagSeconds,
        Metric::ParseErrorRate,
        Metric::LateRate,
        Metric::ReconcileGap,
        Metric::RowEstimate,
        Metric::SizeBytes,
        Metric::RowsInserted,
        Metric::LastChangeAgeSeconds,
    ];

    /// The name used in config, output and the state store.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::RowCount => "row_count",
            Metric::FreshnessSeconds => "freshness_seconds",
            Metric::NullCount => "null_count",
            Metric::NullRate => "null_rate",
            Metric::DuplicateCount => "duplicate_count",
            Metric::DuplicateRate => "duplicate_rate",
            Metric::NewDuplicateCount => "new_duplicate_count",
            Metric::DistinctCount => "distinct_count",
            Metric::Min => "min",
            Metric::Max => "max",
            Metric::Mean => "mean",
            Metric::Schema => "schema",
            Metric::Volume => "volume",
            Metric::BucketNullRate => "bucket_null_rate",
            Metric::NewestRow => "newest_row",
            Metric::MessageCount => "message_count",
            Metric::ConsumerLag => "consumer_lag",
            Metric::ConsumerLagSeconds => "consumer_lag_seconds",
            Metric::ParseErrorRate => "parse_error_rate",
            Metric::LateRate => "late_rate",
            Metric::ReconcileGap => "reconcile_gap",
            Metric::RowEstimate => "row_estimate",
            Metric::SizeBytes => "size_bytes",
            Metric::RowsInserted => "rows_inserted",
            Metric::LastChangeAgeSeconds => "last_change_age_seconds",
        }
    }

    /// Parses a metric name; `freshness` is accepted as a short form of `freshness_seconds`. Internal
    /// series (`newest_row`) do not parse: they are not metrics a user can name.
    pub fn parse(s: &str) -> Option<Metric> {
        if s == "freshness" {
            return Some(Metric::FreshnessSeconds);
        }
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Parses a stored series name: every metric, and the internal bucket series.
    pub fn parse_stored(s: &str) -> Option<Metric> {
        if s == Metric::NewestRow.as_str() {
            return Some(Metric::NewestRow);
        }
        Metric::parse(s)
    }

    /// Whether the metric is measured per column (`null_rate(email)`) rather than per table.
    pub fn is_column_metric(self) -> bool {
        matches!(
            self,
            Metric::NullCount
                | Metric::NullRate
                | Metric::BucketNullRate
                | Metric::DistinctCount
                | Metric::Min
                | Metric::Max
                | Metric::Mean
                | Metric::ConsumerLag
                | Metric::ConsumerLagSeconds
        )
    }

    /// Whether the metric takes the key columns as its argument (`duplicate_count(id)`).
    pub fn is_key_metric(self) -> bool {
        matches!(
            self,
            Metric::DuplicateCount | Metric::DuplicateRate | Metric::NewDuplicateCount
        )
    }

    /// Whether the value is a duration in seconds (check thresholds may be written as `2h`).
    pub fn is_duration(self) -> bool {
        matches!(
            self,
            Metric::FreshnessSeconds | Metric::ConsumerLagSeconds | Metric::LastChangeAgeSeconds
        )
    }

    /// Whether the metric comes from the catalog's statistics (the metadata tier of `discover:`
    /// monitors), without reading the table.
    pub fn is_metadata(self) -> bool {
        matches!(
            self,
            Metric::RowEstimate
                | Metric::SizeBytes
                | Metric::RowsInserted
                | Metric::LastChangeAgeSeconds
        )
    }

    /// Whether the value is a ratio in [0, 1] (check thresholds may be written as `1%`).
    pub fn is_ratio(self) -> bool {
        matches!(
            self,
            Metric::NullRate
                | Metric::DuplicateRate
                | Metric::BucketNullRate
                | Metric::ParseErrorRate
                | Metric::LateRate
                | Metric::ReconcileGap
        )
    }

    /// Whether the metric is measured from the timestamp column (the monitor needs one).
    pub fn needs_timestamp(self) -> bool {
        matches!(
            self,
            Metric::FreshnessSeconds
                | Metric::Volume
                | Metric::BucketNullRate
                | Metric::NewDuplicateCount
        )
    }

    /// Whether the metric is a series of time buckets (stored per bucket, backfilled on the first scan).
    pub fn is_bucketed(self) -> bool {
        matches!(
            self,
            Metric::Volume | Metric::BucketNullRate | Metric::NewestRow
        )
    }
}

impl serde::Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One measured value of one metric over its target (the table, a column or field path, or the key
/// columns of a uniqueness metric).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub metric: Metric,
    pub target: crate::Target,
    pub value: f64,
}

impl Observation {
    pub fn table(metric: Metric, value: f64) -> Self {
        Observation {
            metric,
            target: crate::Target::Table,
            value,
        }
    }

    pub fn column(metric: Metric, column: impl Into<String>, value: f64) -> Self {
        Observation {
            metric,
            target: crate::Target::Column(column.into()),
            value,
        }
    }

    /// A uniqueness metric over the key columns, in configured order.
    pub fn key(metric: Metric, key: Vec<String>, value: f64) -> Self {
        Observation {
            metric,
            target: crate::Target::Key(key),
            value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.as_str()), Some(m));
        }
        assert_eq!(Metric::parse("freshness"), Some(Metric::FreshnessSeconds));
        assert_eq!(Metric::parse("rows"), None);
    }

    #[test]
    fn metadata_metrics_parse_as_checks() {
        let c = crate::expr::parse("row_estimate > 0").unwrap();
        assert_eq!(c.metric, Metric::RowEstimate);
        let c = crate::expr::parse("last_change_age_seconds < 1d").unwrap();
        assert_eq!(c.metric, Metric::LastChangeAgeSeconds);
        assert!(c.metric.is_duration() && c.metric.is_metadata());
        assert!(crate::expr::parse("size_bytes < 1000000").is_ok());
        assert!(crate::expr::parse("rows_inserted > 0").is_ok());
    }
}
