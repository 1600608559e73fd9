//! The stored form of values, and the one place that checks a value before it is written: non-finite
//! floats, keys that would not read back as themselves, widths, limits and leases are refused here, so
//! both backends refuse exactly the same input and never half-write a batch.

use crate::{BucketRecord, Lease, MeasurementRecord, MonitorWrite, StoreError};
use checks::{Metric, SeriesKey, Target};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A [`SeriesKey`] in its stored columns: `metric` and `column_name` (`''` for the table).
#[derive(Debug)]
pub(crate) struct StoredKey<'a> {
    pub monitor: &'a str,
    pub metric: &'static str,
    pub column: String,
}

impl<'a> StoredKey<'a> {
    /// The stored form of `key`. A column or key list whose label is empty is refused: it would be
    /// stored as `''`, which is the table's series.
    ///
    /// The label is the series' identity: two keys with one label are one series. Reading back goes
    /// through [`Target::from_label`], which splits a key list at `,`, so a key column whose name
    /// holds `,` or outer spaces comes back split (its series is still found by the same key).
    pub fn of(key: &'a SeriesKey) -> Result<StoredKey<'a>, StoreError> {
        let column = key.label().unwrap_or_default();
        if key.target != Target::Table && column.is_empty() {
            return Err(StoreError::Invalid {
                what: "series key",
                reason: format!(
                    "{:?} of {} has an empty label (use Target::Table for table metrics)",
                    key.target, key.monitor
                ),
            });
        }
        Ok(StoredKey {
            monitor: &key.monitor,
            metric: key.metric.as_str(),
            column,
        })
    }
}

/// Reads a key back from its stored columns.
pub(crate) fn key_from_stored(
    backend: &'static str,
    monitor: String,
    metric: &str,
    column: &str,
) -> Result<SeriesKey, StoreError> {
    let metric = Metric::parse_stored(metric).ok_or_else(|| StoreError::Corrupt {
        backend,
        what: "metric name",
        reason: format!("unknown metric {metric:?}"),
    })?;
    let label = (!column.is_empty()).then_some(column);
    Ok(SeriesKey::new(
        monitor,
        metric,
        Target::from_label(metric, label),
    ))
}

/// The one check for floats: NaN and infinities cannot be stored.
fn finite(what: &'static str, v: Option<f64>) -> Result<(), StoreError> {
    match v {
        Some(x) if !x.is_finite() => Err(StoreError::Invalid {
            what,
            reason: format!("{x} cannot be stored, values must be finite"),
        }),
        _ => Ok(()),
    }
}

/// A measurement that passed the checks, with its stored forms.
#[derive(Debug)]
pub(crate) struct CheckedMeasurement<'a> {
    pub rec: &'a MeasurementRecord,
    pub key: StoredKey<'a>,
    pub details: Option<String>,
}

pub(crate) fn check_measurements(
    rows: &[MeasurementRecord],
) -> Result<Vec<CheckedMeasurement<'_>>, StoreError> {
    rows.iter()
        .map(|rec| {
            finite("measurement value", rec.value)?;
            finite("measurement lower bound", rec.lower)?;
            finite("measurement upper bound", rec.upper)?;
            finite("measurement score", rec.score)?;
            Ok(CheckedMeasurement {
                rec,
                key: StoredKey::of(&rec.key)?,
                // Serializing a `Value` cannot fail: its map keys are always strings.
                details: rec.details.as_ref().map(serde_json::Value::to_string),
            })
        })
        .collect()
}

/// A bucket that passed the checks, with its stored key.
#[derive(Debug)]
pub(crate) struct CheckedBucket<'a> {
    pub rec: &'a BucketRecord,
    pub key: StoredKey<'a>,
}

pub(crate) fn check_buckets(rows: &[BucketRecord]) -> Result<Vec<CheckedBucket<'_>>, StoreError> {
    rows.iter()
        .map(|rec| {
            finite("bucket value", Some(rec.value))?;
            check_bucket_seconds(rec.bucket_seconds)?;
            Ok(CheckedBucket {
                rec,
                key: StoredKey::of(&rec.key)?,
            })
        })
        .collect()
}

pub(crate) fn check_bucket_seconds(bucket_seconds: i64) -> Result<i64, StoreError> {
    if bucket_seconds <= 0 {
        return Err(StoreError::Invalid {
            what: "bucket width",
            reason: format!("{bucket_seconds} seconds is not positive"),
        });
    }
    Ok(bucket_seconds)
}

/// The LIMIT of a series read: `None` is no limit (`i64::MAX`, which both backends take).
pub(crate) fn check_limit(limit: Option<i64>) -> Result<i64, StoreError> {
    match limit {
        Some(n) if n < 0 => Err(StoreError::Invalid {
            what: "series limit",
            reason: format!("{n} is negative"),
        }),
        Some(n) => Ok(n),
        None => Ok(i64::MAX),
    }
}

/// A schema snapshot with its columns as JSON text.
#[derive(Debug)]
pub(crate) struct CheckedSnapshot<'a> {
    pub run_id: i64,
    pub monitor: &'a str,
    pub dataset: &'a str,
    pub observed_at: DateTime<Utc>,
    pub columns: String,
}

impl<'a> CheckedSnapshot<'a> {
    pub fn new(
        run_id: i64,
        monitor: &'a str,
        dataset: &'a str,
        observed_at: DateTime<Utc>,
        columns: &[checks::Column],
    ) -> Result<CheckedSnapshot<'a>, StoreError> {
        let columns = serde_json::to_string(columns).map_err(|e| StoreError::Invalid {
            what: "schema columns",
            reason: e.to_string(),
        })?;
        Ok(CheckedSnapshot {
            run_id,
            monitor,
            dataset,
            observed_at,
            columns,
        })
    }
}

