//! The warehouse side of the `Source` contract: plan the one profile statement from the monitor and
//! the catalog, run it, and decode its values into a [`Profile`]. Every metric of a table is computed
//! here (in SQL, see `dialect.rs`); nothing downstream knows it came from a table.

use super::dialect::{ColumnPlan, Dialect, Distinct, ProfilePlan, Slot};
use super::{Catalog, ProfileValues, Warehouse};
use crate::config::{Monitor, Source as SourceConfig};
use crate::ident::{Ident, TableRef};
use checks::{
    BucketCounts, Column, CountedBucket, Detail, Failure, Metric, Observation, Profile, Skipped,
    Target, VolumeWindow,
};

/// Most buckets counted inside the profile statement; a longer window (the first scan's warm start)
/// gets its own grouped statement.
pub const INLINE_BUCKETS: i64 = 6;

/// Connects, reads the catalog and runs the one profile statement for a monitor.
pub async fn measure(
    monitor: &Monitor,
    source: &SourceConfig,
    request: crate::sources::ProfileRequest,
) -> Profile {
    let Some(table) = monitor.table() else {
        return Profile::whole_failure(format!(
            "monitor {} does not measure a table",
            monitor.name
        ));
    };
    let mut wh = match Warehouse::connect(source).await {
        Ok(wh) => wh,
        Err(e) => return Profile::whole_failure(e.to_string()),
    };
    let profile = measure_on(&mut wh, monitor, table, source, request).await;
    wh.close().await;
    profile
}

async fn measure_on(
    wh: &mut Warehouse,
    monitor: &Monitor,
    table: &TableRef,
    source: &SourceConfig,
    request: crate::sources::ProfileRequest,
) -> Profile {
    let window = request.window;
    let catalog = match wh.catalog(source, table.schema.as_ref(), &table.name).await {
        Ok(c) if c.columns.is_empty() => {
            return Profile::whole_failure(format!(
                "table {} not found in source {} (or it has no columns this user can see)",
                monitor.dataset, source.name
            ))
        }
        Ok(c) => c,
        Err(e) => return Profile::whole_failure(e.to_string()),
    };
    let Planned {
        mut plan,
        mut failures,
        skipped,
    } = plan_profile(monitor, table, &catalog.columns, wh.dialect());
    let schema = catalog.columns.clone();
    let inline = count_inline(&mut plan, request);
    if request.new_data_only && inline {
        return incremental(wh, source, plan, window, schema, failures).await;
    }
    let mut observations = vec![Observation::table(Metric::Schema, schema.len() as f64)];
    let mut counted = None;
    let mut newest = None;
    let mut notes = Vec::new();
    match wh.profile(source, &plan).await {
        Ok(values) => {
            let (obs, bad) = observations_from(&plan, &values);
            observations.extend(obs);
            failures.extend(bad);
            // The statement counted no distinct values for these: the planner's estimates are free.
            // They describe the whole table, so a `where:` filter leaves them out.
            if plan.filter.is_none() {
                let (obs, n) = estimated_distincts(&plan, &catalog);
                observations.extend(obs);
                notes.extend(n);
            }
            notes.extend(approximate_notes(&plan));
            notes.extend(sample_notes(&plan, &values));
            newest = slot_value(&values, Slot::NewestEpoch);
            if inline {
                counted = Some(inline_buckets(&plan, &values));
            }
        }
        Err(e) => failures.push(Failure::whole(e.to_string())),
    }
    if let (Some(ts), Some(w), false) = (&plan.timestamp, window, inline) {
        if newest.is_none_or(|n| (n as i64) < w.start) {
            // No row in the window (the profile saw the newest one): every bucket is empty, and
            // the warm-start pass would find nothing.
            counted = Some(Vec::new());
        } else {
            match wh.volume(source, &plan, ts, w.bucket, w.start, w.end).await {
                Ok(rows) => counted = Some(rows),
                Err(e) => failures.push(Failure {
                    metric: Metric::Volume,
                    target: Target::Table,
                    message: e.to_string(),
                    whole: false,
                }),
            }
        }
    }
    let buckets = bucket_counts(&plan, window, counted);
    Profile {
        schema: Some(schema),
        observations,
        buckets,
        failures,
        skipped,
        details: notes,
        partial: None,
    }
}

