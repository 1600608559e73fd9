//! Warehouse connectors (PostgreSQL, MySQL/MariaDB, SQLite): read a table's schema from the catalog and
//! run its one profile statement. `profile.rs` turns that into the `Source` contract's `Profile`.
//!
//! Each monitor opens its own connection for one scan (no pool: a session's settings — read-only,
//! statement timeout — never leak into another monitor's work), reads the catalog, runs exactly one
//! profile statement inside a read-only transaction with a statement timeout, and closes.

pub mod dialect;
pub mod metadata;
pub mod profile;

use crate::config::{Source, SourceKind};
use crate::ident::Ident;
use checks::{Column, CountedBucket};
use dialect::{Dialect, ProfilePlan, Slot};
use secrecy::ExposeSecret;
use sqlx::{Connection, Row};
use std::str::FromStr;
use std::time::Duration;

/// Why a warehouse call failed. Messages never contain the connection URL or its password.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("cannot connect to source {source_name}: {message}")]
    Connect {
        source_name: String,
        message: String,
    },
    #[error("connecting to source {source_name} timed out after {seconds}s")]
    ConnectTimeout { source_name: String, seconds: u64 },
    #[error("query on source {source_name} failed: {message}")]
    Query {
        source_name: String,
        message: String,
    },
    #[error("query on source {source_name} timed out after {seconds}s")]
    QueryTimeout { source_name: String, seconds: u64 },
}

/// One open connection to a source.
pub enum Warehouse {
    Postgres(sqlx::PgConnection),
    Mysql {
        conn: sqlx::MySqlConnection,
        mariadb: bool,
    },
    Sqlite(sqlx::SqliteConnection),
}

/// What the catalog says of a table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    pub columns: Vec<Column>,
    /// Distinct-value estimates the planner keeps, by column (PostgreSQL only; absent when the table
    /// was never analyzed).
    pub distinct_estimates: std::collections::HashMap<String, f64>,
}

/// A profile's values, one per slot of the statement (NULL aggregates are `None`).
pub type ProfileValues = Vec<(Slot, Option<f64>)>;

impl Warehouse {
    /// Opens a connection within the source's connect timeout.
    pub async fn connect(source: &Source) -> Result<Warehouse, WarehouseError> {
        let fut = Self::connect_inner(source);
        match tokio::time::timeout(source.connect_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(WarehouseError::ConnectTimeout {
                source_name: source.name.clone(),
                seconds: source.connect_timeout.as_secs().max(1),
            }),
        }
    }