/// A [`MonitorWrite`] whose every part passed the checks.
#[derive(Debug)]
pub(crate) struct CheckedWrite<'a> {
    pub run_id: i64,
    pub problems: i64,
    pub measurements: Vec<CheckedMeasurement<'a>>,
    pub buckets: Vec<CheckedBucket<'a>>,
    pub snapshot: Option<CheckedSnapshot<'a>>,
}

impl<'a> CheckedWrite<'a> {
    /// Checks every record, and that each belongs to the write's run and monitor.
    pub fn new(w: &'a MonitorWrite) -> Result<CheckedWrite<'a>, StoreError> {
        let foreign = |what: &str, monitor: &str, run_id: i64| StoreError::Invalid {
            what: "monitor write",
            reason: format!(
                "a {what} of monitor {monitor:?} in run {run_id} is not part of the write of \
                 monitor {:?} in run {}",
                w.monitor, w.run_id
            ),
        };
        for m in &w.measurements {
            if m.run_id != w.run_id || m.key.monitor != w.monitor {
                return Err(foreign("measurement", &m.key.monitor, m.run_id));
            }
        }
        if let Some(b) = w.buckets.iter().find(|b| b.key.monitor != w.monitor) {
            return Err(foreign("bucket", &b.key.monitor, w.run_id));
        }
        let snapshot = w
            .schema
            .as_deref()
            .map(|columns| {
                CheckedSnapshot::new(w.run_id, &w.monitor, &w.dataset, w.observed_at, columns)
            })
            .transpose()?;
        Ok(CheckedWrite {
            run_id: w.run_id,
            problems: w.problems,
            measurements: check_measurements(&w.measurements)?,
            buckets: check_buckets(&w.buckets)?,
            snapshot,
        })
    }
}

/// The lease `holder` asks for: live until `now + ttl`.
pub(crate) fn lease(
    monitor: &str,
    holder: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Lease, StoreError> {
    let invalid = |reason: String| StoreError::Invalid {
        what: "lease",
        reason,
    };
    if holder.is_empty() {
        return Err(invalid("empty holder".into()));
    }
    if ttl.is_zero() {
        return Err(invalid("ttl must be positive".into()));
    }
    let expires_at = chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .ok_or_else(|| invalid(format!("ttl of {} is out of range", show_duration(ttl))))?;
    Ok(Lease {
        monitor: monitor.to_string(),
        holder: holder.to_string(),
        expires_at,
    })
}

pub(crate) fn parse_status(backend: &'static str, s: &str) -> Result<checks::Status, StoreError> {
    checks::Status::parse(s).ok_or_else(|| StoreError::Corrupt {
        backend,
        what: "measurement status",
        reason: format!("unknown status {s:?}"),
    })
}

pub(crate) fn details_from_text(
    backend: &'static str,
    text: Option<String>,
) -> Result<Option<serde_json::Value>, StoreError> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Corrupt {
            backend,
            what: "measurement details",
            reason: e.to_string(),
        })
    })
    .transpose()
}

pub(crate) fn columns_from_text(
    backend: &'static str,
    text: &str,
) -> Result<Vec<checks::Column>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        backend,
        what: "schema columns",
        reason: e.to_string(),
    })
}

/// `60s`, or `250ms` below a whole second.
pub(crate) fn show_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(metric: Metric, target: Target) -> SeriesKey {
        SeriesKey::new("m", metric, target)
    }

    #[test]
    fn keys_read_back_as_themselves() {
        let ok = [
            key(Metric::RowCount, Target::Table),
            key(Metric::NullRate, Target::Column("a,b".into())),
            key(
                Metric::DuplicateCount,
                Target::Key(vec!["a".into(), "b".into()]),
            ),
            key(Metric::NewestRow, Target::Table),
        ];
        for k in &ok {
            let stored = StoredKey::of(k).expect("storable");
            let back = key_from_stored("sqlite", "m".into(), stored.metric, &stored.column)
                .expect("reads back");
            assert_eq!(&back, k);
        }
    }

    #[test]
    fn empty_labels_are_refused() {
        for k in [
            key(Metric::NullRate, Target::Column(String::new())),
            key(Metric::DuplicateCount, Target::Key(vec![])),
        ] {
            let err = StoredKey::of(&k).expect_err("empty label");
            assert!(
                matches!(
                    err,
                    StoreError::Invalid {
                        what: "series key",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn unknown_stored_metric_is_corrupt() {
        let err = key_from_stored("postgres", "m".into(), "rows", "").expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "corrupt metric name in postgres store: unknown metric \"rows\""
        );
    }

    #[test]
    fn non_finite_floats_are_refused_with_their_value() {
        for (v, shown) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            let err = finite("bucket value", Some(v)).expect_err("non-finite");
            assert_eq!(
                err.to_string(),
                format!("invalid bucket value: {shown} cannot be stored, values must be finite")
            );
        }
        finite("bucket value", Some(f64::MAX)).expect("finite");
        finite("bucket value", None).expect("absent");
    }

    #[test]
    fn durations_show_in_whole_units() {
        assert_eq!(show_duration(Duration::from_secs(60)), "60s");
        assert_eq!(show_duration(Duration::from_millis(250)), "250ms");
    }
}
