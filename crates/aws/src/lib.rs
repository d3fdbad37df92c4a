//! Where AWS lives, for every client of it (S3 stores, SQS queues): one settings type, and the
//! SDK's configuration built from it.

/// The region and, for an emulator on loopback, the endpoint. Credentials come from the usual AWS
/// variables and are never held here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub region: String,
    /// An S3/SQS-compatible endpoint such as an emulator; plain `http://` is then allowed.
    pub endpoint_url: Option<String>,
}

impl AwsSettings {
    /// The endpoint, when one is set and not blank.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint_url.as_deref().map(str::trim).filter(|e| !e.is_empty())
    }

    /// The region, when set.
    pub fn region(&self) -> Option<&str> {
        Some(self.region.trim()).filter(|r| !r.is_empty())
    }
}

/// The AWS SDK's configuration for these settings: the region when set, the endpoint of an
/// emulator when set, credentials from the standard chain.
pub async fn sdk_config(aws: &AwsSettings) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = aws.region() {
        loader = loader.region(aws_config::Region::new(region.to_string()));
    }
    if let Some(endpoint) = aws.endpoint() {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}
