//! The metadata tier: what the catalog already knows of every table of some schemas, read with ONE
//! statement per batch of schemas and never touching a table's rows.
//!
//! | dialect | row estimate | size | change signals | schema |
//! |---|---|---|---|---|
//! | PostgreSQL | `pg_class.reltuples` (`n_live_tup` before the first ANALYZE) | `pg_total_relation_size` | `pg_stat_user_tables` `n_tup_ins/upd/del`, `n_live_tup`, last (auto)analyze; `relfilenode` (TRUNCATE) | `pg_attribute` |
//! | MySQL/MariaDB | `TABLES.TABLE_ROWS` | `DATA_LENGTH + INDEX_LENGTH` | `UPDATE_TIME` (and rows/size when it is NULL) | `COLUMNS` |
//! | Snowflake (SQL text) | `TABLES.ROW_COUNT` | `BYTES` | `LAST_ALTERED` | `COLUMNS` |
//! | BigQuery (SQL text) | `__TABLES__.row_count` | `size_bytes` | `last_modified_time` | `INFORMATION_SCHEMA.COLUMNS` |
//! | SQLite | none | none | none | `pragma_table_info` (the table list and the schema only) |
//!
//! Every statement returns one row per column of every table (a table without columns once), ordered
//! by schema, table and column position, with the same 15 output columns (see [`Field`]).
//! Schema names are bind parameters (BigQuery: quoted identifiers, its datasets are part of the
//! `FROM`), never pasted.

use super::dialect::Dialect;
use super::{with_timeout, Warehouse, WarehouseError};
use crate::config::Source;
use crate::ident::Ident;
use checks::Column;
use sqlx::{Connection, Row};

/// What the catalog says of one table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableMeta {
    pub schema: String,
    pub name: String,
    /// In catalog order.
    pub columns: Vec<Column>,
    /// The catalog's row estimate, and where it came from.
    pub row_estimate: Option<f64>,
    pub row_estimate_method: &'static str,
    pub size_bytes: Option<f64>,
    /// PostgreSQL's cumulative counters since the last statistics reset.
    pub inserts: Option<f64>,
    pub updates: Option<f64>,
    pub deletes: Option<f64>,
    pub live_rows: Option<f64>,
    /// Unix seconds of the last ANALYZE or autoanalyze (PostgreSQL).
    pub analyzed_at: Option<f64>,
    /// Changes whenever the table's data changed (counters, relfilenode, UPDATE_TIME, …); compared
    /// between cycles.
    pub change_token: Option<String>,
    /// Unix seconds of the last change where the catalog keeps one (MySQL `UPDATE_TIME`, Snowflake
    /// `LAST_ALTERED`), on the source's clock.
    pub last_change_at: Option<f64>,
}

/// One metadata read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetadataBatch {
    /// Tables in (schema, name) order.
    pub tables: Vec<TableMeta>,
    /// The connection's schema (PostgreSQL `current_schema()`, MySQL `DATABASE()`, SQLite `main`):
    /// what a monitor's `table:` without a schema means.
    pub default_schema: Option<String>,
    /// The source's clock, unix seconds.
    pub source_now: Option<f64>,
    /// Catalog statements sent (one per batch of schemas; session setup not counted).
    pub statements: usize,
}

/// The statement and its schema parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataSql {
    pub sql: String,
    /// Bound in order (PostgreSQL: one `text[]`, NULL when empty; others: one `?` each).
    pub schemas: Vec<String>,
}

/// The output columns of every metadata statement, in order.
#[derive(Debug, Clone, Copy)]
#[repr(usize)]
enum Field {
    Schema,
    Table,
    ColumnName,
    ColumnType,
    RowEstimate,
    SizeBytes,
    Inserts,
    Updates,
    Deletes,
    LiveRows,
    AnalyzedAt,
    ChangeToken,
    LastChangeAt,
    SourceNow,
    DefaultSchema,
}

