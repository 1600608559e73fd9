//! PagerDuty Events API v2: one event per alert — `trigger` while it fires, `resolve` once it has —
//! keyed by the alert's stable `dedup_key`, so PagerDuty folds repeats into one incident and a
//! retried notification cannot open a second one. A test notification triggers and then resolves.
//!
//! Events of one notification go out in order; the first failure stops the rest and is returned, and
//! retrying the whole notification is safe because PagerDuty deduplicates on the key.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use url::Url;

use super::http::{HttpSender, DEFAULT_TIMEOUT};
use super::render::{title, truncate, AlertView, MessageOptions};
use super::webhook::rfc3339;
use super::{timeout_from, Delivered, NotifyError, ReceiverError, Redactor};
use crate::alert::{Alert, Severity};
use crate::notification::Notification;

pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// PagerDuty's limit for `payload.summary`.
pub const SUMMARY_MAX: usize = 1024;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// The integration's routing key (a secret).
    pub routing_key: SecretString,
    /// Events endpoint; [`DEFAULT_URL`] when unset (tests point it at a local server).
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
}

#[derive(Clone)]
pub struct PagerDutyNotifier {
    http: HttpSender,
    routing_key: SecretString,
    opts: MessageOptions,
}

impl std::fmt::Debug for PagerDutyNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDutyNotifier")
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// `trigger` or `resolve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventAction {
    Trigger,
    Resolve,
}

/// PagerDuty's severities for our three.
pub fn pd_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

impl PagerDutyNotifier {
    pub fn new(cfg: &PagerDutyConfig, opts: &MessageOptions) -> Result<Self, Vec<ReceiverError>> {
        let mut errors = Vec::new();
        let timeout = timeout_from(
            &cfg.timeout,
            DEFAULT_TIMEOUT,
            "pagerduty.timeout",
            &mut errors,
        );
        let key = cfg.routing_key.expose_secret();
        if key.trim().is_empty() {
            errors.push(ReceiverError::new("pagerduty.routing_key", "is empty"));
        } else if key.len() < 8 {
            errors.push(ReceiverError::new(
                "pagerduty.routing_key",
                "is too short to be a routing key",
            ));
        }
        let url = match Url::parse(cfg.url.as_deref().unwrap_or(DEFAULT_URL)) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            Ok(_) | Err(_) => {
                errors.push(ReceiverError::new(
                    "pagerduty.url",
                    "must be an http or https URL",
                ));
                None
            }
        };
        let http = url.and_then(|u| {
            let red = Redactor::default().url(&u).secret(key);
            HttpSender::new("pagerduty", u, timeout, red, "pagerduty", &mut errors)
        });
        match http {
            Some(http) if errors.is_empty() => Ok(PagerDutyNotifier {
                http,
                routing_key: cfg.routing_key.clone(),
                opts: opts.clone(),
            }),
            _ => Err(errors),
        }
    }

    pub fn url(&self) -> &Url {
        self.http.url()
    }

    /// The events one notification becomes, in the order they are sent.
    pub fn events(&self, n: &Notification) -> Vec<Value> {
        events(n, self.routing_key.expose_secret(), &self.opts)
    }

    pub async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        let mut sent = 0;
        let mut last = 0;
        for event in self.events(n) {
            let body = serde_json::to_vec(&event).map_err(|e| {
                NotifyError::permanent(self.http.msg(&format!("cannot encode: {e}")))
            })?;
            let answer = self.http.post_json(body, &[]).await.map_err(|mut e| {
                if sent > 0 {
                    e.message = format!("{} (after {sent} events were accepted)", e.message);
                }
                e
            })?;
            sent += 1;
            last = answer.status;
        }
        Ok(Delivered {
            kind: "pagerduty".into(),
            messages: sent,
            detail: format!("http {last}"),
        })
    }
}

fn events(n: &Notification, routing_key: &str, opts: &MessageOptions) -> Vec<Value> {
    let mut out = Vec::new();
    for a in &n.alerts {
        if a.is_firing() {
            out.push(trigger(n, a, routing_key, opts));
            if n.test {
                out.push(resolve(a, routing_key));
            }
        } else {
            out.push(resolve(a, routing_key));
        }
    }
    out
}

