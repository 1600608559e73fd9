//! Helpers shared by the notifier tests: sample notifications and the secrets they must never leak.

#![allow(dead_code)] // each test binary uses a different part
#![allow(clippy::unwrap_used)] // sample data known to be valid; a panic is the assertion

pub mod http;
pub mod smtp;

use alerts::{Alert, Annotations, LabelSet, Notification};
use chrono::{TimeZone, Utc};

/// Put in webhook URL paths, queries, routing keys, HMAC secrets and SMTP passwords; asserted
/// absent from every error message.
pub const SECRET: &str = "XyZsecretT0ken987";

pub fn orders_alert(fp: &str) -> Alert {
    let labels = LabelSet::from_pairs([
        ("team", "payments"),
        ("severity", "critical"),
        ("dataset", "public.orders"),
    ])
    .unwrap();
    let annotations = Annotations {
        dataset: "public.orders".into(),
        source: "warehouse".into(),
        metric: "null_rate".into(),
        column: Some("email".into()),
        value: Some("12%".into()),
        check: Some("null_rate(email) < 1%".into()),
        ..Annotations::default()
    };
    let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    Alert::firing(labels, annotations, fp, t0).unwrap()
}

/// One firing alert (and `resolved` resolved ones) for `receiver`.
pub fn notification(receiver: &str, firing: usize, resolved: usize) -> Notification {
    let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 30).unwrap();
    let mut alerts: Vec<Alert> = (0..firing)
        .map(|i| orders_alert(&format!("orders/null_rate/email/{i}")))
        .collect();
    alerts.extend(
        (0..resolved).map(|i| orders_alert(&format!("orders/row_count/{i}")).resolved_at(t0)),
    );
    let group = LabelSet::from_pairs([("dataset", "public.orders")]).unwrap();
    Notification::new(
        receiver,
        "{}",
        r#"{}:{dataset="public.orders"}"#,
        group,
        alerts,
        t0,
    )
}

pub fn assert_no_secret(message: &str) {
    assert!(!message.contains(SECRET), "secret leaked: {message}");
}
