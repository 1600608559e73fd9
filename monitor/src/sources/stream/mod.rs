//! Stream sources: Kafka topics (`kafka.rs`, rdkafka) and NATS JetStream streams (`nats.rs`,
//! async-nats). A broker connector returns a [`Reading`] (retained count, newest broker time, the
//! sample of newest messages, consumer lag, messages per bucket); this module turns it into the same
//! `checks::Profile` a table gives, with the payload side profiled in Arrow (`payload.rs`).
//! `reconcile.rs` compares a stream monitor's per-bucket counts with a table monitor's.
//!
//! `volume` never comes from the sample: the connector finds, per partition, the position (Kafka
//! offset, NATS sequence) of the first message whose broker time is at or after each bucket
//! boundary of the pipeline's window, and [`offset_buckets`] turns the positions into counts. The
//! pipeline's window recounts the newest stored bucket (and the buckets of `lateness`) like a
//! table's.
//!
//! Both connectors are read-only: no durable consumer is created, nothing is acknowledged or
//! committed, no consumer group is joined. Every broker call has a timeout (the source's
//! `connect_timeout`), and the whole reading is bounded by its `statement_timeout`.

pub mod kafka;
pub mod nats;
pub mod payload;
pub mod reconcile;

use crate::config::{Monitor, MonitorTarget, Source as SourceConfig, SourceKind, StreamMonitor};
use checks::{
    BucketCounts, CountedBucket, Failure, Metric, Observation, Profile, Target, VolumeWindow,
};
use payload::Sampled;

/// What a broker connector read for one topic or stream.
#[derive(Debug, Default)]
pub struct Reading {
    /// Messages retained (Kafka: sum of high - low watermarks; NATS: the stream's message count).
    pub message_count: Option<f64>,
    /// Broker timestamp of the newest retained message, unix milliseconds.
    pub newest_ms: Option<i64>,
    /// The newest messages, up to the monitor's `sample`, spread over partitions.
    pub sample: Vec<Sampled>,
    /// Messages per bucket of broker time over the asked window, from offsets / sequences (see
    /// [`offset_buckets`]); never from the sample.
    pub buckets: Option<BucketCounts>,
    /// Per consumer group: (lag in messages, age in seconds of the oldest unconsumed message).
    pub lag: Vec<(String, Result<Lag, String>)>,
    pub failures: Vec<Failure>,
}

/// One group's lag: messages not consumed, and the age in seconds of the oldest of them (when it
/// could be read).
pub type Lag = (f64, Option<f64>);

/// A broker source: one client per profile, closed after it.
pub struct StreamSource<'a> {
    pub config: &'a SourceConfig,
}

impl StreamSource<'_> {
    /// Reads the monitor's topic or stream and profiles it.
    pub async fn measure(&self, monitor: &Monitor, window: Option<VolumeWindow>) -> Profile {
        let MonitorTarget::Stream(spec) = &monitor.target else {
            return Profile::whole_failure(format!(
                "monitor {} does not measure a topic or stream",
                monitor.name
            ));
        };
        let reading = match read(self.config, spec, spec.sample, window).await {
            Ok(r) => r,
            Err(message) => return Profile::whole_failure(message),
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        assemble(spec, reading, now_ms)
    }
}

/// Reads `spec` from its broker, bounded by the source's `statement_timeout`. `Err` when nothing of
/// the topic or stream could be read.
pub async fn read(
    config: &SourceConfig,
    spec: &StreamMonitor,
    sample: usize,
    window: Option<VolumeWindow>,
) -> Result<Reading, String> {
    let bound = config.statement_timeout;
    let work = async {
        match config.kind {
            SourceKind::Kafka => kafka::read(config, spec, sample, window).await,
            SourceKind::Nats => nats::read(config, spec, sample, window).await,
            other => Err(format!(
                "source {} is a {} warehouse",
                config.name,
                other.as_str()
            )),
        }
    };
    match tokio::time::timeout(bound, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "reading {} from source {} timed out after {}s",
            spec.name,
            config.name,
            bound.as_secs()
        )),
    }
}

