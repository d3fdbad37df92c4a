//! The service's records: exports with their fields and shares, API keys, and the rows of the
//! database queue. Times are epoch milliseconds, as every table stores them.

use aao_export_core::export::{ExportParameters, ExportStatus};
use uuid::Uuid;

/// One export as stored, with its fields (in request order) and the users it is shared with.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRecord {
    pub export_id: Uuid,
    pub creator_id: String,
    pub parameters: ExportParameters,
    pub shared_with: Vec<String>,
    pub status: ExportStatus,
    /// The key of the ZIP in the exports store, once completed.
    pub object_location: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub message: Option<String>,
    pub attempt: u32,
    pub max_retries: u32,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub progress_processed: u64,
    pub progress_total: Option<u64>,
    pub size_bytes: Option<u64>,
    pub ad_count: Option<u64>,
    pub image_count: Option<u64>,
}

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
    Completed { object_location: String, s3_url: String, size_bytes: u64, ad_count: u64, image_count: u64 },
    /// Back to `pending` for attempt `next_attempt`, with what went wrong.
    Retry { next_attempt: u32, message: String },
    Failed { message: String },
}

/// A stored API key: the user it belongs to and the SHA-256 (hex) of its secret part.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub key_id: String,
    pub user_id: String,
    pub secret_hash: String,
    pub created_at: i64,
}

/// A message received from the database queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    pub message_id: i64,
    pub body: String,
    pub receive_count: u32,
    pub receipt: String,
}

/// A completed export whose file the sweeper still has to delete.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiredFile {
    pub export_id: Uuid,
    pub object_location: String,
}

impl ExportRecord {
    /// The status object of the API (the spec's fields in the spec's order, then the additive
    /// ones), as a reader sees it at `now` with completed exports expiring after `expiry_ms`.
    /// `url` is the download link (only meaningful while completed). `export_details.json` is
    /// this object without `url` and `status`.
    pub fn status_object(&self, url: Option<String>, now: i64, expiry_ms: i64) -> serde_json::Value {
        use aao_export_core::export::{ordered, rfc3339};
        use serde_json::{json, Value};
        let status = self.status.as_seen(self.completed_at, now, expiry_ms);
        let url = if status == ExportStatus::Completed { url } else { None };
        let time = |t: Option<i64>| t.map_or(Value::Null, |ms| Value::String(rfc3339(ms)));
        ordered([
            ("export_id", json!(self.export_id)),
            ("creator_id", json!(self.creator_id)),
            ("export_parameters", json!(self.parameters)),
            ("shared_with", json!(self.shared_with)),
            ("status", json!(status)),
            ("url", json!(url)),
            ("created_at", time(Some(self.created_at))),
            ("updated_at", time(Some(self.updated_at))),
            ("started_at", time(self.started_at)),
            ("completed_at", time(self.completed_at)),
            ("message", json!(self.message)),
            ("progress", json!({"processed": self.progress_processed, "total": self.progress_total})),
            ("attempt", json!(self.attempt)),
            ("size_bytes", json!(self.size_bytes)),
            ("ad_count", json!(self.ad_count)),
            ("image_count", json!(self.image_count)),
            ("expires_at", time(self.completed_at.map(|c| c.saturating_add(expiry_ms)))),
        ])
    }
}
