//! The two backends for contract tests: SQLite in a temporary directory, and PostgreSQL
//! from the test server `scripts/test.sh` starts (`DECNET_TEST_PG_URL`), where each test
//! makes its own database and drops it. [`on_both_backends!`] runs a test on each.

use std::path::PathBuf;
use std::sync::Arc;

use decnet_store::{PgStore, SqliteStore, Store};
use sqlx::Connection;
use tempfile::TempDir;

/// A test's database.
pub enum TestDb {
    /// A SQLite file in a directory removed on drop.
    Sqlite(#[allow(dead_code)] TempDir, PathBuf),
    /// A database on the PostgreSQL test server.
    Postgres {
        /// The server's URL.
        server: String,
        /// The database's name.
        name: String,
    },
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        TestDb::Sqlite(dir, path)
    }

    pub async fn postgres() -> TestDb {
        let server = std::env::var("DECNET_TEST_PG_URL")
            .expect("DECNET_TEST_PG_URL names the PostgreSQL test server (scripts/test.sh starts one)");
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
        TestDb::Postgres { server, name }
    }

    /// A store on this database. Each call opens a new one, with its own connections and
    /// caches: a reopened SQLite file, another PostgreSQL replica.
    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            TestDb::Sqlite(_, path) => Arc::new(SqliteStore::open(path).await.unwrap()),
            TestDb::Postgres { server, name } => Arc::new(PgStore::connect(&database_url(server, name)).await.unwrap()),
        }
    }

    /// Removes the database (the SQLite directory goes with `self`).
    pub async fn remove(self) {
        if let TestDb::Postgres { server, name } = self {
            let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }
}

/// `server` (`postgres://…/db?…`) naming database `name` instead.
fn database_url(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base.split_once("://").unwrap();
    let authority = rest.split('/').next().unwrap_or_default();
    let mut url = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Runs each contract test `$name` (an `async fn(&TestDb)`) on each backend, on a
/// two-thread runtime so concurrent calls really run at once.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::backends::TestDb::sqlite().await;
                super::$name(&db).await;
                db.remove().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::backends::TestDb::postgres().await;
                super::$name(&db).await;
                db.remove().await;
            }
        }
    )*};
}