fn trigger(n: &Notification, a: &Alert, routing_key: &str, opts: &MessageOptions) -> Value {
    let v = AlertView::new(a, opts);
    let prefix = if n.test { "[TEST] " } else { "" };
    let summary = truncate(&format!("{prefix}{}", v.headline()), SUMMARY_MAX);
    let ann = &a.annotations;
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": EventAction::Trigger,
        "dedup_key": a.dedup_key(),
        "payload": {
            "summary": summary,
            "source": if ann.source.is_empty() { "tidewatch" } else { ann.source.as_str() },
            "severity": pd_severity(a.severity),
            "timestamp": rfc3339(a.starts_at),
            "component": ann.dataset,
            "group": title(n),
            "class": v.metric,
            "custom_details": {
                "dataset": ann.dataset,
                "source": ann.source,
                "metric": ann.metric,
                "column": ann.column,
                "value": ann.value,
                "expected": ann.expected,
                "check": ann.check,
                "message": ann.message,
                "first_seen": v.first_seen,
                "labels": a.labels,
                "fingerprint": a.fingerprint,
                "notification_id": n.id,
            }
        },
        "client": "Tidewatch",
    });
    if let Some(link) = v.link {
        event["links"] = json!([{"href": link, "text": "Open in Tidewatch"}]);
        if let Some(base) = &opts.public_url {
            event["client_url"] = json!(base.as_str());
        }
    }
    event
}

fn resolve(a: &Alert, routing_key: &str) -> Value {
    json!({
        "routing_key": routing_key,
        "event_action": EventAction::Resolve,
        "dedup_key": a.dedup_key(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::t;
    use crate::labels::LabelSet;
    use crate::notify::render::tests::orders_alert;

    fn notifier() -> PagerDutyNotifier {
        let cfg: PagerDutyConfig =
            serde_json::from_str(r#"{"routing_key": "R0UTINGKEY0123456789abcdefABCDEF"}"#).unwrap();
        PagerDutyNotifier::new(&cfg, &MessageOptions::default()).unwrap()
    }

    #[test]
    fn trigger_and_resolve_with_the_dedup_key() {
        let p = notifier();
        assert_eq!(p.url().as_str(), DEFAULT_URL);
        let a = orders_alert();
        let n = Notification::new(
            "pager",
            "{}",
            "k",
            LabelSet::new(),
            vec![a.clone(), orders_alert().resolved_at(t(60))],
            t(30),
        );
        let ev = p.events(&n);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0]["event_action"], "trigger");
        assert_eq!(ev[0]["dedup_key"], a.dedup_key());
        assert_eq!(ev[0]["payload"]["severity"], "critical");
        assert_eq!(ev[0]["payload"]["source"], "warehouse");
        assert_eq!(ev[0]["payload"]["component"], "public.orders");
        assert_eq!(
            ev[0]["payload"]["custom_details"]["check"],
            "null_rate(email) < 1%"
        );
        assert_eq!(ev[1]["event_action"], "resolve");
        assert_eq!(ev[1]["dedup_key"], a.dedup_key());
        assert!(ev[1].get("payload").is_none());
        let test = p.events(&Notification::test("pager", t(0)));
        let actions: Vec<&str> = test
            .iter()
            .map(|e| e["event_action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["trigger", "resolve"]);
        assert!(test[0]["payload"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("[TEST] "));
        assert_eq!(test[0]["payload"]["severity"], "info");
        assert!(!format!("{p:?}").contains("R0UTING"));
    }

    #[test]
    fn config_errors() {
        let cfg: PagerDutyConfig =
            serde_json::from_str(r#"{"routing_key": " ", "url": "mailto:x@y"}"#).unwrap();
        let e = PagerDutyNotifier::new(&cfg, &MessageOptions::default()).unwrap_err();
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["pagerduty.routing_key", "pagerduty.url"]);
    }
}