const POSTGRES: &str = "WITH t AS ( \
 SELECT c.oid, n.nspname::text AS schema_name, c.relname::text AS table_name, \
  CASE WHEN c.reltuples >= 0 THEN c.reltuples::float8 END AS row_estimate, \
  pg_total_relation_size(c.oid)::float8 AS size_bytes, \
  s.n_tup_ins::float8 AS inserts, s.n_tup_upd::float8 AS updates, s.n_tup_del::float8 AS deletes, \
  s.n_live_tup::float8 AS live_rows, \
  extract(epoch FROM GREATEST(s.last_analyze, s.last_autoanalyze))::float8 AS analyzed_at, \
  concat_ws(':', s.n_tup_ins, s.n_tup_upd, s.n_tup_del, c.relfilenode) AS change_token \
 FROM pg_catalog.pg_class c \
 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
 LEFT JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid \
 WHERE n.nspname = ANY(COALESCE($1::text[], ARRAY[current_schema()::text])) \
  AND c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition) \
SELECT t.schema_name, t.table_name, a.attname::text, format_type(a.atttypid, a.atttypmod)::text, \
 t.row_estimate, t.size_bytes, t.inserts, t.updates, t.deletes, t.live_rows, t.analyzed_at, \
 t.change_token, NULL::float8, extract(epoch FROM now())::float8, current_schema()::text \
FROM t LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped \
ORDER BY t.schema_name, t.table_name, a.attnum";

/// The metadata statement of `dialect` over `schemas` (empty: the connection's schema). `None` for
/// BigQuery without schemas: it has no default dataset to read.
pub fn metadata_sql(dialect: Dialect, schemas: &[Ident]) -> Option<MetadataSql> {
    let names: Vec<String> = schemas.iter().map(|s| s.as_str().to_string()).collect();
    let placeholders = vec!["?"; names.len()].join(", ");
    let sql = match dialect {
        Dialect::Postgres => POSTGRES.to_string(),
        Dialect::Mysql => {
            let which = if names.is_empty() {
                "t.TABLE_SCHEMA = DATABASE()".to_string()
            } else {
                format!("t.TABLE_SCHEMA IN ({placeholders})")
            };
            format!(
                "SELECT CAST(t.TABLE_SCHEMA AS CHAR), CAST(t.TABLE_NAME AS CHAR), \
                 CAST(c.COLUMN_NAME AS CHAR), CAST(c.COLUMN_TYPE AS CHAR), \
                 CAST(t.TABLE_ROWS AS DOUBLE), CAST(t.DATA_LENGTH + t.INDEX_LENGTH AS DOUBLE), \
                 CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), \
                 CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), \
                 CAST(CONCAT_WS(':', COALESCE(UNIX_TIMESTAMP(t.UPDATE_TIME), ''), t.TABLE_ROWS, \
                   t.DATA_LENGTH + t.INDEX_LENGTH) AS CHAR), \
                 CAST(UNIX_TIMESTAMP(t.UPDATE_TIME) AS DOUBLE), CAST(UNIX_TIMESTAMP() AS DOUBLE), \
                 CAST(DATABASE() AS CHAR) \
                 FROM information_schema.TABLES t \
                 LEFT JOIN information_schema.COLUMNS c \
                   ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME \
                 WHERE {which} AND t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') \
                 ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME, c.ORDINAL_POSITION"
            )
        }
        // One schema (`main`): SQLite keeps no statistics, so only the table list and the columns.
        Dialect::Sqlite => "SELECT 'main', m.name, p.name, p.type, \
             CAST(NULL AS REAL), CAST(NULL AS REAL), CAST(NULL AS REAL), CAST(NULL AS REAL), \
             CAST(NULL AS REAL), CAST(NULL AS REAL), CAST(NULL AS REAL), CAST(NULL AS TEXT), \
             CAST(NULL AS REAL), CAST(strftime('%s', 'now') AS REAL), 'main' \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             ORDER BY m.name, p.cid"
            .to_string(),
        Dialect::Snowflake => {
            let which = if names.is_empty() {
                "t.TABLE_SCHEMA = CURRENT_SCHEMA()".to_string()
            } else {
                format!("t.TABLE_SCHEMA IN ({placeholders})")
            };
            format!(
                "SELECT t.TABLE_SCHEMA, t.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, \
                 CAST(t.ROW_COUNT AS DOUBLE), CAST(t.BYTES AS DOUBLE), \
                 CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), \
                 CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), \
                 TO_VARCHAR(DATE_PART(epoch_second, t.LAST_ALTERED)), \
                 CAST(DATE_PART(epoch_second, t.LAST_ALTERED) AS DOUBLE), \
                 CAST(DATE_PART(epoch_second, CURRENT_TIMESTAMP()) AS DOUBLE), CURRENT_SCHEMA() \
                 FROM INFORMATION_SCHEMA.TABLES t \
                 LEFT JOIN INFORMATION_SCHEMA.COLUMNS c \
                   ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME \
                 WHERE {which} AND t.TABLE_TYPE = 'BASE TABLE' \
                 ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME, c.ORDINAL_POSITION"
            )
        }
        // BigQuery's INFORMATION_SCHEMA.TABLES has no row count or size; the dataset's `__TABLES__`
        // meta-table has both and the last modification (milliseconds). One statement for every
        // dataset (UNION ALL), datasets quoted.
        Dialect::BigQuery => {
            if schemas.is_empty() {
                return None;
            }
            let parts: Vec<String> = schemas
                .iter()
                .map(|s| {
                    let ds = dialect.quote_ident(s);
                    format!(
                        "SELECT t.table_schema AS s, t.table_name AS n, c.column_name, c.data_type, \
                         CAST(m.row_count AS FLOAT64), CAST(m.size_bytes AS FLOAT64), \
                         CAST(NULL AS FLOAT64), CAST(NULL AS FLOAT64), CAST(NULL AS FLOAT64), \
                         CAST(NULL AS FLOAT64), CAST(NULL AS FLOAT64), \
                         CAST(m.last_modified_time AS STRING), m.last_modified_time / 1000, \
                         CAST(UNIX_SECONDS(CURRENT_TIMESTAMP()) AS FLOAT64), CAST(NULL AS STRING), \
                         c.ordinal_position AS o \
                         FROM {ds}.INFORMATION_SCHEMA.TABLES t \
                         LEFT JOIN {ds}.__TABLES__ m ON m.table_id = t.table_name \
                         LEFT JOIN {ds}.INFORMATION_SCHEMA.COLUMNS c ON c.table_name = t.table_name \
                         WHERE t.table_type = 'BASE TABLE'"
                    )
                })
                .collect();
            let sql = format!(
                "SELECT * EXCEPT (o) FROM ({}) ORDER BY s, n, o",
                parts.join(" UNION ALL ")
            );
            return Some(MetadataSql {
                sql,
                schemas: Vec::new(),
            });
        }
    };
    Some(MetadataSql {
        sql,
        schemas: if dialect == Dialect::Sqlite {
            Vec::new()
        } else {
            names
        },
    })
}

