//! Stream sources: Kafka topics (`kafka.rs`, rdkafka) and NATS JetStream streams (`nats.rs`,
//! async-nats). A broker connector returns a [`Reading`] (retained count, newest broker time, the
//! sample of newest messages, consumer lag); this module turns it into the same `checks::Profile` a
//! table gives, with the payload side profiled in Arrow (`payload.rs`). `reconcile.rs` compares a
//! stream monitor's per-bucket counts with a table monitor's.
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
use std::collections::BTreeMap;

/// What a broker connector read for one topic or stream.
#[derive(Debug, Default)]
pub struct Reading {
    /// Messages retained (Kafka: sum of high - low watermarks; NATS: the stream's message count).
    pub message_count: Option<f64>,
    /// Broker timestamp of the newest retained message, unix milliseconds.
    pub newest_ms: Option<i64>,
    /// The newest messages, up to the monitor's `sample`, spread over partitions.
    pub sample: Vec<Sampled>,
    /// The sample holds every retained message (then its oldest bucket is complete too).
    pub sample_complete: bool,
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
        let reading = match read(self.config, spec, spec.sample).await {
            Ok(r) => r,
            Err(message) => return Profile::whole_failure(message),
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        assemble(spec, reading, window, now_ms)
    }
}

/// Reads `spec` from its broker, bounded by the source's `statement_timeout`. `Err` when nothing of
/// the topic or stream could be read.
pub async fn read(
    config: &SourceConfig,
    spec: &StreamMonitor,
    sample: usize,
) -> Result<Reading, String> {
    let bound = config.statement_timeout;
    let work = async {
        match config.kind {
            SourceKind::Kafka => kafka::read(config, spec, sample).await,
            SourceKind::Nats => nats::read(config, spec, sample).await,
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

/// A reading → the profile: broker metrics, payload metrics, volume buckets by broker time.
pub fn assemble(
    spec: &StreamMonitor,
    reading: Reading,
    window: Option<VolumeWindow>,
    now_ms: i64,
) -> Profile {
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
    if let Some(w) = window {
        profile.buckets = broker_buckets(&reading.sample, reading.sample_complete, w);
    }
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
    profile.schema = p.schema;
    profile.observations.extend(p.observations);
    profile.failures.extend(p.failures);
    profile
}

/// Messages per bucket of broker time, over the buckets the sample covers completely: all of them
/// when the sample holds every retained message, else the buckets after the oldest sampled one. The
/// window is narrowed to what was covered (so uncovered buckets are never stored as zeros).
fn broker_buckets(sample: &[Sampled], complete: bool, w: VolumeWindow) -> Option<BucketCounts> {
    let times: Vec<i64> = sample
        .iter()
        .filter_map(|m| m.broker_ms)
        .map(|ms| ms.div_euclid(1000))
        .collect();
    let (first, w) = covered_window(&times, complete, w)?;
    let mut counted: BTreeMap<i64, (f64, i64)> = BTreeMap::new();
    for t in times {
        let b = t.div_euclid(w.bucket) * w.bucket;
        if b >= first && b < w.end {
            let e = counted.entry(b).or_insert((0.0, t));
            e.0 += 1.0;
            e.1 = e.1.max(t);
        }
    }
    Some(BucketCounts {
        window: w,
        counted: counted
            .into_iter()
            .map(|(start, (rows, newest))| CountedBucket {
                start,
                rows,
                newest: Some(newest),
                non_null: Vec::new(),
            })
            .collect(),
        columns: Vec::new(),
    })
}

/// The first bucket counted completely and the window narrowed to start there (when it had to be).
/// `None` when no complete bucket is covered.
pub(crate) fn covered_window(
    times: &[i64],
    complete: bool,
    w: VolumeWindow,
) -> Option<(i64, VolumeWindow)> {
    let oldest = times.iter().min().copied();
    let first = match (complete, oldest) {
        (true, _) => w.start,
        (false, Some(o)) => (o.div_euclid(w.bucket) + 1) * w.bucket,
        (false, None) => return None,
    };
    if first >= w.end {
        return None;
    }
    if first > w.start {
        // Buckets before `first` were not fully read: the series goes on from `first`.
        return Some((
            first,
            VolumeWindow {
                start: first,
                continues: true,
                ..w
            },
        ));
    }
    Some((first.min(w.start), w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_only_what_the_sample_covers() {
        let w = VolumeWindow {
            bucket: 60,
            start: 0,
            end: 300,
            continues: true,
        };
        let at = |s: i64| Sampled {
            payload: b"{}".to_vec(),
            key: None,
            broker_ms: Some(s * 1000),
        };
        // Oldest sampled message at 70 s: the 60 s bucket is partial, 120 and 180 are complete.
        let sample = vec![at(70), at(130), at(150), at(200), at(310)];
        let b = broker_buckets(&sample, false, w).unwrap();
        assert_eq!(b.window.start, 120);
        let counted: Vec<(i64, f64)> = b.counted.iter().map(|c| (c.start, c.rows)).collect();
        assert_eq!(counted, vec![(120, 2.0), (180, 1.0)]);
        // The whole retention sampled: every bucket of the window is complete.
        let b = broker_buckets(&sample, true, w).unwrap();
        assert_eq!(b.window.start, 0);
        assert_eq!(b.counted.len(), 3);
    }
}
