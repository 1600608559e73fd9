//! Topic monitors on a real Kafka-protocol broker (the `noida-db` emulator, started and stopped by
//! this test) through the whole scan pipeline: exact payload metrics, a group committed halfway and
//! left untouched by the scans (offsets unchanged, never joined: `fetch_group_list`), payload schema
//! drift, a missing topic and a broker that is down; volume per bucket from offsets by time; and a
//! lambda reconciliation against a SQLite table.
#![allow(clippy::unwrap_used)]

use checks::Status;
use checks::{Metric, SeriesKey};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;
use tidewatch_tests::scan_suite::{find, Workspace};
use tidewatch_tests::streams::{produce, KafkaEmulator};

fn close(actual: Option<f64>, expected: f64, what: &str) {
    let actual = actual.unwrap_or(f64::NAN);
    assert!(
        (actual - expected).abs() < 1e-9,
        "{what}: {actual} != {expected}"
    );
}

type Msg = (i32, Option<String>, String, i64);

/// 20 messages over two partitions (10 each): 2 undecodable; of the 18 objects 4 have no
/// `user.email`, 3 repeat an `order_id`, 6 carry an event time an hour before their broker time.
/// Message keys repeat twice (`k1`, `k2` appear two times each).
fn first_batch(now_ms: i64) -> Vec<Msg> {
    let mut out = Vec::new();
    for i in 1..=20i64 {
        let ts = now_ms - (21 - i) * 1000;
        let payload = if i == 19 {
            "not json".to_string()
        } else if i == 20 {
            "{\"order_id\": ".to_string()
        } else {
            let id = if i > 15 { i - 15 } else { i };
            let user = match i {
                2 | 3 => r#""user": {"email": null}"#.to_string(),
                4 => r#""user": null"#.to_string(),
                5 => r#""other": 1"#.to_string(),
                _ => format!(r#""user": {{"email": "u{i}@x.io"}}"#),
            };
            let event = if i % 3 == 0 {
                (ts - 3_600_000) / 1000 // epoch seconds, an hour before the broker time
            } else {
                ts / 1000
            };
            format!(r#"{{"order_id": {id}, {user}, "ts": {event}}}"#)
        };
        let key = match i {
            1 | 2 => Some("k1".to_string()),
            3 | 4 => Some("k2".to_string()),
            _ => Some(format!("key{i}")),
        };
        out.push(((i % 2) as i32, key, payload, ts));
    }
    out
}

fn consumer(brokers: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

#[tokio::test]
async fn kafka_topic_profile_lag_and_drift() -> anyhow::Result<()> {
    let kafka = KafkaEmulator::start()?;
    let brokers = kafka.brokers();
    let topic = format!("orders.v1.{}", tidewatch_tests::db::unique_suffix());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()?;
    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 2, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await?;
    for r in created {
        r.map_err(|(t, e)| anyhow::anyhow!("create topic {t}: {e}"))?;
    }
    let producer = kafka.producer()?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    produce(&producer, &topic, &first_batch(now_ms)).await?;

    // The billing group (this test) has committed halfway: offset 5 of 10 on both partitions.
    let group = format!("billing-{}", tidewatch_tests::db::unique_suffix());
    let billing = consumer(&brokers, &group);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(5))?;
    tpl.add_partition_offset(&topic, 1, Offset::Offset(5))?;
    billing.commit(&tpl, CommitMode::Sync)?;

    let ws = Workspace::new();
    let yaml = format!(
        r#"version: 1
store: sqlite://state.db
sources:
  kafka: {{ kind: kafka, brokers: "{brokers}" }}
  down: {{ kind: kafka, brokers: "127.0.0.1:1", connect_timeout: 2s }}
monitors:
  - name: order-events
    source: kafka
    topic: {topic}
    format: json
    key: [order_id]
    event_time_field: ts
    sample: 20
    consumer_groups: [{group}]
    lateness_grace: 5m
    checks:
      - null_rate(user.email) < 0.02
      - freshness < 10m
  - name: by-message-key
    source: kafka
    topic: {topic}
    key: message_key
    sample: 20
  - name: gone
    source: kafka
    topic: {topic}.missing
  - name: unreachable
    source: down
    topic: {topic}
"#
    );
    let started = std::time::Instant::now();
    let report = ws.scan(&yaml).await?;
    assert!(started.elapsed().as_secs() < 60, "the scan must not hang");
    let m = "order-events";
    close(
        find(&report, m, "message_count", None).value,
        20.0,
        "message_count",
    );
    close(
        find(&report, m, "parse_error_rate", None).value,
        0.1,
        "parse_error_rate",
    );
    let nulls = find(&report, m, "null_rate", Some("user.email"));
    close(nulls.value, 4.0 / 18.0, "null_rate(user.email)");
    assert_eq!(nulls.status, Status::Fail);
    close(
        find(&report, m, "duplicate_count", Some("order_id")).value,
        3.0,
        "duplicate_count",
    );
    close(
        find(&report, m, "duplicate_rate", Some("order_id")).value,
        3.0 / 18.0,
        "duplicate_rate",
    );
    close(
        find(&report, m, "late_rate", None).value,
        6.0 / 18.0,
        "late_rate",
    );
    close(
        find(&report, m, "consumer_lag", Some(group.as_str())).value,
        10.0,
        "consumer_lag",
    );
    // The oldest uncommitted message (offset 5 of partition 1: message 11) is ~10 s old.
    let lag_s = find(&report, m, "consumer_lag_seconds", Some(group.as_str()))
        .value
        .unwrap();
    let expected = (chrono::Utc::now().timestamp_millis() - (now_ms - 10_000)) as f64 / 1000.0;
    assert!(
        (lag_s - expected).abs() < 30.0,
        "consumer_lag_seconds {lag_s} vs {expected}"
    );
    let fresh = find(&report, m, "freshness_seconds", None);
    assert_eq!(fresh.status, Status::Pass, "{fresh:?}");
    assert!(fresh.value.unwrap() < 60.0);
    close(find(&report, m, "schema", None).value, 4.0, "schema fields"); // order_id, user.email, ts, other
    close(
        find(
            &report,
            "by-message-key",
            "duplicate_count",
            Some("message_key"),
        )
        .value,
        2.0,
        "duplicate_count(message_key)",
    );
    for name in ["gone", "unreachable"] {
        let r = find(&report, name, "row_count", None);
        assert_eq!(r.status, Status::Error, "{r:?}");
    }
    let gone = find(&report, "gone", "row_count", None);
    assert!(gone.message.contains("topic"), "{}", gone.message);

    // Read without joining the group: after the scan the group's committed offsets are those this
    // test committed, and the group has no members.
    let committed = |c: &BaseConsumer| -> Vec<(i32, Offset)> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&topic, 0);
        tpl.add_partition(&topic, 1);
        c.committed_offsets(tpl, Duration::from_secs(10))
            .unwrap()
            .elements()
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect()
    };
    let observer = consumer(&brokers, &format!("observer-{group}"));
    let reader = consumer(&brokers, &group);
    assert_eq!(
        committed(&reader),
        [(0, Offset::Offset(5)), (1, Offset::Offset(5))]
    );
    // (state, protocol type, members) of a group as the broker describes it.
    let describe = |name: &str| -> anyhow::Result<Vec<(String, String, usize)>> {
        let list = observer.fetch_group_list(Some(name), Duration::from_secs(10))?;
        Ok(list
            .groups()
            .iter()
            .filter(|g| g.name() == name)
            .map(|g| {
                let state = g.state().to_string();
                (state, g.protocol_type().to_string(), g.members().len())
            })
            .collect())
    };
    // Never joined: no members, and no protocol type (a group any consumer ever joined keeps
    // "consumer" as its protocol type, as the control below shows).
    assert_eq!(describe(&group)?, [("Empty".to_string(), String::new(), 0)]);
    drop(reader);
    let control = format!("control-{group}");
    let joiner = consumer(&brokers, &control);
    joiner.subscribe(&[&topic])?;
    for _ in 0..50 {
        let _ = joiner.poll(Duration::from_millis(100));
        if describe(&control)?.iter().any(|g| g.2 > 0) {
            break;
        }
    }
    drop(joiner);
    let after = describe(&control)?;
    assert!(
        after.iter().any(|g| g.1 == "consumer"),
        "a joined group keeps its protocol type: {after:?}"
    );

    // The producer changes shape: `coupon` appears, `user` and `other` disappear.
    let next: Vec<Msg> = (1..=20i64)
        .map(|i| {
            let ts = chrono::Utc::now().timestamp_millis();
            (
                (i % 2) as i32,
                None,
                format!(
                    r#"{{"order_id": {}, "coupon": "c{i}", "ts": {}}}"#,
                    100 + i,
                    ts / 1000
                ),
                ts,
            )
        })
        .collect();
    produce(&producer, &topic, &next).await?;
    let report = ws.scan(&yaml).await?;
    let schema = find(&report, m, "schema", None);
    assert_eq!(schema.status, Status::Anomaly, "{schema:?}");
    let details = schema.details.as_ref().unwrap();
    let names = |key: &str| -> Vec<String> {
        let mut n: Vec<String> = details[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names("added"), ["coupon"]);
    assert_eq!(names("removed"), ["other", "user.email"]);
    close(
        find(&report, m, "message_count", None).value,
        40.0,
        "message_count",
    );
    close(
        find(&report, m, "consumer_lag", Some(group.as_str())).value,
        30.0,
        "consumer_lag",
    );
    // Two scans later the group is still untouched.
    assert_eq!(
        committed(&consumer(&brokers, &group)),
        [(0, Offset::Offset(5)), (1, Offset::Offset(5))]
    );
    assert_eq!(describe(&group)?, [("Empty".to_string(), String::new(), 0)]);
    drop(billing);
    Ok(())
}

/// The stored volume buckets of `monitor`: (bucket start − `origin`) / `width`, messages.
async fn stored(
    ws: &Workspace,
    monitor: &str,
    width: i64,
    origin: i64,
) -> anyhow::Result<Vec<(i64, f64)>> {
    let store = ws.store().await?;
    let b: Vec<(i64, f64)> = store
        .buckets(&SeriesKey::table(monitor, Metric::Volume), width, None)
        .await?
        .iter()
        .map(|b| ((b.bucket_start.timestamp() - origin) / width, b.value))
        .collect();
    store.close().await;
    Ok(b)
}

async fn create_topic(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let created = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await?;
    for r in created {
        r.map_err(|(t, e)| anyhow::anyhow!("create topic {t}: {e}"))?;
    }
    Ok(())
}

/// `volume` comes from offsets by time, not from the sample: messages with known broker timestamps
/// in three past hours over two partitions (sample: 2), counted exactly per hour; a later scan
/// recounts the newest stored hour and adds the next one.
#[tokio::test]
async fn kafka_volume_is_counted_from_offsets_per_bucket() -> anyhow::Result<()> {
    let kafka = KafkaEmulator::start()?;
    let brokers = kafka.brokers();
    let topic = format!("volume.{}", tidewatch_tests::db::unique_suffix());
    create_topic(&brokers, &topic, 2).await?;
    let hour = 3600i64;
    let now = chrono::Utc::now().timestamp();
    let h = now.div_euclid(hour) * hour;
    // (partition, bucket start, messages) in time order per partition.
    let plan = [
        (0, h - 3 * hour, 2),
        (0, h - hour, 3),
        (0, h, 1),
        (1, h - 3 * hour, 1),
        (1, h - 2 * hour, 4),
        (1, h - hour, 2),
        (1, h, 1),
    ];
    let producer = kafka.producer()?;
    let mut messages: Vec<Msg> = Vec::new();
    for (p, b, n) in plan {
        for i in 0..n {
            let ts = (b + 60 + i * 300) * 1000;
            messages.push((p, None, format!(r#"{{"i": {i}}}"#), ts));
        }
    }
    produce(&producer, &topic, &messages).await?;
    let ws = Workspace::new();
    let yaml = format!(
        r#"version: 1
store: sqlite://state.db
sources:
  kafka: {{ kind: kafka, brokers: "{brokers}" }}
monitors:
  - name: vol
    source: kafka
    topic: {topic}
    sample: 2
    lookback: 4h
"#
    );
    let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap();
    let report = ws.scan_at(&yaml, at(h + 600)).await?;
    close(find(&report, "vol", "volume", None).value, 5.0, "volume");
    assert_eq!(
        stored(&ws, "vol", hour, h).await?,
        [(-3, 3.0), (-2, 4.0), (-1, 5.0)]
    );

    // The current hour fills up (and one message lands in the hour after): the next scan, an hour
    // later, recounts the newest stored hour and counts the new one.
    let more: Vec<Msg> = vec![
        (0, None, "{}".into(), (h + 1200) * 1000),
        (1, None, "{}".into(), (h + 1800) * 1000),
        (0, None, "{}".into(), (h + hour + 10) * 1000),
    ];
    produce(&producer, &topic, &more).await?;
    let report = ws.scan_at(&yaml, at(h + hour + 600)).await?;
    close(find(&report, "vol", "volume", None).value, 4.0, "volume");
    close(
        find(&report, "vol", "message_count", None).value,
        17.0,
        "message_count",
    );
    assert_eq!(
        stored(&ws, "vol", hour, h).await?,
        [(-3, 3.0), (-2, 4.0), (-1, 5.0), (0, 4.0)]
    );
    Ok(())
}

/// Reconciliation against a SQLite table: a topic whose 15 events fall in three past hours (broker
/// times inside the same hours), a table that lost one row of the first hour, loaded the second twice
/// and the third only partly. The stream side reads every message from the window's start, not the
/// sample (`sample: 2`); with `max_messages: 10` the oldest hour is left out, and said so.
#[tokio::test]
async fn kafka_reconciliation_finds_double_and_missing_loads() -> anyhow::Result<()> {
    let kafka = KafkaEmulator::start()?;
    let brokers = kafka.brokers();
    let topic = format!("lambda.{}", tidewatch_tests::db::unique_suffix());
    create_topic(&brokers, &topic, 2).await?;
    let now = chrono::Utc::now().timestamp();
    let hour = now.div_euclid(3600) * 3600;
    let buckets = [hour - 4 * 3600, hour - 3 * 3600, hour - 2 * 3600];
    let mut messages: Vec<Msg> = Vec::new();
    for b in buckets {
        for i in 0..5i64 {
            let event = b + 600 + i * 60;
            messages.push((
                (i % 2) as i32,
                None,
                format!(r#"{{"id": "{b}-{i}", "ts": {event}}}"#),
                (event + 30) * 1000,
            ));
        }
    }
    produce(&kafka.producer()?, &topic, &messages).await?;
    let ws = Workspace::new();
    let db = ws.dir.join("wh.db");
    {
        use sqlx::Connection;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display())).await?;
        sqlx::query("CREATE TABLE orders (id TEXT, created_at INTEGER)")
            .execute(&mut conn)
            .await?;
        for (b, copies, rows) in [(buckets[0], 1, 4), (buckets[1], 2, 5), (buckets[2], 1, 2)] {
            for _ in 0..copies {
                for i in 0..rows {
                    sqlx::query("INSERT INTO orders VALUES (?, ?)")
                        .bind(format!("{b}-{i}"))
                        .bind(b + 600 + i * 60)
                        .execute(&mut conn)
                        .await?;
                }
            }
        }
        conn.close().await?;
    }
    let yaml = format!(
        r#"version: 1
store: sqlite://state.db
sources:
  kafka: {{ kind: kafka, brokers: "{brokers}" }}
  wh: {{ kind: sqlite, url: wh.db }}
monitors:
  - name: order-events
    source: kafka
    topic: {topic}
    event_time_field: ts
    sample: 2
    lateness_grace: 5m
  - name: orders
    source: wh
    table: orders
    timestamp_column: created_at
  - name: orders-lambda
    reconcile: {{ stream: order-events, table: orders, bucket: 1h }}
    checks:
      - reconcile_gap < 0.5%
  - name: orders-lambda-small
    reconcile: {{ stream: order-events, table: orders, bucket: 1h, window: 6h, max_messages: 10 }}
"#
    );
    let report = ws.scan(&yaml).await?;
    let at = |b: i64| chrono::DateTime::from_timestamp(b, 0).unwrap().to_rfc3339();
    let listed = |r: &checks::ResultRow| -> Vec<(String, String, f64, f64)> {
        r.details.as_ref().unwrap()["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["bucket_start"].as_str().unwrap().to_string(),
                    b["kind"].as_str().unwrap().to_string(),
                    b["stream"].as_f64().unwrap(),
                    b["table"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let gap = find(&report, "orders-lambda", "reconcile_gap", None);
    close(gap.value, 1.0, "reconcile_gap");
    assert_eq!(gap.status, Status::Fail);
    assert_eq!(
        listed(gap),
        [
            (at(buckets[0]), "missing".to_string(), 5.0, 4.0),
            (at(buckets[1]), "duplicated".to_string(), 5.0, 10.0),
            (at(buckets[2]), "missing".to_string(), 5.0, 2.0),
        ]
    );
    let d = gap.details.as_ref().unwrap();
    assert_eq!(d["stream_messages_read"], 15, "{d}");
    assert_eq!(d["narrowed_by_max_messages"], false);
    assert_eq!(d["judged_buckets"], 24);

    // At most 10 messages: the hour before the first event hour (15 ahead) and the first event hour
    // (15 ahead) are left out, judging starts at the second (10 ahead).
    let small = find(&report, "orders-lambda-small", "reconcile_gap", None);
    let d = small.details.as_ref().unwrap();
    assert_eq!(d["first_bucket"], at(buckets[1]), "{d}");
    assert_eq!(d["narrowed_by_max_messages"], true);
    assert_eq!(d["stream_messages_read"], 10);
    assert_eq!(
        listed(small),
        [
            (at(buckets[1]), "duplicated".to_string(), 5.0, 10.0),
            (at(buckets[2]), "missing".to_string(), 5.0, 2.0),
        ]
    );
    close(small.value, 1.0, "reconcile_gap (narrowed)");
    Ok(())
}
