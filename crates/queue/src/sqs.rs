//! AWS SQS through the AWS SDK (placeholder until the SQS implementation lands).

use crate::{AwsSettings, Queue, QueueError, Receipt, Received, Result};
use async_trait::async_trait;
use std::time::Duration;

pub struct SqsQueue {
    _url: String,
}

impl SqsQueue {
    pub async fn connect(url: &str, _aws: &AwsSettings) -> Result<Self> {
        Err(QueueError::Sqs(format!("SQS is not wired yet ({url})")))
    }
}

#[async_trait]
impl Queue for SqsQueue {
    fn backend(&self) -> &'static str {
        "sqs"
    }
    fn in_database(&self) -> bool {
        false
    }
    async fn send(&self, _body: &str, _delay: Duration) -> Result<()> {
        unimplemented!()
    }
    async fn receive(&self, _max: u32, _visibility: Duration, _wait: Duration) -> Result<Vec<Received>> {
        unimplemented!()
    }
    async fn delete(&self, _receipt: &Receipt) -> Result<()> {
        unimplemented!()
    }
    async fn change_visibility(&self, _receipt: &Receipt, _visibility: Duration) -> Result<()> {
        unimplemented!()
    }
}
