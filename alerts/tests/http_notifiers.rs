//! The HTTP notifiers against a real HTTP server on 127.0.0.1 (`support::http`) playing Slack,
//! PagerDuty and a webhook receiver, answering 200, 400, 429 + Retry-After, 500, 503, slowly, or by
//! echoing the secrets it was sent.

// Helpers outside #[test] fns panic on an unexpected error on purpose: that is the assertion.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use alerts::notify::webhook::{signature, Body, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use alerts::notify::{
    backoff, slack, MessageOptions, Notifier, NotifyError, PagerDutyConfig, PagerDutyNotifier,
    ReceiverConfig, SlackConfig, SlackNotifier, WebhookConfig, WebhookNotifier,
};
use alerts::Notification;
use chrono::Utc;
use support::http::{closed_port, server};
use support::{assert_no_secret, notification, SECRET};

fn slack_at(url: &str) -> SlackNotifier {
    let cfg: SlackConfig =
        serde_json::from_value(serde_json::json!({"webhook_url": url, "timeout": "500ms"}))
            .unwrap();
    SlackNotifier::new(&cfg, &MessageOptions::default()).unwrap()
}

fn slack_url(base: &str, scenario: &str) -> String {
    format!("{base}/{scenario}/services/T0000/B0000/{SECRET}")
}

fn check_error(e: &NotifyError, retryable: bool, contains: &str) {
    assert_eq!(e.retryable, retryable, "{e}");
    assert!(e.message.contains(contains), "{contains:?} not in {e}");
    assert_no_secret(&e.message);
    assert!(!e.message.contains("/services/"), "url path leaked: {e}");
    assert!(e.message.starts_with("slack http://127.0.0.1:"), "{e}");
}

#[tokio::test]
async fn slack_delivers_block_kit_with_text_fallback() {
    let (base, mock) = server().await;
    let n = notification("data-slack", 2, 1);
    let d = slack_at(&slack_url(&base, "ok")).notify(&n).await.unwrap();
    assert_eq!(d.kind, "slack");
    assert_eq!(d.detail, "http 200");
    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, format!("/ok/services/T0000/B0000/{SECRET}"));
    assert_eq!(seen[0].headers["content-type"], "application/json");
    let body = seen[0].json();
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("[FIRING:2] public.orders\n"), "{text}");
    for want in [
        "null_rate(email)",
        "value 12% vs check null_rate(email) < 1%",
        "source warehouse",
        "first seen 2024-05-01 12:00:00 UTC",
        "team=payments",
    ] {
        assert!(text.contains(want), "{want} not in fallback {text}");
    }
    let blocks = body["blocks"].as_array().unwrap();
    let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["header", "section", "section", "section", "context"]
    );
    assert!(blocks[3]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("status *resolved*"));
}

#[tokio::test]
async fn slack_limits_hold_on_the_wire() {
    let (base, mock) = server().await;
    let mut n = notification("data-slack", 200, 0);
    for a in &mut n.alerts {
        a.annotations.message = Some("m".repeat(4_000));
    }
    slack_at(&slack_url(&base, "ok")).notify(&n).await.unwrap();
    let body = mock.seen()[0].json();
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), slack::BLOCKS_MAX);
    for b in blocks.iter().filter(|b| b["type"] == "section") {
        assert!(b["text"]["text"].as_str().unwrap().chars().count() <= slack::SECTION_MAX);
    }
    let last = blocks[blocks.len() - 2]["text"]["text"].as_str().unwrap();
    assert_eq!(last, "… +153 more alerts");
    let text = body["text"].as_str().unwrap();
    assert!(text.chars().count() <= slack::TEXT_MAX);
    assert!(text.contains("more alerts"));
}

