//! A metadata cycle of a `discover:` monitor: ONE catalog statement for its schemas
//! (`sources/warehouse/metadata.rs`), then for every included table a profile made from the catalog
//! alone (schema, `row_estimate`, `size_bytes`, `rows_inserted`, `last_change_age_seconds`), judged
//! and given learned verdicts like any monitor's, and everything stored in ONE transaction with the
//! new state of the known tables (`discovered_tables`).
//!
//! - A table seen for the first time becomes the monitor `<template>.<schema>.<table>` in that cycle.
//! - A known table missing from the catalog gives one `error` row "table dropped", once: its state
//!   keeps `dropped_at`, so later cycles say nothing (until it comes back, as a new table).
//! - A table that an explicit monitor of the same source measures, or an earlier template in the
//!   file, is left to it; a table no longer included by the config is forgotten silently.
//! - Staleness: `last_change_age_seconds` is the catalog's own last-change time where it keeps one
//!   (MySQL `UPDATE_TIME`); otherwise the change signal (PostgreSQL's insert/update/delete counters
//!   and `relfilenode`, MySQL's rows/size without `UPDATE_TIME`) is compared with the last cycle's,
//!   and the age counts from the cycle that saw it move (`details.at_least` until one did).

use super::{learned, persist};
use crate::config::{discovered_monitor, Config, Monitor, MonitorTarget, Source};
use crate::sources::warehouse::metadata::{MetadataBatch, TableMeta};
use crate::sources::warehouse::Warehouse;
use crate::store::{DiscoveredTable, DiscoveryWrite, Store, StoreError};
use checks::{Detail, Metric, Observation, Profile, ResultRow, Status, Target};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// What a cycle did, besides its rows.
#[derive(Debug, Clone, Default)]
pub struct Cycle {
    pub rows: Vec<ResultRow>,
    /// Catalog statements sent to the source.
    pub statements: usize,
    /// Tables measured.
    pub tables: usize,
}

/// The lease of a template covers the catalog read and the store write of every table.
fn lease_ttl(source: &Source) -> Duration {
    source.connect_timeout + 2 * source.statement_timeout + Duration::from_secs(600)
}

fn row(monitor: &str, source: &str, dataset: &str, metric: Metric, message: String) -> ResultRow {
    ResultRow {
        monitor: monitor.to_string(),
        source: source.to_string(),
        dataset: dataset.to_string(),
        metric,
        target: Target::Table,
        value: None,
        status: Status::Error,
        expected: None,
        message,
        details: None,
        score: None,
    }
}

