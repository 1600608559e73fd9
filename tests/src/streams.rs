//! Helpers for the stream tests: uniquely named NATS JetStream streams on the local nats-server
//! (127.0.0.1:4222, JetStream on), and the `noida-db` Kafka-protocol emulator started per test on a
//! free port with its own data directory, stopped (and the directory removed) when dropped.

// Test support: a panic on a missing value is the assertion.
#![allow(clippy::unwrap_used)]

use anyhow::Context;
use async_nats::jetstream;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub const NATS_URL: &str = "nats://127.0.0.1:4222";

/// A JetStream stream with a unique name, subject `<lowercase name>.>`; `delete` removes it.
pub struct NatsStream {
    pub js: jetstream::Context,
    pub name: String,
    pub subject: String,
}

impl NatsStream {
    pub async fn create(prefix: &str) -> anyhow::Result<NatsStream> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(NATS_URL)
            .await
            .context("nats-server on 127.0.0.1:4222")?;
        let js = jetstream::new(client);
        let name = format!("{prefix}_{}", crate::db::unique_suffix()).replace('.', "_");
        let subject = format!("{}.>", name.to_ascii_lowercase());
        js.create_stream(jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            // A stream a failed test leaves behind expires by itself.
            max_age: Duration::from_secs(6 * 3600),
            ..Default::default()
        })
        .await
        .context("create stream")?;
        Ok(NatsStream { js, name, subject })
    }

    /// Publishes each payload on `<prefix>.<subject suffix>` and waits for the stream's ack.
    pub async fn publish(&self, messages: &[(String, String)]) -> anyhow::Result<()> {
        let base = self.subject.trim_end_matches(".>");
        for (suffix, payload) in messages {
            self.js
                .publish(format!("{base}.{suffix}"), payload.clone().into())
                .await?
                .await
                .context("publish ack")?;
        }
        Ok(())
    }

    pub async fn delete(self) -> anyhow::Result<()> {
        self.js.delete_stream(&self.name).await?;
        Ok(())
    }
}

/// The Kafka-protocol emulator (`noida-db up --only kafka`), one per test.
pub struct KafkaEmulator {
    pub port: u16,
    dir: PathBuf,
}

impl KafkaEmulator {
    /// Starts the emulator on a free loopback port and waits until it answers.
    pub fn start() -> anyhow::Result<KafkaEmulator> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("tw_noida_{}", crate::db::unique_suffix()));
        std::fs::create_dir_all(&dir)?;
        let out = Command::new("noida-db")
            .args(["up", "--only", "kafka", "--kafka-port", &port.to_string()])
            .arg("--data-dir")
            .arg(&dir)
            .output()
            .context("running noida-db (pip install noida-db==0.2.3)")?;
        let emulator = KafkaEmulator { port, dir };
        anyhow::ensure!(
            out.status.success(),
            "noida-db up failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(emulator);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!("the kafka emulator did not answer on port {port}")
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A producer that waits for the broker's ack of every message.
    pub fn producer(&self) -> anyhow::Result<FutureProducer> {
        Ok(ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("message.timeout.ms", "10000")
            .set("acks", "all")
            .create()?)
    }
}

impl Drop for KafkaEmulator {
    fn drop(&mut self) {
        let _ = Command::new("noida-db")
            .arg("down")
            .arg("--data-dir")
            .arg(&self.dir)
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `(partition, key, payload, timestamp ms)` messages to `topic`, in order.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    messages: &[(i32, Option<String>, String, i64)],
) -> anyhow::Result<()> {
    for (partition, key, payload, ts) in messages {
        let mut record = FutureRecord::to(topic)
            .partition(*partition)
            .payload(payload.as_bytes())
            .timestamp(*ts);
        if let Some(k) = key {
            record = record.key(k.as_bytes());
        }
        producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| anyhow::anyhow!("produce to {topic}: {e}"))?;
    }
    Ok(())
}