#[tokio::test]
async fn slack_failures_are_classified_and_redacted() {
    let (base, _mock) = server().await;
    let n = notification("data-slack", 1, 0);

    let e = slack_at(&slack_url(&base, "bad"))
        .notify(&n)
        .await
        .unwrap_err();
    check_error(&e, false, "http 400 bad request: invalid_payload");
    assert_eq!(e.retry_after, None);

    let e = slack_at(&slack_url(&base, "limited"))
        .notify(&n)
        .await
        .unwrap_err();
    check_error(&e, true, "http 429");
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert!(
        backoff(0, e.retry_after, 1) >= Duration::from_secs(7),
        "Retry-After wins"
    );

    let e = slack_at(&slack_url(&base, "unavailable"))
        .notify(&n)
        .await
        .unwrap_err();
    check_error(&e, true, "http 503");
    let ra = e.retry_after.expect("an HTTP-date Retry-After is read");
    assert!(
        ra >= Duration::from_secs(110) && ra <= Duration::from_secs(121),
        "{ra:?}"
    );

    let e = slack_at(&slack_url(&base, "error"))
        .notify(&n)
        .await
        .unwrap_err();
    check_error(&e, true, "http 500 internal server error: rollup_error");
    assert_eq!(e.retry_after, None);

    let e = slack_at(&slack_url(&base, "requesttimeout"))
        .notify(&n)
        .await
        .unwrap_err();
    check_error(&e, true, "http 408");

    let e = slack_at(&slack_url(&base, "gone"))
        .notify(&n)
        .await
        .unwrap_err();
    check_error(&e, false, "http 404 not found: no such route");

    let started = std::time::Instant::now();
    let e = slack_at(&slack_url(&base, "slow"))
        .notify(&n)
        .await
        .unwrap_err();
    check_error(&e, true, "timed out after 0.5s");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the client timeout cut it short"
    );

    let e = slack_at(&slack_url(&base, "redirect"))
        .notify(&n)
        .await
        .unwrap_err();
    check_error(&e, false, "http 302");

    let refused = format!("http://127.0.0.1:{}/services/T0/B0/{SECRET}", closed_port());
    let e = slack_at(&refused).notify(&n).await.unwrap_err();
    check_error(&e, true, "cannot connect");
}

#[tokio::test]
async fn echoed_secrets_are_redacted() {
    let (base, _mock) = server().await;
    let url = format!("{base}/echo/hook?token={SECRET}");
    let cfg: WebhookConfig = serde_json::from_value(serde_json::json!({
        "url": url, "secret": format!("hmac-{SECRET}")
    }))
    .unwrap();
    let w = WebhookNotifier::new(&cfg, &MessageOptions::default()).unwrap();
    let e = w.notify(&notification("hook", 1, 0)).await.unwrap_err();
    assert!(!e.retryable);
    assert!(e.message.contains("http 400"), "{e}");
    assert!(e.message.contains("<redacted>"), "{e}");
    assert_no_secret(&e.message);
    assert!(!e.message.contains("/echo/hook"), "{e}");
}

