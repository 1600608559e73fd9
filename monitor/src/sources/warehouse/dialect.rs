//! SQL dialects: identifier quoting and the one-statement table profile.
//!
//! Architecture Invariant: identifiers reach SQL only through [`Dialect::quote_ident`]. Values reach SQL
//! only as bind parameters, except integers we formatted ourselves.

use crate::ident::Ident;

/// A SQL dialect Tidewatch can generate profile statements for. Postgres, MySQL/MariaDB and SQLite have
/// live connectors; Snowflake and BigQuery are generated and unit-tested only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
    Snowflake,
    BigQuery,
}

/// One column to profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnPlan {
    pub name: Ident,
    /// Numeric columns also get min, max and mean.
    pub numeric: bool,
    /// Whether and how the statement counts distinct values (PostgreSQL `json`, `xml`, `point` and the
    /// other geometric types have no equality operator: `COUNT(DISTINCT)` on them fails).
    pub distinct: Distinct,
}

/// How a column's distinct values are counted. Exact counts sort or hash every value (the costliest
/// aggregate of a profile), so they are made only where a check or `distinct:` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distinct {
    /// Not counted in the statement.
    None,
    /// `COUNT(DISTINCT col)`.
    Exact,
    /// The warehouse's approximate distinct (Snowflake and BigQuery `APPROX_COUNT_DISTINCT`).
    Approximate,
}

/// Everything one profile statement computes over one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePlan {
    /// Schema (database for MySQL, dataset for BigQuery); `None` uses the connection's default.
    pub schema: Option<Ident>,
    pub table: Ident,
    pub columns: Vec<ColumnPlan>,
    /// Key column sets for duplicate metrics (the monitor's `key` and every uniqueness check's
    /// columns), each counted in this same statement.
    pub keys: Vec<Vec<Ident>>,
    /// The monitor's `where:` filter, a boolean SQL expression written by the user, applied to every
    /// statement over the table.
    pub filter: Option<String>,
    /// Timestamp column for freshness.
    pub timestamp: Option<Ident>,
    /// Buckets of the timestamp column counted inside this same statement (start, unix seconds; each
    /// `bucket_seconds` wide): a scan that only needs a few new buckets stays a single pass.
    pub buckets: Vec<i64>,
    pub bucket_seconds: i64,
    /// `sample:` in hundredths of a percent: column statistics from a block sample.
    pub sample: Option<u32>,
}

/// What one output column of a profile statement holds; indexes point into `ProfilePlan::columns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    RowCount,
    /// Rows whose columns of key set `k` are all non-NULL.
    KeyRows(usize),
    /// Distinct complete keys of key set `k`.
    KeyDistinct(usize),
    FreshnessSeconds,
    NonNull(usize),
    Distinct(usize),
    Min(usize),
    Max(usize),
    Mean(usize),
    /// Newest timestamp, unix seconds.
    NewestEpoch,
    /// Rows in `ProfilePlan::buckets[k]`.
    BucketRows(usize),
    /// Newest timestamp in bucket `k`, unix seconds.
    BucketNewest(usize),
    /// Non-NULL values of column `i` in bucket `k`.
    BucketNonNull(usize, usize),
    /// Rows in the block sample the column statistics came from (with `sample:`).
    SampledRows,
    /// Incremental profile: rows read (timestamp at or after the first bucket) whose columns of key
    /// set `k` are all non-NULL.
    NewKeyRows(usize),
    /// Incremental profile: distinct complete keys of key set `k` among the rows read.
    NewKeyDistinct(usize),
}

/// A generated statement and the meaning of each of its output columns, in order. Every output column
/// is a double (or NULL), so a connector decodes them all one way.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileSql {
    pub sql: String,
    pub slots: Vec<Slot>,
}

