//! AWS SQS through the AWS SDK. SQS counts in whole seconds: delays, visibility timeouts and
//! waits are rounded up to the next second (zero stays zero), and capped at SQS's own limits.
//! The dead-letter queue is the queue's redrive policy (see [`SqsQueue::create_with_dead_letter`]).

use crate::{AwsSettings, MAX_DELAY, MAX_VISIBILITY, Queue, QueueError, Receipt, Received, Result};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use std::time::Duration;

/// The longest long poll one receive may ask SQS for.
pub const MAX_WAIT: Duration = Duration::from_secs(20);

pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// A queue by its URL. Credentials come from the environment's standard chain; no request is
    /// made until the first call.
    pub async fn connect(url: &str, aws: &AwsSettings) -> Self {
        Self { client: client(aws).await, url: url.to_string() }
    }

    /// The queue URL this queue sends to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates (or finds, if they exist with the same attributes) the queue `name` and its
    /// dead-letter queue `{name}-dead`, the first redriving a message to the second once it has
    /// been received `max_receive_count` times. Returns `(queue_url, dead_letter_url)`.
    pub async fn create_with_dead_letter(
        aws: &AwsSettings,
        name: &str,
        max_receive_count: u32,
    ) -> Result<(String, String)> {
        let client = client(aws).await;
        let dead_name = format!("{name}-dead");
        let what = format!("creating queue {dead_name}");
        let dead = client.create_queue().queue_name(&dead_name).send().await.map_err(|e| sqs_error(&what, e))?;
        let dead_url = dead.queue_url().ok_or(QueueError::IncompleteAnswer { what, missing: "queue URL" })?.to_string();
        let attrs = client
            .get_queue_attributes()
            .queue_url(&dead_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| sqs_error(&format!("reading the ARN of {dead_url}"), e))?;
        let dead_arn = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).ok_or_else(|| {
            QueueError::IncompleteAnswer { what: format!("reading the ARN of {dead_url}"), missing: "queue ARN" }
        })?;
        let policy =
            format!(r#"{{"deadLetterTargetArn":"{dead_arn}","maxReceiveCount":"{}"}}"#, max_receive_count.max(1));
        let main = client
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::RedrivePolicy, policy)
            .send()
            .await
            .map_err(|e| sqs_error(&format!("creating queue {name}"), e))?;
        let url = main
            .queue_url()
            .ok_or_else(|| QueueError::IncompleteAnswer {
                what: format!("creating queue {name}"),
                missing: "queue URL",
            })?
            .to_string();
        Ok((url, dead_url))
    }
}

async fn client(aws: &AwsSettings) -> Client {
    Client::new(&aao_export_aws::sdk_config(aws).await)
}

fn sqs_error(what: &str, e: impl Into<aws_sdk_sqs::Error>) -> QueueError {
    QueueError::Sqs { what: what.to_string(), source: Box::new(e.into()) }
}

/// Whole seconds, rounded up, capped at `cap`.
fn seconds(d: Duration, cap: Duration) -> i32 {
    i32::try_from(d.min(cap).as_millis().div_ceil(1000)).unwrap_or(i32::MAX)
}

#[async_trait]
impl Queue for SqsQueue {
    fn backend(&self) -> &'static str {
        "sqs"
    }

    fn outbox(&self, _body: &str) -> Option<String> {
        None
    }

    async fn after_commit(&self, body: &str) -> Result<()> {
        self.send(body, Duration::ZERO).await
    }

    fn longest_wait(&self) -> Duration {
        MAX_WAIT
    }

    async fn send(&self, body: &str, delay: Duration) -> Result<()> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(seconds(delay, MAX_DELAY))
            .send()
            .await
            .map_err(|e| sqs_error(&format!("sending to {}", self.url), e))?;
        Ok(())
    }

    async fn receive(&self, max: u32, visibility: Duration, wait: Duration) -> Result<Vec<Received>> {
        let answer = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(seconds(visibility, MAX_VISIBILITY))
            .wait_time_seconds(seconds(wait, MAX_WAIT))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| sqs_error(&format!("receiving from {}", self.url), e))?;
        answer
            .messages()
            .iter()
            .map(|m| {
                let receipt = m.receipt_handle().ok_or_else(|| QueueError::IncompleteAnswer {
                    what: format!("receiving from {}", self.url),
                    missing: "receipt handle",
                })?;
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Ok(Received {
                    body: m.body().unwrap_or_default().to_string(),
                    receipt: Receipt(receipt.to_string()),
                    receive_count,
                })
            })
            .collect()
    }

    async fn delete(&self, receipt: &Receipt) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(&receipt.0)
            .send()
            .await
            .map_err(|e| sqs_error(&format!("deleting a message from {}", self.url), e))?;
        Ok(())
    }

    async fn change_visibility(&self, receipt: &Receipt, visibility: Duration) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(&receipt.0)
            .visibility_timeout(seconds(visibility, MAX_VISIBILITY))
            .send()
            .await
            .map_err(|e| sqs_error(&format!("changing a message's visibility on {}", self.url), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_up_to_whole_capped_seconds() {
        assert_eq!(seconds(Duration::ZERO, MAX_WAIT), 0);
        assert_eq!(seconds(Duration::from_millis(1), MAX_WAIT), 1);
        assert_eq!(seconds(Duration::from_millis(1000), MAX_WAIT), 1);
        assert_eq!(seconds(Duration::from_millis(1001), MAX_WAIT), 2);
        assert_eq!(seconds(Duration::from_secs(60), MAX_WAIT), 20);
        assert_eq!(seconds(Duration::from_secs(3600), MAX_DELAY), 900);
        assert_eq!(seconds(Duration::MAX, MAX_VISIBILITY), 43_200);
    }
}
