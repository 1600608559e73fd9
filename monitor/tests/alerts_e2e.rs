//! Issue 9 end to end, as a user runs it: the real `tidewatch` binary scans a SQLite warehouse with
//! an `alerts:` section whose receivers are REAL loopback servers: an axum HTTP server playing
//! Slack, PagerDuty and a webhook (200, 400, 429 + Retry-After, 500, slow), and aiosmtpd for email
//! (the alerts crate's recorder, `alerts/tests/smtp_handler.py`).

#![allow(clippy::unwrap_used)] // a panic on an unexpected error is the assertion

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use sqlx::{Connection, SqliteConnection};
use tidewatch::store::{OutboxNew, OutboxState, Store};

/// Put in the Slack webhook path, the PagerDuty routing key and the webhook secret; asserted absent
/// from every log line and stored error.
const SECRET: &str = "XyZsecretT0ken987";

// ---------------------------------------------------------------- the HTTP receiver

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
struct Mock {
    seen: Arc<Mutex<Vec<Seen>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Mock {
    fn seen(&self, prefix: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path.starts_with(prefix))
            .cloned()
            .collect()
    }
}

/// The first path segment picks the answer: `ok` 200, `accepted` 202 (PagerDuty), `bad` 400,
/// `limited` 429 + `Retry-After: 2` on the first request to that path and 200 after, `error` 500,
/// `slow` 200 after 300 ms.
async fn answer(State(m): State<Mock>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let hit = {
        let mut hits = m.hits.lock().unwrap();
        let n = hits.entry(path.clone()).or_default();
        *n += 1;
        *n
    };
    // Recorded on arrival: a receiver acts on what it got even when the sender dies before the
    // answer (that is where a duplicate comes from).
    m.seen.lock().unwrap().push(Seen {
        path,
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    if first == "slow" {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    match first.as_str() {
        "ok" | "slow" => (StatusCode::OK, "ok").into_response(),
        "accepted" => (
            StatusCode::ACCEPTED,
            [("content-type", "application/json")],
            r#"{"status":"success","message":"Event processed"}"#,
        )
            .into_response(),
        "bad" => (StatusCode::BAD_REQUEST, "invalid_payload").into_response(),
        "limited" if hit == 1 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "2")],
            "rate_limited",
        )
            .into_response(),
        "limited" => (StatusCode::OK, "ok").into_response(),
        "error" => (StatusCode::INTERNAL_SERVER_ERROR, "rollup_error").into_response(),
        _ => (StatusCode::NOT_FOUND, "no such route").into_response(),
    }
}

async fn http_server() -> (String, Mock) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mock = Mock::default();
    let app = Router::new().fallback(answer).with_state(mock.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), mock)
}

// ---------------------------------------------------------------- aiosmtpd

// The alerts crate's aiosmtpd harness with its recorder (`alerts/tests/smtp_handler.py`).
#[path = "../../alerts/tests/support/smtp.rs"]
mod smtp;
use smtp::{free_port, recorded as mails, start_smtp};

// ---------------------------------------------------------------- warehouse, config, binary

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("tw_alerts_{tag}_{}_{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// `orders(id, email)` with 100 rows, `nulls` of them without an email.
async fn warehouse(dir: &Path, nulls: usize) {
    let url = format!("sqlite://{}?mode=rwc", dir.join("wh.db").display());
    let mut c = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("DROP TABLE IF EXISTS orders")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT)")
        .execute(&mut c)
        .await
        .unwrap();
    for i in 0..100 {
        let email = (i >= nulls).then(|| format!("u{i}@example.com"));
        sqlx::query("INSERT INTO orders (id, email) VALUES ($1, $2)")
            .bind(i as i64)
            .bind(email)
            .execute(&mut c)
            .await
            .unwrap();
    }
    c.close().await.unwrap();
}

struct Receivers<'a> {
    slack: &'a str,
    hook: &'a str,
    pager: &'a str,
    smtp_port: u16,
}