impl Dialect {
    /// The dialect's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Mysql => "MySQL/MariaDB",
            Dialect::Sqlite => "SQLite",
            Dialect::Snowflake => "Snowflake",
            Dialect::BigQuery => "BigQuery",
        }
    }

    /// Quotes an identifier: doubled double quotes for ANSI dialects, doubled backticks for MySQL,
    /// backslash escapes inside backticks for BigQuery.
    pub fn quote_ident(self, ident: &Ident) -> String {
        let s = ident.as_str();
        match self {
            Dialect::Postgres | Dialect::Sqlite | Dialect::Snowflake => {
                format!("\"{}\"", s.replace('"', "\"\""))
            }
            Dialect::Mysql => format!("`{}`", s.replace('`', "``")),
            Dialect::BigQuery => {
                format!("`{}`", s.replace('\\', "\\\\").replace('`', "\\`"))
            }
        }
    }

    /// `schema.table`, each part quoted.
    pub fn qualified(self, schema: Option<&Ident>, table: &Ident) -> String {
        match schema {
            Some(s) => format!("{}.{}", self.quote_ident(s), self.quote_ident(table)),
            None => self.quote_ident(table),
        }
    }

    fn to_double(self, expr: &str) -> String {
        match self {
            Dialect::Postgres => format!("CAST({expr} AS DOUBLE PRECISION)"),
            Dialect::Mysql => format!("CAST({expr} AS DOUBLE)"),
            Dialect::Sqlite => format!("CAST({expr} AS REAL)"),
            Dialect::Snowflake => format!("CAST({expr} AS DOUBLE)"),
            Dialect::BigQuery => format!("CAST({expr} AS FLOAT64)"),
        }
    }

    /// Count of rows where `cond` holds.
    fn count_if(self, cond: &str) -> String {
        match self {
            Dialect::Postgres => format!("COUNT(*) FILTER (WHERE {cond})"),
            Dialect::Snowflake => format!("COUNT_IF({cond})"),
            Dialect::BigQuery => format!("COUNTIF({cond})"),
            Dialect::Mysql | Dialect::Sqlite => format!("COUNT(CASE WHEN {cond} THEN 1 END)"),
        }
    }

    /// Distinct complete (all non-NULL) key tuples. Rows with a NULL in any key column are not counted,
    /// the way a UNIQUE constraint treats them.
    /// Rows whose key columns are all non-NULL: the rows a key's duplicates are counted among.
    fn count_key_rows(self, quoted: &[String]) -> String {
        match quoted {
            [one] => format!("COUNT({one})"),
            _ => self.count_if(&all_not_null(quoted)),
        }
    }

    fn count_distinct_key(self, quoted: &[String]) -> String {
        if let [one] = quoted {
            return format!("COUNT(DISTINCT {one})");
        }
        let all_present = all_not_null(quoted);
        match self {
            Dialect::Postgres => {
                format!(
                    "COUNT(DISTINCT ({})) FILTER (WHERE {all_present})",
                    quoted.join(", ")
                )
            }
            // Both skip tuples with any NULL, which is exactly our rule.
            Dialect::Mysql | Dialect::Snowflake => format!("COUNT(DISTINCT {})", quoted.join(", ")),
            // quote() renders each value as an SQL literal, so the join is injective.
            Dialect::Sqlite => {
                let parts: Vec<String> = quoted.iter().map(|q| format!("quote({q})")).collect();
                format!(
                    "COUNT(DISTINCT CASE WHEN {all_present} THEN {} END)",
                    parts.join(" || ',' || ")
                )
            }
            Dialect::BigQuery => format!(
                "COUNT(DISTINCT IF({all_present}, TO_JSON_STRING(STRUCT({})), NULL))",
                quoted.join(", ")
            ),
        }
    }

    /// Seconds from the newest timestamp to the source's own clock.
    fn freshness(self, ts: &str) -> String {
        match self {
            Dialect::Postgres => {
                format!("EXTRACT(EPOCH FROM (CURRENT_TIMESTAMP - CAST(MAX({ts}) AS TIMESTAMPTZ)))")
            }
            Dialect::Mysql => format!("TIMESTAMPDIFF(MICROSECOND, MAX({ts}), NOW(6)) / 1000000"),
            // Text timestamps (ISO 8601) go through julianday; integer or real ones are unix seconds.
            Dialect::Sqlite => format!(
                "CASE WHEN typeof(MAX({ts})) IN ('integer', 'real') \
                 THEN CAST(strftime('%s', 'now') AS REAL) - MAX({ts}) \
                 ELSE (julianday('now') - julianday(MAX({ts}))) * 86400.0 END"
            ),
            Dialect::Snowflake => {
                format!("DATEDIFF('millisecond', MAX({ts}), CURRENT_TIMESTAMP()) / 1000.0")
            }
            Dialect::BigQuery => format!(
                "TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), TIMESTAMP(MAX({ts})), MILLISECOND) / 1000.0"
            ),
        }
    }

    /// The single statement that profiles a table: one scan, every metric. With `sample:` the column
    /// statistics (non-NULL counts, min/max/mean) come from a second derived table over a block sample
    /// of the table (`TABLESAMPLE`), next to the sample's own row count; everything else stays exact.
    pub fn profile_sql(self, plan: &ProfilePlan) -> ProfileSql {
        let mut exact: Vec<(String, Slot)> = Vec::new();
        let mut sampled: Vec<(String, Slot)> = Vec::new();
        let sample = plan.sample.and_then(|h| self.tablesample(h));
        exact.push(("COUNT(*)".into(), Slot::RowCount));
        if let Some(ts) = &plan.timestamp {
            let q = self.quote_ident(ts);
            exact.push((self.freshness(&q), Slot::FreshnessSeconds));
            let epoch = self.epoch_seconds(&q);
            // The epoch of MAX(ts), not MAX of the epochs: the server computes MAX(ts) once for
            // freshness and this, with no per-row work.
            exact.push((self.epoch_seconds(&format!("MAX({q})")), Slot::NewestEpoch));
            for (k, start) in plan.buckets.iter().enumerate() {
                let end = start + plan.bucket_seconds;
                let inside = format!(
                    "{} AND {}",
                    self.ts_compare(&q, ">=", *start),
                    self.ts_compare(&q, "<", end)
                );
                exact.push((self.count_if(&inside), Slot::BucketRows(k)));
                exact.push((
                    format!("MAX(CASE WHEN {inside} THEN {epoch} END)"),
                    Slot::BucketNewest(k),
                ));
                for (i, col) in plan.columns.iter().enumerate() {
                    let c = self.quote_ident(&col.name);
                    exact.push((
                        format!("COUNT(CASE WHEN {inside} THEN {c} END)"),
                        Slot::BucketNonNull(k, i),
                    ));
                }
            }
        }
        for (k, key) in plan.keys.iter().enumerate() {
            let quoted: Vec<String> = key.iter().map(|c| self.quote_ident(c)).collect();
            exact.push((self.count_key_rows(&quoted), Slot::KeyRows(k)));
            exact.push((self.count_distinct_key(&quoted), Slot::KeyDistinct(k)));
        }
        // Column statistics go to the sample when there is one; distinct counts describe the whole
        // table and never come from it.
        let to_sample = sample.is_some();
        if to_sample {
            sampled.push(("COUNT(*)".into(), Slot::SampledRows));
        }
        for (i, col) in plan.columns.iter().enumerate() {
            let q = self.quote_ident(&col.name);
            let stats = if to_sample { &mut sampled } else { &mut exact };
            stats.push((format!("COUNT({q})"), Slot::NonNull(i)));
            match col.distinct {
                Distinct::Exact => exact.push((format!("COUNT(DISTINCT {q})"), Slot::Distinct(i))),
                Distinct::Approximate => {
                    exact.push((format!("APPROX_COUNT_DISTINCT({q})"), Slot::Distinct(i)))
                }
                Distinct::None => {}
            }
            if col.numeric {
                let stats = if to_sample { &mut sampled } else { &mut exact };
                stats.push((format!("MIN({q})"), Slot::Min(i)));
                stats.push((format!("MAX({q})"), Slot::Max(i)));
                stats.push((format!("AVG({q})"), Slot::Mean(i)));
            }
        }
        let filter = match &plan.filter {
            Some(f) => format!(" WHERE ({f})"),
            None => String::new(),
        };
        let table = self.qualified(plan.schema.as_ref(), &plan.table);
        let mut slots = Vec::new();
        let mut render = |list: Vec<(String, Slot)>| -> String {
            list.into_iter()
                .map(|(expr, slot)| {
                    let out = format!("{} AS c{}", self.to_double(&expr), slots.len());
                    slots.push(slot);
                    out
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let exact = render(exact);
        let sql = match sample {
            None => format!("SELECT {exact} FROM {table}{filter}"),
            Some(tablesample) => format!(
                "SELECT e.*, s.* FROM (SELECT {exact} FROM {table}{filter}) e CROSS JOIN (SELECT {} FROM {table} {tablesample}{filter}) s",
                render(sampled)
            ),
        };
        ProfileSql { sql, slots }
    }

    /// The block-sampling clause for `hundredths` of a percent, where the dialect has one.
    pub fn tablesample(self, hundredths: u32) -> Option<String> {
        let percent = format!("{}.{:02}", hundredths / 100, hundredths % 100);
        match self {
            Dialect::Postgres | Dialect::Snowflake => {
                Some(format!("TABLESAMPLE SYSTEM ({percent})"))
            }
            Dialect::BigQuery => Some(format!("TABLESAMPLE SYSTEM ({percent} PERCENT)")),
            Dialect::Mysql | Dialect::Sqlite => None,
        }
    }

    /// The incremental profile: ONE statement that reads only the new data. A derived table counts the
    /// plan's buckets (rows, newest timestamp, non-NULL values per column) over `ts >= first bucket`
    /// — a sargable predicate an index on the timestamp column answers — and a second one-row derived
    /// table takes the newest timestamp of the whole table for freshness (an index answers `MAX` too).
    /// The first derived table also counts each key set's rows and distinct keys among the rows it
    /// reads: the new data's duplicates. Table-wide metrics (row count, NULL counts, duplicates over
    /// the whole table, min/max/mean) are left to the full profile. Slots: freshness, newest, the
    /// bucket slots, then the key slots.
    pub fn incremental_sql(self, plan: &ProfilePlan) -> Option<ProfileSql> {
        let ts = plan.timestamp.as_ref()?;
        let first = *plan.buckets.first()?;
        let q = self.quote_ident(ts);
        let table = self.qualified(plan.schema.as_ref(), &plan.table);
        let mut fresh: Vec<String> = Vec::new();
        let mut window: Vec<String> = Vec::new();
        let mut slots = Vec::new();
        let mut col = |list: &mut Vec<String>, expr: String, slot: Slot| {
            list.push(format!("{} AS c{}", self.to_double(&expr), slots.len()));
            slots.push(slot);
        };
        col(&mut fresh, self.freshness(&q), Slot::FreshnessSeconds);
        col(
            &mut fresh,
            self.epoch_seconds(&format!("MAX({q})")),
            Slot::NewestEpoch,
        );
        let epoch = self.epoch_seconds(&q);
        for (k, start) in plan.buckets.iter().enumerate() {
            let end = start + plan.bucket_seconds;
            let inside = format!(
                "{} AND {}",
                self.ts_compare(&q, ">=", *start),
                self.ts_compare(&q, "<", end)
            );
            col(&mut window, self.count_if(&inside), Slot::BucketRows(k));
            col(
                &mut window,
                format!("MAX(CASE WHEN {inside} THEN {epoch} END)"),
                Slot::BucketNewest(k),
            );
            for (i, c) in plan.columns.iter().enumerate() {
                let c = self.quote_ident(&c.name);
                col(
                    &mut window,
                    format!("COUNT(CASE WHEN {inside} THEN {c} END)"),
                    Slot::BucketNonNull(k, i),
                );
            }
        }
        for (k, key) in plan.keys.iter().enumerate() {
            let quoted: Vec<String> = key.iter().map(|c| self.quote_ident(c)).collect();
            col(
                &mut window,
                self.count_key_rows(&quoted),
                Slot::NewKeyRows(k),
            );
            col(
                &mut window,
                self.count_distinct_key(&quoted),
                Slot::NewKeyDistinct(k),
            );
        }
        let filter = |extra: Option<String>| {
            let parts: Vec<String> = plan
                .filter
                .iter()
                .map(|f| format!("({f})"))
                .chain(extra)
                .collect();
            if parts.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", parts.join(" AND "))
            }
        };
        let sql = format!(
            "SELECT f.*, w.* FROM (SELECT {} FROM {table}{}) f CROSS JOIN (SELECT {} FROM {table}{}) w",
            fresh.join(", "),
            filter(None),
            window.join(", "),
            filter(Some(self.ts_compare(&q, ">=", first))),
        );
        Some(ProfileSql { sql, slots })
    }

    /// Seconds since the unix epoch of a timestamp column's value, as an integer-valued expression.
    fn epoch_seconds(self, ts: &str) -> String {
        match self {
            Dialect::Postgres => format!("EXTRACT(EPOCH FROM {ts})"),
            Dialect::Mysql => format!("UNIX_TIMESTAMP({ts})"),
            Dialect::Sqlite => format!(
                "CAST(CASE WHEN typeof({ts}) IN ('integer', 'real') THEN {ts} ELSE strftime('%s', {ts}) END AS INTEGER)"
            ),
            Dialect::Snowflake => format!("DATE_PART(EPOCH_SECOND, {ts})"),
            Dialect::BigQuery => format!("UNIX_SECONDS(TIMESTAMP({ts}))"),
        }
    }

    /// `ts <op> <epoch seconds>` in a form the server can answer from an index where it has one.
    fn ts_compare(self, ts: &str, op: &str, epoch: i64) -> String {
        match self {
            Dialect::Postgres => format!("{ts} {op} to_timestamp({epoch})"),
            Dialect::Mysql => format!("{ts} {op} FROM_UNIXTIME({epoch})"),
            Dialect::Sqlite => format!("{} {op} {epoch}", self.epoch_seconds(ts)),
            Dialect::Snowflake => format!("{ts} {op} TO_TIMESTAMP({epoch})"),
            Dialect::BigQuery => format!("TIMESTAMP({ts}) {op} TIMESTAMP_SECONDS({epoch})"),
        }
    }

    /// ONE grouped statement counting rows per time bucket of `ts` in `[start, end)` (unix seconds,
    /// `bucket` seconds wide, aligned to the epoch). Output: bucket start, row count, the newest
    /// timestamp in the bucket (unix seconds), then the non-NULL count of each planned column, all
    /// doubles.
    /// Buckets without rows are absent; the caller fills them with zeros.
    pub fn volume_sql(
        self,
        plan: &ProfilePlan,
        ts: &Ident,
        bucket: i64,
        start: i64,
        end: i64,
    ) -> String {
        let q = self.quote_ident(ts);
        let bucket_expr = match self {
            // Integer division; SQLite builds without math functions have no FLOOR.
            Dialect::Sqlite => format!("({} / {bucket}) * {bucket}", self.epoch_seconds(&q)),
            _ => format!("FLOOR({} / {bucket}) * {bucket}", self.epoch_seconds(&q)),
        };
        let non_null: String = plan
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let count = format!("COUNT({})", self.quote_ident(&c.name));
                format!(", {} AS v{i}", self.to_double(&count))
            })
            .collect();
        let filter = match &plan.filter {
            Some(f) => format!("({f}) AND "),
            None => String::new(),
        };
        format!(
            "SELECT {} AS b, {} AS n, {} AS newest{non_null} FROM {} WHERE {filter}{} AND {} GROUP BY 1 ORDER BY 1",
            self.to_double(&bucket_expr),
            self.to_double("COUNT(*)"),
            self.to_double(&format!("MAX({})", self.epoch_seconds(&q))),
            self.qualified(plan.schema.as_ref(), &plan.table),
            self.ts_compare(&q, ">=", start),
            self.ts_compare(&q, "<", end),
        )
    }

    /// Whether the dialect has an approximate distinct count (then unrequested columns get one).
    pub fn has_approximate_distinct(self) -> bool {
        matches!(self, Dialect::Snowflake | Dialect::BigQuery)
    }

    /// Whether values of a catalog type can be compared for equality (so `COUNT(DISTINCT)` and keys
    /// work). PostgreSQL's `json`, `xml` and geometric types (and arrays of them) cannot; every type of
    /// the other dialects can.
    pub fn has_equality(self, data_type: &str) -> bool {
        let t = data_type.to_ascii_lowercase();
        let base = t
            .trim_end_matches("[]")
            .split(['(', ' '])
            .next()
            .unwrap_or("");
        match self {
            Dialect::Postgres => !matches!(
                base,
                "json" | "xml" | "point" | "line" | "lseg" | "box" | "path" | "polygon" | "circle"
            ),
            _ => true,
        }
    }

    /// Whether a catalog type name (as the catalog spells it, any case) is numeric in this dialect.
    pub fn is_numeric_type(self, data_type: &str) -> bool {
        let t = data_type.to_ascii_lowercase();
        let base = t.split(['(', ' ']).next().unwrap_or("");
        match self {
            Dialect::Postgres => matches!(
                base,
                "smallint"
                    | "integer"
                    | "bigint"
                    | "numeric"
                    | "decimal"
                    | "real"
                    | "double"
                    | "int2"
                    | "int4"
                    | "int8"
                    | "float4"
                    | "float8"
            ),
            Dialect::Mysql => matches!(
                base,
                "tinyint"
                    | "smallint"
                    | "mediumint"
                    | "int"
                    | "integer"
                    | "bigint"
                    | "decimal"
                    | "numeric"
                    | "float"
                    | "double"
                    | "real"
            ),
            // SQLite type affinity rules (https://sqlite.org/datatype3.html, section 3.1).
            Dialect::Sqlite => {
                t.contains("int")
                    || t.contains("real")
                    || t.contains("floa")
                    || t.contains("doub")
                    || t.contains("numeric")
                    || t.contains("decimal")
            }
            Dialect::Snowflake => matches!(
                base,
                "number"
                    | "decimal"
                    | "numeric"
                    | "int"
                    | "integer"
                    | "bigint"
                    | "smallint"
                    | "tinyint"
                    | "byteint"
                    | "float"
                    | "float4"
                    | "float8"
                    | "double"
                    | "real"
            ),
            Dialect::BigQuery => {
                matches!(
                    base,
                    "int64" | "numeric" | "bignumeric" | "float64" | "integer" | "float"
                )
            }
        }
    }
}

