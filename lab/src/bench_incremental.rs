//! `tidewatch-lab bench incremental`: what a `mode: incremental` scan of the newest hour costs on a big
//! indexed PostgreSQL table, next to a full scan of the same table (issue 7).
//!
//! The bench creates its own database, one table of `--rows` rows whose `created_at` is spread evenly
//! over the last 30 days up to now (so the newest hour holds rows / 720 of them) with a B-tree index
//! on `created_at`, then runs the real pipeline (`tidewatch::pipeline::scan`, SQLite state store in a
//! temp dir): one warm-start scan, `--repeat` incremental scans, and `--repeat` full scans of a second
//! monitor on the same table. It prints medians of the whole scan and of the incremental statement
//! alone (run directly, as `tidewatch explain` prints it). Figures only; it asserts nothing. The
//! database is dropped at the end unless `--keep`.

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};

/// The target for the newest hour of an indexed 1e7-row table.
pub const TARGET_MS: f64 = 100.0;

/// What `tidewatch-lab bench incremental` was asked to do (its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct IncrementalArgs {
    /// Server to use; the bench creates its own database `tw_inc_<pid>` there and drops it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub url: String,
    /// Rows in the table.
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: u64,
    /// Timed scans of each kind.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Keep the bench database instead of dropping it.
    #[arg(long)]
    pub keep: bool,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the bench and prints its figures on stdout (progress on stderr).
pub async fn run(args: &IncrementalArgs) -> anyhow::Result<()> {
    if args.rows < 1000 || args.repeat == 0 {
        bail!("--rows must be at least 1000 and --repeat at least 1");
    }
    crate::scratch_db::with_scratch_db(&args.url, "tw_inc", args.keep, |url| async move {
        measure(args, &url).await
    })
    .await
}

async fn measure(args: &IncrementalArgs, url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(url).await?;
    let started = Instant::now();
    let span = 30 * 24 * 3600;
    sqlx::raw_sql(&format!(
        "CREATE TABLE events (id BIGINT, created_at TIMESTAMPTZ, email TEXT, amount NUMERIC(12,2));
         INSERT INTO events
           SELECT g, now() - make_interval(secs => {span}.0 * ({rows} - g) / {rows}),
                  CASE WHEN g % 20 = 0 THEN NULL ELSE 'user' || (g % 100000) || '@example.com' END,
                  (g % 10000) / 100.0
           FROM generate_series(1, {rows}) g;
         CREATE INDEX events_created_at ON events (created_at)",
        rows = args.rows
    ))
    .execute(&mut conn)
    .await
    .context("building the bench table")?;
    // Its own statement: VACUUM cannot run inside the implicit transaction of a multi-statement string.
    sqlx::raw_sql("VACUUM (FREEZE, ANALYZE) events")
        .execute(&mut conn)
        .await
        .context("vacuuming the bench table")?;
    let build = started.elapsed();
    let newest_hour: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE created_at >= date_trunc('hour', now()) - interval '1 hour'",
    )
    .fetch_one(&mut conn)
    .await?;
    eprintln!("built {} rows in {:.1} s", args.rows, build.as_secs_f64());

    let dir = std::env::temp_dir().join(format!("tw_inc_{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let yaml = format!(
        "version: 1\nstore: sqlite://state.db\nsources:\n  pg: {{ kind: postgres, url: '{url}' }}\nmonitors:\n  - name: inc\n    source: pg\n    table: public.events\n    timestamp_column: created_at\n    key: [id]\n    mode: incremental\n    full_profile_every: 1d\n  - name: full\n    source: pg\n    table: public.events\n    timestamp_column: created_at\n    key: [id]\n"
    );
    let path = dir.join("tidewatch.yaml");
    std::fs::write(&path, &yaml)?;
    let config = tidewatch::config::parse_str(&yaml, &path, &|_| None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let store =
        tidewatch::store::Store::connect(&format!("sqlite://{}", dir.join("state.db").display()))
            .await?;
    let scan = |monitor: &'static str| {
        let config = &config;
        let store = &store;
        async move {
            let t = Instant::now();
            let report =
                tidewatch::pipeline::scan(config, store, Some(monitor), chrono::Utc::now()).await?;
            anyhow::Ok((t.elapsed(), report))
        }
    };
    let (warm_inc, _) = scan("inc").await?;
    let (warm_full, _) = scan("full").await?;
    eprintln!(
        "warm-start scans: inc {:.0} ms, full {:.0} ms",
        ms(warm_inc),
        ms(warm_full)
    );

    let mut inc = Vec::new();
    let mut full = Vec::new();
    let mut partial = String::new();
    for _ in 0..args.repeat {
        let (d, report) = scan("inc").await?;
        inc.push(ms(d));
        if let Some(r) = report
            .results
            .iter()
            .find(|r| r.metric == checks::Metric::Volume)
        {
            partial = format!("volume of the newest complete hour {:?}", r.value);
        }
        let (d, _) = scan("full").await?;
        full.push(ms(d));
    }
    // The incremental statement alone, as the next scan would send it.
    let m = config
        .monitors
        .iter()
        .find(|m| m.name == "inc")
        .context("monitor inc")?;
    let request = tidewatch::pipeline::scan::request_for(&store, m, chrono::Utc::now()).await?;
    let source = config.sources.get("pg").context("source")?;
    let statements = tidewatch::sources::warehouse::profile::explain(m, source, request)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let statement = statements.first().context("no statement")?;
    let mut alone = Vec::new();
    for _ in 0..args.repeat {
        let t = Instant::now();
        sqlx::raw_sql(statement).fetch_all(&mut conn).await?;
        alone.push(ms(t.elapsed()));
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = conn.close().await;

    let (inc_m, full_m, alone_m) = (median(&mut inc), median(&mut full), median(&mut alone));
    println!(
        "table: {} rows over 30 days, B-tree index on created_at, {newest_hour} rows in the newest two hours; built in {:.1} s",
        args.rows,
        build.as_secs_f64()
    );
    println!("incremental request: {request:?}");
    println!("{partial}");
    println!("{:<34} {:>10} {:>10}   runs", "", "median_ms", "x_target");
    let line = |name: &str, m: f64, runs: &[f64]| {
        let runs: Vec<String> = runs.iter().map(|r| format!("{r:.1}")).collect();
        println!(
            "{name:<34} {m:>10.1} {:>10.2}   {}",
            m / TARGET_MS,
            runs.join(" ")
        );
    };
    line("incremental statement alone", alone_m, &alone);
    line("incremental scan (whole pipeline)", inc_m, &inc);
    line("full scan (whole pipeline)", full_m, &full);
    println!(
        "target: the newest hour of an indexed table in < {TARGET_MS} ms: statement {}, whole scan {}; full/incremental {:.0}x",
        if alone_m < TARGET_MS { "met" } else { "NOT met" },
        if inc_m < TARGET_MS { "met" } else { "NOT met" },
        full_m / inc_m
    );
    Ok(())
}
