//! Email over SMTP (lettre on tokio): one multipart message per notification, HTML and plain text,
//! with the status, dataset and check in the subject. TLS is `none`, `starttls` or `implicit`
//! (rustls). SMTP 4xx answers are retryable, 5xx are not; network errors and timeouts are retryable;
//! TLS failures and a client-side refusal (say, no usable AUTH mechanism) are not.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::render::{title, truncate, AlertView, MessageOptions};
use super::{timeout_from, Delivered, NotifyError, ReceiverError, Redactor};
use crate::notification::Notification;

pub const SUBJECT_MAX: usize = 200;
const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub to: Vec<String>,
    pub from: String,
    pub smtp: SmtpConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// 25 for `none`, 587 for `starttls`, 465 for `implicit` when unset.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretString>,
    #[serde(default)]
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP (a relay on localhost, a test server).
    None,
    /// Upgrade with STARTTLS, refusing servers that do not offer it.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Implicit,
}

impl SmtpTls {
    fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Implicit => 465,
        }
    }
}

#[derive(Clone)]
pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    shown: String,
    redactor: Redactor,
    opts: MessageOptions,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("smtp", &self.shown)
            .field("to", &self.to.len())
            .finish_non_exhaustive()
    }
}

impl EmailNotifier {
    pub fn new(cfg: &EmailConfig, opts: &MessageOptions) -> Result<Self, Vec<ReceiverError>> {
        let mut errors = Vec::new();
        let smtp = &cfg.smtp;
        let timeout = timeout_from(
            &smtp.timeout,
            DEFAULT_SMTP_TIMEOUT,
            "email.smtp.timeout",
            &mut errors,
        );
        let from = match cfg.from.parse::<Mailbox>() {
            Ok(m) => Some(m),
            Err(e) => {
                errors.push(ReceiverError::new(
                    "email.from",
                    format!("invalid address {:?}: {e}", cfg.from),
                ));
                None
            }
        };
        if cfg.to.is_empty() {
            errors.push(ReceiverError::new("email.to", "needs at least one address"));
        }
        let mut to = Vec::new();
        for (i, addr) in cfg.to.iter().enumerate() {
            match addr.parse::<Mailbox>() {
                Ok(m) => to.push(m),
                Err(e) => errors.push(ReceiverError::new(
                    &format!("email.to[{i}]"),
                    format!("invalid address {addr:?}: {e}"),
                )),
            }
        }
        let host = smtp.host.trim();
        if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
            errors.push(ReceiverError::new(
                "email.smtp.host",
                format!("invalid host {:?}", smtp.host),
            ));
        }
        let port = smtp.port.unwrap_or(smtp.tls.default_port());
        if port == 0 {
            errors.push(ReceiverError::new("email.smtp.port", "must not be 0"));
        }
        let mut redactor = Redactor::default();
        let credentials = match (&smtp.username, &smtp.password) {
            (Some(u), Some(p)) => {
                redactor = redactor.secret(p.expose_secret());
                Some(Credentials::new(u.clone(), p.expose_secret().to_string()))
            }
            (None, None) => None,
            (Some(_), None) => {
                errors.push(ReceiverError::new(
                    "email.smtp.password",
                    "is needed with a username",
                ));
                None
            }
            (None, Some(_)) => {
                errors.push(ReceiverError::new(
                    "email.smtp.username",
                    "is needed with a password",
                ));
                None
            }
        };
        let tls = match smtp.tls {
            SmtpTls::None => Some(Tls::None),
            SmtpTls::Starttls | SmtpTls::Implicit => match TlsParameters::new(host.to_string()) {
                Ok(p) if smtp.tls == SmtpTls::Starttls => Some(Tls::Required(p)),
                Ok(p) => Some(Tls::Wrapper(p)),
                Err(e) => {
                    errors.push(ReceiverError::new(
                        "email.smtp.tls",
                        format!("cannot set up tls: {e}"),
                    ));
                    None
                }
            },
        };
        let (Some(from), Some(tls), true) = (from, tls, errors.is_empty()) else {
            return Err(errors);
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(timeout));
        if let Some(c) = credentials {
            builder = builder.credentials(c);
        }
        Ok(EmailNotifier {
            transport: builder.build(),
            from,
            to,
            shown: format!("{host}:{port}"),
            redactor,
            opts: opts.clone(),
        })
    }

    /// The message a notification becomes.
    pub fn message(&self, n: &Notification) -> Result<Message, NotifyError> {
        let (plain, html) = bodies(n, &self.opts);
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(subject(n));
        for m in &self.to {
            b = b.to(m.clone());
        }
        b.multipart(MultiPart::alternative_plain_html(plain, html))
            .map_err(|e| {
                NotifyError::permanent(self.msg(&format!("cannot build the message: {e}")))
            })
    }

    pub async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        let message = self.message(n)?;
        match self.transport.send(message).await {
            Ok(resp) => Ok(Delivered {
                kind: "email".into(),
                messages: 1,
                detail: format!("smtp {}", resp.code()),
            }),
            Err(e) => Err(self.classify(&e)),
        }
    }

    fn classify(&self, e: &lettre::transport::smtp::Error) -> NotifyError {
        let text = one_line(&e.to_string());
        if e.is_permanent() {
            NotifyError::permanent(self.msg(&format!("rejected: {text}")))
        } else if e.is_transient() {
            NotifyError::retryable(self.msg(&format!("temporarily refused: {text}")))
        } else if e.is_timeout() {
            NotifyError::retryable(self.msg(&format!("timed out: {text}")))
        } else if e.is_tls() {
            NotifyError::permanent(self.msg(&format!("tls failed: {text}")))
        } else if e.is_client() {
            NotifyError::permanent(self.msg(&format!("cannot send: {text}")))
        } else {
            NotifyError::retryable(self.msg(&format!("connection failed: {text}")))
        }
    }

    fn msg(&self, what: &str) -> String {
        self.redactor
            .redact(&format!("email smtp {}: {what}", self.shown))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `[FIRING] public.orders: check null_rate(email) < 1%` (and ` and 2 more` for a group).
pub fn subject(n: &Notification) -> String {
    let head = title(n);
    let what = n.alerts.first().map(|a| {
        let ann = &a.annotations;
        match &ann.check {
            Some(c) => format!("check {c}"),
            None => ann.metric_with_column(),
        }
    });
    let s = match what {
        Some(w) if !w.is_empty() && n.alerts.len() > 1 => {
            format!("{head}: {w} and {} more", n.alerts.len() - 1)
        }
        Some(w) if !w.is_empty() => format!("{head}: {w}"),
        _ => head,
    };
    truncate(&one_line(&s), SUBJECT_MAX)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Plain text and HTML bodies.
pub fn bodies(n: &Notification, opts: &MessageOptions) -> (String, String) {
    let head = title(n);
    let views: Vec<AlertView> = n.alerts.iter().map(|a| AlertView::new(a, opts)).collect();
    let mut plain = vec![head.clone(), String::new()];
    if n.test {
        plain.push("This is a test notification; nothing is wrong.".into());
        plain.push(String::new());
    }
    for v in &views {
        plain.push(v.plain());
        plain.push(String::new());
    }
    plain.push(format!("-- Tidewatch, receiver {}", n.receiver));

    let mut html = format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif\"><h2>{}</h2>",
        html_escape(&head)
    );
    if n.test {
        html.push_str("<p><strong>This is a test notification; nothing is wrong.</strong></p>");
    }
    for v in &views {
        html.push_str(&format!(
            "<h3>{}</h3><table cellpadding=\"3\">",
            html_escape(&v.headline())
        ));
        let mut rows = vec![
            ("dataset", v.dataset.clone()),
            ("source", v.source.clone()),
            ("metric", v.metric.clone()),
            ("finding", v.finding.clone()),
            ("status", v.status.to_string()),
            ("severity", v.severity.clone()),
            ("first seen", v.first_seen.clone()),
        ];
        if let Some(r) = &v.resolved_at {
            rows.push(("resolved", r.clone()));
        }
        if let Some(m) = &v.message {
            rows.push(("message", m.clone()));
        }
        rows.push(("labels", v.labels.clone()));
        for (k, val) in rows.into_iter().filter(|(_, v)| !v.is_empty()) {
            html.push_str(&format!(
                "<tr><th align=\"left\">{k}</th><td>{}</td></tr>",
                html_escape(&val)
            ));
        }
        html.push_str("</table>");
        if let Some(l) = &v.link {
            let l = html_escape(l);
            html.push_str(&format!("<p><a href=\"{l}\">Open in Tidewatch</a></p>"));
        }
    }
    html.push_str(&format!(
        "<p style=\"color:#777\">Tidewatch, receiver {}</p></body></html>",
        html_escape(&n.receiver)
    ));
    (plain.join("\n"), html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::t;
    use crate::labels::LabelSet;
    use crate::notify::render::tests::orders_alert;

    fn cfg(json: &str) -> EmailConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn subject_names_dataset_and_check() {
        let one = Notification::new("m", "{}", "k", LabelSet::new(), vec![orders_alert()], t(0));
        assert_eq!(
            subject(&one),
            "[FIRING] public.orders: check null_rate(email) < 1%"
        );
        let mut b = orders_alert();
        b.fingerprint = "other".into();
        let two = Notification::new(
            "m",
            "{}",
            "k",
            LabelSet::new(),
            vec![orders_alert(), b],
            t(0),
        );
        assert_eq!(
            subject(&two),
            "[FIRING:2] public.orders: check null_rate(email) < 1% and 1 more"
        );
    }

    #[test]
    fn html_is_escaped() {
        let mut a = orders_alert();
        a.annotations.message = Some("<script>x</script>".into());
        let n = Notification::new("m", "{}", "k", LabelSet::new(), vec![a], t(0));
        let (plain, html) = bodies(&n, &MessageOptions::default());
        assert!(plain.contains("<script>"), "plain text stays as is");
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
        assert!(html.contains("null_rate(email) &lt; 1%"));
    }

    #[test]
    fn config_is_checked_up_front() {
        let e = EmailNotifier::new(
            &cfg(r#"{"to": ["not an address"], "from": "", "smtp": {"host": "", "username": "u", "timeout": "0s"}}"#),
            &MessageOptions::default(),
        )
        .unwrap_err();
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "email.smtp.timeout",
                "email.from",
                "email.to[0]",
                "email.smtp.host",
                "email.smtp.password"
            ]
        );
        let ok = EmailNotifier::new(
            &cfg(
                r#"{"to": ["oncall@example.com"], "from": "tidewatch@example.com",
                     "smtp": {"host": "127.0.0.1", "port": 2525, "tls": "none"}}"#,
            ),
            &MessageOptions::default(),
        )
        .unwrap();
        assert_eq!(ok.shown, "127.0.0.1:2525");
        let starttls = EmailNotifier::new(
            &cfg(r#"{"to": ["a@example.com"], "from": "b@example.com", "smtp": {"host": "smtp.example.com"}}"#),
            &MessageOptions::default(),
        )
        .unwrap();
        assert_eq!(starttls.shown, "smtp.example.com:587");
        assert!(serde_json::from_str::<SmtpConfig>(r#"{"host": "h", "tls": "ssl"}"#).is_err());
    }
}
