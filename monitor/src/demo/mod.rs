//! `tidewatch demo`: a first minute with no setup. [`prepare`] writes a shop's SQLite warehouse (six
//! tables, 30 days of hourly history with daily and weekly seasonality and growth, a stream-like
//! `events` table with late arrivals; `data.rs`) with four incidents in its last hours, and a config
//! that watches it. It then runs the real pipeline once over `customers` (the scan before an upstream
//! migration: its schema snapshot), applies that migration (a renamed column), and leaves the main
//! scan of every monitor to the caller (`main.rs` runs it like `tidewatch scan`, alerts included,
//! then serves).
//!
//! Nothing here judges anything: the incidents are in the data, and what the report says about them
//! is what the pipeline found. [`GUIDE`] is the answer key printed after the report.

pub mod data;

use anyhow::Context;
use sqlx::{Connection, SqliteConnection};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The monitor scanned before its table's migration, and the migration.
pub const MIGRATED_MONITOR: &str = "customers";
pub const MIGRATION: &str = "ALTER TABLE customers RENAME COLUMN phone TO phone_number";

/// The config the demo writes beside its warehouse.
pub const DEMO_CONFIG: &str = r#"version: 1
# Written by `tidewatch demo`, which rewrites this file, warehouse.db and the state store on every
# run. An `alerts:` section you change is kept (see the end of the file).
store: sqlite://tidewatch-state.db
sources:
  shop:
    kind: sqlite
    url: sqlite://warehouse.db
monitors:
  # Stalled loader: upgraded a day ago, it writes most emails as NULL, loaded one batch twice and
  # stopped three hours ago.
  - name: orders
    source: shop
    table: orders
    timestamp_column: created_at
    key: [id]
    columns: [email, amount, status]
    every: 5m                          # under `tidewatch run` / `tidewatch demo`
    checks:
      - row_count > 0
      - null_rate(email) < 1%
      - duplicate_count(id) = 0
      - freshness < 2h
  # Volume drop: most payment webhooks of the last three hours were lost. No check: the learned
  # volume band (hour of day, day of week, growth) catches it.
  - name: payments
    source: shop
    table: payments
    timestamp_column: paid_at
    key: [payment_id]
    columns: [amount, method]
    every: 5m
    checks:
      - duplicate_count(order_id) = 0
  # NULL burst: the carrier's label service fails, most shipments of the last three hours have no
  # tracking number. No check: the learned bucket_null_rate band catches it.
  - name: shipments
    source: shop
    table: shipments
    timestamp_column: shipped_at
    key: [shipment_id]
    columns: [carrier, tracking_number]
    sensitivity: 0.4                   # fewer, surer alerts than the default 0.46
    every: 5m
  # Schema change: after the demo's first scan an upstream migration renamed phone to phone_number.
  - name: customers
    source: shop
    table: customers
    timestamp_column: created_at
    key: [customer_id]
    columns: [email, country]
    sensitivity: 0.4
    schedule: "*/10 * * * *"           # cron, in `timezone:` (default UTC)
    checks:
      - null_rate(country) < 5%
      - duplicate_count(email) = 0
  # Healthy: clickstream landed from a stream. Event time drives the buckets; late arrivals are
  # recounted for 3h.
  - name: events
    source: shop
    table: events
    timestamp_column: event_time
    key: [event_id]
    columns: [session_id, event_type]
    sensitivity: 0.4
    lateness: 3h
    every: 5m
    checks:
      - freshness < 15m
      - duplicate_count(event_id) = 0
  # Healthy: the catalogue, no timestamp, explicit checks only.
  - name: products
    source: shop
    table: products
    key: [sku]
    every: 1h
    checks:
      - row_count > 0
      - null_rate(category) < 5%
      - min(price) > 0
"#;

