//! Storage for aao-export: narrow, domain-level traits by concern, all implemented once by
//! [`Storage`] over SQLite or PostgreSQL (`driver.rs` runs a statement on either), each flavour
//! owning its migrations (`migrations/sqlite`, `migrations/postgres`). Each consumer sees only
//! the trait it uses:
//!
//! - [`CatalogueDb`]: the observation catalogue, its curation and the exportable fields (indexer,
//!   export pipeline, previews);
//! - [`UsersDb`]: users, API keys, sign-in identities and failed sign-ins (authentication,
//!   sharing);
//! - [`ExportsDb`]: exports, their shares and recorded downloads, and the worker's leases
//!   (service, runner, upkeep);
//! - [`LimitsDb`]: hits per bucket and window, for rate limits (service);
//! - [`QueueTable`]: the rows of the database queue (the queue crate's `DbQueue` only).
//!
//! [`Database`] is all of them, as [`connect`] opens it. The SQL the flavours share is written
//! once in `sql.rs`; the query compiler lives in [`search`].

mod attached;
mod catalogue;
mod driver;
mod exports;
mod limits;
mod migrations;
mod notices;
mod queue;
pub mod records;
pub mod search;
mod sql;
mod storage;
mod users;

pub use records::{
    ApiKey, Claim, CreateOutcome, DownloadRecord, DownloadVia, DueNotice, ExpiredFile, ExportRecord, Finish, Identity,
    LockoutRule, NewDownload, NewExport, ProviderSignIn, QueueRow, RetryExport, RetryOutcome, SignInGate, UserOverview,
};
/// The driver's error, as the sources of [`DbError`] hold it.
pub use sqlx::Error as SqlxError;
pub use storage::Storage;

use aao_export_core::catalogue::CatalogueEntry;
use aao_export_core::document::Curation;
use aao_export_core::fields::ExportableField;
use aao_export_core::query::Query;
use async_trait::async_trait;
use search::PageCursor;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// What went wrong in the database, by what a caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Every connection is busy: try again shortly (the API answers 503 with Retry-After).
    #[error("the database is busy: no connection became free in time")]
    PoolExhausted(#[source] sqlx::Error),
    /// The database cannot be reached.
    #[error("the database cannot be reached: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A row with the same key exists already (a unique constraint).
    #[error("a row with the same key exists already: {0}")]
    Duplicate(#[source] sqlx::Error),
    /// A row refers to one that does not exist (a foreign key), e.g. a share of a deleted export.
    #[error("a row refers to one that does not exist: {0}")]
    MissingReference(#[source] sqlx::Error),
    /// A stored value cannot be read back as what it should be.
    #[error("a stored value cannot be read: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
    #[error("creating the database folder: {0}")]
    Folder(#[source] std::io::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Only the URL's scheme is kept: the rest may hold a password (or be a whole secret).
    #[error("unsupported database URL starting {0:?}: use sqlite://path or postgres://user@host/db")]
    UnsupportedUrl(String),
    /// The database has an Alembic history (the AAO's) but not the tables, columns or types this
    /// service relies on, or the configured schema name is not usable.
    #[error("{0}")]
    Unrecognised(String),
    /// Attached to the AAO's database: a change only the AAO's own API makes.
    #[error("{0}")]
    AaoOwned(&'static str),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &e {
            sqlx::Error::PoolTimedOut => DbError::PoolExhausted(e),
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                DbError::Unavailable(e)
            }
            sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => DbError::Corrupt(e.to_string()),
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => DbError::Duplicate(e),
                ErrorKind::ForeignKeyViolation => DbError::MissingReference(e),
                _ => DbError::Other(e),
            },
            _ => DbError::Other(e),
        }
    }
}

impl DbError {
    /// True when trying again shortly may succeed (busy or unreachable).
    pub fn is_transient(&self) -> bool {
        matches!(self, DbError::PoolExhausted(_) | DbError::Unavailable(_))
    }
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// An AAO user (the `users` table).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub full_name: String,
    pub enabled: bool,
    pub role: String,
    pub primary_email: Option<String>,
}

/// An enabled user as the share picker lists them, with the sign-in identity that names them (the
/// local one first), as the AAO's `get_user_dict` shows a user.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedUser {
    pub user: User,
    /// `local` or `cilogon`; none without an identity.
    pub provider: Option<String>,
    /// The identity's `provider_user_id` (for `local`, the username).
    pub username: Option<String>,
}

/// An AAO tag (the `tags` table).
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub hex: Option<String>,
}

