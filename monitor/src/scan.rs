//! `tidewatch scan`: measure every monitor once, judge the measurements, store them, report.
//!
//! The data's path: config → [`measure`] (one connection, catalog read, one profile statement per table)
//! → observations → [`judge`] (explicit checks, schema drift, learned baselines) → result rows → state
//! store → output. A monitor that fails yields `error` rows; it never stops the others.

use crate::config::{Config, Monitor, Source};
use crate::store::{BucketRecord, MeasurementRecord, Store};
use crate::warehouse::dialect::{ColumnPlan, ProfilePlan, Slot};
use crate::warehouse::{CountedBucket, Warehouse};
use checks::evaluate::{apply_checks, format_value};
use checks::{Column, Expected, Metric, Observation, SchemaDiff, SeriesKey, Status, Target};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;

/// Monitors measured at the same time.
const PARALLEL_MONITORS: usize = 4;

/// Most buckets counted inside the profile statement; a longer window (the first scan's warm start)
/// gets its own grouped statement.
const INLINE_BUCKETS: i64 = 6;

/// One line of the report: a measurement and its verdict. Field names are the public JSON format.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultRow {
    pub monitor: String,
    pub source: String,
    pub dataset: String,
    pub metric: String,
    pub column: Option<String>,
    pub value: Option<f64>,
    pub status: Status,
    pub expected: Option<Expected>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// The outcome of one scan.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub run_id: i64,
    pub results: Vec<ResultRow>,
}

impl ScanReport {
    /// 0 when nothing is wrong, 1 when a check failed or something drifted, 2 when any measurement
    /// could not be taken (2 wins over 1).
    pub fn exit_code(&self) -> i32 {
        if self.results.iter().any(|r| r.status == Status::Error) {
            2
        } else if self.results.iter().any(|r| r.status.is_problem()) {
            1
        } else {
            0
        }
    }
}

/// A measurement that could not be taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub metric: Metric,
    pub column: Option<String>,
    pub message: String,
    /// Nothing of the table could be measured (connection, catalog or profile statement failed).
    pub whole: bool,
}

impl Failure {
    /// Whether this failure is the reason a check found nothing to judge.
    fn covers(&self, check: &checks::expr::Check) -> bool {
        self.whole
            || match &self.column {
                Some(c) => check.column.as_deref() == Some(c.as_str()),
                None => check.metric == self.metric,
            }
    }
}

/// What [`measure`] learned about one table.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Every column of the table as the catalog reports it; `None` when the catalog could not be read.
    pub schema: Option<Vec<Column>>,
    pub observations: Vec<Observation>,
    pub failures: Vec<Failure>,
    /// Buckets returned by the volume statement (buckets without rows absent).
    pub volume: Option<Vec<CountedBucket>>,
    /// The columns whose non-NULL counts `volume` carries, in order.
    pub bucket_columns: Vec<String>,
}

/// The buckets a scan counts rows in: `[start, end)` in unix seconds, `bucket` seconds wide. `end` is
/// the start of the current (incomplete) bucket, so the last counted bucket is the last complete one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeWindow {
    pub bucket: i64,
    pub start: i64,
    pub end: i64,
    /// The store already had buckets for this monitor (then `start` is its newest, counted again so
    /// late rows are caught).
    pub continues: bool,
}

impl VolumeWindow {
    /// The window for a monitor given the store's newest bucket: the lookback on the first scan (the
    /// warm start), afterwards only the buckets since the newest stored one.
    pub fn new(now: i64, bucket: i64, lookback: i64, newest_stored: Option<i64>) -> VolumeWindow {
        let bucket = bucket.max(1);
        let end = now.div_euclid(bucket) * bucket;
        let earliest = end - lookback.max(bucket).div_euclid(bucket) * bucket;
        match newest_stored {
            Some(newest) if newest >= earliest => VolumeWindow {
                bucket,
                start: newest.min(end - bucket),
                end,
                continues: true,
            },
            _ => VolumeWindow {
                bucket,
                start: earliest,
                end,
                continues: false,
            },
        }
    }