/// Messages per event-time bucket, read from a broker time on (the stream side of a
/// reconciliation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventCounts {
    /// The broker time (unix seconds, one of the asked starts) the reading began at.
    pub from: i64,
    /// Event-time bucket start → messages.
    pub counts: std::collections::BTreeMap<i64, f64>,
    /// Messages read.
    pub read: u64,
    /// Messages read without a readable event time (not counted in any bucket).
    pub without_event_time: u64,
}

/// Reads every message of `spec` whose broker time is at or after `starts[i]` (unix seconds,
/// ascending) and counts them per `bucket` of event time (`field`), for the first `i` from which
/// the stream holds at most `max_messages` messages (counted from offsets / sequences before
/// reading). `Err` when even the last start has more, or nothing could be read.
pub async fn event_counts(
    config: &SourceConfig,
    spec: &StreamMonitor,
    field: &str,
    starts: &[i64],
    bucket: i64,
    max_messages: u64,
) -> Result<EventCounts, String> {
    if starts.is_empty() {
        return Ok(EventCounts::default());
    }
    let bound = config.statement_timeout;
    let work = async {
        match config.kind {
            SourceKind::Kafka => {
                kafka::event_times(config, spec, field, starts, max_messages).await
            }
            SourceKind::Nats => nats::event_times(config, spec, field, starts, max_messages).await,
            other => Err(format!(
                "source {} is a {} warehouse",
                config.name,
                other.as_str()
            )),
        }
    };
    let (i, times) = match tokio::time::timeout(bound, work).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(format!(
                "reading {} from source {} timed out after {}s",
                spec.name,
                config.name,
                bound.as_secs()
            ))
        }
    };
    let bucket = bucket.max(1);
    let mut out = EventCounts {
        from: starts[i],
        read: times.len() as u64,
        ..EventCounts::default()
    };
    for t in times {
        match t {
            Some(ms) => {
                let b = ms.div_euclid(1000).div_euclid(bucket) * bucket;
                *out.counts.entry(b).or_default() += 1.0;
            }
            None => out.without_event_time += 1,
        }
    }
    Ok(out)
}

/// The first index whose remaining message count is at most `max`.
pub(crate) fn first_within(remaining: impl IntoIterator<Item = u64>, max: u64) -> Option<usize> {
    remaining.into_iter().position(|r| r <= max)
}

/// A reading → the profile: broker metrics, payload metrics, volume buckets by broker time.
pub fn assemble(spec: &StreamMonitor, reading: Reading, now_ms: i64) -> Profile {
    let mut profile = Profile {
        failures: reading.failures,
        ..Profile::default()
    };
    if let Some(count) = reading.message_count {
        profile
            .observations
            .push(Observation::table(Metric::MessageCount, count));
    }
    match reading.newest_ms {
        Some(newest) => profile.observations.push(Observation::table(
            Metric::FreshnessSeconds,
            ((now_ms - newest) as f64 / 1000.0).max(0.0),
        )),
        None if reading.message_count == Some(0.0) => profile.failures.push(Failure {
            metric: Metric::FreshnessSeconds,
            target: Target::Table,
            message: format!("{} holds no message", spec.name),
            whole: false,
        }),
        None => {}
    }
    for (group, lag) in reading.lag {
        match lag {
            Ok((messages, seconds)) => {
                profile.observations.push(Observation::column(
                    Metric::ConsumerLag,
                    group.clone(),
                    messages,
                ));
                if let Some(s) = seconds {
                    profile.observations.push(Observation::column(
                        Metric::ConsumerLagSeconds,
                        group,
                        s,
                    ));
                }
            }
            Err(message) => profile.failures.push(Failure {
                metric: Metric::ConsumerLag,
                target: Target::Column(group),
                message,
                whole: false,
            }),
        }
    }
    profile.buckets = reading.buckets;
    let p = payload::profile(&reading.sample, spec);
    // The event-time age beside the broker-time freshness: now minus the newest sampled event time.
    if let (Some(_), Some(newest_event)) = (reading.newest_ms, p.event_times.iter().max()) {
        profile.details.push(checks::Detail {
            metric: Metric::FreshnessSeconds,
            target: Target::Table,
            value: serde_json::json!({
                "event_time_age_seconds": (now_ms / 1000 - newest_event).max(0),
            }),
        });
    }
    if p.schema.is_some() {
        let degraded: Vec<serde_json::Value> = p
            .degraded
            .iter()
            .map(|(field, kinds)| {
                serde_json::json!({
                    "field": field,
                    "kinds": kinds,
                    "reason": "values mix objects or arrays with other kinds: not decoded, no NULL metrics",
                })
            })
            .collect();
        profile.details.push(checks::Detail {
            metric: Metric::Schema,
            target: Target::Table,
            value: serde_json::json!({ "nullable": p.nullable, "degraded": degraded }),
        });
    }
    profile.schema = p.schema;
    profile.observations.extend(p.observations);
    profile.failures.extend(p.failures);
    profile
}

