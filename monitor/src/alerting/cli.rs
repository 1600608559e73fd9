//! `tidewatch incidents`, `tidewatch silence` and `tidewatch alerts test|flush`: all on the state
//! store, so the API only adds HTTP on top.

use crate::config::Config;
use crate::store::{IncidentRecord, SilenceRecord, Store};
use alerts::notify::Notifier;
use alerts::{LabelSet, Notification};
use anyhow::{bail, Context};
use chrono::{DateTime, TimeDelta, Utc};
use std::fmt::Write as _;

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
    let Some(rec) = store.incident(id).await.context("reading the incident")? else {
        bail!("no incident {id}");
    };
    let rec = tidewatch_api::incidents::transition(&rec, resolve, by, now)?;
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
    let d = alerts::route::parse_duration(duration)
        .map_err(|e| anyhow::anyhow!("--for {duration}: {e}"))?;
    let ends = now + TimeDelta::from_std(d).context("--for is too long")?;
    let s = tidewatch_api::incidents::build_silence(matchers, now, ends, by, comment)
        .map_err(|e| anyhow::anyhow!("{}", e.replacen("matcher ", "--matcher ", 1)))?;
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
        // An expired pending silence ends before it starts: expired wins.
        let state = if now >= s.ends_at {
            "expired"
        } else if now < s.starts_at {
            "pending"
        } else {
            "active"
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
    store
        .set_silence_end(id, now)
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
