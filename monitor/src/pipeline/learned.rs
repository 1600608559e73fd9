//! Learned baselines in a scan: for every row a check did not decide, read its series' history from the
//! state store and let the series' detector (`checks::baseline`) say whether it is normal. The model and
//! the replay rules live in `checks::baseline`; this file only reads history.

use crate::config::Monitor;
use crate::store::{BucketRecord, Store, StoreError};
use checks::baseline::{replay, Params, ReplayPoint, SeriesKind};
use checks::window::reported_bucket;
use checks::{Metric, ResultRow, SeriesKey, Status};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Most points of per-scan history a detector replays.
const MAX_HISTORY: i64 = 5000;

/// The detector settings of a monitor for a kind of series.
pub fn params_for(monitor: &Monitor, kind: SeriesKind) -> Params {
    let mut p = Params::default_for(kind);
    p.sensitivity = monitor.sensitivity;
    p.calendar = monitor.calendar;
    // Freshness only ever alerts on data that is too old, whatever the monitor's direction; unset,
    // the kind's default holds (up for the shares of bad rows, both for the rest).
    if let Some(d) = monitor.direction.filter(|_| kind != SeriesKind::Freshness) {
        p.direction = d;
    }
    for (k, m) in &monitor.min_change {
        if *k == kind {
            m.apply(&mut p);
        }
    }
    p
}

/// Gives every `learning` row of a monitor its learned verdict. `volume_bucket` is the start of the
/// bucket the bucketed rows (`volume`, `bucket_null_rate`) count; `fresh` are the buckets this scan
/// counted, which are written only with the rest of the monitor's results (one transaction) and so are
/// not in the store yet: they overlay the stored buckets.
pub async fn apply(
    store: &Store,
    monitor: &Monitor,
    rows: &mut [ResultRow],
    now: DateTime<Utc>,
    volume_bucket: Option<i64>,
    fresh: &[BucketRecord],
) -> Result<(), StoreError> {
    let mut since = now - chrono::Duration::seconds(monitor.lookback.as_secs() as i64);
    if let Some(reset) = monitor.baseline_since {
        since = since.max(reset);
    }
    let bucket = (monitor.bucket.as_secs() as i64).max(1);
    for row in rows.iter_mut() {
        let (Status::Learning, Some(value)) = (row.status, row.value) else {
            continue;
        };
        let Some(kind) = SeriesKind::for_metric(row.metric) else {
            continue;
        };
        let params = params_for(monitor, kind);
        let key = row.key();
        // What earlier scans reported for this series, with their verdicts and feedback.
        let scanned = store.series(&key, Some(since), Some(MAX_HISTORY)).await?;
        let (history, current) = if row.metric.is_bucketed() {
            let Some(current_ts) = volume_bucket else {
                continue;
            };
            let verdicts: HashMap<i64, (bool, bool)> = scanned
                .into_iter()
                .map(|p| {
                    let b = reported_bucket(p.observed_at.timestamp(), bucket);
                    (b, (p.status == Status::Anomaly, p.expected_anomaly))
                })
                .collect();
            let history: Vec<ReplayPoint> = bucket_series(store, &key, bucket, since, fresh)
                .await?
                .into_iter()
                .filter(|(ts, _)| *ts < current_ts)
                .map(|(ts, value)| ReplayPoint {
                    ts,
                    value,
                    verdict: verdicts.get(&ts).copied(),
                })
                .collect();
            (history, (current_ts, value))
        } else {
            let mut history: Vec<ReplayPoint> = Vec::new();
            if row.metric == Metric::FreshnessSeconds {
                history = freshness_backfill(store, &key, bucket, since, now, fresh).await?;
            }
            history.extend(scanned.into_iter().filter_map(|p| {
                Some(ReplayPoint {
                    ts: p.observed_at.timestamp(),
                    value: p.value?,
                    verdict: Some((p.status == Status::Anomaly, p.expected_anomaly)),
                })
            }));
            history.sort_by_key(|p| p.ts);
            (history, (now.timestamp(), value))
        };
        let assessment = replay(kind, &params, &history, current);
        row.apply_assessment(&assessment, history.len(), &params);
    }
    Ok(())
}

/// The freshness saw-tooth as it was, rebuilt from the newest timestamp per volume bucket: at the end
/// of every bucket since the first one with rows, the age of the newest row so far. This is the warm
/// start of the freshness model: the first scan already knows the table's load cadence.
async fn freshness_backfill(
    store: &Store,
    freshness: &SeriesKey,
    bucket: i64,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    fresh: &[BucketRecord],
) -> Result<Vec<ReplayPoint>, StoreError> {
    let newest = freshness.with_metric(Metric::NewestRow);
    let newest_per_bucket: HashMap<i64, i64> = bucket_series(store, &newest, bucket, since, fresh)
        .await?
        .into_iter()
        .map(|(ts, v)| (ts, v as i64))
        .collect();
    Ok(saw_tooth(&newest_per_bucket, bucket, now.timestamp()))
}

/// A bucket series from `since`, oldest first: the stored buckets of `key` at this width, overlaid by
/// this scan's fresh counts of the same series.
async fn bucket_series(
    store: &Store,
    key: &SeriesKey,
    bucket: i64,
    since: DateTime<Utc>,
    fresh: &[BucketRecord],
) -> Result<Vec<(i64, f64)>, StoreError> {
    let mut by_start: std::collections::BTreeMap<i64, f64> = store
        .buckets(key, bucket, Some(since))
        .await?
        .into_iter()
        .map(|b| (b.bucket_start.timestamp(), b.value))
        .collect();
    for r in fresh
        .iter()
        .filter(|r| r.key == *key && r.bucket_seconds == bucket && r.bucket_start >= since)
    {
        by_start.insert(r.bucket_start.timestamp(), r.value);
    }
    Ok(by_start.into_iter().collect())
}

/// At the end of every complete bucket from the first one with rows up to `now`'s bucket, the age of
/// the newest row seen so far.
fn saw_tooth(newest_per_bucket: &HashMap<i64, i64>, bucket: i64, now: i64) -> Vec<ReplayPoint> {
    let Some(first) = newest_per_bucket.keys().min().copied() else {
        return Vec::new();
    };
    let current = now.div_euclid(bucket) * bucket;
    let mut newest = i64::MIN;
    let mut out = Vec::new();
    let mut b = first;
    while b < current {
        if let Some(n) = newest_per_bucket.get(&b) {
            newest = newest.max(*n);
        }
        let end = b + bucket;
        // Rebuilt points were never judged: the saw-tooth is trained on as it was.
        out.push(ReplayPoint {
            ts: end,
            value: (end - newest) as f64,
            verdict: Some((false, false)),
        });
        b += bucket;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saw_tooth_carries_the_newest_row_across_empty_buckets() {
        // Loads at 10:30 and 12:15; buckets of an hour; now is 14:05.
        let h = 3600;
        let newest: HashMap<i64, i64> = [(10 * h, 10 * h + 1800), (12 * h, 12 * h + 900)].into();
        let points = saw_tooth(&newest, h, 14 * h + 300);
        let ages: Vec<(i64, f64)> = points.iter().map(|p| (p.ts, p.value)).collect();
        assert_eq!(
            ages,
            vec![
                (11 * h, 1800.0),
                (12 * h, 5400.0),
                (13 * h, 2700.0),
                (14 * h, 6300.0),
            ]
        );
        assert!(saw_tooth(&HashMap::new(), h, 14 * h).is_empty());
    }
}
