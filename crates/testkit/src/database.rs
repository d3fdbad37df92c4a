//! Databases for tests: a fresh SQLite file, or a fresh PostgreSQL database created from
//! `TEST_DATABASE_URL` and dropped again when the guard goes.

use crate::external;
use aao_export_db::{connect, Database};
use sqlx::Connection;
use std::sync::Arc;

/// A migrated database that disappears with this value.
pub struct TestDatabase {
    pub storage: Arc<dyn Database>,
    pub url: String,
    cleanup: Cleanup,
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
        TestDatabase { storage, url, cleanup: Cleanup::Sqlite(dir) }
    }

    /// A fresh PostgreSQL database, or `None` when `TEST_DATABASE_URL` is unset. When
    #[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(super::with_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(super::with_database("postgres://u@h/test?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(super::with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
