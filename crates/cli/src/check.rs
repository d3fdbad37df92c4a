//! `setup-bucket` and `check`: for an exports bucket made outside `deploy/aws/template.yaml`,
//! apply the template's bucket rules through the AWS SDK; and a check of everything configured
//! (database, stores, queue, bucket rules), each reported as OK or what is wrong. Neither prints a
//! secret: the database is named by its backend, never by its URL.

use crate::config::Config;
use aao_export_db::Database;
use aao_export_stores::bucket_rules::{BucketRules, ExportsBucketRules};
use aao_export_stores::{StoreLocation, open_store};
use anyhow::bail;
use futures::StreamExt;
use secrecy::ExposeSecret;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long one check may take before it is reported as not answering.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// The exports bucket and its rules; an error when exports go to a local folder.
fn exports_bucket(config: &Config) -> anyhow::Result<(String, ExportsBucketRules)> {
    match StoreLocation::parse(&config.exports_location())? {
        StoreLocation::S3 { bucket, prefix } => Ok((bucket, ExportsBucketRules::new(config.expiration_days, &prefix))),
        StoreLocation::Local(dir) => bail!(
            "exports go to the local folder {} (EXPORT_LOCAL_DIR): bucket rules are for S3; set EXPORT_S3_BUCKET to the bucket to set up",
            dir.display()
        ),
    }
}

/// `aao-export setup-bucket`: applies what is missing and prints each change, or that there was
/// nothing to change.
pub async fn setup_bucket(config: &Config) -> anyhow::Result<()> {
    let (bucket, wanted) = exports_bucket(config)?;
    let rules = BucketRules::connect(&bucket, &config.aws()).await;
    let changes = rules.apply(&wanted).await?;
    if changes.is_empty() {
        println!(
            "bucket {bucket}: nothing to change (lifecycle rules, public access block and encryption are in place)"
        );
    }
    for change in &changes {
        println!("bucket {bucket}: {}", change.applied());
    }
    Ok(())
}

/// The lines of a check, each OK or a problem.
#[derive(Default)]
struct Report {
    problems: usize,
}

impl Report {
    fn ok(&mut self, what: &str, detail: impl std::fmt::Display) {
        println!("OK       {what}: {detail}");
    }

    fn problem(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.problems += 1;
        println!("PROBLEM  {what}: {detail}");
    }

    fn info(&mut self, what: &str, detail: impl std::fmt::Display) {
        println!("NOTE     {what}: {detail}");
    }
}

/// Runs `check` within [`CHECK_TIMEOUT`], a timeout as an error message.
async fn within<T>(check: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(result) => result,
        Err(_) => bail!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
    }
}

/// Lists at most one object: the store answers and may be listed.
async fn probe_store(location: &str, config: &Config) -> anyhow::Result<&'static str> {
    let store = open_store(location, &config.aws())?;
    let first = store.list(None).next().await;
    Ok(match first {
        None => "reachable, empty",
        Some(Ok(_)) => "reachable",
        Some(Err(e)) => return Err(e.into()),
    })
}

