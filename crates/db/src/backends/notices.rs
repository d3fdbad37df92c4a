//! [`NoticesDb`] for both backends: the email outbox on the export row (migration 0007). Like
//! the other concerns it is one macro over the two sqlx drivers.

use super::{PgStorage, SqliteStorage};
use crate::records::DueNotice;
use crate::{NoticesDb, Result, sql};
use aao_export_core::export::ExportStatus;
use async_trait::async_trait;
use sqlx::Row;
use uuid::Uuid;

macro_rules! notices_impl {
    ($storage:ty) => {
        #[async_trait]
        impl NoticesDb for $storage {
            async fn due_notices(&self, now: i64, limit: u32) -> Result<Vec<DueNotice>> {
                let rows = sqlx::query(sql::DUE_NOTICES).bind(now).bind(i64::from(limit)).fetch_all(&self.pool).await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let status: String = r.try_get("status")?;
                    let opt_u64 = |v: Option<i64>| v.map(|n| n.max(0) as u64);
                    out.push(DueNotice {
                        export_id: r.try_get("export_id")?,
                        status: ExportStatus::parse(&status)
                            .ok_or_else(|| sqlx::Error::Decode(format!("unknown export status {status:?}").into()))?,
                        message: r.try_get("message")?,
                        ad_count: opt_u64(r.try_get("ad_count")?),
                        image_count: opt_u64(r.try_get("image_count")?),
                        size_bytes: opt_u64(r.try_get("size_bytes")?),
                        completed_at: r.try_get("completed_at")?,
                        attempts: r.try_get::<i32, _>("notice_attempts")?.max(0) as u32,
                        email: r.try_get::<Option<String>, _>("primary_email")?.unwrap_or_default(),
                        full_name: r.try_get("full_name")?,
                    });
                }
                Ok(out)
            }

            async fn claim_notice(&self, id: Uuid, now: i64, until: i64) -> Result<bool> {
                let claimed = sqlx::query(sql::CLAIM_NOTICE).bind(id).bind(now).bind(until).execute(&self.pool).await?;
                Ok(claimed.rows_affected() == 1)
            }

            async fn notice_sent(&self, id: Uuid, now: i64) -> Result<()> {
                sqlx::query(sql::NOTICE_SENT).bind(id).bind(now).execute(&self.pool).await?;
                Ok(())
            }

            async fn notice_not_sent(&self, id: Uuid, retry_at: Option<i64>) -> Result<()> {
                sqlx::query(sql::NOTICE_NOT_SENT).bind(id).bind(retry_at).execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

notices_impl!(SqliteStorage);
notices_impl!(PgStorage);