/// The incremental profile: the window's buckets and the table's freshness from one statement that
/// reads only new rows (see `Dialect::incremental_sql`).
async fn incremental(
    wh: &mut Warehouse,
    source: &SourceConfig,
    plan: ProfilePlan,
    window: Option<VolumeWindow>,
    schema: Vec<Column>,
    mut failures: Vec<Failure>,
) -> Profile {
    let mut observations = vec![Observation::table(Metric::Schema, schema.len() as f64)];
    let mut details = Vec::new();
    let mut counted = None;
    match wh.incremental(source, &plan).await {
        Ok(values) => {
            // An empty table has no newest row; freshness is then absent, not zero.
            if let Some(f) = slot_value(&values, Slot::FreshnessSeconds).filter(|f| f.is_finite()) {
                observations.push(Observation::table(Metric::FreshnessSeconds, f));
            }
            counted = Some(inline_buckets(&plan, &values));
            new_duplicates(&plan, &values, &mut observations, &mut details);
        }
        Err(e) => failures.push(Failure::whole(e.to_string())),
    }
    let buckets = bucket_counts(&plan, window, counted);
    Profile {
        schema: Some(schema),
        observations,
        buckets,
        failures,
        skipped: Vec::new(),
        details,
        partial: Some("incremental profile: new rows and freshness only".into()),
    }
}

/// Duplicates of a key: its complete rows minus its distinct values (both slots absent: 0).
fn duplicates(values: &[(Slot, Option<f64>)], rows: Slot, distinct: Slot) -> f64 {
    let get = |slot| slot_value(values, slot).unwrap_or(0.0);
    (get(rows) - get(distinct)).max(0.0)
}

/// `new_duplicate_count` per key set from an incremental profile's values: the rows it read minus
/// their distinct keys, with the rows read and where they start in `details`.
fn new_duplicates(
    plan: &ProfilePlan,
    values: &[(Slot, Option<f64>)],
    observations: &mut Vec<Observation>,
    details: &mut Vec<Detail>,
) {
    let since = plan.buckets.first().copied();
    for (k, set) in plan.keys.iter().enumerate() {
        let rows = slot_value(values, Slot::NewKeyRows(k)).unwrap_or(0.0);
        let key: Vec<String> = set.iter().map(|c| c.to_string()).collect();
        observations.push(Observation::key(
            Metric::NewDuplicateCount,
            key.clone(),
            duplicates(values, Slot::NewKeyRows(k), Slot::NewKeyDistinct(k)),
        ));
        details.push(Detail {
            metric: Metric::NewDuplicateCount,
            target: Target::Key(key),
            value: serde_json::json!({
                "rows_read": rows,
                "since": since.and_then(|t| chrono::DateTime::from_timestamp(t, 0)).map(|t| t.to_rfc3339()),
            }),
        });
    }
}

/// The counted buckets of the window, with the columns their non-NULL counts belong to.
fn bucket_counts(
    plan: &ProfilePlan,
    window: Option<VolumeWindow>,
    counted: Option<Vec<CountedBucket>>,
) -> Option<BucketCounts> {
    Some(BucketCounts {
        window: window?,
        counted: counted?,
        columns: plan.columns.iter().map(|c| c.name.to_string()).collect(),
    })
}

fn approximate(method: &str) -> serde_json::Value {
    serde_json::json!({ "approximate": true, "method": method })
}

/// Notes for the distinct counts the warehouse estimated inside the statement.
fn approximate_notes(plan: &ProfilePlan) -> Vec<Detail> {
    plan.columns
        .iter()
        .filter(|c| c.distinct == Distinct::Approximate)
        .map(|c| Detail {
            metric: Metric::DistinctCount,
            target: Target::Column(c.name.to_string()),
            value: approximate("APPROX_COUNT_DISTINCT"),
        })
        .collect()
}

/// Notes for the column statistics a block sample gave (`sample:`): each says so, with the sample's
/// size, so no estimate passes as exact.
fn sample_notes(plan: &ProfilePlan, values: &[(Slot, Option<f64>)]) -> Vec<Detail> {
    let Some(hundredths) = plan.sample else {
        return Vec::new();
    };
    let note = serde_json::json!({
        "approximate": true,
        "method": "TABLESAMPLE SYSTEM",
        "sample_percent": f64::from(hundredths) / 100.0,
        "sampled_rows": slot_value(values, Slot::SampledRows),
    });
    let mut out = Vec::new();
    for c in &plan.columns {
        let metrics: &[Metric] = if c.numeric {
            &[
                Metric::NullCount,
                Metric::NullRate,
                Metric::Min,
                Metric::Max,
                Metric::Mean,
            ]
        } else {
            &[Metric::NullCount, Metric::NullRate]
        };
        for m in metrics {
            out.push(Detail {
                metric: *m,
                target: Target::Column(c.name.to_string()),
                value: note.clone(),
            });
        }
    }
    out
}

