//! A result row becomes an alert: the one place where verdicts (`checks`) meet label sets (`alerts`).
//!
//! - `fail`, `anomaly` and `error` rows fire; a `pass` row resolves, unless its value breaks the
//!   check's `warn:` threshold, which fires with severity `warning` (the row stays `pass`, so the
//!   scan's exit code does not change); `learning` rows say nothing.
//! - Labels: the monitor's `labels:`, then `dataset`, `monitor`, `source`, `metric`, `column` (when
//!   the series has one), `alertname` and `severity`.
//! - `alertname`: `SourceUnreachable` for a whole-table `error` (the monitor measured nothing; the
//!   built-in inhibition rule mutes its other alerts), `MeasurementFailed` for other errors,
//!   `CheckFailed`, `CheckWarning`, `Anomaly`, `SchemaDrift`.
//! - Severity, first that applies: the `severity:` of the failing check (the highest when several
//!   fail; a failing check without one counts as the monitor default); the monitor's `severity`
//!   label; for learned anomalies the score (below [`CRITICAL_SCORE`] `warning`, else `critical`);
//!   otherwise `warning`.
//! - The fingerprint is `checks::SeriesKey::fingerprint`, so one series is one incident.

use crate::config::Monitor;
use alerts::{Alert, Annotations, LabelName, LabelSet, Severity};
use checks::report::display_value;
use checks::{Metric, ResultRow, Status, Target};
use chrono::{DateTime, Utc};

/// A learned anomaly scoring at least this is `critical` (below it, a mild anomaly, `warning`).
pub const CRITICAL_SCORE: f64 = 0.75;

fn label(set: &mut LabelSet, name: &str, value: impl Into<String>) {
    if let Ok(n) = LabelName::new(name) {
        set.insert(n, value);
    }
}

/// The alert a row stands for at `now`, or `None` for `learning` rows.
pub fn alert_for(row: &ResultRow, monitor: &Monitor, now: DateTime<Utc>) -> Option<Alert> {
    let specs: Vec<_> = monitor
        .checks
        .iter()
        .filter(|c| c.check.applies_to(row.metric, &row.target))
        .collect();
    let default = monitor
        .labels
        .get("severity")
        .and_then(|s| s.parse::<Severity>().ok());
    let value = row.value;
    let failing: Vec<_> = specs
        .iter()
        .filter(|c| value.is_some_and(|v| !c.check.holds(v)))
        .collect();
    let warned = value.and_then(|v| {
        specs
            .iter()
            .find_map(|c| c.warn.as_ref().filter(|w| !w.check.holds(v)))
    });

    let whole = row.status == Status::Error
        && row.metric == Metric::RowCount
        && row.target == Target::Table
        && row.value.is_none();
    let (firing, alertname, severity, check) = match row.status {
        Status::Learning => return None,
        Status::Fail => {
            let severity = failing
                .iter()
                .map(|c| c.severity.or(default).unwrap_or(Severity::Warning))
                .max()
                .unwrap_or(default.unwrap_or(Severity::Warning));
            let check = failing.first().map(|c| c.text.clone());
            (true, "CheckFailed", severity, check)
        }
        Status::Anomaly if row.metric == Metric::Schema => (
            true,
            "SchemaDrift",
            default.unwrap_or(Severity::Warning),
            None,
        ),
        Status::Anomaly => {
            let severity =
                default.unwrap_or_else(|| match row.score.or_else(|| score_of(&row.message)) {
                    Some(s) if s >= CRITICAL_SCORE => Severity::Critical,
                    _ => Severity::Warning,
                });
            (true, "Anomaly", severity, None)
        }
        Status::Error => (
            true,
            if whole {
                "SourceUnreachable"
            } else {
                "MeasurementFailed"
            },
            default.unwrap_or(Severity::Warning),
            None,
        ),
        Status::Pass => match warned {
            Some(w) => (
                true,
                "CheckWarning",
                Severity::Warning,
                Some(w.text.clone()),
            ),
            None => (false, "", default.unwrap_or(Severity::Warning), None),
        },
    };

    let mut labels = monitor.labels.clone();
    label(&mut labels, "dataset", row.dataset.as_str());
    label(&mut labels, "monitor", row.monitor.as_str());
    label(&mut labels, "source", row.source.as_str());
    label(&mut labels, "metric", row.metric.as_str());
    if let Some(c) = row.target.label() {
        label(&mut labels, "column", c);
    }
    if !alertname.is_empty() {
        label(&mut labels, "alertname", alertname);
    }
    label(&mut labels, "severity", severity.as_str());

    let annotations = Annotations {
        dataset: row.dataset.clone(),
        source: row.source.clone(),
        metric: row.metric.as_str().to_string(),
        column: row.target.label(),
        value: value.map(|v| display_value(row.metric, v)),
        expected: row.expected.as_ref().map(|e| {
            let shown =
                |v: Option<f64>| v.map_or("…".to_string(), |v| display_value(row.metric, v));
            format!("{} .. {}", shown(e.lower), shown(e.upper))
        }),
        check,
        message: (!row.message.is_empty()).then(|| row.message.clone()),
    };
    let fingerprint = row.key().fingerprint();
    let alert = Alert::firing(labels, annotations, fingerprint, now).ok()?;
    Some(if firing {
        alert
    } else {
        alert.resolved_at(now)
    })
}