/// Most buckets counted from offsets / sequences in one reading (each boundary is one broker
/// request on Kafka, a binary search of message gets on NATS): a longer window is narrowed to its
/// newest buckets, and the series goes on from there.
pub const MAX_BUCKETS: usize = 1000;

/// The window narrowed to its newest [`MAX_BUCKETS`] buckets, and its boundaries (unix seconds):
/// every bucket start, then the window's end.
pub fn boundaries(w: VolumeWindow) -> (VolumeWindow, Vec<i64>) {
    let bucket = w.bucket.max(1);
    let mut w = VolumeWindow { bucket, ..w };
    let n = ((w.end - w.start).max(0) / bucket) as usize;
    if n > MAX_BUCKETS {
        w.start = w.end - MAX_BUCKETS as i64 * bucket;
        w.continues = true;
    }
    let mut out = Vec::new();
    let mut b = w.start;
    while b <= w.end {
        out.push(b);
        b += bucket;
    }
    (w, out)
}

/// One partition's (Kafka) or the stream's (NATS) positions at a window's boundaries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Positions {
    /// Offset / sequence of the first message whose broker time is at or after each boundary (the
    /// next one to be written when there is none).
    pub at: Vec<i64>,
    /// The oldest retained offset / sequence.
    pub low: i64,
    /// Messages before `low` were removed (retention, a purge) and some are still retained: then a
    /// bucket counts as complete only when a retained message precedes its start. A partition that
    /// holds nothing is not truncated (it counts zeros).
    pub truncated: bool,
    /// Positions inside the partition that hold no message (NATS: deleted sequences), sorted.
    pub deleted: Vec<i64>,
    /// Broker time (unix seconds) of the last message before each boundary, when the reading saw it.
    pub before: Vec<Option<i64>>,
}

impl Positions {
    fn deleted_between(&self, from: i64, to: i64) -> i64 {
        let lo = self.deleted.partition_point(|d| *d < from);
        let hi = self.deleted.partition_point(|d| *d < to);
        (hi - lo) as i64
    }

    /// Whether every message from `at[i]` on is still retained.
    fn complete_from(&self, i: usize) -> bool {
        !self.truncated || self.at[i] > self.low
    }
}

