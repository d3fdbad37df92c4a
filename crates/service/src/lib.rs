//! Every use case of aao-export, as functions on [`Service`]: create (validation, in-flight cap,
//! enqueue with the write: [`jobs`]), list, read (status object with a fresh link), delete (with cancel),
//! share, unshare, retry, the stable download link and the record of who downloaded, the local
//! download, the preview of a request with its size estimate and
//! the preview's ad images ([`preview`]), authentication, and signing in with a password
//! ([`sessions`]); with the rules of who may see and who may manage an export
//! ([`exports::may_see`], [`exports::may_manage`]).
//!
//! The JSON API, the pages and the Lambda adapters call these and only answer in their own form;
//! nothing here knows HTTP or SQL. Failures are [`ServiceError`]s: a [`Refusal`] the caller can act
//! on, or a failure of a part.

pub mod auth;
pub mod error;
pub mod exports;
pub mod jobs;
pub mod limits;
pub mod preview;
pub mod sessions;
pub mod users;

/// The users as the service hands them out (the database's records).
pub use aao_export_db::{User, UserOverview};
pub use auth::{Caller, Tokens};
pub use error::{Code, Refusal, RefusalKind, ServiceError, ServiceResult};
pub use limits::RateLimit;
pub use sessions::{ProviderSignInOutcome, SignInLimits};

use aao_export_db::{CatalogueDb, Database, ExportsDb, LimitsDb, UsersDb};
use aao_export_queue::Queue;
use aao_export_stores::{ExportsStore, LocalLinks};
use object_store::ObjectStore;
use std::sync::Arc;
use std::time::Duration;

/// The most exports one user may have pending or processing at once, unless configured.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 5;

/// The rules' numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Retries after the first attempt, written into each new export.
    pub max_retries: u32,
    /// Completed exports expire this many days after completion.
    pub expiration_days: u32,
    /// The most exports one user may have pending or processing.
    pub max_in_flight: u32,
    /// When repeated failed sign-ins lock a username out.
    pub sign_in: SignInLimits,
    /// How long a preview may count its ads (and half of it, list the first ones) before it
    /// answers with an estimate instead.
    pub preview_budget: Duration,
    /// How many previews one user may ask for (429 `TOO_MANY_PREVIEWS` beyond).
    pub preview_limit: RateLimit,
    /// Images larger than this are not served (nor exported).
    pub max_image_bytes: u64,
}

/// A preview answers in about 1.5 times this, plus its estimate when it runs out.
pub const DEFAULT_PREVIEW_BUDGET: Duration = Duration::from_millis(160);

impl Default for Settings {
    /// The spec's and DESIGN.md's defaults: 3 retries, 7 days, 5 exports in flight; and
    /// [`SignInLimits::default`].
    fn default() -> Self {
        Settings {
            max_retries: 3,
            expiration_days: 7,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            sign_in: SignInLimits::default(),
            preview_budget: DEFAULT_PREVIEW_BUDGET,
            preview_limit: RateLimit::PREVIEWS,
            max_image_bytes: aao_export_core::catalogue::DEFAULT_MAX_IMAGE_BYTES,
        }
    }
}

impl Settings {
    /// How long after completion an export expires, in milliseconds.
    pub fn expiry_ms(&self) -> i64 {
        i64::from(self.expiration_days) * 86_400_000
    }
}

/// The service's parts; each use case touches only the ones it needs. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub catalogue: Arc<dyn CatalogueDb>,
    pub users: Arc<dyn UsersDb>,
    pub exports: Arc<dyn ExportsDb>,
    pub limits: Arc<dyn LimitsDb>,
    /// The observations bucket: the ads' images, for previews.
    pub observations: Arc<dyn ObjectStore>,
    pub queue: Arc<dyn Queue>,
    /// Where finished ZIPs live.
    pub files: ExportsStore,
    /// Signs download links of a local exports folder.
    pub links: LocalLinks,
    pub tokens: Tokens,
    pub settings: Settings,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("observations", &self.observations.to_string())
            .field("queue", &self.queue.backend())
            .field("files", &self.files.location)
            .field("links", &self.links)
            .field("tokens", &self.tokens)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// The service over one database (each concern seen through its own trait) and the
    /// observations bucket.
    pub fn new(
        db: Arc<dyn Database>,
        observations: Arc<dyn ObjectStore>,
        queue: Arc<dyn Queue>,
        files: ExportsStore,
        links: LocalLinks,
        tokens: Tokens,
        settings: Settings,
    ) -> Self {
        Service {
            catalogue: db.clone(),
            users: db.clone(),
            exports: db.clone(),
            limits: db,
            observations,
            queue,
            files,
            links,
            tokens,
            settings,
        }
    }
}
