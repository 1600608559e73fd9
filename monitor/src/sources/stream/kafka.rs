//! Kafka through rdkafka: metadata (partitions), watermarks per partition (`message_count` = sum of
//! high - low), the offset at every bucket boundary per partition (`offsets_for_times`; `volume` =
//! the offset differences, so a compacted topic or transaction markers count as offsets, and buckets
//! carry no newest time), the newest `sample` messages by assigning each partition at `high - n` (the sample
//! spread over partitions), and committed offsets of each `consumer_groups` entry (lag = high -
//! committed, its age = now minus the broker time of the first uncommitted message).
//!
//! Read-only by construction: consumers are never subscribed (so they never join a group), auto
//! commit and offset store are off and nothing calls commit. The sampling consumer has a throwaway
//! group id; the committed offsets of a group are fetched by a consumer configured with that group id
//! that only sends the offset fetch request (rdkafka has no admin call for another group's offsets).
//! rdkafka blocks, so the reading runs on a blocking thread, every call with a timeout.

use super::payload::Sampled;
use super::{boundaries, offset_buckets, Lag, Positions, Reading};
use crate::config::{Source as SourceConfig, StreamMonitor};
use checks::{Failure, Metric, Target, VolumeWindow};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Reads `spec.name` from the source (see the module docs).
pub async fn read(
    config: &SourceConfig,
    spec: &StreamMonitor,
    sample: usize,
    window: Option<VolumeWindow>,
) -> Result<Reading, String> {
    let brokers = config.url.expose_secret().to_string();
    let source = config.name.clone();
    let spec = spec.clone();
    let timeout = config.connect_timeout;
    tokio::task::spawn_blocking(move || {
        read_blocking(&brokers, &source, &spec, sample, window, timeout)
    })
    .await
    .map_err(|e| format!("reading topic failed: {e}"))?
}

fn consumer(brokers: &str, group: &str, timeout: Duration) -> Result<BaseConsumer, String> {
    let ms = timeout.as_millis().max(1000).to_string();
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("client.id", "tidewatch")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("allow.auto.create.topics", "false")
        .set("auto.offset.reset", "earliest")
        .set("socket.timeout.ms", &ms)
        .set("socket.connection.setup.timeout.ms", &ms)
        .set("log_level", "3")
        .create()
        .map_err(|e| format!("cannot create a kafka client: {e}"))
}

fn read_blocking(
    brokers: &str,
    source: &str,
    spec: &StreamMonitor,
    sample: usize,
    window: Option<VolumeWindow>,
    timeout: Duration,
) -> Result<Reading, String> {
    let topic = spec.name.as_str();
    let c = consumer(brokers, &probe_group(), timeout)?;
    let marks = watermarks(&c, topic, source, timeout)?;
    let total: i64 = marks.values().map(|(l, h)| (h - l).max(0)).sum();
    let mut reading = Reading {
        message_count: Some(total as f64),
        ..Reading::default()
    };

    // Volume: per partition the offset at each bucket boundary.
    if let Some(w) = window {
        let (w, bounds) = boundaries(w);
        match positions(&c, topic, &marks, &bounds, timeout) {
            Ok(parts) => reading.buckets = offset_buckets(w, &bounds, &parts),
            Err(message) => reading.failures.push(Failure {
                metric: Metric::Volume,
                target: Target::Table,
                message,
                whole: false,
            }),
        }
    }

    // The sample: the newest messages, spread over the partitions that have some.
    let alloc = spread(sample as i64, &marks);
    let mut tpl = TopicPartitionList::new();
    let mut want: BTreeMap<i32, (i64, i64)> = BTreeMap::new(); // partition → (from, high)
    for (p, n) in &alloc {
        let high = marks[p].1;
        if *n > 0 {
            tpl.add_partition_offset(topic, *p, Offset::Offset(high - n))
                .map_err(|e| format!("assigning {topic}: {e}"))?;
            want.insert(*p, (high - n, high));
        }
    }
    if !want.is_empty() {
        c.assign(&tpl)
            .map_err(|e| format!("assigning {topic}: {e}"))?;
        let got = poll_until(&c, &want, timeout, |m, out: &mut Vec<Sampled>| {
            out.push(Sampled {
                payload: m.payload().unwrap_or_default().to_vec(),
                key: m.key().map(<[u8]>::to_vec),
                broker_ms: m.timestamp().to_millis(),
            })
        })
        .map_err(|e| format!("sampling {topic}: {e}"))?;
        reading.newest_ms = got.iter().filter_map(|m| m.broker_ms).max();
        reading.sample = got;
    }

    // Consumer lag per group: committed offsets fetched without joining the group.
    for group in &spec.consumer_groups {
        let lag = group_lag(brokers, topic, group, &marks, &c, timeout);
        reading.lag.push((group.clone(), lag));
    }
    Ok(reading)
}

