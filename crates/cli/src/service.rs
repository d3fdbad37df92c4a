//! Wiring of the service roles: `serve` (API + worker + upkeep in one process), `api`, `worker`,
//! `sweep`, and the `users` commands. Each role is the library crates' parts, built from the
//! configuration and run until Ctrl-C or SIGTERM.

use crate::config::Config;
use aao_export_db::Database;
use aao_export_queue::Queue;
use aao_export_server::oidc::{ClientSecret, Oidc, OidcSettings};
use aao_export_server::{AppState, PublicOrigin};
use aao_export_service::{RateLimit, Service, ServiceError, Settings, SignInLimits, Tokens};
use aao_export_stores::{ExportsStore, LocalLinks, open_store};
use aao_export_worker::notify::{NoticeSettings, Notifier};
use aao_export_worker::runner::{Runner, RunnerSettings};
use aao_export_worker::upkeep::{Upkeep, rescue_once, sweep_once};
use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often a process runs the sweeper and the rescuer.
const UPKEEP_EVERY: Duration = Duration::from_secs(30);

/// Which parts one process runs.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    pub api: bool,
    pub worker: bool,
}

pub fn expiration(config: &Config) -> Duration {
    Duration::from_secs(u64::from(config.expiration_days) * 86_400)
}

pub async fn open_queue(config: &Config, db: Arc<dyn Database>) -> Arc<dyn Queue> {
    aao_export_queue::open(config.sqs_queue_url.as_deref(), db, &config.aws()).await
}

pub fn open_exports(config: &Config) -> anyhow::Result<ExportsStore> {
    Ok(ExportsStore::open(&config.exports_location(), &config.aws())?)
}

/// The JWT secret: configured, or generated once and kept beside the embedded database's data.
pub fn jwt_secret(config: &Config) -> anyhow::Result<SecretString> {
    if !config.jwt_secret.expose_secret().is_empty() {
        return Ok(config.jwt_secret.clone());
    }
    let path = std::path::Path::new("data/jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(path)
        && !existing.trim().is_empty()
    {
        return Ok(existing.trim().to_string().into());
    }
    std::fs::create_dir_all("data").context("creating ./data for the generated JWT secret")?;
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    write_private(path, &secret).with_context(|| format!("writing the generated JWT secret to {}", path.display()))?;
    tracing::warn!(path = %path.display(), "JWT_SECRET is not set: generated one; set JWT_SECRET when several API processes share a database");
    Ok(secret.into())
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

/// Runs the configured roles until Ctrl-C or SIGTERM.
pub async fn run(
    config: &Config,
    storage: Arc<dyn Database>,
    roles: Roles,
    on_listening: impl FnOnce(&str),
) -> anyhow::Result<()> {
    let mut config = config.clone();
    let config = &mut config;
    let queue = open_queue(config, storage.clone()).await;
    let exports = open_exports(config)?;
    // The worker reads RDOs and images from it, the API the images of previewed ads.
    let observations = open_store(&config.observations, &config.aws())?;
    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();

    if roles.api {
        let listener = tokio::net::TcpListener::bind(&config.server_bind)
            .await
            .with_context(|| format!("binding {}", config.server_bind))?;
        let bound = listener.local_addr()?;
        let public_url =
            if config.public_url_is_default() { format!("http://{bound}") } else { config.public_url.clone() };
        // The session cookie's Secure flag and the Origin check come from it.
        if PublicOrigin::parse(&public_url).is_none() {
            bail!("SERVER_PUBLIC_URL {public_url:?} is not an http:// or https:// URL");
        }
        let service =
            service(config, storage.clone(), observations.clone(), queue.clone(), exports.clone(), &public_url)?;
        let state = app_state(config, service, &public_url)?;
        on_listening(&public_url);
        tracing::info!(%bound, %public_url, "API listening");
        let stop = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = aao_export_server::serve(listener, state, stop.cancelled_owned()).await {
                tracing::error!(error = %e, "the API stopped");
            }
        });
        // The links in email notices point at the address the API really answers on.
        config.public_url = public_url;
    }

    if roles.worker {
        let config = &*config;
        let runner =
            Arc::new(runner(config, storage.clone(), queue.clone(), observations.clone(), exports.clone()).await?);
        tasks.spawn(runner.run(shutdown.clone()));
        tasks.spawn(
            upkeep(config, storage.clone(), queue.clone(), exports.clone())?.run(UPKEEP_EVERY, shutdown.clone()),
        );
    }

    let stop = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        stop.cancel();
    });
    while let Some(done) = tasks.join_next().await {
        done.context("a service task failed")?;
    }
    Ok(())
}

