//! What every handler shares: the storage, the queue, the exports store and the API's settings.

use aao_export_db::Storage;
use aao_export_queue::Queue;
use aao_export_worker::stores::ExportsStore;
use std::fmt;
use std::sync::Arc;

/// The most exports one user may have pending or processing at once, unless configured.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 5;
/// The largest request body accepted, unless configured (64 KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// A download link is valid for at most this long (and never past the export's expiry).
pub const MAX_LINK_LIFETIME_MS: i64 = 3_600_000;

/// The service's parts, as the API uses them. Cheap to clone: the parts are shared.
#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<dyn Storage>,
    pub queue: Arc<dyn Queue>,
    pub exports: ExportsStore,
    pub settings: ApiSettings,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("storage", &self.storage.backend())
            .field("queue", &self.queue.backend())
            .field("exports", &self.exports.location)
            .field("settings", &self.settings)
            .finish()
    }
}

/// How the API behaves. The JWT secret and the download key never appear in `Debug`.
#[derive(Clone)]
pub struct ApiSettings {
    /// The URL users reach the API at (no trailing slash needed): local download links start with it.
    pub public_url: String,
    /// The HS256 secret bearer tokens are signed with. Empty: bearer tokens are refused.
    pub jwt_secret: String,
    /// How long a minted token is valid.
    pub jwt_expiration_secs: u64,
    /// The HMAC-SHA256 key of local download links.
    pub download_key: Vec<u8>,
    /// Retries after the first attempt, written into each new export.
    pub max_retries: u32,
    /// Completed exports expire this many days after completion.
    pub expiration_days: u32,
    /// The most exports one user may have pending or processing.
    pub max_in_flight: u32,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
}

impl ApiSettings {
    /// Settings with the defaults of the spec and DESIGN.md (3 retries, 7 days, 24 h tokens,
    /// 5 exports in flight, 64 KiB bodies).
    pub fn new(public_url: impl Into<String>, jwt_secret: impl Into<String>, download_key: Vec<u8>) -> Self {
        ApiSettings {
            public_url: public_url.into(),
            jwt_secret: jwt_secret.into(),
            jwt_expiration_secs: 86_400,
            download_key,
            max_retries: 3,
            expiration_days: 7,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// How long after completion an export expires, in milliseconds.
    pub fn expiry_ms(&self) -> i64 {
        i64::from(self.expiration_days) * 86_400_000
    }

    /// The public URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }
}

impl fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |empty: bool| if empty { "<empty>" } else { "<redacted>" };
        f.debug_struct("ApiSettings")
            .field("public_url", &self.public_url)
            .field("jwt_secret", &redacted(self.jwt_secret.is_empty()))
            .field("jwt_expiration_secs", &self.jwt_expiration_secs)
            .field("download_key", &redacted(self.download_key.is_empty()))
            .field("max_retries", &self.max_retries)
            .field("expiration_days", &self.expiration_days)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

/// The router's state: one shared [`AppState`].
pub(crate) type Shared = Arc<AppState>;

/// Now, in epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secrets() {
        let s = ApiSettings::new("http://x", "top-secret-jwt", b"very-secret-key".to_vec());
        let shown = format!("{s:?}");
        assert!(!shown.contains("top-secret-jwt") && !shown.contains("very-secret-key") && !shown.contains("118, 101"), "{shown}");
        assert!(shown.contains("<redacted>") && shown.contains("http://x") && shown.contains("max_in_flight: 5"), "{shown}");
        assert_eq!(s.max_body_bytes, 65_536);
        assert_eq!(s.expiry_ms(), 7 * 86_400_000);
    }
}
