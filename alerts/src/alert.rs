//! Alerts: one failing (or recovered) series as the rest of the crate sees it — labels to route on,
//! annotations to show people, a status and the caller's stable fingerprint.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::labels::{LabelName, LabelSet};

/// Whether the alert is still failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent an alert is; ordered `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// The label that carries the severity.
pub const SEVERITY_LABEL: &str = "severity";

/// A `severity` label with a value other than `info`, `warning` or `critical`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {value:?}: expected info, warning or critical")]
pub struct SeverityError {
    pub value: String,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The severity named by the `severity` label; `warning` when the label is absent.
    pub fn from_labels(labels: &LabelSet) -> Result<Severity, SeverityError> {
        match labels.get(SEVERITY_LABEL) {
            None => Ok(Severity::Warning),
            Some(v) => v.parse(),
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = SeverityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "critical" => Ok(Severity::Critical),
            other => Err(SeverityError {
                value: other.to_string(),
            }),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What people are shown about an alert. Strings, already formatted by the caller: this crate knows
/// nothing of metrics. Never row data — only names, measured values and bands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Annotations {
    /// The table or topic, e.g. `public.orders`.
    pub dataset: String,
    /// The configured source (warehouse, broker) it was measured on.
    pub source: String,
    /// The metric, e.g. `null_rate`.
    pub metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The measured value, formatted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The band the value was expected in, e.g. `0 – 0.01` (learned baselines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The explicit check that failed, e.g. `null_rate(email) < 1%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// A free-form sentence, e.g. why the value could not be measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Annotations {
    /// `null_rate(email)` or `row_count`.
    pub fn metric_with_column(&self) -> String {
        match &self.column {
            Some(c) => format!("{}({c})", self.metric),
            None => self.metric.clone(),
        }
    }

    /// What was expected: the failed check, else the band, else nothing.
    pub fn expectation(&self) -> Option<String> {
        match (&self.check, &self.expected) {
            (Some(c), _) => Some(format!("check {c}")),
            (None, Some(b)) => Some(format!("expected {b}")),
            (None, None) => None,
        }
    }
}

/// Problems building an alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Severity(#[from] SeverityError),
    #[error("an alert needs a non-empty fingerprint")]
    EmptyFingerprint,
}

/// One alert. `fingerprint` identifies the series across scans and restarts (the monitor passes its
/// series key); `severity` always agrees with the `severity` label, which is set to `warning` when the
/// caller gave none, so routes and inhibition rules can match on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub labels: LabelSet,
    pub annotations: Annotations,
    pub status: Status,
    pub starts_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    pub fingerprint: String,
    pub severity: Severity,
}

impl Alert {
    /// A firing alert that started at `starts_at`.
    pub fn firing(
        mut labels: LabelSet,
        annotations: Annotations,
        fingerprint: impl Into<String>,
        starts_at: DateTime<Utc>,
    ) -> Result<Alert, AlertError> {
        let fingerprint = fingerprint.into();
        if fingerprint.is_empty() {
            return Err(AlertError::EmptyFingerprint);
        }
        let severity = Severity::from_labels(&labels)?;
        if !labels.contains(SEVERITY_LABEL) {
            labels.insert(severity_label(), severity.as_str());
        }
        Ok(Alert {
            labels,
            annotations,
            status: Status::Firing,
            starts_at,
            ends_at: None,
            fingerprint,
            severity,
        })
    }

    /// The same alert, resolved at `at`.
    pub fn resolved_at(mut self, at: DateTime<Utc>) -> Alert {
        self.status = Status::Resolved;
        self.ends_at = Some(at);
        self
    }

    pub fn is_firing(&self) -> bool {
        self.status == Status::Firing
    }

    /// The stable deduplication key of the series (see [`dedup_key`]).
    pub fn dedup_key(&self) -> String {
        dedup_key(&self.fingerprint)
    }
}

fn severity_label() -> LabelName {
    // A constant that satisfies the label-name rule; checked by a test.
    LabelName::new(SEVERITY_LABEL)
        .unwrap_or_else(|_| unreachable!("severity is a valid label name"))
}

/// The deduplication key for a fingerprint: `tw-` and the first 32 hex digits of its SHA-256. Stable
/// across processes and versions (it is what PagerDuty and webhook receivers dedup on), short enough
/// for every receiver (PagerDuty allows 255), and it does not reveal the fingerprint.
pub fn dedup_key(fingerprint: &str) -> String {
    let digest = Sha256::digest(fingerprint.as_bytes());
    format!("tw-{}", &hex::encode(digest)[..32])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn severity_from_label_defaults_to_warning_and_sets_the_label() {
        let a = Alert::firing(LabelSet::new(), Annotations::default(), "fp", t(0)).unwrap();
        assert_eq!(a.severity, Severity::Warning);
        assert_eq!(a.labels.get("severity"), Some("warning"));
        let labels = LabelSet::from_pairs([("severity", "critical")]).unwrap();
        let a = Alert::firing(labels, Annotations::default(), "fp", t(0)).unwrap();
        assert_eq!(a.severity, Severity::Critical);
        let labels = LabelSet::from_pairs([("severity", "urgent")]).unwrap();
        let e = Alert::firing(labels, Annotations::default(), "fp", t(0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown severity \"urgent\": expected info, warning or critical"
        );
        assert_eq!(
            Alert::firing(LabelSet::new(), Annotations::default(), "", t(0)).unwrap_err(),
            AlertError::EmptyFingerprint
        );
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    }

    #[test]
    fn dedup_key_is_stable_and_opaque() {
        // Pinned: receivers dedup on this value across releases.
        assert_eq!(
            dedup_key("orders/null_rate/email"),
            dedup_key("orders/null_rate/email")
        );
        assert_ne!(dedup_key("a"), dedup_key("b"));
        let k = dedup_key("orders/null_rate/email");
        assert_eq!(k.len(), 35);
        assert!(!k.contains("orders"));
        assert_eq!(dedup_key("abc"), "tw-ba7816bf8f01cfea414140de5dae2223");
    }

    #[test]
    fn alert_round_trips_through_json() {
        let ann = Annotations {
            dataset: "public.orders".into(),
            source: "warehouse".into(),
            metric: "null_rate".into(),
            column: Some("email".into()),
            value: Some("0.12".into()),
            expected: None,
            check: Some("null_rate(email) < 1%".into()),
            message: None,
        };
        assert_eq!(ann.metric_with_column(), "null_rate(email)");
        assert_eq!(ann.expectation().unwrap(), "check null_rate(email) < 1%");
        let a = Alert::firing(LabelSet::new(), ann, "fp", t(0))
            .unwrap()
            .resolved_at(t(60));
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains(r#""status":"resolved""#), "{json}");
        assert_eq!(serde_json::from_str::<Alert>(&json).unwrap(), a);
    }
}
