//! The exports bucket's rules against the S3 emulator (moto): applied, applied again without
//! change, read back with the SDK, and an owner's own lifecycle rule kept.

use aao_export_stores::AwsSettings;
use aao_export_stores::bucket_rules::{
    ABORT_UPLOADS_RULE_ID, BucketRules, BucketRulesError, EXPIRE_OUTPUTS_RULE_ID, ExportsBucketRules,
};
use aao_export_testkit::{create_bucket, external, s3_region};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
};

fn aws(endpoint: &str) -> AwsSettings {
    AwsSettings { region: s3_region(), endpoint_url: Some(endpoint.to_string()) }
}

/// A plain SDK client, independent of the code under test, to read the bucket back.
async fn sdk(endpoint: &str) -> aws_sdk_s3::Client {
    let config =
        aws_sdk_s3::config::Builder::from(&aao_export_stores::sdk_config(&aws(endpoint)).await).force_path_style(true);
    aws_sdk_s3::Client::from_conf(config.build())
}

async fn lifecycle(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<LifecycleRule> {
    client.get_bucket_lifecycle_configuration().bucket(bucket).send().await.unwrap().rules().to_vec()
}

fn rule<'a>(rules: &'a [LifecycleRule], id: &str) -> &'a LifecycleRule {
    rules.iter().find(|r| r.id() == Some(id)).unwrap_or_else(|| panic!("no lifecycle rule {id} in {rules:#?}"))
}

/// The rule's prefix, from Filter or the legacy top-level Prefix.
#[allow(deprecated)]
fn prefix(rule: &LifecycleRule) -> &str {
    rule.filter().and_then(|f| f.prefix()).or(rule.prefix()).unwrap_or_default()
}

#[tokio::test]
async fn rules_are_applied_once_read_back_and_checked() {
    let Some(endpoint) = external("TEST_S3_ENDPOINT", "the bucket rules on the S3 emulator") else { return };
    let bucket = create_bucket(&endpoint, "rules");
    let rules = BucketRules::connect(&bucket, &aws(&endpoint)).await;
    let wanted = ExportsBucketRules::new(7, "");

    let missing = rules.check(&wanted).await.unwrap();
    let problems: Vec<String> = missing.iter().map(|c| c.problem()).collect();
    assert!(
        problems.contains(&format!(
            "missing lifecycle rule {EXPIRE_OUTPUTS_RULE_ID}: enabled, objects under outputs/, expire after 7 days"
        )),
        "{problems:#?}"
    );
    assert!(problems.iter().any(|p| p.starts_with(&format!("missing lifecycle rule {ABORT_UPLOADS_RULE_ID}"))));
    assert!(problems.iter().any(|p| p.starts_with("missing public access block")), "{problems:#?}");

    let applied: Vec<String> = rules.apply(&wanted).await.unwrap().iter().map(|c| c.applied()).collect();
    assert!(
        applied.contains(&format!(
            "added lifecycle rule {EXPIRE_OUTPUTS_RULE_ID}: enabled, objects under outputs/, expire after 7 days"
        )),
        "{applied:#?}"
    );
    assert!(applied.contains(&format!(
        "added lifecycle rule {ABORT_UPLOADS_RULE_ID}: enabled, whole bucket, abort incomplete multipart uploads after 1 day"
    )));
    assert!(applied.iter().any(|a| a.starts_with("added public access block")), "{applied:#?}");
    // The check saw exactly what was then changed.
    assert_eq!(missing.len(), applied.len());

    // Read back with a client of its own.
    let client = sdk(&endpoint).await;
    let read = lifecycle(&client, &bucket).await;
    let expire = rule(&read, EXPIRE_OUTPUTS_RULE_ID);
    assert_eq!(expire.status(), &ExpirationStatus::Enabled);
    assert_eq!(prefix(expire), "outputs/");
    assert_eq!(expire.expiration().and_then(|e| e.days()), Some(7));
    let abort = rule(&read, ABORT_UPLOADS_RULE_ID);
    assert_eq!(abort.status(), &ExpirationStatus::Enabled);
    assert_eq!(prefix(abort), "");
    assert_eq!(abort.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()), Some(1));
    let block = client.get_public_access_block().bucket(&bucket).send().await.unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        [
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ],
        [Some(true); 4]
    );
    let encryption = client.get_bucket_encryption().bucket(&bucket).send().await.unwrap();
    let algorithms: Vec<&str> = encryption
        .server_side_encryption_configuration()
        .unwrap()
        .rules()
        .iter()
        .filter_map(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str())
        .collect();
    assert!(!algorithms.is_empty(), "default encryption is on");

    // Again: nothing to change, nothing missing.
    assert_eq!(rules.apply(&wanted).await.unwrap(), vec![]);
    assert_eq!(rules.check(&wanted).await.unwrap(), vec![]);

    // Another expiry: only that rule changes, and says what it was.
    let longer = ExportsBucketRules::new(30, "");
    let applied: Vec<String> = rules.apply(&longer).await.unwrap().iter().map(|c| c.applied()).collect();
    assert_eq!(
        applied,
        vec![format!(
            "changed lifecycle rule {EXPIRE_OUTPUTS_RULE_ID}: enabled, objects under outputs/, expire after 30 days (was: enabled, objects under outputs/, expire after 7 days)"
        )]
    );
    let read = lifecycle(&client, &bucket).await;
    assert_eq!(rule(&read, EXPIRE_OUTPUTS_RULE_ID).expiration().and_then(|e| e.days()), Some(30));
    assert_eq!(read.len(), 2, "{read:#?}");
}

