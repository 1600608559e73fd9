//! What differs between the backends, and nothing else.
//!
//! The SQL text is shared: sqlx's SQLite driver takes PostgreSQL's `$N` placeholders (a repeated `$N`
//! is one parameter in both), and SQLite (3.35 and later, bundled with sqlx) speaks the same
//! `INSERT … ON CONFLICT … DO UPDATE … WHERE`, `RETURNING` and `TRUE`. What is left is here: how a
//! timestamp is stored, how a driver counts changed rows, and which error means a lock wait ran out.
//! Opening a pool and migrating live beside each impl (`sqlite.rs`, `postgres.rs`).

use crate::StoreError;
use chrono::{DateTime, Utc};
use sqlx::migrate::MigrateError;
use sqlx::{Decode, Encode, Type};
use std::time::Duration;

/// A sqlx driver the store runs on.
pub(crate) trait Backend: sqlx::Database {
    /// `"sqlite"` or `"postgres"`, for messages.
    const BACKEND: &'static str;

    /// The stored form of a timestamp.
    type Time: for<'q> Encode<'q, Self>
        + for<'r> Decode<'r, Self>
        + Type<Self>
        + Copy
        + Send
        + Sync
        + 'static;

    fn encode_time(t: DateTime<Utc>) -> Self::Time;

    /// `Err` with the reason when the stored value is no valid timestamp.
    fn decode_time(v: Self::Time) -> Result<DateTime<Utc>, String>;

    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// Appended to the row-picking subquery of a claim: PostgreSQL's `FOR UPDATE SKIP LOCKED` (two
    /// claimers never wait on each other's rows), nothing on SQLite (one writer at a time anyway).
    /// The claim's conditional `UPDATE` is what makes it exclusive on both.
    const SKIP_LOCKED: &'static str;

    /// Whether `e` says a lock wait ran out (PostgreSQL's `lock_timeout`, SQLite's busy timeout).
    fn is_lock_timeout(e: &sqlx::Error) -> bool;
}

/// A failed migration; a lock wait that ran out is [`StoreError::Timeout`].
pub(crate) fn migrate_error<DB: Backend>(
    source: MigrateError,
    lock_timeout: Duration,
) -> StoreError {
    let cause = match &source {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => Some(e),
        _ => None,
    };
    if cause.is_some_and(DB::is_lock_timeout) {
        return StoreError::Timeout {
            backend: DB::BACKEND,
            what: "waiting for the migration lock",
            after: lock_timeout,
        };
    }
    StoreError::Migrate {
        backend: DB::BACKEND,
        source,
    }
}

/// The database error code of `e`, if it is one.
pub(crate) fn db_code(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}
