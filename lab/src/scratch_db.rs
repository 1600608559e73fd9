//! A scratch PostgreSQL database for one bench run: created on the server `--url` names, handed to the
//! bench as a URL, and dropped afterwards (also after an error or Ctrl-C) unless `--keep`.

use anyhow::{anyhow, Context};
use sqlx::{Connection, PgConnection};
use std::future::Future;

/// Creates `<prefix>_<pid>` on the server of `admin_url`, runs `bench` with that database's URL, and
/// drops the database (FORCE ends a statement of ours still running) unless `keep`. The bench's own
/// error wins over a failed drop, which is then only a warning.
pub async fn with_scratch_db<F, Fut>(
    admin_url: &str,
    prefix: &str,
    keep: bool,
    bench: F,
) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let admin_url = url::Url::parse(admin_url).context("parsing --url")?;
    let database = format!("{prefix}_{}", std::process::id());
    let mut bench_url = admin_url.clone();
    bench_url.set_path(&format!("/{database}"));
    let mut admin = PgConnection::connect(admin_url.as_str())
        .await
        .context("connecting to the server given by --url")?;
    sqlx::raw_sql(&format!("CREATE DATABASE {database}"))
        .execute(&mut admin)
        .await
        .with_context(|| format!("creating database {database}"))?;
    eprintln!("created database {database}");
    let outcome = tokio::select! {
        r = bench(bench_url.to_string()) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    if keep {
        eprintln!("kept database {database} (--keep); drop it with: DROP DATABASE {database}");
    } else {
        let dropped = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("dropping database {database}"));
        match (&outcome, dropped) {
            (_, Ok(_)) => eprintln!("dropped database {database}"),
            (Err(_), Err(e)) => eprintln!("warning: {e:#}"),
            (Ok(_), Err(e)) => return Err(e),
        }
    }
    let _ = admin.close().await;
    outcome
}