/// Distinct counts from the catalog's estimates for the columns the statement did not count.
fn estimated_distincts(plan: &ProfilePlan, catalog: &Catalog) -> (Vec<Observation>, Vec<Detail>) {
    let mut obs = Vec::new();
    let mut notes = Vec::new();
    for c in plan.columns.iter().filter(|c| c.distinct == Distinct::None) {
        let name = c.name.to_string();
        if let Some(e) = catalog.distinct_estimates.get(&name) {
            obs.push(Observation::column(Metric::DistinctCount, name.clone(), *e));
            notes.push(Detail {
                metric: Metric::DistinctCount,
                target: Target::Column(name),
                value: approximate("pg_stats.n_distinct"),
            });
        }
    }
    (obs, notes)
}

/// A window of a few buckets (every scan after the first) is counted inside the profile statement
/// itself: one pass over the table. That pays only when rows in the window are likely
/// (`request.recent_rows`), and always for an incremental scan, whose statement reads only the
/// window: each counted bucket adds a conditional aggregate per profiled column that every row of
/// the table evaluates. Returns whether the plan now counts the window.
fn count_inline(plan: &mut ProfilePlan, request: crate::sources::ProfileRequest) -> bool {
    if !(request.new_data_only || request.recent_rows) {
        return false;
    }
    match (&plan.timestamp, request.window) {
        (Some(_), Some(w)) if (w.end - w.start) / w.bucket <= INLINE_BUCKETS => {
            plan.buckets = (0..(w.end - w.start) / w.bucket)
                .map(|k| w.start + k * w.bucket)
                .collect();
            plan.bucket_seconds = w.bucket;
            true
        }
        _ => false,
    }
}

/// The statements a scan of `monitor` would send after the catalog read, in order: the profile
/// statement, and the grouped warm-start statement when the window is too long to count inline (a
/// scan skips that one when the profile shows no row inside the window). For `tidewatch explain`.
pub async fn explain(
    monitor: &Monitor,
    source: &SourceConfig,
    request: crate::sources::ProfileRequest,
) -> Result<Vec<String>, String> {
    let window = request.window;
    let Some(table) = monitor.table() else {
        return Err(format!("monitor {} does not measure a table", monitor.name));
    };
    let mut wh = Warehouse::connect(source)
        .await
        .map_err(|e| e.to_string())?;
    let catalog = wh.catalog(source, table.schema.as_ref(), &table.name).await;
    let dialect = wh.dialect();
    wh.close().await;
    let catalog = catalog.map_err(|e| e.to_string())?;
    if catalog.columns.is_empty() {
        return Err(format!(
            "table {} not found in source {}",
            monitor.dataset, source.name
        ));
    }
    let Planned { mut plan, .. } = plan_profile(monitor, table, &catalog.columns, dialect);
    let inline = count_inline(&mut plan, request);
    if request.new_data_only && inline {
        if let Some(sql) = dialect.incremental_sql(&plan) {
            return Ok(vec![sql.sql]);
        }
    }
    let mut out = vec![dialect.profile_sql(&plan).sql];
    if let (Some(ts), Some(w), false) = (&plan.timestamp, window, inline) {
        out.push(dialect.volume_sql(&plan, ts, w.bucket, w.start, w.end));
    }
    Ok(out)
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

/// A profile plan and what planning found that cannot (or will not) be measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub plan: ProfilePlan,
    pub failures: Vec<Failure>,
    pub skipped: Vec<Skipped>,
}

fn key_target(key: &[Ident]) -> Target {
    Target::Key(key.iter().map(|k| k.to_string()).collect())
}

