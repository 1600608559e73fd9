//! NATS JetStream: stream info (retained messages, newest message's time), the newest `sample`
//! messages read one by one with the stream's message-get API (no consumer at all, so nothing is
//! delivered or acknowledged on anyone's behalf), and consumer info of the named durable consumers
//! (`num_pending` → `consumer_lag`; the age of the first message after the ack floor →
//! `consumer_lag_seconds`).

use super::payload::Sampled;
use super::{Lag, Reading};
use crate::config::{Source as SourceConfig, StreamMonitor};
use async_nats::jetstream::{self, stream::Stream};
use futures::StreamExt;
use secrecy::ExposeSecret;
use std::future::Future;
use std::time::Duration;

/// Message gets in flight at once while sampling.
const PARALLEL_GETS: usize = 32;

/// Reads `spec.name` from the source (see the module docs).
pub async fn read(
    config: &SourceConfig,
    spec: &StreamMonitor,
    sample: usize,
) -> Result<Reading, String> {
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
    let within = |what: String| {
        move |r: Result<_, tokio::time::error::Elapsed>| {
            r.map_err(|_| format!("{what} timed out after {}s", timeout.as_secs()))
        }
    };
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
    let state = within(format!("stream info of {}", spec.name))(
        tokio::time::timeout(timeout, stream.info()).await,
    )?
    .map_err(|e| format!("stream info of {}: {}", spec.name, redact(&e)))?
    .state
    .clone();

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
        reading.sample_complete = from <= state.first_sequence;
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
    for group in &spec.consumer_groups {
        let lag = consumer_lag(&stream, group, state.first_sequence, timeout)
            .await
            .map_err(|e| redact(&e));
        reading.lag.push((group.clone(), lag));
    }
    Ok(reading)
}

/// (`num_pending`, age of the oldest message not yet acknowledged) of one durable consumer.
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
    if info.num_pending == 0 && info.num_ack_pending == 0 {
        return Ok((0.0, Some(0.0)));
    }
    let oldest = (info.ack_floor.stream_sequence + 1).max(first_sequence);
    let age = match bounded(timeout, stream.get_raw_message(oldest)).await {
        Ok(Ok(m)) => {
            let now = chrono::Utc::now().timestamp_millis();
            Some(((now - millis(m.time)) as f64 / 1000.0).max(0.0))
        }
        _ => None,
    };
    Ok((info.num_pending as f64, age))
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