/// The score in a learned verdict's message (`… (score 0.83)`, `checks::ResultRow::apply_assessment`).
fn score_of(message: &str) -> Option<f64> {
    let at = message.rfind("(score ")?;
    message[at + 7..].trim_end_matches(')').trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;
    use std::path::Path;

    fn monitor(labels: &str, checks: &str) -> Monitor {
        let text = format!(
            "version: 1\nsources:\n  s: {{ kind: sqlite, url: w.db }}\nmonitors:\n  - name: orders\n    source: s\n    table: orders\n    labels: {labels}\n    checks:\n{checks}"
        );
        let c = parse_str(&text, Path::new("/t/tw.yaml"), &|_| None).unwrap();
        c.monitors[0].clone()
    }

    fn row(
        metric: Metric,
        target: Target,
        value: Option<f64>,
        status: Status,
        msg: &str,
    ) -> ResultRow {
        ResultRow {
            monitor: "orders".into(),
            source: "s".into(),
            dataset: "orders".into(),
            metric,
            target,
            value,
            status,
            expected: None,
            message: msg.into(),
            details: None,
            score: None,
        }
    }

    const CHECKS: &str = "      - row_count > 0\n      - check: null_rate(email) < 5%\n        severity: critical\n        warn: null_rate(email) < 1%\n";

    #[test]
    fn severities_and_labels() {
        let t = Utc::now();
        let m = monitor("{ team: payments }", CHECKS);
        let email = Target::Column("email".into());
        let fail = row(
            Metric::NullRate,
            email.clone(),
            Some(0.2),
            Status::Fail,
            "x",
        );
        let a = alert_for(&fail, &m, t).unwrap();
        assert!(a.is_firing());
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.labels.get("team"), Some("payments"));
        assert_eq!(a.labels.get("column"), Some("email"));
        assert_eq!(a.labels.get("alertname"), Some("CheckFailed"));
        assert_eq!(a.fingerprint, "orders/null_rate/email");
        assert_eq!(
            a.annotations.check.as_deref(),
            Some("null_rate(email) < 5%")
        );

        let warn = row(
            Metric::NullRate,
            email.clone(),
            Some(0.02),
            Status::Pass,
            "x",
        );
        let a = alert_for(&warn, &m, t).unwrap();
        assert!(a.is_firing());
        assert_eq!(a.severity, Severity::Warning);
        assert_eq!(a.labels.get("alertname"), Some("CheckWarning"));

        let ok = row(Metric::NullRate, email, Some(0.001), Status::Pass, "x");
        assert!(!alert_for(&ok, &m, t).unwrap().is_firing());

        let rc = row(
            Metric::RowCount,
            Target::Table,
            Some(0.0),
            Status::Fail,
            "x",
        );
        assert_eq!(alert_for(&rc, &m, t).unwrap().severity, Severity::Warning);
        let m2 = monitor("{ severity: critical }", CHECKS);
        assert_eq!(alert_for(&rc, &m2, t).unwrap().severity, Severity::Critical);

        let mild = row(
            Metric::Volume,
            Target::Table,
            Some(3.0),
            Status::Anomaly,
            "outside the learned band 5 .. 9 (score 0.60)",
        );
        assert_eq!(alert_for(&mild, &m, t).unwrap().severity, Severity::Warning);
        let strong = row(
            Metric::Volume,
            Target::Table,
            Some(0.0),
            Status::Anomaly,
            "outside the learned band 5 .. 9 (score 0.91)",
        );
        assert_eq!(
            alert_for(&strong, &m, t).unwrap().severity,
            Severity::Critical
        );

        let down = row(
            Metric::RowCount,
            Target::Table,
            None,
            Status::Error,
            "connection refused",
        );
        assert_eq!(
            alert_for(&down, &m, t).unwrap().labels.get("alertname"),
            Some("SourceUnreachable")
        );
        let learning = row(
            Metric::Mean,
            Target::Column("amount".into()),
            Some(1.0),
            Status::Learning,
            "",
        );
        assert!(alert_for(&learning, &m, t).is_none());
    }
}
