//! Configuration (DESIGN.md §5): embedded defaults under `./data/`, then the INI file
//! (`--config FILE`, or `./aao-export.ini` when present), then `SECTION_KEY` environment
//! variables, which win. Secrets are `secrecy` types, so they never print.

use crate::secrets::NamedSecret;
use aao_export_aws::AwsSettings;
use aao_export_server::oidc;
use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::path::Path;

/// The whole configuration contract of DESIGN.md §5. The engine commands read the database,
/// bucket and AWS keys; the server, queue, retry and JWT keys are read by the service commands.
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct Config {
    pub server_bind: String,
    pub public_url: String,
    /// Other sites' origins allowed to call the API from their pages (CORS).
    pub cors_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// May hold a password.
    pub database_url: SecretString,
    /// Where our objects go when the database is the Ad Observatory's.
    pub database_schema: String,
    /// The AAO's `API_KEY_SALT` (unset: the AAO's API keys are refused).
    pub api_key_salt: Option<SecretString>,
    pub observations: String,
    pub export_s3_bucket: Option<String>,
    pub export_local_dir: String,
    pub sqs_queue_url: Option<String>,
    /// Jobs too long for a Lambda worker go here, for `aao-export worker` on EC2 or ECS.
    pub long_sqs_queue_url: Option<String>,
    pub max_retries: u32,
    pub expiration_days: u32,
    pub worker_concurrency: u32,
    /// Exports one user may have pending or processing at once (429 beyond).
    pub max_in_flight: u32,
    /// How long a worker's lease on an export lasts without a heartbeat.
    pub lease_secs: u64,
    /// How long a preview may count before it estimates (milliseconds).
    pub preview_budget_ms: u64,
    /// Previews one user may ask for in each window of `preview_limit_secs`.
    pub preview_limit: u32,
    pub preview_limit_secs: u64,
    /// Images larger than this are left out of exports and not served.
    pub max_image_bytes: u64,
    /// The first retry's delay; each further retry doubles it (with jitter).
    pub retry_backoff_secs: f64,
    pub jwt_secret: SecretString,
    pub jwt_expiration_secs: u64,
    /// `iss` and `aud` of tokens, checked when set.
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// Failed sign-ins in a row that lock a username for `lockout_secs`.
    pub max_failed_sign_ins: u32,
    pub lockout_secs: u64,
    /// Sign-in attempts one address may make per `address_limit_secs`.
    pub address_limit: u32,
    pub address_limit_secs: u64,
    pub aws_region: String,
    pub aws_endpoint_url: Option<String>,
    /// `smtp://`, `smtps://` or `smtp://…?tls=required`, with credentials in the URL; unset: no
    /// email.
    pub email_smtp_url: Option<SecretString>,
    pub email_from: String,
    /// The OpenID Connect provider to sign in through; `None`: none.
    pub oidc: Option<OidcConfig>,
}

/// The `OIDC_*` settings, when `OIDC_ISSUER_URL` is set.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub provider: String,
    pub display_name: String,
    pub scopes: Vec<String>,
}

