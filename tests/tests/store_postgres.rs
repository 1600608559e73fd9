//! The store conformance suite on PostgreSQL (server at 127.0.0.1:5432), plus Postgres-only connect
//! behaviour.

use tidewatch::store::{Store, StoreError};
use tidewatch_tests::db::{fresh_pg_database, unique_suffix, Backend};

tidewatch_tests::store_conformance_tests!(Backend::Postgres);

const PASSWORD: &str = "s3cretpw";

fn assert_hides_password(err: &StoreError) {
    let shown = err.to_string();
    let debug = format!("{err:?}");
    assert!(
        !shown.contains(PASSWORD),
        "display leaks the password: {shown}"
    );
    assert!(
        !debug.contains(PASSWORD),
        "debug leaks the password: {debug}"
    );
    assert!(
        shown.starts_with("cannot connect to postgres store at 127.0.0.1:"),
        "names backend and host: {shown}"
    );
}

#[tokio::test]
async fn backend_is_postgres() {
    let db = fresh_pg_database().await.expect("fresh database");
    let store = Store::connect(db.url()).await.expect("connect");
    assert_eq!(store.backend(), "postgres");
    store.close().await;
    // The `postgresql://` spelling is accepted too.
    let alt = db.url().replacen("postgres://", "postgresql://", 1);
    let store = Store::connect(&alt)
        .await
        .expect("connect with postgresql://");
    assert_eq!(store.backend(), "postgres");
    store.close().await;
    db.drop_db().await.expect("drop");
}

#[tokio::test]
async fn refused_connection_does_not_leak_the_password() {
    let err = Store::connect(&format!("postgres://postgres:{PASSWORD}@127.0.0.1:1/x"))
        .await
        .expect_err("port 1 refuses");
    assert!(matches!(err, StoreError::PostgresConnect { .. }), "{err:?}");
    assert_hides_password(&err);
    assert!(err.to_string().contains("127.0.0.1:1/x"), "{err}");
}

#[tokio::test]
async fn wrong_database_does_not_leak_the_password() {
    let name = format!("tw_no_such_db_{}", unique_suffix());
    let err = Store::connect(&format!(
        "postgres://postgres:{PASSWORD}@127.0.0.1:5432/{name}"
    ))
    .await
    .expect_err("database does not exist");
    assert!(matches!(err, StoreError::PostgresConnect { .. }), "{err:?}");
    assert_hides_password(&err);
    let msg = err.to_string();
    assert!(
        msg.contains(&name) && msg.contains("does not exist"),
        "the cause is shown: {msg}"
    );
}
