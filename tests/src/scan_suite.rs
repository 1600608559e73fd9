//! End-to-end scan suite, written once and run against PostgreSQL, MariaDB and SQLite: real tables, the
//! real config loader, the real state store and the whole `scan` pipeline.

// This module is test code compiled as a library: a panic on a missing value is the assertion.
#![allow(clippy::unwrap_used)]

use crate::warehouses::{Kind, TestWarehouse};
use anyhow::Context;
use checks::{Metric, SeriesKey, Status};
use checks::{ResultRow, ScanReport};
use std::path::PathBuf;

/// A temp directory holding a config and its state store.
pub struct Workspace {
    pub dir: PathBuf,
}

impl Workspace {
    pub fn new() -> Workspace {
        let dir = std::env::temp_dir().join(format!("tw_scan_{}", crate::db::unique_suffix()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Workspace { dir }
    }

    /// Loads `yaml` as `tidewatch.yaml` in this directory (state store `state.db` beside it) and scans.
    pub async fn scan(&self, yaml: &str) -> anyhow::Result<ScanReport> {
        self.scan_at(yaml, chrono::Utc::now()).await
    }

    /// [`Workspace::scan`] with the monitor's clock set to `now` (bucket boundaries, stored times).
    pub async fn scan_at(
        &self,
        yaml: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<ScanReport> {
        let path = self.dir.join("tidewatch.yaml");
        std::fs::write(&path, yaml)?;
        let config = tidewatch::config::parse_str(yaml, &path, &|_| None)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let store =
            tidewatch::store::Store::connect(secrecy::ExposeSecret::expose_secret(&config.store))
                .await
                .context("store")?;
        let report = tidewatch::pipeline::scan(&config, &store, None, now).await;
        store.close().await;
        Ok(report?)
    }
}

impl Workspace {
    /// The state store the scans of this workspace wrote (`state.db` beside the config).
    pub async fn store(&self) -> anyhow::Result<tidewatch::store::Store> {
        let url = format!("sqlite://{}", self.dir.join("state.db").display());
        Ok(tidewatch::store::Store::connect(&url).await?)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

/// The config header for one warehouse source named `wh`.
pub fn config_head(wh: &TestWarehouse, extra_source_lines: &str) -> String {
    format!(
        "version: 1\nstore: sqlite://state.db\nsources:\n  wh:\n    kind: {}\n    url: '{}'\n{extra_source_lines}monitors:\n",
        wh.config_kind(),
        wh.url()
    )
}

/// The one row for `metric`/`column` of `monitor`; panics with the whole report when absent.
pub fn find<'a>(
    report: &'a ScanReport,
    monitor: &str,
    metric: &str,
    column: Option<&str>,
) -> &'a ResultRow {
    report
        .results
        .iter()
        .find(|r| {
            r.monitor == monitor && r.metric.as_str() == metric && r.column().as_deref() == column
        })
        .unwrap_or_else(|| panic!("no {monitor}/{metric}/{column:?} in {:#?}", report.results))
}

fn value(report: &ScanReport, monitor: &str, metric: &str, column: Option<&str>) -> f64 {
    find(report, monitor, metric, column)
        .value
        .unwrap_or(f64::NAN)
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "{what}: {actual} != {expected}"
    );
}

/// Ten rows with known NULLs, duplicate keys and timestamps; every metric checked exactly.
pub async fn exact_values(kind: Kind) -> anyhow::Result<()> {
    let wh = TestWarehouse::create(kind).await?;
    let ts = wh.timestamp_type();
    // Rows at fixed times before `now`, and the scan's clock set to `now`: the last complete hour
    // holds exactly the row written 60 minutes before, whenever the test runs.
    let now = chrono::Utc::now();
    let rows: Vec<String> = [
        ("1", "'a@x.io'", "10.00", "'paid'", 60),
        ("2", "NULL", "20.00", "'paid'", 120),
        ("3", "'c@x.io'", "30.00", "'paid'", 180),
        ("3", "'c@x.io'", "30.00", "'paid'", 180),
        ("4", "NULL", "NULL", "'pending'", 240),
        ("5", "'e@x.io'", "50.00", "NULL", 300),
        ("5", "'e@x.io'", "50.00", "NULL", 300),
        ("5", "'e@x.io'", "50.00", "NULL", 300),
        ("6", "NULL", "60.00", "'refunded'", 360),
        ("NULL", "'j@x.io'", "100.00", "'paid'", 420),
    ]
    .iter()
    .map(|(id, email, amount, status, ago)| {
        format!(
            "({id}, {email}, {amount}, {status}, {})",
            wh.at_epoch(now.timestamp() - ago * 60)
        )
    })
    .collect();
    wh.exec(&format!(
        "CREATE TABLE orders (id INTEGER, email VARCHAR(100), amount DECIMAL(10,2), status VARCHAR(20), created_at {ts});
         INSERT INTO orders (id, email, amount, status, created_at) VALUES {}",
        rows.join(", ")
    ))
    .await?;
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: orders
    source: wh
    table: {}
    timestamp_column: created_at
    key: [id]
    columns: [email, amount, status]
    distinct: [email, amount, status]
    checks:
      - row_count > 0
      - null_rate(email) < 0.01
      - duplicate_count(id) = 0
      - freshness < 2h
      - mean(amount) > 40
",
            wh.dataset("orders")
        );
    let ws = Workspace::new();
    let report = ws.scan_at(&yaml, now).await?;
    let m = "orders";
    assert_close(value(&report, m, "row_count", None), 10.0, "row_count");
    assert_close(
        value(&report, m, "null_count", Some("email")),
        3.0,
        "null_count(email)",
    );
    assert_close(
        value(&report, m, "null_rate", Some("email")),
        0.3,
        "null_rate(email)",
    );
    assert_close(
        value(&report, m, "distinct_count", Some("email")),
        4.0,
        "distinct(email)",
    );
    assert_close(
        value(&report, m, "null_count", Some("amount")),
        1.0,
        "null_count(amount)",
    );
    assert_close(
        value(&report, m, "distinct_count", Some("amount")),
        6.0,
        "distinct(amount)",
    );
    assert_close(
        value(&report, m, "min", Some("amount")),
        10.0,
        "min(amount)",
    );
    assert_close(
        value(&report, m, "max", Some("amount")),
        100.0,
        "max(amount)",
    );
    assert!((value(&report, m, "mean", Some("amount")) - 400.0 / 9.0).abs() < 1e-6);
    assert_close(
        value(&report, m, "null_count", Some("status")),
        3.0,
        "null_count(status)",
    );
    assert_close(
        value(&report, m, "distinct_count", Some("status")),
        3.0,
        "distinct(status)",
    );
    // Nine rows have an id, six distinct ids: three duplicates; the NULL id is not a duplicate.
    assert_close(
        value(&report, m, "duplicate_count", Some("id")),
        3.0,
        "duplicate_count(id)",
    );
    assert_close(
        value(&report, m, "duplicate_rate", Some("id")),
        0.3,
        "duplicate_rate(id)",
    );
    let fresh = value(&report, m, "freshness_seconds", None);
    assert!(
        (fresh - 3600.0).abs() < 120.0,
        "freshness {fresh} should be about an hour"
    );
    // Rows per hour, last complete hour: only the row inserted 60 minutes ago falls in it.
    let vol = find(&report, m, "volume", None);
    assert_eq!(vol.status, Status::Learning, "{vol:?}");
    assert_close(
        vol.value.unwrap_or(f64::NAN),
        1.0,
        "volume of the last complete hour",
    );
    // Text columns get no min/max/mean.
    assert!(report
        .results
        .iter()
        .all(|r| !(r.metric == checks::Metric::Min && r.column().as_deref() == Some("email"))));
    let schema = find(&report, m, "schema", None);
    assert_close(schema.value.unwrap_or(0.0), 5.0, "schema columns");
    let names: Vec<&str> = schema.details.as_ref().unwrap()["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["id", "email", "amount", "status", "created_at"]);

    assert_eq!(find(&report, m, "row_count", None).status, Status::Pass);
    assert_eq!(
        find(&report, m, "null_rate", Some("email")).status,
        Status::Fail
    );
    assert_eq!(
        find(&report, m, "duplicate_count", Some("id")).status,
        Status::Fail
    );
    assert_eq!(
        find(&report, m, "freshness_seconds", None).status,
        Status::Pass
    );
    assert_eq!(
        find(&report, m, "mean", Some("amount")).status,
        Status::Pass
    );
    let exp = find(&report, m, "null_rate", Some("email"))
        .expected
        .unwrap();
    assert_eq!((exp.lower, exp.upper), (None, Some(0.01)));
    assert_eq!(report.exit_code(), 1);
    wh.cleanup().await
}

/// ADD, DROP and a type change between two scans show as one `schema` anomaly with the details.
pub async fn schema_drift(kind: Kind) -> anyhow::Result<()> {
    let wh = TestWarehouse::create(kind).await?;
    wh.exec(
        "CREATE TABLE t (a INTEGER, b VARCHAR(10), c INTEGER); INSERT INTO t VALUES (1, 'x', 2)",
    )
    .await?;
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: t\n    source: wh\n    table: {}\n",
            wh.dataset("t")
        );
    let ws = Workspace::new();
    let first = ws.scan(&yaml).await?;
    let s = find(&first, "t", "schema", None);
    assert_eq!(s.status, Status::Pass, "{s:?}");
    assert_eq!(first.exit_code(), 0);

    match kind {
        Kind::Postgres => {
            wh.exec("ALTER TABLE t ADD COLUMN d TEXT; ALTER TABLE t DROP COLUMN b; ALTER TABLE t ALTER COLUMN c TYPE BIGINT").await?
        }
        Kind::Mariadb => {
            wh.exec("ALTER TABLE t ADD COLUMN d TEXT; ALTER TABLE t DROP COLUMN b; ALTER TABLE t MODIFY c BIGINT").await?
        }
        // SQLite cannot change a column's type in place: rebuild the table, as migrations do.
        Kind::Sqlite => {
            wh.exec("CREATE TABLE t2 (a INTEGER, c BIGINT, d TEXT); INSERT INTO t2 SELECT a, c, NULL FROM t; DROP TABLE t; ALTER TABLE t2 RENAME TO t").await?
        }
    }
    let second = ws.scan(&yaml).await?;
    let s = find(&second, "t", "schema", None);
    assert_eq!(s.status, Status::Anomaly, "{s:?}");
    let d = s.details.as_ref().unwrap();
    assert_eq!(d["added"].as_array().unwrap().len(), 1);
    assert_eq!(d["added"][0]["name"], "d");
    assert_eq!(d["removed"][0]["name"], "b");
    assert_eq!(d["changed"][0]["column"], "c");
    assert_ne!(d["changed"][0]["from"], d["changed"][0]["to"]);
    assert!(
        d["changed"][0]["to"].as_str().unwrap().contains("bigint"),
        "{d}"
    );
    assert!(s.message.contains("added: d"), "{}", s.message);
    assert_eq!(second.exit_code(), 1);

    // The drifted schema is the new reference: the next scan is quiet again.
    let third = ws.scan(&yaml).await?;
    assert_eq!(find(&third, "t", "schema", None).status, Status::Pass);
    wh.cleanup().await
}

/// Identifiers with quotes, semicolons and comments are quoted: an injected statement never runs, and
/// a real table with such a name is profiled correctly.
pub async fn hostile_identifiers(kind: Kind) -> anyhow::Result<()> {
    let wh = TestWarehouse::create(kind).await?;
    let weird_table = "we\"ird`tab;le --";
    let weird_col = "co\"l`umn; --";
    wh.exec(&format!(
        "CREATE TABLE victim (x INTEGER); CREATE TABLE {} (id INTEGER, {} VARCHAR(20)); INSERT INTO {} VALUES (1, 'a'), (2, NULL), (3, 'c')",
        wh.q(weird_table),
        wh.q(weird_col),
        wh.q(weird_table)
    ))
    .await?;
    let injected_table = match kind {
        Kind::Mariadb => "victim`; DROP TABLE victim; --",
        _ => "victim\"; DROP TABLE victim; --",
    };
    let yaml_str = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let dataset = |t: &str| match kind {
        Kind::Sqlite => t.to_string(),
        _ => wh.dataset(t),
    };
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: injected_table
    source: wh
    table: {}
  - name: injected_column
    source: wh
    table: {}
    columns: [{}]
  - name: weird
    source: wh
    table: {}
    key: [{}]
    columns: [{}]
",
            yaml_str(&dataset(injected_table)),
            yaml_str(&dataset("victim")),
            yaml_str("x) FROM victim; DROP TABLE victim; --"),
            yaml_str(&dataset(weird_table)),
            yaml_str(weird_col),
            yaml_str(weird_col),
        );
    let ws = Workspace::new();
    let report = ws.scan(&yaml).await?;
    let r = find(&report, "injected_table", "row_count", None);
    assert_eq!(r.status, Status::Error);
    assert!(r.message.contains("not found"), "{}", r.message);
    let r = find(
        &report,
        "injected_column",
        "null_rate",
        Some("x) FROM victim; DROP TABLE victim; --"),
    );
    assert_eq!(r.status, Status::Error);
    assert!(r.message.contains("not found"), "{}", r.message);
    assert!(wh.table_exists("victim").await?, "victim table was dropped");
    assert_close(
        value(&report, "weird", "row_count", None),
        3.0,
        "weird row_count",
    );
    assert_close(
        value(&report, "weird", "null_count", Some(weird_col)),
        1.0,
        "weird null_count",
    );
    assert_close(
        value(&report, "weird", "duplicate_count", Some(weird_col)),
        0.0,
        "weird duplicates",
    );
    assert_eq!(report.exit_code(), 2);
    wh.cleanup().await
}

