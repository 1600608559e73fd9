//! Test warehouses: a fresh PostgreSQL database, MariaDB database or SQLite file per test, with the
//! dialect bits the end-to-end scan suite needs to write the same fixtures on each.

use crate::db::{fresh_pg_database, unique_suffix, TempPgDb, TempSqliteFile};
use anyhow::Context;
use sqlx::Connection;
use std::str::FromStr;

/// Server database used to create and drop per-test MariaDB databases.
pub const MARIADB_ADMIN_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// One warehouse created for one test; call [`TestWarehouse::cleanup`] at the end.
pub enum TestWarehouse {
    Postgres(TempPgDb),
    Mariadb(TempMariaDb),
    Sqlite(TempSqliteFile),
}

/// A MariaDB database created for one test: dropped by `cleanup`, or on `Drop` when a test failed
/// before it got there.
pub struct TempMariaDb {
    name: String,
    url: String,
    dropped: bool,
}

async fn drop_mariadb_database(name: &str) -> anyhow::Result<()> {
    let mut admin = sqlx::MySqlConnection::connect(MARIADB_ADMIN_URL).await?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{name}`"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

impl Drop for TempMariaDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Drop cannot await and may run inside a runtime: use a thread with a runtime of its own.
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                if let Err(e) = rt.block_on(drop_mariadb_database(&name)) {
                    eprintln!("warning: could not drop test database {name}: {e:#}");
                }
            }
        });
        let _ = dropper.join();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Mariadb,
    Sqlite,
}

impl TestWarehouse {
    pub async fn create(kind: Kind) -> anyhow::Result<TestWarehouse> {
        Ok(match kind {
            Kind::Postgres => TestWarehouse::Postgres(fresh_pg_database().await?),
            Kind::Mariadb => {
                let name = format!("tw_wh_{}", unique_suffix());
                let mut admin = sqlx::MySqlConnection::connect(MARIADB_ADMIN_URL)
                    .await
                    .context("connect to mariadb")?;
                sqlx::raw_sql(&format!("CREATE DATABASE `{name}`"))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("create database {name}"))?;
                admin.close().await?;
                let url = format!("mysql://root@127.0.0.1:3306/{name}");
                TestWarehouse::Mariadb(TempMariaDb {
                    name,
                    url,
                    dropped: false,
                })
            }
            Kind::Sqlite => {
                let f = TempSqliteFile::new("wh");
                let opts =
                    sqlx::sqlite::SqliteConnectOptions::from_str(&f.url())?.create_if_missing(true);
                sqlx::SqliteConnection::connect_with(&opts)
                    .await?
                    .close()
                    .await?;
                TestWarehouse::Sqlite(f)
            }
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            TestWarehouse::Postgres(_) => Kind::Postgres,
            TestWarehouse::Mariadb(_) => Kind::Mariadb,
            TestWarehouse::Sqlite(_) => Kind::Sqlite,
        }
    }

    /// The `kind:` of a source in config.
    pub fn config_kind(&self) -> &'static str {
        match self.kind() {
            Kind::Postgres => "postgres",
            Kind::Mariadb => "mysql",
            Kind::Sqlite => "sqlite",
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestWarehouse::Postgres(db) => db.url().to_string(),
            TestWarehouse::Mariadb(db) => db.url.clone(),
            TestWarehouse::Sqlite(f) => f.url(),
        }
    }

    /// `schema.table` as a monitor's `table:` (SQLite has no schema here).
    pub fn dataset(&self, table: &str) -> String {
        match self {
            TestWarehouse::Postgres(_) => format!("public.{table}"),
            TestWarehouse::Mariadb(db) => format!("{}.{table}", db.name),
            TestWarehouse::Sqlite(_) => table.to_string(),
        }
    }

    /// Runs one or more statements (separated by `;`).
    pub async fn exec(&self, sql: &str) -> anyhow::Result<()> {
        let url = self.url();
        match self.kind() {
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&url).await?;
                sqlx::raw_sql(sql)
                    .execute(&mut c)
                    .await
                    .with_context(|| sql.to_string())?;
                c.close().await?;
            }
            Kind::Mariadb => {
                let mut c = sqlx::MySqlConnection::connect(&url).await?;
                // Fixtures write naive DATETIMEs in UTC, the way scans read them.
                sqlx::raw_sql("SET time_zone = '+00:00'")
                    .execute(&mut c)
                    .await?;
                sqlx::raw_sql(sql)
                    .execute(&mut c)
                    .await
                    .with_context(|| sql.to_string())?;
                c.close().await?;
            }
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&url).await?;
                sqlx::raw_sql(sql)
                    .execute(&mut c)
                    .await
                    .with_context(|| sql.to_string())?;
                c.close().await?;
            }
        }
        Ok(())
    }

    /// Whether a table exists (used to prove that nothing was dropped).
    pub async fn table_exists(&self, table: &str) -> anyhow::Result<bool> {
        let url = self.url();
        let n: i64 = match self.kind() {
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&url).await?;
                sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE tablename = $1")
                    .bind(table)
                    .fetch_one(&mut c)
                    .await?
            }
            Kind::Mariadb => {
                let mut c = sqlx::MySqlConnection::connect(&url).await?;
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                )
                .bind(table)
                .fetch_one(&mut c)
                .await?
            }
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&url).await?;
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                )
                .bind(table)
                .fetch_one(&mut c)
                .await?
            }
        };
        Ok(n > 0)
    }

    /// Column type for timestamps.
    pub fn timestamp_type(&self) -> &'static str {
        match self.kind() {
            Kind::Postgres => "TIMESTAMPTZ",
            Kind::Mariadb => "DATETIME(6)",
            Kind::Sqlite => "TEXT",
        }
    }

    /// An SQL expression for the UTC time `epoch` (unix seconds), in this server's timestamp type.
    pub fn at_epoch(&self, epoch: i64) -> String {
        match self.kind() {
            Kind::Postgres => format!("to_timestamp({epoch})"),
            Kind::Mariadb => format!("FROM_UNIXTIME({epoch})"),
            Kind::Sqlite => format!("strftime('%Y-%m-%d %H:%M:%S', {epoch}, 'unixepoch')"),
        }
    }

    /// Quotes an identifier the way this server does (test fixtures only).
    pub fn q(&self, ident: &str) -> String {
        match self.kind() {
            Kind::Mariadb => format!("`{}`", ident.replace('`', "``")),
            _ => format!("\"{}\"", ident.replace('"', "\"\"")),
        }
    }

    pub async fn cleanup(self) -> anyhow::Result<()> {
        match self {
            TestWarehouse::Postgres(db) => db.drop_db().await,
            TestWarehouse::Mariadb(mut db) => {
                db.dropped = true;
                drop_mariadb_database(&db.name).await
            }
            TestWarehouse::Sqlite(f) => {
                drop(f);
                Ok(())
            }
        }
    }
}