    /// Every bucket from the first one with data (or the window's start when continuing) to the last
    /// complete one, empty buckets as zero.
    pub fn fill(&self, counted: &[(i64, f64)]) -> Vec<(i64, f64)> {
        let last = self.end - self.bucket;
        let first = if self.continues {
            self.start
        } else {
            counted
                .iter()
                .map(|(b, _)| *b)
                .min()
                .unwrap_or(last)
                .min(last)
        };
        let mut out = Vec::new();
        let mut b = first;
        let by_start: std::collections::HashMap<i64, f64> = counted.iter().copied().collect();
        while b <= last {
            out.push((b, by_start.get(&b).copied().unwrap_or(0.0)));
            b += self.bucket;
        }
        out
    }
}

/// Runs every monitor (or only `only`) once and stores the results.
pub async fn scan(
    config: &Config,
    store: &Store,
    only: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ScanReport, crate::store::StoreError> {
    let monitors: Vec<&Monitor> = config
        .monitors
        .iter()
        .filter(|m| only.is_none_or(|o| m.name == o))
        .collect();
    let run_id = store.begin_run(now).await?;
    let mut windows = Vec::with_capacity(monitors.len());
    for m in &monitors {
        windows.push(match &m.timestamp_column {
            Some(_) => {
                let newest = store
                    .latest_bucket(
                        &SeriesKey::table(&m.name, Metric::Volume),
                        (m.bucket.as_secs() as i64).max(1),
                    )
                    .await?
                    .map(|t| t.timestamp());
                Some(VolumeWindow::new(
                    now.timestamp(),
                    m.bucket.as_secs() as i64,
                    m.lookback.as_secs() as i64,
                    newest,
                ))
            }
            None => None,
        });
    }

    // Measured concurrently on this task (the warehouses do the work), results kept in config order.
    let measured: Vec<Measured> =
        futures::stream::iter(monitors.iter().zip(&windows).map(|(m, w)| async move {
            match config.sources.get(&m.source) {
                Some(source) => measure(m, source, *w).await,
                // validate() guarantees every monitor's source exists.
                None => Measured::whole_failure(format!("source {} is not defined", m.source)),
            }
        }))
        .buffered(PARALLEL_MONITORS)
        .collect()
        .await;

    let mut results = Vec::new();
    let mut records = Vec::new();
    for ((monitor, mut m), window) in monitors.iter().zip(measured).zip(&windows) {
        let mut volume_bucket = None;
        if let (Some(w), Some(counted)) = (window, m.volume.take()) {
            let rows: Vec<(i64, f64)> = counted.iter().map(|c| (c.start, c.rows)).collect();
            let filled = w.fill(&rows);
            let newest = counted
                .iter()
                .filter_map(|c| Some((c.start, c.newest? as f64)));
            let record = |metric: Metric, column: Option<&String>, (b, value): (i64, f64)| {
                let target = column.map_or(Target::Table, |c| Target::Column(c.clone()));
                Some(BucketRecord {
                    key: SeriesKey::new(&monitor.name, metric, target),
                    bucket_start: DateTime::from_timestamp(b, 0)?,
                    bucket_seconds: w.bucket,
                    value,
                    observed_at: now,
                })
            };
            let mut buckets: Vec<BucketRecord> = filled
                .iter()
                .filter_map(|bn| record(Metric::Volume, None, *bn))
                .chain(newest.filter_map(|bn| record(Metric::NewestRow, None, bn)))
                .collect();
            // NULL rate per column per bucket; a bucket without rows has none.
            for (i, column) in m.bucket_columns.iter().enumerate() {
                for c in &counted {
                    if let Some(rate) = c.null_rate(i) {
                        let point = (c.start, rate);
                        buckets.extend(record(Metric::BucketNullRate, Some(column), point));
                    }
                }
            }
            store.upsert_buckets(&buckets).await?;
            if let Some((b, n)) = filled.last() {
                m.observations.push(Observation::table(Metric::Volume, *n));
                volume_bucket = Some(*b);
                if let Some(c) = counted.iter().find(|c| c.start == *b) {
                    for (i, column) in m.bucket_columns.iter().enumerate() {
                        if let Some(rate) = c.null_rate(i) {
                            let obs =
                                Observation::column(Metric::BucketNullRate, column.clone(), rate);
                            m.observations.push(obs);
                        }
                    }
                }
            }
        }
        let previous = store.latest_schema(&monitor.name).await?;
        let mut rows = judge(monitor, &m, previous.as_ref().map(|s| s.columns.as_slice()));
        crate::baseline::apply(store, monitor, &mut rows, now, volume_bucket).await?;
        if let (Some(b), Some(w)) = (volume_bucket, window) {
            let start = DateTime::from_timestamp(b, 0).map(|t| t.to_rfc3339());
            for r in rows.iter_mut().filter(|r| {
                r.value.is_some() && Metric::parse(&r.metric).is_some_and(Metric::is_bucketed)
            }) {
                r.details =
                    Some(serde_json::json!({ "bucket_start": start, "bucket_seconds": w.bucket }));
            }
        }
        if let Some(schema) = &m.schema {
            let changed = previous
                .as_ref()
                .is_none_or(|p| !SchemaDiff::between(&p.columns, schema).is_empty());
            if changed {
                store
                    .save_schema(run_id, &monitor.name, &monitor.dataset, now, schema)
                    .await?;
            }
        }
        for r in &rows {
            records.push(record(run_id, now, r)?);
        }
        results.extend(rows);
    }
    store.insert_measurements(&records).await?;
    let problems = results.iter().filter(|r| r.status.is_problem()).count() as i64;
    store.finish_run(run_id, Utc::now(), problems).await?;
    Ok(ScanReport { run_id, results })
}

fn record(
    run_id: i64,
    now: DateTime<Utc>,
    r: &ResultRow,
) -> Result<MeasurementRecord, crate::store::StoreError> {
    // Every row's metric is a `Metric::as_str`; a name that does not parse is a bug, refused by name.
    let metric =
        Metric::parse_stored(&r.metric).ok_or_else(|| crate::store::StoreError::Invalid {
            what: "measurement metric",
            reason: format!("unknown metric {:?}", r.metric),
        })?;
    Ok(MeasurementRecord {
        run_id,
        key: SeriesKey::new(
            &r.monitor,
            metric,
            Target::from_label(metric, r.column.as_deref()),
        ),
        source: r.source.clone(),
        dataset: r.dataset.clone(),
        value: r.value,
        status: r.status,
        lower: r.expected.and_then(|e| e.lower),
        upper: r.expected.and_then(|e| e.upper),
        message: r.message.clone(),
        details: r.details.clone(),
        observed_at: now,
    })
}

impl Measured {
    fn whole_failure(message: String) -> Measured {
        Measured {
            failures: vec![Failure {
                metric: Metric::RowCount,
                column: None,
                message,
                whole: true,
            }],
            ..Measured::default()
        }
    }
}

/// Connects, reads the catalog and runs the one profile statement for a monitor.
pub async fn measure(monitor: &Monitor, source: &Source, volume: Option<VolumeWindow>) -> Measured {
    let mut wh = match Warehouse::connect(source).await {
        Ok(wh) => wh,
        Err(e) => return Measured::whole_failure(e.to_string()),
    };
    let measured = measure_on(&mut wh, monitor, source, volume).await;
    wh.close().await;
    measured
}

async fn measure_on(
    wh: &mut Warehouse,
    monitor: &Monitor,
    source: &Source,
    volume: Option<VolumeWindow>,
) -> Measured {
    let table_failure = Measured::whole_failure;
    let schema = match wh
        .columns(source, monitor.table.schema.as_ref(), &monitor.table.name)
        .await
    {
        Ok(cols) if cols.is_empty() => {
            return table_failure(format!(
                "table {} not found in source {} (or it has no columns this user can see)",
                monitor.dataset, source.name
            ))
        }
        Ok(cols) => cols,
        Err(e) => return table_failure(e.to_string()),
    };
    let (mut plan, mut failures) = plan_profile(monitor, &schema, wh.dialect());
    // A window of a few buckets (every scan after the first) is counted inside the profile statement
    // itself: one pass over the table.
    let inline = match (&plan.timestamp, volume) {
        (Some(_), Some(w)) if (w.end - w.start) / w.bucket <= INLINE_BUCKETS => {
            plan.buckets = (0..(w.end - w.start) / w.bucket)
                .map(|k| w.start + k * w.bucket)
                .collect();
            plan.bucket_seconds = w.bucket;
            true
        }
        _ => false,
    };
    let mut observations = vec![Observation::table(Metric::Schema, schema.len() as f64)];
    let mut counted = None;
    let mut newest = None;
    match wh.profile(source, &plan).await {
        Ok(values) => {
            observations.extend(observations_from(&plan, &values));
            newest = slot_value(&values, Slot::NewestEpoch);
            if inline {
                counted = Some(inline_buckets(&plan, &values));
            }
        }
        Err(e) => failures.push(Failure {
            metric: Metric::RowCount,
            column: None,
            message: e.to_string(),
            whole: true,
        }),
    }
    if let (Some(ts), Some(w), false) = (&plan.timestamp, volume, inline) {
        if newest.is_none_or(|n| (n as i64) < w.start) {
            // No row in the window (the profile saw the newest one): every bucket is empty, and
            // the warm-start pass would find nothing.
            counted = Some(Vec::new());
        } else {
            match wh.volume(source, &plan, ts, w.bucket, w.start, w.end).await {
                Ok(rows) => counted = Some(rows),
                Err(e) => failures.push(Failure {
                    metric: Metric::Volume,
                    column: None,
                    message: e.to_string(),
                    whole: false,
                }),
            }
        }
    }
    Measured {
        schema: Some(schema),
        observations,
        failures,
        volume: counted,
        bucket_columns: plan.columns.iter().map(|c| c.name.to_string()).collect(),
    }
}

fn slot_value(values: &[(Slot, Option<f64>)], slot: Slot) -> Option<f64> {
    values
        .iter()
        .find(|(s, _)| *s == slot)
        .and_then(|(_, v)| *v)
}

/// The buckets counted inside the profile statement, shaped like the grouped statement's answer
/// (buckets without rows absent).
fn inline_buckets(plan: &ProfilePlan, values: &[(Slot, Option<f64>)]) -> Vec<CountedBucket> {
    plan.buckets
        .iter()
        .enumerate()
        .filter_map(|(k, start)| {
            let rows = slot_value(values, Slot::BucketRows(k)).filter(|n| *n > 0.0)?;
            Some(CountedBucket {
                start: *start,
                rows,
                newest: slot_value(values, Slot::BucketNewest(k)).map(|t| t as i64),
                non_null: (0..plan.columns.len())
                    .map(|i| slot_value(values, Slot::BucketNonNull(k, i)).unwrap_or(0.0))
                    .collect(),
            })
        })
        .collect()
}

/// The key columns as results name them: joined by ",".
fn key_label(key: &[crate::ident::Ident]) -> String {
    key.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",")
}