/// A missing table is an `error` for that monitor; the others still run and pass.
pub async fn missing_table_does_not_stop_others(kind: Kind) -> anyhow::Result<()> {
    let wh = TestWarehouse::create(kind).await?;
    wh.exec("CREATE TABLE present (id INTEGER); INSERT INTO present VALUES (1), (2)")
        .await?;
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: gone
    source: wh
    table: {}
    checks: [row_count > 0]
  - name: present
    source: wh
    table: {}
    checks: [row_count = 2]
",
            wh.dataset("no_such_table"),
            wh.dataset("present")
        );
    let ws = Workspace::new();
    let report = ws.scan(&yaml).await?;
    let gone = find(&report, "gone", "row_count", None);
    assert_eq!(gone.status, Status::Error);
    assert!(
        gone.message.contains("no_such_table") && gone.message.contains("not found"),
        "{}",
        gone.message
    );
    assert_eq!(
        find(&report, "present", "row_count", None).status,
        Status::Pass
    );
    assert_eq!(report.exit_code(), 2);
    wh.cleanup().await
}

/// A statement that runs past `statement_timeout` is cancelled and reported as an error.
pub async fn statement_timeout(kind: Kind) -> anyhow::Result<()> {
    let wh = TestWarehouse::create(kind).await?;
    match kind {
        Kind::Postgres => {
            wh.exec("CREATE VIEW slow AS SELECT CAST(pg_sleep(30) AS TEXT) AS x")
                .await?
        }
        Kind::Mariadb => wh.exec("CREATE VIEW slow AS SELECT SLEEP(30) AS x").await?,
        Kind::Sqlite => anyhow::bail!("sqlite has no sleep to test a timeout with"),
    }
    let yaml = config_head(&wh, "    statement_timeout: 1s\n")
        + &format!(
            "  - name: slow\n    source: wh\n    table: {}\n",
            wh.dataset("slow")
        );
    let ws = Workspace::new();
    let started = std::time::Instant::now();
    let report = ws.scan(&yaml).await?;
    let r = find(&report, "slow", "row_count", None);
    assert_eq!(r.status, Status::Error);
    assert!(r.message.contains("timed out"), "{}", r.message);
    // Not a speed assertion: proof the 30 s statement did not run to its end.
    assert!(
        started.elapsed().as_secs() < 25,
        "the statement was not cancelled"
    );
    wh.cleanup().await
}

