//! Generic webhook: one JSON POST per notification.
//!
//! # Body, schema version 1
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "id": "n-3f2a…",                  // the notification: the same on every retry, dedup on it
//!   "receiver": "hook",
//!   "status": "firing",               // "firing" when any alert fires, else "resolved"
//!   "test": false,                    // true for `tidewatch alerts test`
//!   "group_key": "{}:{dataset=\"public.orders\"}",
//!   "group_labels": {"dataset": "public.orders"},
//!   "created_at": "2024-05-01T12:00:30Z",   // when the group was flushed
//!   "sent_at": "2024-05-01T12:00:31Z",      // this attempt (= X-Tidewatch-Timestamp)
//!   "alerts": [{
//!     "fingerprint": "orders/null_rate/email",
//!     "dedup_key": "tw-…",            // stable per series, across incidents and restarts
//!     "status": "firing",             // or "resolved"
//!     "severity": "critical",         // "info" | "warning" | "critical"
//!     "labels": {"severity": "critical", "team": "payments"},
//!     "annotations": {"dataset": "public.orders", "source": "warehouse", "metric": "null_rate",
//!                     "column": "email", "value": "12%", "check": "null_rate(email) < 1%"},
//!                     // optional: column, value, expected (a band), check, message
//!     "starts_at": "2024-05-01T12:00:00Z",
//!     "ends_at": null,                // set when resolved
//!     "link": "https://tw.example.com/incidents/tw-…"   // only with public_url
//!   }],
//!   "truncated_alerts": 0             // alerts left out past 1,000
//! }
//! ```
//!
//! Fields may be added within a schema version; removing or changing one bumps it.
//!
//! # Headers
//!
//! - `X-Tidewatch-Timestamp`: Unix seconds of this attempt.
//! - `X-Tidewatch-Notification-Id`: the body's `id`.
//! - `X-Tidewatch-Signature: sha256=<hex>`: HMAC-SHA256 of the exact body bytes with the configured
//!   secret, only when one is set. The body carries `sent_at`, so the signature covers the time too.

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::http::{HttpSender, DEFAULT_TIMEOUT};
use super::render::MessageOptions;
use super::{secret_url, timeout_from, Delivered, NotifyError, ReceiverError, Redactor};
use crate::alert::{Annotations, Severity, Status};
use crate::labels::LabelSet;
use crate::notification::Notification;

pub const SCHEMA_VERSION: u32 = 1;
pub const MAX_ALERTS: usize = 1_000;
pub const SIGNATURE_HEADER: &str = "x-tidewatch-signature";
pub const TIMESTAMP_HEADER: &str = "x-tidewatch-timestamp";
pub const ID_HEADER: &str = "x-tidewatch-notification-id";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Treated as a secret: only scheme, host and port are ever shown.
    pub url: SecretString,
    /// Signs each body (HMAC-SHA256) when set.
    #[serde(default)]
    pub secret: Option<SecretString>,
    #[serde(default)]
    pub timeout: Option<String>,
}

#[derive(Clone)]
pub struct WebhookNotifier {
    http: HttpSender,
    secret: Option<SecretString>,
    opts: MessageOptions,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("http", &self.http)
            .field("signed", &self.secret.is_some())
            .finish()
    }
}

