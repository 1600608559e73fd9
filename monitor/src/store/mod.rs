//! The state store: runs, measurements, schema snapshots and bucketed series, kept in SQLite (one
//! process) or PostgreSQL (shared by several monitor processes).
//!
//! Both backends honour one contract, checked by the conformance suite in the `tests` package
//! (`tests/src/store_conformance.rs`). Dispatch is a plain enum: no trait objects, no async-trait.
//!
//! Conventions shared by both backends:
//! - Timestamps are exact to the microsecond: `TIMESTAMPTZ` in PostgreSQL, `INTEGER` microseconds since
//!   the Unix epoch in SQLite. Sub-microsecond parts are truncated on write.
//! - A table metric's `column` (`None`) is stored as `''` so the key columns can be `NOT NULL`; the
//!   empty string is therefore not a valid column name and is rejected.
//! - `details` and schema columns are stored as JSON text.
//! - Float values must not be NaN (SQLite would silently turn NaN into NULL).
//!
//! Architecture Invariant: the store keeps no in-process cache. Every answer comes from the database, so
//! several monitor processes can share one PostgreSQL store.

mod postgres;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// One stored measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementRecord {
    pub run_id: i64,
    pub monitor: String,
    pub source: String,
    pub dataset: String,
    pub metric: String,
    pub column: Option<String>,
    /// `None` when the status is `error`.
    pub value: Option<f64>,
    pub status: checks::Status,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub message: String,
    pub details: Option<serde_json::Value>,
    pub observed_at: DateTime<Utc>,
}

/// One point of a measurement time series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    pub observed_at: DateTime<Utc>,
    pub value: Option<f64>,
    pub status: checks::Status,
    /// Set by [`Store::mark_expected`]: a person said this point was not an incident.
    pub expected_anomaly: bool,
}

/// The column list of a dataset as one run saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaSnapshot {
    pub run_id: i64,
    pub observed_at: DateTime<Utc>,
    pub columns: Vec<checks::Column>,
}

/// One bucket of a bucketed series; the key is (monitor, metric, column, bucket_start).
#[derive(Debug, Clone, PartialEq)]
pub struct BucketRecord {
    pub monitor: String,
    pub metric: String,
    pub column: Option<String>,
    pub bucket_start: DateTime<Utc>,
    pub bucket_seconds: i64,
    pub value: f64,
    pub observed_at: DateTime<Utc>,
}

/// One point of a bucketed series.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketPoint {
    pub bucket_start: DateTime<Utc>,
    pub value: f64,
}

/// Why a store operation failed. Messages name the backend and the host or path, never a password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store url: {0}")]
    InvalidUrl(String),
    #[error("unsupported store url scheme {0:?}: expected sqlite:// or postgres://")]
    UnsupportedScheme(String),
    #[error("sqlite store directory {} does not exist (database {})", dir.display(), path.display())]
    SqliteDirMissing { path: PathBuf, dir: PathBuf },
    #[error("cannot open sqlite store at {}: {source}", path.display())]
    SqliteOpen {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    /// `reason` is the driver's message with any password scrubbed; the driver error itself is not kept
    /// so that no error chain can leak the connection string.
    #[error("cannot connect to postgres store at {target}: {reason}")]
    PostgresConnect { target: String, reason: String },
    #[error("cannot migrate {backend} store: {source}")]
    Migrate {
        backend: &'static str,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("{backend} store failed to {op}: {source}")]
    Query {
        backend: &'static str,
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("run {0} not found")]
    RunNotFound(i64),
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error("corrupt {what} in {backend} store: {reason}")]
    Corrupt {
        backend: &'static str,
        what: &'static str,
        reason: String,
    },
}