/// 28 days of hourly rows with a daily cycle. `drop` puts a sharp drop into the last complete hour,
/// with most of its emails NULL. The first scan (warm start from the table's own history) must flag
/// both with a band, and pass the same table without them.
pub async fn volume_warm_start(kind: Kind) -> anyhow::Result<()> {
    let wh = TestWarehouse::create(kind).await?;
    anyhow::ensure!(kind == Kind::Postgres, "the fixture uses generate_series");
    let hour = 3600;
    let now = chrono::Utc::now().timestamp();
    let current = now - now.rem_euclid(hour);
    for (table, last_hour_rows) in [("events_drop", "5"), ("events_normal", "NULL")] {
        // Rows per hour: 60 + 30*sin(hour of day) + a small deterministic wobble.
        wh.exec(&format!(
            "CREATE TABLE {table} (id BIGSERIAL, created_at TIMESTAMPTZ NOT NULL, email TEXT);
             INSERT INTO {table} (created_at, email)
             SELECT to_timestamp(h) + make_interval(secs => i * 3599.0 / n),
                    CASE WHEN h = {last} AND {last_hour_rows} IS NOT NULL
                         THEN CASE WHEN i % 5 < 3 THEN NULL ELSE 'x' END
                         ELSE CASE WHEN (i + h / {hour}) % 50 = 0 THEN NULL ELSE 'x' END END
             FROM generate_series(CAST({start} AS BIGINT), {last}, {hour}) AS h
             CROSS JOIN LATERAL (SELECT CASE WHEN h = {last} AND {last_hour_rows} IS NOT NULL THEN {last_hour_rows}
                 ELSE (60 + 30 * sin(2 * pi() * ((h / {hour}) % 24) / 24) + ((h / {hour}) * 7919 % 9) - 4)::int END AS n) AS c
             CROSS JOIN LATERAL generate_series(0, c.n - 1) AS i",
            start = current - 28 * 24 * hour,
            last = current - hour,
        ))
        .await?;
    }
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: drop\n    source: wh\n    table: {}\n    timestamp_column: created_at\n  - name: normal\n    source: wh\n    table: {}\n    timestamp_column: created_at\n",
            wh.dataset("events_drop"),
            wh.dataset("events_normal")
        );
    let ws = Workspace::new();
    let at = chrono::DateTime::from_timestamp(current + 600, 0).unwrap();
    let report = ws.scan_at(&yaml, at).await?;
    let drop = find(&report, "drop", "volume", None);
    assert_eq!(drop.value, Some(5.0));
    assert_eq!(drop.status, Status::Anomaly, "{drop:?}");
    let band = drop.expected.unwrap();
    assert!(band.lower.unwrap() > 5.0, "{band:?}");
    let normal = find(&report, "normal", "volume", None);
    assert_eq!(normal.status, Status::Pass, "{normal:?}");
    let band = normal.expected.unwrap();
    let v = normal.value.unwrap();
    assert!(
        band.lower.unwrap() <= v && v <= band.upper.unwrap(),
        "{band:?} {v}"
    );
    let details = normal.details.as_ref().unwrap();
    assert_eq!(details["bucket_seconds"], 3600);
    // The same grouped query counted NULLs per bucket: 3 of the 5 rows of the last hour are NULL,
    // against about 2% in every hour before (the table-wide rate barely moves).
    let nulls = find(&report, "drop", "bucket_null_rate", Some("email"));
    assert_eq!(nulls.value, Some(0.6));
    assert_eq!(nulls.status, Status::Anomaly, "{nulls:?}");
    assert!(nulls.expected.unwrap().upper.unwrap() < 0.6);
    assert!(
        find(&report, "drop", "null_rate", Some("email"))
            .value
            .unwrap()
            < 0.03
    );
    let nulls = find(&report, "normal", "bucket_null_rate", Some("email"));
    assert_eq!(nulls.status, Status::Pass, "{nulls:?}");

    // An hour later: 40 new rows (10 NULL emails). This scan counts its two buckets inside the
    // profile statement (one pass) and must agree with the grouped warm-start statement.
    wh.exec(&format!(
        "INSERT INTO events_drop (created_at, email)
         SELECT to_timestamp({current} + i * 60), CASE WHEN i % 4 = 0 THEN NULL ELSE 'x' END
         FROM generate_series(0, 39) AS i"
    ))
    .await?;
    let later = chrono::DateTime::from_timestamp(current + hour + 600, 0).unwrap();
    let report = ws.scan_at(&yaml, later).await?;
    let vol = find(&report, "drop", "volume", None);
    assert_eq!(vol.value, Some(40.0), "{vol:?}");
    let nulls = find(&report, "drop", "bucket_null_rate", Some("email"));
    assert_eq!(nulls.value, Some(0.25), "{nulls:?}");
    let store = ws.store().await?;
    let buckets = store
        .buckets(&SeriesKey::table("drop", Metric::Volume), 3600, None)
        .await?;
    assert_eq!(buckets.len(), 28 * 24 + 1);
    let recounted = &buckets[buckets.len() - 2];
    assert_eq!(
        (recounted.bucket_start.timestamp(), recounted.value),
        (current - hour, 5.0)
    );
    store.close().await;
    wh.cleanup().await
}