/// Runs one metadata cycle of the `discover:` monitor `template` under its lease.
pub async fn cycle(
    config: &Config,
    store: &Store,
    template: &Monitor,
    run_id: i64,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<Cycle, StoreError> {
    let Some(source) = config.sources.get(&template.source) else {
        // validate() guarantees the source exists.
        return Ok(Cycle::default());
    };
    let Some(lease) = store
        .try_lease(&template.name, holder, lease_ttl(source), now)
        .await?
    else {
        let message = format!(
            "skipped: another run of monitor {} holds its lease (a scan of the same monitor is in progress)",
            template.name
        );
        return Ok(Cycle {
            rows: vec![row(
                &template.name,
                &template.source,
                &template.dataset,
                Metric::Schema,
                message,
            )],
            ..Cycle::default()
        });
    };
    let result = measure_and_store(config, store, template, source, run_id, now).await;
    // A lease we cannot release expires by itself.
    let _ = store.release(&lease).await;
    result
}

async fn read(source: &Source, template: &Monitor) -> Result<MetadataBatch, String> {
    let schemas = template
        .discover()
        .map(|d| d.schemas.as_slice())
        .unwrap_or_default();
    let mut wh = Warehouse::connect(source)
        .await
        .map_err(|e| e.to_string())?;
    let batch = wh.metadata(source, schemas).await;
    wh.close().await;
    batch.map_err(|e| e.to_string())
}

/// Whether another monitor of the config measures `schema.table` of this template's source: an
/// explicit table monitor, or a template earlier in the file.
fn taken_elsewhere(
    config: &Config,
    template: &Monitor,
    default_schema: &str,
    schema: &str,
    table: &str,
) -> bool {
    let mut earlier = true;
    config.monitors.iter().any(|m| {
        if m.name == template.name {
            earlier = false;
            return false;
        }
        if m.source != template.source {
            return false;
        }
        match &m.target {
            MonitorTarget::Table(t) => {
                t.name.as_str() == table
                    && t.schema.as_ref().map_or(default_schema, |s| s.as_str()) == schema
            }
            MonitorTarget::Discover(d) => {
                earlier && d.reads_schema(schema, default_schema) && d.matches(schema, table)
            }
            _ => false,
        }
    })
}

async fn measure_and_store(
    config: &Config,
    store: &Store,
    template: &Monitor,
    source: &Source,
    run_id: i64,
    now: DateTime<Utc>,
) -> Result<Cycle, StoreError> {
    let Some(spec) = template.discover() else {
        return Ok(Cycle::default());
    };
    let batch = match read(source, template).await {
        Ok(b) => b,
        Err(message) => {
            // Nothing is known about any table: report it on the template, keep the known state.
            let rows = vec![row(
                &template.name,
                &template.source,
                &template.dataset,
                Metric::Schema,
                message,
            )];
            let write =
                persist::monitor_write(run_id, template, now, &rows, Vec::new(), None, None);
            store
                .write_discovery(&DiscoveryWrite {
                    run_id,
                    monitor: template.name.clone(),
                    writes: vec![write],
                    tables: Vec::new(),
                    forget: Vec::new(),
                })
                .await?;
            return Ok(Cycle {
                rows,
                ..Cycle::default()
            });
        }
    };
    let default_schema = batch.default_schema.clone().unwrap_or_default();
    let source_now = batch.source_now.unwrap_or_else(|| now.timestamp() as f64);
    let known: HashMap<(String, String), DiscoveredTable> = store
        .discovered_tables(&template.name)
        .await?
        .into_iter()
        .map(|t| ((t.schema_name.clone(), t.table_name.clone()), t))
        .collect();
    let retention = chrono::Duration::seconds(config.retention.as_secs() as i64);

    let mut out = Cycle {
        statements: batch.statements,
        ..Cycle::default()
    };
    let mut writes = Vec::new();
    let mut states = Vec::new();
    let mut in_catalog: HashSet<(&str, &str)> = HashSet::new();
    let mut measured: HashSet<(&str, &str)> = HashSet::new();
    for t in &batch.tables {
        in_catalog.insert((t.schema.as_str(), t.name.as_str()));
        if !spec.matches(&t.schema, &t.name)
            || taken_elsewhere(config, template, &default_schema, &t.schema, &t.name)
        {
            continue;
        }
        let Some(monitor) = discovered_monitor(template, &t.schema, &t.name) else {
            continue;
        };
        measured.insert((t.schema.as_str(), t.name.as_str()));
        let prev = known
            .get(&(t.schema.clone(), t.name.clone()))
            .filter(|k| k.dropped_at.is_none());
        let (profile, state) = from_catalog(&template.name, t, prev, now, source_now);
        let previous_schema = prev.map(|p| p.columns.as_slice());
        let mut rows = super::judge::judge_monitor(&monitor, &profile, previous_schema);
        learned::apply(store, &monitor, &mut rows, now, None, &[]).await?;
        writes.push(persist::monitor_write(
            run_id,
            &monitor,
            now,
            &rows,
            Vec::new(),
            profile.schema.as_deref(),
            previous_schema,
        ));
        states.push(state);
        out.rows.extend(rows);
        out.tables += 1;
    }

    if out.tables == 0 {
        tracing::warn!(monitor = %template.name, "discover found no table to measure in its schemas");
    }
    let mut forget = Vec::new();
    for ((schema, table), k) in &known {
        if measured.contains(&(schema.as_str(), table.as_str())) {
            continue;
        }
        let gone = spec.reads_schema(schema, &default_schema)
            && !in_catalog.contains(&(schema.as_str(), table.as_str()))
            && spec.matches(schema, table);
        match k.dropped_at {
            _ if !gone => forget.push((schema.clone(), table.clone())),
            Some(at) if at < now - retention => forget.push((schema.clone(), table.clone())),
            Some(_) => {}
            None => {
                let Some(monitor) = discovered_monitor(template, schema, table) else {
                    continue;
                };
                let rows = vec![row(
                    &monitor.name,
                    &monitor.source,
                    &monitor.dataset,
                    Metric::Schema,
                    format!(
                        "table dropped: {} is no longer in source {} (last seen {})",
                        monitor.dataset,
                        monitor.source,
                        k.last_seen.to_rfc3339()
                    ),
                )];
                writes.push(persist::monitor_write(
                    run_id,
                    &monitor,
                    now,
                    &rows,
                    Vec::new(),
                    None,
                    None,
                ));
                states.push(DiscoveredTable {
                    dropped_at: Some(now),
                    ..k.clone()
                });
                out.rows.extend(rows);
            }
        }
    }
    store
        .write_discovery(&DiscoveryWrite {
            run_id,
            monitor: template.name.clone(),
            writes,
            tables: states,
            forget,
        })
        .await?;
    Ok(out)
}

fn at(epoch: f64) -> Option<String> {
    DateTime::from_timestamp(epoch as i64, 0).map(|t| t.to_rfc3339())
}

/// The profile of one table from the catalog, and its state for the next cycle. `prev` is the state
/// of the last cycle that saw it (not dropped).
fn from_catalog(
    template: &str,
    t: &TableMeta,
    prev: Option<&DiscoveredTable>,
    now: DateTime<Utc>,
    source_now: f64,
) -> (Profile, DiscoveredTable) {
    let mut observations = vec![Observation::table(Metric::Schema, t.columns.len() as f64)];
    let mut details = Vec::new();
    let mut partial = None;
    let detail = |metric: Metric, value: serde_json::Value| Detail {
        metric,
        target: Target::Table,
        value,
    };
    if let Some(v) = t.row_estimate {
        observations.push(Observation::table(Metric::RowEstimate, v));
        details.push(detail(
            Metric::RowEstimate,
            serde_json::json!({ "approximate": true, "method": t.row_estimate_method }),
        ));
    }
    if let Some(v) = t.size_bytes {
        observations.push(Observation::table(Metric::SizeBytes, v));
    }
    match (
        t.inserts,
        prev.and_then(|p| p.inserts.map(|i| (i, p.last_seen))),
    ) {
        (Some(now_count), Some((before, since))) if now_count >= before => {
            observations.push(Observation::table(Metric::RowsInserted, now_count - before));
            details.push(detail(
                Metric::RowsInserted,
                serde_json::json!({
                    "since": since.to_rfc3339(),
                    "counter": "pg_stat_user_tables.n_tup_ins",
                }),
            ));
        }
        (Some(_), Some(_)) => {
            partial = Some(
                "the insert counter went back (statistics reset): rows_inserted resumes next cycle"
                    .to_string(),
            )
        }
        (Some(_), None) => {
            partial = Some(
                "first metadata cycle of the table: rows_inserted counts from the next one"
                    .to_string(),
            )
        }
        (None, _) => {}
    }

    // When the change signal last moved: `None` while no cycle has seen it move.
    let token = t.change_token.clone();
    let changed_at = match (prev, &token) {
        (None, _) | (_, None) => None,
        (Some(p), Some(tok)) if p.change_token.as_ref() == Some(tok) => p.changed_at,
        (Some(_), Some(_)) => Some(now),
    };
    let counters = serde_json::json!({
        "n_tup_ins": t.inserts,
        "n_tup_upd": t.updates,
        "n_tup_del": t.deletes,
        "n_live_tup": t.live_rows,
        "last_analyzed": t.analyzed_at.and_then(at),
    });
    if let Some(last) = t.last_change_at {
        observations.push(Observation::table(
            Metric::LastChangeAgeSeconds,
            (source_now - last).max(0.0),
        ));
        details.push(detail(
            Metric::LastChangeAgeSeconds,
            serde_json::json!({ "signal": "catalog last-change time", "changed_at": at(last) }),
        ));
    } else if token.is_some() {
        let first_seen = prev.map_or(now, |p| p.first_seen);
        let since = changed_at.unwrap_or(first_seen);
        let age = (now - since).num_milliseconds().max(0) as f64 / 1000.0;
        observations.push(Observation::table(Metric::LastChangeAgeSeconds, age));
        let mut d = serde_json::json!({
            "signal": "change counters",
            "changed_at": changed_at.map(|c| c.to_rfc3339()),
            "at_least": changed_at.is_none(),
        });
        if t.inserts.is_some() {
            d["counters"] = counters;
        }
        details.push(detail(Metric::LastChangeAgeSeconds, d));
    }

    let profile = Profile {
        schema: Some(t.columns.clone()),
        observations,
        buckets: None,
        failures: Vec::new(),
        skipped: Vec::new(),
        details,
        partial,
    };
    let state = DiscoveredTable {
        monitor: template.to_string(),
        schema_name: t.schema.clone(),
        table_name: t.name.clone(),
        first_seen: prev.map_or(now, |p| p.first_seen),
        last_seen: now,
        dropped_at: None,
        change_token: token,
        changed_at,
        inserts: t.inserts,
        columns: t.columns.clone(),
    };
    (profile, state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(token: &str, inserts: f64) -> TableMeta {
        TableMeta {
            schema: "public".into(),
            name: "t".into(),
            row_estimate: Some(10.0),
            row_estimate_method: "pg_class.reltuples",
            size_bytes: Some(8192.0),
            inserts: Some(inserts),
            change_token: Some(token.into()),
            ..TableMeta::default()
        }
    }

    fn value(p: &Profile, m: Metric) -> Option<f64> {
        p.observations
            .iter()
            .find(|o| o.metric == m)
            .map(|o| o.value)
    }

    #[test]
    fn staleness_counts_from_the_cycle_the_signal_moved() {
        let t0 = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let h = chrono::Duration::hours(1);
        let (p, s0) = from_catalog("d", &meta("5:0:0:1", 5.0), None, t0, 0.0);
        assert_eq!(value(&p, Metric::LastChangeAgeSeconds), Some(0.0));
        assert_eq!(value(&p, Metric::RowsInserted), None);
        assert!(p.partial.is_some());
        // Moved: inserts counted, age 0 from now.
        let (p, s1) = from_catalog("d", &meta("9:0:0:1", 9.0), Some(&s0), t0 + h, 0.0);
        assert_eq!(value(&p, Metric::RowsInserted), Some(4.0));
        assert_eq!(value(&p, Metric::LastChangeAgeSeconds), Some(0.0));
        assert_eq!(s1.changed_at, Some(t0 + h));
        // Still: the age grows from the cycle that saw the move.
        let (p, s2) = from_catalog("d", &meta("9:0:0:1", 9.0), Some(&s1), t0 + h * 3, 0.0);
        assert_eq!(value(&p, Metric::RowsInserted), Some(0.0));
        assert_eq!(value(&p, Metric::LastChangeAgeSeconds), Some(7200.0));
        assert_eq!(s2.first_seen, t0);
        // A statistics reset: no rows_inserted this cycle, and it counts as a change.
        let (p, _) = from_catalog("d", &meta("0:0:0:1", 0.0), Some(&s2), t0 + h * 4, 0.0);
        assert_eq!(value(&p, Metric::RowsInserted), None);
        assert_eq!(value(&p, Metric::LastChangeAgeSeconds), Some(0.0));
    }

    #[test]
    fn a_catalog_last_change_time_is_used_as_is() {
        let t0 = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let t = TableMeta {
            last_change_at: Some(900.0),
            change_token: Some("900:3:16384".into()),
            ..TableMeta::default()
        };
        let (p, _) = from_catalog("d", &t, None, t0, 1000.0);
        assert_eq!(value(&p, Metric::LastChangeAgeSeconds), Some(100.0));
    }
}
