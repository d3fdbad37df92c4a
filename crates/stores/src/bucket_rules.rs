//! The exports bucket's rules, for a bucket made outside `deploy/aws/template.yaml`: the same
//! lifecycle rules (by the same IDs), public access blocked, default encryption on. `check` says
//! what is missing or different; `apply` fixes exactly that and says what it changed, so a second
//! `apply` changes nothing. Lifecycle rules with other IDs are the owner's and are kept as they are.
//!
//! `object_store` has no bucket configuration API, hence the AWS SDK here, configured like the
//! SQS queue (region, an emulator's endpoint, credentials from the usual chain).

use crate::AwsSettings;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};

/// The lifecycle rule that expires finished exports (a backstop behind the sweeper).
pub const EXPIRE_OUTPUTS_RULE_ID: &str = "aao-export-expire-outputs";
/// The lifecycle rule that aborts multipart uploads a killed worker left behind.
pub const ABORT_UPLOADS_RULE_ID: &str = "aao-export-abort-incomplete-uploads";
/// Where exports are written (DESIGN.md §5: `outputs/{creator}_{id}_{time}.zip`).
pub const OUTPUTS_PREFIX: &str = "outputs/";
/// Days after which an incomplete multipart upload is aborted.
pub const ABORT_AFTER_DAYS: i32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BucketRulesError {
    #[error("bucket {bucket} does not exist")]
    NoSuchBucket { bucket: String },
    #[error("bucket {bucket}: {what}: {message}")]
    Aws { bucket: String, what: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, BucketRulesError>;

/// What the exports bucket should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportsBucketRules {
    /// Objects under [`Self::outputs_prefix`] expire after this many days
    /// (`EXPORT_EXPORT_EXPIRATION_DAYS`).
    pub expiration_days: u32,
    /// `outputs/`, under the store's own prefix when it has one (`s3://bucket/prefix`).
    pub outputs_prefix: String,
}

impl ExportsBucketRules {
    /// The rules for an exports store at `s3://bucket/{store_prefix}` (empty: the bucket's root).
    pub fn new(expiration_days: u32, store_prefix: &str) -> Self {
        let store_prefix = store_prefix.trim_matches('/');
        let outputs_prefix = if store_prefix.is_empty() {
            OUTPUTS_PREFIX.to_string()
        } else {
            format!("{store_prefix}/{OUTPUTS_PREFIX}")
        };
        Self { expiration_days, outputs_prefix }
    }
}

/// One difference between the bucket and the rules: what it is about, what the rules want, what
/// the bucket had (nothing: `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub subject: String,
    pub wanted: String,
    pub found: Option<String>,
}

impl Change {
    /// Said after applying it: `added lifecycle rule …: …` or `changed …: … (was: …)`.
    pub fn applied(&self) -> String {
        match &self.found {
            None => format!("added {}: {}", self.subject, self.wanted),
            Some(found) => format!("changed {}: {} (was: {})", self.subject, self.wanted, found),
        }
    }

    /// Said by a check: `missing …: …` or `… differs: wanted …; found …`.
    pub fn problem(&self) -> String {
        match &self.found {
            None => format!("missing {}: {}", self.subject, self.wanted),
            Some(found) => format!("{} differs: wanted {}; found {}", self.subject, self.wanted, found),
        }
    }
}

/// One bucket's rules, read and written through the SDK.
pub struct BucketRules {
    client: Client,
    bucket: String,
}

/// What `apply` would write, and why.
struct Plan {
    changes: Vec<Change>,
    lifecycle: Option<Vec<LifecycleRule>>,
    public_access: bool,
    encryption: bool,
}