/// `aao-export check`: every configured piece, OK or what is wrong; an error (exit code 1) when
/// anything is wrong. The database was opened (and migrated) by the caller.
pub async fn check(config: &Config, storage: Arc<dyn Database>) -> anyhow::Result<()> {
    let mut report = Report::default();

    match within(async { Ok(storage.catalogue_size().await?) }).await {
        Ok(ads) => match storage.attached_to() {
            Some(aao) => report.ok("database", format!("attached to {aao}; {ads} ads in the catalogue")),
            None => {
                report.ok("database", format!("{}, schema up to date, {ads} ads in the catalogue", storage.backend()))
            }
        },
        Err(e) => {
            report.problem("database", format!("{} answered the connection but not a query: {e:#}", storage.backend()))
        }
    }

    match within(probe_store(&config.observations, config)).await {
        Ok(state) => report.ok("observations store", format!("{} ({state})", config.observations)),
        Err(e) => report.problem("observations store", format!("{}: {e:#}", config.observations)),
    }

    let exports = config.exports_location();
    match within(probe_store(&exports, config)).await {
        Ok(state) => report.ok("exports store", format!("{exports} ({state})")),
        Err(e) => report.problem("exports store", format!("{exports}: {e:#}")),
    }
    if let Ok((bucket, wanted)) = exports_bucket(config) {
        let rules = BucketRules::connect(&bucket, &config.aws()).await;
        match within(async { Ok(rules.check(&wanted).await?) }).await {
            Ok(missing) if missing.is_empty() => report.ok(
                "exports bucket rules",
                format!(
                    "{bucket}: {} expire after {} days, incomplete uploads aborted after 1 day, public access blocked, encryption on",
                    wanted.outputs_prefix, wanted.expiration_days
                ),
            ),
            Ok(missing) => {
                for change in missing {
                    report.problem("exports bucket rules", format!("{bucket}: {}", change.problem()));
                }
                report.info("exports bucket rules", "`aao-export setup-bucket` applies them");
            }
            Err(e) => report.problem("exports bucket rules", format!("{bucket}: {e}")),
        }
    }

    match &config.sqs_queue_url {
        None => report.ok("queue", "the database queue (job_queue table)"),
        Some(url) => match within(probe_sqs(url, config)).await {
            Ok(Ok(detail)) => report.ok("queue", format!("{url}: {detail}")),
            Ok(Err(problem)) => report.problem("queue", format!("{url}: {problem}")),
            Err(e) => report.problem("queue", format!("{url}: {e:#}")),
        },
    }

    if let Some(url) = &config.long_sqs_queue_url {
        match within(probe_sqs(url, config)).await {
            Ok(Ok(detail)) => report.ok("long-job queue", format!("{url}: {detail}")),
            Ok(Err(problem)) => report.problem("long-job queue", format!("{url}: {problem}")),
            Err(e) => report.problem("long-job queue", format!("{url}: {e:#}")),
        }
    }

    match crate::service::notifier(config, storage.clone()) {
        Ok(None) => report.info("email", "EMAIL_SMTP_URL not set: no email notices"),
        // The URL may hold a password: only the server's answer is shown.
        Ok(Some(notifier)) => match within(async { Ok(notifier.reachable().await) }).await {
            Ok(Ok(())) => {
                report.ok("email", format!("the SMTP server answers; notices come from {}", config.email_from))
            }
            Ok(Err(problem)) => report.problem("email", format!("the SMTP server: {problem}")),
            Err(e) => report.problem("email", format!("the SMTP server: {e:#}")),
        },
        Err(e) => report.problem("email", format!("{e:#}")),
    }

    check_identity_provider(&mut report, config).await;

    if config.jwt_secret.expose_secret().is_empty() {
        report.info(
            "JWT secret",
            "not set: generated once under data/ (set JWT_SECRET when several API processes share a database)",
        );
    } else {
        report.ok("JWT secret", "set");
    }

    if report.problems > 0 {
        bail!("{} problem{} found", report.problems, if report.problems == 1 { "" } else { "s" });
    }
    println!("everything configured answers and is set up");
    Ok(())
}

/// The OpenID Connect provider, when one is configured: discovered, and accepting the client.
async fn check_identity_provider(report: &mut Report, config: &Config) {
    if config.oidc.is_some() {
        // No flow is started here: any key will do (the JWT secret is not needed, nor made).
        match crate::service::oidc(config, &config.public_url, uuid::Uuid::new_v4().as_bytes().to_vec()) {
            Ok(Some(oidc)) => match within(async { Ok(oidc.check().await) }).await {
                Ok(Ok(detail)) => report.ok("identity provider", detail),
                Ok(Err(problem)) => report.problem("identity provider", problem),
                Err(e) => report.problem("identity provider", format!("{e:#}")),
            },
            Ok(None) => {}
            Err(e) => report.problem("identity provider", format!("{e:#}")),
        }
    } else {
        report.info("identity provider", "OIDC_ISSUER_URL not set: password sign-in only");
    }
}

/// The queue's attributes: `Ok(Ok(detail))` when it answers and has a dead-letter queue,
/// `Ok(Err(problem))` when it answers without one.
async fn probe_sqs(url: &str, config: &Config) -> anyhow::Result<Result<String, String>> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let client = aws_sdk_sqs::Client::new(&aao_export_aws::sdk_config(&config.aws()).await);
    let answer = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    let attributes = answer.attributes().cloned().unwrap_or_default();
    let get = |name: QueueAttributeName| attributes.get(&name).cloned().unwrap_or_default();
    let waiting = get(QueueAttributeName::ApproximateNumberOfMessages);
    let Some(redrive) = attributes.get(&QueueAttributeName::RedrivePolicy) else {
        return Ok(Err("no dead-letter queue (redrive policy): a message that keeps failing is received forever; give it one with maxReceiveCount 5".into()));
    };
    let receives = serde_json::from_str::<serde_json::Value>(redrive)
        .ok()
        .and_then(|p| p.get("maxReceiveCount").map(|n| n.to_string().trim_matches('"').to_string()))
        .unwrap_or_else(|| "?".into());
    Ok(Ok(format!(
        "{waiting} messages waiting, visibility timeout {} s, dead-letter queue after {receives} receives",
        get(QueueAttributeName::VisibilityTimeout)
    )))
}