/// (low, high) watermarks per partition of `topic`; `Err` when the topic is missing.
fn watermarks(
    c: &BaseConsumer,
    topic: &str,
    source: &str,
    timeout: Duration,
) -> Result<BTreeMap<i32, (i64, i64)>, String> {
    let md = c
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| format!("cannot read metadata of topic {topic} from source {source}: {e}"))?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| format!("topic {topic} not found in source {source}"))?;
    if let Some(err) = t.error() {
        return Err(format!(
            "topic {topic} on source {source}: {}",
            rdkafka::types::RDKafkaErrorCode::from(err)
        ));
    }
    if t.partitions().is_empty() {
        return Err(format!("topic {topic} not found in source {source}"));
    }
    let mut marks: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
    for p in t.partitions() {
        let (low, high) = c
            .fetch_watermarks(topic, p.id(), timeout)
            .map_err(|e| format!("watermarks of {topic} partition {}: {e}", p.id()))?;
        marks.insert(p.id(), (low.max(0), high.max(0)));
    }
    Ok(marks)
}

/// The event times (unix ms; `None` when unreadable) of every message from the offsets at
/// `starts[i]` (broker time, unix s) to the high watermarks, for the first `i` from which there are
/// at most `max_messages` (see [`super::event_counts`]). Read by assigning the partitions to a
/// consumer with a throwaway group id that never subscribes or commits.
pub async fn event_times(
    config: &SourceConfig,
    spec: &StreamMonitor,
    field: &str,
    starts: &[i64],
    max_messages: u64,
) -> Result<(usize, Vec<Option<i64>>), String> {
    let brokers = config.url.expose_secret().to_string();
    let source = config.name.clone();
    let topic = spec.name.clone();
    let field = field.to_string();
    let starts = starts.to_vec();
    let timeout = config.connect_timeout;
    let deadline = config.statement_timeout;
    tokio::task::spawn_blocking(move || {
        let c = consumer(&brokers, &probe_group(), timeout)?;
        let marks = watermarks(&c, &topic, &source, timeout)?;
        let parts = positions(&c, &topic, &marks, &starts, timeout)?;
        let remaining = (0..starts.len()).map(|i| {
            parts
                .iter()
                .zip(marks.values())
                .map(|(p, (_, high))| (high - p.at[i]).max(0) as u64)
                .sum::<u64>()
        });
        let i = super::first_within(remaining, max_messages).ok_or_else(|| {
            format!(
                "even the last judged bucket of {topic} holds more than max_messages ({max_messages}) messages to read"
            )
        })?;
        let mut tpl = TopicPartitionList::new();
        let mut want: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
        for (p, (part, (_, high))) in marks.keys().zip(parts.iter().zip(marks.values())) {
            if part.at[i] < *high {
                tpl.add_partition_offset(&topic, *p, Offset::Offset(part.at[i]))
                    .map_err(|e| format!("assigning {topic}: {e}"))?;
                want.insert(*p, (part.at[i], *high));
            }
        }
        if want.is_empty() {
            return Ok((i, Vec::new()));
        }
        c.assign(&tpl)
            .map_err(|e| format!("assigning {topic}: {e}"))?;
        let path: Vec<&str> = field.split('.').collect();
        let times = poll_until(&c, &want, deadline, |m, out: &mut Vec<Option<i64>>| {
            out.push(super::payload::event_time_ms(m.payload().unwrap_or_default(), &path))
        })
        .map_err(|e| format!("reading {topic}: {e}"))?;
        Ok((i, times))
    })
    .await
    .map_err(|e| format!("reading topic failed: {e}"))?
}

