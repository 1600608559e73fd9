//! NATS JetStream (a reconciliation reads every message of its window through an ordered ephemeral
//! consumer, [`event_times`]): stream info (retained messages, newest message's time), the first sequence at or
//! after every bucket boundary by a binary search of message gets (`volume` = sequence differences
//! minus the deleted sequences the stream info lists), the newest `sample`
//! messages read one by one with the stream's message-get API (no consumer at all, so nothing is
//! delivered or acknowledged on anyone's behalf), and consumer info of the named durable consumers
//! (`num_pending + num_ack_pending`, the messages not yet acknowledged → `consumer_lag`; the age of
//! the first message after the ack floor → `consumer_lag_seconds`).

use super::payload::Sampled;
use super::{boundaries, offset_buckets, Lag, Positions, Reading};
use crate::config::{Source as SourceConfig, StreamMonitor};
use async_nats::jetstream::{self, stream::Stream};
use checks::{Failure, Metric, Target, VolumeWindow};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use secrecy::ExposeSecret;
use std::future::Future;
use std::time::Duration;

/// Message gets in flight at once while sampling.
const PARALLEL_GETS: usize = 32;

/// The stream of `spec` on the source, and its state.
async fn open(
    config: &SourceConfig,
    spec: &StreamMonitor,
) -> Result<(Stream, jetstream::stream::State), String> {
    let url = config.url.expose_secret();
    let timeout = config.connect_timeout;
    let redact = |e: &dyn std::fmt::Display| crate::secret::redact(&e.to_string(), url);
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(timeout)
        .request_timeout(Some(timeout))
        .max_reconnects(Some(1))
        .connect(url)
        .await
        .map_err(|e| format!("cannot connect to source {}: {}", config.name, redact(&e)))?;
    let js = jetstream::new(client);
    let mut stream = bounded(timeout, js.get_stream(&spec.name))
        .await
        .map_err(|_| format!("reading stream {} timed out", spec.name))?
        .map_err(|e| {
            format!(
                "stream {} on source {}: {}",
                spec.name,
                config.name,
                redact(&e)
            )
        })?;
    let state = bounded(timeout, stream.info())
        .await
        .map_err(|_| {
            format!(
                "stream info of {} timed out after {}s",
                spec.name,
                timeout.as_secs()
            )
        })?
        .map_err(|e| format!("stream info of {}: {}", spec.name, redact(&e)))?
        .state
        .clone();
    Ok((stream, state))
}

/// Reads `spec.name` from the source (see the module docs).
pub async fn read(
    config: &SourceConfig,
    spec: &StreamMonitor,
    sample: usize,
    window: Option<VolumeWindow>,
) -> Result<Reading, String> {
    let url = config.url.expose_secret();
    let timeout = config.connect_timeout;
    let redact = |e: &dyn std::fmt::Display| crate::secret::redact(&e.to_string(), url);
    let (stream, state) = open(config, spec).await?;

    let mut reading = Reading {
        message_count: Some(state.messages as f64),
        ..Reading::default()
    };
    if state.messages > 0 {
        reading.newest_ms = Some(millis(state.last_timestamp));
        let from = state
            .last_sequence
            .saturating_sub(sample as u64 - 1)
            .max(state.first_sequence)
            .max(1);
        let stream_ref = &stream;
        let got: Vec<Option<Sampled>> = futures::stream::iter(from..=state.last_sequence)
            .map(|seq| async move {
                let m = bounded(timeout, stream_ref.get_raw_message(seq))
                    .await
                    .ok()?
                    .ok()?;
                Some(Sampled {
                    payload: m.payload.to_vec(),
                    key: Some(m.subject.as_bytes().to_vec()),
                    broker_ms: Some(millis(m.time)),
                })
            })
            .buffered(PARALLEL_GETS)
            .collect()
            .await;
        reading.sample = got.into_iter().flatten().collect();
    }
    if let Some(w) = window {
        let (w, bounds) = boundaries(w);
        match positions(&stream, &state, &bounds, timeout).await {
            Ok(p) => reading.buckets = offset_buckets(w, &bounds, &[p]),
            Err(message) => reading.failures.push(Failure {
                metric: Metric::Volume,
                target: Target::Table,
                message: redact(&message),
                whole: false,
            }),
        }
    }
    for group in &spec.consumer_groups {
        let lag = consumer_lag(&stream, group, state.first_sequence, timeout)
            .await
            .map_err(|e| redact(&e));
        reading.lag.push((group.clone(), lag));
    }
    Ok(reading)
}