/// Every key, as (section, key, default).
const KEYS: &[(&str, &str, &str)] = &[
    ("SERVER", "BIND", "127.0.0.1:8080"),
    ("SERVER", "PUBLIC_URL", "http://127.0.0.1:8080"),
    // Origins whose pages may call the API with a token or key (e.g. the AAO's dashboard),
    // separated by commas or spaces; empty: none.
    ("SERVER", "CORS_ORIGINS", ""),
    // Addresses of proxies in front of `serve`/`api` whose X-Forwarded-For is believed (sign-ins
    // are counted per client address); empty: none, the connection's address is the client's.
    ("SERVER", "TRUSTED_PROXIES", ""),
    ("DATABASE", "URL", "sqlite://data/aao-export.db"),
    // Attached to the Ad Observatory's database: the PostgreSQL schema our objects go in.
    ("DATABASE", "SCHEMA", "aao_export"),
    ("BUCKETS", "OBSERVATIONS", "data/observations"),
    ("EXPORT", "S3_BUCKET", ""),
    ("EXPORT", "LOCAL_DIR", "data/exports"),
    ("EXPORT", "SQS_QUEUE_URL", ""),
    ("EXPORT", "LONG_SQS_QUEUE_URL", ""),
    ("EXPORT", "MAX_RETRIES", "3"),
    ("EXPORT", "EXPORT_EXPIRATION_DAYS", "7"),
    ("EXPORT", "WORKER_CONCURRENCY", "2"),
    ("EXPORT", "MAX_IN_FLIGHT", "5"),
    ("EXPORT", "LEASE_SECONDS", "60"),
    ("EXPORT", "PREVIEW_BUDGET_MS", "160"),
    // At most PREVIEW_LIMIT previews per user in each window of PREVIEW_LIMIT_SECONDS (429 beyond).
    ("EXPORT", "PREVIEW_LIMIT", "30"),
    ("EXPORT", "PREVIEW_LIMIT_SECONDS", "10"),
    ("EXPORT", "RETRY_BACKOFF_SECONDS", "10"),
    // An image larger than this is left out of exports and not served (50 MiB).
    ("EXPORT", "MAX_IMAGE_BYTES", "52428800"),
    ("JWT", "SECRET", ""),
    // The AAO's `API_KEY_SALT`: with it, the AAO's own API keys work here (attached to its database).
    ("API", "KEY_SALT", ""),
    ("JWT", "EXPIRATION", "86400"),
    // When set, tokens this service mints carry these `iss` / `aud` claims and tokens without them
    // are refused; unset (the default) accepts the AAO's tokens, which carry neither.
    ("JWT", "ISSUER", ""),
    ("JWT", "AUDIENCE", ""),
    ("AUTH", "MAX_FAILED_SIGN_INS", "5"),
    ("AUTH", "LOCKOUT_SECONDS", "30"),
    // Sign-in attempts one client address may make in each window, whatever the usernames.
    ("AUTH", "ADDRESS_LIMIT", "100"),
    ("AUTH", "ADDRESS_LIMIT_SECONDS", "600"),
    ("AWS", "REGION", "ap-southeast-2"),
    ("AWS", "ENDPOINT_URL", ""),
    ("EMAIL", "SMTP_URL", ""),
    ("EMAIL", "FROM", "Australian Ad Observatory exports <exports@localhost>"),
    // Signing in through an OpenID Connect provider (CILogon, as the AAO's dashboard does); unset
    // ISSUER_URL: no such sign-in. ISSUER_URL may also be the discovery document's URL (the
    // AAO's metadata URL). The redirect URI to register is {SERVER_PUBLIC_URL}/auth/oidc/callback.
    ("OIDC", "ISSUER_URL", ""),
    ("OIDC", "CLIENT_ID", ""),
    ("OIDC", "CLIENT_SECRET", ""),
    // The `user_identities.provider` its identities are stored under, and what the pages call it.
    ("OIDC", "PROVIDER", oidc::DEFAULT_PROVIDER),
    ("OIDC", "DISPLAY_NAME", oidc::DEFAULT_DISPLAY_NAME),
    ("OIDC", "SCOPES", oidc::DEFAULT_SCOPES),
];

/// The keys that hold secrets: each may instead name a Secrets Manager secret in the environment
/// (`{SECTION}_{KEY}_SECRET_ID`, see `secrets`), read when the process starts.
const SECRET_KEYS: &[(&str, &str)] =
    &[("DATABASE", "URL"), ("JWT", "SECRET"), ("API", "KEY_SALT"), ("EMAIL", "SMTP_URL"), ("OIDC", "CLIENT_SECRET")];

/// The AAO's own names, accepted as well: (alias, section, key).
const ALIASES: &[(&str, &str, &str)] =
    &[("SQS_QUEUE_URL", "EXPORT", "SQS_QUEUE_URL"), ("EXPORTS_BUCKET_NAME", "EXPORT", "S3_BUCKET")];

