//! `tidewatch demo --once` as a newcomer runs it, in a fresh directory: the four injected incidents
//! appear in its report (stalled loader, volume drop, NULL burst, schema change with the column
//! named), the healthy tables pass, the exit code is 0, and the demo's `log` receiver logs each
//! incident; with its `alerts:` section changed to add a receiver, a second run keeps it and the
//! incidents reach that receiver (a loopback webhook) and the log.

#![allow(clippy::unwrap_used)] // a panic on an unexpected error is the assertion

mod support;

use axum::body::Bytes;
use axum::extract::State;
use axum::Router;
use serde_json::Value;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use support::TempDir;

fn demo_once(dir: &TempDir) -> Output {
    let d = dir.join("demo").display().to_string();
    Command::new(env!("CARGO_BIN_EXE_tidewatch"))
        .args(["demo", "--dir", &d, "--once"])
        .env_remove("TIDEWATCH_LOG")
        .output()
        .expect("run tidewatch demo")
}

/// The fingerprints of the alerts the injected incidents raise.
const INCIDENT_ALERTS: [&str; 7] = [
    "orders/freshness_seconds/",
    "orders/volume/",
    "orders/null_rate/email",
    "orders/duplicate_count/id",
    "payments/volume/",
    "shipments/bucket_null_rate/tracking_number",
    "customers/schema/",
];

/// Whether a log line is the `log` receiver's line for the alert with this fingerprint.
fn logged(line: &str, fingerprint: &str) -> bool {
    let field = format!("fingerprint={fingerprint}");
    line.contains("alert [") && line.split_whitespace().any(|w| w == field)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One line of the report table.
#[derive(Debug, Clone)]
struct Row {
    status: String,
    monitor: String,
    metric: String,
    column: String,
    message: String,
}

/// The report table of the demo's output, cut at the header's column offsets.
fn report(stdout: &str) -> Vec<Row> {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("STATUS "));
    let header = lines.next().expect("a report table");
    let at = |name: &str| header.find(name).unwrap();
    let starts = [
        0,
        at("MONITOR"),
        at("METRIC"),
        at("COLUMN"),
        at("VALUE"),
        at("EXPECTED"),
        at("MESSAGE"),
    ];
    lines
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let chars: Vec<char> = l.chars().collect();
            let cell = |i: usize| -> String {
                let from = starts[i].min(chars.len());
                let to = starts
                    .get(i + 1)
                    .map_or(chars.len(), |&e| e.min(chars.len()));
                chars[from..to]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_string()
            };
            Row {
                status: cell(0),
                monitor: cell(1),
                metric: cell(2),
                column: cell(3),
                message: cell(6),
            }
        })
        .collect()
}

fn find<'a>(rows: &'a [Row], monitor: &str, metric: &str, column: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.monitor == monitor && r.metric == metric && r.column == column)
        .unwrap_or_else(|| panic!("no row {monitor} {metric} {column:?} in {rows:#?}"))
}