fn all_not_null(quoted: &[String]) -> String {
    quoted
        .iter()
        .map(|q| format!("{q} IS NOT NULL"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test inputs are literals known to be valid
    use super::*;

    fn id(s: &str) -> Ident {
        Ident::new(s).unwrap()
    }

    fn plan(key: &[&str]) -> ProfilePlan {
        ProfilePlan {
            schema: Some(id("shop")),
            table: id("orders"),
            columns: vec![
                ColumnPlan {
                    name: id("email"),
                    numeric: false,
                    distinct: Distinct::Exact,
                },
                ColumnPlan {
                    name: id("amount"),
                    numeric: true,
                    distinct: Distinct::Exact,
                },
            ],
            keys: if key.is_empty() {
                Vec::new()
            } else {
                vec![key.iter().map(|k| id(k)).collect()]
            },
            filter: None,
            timestamp: Some(id("created_at")),
            buckets: Vec::new(),
            bucket_seconds: 3600,
            sample: None,
        }
    }

    #[test]
    fn quoting_doubles_or_escapes_the_quote_character() {
        let evil = id("x\"; DROP TABLE t; --`");
        assert_eq!(
            Dialect::Postgres.quote_ident(&evil),
            "\"x\"\"; DROP TABLE t; --`\""
        );
        assert_eq!(
            Dialect::Sqlite.quote_ident(&evil),
            "\"x\"\"; DROP TABLE t; --`\""
        );
        assert_eq!(
            Dialect::Mysql.quote_ident(&evil),
            "`x\"; DROP TABLE t; --```"
        );
        assert_eq!(Dialect::BigQuery.quote_ident(&id("a`b\\c")), "`a\\`b\\\\c`");
    }

    #[test]
    fn postgres_profile_is_one_statement_with_every_metric() {
        let p = Dialect::Postgres.profile_sql(&plan(&["id"]));
        assert_eq!(
            p.sql,
            "SELECT CAST(COUNT(*) AS DOUBLE PRECISION) AS c0, \
             CAST(EXTRACT(EPOCH FROM (CURRENT_TIMESTAMP - CAST(MAX(\"created_at\") AS TIMESTAMPTZ))) AS DOUBLE PRECISION) AS c1, \
             CAST(EXTRACT(EPOCH FROM MAX(\"created_at\")) AS DOUBLE PRECISION) AS c2, \
             CAST(COUNT(\"id\") AS DOUBLE PRECISION) AS c3, \
             CAST(COUNT(DISTINCT \"id\") AS DOUBLE PRECISION) AS c4, \
             CAST(COUNT(\"email\") AS DOUBLE PRECISION) AS c5, \
             CAST(COUNT(DISTINCT \"email\") AS DOUBLE PRECISION) AS c6, \
             CAST(COUNT(\"amount\") AS DOUBLE PRECISION) AS c7, \
             CAST(COUNT(DISTINCT \"amount\") AS DOUBLE PRECISION) AS c8, \
             CAST(MIN(\"amount\") AS DOUBLE PRECISION) AS c9, \
             CAST(MAX(\"amount\") AS DOUBLE PRECISION) AS c10, \
             CAST(AVG(\"amount\") AS DOUBLE PRECISION) AS c11 \
             FROM \"shop\".\"orders\""
        );
        assert_eq!(
            p.slots,
            vec![
                Slot::RowCount,
                Slot::FreshnessSeconds,
                Slot::NewestEpoch,
                Slot::KeyRows(0),
                Slot::KeyDistinct(0),
                Slot::NonNull(0),
                Slot::Distinct(0),
                Slot::NonNull(1),
                Slot::Distinct(1),
                Slot::Min(1),
                Slot::Max(1),
                Slot::Mean(1),
            ]
        );
    }

    #[test]
    fn composite_keys_per_dialect() {
        let sql = |d: Dialect| d.profile_sql(&plan(&["a", "b"])).sql;
        assert!(sql(Dialect::Postgres)
            .contains("COUNT(*) FILTER (WHERE \"a\" IS NOT NULL AND \"b\" IS NOT NULL)"));
        assert!(sql(Dialect::Postgres).contains(
            "COUNT(DISTINCT (\"a\", \"b\")) FILTER (WHERE \"a\" IS NOT NULL AND \"b\" IS NOT NULL)"
        ));
        assert!(sql(Dialect::Mysql).contains("COUNT(DISTINCT `a`, `b`)"));
        assert!(sql(Dialect::Mysql)
            .contains("COUNT(CASE WHEN `a` IS NOT NULL AND `b` IS NOT NULL THEN 1 END)"));
        assert!(sql(Dialect::Sqlite).contains(
            "COUNT(DISTINCT CASE WHEN \"a\" IS NOT NULL AND \"b\" IS NOT NULL THEN quote(\"a\") || ',' || quote(\"b\") END)"
        ));
    }

    #[test]
    fn snowflake_profile_text() {
        let p = Dialect::Snowflake.profile_sql(&plan(&["a", "b"]));
        assert_eq!(
            p.sql,
            "SELECT CAST(COUNT(*) AS DOUBLE) AS c0, \
             CAST(DATEDIFF('millisecond', MAX(\"created_at\"), CURRENT_TIMESTAMP()) / 1000.0 AS DOUBLE) AS c1, \
             CAST(DATE_PART(EPOCH_SECOND, MAX(\"created_at\")) AS DOUBLE) AS c2, \
             CAST(COUNT_IF(\"a\" IS NOT NULL AND \"b\" IS NOT NULL) AS DOUBLE) AS c3, \
             CAST(COUNT(DISTINCT \"a\", \"b\") AS DOUBLE) AS c4, \
             CAST(COUNT(\"email\") AS DOUBLE) AS c5, \
             CAST(COUNT(DISTINCT \"email\") AS DOUBLE) AS c6, \
             CAST(COUNT(\"amount\") AS DOUBLE) AS c7, \
             CAST(COUNT(DISTINCT \"amount\") AS DOUBLE) AS c8, \
             CAST(MIN(\"amount\") AS DOUBLE) AS c9, \
             CAST(MAX(\"amount\") AS DOUBLE) AS c10, \
             CAST(AVG(\"amount\") AS DOUBLE) AS c11 \
             FROM \"shop\".\"orders\""
        );
    }

    #[test]
    fn bigquery_profile_text() {
        let p = Dialect::BigQuery.profile_sql(&plan(&["a", "b"]));
        assert_eq!(
            p.sql,
            "SELECT CAST(COUNT(*) AS FLOAT64) AS c0, \
             CAST(TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), TIMESTAMP(MAX(`created_at`)), MILLISECOND) / 1000.0 AS FLOAT64) AS c1, \
             CAST(UNIX_SECONDS(TIMESTAMP(MAX(`created_at`))) AS FLOAT64) AS c2, \
             CAST(COUNTIF(`a` IS NOT NULL AND `b` IS NOT NULL) AS FLOAT64) AS c3, \
             CAST(COUNT(DISTINCT IF(`a` IS NOT NULL AND `b` IS NOT NULL, TO_JSON_STRING(STRUCT(`a`, `b`)), NULL)) AS FLOAT64) AS c4, \
             CAST(COUNT(`email`) AS FLOAT64) AS c5, \
             CAST(COUNT(DISTINCT `email`) AS FLOAT64) AS c6, \
             CAST(COUNT(`amount`) AS FLOAT64) AS c7, \
             CAST(COUNT(DISTINCT `amount`) AS FLOAT64) AS c8, \
             CAST(MIN(`amount`) AS FLOAT64) AS c9, \
             CAST(MAX(`amount`) AS FLOAT64) AS c10, \
             CAST(AVG(`amount`) AS FLOAT64) AS c11 \
             FROM `shop`.`orders`"
        );
    }

    #[test]
    fn volume_statement_per_dialect() {
        let p = plan(&[]);
        let ts = id("created_at");
        assert_eq!(
            Dialect::Postgres.volume_sql(&p, &ts, 3600, 1000 * 3600, 1010 * 3600),
            "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM \"created_at\") / 3600) * 3600 AS DOUBLE PRECISION) AS b, \
             CAST(COUNT(*) AS DOUBLE PRECISION) AS n, \
             CAST(MAX(EXTRACT(EPOCH FROM \"created_at\")) AS DOUBLE PRECISION) AS newest, \
             CAST(COUNT(\"email\") AS DOUBLE PRECISION) AS v0, \
             CAST(COUNT(\"amount\") AS DOUBLE PRECISION) AS v1 \
             FROM \"shop\".\"orders\" \
             WHERE \"created_at\" >= to_timestamp(3600000) AND \"created_at\" < to_timestamp(3636000) \
             GROUP BY 1 ORDER BY 1"
        );
        assert!(Dialect::Mysql
            .volume_sql(&p, &ts, 86400, 0, 86400)
            .contains("FLOOR(UNIX_TIMESTAMP(`created_at`) / 86400) * 86400"));
        assert!(Dialect::BigQuery
            .volume_sql(&p, &ts, 3600, 0, 3600)
            .contains("TIMESTAMP(`created_at`) < TIMESTAMP_SECONDS(3600)"));
        assert!(Dialect::Snowflake
            .volume_sql(&p, &ts, 3600, 0, 3600)
            .contains("FLOOR(DATE_PART(EPOCH_SECOND, \"created_at\") / 3600) * 3600"));
    }

    #[test]
    fn buckets_counted_inside_the_profile_statement() {
        let mut p = plan(&[]);
        p.buckets = vec![7200, 10800];
        let sql = Dialect::Mysql.profile_sql(&p);
        let inside = "`created_at` >= FROM_UNIXTIME(10800) AND `created_at` < FROM_UNIXTIME(14400)";
        assert!(
            sql.sql
                .contains(&format!("COUNT(CASE WHEN {inside} THEN 1 END)")),
            "{}",
            sql.sql
        );
        assert!(sql.sql.contains(&format!(
            "MAX(CASE WHEN {inside} THEN UNIX_TIMESTAMP(`created_at`) END)"
        )));
        assert!(sql
            .sql
            .contains(&format!("COUNT(CASE WHEN {inside} THEN `amount` END)")));
        assert_eq!(
            sql.sql.matches(" FROM `shop`.`orders`").count(),
            1,
            "one statement, one table"
        );
        let bucket_slots = sql
            .slots
            .iter()
            .filter(|s| {
                matches!(
                    s,
                    Slot::BucketRows(_) | Slot::BucketNewest(_) | Slot::BucketNonNull(..)
                )
            })
            .count();
        assert_eq!(bucket_slots, 2 * (2 + p.columns.len()));
    }

    #[test]
    fn several_key_sets_a_filter_and_approximate_distincts_in_one_statement() {
        let mut p = plan(&["id"]);
        p.keys.push(vec![id("customer_id")]);
        p.keys.push(vec![id("a"), id("b")]);
        p.filter = Some("status <> 'test'".into());
        p.columns[0].distinct = Distinct::Approximate;
        p.columns[1].distinct = Distinct::None;
        let sql = Dialect::Snowflake.profile_sql(&p);
        assert!(
            sql.sql.contains("COUNT(DISTINCT \"customer_id\")"),
            "{}",
            sql.sql
        );
        assert!(sql.sql.contains("COUNT(DISTINCT \"a\", \"b\")"));
        assert!(sql.sql.contains("APPROX_COUNT_DISTINCT(\"email\")"));
        assert!(!sql.sql.contains("DISTINCT \"amount\""));
        assert!(sql
            .sql
            .ends_with("FROM \"shop\".\"orders\" WHERE (status <> 'test')"));
        let keys: Vec<Slot> = sql
            .slots
            .iter()
            .copied()
            .filter(|s| matches!(s, Slot::KeyDistinct(_)))
            .collect();
        assert_eq!(
            keys,
            [
                Slot::KeyDistinct(0),
                Slot::KeyDistinct(1),
                Slot::KeyDistinct(2)
            ]
        );
        let volume = Dialect::Postgres.volume_sql(&p, &id("created_at"), 3600, 0, 3600);
        assert!(volume.contains("WHERE (status <> 'test') AND \"created_at\" >= to_timestamp(0)"));
        assert!(Dialect::BigQuery.has_approximate_distinct());
        assert!(!Dialect::Postgres.has_approximate_distinct());
    }

    #[test]
    fn incremental_statement_reads_only_new_rows() {
        let mut p = plan(&["id"]);
        p.buckets = vec![7200, 10800];
        p.filter = Some("x = 1".into());
        let sql = Dialect::Postgres.incremental_sql(&p).unwrap();
        assert!(
            sql.sql.ends_with(
                "FROM \"shop\".\"orders\" WHERE (x = 1) AND \"created_at\" >= to_timestamp(7200)) w"
            ),
            "{}",
            sql.sql
        );
        // The only distinct count is the new rows' keys, inside the window's derived table.
        let (_, window) = sql.sql.split_once(") f CROSS JOIN (").unwrap();
        assert!(
            !sql.sql.contains("MIN(") && !sql.sql.contains("AVG("),
            "{}",
            sql.sql
        );
        assert_eq!(sql.sql.matches("DISTINCT").count(), 1, "{}", sql.sql);
        assert!(window.contains("COUNT(DISTINCT \"id\")"), "{}", sql.sql);
        assert_eq!(sql.slots[..2], [Slot::FreshnessSeconds, Slot::NewestEpoch]);
        assert_eq!(sql.slots.len(), 2 + 2 * (2 + p.columns.len()) + 2);
        assert_eq!(
            sql.slots[sql.slots.len() - 2..],
            [Slot::NewKeyRows(0), Slot::NewKeyDistinct(0)]
        );
        p.buckets.clear();
        assert!(Dialect::Postgres.incremental_sql(&p).is_none());
    }

    #[test]
    fn numeric_type_detection() {
        assert!(Dialect::Postgres.is_numeric_type("numeric(10,2)"));
        assert!(Dialect::Postgres.is_numeric_type("double precision"));
        assert!(!Dialect::Postgres.is_numeric_type("text"));
        assert!(!Dialect::Postgres.is_numeric_type("timestamp with time zone"));
        assert!(Dialect::Mysql.is_numeric_type("int(11)"));
        assert!(Dialect::Mysql.is_numeric_type("decimal(10,2) unsigned"));
        assert!(!Dialect::Mysql.is_numeric_type("varchar(255)"));
        assert!(Dialect::Sqlite.is_numeric_type("INTEGER"));
        assert!(Dialect::Sqlite.is_numeric_type("REAL"));
        assert!(!Dialect::Sqlite.is_numeric_type("TEXT"));
        assert!(!Dialect::Sqlite.is_numeric_type("DATETIME"));
        assert!(Dialect::BigQuery.is_numeric_type("INT64"));
        assert!(Dialect::Snowflake.is_numeric_type("NUMBER(38,0)"));
    }

    #[test]
    fn sample_reads_column_statistics_from_a_block_sample() {
        let mut plan = plan(&["id"]);
        plan.sample = Some(150);
        let pg = Dialect::Postgres.profile_sql(&plan);
        assert!(
            pg.sql
                .contains(") e CROSS JOIN (SELECT CAST(COUNT(*) AS DOUBLE PRECISION) AS c"),
            "{}",
            pg.sql
        );
        assert!(
            pg.sql
                .contains("FROM \"shop\".\"orders\" TABLESAMPLE SYSTEM (1.50)) s"),
            "{}",
            pg.sql
        );
        // Exact side: row count, key, distinct; sampled side: sample rows, non-NULL, min/max/mean.
        let sampled_from = pg
            .slots
            .iter()
            .position(|s| *s == Slot::SampledRows)
            .unwrap();
        for (k, slot) in pg.slots.iter().enumerate() {
            let in_sample = matches!(
                slot,
                Slot::SampledRows | Slot::NonNull(_) | Slot::Min(_) | Slot::Max(_) | Slot::Mean(_)
            );
            assert_eq!(k >= sampled_from, in_sample, "{slot:?}");
        }
        assert!(Dialect::BigQuery
            .profile_sql(&plan)
            .sql
            .contains("TABLESAMPLE SYSTEM (1.50 PERCENT)"));
        assert!(Dialect::Snowflake
            .profile_sql(&plan)
            .sql
            .contains("TABLESAMPLE SYSTEM (1.50)"));
        assert_eq!(Dialect::Mysql.tablesample(150), None);
        assert_eq!(Dialect::Sqlite.tablesample(150), None);
    }
}
