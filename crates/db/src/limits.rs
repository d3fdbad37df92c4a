//! [`LimitsDb`]: hits counted per bucket in fixed windows, for rate limits every process shares.

use crate::driver::query;
use crate::storage::Storage;
use crate::{LimitsDb, Result, sql};
use async_trait::async_trait;

#[async_trait]
impl LimitsDb for Storage {
    async fn count_hit(&self, bucket: &str, window_start: i64, window_end: i64) -> Result<u32> {
        let hits: i32 =
            query(sql::COUNT_HIT).bind(bucket).bind(window_start).bind(window_end).scalar(&self.pool).await?;
        Ok(hits.max(0) as u32)
    }

    async fn purge_hits(&self, ended_by: i64) -> Result<u64> {
        Ok(query(sql::PURGE_HITS).bind(ended_by).execute(&self.pool).await?)
    }
}
