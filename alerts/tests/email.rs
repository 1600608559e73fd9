//! The email notifier against a real SMTP server on loopback: aiosmtpd, started by each test with
//! `python3 -m aiosmtpd -n -l 127.0.0.1:PORT` — with its own handler, or with `smtp_handler.Recorder`
//! (beside this file) that writes each message down and answers 451 or 550 for some recipients.
//!
//! Needs `python3` with `aiosmtpd` (`pip install aiosmtpd`); a test fails, saying so, without it.

// Helpers outside #[test] fns panic on an unexpected error on purpose: that is the assertion.
#![allow(clippy::unwrap_used)]

mod support;

use alerts::notify::{EmailConfig, EmailNotifier, MessageOptions};
use serde_json::Value;
use support::smtp::{free_port, recorded, start_smtp};
use support::{assert_no_secret, notification, SECRET};

fn notifier(port: u16, to: &[&str], extra_smtp: Value) -> EmailNotifier {
    let mut smtp =
        serde_json::json!({"host": "127.0.0.1", "port": port, "tls": "none", "timeout": "5s"});
    for (k, v) in extra_smtp.as_object().unwrap() {
        smtp[k] = v.clone();
    }
    let cfg: EmailConfig = serde_json::from_value(serde_json::json!({
        "to": to, "from": "tidewatch@example.com", "smtp": smtp
    }))
    .unwrap();
    EmailNotifier::new(&cfg, &MessageOptions::default()).unwrap()
}

#[tokio::test]
async fn delivers_to_a_stock_aiosmtpd() {
    let smtp = start_smtp(false);
    let d = notifier(
        smtp.port,
        &["oncall@example.com"],
        Value::Object(Default::default()),
    )
    .notify(&notification("oncall-mail", 1, 0))
    .await
    .unwrap();
    assert_eq!(d.kind, "email");
    assert_eq!(d.detail, "smtp 250");
}

#[tokio::test]
async fn sends_multipart_html_and_text_with_dataset_and_check_in_the_subject() {
    let smtp = start_smtp(true);
    let n = notification("oncall-mail", 1, 1);
    notifier(
        smtp.port,
        &["oncall@example.com", "data@example.com"],
        Value::Object(Default::default()),
    )
    .notify(&n)
    .await
    .unwrap();
    let msgs = recorded(&smtp);
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m["from"], "tidewatch@example.com");
    assert_eq!(
        m["to"],
        serde_json::json!(["oncall@example.com", "data@example.com"])
    );
    assert_eq!(
        m["subject"],
        "[FIRING] public.orders: check null_rate(email) < 1% and 1 more"
    );
    assert_eq!(m["content_type"], "multipart/alternative");
    let parts = m["parts"].as_array().unwrap();
    let kinds: Vec<&str> = parts
        .iter()
        .map(|p| p["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["text/plain", "text/html"]);
    let plain = parts[0]["text"].as_str().unwrap();
    let html = parts[1]["text"].as_str().unwrap();
    for want in [
        "public.orders",
        "null_rate(email)",
        "value 12% vs check null_rate(email) < 1%",
        "first seen 2024-05-01 12:00:00 UTC",
        "severity=critical",
        "[resolved]",
    ] {
        assert!(plain.contains(want), "{want} not in {plain}");
    }
    assert!(
        html.contains("<table") && html.contains("null_rate(email) &lt; 1%"),
        "{html}"
    );
}

#[tokio::test]
async fn a_temporary_refusal_is_retryable() {
    let smtp = start_smtp(true);
    let e = notifier(
        smtp.port,
        &["tempfail@example.com"],
        Value::Object(Default::default()),
    )
    .notify(&notification("oncall-mail", 1, 0))
    .await
    .unwrap_err();
    assert!(e.retryable, "{e}");
    assert!(e.message.contains("451"), "{e}");
    assert!(
        e.message.starts_with(&format!(
            "email smtp 127.0.0.1:{}: temporarily refused",
            smtp.port
        )),
        "{e}"
    );
    assert!(recorded(&smtp).is_empty());
}

#[tokio::test]
async fn a_permanent_refusal_is_not_retryable() {
    let smtp = start_smtp(true);
    let e = notifier(
        smtp.port,
        &["oncall@example.com", "reject@example.com"],
        Value::Object(Default::default()),
    )
    .notify(&notification("oncall-mail", 1, 0))
    .await
    .unwrap_err();
    assert!(!e.retryable, "{e}");
    assert!(e.message.contains("550"), "{e}");
    assert!(e.message.contains("rejected"), "{e}");
    assert!(recorded(&smtp).is_empty());
}

#[tokio::test]
async fn no_server_is_retryable() {
    let port = free_port();
    let e = notifier(
        port,
        &["oncall@example.com"],
        Value::Object(Default::default()),
    )
    .notify(&notification("oncall-mail", 1, 0))
    .await
    .unwrap_err();
    assert!(e.retryable, "{e}");
    assert!(e.message.contains("connection failed"), "{e}");
}

#[tokio::test]
async fn the_password_never_shows() {
    // aiosmtpd offers no AUTH on a plain connection, so a configured login cannot be used: a
    // configuration problem, not retryable, and the message must not carry the password.
    let smtp = start_smtp(true);
    let n = notifier(
        smtp.port,
        &["oncall@example.com"],
        serde_json::json!({"username": "tidewatch", "password": SECRET}),
    );
    assert!(!format!("{n:?}").contains(SECRET));
    let e = n
        .notify(&notification("oncall-mail", 1, 0))
        .await
        .unwrap_err();
    assert!(!e.retryable, "{e}");
    assert_no_secret(&e.message);
    assert!(recorded(&smtp).is_empty());
}
