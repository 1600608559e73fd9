//! Feedback on verdicts: marking an anomaly as expected. The measurement stays in the history, flagged
//! `expected_anomaly`, is no longer an incident, and is learned from like a normal point.

use crate::store::Store;
use anyhow::Context;
use checks::{Metric, SeriesKey, Status, Target};
use chrono::{DateTime, Utc};

/// Marks the measurement of `monitor`/`metric`/`column` taken at `at` (default: the newest one) as an
/// expected anomaly. Returns a sentence saying what was marked.
pub async fn mark_expected(
    store: &Store,
    monitor: &str,
    metric: &str,
    column: Option<&str>,
    at: Option<DateTime<Utc>>,
) -> anyhow::Result<String> {
    let metric = Metric::parse(metric).with_context(|| format!("unknown metric {metric}"))?;
    let key = SeriesKey::new(monitor, metric, Target::from_label(metric, column));
    let series = match at {
        Some(at) => store.series(&key, Some(at), Some(i64::MAX)).await,
        None => store.series(&key, None, Some(1)).await,
    }
    .context("reading the history")?;
    let what = match column {
        Some(c) => format!("{metric}({c}) of {monitor}"),
        None => format!("{metric} of {monitor}"),
    };
    let point = match at {
        Some(at) => series
            .iter()
            .find(|p| p.observed_at == at)
            .with_context(|| format!("no measurement of {what} at {}", at.to_rfc3339()))?,
        None => series
            .last()
            .with_context(|| format!("no measurement of {what} in the state store"))?,
    };
    if point.status != Status::Anomaly {
        anyhow::bail!(
            "the measurement of {what} at {} is {}, not an anomaly",
            point.observed_at.to_rfc3339(),
            point.status
        );
    }
    let changed = store
        .mark_expected(&key, point.observed_at)
        .await
        .context("marking the measurement")?;
    Ok(if changed == 0 {
        format!(
            "{what} at {} was already marked expected",
            point.observed_at.to_rfc3339()
        )
    } else {
        format!(
            "marked {what} at {} as expected: no longer an incident, and learned from",
            point.observed_at.to_rfc3339()
        )
    })
}
