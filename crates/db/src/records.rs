//! What the storage traits take and give beyond the domain's own types: exports to create and how
//! runs end, API keys, the rows of the database queue. Times are epoch milliseconds, as every
//! table stores them.

pub use aao_export_core::api::DownloadVia;
pub use aao_export_core::export::ExportRecord;
use aao_export_core::export::{ExportParameters, ExportStatus};
use uuid::Uuid;

/// An export to create (status `pending`, attempt 1).
#[derive(Debug, Clone)]
pub struct NewExport {
    pub export_id: Uuid,
    pub creator_id: String,
    pub parameters: ExportParameters,
    /// The catalogue ids of `parameters.fields`, in the same order.
    pub field_ids: Vec<Uuid>,
    pub max_retries: u32,
    pub created_at: i64,
    /// Refuse the export when its creator already has this many pending or processing.
    pub max_in_flight: u32,
    /// The database queue's message, committed with the export (None with an external queue).
    pub queue_body: Option<String>,
}

/// Why an export could not be created.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created(Box<ExportRecord>),
    /// The creator has this many exports pending or processing already.
    TooManyInFlight(u64),
}

/// An export to run again from the start (see `ExportsDb::retry_export`).
#[derive(Debug, Clone)]
pub struct RetryExport {
    pub export_id: Uuid,
    /// The new `created_at` and `updated_at`.
    pub now: i64,
    /// A completed export that completed before this reads as expired, so it may be retried.
    pub expired_before: i64,
    /// Refuse when the creator already has this many pending or processing.
    pub max_in_flight: u32,
    /// The database queue's message, committed with the change (None with an external queue).
    pub queue_body: Option<String>,
}

/// What a retry found.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryOutcome {
    /// Pending again; the key of the file the export had, to be deleted.
    Retried { record: Box<ExportRecord>, old_object_location: Option<String> },
    /// Neither failed nor expired: the export as it is.
    NotRetryable(Box<ExportRecord>),
    /// The creator has this many exports pending or processing already.
    TooManyInFlight(u64),
    /// No such export.
    Gone,
}

/// What a worker's claim on an export found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The lease is ours: build it.
    Claimed(Box<ExportRecord>),
    /// The export was deleted.
    Gone,
    /// Completed, failed or expired already.
    Finished(ExportStatus),
    /// Another worker holds a live lease.
    Leased,
    /// The message is for an earlier attempt than the export's.
    Stale { current_attempt: u32 },
}

/// How a worker's run of an export ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    Completed {
        object_location: String,
        s3_url: String,
        size_bytes: u64,
        ad_count: u64,
        image_count: u64,
    },
    /// Back to `pending` for attempt `next_attempt`, with what went wrong.
    Retry {
        next_attempt: u32,
        message: String,
    },
    Failed {
        message: String,
    },
}

/// A stored API key: the user it belongs to and the SHA-256 (hex) of its secret part.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub key_id: String,
    pub user_id: String,
    pub secret_hash: String,
    pub created_at: i64,
    /// What the key is for, as its maker said.
    pub label: Option<String>,
    /// When it stops working; `None`: when revoked.
    pub expires_at: Option<i64>,
    /// When it was last used (to the minute); `None`: never.
    pub last_used_at: Option<i64>,
}

/// A message received from the database queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    pub message_id: i64,
    pub body: String,
    pub receive_count: u32,
    pub receipt: String,
}

/// An email notice due: the export's final state and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct DueNotice {
    pub export_id: Uuid,
    /// `completed` or `failed`.
    pub status: ExportStatus,
    /// The failure's message.
    pub message: Option<String>,
    pub ad_count: Option<u64>,
    pub image_count: Option<u64>,
    pub size_bytes: Option<u64>,
    pub completed_at: Option<i64>,
    /// Sends tried so far, this one included once claimed.
    pub attempts: u32,
    pub email: String,
    pub full_name: String,
}

/// A completed export whose file the sweeper still has to delete.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiredFile {
    pub export_id: Uuid,
    pub object_location: String,
}

/// A sign-in identity (the AAO's `user_identities` table). For provider `local`,
/// `provider_user_id` is the username and `password` its hash: an argon2 PHC string, or the AAO's
/// legacy unsalted MD5 hex digest until its owner next signs in. The hash never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub provider: String,
    pub provider_user_id: String,
    pub password: Option<String>,
    pub created_at: i64,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("user_id", &self.user_id)
            .field("provider", &self.provider)
            .field("provider_user_id", &self.provider_user_id)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// When repeated failed sign-ins lock a username out: once it has `max_failures`, each within
/// `window_ms` of the one before, it is locked until `lockout_ms` after the last. After that one
/// more attempt goes through, and if it fails too the lockout starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutRule {
    pub max_failures: u32,
    pub window_ms: i64,
    pub lockout_ms: i64,
}

/// Whether a sign-in attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInGate {
    /// Go ahead; this attempt is already counted among the username's `failures` (cleared when it
    /// succeeds).
    Open { failures: u32 },
    /// Locked out until this time (epoch ms); nothing was counted.
    Locked { until: i64 },
}

/// A user handed an export's download URL, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDownload {
    pub export_id: Uuid,
    pub user_id: String,
    pub at: i64,
    pub via: DownloadVia,
}

/// A recorded download, with the user's name when the user is still known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRecord {
    pub user_id: String,
    pub full_name: Option<String>,
    pub downloaded_at: i64,
    pub via: DownloadVia,
}

/// Someone the identity provider vouched for, signing in: its `sub` and what it says of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSignIn {
    /// `user_identities.provider` (the AAO's is `cilogon`).
    pub provider: String,
    /// The provider's subject (`sub`).
    pub provider_user_id: String,
    pub full_name: Option<String>,
    pub email: Option<String>,
    /// The id a new user gets, when the identity is new.
    pub new_user_id: String,
    /// Epoch seconds: a new identity's `created_at`.
    pub now_secs: i64,
}

/// A user as the administrators' list shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct UserOverview {
    pub user: crate::User,
    /// `(provider, provider_user_id)` of each sign-in identity, by provider.
    pub identities: Vec<(String, String)>,
    /// When they last signed in (epoch ms), if ever since this was recorded.
    pub last_sign_in: Option<i64>,
}
