//! Exports as the service sees them: the request a user sends, its statuses and their
//! transitions, the queue message, and the storage key of the finished ZIP.

use crate::api::CreateExportRequest;
use crate::fields::{ExportableField, resolve_fields};
use crate::query::Query;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// `pending → processing → completed | failed`, `completed → expired` (DESIGN.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Status)]
pub enum ExportStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    Expired,
}

impl ExportStatus {
    pub const ALL: [ExportStatus; 5] = [Self::Pending, Self::Processing, Self::Completed, Self::Failed, Self::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Still to be built or being built: counts against a user's exports in flight.
    pub fn in_flight(self) -> bool {
        matches!(self, Self::Pending | Self::Processing)
    }

    /// The status a reader sees at `now_ms`: a completed export older than the expiry period
    /// reads as expired even before the sweeper has marked it.
    pub fn as_seen(self, completed_at_ms: Option<i64>, now_ms: i64, expiry_ms: i64) -> Self {
        match (self, completed_at_ms) {
            (Self::Completed, Some(done)) if now_ms.saturating_sub(done) >= expiry_ms => Self::Expired,
            (status, _) => status,
        }
    }
}

impl fmt::Display for ExportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The immutable parameters of an export, as the status object and the queue message show them.
/// `fields` holds the resolved paths (the defaults spelled out when none were asked for).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportParameters {
    #[schema(value_type = crate::api::QueryDoc)]
    pub query: Value,
    pub include_images: bool,
    /// The field paths, resolved (defaults spelled out)
    pub fields: Vec<String>,
}

/// The queue message (the spec's payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    pub export_id: uuid::Uuid,
    pub creator_id: String,
    pub export_parameters: ExportParameters,
    pub attempt: u32,
    pub max_retries: u32,
}

impl JobMessage {
    /// The message that runs `record`'s current attempt: the only way a job message is made.
    pub fn for_attempt(record: &ExportRecord, attempt: u32) -> Self {
        JobMessage {
            export_id: record.export_id,
            creator_id: record.creator_id.clone(),
            export_parameters: record.parameters.clone(),
            attempt,
            max_retries: record.max_retries,
        }
    }

    /// The message as the queue carries it.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a job message serialises")
    }
}

/// One export as stored, with its fields (in request order) and the users it is shared with.
/// Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRecord {
    pub export_id: uuid::Uuid,
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
    /// How many times a user was handed its download URL (the `export_downloads` rows).
    pub download_count: u64,
}

impl ExportRecord {
    /// A pending export as it is first written (attempt 1, nothing started).
    pub fn pending(
        export_id: uuid::Uuid,
        creator_id: &str,
        parameters: ExportParameters,
        max_retries: u32,
        created_at: i64,
    ) -> Self {
        ExportRecord {
            export_id,
            creator_id: creator_id.to_string(),
            parameters,
            shared_with: Vec::new(),
            status: ExportStatus::Pending,
            object_location: None,
            created_at,
            updated_at: created_at,
            started_at: None,
            completed_at: None,
            message: None,
            attempt: 1,
            max_retries,
            lease_owner: None,
            lease_expires_at: None,
            progress_processed: 0,
            progress_total: None,
            size_bytes: None,
            ad_count: None,
            image_count: None,
            download_count: 0,
        }
    }

    /// The status a reader sees at `now` (a completed export past its expiry reads as expired).
    pub fn status_at(&self, now: i64, expiry_ms: i64) -> ExportStatus {
        self.status.as_seen(self.completed_at, now, expiry_ms)
    }

    /// When a completed export expires.
    pub fn expires_at(&self, expiry_ms: i64) -> Option<i64> {
        self.completed_at.map(|c| c.saturating_add(expiry_ms))
    }
}

/// A `POST /exports` body that was accepted: the query parsed and the fields resolved.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub query_json: Value,
    pub query: Query,
    pub include_images: bool,
    pub fields: Vec<ExportableField>,
}

impl ExportRequest {
    /// The parameters as stored and shown.
    pub fn parameters(&self) -> ExportParameters {
        ExportParameters {
            query: self.query_json.clone(),
            include_images: self.include_images,
            fields: self.fields.iter().map(|f| f.path.clone()).collect(),
        }
    }
}

/// Why a `POST /exports` body was refused; the message names the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

impl ExportRequest {
    /// Validates a request body: its shape ([`CreateExportRequest::from_json`]), then the query and
    /// the fields against the catalogue.
    pub fn from_json(body: &Value, catalogue: &[ExportableField]) -> Result<Self, RequestError> {
        Self::resolve(&CreateExportRequest::from_json(body)?, catalogue)
    }

    /// Parses the query and resolves the fields (none or an empty list: the catalogue's defaults).
    pub fn resolve(request: &CreateExportRequest, catalogue: &[ExportableField]) -> Result<Self, RequestError> {
        let query = Query::from_json(&request.query).map_err(|e| RequestError(e.to_string()))?;
        let fields = resolve_fields(request.fields.as_deref(), catalogue).map_err(|e| RequestError(e.to_string()))?;
        Ok(ExportRequest {
            query_json: request.query.clone(),
            query,
            include_images: request.include_images.unwrap_or(false),
            fields,
        })
    }
}

