//! `tidewatch incidents`, `tidewatch silence` and `tidewatch alerts test|flush`: all on the state
//! store, so the API only adds HTTP on top.

use crate::config::Config;
use crate::store::{IncidentRecord, SilenceRecord, Store};
use alerts::notify::Notifier;
use alerts::{Incident, IncidentState, LabelSet, Matchers, Notification, Severity, Silence};
use anyhow::{bail, Context};
use chrono::{DateTime, TimeDelta, Utc};
use std::fmt::Write as _;

fn state_of(s: &str) -> anyhow::Result<IncidentState> {
    Ok(match s {
        "open" => IncidentState::Open,
        "acknowledged" => IncidentState::Acknowledged,
        "resolved" => IncidentState::Resolved,
        other => bail!("incident has an unknown state {other:?}"),
    })
}

/// The stored row as the `alerts` crate's incident (for its transition rules).
fn as_incident(r: &IncidentRecord) -> anyhow::Result<Incident> {
    Ok(Incident {
        dedup_key: r.dedup_key.clone(),
        fingerprint: r.fingerprint.clone(),
        state: state_of(&r.state)?,
        severity: r.severity.parse().unwrap_or(Severity::Warning),
        opened_at: r.first_seen,
        last_seen: r.last_seen,
        acknowledged_at: r.acknowledged_at,
        acknowledged_by: r.acknowledged_by.clone(),
        resolved_at: r.resolved_at,
        resolution: None,
    })
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn series(r: &IncidentRecord) -> String {
    let labels: LabelSet = serde_json::from_str(&r.labels).unwrap_or_default();
    let metric = labels.value("metric");
    let what = match labels.get("column") {
        Some(c) => format!("{metric}({c})"),
        None => metric.to_string(),
    };
    format!(
        "{} {} {what}",
        labels.value("monitor"),
        labels.value("dataset")
    )
}

/// `tidewatch incidents [--open]`: newest first.
pub async fn list_incidents(store: &Store, open_only: bool) -> anyhow::Result<String> {
    let rows = store
        .incidents(open_only)
        .await
        .context("reading incidents")?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6} {:<13} {:<9} {:<21} {:<21} {:<9} SERIES",
        "ID", "STATE", "SEVERITY", "FIRST_SEEN", "LAST_SEEN", "STATUS"
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "{:<6} {:<13} {:<9} {:<21} {:<21} {:<9} {}",
            r.id,
            r.state,
            r.severity,
            time(r.first_seen),
            time(r.last_seen),
            r.last_status,
            series(r)
        );
    }
    if rows.is_empty() {
        out.push_str(if open_only {
            "no open incidents\n"
        } else {
            "no incidents\n"
        });
    }
    Ok(out)
}

/// `tidewatch incidents ack|resolve ID`.
pub async fn transition(
    store: &Store,
    id: i64,
    resolve: bool,
    by: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let Some(mut rec) = store.incident(id).await.context("reading the incident")? else {
        bail!("no incident {id}");
    };
    let mut inc = as_incident(&rec)?;
    if resolve {
        inc.resolve(by, now)
    } else {
        inc.acknowledge(by, now)
    }
    .map_err(|e| anyhow::anyhow!("incident {id}: {e}"))?;
    rec.state = inc.state.as_str().to_string();
    rec.acknowledged_at = inc.acknowledged_at;
    rec.acknowledged_by = inc.acknowledged_by.clone();
    if resolve {
        rec.resolved_at = inc.resolved_at;
        rec.resolved_by = Some(by.to_string());
    }
    store
        .update_incident(&rec)
        .await
        .context("updating the incident")?;
    Ok(format!("incident {id} {} by {by}", rec.state))
}

/// `tidewatch silence add`: every `--matcher` must hold (e.g. `dataset="public.orders"`).
pub async fn add_silence(
    store: &Store,
    matchers: &[String],
    duration: &str,
    comment: &str,
    by: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let mut list = Vec::new();
    for m in matchers {
        let parsed = Matchers::parse(m).map_err(|e| anyhow::anyhow!("--matcher {m}: {e}"))?;
        list.extend(parsed.iter().cloned());
    }
    let matchers = Matchers::new(list);
    let d = alerts::route::parse_duration(duration)
        .map_err(|e| anyhow::anyhow!("--for {duration}: {e}"))?;
    let ends = now + TimeDelta::from_std(d).context("--for is too long")?;
    let s = Silence::new("new", matchers, now, ends, by, comment)?;
    let id = store
        .insert_silence(&SilenceRecord {
            id: 0,
            matchers: s.matchers.to_string(),
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
            created_at: now,
        })
        .await
        .context("storing the silence")?;
    Ok(format!(
        "silence {id} {} until {}",
        s.matchers,
        time(s.ends_at)
    ))
}

/// `tidewatch silence list`: the silences that have not ended (`--all`: every one).
pub async fn list_silences(store: &Store, all: bool, now: DateTime<Utc>) -> anyhow::Result<String> {
    let rows = store
        .silences(if all { None } else { Some(now) })
        .await
        .context("reading silences")?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6} {:<8} {:<21} {:<21} {:<12} MATCHERS / COMMENT",
        "ID", "STATE", "STARTS", "ENDS", "BY"
    );
    for s in &rows {
        let state = if now < s.starts_at {
            "pending"
        } else if now < s.ends_at {
            "active"
        } else {
            "expired"
        };
        let _ = writeln!(
            out,
            "{:<6} {:<8} {:<21} {:<21} {:<12} {} {}",
            s.id,
            state,
            time(s.starts_at),
            time(s.ends_at),
            s.created_by,
            s.matchers,
            s.comment
        );
    }
    if rows.is_empty() {
        out.push_str("no silences\n");
    }
    Ok(out)
}

/// `tidewatch silence expire ID`: ends it now.
pub async fn expire_silence(store: &Store, id: i64, now: DateTime<Utc>) -> anyhow::Result<String> {
    let Some(s) = store
        .silences(None)
        .await
        .context("reading silences")?
        .into_iter()
        .find(|s| s.id == id)
    else {
        bail!("no silence {id}");
    };
    if s.ends_at <= now {
        bail!("silence {id} already ended at {}", time(s.ends_at));
    }
    let end = if now < s.starts_at { s.starts_at } else { now };
    store
        .set_silence_end(id, end)
        .await
        .context("expiring the silence")?;
    Ok(format!("silence {id} expired"))
}

/// `tidewatch alerts test`: one clearly marked test notification through each chosen receiver,
/// sent directly (not through the outbox). Returns one line per receiver and whether all succeeded.
pub async fn send_test(config: &Config, receiver: Option<&str>) -> anyhow::Result<(String, bool)> {
    let Some(alerts) = &config.alerts else {
        bail!("{} has no alerts section", config.path.display());
    };
    let chosen: Vec<(&String, &Notifier)> = match receiver {
        Some(name) => match alerts.notifiers.get_key_value(name) {
            Some(pair) => vec![pair],
            None => bail!(
                "no receiver named {name} (receivers: {})",
                alerts
                    .notifiers
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        None => alerts.notifiers.iter().collect(),
    };
    let mut out = String::new();
    let mut ok = true;
    for (name, notifier) in chosen {
        let n = Notification::test(name, Utc::now());
        match notifier.notify(&n).await {
            Ok(d) => {
                let _ = writeln!(out, "{name} ({}): sent, {}", notifier.kind(), d.detail);
            }
            Err(e) => {
                ok = false;
                let _ = writeln!(
                    out,
                    "{name} ({}): failed: {}",
                    notifier.kind(),
                    e.message.clone()
                );
            }
        }
    }
    Ok((out, ok))
}
