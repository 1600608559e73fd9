//! The store conformance suite on SQLite, plus SQLite-only connect behaviour.

use checks::{Metric, SeriesKey};
use sqlx::{Connection, SqliteConnection};
use std::time::{Duration, Instant};
use tidewatch_store::conformance::{self, t0};
use tidewatch_store::{BucketPoint, Store, StoreError, StoreOptions};
use tidewatch_tests::db::{fresh, migrate_up_to, unique_suffix, Backend, TempSqliteFile};

tidewatch_store::store_conformance_tests!(|case| fresh(Backend::Sqlite, case));

async fn raw(file: &TempSqliteFile) -> SqliteConnection {
    SqliteConnection::connect(&file.url())
        .await
        .expect("open the file directly")
}

#[tokio::test]
async fn short_url_form_creates_a_wal_file() {
    let file = TempSqliteFile::new("short_url");
    assert!(!file.path().exists());
    let store = Store::connect(&format!("sqlite:{}", file.path().display()))
        .await
        .expect("connect");
    assert_eq!(store.backend(), "sqlite");
    assert!(file.path().exists(), "the database file is created");
    store.close().await;

    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", file.path().display()))
        .await
        .expect("open the file directly");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
    conn.close().await.expect("close");
}

#[tokio::test]
async fn missing_directory_is_named_in_the_error() {
    let dir = std::env::temp_dir().join(format!("tw_missing_{}", unique_suffix()));
    let path = dir.join("state.db");
    let err = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, StoreError::SqliteDirMissing { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.display().to_string()),
        "names the directory: {msg}"
    );
    assert!(
        msg.contains(&path.display().to_string()),
        "names the database path: {msg}"
    );
    assert!(msg.starts_with("sqlite"), "says which backend: {msg}");
    assert!(!dir.exists(), "the directory is not created");
}

#[tokio::test]
async fn bad_urls_are_refused_without_echoing_credentials() {
    let err = Store::connect("mysql://u:hunter2pw@db.example/x")
        .await
        .expect_err("unsupported");
    assert!(
        matches!(err, StoreError::UnsupportedScheme(ref s) if s == "mysql"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("hunter2pw"), "{err}");
    assert!(!format!("{err:?}").contains("hunter2pw"), "{err:?}");

    let err = Store::connect("just-a-path.db")
        .await
        .expect_err("no scheme");
    assert!(matches!(err, StoreError::InvalidUrl(_)), "{err:?}");
    let err = Store::connect("sqlite://").await.expect_err("no path");
    assert!(matches!(err, StoreError::InvalidUrl(_)), "{err:?}");
}

#[tokio::test]
async fn write_monitor_rolls_back_when_a_statement_fails() {
    let file = TempSqliteFile::new("rollback");
    let store = Store::connect(&file.url()).await.expect("connect");
    let mut conn = raw(&file).await;
    sqlx::query(
        "CREATE TRIGGER refuse_snapshots BEFORE INSERT ON schema_snapshots \
         BEGIN SELECT RAISE(ABORT, 'snapshots refused by the test'); END",
    )
    .execute(&mut conn)
    .await
    .expect("trigger");
    conn.close().await.expect("close");
    conformance::write_monitor_rolls_back_when_the_snapshot_fails(&store).await;
    store.close().await;
}

#[tokio::test]
async fn unknown_stored_metric_is_corrupt() {
    let file = TempSqliteFile::new("corrupt");
    let store = Store::connect(&file.url()).await.expect("connect");
    let run_id = store.begin_run(t0()).await.expect("run");
    let mut conn = raw(&file).await;
    sqlx::query(
        "INSERT INTO measurements (run_id, monitor, source, dataset, metric, status, message, \
         observed_at) VALUES ($1, 'orders', 'warehouse', 't', 'rows_per_fortnight', 'pass', '', 0)",
    )
    .bind(run_id)
    .execute(&mut conn)
    .await
    .expect("insert a row an unknown release wrote");
    conn.close().await.expect("close");
    let err = store.latest("orders").await.expect_err("unknown metric");
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                what: "metric name",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("rows_per_fortnight"), "{err}");
    store.close().await;
}

