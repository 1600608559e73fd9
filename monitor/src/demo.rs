//! `tidewatch demo`: an embedded example. Writes a SQLite warehouse with four weeks of orders and an
//! incident in the last hours (NULL emails, a retried load that duplicated rows, a stalled loader), a
//! config that watches it, and runs `scan` on it.

use anyhow::Context;
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The config the demo writes beside its warehouse.
pub const DEMO_CONFIG: &str = r#"version: 1
# State store beside this file (the default when `store` is absent).
store: sqlite://tidewatch-state.db
sources:
  shop:
    kind: sqlite
    url: sqlite://warehouse.db
monitors:
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
  - name: customers
    source: shop
    table: customers
    key: [customer_id]
    schedule: "*/10 * * * *"           # cron, in `timezone:` (default UTC)
    checks:
      - null_rate(country) < 5%
"#;

/// Creates `dir/warehouse.db` (replacing an old one) and `dir/tidewatch.yaml`; returns the config path.
pub async fn write_demo(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let db = dir.join("warehouse.db");
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", db.display()));
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .context("sqlite options")?
        .filename(&db)
        .create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts)
        .await
        .with_context(|| format!("creating {}", db.display()))?;
    // Orders: one every 10 minutes for 28 days, loaded up to 3 hours ago (the loader stalled since).
    // Incident in the last twelve loaded hours: 80% of emails NULL and a retried batch duplicated 12 ids.
    sqlx::raw_sql(
        "CREATE TABLE orders (
            id INTEGER NOT NULL,
            email TEXT,
            amount NUMERIC,
            status TEXT,
            created_at TEXT NOT NULL
        );
        WITH RECURSIVE seq(n) AS (SELECT 18 UNION ALL SELECT n + 1 FROM seq WHERE n < 4032)
        INSERT INTO orders (id, email, amount, status, created_at)
        SELECT 100000 - n,
               CASE WHEN n < 90 AND n % 5 < 4 THEN NULL ELSE 'user' || (n * 7919 % 1000) || '@example.com' END,
               ROUND(5 + (n * 7919 % 9500) / 100.0, 2),
               CASE n % 10 WHEN 0 THEN 'refunded' WHEN 1 THEN 'pending' ELSE 'paid' END,
               strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || (n * 10) || ' minutes')
        FROM seq;
        INSERT INTO orders (id, email, amount, status, created_at)
        SELECT id, email, amount, status, created_at FROM orders ORDER BY created_at DESC LIMIT 12;
        CREATE TABLE customers (
            customer_id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            country TEXT
        );
        WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 500)
        INSERT INTO customers (customer_id, name, country)
        SELECT n, 'customer ' || n, CASE n % 4 WHEN 0 THEN 'DE' WHEN 1 THEN 'FR' WHEN 2 THEN 'NL' ELSE 'PT' END
        FROM seq;",
    )
    .execute(&mut conn)
    .await
    .with_context(|| format!("filling {}", db.display()))?;
    conn.close().await.context("closing the demo warehouse")?;
    let config = dir.join("tidewatch.yaml");
    std::fs::write(&config, DEMO_CONFIG)
        .with_context(|| format!("writing {}", config.display()))?;
    Ok(config)
}