/// The metadata statement a `discover:` monitor of `source` sends, for `tidewatch explain`.
pub fn explain(source: &Source, schemas: &[Ident]) -> Option<String> {
    let dialect = match source.kind {
        crate::config::SourceKind::Postgres => Dialect::Postgres,
        crate::config::SourceKind::Mysql => Dialect::Mysql,
        crate::config::SourceKind::Sqlite => Dialect::Sqlite,
        crate::config::SourceKind::Kafka | crate::config::SourceKind::Nats => return None,
    };
    metadata_sql(dialect, schemas).map(|s| s.sql)
}

/// One output row, decoded.
type Raw = (Vec<Option<String>>, Vec<Option<f64>>);

const TEXT_FIELDS: [Field; 6] = [
    Field::Schema,
    Field::Table,
    Field::ColumnName,
    Field::ColumnType,
    Field::ChangeToken,
    Field::DefaultSchema,
];

fn decode<R: Row>(row: &R) -> Result<Raw, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut text = vec![None; 15];
    let mut num = vec![None; 15];
    for i in 0..15 {
        if TEXT_FIELDS.iter().any(|f| *f as usize == i) {
            text[i] = row.try_get::<Option<String>, _>(i)?;
        } else {
            num[i] = row.try_get::<Option<f64>, _>(i)?;
        }
    }
    Ok((text, num))
}

impl Warehouse {
    /// Reads the metadata of every table of `schemas` (empty: the connection's schema) with ONE
    /// catalog statement, in a read-only transaction bounded by the source's statement timeout.
    pub async fn metadata(
        &mut self,
        source: &Source,
        schemas: &[Ident],
    ) -> Result<MetadataBatch, WarehouseError> {
        let dialect = self.dialect();
        let Some(sql) = metadata_sql(dialect, schemas) else {
            return Err(WarehouseError::Query {
                source_name: source.name.clone(),
                message: "no schemas to read".into(),
            });
        };
        let fut = self.metadata_rows(&sql, source.statement_timeout);
        let rows = with_timeout(source, fut).await?;
        let mut batch = assemble(dialect, rows);
        batch.statements = 1;
        Ok(batch)
    }

