//! PostgreSQL backend. Timestamps are `TIMESTAMPTZ` (microsecond precision). Safe to share between
//! several monitor processes: ids come from sequences, migrations take sqlx's advisory lock (waited for
//! at most `lock_timeout`), and monitors are serialized by leases.

use crate::backend::{db_code, migrate_error, Backend};
use crate::codec::show_duration;
use crate::sql::Sql;
use crate::{StoreError, StoreOptions};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgQueryResult};
use sqlx::{ConnectOptions, Connection, Postgres};
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// SQLSTATE `lock_not_available`: `lock_timeout` ran out.
const LOCK_NOT_AVAILABLE: &str = "55P03";

impl Backend for Postgres {
    const BACKEND: &'static str = "postgres";

    type Time = DateTime<Utc>;

    fn encode_time(t: DateTime<Utc>) -> DateTime<Utc> {
        t
    }

    fn decode_time(v: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        Ok(v)
    }

    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    fn is_lock_timeout(e: &sqlx::Error) -> bool {
        db_code(e).as_deref() == Some(LOCK_NOT_AVAILABLE)
    }
}

/// A session setting in milliseconds, at least 1 (0 would switch the timeout off).
fn millis(d: Duration) -> u128 {
    d.as_millis().max(1)
}

/// Connects to `url`, migrates and returns the pool.
pub(crate) async fn connect(url: &str, opts: &StoreOptions) -> Result<Sql<Postgres>, StoreError> {
    // `url::ParseError` messages never repeat the input.
    let parsed = url::Url::parse(url)
        .map_err(|e| StoreError::InvalidUrl(format!("postgres store url: {e}")))?;
    let target = format!(
        "{}:{}{}",
        parsed.host_str().unwrap_or("localhost"),
        parsed.port().unwrap_or(5432),
        parsed.path()
    );
    let connect_err = |reason: String| StoreError::PostgresConnect {
        target: target.clone(),
        reason,
    };
    let driver_err = |e: sqlx::Error| connect_err(crate::redact(&e.to_string(), url));
    let options = PgConnectOptions::from_url(&parsed).map_err(driver_err)?;

    // One direct connection first: the pool retries a refused connection until its acquire timeout
    // and then reports only "timed out", which hides the cause. It runs the migrations, waiting at
    // most `lock_timeout` for the advisory lock (replicas starting together apply them once) and for
    // each table lock a migration needs; no statement timeout, so a long migration is not cut short.
    let migrating = options
        .clone()
        .options([("lock_timeout", millis(opts.lock_timeout))]);
    let mut conn = tokio::time::timeout(opts.connect_timeout, migrating.connect())
        .await
        .map_err(|_| {
            connect_err(format!(
                "timed out after {}",
                show_duration(opts.connect_timeout)
            ))
        })?
        .map_err(driver_err)?;
    // `run_direct` is `run` on a connection; `run` itself makes this future not `Send` (sqlx's own
    // comment: the "`Acquire` is not general enough" error).
    let migrated = MIGRATOR.run_direct(&mut conn).await;
    // Closing (which also drops a session's advisory lock) can only fail on a broken socket, which the
    // pool below would report anyway.
    let _ = conn.close().await;
    migrated.map_err(|e| migrate_error::<Postgres>(e, opts.lock_timeout))?;

    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(opts.connect_timeout)
        .connect_with(options.options([("statement_timeout", millis(opts.statement_timeout))]))
        .await
        .map_err(driver_err)?;
    Ok(Sql::new(pool))
}