impl BucketRules {
    /// No request is made until the first check.
    pub async fn connect(bucket: &str, aws: &AwsSettings) -> Self {
        let sdk = aao_export_aws::sdk_config(aws).await;
        let mut config = aws_sdk_s3::config::Builder::from(&sdk);
        // An emulator on loopback has no per-bucket host names.
        if aws.endpoint().is_some() {
            config = config.force_path_style(true);
        }
        Self { client: Client::from_conf(config.build()), bucket: bucket.to_string() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// What is missing or different; empty when the bucket has every rule.
    pub async fn check(&self, rules: &ExportsBucketRules) -> Result<Vec<Change>> {
        Ok(self.plan(rules).await?.changes)
    }

    /// Applies what is missing or different and returns it; empty when nothing needed changing.
    pub async fn apply(&self, rules: &ExportsBucketRules) -> Result<Vec<Change>> {
        let plan = self.plan(rules).await?;
        if let Some(lifecycle) = plan.lifecycle {
            let configuration = BucketLifecycleConfiguration::builder()
                .set_rules(Some(lifecycle))
                .build()
                .map_err(|e| BucketRulesError::Invalid(format!("building the lifecycle configuration: {e}")))?;
            self.client
                .put_bucket_lifecycle_configuration()
                .bucket(&self.bucket)
                .lifecycle_configuration(configuration)
                .send()
                .await
                .map_err(|e| self.error("writing the lifecycle configuration", e))?;
        }
        if plan.public_access {
            let block = PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build();
            self.client
                .put_public_access_block()
                .bucket(&self.bucket)
                .public_access_block_configuration(block)
                .send()
                .await
                .map_err(|e| self.error("blocking public access", e))?;
        }
        if plan.encryption {
            let by_default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .map_err(|e| BucketRulesError::Invalid(format!("building the encryption rule: {e}")))?;
            let configuration = ServerSideEncryptionConfiguration::builder()
                .rules(ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build())
                .build()
                .map_err(|e| BucketRulesError::Invalid(format!("building the encryption configuration: {e}")))?;
            self.client
                .put_bucket_encryption()
                .bucket(&self.bucket)
                .server_side_encryption_configuration(configuration)
                .send()
                .await
                .map_err(|e| self.error("turning on default encryption", e))?;
        }
        Ok(plan.changes)
    }

    async fn plan(&self, rules: &ExportsBucketRules) -> Result<Plan> {
        let days = i32::try_from(rules.expiration_days).ok().filter(|d| *d >= 1).ok_or_else(|| {
            BucketRulesError::Invalid(format!(
                "EXPORT_EXPORT_EXPIRATION_DAYS must be between 1 and {} for the bucket's expiry rule, found {}",
                i32::MAX,
                rules.expiration_days
            ))
        })?;
        let mut changes = Vec::new();

        let existing = self.lifecycle_rules().await?;
        // S3 refuses a configuration that mixes the legacy top-level Prefix with Filter rules:
        // ours follow the style of the rules kept.
        #[allow(deprecated)] // the legacy Prefix is what older configurations hold
        let legacy = existing.iter().any(|r| r.prefix().is_some() && r.filter().is_none());
        let wanted = [
            our_rule(EXPIRE_OUTPUTS_RULE_ID, days, &rules.outputs_prefix, legacy)?,
            our_rule(ABORT_UPLOADS_RULE_ID, days, &rules.outputs_prefix, legacy)?,
        ];
        let mut lifecycle = existing.clone();
        for rule in wanted {
            let id = rule.id().unwrap_or_default().to_string();
            let subject = format!("lifecycle rule {id}");
            match lifecycle.iter().position(|r| r.id() == Some(id.as_str())) {
                Some(i) if describe(&lifecycle[i]) == describe(&rule) => {}
                Some(i) => {
                    changes.push(Change { subject, wanted: describe(&rule), found: Some(describe(&lifecycle[i])) });
                    lifecycle[i] = rule;
                }
                None => {
                    changes.push(Change { subject, wanted: describe(&rule), found: None });
                    lifecycle.push(rule);
                }
            }
        }
        let lifecycle = (lifecycle != existing).then_some(lifecycle);

        let public_access = match self.public_access_block().await? {
            Some(block) => {
                let off: Vec<&str> = [
                    ("BlockPublicAcls", block.block_public_acls()),
                    ("IgnorePublicAcls", block.ignore_public_acls()),
                    ("BlockPublicPolicy", block.block_public_policy()),
                    ("RestrictPublicBuckets", block.restrict_public_buckets()),
                ]
                .into_iter()
                .filter(|(_, on)| *on != Some(true))
                .map(|(name, _)| name)
                .collect();
                (!off.is_empty()).then(|| format!("off: {}", off.join(", ")))
            }
            None => Some(String::new()),
        };
        if let Some(found) = &public_access {
            changes.push(Change {
                subject: "public access block".into(),
                wanted:
                    "all four settings on (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets)"
                        .into(),
                found: Some(found.clone()).filter(|f| !f.is_empty()),
            });
        }

        // Any default encryption will do (an owner's KMS key is kept); none gets SSE-S3.
        let encryption = self.default_encryption().await?.is_none();
        if encryption {
            changes.push(Change {
                subject: "default encryption".into(),
                wanted: "SSE-S3 (AES256) for every new object".into(),
                found: None,
            });
        }

        Ok(Plan { changes, lifecycle, public_access: public_access.is_some(), encryption })
    }

    async fn lifecycle_rules(&self) -> Result<Vec<LifecycleRule>> {
        match self.client.get_bucket_lifecycle_configuration().bucket(&self.bucket).send().await {
            Ok(out) => Ok(out.rules().to_vec()),
            Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => Ok(Vec::new()),
            Err(e) => Err(self.error("reading the lifecycle configuration", e)),
        }
    }

    async fn public_access_block(&self) -> Result<Option<PublicAccessBlockConfiguration>> {
        match self.client.get_public_access_block().bucket(&self.bucket).send().await {
            Ok(out) => Ok(out.public_access_block_configuration().cloned()),
            Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => Ok(None),
            Err(e) => Err(self.error("reading the public access block", e)),
        }
    }

    /// The default encryption's algorithm, if any.
    async fn default_encryption(&self) -> Result<Option<String>> {
        match self.client.get_bucket_encryption().bucket(&self.bucket).send().await {
            Ok(out) => Ok(out.server_side_encryption_configuration().and_then(|c| {
                c.rules()
                    .iter()
                    .find_map(|r| r.apply_server_side_encryption_by_default())
                    .map(|d| d.sse_algorithm().as_str().to_string())
            })),
            Err(e) if e.code() == Some("ServerSideEncryptionConfigurationNotFoundError") => Ok(None),
            Err(e) => Err(self.error("reading the default encryption", e)),
        }
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + 'static>(&self, what: &str, e: E) -> BucketRulesError {
        if e.code() == Some("NoSuchBucket") {
            return BucketRulesError::NoSuchBucket { bucket: self.bucket.clone() };
        }
        BucketRulesError::Aws {
            bucket: self.bucket.clone(),
            what: what.to_string(),
            message: DisplayErrorContext(&e).to_string(),
        }
    }
}

/// One of our rules, as it should be.
#[allow(deprecated)] // the legacy Prefix, written only beside rules that use it
fn our_rule(id: &str, expiration_days: i32, outputs_prefix: &str, legacy_prefix: bool) -> Result<LifecycleRule> {
    let builder = LifecycleRule::builder().id(id).status(ExpirationStatus::Enabled);
    let (builder, prefix) = match id {
        EXPIRE_OUTPUTS_RULE_ID => {
            (builder.expiration(LifecycleExpiration::builder().days(expiration_days).build()), outputs_prefix)
        }
        _ => (
            builder.abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder().days_after_initiation(ABORT_AFTER_DAYS).build(),
            ),
            "",
        ),
    };
    let builder = if legacy_prefix {
        builder.prefix(prefix)
    } else {
        builder.filter(LifecycleRuleFilter::builder().prefix(prefix).build())
    };
    builder.build().map_err(|e| BucketRulesError::Invalid(format!("building lifecycle rule {id}: {e}")))
}

/// A lifecycle rule in words; two rules that read the same do the same (the legacy Prefix and
/// Filter.Prefix read alike).
#[allow(deprecated)] // reads the legacy Prefix too
fn describe(rule: &LifecycleRule) -> String {
    let mut parts = vec![match rule.status() {
        ExpirationStatus::Enabled => "enabled".to_string(),
        other => format!("status {}", other.as_str()),
    }];
    let filter = rule.filter();
    let prefix = filter.and_then(|f| f.prefix()).or(rule.prefix()).unwrap_or_default();
    parts.push(if prefix.is_empty() { "whole bucket".into() } else { format!("objects under {prefix}") });
    if let Some(f) = filter {
        if f.tag().is_some() || f.and().is_some() {
            parts.push("with a tag or combined filter".into());
        }
        if let Some(n) = f.object_size_greater_than() {
            parts.push(format!("larger than {n} bytes"));
        }
        if let Some(n) = f.object_size_less_than() {
            parts.push(format!("smaller than {n} bytes"));
        }
    }
    if let Some(expiration) = rule.expiration() {
        if let Some(days) = expiration.days() {
            parts.push(format!("expire after {days} day{}", if days == 1 { "" } else { "s" }));
        }
        if let Some(date) = expiration.date() {
            parts.push(format!("expire on {date:?}"));
        }
        if expiration.expired_object_delete_marker() == Some(true) {
            parts.push("remove expired delete markers".into());
        }
    }
    if let Some(days) = rule.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()) {
        parts.push(format!("abort incomplete multipart uploads after {days} day{}", if days == 1 { "" } else { "s" }));
    }
    if !rule.transitions().is_empty() || !rule.noncurrent_version_transitions().is_empty() {
        parts.push("with storage class transitions".into());
    }
    if rule.noncurrent_version_expiration().is_some() {
        parts.push("with noncurrent version expiry".into());
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_the_same_whatever_the_prefix_style() {
        let filter = our_rule(EXPIRE_OUTPUTS_RULE_ID, 7, OUTPUTS_PREFIX, false).unwrap();
        let legacy = our_rule(EXPIRE_OUTPUTS_RULE_ID, 7, OUTPUTS_PREFIX, true).unwrap();
        assert_eq!(describe(&filter), "enabled, objects under outputs/, expire after 7 days");
        assert_eq!(describe(&filter), describe(&legacy));
        assert_ne!(describe(&filter), describe(&our_rule(EXPIRE_OUTPUTS_RULE_ID, 8, OUTPUTS_PREFIX, false).unwrap()));
        let abort = our_rule(ABORT_UPLOADS_RULE_ID, 7, OUTPUTS_PREFIX, false).unwrap();
        assert_eq!(describe(&abort), "enabled, whole bucket, abort incomplete multipart uploads after 1 day");
    }

    #[test]
    fn a_store_prefix_moves_the_outputs_rule() {
        assert_eq!(ExportsBucketRules::new(7, "").outputs_prefix, "outputs/");
        assert_eq!(ExportsBucketRules::new(7, "/aao/exports/").outputs_prefix, "aao/exports/outputs/");
    }

    #[test]
    fn changes_say_what_happened_and_what_is_wrong() {
        let added = Change { subject: "lifecycle rule x".into(), wanted: "w".into(), found: None };
        assert_eq!(added.applied(), "added lifecycle rule x: w");
        assert_eq!(added.problem(), "missing lifecycle rule x: w");
        let changed = Change { found: Some("f".into()), ..added };
        assert_eq!(changed.applied(), "changed lifecycle rule x: w (was: f)");
        assert_eq!(changed.problem(), "lifecycle rule x differs: wanted w; found f");
    }
}