/// The event times (unix ms; `None` when unreadable) of every message from the first one at or after
/// `starts[i]` (broker time, unix s) to the stream's last, for the first `i` from which there are at
/// most `max_messages` (see [`super::event_counts`]). Read by an ordered consumer: ephemeral, in
/// memory, no acknowledgements, removed by the server once idle.
pub async fn event_times(
    config: &SourceConfig,
    spec: &StreamMonitor,
    field: &str,
    starts: &[i64],
    max_messages: u64,
) -> Result<(usize, Vec<Option<i64>>), String> {
    use async_nats::jetstream::consumer::{pull, DeliverPolicy};
    let url = config.url.expose_secret();
    let redact = |e: &dyn std::fmt::Display| crate::secret::redact(&e.to_string(), url);
    let timeout = config.connect_timeout;
    let (stream, state) = open(config, spec).await?;
    if state.messages == 0 {
        return Ok((0, Vec::new()));
    }
    let p = positions(&stream, &state, starts, timeout).await?;
    let last = state.last_sequence as i64;
    let i = super::first_within(
        p.at.iter().map(|at| (last + 1 - at).max(0) as u64),
        max_messages,
    )
    .ok_or_else(|| too_many(spec, max_messages))?;
    let from = p.at[i] as u64;
    if from > state.last_sequence {
        return Ok((i, Vec::new()));
    }
    let consumer = bounded(
        timeout,
        stream.create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: from,
            },
            ..Default::default()
        }),
    )
    .await
    .map_err(|_| "creating an ordered consumer timed out".to_string())?
    .map_err(|e| format!("ordered consumer on {}: {}", spec.name, redact(&e)))?;
    let mut messages = bounded(timeout, consumer.messages())
        .await
        .map_err(|_| "reading the stream timed out".to_string())?
        .map_err(|e| format!("reading {}: {}", spec.name, redact(&e)))?;
    let path: Vec<&str> = field.split('.').collect();
    let mut out = Vec::new();
    loop {
        let m = match bounded(timeout, messages.next()).await {
            Err(_) => {
                return Err(format!(
                    "reading {} stalled for {}s",
                    spec.name,
                    timeout.as_secs()
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(format!("reading {}: {}", spec.name, redact(&e))),
            Ok(Some(Ok(m))) => m,
        };
        let seq = m
            .info()
            .map_err(|e| format!("reading {}: {e}", spec.name))?
            .stream_sequence;
        if seq > state.last_sequence {
            break;
        }
        out.push(super::payload::event_time_ms(&m.payload, &path));
        if seq >= state.last_sequence {
            break;
        }
    }
    Ok((i, out))
}

fn too_many(spec: &StreamMonitor, max: u64) -> String {
    format!(
        "even the last judged bucket of {} holds more than max_messages ({max}) messages to read",
        spec.name
    )
}

/// The stream's positions at the boundaries: the first sequence whose message time is at or after
/// each, found by a binary search of message gets (nats-server 2.9 has no get by time; each probe
/// asks for the first message at or after a sequence, so deleted sequences are skipped), the
/// boundaries searched divide and conquer so each search narrows the next. Deleted sequences inside
/// the stream come from the stream info's deleted list, read only when it reports deletions.
async fn positions(
    stream: &Stream,
    state: &jetstream::stream::State,
    bounds: &[i64],
    timeout: Duration,
) -> Result<Positions, String> {
    let end = state.last_sequence + 1;
    let first = state.first_sequence.max(1);
    let mut found: Vec<(u64, Option<i64>)> = vec![(end, None); bounds.len()];
    if state.messages > 0 {
        let times: Vec<i64> = bounds.iter().map(|b| b.saturating_mul(1000)).collect();
        search_all(stream, &times, first, end, timeout, &mut found).await?;
    }
    let deleted = if state.deleted_count.unwrap_or(0) > 0 {
        let info = bounded(timeout, stream.info_builder().with_deleted(true).fetch())
            .await
            .map_err(|_| "stream info with deleted sequences timed out".to_string())?
            .map_err(|e| format!("stream info with deleted sequences: {e}"))?;
        let mut d: Vec<i64> = info
            .info
            .state
            .deleted
            .unwrap_or_default()
            .into_iter()
            .map(|s| s as i64)
            .collect();
        d.sort_unstable();
        d
    } else {
        Vec::new()
    };
    Ok(Positions {
        at: found.iter().map(|(s, _)| *s as i64).collect(),
        low: first as i64,
        truncated: first > 1 && state.messages > 0,
        deleted,
        before: found
            .iter()
            .map(|(_, t)| t.map(|ms| ms.div_euclid(1000)))
            .collect(),
    })
}

/// Fills `out[i]` with the first sequence in `[lo, hi]` whose message time is at or after
/// `times[i]` (ms), and the time of the message before it when a probe saw it.
fn search_all<'a>(
    stream: &'a Stream,
    times: &'a [i64],
    lo: u64,
    hi: u64,
    timeout: Duration,
    out: &'a mut [(u64, Option<i64>)],
) -> BoxFuture<'a, Result<(), String>> {
    async move {
        if times.is_empty() {
            return Ok(());
        }
        let m = times.len() / 2;
        let at = first_at(stream, times[m], lo, hi, timeout).await?;
        out[m] = at;
        let (left, rest) = out.split_at_mut(m);
        let right = &mut rest[1..];
        let (l, r) = futures::join!(
            search_all(stream, &times[..m], lo, at.0, timeout, left),
            search_all(stream, &times[m + 1..], at.0, hi, timeout, right)
        );
        l.and(r)
    }
    .boxed()
}