/// What researchers recorded about one ad, by tag id (for writing the AAO tables).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CurationRecord {
    pub observation_id: String,
    pub tag_ids: Vec<String>,
    pub attributes: Vec<aao_export_core::document::Attribute>,
    pub classifications: Vec<aao_export_core::document::Classification>,
}

/// What the indexer learned from one object of the observations store.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectOutcome {
    pub key: String,
    /// The object's version (ETag or size and time), to skip it next time if unchanged.
    pub version: String,
    pub kind: OutcomeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutcomeKind {
    /// An exportable ad: its catalogue entry and the RDO text.
    Indexed(Box<CatalogueEntry>, String),
    /// A withdrawn participant's ad: removed from the catalogue.
    Withdrawn { observation_id: Option<String> },
    /// Not a usable RDO; the reason is reported.
    Unparseable(String),
    /// The object is gone from the store: its ad leaves the catalogue, and the key is forgotten.
    Removed,
}

/// An ad found by a search, as the catalogue holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueRow {
    pub observation_id: String,
    pub observer_id: String,
    pub observed_at: f64,
    pub rdo_key: String,
    pub rdo: String,
}

/// What the ads a query selects add up to, as the catalogue recorded them when indexing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatalogueTotals {
    pub ads: u64,
    /// Their images found in the observations store.
    pub images: u64,
    pub image_bytes: u64,
    /// Bytes of their stored (compact) RDOs.
    pub rdo_bytes: u64,
}

impl CatalogueRow {
    pub fn cursor(&self) -> PageCursor {
        PageCursor { observed_at: self.observed_at, observation_id: self.observation_id.clone() }
    }
}

/// The whole database: every concern, plus what only wiring needs.
#[async_trait]
pub trait Database: CatalogueDb + UsersDb + ExportsDb + QueueTable + NoticesDb + LimitsDb {
    /// `sqlite`, `postgres`, or `attached` (to the AAO's database).
    fn backend(&self) -> &'static str;

    /// What this database is attached to, when it is the AAO's: "the Ad Observatory schema
    /// (revision …), ours in …".
    fn attached_to(&self) -> Option<String>;

    /// Applies pending migrations and seeds the exportable field catalogue.
    async fn migrate(&self) -> Result<()>;
}

/// The observation catalogue: what the indexer writes and exports read, with the AAO's curation
/// tables and the exportable field catalogue.
#[async_trait]
pub trait CatalogueDb: Send + Sync + 'static {
    /// The exportable fields, in catalogue order.
    async fn exportable_fields(&self) -> Result<Vec<ExportableField>>;

    async fn put_tags(&self, tags: &[Tag]) -> Result<()>;
    /// Replaces the tags, attributes and classifications of the given ads, in one transaction.
    async fn put_curation(&self, records: &[CurationRecord]) -> Result<()>;
    /// Tags, attributes and classifications of these ads (absent ids have none).
    async fn curation(&self, observation_ids: &[String]) -> Result<HashMap<String, Curation>>;

    /// The versions the indexer last saw of these object keys.
    async fn object_versions(&self, keys: &[String]) -> Result<HashMap<String, String>>;
    /// Applies what the indexer learned, in one transaction: upserts ads, removes withdrawn ones.
    async fn record_objects(&self, outcomes: &[ObjectOutcome]) -> Result<()>;
    /// Objects that could not be indexed, with the reason, by key.
    async fn unparseable_objects(&self) -> Result<Vec<(String, String)>>;
    /// The object keys the indexer has recorded, in the database's order of text: the first
    /// `limit` after `after` (`None`: from the start).
    async fn object_keys(&self, after: Option<&str>, limit: u32) -> Result<Vec<String>>;
    /// How many ads the catalogue holds.
    async fn catalogue_size(&self) -> Result<u64>;

    /// How many ads match a query.
    async fn count_matching(&self, query: &Query) -> Result<u64>;
    /// How many ads match a query, with their images and sizes, in one statement.
    async fn catalogue_totals(&self, query: &Query) -> Result<CatalogueTotals>;
    /// One ad by its observation id.
    async fn catalogue_ad(&self, observation_id: &str) -> Result<Option<CatalogueRow>>;
    /// The next page of matching ads, newest first, strictly after `after`.
    async fn search_page(&self, query: &Query, after: Option<&PageCursor>, limit: u32) -> Result<Vec<CatalogueRow>>;
    /// As [`CatalogueDb::catalogue_totals`], or `None` when counting would take longer than
    /// `budget` (the database stops the statement then).
    async fn catalogue_totals_within(&self, query: &Query, budget: Duration) -> Result<Option<CatalogueTotals>>;
    /// An estimate for a query too broad to count in time: the totals of the matching ads among
    /// about `sample` ads spread over the whole catalogue (a range of their random ids), scaled
    /// to it; exact when the catalogue is no larger.
    async fn estimate_totals(&self, query: &Query, sample: u32) -> Result<CatalogueTotals>;
    /// The first `limit` matching ads, newest first, found the cheaper way for `matching` (the
    /// query's count, or an estimate; `None`, not known: taken to be many, so the newest ads are
    /// walked): the same ads as [`CatalogueDb::search_page`] without a cursor; `None` when
    /// finding them would take longer than `budget`.
    async fn first_page(
        &self,
        query: &Query,
        limit: u32,
        matching: Option<u64>,
        budget: Duration,
    ) -> Result<Option<Vec<CatalogueRow>>>;
}

