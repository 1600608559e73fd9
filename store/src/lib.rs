//! The state store: runs, measurements, schema snapshots, bucketed series and per-monitor leases, kept
//! in SQLite (one process) or PostgreSQL (shared by several monitor processes).
//!
//! One implementation serves both backends: the SQL text and the logic live once in `sql.rs`, generic
//! over the sqlx driver; what differs (the timestamp codec, how to open and migrate, which error means
//! "lock wait timed out") is the small [`backend::Backend`] trait with one impl per backend. Both
//! backends honour one contract, checked by the conformance suite (`conformance.rs`, behind the
//! `conformance` feature) that the `tests` package runs on each.
//!
//! Conventions shared by both backends:
//! - A series is stored under its [`SeriesKey`]: `metric` is [`checks::Metric::as_str`], `column_name`
//!   is [`checks::Target::label`] or `''` for the table, so the key columns can be `NOT NULL` (a column
//!   target with an empty label is refused). Rows read back through [`checks::Metric::parse_stored`]
//!   and [`checks::Target::from_label`]; an unknown metric name is [`StoreError::Corrupt`].
//! - Timestamps are exact to the microsecond: `TIMESTAMPTZ` in PostgreSQL, `INTEGER` microseconds since
//!   the Unix epoch in SQLite. Sub-microsecond parts are truncated on write.
//! - `details` and schema columns are stored as JSON text.
//! - Float values must be finite: NaN and infinities are refused (SQLite would turn NaN into NULL).
//! - Records are checked before any statement runs, so an invalid record never half-writes a batch.
//!
//! Architecture Invariant: the store keeps no in-process cache. Every answer comes from the database, so
//! several monitor processes can share one PostgreSQL store.

mod backend;
mod codec;
mod postgres;
mod redact;
mod sql;
mod sqlite;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use alerts::{
    AlertingWrite, IncidentRecord, IncidentWrite, OutboxNew, OutboxRecord, OutboxState,
    SilenceRecord,
};
pub use checks::{SeriesKey, Target};
pub use redact::redact;

use chrono::{DateTime, Utc};
use sql::Sql;
use std::path::PathBuf;
use std::time::Duration;

/// One stored measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementRecord {
    pub run_id: i64,
    pub key: SeriesKey,
    pub source: String,
    pub dataset: String,
    /// `None` when the status is `error`.
    pub value: Option<f64>,
    pub status: checks::Status,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub message: String,
    pub details: Option<serde_json::Value>,
    pub observed_at: DateTime<Utc>,
    /// The learned baseline's anomaly score in [0, 1], when the row has a learned verdict.
    pub score: Option<f64>,
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

/// One bucket of a bucketed series; the key is (series, bucket_seconds, bucket_start), so a change of
/// bucket width starts a series of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketRecord {
    pub key: SeriesKey,
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

/// Everything one monitor's scan stores, written by [`Store::write_monitor`] in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorWrite {
    pub run_id: i64,
    pub monitor: String,
    pub dataset: String,
    /// When the schema snapshot was taken.
    pub observed_at: DateTime<Utc>,
    /// Each with `run_id` and `key.monitor` equal to the write's.
    pub measurements: Vec<MeasurementRecord>,
    /// Each with `key.monitor` equal to the write's.
    pub buckets: Vec<BucketRecord>,
    /// A new schema snapshot, when the schema is to be recorded.
    pub schema: Option<Vec<checks::Column>>,
    /// Added to the run's problem count.
    pub problems: i64,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `None` until [`Store::finish_run`] or a [`Store::write_monitor`] sets it.
    pub problems: Option<i64>,
}

/// A per-monitor lease: while it is live, no other holder can take the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub monitor: String,
    pub holder: String,
    pub expires_at: DateTime<Utc>,
}

/// What [`Store::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub measurements: u64,
    pub buckets: u64,
    pub runs: u64,
    pub schema_snapshots: u64,
}

/// Bounds on how long the store waits. Every duration must be positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Opening a connection, and waiting for a free one in the pool.
    pub connect_timeout: Duration,
    /// One statement: PostgreSQL's `statement_timeout`; SQLite's `busy_timeout` (how long a statement
    /// waits for another writer).
    pub statement_timeout: Duration,
    /// Waiting for the migration lock when connecting: PostgreSQL's `lock_timeout` on the migrating
    /// connection (the advisory lock sqlx takes and the table locks a migration needs); SQLite's
    /// `busy_timeout` there.
    pub lock_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
            lock_timeout: Duration::from_secs(60),
        }
    }
}