/// Every key's value after the layers: defaults, then the file, then the environment (the AAO's
/// names, then ours), then the secrets the environment names.
struct Layers {
    values: HashMap<(String, String), String>,
    /// Secret keys whose value is to be read from Secrets Manager.
    named: Vec<(&'static str, &'static str, NamedSecret)>,
}

impl Layers {
    fn read(file: Option<&Path>, env: &HashMap<String, String>) -> anyhow::Result<Layers> {
        let mut values: HashMap<(String, String), String> =
            KEYS.iter().map(|(s, k, d)| ((s.to_string(), k.to_string()), d.to_string())).collect();
        let mut from_file = Vec::new();
        if let Some(file) = file {
            let ini = ini::Ini::load_from_file(file)
                .with_context(|| format!("reading the configuration file {}", file.display()))?;
            for (section, properties) in ini.iter() {
                let section = section.unwrap_or_default().to_ascii_uppercase();
                for (key, value) in properties.iter() {
                    let id = (section.clone(), key.to_ascii_uppercase());
                    if !values.contains_key(&id) {
                        bail!("{}: unknown key {} in section [{}]", file.display(), key, section);
                    }
                    from_file.push(id.clone());
                    values.insert(id, strip_comment(value));
                }
            }
        }
        for (alias, section, key) in ALIASES {
            if let Some(v) = env.get(*alias) {
                values.insert((section.to_string(), key.to_string()), v.clone());
            }
        }
        for (section, key, _) in KEYS {
            if let Some(v) = env.get(&format!("{section}_{key}")) {
                values.insert((section.to_string(), key.to_string()), v.clone());
            }
        }
        let mut named = Vec::new();
        for (section, key) in SECRET_KEYS {
            if let Some(secret) = NamedSecret::from_env(&format!("{section}_{key}"), env)? {
                if from_file.contains(&(section.to_string(), key.to_string())) {
                    bail!(
                        "{section}_{key}_SECRET_ID is set and the configuration file sets {key} in [{section}] too: give one of them"
                    );
                }
                named.push((*section, *key, secret));
            }
        }
        Ok(Layers { values, named })
    }

    /// Fills the named secrets' keys from Secrets Manager (in the configured AWS region).
    async fn read_named_secrets(&mut self) -> anyhow::Result<()> {
        let named: Vec<NamedSecret> = self.named.iter().map(|(_, _, s)| s.clone()).collect();
        let aws = AwsSettings { region: self.get("AWS", "REGION"), endpoint_url: self.optional("AWS", "ENDPOINT_URL") };
        let values = crate::secrets::read(&named, &aws).await?;
        for ((section, key, _), value) in self.named.iter().zip(values) {
            self.values.insert((section.to_string(), key.to_string()), value.expose_secret().to_string());
        }
        Ok(())
    }

    fn get(&self, section: &str, key: &str) -> String {
        self.values[&(section.to_string(), key.to_string())].trim().to_string()
    }

    fn optional(&self, section: &str, key: &str) -> Option<String> {
        Some(self.get(section, key)).filter(|v| !v.is_empty())
    }

    /// A whole number that fits `T`.
    fn whole<T: TryFrom<u64>>(&self, section: &str, key: &str) -> anyhow::Result<T> {
        let v = self.get(section, key);
        let n: u64 = v.parse().with_context(|| format!("{section}_{key} must be a whole number, found {v:?}"))?;
        T::try_from(n).map_err(|_| anyhow::anyhow!("{section}_{key} is too large"))
    }

