//! Judging a profile: explicit checks decide pass/fail, schema drift is an anomaly, failures are
//! errors, and every check that found nothing to judge is an error too. Learned baselines come after
//! this step, for the rows left `learning`.

use crate::evaluate::apply_checks;
use crate::expr::Check;
use crate::profile::Profile;
use crate::report::ResultRow;
use crate::{Column, Metric, SchemaDiff, Status, Target};

/// The monitor a profile belongs to, as results name it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub monitor: &'a str,
    pub source: &'a str,
    pub dataset: &'a str,
}

/// An explicit check with the text it was written as and its place in the config (`file:line:col`).
#[derive(Debug, Clone)]
pub struct NamedCheck<'a> {
    pub check: &'a Check,
    pub text: &'a str,
    pub place: String,
}

/// Turns a profile into result rows (see the module docs).
pub fn judge(
    subject: Subject<'_>,
    checks: &[NamedCheck<'_>],
    profile: &Profile,
    previous_schema: Option<&[Column]>,
) -> Vec<ResultRow> {
    let row = |metric: Metric, target: Target, value: Option<f64>, status: Status| ResultRow {
        monitor: subject.monitor.to_string(),
        source: subject.source.to_string(),
        dataset: subject.dataset.to_string(),
        metric,
        target,
        value,
        status,
        expected: None,
        message: String::new(),
        details: None,
        score: None,
    };
    let mut rows = Vec::new();
    let mut judged_checks = vec![false; checks.len()];

    for obs in &profile.observations {
        let mut r = row(
            obs.metric,
            obs.target.clone(),
            Some(obs.value),
            Status::Learning,
        );
        let applicable: Vec<(&Check, &str)> = checks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.check.applies_to(obs.metric, &obs.target))
            .map(|(i, c)| {
                judged_checks[i] = true;
                (c.check, c.text)
            })
            .collect();
        if obs.metric == Metric::Schema {
            let current = profile.schema.as_deref().unwrap_or_default();
            let mut details = serde_json::json!({ "columns": current });
            match previous_schema {
                Some(prev) => {
                    let diff = SchemaDiff::between(prev, current);
                    if diff.is_empty() {
                        r.status = Status::Pass;
                        r.message = "schema unchanged".into();
                    } else {
                        r.status = Status::Anomaly;
                        r.message = format!("schema drift: {}", diff.summary());
                        details["added"] = serde_json::json!(diff.added);
                        details["removed"] = serde_json::json!(diff.removed);
                        details["changed"] = serde_json::json!(diff.changed);
                    }
                }
                None => {
                    r.status = Status::Pass;
                    r.message = "first schema snapshot".into();
                }
            }
            r.details = Some(details);
        }
        if obs.metric == Metric::NullCount {
            if let Some(s) = profile.skipped.iter().find(|s| s.target == obs.target) {
                let names: Vec<&str> = s.metrics.iter().map(|m| m.as_str()).collect();
                r.details = Some(serde_json::json!({ "not_measured": names, "reason": s.reason }));
            }
        }
        if let Some(d) = profile
            .details
            .iter()
            .find(|d| d.metric == obs.metric && d.target == obs.target)
        {
            match (&mut r.details, &d.value) {
                (Some(serde_json::Value::Object(have)), serde_json::Value::Object(more)) => {
                    have.extend(more.clone());
                }
                (details, value) => *details = Some(value.clone()),
            }
        }
        match apply_checks(obs.value, &applicable) {
            Some(v) => {
                // An explicit check decides; schema drift still shows as an anomaly beside a pass.
                if !(r.status == Status::Anomaly && v.status == Status::Pass) {
                    r.status = v.status;
                    r.message = v.message;
                }
                r.expected = v.expected;
            }
            None if obs.metric != Metric::Schema => {
                r.message = "no check configured; no learned baseline yet".into();
            }
            None => {}
        }
        rows.push(r);
    }

    for f in &profile.failures {
        let mut r = row(f.metric, f.target.clone(), None, Status::Error);
        r.message = f.message.clone();
        for (i, c) in checks.iter().enumerate() {
            if f.covers(c.check) {
                judged_checks[i] = true;
            }
        }
        rows.push(r);
    }

    for (i, c) in checks.iter().enumerate() {
        if judged_checks[i] {
            continue;
        }
        let empty_bucket = profile
            .observations
            .iter()
            .any(|o| o.metric == Metric::Volume && o.value == 0.0);
        let new_data_metric = c.check.metric.is_bucketed()
            || matches!(
                c.check.metric,
                Metric::FreshnessSeconds | Metric::Schema | Metric::NewDuplicateCount
            );
        if profile.partial.is_some() && !new_data_metric {
            // Measured by the next full profile, not by this incremental one.
            continue;
        }
        if profile.partial.is_none() && c.check.metric == Metric::NewDuplicateCount {
            // Measured by the next incremental scan; this full profile counts duplicate_count over
            // the whole table.
            continue;
        }
        let target = Target::from_label(c.check.metric, c.check.column.as_deref());
        let mut r = row(c.check.metric, target, None, Status::Error);
        if c.check.metric == Metric::BucketNullRate && empty_bucket {
            // No rows in the bucket: no NULLs to count, the check holds vacuously.
            r.status = Status::Pass;
            r.message = format!("{}: no rows in the last complete bucket", c.text);
        } else {
            r.message = unmeasured_reason(c, profile);
        }
        rows.push(r);
    }
    rows
}

fn unmeasured_reason(c: &NamedCheck<'_>, profile: &Profile) -> String {
    let metric = c.check.metric;
    let column = c.check.column.as_deref().unwrap_or("");
    if let Some(s) = profile
        .skipped
        .iter()
        .find(|s| s.target.label().as_deref() == Some(column) && s.metrics.contains(&metric))
    {
        return format!(
            "check {} at {}: {metric} is not measured for {column}: {}",
            c.text, c.place, s.reason
        );
    }
    let col_type = profile
        .schema
        .as_deref()
        .and_then(|s| s.iter().find(|col| col.name == column))
        .map(|col| col.data_type.clone());
    match (metric, col_type) {
        (Metric::Min | Metric::Max | Metric::Mean, Some(t)) => format!(
            "check {} at {}: {metric} is measured only for numeric columns and {column} is {t}",
            c.text, c.place
        ),
        (Metric::FreshnessSeconds, _) => {
            format!(
                "check {} at {}: the table has no rows, so it has no freshness",
                c.text, c.place
            )
        }
        _ => format!("check {} at {}: nothing measured for it", c.text, c.place),
    }
}
