//! The whole crate end to end, as the monitor will drive it: the issue's example config (routes and
//! receivers), alerts from three "scans", the aggregation timers stepped with explicit times, and
//! every notification delivered to real loopback servers (HTTP for Slack and PagerDuty, aiosmtpd for
//! email). Checks the issue's promises: one failure → one message per receiver; the same failure on
//! the next scan → nothing new; fixed data → one resolved notice.

#![allow(clippy::unwrap_used)] // a panic on an unexpected error is the assertion

mod support;

use std::collections::BTreeMap;

use alerts::notify::{MessageOptions, Notifier, ReceiverConfig};
use alerts::{Aggregator, Alert, Annotations, LabelSet, NoMute, Notification, RawRoute, Route};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use support::http::server;
use support::smtp::{recorded, start_smtp};
use support::SECRET;

/// The issue's `alerts.route`, as the monitor decodes it from YAML.
const ROUTE: &str = r#"{
    "receiver": "data-slack",
    "group_by": ["dataset"],
    "routes": [
        {"matchers": ["severity=\"critical\""], "receiver": "pager", "continue": true},
        {"matchers": ["team=~\"payments|billing\""], "receiver": "oncall-mail"}
    ]
}"#;

fn receivers(http: &str, smtp_port: u16) -> BTreeMap<String, Notifier> {
    let raw = serde_json::json!([
        {"name": "data-slack", "slack": {"webhook_url": format!("{http}/ok/services/T0/B0/{SECRET}")}},
        {"name": "oncall-mail", "email": {"to": ["oncall@example.com"], "from": "tidewatch@example.com",
                                          "smtp": {"host": "127.0.0.1", "port": smtp_port, "tls": "none"}}},
        {"name": "hook", "webhook": {"url": format!("{http}/ok/hook")}},
        {"name": "pager", "pagerduty": {"routing_key": format!("rk{SECRET}"),
                                        "url": format!("{http}/accepted/v2/enqueue")}}
    ]);
    let list: Vec<ReceiverConfig> = serde_json::from_value(raw).unwrap();
    let opts = MessageOptions {
        public_url: Some("https://tidewatch.example.com".parse().unwrap()),
    };
    list.iter()
        .map(|r| (r.name.clone(), Notifier::build(r, &opts).unwrap()))
        .collect()
}

/// A failing check of a monitor, as the monitor would map its verdict.
fn verdict(monitor_labels: &[(&str, &str)], dataset: &str, t: DateTime<Utc>) -> Alert {
    let mut pairs = vec![("dataset", dataset), ("monitor", "orders")];
    pairs.extend_from_slice(monitor_labels);
    let annotations = Annotations {
        dataset: dataset.into(),
        source: "warehouse".into(),
        metric: "null_rate".into(),
        column: Some("email".into()),
        value: Some("12%".into()),
        check: Some("null_rate(email) < 1%".into()),
        ..Annotations::default()
    };
    let fp = format!("orders/{dataset}/null_rate/email");
    Alert::firing(LabelSet::from_pairs(pairs).unwrap(), annotations, fp, t).unwrap()
}

/// Steps the aggregator's timers up to `until` and sends whatever falls due.
async fn run_until(
    agg: &mut Aggregator,
    notifiers: &BTreeMap<String, Notifier>,
    until: DateTime<Utc>,
) -> Vec<Notification> {
    let mut sent = Vec::new();
    while let Some(wake) = agg.next_wakeup().filter(|w| *w <= until) {
        for n in agg.due(wake, &NoMute) {
            notifiers[&n.receiver].notify(&n).await.unwrap();
            sent.push(n);
        }
    }
    sent
}

fn receivers_of(sent: &[Notification]) -> Vec<&str> {
    let mut v: Vec<&str> = sent.iter().map(|n| n.receiver.as_str()).collect();
    v.sort_unstable();
    v
}