fn probe_group() -> String {
    format!(
        "tidewatch-probe-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    )
}

/// Per partition, the offset of the first message whose timestamp is at or after each boundary
/// (`offsets_for_times`, one ListOffsets request per boundary; the high watermark when there is
/// none). `marks` are the partitions' (low, high) watermarks.
pub(super) fn positions(
    c: &BaseConsumer,
    topic: &str,
    marks: &BTreeMap<i32, (i64, i64)>,
    bounds: &[i64],
    timeout: Duration,
) -> Result<Vec<Positions>, String> {
    let mut parts: BTreeMap<i32, Positions> = marks
        .iter()
        .map(|(p, (low, high))| {
            let positions = Positions {
                low: *low,
                truncated: *low > 0 && low < high,
                ..Positions::default()
            };
            (*p, positions)
        })
        .collect();
    for b in bounds {
        let mut tpl = TopicPartitionList::new();
        for p in marks.keys() {
            tpl.add_partition_offset(topic, *p, Offset::Offset(b.saturating_mul(1000)))
                .map_err(|e| format!("offsets of {topic} by time: {e}"))?;
        }
        let got = c
            .offsets_for_times(tpl, timeout)
            .map_err(|e| format!("offsets of {topic} by time: {e}"))?;
        for e in got.elements() {
            let Some((low, high)) = marks.get(&e.partition()).copied() else {
                continue;
            };
            e.error().map_err(|err| {
                format!(
                    "offset of {topic} partition {} by time: {err}",
                    e.partition()
                )
            })?;
            let at = match e.offset() {
                Offset::Offset(o) if o >= 0 => o.max(low),
                _ => high,
            };
            if let Some(p) = parts.get_mut(&e.partition()) {
                p.at.push(at);
            }
        }
    }
    if let Some((p, _)) = parts.iter().find(|(_, p)| p.at.len() != bounds.len()) {
        return Err(format!(
            "the broker answered no offset by time for {topic} partition {p}"
        ));
    }
    Ok(parts.into_values().collect())
}

/// Per partition: how many of the newest messages to read, `sample` spread as evenly as the
/// partitions' sizes allow.
fn spread(sample: i64, marks: &BTreeMap<i32, (i64, i64)>) -> BTreeMap<i32, i64> {
    let mut alloc: BTreeMap<i32, i64> = marks.keys().map(|p| (*p, 0)).collect();
    let mut left = sample.max(0);
    loop {
        let open: Vec<i32> = marks
            .iter()
            .filter(|(p, (l, h))| alloc[p] < h - l)
            .map(|(p, _)| *p)
            .collect();
        if left == 0 || open.is_empty() {
            return alloc;
        }
        let share = (left / open.len() as i64).max(1);
        for p in open {
            let (l, h) = marks[&p];
            let take = share.min(h - l - alloc[&p]).min(left);
            *alloc.entry(p).or_default() += take;
            left -= take;
        }
    }
}

/// Polls the assigned partitions until each reached its `high` (or end of partition) or the timeout.
fn poll_until<T>(
    c: &BaseConsumer,
    want: &BTreeMap<i32, (i64, i64)>,
    timeout: Duration,
    mut keep: impl FnMut(&rdkafka::message::BorrowedMessage<'_>, &mut Vec<T>),
) -> Result<Vec<T>, KafkaError> {
    let deadline = Instant::now() + timeout;
    let mut done: BTreeMap<i32, bool> = want.keys().map(|p| (*p, false)).collect();
    let mut out = Vec::new();
    while done.values().any(|d| !d) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match c.poll(left.min(Duration::from_millis(200))) {
            None => {}
            Some(Ok(m)) => {
                let Some((from, high)) = want.get(&m.partition()) else {
                    continue;
                };
                if m.offset() >= *from && m.offset() < *high {
                    keep(&m, &mut out);
                }
                if m.offset() + 1 >= *high {
                    done.insert(m.partition(), true);
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                done.insert(p, true);
            }
            Some(Err(e)) => return Err(e),
        }
    }
    Ok(out)
}

/// (lag, age of the oldest uncommitted message) of one group on the topic. A partition the group
/// never committed counts as wholly unconsumed.
fn group_lag(
    brokers: &str,
    topic: &str,
    group: &str,
    marks: &BTreeMap<i32, (i64, i64)>,
    reader: &BaseConsumer,
    timeout: Duration,
) -> Result<Lag, String> {
    let gc = consumer(brokers, group, timeout)?;
    let mut tpl = TopicPartitionList::new();
    for p in marks.keys() {
        tpl.add_partition(topic, *p);
    }
    let committed = gc
        .committed_offsets(tpl, timeout)
        .map_err(|e| format!("committed offsets of group {group}: {e}"))?;
    let mut lag = 0i64;
    let mut oldest: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
    for e in committed.elements() {
        let Some((low, high)) = marks.get(&e.partition()).copied() else {
            continue;
        };
        let at = match e.offset() {
            Offset::Offset(o) => o.clamp(low, high),
            _ => low,
        };
        lag += high - at;
        if at < high {
            oldest.insert(e.partition(), (at, at + 1));
        }
    }
    if oldest.is_empty() {
        return Ok((lag as f64, Some(0.0)));
    }
    // The first uncommitted message of each lagging partition: the oldest one tells the time lag.
    let mut tpl = TopicPartitionList::new();
    for (p, (at, _)) in &oldest {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*at))
            .map_err(|e| format!("assigning {topic}: {e}"))?;
    }
    let age = reader
        .assign(&tpl)
        .ok()
        .and_then(|_| {
            poll_until(reader, &oldest, timeout, |m, out: &mut Vec<i64>| {
                out.extend(m.timestamp().to_millis())
            })
            .ok()
        })
        .and_then(|times| times.into_iter().min())
        .map(|ms| ((chrono::Utc::now().timestamp_millis() - ms) as f64 / 1000.0).max(0.0));
    Ok((lag as f64, age))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_spread_over_partitions() {
        let marks: BTreeMap<i32, (i64, i64)> = [(0, (0, 100)), (1, (10, 13)), (2, (5, 5))].into();
        let a = spread(10, &marks);
        assert_eq!(a.values().sum::<i64>(), 10);
        assert_eq!(a[&1], 3);
        assert_eq!(a[&2], 0);
        let a = spread(1000, &marks);
        assert_eq!(a[&0], 100);
        assert_eq!(a[&1], 3);
    }
}
