//! The state of `discover:` monitors: which tables each template has seen, their last change signal
//! and schema, and one transaction that stores a whole metadata cycle (every discovered table's
//! results and the new state together, so a crash never half-records a cycle).

use crate::backend::Backend;
use crate::codec::{self, CheckedWrite};
use crate::sql::{query_err, Sql};
use crate::{Inner, MonitorWrite, Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::{query, ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

/// One table a `discover:` monitor knows.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredTable {
    /// The template monitor's name.
    pub monitor: String,
    pub schema_name: String,
    pub table_name: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// When a cycle found it missing from the catalog (its "table dropped" row was reported then).
    pub dropped_at: Option<DateTime<Utc>>,
    /// The last change signal the catalog gave, and the cycle at which it last moved.
    pub change_token: Option<String>,
    pub changed_at: Option<DateTime<Utc>>,
    /// The last insert counter (PostgreSQL `n_tup_ins`).
    pub inserts: Option<f64>,
    /// The last schema seen.
    pub columns: Vec<checks::Column>,
}

/// Everything one metadata cycle of a `discover:` monitor stores, in ONE transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryWrite {
    pub run_id: i64,
    /// The template monitor.
    pub monitor: String,
    /// One per discovered table (each a monitor of its own), as [`Store::write_monitor`] takes them.
    pub writes: Vec<MonitorWrite>,
    /// Inserted or replaced, keyed by (monitor, schema, table); each of `monitor`.
    pub tables: Vec<DiscoveredTable>,
    /// (schema, table) pairs of `monitor` to forget (no longer included by the config).
    pub forget: Vec<(String, String)>,
}

const UPSERT_TABLE: &str = "INSERT INTO discovered_tables (monitor, schema_name, table_name, \
     first_seen, last_seen, dropped_at, change_token, changed_at, inserts, columns) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT (monitor, schema_name, table_name) DO UPDATE SET \
     first_seen = excluded.first_seen, last_seen = excluded.last_seen, \
     dropped_at = excluded.dropped_at, change_token = excluded.change_token, \
     changed_at = excluded.changed_at, inserts = excluded.inserts, columns = excluded.columns";

impl Store {
    /// The tables the `discover:` monitor `monitor` knows (dropped ones included), by schema and name.
    pub async fn discovered_tables(
        &self,
        monitor: &str,
    ) -> Result<Vec<DiscoveredTable>, StoreError> {
        on_backend!(self, s => s.discovered_tables(monitor).await)
    }

