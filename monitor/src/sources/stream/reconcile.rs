//! Lambda reconciliation: a stream monitor's messages per event-time bucket against a table monitor's
//! rows per bucket of its timestamp column (the topic is loaded into the table).
//!
//! The stream side counts the stream monitor's sample (its newest `sample` messages) by event time;
//! when the sample does not hold every retained message, only the buckets after the one holding the
//! oldest sampled event are counted (earlier ones may be partly outside the sample). The table side is
//! the table monitor's own profile over the same buckets (its warehouse connector, read-only). A bucket
//! is judged once it is complete and ended at least the stream monitor's `lateness_grace` ago.
//!
//! `reconcile_gap` = the largest |stream - table| / stream over the judged buckets (1 for a bucket with
//! rows but no messages); `details.buckets` lists every bucket that disagrees, with both counts and
//! `missing` (table < stream) or `duplicated` (table > stream).

use super::{payload, read};
use crate::config::{Config, Monitor, MonitorTarget};
use crate::sources::warehouse;
use checks::{Detail, Failure, Metric, Observation, Profile, Target, VolumeWindow};
use std::collections::BTreeMap;

/// Measures a `reconcile:` monitor at `now` (unix seconds).
pub async fn measure(config: &Config, monitor: &Monitor, now: i64) -> Profile {
    let MonitorTarget::Reconcile(r) = &monitor.target else {
        return Profile::whole_failure(format!(
            "monitor {} is not a reconcile monitor",
            monitor.name
        ));
    };
    let find = |name: &str| config.monitors.iter().find(|m| m.name == name);
    let (Some(sm), Some(tm)) = (find(&r.stream), find(&r.table)) else {
        return Profile::whole_failure("a reconciled monitor is not defined");
    };
    let (MonitorTarget::Stream(spec), Some(_)) = (&sm.target, tm.table()) else {
        return Profile::whole_failure(format!(
            "reconcile needs a stream monitor ({}) and a table monitor ({})",
            r.stream, r.table
        ));
    };
    let Some(field) = &spec.event_time_field else {
        return Profile::whole_failure(format!(
            "stream monitor {} needs event_time_field to be reconciled",
            sm.name
        ));
    };
    if tm.timestamp_column.is_none() {
        return Profile::whole_failure(format!(
            "table monitor {} needs timestamp_column to be reconciled",
            tm.name
        ));
    }
    let (Some(ss), Some(ts)) = (
        config.sources.get(&sm.source),
        config.sources.get(&tm.source),
    ) else {
        return Profile::whole_failure("a reconciled monitor's source is not defined");
    };
    let bucket = monitor.bucket.as_secs().max(1) as i64;
    let grace = spec.lateness_grace.as_secs() as i64;
    let w = VolumeWindow::new(now, bucket, monitor.lookback.as_secs() as i64, None);

    // Stream side: event times of the sample.
    let reading = match read(ss, spec, spec.sample, None).await {
        Ok(r) => r,
        Err(message) => return Profile::whole_failure(message),
    };
    let p = payload::profile(&reading.sample, spec);
    if p.event_times.is_empty() && !reading.sample.is_empty() {
        return Profile::whole_failure(format!(
            "no sampled message of {} has a readable event time in {field}",
            sm.name
        ));
    }
    let Some((first, w)) = covered_window(
        &p.event_times,
        reading.message_count == Some(reading.sample.len() as f64),
        w,
    ) else {
        return Profile::whole_failure(format!(
            "the sample of {} covers no complete bucket (raise its sample)",
            sm.name
        ));
    };
    let mut stream: BTreeMap<i64, f64> = BTreeMap::new();
    for t in &p.event_times {
        let b = t.div_euclid(bucket) * bucket;
        if b >= first && b < w.end {
            *stream.entry(b).or_default() += 1.0;
        }
    }

    // Table side: the table monitor's own bucket counts over the same buckets.
    let table_window = VolumeWindow {
        start: first,
        continues: true,
        ..w
    };
    let tp = warehouse::profile::measure(
        tm,
        ts,
        crate::sources::ProfileRequest {
            window: Some(table_window),
            new_data_only: false,
        },
    )
    .await;
    let Some(counts) = tp.buckets else {
        let why: Vec<String> = tp.failures.iter().map(|f| f.message.clone()).collect();
        return Profile::whole_failure(format!(
            "table monitor {} could not count its buckets: {}",
            tm.name,
            why.join("; ")
        ));
    };
    let table: BTreeMap<i64, f64> = counts.counted.iter().map(|c| (c.start, c.rows)).collect();

    let mut judged = 0usize;
    let mut worst: f64 = 0.0;
    let mut disagree = Vec::new();
    let mut b = first;
    while b < w.end && b + bucket + grace <= now {
        judged += 1;
        let s = stream.get(&b).copied().unwrap_or(0.0);
        let t = table.get(&b).copied().unwrap_or(0.0);
        if s != t {
            let gap = if s > 0.0 { (s - t).abs() / s } else { 1.0 };
            worst = worst.max(gap);
            disagree.push(serde_json::json!({
                "bucket_start": chrono::DateTime::from_timestamp(b, 0).map(|t| t.to_rfc3339()),
                "stream": s,
                "table": t,
                "gap": gap,
                "kind": if t < s { "missing" } else { "duplicated" },
            }));
        }
        b += bucket;
    }
    if judged == 0 {
        return Profile {
            failures: vec![Failure {
                metric: Metric::ReconcileGap,
                target: Target::Table,
                message: format!(
                    "no complete bucket older than the lateness grace ({grace}s) to reconcile yet"
                ),
                whole: false,
            }],
            ..Profile::default()
        };
    }
    Profile {
        observations: vec![Observation::table(Metric::ReconcileGap, worst)],
        details: vec![Detail {
            metric: Metric::ReconcileGap,
            target: Target::Table,
            value: serde_json::json!({
                "bucket_seconds": bucket,
                "judged_buckets": judged,
                "first_bucket": chrono::DateTime::from_timestamp(first, 0).map(|t| t.to_rfc3339()),
                "buckets": disagree,
            }),
        }],
        ..Profile::default()
    }
}

/// The first bucket counted completely and the window narrowed to start there (when it had to be).
/// `None` when no complete bucket is covered.
fn covered_window(times: &[i64], complete: bool, w: VolumeWindow) -> Option<(i64, VolumeWindow)> {
    let oldest = times.iter().min().copied();
    let first = match (complete, oldest) {
        (true, _) => w.start,
        (false, Some(o)) => (o.div_euclid(w.bucket) + 1) * w.bucket,
        (false, None) => return None,
    };
    if first >= w.end {
        return None;
    }
    Some((
        first.max(w.start),
        VolumeWindow {
            start: first.max(w.start),
            continues: true,
            ..w
        },
    ))
}
