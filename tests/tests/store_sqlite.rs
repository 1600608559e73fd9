//! The store conformance suite on SQLite, plus SQLite-only connect behaviour.

use sqlx::{Connection, SqliteConnection};
use tidewatch::store::{Store, StoreError};
use tidewatch_tests::db::{unique_suffix, Backend, TempSqliteFile};

tidewatch_tests::store_conformance_tests!(Backend::Sqlite);

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
