//! The store conformance suite on PostgreSQL (server at 127.0.0.1:5432), plus Postgres-only connect
//! behaviour.

use checks::{Metric, SeriesKey};
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};
use tidewatch_store::conformance::{self, t0};
use tidewatch_store::{BucketPoint, Store, StoreError, StoreOptions};
use tidewatch_tests::db::{fresh, fresh_pg_database, migrate_up_to, unique_suffix, Backend};

tidewatch_store::store_conformance_tests!(|case| fresh(Backend::Postgres, case));

async fn raw(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .expect("a direct connection")
}

fn short(lock_timeout: Duration) -> StoreOptions {
    StoreOptions {
        lock_timeout,
        ..StoreOptions::default()
    }
}

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

#[tokio::test]
async fn write_monitor_rolls_back_when_a_statement_fails() {
    let db = fresh_pg_database().await.expect("fresh database");
    let store = Store::connect(db.url()).await.expect("connect");
    let mut conn = raw(db.url()).await;
    sqlx::raw_sql(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN RAISE EXCEPTION 'snapshots refused by the test'; END $$; \
         CREATE TRIGGER refuse_snapshots BEFORE INSERT ON schema_snapshots \
           FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .execute(&mut conn)
    .await
    .expect("trigger");
    conn.close().await.expect("close");
    conformance::write_monitor_rolls_back_when_the_snapshot_fails(&store).await;
    store.close().await;
    db.drop_db().await.expect("drop");
}

#[tokio::test]
async fn unknown_stored_metric_is_corrupt() {
    let db = fresh_pg_database().await.expect("fresh database");
    let store = Store::connect(db.url()).await.expect("connect");
    let run_id = store.begin_run(t0()).await.expect("run");
    let mut conn = raw(db.url()).await;
    sqlx::query(
        "INSERT INTO measurements (run_id, monitor, source, dataset, metric, status, message, \
         observed_at) VALUES ($1, 'orders', 'warehouse', 't', 'rows_per_fortnight', 'pass', '', now())",
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
    store.close().await;
    db.drop_db().await.expect("drop");
}

/// A store written by a release before 0005 keeps its buckets, each with its width, and new widths
/// start series of their own beside them.
#[tokio::test]
async fn upgrade_keeps_buckets_and_keys_them_by_width() {
    let db = fresh_pg_database().await.expect("fresh database");
    migrate_up_to(Backend::Postgres, 4, db.url())
        .await
        .expect("an old store");
    let mut conn = raw(db.url()).await;
    sqlx::query(
        "INSERT INTO buckets (monitor, metric, column_name, bucket_start, bucket_seconds, value, \
         observed_at) VALUES ('orders', 'volume', '', $1, 3600, 5.0, $1), \
         ('orders', 'volume', '', $2, 3600, 6.0, $1)",
    )
    .bind(t0())
    .bind(t0() + chrono::Duration::hours(1))
    .execute(&mut conn)
    .await
    .expect("old buckets");
    conn.close().await.expect("close");

    let store = Store::connect(db.url()).await.expect("upgrade");
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
    db.drop_db().await.expect("drop");
}

/// Whether a session of this database holds an advisory lock (sqlx's migration lock).
async fn advisory_lock_held(conn: &mut PgConnection) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
    )
    .fetch_one(conn)
    .await
    .expect("read pg_locks")
}

/// Connecting waits at most `lock_timeout` for sqlx's migration advisory lock, and for the table lock
/// a pending migration needs; both give the same clear error, and nothing is left locked.
#[tokio::test]
async fn migration_lock_wait_is_bounded() {
    let db = fresh_pg_database().await.expect("fresh database");
    migrate_up_to(Backend::Postgres, 4, db.url())
        .await
        .expect("an old store with migrations pending");
    let wait = Duration::from_millis(500);
    let message = "postgres store timed out waiting for the migration lock after 500ms";

    // A long query holds the table 0005 alters.
    let mut blocker = raw(db.url()).await;
    sqlx::query("BEGIN")
        .execute(&mut blocker)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE buckets IN ACCESS SHARE MODE")
        .execute(&mut blocker)
        .await
        .expect("lock buckets");

    let started = Instant::now();
    let err = Store::connect_with(db.url(), &short(wait))
        .await
        .expect_err("0005 cannot lock buckets");
    assert!(matches!(err, StoreError::Timeout { .. }), "{err:?}");
    assert_eq!(err.to_string(), message);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // A replica that waits without bound takes the advisory lock and waits for the table; a second
    // one waits for the advisory lock, at most `lock_timeout`.
    let url = db.url().to_string();
    let patient =
        tokio::spawn(
            async move { Store::connect_with(&url, &short(Duration::from_secs(60))).await },
        );
    let mut watcher = raw(db.url()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !advisory_lock_held(&mut watcher).await {
        assert!(
            Instant::now() < deadline,
            "the patient replica never took the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let err = Store::connect_with(db.url(), &short(wait))
        .await
        .expect_err("the patient replica holds the migration lock");
    assert_eq!(err.to_string(), message);
    assert!(
        started.elapsed() >= wait,
        "it did wait: {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    sqlx::query("ROLLBACK")
        .execute(&mut blocker)
        .await
        .expect("release buckets");
    let store = patient
        .await
        .expect("join")
        .expect("the patient replica migrates once the table is free");
    assert!(
        !advisory_lock_held(&mut watcher).await,
        "the migration lock is released"
    );
    store.close().await;
    let again = Store::connect_with(db.url(), &short(wait))
        .await
        .expect("nothing left to wait for");
    again.close().await;
    blocker.close().await.expect("close");
    watcher.close().await.expect("close");
    db.drop_db().await.expect("drop");
}

/// Statements are cut at `statement_timeout`.
#[tokio::test]
async fn statements_are_cut_at_the_statement_timeout() {
    let db = fresh_pg_database().await.expect("fresh database");
    let opts = StoreOptions {
        statement_timeout: Duration::from_millis(300),
        ..StoreOptions::default()
    };
    let store = Store::connect_with(db.url(), &opts).await.expect("connect");
    let mut blocker = raw(db.url()).await;
    sqlx::query("BEGIN")
        .execute(&mut blocker)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .expect("lock runs");
    let started = Instant::now();
    let err = store.begin_run(t0()).await.expect_err("runs is locked");
    assert!(matches!(err, StoreError::Query { .. }), "{err:?}");
    assert!(err.to_string().contains("statement timeout"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    sqlx::query("ROLLBACK")
        .execute(&mut blocker)
        .await
        .expect("release");
    blocker.close().await.expect("close");
    store.begin_run(t0()).await.expect("free again");
    store.close().await;
    db.drop_db().await.expect("drop");
}

/// A server that accepts the connection and never answers: connecting gives up after
/// `connect_timeout` and names the target.
#[tokio::test]
async fn connect_gives_up_after_the_connect_timeout() {
    // Bound but never accepted: the kernel completes the handshake, nobody speaks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let opts = StoreOptions {
        connect_timeout: Duration::from_millis(300),
        ..StoreOptions::default()
    };
    let started = Instant::now();
    let err = Store::connect_with(
        &format!("postgres://postgres:{PASSWORD}@127.0.0.1:{port}/x"),
        &opts,
    )
    .await
    .expect_err("nobody answers");
    assert_eq!(
        err.to_string(),
        format!("cannot connect to postgres store at 127.0.0.1:{port}/x: timed out after 300ms")
    );
    assert_hides_password(&err);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}
