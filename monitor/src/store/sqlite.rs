//! SQLite backend. Timestamps are `INTEGER` microseconds since the Unix epoch (UTC), exact to the
//! microsecond and ordered correctly by plain integer comparison.

use super::{
    column_from_key, columns_from_text, details_from_text, details_to_text, parse_status,
    query_err, BucketPoint, BucketRecord, MeasurementRecord, SchemaSnapshot, SeriesPoint,
    StoreError,
};
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::Row;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) const BACKEND: &str = "sqlite";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// A SQLite state store (one file, WAL mode).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
}

fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(what: &'static str, v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::<Utc>::from_timestamp_micros(v).ok_or_else(|| StoreError::Corrupt {
        backend: BACKEND,
        what,
        reason: format!("timestamp {v} out of range"),
    })
}

fn get<'r, T>(row: &'r SqliteRow, col: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(col).map_err(query_err(BACKEND, "decode a row"))
}

impl SqliteStore {
    pub(super) async fn connect(path: &str) -> Result<SqliteStore, StoreError> {
        if path.is_empty() {
            return Err(StoreError::InvalidUrl(
                "sqlite store url has no path".into(),
            ));
        }
        let path = PathBuf::from(path);
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(StoreError::SqliteDirMissing { path, dir });
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::SqliteOpen {
                path: path.clone(),
                source,
            })?;
        if let Err(source) = MIGRATOR.run(&pool).await {
            pool.close().await;
            return Err(StoreError::Migrate {
                backend: BACKEND,
                source,
            });
        }
        Ok(SqliteStore { pool, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) async fn begin_run(&self, started_at: DateTime<Utc>) -> Result<i64, StoreError> {
        sqlx::query_scalar("INSERT INTO runs (started_at) VALUES (?1) RETURNING id")
            .bind(to_micros(started_at))
            .fetch_one(&self.pool)
            .await
            .map_err(query_err(BACKEND, "begin a run"))
    }

    pub(super) async fn finish_run(
        &self,
        run_id: i64,
        finished_at: DateTime<Utc>,
        problems: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE runs SET finished_at = ?1, problems = ?2 WHERE id = ?3")
            .bind(to_micros(finished_at))
            .bind(problems)
            .bind(run_id)
            .execute(&self.pool)
            .await
            .map_err(query_err(BACKEND, "finish a run"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::RunNotFound(run_id));
        }
        Ok(())
    }

    pub(super) async fn insert_measurements(
        &self,
        rows: &[MeasurementRecord],
    ) -> Result<(), StoreError> {
        let op = "insert measurements";
        let mut tx = self.pool.begin().await.map_err(query_err(BACKEND, op))?;
        for r in rows {
            sqlx::query(
                "INSERT INTO measurements (run_id, monitor, source, dataset, metric, column_name, value, \
                 status, lower_bound, upper_bound, message, details, observed_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .bind(r.run_id)
            .bind(&r.monitor)
            .bind(&r.source)
            .bind(&r.dataset)
            .bind(&r.metric)
            .bind(r.column.as_deref().unwrap_or(""))
            .bind(r.value)
            .bind(r.status.as_str())
            .bind(r.lower)
            .bind(r.upper)
            .bind(&r.message)
            .bind(details_to_text(r.details.as_ref()))
            .bind(to_micros(r.observed_at))
            .execute(&mut *tx)
            .await
            .map_err(query_err(BACKEND, op))?;
        }
        tx.commit().await.map_err(query_err(BACKEND, op))
    }

    pub(super) async fn series(
        &self,
        monitor: &str,
        metric: &str,
        column: &str,
        since: Option<DateTime<Utc>>,
        limit: Option<i64>,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        // The inner query picks the newest `limit` points; the outer one puts them oldest first.
        // A NULL `since` disables the lower bound, a negative LIMIT means no limit in SQLite.
        let rows = sqlx::query(
            "SELECT observed_at, value, status, expected_anomaly FROM ( \
               SELECT id, observed_at, value, status, expected_anomaly FROM measurements \
               WHERE monitor = ?1 AND metric = ?2 AND column_name = ?3 \
                 AND (?4 IS NULL OR observed_at >= ?4) \
               ORDER BY observed_at DESC, id DESC LIMIT ?5 \
             ) AS newest ORDER BY observed_at ASC, id ASC",
        )
        .bind(monitor)
        .bind(metric)
        .bind(column)
        .bind(since.map(to_micros))
        .bind(limit.unwrap_or(-1))
        .fetch_all(&self.pool)
        .await
        .map_err(query_err(BACKEND, "read a series"))?;
        rows.iter()
            .map(|row| {
                Ok(SeriesPoint {
                    observed_at: from_micros("observed_at", get(row, "observed_at")?)?,
                    value: get(row, "value")?,
                    status: parse_status(BACKEND, &get::<String>(row, "status")?)?,
                    expected_anomaly: get(row, "expected_anomaly")?,
                })
            })
            .collect()
    }

    pub(super) async fn latest(&self, monitor: &str) -> Result<Vec<MeasurementRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT run_id, monitor, source, dataset, metric, column_name, value, status, lower_bound, \
                    upper_bound, message, details, observed_at FROM ( \
               SELECT *, ROW_NUMBER() OVER ( \
                 PARTITION BY metric, column_name ORDER BY observed_at DESC, id DESC) AS rn \
               FROM measurements WHERE monitor = ?1 \
             ) AS ranked WHERE rn = 1 ORDER BY metric, column_name",
        )
        .bind(monitor)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err(BACKEND, "read latest measurements"))?;
        rows.iter()
            .map(|row| {
                Ok(MeasurementRecord {
                    run_id: get(row, "run_id")?,
                    monitor: get(row, "monitor")?,
                    source: get(row, "source")?,
                    dataset: get(row, "dataset")?,
                    metric: get(row, "metric")?,
                    column: column_from_key(get(row, "column_name")?),
                    value: get(row, "value")?,
                    status: parse_status(BACKEND, &get::<String>(row, "status")?)?,
                    lower: get(row, "lower_bound")?,
                    upper: get(row, "upper_bound")?,
                    message: get(row, "message")?,
                    details: details_from_text(BACKEND, get(row, "details")?)?,
                    observed_at: from_micros("observed_at", get(row, "observed_at")?)?,
                })
            })
            .collect()
    }

    pub(super) async fn save_schema(
        &self,
        run_id: i64,
        monitor: &str,
        dataset: &str,
        observed_at: DateTime<Utc>,
        columns_json: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO schema_snapshots (run_id, monitor, dataset, observed_at, columns) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(run_id)
        .bind(monitor)
        .bind(dataset)
        .bind(to_micros(observed_at))
        .bind(columns_json)
        .execute(&self.pool)
        .await
        .map_err(query_err(BACKEND, "save a schema snapshot"))?;
        Ok(())
    }

    pub(super) async fn latest_schema(
        &self,
        monitor: &str,
    ) -> Result<Option<SchemaSnapshot>, StoreError> {
        let row = sqlx::query(
            "SELECT run_id, observed_at, columns FROM schema_snapshots WHERE monitor = ?1 \
             ORDER BY observed_at DESC, id DESC LIMIT 1",
        )
        .bind(monitor)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err(BACKEND, "read the latest schema snapshot"))?;
        row.map(|row| {
            Ok(SchemaSnapshot {
                run_id: get(&row, "run_id")?,
                observed_at: from_micros("observed_at", get(&row, "observed_at")?)?,
                columns: columns_from_text(BACKEND, &get::<String>(&row, "columns")?)?,
            })
        })
        .transpose()
    }

    pub(super) async fn upsert_buckets(&self, rows: &[BucketRecord]) -> Result<(), StoreError> {
        let op = "upsert buckets";
        let mut tx = self.pool.begin().await.map_err(query_err(BACKEND, op))?;
        for r in rows {
            sqlx::query(
                "INSERT INTO buckets (monitor, metric, column_name, bucket_start, bucket_seconds, value, \
                 observed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (monitor, metric, column_name, bucket_start) DO UPDATE SET \
                 bucket_seconds = excluded.bucket_seconds, value = excluded.value, \
                 observed_at = excluded.observed_at",
            )
            .bind(&r.monitor)
            .bind(&r.metric)
            .bind(r.column.as_deref().unwrap_or(""))
            .bind(to_micros(r.bucket_start))
            .bind(r.bucket_seconds)
            .bind(r.value)
            .bind(to_micros(r.observed_at))
            .execute(&mut *tx)
            .await
            .map_err(query_err(BACKEND, op))?;
        }
        tx.commit().await.map_err(query_err(BACKEND, op))
    }

    pub(super) async fn buckets(
        &self,
        monitor: &str,
        metric: &str,
        column: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<BucketPoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT bucket_start, value FROM buckets \
             WHERE monitor = ?1 AND metric = ?2 AND column_name = ?3 \
               AND (?4 IS NULL OR bucket_start >= ?4) \
             ORDER BY bucket_start ASC",
        )
        .bind(monitor)
        .bind(metric)
        .bind(column)
        .bind(since.map(to_micros))
        .fetch_all(&self.pool)
        .await
        .map_err(query_err(BACKEND, "read buckets"))?;
        rows.iter()
            .map(|row| {
                Ok(BucketPoint {
                    bucket_start: from_micros("bucket_start", get(row, "bucket_start")?)?,
                    value: get(row, "value")?,
                })
            })
            .collect()
    }

    pub(super) async fn latest_bucket(
        &self,
        monitor: &str,
        metric: &str,
        column: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let max: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(bucket_start) FROM buckets WHERE monitor = ?1 AND metric = ?2 AND column_name = ?3",
        )
        .bind(monitor)
        .bind(metric)
        .bind(column)
        .fetch_one(&self.pool)
        .await
        .map_err(query_err(BACKEND, "read the latest bucket"))?;
        max.map(|v| from_micros("bucket_start", v)).transpose()
    }

    pub(super) async fn mark_expected(
        &self,
        monitor: &str,
        metric: &str,
        column: &str,
        observed_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE measurements SET expected_anomaly = 1 \
             WHERE monitor = ?1 AND metric = ?2 AND column_name = ?3 AND observed_at = ?4 \
               AND expected_anomaly = 0",
        )
        .bind(monitor)
        .bind(metric)
        .bind(column)
        .bind(to_micros(observed_at))
        .execute(&self.pool)
        .await
        .map_err(query_err(BACKEND, "mark a measurement expected"))?;
        Ok(done.rows_affected())
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}