    fn config(&self) -> anyhow::Result<Config> {
        Ok(Config {
            server_bind: self.get("SERVER", "BIND"),
            public_url: self.get("SERVER", "PUBLIC_URL"),
            cors_origins: self
                .get("SERVER", "CORS_ORIGINS")
                .split([',', ' '])
                .filter(|o| !o.trim().is_empty())
                .map(|o| o.trim().to_string())
                .collect(),
            trusted_proxies: self
                .get("SERVER", "TRUSTED_PROXIES")
                .split([',', ' '])
                .filter(|a| !a.trim().is_empty())
                .map(|a| {
                    a.trim().parse().with_context(|| {
                        format!("SERVER_TRUSTED_PROXIES: {a:?} is not an IP address (write e.g. 10.0.0.5, fd00::1)")
                    })
                })
                .collect::<anyhow::Result<_>>()?,
            database_url: self.get("DATABASE", "URL").into(),
            database_schema: self.get("DATABASE", "SCHEMA"),
            api_key_salt: self.optional("API", "KEY_SALT").map(SecretString::from),
            observations: self.get("BUCKETS", "OBSERVATIONS"),
            export_s3_bucket: self.optional("EXPORT", "S3_BUCKET"),
            export_local_dir: self.get("EXPORT", "LOCAL_DIR"),
            sqs_queue_url: self.optional("EXPORT", "SQS_QUEUE_URL"),
            long_sqs_queue_url: self.optional("EXPORT", "LONG_SQS_QUEUE_URL"),
            max_retries: self.whole("EXPORT", "MAX_RETRIES")?,
            expiration_days: self.whole("EXPORT", "EXPORT_EXPIRATION_DAYS")?,
            worker_concurrency: self.whole("EXPORT", "WORKER_CONCURRENCY")?,
            max_in_flight: self.whole("EXPORT", "MAX_IN_FLIGHT")?,
            lease_secs: self.whole("EXPORT", "LEASE_SECONDS")?,
            preview_budget_ms: self.whole("EXPORT", "PREVIEW_BUDGET_MS")?,
            preview_limit: self.whole("EXPORT", "PREVIEW_LIMIT")?,
            preview_limit_secs: self.whole("EXPORT", "PREVIEW_LIMIT_SECONDS")?,
            max_image_bytes: self.whole("EXPORT", "MAX_IMAGE_BYTES")?,
            retry_backoff_secs: {
                let v = self.get("EXPORT", "RETRY_BACKOFF_SECONDS");
                v.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0 && *s <= 3600.0).with_context(|| {
                    format!("EXPORT_RETRY_BACKOFF_SECONDS must be a number of seconds (0 to 3600), found {v:?}")
                })?
            },
            jwt_secret: self.get("JWT", "SECRET").into(),
            jwt_expiration_secs: self.whole("JWT", "EXPIRATION")?,
            jwt_issuer: self.optional("JWT", "ISSUER"),
            jwt_audience: self.optional("JWT", "AUDIENCE"),
            max_failed_sign_ins: self.whole("AUTH", "MAX_FAILED_SIGN_INS")?,
            lockout_secs: self.whole("AUTH", "LOCKOUT_SECONDS")?,
            address_limit: self.whole("AUTH", "ADDRESS_LIMIT")?,
            address_limit_secs: self.whole("AUTH", "ADDRESS_LIMIT_SECONDS")?,
            aws_region: self.get("AWS", "REGION"),
            aws_endpoint_url: self.optional("AWS", "ENDPOINT_URL"),
            email_smtp_url: self.optional("EMAIL", "SMTP_URL").map(SecretString::from),
            email_from: self.get("EMAIL", "FROM"),
            oidc: self.oidc()?,
        })
    }
}

impl Layers {
    fn oidc(&self) -> anyhow::Result<Option<OidcConfig>> {
        let Some(issuer_url) = self.optional("OIDC", "ISSUER_URL") else {
            if self.optional("OIDC", "CLIENT_ID").is_some() {
                bail!("OIDC_CLIENT_ID is set but OIDC_ISSUER_URL is not: set the provider's issuer URL too");
            }
            return Ok(None);
        };
        let Some(client_id) = self.optional("OIDC", "CLIENT_ID") else {
            bail!("OIDC_ISSUER_URL is set but OIDC_CLIENT_ID is not: set the client id the provider registered");
        };
        let scopes: Vec<String> =
            self.get("OIDC", "SCOPES").split([',', ' ']).filter(|s| !s.is_empty()).map(str::to_string).collect();
        if !scopes.iter().any(|s| s == "openid") {
            bail!("OIDC_SCOPES must include openid (found {:?})", self.get("OIDC", "SCOPES"));
        }
        let provider = self.get("OIDC", "PROVIDER");
        if provider.is_empty() || provider == "local" {
            bail!("OIDC_PROVIDER must name the provider (e.g. cilogon), not {provider:?}");
        }
        Ok(Some(OidcConfig {
            issuer_url,
            client_id,
            client_secret: self.optional("OIDC", "CLIENT_SECRET").map(SecretString::from),
            provider,
            display_name: self.optional("OIDC", "DISPLAY_NAME").unwrap_or_else(|| oidc::DEFAULT_DISPLAY_NAME.into()),
            scopes,
        }))
    }
}