    async fn metadata_rows(
        &mut self,
        sql: &MetadataSql,
        timeout: std::time::Duration,
    ) -> Result<Vec<Raw>, sqlx::Error> {
        let ms = timeout.as_millis().max(1);
        match self {
            Warehouse::Postgres(conn) => {
                let mut tx = conn.begin().await?;
                // Integers we formatted ourselves.
                sqlx::raw_sql(&format!(
                    "SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = {ms}"
                ))
                .execute(&mut *tx)
                .await?;
                let schemas = (!sql.schemas.is_empty()).then_some(&sql.schemas);
                let rows = sqlx::query(&sql.sql)
                    .bind(schemas)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.rollback().await?;
                rows.iter().map(decode).collect()
            }
            Warehouse::Mysql { conn, mariadb } => {
                let limit = if *mariadb {
                    format!("SET SESSION max_statement_time = {}", ms as f64 / 1000.0)
                } else {
                    // MySQL 8 caches TABLES statistics for a day unless told otherwise.
                    format!(
                        "SET SESSION max_execution_time = {ms}; SET SESSION information_schema_stats_expiry = 0"
                    )
                };
                sqlx::raw_sql(&format!("{limit}; SET SESSION time_zone = '+00:00'"))
                    .execute(&mut *conn)
                    .await?;
                sqlx::raw_sql("START TRANSACTION READ ONLY")
                    .execute(&mut *conn)
                    .await?;
                let mut q = sqlx::query(&sql.sql);
                for s in &sql.schemas {
                    q = q.bind(s);
                }
                let rows = q.fetch_all(&mut *conn).await;
                sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await?;
                rows?.iter().map(decode).collect()
            }
            Warehouse::Sqlite(conn) => {
                let rows = sqlx::query(&sql.sql).fetch_all(&mut *conn).await?;
                rows.iter().map(decode).collect()
            }
        }
    }
}

