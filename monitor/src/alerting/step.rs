//! The alerting step after a scan's results are stored: rows → alerts → incidents → routing tree,
//! grouping, silences and inhibition → due notifications into the outbox, in ONE transaction with the
//! grouping state and the incident changes (so a crash never loses or repeats a decision).
//!
//! A one-shot `scan` is one evaluation: its route tree is recompiled with `group_wait: 0s` and
//! `group_interval: 1ms` everywhere ([`one_shot_route`]), so every group flushes at the end of the
//! scan that changed it and nothing waits for a timer the process will not live to see;
//! `repeat_interval` still applies (an unchanged, still failing group is told again at the first
//! scan after it). The configured timers are for the long-running service.

use super::map::alert_for;
use crate::config::{AlertsConfig, Config};
use crate::store::{AlertingWrite, IncidentRecord, IncidentWrite, OutboxNew, Store, StoreError};
use alerts::{Aggregator, Alert, Matchers, Mutes, RawRoute, Route, Silence};
use checks::ResultRow;
use chrono::{DateTime, Utc};

/// The name the grouping state is stored under.
pub const STATE_NAME: &str = "aggregator";

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepSummary {
    pub firing: usize,
    pub opened: usize,
    pub resolved: usize,
    pub queued: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the route tree does not compile in one-shot mode: {0}")]
    Route(String),
    #[error("another process kept changing the alerting state; try again")]
    Contended,
    #[error("cannot encode the alerting state: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The route tree with the one-shot timers (see the module docs).
pub fn one_shot_route(raw: &RawRoute) -> RawRoute {
    fn clear(r: &mut RawRoute) {
        r.group_wait = None;
        r.group_interval = None;
        for c in r.routes.iter_mut().flatten() {
            clear(c);
        }
    }
    let mut r = raw.clone();
    clear(&mut r);
    r.group_wait = Some("0s".into());
    r.group_interval = Some("1ms".into());
    r
}

/// Compiles the route a step uses.
pub fn route_for(cfg: &AlertsConfig, one_shot: bool) -> Result<Route, StepError> {
    if !one_shot {
        return Ok(cfg.route.clone());
    }
    let names: Vec<&str> = cfg.notifiers.keys().map(String::as_str).collect();
    Route::compile(&one_shot_route(&cfg.raw_route), &names).map_err(|errors| {
        StepError::Route(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// The silences stored that have not ended, as the `alerts` crate's type (rows whose matchers no
/// longer parse are skipped with a warning).
pub async fn active_silences(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Vec<Silence>, StoreError> {
    let mut out = Vec::new();
    for s in store.silences(Some(now)).await? {
        match Matchers::parse(&s.matchers) {
            Ok(m) => out.push(Silence {
                id: s.id.to_string(),
                matchers: m,
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                created_by: s.created_by,
                comment: s.comment,
            }),
            Err(e) => {
                tracing::warn!(silence = s.id, error = %e, "skipping a silence that does not parse")
            }
        }
    }
    Ok(out)
}

/// Runs the step for a scan's `rows` (see the module docs).
pub async fn run(
    config: &Config,
    cfg: &AlertsConfig,
    store: &Store,
    rows: &[ResultRow],
    now: DateTime<Utc>,
    one_shot: bool,
) -> Result<StepSummary, StepError> {
    let route = route_for(cfg, one_shot)?;
    let mut summary = StepSummary::default();
    let mut alerts: Vec<Alert> = Vec::new();
    let mut incidents = Vec::new();
    for row in rows {
        let Some(monitor) = config.monitor_for_row(&row.monitor, &row.dataset) else {
            continue;
        };
        let Some(mut alert) = alert_for(row, &monitor, now) else {
            continue;
        };
        let open = store.unresolved_incident(&alert.fingerprint).await?;
        let labels = serde_json::to_string(&alert.labels)?;
        let annotations = serde_json::to_string(&alert.annotations)?;
        match (alert.is_firing(), open) {
            (true, Some(mut inc)) => {
                alert.starts_at = inc.first_seen;
                inc.last_seen = now;
                if severity_rank(alert.severity.as_str()) > severity_rank(&inc.severity) {
                    inc.severity = alert.severity.as_str().to_string();
                }
                inc.labels = labels;
                inc.annotations = annotations;
                inc.last_status = row.status.as_str().to_string();
                incidents.push(IncidentWrite::Update(inc));
                summary.firing += 1;
            }
            (true, None) => {
                incidents.push(IncidentWrite::Open(IncidentRecord {
                    id: 0,
                    dedup_key: alert.dedup_key(),
                    fingerprint: alert.fingerprint.clone(),
                    state: "open".into(),
                    severity: alert.severity.as_str().to_string(),
                    first_seen: now,
                    last_seen: now,
                    acknowledged_at: None,
                    acknowledged_by: None,
                    resolved_at: None,
                    resolved_by: None,
                    labels,
                    annotations,
                    last_status: row.status.as_str().to_string(),
                }));
                summary.firing += 1;
                summary.opened += 1;
            }
            (false, Some(mut inc)) => {
                alert.starts_at = inc.first_seen;
                inc.state = "resolved".into();
                inc.resolved_at = Some(now);
                inc.resolved_by = Some("auto".into());
                inc.last_seen = now;
                inc.last_status = row.status.as_str().to_string();
                incidents.push(IncidentWrite::Update(inc));
                summary.resolved += 1;
            }
            (false, None) => {}
        }
        alerts.push(alert);
    }

    summary.queued = commit(cfg, store, &route, &alerts, incidents, now).await?;
    // The same retention as measurements; pending notifications are never pruned.
    let before = now - chrono::Duration::seconds(config.retention.as_secs() as i64);
    store.prune_alerting(before).await?;
    Ok(summary)
}

/// Flushes the groups whose timers have come, with no new results: what a long-running service
/// calls at [`next_wakeup`] so `group_wait` / `group_interval` / `repeat_interval` apply. Returns
/// how many notifications it queued.
pub async fn flush_due(
    cfg: &AlertsConfig,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<usize, StepError> {
    commit(cfg, store, &cfg.route, &[], Vec::new(), now).await
}

/// When the stored groups next have work (`None`: no groups).
pub async fn next_wakeup(store: &Store) -> Result<Option<DateTime<Utc>>, StepError> {
    Ok(match store.alert_state(STATE_NAME).await? {
        Some((json, _)) => serde_json::from_str::<Aggregator>(&json)
            .ok()
            .and_then(|a| a.next_wakeup()),
        None => None,
    })
}

/// Applies `alerts` to the stored grouping state, flushes what is due and writes the state, the
/// incident changes and the new outbox rows in one transaction (retried on a version conflict).
async fn commit(
    cfg: &AlertsConfig,
    store: &Store,
    route: &Route,
    alerts: &[Alert],
    incidents: Vec<IncidentWrite>,
    now: DateTime<Utc>,
) -> Result<usize, StepError> {
    let silences = active_silences(store, now).await?;
    // Optimistic: read the state, apply, write it back only if nobody else did meanwhile.
    for _ in 0..5 {
        let (mut agg, version) = match store.alert_state(STATE_NAME).await? {
            Some((json, version)) => match serde_json::from_str::<Aggregator>(&json) {
                Ok(agg) => (agg, version),
                Err(e) => {
                    tracing::warn!(error = %e, "the stored grouping state does not decode; starting over");
                    (Aggregator::default(), version)
                }
            },
            None => (Aggregator::default(), 0),
        };
        for a in alerts {
            agg.insert(route, a.clone(), now);
        }
        let due = {
            let mutes = Mutes::snapshot(&agg, &silences, &cfg.inhibitor);
            agg.due(now, &mutes)
        };
        let mut outbox = Vec::with_capacity(due.len());
        for n in &due {
            outbox.push(OutboxNew {
                notification_id: n.id.clone(),
                receiver: n.receiver.clone(),
                body: serde_json::to_string(n)?,
                created_at: now,
            });
        }
        let write = AlertingWrite {
            incidents: incidents.clone(),
            state_name: STATE_NAME.into(),
            expected_version: version,
            state: serde_json::to_string(&agg)?,
            outbox,
            at: now,
        };
        if store.commit_alerting(&write).await? {
            for n in &due {
                tracing::info!(notification = %n.id, receiver = %n.receiver, status = %n.status, alerts = n.alerts.len(), "notification queued");
            }
            return Ok(due.len());
        }
    }
    Err(StepError::Contended)
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "critical" => 2,
        "warning" => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;
    use checks::{Metric, Status, Target};
    use chrono::TimeDelta;
    use std::path::Path;

    const CONFIG: &str = r#"version: 1
sources:
  s: { kind: sqlite, url: w.db }
alerts:
  receivers:
    - name: hook
      webhook: { url: "http://127.0.0.1:9/hook" }
  route:
    receiver: hook
    group_by: [dataset]
    group_wait: 30s
    group_interval: 5m
    routes:
      - matchers: ['team="x"']
        group_wait: 1m
monitors:
  - name: orders
    source: s
    table: orders
    checks:
      - null_rate(email) < 1%
"#;

    fn failing(status: Status) -> ResultRow {
        ResultRow {
            monitor: "orders".into(),
            source: "s".into(),
            dataset: "orders".into(),
            metric: Metric::NullRate,
            target: Target::Column("email".into()),
            value: Some(if status == Status::Fail { 0.2 } else { 0.0 }),
            status,
            expected: None,
            message: String::new(),
            details: None,
            score: None,
        }
    }

    async fn fresh_store(tag: &str) -> (Store, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "tw_step_{tag}_{}_{}.db",
            std::process::id(),
            Utc::now().timestamp_micros()
        ));
        let store = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        (store, path)
    }

    #[test]
    fn one_shot_route_zeroes_the_wait_everywhere() {
        let config = parse_str(CONFIG, Path::new("/t/tw.yaml"), &|_| None).unwrap();
        let cfg = config.alerts.as_ref().unwrap();
        let r = route_for(cfg, true).unwrap();
        for route in r.walk() {
            assert_eq!(route.opts().group_wait, std::time::Duration::ZERO);
            assert_eq!(
                route.opts().group_interval,
                std::time::Duration::from_millis(1)
            );
            assert_eq!(
                route.opts().repeat_interval,
                std::time::Duration::from_secs(4 * 3600)
            );
        }
        let service = route_for(cfg, false).unwrap();
        assert_eq!(
            service.routes()[0].opts().group_wait,
            std::time::Duration::from_secs(60)
        );
    }

    /// In service mode the timers apply: nothing before group_wait, one notification at it; a
    /// one-shot scan queues at once; the state (and so the decision) survives in the store.
    #[tokio::test]
    async fn service_timers_and_one_shot_flush() {
        let config = parse_str(CONFIG, Path::new("/t/tw.yaml"), &|_| None).unwrap();
        let cfg = config.alerts.as_ref().unwrap();
        let t = Utc::now();

        let (store, path) = fresh_store("service").await;
        let s = run(&config, cfg, &store, &[failing(Status::Fail)], t, false)
            .await
            .unwrap();
        assert_eq!((s.firing, s.opened, s.queued), (1, 1, 0));
        assert_eq!(
            next_wakeup(&store).await.unwrap(),
            Some(t + TimeDelta::seconds(30))
        );
        assert_eq!(
            flush_due(cfg, &store, t + TimeDelta::seconds(10))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            flush_due(cfg, &store, t + TimeDelta::seconds(30))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            flush_due(cfg, &store, t + TimeDelta::seconds(40))
                .await
                .unwrap(),
            0
        );
        // Still failing on the next scan: the incident is updated, nothing new is told.
        let s = run(
            &config,
            cfg,
            &store,
            &[failing(Status::Fail)],
            t + TimeDelta::minutes(1),
            false,
        )
        .await
        .unwrap();
        assert_eq!((s.firing, s.opened, s.queued), (1, 0, 0));
        assert_eq!(store.incidents(true).await.unwrap().len(), 1);
        // Passing: resolved at the next group_interval flush.
        let s = run(
            &config,
            cfg,
            &store,
            &[failing(Status::Pass)],
            t + TimeDelta::minutes(2),
            false,
        )
        .await
        .unwrap();
        assert_eq!((s.resolved, s.queued), (1, 0));
        assert!(store.incidents(true).await.unwrap().is_empty());
        assert_eq!(
            flush_due(cfg, &store, t + TimeDelta::seconds(330))
                .await
                .unwrap(),
            1
        );
        assert_eq!(store.outbox(None).await.unwrap().len(), 2);
        store.close().await;
        let _ = std::fs::remove_file(&path);

        let (store, path) = fresh_store("oneshot").await;
        let s = run(&config, cfg, &store, &[failing(Status::Fail)], t, true)
            .await
            .unwrap();
        assert_eq!(s.queued, 1, "a one-shot scan does not wait for group_wait");
        let s = run(
            &config,
            cfg,
            &store,
            &[failing(Status::Pass)],
            t + TimeDelta::seconds(5),
            true,
        )
        .await
        .unwrap();
        assert_eq!(s.queued, 1, "nor for group_interval");
        store.close().await;
        let _ = std::fs::remove_file(&path);
    }

    /// The issue's config as written: which receivers a failing check reaches, by monitor labels;
    /// and the built-in inhibition (an unreachable source mutes its own monitor's alerts only).
    #[test]
    fn routing_and_inhibition_tables() {
        const ISSUE: &str = r#"version: 1
sources:
  s: { kind: sqlite, url: w.db }
alerts:
  receivers:
    - name: data-slack
      slack: { webhook_url: ${SLACK_WEBHOOK_URL} }
    - name: oncall-mail
      email: { to: [oncall@example.com], from: tidewatch@example.com,
               smtp: { host: 127.0.0.1, port: 2525, tls: none } }   # tls: none | starttls | implicit
    - name: hook
      webhook: { url: http://127.0.0.1:9000/hook }
    - name: pager
      pagerduty: { routing_key: ${PD_ROUTING_KEY} }             # events v2; url overridable for tests
  route:
    receiver: data-slack
    group_by: [dataset]
    routes:
      - matchers: ['severity="critical"']
        receiver: pager
        continue: true
      - matchers: ['team=~"payments|billing"']
        receiver: oncall-mail
monitors:
  - { name: orders, source: s, table: orders, labels: { team: payments, severity: critical },
      checks: [null_rate(email) < 1%] }
  - { name: invoices, source: s, table: invoices, labels: { team: billing }, checks: [row_count > 0] }
  - { name: events, source: s, table: events, labels: { team: growth }, checks: [row_count > 0] }
  - { name: ledger, source: s, table: ledger, labels: { severity: critical }, checks: [row_count > 0] }
"#;
        let env = |name: &str| match name {
            "SLACK_WEBHOOK_URL" => Some("https://hooks.slack.com/services/T/B/x".to_string()),
            "PD_ROUTING_KEY" => Some("routing-key-123".to_string()),
            _ => None,
        };
        let config = parse_str(ISSUE, Path::new("/t/tw.yaml"), &env).unwrap();
        let cfg = config.alerts.as_ref().unwrap();
        let t = Utc::now();
        let alert = |monitor: &str, metric: Metric, target: Target, status: Status| {
            let m = config.monitors.iter().find(|m| m.name == monitor).unwrap();
            let row = ResultRow {
                monitor: monitor.into(),
                source: "s".into(),
                dataset: m.dataset.clone(),
                metric,
                target,
                value: (status == Status::Fail).then_some(0.0),
                status,
                expected: None,
                message: String::new(),
                details: None,
                score: None,
            };
            crate::alerting::map::alert_for(&row, m, t).unwrap()
        };
        let email = || Target::Column("email".into());
        let table = [
            (
                "orders",
                Metric::NullRate,
                email(),
                vec!["pager", "oncall-mail"],
            ),
            (
                "invoices",
                Metric::RowCount,
                Target::Table,
                vec!["oncall-mail"],
            ),
            (
                "events",
                Metric::RowCount,
                Target::Table,
                vec!["data-slack"],
            ),
            ("ledger", Metric::RowCount, Target::Table, vec!["pager"]),
        ];
        for (monitor, metric, target, want) in table {
            let a = alert(monitor, metric, target, Status::Fail);
            let got: Vec<&str> = cfg
                .route
                .matching(&a.labels)
                .iter()
                .map(|r| r.opts().receiver.as_str())
                .collect();
            assert_eq!(got, want, "{monitor}");
        }

        let down = alert("orders", Metric::RowCount, Target::Table, Status::Error);
        assert_eq!(down.labels.get("alertname"), Some("SourceUnreachable"));
        let same = alert("orders", Metric::NullRate, email(), Status::Fail);
        let other = alert("invoices", Metric::RowCount, Target::Table, Status::Fail);
        let sources = [down.clone(), same.clone(), other.clone()];
        assert!(cfg.inhibitor.inhibited_by(&same, &sources).is_some());
        assert!(cfg.inhibitor.inhibited_by(&other, &sources).is_none());
        assert!(cfg.inhibitor.inhibited_by(&down, &sources).is_none());
    }

    /// A `warn:` breach notifies as a warning; crossing the `check:` threshold later is news again
    /// (critical); the row's status, and so the exit code, is pass for the warn breach.
    #[tokio::test]
    async fn warn_then_fail_notifies_twice() {
        let text = CONFIG.replace(
            "      - null_rate(email) < 1%\n",
            "      - check: null_rate(email) < 5%\n        severity: critical\n        warn: null_rate(email) < 1%\n",
        );
        let config = parse_str(&text, Path::new("/t/tw.yaml"), &|_| None).unwrap();
        let cfg = config.alerts.as_ref().unwrap();
        let (store, path) = fresh_store("warn").await;
        let t = Utc::now();
        let mut row = failing(Status::Pass);
        row.value = Some(0.02);
        let s = run(&config, cfg, &store, &[row.clone()], t, true)
            .await
            .unwrap();
        assert_eq!((s.opened, s.queued), (1, 1));
        let s = run(
            &config,
            cfg,
            &store,
            &[row],
            t + TimeDelta::seconds(1),
            true,
        )
        .await
        .unwrap();
        assert_eq!(s.queued, 0, "the same warning is not news");
        let s = run(
            &config,
            cfg,
            &store,
            &[failing(Status::Fail)],
            t + TimeDelta::seconds(2),
            true,
        )
        .await
        .unwrap();
        assert_eq!((s.opened, s.queued), (0, 1), "same incident, escalated");
        let out = store.outbox(None).await.unwrap();
        let last: alerts::Notification = serde_json::from_str(&out[1].body).unwrap();
        assert_eq!(last.severity(), alerts::Severity::Critical);
        assert_eq!(store.incidents(true).await.unwrap()[0].severity, "critical");
        store.close().await;
        let _ = std::fs::remove_file(&path);
    }
}