impl Config {
    /// Loads the layers; `file` is `--config`, else `./aao-export.ini` if it exists. Secrets named
    /// by `{KEY}_SECRET_ID` are read from Secrets Manager here, once.
    pub async fn load(file: Option<&Path>, env: &HashMap<String, String>) -> anyhow::Result<Config> {
        let default_file = Path::new("aao-export.ini");
        let file = file.or(default_file.exists().then_some(default_file));
        let mut layers = Layers::read(file, env)?;
        layers.read_named_secrets().await?;
        let config = layers.config()?;
        config.check()?;
        Ok(config)
    }

    /// Refuses settings that would leave the service unable to work.
    fn check(&self) -> anyhow::Result<()> {
        if self.worker_concurrency == 0 {
            bail!("EXPORT_WORKER_CONCURRENCY must be at least 1");
        }
        if self.max_in_flight == 0 {
            bail!("EXPORT_MAX_IN_FLIGHT must be at least 1");
        }
        if self.lease_secs == 0 {
            bail!("EXPORT_LEASE_SECONDS must be at least 1");
        }
        if self.preview_limit == 0 || self.preview_limit_secs == 0 {
            bail!("EXPORT_PREVIEW_LIMIT and EXPORT_PREVIEW_LIMIT_SECONDS must be at least 1");
        }
        if self.max_failed_sign_ins == 0 {
            bail!("AUTH_MAX_FAILED_SIGN_INS must be at least 1");
        }
        if self.address_limit == 0 || self.address_limit_secs == 0 {
            bail!("AUTH_ADDRESS_LIMIT and AUTH_ADDRESS_LIMIT_SECONDS must be at least 1");
        }
        Ok(())
    }

    /// True when PUBLIC_URL was left at its default, so the API's real address is used instead
    /// (e.g. with `SERVER_BIND=127.0.0.1:0`).
    pub fn public_url_is_default(&self) -> bool {
        self.public_url == "http://127.0.0.1:8080"
    }

    /// Where exports are written: the S3 bucket when set, else the local folder.
    pub fn exports_location(&self) -> String {
        match &self.export_s3_bucket {
            Some(bucket) if bucket.starts_with("s3://") => bucket.clone(),
            Some(bucket) => format!("s3://{bucket}"),
            // Always a folder, even when it has no slash (a bare name would mean an S3 bucket).
            None => format!("file://{}", self.export_local_dir),
        }
    }

    /// Where AWS lives, for the S3 stores and the SQS queue alike.
    pub fn aws(&self) -> AwsSettings {
        AwsSettings { region: self.aws_region.clone(), endpoint_url: self.aws_endpoint_url.clone() }
    }
}

