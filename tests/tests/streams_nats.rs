//! Stream monitors on the real nats-server (JetStream, 127.0.0.1:4222) through the whole scan
//! pipeline: exact payload and lag metrics, payload schema drift, a missing stream and a broker that
//! is down, and a lambda reconciliation against a SQLite table.
#![allow(clippy::unwrap_used)]

use async_nats::jetstream::consumer::{pull, AckPolicy};
use checks::{Metric, SeriesKey, Status};
use futures::StreamExt;
use tidewatch_tests::scan_suite::{find, Workspace};
use tidewatch_tests::streams::{NatsStream, NATS_URL};

fn close(actual: Option<f64>, expected: f64, what: &str) {
    let actual = actual.unwrap_or(f64::NAN);
    assert!(
        (actual - expected).abs() < 1e-9,
        "{what}: {actual} != {expected}"
    );
}

/// 20 messages: 2 undecodable; of the 18 objects 4 have no `user.email` (explicit null, `user: null`,
/// no `user`), 3 repeat an `order_id`, 6 carry an event time an hour before their broker time.
fn first_batch(now: chrono::DateTime<chrono::Utc>) -> Vec<(String, String)> {
    let fresh = now.to_rfc3339();
    let late = (now - chrono::Duration::hours(1)).timestamp_millis();
    let mut out = Vec::new();
    for i in 1..=18 {
        let id = if i > 15 { i - 15 } else { i };
        let user = match i {
            2 | 3 => r#""user": {"email": null, "tier": 1}"#.to_string(),
            4 => r#""user": null"#.to_string(),
            5 => r#""other": 1"#.to_string(),
            _ => format!(r#""user": {{"email": "u{i}@x.io", "tier": 1}}"#),
        };
        let ts = if i % 3 == 0 {
            late.to_string()
        } else {
            format!("\"{fresh}\"")
        };
        out.push((
            format!("o{i}"),
            format!(r#"{{"order_id": {id}, {user}, "ts": {ts}}}"#),
        ));
    }
    out.push(("bad1".into(), "not json".into()));
    out.push(("bad2".into(), "{\"order_id\": ".into()));
    out
}

#[tokio::test]
async fn nats_stream_profile_lag_and_drift() -> anyhow::Result<()> {
    let stream = NatsStream::create("TW_ORDERS").await?;
    let now = chrono::Utc::now();
    // The first 8 messages, then 2 s later the other 12: the oldest unacknowledged message is one
    // of the first 8, so its age tells it apart from the oldest undelivered one.
    let batch = first_batch(now);
    let first_from = chrono::Utc::now().timestamp_millis();
    stream.publish(&batch[..8]).await?;
    let first_to = chrono::Utc::now().timestamp_millis();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    stream.publish(&batch[8..]).await?;
    // The billing consumer (this test) has taken 8 of the 20 messages and acknowledged the first 5:
    // 12 are not delivered yet and 3 await their ack.
    let js_stream = stream.js.get_stream(&stream.name).await?;
    let consumer = js_stream
        .create_consumer(pull::Config {
            durable_name: Some("billing".into()),
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        })
        .await?;
    let mut batch = consumer.fetch().max_messages(8).messages().await?;
    let mut taken = 0;
    let mut unacked = Vec::new();
    while let Some(m) = batch.next().await {
        let m = m.map_err(|e| anyhow::anyhow!("{e}"))?;
        taken += 1;
        if taken <= 5 {
            m.double_ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        } else {
            unacked.push(m);
        }
    }
    assert_eq!(taken, 8);

    let ws = Workspace::new();
    let yaml = format!(
        r#"version: 1
store: sqlite://state.db
sources:
  bus: {{ kind: nats, url: "{NATS_URL}" }}
  down: {{ kind: nats, url: "nats://127.0.0.1:1", connect_timeout: 2s }}
monitors:
  - name: order-events
    source: bus
    stream: {name}
    format: json
    key: [order_id]
    event_time_field: ts
    sample: 20
    consumer_groups: [billing]
    lateness_grace: 5m
    checks:
      - null_rate(user.email) < 0.02
      - freshness < 10m
      - consumer_lag(billing) <= 15
  - name: gone
    source: bus
    stream: {name}_MISSING
  - name: unreachable
    source: down
    stream: {name}
"#,
        name = stream.name
    );
    let started = std::time::Instant::now();
    let scan_from = chrono::Utc::now().timestamp_millis();
    let report = ws.scan(&yaml).await?;
    let scan_to = chrono::Utc::now().timestamp_millis();
    assert!(started.elapsed().as_secs() < 30, "the scan must not hang");
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
        find(&report, m, "null_count", Some("user.email")).value,
        4.0,
        "null_count",
    );
    close(
        find(&report, m, "null_count", Some("order_id")).value,
        0.0,
        "null_count(order_id)",
    );
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
    let lag = find(&report, m, "consumer_lag", Some("billing"));
    close(lag.value, 15.0, "consumer_lag(billing)");
    assert_eq!(lag.status, Status::Pass);
    // The oldest unacknowledged message is the 6th, published with the first 8.
    let lag_s = find(&report, m, "consumer_lag_seconds", Some("billing"))
        .value
        .unwrap();
    let (lo, hi) = (
        (scan_from - first_to) as f64 / 1000.0 - 0.01,
        (scan_to - first_from) as f64 / 1000.0 + 0.01,
    );
    assert!(
        (lo..=hi).contains(&lag_s),
        "consumer_lag_seconds {lag_s} outside [{lo}, {hi}]"
    );
    let fresh = find(&report, m, "freshness_seconds", None);
    assert_eq!(fresh.status, Status::Pass, "{fresh:?}");
    let schema = find(&report, m, "schema", None);
    close(schema.value, 5.0, "schema fields"); // order_id, other, ts, user.email, user.tier
                                               // Nullability apart from the types: the paths that held a NULL (or were missing) in the sample.
    let d = schema.details.as_ref().unwrap();
    let mut nullable: Vec<&str> = d["nullable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    nullable.sort();
    assert_eq!(nullable, ["other", "user.email", "user.tier"], "{d}");
    let email = d["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "user.email")
        .unwrap();
    assert_eq!(email["type"], "utf8");
    for r in report
        .results
        .iter()
        .filter(|r| r.monitor == "gone" || r.monitor == "unreachable")
    {
        assert_eq!(r.status, Status::Error, "{r:?}");
    }
    let gone = find(&report, "gone", "row_count", None);
    assert!(gone.message.contains("stream"), "{}", gone.message);
    let down = find(&report, "unreachable", "row_count", None);
    assert!(down.message.contains("cannot connect"), "{}", down.message);

    // The producer changes shape: `coupon` appears, `user` (and `other`) disappear.
    let next: Vec<(String, String)> = (1..=20)
        .map(|i| {
            (
                format!("n{i}"),
                format!(
                    r#"{{"order_id": {}, "coupon": "c{i}", "ts": "{}"}}"#,
                    100 + i,
                    now.to_rfc3339()
                ),
            )
        })
        .collect();
    stream.publish(&next).await?;
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
    assert_eq!(names("removed"), ["other", "user.email", "user.tier"]);
    close(
        find(&report, m, "message_count", None).value,
        40.0,
        "message_count",
    );
    close(
        find(&report, m, "parse_error_rate", None).value,
        0.0,
        "parse_error_rate",
    );
    close(
        find(&report, m, "consumer_lag", Some("billing")).value,
        35.0,
        "consumer_lag",
    );
    drop(unacked);

    stream.delete().await
}

#[tokio::test]
async fn nats_reconciliation_finds_a_double_and_a_missing_load() -> anyhow::Result<()> {
    let stream = NatsStream::create("TW_LAMBDA").await?;
    let now = chrono::Utc::now().timestamp();
    let hour = now.div_euclid(3600) * 3600;
    let buckets = [hour - 4 * 3600, hour - 3 * 3600, hour - 2 * 3600];
    // Five events in each bucket on the stream.
    let mut messages = Vec::new();
    for b in buckets {
        for i in 0..5 {
            messages.push((
                format!("e{b}_{i}"),
                format!(r#"{{"id": "{b}-{i}", "ts": {}}}"#, b + 600 + i * 60),
            ));
        }
    }
    stream.publish(&messages).await?;
    // The table: the first bucket loaded once, the second twice, the third only partly (2 of 5).
    let ws = Workspace::new();
    let db = ws.dir.join("wh.db");
    {
        use sqlx::Connection;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display())).await?;
        sqlx::query("CREATE TABLE orders (id TEXT, created_at INTEGER)")
            .execute(&mut conn)
            .await?;
        for (b, copies, rows) in [(buckets[0], 1, 5), (buckets[1], 2, 5), (buckets[2], 1, 2)] {
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
  bus: {{ kind: nats, url: "{NATS_URL}" }}
  wh: {{ kind: sqlite, url: wh.db }}
monitors:
  - name: order-events
    source: bus
    stream: {name}
    event_time_field: ts
    sample: 3
    lateness_grace: 5m
  - name: orders
    source: wh
    table: orders
    timestamp_column: created_at
  - name: orders-lambda
    reconcile: {{ stream: order-events, table: orders, bucket: 1h }}
    checks:
      - reconcile_gap < 0.5%
"#,
        name = stream.name
    );
    let report = ws.scan(&yaml).await?;
    let gap = find(&report, "orders-lambda", "reconcile_gap", None);
    close(gap.value, 1.0, "reconcile_gap");
    assert_eq!(gap.status, Status::Fail);
    let listed = gap.details.as_ref().unwrap()["buckets"]
        .as_array()
        .unwrap()
        .clone();
    let at = |b: i64| chrono::DateTime::from_timestamp(b, 0).unwrap().to_rfc3339();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["bucket_start"], at(buckets[1]));
    assert_eq!(listed[0]["kind"], "duplicated");
    assert_eq!(
        (listed[0]["stream"].as_f64(), listed[0]["table"].as_f64()),
        (Some(5.0), Some(10.0))
    );
    assert_eq!(listed[1]["bucket_start"], at(buckets[2]));
    assert_eq!(listed[1]["kind"], "missing");
    assert_eq!(
        (listed[1]["stream"].as_f64(), listed[1]["table"].as_f64()),
        (Some(5.0), Some(2.0))
    );
    assert_eq!(listed[1]["gap"].as_f64(), Some(0.6));
    // Every message of the window was read by event time, not the 3 of the sample.
    let d = gap.details.as_ref().unwrap();
    assert_eq!(d["stream_messages_read"], 15, "{d}");
    assert_eq!(d["narrowed_by_max_messages"], false);
    stream.delete().await
}

/// Sleeps until `offset_ms` into the next bucket of `width_ms`; returns that bucket's start (ms).
async fn into_next_bucket(width_ms: i64, offset_ms: i64) -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    let next = (now.div_euclid(width_ms) + 1) * width_ms;
    tokio::time::sleep(std::time::Duration::from_millis(
        (next + offset_ms - now) as u64,
    ))
    .await;
    next
}

/// `volume` comes from sequences, not from the sample: messages published in three consecutive
/// 2-second buckets (5, 3 and 4 of them, one of the 3 deleted afterwards), counted exactly per bucket
/// by first sequence at each bucket start minus the deleted ones, with `sample: 1`.
#[tokio::test]
async fn nats_volume_is_counted_from_sequences_per_bucket() -> anyhow::Result<()> {
    let stream = NatsStream::create("TW_VOLUME").await?;
    let width = 2000i64;
    let mut starts = Vec::new();
    for n in [5, 3, 4] {
        starts.push(into_next_bucket(width, 300).await / 1000);
        let msgs: Vec<(String, String)> = (0..n)
            .map(|i| (format!("m{i}"), format!(r#"{{"i": {i}}}"#)))
            .collect();
        stream.publish(&msgs).await?;
    }
    // Sequence 7 is the second message of the middle bucket.
    let js_stream = stream.js.get_stream(&stream.name).await?;
    assert!(js_stream.delete_message(7).await?);
    into_next_bucket(width, 300).await;
    let ws = Workspace::new();
    let yaml = format!(
        r#"version: 1
store: sqlite://state.db
sources:
  bus: {{ kind: nats, url: "{NATS_URL}" }}
monitors:
  - name: vol
    source: bus
    stream: {name}
    sample: 1
    bucket: 2s
    lookback: 1m
"#,
        name = stream.name
    );
    let report = ws.scan(&yaml).await?;
    let vol = find(&report, "vol", "volume", None);
    assert_eq!(vol.value, Some(4.0), "{vol:?}");
    close(
        find(&report, "vol", "message_count", None).value,
        11.0,
        "message_count",
    );
    let store = ws.store().await?;
    let key = SeriesKey::table("vol", Metric::Volume);
    let counted: Vec<(i64, f64)> = store
        .buckets(&key, 2, None)
        .await?
        .iter()
        .map(|b| (b.bucket_start.timestamp(), b.value))
        .collect();
    assert_eq!(
        counted,
        [(starts[0], 5.0), (starts[1], 2.0), (starts[2], 4.0)]
    );
    // The newest message time of each bucket comes from the search's own probes.
    let newest = store
        .buckets(&key.with_metric(Metric::NewestRow), 2, None)
        .await?;
    // The search for the window's end read the stream's last message (the newest of the last bucket).
    assert!(
        newest
            .iter()
            .any(|b| b.bucket_start.timestamp() == starts[2]),
        "{newest:?}"
    );
    for b in &newest {
        let t = b.value as i64;
        assert!(
            (b.bucket_start.timestamp()..b.bucket_start.timestamp() + 2).contains(&t),
            "{b:?}"
        );
    }
    store.close().await;
    stream.delete().await
}