/// Builds the profile plan from the monitor and the catalog. Configured columns the catalog does not
/// have become failures for just those metrics; the rest of the table is still profiled.
pub fn plan_profile(
    monitor: &Monitor,
    schema: &[Column],
    dialect: crate::warehouse::dialect::Dialect,
) -> (ProfilePlan, Vec<Failure>) {
    let find = |name: &str| schema.iter().find(|c| c.name == name);
    let missing = |what: &str, name: &str| {
        format!(
            "column {name} ({what}) not found in table {}",
            monitor.dataset
        )
    };
    let mut failures = Vec::new();
    let mut columns = Vec::new();
    match &monitor.columns {
        Some(list) => {
            for ident in list {
                match find(ident.as_str()) {
                    Some(c) => columns.push(ColumnPlan {
                        name: ident.clone(),
                        numeric: dialect.is_numeric_type(&c.data_type),
                    }),
                    None => failures.push(Failure {
                        metric: Metric::NullRate,
                        column: Some(ident.to_string()),
                        message: missing("in columns", ident.as_str()),
                        whole: false,
                    }),
                }
            }
        }
        None => {
            for c in schema {
                if let Ok(name) = crate::ident::Ident::new(&c.name) {
                    columns.push(ColumnPlan {
                        name,
                        numeric: dialect.is_numeric_type(&c.data_type),
                    });
                }
            }
        }
    }
    let timestamp = match &monitor.timestamp_column {
        Some(ts) if find(ts.as_str()).is_none() => {
            failures.push(Failure {
                metric: Metric::FreshnessSeconds,
                column: None,
                message: missing("timestamp_column", ts.as_str()),
                whole: false,
            });
            None
        }
        other => other.clone(),
    };
    let missing_keys: Vec<&str> = monitor
        .key
        .iter()
        .map(|k| k.as_str())
        .filter(|k| find(k).is_none())
        .collect();
    let key = if missing_keys.is_empty() {
        monitor.key.clone()
    } else {
        failures.push(Failure {
            metric: Metric::DuplicateCount,
            column: Some(key_label(&monitor.key)),
            message: missing("key", &missing_keys.join(", ")),
            whole: false,
        });
        Vec::new()
    };
    let plan = ProfilePlan {
        schema: monitor.table.schema.clone(),
        table: monitor.table.name.clone(),
        columns,
        key,
        timestamp,
        buckets: Vec::new(),
        bucket_seconds: monitor.bucket.as_secs() as i64,
    };
    (plan, failures)
}

