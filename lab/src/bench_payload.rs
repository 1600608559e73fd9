//! `bench payload`: messages per second of the stream payload profile step
//! (`tidewatch::sources::stream::payload::profile`: JSON → Arrow batch → metrics) on one core, over a
//! deterministic sample shaped like an order event (nested user object, ~5% NULL emails, 1% repeated
//! keys, 10% late events, 0.1% undecodable messages). A printed figure, never a pass/fail.

use std::time::{Duration, Instant};
use tidewatch::config::{KeySpec, PayloadFormat, StreamMonitor};
use tidewatch::sources::stream::payload::{profile, Sampled};

#[derive(clap::Args)]
pub struct PayloadArgs {
    /// Messages per profiled sample.
    #[arg(long, default_value_t = 100_000)]
    pub messages: usize,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

/// The deterministic sample.
pub fn sample(n: usize) -> Vec<Sampled> {
    let base = 1_800_000_000_000i64;
    (0..n)
        .map(|i| {
            let broker = base + i as i64 * 10;
            let payload = if i % 1000 == 999 {
                "{\"order_id\": ".to_string()
            } else {
                let id = if i % 100 == 7 { i - 7 } else { i };
                let email = if i % 20 == 3 {
                    "null".to_string()
                } else {
                    format!("\"user{i}@example.com\"")
                };
                let event = if i % 10 == 5 { broker - 3_600_000 } else { broker - 200 };
                format!(
                    r#"{{"order_id": {id}, "user": {{"email": {email}, "tier": "gold", "age": {}}}, "amount": {}.{:02}, "currency": "EUR", "status": "paid", "ts": {event}}}"#,
                    18 + i % 60,
                    i % 500,
                    i % 100
                )
            };
            Sampled {
                payload: payload.into_bytes(),
                key: Some(format!("k{}", i % 5000).into_bytes()),
                broker_ms: Some(broker),
            }
        })
        .collect()
}

pub fn run(args: &PayloadArgs) -> anyhow::Result<()> {
    let spec = StreamMonitor {
        name: "bench".into(),
        format: PayloadFormat::Json,
        key: KeySpec::Fields(vec!["order_id".into()]),
        event_time_field: Some("ts".into()),
        sample: args.messages,
        consumer_groups: Vec::new(),
        lateness_grace: Duration::from_secs(300),
    };
    let messages = sample(args.messages);
    let bytes: usize = messages.iter().map(|m| m.payload.len()).sum();
    // One warm-up run, then the timed ones.
    let p = profile(&messages, &spec);
    let mut times = Vec::with_capacity(args.runs);
    for _ in 0..args.runs.max(1) {
        let start = Instant::now();
        let p = profile(&messages, &spec);
        times.push(start.elapsed().as_secs_f64());
        std::hint::black_box(p);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "payload profile: {} messages ({:.0} bytes avg), {} fields, {} observations",
        args.messages,
        bytes as f64 / args.messages.max(1) as f64,
        p.schema.as_ref().map_or(0, Vec::len),
        p.observations.len()
    );
    println!(
        "median of {} runs: {:.3} s = {:.0} messages/s ({:.1} MB/s) on one core",
        times.len(),
        median,
        args.messages as f64 / median,
        bytes as f64 / median / 1e6
    );
    // The fastest run is the least disturbed by other work on a shared machine.
    println!(
        "fastest run: {:.3} s = {:.0} messages/s",
        times[0],
        args.messages as f64 / times[0]
    );
    Ok(())
}
