//! The job queue: one trait with SQS semantics ([`Queue`]) and two implementations, the
//! database queue ([`DbQueue`], the embedded default) and AWS SQS ([`SqsQueue`]).
//!
//! Semantics both honour: a received message is hidden for the visibility timeout and comes back
//! unless deleted with the receipt of that receive; its receive count grows with every receive;
//! a message received more than the dead-letter limit is set aside (SQS: by the queue's redrive
//! policy; database: by [`DbQueue`] itself), so a poison message never blocks the queue.

mod db;
mod sqs;

pub use db::DbQueue;
pub use sqs::SqsQueue;

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// The longest delay and visibility timeout one call may ask for (SQS's limits: 15 min for a
/// delay, 12 h for visibility).
pub const MAX_DELAY: Duration = Duration::from_secs(900);
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("database queue: {0}")]
    Database(#[from] aao_export_db::DbError),
    #[error("SQS: {0}")]
    Sqs(String),
    #[error("invalid receipt handle")]
    BadReceipt,
}

pub type Result<T, E = QueueError> = std::result::Result<T, E>;

/// Proof of one receive of one message: needed to delete it or change its visibility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt(pub String);

/// A received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub receipt: Receipt,
    /// 1 on the first receive.
    pub receive_count: u32,
}

#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// `database` or `sqs`.
    fn backend(&self) -> &'static str;

    /// True when messages live in the service's database, so that `POST /exports` writes the
    /// message in the export's own transaction (`NewExport::queue_body`) instead of calling `send`.
    fn in_database(&self) -> bool;

    /// Sends a message, visible after `delay` (capped at [`MAX_DELAY`]).
    async fn send(&self, body: &str, delay: Duration) -> Result<()>;

    /// Up to `max` messages (1..=10), each hidden for `visibility`; waits up to `wait` for the
    /// first one to arrive (long polling).
    async fn receive(&self, max: u32, visibility: Duration, wait: Duration) -> Result<Vec<Received>>;

    /// Removes a received message for good.
    async fn delete(&self, receipt: &Receipt) -> Result<()>;

    /// Hides a received message for `visibility` from now (the worker's heartbeat), or makes it
    /// visible again at once with zero.
    async fn change_visibility(&self, receipt: &Receipt, visibility: Duration) -> Result<()>;
}

/// Opens the queue the configuration names: empty or `db` → the database queue, else an SQS
/// queue URL.
pub async fn open(
    sqs_queue_url: Option<&str>,
    storage: Arc<dyn aao_export_db::Storage>,
    aws: &AwsSettings,
) -> Result<Arc<dyn Queue>> {
    match sqs_queue_url.map(str::trim).filter(|u| !u.is_empty() && *u != "db") {
        None => Ok(Arc::new(DbQueue::new(storage))),
        Some(url) => Ok(Arc::new(SqsQueue::connect(url, aws).await?)),
    }
}

/// Where AWS lives: the region and, for an emulator, the endpoint.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub region: String,
    pub endpoint_url: Option<String>,
}