/// A state store, SQLite or PostgreSQL.
#[derive(Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens `sqlite://PATH` (or `sqlite:PATH`; the file is created if missing, in WAL mode, and its
    /// directory must exist) or `postgres://…` / `postgresql://…`, then runs pending migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Ok(Store::Sqlite(SqliteStore::connect(path).await?));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Store::Postgres(PgStore::connect(url).await?));
        }
        match url.split_once(':') {
            // The scheme alone: the rest of the url may hold credentials.
            Some((scheme, _)) => Err(StoreError::UnsupportedScheme(scheme.to_string())),
            None => Err(StoreError::InvalidUrl(
                "missing scheme (sqlite:// or postgres://)".into(),
            )),
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => sqlite::BACKEND,
            Store::Postgres(_) => postgres::BACKEND,
        }
    }

    /// Records the start of a run and returns its id.
    pub async fn begin_run(&self, started_at: DateTime<Utc>) -> Result<i64, StoreError> {
        match self {
            Store::Sqlite(s) => s.begin_run(started_at).await,
            Store::Postgres(s) => s.begin_run(started_at).await,
        }
    }

    /// Records the end of a run; fails with [`StoreError::RunNotFound`] for an unknown id.
    pub async fn finish_run(
        &self,
        run_id: i64,
        finished_at: DateTime<Utc>,
        problems: i64,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.finish_run(run_id, finished_at, problems).await,
            Store::Postgres(s) => s.finish_run(run_id, finished_at, problems).await,
        }
    }

    /// Inserts all rows in one transaction: either every row is stored or none is.
    pub async fn insert_measurements(&self, rows: &[MeasurementRecord]) -> Result<(), StoreError> {
        for row in rows {
            column_key(row.column.as_deref())?;
            check_float("measurement value", row.value)?;
            check_float("measurement lower bound", row.lower)?;
            check_float("measurement upper bound", row.upper)?;
        }
        match self {
            Store::Sqlite(s) => s.insert_measurements(rows).await,
            Store::Postgres(s) => s.insert_measurements(rows).await,
        }
    }

    /// The time series of one monitor/metric/column, oldest first, with `observed_at >= since` when
    /// given. With `limit`, only the newest `limit` points are returned (still oldest first).
    pub async fn series(
        &self,
        monitor: &str,
        metric: &str,
        column: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: Option<i64>,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        let column = column_key(column)?;
        if let Some(n) = limit.filter(|n| *n < 0) {
            return Err(StoreError::Invalid {
                what: "series limit",
                reason: format!("{n} is negative"),
            });
        }
        match self {
            Store::Sqlite(s) => s.series(monitor, metric, column, since, limit).await,
            Store::Postgres(s) => s.series(monitor, metric, column, since, limit).await,
        }
    }

    /// The latest measurement per (metric, column) of a monitor, ordered by metric then column
    /// (table metrics first). Ties on `observed_at` go to the row inserted last.
    pub async fn latest(&self, monitor: &str) -> Result<Vec<MeasurementRecord>, StoreError> {
        match self {
            Store::Sqlite(s) => s.latest(monitor).await,
            Store::Postgres(s) => s.latest(monitor).await,
        }
    }

    /// Stores the column list a run saw for a monitor's dataset.
    pub async fn save_schema(
        &self,
        run_id: i64,
        monitor: &str,
        dataset: &str,
        observed_at: DateTime<Utc>,
        columns: &[checks::Column],
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(columns).map_err(|e| StoreError::Invalid {
            what: "schema columns",
            reason: e.to_string(),
        })?;
        match self {
            Store::Sqlite(s) => {
                s.save_schema(run_id, monitor, dataset, observed_at, &json)
                    .await
            }
            Store::Postgres(s) => {
                s.save_schema(run_id, monitor, dataset, observed_at, &json)
                    .await
            }
        }
    }

    /// The newest schema snapshot of a monitor (by `observed_at`, then insertion order).
    pub async fn latest_schema(&self, monitor: &str) -> Result<Option<SchemaSnapshot>, StoreError> {
        match self {
            Store::Sqlite(s) => s.latest_schema(monitor).await,
            Store::Postgres(s) => s.latest_schema(monitor).await,
        }
    }

    /// Inserts or overwrites buckets keyed by (monitor, metric, column, bucket_start), in one
    /// transaction.
    pub async fn upsert_buckets(&self, rows: &[BucketRecord]) -> Result<(), StoreError> {
        for row in rows {
            column_key(row.column.as_deref())?;
            check_float("bucket value", Some(row.value))?;
        }
        match self {
            Store::Sqlite(s) => s.upsert_buckets(rows).await,
            Store::Postgres(s) => s.upsert_buckets(rows).await,
        }
    }

    /// The buckets of one monitor/metric/column, oldest first, with `bucket_start >= since` when given.
    pub async fn buckets(
        &self,
        monitor: &str,
        metric: &str,
        column: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<BucketPoint>, StoreError> {
        let column = column_key(column)?;
        match self {
            Store::Sqlite(s) => s.buckets(monitor, metric, column, since).await,
            Store::Postgres(s) => s.buckets(monitor, metric, column, since).await,
        }
    }

    /// The start of the newest bucket of one monitor/metric/column, if any.
    pub async fn latest_bucket(
        &self,
        monitor: &str,
        metric: &str,
        column: Option<&str>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let column = column_key(column)?;
        match self {
            Store::Sqlite(s) => s.latest_bucket(monitor, metric, column).await,
            Store::Postgres(s) => s.latest_bucket(monitor, metric, column).await,
        }
    }

    /// Marks the measurement(s) of monitor/metric/column observed at exactly `observed_at` as an
    /// expected anomaly. Returns how many rows changed: rows already marked are not counted.
    pub async fn mark_expected(
        &self,
        monitor: &str,
        metric: &str,
        column: Option<&str>,
        observed_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let column = column_key(column)?;
        match self {
            Store::Sqlite(s) => s.mark_expected(monitor, metric, column, observed_at).await,
            Store::Postgres(s) => s.mark_expected(monitor, metric, column, observed_at).await,
        }
    }

    /// Closes the connection pool, waiting for checked-out connections to return.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(s) => s.close().await,
        }
    }
}