/// The demo's `alerts:` section, written after [`DEMO_CONFIG`] unless the previous `tidewatch.yaml`
/// had another one (then that one is kept). Every incident goes to the log (stderr).
pub const DEMO_ALERTS: &str = r#"# Every incident goes to the log (stderr). To send it somewhere else too, add a receiver (slack,
# email, webhook, pagerduty; see the README) and a route to it, e.g.
#     - name: hook
#       webhook: { url: "http://127.0.0.1:9000/hook" }
# under receivers, and under route:
#   routes:
#     - { receiver: hook, continue: true }
#     - { receiver: log }
# `tidewatch demo` keeps an alerts section you changed when it rewrites this file.
alerts:
  receivers:
    - name: log
      log: { level: warn }
  route:
    receiver: log
    group_by: [monitor]
"#;

/// What the demo put into the data, and where the report shows it. Printed after the main scan.
pub const GUIDE: &str = "\
what the demo injected, and the rows above that show it:
  stalled loader  orders     freshness_seconds fails `freshness < 2h`; volume anomaly (the last hour is empty)
                             also from that loader: null_rate(email) and duplicate_count(id) fail
  volume drop     payments   volume anomaly: a tenth of the payments the learned band expects
  NULL burst      shipments  bucket_null_rate(tracking_number) anomaly: most of the last hour is NULL
  schema change   customers  schema anomaly: removed phone, added phone_number
  healthy         events, products: checks pass; learned series pass or are still learning";

/// A prepared demo: the config to scan and what was done to get there.
#[derive(Debug)]
pub struct Prepared {
    pub config: PathBuf,
    /// Lines for the user: the tables written, the first scan, the migration.
    pub story: String,
}

