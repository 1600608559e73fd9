//! Every route through the real router over a real SQLite store: auth off and on (401/403 with a JSON
//! body), bad input (4xx with a message), the OpenAPI document naming every route.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tidewatch_api::{ApiState, Limits, MonitorInfo, Service, Telemetry, Tokens, TriggerError};
use tidewatch_store::{MeasurementRecord, MonitorWrite, SeriesKey, Store, Target};
use tower::ServiceExt;

struct FakeService {
    monitors: Vec<MonitorInfo>,
    triggered: Mutex<Vec<String>>,
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
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

struct Fixture {
    router: axum::Router,
    service: Arc<FakeService>,
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
    let telemetry = Arc::new(Telemetry::new().expect("telemetry"));
    let state = ApiState::new(
        Arc::new(store),
        service.clone(),
        tokens,
        telemetry,
        Limits::default(),
    );
    Fixture {
        router: tidewatch_api::router(state),
        service,
        _dir: TempDir(dir),
    }
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
    let changes: [(&str, Option<&str>); 2] = [
        ("/api/v1/monitors/orders/runs", None),
        (
            "/api/v1/monitors/orders/feedback",
            Some(r#"{"metric":"volume"}"#),
        ),
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
}
