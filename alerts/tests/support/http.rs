//! A real HTTP server on 127.0.0.1 playing Slack, PagerDuty and webhook receivers. The first path
//! segment picks the answer: `ok` 200, `accepted` 202 (PagerDuty), `bad` 400, `limited` 429 +
//! `Retry-After: 7`, `unavailable` 503 + `Retry-After` as an HTTP date, `error` 500,
//! `requesttimeout` 408, `slow` (answers after 3 s), `echo` 400 repeating the routing key, URI and
//! body, `redirect` 302, anything else 404.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::Utc;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
pub struct Mock {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(State(m): State<Mock>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    m.seen.lock().unwrap().push(Seen {
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
    });
    let first = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    match first {
        "ok" => (StatusCode::OK, "ok").into_response(),
        "accepted" => (
            StatusCode::ACCEPTED,
            [("content-type", "application/json")],
            r#"{"status":"success","message":"Event processed"}"#,
        )
            .into_response(),
        "bad" => (StatusCode::BAD_REQUEST, "invalid_payload").into_response(),
        "limited" => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "7")],
            "rate_limited",
        )
            .into_response(),
        "unavailable" => {
            let at = Utc::now() + chrono::TimeDelta::seconds(120);
            let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [("retry-after", date)],
                "maintenance",
            )
                .into_response()
        }
        "error" => (StatusCode::INTERNAL_SERVER_ERROR, "rollup_error").into_response(),
        "requesttimeout" => (StatusCode::REQUEST_TIMEOUT, "too slow").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            (StatusCode::OK, "ok").into_response()
        }
        "echo" => {
            // A careless receiver that repeats what it was sent: the routing key first (so it
            // lands within the part of the body the error keeps), then the URI and the body.
            let key = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["routing_key"].as_str().map(String::from))
                .unwrap_or_default();
            let text = format!(
                "bad key {key} for {uri} with {}",
                String::from_utf8_lossy(&body)
            );
            (StatusCode::BAD_REQUEST, text).into_response()
        }
        "redirect" => (
            StatusCode::FOUND,
            [("location", "http://127.0.0.1:9/elsewhere")],
            "",
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, "no such route").into_response(),
    }
}

/// Starts the server on a free port; returns its base URL.
pub async fn server() -> (String, Mock) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mock = Mock::default();
    let app = Router::new().fallback(answer).with_state(mock.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), mock)
}

/// A loopback port with nothing listening.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