/// The issue's config shape; the team routes `continue` so one failure reaches Slack and email
/// (and PagerDuty, being critical).
fn config(dir: &Path, r: &Receivers<'_>, flush_timeout: &str) -> PathBuf {
    let text = format!(
        r#"version: 1
sources:
  shop: {{ kind: sqlite, url: wh.db }}
alerts:
  public_url: https://tidewatch.example.com
  flush_timeout: {flush_timeout}
  receivers:
    - name: data-slack
      slack: {{ webhook_url: ${{SLACK_WEBHOOK_URL}} }}
    - name: oncall-mail
      email: {{ to: [oncall@example.com], from: tidewatch@example.com,
               smtp: {{ host: 127.0.0.1, port: {port}, tls: none }} }}
    - name: hook
      webhook: {{ url: "{hook}", secret: ${{HOOK_SECRET}} }}
    - name: pager
      pagerduty: {{ routing_key: ${{PD_ROUTING_KEY}}, url: "{pager}" }}
  route:
    receiver: hook
    group_by: [dataset]
    routes:
      - matchers: ['severity="critical"']
        receiver: pager
        continue: true
      - matchers: ['team=~"payments|billing"']
        receiver: data-slack
        continue: true
      - matchers: ['team=~"payments|billing"']
        receiver: oncall-mail
monitors:
  - name: orders
    source: shop
    table: orders
    labels: {{ team: payments, severity: critical }}
    columns: [email]
    checks:
      - check: null_rate(email) < 1%
        severity: critical
"#,
        port = r.smtp_port,
        hook = r.hook,
        pager = r.pager,
    );
    let path = dir.join("tidewatch.yaml");
    std::fs::write(&path, text).unwrap();
    // The Slack URL is only in the environment (see `run`).
    std::fs::write(dir.join("slack_url"), r.slack).unwrap();
    path
}

fn command(cfg: &Path, args: &[&str]) -> Command {
    let dir = cfg.parent().unwrap();
    let slack = std::fs::read_to_string(dir.join("slack_url")).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_tidewatch"));
    c.args(args)
        .arg("-c")
        .arg(cfg)
        .env("SLACK_WEBHOOK_URL", slack)
        .env("PD_ROUTING_KEY", format!("rk{SECRET}"))
        .env("HOOK_SECRET", format!("hs{SECRET}"))
        .env("TIDEWATCH_LOG", "info");
    c
}

/// Runs the binary on a blocking thread (the mock server lives on this runtime).
async fn run(cfg: &Path, args: &[&str]) -> Output {
    let mut c = command(cfg, args);
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_no_secret(what: &str, s: &str) {
    assert!(!s.contains(SECRET), "secret leaked in {what}: {s}");
}

async fn store(cfg: &Path) -> Store {
    let url = format!(
        "sqlite://{}",
        cfg.parent().unwrap().join("tidewatch-state.db").display()
    );
    Store::connect(&url).await.unwrap()
}

// ---------------------------------------------------------------- the cases

/// One failing check → exactly one Slack message, one email and one PagerDuty trigger; the same
/// failure on the next scan → nothing new; fixed data → one resolved notice each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failure_one_message_then_nothing_then_one_resolved_notice() {
    let (http, mock) = http_server().await;
    let smtp = start_smtp(true);
    let dir = temp_dir("once");
    warehouse(&dir.0, 12).await;
    let slack = format!("{http}/ok/services/T0/B0/{SECRET}");
    let cfg = config(
        &dir.0,
        &Receivers {
            slack: &slack,
            hook: &format!("{http}/ok/hook"),
            pager: &format!("{http}/accepted/v2/enqueue"),
            smtp_port: smtp.port,
        },
        "10s",
    );

    let out = run(&cfg, &["scan"]).await;
    let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert_no_secret("scan output", &log);
    let slack_msgs = mock.seen("/ok/services");
    assert_eq!(slack_msgs.len(), 1, "{log}");
    let body = slack_msgs[0].json();
    let shown = body.to_string();
    assert!(shown.contains("null_rate(email)"), "{shown}");
    assert!(shown.contains("orders"), "{shown}");
    assert!(shown.contains("https://tidewatch.example.com"), "{shown}");
    assert_eq!(mails(&smtp).len(), 1, "{log}");
    let subject = mails(&smtp)[0]["subject"].as_str().unwrap().to_string();
    assert!(subject.contains("orders"), "{subject}");
    let pd = mock.seen("/accepted");
    assert_eq!(pd.len(), 1, "{log}");
    assert_eq!(pd[0].json()["event_action"], "trigger");
    assert!(
        mock.seen("/ok/hook").is_empty(),
        "the root receiver gets nothing"
    );

    let open = run(&cfg, &["incidents", "--open"]).await;
    let listed = text(&open.stdout);
    assert_eq!(open.status.code(), Some(0), "{}", text(&open.stderr));
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed.contains("open") && listed.contains("null_rate(email)"),
        "{listed}"
    );

    let out = run(&cfg, &["scan"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        mock.seen("/ok/services").len(),
        1,
        "nothing new on the same failure"
    );
    assert_eq!(mails(&smtp).len(), 1);
    assert_eq!(mock.seen("/accepted").len(), 1);

    warehouse(&dir.0, 0).await;
    let out = run(&cfg, &["scan"]).await;
    let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_no_secret("scan output", &log);
    let slack_msgs = mock.seen("/ok/services");
    assert_eq!(slack_msgs.len(), 2, "one resolved notice: {log}");
    assert!(slack_msgs[1]
        .json()
        .to_string()
        .to_lowercase()
        .contains("resolved"));
    assert_eq!(mails(&smtp).len(), 2);
    let pd = mock.seen("/accepted");
    assert_eq!(pd.len(), 2);
    assert_eq!(pd[1].json()["event_action"], "resolve");
    assert_eq!(pd[0].json()["dedup_key"], pd[1].json()["dedup_key"]);

    let open = run(&cfg, &["incidents", "--open"]).await;
    assert!(text(&open.stdout).contains("no open incidents"));
    let all = run(&cfg, &["incidents"]).await;
    assert!(
        text(&all.stdout).contains("resolved"),
        "{}",
        text(&all.stdout)
    );

    let s = store(&cfg).await;
    let rows = s.outbox(None).await.unwrap();
    assert_eq!(rows.len(), 6);
    assert!(
        rows.iter().all(|r| r.state == OutboxState::Delivered),
        "{rows:?}"
    );
    s.close().await;
}