/// A week of loads every 15 minutes. The first scan learns the cadence from the table's own history
/// (the newest timestamp per volume bucket) and flags a loader that stalled five hours ago, while the
/// same table loaded ten minutes ago passes. No freshness check is configured: the band is learned.
pub async fn freshness_warm_start(kind: Kind) -> anyhow::Result<()> {
    let wh = TestWarehouse::create(kind).await?;
    anyhow::ensure!(kind == Kind::Postgres, "the fixture uses generate_series");
    let quarter = 900;
    let now = chrono::Utc::now().timestamp();
    let last_quarter = now - now.rem_euclid(quarter);
    for (table, newest) in [
        ("loads_stalled", last_quarter - 20 * quarter),
        ("loads_regular", last_quarter),
    ] {
        wh.exec(&format!(
            "CREATE TABLE {table} (id BIGSERIAL, created_at TIMESTAMPTZ NOT NULL);
             INSERT INTO {table} (created_at)
             SELECT to_timestamp(t) FROM generate_series(CAST({start} AS BIGINT), {newest}, {quarter}) AS t",
            start = last_quarter - 7 * 86400,
        ))
        .await?;
    }
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: stalled\n    source: wh\n    table: {}\n    timestamp_column: created_at\n  - name: regular\n    source: wh\n    table: {}\n    timestamp_column: created_at\n",
            wh.dataset("loads_stalled"),
            wh.dataset("loads_regular")
        );
    let ws = Workspace::new();
    let report = ws.scan(&yaml).await?;
    let stalled = find(&report, "stalled", "freshness_seconds", None);
    assert_eq!(stalled.status, Status::Anomaly, "{stalled:?}");
    let upper = stalled.expected.and_then(|e| e.upper).unwrap();
    assert!(upper < stalled.value.unwrap(), "{stalled:?}");
    let regular = find(&report, "regular", "freshness_seconds", None);
    assert_eq!(regular.status, Status::Pass, "{regular:?}");
    wh.cleanup().await
}

