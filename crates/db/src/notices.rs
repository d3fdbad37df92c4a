//! [`NoticesDb`]: the email outbox on the export row (migration 0007).

use crate::driver::query;
use crate::records::DueNotice;
use crate::storage::Storage;
use crate::{NoticesDb, Result, sql};
use aao_export_core::export::ExportStatus;
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl NoticesDb for Storage {
    async fn due_notices(&self, now: i64, limit: u32) -> Result<Vec<DueNotice>> {
        let rows = query(sql::DUE_NOTICES).bind(now).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let status: String = r.try_get("status")?;
            let opt_u64 = |v: Option<i64>| v.map(|n| n.max(0) as u64);
            out.push(DueNotice {
                export_id: r.uuid("export_id")?,
                status: ExportStatus::parse(&status)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown export status {status:?}").into()))?,
                message: r.try_get("message")?,
                ad_count: opt_u64(r.try_get("ad_count")?),
                image_count: opt_u64(r.try_get("image_count")?),
                size_bytes: opt_u64(r.try_get("size_bytes")?),
                completed_at: r.try_get("completed_at")?,
                attempts: r.try_get::<i32>("notice_attempts")?.max(0) as u32,
                email: r.try_get::<Option<String>>("primary_email")?.unwrap_or_default(),
                full_name: r.try_get("full_name")?,
            });
        }
        Ok(out)
    }

    async fn claim_notice(&self, id: Uuid, now: i64, until: i64) -> Result<bool> {
        let claimed = query(sql::CLAIM_NOTICE).bind(id).bind(now).bind(until).execute(&self.pool).await?;
        Ok(claimed == 1)
    }

    async fn notice_sent(&self, id: Uuid, now: i64) -> Result<()> {
        query(sql::NOTICE_SENT).bind(id).bind(now).execute(&self.pool).await?;
        Ok(())
    }

    async fn notice_not_sent(&self, id: Uuid, retry_at: Option<i64>) -> Result<()> {
        query(sql::NOTICE_NOT_SENT).bind(id).bind(retry_at).execute(&self.pool).await?;
        Ok(())
    }
}