#[tokio::test]
async fn one_failure_one_message_each_then_one_resolved_notice() {
    let (http, mock) = server().await;
    let smtp = start_smtp(true);
    let notifiers = receivers(&http, smtp.port);
    let raw: RawRoute = serde_json::from_str(ROUTE).unwrap();
    let names: Vec<&str> = notifiers.keys().map(String::as_str).collect();
    let route = Route::compile(&raw, &names).unwrap();
    let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let min = |m: i64| t0 + TimeDelta::minutes(m);
    let mut agg = Aggregator::default();

    // Scan 1: the `orders` monitor (team payments, severity critical) fails a check.
    let payments = [("team", "payments"), ("severity", "critical")];
    let failing = verdict(&payments, "public.orders", t0);
    let fingerprint = failing.fingerprint.clone();
    agg.insert(&route, failing, t0);
    let sent = run_until(&mut agg, &notifiers, min(5) - TimeDelta::seconds(1)).await;
    assert_eq!(
        receivers_of(&sent),
        ["oncall-mail", "pager"],
        "critical → pager, continue → payments mail"
    );
    assert_eq!(
        sent[0].created_at,
        t0 + TimeDelta::seconds(30),
        "after group_wait"
    );

    // Scan 2, five minutes later: the same failure. Nothing new is sent.
    agg.insert(&route, verdict(&payments, "public.orders", min(5)), min(5));
    assert!(
        run_until(&mut agg, &notifiers, min(10) - TimeDelta::seconds(1))
            .await
            .is_empty()
    );

    // Scan 3: fixed data. One resolved notice per receiver.
    let fixed = verdict(&payments, "public.orders", t0).resolved_at(min(10));
    agg.insert(&route, fixed, min(10));
    let sent = run_until(&mut agg, &notifiers, min(60)).await;
    assert_eq!(receivers_of(&sent), ["oncall-mail", "pager"]);
    assert!(sent.iter().all(|n| n.status == alerts::Status::Resolved));
    assert!(agg.is_empty(), "nothing left to send");

    // What the servers saw: PagerDuty one trigger then one resolve on the same dedup key.
    let events: Vec<serde_json::Value> = mock.seen().iter().map(|s| s.json()).collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["event_action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["trigger", "resolve"]);
    assert_eq!(events[0]["dedup_key"], alerts::dedup_key(&fingerprint));
    assert_eq!(events[1]["dedup_key"], events[0]["dedup_key"]);
    assert_eq!(
        events[0]["links"][0]["href"],
        format!(
            "https://tidewatch.example.com/incidents/{}",
            alerts::dedup_key(&fingerprint)
        )
    );
    // Email: exactly one firing and one resolved message.
    let subjects: Vec<String> = recorded(&smtp)
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        subjects,
        [
            "[FIRING] public.orders: check null_rate(email) < 1%",
            "[RESOLVED] public.orders: check null_rate(email) < 1%"
        ]
    );
}

#[tokio::test]
async fn an_unrouted_failure_reaches_slack_once() {
    let (http, mock) = server().await;
    let smtp = start_smtp(true);
    let notifiers = receivers(&http, smtp.port);
    let raw: RawRoute = serde_json::from_str(ROUTE).unwrap();
    let names: Vec<&str> = notifiers.keys().map(String::as_str).collect();
    let route = Route::compile(&raw, &names).unwrap();
    let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let mut agg = Aggregator::default();
    let growth = [("team", "growth")];
    // Two failing checks on one dataset within the group wait: one Slack message for both.
    agg.insert(&route, verdict(&growth, "public.users", t0), t0);
    let mut other = verdict(&growth, "public.users", t0 + TimeDelta::seconds(5));
    other.fingerprint.push_str("/second");
    agg.insert(&route, other, t0 + TimeDelta::seconds(5));
    let sent = run_until(&mut agg, &notifiers, t0 + TimeDelta::hours(3)).await;
    assert_eq!(receivers_of(&sent), ["data-slack"]);
    assert_eq!(sent[0].alerts.len(), 2);
    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].path.starts_with("/ok/services/"));
    assert_eq!(
        seen[0].json()["blocks"][0]["text"]["text"],
        "[FIRING:2] public.users"
    );
    assert!(recorded(&smtp).is_empty(), "not a payments alert: no email");
}
