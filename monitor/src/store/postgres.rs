//! PostgreSQL backend. Timestamps are `TIMESTAMPTZ` (microsecond precision). Safe to share between
//! several monitor processes: ids come from sequences and migrations take an advisory lock.

use super::{
    column_from_key, columns_from_text, details_from_text, details_to_text, parse_status,
    query_err, BucketPoint, BucketRecord, MeasurementRecord, SchemaSnapshot, SeriesPoint,
    StoreError,
};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, Row};
use std::time::Duration;

pub(super) const BACKEND: &str = "postgres";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// A PostgreSQL state store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// `host:port/database`, for messages; never the password.
    target: String,
}

fn get<'r, T>(row: &'r PgRow, col: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(col).map_err(query_err(BACKEND, "decode a row"))
}

impl PgStore {
    pub(super) async fn connect(url: &str) -> Result<PgStore, StoreError> {
        // `url::ParseError` messages never repeat the input.
        let parsed = url::Url::parse(url)
            .map_err(|e| StoreError::InvalidUrl(format!("postgres store url: {e}")))?;
        let target = format!(
            "{}:{}{}",
            parsed.host_str().unwrap_or("localhost"),
            parsed.port().unwrap_or(5432),
            parsed.path()
        );
        let connect_err = |e: &sqlx::Error| StoreError::PostgresConnect {
            target: target.clone(),
            reason: crate::secret::redact(&e.to_string(), url),
        };
        let options = PgConnectOptions::from_url(&parsed).map_err(|e| connect_err(&e))?;

        // One direct connection first: the pool retries a refused connection until its acquire
        // timeout and then reports only "timed out", which hides the cause.
        let mut conn = options.connect().await.map_err(|e| connect_err(&e))?;
        // Migrations hold an advisory lock, so replicas starting together apply them once.
        let migrated = MIGRATOR.run(&mut conn).await;
        // Closing can only fail on a broken socket, which the pool below would report anyway.
        let _ = conn.close().await;
        migrated.map_err(|source| StoreError::Migrate {
            backend: BACKEND,
            source,
        })?;

        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await
            .map_err(|e| connect_err(&e))?;
        Ok(PgStore { pool, target })
    }

    /// `host:port/database` of the store.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub(super) async fn begin_run(&self, started_at: DateTime<Utc>) -> Result<i64, StoreError> {
        sqlx::query_scalar("INSERT INTO runs (started_at) VALUES ($1) RETURNING id")
            .bind(started_at)
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
        let done = sqlx::query("UPDATE runs SET finished_at = $1, problems = $2 WHERE id = $3")
            .bind(finished_at)
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
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
            .bind(r.observed_at)
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
        // A NULL `since` disables the lower bound, a NULL limit means LIMIT ALL.
        let rows = sqlx::query(
            "SELECT observed_at, value, status, expected_anomaly FROM ( \
               SELECT id, observed_at, value, status, expected_anomaly FROM measurements \
               WHERE monitor = $1 AND metric = $2 AND column_name = $3 \
                 AND ($4 IS NULL OR observed_at >= $4) \
               ORDER BY observed_at DESC, id DESC LIMIT $5 \
             ) AS newest ORDER BY observed_at ASC, id ASC",
        )
        .bind(monitor)
        .bind(metric)
        .bind(column)
        .bind(since)
        .bind(limit) // NULL is LIMIT ALL
        .fetch_all(&self.pool)
        .await
        .map_err(query_err(BACKEND, "read a series"))?;
        rows.iter()
            .map(|row| {
                Ok(SeriesPoint {
                    observed_at: get(row, "observed_at")?,
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
               FROM measurements WHERE monitor = $1 \
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
                    observed_at: get(row, "observed_at")?,
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
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(run_id)
        .bind(monitor)
        .bind(dataset)
        .bind(observed_at)
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
            "SELECT run_id, observed_at, columns FROM schema_snapshots WHERE monitor = $1 \
             ORDER BY observed_at DESC, id DESC LIMIT 1",
        )
        .bind(monitor)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err(BACKEND, "read the latest schema snapshot"))?;
        row.map(|row| {
            Ok(SchemaSnapshot {
                run_id: get(&row, "run_id")?,
                observed_at: get(&row, "observed_at")?,
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
                 observed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (monitor, metric, column_name, bucket_start) DO UPDATE SET \
                 bucket_seconds = excluded.bucket_seconds, value = excluded.value, \
                 observed_at = excluded.observed_at",
            )
            .bind(&r.monitor)
            .bind(&r.metric)
            .bind(r.column.as_deref().unwrap_or(""))
            .bind(r.bucket_start)
            .bind(r.bucket_seconds)
            .bind(r.value)
            .bind(r.observed_at)
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
             WHERE monitor = $1 AND metric = $2 AND column_name = $3 \
               AND ($4 IS NULL OR bucket_start >= $4) \
             ORDER BY bucket_start ASC",
        )
        .bind(monitor)
        .bind(metric)
        .bind(column)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err(BACKEND, "read buckets"))?;
        rows.iter()
            .map(|row| {
                Ok(BucketPoint {
                    bucket_start: get(row, "bucket_start")?,
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
        let max: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT MAX(bucket_start) FROM buckets WHERE monitor = $1 AND metric = $2 AND column_name = $3",
        )
        .bind(monitor)
        .bind(metric)
        .bind(column)
        .fetch_one(&self.pool)
        .await
        .map_err(query_err(BACKEND, "read the latest bucket"))?;
        Ok(max)
    }

    pub(super) async fn mark_expected(
        &self,
        monitor: &str,
        metric: &str,
        column: &str,
        observed_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE measurements SET expected_anomaly = TRUE \
             WHERE monitor = $1 AND metric = $2 AND column_name = $3 AND observed_at = $4 \
               AND NOT expected_anomaly",
        )
        .bind(monitor)
        .bind(metric)
        .bind(column)
        .bind(observed_at)
        .execute(&self.pool)
        .await
        .map_err(query_err(BACKEND, "mark a measurement expected"))?;
        Ok(done.rows_affected())
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}
