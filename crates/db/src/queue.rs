//! [`QueueTable`]: the rows of the database queue (the queue crate's `DbQueue`), with SQS's
//! semantics.

use crate::driver::query;
use crate::records::QueueRow;
use crate::storage::Storage;
use crate::{QueueTable, Result, sql};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl QueueTable for Storage {
    async fn queue_send(&self, body: &str, now: i64, visible_at: i64) -> Result<()> {
        query(sql::QUEUE_SEND).bind(body).bind(now).bind(visible_at).execute(&self.pool).await?;
        Ok(())
    }

    async fn queue_receive(&self, max: u32, now: i64, hidden_until: i64) -> Result<Vec<QueueRow>> {
        let receipt = Uuid::new_v4().to_string();
        let text = sql::QUEUE_RECEIVE.replace("{lock}", self.flavour.queue_lock());
        let mut tx = self.pool.begin(true).await?;
        let rows = query(text).bind(hidden_until).bind(&receipt).bind(now).bind(max as i64).fetch_all(&mut tx).await?;
        tx.commit().await?;
        let mut out: Vec<QueueRow> = rows
            .iter()
            .map(|r| {
                Ok(QueueRow {
                    message_id: r.try_get("message_id")?,
                    body: r.try_get("body")?,
                    receive_count: r.try_get::<i32>("receive_count")? as u32,
                    receipt: r.try_get("receipt")?,
                })
            })
            .collect::<Result<_>>()?;
        out.sort_by_key(|m| m.message_id);
        Ok(out)
    }

    async fn queue_delete(&self, message_id: i64, receipt: &str) -> Result<bool> {
        Ok(query(sql::QUEUE_DELETE).bind(message_id).bind(receipt).execute(&self.pool).await? == 1)
    }

    async fn queue_change_visibility(&self, message_id: i64, receipt: &str, visible_at: i64) -> Result<bool> {
        let done = query(sql::QUEUE_CHANGE_VISIBILITY)
            .bind(message_id)
            .bind(receipt)
            .bind(visible_at)
            .execute(&self.pool)
            .await?;
        Ok(done == 1)
    }

    async fn queue_bury(&self, message_id: i64, receipt: &str) -> Result<bool> {
        Ok(query(sql::QUEUE_BURY).bind(message_id).bind(receipt).execute(&self.pool).await? == 1)
    }

    async fn queue_depth(&self) -> Result<(u64, u64)> {
        let row = query(sql::QUEUE_DEPTH).fetch_one(&self.pool).await?;
        Ok((row.try_get::<i64>("live")? as u64, row.try_get::<i64>("dead")? as u64))
    }
}
