//! Fresh databases for tests: a uniquely named PostgreSQL database per test, or a temp SQLite file.
//! Both are removed at the end: explicitly through `cleanup`/`drop_db` so a failure is reported, and as a
//! fallback on `Drop` so a panicking test does not leak them.

use anyhow::Context;
use sqlx::{Connection, PgConnection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Maintenance database of the local PostgreSQL server (trust auth).
pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// URL of a database on the local PostgreSQL server.
pub fn pg_url(database: &str) -> String {
    format!("postgres://postgres@127.0.0.1:5432/{database}")
}

/// `<pid>_<nanos>_<counter>`: unique across concurrent test processes and within one.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}_{nanos}_{n}", std::process::id())
}

/// A PostgreSQL database created for one test.
#[derive(Debug)]
pub struct TempPgDb {
    name: String,
    url: String,
    dropped: bool,
}

/// Creates `tw_store_<pid>_<nanos>_<n>` on the local server.
pub async fn fresh_pg_database() -> anyhow::Result<TempPgDb> {
    let name = format!("tw_store_{}", unique_suffix());
    let mut admin = PgConnection::connect(PG_ADMIN_URL)
        .await
        .context("connect to the postgres maintenance database")?;
    // The name is made of [a-z0-9_] only; quoted all the same.
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .with_context(|| format!("create database {name}"))?;
    admin
        .close()
        .await
        .context("close the maintenance connection")?;
    let url = pg_url(&name);
    Ok(TempPgDb {
        name,
        url,
        dropped: false,
    })
}

async fn drop_pg_database(name: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(PG_ADMIN_URL)
        .await
        .context("connect to the postgres maintenance database")?;
    // FORCE ends sessions a failed test may have left open.
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .with_context(|| format!("drop database {name}"))?;
    admin
        .close()
        .await
        .context("close the maintenance connection")?;
    Ok(())
}

impl TempPgDb {
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database, reporting failure.
    pub async fn drop_db(mut self) -> anyhow::Result<()> {
        self.dropped = true;
        drop_pg_database(&self.name).await
    }
}

impl Drop for TempPgDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Reached when a test panicked before `drop_db`. Drop cannot await, and we may be inside a
        // runtime, so drop the database from a thread with a runtime of its own.
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                if let Err(e) = rt.block_on(drop_pg_database(&name)) {
                    eprintln!("warning: could not drop test database {name}: {e:#}");
                }
            }
        });
        let _ = dropper.join();
    }
}

/// A unique path for a SQLite file in the system temp directory; nothing is created.
pub fn temp_sqlite_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tw_store_{tag}_{}.db", unique_suffix()))
}

/// A SQLite database file (and its `-wal`/`-shm` companions) removed on drop.
#[derive(Debug)]
pub struct TempSqliteFile {
    path: PathBuf,
}

impl TempSqliteFile {
    pub fn new(tag: &str) -> TempSqliteFile {
        TempSqliteFile {
            path: temp_sqlite_path(tag),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }
}

impl Drop for TempSqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            // Missing files are fine: not every companion exists.
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

/// Which backend a conformance test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty store database of either backend.
#[derive(Debug)]
pub enum Fixture {
    Sqlite(TempSqliteFile),
    Postgres(TempPgDb),
}

impl Fixture {
    pub async fn create(backend: Backend, tag: &str) -> anyhow::Result<Fixture> {
        Ok(match backend {
            Backend::Sqlite => Fixture::Sqlite(TempSqliteFile::new(tag)),
            Backend::Postgres => Fixture::Postgres(fresh_pg_database().await?),
        })
    }

    pub fn url(&self) -> String {
        match self {
            Fixture::Sqlite(f) => f.url(),
            Fixture::Postgres(db) => db.url().to_string(),
        }
    }

    /// Removes the database; close every store on it first.
    pub async fn cleanup(self) -> anyhow::Result<()> {
        match self {
            Fixture::Sqlite(f) => {
                drop(f);
                Ok(())
            }
            Fixture::Postgres(db) => db.drop_db().await,
        }
    }
}

/// A fresh database for a case of the store conformance suite; panics when none can be made.
pub async fn fresh(backend: Backend, case: &str) -> Fixture {
    Fixture::create(backend, case)
        .await
        .expect("create a fresh database")
}

impl tidewatch_store::conformance::TestDatabase for Fixture {
    fn url(&self) -> String {
        Fixture::url(self)
    }

    async fn remove(self) {
        self.cleanup().await.expect("remove the database");
    }
}

/// The directory of the package whose test runs, read at run time (cargo sets it for `cargo test`;
/// every package sits at the top of the workspace, beside `migrations/`): a path baked in at build
/// time points into whichever checkout built the binary, which a shared target dir may reuse after
/// that checkout is gone.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}

/// Applies the store migrations of `backend` up to and including `version` to the database at `url`,
/// leaving it as an older release did: the next `Store::connect` applies the rest.
pub async fn migrate_up_to(backend: Backend, version: i64, url: &str) -> anyhow::Result<()> {
    let dialect = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let all = manifest_dir().join("../migrations").join(dialect);
    let some = std::env::temp_dir().join(format!("tw_migrations_{}", unique_suffix()));
    std::fs::create_dir(&some).with_context(|| format!("create {}", some.display()))?;
    let result = async {
        for entry in std::fs::read_dir(&all).with_context(|| format!("read {}", all.display()))? {
            let name = entry?.file_name();
            let v: i64 = name
                .to_str()
                .and_then(|n| n.split('_').next())
                .and_then(|n| n.parse().ok())
                .with_context(|| format!("migration file name {name:?}"))?;
            if v <= version {
                std::fs::copy(all.join(&name), some.join(&name))?;
            }
        }
        let migrator = sqlx::migrate::Migrator::new(some.as_path()).await?;
        match backend {
            Backend::Sqlite => {
                let mut conn = SqliteConnection::connect(&format!("{url}?mode=rwc")).await?;
                // As the store left it: in WAL mode.
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&mut conn)
                    .await?;
                migrator.run(&mut conn).await?;
                conn.close().await?;
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(url).await?;
                migrator.run(&mut conn).await?;
                conn.close().await?;
            }
        }
        anyhow::Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&some);
    result.with_context(|| format!("migrate the {dialect} store to version {version}"))
}
