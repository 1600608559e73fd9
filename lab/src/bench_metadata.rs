//! `bench metadata`: one metadata cycle of a `discover:` monitor over many generated PostgreSQL
//! tables, through the product's own cycle (`tidewatch::pipeline::discover::cycle`: the catalog
//! statement, judging, learned baselines, the one-transaction store write). Creates its own database,
//! runs a cold cycle (empty state store) and a warm one, prints seconds per cycle and the catalog
//! statements sent, then drops the database.

use anyhow::{anyhow, bail, Context};
use sqlx::{Connection, PgConnection};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct MetadataOptions {
    /// Server to use; the bench creates its own database tw_bench_meta_<pid> there and drops it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub url: String,
    /// Tables to create (5 columns and 10 rows each).
    #[arg(long, default_value_t = 10_000)]
    pub tables: usize,
    /// State store; default: a SQLite file in a temporary directory (the default of a config).
    #[arg(long)]
    pub store: Option<String>,
    /// Keep the bench database instead of dropping it.
    #[arg(long)]
    pub keep: bool,
}

/// Tables created per DDL transaction (a lock per new table: the server's lock table bounds it).
const DDL_BATCH: usize = 500;

pub async fn run(opts: &MetadataOptions) -> anyhow::Result<()> {
    if opts.tables == 0 {
        bail!("--tables must be at least 1");
    }
    crate::scratch_db::with_scratch_db(&opts.url, "tw_bench_meta", opts.keep, |url| async move {
        cycles(opts, &url).await
    })
    .await
}

async fn cycles(opts: &MetadataOptions, url: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut conn = PgConnection::connect(url).await?;
    sqlx::raw_sql("CREATE SCHEMA bench")
        .execute(&mut conn)
        .await?;
    let mut from = 1;
    while from <= opts.tables {
        let to = (from + DDL_BATCH - 1).min(opts.tables);
        // Integers we made; one DO block per batch.
        sqlx::raw_sql(&format!(
            "DO $$ BEGIN FOR i IN {from}..{to} LOOP \
               EXECUTE format('CREATE TABLE bench.t%s (id bigint, name text, amount numeric(12,2), \
                 created_at timestamptz, flag boolean)', i); \
               EXECUTE format('INSERT INTO bench.t%s SELECT g, ''n'' || g, g, now(), g %% 2 = 0 \
                 FROM generate_series(1, 10) g', i); \
             END LOOP; END $$"
        ))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating tables {from} to {to}"))?;
        from = to + 1;
    }
    conn.close().await?;
    println!(
        "bench metadata: {} tables (5 columns, 10 rows each) created in {:.1} s",
        opts.tables,
        started.elapsed().as_secs_f64()
    );

    let dir = std::env::temp_dir().join(format!("tw_bench_meta_{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store_url = opts
        .store
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("state.db").display()));
    let yaml = format!(
        "version: 1\nstore: '{store_url}'\nsources:\n  wh:\n    kind: postgres\n    url: '{url}'\nmonitors:\n  - name: all\n    source: wh\n    discover:\n      schemas: [bench]\n    every: 15m\n    checks:\n      - row_estimate >= 0\n      - last_change_age_seconds < 7d\n"
    );
    let path = dir.join("tidewatch.yaml");
    std::fs::write(&path, &yaml)?;
    let result = measure(&yaml, &path).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(yaml: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let config = tidewatch::config::parse_str(yaml, path, &|_| None).map_err(|e| anyhow!("{e}"))?;
    let store =
        tidewatch::store::Store::connect(secrecy::ExposeSecret::expose_secret(&config.store))
            .await?;
    let template = config
        .monitors
        .first()
        .ok_or_else(|| anyhow!("no monitor"))?;
    let mut now = chrono::Utc::now();
    for label in ["cold", "warm"] {
        let t = Instant::now();
        let run = store.begin_run(now).await?;
        let cycle =
            tidewatch::pipeline::discover::cycle(&config, &store, template, run, "bench", now)
                .await?;
        store.finish_run(run, chrono::Utc::now(), 0).await?;
        let secs = t.elapsed().as_secs_f64();
        let errors = cycle
            .rows
            .iter()
            .filter(|r| r.status == checks::Status::Error)
            .count();
        println!(
            "{label} cycle: {secs:.2} s for {} tables ({} result rows, {errors} errors), catalog statements sent: {} ({} store backend)",
            cycle.tables,
            cycle.rows.len(),
            cycle.statements,
            store.backend()
        );
        now += chrono::Duration::minutes(15);
    }
    store.close().await;
    Ok(())
}