/// Messages per bucket of broker time from the positions at the boundaries: count(bucket) = Σ over
/// partitions of position(end) − position(start) − deleted positions between. Buckets before the
/// first one every partition still holds completely are not counted (the window is narrowed to
/// start after them, so they are never stored as zeros); `None` when no bucket is complete.
pub fn offset_buckets(
    w: VolumeWindow,
    bounds: &[i64],
    parts: &[Positions],
) -> Option<BucketCounts> {
    let n = bounds.len().checked_sub(1)?;
    if n == 0 || parts.iter().any(|p| p.at.len() != bounds.len()) {
        return None;
    }
    let first = (0..n).find(|i| parts.iter().all(|p| p.complete_from(*i)))?;
    let mut counted = Vec::new();
    for i in first..n {
        let mut rows = 0i64;
        let mut newest: Option<i64> = None;
        for p in parts {
            let (a, b) = (p.at[i], p.at[i + 1].max(p.at[i]));
            let in_bucket = b - a - p.deleted_between(a, b);
            rows += in_bucket;
            if in_bucket > 0 {
                if let Some(t) = p.before.get(i + 1).copied().flatten() {
                    if t >= bounds[i] && t < bounds[i + 1] {
                        newest = Some(newest.map_or(t, |n| n.max(t)));
                    }
                }
            }
        }
        if rows > 0 {
            counted.push(CountedBucket {
                start: bounds[i],
                rows: rows as f64,
                newest,
                non_null: Vec::new(),
            });
        }
    }
    let window = if first > 0 {
        VolumeWindow {
            start: bounds[first],
            continues: true,
            ..w
        }
    } else {
        w
    };
    Some(BucketCounts {
        window,
        counted,
        columns: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: i64, end: i64) -> VolumeWindow {
        VolumeWindow {
            bucket: 60,
            start,
            end,
            continues: false,
        }
    }

    #[test]
    fn buckets_are_offset_differences_summed_over_partitions() {
        let (w, bounds) = boundaries(w(0, 180));
        assert_eq!(bounds, [0, 60, 120, 180]);
        let p0 = Positions {
            at: vec![0, 4, 4, 9],
            before: vec![None, Some(50), None, Some(170)],
            ..Positions::default()
        };
        let p1 = Positions {
            at: vec![10, 11, 13, 13],
            ..Positions::default()
        };
        let b = offset_buckets(w, &bounds, &[p0, p1]).unwrap();
        let counted: Vec<(i64, f64, Option<i64>)> = b
            .counted
            .iter()
            .map(|c| (c.start, c.rows, c.newest))
            .collect();
        assert_eq!(
            counted,
            [(0, 5.0, Some(50)), (60, 2.0, None), (120, 5.0, Some(170))]
        );
        assert_eq!(b.window, w);
    }

    #[test]
    fn truncated_partitions_and_deleted_sequences() {
        let (w, bounds) = boundaries(w(0, 240));
        // Retention removed everything before offset 20: the first bucket with a retained message
        // before its start is the third (position 25 > 20); buckets before it are not counted.
        let p = Positions {
            at: vec![20, 20, 25, 30, 31],
            low: 20,
            truncated: true,
            deleted: vec![26, 27],
            before: Vec::new(),
        };
        let b = offset_buckets(w, &bounds, std::slice::from_ref(&p)).unwrap();
        assert_eq!(b.window.start, 120);
        assert!(b.window.continues);
        let counted: Vec<(i64, f64)> = b.counted.iter().map(|c| (c.start, c.rows)).collect();
        assert_eq!(counted, [(120, 3.0), (180, 1.0)]);
        // Nothing retained at all: every bucket is empty, and complete.
        let empty = Positions {
            at: vec![40; 5],
            low: 40,
            ..Positions::default()
        };
        let b = offset_buckets(w, &bounds, &[empty]).unwrap();
        assert!(b.counted.is_empty());
        assert_eq!(b.window.start, 0);
        // Truncated after the last boundary's position: no complete bucket.
        let p = Positions {
            at: vec![5; 5],
            low: 5,
            truncated: true,
            ..Positions::default()
        };
        let other = Positions {
            at: vec![0, 1, 2, 3, 4],
            ..Positions::default()
        };
        assert!(offset_buckets(w, &bounds, &[p, other]).is_none());
    }

    #[test]
    fn long_windows_keep_their_newest_buckets() {
        let (nw, bounds) = boundaries(VolumeWindow {
            bucket: 1,
            start: 0,
            end: 5000,
            continues: false,
        });
        assert_eq!(bounds.len(), MAX_BUCKETS + 1);
        assert_eq!(nw.start, 5000 - MAX_BUCKETS as i64);
        assert!(nw.continues);
    }
}
