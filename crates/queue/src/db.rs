//! The database queue: messages are rows of `job_queue` in the service's own database, so an
//! export and its message commit together. Receiving long-polls by checking every
//! [`POLL_INTERVAL`], which keeps an idle worker's pick-up well under a second.

use crate::{MAX_DELAY, MAX_VISIBILITY, Queue, QueueError, Receipt, Received, Result};
use aao_export_core::time::{millis as ms, now_ms};
use aao_export_db::QueueTable;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// A message received this many times without being deleted is dead-lettered (as an SQS
/// redrive policy with `maxReceiveCount` 5 would).
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

pub struct DbQueue {
    storage: Arc<dyn QueueTable>,
    max_receives: u32,
}

impl DbQueue {
    pub fn new(storage: Arc<dyn QueueTable>) -> Self {
        Self { storage, max_receives: DEFAULT_MAX_RECEIVES }
    }

    pub fn with_max_receives(storage: Arc<dyn QueueTable>, max_receives: u32) -> Self {
        Self { storage, max_receives: max_receives.max(1) }
    }

    /// (live messages, dead-lettered messages).
    pub async fn depth(&self) -> Result<(u64, u64)> {
        Ok(self.storage.queue_depth().await?)
    }
}

/// A receipt is `{message_id}:{receipt of that receive}`.
fn split(receipt: &Receipt) -> Result<(i64, &str)> {
    let (id, r) = receipt.0.split_once(':').ok_or(QueueError::BadReceipt)?;
    Ok((id.parse().map_err(|_| QueueError::BadReceipt)?, r))
}

#[async_trait]
impl Queue for DbQueue {
    fn backend(&self) -> &'static str {
        "database"
    }

    fn outbox(&self, body: &str) -> Option<String> {
        Some(body.to_string())
    }

    async fn after_commit(&self, _body: &str) -> Result<()> {
        Ok(()) // committed with the rows
    }

    /// Receiving polls the table every [`POLL_INTERVAL`]; a short wait keeps each receive cheap.
    fn longest_wait(&self) -> Duration {
        Duration::from_secs(1)
    }

    async fn send(&self, body: &str, delay: Duration) -> Result<()> {
        let now = now_ms();
        self.storage.queue_send(body, now, now + ms(delay.min(MAX_DELAY))).await?;
        Ok(())
    }

    async fn receive(&self, max: u32, visibility: Duration, wait: Duration) -> Result<Vec<Received>> {
        let deadline = tokio::time::Instant::now() + wait;
        let visibility = ms(visibility.min(MAX_VISIBILITY));
        loop {
            let now = now_ms();
            let rows = self.storage.queue_receive(max.clamp(1, 10), now, now + visibility).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                if row.receive_count > self.max_receives {
                    tracing::warn!(
                        message_id = row.message_id,
                        receives = row.receive_count,
                        "dead-lettering a message received too often"
                    );
                    self.storage.queue_bury(row.message_id, &row.receipt).await?;
                    continue;
                }
                out.push(Received {
                    body: row.body,
                    receipt: Receipt(format!("{}:{}", row.message_id, row.receipt)),
                    receive_count: row.receive_count,
                });
            }
            if !out.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(out);
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - tokio::time::Instant::now())).await;
        }
    }

    async fn delete(&self, receipt: &Receipt) -> Result<()> {
        let (id, r) = split(receipt)?;
        // A stale receipt (the message came back and was received again) deletes nothing, as on SQS
        // where the old handle no longer refers to the new receive.
        self.storage.queue_delete(id, r).await?;
        Ok(())
    }

    async fn change_visibility(&self, receipt: &Receipt, visibility: Duration) -> Result<()> {
        let (id, r) = split(receipt)?;
        self.storage.queue_change_visibility(id, r, now_ms() + ms(visibility.min(MAX_VISIBILITY))).await?;
        Ok(())
    }
}
