//! [`Storage`]: the one implementation of every storage trait, over either sqlx driver. What
//! differs between flavours (connecting, migrations, a few SQL spellings) is in [`Flavour`];
//! every method is written once, one place per statement, in the module of its concern
//! (`catalogue.rs`, `exports.rs`, `queue.rs`, `users.rs`, `notices.rs`).

use crate::attached::{self, AaoSchema};
use crate::driver::{Ids, Pool, query};
use crate::migrations::{Set, migrator};
use crate::search::Dialect;
use crate::{Database, DbError, Result, sql};
use aao_export_core::fields::seed_fields;
use async_trait::async_trait;
use std::str::FromStr;
use std::time::Duration;

/// The database behind every storage trait.
#[derive(Clone, Debug)]
pub struct Storage {
    pub(crate) pool: Pool,
    pub(crate) flavour: Flavour,
    /// Attached: the AAO's schema as found (checked again by `migrate`).
    pub(crate) aao: Option<AaoSchema>,
}

/// Which database, and so which SQL spellings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// SQLite (WAL), the embedded default.
    Sqlite,
    /// A PostgreSQL database of our own.
    Postgres,
    /// The Ad Observatory's PostgreSQL database: our objects in a schema of our own, the AAO's
    /// tables read and written as the AAO's API does (`attached.rs`).
    Attached,
}

impl Flavour {
    pub(crate) fn dialect(self) -> Dialect {
        match self {
            Flavour::Sqlite => Dialect::Sqlite,
            Flavour::Postgres | Flavour::Attached => Dialect::Postgres,
        }
    }

    /// How the queue's receive statement locks the rows it takes (SQLite's write lock is the
    /// whole database already).
    pub(crate) fn queue_lock(self) -> &'static str {
        match self {
            Flavour::Sqlite => "",
            Flavour::Postgres | Flavour::Attached => "FOR UPDATE SKIP LOCKED",
        }
    }

    /// How a read-then-write transaction locks the row it decides on.
    pub(crate) fn row_lock(self) -> &'static str {
        match self {
            Flavour::Sqlite => "",
            Flavour::Postgres | Flavour::Attached => "FOR NO KEY UPDATE",
        }
    }

    /// Joins an export's share user ids into one column (split again on U+001F).
    pub(crate) fn shares_aggregate(self) -> &'static str {
        match self {
            Flavour::Sqlite => "group_concat(s.user_id, char(31))",
            Flavour::Postgres | Flavour::Attached => "string_agg(s.user_id, chr(31))",
        }
    }
}

impl Storage {
    /// Opens (creating if needed) a SQLite database file.
    pub async fn sqlite(url: &str) -> Result<Self> {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(parent) = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(DbError::Folder)?;
        }
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        Ok(Self { pool: Pool::Sqlite(pool), flavour: Flavour::Sqlite, aao: None })
    }

    /// Connects to a PostgreSQL database: attached to the AAO's schema when the database holds
    /// one (its `alembic_version`), with our objects in `schema`; else a database of our own.
    pub async fn postgres(url: &str, schema: &str) -> Result<Self> {
        use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
        let pool_options = || PgPoolOptions::new().max_connections(8).acquire_timeout(Duration::from_secs(10));
        let options = PgConnectOptions::from_str(url)?;
        let pool = pool_options().connect_with(options.clone()).await?;
        let has_alembic: bool = query("SELECT to_regclass('public.alembic_version') IS NOT NULL")
            .scalar(&Pool::Postgres(pool.clone(), Ids::Uuid))
            .await?;
        if !has_alembic {
            return Ok(Self { pool: Pool::Postgres(pool, Ids::Uuid), flavour: Flavour::Postgres, aao: None });
        }
        pool.close().await;
        attached::check_schema_name(schema)?;
        // Our schema first: our tables are found by their plain names, the AAO's through public.
        let options = options.options([("search_path", format!("{schema}, public"))]);
        let pool = Pool::Postgres(pool_options().connect_with(options).await?, Ids::Text);
        let aao = attached::recognise(&pool, schema).await?;
        Ok(Self { pool, flavour: Flavour::Attached, aao: Some(aao) })
    }

    async fn run_migrations(&self) -> Result<()> {
        match (&self.pool, &self.aao) {
            (Pool::Sqlite(pool), _) => migrator(Set::Sqlite).run(pool).await?,
            (Pool::Postgres(pool, _), None) => migrator(Set::Postgres).run(pool).await?,
            (Pool::Postgres(pool, _), Some(aao)) => {
                // Checked again at the moment of migrating, then ours only, in our schema, with
                // our own record of what was applied.
                attached::recognise(&self.pool, &aao.schema).await?;
                let mut ours = migrator(Set::Attached);
                ours.create_schema(aao.schema.clone());
                ours.dangerous_set_table_name(format!("{}._sqlx_migrations", aao.schema));
                ours.run(pool).await?
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Database for Storage {
    fn backend(&self) -> &'static str {
        match self.flavour {
            Flavour::Sqlite => "sqlite",
            Flavour::Postgres => "postgres",
            Flavour::Attached => "attached",
        }
    }

    fn attached_to(&self) -> Option<String> {
        self.aao
            .as_ref()
            .map(|aao| format!("the Ad Observatory schema (revision {}), ours in {}", aao.revision, aao.schema))
    }

    async fn migrate(&self) -> Result<()> {
        self.run_migrations().await?;
        let mut tx = self.pool.begin(false).await?;
        for (position, f) in seed_fields().iter().enumerate() {
            query(sql::UPSERT_FIELD)
                .bind(f.field_id)
                .bind(&f.name)
                .bind(&f.description)
                .bind(&f.path)
                .bind(&f.group)
                .bind(f.is_default)
                .bind(position as i64)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
