//! Lambda reconciliation: a stream monitor's messages per event-time bucket against a table monitor's
//! rows per bucket of its timestamp column (the topic is loaded into the table).
//!
//! The judged buckets are the complete buckets of the last `window` (config `reconcile.window`,
//! default 1d, whole buckets) that ended at least the stream monitor's `lateness_grace` ago. The
//! stream side reads EVERY message whose broker time is at or after the first judged bucket's start
//! (Kafka: the offsets by time; NATS: the first sequence at that time), not the sample, and counts
//! them by event time. It reads at most `max_messages` (default 1,000,000): the positions at each
//! judged bucket start say beforehand how many messages lie ahead, and when the window holds more
//! its oldest buckets are dropped until the rest fits (`details.first_bucket`,
//! `details.narrowed_by_max_messages`). An event whose broker time is before its own bucket's start
//! (a producer clock ahead of the broker) is not seen. The table side is the table monitor's own
//! bucket counts over the same buckets (its warehouse connector, read-only).
//!
//! `reconcile_gap` = the largest |stream - table| / stream over the judged buckets (1 for a bucket with
//! rows but no messages); `details.buckets` lists every bucket that disagrees, with both counts and
//! `missing` (table < stream) or `duplicated` (table > stream).

use super::event_counts;
use crate::config::{Config, Monitor, MonitorTarget};
use crate::sources::warehouse;
use checks::{Detail, Failure, Metric, Observation, Profile, Target, VolumeWindow};
use std::collections::BTreeMap;

/// The judged buckets at `now`: `(first bucket start, end)` with `end` the end of the last bucket
/// that ended at least `grace` ago, `window` rounded up to whole buckets (at least one).
pub fn judged(now: i64, bucket: i64, grace: i64, window: i64) -> (i64, i64) {
    let bucket = bucket.max(1);
    let end = (now - grace).div_euclid(bucket) * bucket;
    let n = ((window + bucket - 1) / bucket).max(1);
    (end - n * bucket, end)
}

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
    let (start, end) = judged(now, bucket, grace, r.window.as_secs() as i64);
    let starts: Vec<i64> = (0..(end - start) / bucket)
        .map(|i| start + i * bucket)
        .collect();

    // Stream side: every message from the first judged bucket's start on, by event time.
    let counted = match event_counts(ss, spec, field, &starts, bucket, r.max_messages).await {
        Ok(c) => c,
        Err(message) => return Profile::whole_failure(message),
    };
    let first = counted.from;

    // Table side: the table monitor's own bucket counts over the same buckets.
    let table_window = VolumeWindow {
        bucket,
        start: first,
        end,
        continues: true,
    };
    let tp = warehouse::profile::measure(
        tm,
        ts,
        crate::sources::ProfileRequest {
            window: Some(table_window),
            new_data_only: false,
            recent_rows: false,
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
    while b < end {
        judged += 1;
        let s = counted.counts.get(&b).copied().unwrap_or(0.0);
        let t = table.get(&b).copied().unwrap_or(0.0);
        if s != t {
            let gap = if s > 0.0 { (s - t).abs() / s } else { 1.0 };
            worst = worst.max(gap);
            disagree.push(serde_json::json!({
                "bucket_start": rfc3339(b),
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
                "first_bucket": rfc3339(first),
                "narrowed_by_max_messages": first > start,
                "max_messages": r.max_messages,
                "stream_messages_read": counted.read,
                "stream_messages_without_event_time": counted.without_event_time,
                "buckets": disagree,
            }),
        }],
        ..Profile::default()
    }
}

fn rfc3339(t: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(t, 0).map(|t| t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judged_buckets_end_before_the_grace_and_cover_the_window() {
        // 10:20 with a 5m grace: the last judged hour is 09:00–10:00, a 1d window holds 24 of them.
        let now = 10 * 3600 + 1200;
        assert_eq!(
            judged(now, 3600, 300, 86400),
            (10 * 3600 - 86400, 10 * 3600)
        );
        // 10:03 with a 5m grace: 09:00–10:00 has not waited its grace yet.
        assert_eq!(judged(10 * 3600 + 180, 3600, 300, 1), (8 * 3600, 9 * 3600));
        // A window shorter than a bucket still judges one; a partial bucket rounds up.
        assert_eq!(judged(now, 3600, 0, 5400), (8 * 3600, 10 * 3600));
    }
}
