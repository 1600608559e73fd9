//! Learned baselines in a scan: for every measurement without an explicit check, fetch its history from
//! the state store and let the series' detector (`checks::baseline`) say whether it is normal.

use crate::config::Monitor;
use crate::scan::{display_value, ResultRow};
use crate::store::{Store, StoreError};
use checks::baseline::{assess_series, Assessment, Detector, HistoryPoint, Params, SeriesKind};
use checks::{Expected, Metric, SeriesKey, Status, Target};
use chrono::{DateTime, Utc};

/// Most points of per-scan history a detector replays.
const MAX_HISTORY: i64 = 5000;

/// The detector settings of a monitor for a kind of series.
pub fn params_for(monitor: &Monitor, kind: SeriesKind) -> Params {
    let mut p = Params::default_for(kind);
    p.sensitivity = monitor.sensitivity;
    // Freshness only ever alerts on data that is too old, whatever the monitor's direction.
    if kind != SeriesKind::Freshness {
        p.direction = monitor.direction;
    }
    p
}

/// A bucket of a bucketed series and, when a scan judged it, that verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketPoint {
    pub ts: i64,
    pub value: f64,
    /// `Some((was_anomaly, marked_expected))` when a scan reported this bucket; backfilled buckets
    /// have no verdict.
    pub verdict: Option<(bool, bool)>,
}

/// Replays a bucketed series strictly online and assesses `current`. A bucket is not trained on when it
/// was an anomaly (its stored verdict, or for backfilled buckets the detector's own online verdict),
/// unless a user marked it expected or it belongs to a lasting change (`adapt_after` excluded buckets
/// in a row, after which the band follows the new level).
pub fn assess_buckets(
    kind: SeriesKind,
    params: &Params,
    history: &[BucketPoint],
    current: (i64, f64),
) -> Assessment {
    let mut detector = Detector::new(kind, *params);
    let mut pending: Vec<(i64, f64)> = Vec::new();
    for p in history {
        let excluded = match p.verdict {
            Some((was_anomaly, expected)) => was_anomaly && !expected,
            None => detector.assess(p.ts, p.value).anomaly,
        };
        if excluded {
            pending.push((p.ts, p.value));
            if pending.len() >= params.adapt_after.max(1) {
                for (ts, v) in pending.drain(..) {
                    detector.learn(ts, v);
                }
            }
        } else {
            pending.clear();
            detector.learn(p.ts, p.value);
        }
    }
    detector.assess(current.0, current.1)
}

/// The bucket a scan at `observed` reported: the last complete one.
pub fn reported_bucket(observed: i64, bucket: i64) -> i64 {
    let bucket = bucket.max(1);
    observed.div_euclid(bucket) * bucket - bucket
}

