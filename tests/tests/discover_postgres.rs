//! `discover:` monitors on the real PostgreSQL service: tables added and dropped between cycles,
//! exact catalog values after ANALYZE, one catalog statement per cycle however many tables, and the
//! service's executor running a template on its `every:`.

// Test code: a panic on a missing value is the assertion.
#![allow(clippy::unwrap_used)]

use checks::{ScanReport, Status};
use sqlx::Connection;
use std::sync::Arc;
use tidewatch_tests::scan_suite::{config_head, find, Workspace};
use tidewatch_tests::warehouses::{Kind, TestWarehouse};

const TEMPLATE: &str = "  - name: app\n    source: wh\n    discover:\n      schemas: [app]\n      exclude: [\"*_tmp\"]\n    every: 1h\n    checks:\n      - row_estimate > 0\n      - last_change_age_seconds < 1d\n";

async fn scalar_f64(url: &str, sql: &str) -> anyhow::Result<f64> {
    let mut c = sqlx::PgConnection::connect(url).await?;
    let v: f64 = sqlx::query_scalar(sql).fetch_one(&mut c).await?;
    c.close().await?;
    Ok(v)
}

/// Waits until the statistics system shows `want` inserts into `app.orders` (backends flush their
/// counters when they end, a moment after the client closed).
async fn wait_for_inserts(url: &str, want: f64) -> anyhow::Result<()> {
    for _ in 0..50 {
        let n = scalar_f64(
            url,
            "SELECT COALESCE(n_tup_ins, 0)::float8 FROM pg_stat_user_tables WHERE schemaname = 'app' AND relname = 'orders'",
        )
        .await?;
        if n == want {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    anyhow::bail!("the insert counter of app.orders never reached {want}")
}

fn monitors(report: &ScanReport) -> Vec<String> {
    let mut names: Vec<String> = report.results.iter().map(|r| r.monitor.clone()).collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn tables_added_and_dropped_between_cycles() -> anyhow::Result<()> {
    let wh = TestWarehouse::create(Kind::Postgres).await?;
    let url = wh.url();
    wh.exec(
        "CREATE SCHEMA app;
         CREATE TABLE app.orders (id INT PRIMARY KEY, email TEXT, amount NUMERIC(10,2));
         INSERT INTO app.orders SELECT g, 'u' || g, g FROM generate_series(1, 100) g;
         CREATE TABLE app.customers (id INT, name TEXT);
         INSERT INTO app.customers SELECT g, 'n' || g FROM generate_series(1, 40) g;
         CREATE TABLE app.orders_tmp (id INT);
         CREATE TABLE public.elsewhere (id INT);
         ANALYZE app.orders; ANALYZE app.customers",
    )
    .await?;
    wait_for_inserts(&url, 100.0).await?;
    let yaml = config_head(&wh, "") + TEMPLATE;
    let ws = Workspace::new();
    let t0 = chrono::Utc::now();
    let h = chrono::Duration::hours(1);

    // Cycle 1: every included table of the schema is a monitor; orders_tmp is excluded and the
    // public schema is not read.
    let r1 = ws.scan_at(&yaml, t0).await?;
    assert_eq!(monitors(&r1), ["app.app.customers", "app.app.orders"]);
    let est = find(&r1, "app.app.orders", "row_estimate", None);
    assert_eq!(est.value, Some(100.0));
    assert_eq!(est.status, Status::Pass);
    assert_eq!(
        est.details.as_ref().unwrap()["method"],
        "pg_class.reltuples"
    );
    assert_eq!(
        find(&r1, "app.app.customers", "row_estimate", None).value,
        Some(40.0)
    );
    let size = scalar_f64(&url, "SELECT pg_total_relation_size('app.orders')::float8").await?;
    assert_eq!(
        find(&r1, "app.app.orders", "size_bytes", None).value,
        Some(size)
    );
    let schema = find(&r1, "app.app.orders", "schema", None);
    assert_eq!(schema.value, Some(3.0));
    assert_eq!(
        schema.details.as_ref().unwrap()["columns"][2]["type"],
        "numeric(10,2)"
    );
    // No insert delta before a second cycle, and no error for its absence.
    assert!(!r1
        .results
        .iter()
        .any(|r| r.metric.as_str() == "rows_inserted"));
    assert!(
        !r1.results.iter().any(|r| r.status == Status::Error),
        "{:#?}",
        r1.results
    );

    // Between cycles: a table added, one dropped, 25 rows inserted into orders.
    wh.exec(
        "CREATE TABLE app.invoices (id INT, total NUMERIC);
         DROP TABLE app.customers;
         INSERT INTO app.orders SELECT g, 'v' || g, g FROM generate_series(101, 125) g",
    )
    .await?;
    wait_for_inserts(&url, 125.0).await?;
    let r2 = ws.scan_at(&yaml, t0 + h).await?;
    assert_eq!(
        monitors(&r2),
        ["app.app.customers", "app.app.invoices", "app.app.orders"]
    );
    let dropped: Vec<_> = r2
        .results
        .iter()
        .filter(|r| r.monitor == "app.app.customers")
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:#?}");
    assert_eq!(dropped[0].status, Status::Error);
    assert!(
        dropped[0]
            .message
            .starts_with("table dropped: app.customers"),
        "{}",
        dropped[0].message
    );
    assert_eq!(
        find(&r2, "app.app.invoices", "schema", None).message,
        "first schema snapshot"
    );
    assert_eq!(
        find(&r2, "app.app.orders", "rows_inserted", None).value,
        Some(25.0)
    );
    assert_eq!(
        find(&r2, "app.app.orders", "last_change_age_seconds", None).value,
        Some(0.0)
    );

    // Cycle 3, nothing changed: the dropped table is not reported again, the age counts from the
    // cycle that saw the change, no rows were inserted.
    let r3 = ws.scan_at(&yaml, t0 + h * 2).await?;
    assert_eq!(monitors(&r3), ["app.app.invoices", "app.app.orders"]);
    assert_eq!(
        find(&r3, "app.app.orders", "last_change_age_seconds", None).value,
        Some(3600.0)
    );
    assert_eq!(
        find(&r3, "app.app.orders", "rows_inserted", None).value,
        Some(0.0)
    );
    let r4 = ws.scan_at(&yaml, t0 + h * 3).await?;
    assert!(!monitors(&r4).contains(&"app.app.customers".to_string()));

    // The series are stored per discovered table, so baselines and the API see them.
    let store = ws.store().await?;
    let key = checks::SeriesKey::table("app.app.orders".to_string(), checks::Metric::RowEstimate);
    assert_eq!(store.series(&key, None, None).await?.len(), 4);
    store.close().await;
    wh.cleanup().await
}

#[tokio::test]
async fn one_catalog_statement_per_cycle_however_many_tables() -> anyhow::Result<()> {
    let wh = TestWarehouse::create(Kind::Postgres).await?;
    wh.exec("CREATE SCHEMA app; CREATE SCHEMA app2; CREATE TABLE app.a (x INT); CREATE TABLE app2.b (y INT)")
        .await?;
    let yaml = config_head(&wh, "")
        + "  - name: app\n    source: wh\n    discover:\n      schemas: [app, app2]\n";
    let ws = Workspace::new();
    std::fs::write(ws.dir.join("tidewatch.yaml"), &yaml)?;
    let config = tidewatch::config::parse_str(&yaml, &ws.dir.join("tidewatch.yaml"), &|_| None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let store =
        tidewatch::store::Store::connect(secrecy::ExposeSecret::expose_secret(&config.store))
            .await?;
    let template = &config.monitors[0];
    let now = chrono::Utc::now();
    let run = store.begin_run(now).await?;
    let c =
        tidewatch::pipeline::discover::cycle(&config, &store, template, run, "test", now).await?;
    assert_eq!((c.statements, c.tables), (1, 2));
    wh.exec(
        "DO $$ BEGIN FOR i IN 1..40 LOOP EXECUTE format('CREATE TABLE app.t%s (id INT, v TEXT)', i); END LOOP; END $$",
    )
    .await?;
    let later = now + chrono::Duration::minutes(5);
    let run = store.begin_run(later).await?;
    let c =
        tidewatch::pipeline::discover::cycle(&config, &store, template, run, "test", later).await?;
    assert_eq!((c.statements, c.tables), (1, 42));
    store.close().await;
    wh.cleanup().await
}

#[tokio::test]
async fn explicit_monitor_takes_its_table_over() -> anyhow::Result<()> {
    let wh = TestWarehouse::create(Kind::Postgres).await?;
    wh.exec(
        "CREATE TABLE orders (id INT); INSERT INTO orders VALUES (1), (2);
         CREATE TABLE items (id INT)",
    )
    .await?;
    // No `schemas:`: the connection's schema (public). The explicit monitor names the table without
    // a schema, which means the same.
    let yaml = config_head(&wh, "")
        + "  - name: orders\n    source: wh\n    table: orders\n    checks: [row_count = 2]\n  - name: all\n    source: wh\n    discover: {}\n    checks: [size_bytes >= 0]\n";
    let report = Workspace::new().scan(&yaml).await?;
    assert_eq!(monitors(&report), ["all.public.items", "orders"]);
    assert_eq!(
        find(&report, "orders", "row_count", None).status,
        Status::Pass
    );
    wh.cleanup().await
}

#[tokio::test]
async fn the_service_runs_a_template_on_its_every() -> anyhow::Result<()> {
    use tidewatch::service::scheduler::{Executor, Trigger};
    let wh = TestWarehouse::create(Kind::Postgres).await?;
    wh.exec("CREATE SCHEMA app; CREATE TABLE app.orders (id INT); INSERT INTO app.orders VALUES (1), (2), (3); ANALYZE app.orders")
        .await?;
    let yaml = config_head(&wh, "") + TEMPLATE;
    let ws = Workspace::new();
    let path = ws.dir.join("tidewatch.yaml");
    std::fs::write(&path, &yaml)?;
    let config = tidewatch::config::parse_str(&yaml, &path, &|_| None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(
        config.monitors[0]
            .schedule
            .as_ref()
            .map(tidewatch::config::describe_schedule),
        Some("every 3600s".to_string())
    );
    let store = Arc::new(
        tidewatch::store::Store::connect(secrecy::ExposeSecret::expose_secret(&config.store))
            .await?,
    );
    let executor = tidewatch::service::executor::ScanExecutor {
        config: Arc::new(config),
        store: store.clone(),
        holder: "test".into(),
        telemetry: Arc::new(tidewatch_api::Telemetry::new()?),
        alerts_wake: None,
        latest: Arc::default(),
    };
    let slot = chrono::Utc::now();
    executor.execute("app", slot, Trigger::Schedule).await;
    let runs = store.scheduled_runs(Some("app"), None, 10).await?;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome.as_deref(), Some("ok"), "{:?}", runs[0]);
    let latest = store.latest("app.app.orders").await?;
    let metrics: Vec<&str> = latest.iter().map(|m| m.key.metric.as_str()).collect();
    assert!(metrics.contains(&"row_estimate"), "{metrics:?}");
    assert!(metrics.contains(&"schema"), "{metrics:?}");
    store.close().await;
    wh.cleanup().await
}