#[tokio::test]
async fn an_owners_lifecycle_rule_is_kept() {
    let Some(endpoint) = external("TEST_S3_ENDPOINT", "the bucket rules on the S3 emulator") else { return };
    let bucket = create_bucket(&endpoint, "rules");
    let client = sdk(&endpoint).await;
    let theirs = LifecycleRule::builder()
        .id("owners-logs-expiry")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
        .expiration(LifecycleExpiration::builder().days(90).build())
        .build()
        .unwrap();
    client
        .put_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(theirs).build().unwrap())
        .send()
        .await
        .unwrap();

    let rules = BucketRules::connect(&bucket, &aws(&endpoint)).await;
    let wanted = ExportsBucketRules::new(3, "");
    let applied = rules.apply(&wanted).await.unwrap();
    assert!(applied.iter().all(|c| !c.subject.contains("owners-logs-expiry")), "{applied:#?}");

    let read = lifecycle(&client, &bucket).await;
    assert_eq!(read.len(), 3, "{read:#?}");
    let kept = rule(&read, "owners-logs-expiry");
    assert_eq!(prefix(kept), "logs/");
    assert_eq!(kept.expiration().and_then(|e| e.days()), Some(90));
    assert_eq!(rule(&read, EXPIRE_OUTPUTS_RULE_ID).expiration().and_then(|e| e.days()), Some(3));
    assert_eq!(rules.apply(&wanted).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_missing_bucket_and_a_bad_expiry_are_named() {
    let Some(endpoint) = external("TEST_S3_ENDPOINT", "the bucket rules on the S3 emulator") else { return };
    let rules = BucketRules::connect("aao-no-such-bucket-for-rules", &aws(&endpoint)).await;
    let e = rules.check(&ExportsBucketRules::new(7, "")).await.unwrap_err();
    assert!(matches!(e, BucketRulesError::NoSuchBucket { .. }), "{e:?}");
    assert_eq!(e.to_string(), "bucket aao-no-such-bucket-for-rules does not exist");

    let bucket = create_bucket(&endpoint, "rules");
    let rules = BucketRules::connect(&bucket, &aws(&endpoint)).await;
    let e = rules.apply(&ExportsBucketRules::new(0, "")).await.unwrap_err();
    assert!(e.to_string().contains("EXPORT_EXPORT_EXPIRATION_DAYS must be between 1"), "{e}");
    assert!(lifecycle_or_none(&sdk(&endpoint).await, &bucket).await.is_none(), "nothing was written");
}

async fn lifecycle_or_none(client: &aws_sdk_s3::Client, bucket: &str) -> Option<Vec<LifecycleRule>> {
    client.get_bucket_lifecycle_configuration().bucket(bucket).send().await.ok().map(|o| o.rules().to_vec())
}