/// A store written by a release before 0005 keeps its buckets, each with its width, and new widths
/// start series of their own beside them.
#[tokio::test]
async fn upgrade_keeps_buckets_and_keys_them_by_width() {
    let file = TempSqliteFile::new("upgrade");
    migrate_up_to(Backend::Sqlite, 4, &file.url())
        .await
        .expect("an old store");
    let start = t0().timestamp_micros();
    let mut conn = raw(&file).await;
    sqlx::query(
        "INSERT INTO buckets (monitor, metric, column_name, bucket_start, bucket_seconds, value, \
         observed_at) VALUES ('orders', 'volume', '', $1, 3600, 5.0, $1), \
         ('orders', 'volume', '', $2, 3600, 6.0, $1), ('orders', 'newest_row', '', $1, 3600, 7.0, $1)",
    )
    .bind(start)
    .bind(start + 3_600_000_000)
    .execute(&mut conn)
    .await
    .expect("old buckets");
    conn.close().await.expect("close");

    let store = Store::connect(&file.url()).await.expect("upgrade");
    let volume = SeriesKey::table("orders", Metric::Volume);
    let hourly = vec![
        BucketPoint {
            bucket_start: t0(),
            value: 5.0,
        },
        BucketPoint {
            bucket_start: t0() + chrono::Duration::hours(1),
            value: 6.0,
        },
    ];
    assert_eq!(
        store.buckets(&volume, 3600, None).await.expect("kept"),
        hourly
    );
    assert_eq!(
        store
            .latest_bucket(&SeriesKey::table("orders", Metric::NewestRow), 3600)
            .await
            .expect("newest_row kept"),
        Some(t0())
    );
    let mut daily = conformance::hourly(&volume, 0, 11.0);
    daily.bucket_seconds = 86_400;
    store.upsert_buckets(&[daily]).await.expect("a new width");
    assert_eq!(
        store.buckets(&volume, 3600, None).await.expect("hourly"),
        hourly
    );
    assert_eq!(
        store
            .buckets(&volume, 86_400, None)
            .await
            .expect("daily")
            .len(),
        1
    );
    store.close().await;
}

/// The migration waits at most `lock_timeout` for another writer, then says so.
#[tokio::test]
async fn migration_waits_for_a_writer_at_most_the_lock_timeout() {
    let file = TempSqliteFile::new("migration_lock");
    migrate_up_to(Backend::Sqlite, 4, &file.url())
        .await
        .expect("an old store with migrations pending");
    let mut writer = raw(&file).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut writer)
        .await
        .expect("hold the write lock");
    let opts = StoreOptions {
        lock_timeout: Duration::from_millis(300),
        ..StoreOptions::default()
    };
    let started = Instant::now();
    let err = Store::connect_with(&file.url(), &opts)
        .await
        .expect_err("the writer holds the lock");
    let waited = started.elapsed();
    assert_eq!(
        err.to_string(),
        "sqlite store timed out waiting for the migration lock after 300ms"
    );
    assert!(waited < Duration::from_secs(10), "bounded wait: {waited:?}");
    sqlx::query("ROLLBACK")
        .execute(&mut writer)
        .await
        .expect("release");
    writer.close().await.expect("close");
    let store = Store::connect_with(&file.url(), &opts)
        .await
        .expect("migrates once the writer is gone");
    store.close().await;
}

/// A statement waits at most `statement_timeout` for another writer (SQLite's busy timeout).
#[tokio::test]
async fn statements_wait_for_a_writer_at_most_the_statement_timeout() {
    let file = TempSqliteFile::new("busy");
    let opts = StoreOptions {
        statement_timeout: Duration::from_millis(200),
        ..StoreOptions::default()
    };
    let store = Store::connect_with(&file.url(), &opts)
        .await
        .expect("connect");
    let mut writer = raw(&file).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut writer)
        .await
        .expect("hold the write lock");
    let started = Instant::now();
    let err = store.begin_run(t0()).await.expect_err("locked");
    assert!(matches!(err, StoreError::Query { .. }), "{err:?}");
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded wait: {:?}",
        started.elapsed()
    );
    sqlx::query("ROLLBACK")
        .execute(&mut writer)
        .await
        .expect("release");
    writer.close().await.expect("close");
    store.begin_run(t0()).await.expect("free again");
    store.close().await;
}
