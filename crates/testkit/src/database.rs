//! Databases for tests: a fresh SQLite file, or a fresh PostgreSQL database created from
//! `TEST_DATABASE_URL` and dropped again when the guard goes: one of our own, or one holding the
//! Ad Observatory's schema (`fixtures/aao_schema.sql`, written from aao-contracts.md §2) that
//! aao-export attaches to.

use crate::external;
use aao_export_db::{Database, connect};
use sqlx::Connection;
use std::sync::Arc;

/// The AAO's tables as its Alembic migrations leave them (aao-contracts.md §2), no rows.
pub const AAO_SCHEMA: &str = include_str!("../fixtures/aao_schema.sql");
/// Users (local MD5 identities, a CILogon one, a disabled one), an API key hashed as the AAO
/// does, tags, attributes under both id forms, classifications and exportable fields; the
/// plaintexts are in its opening comment.
pub const AAO_SEED: &str = include_str!("../fixtures/aao_seed.sql");

/// A fresh PostgreSQL database holding the AAO's schema (and the scripts given, e.g.
/// [`AAO_SEED`]) that aao-export has not touched yet; it disappears with this value.
pub struct AaoDatabase {
    pub url: String,
    /// Drops the database when this value goes.
    _cleanup: Cleanup,
}

impl AaoDatabase {
    /// `None` when `TEST_DATABASE_URL` is unset (as for [`TestDatabase::postgres`]).
    pub async fn new(scripts: &[&str]) -> Option<AaoDatabase> {
        let (url, cleanup) = TestDatabase::empty_postgres("").await?;
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("the new database accepts connections");
        for script in std::iter::once(&AAO_SCHEMA).chain(scripts) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(*script)).execute(&mut conn).await.expect("the AAO fixture loads");
        }
        conn.close().await.ok();
        Some(AaoDatabase { url, _cleanup: cleanup })
    }

    /// aao-export attaches to it (and migrates): a test database like the others.
    pub async fn attach(self) -> TestDatabase {
        let storage = connect(&self.url).await.expect("aao-export attaches to the AAO's schema");
        TestDatabase { storage, url: self.url, _cleanup: self._cleanup }
    }
}

/// A migrated database that disappears with this value.
pub struct TestDatabase {
    pub storage: Arc<dyn Database>,
    pub url: String,
    /// Drops the database (or removes the file's folder) when this value goes.
    _cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub async fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let storage = connect(&url).await.expect("SQLite opens and migrates");
        TestDatabase { storage, url, _cleanup: Cleanup::Sqlite(dir) }
    }

    /// A fresh PostgreSQL database, or `None` when `TEST_DATABASE_URL` is unset. When
    /// `AAO_REQUIRE_EXTERNAL=1` (the test command sets it) a missing URL fails the test instead.
    pub async fn postgres() -> Option<TestDatabase> {
        Self::postgres_with("").await
    }

    /// A fresh PostgreSQL database created with these `CREATE DATABASE` options (e.g. another
    /// collation), or `None` as for [`TestDatabase::postgres`].
    pub async fn postgres_with(create_options: &str) -> Option<TestDatabase> {
        let (url, cleanup) = Self::empty_postgres(create_options).await?;
        let storage = connect(&url).await.expect("PostgreSQL migrates");
        Some(TestDatabase { storage, url, _cleanup: cleanup })
    }

    /// A fresh PostgreSQL database holding the AAO's schema with no rows, attached to (and so
    /// migrated) by aao-export; `None` as for [`TestDatabase::postgres`].
    pub async fn attached() -> Option<TestDatabase> {
        Some(AaoDatabase::new(&[]).await?.attach().await)
    }

    async fn empty_postgres(create_options: &str) -> Option<(String, Cleanup)> {
        let admin_url = external("TEST_DATABASE_URL", "the PostgreSQL run")?;
        let name = format!("aao_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("TEST_DATABASE_URL accepts connections");
        let create = format!("CREATE DATABASE {name} {create_options}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(create))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {create_options}: {e}"));
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        Some((url, Cleanup::Postgres { admin_url, name }))
    }

    /// Every flavour: SQLite always; PostgreSQL of our own and attached to the AAO's schema when
    /// configured.
    pub async fn all() -> Vec<TestDatabase> {
        let mut dbs = Self::ours().await;
        dbs.extend(TestDatabase::attached().await);
        dbs
    }

    /// The databases of our own: SQLite always, PostgreSQL when configured.
    pub async fn ours() -> Vec<TestDatabase> {
        let mut dbs = vec![TestDatabase::sqlite().await];
        dbs.extend(TestDatabase::postgres().await);
        dbs
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside async code; a short thread with its own runtime does the DROP.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async {
                    let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .execute(&mut admin)
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

/// The same server URL with another database name.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(super::with_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            super::with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