/// `KEY = value ; comment` → `value` (the spec's INI style puts comments after values).
fn strip_comment(value: &str) -> String {
    let cut = value.find(" ;").or_else(|| value.find("\t;")).unwrap_or(value.len());
    value[..cut].trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[tokio::test]
    async fn defaults_live_under_data() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.ini");
        std::fs::write(&missing, "").unwrap();
        let c = Config::load(Some(&missing), &env(&[])).await.unwrap();
        assert_eq!(c.database_url.expose_secret(), "sqlite://data/aao-export.db");
        assert_eq!(c.observations, "data/observations");
        assert_eq!(c.exports_location(), "file://data/exports");
        assert_eq!((c.max_retries, c.expiration_days, c.worker_concurrency), (3, 7, 2));
        assert_eq!((c.max_failed_sign_ins, c.lockout_secs), (5, 30));
        assert_eq!((c.address_limit, c.address_limit_secs), (100, 600), "as SignInLimits::default");
        assert_eq!((c.preview_limit, c.preview_limit_secs), (30, 10));
    }

    #[tokio::test]
    async fn environment_wins_over_the_file_and_aliases_work() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.ini");
        std::fs::write(
            &file,
            "[EXPORT]\nMAX_RETRIES = 5 ; retries\nS3_BUCKET = from-file\n[DATABASE]\nURL = postgres://u:hunter2@h/db\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), &env(&[("EXPORT_MAX_RETRIES", "9")])).await.unwrap();
        assert_eq!(c.max_retries, 9);
        assert_eq!(c.exports_location(), "s3://from-file");
        let c = Config::load(
            Some(&file),
            &env(&[("EXPORTS_BUCKET_NAME", "aao-exports"), ("SQS_QUEUE_URL", "https://sqs.x/q")]),
        )
        .await
        .unwrap();
        assert_eq!(c.export_s3_bucket.as_deref(), Some("aao-exports"));
        assert_eq!(c.sqs_queue_url.as_deref(), Some("https://sqs.x/q"));
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2"), "secrets never print: {printed}");
    }

    #[tokio::test]
    async fn bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.ini");
        std::fs::write(&file, "[EXPORT]\nMAX_RETRIES = lots\n").unwrap();
        let e = Config::load(Some(&file), &env(&[])).await.unwrap_err();
        assert!(format!("{e:#}").contains("EXPORT_MAX_RETRIES must be a whole number, found \"lots\""), "{e:#}");
        std::fs::write(&file, "[EXPORT]\nMAX_RETRYS = 1\n").unwrap();
        let e = Config::load(Some(&file), &env(&[])).await.unwrap_err();
        assert!(e.to_string().contains("unknown key MAX_RETRYS in section [EXPORT]"), "{e}");
        let e = Config::load(Some(&missing_file(&dir)), &env(&[("AUTH_ADDRESS_LIMIT", "0")])).await.unwrap_err();
        assert!(e.to_string().contains("AUTH_ADDRESS_LIMIT and AUTH_ADDRESS_LIMIT_SECONDS must be at least 1"), "{e}");
        let proxies = env(&[("SERVER_TRUSTED_PROXIES", "10.0.0.5, fd00::1 ,")]);
        let c = Config::load(Some(&missing_file(&dir)), &proxies).await.unwrap();
        assert_eq!(c.trusted_proxies, ["10.0.0.5".parse::<std::net::IpAddr>().unwrap(), "fd00::1".parse().unwrap()]);
        let e = Config::load(Some(&missing_file(&dir)), &env(&[("SERVER_TRUSTED_PROXIES", "10.0.0.0/8")]))
            .await
            .unwrap_err();
        assert!(format!("{e:#}").contains("SERVER_TRUSTED_PROXIES: \"10.0.0.0/8\" is not an IP address"), "{e:#}");
    }

    #[tokio::test]
    async fn a_secret_is_given_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.ini");
        std::fs::write(&file, "[JWT]\nSECRET = from-the-file\n").unwrap();
        let e = Config::load(Some(&file), &env(&[("JWT_SECRET_SECRET_ID", "arn:x")])).await.unwrap_err();
        assert!(e.to_string().contains("the configuration file sets SECRET in [JWT] too"), "{e}");
        assert!(!e.to_string().contains("from-the-file"), "{e}");
        let e = Config::load(Some(&missing_file(&dir)), &env(&[("JWT_SECRET", "a"), ("JWT_SECRET_SECRET_ID", "b")]))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not both"), "{e}");
    }

    /// An empty configuration file in `dir`.
    fn missing_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
        let path = dir.path().join("empty.ini");
        std::fs::write(&path, "").unwrap();
        path
    }
}