/// Turns a profile's values into observations.
pub fn observations_from(plan: &ProfilePlan, values: &[(Slot, Option<f64>)]) -> Vec<Observation> {
    let get = |slot: Slot| slot_value(values, slot);
    let rows = get(Slot::RowCount).unwrap_or(0.0);
    let rate = |n: f64| if rows > 0.0 { n / rows } else { 0.0 };
    let mut out = vec![Observation::table(Metric::RowCount, rows)];
    if plan.timestamp.is_some() {
        // An empty table has no newest row; freshness is then absent, not zero.
        if let Some(f) = get(Slot::FreshnessSeconds) {
            out.push(Observation::table(Metric::FreshnessSeconds, f));
        }
    }
    if !plan.key.is_empty() {
        let key_rows = get(Slot::KeyRows).unwrap_or(0.0);
        let distinct = get(Slot::KeyDistinct).unwrap_or(0.0);
        let dups = (key_rows - distinct).max(0.0);
        let label = key_label(&plan.key);
        out.push(Observation::column(
            Metric::DuplicateCount,
            label.clone(),
            dups,
        ));
        out.push(Observation::column(
            Metric::DuplicateRate,
            label,
            rate(dups),
        ));
    }
    for (i, c) in plan.columns.iter().enumerate() {
        let name = c.name.to_string();
        let non_null = get(Slot::NonNull(i)).unwrap_or(0.0);
        let nulls = rows - non_null;
        out.push(Observation::column(Metric::NullCount, name.clone(), nulls));
        out.push(Observation::column(
            Metric::NullRate,
            name.clone(),
            rate(nulls),
        ));
        out.push(Observation::column(
            Metric::DistinctCount,
            name.clone(),
            get(Slot::Distinct(i)).unwrap_or(0.0),
        ));
        if c.numeric {
            for (slot, metric) in [
                (Slot::Min(i), Metric::Min),
                (Slot::Max(i), Metric::Max),
                (Slot::Mean(i), Metric::Mean),
            ] {
                // All-NULL columns have no min/max/mean.
                if let Some(v) = get(slot) {
                    out.push(Observation::column(metric, name.clone(), v));
                }
            }
        }
    }
    out
}

