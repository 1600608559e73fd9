//! The one implementation of the store, generic over the sqlx driver. Every statement is written once
//! here; [`Backend`] supplies the timestamp codec. Records arrive checked (`codec.rs`).

use crate::backend::Backend;
use crate::codec::{
    self, CheckedBucket, CheckedMeasurement, CheckedSnapshot, CheckedWrite, StoredKey,
};
use crate::{
    BucketPoint, Lease, MeasurementRecord, Pruned, RunRecord, SchemaSnapshot, SeriesPoint,
    StoreError,
};
use chrono::{DateTime, Utc};
use sqlx::{query, ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

/// A pool of one backend and every operation of the store on it.
#[derive(Debug)]
pub(crate) struct Sql<DB: Backend> {
    pool: Pool<DB>,
}

/// Builds a [`StoreError::Query`] for `op`.
pub(crate) fn query_err<DB: Backend>(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query {
        backend: DB::BACKEND,
        op,
        source,
    }
}

impl<DB: Backend> Sql<DB> {
    pub(crate) fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

const INSERT_MEASUREMENT: &str =
    "INSERT INTO measurements (run_id, monitor, source, dataset, metric, \
     column_name, value, status, lower_bound, upper_bound, message, details, observed_at, score) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

const UPSERT_BUCKET: &str = "INSERT INTO buckets (monitor, metric, column_name, bucket_seconds, \
     bucket_start, value, observed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (monitor, metric, column_name, bucket_seconds, bucket_start) DO UPDATE SET \
     value = excluded.value, observed_at = excluded.observed_at";

const INSERT_SNAPSHOT: &str =
    "INSERT INTO schema_snapshots (run_id, monitor, dataset, observed_at, \
     columns) VALUES ($1, $2, $3, $4, $5)";

impl<DB> Sql<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    for<'q> &'q str: Encode<'q, DB>,
    str: Type<DB>,
    String: Type<DB> + for<'r> Decode<'r, DB>,
    i64: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
    f64: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
    for<'q> Option<f64>: Encode<'q, DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<DB::Time>: Encode<'q, DB>,
    bool: Type<DB> + for<'r> Decode<'r, DB>,
{
    pub fn new(pool: Pool<DB>) -> Sql<DB> {
        Sql { pool }
    }

    pub fn backend(&self) -> &'static str {
        DB::BACKEND
    }

    pub(crate) fn get<'r, T>(row: &'r DB::Row, col: &'static str) -> Result<T, StoreError>
    where
        T: Decode<'r, DB> + Type<DB>,
    {
        row.try_get(col).map_err(query_err::<DB>("decode a row"))
    }

    pub(crate) fn get_time(row: &DB::Row, col: &'static str) -> Result<DateTime<Utc>, StoreError> {
        Self::decode_time(col, Self::get(row, col)?)
    }

    pub(crate) fn decode_time(col: &'static str, v: DB::Time) -> Result<DateTime<Utc>, StoreError> {
        DB::decode_time(v).map_err(|reason| StoreError::Corrupt {
            backend: DB::BACKEND,
            what: col,
            reason,
        })
    }

    pub async fn begin_run(&self, started_at: DateTime<Utc>) -> Result<i64, StoreError> {
        let op = "begin a run";
        let row = query("INSERT INTO runs (started_at) VALUES ($1) RETURNING id")
            .bind(DB::encode_time(started_at))
            .fetch_one(&self.pool)
            .await
            .map_err(query_err::<DB>(op))?;
        Self::get(&row, "id")
    }

    pub async fn finish_run(
        &self,
        run_id: i64,
        finished_at: DateTime<Utc>,
        problems: i64,
    ) -> Result<(), StoreError> {
        let done = query("UPDATE runs SET finished_at = $1, problems = $2 WHERE id = $3")
            .bind(DB::encode_time(finished_at))
            .bind(problems)
            .bind(run_id)
            .execute(&self.pool)
            .await
            .map_err(query_err::<DB>("finish a run"))?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::RunNotFound(run_id));
        }
        Ok(())
    }

    pub async fn run(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError> {
        let row = query("SELECT id, started_at, finished_at, problems FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err::<DB>("read a run"))?;
        row.map(|row| {
            Ok(RunRecord {
                id: Self::get(&row, "id")?,
                started_at: Self::get_time(&row, "started_at")?,
                finished_at: Self::get::<Option<DB::Time>>(&row, "finished_at")?
                    .map(|t| Self::decode_time("finished_at", t))
                    .transpose()?,
                problems: Self::get(&row, "problems")?,
            })
        })
        .transpose()
    }

    pub(crate) async fn put_measurements(
        conn: &mut DB::Connection,
        rows: &[CheckedMeasurement<'_>],
        op: &'static str,
    ) -> Result<(), StoreError> {
        for m in rows {
            let r = m.rec;
            query(INSERT_MEASUREMENT)
                .bind(r.run_id)
                .bind(m.key.monitor)
                .bind(r.source.as_str())
                .bind(r.dataset.as_str())
                .bind(m.key.metric)
                .bind(m.key.column.as_str())
                .bind(r.value)
                .bind(r.status.as_str())
                .bind(r.lower)
                .bind(r.upper)
                .bind(r.message.as_str())
                .bind(m.details.as_deref())
                .bind(DB::encode_time(r.observed_at))
                .bind(r.score)
                .execute(&mut *conn)
                .await
                .map_err(query_err::<DB>(op))?;
        }
        Ok(())
    }

    pub(crate) async fn put_buckets(
        conn: &mut DB::Connection,
        rows: &[CheckedBucket<'_>],
        op: &'static str,
    ) -> Result<(), StoreError> {
        for b in rows {
            query(UPSERT_BUCKET)
                .bind(b.key.monitor)
                .bind(b.key.metric)
                .bind(b.key.column.as_str())
                .bind(b.rec.bucket_seconds)
                .bind(DB::encode_time(b.rec.bucket_start))
                .bind(b.rec.value)
                .bind(DB::encode_time(b.rec.observed_at))
                .execute(&mut *conn)
                .await
                .map_err(query_err::<DB>(op))?;
        }
        Ok(())
    }

    pub(crate) async fn put_snapshot(
        conn: &mut DB::Connection,
        s: &CheckedSnapshot<'_>,
        op: &'static str,
    ) -> Result<(), StoreError> {
        query(INSERT_SNAPSHOT)
            .bind(s.run_id)
            .bind(s.monitor)
            .bind(s.dataset)
            .bind(DB::encode_time(s.observed_at))
            .bind(s.columns.as_str())
            .execute(&mut *conn)
            .await
            .map_err(query_err::<DB>(op))?;
        Ok(())
    }

    /// One transaction; returning early drops it, which rolls it back.
    pub async fn write_monitor(&self, w: &CheckedWrite<'_>) -> Result<(), StoreError> {
        let op = "write a monitor's results";
        let mut tx = self.pool.begin().await.map_err(query_err::<DB>(op))?;
        // The run first: an unknown run is `RunNotFound` before anything is written.
        let done = query("UPDATE runs SET problems = COALESCE(problems, 0) + $1 WHERE id = $2")
            .bind(w.problems)
            .bind(w.run_id)
            .execute(&mut *tx)
            .await
            .map_err(query_err::<DB>(op))?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::RunNotFound(w.run_id));
        }
        Self::put_buckets(&mut tx, &w.buckets, op).await?;
        Self::put_measurements(&mut tx, &w.measurements, op).await?;
        if let Some(snapshot) = &w.snapshot {
            Self::put_snapshot(&mut tx, snapshot, op).await?;
        }
        tx.commit().await.map_err(query_err::<DB>(op))
    }

    pub async fn insert_measurements(
        &self,
        rows: &[CheckedMeasurement<'_>],
    ) -> Result<(), StoreError> {
        let op = "insert measurements";
        let mut tx = self.pool.begin().await.map_err(query_err::<DB>(op))?;
        Self::put_measurements(&mut tx, rows, op).await?;
        tx.commit().await.map_err(query_err::<DB>(op))
    }

    pub async fn upsert_buckets(&self, rows: &[CheckedBucket<'_>]) -> Result<(), StoreError> {
        let op = "upsert buckets";
        let mut tx = self.pool.begin().await.map_err(query_err::<DB>(op))?;
        Self::put_buckets(&mut tx, rows, op).await?;
        tx.commit().await.map_err(query_err::<DB>(op))
    }

    pub async fn save_schema(&self, s: &CheckedSnapshot<'_>) -> Result<(), StoreError> {
        let op = "save a schema snapshot";
        let mut conn = self.pool.acquire().await.map_err(query_err::<DB>(op))?;
        Self::put_snapshot(&mut conn, s, op).await
    }

    pub async fn series(
        &self,
        key: &StoredKey<'_>,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        // The inner query picks the newest `limit` points; the outer one puts them oldest first.
        // A NULL `since` disables the lower bound.
        let rows = query(
            "SELECT observed_at, value, status, expected_anomaly FROM ( \
               SELECT id, observed_at, value, status, expected_anomaly FROM measurements \
               WHERE monitor = $1 AND metric = $2 AND column_name = $3 \
                 AND ($4 IS NULL OR observed_at >= $4) \
               ORDER BY observed_at DESC, id DESC LIMIT $5 \
             ) AS newest ORDER BY observed_at ASC, id ASC",
        )
        .bind(key.monitor)
        .bind(key.metric)
        .bind(key.column.as_str())
        .bind(since.map(DB::encode_time))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err::<DB>("read a series"))?;
        rows.iter()
            .map(|row| {
                Ok(SeriesPoint {
                    observed_at: Self::get_time(row, "observed_at")?,
                    value: Self::get(row, "value")?,
                    status: codec::parse_status(DB::BACKEND, &Self::get::<String>(row, "status")?)?,
                    expected_anomaly: Self::get(row, "expected_anomaly")?,
                })
            })
            .collect()
    }

    pub async fn latest(&self, monitor: &str) -> Result<Vec<MeasurementRecord>, StoreError> {
        let rows = query(
            "SELECT run_id, monitor, source, dataset, metric, column_name, value, status, lower_bound, \
                    upper_bound, message, details, observed_at, score FROM ( \
               SELECT *, ROW_NUMBER() OVER ( \
                 PARTITION BY metric, column_name ORDER BY observed_at DESC, id DESC) AS rn \
               FROM measurements WHERE monitor = $1 \
             ) AS ranked WHERE rn = 1 ORDER BY metric, column_name",
        )
        .bind(monitor)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err::<DB>("read latest measurements"))?;
        rows.iter()
            .map(|row| {
                Ok(MeasurementRecord {
                    run_id: Self::get(row, "run_id")?,
                    key: codec::key_from_stored(
                        DB::BACKEND,
                        Self::get(row, "monitor")?,
                        &Self::get::<String>(row, "metric")?,
                        &Self::get::<String>(row, "column_name")?,
                    )?,
                    source: Self::get(row, "source")?,
                    dataset: Self::get(row, "dataset")?,
                    value: Self::get(row, "value")?,
                    status: codec::parse_status(DB::BACKEND, &Self::get::<String>(row, "status")?)?,
                    lower: Self::get(row, "lower_bound")?,
                    upper: Self::get(row, "upper_bound")?,
                    message: Self::get(row, "message")?,
                    details: codec::details_from_text(DB::BACKEND, Self::get(row, "details")?)?,
                    observed_at: Self::get_time(row, "observed_at")?,
                    score: Self::get(row, "score")?,
                })
            })
            .collect()
    }

    pub async fn latest_schema(&self, monitor: &str) -> Result<Option<SchemaSnapshot>, StoreError> {
        let row = query(
            "SELECT run_id, observed_at, columns FROM schema_snapshots WHERE monitor = $1 \
             ORDER BY observed_at DESC, id DESC LIMIT 1",
        )
        .bind(monitor)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err::<DB>("read the latest schema snapshot"))?;
        row.map(|row| {
            Ok(SchemaSnapshot {
                run_id: Self::get(&row, "run_id")?,
                observed_at: Self::get_time(&row, "observed_at")?,
                columns: codec::columns_from_text(
                    DB::BACKEND,
                    &Self::get::<String>(&row, "columns")?,
                )?,
            })
        })
        .transpose()
    }

    pub async fn buckets(
        &self,
        key: &StoredKey<'_>,
        bucket_seconds: i64,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<BucketPoint>, StoreError> {
        let rows = query(
            "SELECT bucket_start, value FROM buckets \
             WHERE monitor = $1 AND metric = $2 AND column_name = $3 AND bucket_seconds = $4 \
               AND ($5 IS NULL OR bucket_start >= $5) \
             ORDER BY bucket_start ASC",
        )
        .bind(key.monitor)
        .bind(key.metric)
        .bind(key.column.as_str())
        .bind(bucket_seconds)
        .bind(since.map(DB::encode_time))
        .fetch_all(&self.pool)
        .await
        .map_err(query_err::<DB>("read buckets"))?;
        rows.iter()
            .map(|row| {
                Ok(BucketPoint {
                    bucket_start: Self::get_time(row, "bucket_start")?,
                    value: Self::get(row, "value")?,
                })
            })
            .collect()
    }

    pub async fn latest_bucket(
        &self,
        key: &StoredKey<'_>,
        bucket_seconds: i64,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = query(
            "SELECT MAX(bucket_start) AS newest FROM buckets \
             WHERE monitor = $1 AND metric = $2 AND column_name = $3 AND bucket_seconds = $4",
        )
        .bind(key.monitor)
        .bind(key.metric)
        .bind(key.column.as_str())
        .bind(bucket_seconds)
        .fetch_one(&self.pool)
        .await
        .map_err(query_err::<DB>("read the latest bucket"))?;
        Self::get::<Option<DB::Time>>(&row, "newest")?
            .map(|t| Self::decode_time("bucket_start", t))
            .transpose()
    }

    pub async fn mark_expected(
        &self,
        key: &StoredKey<'_>,
        observed_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = query(
            "UPDATE measurements SET expected_anomaly = TRUE \
             WHERE monitor = $1 AND metric = $2 AND column_name = $3 AND observed_at = $4 \
               AND NOT expected_anomaly",
        )
        .bind(key.monitor)
        .bind(key.metric)
        .bind(key.column.as_str())
        .bind(DB::encode_time(observed_at))
        .execute(&self.pool)
        .await
        .map_err(query_err::<DB>("mark a measurement expected"))?;
        Ok(DB::rows_affected(&done))
    }

    /// One upsert: it inserts a free monitor's row, or takes over a row that expired or is the
    /// holder's own; a live lease of another holder matches neither, so nothing is returned.
    pub async fn try_lease(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError> {
        let row = query(
            "INSERT INTO monitor_leases (monitor, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (monitor) DO UPDATE SET \
               holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE monitor_leases.expires_at <= $4 OR monitor_leases.holder = excluded.holder \
             RETURNING holder",
        )
        .bind(lease.monitor.as_str())
        .bind(lease.holder.as_str())
        .bind(DB::encode_time(lease.expires_at))
        .bind(DB::encode_time(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err::<DB>("take a lease"))?;
        Ok(row.map(|_| lease.clone()))
    }

    pub async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        query("DELETE FROM monitor_leases WHERE monitor = $1 AND holder = $2")
            .bind(lease.monitor.as_str())
            .bind(lease.holder.as_str())
            .execute(&self.pool)
            .await
            .map_err(query_err::<DB>("release a lease"))?;
        Ok(())
    }

    async fn delete_before(
        conn: &mut DB::Connection,
        sql: &'static str,
        before: DB::Time,
    ) -> Result<u64, StoreError> {
        let done = query(sql)
            .bind(before)
            .execute(&mut *conn)
            .await
            .map_err(query_err::<DB>("prune old history"))?;
        Ok(DB::rows_affected(&done))
    }

    pub async fn prune(&self, before: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let op = "prune old history";
        let before = DB::encode_time(before);
        let mut tx = self.pool.begin().await.map_err(query_err::<DB>(op))?;
        let measurements = Self::delete_before(
            &mut tx,
            "DELETE FROM measurements WHERE observed_at < $1",
            before,
        )
        .await?;
        let buckets = Self::delete_before(
            &mut tx,
            "DELETE FROM buckets WHERE bucket_start < $1",
            before,
        )
        .await?;
        let schema_snapshots = Self::delete_before(
            &mut tx,
            "DELETE FROM schema_snapshots WHERE observed_at < $1 AND id NOT IN ( \
               SELECT id FROM ( \
                 SELECT id, ROW_NUMBER() OVER ( \
                   PARTITION BY monitor ORDER BY observed_at DESC, id DESC) AS rn \
                 FROM schema_snapshots \
               ) AS ranked WHERE rn = 1)",
            before,
        )
        .await?;
        // Last, so that only runs nothing references any more go: a run a kept snapshot references
        // stays (deleting it would cascade to the snapshot).
        let runs = Self::delete_before(
            &mut tx,
            "DELETE FROM runs WHERE started_at < $1 \
               AND NOT EXISTS (SELECT 1 FROM measurements WHERE measurements.run_id = runs.id) \
               AND NOT EXISTS (SELECT 1 FROM schema_snapshots WHERE schema_snapshots.run_id = runs.id)",
            before,
        )
        .await?;
        tx.commit().await.map_err(query_err::<DB>(op))?;
        Ok(Pruned {
            measurements,
            buckets,
            runs,
            schema_snapshots,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