/// Builds the profile plan from the monitor and the catalog. Configured columns the catalog does not
/// have become failures for just those metrics; the rest of the table is still profiled. Columns of a
/// type without equality are profiled without a distinct count (said in `skipped`).
pub fn plan_profile(
    monitor: &Monitor,
    table: &TableRef,
    schema: &[Column],
    dialect: Dialect,
) -> Planned {
    let find = |name: &str| schema.iter().find(|c| c.name == name);
    let missing = |what: &str, name: &str| {
        format!(
            "column {name} ({what}) not found in table {}",
            monitor.dataset
        )
    };
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    let mut columns = Vec::new();
    let mut add = |name: Ident, c: &Column| {
        let distinct = if !dialect.has_equality(&c.data_type) {
            skipped.push(Skipped {
                target: Target::Column(name.to_string()),
                metrics: vec![Metric::DistinctCount],
                reason: format!("type {} has no equality operator", c.data_type),
            });
            Distinct::None
        } else if monitor.wants_distinct(name.as_str()) {
            Distinct::Exact
        } else if dialect.has_approximate_distinct() {
            Distinct::Approximate
        } else {
            Distinct::None
        };
        columns.push(ColumnPlan {
            name,
            numeric: dialect.is_numeric_type(&c.data_type),
            distinct,
        });
    };
    match &monitor.columns {
        Some(list) => {
            for ident in list {
                match find(ident.as_str()) {
                    Some(c) => add(ident.clone(), c),
                    None => failures.push(Failure {
                        metric: Metric::NullRate,
                        target: Target::Column(ident.to_string()),
                        message: missing("in columns", ident.as_str()),
                        whole: false,
                    }),
                }
            }
        }
        None => {
            for c in schema {
                if let Ok(name) = Ident::new(&c.name) {
                    add(name, c);
                }
            }
        }
    }
    let timestamp = match &monitor.timestamp_column {
        Some(ts) if find(ts.as_str()).is_none() => {
            failures.push(Failure {
                metric: Metric::FreshnessSeconds,
                target: Target::Table,
                message: missing("timestamp_column", ts.as_str()),
                whole: false,
            });
            None
        }
        other => other.clone(),
    };
    let mut keys = Vec::new();
    for set in monitor.key_sets() {
        let missing_keys: Vec<&str> = set
            .iter()
            .map(|k| k.as_str())
            .filter(|k| find(k).is_none())
            .collect();
        let incomparable: Vec<String> = set
            .iter()
            .filter_map(|k| find(k.as_str()))
            .filter(|c| !dialect.has_equality(&c.data_type))
            .map(|c| format!("{} ({})", c.name, c.data_type))
            .collect();
        if !missing_keys.is_empty() {
            failures.push(Failure {
                metric: Metric::DuplicateCount,
                target: key_target(&set),
                message: missing("key", &missing_keys.join(", ")),
                whole: false,
            });
        } else if !incomparable.is_empty() {
            failures.push(Failure {
                metric: Metric::DuplicateCount,
                target: key_target(&set),
                message: format!(
                    "key column {} of table {} has no equality operator, so duplicates cannot be counted",
                    incomparable.join(", "),
                    monitor.dataset
                ),
                whole: false,
            });
        } else {
            keys.push(set);
        }
    }
    let sample = match monitor.sample {
        Some(h) if dialect.tablesample(h).is_none() => {
            failures.push(Failure::whole(format!(
                "sample: needs TABLESAMPLE, which {} does not have (monitor {}); remove sample: to profile the whole table",
                dialect.name(),
                monitor.name
            )));
            None
        }
        other => other,
    };
    let plan = ProfilePlan {
        schema: table.schema.clone(),
        table: table.name.clone(),
        columns,
        keys,
        filter: monitor.filter.clone(),
        timestamp,
        buckets: Vec::new(),
        bucket_seconds: monitor.bucket.as_secs() as i64,
        sample,
    };
    Planned {
        plan,
        failures,
        skipped,
    }
}

