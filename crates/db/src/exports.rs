//! [`ExportsDb`]: exports, their fields, shares and recorded downloads, and the worker's leases.

use crate::attached;
use crate::driver::{On, Value, query};
use crate::records::{
    Claim, CreateOutcome, DownloadRecord, ExpiredFile, ExportRecord, Finish, NewDownload, NewExport, RetryExport,
    RetryOutcome,
};
use crate::storage::{Flavour, Storage};
use crate::{DbError, ExportsDb, Result, sql};
use aao_export_core::api::DownloadVia;
use aao_export_core::export::{ExportParameters, ExportStatus};
use async_trait::async_trait;
use uuid::Uuid;

/// The retries an export the AAO's API created gets (the AAO's own default, as its queue message
/// carries it).
const ADOPTED_MAX_RETRIES: u32 = 3;

impl Storage {
    /// Attached to the AAO's database: adopts the exports its API created and forgets those it
    /// deleted, before we look at exports; elsewhere nothing to do.
    async fn sync_with_aao<'a>(&self, on: impl Into<On<'a>>) -> Result<()> {
        match self.flavour {
            Flavour::Attached => attached::sync_exports(on, ADOPTED_MAX_RETRIES).await,
            Flavour::Sqlite | Flavour::Postgres => Ok(()),
        }
    }

    /// Loads the exports a subquery of ids selects (its `$1`, `$2`, … bound to `args` in
    /// order), in one statement.
    async fn load_exports<'a>(&self, on: impl Into<On<'a>>, ids: &str, args: Vec<Value>) -> Result<Vec<ExportRecord>> {
        let text = sql::SELECT_EXPORTS.replace("{shares}", self.flavour.shares_aggregate()).replace("{ids}", ids);
        let mut statement = query(text);
        for arg in args {
            statement = statement.bind(arg);
        }
        let rows = statement.fetch_all(on).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let export_id = r.uuid("export_id")?;
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
                    fields: serde_json::from_str(&field_paths)
                        .map_err(|e| sqlx::Error::Decode(format!("field_paths of export {export_id}: {e}").into()))?,
                },
                shared_with: {
                    let joined: Option<String> = r.try_get("shared_with")?;
                    let mut users: Vec<String> =
                        joined.iter().flat_map(|j| j.split('\u{1f}')).map(str::to_string).collect();
                    // Sorted here, not in SQL, so the order never depends on a database's collation.
                    users.sort();
                    users
                },
                status: ExportStatus::parse(&status)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown export status {status:?}").into()))?,
                object_location: r.try_get("object_location")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                started_at: r.try_get("started_at")?,
                completed_at: r.try_get("completed_at")?,
                message: r.try_get("message")?,
                attempt: r.try_get::<i32>("attempt")?.max(0) as u32,
                max_retries: r.try_get::<i32>("max_retries")?.max(0) as u32,
                lease_owner: r.try_get("lease_owner")?,
                lease_expires_at: r.try_get("lease_expires_at")?,
                progress_processed: r.try_get::<i64>("progress_processed")?.max(0) as u64,
                progress_total: opt_u64(r.try_get("progress_total")?),
                size_bytes: opt_u64(r.try_get("size_bytes")?),
                ad_count: opt_u64(r.try_get("ad_count")?),
                image_count: opt_u64(r.try_get("image_count")?),
                download_count: r.try_get::<i64>("download_count")?.max(0) as u64,
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl ExportsDb for Storage {
    async fn create_export(&self, export: &NewExport) -> Result<CreateOutcome> {
        let mut tx = self.pool.begin(true).await?;
        let lock = sql::LOCK_CREATOR.replace("{lock}", self.flavour.row_lock());
        query(lock).bind(&export.creator_id).fetch_optional(&mut tx).await?;
        let in_flight: i64 = query(sql::COUNT_IN_FLIGHT).bind(&export.creator_id).scalar(&mut tx).await?;
        if in_flight >= i64::from(export.max_in_flight) {
            return Ok(CreateOutcome::TooManyInFlight(in_flight as u64));
        }
        let query_string = serde_json::to_string(&export.parameters.query).expect("a JSON value serialises");
        query(sql::INSERT_EXPORT)
            .bind(export.export_id)
            .bind(&export.creator_id)
            .bind(export.parameters.include_images)
            .bind(query_string)
            .bind(export.created_at)
            .bind(export.max_retries as i64)
            .bind(serde_json::to_string(&export.parameters.fields).expect("strings serialise"))
            .execute(&mut tx)
            .await?;
        for (position, field_id) in export.field_ids.iter().enumerate() {
            query(sql::INSERT_EXPORT_FIELD)
                .bind(export.export_id)
                .bind(field_id)
                .bind(position as i64)
                .execute(&mut tx)
                .await?;
        }
        if let Some(body) = &export.queue_body {
            query(sql::QUEUE_SEND).bind(body).bind(export.created_at).bind(export.created_at).execute(&mut tx).await?;
        }
        let record = self
            .load_exports(&mut tx, sql::IDS_ONE, vec![Value::from(export.export_id)])
            .await?
            .pop()
            .ok_or(sqlx::Error::RowNotFound)?;
        tx.commit().await?;
        Ok(CreateOutcome::Created(Box::new(record)))
    }

    async fn export(&self, id: Uuid) -> Result<Option<ExportRecord>> {
        self.sync_with_aao(&self.pool).await?;
        Ok(self.load_exports(&self.pool, sql::IDS_ONE, vec![Value::from(id)]).await?.pop())
    }

    async fn exports_visible_to(&self, user_id: &str) -> Result<Vec<ExportRecord>> {
        self.sync_with_aao(&self.pool).await?;
        Ok(self.load_exports(&self.pool, sql::IDS_VISIBLE_TO, vec![Value::from(user_id)]).await?)
    }

    async fn delete_export(&self, id: Uuid) -> Result<Option<ExportRecord>> {
        let mut tx = self.pool.begin(true).await?;
        let Some(record) = self.load_exports(&mut tx, sql::IDS_ONE, vec![Value::from(id)]).await?.pop() else {
            return Ok(None);
        };
        query(sql::DELETE_EXPORT).bind(id).execute(&mut tx).await?;
        tx.commit().await?;
        Ok(Some(record))
    }

    async fn share_export(&self, id: Uuid, user_ids: &[String]) -> Result<Vec<String>> {
        let mut tx = self.pool.begin(true).await?;
        for user in user_ids {
            query(sql::INSERT_SHARE).bind(id).bind(user).execute(&mut tx).await?;
        }
        let mut shared: Vec<String> = query(sql::SELECT_SHARES).bind(id).scalars(&mut tx).await?;
        tx.commit().await?;
        shared.sort();
        Ok(shared)
    }

    async fn unshare_export(&self, id: Uuid, user_ids: &[String]) -> Result<Vec<String>> {
        let mut tx = self.pool.begin(true).await?;
        for user in user_ids {
            query(sql::DELETE_SHARE).bind(id).bind(user).execute(&mut tx).await?;
        }
        let mut shared: Vec<String> = query(sql::SELECT_SHARES).bind(id).scalars(&mut tx).await?;
        tx.commit().await?;
        shared.sort();
        Ok(shared)
    }

    async fn record_download(&self, download: &NewDownload) -> Result<()> {
        query(sql::INSERT_DOWNLOAD)
            .bind(download.export_id)
            .bind(&download.user_id)
            .bind(download.at)
            .bind(download.via.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn downloads(&self, id: Uuid) -> Result<Vec<DownloadRecord>> {
        let rows = query(sql::SELECT_DOWNLOADS).bind(id).fetch_all(&self.pool).await?;
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
        let mut tx = self.pool.begin(true).await?;
        let lock = sql::LOCK_CREATOR_OF.replace("{lock}", self.flavour.row_lock());
        query(lock).bind(id).fetch_optional(&mut tx).await?;
        let Some(before) = self.load_exports(&mut tx, sql::IDS_ONE, vec![Value::from(id)]).await?.pop() else {
            return Ok(RetryOutcome::Gone);
        };
        let in_flight: i64 = query(sql::COUNT_IN_FLIGHT).bind(&before.creator_id).scalar(&mut tx).await?;
        let retried =
            query(sql::RETRY_FROM_START).bind(id).bind(retry.now).bind(retry.expired_before).execute(&mut tx).await?
                == 1;
        if !retried {
            return Ok(RetryOutcome::NotRetryable(Box::new(before)));
        }
        // Counted before the change: the export itself was not in flight.
        if in_flight >= i64::from(retry.max_in_flight) {
            return Ok(RetryOutcome::TooManyInFlight(in_flight as u64));
        }
        if let Some(body) = &retry.queue_body {
            query(sql::QUEUE_SEND).bind(body).bind(retry.now).bind(retry.now).execute(&mut tx).await?;
        }
        let record = self
            .load_exports(&mut tx, sql::IDS_ONE, vec![Value::from(id)])
            .await?
            .pop()
            .ok_or(sqlx::Error::RowNotFound)?;
        tx.commit().await?;
        Ok(RetryOutcome::Retried { record: Box::new(record), old_object_location: before.object_location })
    }

    async fn adopt_export(&self, id: Uuid, max_retries: u32, fields: &[String]) -> Result<()> {
        if self.flavour != Flavour::Attached {
            return Ok(());
        }
        let fields = serde_json::to_string(fields).expect("strings serialise");
        attached::adopt_export(&self.pool, id, max_retries, &fields).await
    }

    async fn claim_export(&self, id: Uuid, attempt: u32, owner: &str, now: i64, lease_until: i64) -> Result<Claim> {
        let mut tx = self.pool.begin(true).await?;
        self.sync_with_aao(&mut tx).await?;
        let claimed = query(sql::CLAIM_EXPORT)
            .bind(id)
            .bind(attempt as i64)
            .bind(owner)
            .bind(now)
            .bind(lease_until)
            .execute(&mut tx)
            .await?
            == 1;
        let record = self.load_exports(&mut tx, sql::IDS_ONE, vec![Value::from(id)]).await?.pop();
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
        let done = query(sql::RENEW_LEASE)
            .bind(id)
            .bind(owner)
            .bind(now)
            .bind(lease_until)
            .bind(processed as i64)
            .bind(total as i64)
            .execute(&self.pool)
            .await?;
        Ok(done == 1)
    }

    async fn finish_export(&self, id: Uuid, owner: &str, now: i64, finish: &Finish) -> Result<bool> {
        let q = match finish {
            Finish::Completed { object_location, s3_url, size_bytes, ad_count, image_count } => {
                query(sql::COMPLETE_EXPORT)
                    .bind(id)
                    .bind(owner)
                    .bind(now)
                    .bind(object_location)
                    .bind(s3_url)
                    .bind(*size_bytes as i64)
                    .bind(*ad_count as i64)
                    .bind(*image_count as i64)
            }
            Finish::Retry { next_attempt, message } => {
                query(sql::RETRY_EXPORT).bind(id).bind(owner).bind(now).bind(*next_attempt as i64).bind(message)
            }
            Finish::Failed { message } => query(sql::FAIL_EXPORT).bind(id).bind(owner).bind(now).bind(message),
        };
        Ok(q.execute(&self.pool).await? == 1)
    }

    async fn exports_to_rescue(&self, now: i64, stuck_before: i64) -> Result<Vec<ExportRecord>> {
        self.sync_with_aao(&self.pool).await?;
        Ok(self
            .load_exports(&self.pool, &sql::IDS_TO_RESCUE, vec![Value::from(now), Value::from(stuck_before)])
            .await?)
    }

    async fn mark_rescued(&self, id: Uuid, now: i64, stuck_before: i64) -> Result<bool> {
        let marked =
            query(sql::MARK_RESCUED.as_str()).bind(now).bind(stuck_before).bind(id).execute(&self.pool).await?;
        Ok(marked == 1)
    }

    async fn expire_exports(&self, completed_before: i64, now: i64) -> Result<u64> {
        self.sync_with_aao(&self.pool).await?;
        Ok(query(sql::EXPIRE_EXPORTS).bind(completed_before).bind(now).execute(&self.pool).await?)
    }

    async fn expired_files(&self) -> Result<Vec<ExpiredFile>> {
        let rows = query(sql::SELECT_EXPIRED_FILES).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(ExpiredFile { export_id: r.uuid("export_id")?, object_location: r.try_get("object_location")? })
            })
            .collect()
    }

    async fn forget_file(&self, id: Uuid) -> Result<()> {
        query(sql::FORGET_FILE).bind(id).execute(&self.pool).await?;
        Ok(())
    }
}
