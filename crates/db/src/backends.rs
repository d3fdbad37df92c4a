//! The two storage implementations (SQLite and PostgreSQL). Their method bodies are the same text over different sqlx
//! drivers, so one macro writes both; what differs (connecting, migrations, SQL dialect) is
//! spelled out per backend below it. The catalogue's methods are written the same way in
//! `catalogue.rs`, and [`UsersDb`](crate::UsersDb)'s in `backends/users.rs`.

mod notices;
mod users;

use crate::records::{
    Claim, CreateOutcome, DownloadRecord, ExpiredFile, ExportRecord, Finish, NewDownload, NewExport, QueueRow,
    RetryExport, RetryOutcome,
};
use crate::search::Dialect;
use crate::{Database, DbError, ExportsDb, QueueTable, Result, User, sql};
use aao_export_core::api::DownloadVia;
use aao_export_core::export::{ExportParameters, ExportStatus};
use aao_export_core::fields::seed_fields;
use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

/// SQLite (WAL), the embedded default.
#[derive(Clone)]
pub struct SqliteStorage {
    pub(crate) pool: sqlx::SqlitePool,
}

/// PostgreSQL, for production.
#[derive(Clone)]
pub struct PgStorage {
    pub(crate) pool: sqlx::PgPool,
}

impl SqliteStorage {
    pub(crate) const DIALECT: Dialect = Dialect::Sqlite;
    const QUEUE_LOCK: &str = "";
    const ROW_LOCK: &str = "";
    const SHARES_AGGREGATE: &str = "group_concat(s.user_id, char(31))";

    pub async fn connect(url: &str) -> Result<Self> {
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
        Ok(Self { pool })
    }

    async fn run_migrations(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }

    /// A transaction that reads then writes takes the write lock up front: SQLite cannot upgrade
    /// a reader to a writer while another connection writes, and would fail instead of waiting.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl PgStorage {
    pub(crate) const DIALECT: Dialect = Dialect::Postgres;
    const QUEUE_LOCK: &str = "FOR UPDATE SKIP LOCKED";
    const ROW_LOCK: &str = "FOR NO KEY UPDATE";
    const SHARES_AGGREGATE: &str = "string_agg(s.user_id, chr(31))";

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

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

fn user_from_row<R: Row>(row: &R) -> Result<User>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> bool: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(User {
        id: row.try_get("id")?,
        full_name: row.try_get("full_name")?,
        enabled: row.try_get("enabled")?,
        role: row.try_get("role")?,
        primary_email: row.try_get("primary_email")?,
    })
}

/// Loads the exports a subquery of ids selects (binding `$1`, `$2`, … in order), in one query.
macro_rules! load_exports {
    ($executor:expr, $ids:expr $(, $bind:expr)*) => {{
        let text = sql::SELECT_EXPORTS.replace("{shares}", Self::SHARES_AGGREGATE).replace("{ids}", $ids);
        let rows = sqlx::query(AssertSqlSafe(text))$(.bind($bind))*.fetch_all($executor).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let export_id: Uuid = r.try_get("export_id")?;
            let status: String = r.try_get("status")?;
            let query_string: String = r.try_get("query_string")?;
            let field_paths: String = r.try_get("field_paths")?;
            let opt_u64 = |v: Option<i64>| v.map(|n| n.max(0) as u64);
            out.push(ExportRecord {
                export_id,
                creator_id: r.try_get("creator_id")?,
                parameters: ExportParameters {
                    query: serde_json::from_str(&query_string).unwrap_or(serde_json::Value::String(query_string)),
                    include_images: r.try_get("include_images")?,
                    fields: serde_json::from_str(&field_paths).map_err(|e| sqlx::Error::Decode(format!("field_paths of export {export_id}: {e}").into()))?,
                },
                shared_with: {
                    let joined: Option<String> = r.try_get("shared_with")?;
                    let mut users: Vec<String> = joined.iter().flat_map(|j| j.split('\u{1f}')).map(str::to_string).collect();
                    // Sorted here, not in SQL, so the order never depends on a database's collation.
                    users.sort();
                    users
                },
                status: ExportStatus::parse(&status).ok_or_else(|| sqlx::Error::Decode(format!("unknown export status {status:?}").into()))?,
                object_location: r.try_get("object_location")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                started_at: r.try_get("started_at")?,
                completed_at: r.try_get("completed_at")?,
                message: r.try_get("message")?,
                attempt: r.try_get::<i32, _>("attempt")?.max(0) as u32,
                max_retries: r.try_get::<i32, _>("max_retries")?.max(0) as u32,
                lease_owner: r.try_get("lease_owner")?,
                lease_expires_at: r.try_get("lease_expires_at")?,
                progress_processed: r.try_get::<i64, _>("progress_processed")?.max(0) as u64,
                progress_total: opt_u64(r.try_get("progress_total")?),
                size_bytes: opt_u64(r.try_get("size_bytes")?),
                ad_count: opt_u64(r.try_get("ad_count")?),
                image_count: opt_u64(r.try_get("image_count")?),
                download_count: r.try_get::<i64, _>("download_count")?.max(0) as u64,
            });
        }
        out
    }};
}

