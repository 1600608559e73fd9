//! The one HTTP path every HTTP notifier uses: a client with timeouts and no redirects, status
//! classification (2xx delivered; 408, 429, 5xx and network errors retryable; other 4xx not),
//! `Retry-After` in seconds or as an HTTP date, and redaction of every message.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use url::Url;

use super::{redact_url, NotifyError, ReceiverError, Redactor};

/// How much of an error response body is kept for the message.
const BODY_SNIPPET: usize = 200;
/// How much of a response body is read at all.
const BODY_LIMIT: usize = 64 * 1024;

pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub(crate) struct HttpSender {
    client: reqwest::Client,
    kind: &'static str,
    url: Url,
    shown: String,
    timeout: Duration,
    redactor: Redactor,
}

impl std::fmt::Debug for HttpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSender")
            .field("kind", &self.kind)
            .field("url", &self.shown)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A 2xx answer.
pub(crate) struct Answer {
    pub status: u16,
}

impl HttpSender {
    pub(crate) fn new(
        kind: &'static str,
        url: Url,
        timeout: Duration,
        redactor: Redactor,
        path: &str,
        errors: &mut Vec<ReceiverError>,
    ) -> Option<HttpSender> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // A redirect could carry the request (and its secrets) somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build();
        match client {
            Ok(client) => Some(HttpSender {
                client,
                kind,
                shown: redact_url(&url),
                url,
                timeout,
                redactor: redactor.clone(),
            }),
            Err(e) => {
                errors.push(ReceiverError::new(
                    path,
                    redactor.redact(&format!("cannot build the http client: {}", chain(&e))),
                ));
                None
            }
        }
    }

    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// POSTs a JSON body; `Ok` only for 2xx.
    pub(crate) async fn post_json(
        &self,
        body: Vec<u8>,
        headers: &[(&'static str, String)],
    ) -> Result<Answer, NotifyError> {
        let mut map = HeaderMap::new();
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        map.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("Tidewatch/", env!("CARGO_PKG_VERSION"))),
        );
        for (name, value) in headers {
            let v = HeaderValue::from_str(value).map_err(|_| {
                NotifyError::permanent(self.msg(&format!("bad value for header {name}")))
            })?;
            map.insert(*name, v);
        }
        let sent = self
            .client
            .post(self.url.clone())
            .headers(map)
            .body(body)
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return Err(self.transport_error(&e)),
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    body.extend_from_slice(&c);
                    if body.len() >= BODY_LIMIT {
                        break;
                    }
                }
                Ok(None) => break,
                // The status is what matters; a body cut short only shortens the message.
                Err(e) if status.is_success() => {
                    tracing::debug!(kind = self.kind, error = %self.redactor.redact(&chain(&e)), "response body cut short");
                    break;
                }
                Err(e) => return Err(self.transport_error(&e)),
            }
        }
        if status.is_success() {
            return Ok(Answer {
                status: status.as_u16(),
            });
        }
        let code = status.as_u16();
        let retryable = code == 408 || code == 429 || status.is_server_error();
        let text = snippet(&String::from_utf8_lossy(&body));
        let mut what = format!(
            "http {code} {}",
            status.canonical_reason().unwrap_or("").to_lowercase()
        )
        .trim_end()
        .to_string();
        if !text.is_empty() {
            what.push_str(": ");
            what.push_str(&text);
        }
        let retry_after = if matches!(code, 429 | 503) {
            retry_after
        } else {
            None
        };
        if let Some(ra) = retry_after {
            what.push_str(&format!(" (retry after {}s)", ra.as_secs()));
        }
        Err(NotifyError {
            retryable,
            retry_after,
            message: self.msg(&what),
        })
    }

    fn transport_error(&self, e: &reqwest::Error) -> NotifyError {
        if e.is_timeout() {
            return NotifyError::retryable(
                self.msg(&format!("timed out after {}s", self.timeout.as_secs_f64())),
            );
        }
        if e.is_builder() {
            return NotifyError::permanent(self.msg(&format!("bad request: {}", chain(e))));
        }
        let what = if e.is_connect() {
            format!("cannot connect: {}", chain(e))
        } else {
            format!("request failed: {}", chain(e))
        };
        NotifyError::retryable(self.msg(&what))
    }

    /// `slack http://127.0.0.1:80/<redacted>: …`, redacted once more in case the text echoes a secret.
    pub(crate) fn msg(&self, what: &str) -> String {
        self.redactor
            .redact(&format!("{} {}: {what}", self.kind, self.shown))
    }
}

/// An error and its sources on one line, without any URL reqwest would add.
fn chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let top = e.to_string();
    parts.push(top);
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        src = s.source();
    }
    // reqwest puts the URL in parentheses in its own message: drop that part outright.
    parts
        .into_iter()
        .map(|p| match p.find(" for url (") {
            Some(i) => p[..i].to_string(),
            None => p,
        })
        .collect::<Vec<_>>()
        .join(": ")
}

fn snippet(body: &str) -> String {
    let one_line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= BODY_SNIPPET {
        one_line
    } else {
        let cut: String = one_line.chars().take(BODY_SNIPPET - 1).collect();
        format!("{cut}…")
    }
}

/// Reads a `Retry-After` value: delay seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), as a wait from `now` (zero for a date in the past).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 27, 0).unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "soon", "-5", "1.5"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn snippets_are_one_short_line() {
        assert_eq!(snippet("invalid_payload\n"), "invalid_payload");
        let long = "x".repeat(500);
        let s = snippet(&long);
        assert_eq!(s.chars().count(), BODY_SNIPPET);
        assert!(s.ends_with('…'));
    }
}