/// A silence mutes; once expired, the still failing check is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_mutes_until_expired() {
    let (http, mock) = http_server().await;
    let dir = temp_dir("silence");
    warehouse(&dir.0, 12).await;
    let cfg = config(
        &dir.0,
        &Receivers {
            slack: &format!("{http}/ok/services/{SECRET}"),
            hook: &format!("{http}/ok/hook"),
            pager: &format!("{http}/accepted/v2/enqueue"),
            smtp_port: free_port(),
        },
        "5s",
    );
    let add = run(
        &cfg,
        &[
            "silence",
            "add",
            "--matcher",
            r#"dataset="orders""#,
            "--for",
            "2h",
            "--comment",
            "loader fix",
            "--by",
            "ana",
        ],
    )
    .await;
    assert_eq!(add.status.code(), Some(0), "{}", text(&add.stderr));
    let said = text(&add.stdout);
    assert!(said.starts_with("silence 1 "), "{said}");
    let list = text(&run(&cfg, &["silence", "list"]).await.stdout);
    assert!(
        list.contains("active") && list.contains("ana") && list.contains("loader fix"),
        "{list}"
    );

    let out = run(&cfg, &["scan"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(mock.seen("/ok/services").is_empty(), "silenced");
    assert!(mock.seen("/accepted").is_empty(), "silenced");

    let exp = run(&cfg, &["silence", "expire", "1"]).await;
    assert_eq!(exp.status.code(), Some(0), "{}", text(&exp.stderr));
    assert!(text(&run(&cfg, &["silence", "list"]).await.stdout).contains("no silences"));
    let out = run(&cfg, &["scan"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        mock.seen("/ok/services").len(),
        1,
        "told once the silence ended"
    );
}

/// 429 + Retry-After: 2 is retried no sooner than asked; 400 is dead-lettered with the reason and
/// no secret; the scan's exit code does not change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_400_is_dead_lettered() {
    let (http, mock) = http_server().await;
    let dir = temp_dir("retry");
    warehouse(&dir.0, 12).await;
    let cfg = config(
        &dir.0,
        &Receivers {
            slack: &format!("{http}/bad/services/{SECRET}"),
            hook: &format!("{http}/ok/hook"),
            pager: &format!("{http}/limited/v2/enqueue"),
            smtp_port: free_port(), // nothing listens: retried until the flush ends
        },
        "6s",
    );
    let out = run(&cfg, &["scan"]).await;
    let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert_no_secret("scan output", &log);

    let pd = mock.seen("/limited");
    assert_eq!(pd.len(), 2, "429 then 200: {log}");
    let gap = pd[1].at - pd[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "Retry-After 2 honoured: {gap:?}"
    );
    assert!(gap < Duration::from_secs(5), "not much later: {gap:?}");
    assert_eq!(mock.seen("/bad").len(), 1, "400 is not retried");

    let s = store(&cfg).await;
    let rows = s.outbox(None).await.unwrap();
    let by: BTreeMap<&str, _> = rows.iter().map(|r| (r.receiver.as_str(), r)).collect();
    assert_eq!(by["pager"].state, OutboxState::Delivered);
    assert_eq!(by["pager"].attempts, 2);
    assert_eq!(by["data-slack"].state, OutboxState::Dead);
    let reason = by["data-slack"].last_error.clone().unwrap();
    assert!(reason.contains("400"), "{reason}");
    let mail = by["oncall-mail"];
    assert_eq!(
        mail.state,
        OutboxState::Pending,
        "connection refused is retried"
    );
    assert!(mail.attempts >= 1);
    for r in &rows {
        assert_no_secret("stored error", r.last_error.as_deref().unwrap_or(""));
    }
    s.close().await;
    assert!(log.contains("pending"), "the scan says what is left: {log}");
}

/// Pending notifications survive a restart and are delivered exactly once by the next process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_pending_notifications_delivers_them_once() {
    let (http, mock) = http_server().await;
    let dir = temp_dir("restart");
    warehouse(&dir.0, 12).await;
    let closed = format!("http://127.0.0.1:{}/hook", free_port());
    let receivers = |hook: &str| {
        let r = Receivers {
            slack: &closed,
            hook,
            pager: &closed,
            smtp_port: free_port(),
        };
        config(&dir.0, &r, "1s")
    };
    let cfg = receivers(&closed);
    let out = run(&cfg, &["scan"]).await;
    assert_eq!(out.status.code(), Some(1));
    let s = store(&cfg).await;
    let pending = s.outbox(Some(OutboxState::Pending)).await.unwrap();
    assert_eq!(pending.len(), 3, "slack, email and pager wait");
    s.close().await;

    // The receivers come back (same names, now reachable).
    let ok_slack = format!("{http}/ok/services/{SECRET}");
    let smtp = start_smtp(true);
    let r = Receivers {
        slack: &ok_slack,
        hook: &format!("{http}/ok/hook"),
        pager: &format!("{http}/accepted/v2/enqueue"),
        smtp_port: smtp.port,
    };
    let cfg = config(&dir.0, &r, "1s");
    // Backoff may have scheduled the retries a few seconds ahead: flush waits for them.
    let out = run(&cfg, &["alerts", "flush", "--timeout", "20s"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("3 delivered"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&cfg, &["alerts", "flush"]).await;
    assert!(
        text(&out.stdout).contains("0 delivered"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(mock.seen("/ok/services").len(), 1);
    assert_eq!(mock.seen("/accepted").len(), 1);
    assert_eq!(mails(&smtp).len(), 1);
}

/// kill -9 of the binary at random points between "written to the outbox" and "marked delivered",
/// many times: scans (whose step writes the outbox) and flushes (which deliver it) are killed while
/// a slow receiver answers. Every notification in the outbox arrives, with at most one duplicate
/// per kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_delivery_loses_nothing() {
    let (http, mock) = http_server().await;
    let dir = temp_dir("kill");
    warehouse(&dir.0, 12).await;
    let closed = format!("http://127.0.0.1:{}/x", free_port());
    let cfg = config(
        &dir.0,
        &Receivers {
            slack: &closed,
            hook: &format!("{http}/slow/hook"),
            pager: &closed,
            smtp_port: free_port(),
        },
        "30s",
    );
    // Everything to the (slow) root webhook.
    let yaml = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("team: payments, severity: critical", "owner: data")
        .replace("severity: critical\n", "severity: warning\n");
    std::fs::write(&cfg, yaml).unwrap();
    // Notifications already in the outbox, as a scan's step writes them.
    let s = store(&cfg).await;
    let now = chrono::Utc::now();
    let mut rows = Vec::new();
    for i in 0..6 {
        let mut n =
            alerts::Notification::test("hook", now + chrono::TimeDelta::milliseconds(i as i64));
        n.test = false;
        rows.push(OutboxNew {
            notification_id: n.id.clone(),
            receiver: "hook".into(),
            body: serde_json::to_string(&n).unwrap(),
            created_at: now,
        });
    }
    s.enqueue(&rows).await.unwrap();
    s.close().await;

    let mut seed = now.timestamp_subsec_nanos() as u64 | 1;
    let mut kills = 0;
    let mut failing = true;
    let started = Instant::now();
    for round in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(20 + seed % 700);
        // Every third round a scan with the data flipped (a firing or a resolved notification).
        let args: &[&str] = if round % 3 == 0 {
            warehouse(&dir.0, if failing { 12 } else { 0 }).await;
            failing = !failing;
            &["scan"]
        } else {
            &["alerts", "flush"]
        };
        let mut child = command(&cfg, args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(wait).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        if started.elapsed() > Duration::from_secs(40) {
            break;
        }
    }
    // Two scans left to finish, failing then passing: whatever state the killed ones left
    // behind, one of them changes it and writes a notification. On a loaded machine a scan can
    // take longer than every wait above, and then none of the loop's scans got its step in.
    for nulls in [12, 0] {
        warehouse(&dir.0, nulls).await;
        run(&cfg, &["scan"]).await;
    }
    let out = run(&cfg, &["alerts", "flush"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let s = store(&cfg).await;
    let outbox = s.outbox(None).await.unwrap();
    s.close().await;
    assert!(outbox.len() > rows.len(), "some scans got their step in");
    assert!(
        outbox.iter().all(|r| r.state == OutboxState::Delivered),
        "{outbox:?}"
    );
    let got = mock.seen("/slow/hook");
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for g in &got {
        let id = g.headers["x-tidewatch-notification-id"]
            .to_str()
            .unwrap()
            .to_string();
        *per_id.entry(id).or_default() += 1;
    }
    for r in &outbox {
        assert!(
            per_id.contains_key(&r.notification_id),
            "lost {}",
            r.notification_id
        );
    }
    assert_eq!(
        per_id.len(),
        outbox.len(),
        "nothing sent that is not in the outbox"
    );
    let duplicates = got.len() - outbox.len();
    eprintln!(
        "{kills} kills, {} notifications, {duplicates} duplicates",
        outbox.len()
    );
    assert!(kills > 0, "the test must kill mid-run");
    assert!(
        duplicates <= kills,
        "{duplicates} duplicates after {kills} kills"
    );
}

/// A source that cannot be reached mutes the dataset's other alerts (built-in inhibition): the
/// webhook is told about the outage only, not again about the failing check it already knew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_source_inhibits_the_datasets_other_alerts() {
    let (http, mock) = http_server().await;
    let dir = temp_dir("inhibit");
    warehouse(&dir.0, 12).await;
    let cfg = config(
        &dir.0,
        &Receivers {
            slack: &format!("{http}/ok/services/{SECRET}"),
            hook: &format!("{http}/ok/hook"),
            pager: &format!("{http}/accepted/v2/enqueue"),
            smtp_port: free_port(),
        },
        "2s",
    );
    // Route everything to the webhook (the root): no team label, nothing critical.
    let yaml = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("team: payments, severity: critical", "owner: data")
        .replace("severity: critical\n", "severity: warning\n");
    std::fs::write(&cfg, yaml).unwrap();
    assert_eq!(run(&cfg, &["scan"]).await.status.code(), Some(1));
    let hooks = mock.seen("/ok/hook");
    assert_eq!(hooks.len(), 1);
    assert_eq!(
        hooks[0].json()["alerts"][0]["labels"]["alertname"],
        "CheckFailed"
    );

    std::fs::remove_file(dir.0.join("wh.db")).unwrap();
    let out = run(&cfg, &["scan"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let hooks = mock.seen("/ok/hook");
    assert_eq!(hooks.len(), 2, "{}", text(&out.stderr));
    let body = hooks[1].json();
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "the failing check is muted: {body}");
    assert_eq!(alerts[0]["labels"]["alertname"], "SourceUnreachable");
    assert!(hooks[1].headers.contains_key("x-tidewatch-signature"));
}

/// `alerts test` sends one marked test notification through the chosen receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_test_sends_one_marked_notification() {
    let (http, mock) = http_server().await;
    let dir = temp_dir("test");
    let cfg = config(
        &dir.0,
        &Receivers {
            slack: &format!("{http}/ok/services/{SECRET}"),
            hook: &format!("{http}/ok/hook"),
            pager: &format!("{http}/bad/v2/enqueue"),
            smtp_port: free_port(),
        },
        "2s",
    );
    let out = run(&cfg, &["alerts", "test", "--receiver", "data-slack"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sent = mock.seen("/ok/services");
    assert_eq!(sent.len(), 1);
    assert!(sent[0].json().to_string().to_lowercase().contains("test"));
    let out = run(&cfg, &["alerts", "test", "--receiver", "pager"]).await;
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout);
    assert!(
        said.contains("pager (pagerduty): failed") && said.contains("400"),
        "{said}"
    );
    assert_no_secret("alerts test", &said);
}

/// SMTP 4xx (451) is retried, SMTP 5xx (550) is dead-lettered with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_4xx_is_retried_and_5xx_is_dead_lettered() {
    let (http, _mock) = http_server().await;
    let smtp = start_smtp(true);
    for (to, state, code) in [
        ("tempfail@example.com", OutboxState::Pending, "451"),
        ("reject@example.com", OutboxState::Dead, "550"),
    ] {
        let dir = temp_dir("smtp");
        warehouse(&dir.0, 12).await;
        let cfg = config(
            &dir.0,
            &Receivers {
                slack: &format!("{http}/ok/services/{SECRET}"),
                hook: &format!("{http}/ok/hook"),
                pager: &format!("{http}/accepted/v2/enqueue"),
                smtp_port: smtp.port,
            },
            "2s",
        );
        let yaml = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("to: [oncall@example.com]", &format!("to: [{to}]"));
        std::fs::write(&cfg, yaml).unwrap();
        assert_eq!(run(&cfg, &["scan"]).await.status.code(), Some(1));
        let s = store(&cfg).await;
        let rows = s.outbox(None).await.unwrap();
        let mail = rows.iter().find(|r| r.receiver == "oncall-mail").unwrap();
        assert_eq!(mail.state, state, "{to}: {mail:?}");
        let err = mail.last_error.clone().unwrap();
        assert!(err.contains(code), "{to}: {err}");
        if state == OutboxState::Pending {
            assert!(mail.attempts >= 2, "retried within the flush: {mail:?}");
        } else {
            assert_eq!(mail.attempts, 1, "not retried");
        }
        s.close().await;
    }
    assert!(mails(&smtp).is_empty());
}

/// At most one message per second per Slack webhook: two groups' messages are a second apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_at_most_one_message_per_second() {
    let (http, mock) = http_server().await;
    let dir = temp_dir("pace");
    warehouse(&dir.0, 12).await;
    let closed = format!("http://127.0.0.1:{}/x", free_port());
    let cfg = config(
        &dir.0,
        &Receivers {
            slack: &format!("{http}/ok/services/{SECRET}"),
            hook: &format!("{http}/ok/hook"),
            pager: &closed,
            smtp_port: free_port(),
        },
        "5s",
    );
    let mut yaml = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("group_by: [dataset]", "group_by: [monitor]");
    yaml.push_str(
        "  - name: orders2\n    source: shop\n    table: orders\n    labels: { team: billing }\n    columns: [email]\n    checks:\n      - null_rate(email) < 1%\n",
    );
    std::fs::write(&cfg, yaml).unwrap();
    assert_eq!(run(&cfg, &["scan"]).await.status.code(), Some(1));
    let sent = mock.seen("/ok/services");
    assert_eq!(sent.len(), 2, "one group per monitor");
    let gap = sent[1].at - sent[0].at;
    assert!(gap >= Duration::from_millis(950), "paced: {gap:?}");
}

/// The same path on a PostgreSQL state store (127.0.0.1:5432, a fresh database dropped after).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_state_store_carries_incidents_between_scans() {
    use sqlx::PgConnection;
    let name = format!(
        "tw_alerts_e2e_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let admin = "postgres://postgres@127.0.0.1:5432/postgres";
    let mut c = PgConnection::connect(admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await
        .unwrap();
    let (http, mock) = http_server().await;
    let dir = temp_dir("pg");
    warehouse(&dir.0, 12).await;
    let cfg = config(
        &dir.0,
        &Receivers {
            slack: &format!("{http}/ok/services/{SECRET}"),
            hook: &format!("{http}/ok/hook"),
            pager: &format!("{http}/accepted/v2/enqueue"),
            smtp_port: free_port(),
        },
        "1s",
    );
    let yaml = std::fs::read_to_string(&cfg).unwrap().replace(
        "version: 1\n",
        &format!("version: 1\nstore: postgres://postgres@127.0.0.1:5432/{name}\n"),
    );
    std::fs::write(&cfg, yaml).unwrap();
    for _ in 0..2 {
        assert_eq!(run(&cfg, &["scan"]).await.status.code(), Some(1));
    }
    assert_eq!(mock.seen("/ok/services").len(), 1);
    assert_eq!(mock.seen("/accepted").len(), 1);
    let ack = run(&cfg, &["incidents", "ack", "1", "--by", "ana"]).await;
    assert_eq!(
        text(&ack.stdout).trim(),
        "incident 1 acknowledged by ana",
        "{}",
        text(&ack.stderr)
    );
    let listed = text(&run(&cfg, &["incidents", "--open"]).await.stdout);
    assert!(listed.contains("acknowledged"), "{listed}");
    let res = run(&cfg, &["incidents", "resolve", "1", "--by", "ana"]).await;
    assert_eq!(text(&res.stdout).trim(), "incident 1 resolved by ana");
    let again = run(&cfg, &["incidents", "ack", "1"]).await;
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("is resolved, cannot acknowledge"),
        "{}",
        text(&again.stderr)
    );
    // Still failing: the next scan opens a new incident, and the receivers already know.
    assert_eq!(run(&cfg, &["scan"]).await.status.code(), Some(1));
    let listed = text(&run(&cfg, &["incidents", "--open"]).await.stdout);
    assert!(listed.lines().any(|l| l.starts_with("2 ")), "{listed}");
    assert_eq!(mock.seen("/ok/services").len(), 1);
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut c)
        .await
        .unwrap();
}

/// A bad webhook URL and a missing SMTP host are `validate` errors with their places, no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_misconfigured_receivers() {
    let dir = temp_dir("validate");
    let cfg = config(
        &dir.0,
        &Receivers {
            slack: &format!("not a url {SECRET}"),
            hook: "http//missing-colon",
            pager: "http://127.0.0.1:9/x",
            smtp_port: 25,
        },
        "1s",
    );
    let yaml = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("host: 127.0.0.1, ", "");
    std::fs::write(&cfg, yaml).unwrap();
    let out = run(&cfg, &["validate"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_no_secret("validate", &err);
    let c = cfg.display();
    assert!(
        err.contains(&format!(
            "{c}:9:29: receiver \"data-slack\": slack.webhook_url: not a valid URL"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{c}:12:24: missing required key \"host\"")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{c}:14:23: receiver \"hook\": webhook.url: not a valid URL"
        )),
        "{err}"
    );
}

/// `scan --no-alerts` stores results but routes and sends nothing; the exit code is the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_alerts_skips_routing_and_delivery() {
    let (http, mock) = http_server().await;
    let dir = temp_dir("noalerts");
    warehouse(&dir.0, 12).await;
    let cfg = config(
        &dir.0,
        &Receivers {
            slack: &format!("{http}/ok/services/{SECRET}"),
            hook: &format!("{http}/ok/hook"),
            pager: &format!("{http}/accepted/v2/enqueue"),
            smtp_port: free_port(),
        },
        "1s",
    );
    let out = run(&cfg, &["scan", "--no-alerts", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("\"status\":\"fail\""));
    assert!(mock.seen("/").is_empty());
    let s = store(&cfg).await;
    assert!(s.outbox(None).await.unwrap().is_empty());
    assert!(s.incidents(false).await.unwrap().is_empty());
    s.close().await;
}