/// The most user ids one share or unshare request may name.
pub const MAX_SHARE_IDS: usize = 1000;

/// The JSON type of a value, for error messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Where a finished export is stored: `outputs/{creator_id}_{export_id}_{YYYYMMDDHHMMSS}.zip`,
/// with the creator id reduced to characters that are safe in any object store key.
pub fn object_key(creator_id: &str, export_id: uuid::Uuid, created_at_ms: i64) -> String {
    let created = chrono::DateTime::from_timestamp_millis(created_at_ms).unwrap_or_default();
    let creator: String =
        creator_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    format!("outputs/{creator}_{export_id}_{}.zip", created.format("%Y%m%d%H%M%S"))
}

/// The file name a download is saved under.
pub fn download_name(export_id: uuid::Uuid) -> String {
    format!("export_{export_id}.zip")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::seed_fields;
    use serde_json::json;

    fn refused(body: Value) -> String {
        ExportRequest::from_json(&body, &seed_fields()).unwrap_err().0
    }

    #[test]
    fn a_request_resolves_its_fields_and_keeps_the_query() {
        let r = ExportRequest::from_json(
            &json!({"query": {"method": "ALL"}, "include_images": true, "fields": ["tags", "ocr.text"]}),
            &seed_fields(),
        )
        .unwrap();
        assert_eq!(
            r.parameters(),
            ExportParameters {
                query: json!({"method": "ALL"}),
                include_images: true,
                fields: vec!["tags".into(), "ocr.text".into()]
            }
        );
        let defaults = ExportRequest::from_json(&json!({"query": {"method": "ALL"}}), &seed_fields()).unwrap();
        assert!(!defaults.include_images);
        assert_eq!(defaults.fields.len(), 13);
    }

    #[test]
    fn bad_requests_name_what_is_wrong() {
        assert_eq!(refused(json!([1])), "the body must be a JSON object, found a list");
        assert!(refused(json!({"include_images": true})).starts_with("query: missing"));
        assert!(refused(json!({"query": {"method": "FOO"}})).starts_with("query.method: unknown method \"FOO\""));
        assert_eq!(
            refused(json!({"query": {"method": "ALL"}, "include_images": "yes"})),
            "include_images: must be true or false, found a string"
        );
        assert_eq!(
            refused(json!({"query": {"method": "ALL"}, "fields": "tags"})),
            "fields: must be a list of field paths, found a string"
        );
        assert_eq!(
            refused(json!({"query": {"method": "ALL"}, "fields": ["tags", 3]})),
            "fields[1]: must be a field path (a string), found a number"
        );
        assert!(refused(json!({"query": {"method": "ALL"}, "fields": ["nope"]})).contains("unknown field \"nope\""));
        assert!(refused(json!({"query": {"method": "ALL"}, "filds": []})).starts_with("unknown key \"filds\""));
    }

    #[test]
    fn user_id_lists_are_checked() {
        let parse_user_ids = |v: &Value| crate::api::ShareRequest::from_json(v).map(|r| r.user_ids);
        assert_eq!(parse_user_ids(&json!({"user_ids": ["a", "b", "a"]})).unwrap(), ["a", "b"]);
        assert_eq!(parse_user_ids(&json!({"user_ids": []})).unwrap_err().0, "user_ids: the list is empty");
        assert_eq!(
            parse_user_ids(&json!({"user_ids": "a"})).unwrap_err().0,
            "user_ids: must be a list of user ids, found a string"
        );
        assert_eq!(
            parse_user_ids(&json!({"user_ids": ["a", 1]})).unwrap_err().0,
            "user_ids[1]: must be a user id (a string), found a number"
        );
        assert!(parse_user_ids(&json!({"users": ["a"]})).unwrap_err().0.starts_with("unknown key \"users\""));
    }

    #[test]
    fn statuses_round_trip_and_completed_exports_expire() {
        for s in ExportStatus::ALL {
            assert_eq!(ExportStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        let day = 86_400_000;
        assert_eq!(ExportStatus::Completed.as_seen(Some(0), 7 * day - 1, 7 * day), ExportStatus::Completed);
        assert_eq!(ExportStatus::Completed.as_seen(Some(0), 7 * day, 7 * day), ExportStatus::Expired);
        assert_eq!(ExportStatus::Failed.as_seen(Some(0), 70 * day, 7 * day), ExportStatus::Failed);
    }

    #[test]
    fn object_keys_follow_the_spec() {
        let id = uuid::Uuid::nil();
        assert_eq!(object_key("user_1", id, 1_767_787_200_000), format!("outputs/user_1_{id}_20260107120000.zip"));
        assert_eq!(object_key("../evil/x", id, 0), format!("outputs/---evil-x_{id}_19700101000000.zip"));
        assert_eq!(download_name(id), format!("export_{id}.zip"));
    }
}
