//! Notifiers, at the crate's edge: the only code here that does IO. Each takes a [`Notification`]
//! and returns [`Delivered`] or a [`NotifyError`] that says whether trying again can help and how long
//! the receiver asked us to wait. Error messages never contain a webhook URL's path or query, a
//! routing key, an SMTP password or an HMAC secret ([`Redactor`]).
//!
//! Retrying is the caller's (the outbox's) job, with [`backoff`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::notification::Notification;

pub mod email;
mod http;
pub mod log;
pub mod pagerduty;
pub mod render;
pub mod slack;
pub mod webhook;

pub use email::{EmailConfig, EmailNotifier, SmtpConfig, SmtpTls};
pub use http::parse_retry_after;
pub use log::{LogConfig, LogNotifier};
pub use pagerduty::{PagerDutyConfig, PagerDutyNotifier};
pub use render::MessageOptions;
pub use slack::{SlackConfig, SlackNotifier};
pub use webhook::{WebhookConfig, WebhookNotifier};

/// What a receiver accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// `slack`, `webhook`, `pagerduty`, `email` or `log`.
    pub kind: String,
    /// How many requests or messages it took (PagerDuty sends one event per alert).
    pub messages: usize,
    /// The receiver's answer, e.g. `http 200` or `smtp 250`.
    pub detail: String,
}

/// A failed delivery. The message is already redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct NotifyError {
    /// Whether the same notification may succeed later (network errors, timeouts, 408, 429, 5xx,
    /// SMTP 4xx). Not retryable: other 4xx, SMTP 5xx, a bad configuration.
    pub retryable: bool,
    /// How long the receiver asked us to wait (`Retry-After`), when it said.
    pub retry_after: Option<Duration>,
    pub message: String,
}

impl NotifyError {
    pub fn retryable(message: impl Into<String>) -> Self {
        NotifyError {
            retryable: true,
            retry_after: None,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        NotifyError {
            retryable: false,
            retry_after: None,
            message: message.into(),
        }
    }
}

/// A problem in a receiver's configuration; `path` is relative to the receiver, e.g.
/// `slack.webhook_url` (empty when it is about the receiver as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct ReceiverError {
    pub path: String,
    pub reason: String,
}

impl ReceiverError {
    pub(crate) fn new(path: &str, reason: impl Into<String>) -> Self {
        ReceiverError {
            path: path.to_string(),
            reason: reason.into(),
        }
    }
}

/// A receiver as written in config: a name and exactly one kind.
///
/// ```yaml
/// - name: data-slack
///   slack: { webhook_url: ${SLACK_WEBHOOK_URL} }
/// - name: oncall-mail
///   email: { to: [oncall@example.com], from: tidewatch@example.com,
///            smtp: { host: 127.0.0.1, port: 2525, tls: none } }
/// - name: hook
///   webhook: { url: http://127.0.0.1:9000/hook, secret: ${HOOK_SECRET} }
/// - name: pager
///   pagerduty: { routing_key: ${PD_ROUTING_KEY} }
/// - name: log
///   log: { level: warn }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(default)]
    pub slack: Option<SlackConfig>,
    #[serde(default)]
    pub email: Option<EmailConfig>,
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    #[serde(default)]
    pub pagerduty: Option<PagerDutyConfig>,
    #[serde(default)]
    pub log: Option<LogConfig>,
}

/// One configured receiver, ready to send.
#[derive(Debug, Clone)]
pub enum Notifier {
    Slack(SlackNotifier),
    Webhook(WebhookNotifier),
    PagerDuty(PagerDutyNotifier),
    Email(EmailNotifier),
    Log(LogNotifier),
}