/// The AAO's users and sign-in identities, aao-export's API keys, and failed sign-ins.
#[async_trait]
pub trait UsersDb: Send + Sync + 'static {
    async fn put_users(&self, users: &[User]) -> Result<()>;
    async fn user(&self, id: &str) -> Result<Option<User>>;
    /// Enabled users, by id, with their identity (the share picker).
    async fn enabled_users(&self) -> Result<Vec<ListedUser>>;
    /// Which of these ids name no user.
    async fn unknown_users(&self, ids: &[String]) -> Result<Vec<String>>;
    async fn put_api_key(&self, key: &ApiKey) -> Result<()>;
    /// The key with this id and its user.
    async fn api_key(&self, key_id: &str) -> Result<Option<(ApiKey, User)>>;
    /// A user's API keys, oldest first.
    async fn api_keys_of(&self, user_id: &str) -> Result<Vec<ApiKey>>;
    /// Revokes (deletes) a key; true when there was one.
    async fn revoke_api_key(&self, key_id: &str) -> Result<bool>;
    /// Revokes a user's keys with this label; how many.
    async fn revoke_labelled_api_keys(&self, user_id: &str, label: &str) -> Result<u64>;
    /// Records that a key was used at `now`, unless a use since `since` is recorded already.
    async fn touch_api_key(&self, key_id: &str, now: i64, since: i64) -> Result<()>;
    /// Attached to the AAO's database: the bcrypt hashes of the AAO's own API keys ending in
    /// `suffix`, with their users; elsewhere none.
    async fn aao_api_keys(&self, suffix: &str) -> Result<Vec<(String, User)>>;

    /// The `local` identity whose username is `username` (case-sensitive), with its user.
    async fn local_identity(&self, username: &str) -> Result<Option<(Identity, User)>>;
    /// Sets a user's `local` password hash, creating the identity (at `now`) if needed. `username`
    /// renames it; `None` keeps the identity's username, or uses the user id for a new one.
    /// Returns the username. A username another user has is [`DbError::Duplicate`]; an unknown
    /// user is [`DbError::MissingReference`].
    async fn set_password(&self, user_id: &str, username: Option<&str>, hash: &str, now: i64) -> Result<String>;
    /// Replaces a user's `local` password hash if it is still `old` (compare-and-set: an upgrade
    /// never overwrites a password set meanwhile); true when replaced.
    async fn replace_password(&self, user_id: &str, old: &str, new: &str) -> Result<bool>;
    /// Lets a sign-in attempt counted under `key` (a username, and the address it is tried from
    /// after a line feed) go ahead, counting it as a failure at once (so that concurrent attempts
    /// cannot all slip under the limit), or says until when the key is locked out
    /// ([`LockoutRule`]). A successful attempt calls [`UsersDb::clear_failed_sign_ins`].
    async fn begin_sign_in(&self, key: &str, now: i64, rule: &LockoutRule) -> Result<SignInGate>;
    /// Forgets the failed sign-ins counted under `key`, and under every key that is `key`, a line
    /// feed and more (a username's from every address: its password was set).
    async fn clear_failed_sign_ins(&self, key: &str) -> Result<()>;
    /// Forgets the counts whose last failure was before `before` (the upkeep pass: an older count
    /// no longer locks anything); how many.
    async fn purge_failed_sign_ins(&self, before: i64) -> Result<u64>;

    /// Records a signed-in session (its token names `session_id`) from `now` until `expires_at`,
    /// and `now` as the user's last sign-in.
    async fn start_session(&self, session_id: &str, user_id: &str, now: i64, expires_at: i64) -> Result<()>;
    /// Whether the session is on at `now`: recorded for this user, not ended, not expired.
    async fn session_alive(&self, session_id: &str, user_id: &str, now: i64) -> Result<bool>;
    /// Ends one session (signing out); true when it was on.
    async fn end_session(&self, session_id: &str) -> Result<bool>;
    /// Ends every session of a user (a new password, the user disabled); how many ended.
    async fn end_sessions_of(&self, user_id: &str) -> Result<u64>;
    /// Enables or disables a user (only `users.enabled` is written); disabling also ends all of the
    /// user's sessions, in the same transaction. False for an unknown user.
    async fn set_enabled(&self, user_id: &str, enabled: bool) -> Result<bool>;
    /// Forgets the sessions that expired by `now` (the upkeep pass); how many.
    async fn purge_sessions(&self, now: i64) -> Result<u64>;
    /// The user an identity provider's subject names, with their name and email refreshed from
    /// what the provider says; or, for a subject not seen before, a new user who is not enabled
    /// and its identity (the rows the AAO's API writes, nothing else). One transaction.
    async fn sign_in_with_provider(&self, sign_in: &ProviderSignIn) -> Result<User>;
    /// Every user with their identities and last sign-in, by id.
    async fn users_overview(&self) -> Result<Vec<UserOverview>>;
}

