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

pub use aao_export_aws::AwsSettings;
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
    #[error("SQS: {what}: {}", aws_sdk_sqs::error::DisplayErrorContext(.source))]
    Sqs {
        what: String,
        #[source]
        source: Box<aws_sdk_sqs::Error>,
    },
    #[error("SQS: {what}: the answer has no {missing}")]
    IncompleteAnswer { what: String, missing: &'static str },
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

    /// The message to write in the same transaction as the rows that need it, when this queue
    /// keeps its messages in that database (the database queue); `None` otherwise. Callers hand
    /// it to the write and then call [`Queue::after_commit`], whichever queue this is: a job is
    /// never queued for rows that were not written, nor lost once they were (the rescuer re-sends
    /// what an SQS send lost).
    fn outbox(&self, body: &str) -> Option<String>;

    /// Delivers a message whose rows are committed: the database queue holds it already, SQS
    /// sends it now.
    async fn after_commit(&self, body: &str) -> Result<()>;

    /// The longest a receive should wait for a message (long polling).
    fn longest_wait(&self) -> Duration;

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
    table: Arc<dyn aao_export_db::QueueTable>,
    aws: &AwsSettings,
) -> Arc<dyn Queue> {
    match sqs_queue_url.map(str::trim).filter(|u| !u.is_empty() && *u != "db") {
        None => Arc::new(DbQueue::new(table)),
        Some(url) => Arc::new(SqsQueue::connect(url, aws).await),
    }
}