/// Turns observations and failures into result rows: explicit checks decide pass/fail, schema drift
/// is an anomaly, failures are errors, and every check that found nothing to judge is an error too.
pub fn judge(
    monitor: &Monitor,
    measured: &Measured,
    previous_schema: Option<&[Column]>,
) -> Vec<ResultRow> {
    let row =
        |metric: Metric, column: Option<String>, value: Option<f64>, status: Status| ResultRow {
            monitor: monitor.name.clone(),
            source: monitor.source.clone(),
            dataset: monitor.dataset.clone(),
            metric: metric.as_str().to_string(),
            column,
            value,
            status,
            expected: None,
            message: String::new(),
            details: None,
        };
    let mut rows = Vec::new();
    let mut judged_checks = vec![false; monitor.checks.len()];

    for obs in &measured.observations {
        let mut r = row(
            obs.metric,
            obs.column.clone(),
            Some(obs.value),
            Status::Learning,
        );
        let applicable: Vec<(&checks::expr::Check, &str)> = monitor
            .checks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.check.applies_to(obs.metric, obs.column.as_deref()))
            .map(|(i, c)| {
                judged_checks[i] = true;
                (&c.check, c.text.as_str())
            })
            .collect();
        if obs.metric == Metric::Schema {
            let current = measured.schema.as_deref().unwrap_or_default();
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

    for f in &measured.failures {
        let mut r = row(f.metric, f.column.clone(), None, Status::Error);
        r.message = f.message.clone();
        for (i, c) in monitor.checks.iter().enumerate() {
            if f.covers(&c.check) {
                judged_checks[i] = true;
            }
        }
        rows.push(r);
    }

    for (i, c) in monitor.checks.iter().enumerate() {
        if judged_checks[i] {
            continue;
        }
        let empty_bucket = measured
            .observations
            .iter()
            .any(|o| o.metric == Metric::Volume && o.value == 0.0);
        let mut r = row(c.check.metric, c.check.column.clone(), None, Status::Error);
        if c.check.metric == Metric::BucketNullRate && empty_bucket {
            // No rows in the bucket: no NULLs to count, the check holds vacuously.
            r.status = Status::Pass;
            r.message = format!("{}: no rows in the last complete bucket", c.text);
        } else {
            r.message = unmeasured_reason(c, measured);
        }
        rows.push(r);
    }
    rows
}

fn unmeasured_reason(c: &crate::config::CheckSpec, measured: &Measured) -> String {
    let metric = c.check.metric;
    let column = c.check.column.as_deref().unwrap_or("");
    let col_type = measured
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

/// Short human form of a value for tables: durations also in hours or days.
pub fn display_value(metric: &str, v: f64) -> String {
    if metric == Metric::FreshnessSeconds.as_str() {
        let human = if v.abs() >= 86400.0 {
            format!(" ({:.1}d)", v / 86400.0)
        } else if v.abs() >= 3600.0 {
            format!(" ({:.1}h)", v / 3600.0)
        } else if v.abs() >= 60.0 {
            format!(" ({:.1}m)", v / 60.0)
        } else {
            String::new()
        };
        return format!("{}s{human}", format_value(v.round()));
    }
    format_value(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_window_is_the_lookback_up_to_the_current_bucket() {
        let w = VolumeWindow::new(10 * 3600 + 120, 3600, 4 * 3600, None);
        assert_eq!(
            w,
            VolumeWindow {
                bucket: 3600,
                start: 6 * 3600,
                end: 10 * 3600,
                continues: false
            }
        );
        // Zeros fill from the first bucket with rows to the last complete one.
        assert_eq!(
            w.fill(&[(7 * 3600, 5.0), (9 * 3600, 2.0)]),
            vec![(7 * 3600, 5.0), (8 * 3600, 0.0), (9 * 3600, 2.0)]
        );
        // No rows at all: only the last complete bucket, as zero.
        assert_eq!(w.fill(&[]), vec![(9 * 3600, 0.0)]);
    }

    #[test]
    fn later_windows_recount_only_from_the_newest_stored_bucket() {
        let w = VolumeWindow::new(12 * 3600 + 5, 3600, 28 * 86400, Some(10 * 3600));
        assert_eq!(
            w,
            VolumeWindow {
                bucket: 3600,
                start: 10 * 3600,
                end: 12 * 3600,
                continues: true
            }
        );
        assert_eq!(
            w.fill(&[(11 * 3600, 4.0)]),
            vec![(10 * 3600, 0.0), (11 * 3600, 4.0)]
        );
        // A stored bucket older than the lookback starts over.
        let w = VolumeWindow::new(100 * 86400, 86400, 7 * 86400, Some(3 * 86400));
        assert!(!w.continues);
        assert_eq!(w.start, 93 * 86400);
    }
}