/// Exports, their fields, shares and recorded downloads, and the worker's leases on them.
#[async_trait]
pub trait ExportsDb: Send + Sync + 'static {
    /// Creates a pending export with its fields and, when [`NewExport::queue_body`] is set, its
    /// database-queue message, in one transaction; refused when the creator has too many
    /// exports in flight.
    async fn create_export(&self, export: &NewExport) -> Result<CreateOutcome>;
    async fn export(&self, id: Uuid) -> Result<Option<ExportRecord>>;
    /// Exports created by or shared with a user, newest first, from a fixed number of queries.
    async fn exports_visible_to(&self, user_id: &str) -> Result<Vec<ExportRecord>>;
    /// Deletes an export with its fields and shares; returns what it was.
    async fn delete_export(&self, id: Uuid) -> Result<Option<ExportRecord>>;
    /// Adds shares and returns the export's shares after. Ids must name users (checked by the
    /// caller); an export deleted meanwhile is [`DbError::MissingReference`].
    async fn share_export(&self, id: Uuid, user_ids: &[String]) -> Result<Vec<String>>;
    /// Removes shares and returns the export's shares after.
    async fn unshare_export(&self, id: Uuid, user_ids: &[String]) -> Result<Vec<String>>;
    /// Records that a user was handed an export's download URL. An export deleted meanwhile is
    /// [`DbError::MissingReference`]. Deleting an export deletes its records.
    async fn record_download(&self, download: &NewDownload) -> Result<()>;
    /// An export's recorded downloads, newest first (of two at the same instant, the later
    /// recorded first), with the users' names.
    async fn downloads(&self, id: Uuid) -> Result<Vec<DownloadRecord>>;
    /// Puts a failed or expired export back to `pending` for attempt 1 under the same id, with its
    /// parameters and shares, and (when [`RetryExport::queue_body`] is set) its database-queue
    /// message, in one transaction; refused when it is in another state or its creator has too
    /// many exports in flight.
    async fn retry_export(&self, retry: &RetryExport) -> Result<RetryOutcome>;

    /// Attached to the AAO's database: makes our record of an export the AAO's API created, from
    /// its row and the queue message's retries and fields (in the message's order), unless we
    /// have one; elsewhere nothing to do. Called by the worker before it claims.
    async fn adopt_export(&self, id: Uuid, max_retries: u32, fields: &[String]) -> Result<()>;
    /// Takes the lease on an export for the message's attempt (compare-and-set): a pending export,
    /// or a processing one whose lease ran out.
    async fn claim_export(&self, id: Uuid, attempt: u32, owner: &str, now: i64, lease_until: i64) -> Result<Claim>;
    /// Extends the lease and records progress; false when the lease is no longer ours (the
    /// export was deleted or taken over).
    async fn renew_lease(
        &self,
        id: Uuid,
        owner: &str,
        now: i64,
        lease_until: i64,
        processed: u64,
        total: u64,
    ) -> Result<bool>;
    /// Ends a run under our lease; false when the lease was no longer ours.
    async fn finish_export(&self, id: Uuid, owner: &str, now: i64, finish: &Finish) -> Result<bool>;
    /// Exports that need their message sent again: pending and untouched since `stuck_before`, or
    /// processing under a lease that ran out before `now`; and not rescued since `stuck_before`.
    async fn exports_to_rescue(&self, now: i64, stuck_before: i64) -> Result<Vec<ExportRecord>>;
    /// Marks a stuck export rescued at `now`, if it is still stuck (as [`ExportsDb::exports_to_rescue`]
    /// means it). True for one caller only: the one that should send its message.
    async fn mark_rescued(&self, id: Uuid, now: i64, stuck_before: i64) -> Result<bool>;
    /// Marks completed exports finished before `completed_before` as expired; returns how many.
    async fn expire_exports(&self, completed_before: i64, now: i64) -> Result<u64>;
    /// Expired exports whose file is still to be deleted.
    async fn expired_files(&self) -> Result<Vec<ExpiredFile>>;
    /// Records that an expired export's file is gone.
    async fn forget_file(&self, id: Uuid) -> Result<()>;
}

