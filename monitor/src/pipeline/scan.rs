//! `tidewatch scan`: measure every monitor once, judge the measurements, store them, report.
//!
//! The data's path: config → lease per monitor (the state store's `monitor_leases`) → bucket window
//! (`checks::VolumeWindow`, from the newest stored bucket) → `Source::profile` (sources/) →
//! `checks::judge` (explicit checks, schema drift, errors) → `learned::apply` (baselines for what no
//! check decided) → `persist` (one transaction per monitor) → report. A monitor that fails yields
//! `error` rows; it never stops the others.

use super::{learned, persist};
use crate::config::ProfileMode;
use crate::config::{Config, Monitor};
use crate::sources::{Connector, ProfileRequest, Source};
use crate::store::{Lease, Store, StoreError};
use checks::{Metric, Profile, ResultRow, ScanReport, SeriesKey, Status, Target, VolumeWindow};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::time::Duration;

/// Monitors measured at the same time.
const PARALLEL_MONITORS: usize = 4;

/// Runs every monitor (or only `only`) once and stores the results.
pub async fn scan(
    config: &Config,
    store: &Store,
    only: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ScanReport, StoreError> {
    let monitors: Vec<&Monitor> = config
        .monitors
        .iter()
        .filter(|m| only.is_none_or(|o| m.name == o) && m.discover().is_none())
        .collect();
    let run_id = store.begin_run(now).await?;
    let holder = format!("scan pid {} run {run_id}", std::process::id());

    // A monitor is measured only under its lease: two scans of one monitor on a shared store never
    // both write its history.
    let mut leases: Vec<Result<Lease, String>> = Vec::with_capacity(monitors.len());
    for m in &monitors {
        let ttl = lease_ttl(config, m);
        leases.push(match store.try_lease(&m.name, &holder, ttl, now).await? {
            Some(lease) => Ok(lease),
            None => Err(format!(
                "skipped: another run of monitor {} holds its lease (a scan of the same monitor is in progress)",
                m.name
            )),
        });
    }
    let mut requests = Vec::with_capacity(monitors.len());
    for (m, lease) in monitors.iter().zip(&leases) {
        requests.push(match lease {
            Ok(_) => request_for(store, m, now).await?,
            Err(_) => ProfileRequest::default(),
        });
    }

    // Measured concurrently on this task (the sources do the work), results kept in config order.
    let profiles: Vec<Option<Profile>> =
        futures::stream::iter(monitors.iter().zip(&requests).zip(&leases).map(
            |((m, request), lease)| async move {
                if lease.is_err() {
                    return None;
                }
                Some(match Connector::for_monitor(config, m) {
                    Some(connector) => connector.profile(m, *request).await,
                    // validate() guarantees every monitor's source exists.
                    None => Profile::whole_failure(format!("source {} is not defined", m.source)),
                })
            },
        ))
        .buffered(PARALLEL_MONITORS)
        .collect()
        .await;

    let mut results = Vec::new();
    let mut problems = 0;
    for ((monitor, profile), lease) in monitors.iter().zip(profiles).zip(leases) {
        let rows = match (profile, lease) {
            (Some(profile), Ok(lease)) => {
                let rows = judge_and_store(store, run_id, monitor, profile, now).await;
                // A lease we cannot release expires by itself.
                let _ = store.release(&lease).await;
                rows?
            }
            (_, Err(message)) => vec![skipped_row(monitor, message)],
            (None, Ok(_)) => Vec::new(),
        };
        problems += rows.iter().filter(|r| r.status.is_problem()).count() as i64;
        results.extend(rows);
    }
    // `discover:` monitors: one metadata cycle each (one catalog statement, every table's results).
    for d in config
        .monitors
        .iter()
        .filter(|m| only.is_none_or(|o| m.name == o) && m.discover().is_some())
    {
        let cycle = super::discover::cycle(config, store, d, run_id, &holder, now).await?;
        problems += cycle.rows.iter().filter(|r| r.status.is_problem()).count() as i64;
        results.extend(cycle.rows);
    }
    let before = now - chrono::Duration::seconds(config.retention.as_secs() as i64);
    store.prune(before).await?;
    store.finish_run(run_id, Utc::now(), problems).await?;
    Ok(ScanReport { run_id, results })
}

/// The buckets a scan of `m` at `now` counts: the lookback on its first scan (the warm start), then
/// only from the newest stored bucket of its width. `None` without a timestamp column.
pub async fn window_for(
    store: &Store,
    m: &Monitor,
    now: DateTime<Utc>,
) -> Result<Option<VolumeWindow>, StoreError> {
    if !m.is_bucketed() {
        return Ok(None);
    }
    let bucket = m.bucket.as_secs() as i64;
    // Late rows: the buckets of the last `lateness` are counted again.
    let late_from =
        (now.timestamp() - m.lateness.as_secs() as i64).div_euclid(bucket.max(1)) * bucket;
    let newest = store
        .latest_bucket(&SeriesKey::table(m.name.clone(), Metric::Volume), bucket)
        .await?
        .map(|t| t.timestamp().min(late_from));
    Ok(Some(VolumeWindow::new(
        now.timestamp(),
        bucket,
        m.lookback.as_secs() as i64,
        newest,
    )))
}

/// What a scan of `m` at `now` asks its source: the bucket window, and for a `mode: incremental`
/// monitor whether this scan may read only new data (its last full profile is younger than
/// `full_profile_every`; the full profile is the one that measured `row_count`).
pub async fn request_for(
    store: &Store,
    m: &Monitor,
    now: DateTime<Utc>,
) -> Result<ProfileRequest, StoreError> {
    let window = window_for(store, m, now).await?;
    let new_data_only = match (m.mode, window) {
        (ProfileMode::Incremental, Some(w)) if w.continues => {
            let last_full = store
                .series(
                    &SeriesKey::table(m.name.clone(), Metric::RowCount),
                    None,
                    Some(1),
                )
                .await?
                .into_iter()
                .filter(|p| p.value.is_some())
                .map(|p| p.observed_at)
                .next_back();
            last_full
                .is_some_and(|t| (now - t).num_seconds() < m.full_profile_every.as_secs() as i64)
        }
        _ => false,
    };
    let recent_rows = match window {
        Some(w) => saw_rows_since(store, m, w.start).await?,
        None => false,
    };
    Ok(ProfileRequest {
        window,
        new_data_only,
        recent_rows,
    })
}

/// Whether the last scan's newest row (its time minus its freshness) was at or after `start`;
/// unknown (no freshness stored yet) counts as yes.
async fn saw_rows_since(store: &Store, m: &Monitor, start: i64) -> Result<bool, StoreError> {
    let last = store
        .series(
            &SeriesKey::table(m.name.clone(), Metric::FreshnessSeconds),
            None,
            Some(1),
        )
        .await?
        .into_iter()
        .next_back()
        .and_then(|p| Some((p.observed_at, p.value?)));
    Ok(match last {
        Some((at, age)) if age.is_finite() => at.timestamp() - (age.ceil() as i64) >= start,
        _ => true,
    })
}

/// Long enough for a connect, the profile statement and the warm-start statement, with slack.
fn lease_ttl(config: &Config, m: &Monitor) -> Duration {
    match config.sources.get(&m.source) {
        Some(s) => s.connect_timeout + 2 * s.statement_timeout + Duration::from_secs(60),
        None => Duration::from_secs(600),
    }
}

fn skipped_row(monitor: &Monitor, message: String) -> ResultRow {
    ResultRow {
        monitor: monitor.name.clone(),
        source: monitor.source.clone(),
        dataset: monitor.dataset.clone(),
        metric: Metric::RowCount,
        target: Target::Table,
        value: None,
        status: Status::Error,
        expected: None,
        message,
        details: None,
        score: None,
    }
}

/// Judges one monitor's profile, gives its undecided rows their learned verdicts and stores it all in
/// one transaction.
async fn judge_and_store(
    store: &Store,
    run_id: i64,
    monitor: &Monitor,
    mut profile: Profile,
    now: DateTime<Utc>,
) -> Result<Vec<ResultRow>, StoreError> {
    let mut buckets = Vec::new();
    let mut volume_bucket = None;
    if let Some(counts) = profile.buckets.take() {
        let (records, last) = persist::bucket_records(monitor, &counts, now);
        buckets = records;
        if let Some((b, n)) = last {
            profile
                .observations
                .push(checks::Observation::table(Metric::Volume, n));
            volume_bucket = Some(b);
            if let Some(c) = counts.counted.iter().find(|c| c.start == b) {
                for (i, column) in counts.columns.iter().enumerate() {
                    if let Some(rate) = c.null_rate(i) {
                        profile.observations.push(checks::Observation::column(
                            Metric::BucketNullRate,
                            column.clone(),
                            rate,
                        ));
                    }
                }
            }
        }
        profile.buckets = Some(counts);
    }
    let previous = store.latest_schema(&monitor.name).await?;
    let previous = previous.as_ref().map(|s| s.columns.as_slice());
    let mut rows = super::judge::judge_monitor(monitor, &profile, previous);
    learned::apply(store, monitor, &mut rows, now, volume_bucket, &buckets).await?;
    if let (Some(b), Some(counts)) = (volume_bucket, &profile.buckets) {
        let start = DateTime::from_timestamp(b, 0).map(|t| t.to_rfc3339());
        for r in rows
            .iter_mut()
            .filter(|r| r.value.is_some() && r.metric.is_bucketed())
        {
            r.details = Some(
                serde_json::json!({ "bucket_start": start, "bucket_seconds": counts.window.bucket }),
            );
        }
    }
    let write = persist::monitor_write(
        run_id,
        monitor,
        now,
        &rows,
        buckets,
        profile.schema.as_deref(),
        previous,
    );
    store.write_monitor(&write).await?;
    Ok(rows)
}