/// The job runner as configured: its pace, and the long-job queue when there is one.
pub async fn runner(
    config: &Config,
    storage: Arc<dyn Database>,
    queue: Arc<dyn Queue>,
    observations: Arc<dyn object_store::ObjectStore>,
    exports: ExportsStore,
) -> anyhow::Result<Runner> {
    let mut settings = RunnerSettings::new(config.worker_concurrency as usize);
    settings.lease = Duration::from_secs(config.lease_secs.max(1));
    settings.heartbeat = (settings.lease / 4).max(Duration::from_millis(250));
    settings.backoff_base = Duration::from_secs_f64(config.retry_backoff_secs);
    settings.poll_wait = queue.longest_wait();
    settings.expiration = Some(expiration(config));
    settings.max_image_bytes = config.max_image_bytes;
    let long_jobs = match &config.long_sqs_queue_url {
        Some(url) => Some(aao_export_queue::open(Some(url), storage.clone(), &config.aws()).await),
        None => None,
    };
    Ok(Runner {
        notices: notifier(config, storage.clone())?,
        catalogue: storage.clone(),
        exports: storage,
        queue,
        observations,
        files: exports,
        long_jobs,
        settings,
    })
}

/// The sweeper, the rescuer and the email notices, as configured.
pub fn upkeep(
    config: &Config,
    storage: Arc<dyn Database>,
    queue: Arc<dyn Queue>,
    files: ExportsStore,
) -> anyhow::Result<Upkeep> {
    Ok(Upkeep {
        notices: notifier(config, storage.clone())?,
        limits: storage.clone(),
        users: storage.clone(),
        forget_failed_sign_ins_after: sign_in_limits(config).forget_after(),
        exports: storage,
        queue,
        files,
        expiration: expiration(config),
        pending_after: pending_after(config),
    })
}

/// When failed sign-ins lock a username out, as configured.
fn sign_in_limits(config: &Config) -> SignInLimits {
    SignInLimits {
        max_failures: config.max_failed_sign_ins,
        lockout: Duration::from_secs(config.lockout_secs),
        per_address: RateLimit { hits: config.address_limit, per: Duration::from_secs(config.address_limit_secs) },
        ..SignInLimits::default()
    }
}

/// The email notifier when `EMAIL_SMTP_URL` is set.
pub fn notifier(config: &Config, storage: Arc<dyn Database>) -> anyhow::Result<Option<Arc<Notifier>>> {
    let Some(url) = &config.email_smtp_url else { return Ok(None) };
    let settings = NoticeSettings::new(&config.public_url, &config.email_from, config.expiration_days);
    Ok(Some(Arc::new(Notifier::new(storage, url.expose_secret(), settings)?)))
}

/// Exports pending this long (or under a lease that ran out) get their message again.
pub fn pending_after(config: &Config) -> Duration {
    Duration::from_secs(config.lease_secs.max(1) * 5)
}