/// The email notices of exports' final states: an outbox on the export row (migration 0007),
/// made due by `finish_export` when the creator has an email address.
#[async_trait]
pub trait NoticesDb: Send + Sync + 'static {
    /// Up to `limit` notices due at `now` and not under a live claim, oldest first.
    async fn due_notices(&self, now: i64, limit: u32) -> Result<Vec<DueNotice>>;
    /// Claims a notice until `until` (compare-and-set): false when another process has it, or it
    /// is no longer due.
    async fn claim_notice(&self, id: Uuid, now: i64, until: i64) -> Result<bool>;
    async fn notice_sent(&self, id: Uuid, now: i64) -> Result<()>;
    /// Sending failed: due again at `retry_at`, or never (`None`: given up).
    async fn notice_not_sent(&self, id: Uuid, retry_at: Option<i64>) -> Result<()>;
}

/// Rate limits: hits counted per bucket (`preview:{user id}`, say) in fixed windows of time
/// (milliseconds), shared by every process on the database.
#[async_trait]
pub trait LimitsDb: Send + Sync + 'static {
    /// Counts one hit in `bucket`'s window `[window_start, window_end)` and answers how many
    /// that window holds, this one included.
    async fn count_hit(&self, bucket: &str, window_start: i64, window_end: i64) -> Result<u32>;
    /// Forgets every window that ended by `ended_by`; answers how many.
    async fn purge_hits(&self, ended_by: i64) -> Result<u64>;
}

/// The table of the database queue (see the queue crate's `DbQueue`).
#[async_trait]
pub trait QueueTable: Send + Sync + 'static {
    async fn queue_send(&self, body: &str, now: i64, visible_at: i64) -> Result<()>;
    /// Up to `max` visible messages, hidden until `hidden_until` under a new receipt.
    async fn queue_receive(&self, max: u32, now: i64, hidden_until: i64) -> Result<Vec<QueueRow>>;
    /// Deletes a message if `receipt` is its latest; false otherwise.
    async fn queue_delete(&self, message_id: i64, receipt: &str) -> Result<bool>;
    async fn queue_change_visibility(&self, message_id: i64, receipt: &str, visible_at: i64) -> Result<bool>;
    /// Sets a message aside as dead (received too often).
    async fn queue_bury(&self, message_id: i64, receipt: &str) -> Result<bool>;
    /// (live messages, dead messages).
    async fn queue_depth(&self) -> Result<(u64, u64)>;
}

/// Where our objects go in the AAO's database, unless configured (`DATABASE_SCHEMA`).
pub const DEFAULT_SCHEMA: &str = "aao_export";

/// Connects to the database a URL names (`sqlite://…` or `postgres://…`) and migrates it; in the
/// AAO's database, our objects go to [`DEFAULT_SCHEMA`].
pub async fn connect(url: &str) -> Result<Arc<dyn Database>> {
    connect_in(url, DEFAULT_SCHEMA).await
}

/// [`connect`], with our objects in `schema` when the database is the AAO's.
pub async fn connect_in(url: &str, schema: &str) -> Result<Arc<dyn Database>> {
    let storage: Arc<dyn Database> = if url.starts_with("sqlite:") {
        Arc::new(Storage::sqlite(url).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(Storage::postgres(url, schema).await?)
    } else {
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        let shown = if scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) { scheme } else { "" };
        return Err(DbError::UnsupportedUrl(format!("{shown}://")));
    };
    storage.migrate().await?;
    Ok(storage)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn an_unsupported_url_is_named_by_its_scheme_alone() {
        for (url, shown) in [("mysql://u:hunter2@h/db", "mysql://"), (r#"{"password": "hunter2"}"#, "://")] {
            let Err(e) = super::connect(url).await else { panic!("{url} is refused") };
            let said = e.to_string();
            assert!(said.contains(&format!("starting {shown:?}")) && !said.contains("hunter2"), "{said}");
        }
    }
}