impl StoreOptions {
    fn validate(&self) -> Result<(), StoreError> {
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("statement_timeout", self.statement_timeout),
            ("lock_timeout", self.lock_timeout),
        ] {
            if d.is_zero() {
                return Err(StoreError::Invalid {
                    what: "store options",
                    reason: format!("{name} must be positive"),
                });
            }
        }
        Ok(())
    }
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
    /// A bounded wait ran out, e.g. "timed out waiting for the migration lock after 60s".
    #[error("{backend} store timed out {what} after {}", codec::show_duration(*after))]
    Timeout {
        backend: &'static str,
        what: &'static str,
        after: Duration,
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

/// A state store, SQLite or PostgreSQL. Cheap to share by reference; holds a connection pool.
#[derive(Debug)]
pub struct Store {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Sqlite(Sql<sqlx::Sqlite>),
    Postgres(Sql<sqlx::Postgres>),
}

/// Runs the same expression on whichever backend the store holds.
macro_rules! on_backend {
    ($store:expr, $sql:ident => $body:expr) => {
        match &$store.inner {
            Inner::Sqlite($sql) => $body,
            Inner::Postgres($sql) => $body,
        }
    };
}

// After `on_backend!`, which it uses.
mod schedule;
pub use schedule::{HistoryPoint, RunOutcome, ScheduledRun};

impl Store {
    /// [`Store::connect_with`] and the default [`StoreOptions`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, &StoreOptions::default()).await
    }

    /// Opens `sqlite://PATH` (or `sqlite:PATH`; the file is created if missing, in WAL mode, and its
    /// directory must exist) or `postgres://…` / `postgresql://…`, then runs pending migrations.
    pub async fn connect_with(url: &str, opts: &StoreOptions) -> Result<Store, StoreError> {
        opts.validate()?;
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let sql = sqlite::connect(path, opts).await?;
            return Ok(Store {
                inner: Inner::Sqlite(sql),
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let sql = postgres::connect(url, opts).await?;
            return Ok(Store {
                inner: Inner::Postgres(sql),
            });
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
        on_backend!(self, s => s.backend())
    }

    /// Records the start of a run and returns its id.
    pub async fn begin_run(&self, started_at: DateTime<Utc>) -> Result<i64, StoreError> {
        on_backend!(self, s => s.begin_run(started_at).await)
    }

    /// Records the end of a run and its total problem count; fails with [`StoreError::RunNotFound`]
    /// for an unknown id.
    pub async fn finish_run(
        &self,
        run_id: i64,
        finished_at: DateTime<Utc>,
        problems: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, s => s.finish_run(run_id, finished_at, problems).await)
    }

    /// The run with this id, if any.
    pub async fn run(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError> {
        on_backend!(self, s => s.run(run_id).await)
    }

    /// Stores one monitor's scan in ONE transaction: its measurements, its bucket upserts, the schema
    /// snapshot when `Some`, and adds `problems` to the run's problem count. Either everything is stored
    /// or nothing: an invalid record is refused before any statement runs, and a failing statement
    /// (e.g. an unknown run, [`StoreError::RunNotFound`]) rolls the whole write back.
    pub async fn write_monitor(&self, w: &MonitorWrite) -> Result<(), StoreError> {
        let checked = codec::CheckedWrite::new(w)?;
        on_backend!(self, s => s.write_monitor(&checked).await)
    }

    /// Inserts all rows in one transaction: either every row is stored or none is.
    pub async fn insert_measurements(&self, rows: &[MeasurementRecord]) -> Result<(), StoreError> {
        let rows = codec::check_measurements(rows)?;
        on_backend!(self, s => s.insert_measurements(&rows).await)
    }

    /// Inserts or overwrites buckets keyed by (series, bucket_seconds, bucket_start), in one
    /// transaction.
    pub async fn upsert_buckets(&self, rows: &[BucketRecord]) -> Result<(), StoreError> {
        let rows = codec::check_buckets(rows)?;
        on_backend!(self, s => s.upsert_buckets(&rows).await)
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
        let snapshot = codec::CheckedSnapshot::new(run_id, monitor, dataset, observed_at, columns)?;
        on_backend!(self, s => s.save_schema(&snapshot).await)
    }

    /// The time series of one key, oldest first, with `observed_at >= since` when given. With `limit`,
    /// only the newest `limit` points are returned (still oldest first).
    pub async fn series(
        &self,
        key: &SeriesKey,
        since: Option<DateTime<Utc>>,
        limit: Option<i64>,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        let key = codec::StoredKey::of(key)?;
        let limit = codec::check_limit(limit)?;
        on_backend!(self, s => s.series(&key, since, limit).await)
    }

    /// The latest measurement per series of a monitor, ordered by stored metric name then column label
    /// (table metrics first). Ties on `observed_at` go to the row inserted last.
    pub async fn latest(&self, monitor: &str) -> Result<Vec<MeasurementRecord>, StoreError> {
        on_backend!(self, s => s.latest(monitor).await)
    }

    /// The newest schema snapshot of a monitor (by `observed_at`, then insertion order).
    pub async fn latest_schema(&self, monitor: &str) -> Result<Option<SchemaSnapshot>, StoreError> {
        on_backend!(self, s => s.latest_schema(monitor).await)
    }

    /// The buckets of one key and width, oldest first, with `bucket_start >= since` when given.
    pub async fn buckets(
        &self,
        key: &SeriesKey,
        bucket_seconds: i64,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<BucketPoint>, StoreError> {
        let key = codec::StoredKey::of(key)?;
        let width = codec::check_bucket_seconds(bucket_seconds)?;
        on_backend!(self, s => s.buckets(&key, width, since).await)
    }

    /// The start of the newest bucket of one key and width, if any.
    pub async fn latest_bucket(
        &self,
        key: &SeriesKey,
        bucket_seconds: i64,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let key = codec::StoredKey::of(key)?;
        let width = codec::check_bucket_seconds(bucket_seconds)?;
        on_backend!(self, s => s.latest_bucket(&key, width).await)
    }

    /// Marks the measurement(s) of `key` observed at exactly `observed_at` as an expected anomaly.
    /// Returns how many rows changed: rows already marked are not counted.
    pub async fn mark_expected(
        &self,
        key: &SeriesKey,
        observed_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let key = codec::StoredKey::of(key)?;
        on_backend!(self, s => s.mark_expected(&key, observed_at).await)
    }

    /// Takes the lease of `monitor` for `holder` until `now + ttl`: `Some` when the monitor was free,
    /// its lease had expired (`expires_at <= now`) or `holder` already held it (then it is renewed);
    /// `None` while another holder's lease is live. One atomic statement, safe between processes.
    pub async fn try_lease(
        &self,
        monitor: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError> {
        let lease = codec::lease(monitor, holder, ttl, now)?;
        on_backend!(self, s => s.try_lease(&lease, now).await)
    }

    /// Gives the lease back, only if `lease.holder` still holds it (an expired lease another holder
    /// took since is left alone).
    pub async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        on_backend!(self, s => s.release(lease).await)
    }

    /// Retention, in one transaction: deletes measurements observed before `before`, buckets starting
    /// before it, schema snapshots observed before it except each monitor's newest, and runs started
    /// before it that no measurement or kept snapshot references. Returns the counts.
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<Pruned, StoreError> {
        on_backend!(self, s => s.prune(before).await)
    }

    /// Closes the connection pool, waiting for checked-out connections to return.
    pub async fn close(&self) {
        on_backend!(self, s => s.close().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API crate will call the store from request handlers, whose futures must be `Send`.
    #[allow(dead_code, clippy::diverging_sub_expression)]
    fn futures_are_send(store: &Store, w: &MonitorWrite, key: &SeriesKey, lease: &Lease) {
        fn send<T: Send>(_: T) {}
        let t = Utc::now();
        send(Store::connect(""));
        send(store.begin_run(t));
        send(store.finish_run(1, t, 0));
        send(store.run(1));
        send(store.write_monitor(w));
        send(store.insert_measurements(&[]));
        send(store.upsert_buckets(&[]));
        send(store.save_schema(1, "m", "d", t, &[]));
        send(store.series(key, None, None));
        send(store.latest("m"));
        send(store.latest_schema("m"));
        send(store.buckets(key, 60, None));
        send(store.latest_bucket(key, 60));
        send(store.mark_expected(key, t));
        send(store.try_lease("m", "h", Duration::from_secs(1), t));
        send(store.release(lease));
        send(store.prune(t));
        send(store.close());
    }

    #[test]
    fn zero_timeouts_are_refused() {
        let opts = StoreOptions {
            lock_timeout: Duration::ZERO,
            ..StoreOptions::default()
        };
        let err = opts.validate().expect_err("zero lock timeout");
        assert_eq!(
            err.to_string(),
            "invalid store options: lock_timeout must be positive"
        );
        StoreOptions::default()
            .validate()
            .expect("defaults are valid");
    }

    #[test]
    fn timeout_message_names_the_wait() {
        let err = StoreError::Timeout {
            backend: "postgres",
            what: "waiting for the migration lock",
            after: Duration::from_secs(60),
        };
        assert_eq!(
            err.to_string(),
            "postgres store timed out waiting for the migration lock after 60s"
        );
    }
}

// After `on_backend!`, which it uses.
mod alerts;

// After `on_backend!`, which it uses.
mod discovered;
pub use discovered::{DiscoveredTable, DiscoveryWrite};