/// The body, as documented above.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body {
    pub schema_version: u32,
    pub id: String,
    pub receiver: String,
    pub status: Status,
    pub test: bool,
    pub group_key: String,
    pub group_labels: LabelSet,
    pub created_at: DateTime<Utc>,
    pub sent_at: DateTime<Utc>,
    pub alerts: Vec<BodyAlert>,
    pub truncated_alerts: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BodyAlert {
    pub fingerprint: String,
    pub dedup_key: String,
    pub status: Status,
    pub severity: Severity,
    pub labels: LabelSet,
    pub annotations: Annotations,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl Body {
    pub fn new(n: &Notification, opts: &MessageOptions, sent_at: DateTime<Utc>) -> Body {
        let alerts = n
            .alerts
            .iter()
            .take(MAX_ALERTS)
            .map(|a| BodyAlert {
                fingerprint: a.fingerprint.clone(),
                dedup_key: a.dedup_key(),
                status: a.status,
                severity: a.severity,
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: a.starts_at,
                ends_at: a.ends_at,
                link: opts.link(a),
            })
            .collect();
        Body {
            schema_version: SCHEMA_VERSION,
            id: n.id.clone(),
            receiver: n.receiver.clone(),
            status: n.status,
            test: n.test,
            group_key: n.group_key.clone(),
            group_labels: n.group_labels.clone(),
            created_at: n.created_at,
            sent_at,
            alerts,
            truncated_alerts: n.alerts.len().saturating_sub(MAX_ALERTS),
        }
    }
}

/// `sha256=<hex HMAC-SHA256 of body>`, what receivers compare against the signature header.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("hmac accepts keys of any length"),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl WebhookNotifier {
    pub fn new(cfg: &WebhookConfig, opts: &MessageOptions) -> Result<Self, Vec<ReceiverError>> {
        let mut errors = Vec::new();
        let timeout = timeout_from(
            &cfg.timeout,
            DEFAULT_TIMEOUT,
            "webhook.timeout",
            &mut errors,
        );
        if let Some(s) = &cfg.secret {
            if s.expose_secret().len() < 16 {
                errors.push(ReceiverError::new(
                    "webhook.secret",
                    "must be at least 16 characters",
                ));
            }
        }
        let url = secret_url(cfg.url.expose_secret(), "webhook.url", &mut errors);
        let http = url.and_then(|u| {
            let mut red = Redactor::default().url(&u);
            if let Some(s) = &cfg.secret {
                red = red.secret(s.expose_secret());
            }
            HttpSender::new("webhook", u, timeout, red, "webhook", &mut errors)
        });
        match http {
            Some(http) if errors.is_empty() => Ok(WebhookNotifier {
                http,
                secret: cfg.secret.clone(),
                opts: opts.clone(),
            }),
            _ => Err(errors),
        }
    }

    pub async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        let now = Utc::now();
        let body = Body::new(n, &self.opts, now);
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| NotifyError::permanent(self.http.msg(&format!("cannot encode: {e}"))))?;
        let mut headers = vec![
            (TIMESTAMP_HEADER, now.timestamp().to_string()),
            (ID_HEADER, n.id.clone()),
        ];
        if let Some(s) = &self.secret {
            headers.push((
                SIGNATURE_HEADER,
                signature(s.expose_secret().as_bytes(), &bytes),
            ));
        }
        let answer = self.http.post_json(bytes, &headers).await?;
        Ok(Delivered {
            kind: "webhook".into(),
            messages: 1,
            detail: format!("http {}", answer.status),
        })
    }
}

/// RFC 3339 with seconds, as the body writes times.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::t;
    use crate::notify::render::tests::orders_alert;

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn body_follows_the_schema() {
        let n = Notification::new(
            "hook",
            "{}",
            "k",
            LabelSet::new(),
            vec![orders_alert(), orders_alert().resolved_at(t(60))],
            t(30),
        );
        let body = Body::new(&n, &MessageOptions::default(), t(31));
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["status"], "firing");
        assert_eq!(v["sent_at"], "2023-11-14T22:13:51Z");
        assert_eq!(
            v["alerts"][0]["annotations"]["check"],
            "null_rate(email) < 1%"
        );
        assert_eq!(v["alerts"][0]["ends_at"], serde_json::Value::Null);
        assert_eq!(v["alerts"][1]["status"], "resolved");
        assert_eq!(v["alerts"][0]["dedup_key"], orders_alert().dedup_key());
        assert!(v["alerts"][0].get("link").is_none());
        assert_eq!(serde_json::from_value::<Body>(v).unwrap(), body);
        assert_eq!(rfc3339(t(0)), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn config_errors_do_not_print_the_url_or_secret() {
        let cfg: WebhookConfig = serde_json::from_str(
            r#"{"url": "ftp://h/tok3n-path", "secret": "short", "timeout": "x"}"#,
        )
        .unwrap();
        let errors = WebhookNotifier::new(&cfg, &MessageOptions::default()).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        for s in &shown {
            assert!(!s.contains("tok3n") && !s.contains("short"), "{s}");
        }
        assert!(!format!("{cfg:?}").contains("tok3n"));
    }
}