/// Writes `dir/warehouse.db`, `dir/tidewatch.yaml` and a fresh `dir/tidewatch-state.db` (replacing
/// old ones; an `alerts:` section of an existing `tidewatch.yaml` is kept), runs the first scan of
/// [`MIGRATED_MONITOR`] through the pipeline and applies [`MIGRATION`].
pub async fn prepare(dir: &Path) -> anyhow::Result<Prepared> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let config = dir.join("tidewatch.yaml");
    // A section the user changed is kept; the demo's own is written afresh.
    let kept_alerts = match std::fs::read_to_string(&config) {
        Ok(text) => {
            alerts_section(&text).filter(|a| Some(a) != alerts_section(DEMO_ALERTS).as_ref())
        }
        Err(_) => None,
    };
    let db = dir.join("warehouse.db");
    for file in ["warehouse.db", "tidewatch-state.db"] {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let p = dir.join(format!("{file}{suffix}"));
            if p.exists() {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
    }

    let now = chrono::Utc::now().timestamp();
    let tables = data::shop(now);
    write_warehouse(&db, &tables).await?;
    let mut text = DEMO_CONFIG.to_string();
    match &kept_alerts {
        Some(a) => {
            text.push_str("# kept from the previous tidewatch.yaml\n");
            text.push_str(a);
        }
        None => text.push_str(DEMO_ALERTS),
    }
    std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;

    let mut story = String::new();
    let rows: usize = tables.iter().map(|t| t.rows.len()).sum();
    let _ = writeln!(
        story,
        "wrote {}: {} tables, {rows} rows, {} days of hourly history up to {} UTC",
        db.display(),
        tables.len(),
        data::DAYS,
        data::timestamp(now)
    );
    for t in &tables {
        let _ = writeln!(
            story,
            "  {:<10} {:>7} rows  {}",
            t.name,
            t.rows.len(),
            t.about
        );
    }
    let _ = writeln!(
        story,
        "wrote {}{}",
        config.display(),
        if kept_alerts.is_some() {
            " (with the alerts section of the previous one)"
        } else {
            ""
        }
    );

    // The scan before the migration, so the main scan has a snapshot to compare with.
    let cfg = crate::config::load(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = crate::store::Store::connect(secrecy::ExposeSecret::expose_secret(&cfg.store))
        .await
        .context("opening the state store")?;
    let first = crate::pipeline::scan(&cfg, &store, Some(MIGRATED_MONITOR), chrono::Utc::now())
        .await
        .context("the first scan of customers");
    store.close().await;
    let first = first?;
    let problems = first
        .results
        .iter()
        .filter(|r| r.status.is_problem())
        .count();
    let _ = writeln!(
        story,
        "scan 1 (run {}): {MIGRATED_MONITOR} before its migration: {} measurements, {problems} problems, schema snapshot stored",
        first.run_id,
        first.results.len()
    );

    let mut conn = open(&db, false).await?;
    sqlx::raw_sql(MIGRATION)
        .execute(&mut conn)
        .await
        .with_context(|| format!("migrating {}", db.display()))?;
    conn.close().await.context("closing the demo warehouse")?;
    let _ = writeln!(story, "upstream migration: {MIGRATION}");
    Ok(Prepared { config, story })
}

/// [`prepare`], for callers that need only the config path.
pub async fn write_demo(dir: &Path) -> anyhow::Result<PathBuf> {
    Ok(prepare(dir).await?.config)
}

/// The top-level `alerts:` block of a config file, as written (comments inside it included).
fn alerts_section(yaml: &str) -> Option<String> {
    let mut out = String::new();
    let mut inside = false;
    for line in yaml.lines() {
        if !line.is_empty() && !line.starts_with([' ', '\t', '#']) {
            inside = line.starts_with("alerts:");
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    (!out.is_empty()).then_some(out)
}

async fn open(db: &Path, create: bool) -> anyhow::Result<SqliteConnection> {
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .context("sqlite options")?
        .filename(db)
        .create_if_missing(create);
    SqliteConnection::connect_with(&opts)
        .await
        .with_context(|| format!("opening {}", db.display()))
}

/// Creates the tables and inserts their rows in one transaction, 500 rows per statement.
async fn write_warehouse(db: &Path, tables: &[data::Table]) -> anyhow::Result<()> {
    let mut conn = open(db, true).await?;
    let mut tx = conn.begin().await.context("starting the demo's load")?;
    for t in tables {
        sqlx::raw_sql(t.ddl)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("creating table {}", t.name))?;
        // The demo's own names, quoted anyway.
        let columns: Vec<String> = t.columns.iter().map(|c| format!("\"{c}\"")).collect();
        let head = format!("INSERT INTO \"{}\" ({}) ", t.name, columns.join(", "));
        for chunk in t.rows.chunks(500) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(head.as_str());
            q.push_values(chunk, |mut b, row| {
                for v in row {
                    match v {
                        data::Value::Int(i) => {
                            b.push_bind(*i);
                        }
                        data::Value::Real(f) => {
                            b.push_bind(*f);
                        }
                        data::Value::Text(s) => {
                            b.push_bind(s.as_str());
                        }
                        data::Value::Null => {
                            b.push_bind(None::<&str>);
                        }
                    }
                }
            });
            q.build()
                .execute(&mut *tx)
                .await
                .with_context(|| format!("filling table {}", t.name))?;
        }
    }
    tx.commit().await.context("committing the demo's load")?;
    conn.close().await.context("closing the demo warehouse")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_alerts_section() {
        let yaml = "version: 1\nmonitors:\n  - name: x\n# a comment\nalerts:\n  receivers:\n    - name: a\n\n  # inside\n  route: { receiver: a }\nretention: 1d\n";
        assert_eq!(
            alerts_section(yaml).as_deref(),
            Some("alerts:\n  receivers:\n    - name: a\n\n  # inside\n  route: { receiver: a }\n")
        );
        assert_eq!(alerts_section(DEMO_CONFIG), None);
        let own = alerts_section(DEMO_ALERTS).unwrap();
        assert!(own.starts_with("alerts:\n") && own.contains("log: { level: warn }"));
        assert_eq!(
            alerts_section(&format!("{DEMO_CONFIG}{DEMO_ALERTS}")),
            Some(own)
        );
    }
}