/// Groups the per-column rows into tables.
fn assemble(dialect: Dialect, rows: Vec<Raw>) -> MetadataBatch {
    let mut batch = MetadataBatch::default();
    for (text, num) in rows {
        let t = |f: Field| text[f as usize].clone();
        let n = |f: Field| num[f as usize].filter(|v| v.is_finite());
        let (Some(schema), Some(name)) = (t(Field::Schema), t(Field::Table)) else {
            continue;
        };
        if batch.source_now.is_none() {
            batch.source_now = n(Field::SourceNow);
            batch.default_schema = t(Field::DefaultSchema);
        }
        let same = batch
            .tables
            .last()
            .is_some_and(|l| l.schema == schema && l.name == name);
        if !same {
            let (row_estimate, method) = match (dialect, n(Field::RowEstimate)) {
                (Dialect::Postgres, Some(v)) => (Some(v), "pg_class.reltuples"),
                // Never analyzed (reltuples -1): the statistics system's live-row count.
                (Dialect::Postgres, None) => (n(Field::LiveRows), "pg_stat_user_tables.n_live_tup"),
                (Dialect::Mysql, v) => (v, "information_schema.TABLES.TABLE_ROWS"),
                (Dialect::Snowflake, v) => (v, "INFORMATION_SCHEMA.TABLES.ROW_COUNT"),
                (Dialect::BigQuery, v) => (v, "__TABLES__.row_count"),
                (Dialect::Sqlite, _) => (None, ""),
            };
            batch.tables.push(TableMeta {
                schema,
                name,
                columns: Vec::new(),
                row_estimate,
                row_estimate_method: method,
                size_bytes: n(Field::SizeBytes),
                inserts: n(Field::Inserts),
                updates: n(Field::Updates),
                deletes: n(Field::Deletes),
                live_rows: n(Field::LiveRows),
                analyzed_at: n(Field::AnalyzedAt),
                change_token: t(Field::ChangeToken).filter(|s| !s.is_empty()),
                last_change_at: n(Field::LastChangeAt),
            });
        }
        if let (Some(table), Some(column)) = (batch.tables.last_mut(), t(Field::ColumnName)) {
            table.columns.push(Column {
                name: column,
                data_type: t(Field::ColumnType)
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
            });
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<Ident> {
        names.iter().map(|n| Ident::new(n).unwrap()).collect()
    }

    #[test]
    fn schemas_are_parameters_not_text() {
        let evil = ids(&["pub'lic", "sales"]);
        for d in [Dialect::Postgres, Dialect::Mysql, Dialect::Snowflake] {
            let sql = metadata_sql(d, &evil).unwrap();
            assert!(!sql.sql.contains("pub'lic"), "{d:?}: {}", sql.sql);
            assert_eq!(sql.schemas, vec!["pub'lic", "sales"]);
        }
        let my = metadata_sql(Dialect::Mysql, &evil).unwrap();
        assert!(my.sql.contains("t.TABLE_SCHEMA IN (?, ?)"));
        assert!(metadata_sql(Dialect::Mysql, &[])
            .unwrap()
            .sql
            .contains("t.TABLE_SCHEMA = DATABASE()"));
    }

    #[test]
    fn snowflake_reads_row_count_bytes_and_last_altered() {
        let sql = metadata_sql(Dialect::Snowflake, &ids(&["PUBLIC"]))
            .unwrap()
            .sql;
        for part in [
            "CAST(t.ROW_COUNT AS DOUBLE)",
            "CAST(t.BYTES AS DOUBLE)",
            "DATE_PART(epoch_second, t.LAST_ALTERED)",
            "FROM INFORMATION_SCHEMA.TABLES t",
            "LEFT JOIN INFORMATION_SCHEMA.COLUMNS c",
            "WHERE t.TABLE_SCHEMA IN (?) AND t.TABLE_TYPE = 'BASE TABLE'",
            "ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME, c.ORDINAL_POSITION",
        ] {
            assert!(sql.contains(part), "{part} missing from {sql}");
        }
    }

    #[test]
    fn bigquery_quotes_datasets_and_unions_them() {
        assert_eq!(metadata_sql(Dialect::BigQuery, &[]), None);
        let sql = metadata_sql(Dialect::BigQuery, &ids(&["shop", "we`ird"])).unwrap();
        assert!(sql.schemas.is_empty());
        let s = sql.sql;
        assert!(s.contains("FROM `shop`.INFORMATION_SCHEMA.TABLES t"));
        assert!(s.contains("LEFT JOIN `shop`.__TABLES__ m ON m.table_id = t.table_name"));
        assert!(s.contains("FROM `we\\`ird`.INFORMATION_SCHEMA.TABLES t"));
        assert!(s.contains(" UNION ALL "));
        assert!(s.contains("CAST(m.row_count AS FLOAT64), CAST(m.size_bytes AS FLOAT64)"));
        assert!(s.ends_with("ORDER BY s, n, o"));
    }

    #[test]
    fn rows_group_into_tables() {
        let row = |s: &str, t: &str, c: Option<&str>, est: Option<f64>| -> Raw {
            let mut text = vec![None; 15];
            let mut num = vec![None; 15];
            text[0] = Some(s.to_string());
            text[1] = Some(t.to_string());
            text[2] = c.map(str::to_string);
            text[3] = c.map(|_| "INTEGER".to_string());
            text[14] = Some("public".into());
            num[4] = est;
            num[9] = Some(7.0);
            num[13] = Some(100.0);
            (text, num)
        };
        let b = assemble(
            Dialect::Postgres,
            vec![
                row("public", "a", Some("x"), Some(3.0)),
                row("public", "a", Some("y"), Some(3.0)),
                row("public", "b", None, None),
            ],
        );
        assert_eq!(b.tables.len(), 2);
        assert_eq!(b.tables[0].columns.len(), 2);
        assert_eq!(b.tables[0].columns[1].data_type, "integer");
        assert_eq!(b.tables[0].row_estimate, Some(3.0));
        assert_eq!(b.tables[1].columns.len(), 0);
        // Never analyzed: the live-row count stands in.
        assert_eq!(b.tables[1].row_estimate, Some(7.0));
        assert_eq!(
            b.tables[1].row_estimate_method,
            "pg_stat_user_tables.n_live_tup"
        );
        assert_eq!(b.default_schema.as_deref(), Some("public"));
        assert_eq!(b.source_now, Some(100.0));
    }
}