/// Turns a profile's values into observations. A value that is not finite (a `float8` column holding
/// `NaN` or `Infinity` makes MIN/MAX/AVG so) is that metric's failure, never an observation.
pub fn observations_from(
    plan: &ProfilePlan,
    values: &ProfileValues,
) -> (Vec<Observation>, Vec<Failure>) {
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
    for (k, set) in plan.keys.iter().enumerate() {
        let dups = duplicates(values, Slot::KeyRows(k), Slot::KeyDistinct(k));
        let key: Vec<String> = set.iter().map(|c| c.to_string()).collect();
        out.push(Observation::key(Metric::DuplicateCount, key.clone(), dups));
        out.push(Observation::key(Metric::DuplicateRate, key, rate(dups)));
    }
    // With `sample:` the column statistics come from the sample: the NULL rate is the sample's, the
    // NULL count that rate of the exact row count (both marked approximate by `sample_notes`).
    let sampled = get(Slot::SampledRows);
    let mut empty_sample = Vec::new();
    for (i, c) in plan.columns.iter().enumerate() {
        let name = c.name.to_string();
        let non_null = get(Slot::NonNull(i)).unwrap_or(0.0);
        let nulls = match sampled {
            Some(n) if n > 0.0 => {
                let r = (n - non_null) / n;
                Some(((r * rows).round(), r))
            }
            Some(_) => {
                empty_sample.push(Failure {
                    metric: Metric::NullRate,
                    target: Target::Column(name.clone()),
                    message: "the block sample (sample:) returned no rows this scan: no NULL rate, min, max or mean".into(),
                    whole: false,
                });
                None
            }
            None => Some((rows - non_null, rate(rows - non_null))),
        };
        if let Some((nulls, null_rate)) = nulls {
            out.push(Observation::column(Metric::NullCount, name.clone(), nulls));
            out.push(Observation::column(
                Metric::NullRate,
                name.clone(),
                null_rate,
            ));
        }
        if c.distinct != Distinct::None {
            out.push(Observation::column(
                Metric::DistinctCount,
                name.clone(),
                get(Slot::Distinct(i)).unwrap_or(0.0),
            ));
        }
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
    let (finite, not_finite): (Vec<Observation>, Vec<Observation>) =
        out.into_iter().partition(|o| o.value.is_finite());
    let failures = not_finite
        .into_iter()
        .map(|o| Failure {
            message: format!(
                "{}({}) is {}: the column holds NaN or infinite values, which have no {0}",
                o.metric,
                o.target.label().unwrap_or_default(),
                o.value
            ),
            metric: o.metric,
            target: o.target,
            whole: false,
        })
        .chain(empty_sample)
        .collect();
    (finite, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_with(columns: Vec<ColumnPlan>) -> ProfilePlan {
        ProfilePlan {
            schema: None,
            table: Ident::new("t").unwrap(),
            columns,
            keys: Vec::new(),
            filter: None,
            timestamp: None,
            buckets: Vec::new(),
            bucket_seconds: 3600,
            sample: None,
        }
    }

    #[test]
    fn non_finite_aggregates_become_failures_of_just_that_metric() {
        let plan = plan_with(vec![ColumnPlan {
            name: Ident::new("x").unwrap(),
            numeric: true,
            distinct: Distinct::Exact,
        }]);
        let values = vec![
            (Slot::RowCount, Some(3.0)),
            (Slot::NonNull(0), Some(3.0)),
            (Slot::Distinct(0), Some(3.0)),
            (Slot::Min(0), Some(1.0)),
            (Slot::Max(0), Some(f64::NAN)),
            (Slot::Mean(0), Some(f64::INFINITY)),
        ];
        let (obs, failures) = observations_from(&plan, &values);
        assert!(obs.iter().all(|o| o.value.is_finite()));
        assert!(obs
            .iter()
            .any(|o| o.metric == Metric::Min && o.value == 1.0));
        let failed: Vec<Metric> = failures.iter().map(|f| f.metric).collect();
        assert_eq!(failed, vec![Metric::Max, Metric::Mean]);
        assert!(
            failures[0].message.contains("max(x) is NaN"),
            "{}",
            failures[0].message
        );
        assert!(failures.iter().all(|f| !f.whole));
    }

    #[test]
    fn columns_without_equality_get_no_distinct_count() {
        let plan = plan_with(vec![ColumnPlan {
            name: Ident::new("doc").unwrap(),
            numeric: false,
            distinct: Distinct::None,
        }]);
        let sql = Dialect::Postgres.profile_sql(&plan);
        assert!(!sql.sql.contains("DISTINCT"), "{}", sql.sql);
        let values = vec![(Slot::RowCount, Some(2.0)), (Slot::NonNull(0), Some(1.0))];
        let (obs, _) = observations_from(&plan, &values);
        assert!(!obs.iter().any(|o| o.metric == Metric::DistinctCount));
        assert!(Dialect::Postgres.has_equality("jsonb"));
        assert!(!Dialect::Postgres.has_equality("json"));
        assert!(!Dialect::Postgres.has_equality("point[]"));
        assert!(Dialect::Mysql.has_equality("json"));
    }
}