/// The stored form of a column: `None` is `''`, so `Some("")` cannot be told apart and is rejected.
fn column_key(column: Option<&str>) -> Result<&str, StoreError> {
    match column {
        None => Ok(""),
        Some("") => Err(StoreError::Invalid {
            what: "column",
            reason: "empty column name (use None for table metrics)".into(),
        }),
        Some(c) => Ok(c),
    }
}

/// The API form of a stored column key.
fn column_from_key(key: String) -> Option<String> {
    (!key.is_empty()).then_some(key)
}

fn check_float(what: &'static str, v: Option<f64>) -> Result<(), StoreError> {
    match v {
        Some(x) if x.is_nan() => Err(StoreError::Invalid {
            what,
            reason: "NaN cannot be stored".into(),
        }),
        _ => Ok(()),
    }
}

fn parse_status(backend: &'static str, s: &str) -> Result<checks::Status, StoreError> {
    checks::Status::parse(s).ok_or_else(|| StoreError::Corrupt {
        backend,
        what: "measurement status",
        reason: format!("unknown status {s:?}"),
    })
}

fn details_to_text(details: Option<&serde_json::Value>) -> Option<String> {
    // Serializing a `Value` cannot fail: its map keys are always strings.
    details.map(serde_json::Value::to_string)
}

fn details_from_text(
    backend: &'static str,
    text: Option<String>,
) -> Result<Option<serde_json::Value>, StoreError> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Corrupt {
            backend,
            what: "measurement details",
            reason: e.to_string(),
        })
    })
    .transpose()
}

fn columns_from_text(backend: &'static str, text: &str) -> Result<Vec<checks::Column>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        backend,
        what: "schema columns",
        reason: e.to_string(),
    })
}

/// Builds a [`StoreError::Query`] for `op`.
fn query_err(backend: &'static str, op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query {
        backend,
        op,
        source,
    }
}
