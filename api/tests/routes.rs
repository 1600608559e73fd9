//! Every route through the real router over a real SQLite store: auth off and on (401/403 with a JSON
//! body), bad input (4xx with a message), the OpenAPI document naming every route.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tidewatch_api::{ApiState, Limits, MonitorInfo, Service, Telemetry, Tokens, TriggerError};
use tidewatch_store::{
    AlertingWrite, IncidentRecord, IncidentWrite, MeasurementRecord, MonitorWrite, SeriesKey,
    Store, Target,
};
use tower::ServiceExt;

struct FakeService {
    monitors: Vec<MonitorInfo>,
    triggered: Mutex<Vec<String>>,
    /// What `latest` answers (the serving process's snapshot); empty: read the store.
    snapshot: Mutex<std::collections::HashMap<String, Arc<Vec<MeasurementRecord>>>>,
}

impl Service for FakeService {
    fn monitors(&self) -> &[MonitorInfo] {
        &self.monitors
    }
    fn trigger(&self, monitor: &str) -> Result<DateTime<Utc>, TriggerError> {
        self.triggered
            .lock()
            .expect("lock")
            .push(monitor.to_string());
        Ok(t0())
    }
    fn latest(&self, monitor: &str) -> Option<Arc<Vec<MeasurementRecord>>> {
        self.snapshot.lock().expect("lock").get(monitor).cloned()
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

struct Fixture {
    router: axum::Router,
    service: Arc<FakeService>,
    store: Arc<Store>,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const READ: &str = "read-token-123";
const ADMIN: &str = "admin-token-123";

/// A store with 30 volume points of `orders` (the last one an anomaly) and a failing null_rate.
async fn fixture(auth: bool) -> Fixture {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("tw_api_{}_{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = Store::connect(&format!("sqlite://{}", dir.join("state.db").display()))
        .await
        .expect("store");
    for i in 0..30 {
        let at = t0() - Duration::hours(29 - i);
        let run_id = store.begin_run(at).await.expect("run");
        let anomaly = i == 29;
        let m = |metric, target, value: f64, status| MeasurementRecord {
            run_id,
            key: SeriesKey::new("orders", metric, target),
            source: "shop".into(),
            dataset: "public.orders".into(),
            value: Some(value),
            status,
            lower: Some(90.0),
            upper: Some(110.0),
            message: if anomaly {
                "outside the learned band".into()
            } else {
                String::new()
            },
            details: None,
            observed_at: at,
            score: anomaly.then_some(0.93),
        };
        let volume = if anomaly { 3.0 } else { 100.0 + (i % 5) as f64 };
        let status = if anomaly {
            checks::Status::Anomaly
        } else {
            checks::Status::Pass
        };
        let write = MonitorWrite {
            run_id,
            monitor: "orders".into(),
            dataset: "public.orders".into(),
            observed_at: at,
            measurements: vec![
                m(checks::Metric::Volume, Target::Table, volume, status),
                m(
                    checks::Metric::NullRate,
                    Target::Column("email".into()),
                    0.5,
                    if anomaly {
                        checks::Status::Fail
                    } else {
                        checks::Status::Pass
                    },
                ),
            ],
            buckets: vec![tidewatch_store::BucketRecord {
                key: SeriesKey::table("orders", checks::Metric::Volume),
                bucket_start: at - Duration::hours(1),
                bucket_seconds: 3600,
                value: volume,
                observed_at: at,
            }],
            schema: None,
            problems: 0,
        };
        store.write_monitor(&write).await.expect("write");
        store.finish_run(run_id, at, 0).await.expect("finish");
        store
            .claim_scheduled_run("orders", at, "schedule", "test", at)
            .await
            .expect("claim");
    }
    let service = Arc::new(FakeService {
        monitors: vec![
            MonitorInfo {
                name: "orders".into(),
                source: "shop".into(),
                dataset: "public.orders".into(),
                schedule: Some("every 3600s".into()),
                bucket_seconds: Some(3600),
            },
            MonitorInfo {
                name: "customers".into(),
                source: "shop".into(),
                dataset: "public.customers".into(),
                schedule: None,
                bucket_seconds: None,
            },
        ],
        triggered: Mutex::new(Vec::new()),
        snapshot: Mutex::new(Default::default()),
    });
    let tokens = if auth {
        Tokens {
            read: vec![SecretString::from(READ.to_string())],
            admin: vec![SecretString::from(ADMIN.to_string())],
            protect_metrics: false,
        }
    } else {
        Tokens::default()
    };
    seed_incidents(&store).await;
    let store = Arc::new(store);
    let telemetry = Arc::new(Telemetry::new().expect("telemetry"));
    let state = ApiState::new(
        store.clone(),
        service.clone(),
        tokens,
        telemetry,
        Limits::default(),
    );
    Fixture {
        router: tidewatch_api::router(state),
        service,
        store,
        _dir: TempDir(dir),
    }
}

/// Three incidents as the alerting step writes them: two open (volume, null_rate) and one
/// resolved; ids 1, 2, 3 in that order of opening.
async fn seed_incidents(store: &Store) {
    let inc = |metric: &str, column: Option<&str>, state: &str, hours: i64| IncidentRecord {
        id: 0,
        dedup_key: format!("tw-{metric}"),
        fingerprint: format!("orders/{metric}/{}", column.unwrap_or("")),
        state: state.into(),
        severity: "critical".into(),
        first_seen: t0() - Duration::hours(hours),
        last_seen: t0(),
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: (state == "resolved").then(t0),
        resolved_by: (state == "resolved").then(|| "auto".to_string()),
        labels: format!(
            r#"{{"monitor":"orders","dataset":"public.orders","metric":"{metric}"{}}}"#,
            column
                .map(|c| format!(r#","column":"{c}""#))
                .unwrap_or_default()
        ),
        annotations: r#"{"message":"outside the learned band"}"#.into(),
        last_status: if state == "resolved" {
            "pass"
        } else {
            "anomaly"
        }
        .into(),
    };
    let write = AlertingWrite {
        incidents: vec![
            IncidentWrite::Open(inc("row_count", None, "resolved", 50)),
            IncidentWrite::Open(inc("null_rate", Some("email"), "open", 5)),
            IncidentWrite::Open(inc("volume", None, "open", 1)),
        ],
        state_name: "aggregator".into(),
        expected_version: 0,
        state: "{}".into(),
        outbox: vec![],
        at: t0(),
    };
    assert!(store.commit_alerting(&write).await.expect("incidents"));
}

async fn call(
    f: &Fixture,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let res = f.router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 24)
        .await
        .expect("body");
    let json = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, json)
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn open_api_serves_every_route() {
    let f = fixture(false).await;
    let (s, b) = call(&f, "GET", "/healthz", None, None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, b) = call(&f, "GET", "/readyz", None, None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ready")));

    let (s, b) = call(&f, "GET", "/api/v1/monitors", None, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["total"], 2);
    assert_eq!(b["monitors"][0]["name"], "orders");
    assert_eq!(b["monitors"][0]["status"], "fail");
    assert_eq!(b["monitors"][1]["status"], "unknown");
    let (_, b) = call(&f, "GET", "/api/v1/monitors?limit=1&offset=1", None, None).await;
    assert_eq!(b["monitors"].as_array().map(Vec::len), Some(1));
    assert_eq!(b["monitors"][0]["name"], "customers");

    let (s, b) = call(&f, "GET", "/api/v1/monitors/orders", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let results = b["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["expected"]["lower"], 90.0);

    let (s, b) = call(
        &f,
        "GET",
        "/api/v1/monitors/orders/series?metric=volume&limit=10&since=2026-11-29T00:00:00Z",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let points = b["points"].as_array().expect("points");
    assert_eq!(points.len(), 10);
    assert_eq!(points[9]["anomaly"], true);
    assert_eq!(points[8]["anomaly"], false);
    assert_eq!(points[9]["upper"], 110.0);
    let buckets = b["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 30, "every stored bucket of the window");
    assert_eq!(buckets[29]["value"], 3.0);
    let (s, b) = call(
        &f,
        "GET",
        "/api/v1/monitors/orders/series?metric=null_rate&column=email",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["points"].as_array().map(Vec::len), Some(30));
    assert_eq!(
        b["buckets"].as_array().map(Vec::len),
        Some(0),
        "not a bucketed metric"
    );

    let (s, b) = call(&f, "GET", "/api/v1/runs?monitor=orders&limit=7", None, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["runs"].as_array().map(Vec::len), Some(7));
    let next = b["next_before"].as_str().expect("cursor").to_string();
    let (_, b2) = call(
        &f,
        "GET",
        &format!("/api/v1/runs?limit=100&before={}", next.replace('+', "%2B")),
        None,
        None,
    )
    .await;
    assert_eq!(b2["runs"].as_array().map(Vec::len), Some(23), "{b2}");
    assert!(b2["next_before"].is_null());

    let (s, b) = call(
        &f,
        "GET",
        "/api/v1/datasets/public.orders/health",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["status"], "failing");
    assert_eq!(b["reasons"].as_array().map(Vec::len), Some(2), "{b}");

    let (s, b) = call(&f, "POST", "/api/v1/monitors/orders/runs", None, None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b["scheduled_for"], "2026-11-30T12:00:00Z");
    assert_eq!(
        *f.service.triggered.lock().expect("lock"),
        vec!["orders".to_string()]
    );

    // Feedback: the newest volume point is an anomaly; marking it clears it from the health gate.
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/monitors/orders/feedback",
        None,
        Some(r#"{"metric":"volume"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["changed"], true);
    let (_, b) = call(
        &f,
        "POST",
        "/api/v1/monitors/orders/feedback",
        None,
        Some(r#"{"metric":"volume"}"#),
    )
    .await;
    assert_eq!(b["changed"], false);
    let (_, b) = call(
        &f,
        "GET",
        "/api/v1/datasets/public.orders/health",
        None,
        None,
    )
    .await;
    assert_eq!(b["reasons"].as_array().map(Vec::len), Some(1), "{b}");
    let (_, b) = call(
        &f,
        "GET",
        "/api/v1/monitors/orders/series?metric=volume&limit=1",
        None,
        None,
    )
    .await;
    assert_eq!(b["points"][0]["expected_anomaly"], true);
    assert_eq!(b["points"][0]["anomaly"], false);

    let (s, b) = call(&f, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b["openapi"].as_str().map(|v| v.starts_with("3.")),
        Some(true)
    );
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/monitors",
        "/api/v1/monitors/{monitor}",
        "/api/v1/monitors/{monitor}/series",
        "/api/v1/runs",
        "/api/v1/monitors/{monitor}/runs",
        "/api/v1/monitors/{monitor}/feedback",
        "/api/v1/datasets/{dataset}/health",
        "/api/v1/incidents",
        "/api/v1/incidents/{id}",
        "/api/v1/incidents/{id}/acknowledge",
        "/api/v1/incidents/{id}/resolve",
        "/api/v1/silences",
        "/api/v1/silences/{id}/expire",
    ] {
        assert!(
            b["paths"][path].is_object(),
            "{path} missing from the document"
        );
    }
    assert!(b["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn bad_input_is_a_4xx_with_a_message() {
    let f = fixture(false).await;
    let cases: &[(&str, &str, Option<&str>, StatusCode, &str)] = &[
        (
            "GET",
            "/api/v1/monitors/nope",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "GET",
            "/api/v1/monitors?limit=0",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/monitors?limit=5000",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/monitors?limit=abc",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/monitors/orders/series",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/monitors/orders/series?metric=bogus",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/monitors/orders/series?metric=null_rate",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/monitors/orders/series?metric=volume&column=x",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/monitors/orders/series?metric=volume&since=yesterday",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/monitors/nope/series?metric=volume",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "GET",
            "/api/v1/runs?monitor=nope",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "GET",
            "/api/v1/runs?before=soon",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/datasets/nope/health",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "POST",
            "/api/v1/monitors/nope/runs",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "POST",
            "/api/v1/monitors/orders/feedback",
            Some("{"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/monitors/orders/feedback",
            Some(r#"{"metric":"volume","extra":1}"#),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/monitors/orders/feedback",
            Some(r#"{"metric":"null_rate","column":"email"}"#),
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            "POST",
            "/api/v1/monitors/orders/feedback",
            Some(r#"{"metric":"volume","observed_at":"2020-01-01T00:00:00Z"}"#),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "GET",
            "/api/v1/nothing",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (method, uri, body, want, code) in cases {
        let (s, b) = call(&f, method, uri, None, *body).await;
        assert_error(s, &b, *want, code);
    }
    let big = format!(r#"{{"metric":"{}"}}"#, "x".repeat(100_000));
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/monitors/orders/feedback",
        None,
        Some(&big),
    )
    .await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn tokens_gate_reads_and_changes() {
    let f = fixture(true).await;
    // Open without a token.
    for open in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
        "/",
    ] {
        let (s, _) = call(&f, "GET", open, None, None).await;
        assert_eq!(s, StatusCode::OK, "{open}");
    }
    let reads = [
        "/api/v1/monitors",
        "/api/v1/monitors/orders",
        "/api/v1/monitors/orders/series?metric=volume",
        "/api/v1/runs",
        "/api/v1/datasets/public.orders/health",
        "/api/v1/incidents?state=all",
        "/api/v1/incidents/2",
        "/api/v1/silences?state=all",
    ];
    for uri in reads {
        let (s, b) = call(&f, "GET", uri, None, None).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
        let (s, b) = call(&f, "GET", uri, Some("wrong-token-1"), None).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
        let (s, _) = call(&f, "GET", uri, Some(READ), None).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
        let (s, _) = call(&f, "GET", uri, Some(ADMIN), None).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
    }
    let silence = r#"{"matchers":["dataset=\"public.orders\""],"duration":"2h","comment":"load","created_by":"ana"}"#;
    let changes: [(&str, Option<&str>); 5] = [
        ("/api/v1/monitors/orders/runs", None),
        (
            "/api/v1/monitors/orders/feedback",
            Some(r#"{"metric":"volume"}"#),
        ),
        ("/api/v1/incidents/2/acknowledge", None),
        ("/api/v1/incidents/3/resolve", Some(r#"{"by":"ana"}"#)),
        ("/api/v1/silences", Some(silence)),
    ];
    for (uri, body) in changes {
        let (s, b) = call(&f, "POST", uri, None, body).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
        let (s, b) = call(&f, "POST", uri, Some(READ), body).await;
        assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
        let (s, b) = call(&f, "POST", uri, Some(ADMIN), body).await;
        assert!(s.is_success(), "{uri}: {s} {b}");
    }
    assert!(f.service.triggered.lock().expect("lock").len() == 1);
    // The created silence can be expired by an admin only.
    let (_, b) = call(&f, "GET", "/api/v1/silences", Some(READ), None).await;
    let id = b["silences"][0]["id"].as_i64().expect("silence id");
    let uri = format!("/api/v1/silences/{id}/expire");
    let (s, b) = call(&f, "POST", &uri, None, None).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = call(&f, "POST", &uri, Some(READ), None).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = call(&f, "POST", &uri, Some(ADMIN), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// Incidents: list (open by default, all, paged), get one, acknowledge and resolve by the alerts
/// crate's rules (409 when the state does not allow it), as stored.
#[tokio::test]
async fn incidents_list_get_acknowledge_resolve() {
    let f = fixture(false).await;
    let (s, b) = call(&f, "GET", "/api/v1/incidents", None, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["total"], 2, "open ones by default: {b}");
    let list = b["incidents"].as_array().expect("incidents");
    assert_eq!(list[0]["id"], 3, "newest first");
    assert_eq!(list[0]["fingerprint"], "orders/volume/");
    assert_eq!(list[0]["labels"]["dataset"], "public.orders");
    assert_eq!(
        list[0]["annotations"]["message"],
        "outside the learned band"
    );
    assert_eq!(list[1]["id"], 2);
    let (_, b) = call(&f, "GET", "/api/v1/incidents?state=all", None, None).await;
    assert_eq!(b["total"], 3);
    let (_, b) = call(
        &f,
        "GET",
        "/api/v1/incidents?state=all&limit=1&offset=2",
        None,
        None,
    )
    .await;
    assert_eq!(b["incidents"].as_array().map(Vec::len), Some(1));
    assert_eq!(b["incidents"][0]["state"], "resolved");
    assert_eq!(b["incidents"][0]["resolved_by"], "auto");

    let (s, b) = call(&f, "GET", "/api/v1/incidents/2", None, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["labels"]["column"], "email");
    assert_eq!(b["state"], "open");

    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/incidents/2/acknowledge",
        None,
        Some(r#"{"by":"ana"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["state"].as_str(), b["acknowledged_by"].as_str()),
        (Some("acknowledged"), Some("ana"))
    );
    let stored = f
        .store
        .incident(2)
        .await
        .expect("read")
        .expect("incident 2");
    assert_eq!(stored.state, "acknowledged");
    assert_eq!(stored.acknowledged_by.as_deref(), Some("ana"));
    assert!(stored.acknowledged_at.is_some());
    let (s, b) = call(&f, "POST", "/api/v1/incidents/2/acknowledge", None, None).await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    assert!(
        b["error"]
            .as_str()
            .is_some_and(|m| m.contains("acknowledged")),
        "{b}"
    );
    // Acknowledged incidents are still open ones.
    let (_, b) = call(&f, "GET", "/api/v1/incidents?state=open", None, None).await;
    assert_eq!(b["total"], 2);

    let (s, b) = call(&f, "POST", "/api/v1/incidents/2/resolve", None, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["state"].as_str(), b["resolved_by"].as_str()),
        (Some("resolved"), Some("api"))
    );
    let (s, b) = call(&f, "POST", "/api/v1/incidents/2/resolve", None, None).await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/incidents/3/acknowledge",
        None,
        Some(""),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "an empty body is no body: {b}");
    let (_, b) = call(&f, "GET", "/api/v1/incidents", None, None).await;
    assert_eq!(b["total"], 1);
    assert_eq!(f.store.incidents(true).await.expect("open").len(), 1);
}

/// Silences: created from matchers and a duration or an end, listed (active by default, all),
/// expired; the store holds what the API said.
#[tokio::test]
async fn silences_create_list_expire() {
    let f = fixture(false).await;
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/silences",
        None,
        Some(r#"{"matchers":["dataset=\"public.orders\"", "metric=~\"volume|null_rate\""],"duration":"2h","comment":"backfill","created_by":"ana"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["state"], "active");
    assert_eq!(b["created_by"], "ana");
    assert_eq!(
        b["matchers"],
        r#"{dataset="public.orders", metric=~"volume|null_rate"}"#
    );
    let starts =
        DateTime::parse_from_rfc3339(b["starts_at"].as_str().expect("starts")).expect("time");
    let ends = DateTime::parse_from_rfc3339(b["ends_at"].as_str().expect("ends")).expect("time");
    assert_eq!(ends - starts, Duration::hours(2));
    let first = b["id"].as_i64().expect("id");
    let later = (Utc::now() + Duration::days(1)).to_rfc3339();
    let until = (Utc::now() + Duration::days(2)).to_rfc3339();
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/silences",
        None,
        Some(&format!(r#"{{"matchers":["monitor=\"orders\""],"starts_at":"{later}","ends_at":"{until}","comment":"window","created_by":"bo"}}"#)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["state"], "pending");
    let second = b["id"].as_i64().expect("id");

    let (_, b) = call(&f, "GET", "/api/v1/silences", None, None).await;
    assert_eq!(b["total"], 2, "{b}");
    let stored = f.store.silences(None).await.expect("silences");
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].comment, "backfill");

    let (s, b) = call(
        &f,
        "POST",
        &format!("/api/v1/silences/{first}/expire"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["state"], "expired");
    let (s, b) = call(
        &f,
        "POST",
        &format!("/api/v1/silences/{first}/expire"),
        None,
        None,
    )
    .await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    let (s, b) = call(
        &f,
        "POST",
        &format!("/api/v1/silences/{second}/expire"),
        None,
        None,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "a pending silence ends before it starts: {b}"
    );
    assert_eq!(b["state"], "expired");
    let (_, b) = call(&f, "GET", "/api/v1/silences", None, None).await;
    assert_eq!(b["total"], 0, "{b}");
    let (_, b) = call(&f, "GET", "/api/v1/silences?state=all&limit=1", None, None).await;
    assert_eq!(b["total"], 2);
    assert_eq!(b["silences"].as_array().map(Vec::len), Some(1));
    assert!(f
        .store
        .silences(Some(Utc::now()))
        .await
        .expect("active")
        .is_empty());
}

#[tokio::test]
async fn incident_and_silence_bad_input_is_a_4xx_with_a_message() {
    let f = fixture(false).await;
    let body = |extra: &str| {
        format!(r#"{{"matchers":["dataset=\"x\""],"comment":"c","created_by":"ana"{extra}}}"#)
    };
    let no_end = body("");
    let both = body(r#","duration":"1h","ends_at":"2099-01-01T00:00:00Z""#);
    let bad_duration = body(r#","duration":"soon""#);
    let huge_duration = body(r#","duration":"99999999999999w""#);
    let past = body(r#","ends_at":"2001-01-01T00:00:00Z""#);
    let before_start =
        body(r#","starts_at":"2099-01-02T00:00:00Z","ends_at":"2099-01-01T00:00:00Z""#);
    let unknown = body(r#","duration":"1h","extra":1"#);
    let everything =
        r#"{"matchers":["dataset=~\".*\""],"duration":"1h","comment":"c","created_by":"ana"}"#;
    let no_matchers = r#"{"matchers":[],"duration":"1h","comment":"c","created_by":"ana"}"#;
    let bad_matcher =
        r#"{"matchers":["dataset=="],"duration":"1h","comment":"c","created_by":"ana"}"#;
    let nobody = r#"{"matchers":["a=\"b\""],"duration":"1h","comment":"c","created_by":"  "}"#;
    let no_comment = r#"{"matchers":["a=\"b\""],"duration":"1h","comment":"","created_by":"ana"}"#;
    let cases: Vec<(&str, &str, Option<&str>, StatusCode, &str)> = vec![
        (
            "GET",
            "/api/v1/incidents?state=closed",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/incidents?limit=0",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/incidents?offset=-1",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/incidents/abc",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/incidents/99999999999999999999",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/incidents/99",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "POST",
            "/api/v1/incidents/99/acknowledge",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "POST",
            "/api/v1/incidents/1/acknowledge",
            None,
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            "POST",
            "/api/v1/incidents/1/resolve",
            None,
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            "POST",
            "/api/v1/incidents/2/acknowledge",
            Some("{"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/incidents/2/resolve",
            Some(r#"{"who":"x"}"#),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/incidents/2/resolve",
            Some(r#"{"by":""}"#),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/silences?state=gone",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/silences?limit=100000",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            Some("{"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            Some(&no_end),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            Some(&both),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            Some(&bad_duration),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            Some(&huge_duration),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            Some(&past),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            Some(&before_start),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            Some(&unknown),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            Some(everything),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            Some(no_matchers),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            Some(bad_matcher),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            Some(nobody),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences",
            Some(no_comment),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/silences/77/expire",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "POST",
            "/api/v1/silences/x/expire",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (method, uri, body, want, code) in cases {
        let (s, b) = call(&f, method, uri, None, body).await;
        assert_eq!(s, want, "{method} {uri} {body:?}: {b}");
        assert_error(s, &b, want, code);
    }
    let big = format!(r#"{{"by":"{}"}}"#, "x".repeat(100_000));
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/incidents/2/acknowledge",
        None,
        Some(&big),
    )
    .await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let (s, b) = call(&f, "POST", "/api/v1/silences", None, Some(&big)).await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert!(
        f.store.silences(None).await.expect("silences").is_empty(),
        "nothing half-written"
    );
    assert_eq!(
        f.store.incident(2).await.expect("read").expect("2").state,
        "open"
    );
}

/// With a snapshot from the serving process, monitor reads and dataset health answer from it (no
/// store query): a snapshot that says all is well wins over the store's failing rows.
#[tokio::test]
async fn monitor_reads_use_the_services_snapshot() {
    let f = fixture(false).await;
    let (_, b) = call(&f, "GET", "/api/v1/monitors/orders", None, None).await;
    assert_eq!(b["status"], "fail", "from the store: {b}");
    let mut rows = f.store.latest("orders").await.expect("latest");
    for r in &mut rows {
        r.status = checks::Status::Pass;
        r.message = "from the snapshot".into();
    }
    f.service
        .snapshot
        .lock()
        .expect("lock")
        .insert("orders".into(), Arc::new(rows));
    let (_, b) = call(&f, "GET", "/api/v1/monitors/orders", None, None).await;
    assert_eq!(b["status"], "pass", "{b}");
    assert_eq!(b["results"][0]["message"], "from the snapshot");
    let (_, b) = call(
        &f,
        "GET",
        "/api/v1/datasets/public.orders/health",
        None,
        None,
    )
    .await;
    assert_eq!(b["status"], "ok", "{b}");
}
