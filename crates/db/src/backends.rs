//! The two [`Storage`] implementations. Their method bodies are the same text over different sqlx
//! drivers, so one macro writes both; what differs (connecting, migrations, SQL dialect) is
//! spelled out per backend below it.

use crate::search::{self, Bind, Dialect, PageCursor};
use crate::{sql, CatalogueRow, CurationRecord, DbError, ObjectOutcome, OutcomeKind, Result, Storage, Tag, User};
use aao_export_core::document::{Attribute, Classification, Curation};
use aao_export_core::fields::{seed_fields, ExportableField};
use aao_export_core::query::Query;
use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// SQLite (WAL), the embedded default.
#[derive(Clone)]
pub struct SqliteStorage {
    pool: sqlx::SqlitePool,
}

/// PostgreSQL, for production.
#[derive(Clone)]
pub struct PgStorage {
    pool: sqlx::PgPool,
}

impl SqliteStorage {
    const DIALECT: Dialect = Dialect::Sqlite;

    pub async fn connect(url: &str) -> Result<Self> {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(parent) = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| DbError::Sqlx(sqlx::Error::Io(e)))?;
        }
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        Ok(Self { pool })
    }

    async fn run_migrations(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }
}

impl PgStorage {
    const DIALECT: Dialect = Dialect::Postgres;

    pub async fn connect(url: &str) -> Result<Self> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    async fn run_migrations(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres").run(&self.pool).await?;
        Ok(())
    }
}

macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for bind in $binds {
            q = match bind {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Float(f) => q.bind(*f),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

macro_rules! storage_impl {
    ($storage:ty, $name:literal) => {
        #[async_trait]
        impl Storage for $storage {
            fn backend(&self) -> &'static str {
                $name
            }

            async fn migrate(&self) -> Result<()> {
                self.run_migrations().await?;
                let mut tx = self.pool.begin().await?;
                for (position, f) in seed_fields().iter().enumerate() {
                    sqlx::query(sql::UPSERT_FIELD)
                        .bind(f.field_id)
                        .bind(&f.name)
                        .bind(&f.description)
                        .bind(&f.path)
                        .bind(&f.group)
                        .bind(f.is_default)
                        .bind(position as i64)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn exportable_fields(&self) -> Result<Vec<ExportableField>> {
                let rows = sqlx::query(sql::SELECT_FIELDS).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        Ok(ExportableField {
                            field_id: r.try_get("field_id")?,
                            name: r.try_get("name")?,
                            description: r.try_get("description")?,
                            path: r.try_get("path")?,
                            group: r.try_get("group")?,
                            is_default: r.try_get("is_default")?,
                        })
                    })
                    .collect()
            }

            async fn put_users(&self, users: &[User]) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                for u in users {
                    sqlx::query(sql::UPSERT_USER)
                        .bind(&u.id)
                        .bind(&u.full_name)
                        .bind(u.enabled)
                        .bind(&u.role)
                        .bind(&u.primary_email)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn put_tags(&self, tags: &[Tag]) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                for t in tags {
                    sqlx::query(sql::UPSERT_TAG).bind(&t.id).bind(&t.name).bind(&t.description).bind(&t.hex).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn put_curation(&self, records: &[CurationRecord]) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                for r in records {
                    for statement in [sql::DELETE_APPLIED_TAGS, sql::DELETE_ATTRIBUTES, sql::DELETE_CLASSIFICATIONS] {
                        sqlx::query(statement).bind(&r.observation_id).execute(&mut *tx).await?;
                    }
                    for tag in &r.tag_ids {
                        sqlx::query(sql::INSERT_APPLIED_TAG).bind(&r.observation_id).bind(tag).execute(&mut *tx).await?;
                    }
                    for a in &r.attributes {
                        sqlx::query(sql::INSERT_ATTRIBUTE)
                            .bind(&r.observation_id)
                            .bind(&a.key)
                            .bind(&a.value)
                            .bind(a.created_at)
                            .bind(&a.created_by)
                            .bind(a.modified_at)
                            .bind(&a.modified_by)
                            .execute(&mut *tx)
                            .await?;
                    }
                    for (i, c) in r.classifications.iter().enumerate() {
                        sqlx::query(sql::INSERT_CLASSIFICATION)
                            .bind(format!("{}:{i}", r.observation_id))
                            .bind(&r.observation_id)
                            .bind(&c.label)
                            .bind(c.score)
                            .bind(None::<i64>)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn curation(&self, observation_ids: &[String]) -> Result<HashMap<String, Curation>> {
                let mut out: HashMap<String, Curation> = HashMap::new();
                for ids in observation_ids.chunks(sql::MAX_IN_LIST) {
                    let text = sql::in_list(sql::SELECT_TAG_NAMES, ids.len());
                    let mut q = sqlx::query(AssertSqlSafe(text));
                    for id in ids {
                        q = q.bind(id);
                    }
                    for row in q.fetch_all(&self.pool).await? {
                        out.entry(row.try_get("observation_id")?).or_default().tags.push(row.try_get("name")?);
                    }
                    let text = sql::in_list(sql::SELECT_ATTRIBUTES, ids.len());
                    let mut q = sqlx::query(AssertSqlSafe(text));
                    for id in ids {
                        q = q.bind(id);
                    }
                    for row in q.fetch_all(&self.pool).await? {
                        out.entry(row.try_get("observation_id")?).or_default().attributes.push(Attribute {
                            key: row.try_get("key")?,
                            value: row.try_get("value")?,
                            created_at: row.try_get("created_at")?,
                            created_by: row.try_get("created_by")?,
                            modified_at: row.try_get("modified_at")?,
                            modified_by: row.try_get("modified_by")?,
                        });
                    }
                    let text = sql::in_list(sql::SELECT_CLASSIFICATIONS, ids.len());
                    let mut q = sqlx::query(AssertSqlSafe(text));
                    for id in ids {
                        q = q.bind(id);
                    }
                    for row in q.fetch_all(&self.pool).await? {
                        out.entry(row.try_get("observation_id")?)
                            .or_default()
                            .classifications
                            .push(Classification { label: row.try_get("label")?, score: row.try_get("score")? });
                    }
                }
                // Sorted here, not by ORDER BY, so the order never depends on a database's collation.
                for c in out.values_mut() {
                    c.tags.sort();
                    c.attributes.sort_by(|a, b| a.key.cmp(&b.key));
                    c.classifications.sort_by(|a, b| a.label.cmp(&b.label).then(a.score.total_cmp(&b.score)));
                }
                Ok(out)
            }

            async fn object_versions(&self, keys: &[String]) -> Result<HashMap<String, String>> {
                let mut out = HashMap::new();
                for chunk in keys.chunks(sql::MAX_IN_LIST) {
                    let mut q = sqlx::query(AssertSqlSafe(sql::in_list(sql::SELECT_OBJECT_VERSIONS, chunk.len())));
                    for key in chunk {
                        q = q.bind(key);
                    }
                    for row in q.fetch_all(&self.pool).await? {
                        out.insert(row.try_get("object_key")?, row.try_get("version")?);
                    }
                }
                Ok(out)
            }

            async fn record_objects(&self, outcomes: &[ObjectOutcome]) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                for o in outcomes {
                    let (outcome, observation_id, detail) = match &o.kind {
                        OutcomeKind::Indexed(e, rdo) => {
                            // The key's old ad goes first: `rdo_key` is unique, so the upsert would clash with it.
                            sqlx::query(sql::DELETE_OBSERVATION_BY_KEY).bind(&o.key).bind(&e.observation_id).execute(&mut *tx).await?;
                            sqlx::query(sql::UPSERT_OBSERVATION)
                                .bind(&e.observation_id)
                                .bind(&e.observer_id)
                                .bind(e.timestamp_ms)
                                .bind(&e.observation_uuid)
                                .bind(e.observed_at)
                                .bind(&e.platform)
                                .bind(&o.key)
                                .bind(rdo)
                                .bind(&e.page_names)
                                .bind(&e.categories)
                                .bind(&e.search_text)
                                .execute(&mut *tx)
                                .await?;
                            ("indexed", Some(e.observation_id.as_str()), None)
                        }
                        OutcomeKind::Withdrawn { observation_id } => {
                            if let Some(id) = observation_id {
                                sqlx::query(sql::DELETE_OBSERVATION).bind(id).execute(&mut *tx).await?;
                            }
                            ("withdrawn", observation_id.as_deref(), None)
                        }
                        OutcomeKind::Unparseable(reason) => ("unparseable", None, Some(reason.as_str())),
                    };
                    sqlx::query(sql::DELETE_OBSERVATION_BY_KEY)
                        .bind(&o.key)
                        .bind(observation_id.unwrap_or(""))
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(sql::UPSERT_OBJECT)
                        .bind(&o.key)
                        .bind(&o.version)
                        .bind(outcome)
                        .bind(observation_id)
                        .bind(detail)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn unparseable_objects(&self) -> Result<Vec<(String, String)>> {
                let rows = sqlx::query(sql::SELECT_UNPARSEABLE).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("object_key")?, r.try_get::<Option<String>, _>("detail")?.unwrap_or_default())))
                    .collect()
            }

            async fn catalogue_size(&self) -> Result<u64> {
                let n: i64 = sqlx::query_scalar(sql::COUNT_OBSERVATIONS).fetch_one(&self.pool).await?;
                Ok(n as u64)
            }

            async fn count_matching(&self, query: &Query) -> Result<u64> {
                let compiled = search::count_sql(query, Self::DIALECT);
                let q = bind_all!(sqlx::query_scalar::<_, i64>(AssertSqlSafe(compiled.text)), &compiled.binds);
                Ok(q.fetch_one(&self.pool).await? as u64)
            }

            async fn search_page(&self, query: &Query, after: Option<&PageCursor>, limit: u32) -> Result<Vec<CatalogueRow>> {
                let compiled = search::page_sql(query, Self::DIALECT, after, limit);
                let q = bind_all!(sqlx::query(AssertSqlSafe(compiled.text)), &compiled.binds);
                let rows = q.fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        Ok(CatalogueRow {
                            observation_id: r.try_get("observation_id")?,
                            observer_id: r.try_get("observer_id")?,
                            observed_at: r.try_get("observed_at")?,
                            rdo_key: r.try_get("rdo_key")?,
                            rdo: r.try_get("rdo")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

storage_impl!(SqliteStorage, "sqlite");
storage_impl!(PgStorage, "postgres");