/// The two ways buckets are counted agree on every dialect: the first scan runs the grouped
/// warm-start statement, the next one counts its few new buckets inside the profile statement.
pub async fn buckets_counted_inline_after_the_warm_start(kind: Kind) -> anyhow::Result<()> {
    let wh = TestWarehouse::create(kind).await?;
    let hour = 3600;
    let now = chrono::Utc::now().timestamp();
    let current = now - now.rem_euclid(hour);
    let rows = |at: &[(i64, &str)]| -> String {
        at.iter()
            .map(|(t, email)| format!("({}, {email})", wh.at_epoch(*t)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let first = rows(&[
        (current - 2 * hour + 60, "'a'"),
        (current - 2 * hour + 120, "NULL"),
        (current - 2 * hour + 180, "'c'"),
        (current - hour + 60, "'d'"),
        (current - hour + 3599, "NULL"),
    ]);
    wh.exec(&format!(
        "CREATE TABLE ev (created_at {}, email VARCHAR(20)); INSERT INTO ev (created_at, email) VALUES {first}",
        wh.timestamp_type()
    ))
    .await?;
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: ev\n    source: wh\n    table: {}\n    timestamp_column: created_at\n    columns: [email]\n",
            wh.dataset("ev")
        );
    let ws = Workspace::new();
    let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap();
    let report = ws.scan_at(&yaml, at(current + 600)).await?;
    assert_eq!(find(&report, "ev", "volume", None).value, Some(2.0));
    assert_eq!(
        find(&report, "ev", "bucket_null_rate", Some("email")).value,
        Some(0.5)
    );

    let later = rows(&[
        (current + 10, "NULL"),
        (current + 20, "'f'"),
        (current + 30, "'g'"),
        (current + 3599, "'h'"),
        (current + hour, "'next hour'"),
    ]);
    wh.exec(&format!(
        "INSERT INTO ev (created_at, email) VALUES {later}"
    ))
    .await?;
    let report = ws.scan_at(&yaml, at(current + hour + 600)).await?;
    assert_eq!(find(&report, "ev", "volume", None).value, Some(4.0));
    assert_eq!(
        find(&report, "ev", "bucket_null_rate", Some("email")).value,
        Some(0.25)
    );
    let store = ws.store().await?;
    let counted: Vec<(i64, f64)> = store
        .buckets(&SeriesKey::table("ev", Metric::Volume), 3600, None)
        .await?
        .iter()
        .map(|b| (b.bucket_start.timestamp() - current, b.value))
        .collect();
    assert_eq!(counted, [(-2 * hour, 3.0), (-hour, 2.0), (0, 4.0)]);
    let newest = store
        .buckets(&SeriesKey::table("ev", Metric::NewestRow), 3600, None)
        .await?;
    assert_eq!(newest.last().map(|b| b.value as i64), Some(current + 3599));
    store.close().await;
    wh.cleanup().await
}

/// What the next scan of monitor `name` would ask its source, and the statements it would send.
async fn next_scan(
    ws: &Workspace,
    yaml: &str,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<(tidewatch::sources::ProfileRequest, Vec<String>)> {
    let path = ws.dir.join("tidewatch.yaml");
    let config =
        tidewatch::config::parse_str(yaml, &path, &|_| None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let m = config
        .monitors
        .iter()
        .find(|m| m.name == name)
        .context("monitor")?;
    let store = ws.store().await?;
    let request = tidewatch::pipeline::scan::request_for(&store, m, now).await?;
    store.close().await;
    let source = config.sources.get(&m.source).context("source")?;
    let statements = tidewatch::sources::warehouse::profile::explain(m, source, request)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((request, statements))
}

/// A table whose newest row is older than the scan's window (a daily loader between loads, an
/// abandoned table): the profile statement carries no per-bucket aggregates, rows that then arrive
/// are counted exactly (one grouped statement over just the window), and the scan after that counts
/// the window inside the profile statement again.
pub async fn stale_table_then_rows_arrive(kind: Kind) -> anyhow::Result<()> {
    let wh = TestWarehouse::create(kind).await?;
    let hour = 3600;
    let now = chrono::Utc::now().timestamp();
    let current = now - now.rem_euclid(hour);
    let rows = |at: &[(i64, &str)]| -> String {
        at.iter()
            .map(|(t, email)| format!("({}, {email})", wh.at_epoch(*t)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let old = current - 5 * 24 * hour;
    wh.exec(&format!(
        "CREATE TABLE ev (created_at {}, email VARCHAR(20)); INSERT INTO ev (created_at, email) VALUES {}",
        wh.timestamp_type(),
        rows(&[(old + 60, "'a'"), (old + 120, "NULL"), (old + 180, "'c'")])
    ))
    .await?;
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: ev\n    source: wh\n    table: {}\n    timestamp_column: created_at\n    columns: [email]\n",
            wh.dataset("ev")
        );
    let ws = Workspace::new();
    let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap();
    // Per-bucket aggregates end in `THEN <email column> END)`.
    let counts_buckets =
        |sql: &str| sql.contains("THEN \"email\" END)") || sql.contains("THEN `email` END)");
    ws.scan_at(&yaml, at(current + 300)).await?; // warm start over the lookback

    let (request, statements) = next_scan(&ws, &yaml, "ev", at(current + 600)).await?;
    assert!(!request.recent_rows, "{request:?}");
    assert!(!counts_buckets(&statements[0]), "{}", statements[0]);
    let report = ws.scan_at(&yaml, at(current + 600)).await?;
    assert_eq!(find(&report, "ev", "volume", None).value, Some(0.0));

    wh.exec(&format!(
        "INSERT INTO ev (created_at, email) VALUES {}",
        rows(&[
            (current + 700, "'x'"),
            (current + 710, "NULL"),
            (current + 720, "'y'")
        ])
    ))
    .await?;
    // Only complete buckets are reported: the one with the new rows, an hour later.
    let report = ws.scan_at(&yaml, at(current + hour + 300)).await?;
    assert_eq!(find(&report, "ev", "volume", None).value, Some(3.0));
    let rate = find(&report, "ev", "bucket_null_rate", Some("email")).value;
    assert!((rate.unwrap() - 1.0 / 3.0).abs() < 1e-9, "{rate:?}");

    let (request, statements) = next_scan(&ws, &yaml, "ev", at(current + hour + 600)).await?;
    assert!(request.recent_rows, "{request:?}");
    assert!(counts_buckets(&statements[0]), "{}", statements[0]);
    wh.exec(&format!(
        "INSERT INTO ev (created_at, email) VALUES {}",
        rows(&[(current + 1000, "NULL")])
    ))
    .await?;
    let report = ws.scan_at(&yaml, at(current + hour + 600)).await?;
    assert_eq!(find(&report, "ev", "volume", None).value, Some(4.0));
    assert_eq!(
        find(&report, "ev", "bucket_null_rate", Some("email")).value,
        Some(0.5)
    );
    let store = ws.store().await?;
    let counted: Vec<(i64, f64)> = store
        .buckets(&SeriesKey::table("ev", Metric::Volume), 3600, None)
        .await?
        .iter()
        .filter(|b| b.value > 0.0)
        .map(|b| (b.bucket_start.timestamp() - current, b.value))
        .collect();
    assert_eq!(counted, [(old - current, 3.0), (0, 4.0)]);
    store.close().await;
    wh.cleanup().await
}

/// Several uniqueness checks beside the key, exact, in one statement; the default profile has no
/// exact distinct counts; a `where:` filter narrows every metric; a `where:` the warehouse rejects is
/// that monitor's error with the warehouse's message, and the other monitors still run.
pub async fn uniqueness_checks_and_where(kind: Kind) -> anyhow::Result<()> {
    let wh = TestWarehouse::create(kind).await?;
    // id unique; customer_id: 2 extra rows; (a, b): 1 extra row (the NULL-b row is no duplicate).
    wh.exec(
        "CREATE TABLE orders (id INTEGER, customer_id INTEGER, a INTEGER, b INTEGER, status VARCHAR(10));
         INSERT INTO orders VALUES (1, 10, 1, 1, 'live'), (2, 10, 1, 1, 'live'), (3, 10, 2, NULL, 'live'),
           (4, 11, 2, NULL, 'test'), (5, 12, 3, 3, 'test')",
    )
    .await?;
    let yaml = config_head(&wh, "")
        + &format!(
            "  - name: all
    source: wh
    table: {t}
    key: [id]
    checks:
      - duplicate_count(id) = 0
      - duplicate_count(customer_id) = 0
      - duplicate_count(a, b) = 0
      - duplicate_rate(customer_id) < 50%
  - name: live
    source: wh
    table: {t}
    where: \"status = 'live'\"
    checks: [row_count = 3, duplicate_count(customer_id) = 2]
  - name: broken
    source: wh
    table: {t}
    where: \"no_such_column = 1\"
",
            t = wh.dataset("orders")
        );
    let ws = Workspace::new();
    let report = ws.scan(&yaml).await?;
    let dups = |m: &str, col: &str| find(&report, m, "duplicate_count", Some(col)).clone();
    assert_eq!(dups("all", "id").value, Some(0.0));
    assert_eq!(dups("all", "id").status, Status::Pass);
    assert_eq!(dups("all", "customer_id").value, Some(2.0));
    assert_eq!(dups("all", "customer_id").status, Status::Fail);
    assert_eq!(dups("all", "a,b").value, Some(1.0));
    let rate = find(&report, "all", "duplicate_rate", Some("customer_id"));
    assert_close(rate.value.unwrap(), 0.4, "duplicate_rate(customer_id)");
    assert_eq!(rate.status, Status::Pass);
    // No exact distinct counts unless asked (SQLite and MariaDB have no free estimate either).
    if kind != Kind::Postgres {
        assert!(
            !report
                .results
                .iter()
                .any(|r| r.monitor == "all" && r.metric == checks::Metric::DistinctCount),
            "{:#?}",
            report.results
        );
    }
    // The filter narrows every metric of its monitor.
    let live_rows = find(&report, "live", "row_count", None);
    assert_eq!(live_rows.value, Some(3.0));
    assert_eq!(live_rows.status, Status::Pass);
    assert_eq!(dups("live", "customer_id").value, Some(2.0));
    assert_eq!(
        find(&report, "live", "null_count", Some("b")).value,
        Some(1.0)
    );
    // A filter the warehouse rejects fails its monitor only, with the warehouse's own words.
    let broken = find(&report, "broken", "row_count", None);
    assert_eq!(broken.status, Status::Error);
    assert!(
        broken
            .message
            .to_ascii_lowercase()
            .contains("no_such_column"),
        "{}",
        broken.message
    );
    assert_eq!(report.exit_code(), 2);
    wh.cleanup().await
}

/// `mode: incremental` reads only the new buckets (and freshness) between full profiles, with exactly
/// the values a full profile of the same data gives; late rows inside `lateness` are recounted; checks
/// on table-wide metrics wait for the next full profile instead of failing. A retried load inside the
/// window shows as `new_duplicate_count` on the incremental scan, equal to the full profile's
/// `duplicate_count`.
pub async fn incremental_matches_full(kind: Kind) -> anyhow::Result<()> {
    let wh = TestWarehouse::create(kind).await?;
    let hour = 3600;
    let now = chrono::Utc::now().timestamp();
    let h = now - now.rem_euclid(hour);
    let ts = wh.timestamp_type();
    let mut rows = Vec::new();
    let row = |id: i64, b: i64, i: i64| {
        let email = if i == 0 && b % 2 == 0 { "NULL" } else { "'x'" };
        format!(
            "({id}, {email}, {})",
            wh.at_epoch(h - b * hour + 60 + i * 600)
        )
    };
    for b in 1..=10 {
        for i in 0..3 {
            rows.push(row(b * 10 + i, b, i));
        }
    }
    wh.exec(&format!(
        "CREATE TABLE ev (id INT, email VARCHAR(10), created_at {ts}); INSERT INTO ev VALUES {}",
        rows.join(", ")
    ))
    .await?;
    let monitor = |name: &str, mode: &str, check: &str| {
        format!(
            "  - name: {name}\n    source: wh\n    table: {}\n    timestamp_column: created_at\n    key: [id]\n    mode: {mode}\n    lateness: 3h\n    lookback: 1d\n    checks: [row_count > 0, 'bucket_null_rate(email) < 50%', '{check}']\n",
            wh.dataset("ev")
        )
    };
    let yaml = config_head(&wh, "")
        + &monitor("inc", "incremental", "new_duplicate_count(id) = 0")
        + &monitor("full", "full", "duplicate_count(id) = 0");
    let ws = Workspace::new();
    let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap();
    // First scan: the warm start is always a full profile.
    let first = ws.scan_at(&yaml, at(h - hour + 60)).await?;
    assert_eq!(find(&first, "inc", "row_count", None).value, Some(30.0));
    assert_eq!(
        find(&first, "inc", "duplicate_count", Some("id")).value,
        Some(0.0)
    );
    // A full profile measures no new_duplicate_count, and its check waits for an incremental scan.
    assert!(
        !first
            .results
            .iter()
            .any(|r| r.metric == checks::Metric::NewDuplicateCount),
        "{:#?}",
        first.results
    );
    // A late row for three hours ago, and the load of two hours ago retried (the same three rows
    // again), then the next scan an hour later.
    wh.exec(&format!(
        "INSERT INTO ev VALUES (500, 'x', {}), {}, {}, {}",
        wh.at_epoch(h - 3 * hour + 1800),
        row(20, 2, 0),
        row(21, 2, 1),
        row(22, 2, 2)
    ))
    .await?;
    let second = ws.scan_at(&yaml, at(h + 60)).await?;
    // The incremental scan measured no table-wide metric, and its row_count check waits.
    assert!(
        !second
            .results
            .iter()
            .any(|r| r.monitor == "inc" && r.metric == checks::Metric::RowCount),
        "{:#?}",
        second.results
    );
    assert_eq!(find(&second, "full", "row_count", None).value, Some(34.0));
    let dups = find(&second, "full", "duplicate_count", Some("id"));
    assert_eq!((dups.value, dups.status), (Some(3.0), Status::Fail));
    let new = find(&second, "inc", "new_duplicate_count", Some("id"));
    assert_eq!(
        (new.value, new.status),
        (Some(3.0), Status::Fail),
        "{new:?}"
    );
    assert!(
        !second
            .results
            .iter()
            .any(|r| r.monitor == "inc" && r.metric == checks::Metric::DuplicateCount),
        "{:#?}",
        second.results
    );
    for metric in ["volume", "freshness_seconds"] {
        let (i, f) = (
            find(&second, "inc", metric, None),
            find(&second, "full", metric, None),
        );
        assert!(
            (i.value.unwrap() - f.value.unwrap()).abs() < 5.0,
            "{metric}: {i:?} vs {f:?}"
        );
    }
    assert_eq!(find(&second, "inc", "volume", None).value, Some(3.0));
    let inc_nulls = find(&second, "inc", "bucket_null_rate", Some("email"));
    assert_eq!(
        inc_nulls.value,
        find(&second, "full", "bucket_null_rate", Some("email")).value
    );
    assert_eq!(inc_nulls.status, Status::Pass);
    let store = ws.store().await?;
    let series = |m: &str| {
        let key = checks::SeriesKey::table(m, checks::Metric::Volume);
        let store = &store;
        async move { store.buckets(&key, hour, None).await }
    };
    let (inc, full) = (series("inc").await?, series("full").await?);
    assert_eq!(inc, full, "the same buckets from both modes");
    let late = inc
        .iter()
        .find(|b| b.bucket_start.timestamp() == h - 3 * hour)
        .unwrap();
    assert_eq!(late.value, 4.0, "the late row was recounted");
    store.close().await;
    wh.cleanup().await
}