    /// Stores a metadata cycle in ONE transaction: every table's results (as [`Store::write_monitor`]
    /// would, the problems added to the run once), the upserted table states and the forgotten ones.
    /// An invalid record is refused before any statement runs.
    pub async fn write_discovery(&self, w: &DiscoveryWrite) -> Result<(), StoreError> {
        let checked: Vec<CheckedWrite<'_>> = w
            .writes
            .iter()
            .map(CheckedWrite::new)
            .collect::<Result<_, _>>()?;
        if let Some(m) = w.writes.iter().find(|m| m.run_id != w.run_id) {
            return Err(StoreError::Invalid {
                what: "discovery write",
                reason: format!("the write of {:?} is of run {}", m.monitor, m.run_id),
            });
        }
        let mut columns = Vec::with_capacity(w.tables.len());
        for t in &w.tables {
            if t.monitor != w.monitor {
                return Err(StoreError::Invalid {
                    what: "discovery write",
                    reason: format!("table of {:?} in the write of {:?}", t.monitor, w.monitor),
                });
            }
            if t.inserts.is_some_and(|v| !v.is_finite()) {
                return Err(StoreError::Invalid {
                    what: "discovered table",
                    reason: "inserts must be finite".into(),
                });
            }
            columns.push(
                serde_json::to_string(&t.columns).map_err(|e| StoreError::Invalid {
                    what: "discovered table columns",
                    reason: e.to_string(),
                })?,
            );
        }
        on_backend!(self, s => s.write_discovery(w, &checked, &columns).await)
    }
}

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
    Option<String>: for<'r> Decode<'r, DB>,
    Option<f64>: for<'r> Decode<'r, DB>,
    bool: Type<DB> + for<'r> Decode<'r, DB>,
{
    async fn discovered_tables(&self, monitor: &str) -> Result<Vec<DiscoveredTable>, StoreError> {
        let rows = query(
            "SELECT schema_name, table_name, first_seen, last_seen, dropped_at, change_token, \
             changed_at, inserts, columns FROM discovered_tables WHERE monitor = $1 \
             ORDER BY schema_name, table_name",
        )
        .bind(monitor)
        .fetch_all(self.pool())
        .await
        .map_err(query_err::<DB>("read discovered tables"))?;
        let opt_time = |row: &DB::Row, col: &'static str| -> Result<_, StoreError> {
            Self::get::<Option<DB::Time>>(row, col)?
                .map(|t| Self::decode_time(col, t))
                .transpose()
        };
        rows.iter()
            .map(|row| {
                let columns: String = Self::get(row, "columns")?;
                Ok(DiscoveredTable {
                    monitor: monitor.to_string(),
                    schema_name: Self::get(row, "schema_name")?,
                    table_name: Self::get(row, "table_name")?,
                    first_seen: Self::get_time(row, "first_seen")?,
                    last_seen: Self::get_time(row, "last_seen")?,
                    dropped_at: opt_time(row, "dropped_at")?,
                    change_token: Self::get(row, "change_token")?,
                    changed_at: opt_time(row, "changed_at")?,
                    inserts: Self::get(row, "inserts")?,
                    columns: codec::columns_from_text(DB::BACKEND, &columns)?,
                })
            })
            .collect()
    }

    async fn write_discovery(
        &self,
        w: &DiscoveryWrite,
        checked: &[CheckedWrite<'_>],
        columns: &[String],
    ) -> Result<(), StoreError> {
        let op = "write a discovery cycle";
        let mut tx = self.pool().begin().await.map_err(query_err::<DB>(op))?;
        let problems: i64 = checked.iter().map(|c| c.problems).sum();
        let done = query("UPDATE runs SET problems = COALESCE(problems, 0) + $1 WHERE id = $2")
            .bind(problems)
            .bind(w.run_id)
            .execute(&mut *tx)
            .await
            .map_err(query_err::<DB>(op))?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::RunNotFound(w.run_id));
        }
        for c in checked {
            Self::put_buckets(&mut tx, &c.buckets, op).await?;
            Self::put_measurements(&mut tx, &c.measurements, op).await?;
            if let Some(snapshot) = &c.snapshot {
                Self::put_snapshot(&mut tx, snapshot, op).await?;
            }
        }
        for (t, cols) in w.tables.iter().zip(columns) {
            query(UPSERT_TABLE)
                .bind(t.monitor.as_str())
                .bind(t.schema_name.as_str())
                .bind(t.table_name.as_str())
                .bind(DB::encode_time(t.first_seen))
                .bind(DB::encode_time(t.last_seen))
                .bind(t.dropped_at.map(DB::encode_time))
                .bind(t.change_token.as_deref())
                .bind(t.changed_at.map(DB::encode_time))
                .bind(t.inserts)
                .bind(cols.as_str())
                .execute(&mut *tx)
                .await
                .map_err(query_err::<DB>(op))?;
        }
        for (schema, table) in &w.forget {
            query(
                "DELETE FROM discovered_tables WHERE monitor = $1 AND schema_name = $2 \
                 AND table_name = $3",
            )
            .bind(w.monitor.as_str())
            .bind(schema.as_str())
            .bind(table.as_str())
            .execute(&mut *tx)
            .await
            .map_err(query_err::<DB>(op))?;
        }
        tx.commit().await.map_err(query_err::<DB>(op))
    }
}