#[test]
fn demo_once_shows_each_incident_and_passes_the_healthy_tables() {
    let dir = TempDir::new("demo_once");
    let out = demo_once(&dir);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    // The demo ran: 0, whatever it found.
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for want in [
        "6 tables",
        "scan 1 (run 1): customers before its migration",
        "upstream migration: ALTER TABLE customers RENAME COLUMN phone TO phone_number",
        "what the demo injected",
        "run it again with: tidewatch scan -c",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
    let rows = report(&stdout);
    assert!(rows.len() > 40, "{rows:#?}");
    let status = |m: &str, metric: &str, c: &str| find(&rows, m, metric, c).status.clone();

    // Stalled loader: the freshness check fails and the empty last hour is a learned anomaly; the
    // same loader's NULL emails and duplicated batch fail their checks.
    assert_eq!(status("orders", "freshness_seconds", ""), "fail");
    assert_eq!(status("orders", "volume", ""), "anomaly");
    assert_eq!(status("orders", "null_rate", "email"), "fail");
    assert_eq!(status("orders", "duplicate_count", "id"), "fail");
    // Volume drop: no check, the learned band.
    assert_eq!(status("payments", "volume", ""), "anomaly");
    // NULL burst: no check, the learned band of the last hour's NULL rate.
    assert_eq!(
        status("shipments", "bucket_null_rate", "tracking_number"),
        "anomaly"
    );
    assert_eq!(status("shipments", "bucket_null_rate", "carrier"), "pass");
    // Schema change, the columns named.
    let schema = find(&rows, "customers", "schema", "");
    assert_eq!(schema.status, "anomaly");
    assert!(
        schema.message.contains("removed: phone") && schema.message.contains("added: phone_number"),
        "{schema:?}"
    );

    // The other checks of the incident tables pass.
    assert_eq!(status("payments", "duplicate_count", "order_id"), "pass");
    assert_eq!(status("customers", "null_rate", "country"), "pass");
    assert_eq!(status("customers", "duplicate_count", "email"), "pass");
    assert_eq!(status("orders", "row_count", ""), "pass");

    // Healthy tables: their checks pass, their learned series pass or are still learning.
    for (m, metric, c) in [
        ("events", "freshness_seconds", ""),
        ("events", "duplicate_count", "event_id"),
        ("events", "volume", ""),
        ("products", "row_count", ""),
        ("products", "null_rate", "category"),
        ("products", "min", "price"),
    ] {
        assert_eq!(status(m, metric, c), "pass", "{m} {metric} {c}");
    }
    for r in rows
        .iter()
        .filter(|r| r.monitor == "events" || r.monitor == "products")
    {
        assert!(
            r.status == "pass" || r.status == "learning",
            "healthy table flagged: {r:?}"
        );
    }
    // Nothing failed to measure and no other check fails. A learned series of a table with an
    // incident may still alarm by itself now and then (the model's false-alarm budget, about 0.25
    // per series-week); the healthy tables above are held to none.
    let injected = [
        ("orders", "freshness_seconds", ""),
        ("orders", "volume", ""),
        ("orders", "null_rate", "email"),
        ("orders", "duplicate_count", "id"),
        ("payments", "volume", ""),
        ("shipments", "bucket_null_rate", "tracking_number"),
        ("customers", "schema", ""),
    ];
    for r in &rows {
        assert_ne!(r.status, "error", "{r:?}");
        if r.status == "fail" {
            assert!(
                injected.contains(&(r.monitor.as_str(), r.metric.as_str(), r.column.as_str())),
                "a check failed outside the injected incidents: {r:?}"
            );
        }
    }
    // The demo's own alerts section routes every incident to the `log` receiver: one line per alert
    // on stderr, one notification per failing monitor.
    assert_eq!(
        stderr.matches("notification delivered").count(),
        4,
        "{stderr}"
    );
    for want in INCIDENT_ALERTS {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(" WARN ") && l.contains("alert [FIRING") && logged(l, want)),
            "{want} not logged: {stderr}"
        );
    }
    assert!(
        !stderr.lines().any(|l| l.contains("alert [")
            && (l.contains("fingerprint=events/") || l.contains("fingerprint=products/"))),
        "{stderr}"
    );
}

/// What the loopback webhook received.
#[derive(Clone, Default)]
struct Hook(Arc<Mutex<Vec<Value>>>);

async fn receive(State(h): State<Hook>, body: Bytes) -> &'static str {
    h.0.lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_added_to_the_demo_config_gets_its_incidents() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let hook = Hook::default();
    let app = Router::new().fallback(receive).with_state(hook.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = TempDir::new("demo_alerts");
    let first = tokio::task::block_in_place(|| demo_once(&dir));
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    // The user's edit: the demo's alerts section replaced by one that also sends to a webhook.
    let cfg = dir.join("demo").join("tidewatch.yaml");
    let yaml = std::fs::read_to_string(&cfg).unwrap();
    let at = yaml
        .find("\nalerts:\n")
        .expect("the demo writes an alerts section");
    let mut yaml = yaml[..at + 1].to_string();
    yaml.push_str(&format!(
        "alerts:\n  receivers:\n    - name: hook\n      webhook: {{ url: \"{url}\" }}\n    - name: log\n      log: {{}}\n  route:\n    receiver: log\n    group_by: [monitor]\n    routes:\n      - {{ receiver: hook, continue: true }}\n      - {{ receiver: log }}\n"
    ));
    std::fs::write(&cfg, yaml).unwrap();

    let out = tokio::task::block_in_place(|| demo_once(&dir));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        text(&out.stdout).contains("with the alerts section of the previous one"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        std::fs::read_to_string(&cfg).unwrap().contains(&url),
        "the alerts section was not kept"
    );
    // One notification per monitor group with problems, each in the log.
    let got = hook.0.lock().unwrap().clone();
    let fingerprints: Vec<String> = got
        .iter()
        .flat_map(|n| n["alerts"].as_array().unwrap().clone())
        .map(|a| a["fingerprint"].as_str().unwrap().to_string())
        .collect();
    for want in INCIDENT_ALERTS {
        assert!(
            fingerprints.iter().any(|f| f == want),
            "{want} not notified: {fingerprints:?}"
        );
    }
    assert!(
        !fingerprints
            .iter()
            .any(|f| f.starts_with("events/") || f.starts_with("products/")),
        "{fingerprints:?}"
    );
    assert_eq!(
        got.len(),
        4,
        "one notification per failing monitor: {got:#?}"
    );
    // The same groups went to the log receiver as well.
    assert_eq!(
        stderr.matches("notification queued").count(),
        2 * got.len(),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("notification delivered").count(),
        2 * got.len(),
        "{stderr}"
    );
    for f in &fingerprints {
        assert!(
            stderr.lines().any(|l| logged(l, f)),
            "{f} not logged: {stderr}"
        );
    }
}