/// The first sequence in `[lo, hi]` (`hi` = none) whose message time is at or after `t_ms`, and
/// the time of the message just before it when the search read it.
async fn first_at(
    stream: &Stream,
    t_ms: i64,
    mut lo: u64,
    mut hi: u64,
    timeout: Duration,
) -> Result<(u64, Option<i64>), String> {
    let mut found = hi;
    let mut before = None;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match first_from(stream, mid, timeout).await? {
            Some((seq, ms)) if ms < t_ms => {
                before = Some(ms);
                lo = seq + 1;
            }
            Some((seq, _)) => {
                found = seq;
                hi = mid;
            }
            None => hi = mid,
        }
    }
    // `lo` moved only past messages before `t_ms`, and no message lies between the last of them and
    // `found`: it is the message before `found` (when `lo` moved at all).
    Ok((found, before))
}

/// The sequence and time (ms) of the first message at or after `seq`; `None` past the last one.
async fn first_from(
    stream: &Stream,
    seq: u64,
    timeout: Duration,
) -> Result<Option<(u64, i64)>, String> {
    match bounded(timeout, stream.get_first_raw_message_by_subject(">", seq)).await {
        Err(_) => Err(format!("message get at sequence {seq} timed out")),
        Ok(Ok(m)) => Ok(Some((m.sequence, millis(m.time)))),
        Ok(Err(e)) if is_not_found(&e) => Ok(None),
        Ok(Err(e)) => Err(format!("message get at sequence {seq}: {e}")),
    }
}

fn is_not_found(e: &async_nats::jetstream::stream::RawMessageError) -> bool {
    use async_nats::jetstream::stream::RawMessageErrorKind;
    matches!(e.kind(), RawMessageErrorKind::NoMessageFound)
}

/// One durable consumer's lag: messages not yet acknowledged (`num_pending`, not delivered yet, plus
/// `num_ack_pending`, delivered and awaiting their ack), and the age of the oldest of them: the
/// first message after the ack floor on the consumer's filter subject.
async fn consumer_lag(
    stream: &Stream,
    name: &str,
    first_sequence: u64,
    timeout: Duration,
) -> Result<Lag, String> {
    let info = bounded(timeout, stream.consumer_info(name))
        .await
        .map_err(|_| format!("consumer info of {name} timed out"))?
        .map_err(|e| format!("consumer {name}: {e}"))?;
    let unacknowledged = info.num_pending + info.num_ack_pending as u64;
    if unacknowledged == 0 {
        return Ok((0.0, Some(0.0)));
    }
    let oldest = (info.ack_floor.stream_sequence + 1).max(first_sequence);
    let filter = match info.config.filter_subject.as_str() {
        "" => ">",
        f => f,
    };
    let age = match bounded(
        timeout,
        stream.get_first_raw_message_by_subject(filter, oldest),
    )
    .await
    {
        Ok(Ok(m)) => {
            let now = chrono::Utc::now().timestamp_millis();
            Some(((now - millis(m.time)) as f64 / 1000.0).max(0.0))
        }
        _ => None,
    };
    Ok((unacknowledged as f64, age))
}

async fn bounded<T>(
    timeout: Duration,
    f: impl Future<Output = T>,
) -> Result<T, tokio::time::error::Elapsed> {
    tokio::time::timeout(timeout, f).await
}

fn millis(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}