/// Every use case, as configured, for an API answering at `public_url`.
pub fn service(
    config: &Config,
    storage: Arc<dyn Database>,
    observations: Arc<dyn object_store::ObjectStore>,
    queue: Arc<dyn Queue>,
    exports: ExportsStore,
    public_url: &str,
) -> anyhow::Result<Service> {
    Ok(Service::new(
        storage,
        observations,
        queue,
        exports,
        download_links(config, public_url)?,
        tokens(config)?,
        Settings {
            max_retries: config.max_retries,
            expiration_days: config.expiration_days,
            max_in_flight: config.max_in_flight,
            sign_in: sign_in_limits(config),
            preview_budget: Duration::from_millis(config.preview_budget_ms),
            preview_limit: RateLimit {
                hits: config.preview_limit,
                per: Duration::from_secs(config.preview_limit_secs),
            },
            max_image_bytes: config.max_image_bytes,
        },
    ))
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// One sweep: expire old exports, delete their files.
pub async fn sweep(config: &Config, storage: Arc<dyn Database>) -> anyhow::Result<()> {
    let exports = open_exports(config)?;
    let report = sweep_once(storage.as_ref(), &exports, expiration(config)).await?;
    println!(
        "sweep: {} exports expired, {} files deleted{}",
        report.expired,
        report.files_deleted,
        if report.files_failed > 0 {
            format!(", {} could not be deleted (next sweep retries)", report.files_failed)
        } else {
            String::new()
        }
    );
    Ok(())
}

/// One rescue pass: sends the message again for exports left without a live one.
pub async fn rescue(config: &Config, storage: Arc<dyn Database>) -> anyhow::Result<()> {
    let queue = open_queue(config, storage.clone()).await;
    let sent = rescue_once(storage.as_ref(), queue.as_ref(), pending_after(config)).await?;
    println!("rescue: {sent} exports got their message again");
    Ok(())
}

/// The API's state for a service answering at `public_url`: who may call it from where, and the
/// identity provider to sign in through, if any.
pub fn app_state(config: &Config, service: Service, public_url: &str) -> anyhow::Result<AppState> {
    let state = AppState::new(service)
        .with_public_url(public_url)
        .with_trusted_proxies(config.trusted_proxies.clone())
        .with_cors_origins(&config.cors_origins)
        .map_err(|e| anyhow::anyhow!("SERVER_CORS_ORIGINS: {e}"))?;
    if config.oidc.is_none() {
        return Ok(state);
    }
    // Keyed from the JWT secret, so every API process signs the flow cookie alike.
    let flow_key = Sha256::digest(format!("aao-export oidc flow\0{}", jwt_secret(config)?.expose_secret())).to_vec();
    Ok(match oidc(config, public_url, flow_key)? {
        Some(oidc) => state.with_oidc(oidc),
        None => state,
    })
}

/// The relying party for the configured OpenID Connect provider (nothing is fetched yet), its
/// flow cookie signed with `flow_key`.
pub fn oidc(config: &Config, public_url: &str, flow_key: Vec<u8>) -> anyhow::Result<Option<Oidc>> {
    let Some(oidc) = &config.oidc else { return Ok(None) };
    let settings = OidcSettings {
        issuer_url: oidc.issuer_url.clone(),
        client_id: oidc.client_id.clone(),
        client_secret: oidc.client_secret.as_ref().map(|s| ClientSecret::new(s.expose_secret().to_string())),
        provider: oidc.provider.clone(),
        display_name: oidc.display_name.clone(),
        scopes: oidc.scopes.clone(),
        public_url: public_url.to_string(),
        flow_key,
    };
    Ok(Some(Oidc::new(settings).map_err(|e| anyhow::anyhow!(e))?))
}

/// Signs bearer tokens with the configured (or generated) secret.
pub fn tokens(config: &Config) -> anyhow::Result<Tokens> {
    Ok(Tokens::new(jwt_secret(config)?, config.jwt_expiration_secs)
        .with_aao_key_salt(config.api_key_salt.clone())
        .with_issuer_and_audience(config.jwt_issuer.clone(), config.jwt_audience.clone()))
}

/// Local download links under the API's public URL, keyed from the JWT secret (so every API
/// process sharing the secret signs alike).
pub fn download_links(config: &Config, public_url: &str) -> anyhow::Result<LocalLinks> {
    let secret = jwt_secret(config)?;
    Ok(LocalLinks::new(
        public_url,
        Sha256::digest(format!("aao-export downloads\0{}", secret.expose_secret())).to_vec(),
    ))
}

/// A refusal reads as its sentence alone on the command line (no AAO code).
pub fn refusal(e: ServiceError) -> anyhow::Error {
    match e {
        ServiceError::Refused(r) => anyhow::anyhow!(r.message),
        other => other.into(),
    }
}