#[tokio::test]
async fn webhook_body_is_signed_and_timestamped() {
    let (base, mock) = server().await;
    let key = format!("whsec-{SECRET}");
    let cfg: WebhookConfig = serde_json::from_value(serde_json::json!({
        "url": format!("{base}/ok/hook"), "secret": key
    }))
    .unwrap();
    let n = notification("hook", 1, 1);
    let d = WebhookNotifier::new(&cfg, &MessageOptions::default())
        .unwrap()
        .notify(&n)
        .await
        .unwrap();
    assert_eq!(d.detail, "http 200");
    let seen = &mock.seen()[0];
    let sig = seen.headers[SIGNATURE_HEADER].to_str().unwrap();
    assert_eq!(
        sig,
        signature(key.as_bytes(), &seen.body),
        "HMAC of the exact bytes"
    );
    assert_ne!(sig, signature(b"another key", &seen.body));
    assert_eq!(seen.headers[ID_HEADER].to_str().unwrap(), n.id);
    let ts: i64 = seen.headers[TIMESTAMP_HEADER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((Utc::now().timestamp() - ts).abs() < 60);
    let body: Body = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(body.schema_version, 1);
    assert_eq!(
        body.sent_at.timestamp(),
        ts,
        "the signed body carries the timestamp"
    );
    assert_eq!(body.id, n.id);
    assert_eq!(body.alerts.len(), 2);
    assert_eq!(body.alerts[0].dedup_key, n.alerts[0].dedup_key());
    assert_eq!(body.alerts[1].status, alerts::Status::Resolved);

    // Without a secret there is no signature header.
    let cfg: WebhookConfig =
        serde_json::from_value(serde_json::json!({"url": format!("{base}/ok/plain")})).unwrap();
    WebhookNotifier::new(&cfg, &MessageOptions::default())
        .unwrap()
        .notify(&n)
        .await
        .unwrap();
    let plain = &mock.seen()[1];
    assert!(plain.headers.get(SIGNATURE_HEADER).is_none());
    assert!(plain.headers.get(TIMESTAMP_HEADER).is_some());
}

fn pagerduty_at(url: &str) -> PagerDutyNotifier {
    let cfg: PagerDutyConfig = serde_json::from_value(serde_json::json!({
        "routing_key": format!("rk{SECRET}"), "url": url, "timeout": "500ms"
    }))
    .unwrap();
    PagerDutyNotifier::new(&cfg, &MessageOptions::default()).unwrap()
}

#[tokio::test]
async fn pagerduty_triggers_and_resolves_by_dedup_key() {
    let (base, mock) = server().await;
    let n = notification("pager", 1, 1);
    let pd = pagerduty_at(&format!("{base}/accepted/v2/enqueue"));
    let d = pd.notify(&n).await.unwrap();
    assert_eq!(
        (d.kind.as_str(), d.messages, d.detail.as_str()),
        ("pagerduty", 2, "http 202")
    );
    let seen = mock.seen();
    assert_eq!(seen.len(), 2);
    let trigger = seen[0].json();
    let resolve = seen[1].json();
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["routing_key"], format!("rk{SECRET}"));
    assert_eq!(trigger["dedup_key"], n.alerts[0].dedup_key());
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert!(trigger["payload"]["summary"]
        .as_str()
        .unwrap()
        .contains("public.orders null_rate(email)"));
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], n.alerts[1].dedup_key());

    // The same notification again (a retry): the same keys, so PagerDuty folds it in.
    pd.notify(&n).await.unwrap();
    assert_eq!(mock.seen()[2].json()["dedup_key"], trigger["dedup_key"]);
}

#[tokio::test]
async fn pagerduty_errors_never_show_the_routing_key() {
    let (base, _mock) = server().await;
    let n = notification("pager", 1, 0);
    // The echo answer repeats the body, which holds the routing key.
    let e = pagerduty_at(&format!("{base}/echo/v2/enqueue"))
        .notify(&n)
        .await
        .unwrap_err();
    assert!(!e.retryable);
    assert!(e.message.contains("bad key <redacted> for"), "{e}");
    assert_no_secret(&e.message);
    let e = pagerduty_at(&format!("{base}/limited/v2/enqueue"))
        .notify(&n)
        .await
        .unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert_no_secret(&e.message);
    let e = pagerduty_at(&format!("{base}/bad/v2/enqueue"))
        .notify(&n)
        .await
        .unwrap_err();
    assert!(!e.retryable, "{e}");
}

#[tokio::test]
async fn receivers_build_from_config_and_send_tests() {
    let (base, mock) = server().await;
    let cfg: ReceiverConfig = serde_json::from_value(serde_json::json!({
        "name": "hook", "webhook": {"url": format!("{base}/ok/hook")}
    }))
    .unwrap();
    let notifier = Notifier::build(&cfg, &MessageOptions::default()).unwrap();
    assert_eq!(notifier.kind(), "webhook");
    notifier
        .notify(&Notification::test("hook", Utc::now()))
        .await
        .unwrap();
    let body = mock.seen()[0].json();
    assert_eq!(body["test"], true);
    assert_eq!(body["alerts"][0]["severity"], "info");
    let bad: ReceiverConfig = serde_json::from_value(serde_json::json!({
        "name": "s", "slack": {"webhook_url": format!("not a url {SECRET}")}
    }))
    .unwrap();
    let errors = Notifier::build(&bad, &MessageOptions::default()).unwrap_err();
    assert_eq!(errors[0].path, "slack.webhook_url");
    assert_no_secret(&errors[0].to_string());
}