impl Notifier {
    /// Checks a receiver's configuration and builds its notifier, reporting every problem that can
    /// be known without sending (bad URLs, addresses, timeouts, a missing or second kind).
    pub fn build(
        cfg: &ReceiverConfig,
        opts: &MessageOptions,
    ) -> Result<Notifier, Vec<ReceiverError>> {
        match (
            &cfg.slack,
            &cfg.email,
            &cfg.webhook,
            &cfg.pagerduty,
            &cfg.log,
        ) {
            (Some(c), None, None, None, None) => SlackNotifier::new(c, opts).map(Notifier::Slack),
            (None, Some(c), None, None, None) => EmailNotifier::new(c, opts).map(Notifier::Email),
            (None, None, Some(c), None, None) => {
                WebhookNotifier::new(c, opts).map(Notifier::Webhook)
            }
            (None, None, None, Some(c), None) => {
                PagerDutyNotifier::new(c, opts).map(Notifier::PagerDuty)
            }
            (None, None, None, None, Some(c)) => LogNotifier::new(c, opts).map(Notifier::Log),
            _ => Err(vec![ReceiverError::new(
                "",
                format!(
                    "receiver {:?} needs exactly one of slack, email, webhook, pagerduty, log",
                    cfg.name
                ),
            )]),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Notifier::Slack(_) => "slack",
            Notifier::Webhook(_) => "webhook",
            Notifier::PagerDuty(_) => "pagerduty",
            Notifier::Email(_) => "email",
            Notifier::Log(_) => "log",
        }
    }

    pub async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        match self {
            Notifier::Slack(s) => s.notify(n).await,
            Notifier::Webhook(w) => w.notify(n).await,
            Notifier::PagerDuty(p) => p.notify(n).await,
            Notifier::Email(e) => e.notify(n).await,
            Notifier::Log(l) => l.notify(n).await,
        }
    }
}

/// Scrubs secrets from text: every registered secret, as written and percent-decoded, becomes
/// `<redacted>`. Registering a URL registers the whole URL, its path, its query and its password.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

const REDACTED: &str = "<redacted>";

impl Redactor {
    pub fn secret(mut self, s: &str) -> Self {
        self.add(s);
        self
    }

    pub fn url(mut self, url: &Url) -> Self {
        self.add(url.as_str());
        let path = url.path();
        if path != "/" {
            self.add(path);
        }
        if let Some(q) = url.query() {
            self.add(q);
        }
        if let Some(pw) = url.password() {
            self.add(pw);
        }
        self
    }

    fn add(&mut self, s: &str) {
        // Very short strings would scrub ordinary words; the notifiers never have secrets that short
        // except by misconfiguration, which they refuse.
        if s.len() < 4 {
            return;
        }
        self.secrets.push(s.to_string());
        let decoded = percent_decode(s);
        if decoded != s && decoded.len() >= 4 {
            self.secrets.push(decoded);
        }
        // Longest first, so a secret that contains another is replaced whole.
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        self.secrets.dedup();
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A URL as it may be shown: scheme, host and port only (`https://hooks.slack.com/<redacted>`).
pub fn redact_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{}://{host}:{p}/{REDACTED}", url.scheme()),
        None => format!("{}://{host}/{REDACTED}", url.scheme()),
    }
}

/// The first retry waits about this long.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Exponential backoff stops growing here.
pub const BACKOFF_CAP: Duration = Duration::from_secs(10 * 60);
/// A `Retry-After` longer than this is treated as this (a receiver asking for days is broken).
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(24 * 3600);

/// How long to wait before retry number `attempt` (0 for the first retry): exponential from
/// [`BACKOFF_BASE`], capped at [`BACKOFF_CAP`], with "equal jitter" (uniform in the upper half, so
/// retries of many notifications spread out but never come sooner than half the step). The jitter
/// is a pure function of `jitter_seed` and `attempt` (the outbox passes, say, the notification's
/// row id), so a schedule is reproducible. A `Retry-After` wins when it is longer.
pub fn backoff(attempt: u32, retry_after: Option<Duration>, jitter_seed: u64) -> Duration {
    let step = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(20))
        .min(BACKOFF_CAP);
    let unit = splitmix64(jitter_seed ^ u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    // 53 random bits as a fraction in [0, 1).
    let frac = (unit >> 11) as f64 / (1u64 << 53) as f64;
    let half = step / 2;
    let jittered = half + half.mul_f64(frac);
    match retry_after {
        Some(ra) => jittered.max(ra.min(RETRY_AFTER_CAP)),
        None => jittered,
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Parses a configured timeout (`10s`, `1m`), with a default and a place for errors.
pub(crate) fn timeout_from(
    text: &Option<String>,
    default: Duration,
    path: &str,
    errors: &mut Vec<ReceiverError>,
) -> Duration {
    match text {
        None => default,
        Some(t) => match crate::route::parse_duration(t) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                errors.push(ReceiverError::new(path, "must be greater than zero"));
                default
            }
            Err(e) => {
                errors.push(ReceiverError::new(
                    path,
                    format!("invalid duration {t:?}: {e}"),
                ));
                default
            }
        },
    }
}

