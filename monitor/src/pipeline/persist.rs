//! Persisting one monitor's scan: its measurements, its buckets and (when it changed) its schema go to
//! the state store in ONE transaction, so a failure never leaves a new schema snapshot without the
//! measurements that report the drift.

use crate::config::Monitor;
use crate::store::{BucketRecord, MeasurementRecord, MonitorWrite};
use checks::{BucketCounts, Column, Metric, ResultRow, SeriesKey, Target};
use chrono::{DateTime, Utc};

/// The per-bucket series of a profile's counts: rows per bucket (empty buckets as zeros), the newest
/// timestamp per bucket, and the NULL rate per bucketed column (buckets with rows only). Returns the
/// records and the last complete bucket with its row count.
pub fn bucket_records(
    monitor: &Monitor,
    counts: &BucketCounts,
    now: DateTime<Utc>,
) -> (Vec<BucketRecord>, Option<(i64, f64)>) {
    let w = counts.window;
    let rows: Vec<(i64, f64)> = counts.counted.iter().map(|c| (c.start, c.rows)).collect();
    let filled = w.fill(&rows);
    let record = |key: SeriesKey, (b, value): (i64, f64)| {
        Some(BucketRecord {
            key,
            bucket_start: DateTime::from_timestamp(b, 0)?,
            bucket_seconds: w.bucket,
            value,
            observed_at: now,
        })
    };
    let volume = SeriesKey::table(monitor.name.clone(), Metric::Volume);
    let newest = volume.with_metric(Metric::NewestRow);
    let mut out: Vec<BucketRecord> = filled
        .iter()
        .filter_map(|bn| record(volume.clone(), *bn))
        .chain(
            counts
                .counted
                .iter()
                .filter_map(|c| record(newest.clone(), (c.start, c.newest? as f64))),
        )
        .collect();
    for (i, column) in counts.columns.iter().enumerate() {
        let key = SeriesKey::new(
            monitor.name.clone(),
            Metric::BucketNullRate,
            Target::Column(column.clone()),
        );
        for c in &counts.counted {
            if let Some(rate) = c.null_rate(i) {
                out.extend(record(key.clone(), (c.start, rate)));
            }
        }
    }
    (out, filled.last().copied())
}

/// One measurement row as stored.
pub fn measurement(run_id: i64, now: DateTime<Utc>, r: &ResultRow) -> MeasurementRecord {
    MeasurementRecord {
        run_id,
        key: r.key(),
        source: r.source.clone(),
        dataset: r.dataset.clone(),
        value: r.value,
        status: r.status,
        lower: r.expected.and_then(|e| e.lower),
        upper: r.expected.and_then(|e| e.upper),
        message: r.message.clone(),
        details: r.details.clone(),
        observed_at: now,
        score: r.score,
    }
}

/// Everything one monitor's scan writes. The schema snapshot is included on the first scan and
/// whenever the schema changed.
pub fn monitor_write(
    run_id: i64,
    monitor: &Monitor,
    now: DateTime<Utc>,
    rows: &[ResultRow],
    buckets: Vec<BucketRecord>,
    schema: Option<&[Column]>,
    previous: Option<&[Column]>,
) -> MonitorWrite {
    let changed_schema = schema.and_then(|s| checks::next_snapshot(previous, s));
    MonitorWrite {
        run_id,
        monitor: monitor.name.clone(),
        dataset: monitor.dataset.clone(),
        observed_at: now,
        measurements: rows.iter().map(|r| measurement(run_id, now, r)).collect(),
        buckets,
        schema: changed_schema,
        problems: rows.iter().filter(|r| r.status.is_problem()).count() as i64,
    }
}