macro_rules! storage_impl {
    ($storage:ty, $name:literal) => {
        #[async_trait]
        impl Database for $storage {
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
        }

        #[async_trait]
        impl ExportsDb for $storage {
            async fn create_export(&self, export: &NewExport) -> Result<CreateOutcome> {
                let mut tx = self.begin_write().await?;
                let lock = sql::LOCK_CREATOR.replace("{lock}", Self::ROW_LOCK);
                sqlx::query(AssertSqlSafe(lock)).bind(&export.creator_id).fetch_optional(&mut *tx).await?;
                let in_flight: i64 =
                    sqlx::query_scalar(sql::COUNT_IN_FLIGHT).bind(&export.creator_id).fetch_one(&mut *tx).await?;
                if in_flight >= i64::from(export.max_in_flight) {
                    return Ok(CreateOutcome::TooManyInFlight(in_flight as u64));
                }
                let query_string = serde_json::to_string(&export.parameters.query).expect("a JSON value serialises");
                sqlx::query(sql::INSERT_EXPORT)
                    .bind(export.export_id)
                    .bind(&export.creator_id)
                    .bind(export.parameters.include_images)
                    .bind(query_string)
                    .bind(export.created_at)
                    .bind(export.max_retries as i64)
                    .bind(serde_json::to_string(&export.parameters.fields).expect("strings serialise"))
                    .execute(&mut *tx)
                    .await?;
                for (position, field_id) in export.field_ids.iter().enumerate() {
                    sqlx::query(sql::INSERT_EXPORT_FIELD)
                        .bind(export.export_id)
                        .bind(field_id)
                        .bind(position as i64)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(body) = &export.queue_body {
                    sqlx::query(sql::QUEUE_SEND)
                        .bind(body)
                        .bind(export.created_at)
                        .bind(export.created_at)
                        .execute(&mut *tx)
                        .await?;
                }
                let record =
                    load_exports!(&mut *tx, sql::IDS_ONE, export.export_id).pop().ok_or(sqlx::Error::RowNotFound)?;
                tx.commit().await?;
                Ok(CreateOutcome::Created(Box::new(record)))
            }

            async fn export(&self, id: Uuid) -> Result<Option<ExportRecord>> {
                Ok(load_exports!(&self.pool, sql::IDS_ONE, id).pop())
            }

            async fn exports_visible_to(&self, user_id: &str) -> Result<Vec<ExportRecord>> {
                Ok(load_exports!(&self.pool, sql::IDS_VISIBLE_TO, user_id))
            }

            async fn delete_export(&self, id: Uuid) -> Result<Option<ExportRecord>> {
                let mut tx = self.begin_write().await?;
                let Some(record) = load_exports!(&mut *tx, sql::IDS_ONE, id).pop() else { return Ok(None) };
                sqlx::query(sql::DELETE_EXPORT).bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(Some(record))
            }

            async fn share_export(&self, id: Uuid, user_ids: &[String]) -> Result<Vec<String>> {
                let mut tx = self.begin_write().await?;
                for user in user_ids {
                    sqlx::query(sql::INSERT_SHARE).bind(id).bind(user).execute(&mut *tx).await?;
                }
                let mut shared: Vec<String> =
                    sqlx::query_scalar(sql::SELECT_SHARES).bind(id).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                shared.sort();
                Ok(shared)
            }

            async fn unshare_export(&self, id: Uuid, user_ids: &[String]) -> Result<Vec<String>> {
                let mut tx = self.begin_write().await?;
                for user in user_ids {
                    sqlx::query(sql::DELETE_SHARE).bind(id).bind(user).execute(&mut *tx).await?;
                }
                let mut shared: Vec<String> =
                    sqlx::query_scalar(sql::SELECT_SHARES).bind(id).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                shared.sort();
                Ok(shared)
            }

            async fn record_download(&self, download: &NewDownload) -> Result<()> {
                sqlx::query(sql::INSERT_DOWNLOAD)
                    .bind(download.export_id)
                    .bind(&download.user_id)
                    .bind(download.at)
                    .bind(download.via.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn downloads(&self, id: Uuid) -> Result<Vec<DownloadRecord>> {
                let rows = sqlx::query(sql::SELECT_DOWNLOADS).bind(id).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        let via: String = r.try_get("via")?;
                        Ok(DownloadRecord {
                            user_id: r.try_get("user_id")?,
                            full_name: r.try_get("full_name")?,
                            downloaded_at: r.try_get("downloaded_at")?,
                            via: DownloadVia::parse(&via)
                                .ok_or_else(|| DbError::Corrupt(format!("unknown download way {via:?}")))?,
                        })
                    })
                    .collect()
            }

            async fn retry_export(&self, retry: &RetryExport) -> Result<RetryOutcome> {
                let id = retry.export_id;
                let mut tx = self.begin_write().await?;
                let lock = sql::LOCK_CREATOR_OF.replace("{lock}", Self::ROW_LOCK);
                sqlx::query(AssertSqlSafe(lock)).bind(id).fetch_optional(&mut *tx).await?;
                let Some(before) = load_exports!(&mut *tx, sql::IDS_ONE, id).pop() else {
                    return Ok(RetryOutcome::Gone);
                };
                let in_flight: i64 =
                    sqlx::query_scalar(sql::COUNT_IN_FLIGHT).bind(&before.creator_id).fetch_one(&mut *tx).await?;
                let retried = sqlx::query(sql::RETRY_FROM_START)
                    .bind(id)
                    .bind(retry.now)
                    .bind(retry.expired_before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if !retried {
                    return Ok(RetryOutcome::NotRetryable(Box::new(before)));
                }
                // Counted before the change: the export itself was not in flight.
                if in_flight >= i64::from(retry.max_in_flight) {
                    return Ok(RetryOutcome::TooManyInFlight(in_flight as u64));
                }
                if let Some(body) = &retry.queue_body {
                    sqlx::query(sql::QUEUE_SEND).bind(body).bind(retry.now).bind(retry.now).execute(&mut *tx).await?;
                }
                let record = load_exports!(&mut *tx, sql::IDS_ONE, id).pop().ok_or(sqlx::Error::RowNotFound)?;
                tx.commit().await?;
                Ok(RetryOutcome::Retried { record: Box::new(record), old_object_location: before.object_location })
            }

            async fn claim_export(
                &self,
                id: Uuid,
                attempt: u32,
                owner: &str,
                now: i64,
                lease_until: i64,
            ) -> Result<Claim> {
                let mut tx = self.begin_write().await?;
                let claimed = sqlx::query(sql::CLAIM_EXPORT)
                    .bind(id)
                    .bind(attempt as i64)
                    .bind(owner)
                    .bind(now)
                    .bind(lease_until)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                let record = load_exports!(&mut *tx, sql::IDS_ONE, id).pop();
                tx.commit().await?;
                Ok(match record {
                    None => Claim::Gone,
                    Some(r) if claimed => Claim::Claimed(Box::new(r)),
                    Some(r) if !r.status.in_flight() => Claim::Finished(r.status),
                    Some(r) if r.attempt != attempt => Claim::Stale { current_attempt: r.attempt },
                    Some(_) => Claim::Leased,
                })
            }

            async fn renew_lease(
                &self,
                id: Uuid,
                owner: &str,
                now: i64,
                lease_until: i64,
                processed: u64,
                total: u64,
            ) -> Result<bool> {
                let done = sqlx::query(sql::RENEW_LEASE)
                    .bind(id)
                    .bind(owner)
                    .bind(now)
                    .bind(lease_until)
                    .bind(processed as i64)
                    .bind(total as i64)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn finish_export(&self, id: Uuid, owner: &str, now: i64, finish: &Finish) -> Result<bool> {
                let q = match finish {
                    Finish::Completed { object_location, s3_url, size_bytes, ad_count, image_count } => {
                        sqlx::query(sql::COMPLETE_EXPORT)
                            .bind(id)
                            .bind(owner)
                            .bind(now)
                            .bind(object_location)
                            .bind(s3_url)
                            .bind(*size_bytes as i64)
                            .bind(*ad_count as i64)
                            .bind(*image_count as i64)
                    }
                    Finish::Retry { next_attempt, message } => sqlx::query(sql::RETRY_EXPORT)
                        .bind(id)
                        .bind(owner)
                        .bind(now)
                        .bind(*next_attempt as i64)
                        .bind(message),
                    Finish::Failed { message } => {
                        sqlx::query(sql::FAIL_EXPORT).bind(id).bind(owner).bind(now).bind(message)
                    }
                };
                Ok(q.execute(&self.pool).await?.rows_affected() == 1)
            }

            async fn exports_to_rescue(&self, now: i64, stuck_before: i64) -> Result<Vec<ExportRecord>> {
                Ok(load_exports!(&self.pool, sql::IDS_TO_RESCUE, now, stuck_before))
            }

            async fn mark_rescued(&self, id: Uuid, now: i64, stuck_before: i64) -> Result<bool> {
                let marked =
                    sqlx::query(sql::MARK_RESCUED).bind(now).bind(stuck_before).bind(id).execute(&self.pool).await?;
                Ok(marked.rows_affected() == 1)
            }

            async fn expire_exports(&self, completed_before: i64, now: i64) -> Result<u64> {
                Ok(sqlx::query(sql::EXPIRE_EXPORTS)
                    .bind(completed_before)
                    .bind(now)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }

            async fn expired_files(&self) -> Result<Vec<ExpiredFile>> {
                let rows = sqlx::query(sql::SELECT_EXPIRED_FILES).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        Ok(ExpiredFile {
                            export_id: r.try_get("export_id")?,
                            object_location: r.try_get("object_location")?,
                        })
                    })
                    .collect()
            }

            async fn forget_file(&self, id: Uuid) -> Result<()> {
                sqlx::query(sql::FORGET_FILE).bind(id).execute(&self.pool).await?;
                Ok(())
            }
        }

        #[async_trait]
        impl QueueTable for $storage {
            async fn queue_send(&self, body: &str, now: i64, visible_at: i64) -> Result<()> {
                sqlx::query(sql::QUEUE_SEND).bind(body).bind(now).bind(visible_at).execute(&self.pool).await?;
                Ok(())
            }

            async fn queue_receive(&self, max: u32, now: i64, hidden_until: i64) -> Result<Vec<QueueRow>> {
                let receipt = Uuid::new_v4().to_string();
                let text = sql::QUEUE_RECEIVE.replace("{lock}", Self::QUEUE_LOCK);
                let mut tx = self.begin_write().await?;
                let rows = sqlx::query(AssertSqlSafe(text))
                    .bind(hidden_until)
                    .bind(&receipt)
                    .bind(now)
                    .bind(max as i64)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut out: Vec<QueueRow> = rows
                    .iter()
                    .map(|r| {
                        Ok(QueueRow {
                            message_id: r.try_get("message_id")?,
                            body: r.try_get("body")?,
                            receive_count: r.try_get::<i32, _>("receive_count")? as u32,
                            receipt: r.try_get("receipt")?,
                        })
                    })
                    .collect::<Result<_>>()?;
                out.sort_by_key(|m| m.message_id);
                Ok(out)
            }

            async fn queue_delete(&self, message_id: i64, receipt: &str) -> Result<bool> {
                Ok(sqlx::query(sql::QUEUE_DELETE)
                    .bind(message_id)
                    .bind(receipt)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    == 1)
            }

            async fn queue_change_visibility(&self, message_id: i64, receipt: &str, visible_at: i64) -> Result<bool> {
                let done = sqlx::query(sql::QUEUE_CHANGE_VISIBILITY)
                    .bind(message_id)
                    .bind(receipt)
                    .bind(visible_at)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn queue_bury(&self, message_id: i64, receipt: &str) -> Result<bool> {
                Ok(sqlx::query(sql::QUEUE_BURY)
                    .bind(message_id)
                    .bind(receipt)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    == 1)
            }

            async fn queue_depth(&self) -> Result<(u64, u64)> {
                let row = sqlx::query(sql::QUEUE_DEPTH).fetch_one(&self.pool).await?;
                Ok((row.try_get::<i64, _>("live")? as u64, row.try_get::<i64, _>("dead")? as u64))
            }
        }
    };
}

storage_impl!(SqliteStorage, "sqlite");
storage_impl!(PgStorage, "postgres");