    async fn connect_inner(source: &Source) -> Result<Warehouse, WarehouseError> {
        let url = source.url.expose_secret();
        let err = |e: sqlx::Error| WarehouseError::Connect {
            source_name: source.name.clone(),
            message: crate::secret::redact(&e.to_string(), url),
        };
        match source.kind {
            SourceKind::Postgres => {
                let opts = sqlx::postgres::PgConnectOptions::from_str(url)
                    .map_err(err)?
                    .application_name("tidewatch");
                Ok(Warehouse::Postgres(
                    sqlx::PgConnection::connect_with(&opts).await.map_err(err)?,
                ))
            }
            SourceKind::Mysql => {
                let opts = sqlx::mysql::MySqlConnectOptions::from_str(url).map_err(err)?;
                let mut conn = sqlx::MySqlConnection::connect_with(&opts)
                    .await
                    .map_err(err)?;
                let version: String = sqlx::query_scalar("SELECT VERSION()")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(err)?;
                let mariadb = version.to_ascii_lowercase().contains("mariadb");
                Ok(Warehouse::Mysql { conn, mariadb })
            }
            SourceKind::Sqlite => {
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                    .map_err(err)?
                    .read_only(true)
                    .create_if_missing(false);
                Ok(Warehouse::Sqlite(
                    sqlx::SqliteConnection::connect_with(&opts)
                        .await
                        .map_err(err)?,
                ))
            }
            SourceKind::Kafka | SourceKind::Nats => Err(WarehouseError::Connect {
                source_name: source.name.clone(),
                message: format!("{} is a broker, not a warehouse", source.kind.as_str()),
            }),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Warehouse::Postgres(_) => Dialect::Postgres,
            Warehouse::Mysql { .. } => Dialect::Mysql,
            Warehouse::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// The table's columns in catalog order; empty when the table does not exist or is not visible.
    /// `schema` defaults to the connection's current schema (database for MySQL, `main` for SQLite).
    pub async fn columns(
        &mut self,
        source: &Source,
        schema: Option<&Ident>,
        table: &Ident,
    ) -> Result<Vec<Column>, WarehouseError> {
        Ok(self.catalog(source, schema, table).await?.columns)
    }

    /// The columns and, where the catalog keeps them for free, the planner's distinct-value
    /// estimates (PostgreSQL `pg_stats.n_distinct`, scaled by `pg_class.reltuples` when it is a
    /// fraction): one catalog query.
    pub async fn catalog(
        &mut self,
        source: &Source,
        schema: Option<&Ident>,
        table: &Ident,
    ) -> Result<Catalog, WarehouseError> {
        let fut = self.columns_inner(schema, table);
        let rows = with_timeout(source, fut).await?;
        let mut catalog = Catalog::default();
        for (name, data_type, estimate) in rows {
            if let Some(e) = estimate.filter(|e| e.is_finite() && *e >= 0.0) {
                catalog.distinct_estimates.insert(name.clone(), e.round());
            }
            catalog.columns.push(Column {
                name,
                data_type: data_type.to_ascii_lowercase(),
            });
        }
        Ok(catalog)
    }

    async fn columns_inner(
        &mut self,
        schema: Option<&Ident>,
        table: &Ident,
    ) -> Result<Vec<(String, String, Option<f64>)>, sqlx::Error> {
        let schema = schema.map(Ident::as_str);
        let table = table.as_str();
        match self {
            Warehouse::Postgres(conn) => {
                // n_distinct > 0 is a count, < 0 a fraction of the rows; 0 or absent (never analyzed,
                // reltuples -1) is unknown.
                sqlx::query_as(
                    "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)::text, \
                       CASE WHEN s.n_distinct > 0 THEN s.n_distinct::float8 \
                            WHEN s.n_distinct < 0 AND c.reltuples >= 0 THEN (-s.n_distinct * c.reltuples)::float8 \
                       END \
                     FROM pg_catalog.pg_attribute a \
                     JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                     LEFT JOIN pg_catalog.pg_stats s ON s.schemaname = n.nspname \
                       AND s.tablename = c.relname AND s.attname = a.attname AND NOT s.inherited \
                     WHERE n.nspname = COALESCE($1, current_schema()) AND c.relname = $2 \
                       AND c.relkind IN ('r', 'v', 'm', 'p', 'f') \
                       AND a.attnum > 0 AND NOT a.attisdropped \
                     ORDER BY a.attnum",
                )
                .bind(schema)
                .bind(table)
                .fetch_all(conn)
                .await
            }
            Warehouse::Mysql { conn, .. } => {
                sqlx::query_as(
                    "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), CAST(NULL AS DOUBLE) \
                     FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
                     ORDER BY ORDINAL_POSITION",
                )
                .bind(schema)
                .bind(table)
                .fetch_all(conn)
                .await
            }
            Warehouse::Sqlite(conn) => {
                // A table name that matches no table gives no rows, like the other catalogs.
                sqlx::query_as(
                    "SELECT name, type, CAST(NULL AS REAL) FROM pragma_table_info(?1, COALESCE(?2, 'main')) ORDER BY cid",
                )
                .bind(table)
                .bind(schema)
                .fetch_all(conn)
                .await
            }
        }
    }

    /// Runs the plan's single profile statement in a read-only transaction with the source's
    /// statement timeout.
    pub async fn profile(
        &mut self,
        source: &Source,
        plan: &ProfilePlan,
    ) -> Result<ProfileValues, WarehouseError> {
        let sql = self.dialect().profile_sql(plan);
        let fut = self.select(&sql.sql, sql.slots.len(), source.statement_timeout);
        let mut rows = with_timeout(source, fut).await?;
        let values = rows.pop().unwrap_or_default();
        Ok(sql.slots.into_iter().zip(values).collect())
    }

    /// Runs the plan's incremental statement (only new rows; see `Dialect::incremental_sql`) in a
    /// read-only transaction with the source's statement timeout.
    pub async fn incremental(
        &mut self,
        source: &Source,
        plan: &ProfilePlan,
    ) -> Result<ProfileValues, WarehouseError> {
        let Some(sql) = self.dialect().incremental_sql(plan) else {
            return Err(WarehouseError::Query {
                source_name: source.name.clone(),
                message: "an incremental profile needs a timestamp column and buckets".into(),
            });
        };
        let fut = self.select(&sql.sql, sql.slots.len(), source.statement_timeout);
        let mut rows = with_timeout(source, fut).await?;
        let values = rows.pop().unwrap_or_default();
        Ok(sql.slots.into_iter().zip(values).collect())
    }

    /// Rows (and non-NULL values per planned column) per bucket of `ts` in `[start, end)` with ONE
    /// grouped statement, oldest first, buckets without rows absent.
    pub async fn volume(
        &mut self,
        source: &Source,
        plan: &ProfilePlan,
        ts: &Ident,
        bucket: i64,
        start: i64,
        end: i64,
    ) -> Result<Vec<CountedBucket>, WarehouseError> {
        let sql = self.dialect().volume_sql(plan, ts, bucket, start, end);
        let fut = self.select(&sql, 3 + plan.columns.len(), source.statement_timeout);
        let rows = with_timeout(source, fut).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let start = r.first().copied().flatten()? as i64;
                let rows = r.get(1).copied().flatten()?;
                let newest = r.get(2).copied().flatten().map(|t| t as i64);
                let non_null = r.iter().skip(3).map(|v| v.unwrap_or(0.0)).collect();
                Some(CountedBucket {
                    start,
                    rows,
                    newest,
                    non_null,
                })
            })
            .collect())
    }

    /// Runs one SELECT whose `n` output columns are all doubles, in a read-only transaction with a
    /// statement timeout, in UTC (so naive timestamps read as UTC on every server).
    async fn select(
        &mut self,
        sql: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Vec<Option<f64>>>, sqlx::Error> {
        let ms = timeout.as_millis().max(1);
        match self {
            Warehouse::Postgres(conn) => {
                let mut tx = conn.begin().await?;
                // Integers we formatted ourselves: nothing from config reaches these statements.
                sqlx::raw_sql(&format!(
                    "SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = {ms}; SET LOCAL TIME ZONE 'UTC'"
                ))
                .execute(&mut *tx)
                .await?;
                let rows = sqlx::query(sql).fetch_all(&mut *tx).await?;
                tx.rollback().await?;
                rows.iter().map(|row| doubles(row, n)).collect()
            }
            Warehouse::Mysql { conn, mariadb } => {
                let limit = if *mariadb {
                    format!("SET SESSION max_statement_time = {}", ms as f64 / 1000.0)
                } else {
                    format!("SET SESSION max_execution_time = {ms}")
                };
                sqlx::raw_sql(&format!("{limit}; SET SESSION time_zone = '+00:00'"))
                    .execute(&mut *conn)
                    .await?;
                sqlx::raw_sql("START TRANSACTION READ ONLY")
                    .execute(&mut *conn)
                    .await?;
                let rows = sqlx::query(sql).fetch_all(&mut *conn).await;
                sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await?;
                rows?.iter().map(|row| doubles(row, n)).collect()
            }
            Warehouse::Sqlite(conn) => {
                // Opened read-only; SQLite has no server-side statement timeout, so the client-side
                // timeout in `with_timeout` is the bound.
                let rows = sqlx::query(sql).fetch_all(&mut *conn).await?;
                rows.iter().map(|row| doubles(row, n)).collect()
            }
        }
    }

    pub async fn close(self) {
        let _ = match self {
            Warehouse::Postgres(c) => c.close().await,
            Warehouse::Mysql { conn, .. } => conn.close().await,
            Warehouse::Sqlite(c) => c.close().await,
        };
    }
}