/// Gives every `learning` row of a monitor its learned verdict. `volume_bucket` is the start of the
/// bucket the `volume` row counts.
pub async fn apply(
    store: &Store,
    monitor: &Monitor,
    rows: &mut [ResultRow],
    now: DateTime<Utc>,
    volume_bucket: Option<i64>,
) -> Result<(), StoreError> {
    let mut since = now - chrono::Duration::seconds(monitor.lookback.as_secs() as i64);
    if let Some(reset) = monitor.baseline_since {
        since = since.max(reset);
    }
    for row in rows.iter_mut() {
        let (Status::Learning, Some(value)) = (row.status, row.value) else {
            continue;
        };
        let Some(metric) = Metric::parse(&row.metric) else {
            continue;
        };
        let Some(kind) = SeriesKind::for_metric(metric) else {
            continue;
        };
        let params = params_for(monitor, kind);
        let key = SeriesKey::new(
            &monitor.name,
            metric,
            Target::from_label(metric, row.column.as_deref()),
        );
        // What earlier scans reported for this series, with their verdicts and feedback.
        let scanned = store.series(&key, Some(since), Some(MAX_HISTORY)).await?;
        let (assessment, points) = if metric.is_bucketed() {
            let Some(current_ts) = volume_bucket else {
                continue;
            };
            let bucket = (monitor.bucket.as_secs() as i64).max(1);
            let verdicts: std::collections::HashMap<i64, (bool, bool)> = scanned
                .into_iter()
                .map(|p| {
                    let b = reported_bucket(p.observed_at.timestamp(), bucket);
                    (b, (p.status == Status::Anomaly, p.expected_anomaly))
                })
                .collect();
            let history: Vec<BucketPoint> = store
                .buckets(&key, bucket, Some(since))
                .await?
                .into_iter()
                .map(|b| (b.bucket_start.timestamp(), b.value))
                .filter(|(ts, _)| *ts < current_ts)
                .map(|(ts, value)| BucketPoint {
                    ts,
                    value,
                    verdict: verdicts.get(&ts).copied(),
                })
                .collect();
            (
                assess_buckets(kind, &params, &history, (current_ts, value)),
                history.len(),
            )
        } else {
            let mut history: Vec<HistoryPoint> = Vec::new();
            if metric == Metric::FreshnessSeconds {
                history = freshness_backfill(store, monitor, since, now).await?;
            }
            let scans: Vec<HistoryPoint> = scanned
                .into_iter()
                .filter_map(|p| {
                    Some(HistoryPoint {
                        ts: p.observed_at.timestamp(),
                        value: p.value?,
                        was_anomaly: p.status == Status::Anomaly,
                        expected: p.expected_anomaly,
                    })
                })
                .collect();
            history.extend(scans);
            history.sort_by_key(|p| p.ts);
            (
                assess_series(kind, &params, &history, (now.timestamp(), value)),
                history.len(),
            )
        };
        apply_assessment(row, &assessment, points, &params);
    }
    Ok(())
}

/// The freshness saw-tooth as it was, rebuilt from the newest timestamp per volume bucket: at the end
/// of every bucket since the first one with rows, the age of the newest row so far. This is the warm
/// start of the freshness model: the first scan already knows the table's load cadence.
async fn freshness_backfill(
    store: &Store,
    monitor: &Monitor,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<HistoryPoint>, StoreError> {
    let bucket = (monitor.bucket.as_secs() as i64).max(1);
    let newest_per_bucket: std::collections::HashMap<i64, i64> = store
        .buckets(
            &SeriesKey::table(&monitor.name, Metric::NewestRow),
            bucket,
            Some(since),
        )
        .await?
        .into_iter()
        .map(|p| (p.bucket_start.timestamp(), p.value as i64))
        .collect();
    let Some(first) = newest_per_bucket.keys().min().copied() else {
        return Ok(Vec::new());
    };
    let current = now.timestamp().div_euclid(bucket) * bucket;
    let mut newest = i64::MIN;
    let mut out = Vec::new();
    let mut b = first;
    while b < current {
        if let Some(n) = newest_per_bucket.get(&b) {
            newest = newest.max(*n);
        }
        let end = b + bucket;
        out.push(HistoryPoint {
            ts: end,
            value: (end - newest) as f64,
            was_anomaly: false,
            expected: false,
        });
        b += bucket;
    }
    Ok(out)
}

fn apply_assessment(row: &mut ResultRow, a: &Assessment, points: usize, params: &Params) {
    if a.learning {
        row.status = Status::Learning;
        row.message = format!(
            "learning the baseline: {points} points of history, {} needed",
            params.min_history
        );
        return;
    }
    let band = Expected {
        lower: a.lower,
        upper: a.upper,
    };
    row.expected = (band.lower.is_some() || band.upper.is_some()).then_some(band);
    let shown = |v: Option<f64>| v.map_or("…".to_string(), |v| display_value(&row.metric, v));
    let band_text = format!("{} .. {}", shown(a.lower), shown(a.upper));
    if a.anomaly {
        row.status = Status::Anomaly;
        row.message = format!(
            "outside the learned band {band_text} (score {:.2})",
            a.score
        );
    } else {
        row.status = Status::Pass;
        row.message = format!("within the learned band {band_text}");
    }
}