/// Parses a secret URL, saying what is wrong without printing it.
pub(crate) fn secret_url(text: &str, path: &str, errors: &mut Vec<ReceiverError>) -> Option<Url> {
    match Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(u),
        Ok(u) => {
            errors.push(ReceiverError::new(
                path,
                format!(
                    "must be an http or https URL with a host (got scheme {:?})",
                    u.scheme()
                ),
            ));
            None
        }
        Err(e) => {
            errors.push(ReceiverError::new(path, format!("not a valid URL: {e}")));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_jitters_and_yields_to_retry_after() {
        for attempt in 0..30 {
            let step = BACKOFF_BASE
                .saturating_mul(1u32 << attempt.min(20))
                .min(BACKOFF_CAP);
            for seed in 0..50 {
                let d = backoff(attempt, None, seed);
                assert!(
                    d >= step / 2 && d <= step,
                    "attempt {attempt} seed {seed}: {d:?}"
                );
            }
        }
        assert_eq!(backoff(3, None, 7), backoff(3, None, 7), "deterministic");
        let spread: std::collections::BTreeSet<Duration> =
            (0..20).map(|s| backoff(3, None, s)).collect();
        assert!(spread.len() > 15, "seeds spread the retries: {spread:?}");
        assert!(backoff(40, None, 1) <= BACKOFF_CAP);
        assert!(backoff(1, None, 1) < backoff(6, None, 1));
        // Retry-After wins only when longer, and is capped.
        let ra = Duration::from_secs(120);
        assert_eq!(backoff(0, Some(ra), 1), ra);
        assert!(backoff(12, Some(Duration::from_secs(1)), 1) > Duration::from_secs(1));
        assert_eq!(
            backoff(0, Some(Duration::from_secs(10 * 24 * 3600)), 1),
            RETRY_AFTER_CAP
        );
    }

    #[test]
    fn redactor_scrubs_urls_paths_queries_and_decoded_forms() {
        let url =
            Url::parse("https://hooks.slack.com/services/T0/B0/s3cr%2Ft?token=abcd1234").unwrap();
        let r = Redactor::default().url(&url).secret("hmac-key-42");
        let msg = format!(
            "POST {} failed; path /services/T0/B0/s3cr%2Ft and /services/T0/B0/s3cr/t, q token=abcd1234, key hmac-key-42",
            url
        );
        let out = r.redact(&msg);
        for leaked in ["s3cr", "abcd1234", "hmac-key-42", "/services/T0"] {
            assert!(!out.contains(leaked), "{leaked} leaked in {out}");
        }
        assert!(out.contains("<redacted>"));
        assert_eq!(redact_url(&url), "https://hooks.slack.com/<redacted>");
        let local = Url::parse("http://127.0.0.1:9000/hook").unwrap();
        assert_eq!(redact_url(&local), "http://127.0.0.1:9000/<redacted>");
        assert_eq!(r.redact("nothing secret"), "nothing secret");
        assert!(!format!("{r:?}").contains("hmac"));
    }

    #[test]
    fn receiver_needs_exactly_one_kind() {
        let cfg: ReceiverConfig = serde_json::from_str(r#"{"name": "x"}"#).unwrap();
        let e = Notifier::build(&cfg, &MessageOptions::default()).unwrap_err();
        assert!(e[0].reason.contains("exactly one"), "{e:?}");
        let two: ReceiverConfig = serde_json::from_str(
            r#"{"name": "x", "slack": {"webhook_url": "https://h/x"}, "pagerduty": {"routing_key": "k"}}"#,
        )
        .unwrap();
        assert!(Notifier::build(&two, &MessageOptions::default()).is_err());
        assert!(serde_json::from_str::<ReceiverConfig>(r#"{"name": "x", "sms": {}}"#).is_err());
    }
}