fn doubles<R: Row>(row: &R, n: usize) -> Result<Vec<Option<f64>>, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    (0..n).map(|i| row.try_get::<Option<f64>, _>(i)).collect()
}

/// Runs a warehouse call under the source's statement timeout plus a little slack, so a server that
/// ignores its own timeout (or SQLite, which has none) still cannot hang a scan.
async fn with_timeout<T>(
    source: &Source,
    fut: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, WarehouseError> {
    let limit = source.statement_timeout + Duration::from_secs(2);
    let url = source.url.expose_secret();
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(classify_query_error(source, &e, url)),
        Err(_) => Err(WarehouseError::QueryTimeout {
            source_name: source.name.clone(),
            seconds: source.statement_timeout.as_secs().max(1),
        }),
    }
}

fn classify_query_error(source: &Source, e: &sqlx::Error, url: &str) -> WarehouseError {
    let message = match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    };
    let lower = message.to_ascii_lowercase();
    if lower.contains("statement timeout")
        || lower.contains("max_statement_time")
        || lower.contains("maximum statement execution time")
        || lower.contains("max_execution_time")
    {
        return WarehouseError::QueryTimeout {
            source_name: source.name.clone(),
            seconds: source.statement_timeout.as_secs().max(1),
        };
    }
    WarehouseError::Query {
        source_name: source.name.clone(),
        message: crate::secret::redact(&message, url),
    }
}
