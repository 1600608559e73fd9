//! SQLite backend: one file in WAL mode. Timestamps are `INTEGER` microseconds since the Unix epoch
//! (UTC), exact to the microsecond and ordered correctly by plain integer comparison.

use crate::backend::{db_code, migrate_error, Backend};
use crate::sql::Sql;
use crate::{StoreError, StoreOptions};
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult};
use sqlx::{ConnectOptions, Connection, Sqlite};
use std::path::PathBuf;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

impl Backend for Sqlite {
    const BACKEND: &'static str = "sqlite";

    type Time = i64;

    fn encode_time(t: DateTime<Utc>) -> i64 {
        t.timestamp_micros()
    }

    fn decode_time(v: i64) -> Result<DateTime<Utc>, String> {
        DateTime::<Utc>::from_timestamp_micros(v)
            .ok_or_else(|| format!("timestamp {v} out of range"))
    }

    const SKIP_LOCKED: &'static str = "";

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    fn is_lock_timeout(e: &sqlx::Error) -> bool {
        // SQLITE_BUSY and its extended codes (BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT).
        db_code(e)
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == 5)
    }
}

/// Opens (creating if missing) the file at `path`, migrates it and returns its pool.
pub(crate) async fn connect(path: &str, opts: &StoreOptions) -> Result<Sql<Sqlite>, StoreError> {
    if path.is_empty() {
        return Err(StoreError::InvalidUrl(
            "sqlite store url has no path".into(),
        ));
    }
    let path = PathBuf::from(path);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(StoreError::SqliteDirMissing { path, dir });
    }
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true);
    let open_err = |source| StoreError::SqliteOpen {
        path: path.clone(),
        source,
    };
    let open_timeout = StoreError::Timeout {
        backend: Sqlite::BACKEND,
        what: "opening the database",
        after: opts.connect_timeout,
    };

    // Migrations on a connection of their own, which waits up to `lock_timeout` for another writer.
    let migrating = options.clone().busy_timeout(opts.lock_timeout);
    let mut conn = tokio::time::timeout(opts.connect_timeout, migrating.connect())
        .await
        .map_err(|_| open_timeout)?
        .map_err(open_err)?;
    // `run_direct` is `run` on a connection; `run` itself makes this future not `Send` (sqlx's own
    // comment: the "`Acquire` is not general enough" error).
    let migrated = MIGRATOR.run_direct(&mut conn).await;
    // Closing can only fail on a broken connection, which the pool below would report anyway.
    let _ = conn.close().await;
    migrated.map_err(|e| migrate_error::<Sqlite>(e, opts.lock_timeout))?;

    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(opts.connect_timeout)
        .connect_with(options.busy_timeout(opts.statement_timeout))
        .await
        .map_err(open_err)?;
    Ok(Sql::new(pool))
}
