//! Exports as the service sees them: the request a user sends, its statuses and their
//! transitions, the queue message, and the storage key of the finished ZIP.

use crate::fields::{resolve_fields, ExportableField};
use crate::query::Query;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// `pending → processing → completed | failed`, `completed → expired` (DESIGN.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportParameters {
    pub query: Value,
    pub include_images: bool,
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

const REQUEST_KEYS: [&str; 3] = ["query", "include_images", "fields"];

impl ExportRequest {
    /// Validates a request body: `{query, include_images?, fields?}` and nothing else.
    pub fn from_json(body: &Value, catalogue: &[ExportableField]) -> Result<Self, RequestError> {
        let object = body.as_object().ok_or_else(|| RequestError(format!("the body must be a JSON object, found {}", kind(body))))?;
        let unknown: Vec<&str> = object.keys().map(String::as_str).filter(|k| !REQUEST_KEYS.contains(k)).collect();
        if !unknown.is_empty() {
            return Err(RequestError(format!(
                "unknown key{} {}; a request has \"query\", \"include_images\" and \"fields\"",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ")
            )));
        }
        let query_json = object.get("query").ok_or_else(|| RequestError("query: missing; e.g. {\"method\": \"ALL\"}".into()))?;
        let query = Query::from_json(query_json).map_err(|e| RequestError(e.to_string()))?;
        let include_images = match object.get("include_images") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(RequestError(format!("include_images: must be true or false, found {}", kind(other)))),
        };
        let requested = match object.get("fields") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v.as_str().map(str::to_string).ok_or_else(|| RequestError(format!("fields[{i}]: must be a field path (a string), found {}", kind(v)))))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(other) => return Err(RequestError(format!("fields: must be a list of field paths, found {}", kind(other)))),
        };
        let fields = resolve_fields(requested.as_deref(), catalogue).map_err(|e| RequestError(e.to_string()))?;
        Ok(ExportRequest { query_json: query_json.clone(), query, include_images, fields })
    }
}

/// Parses a share or unshare body: `{"user_ids": ["…", …]}` with at least one id.
pub fn parse_user_ids(body: &Value) -> Result<Vec<String>, RequestError> {
    let object = body.as_object().ok_or_else(|| RequestError(format!("the body must be a JSON object, found {}", kind(body))))?;
    if let Some(k) = object.keys().find(|k| *k != "user_ids") {
        return Err(RequestError(format!("unknown key {k:?}; the body is {{\"user_ids\": [...]}}")));
    }
    let list = match object.get("user_ids") {
        Some(Value::Array(list)) => list,
        Some(other) => return Err(RequestError(format!("user_ids: must be a list of user ids, found {}", kind(other)))),
        None => return Err(RequestError("user_ids: missing; the body is {\"user_ids\": [...]}".into())),
    };
    if list.is_empty() {
        return Err(RequestError("user_ids: the list is empty".into()));
    }
    if list.len() > MAX_SHARE_IDS {
        return Err(RequestError(format!("user_ids: at most {MAX_SHARE_IDS} ids at once, found {}", list.len())));
    }
    let mut ids: Vec<String> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match v.as_str() {
            Some(s) if !s.trim().is_empty() => {
                if !ids.iter().any(|x| x == s) {
                    ids.push(s.to_string());
                }
            }
            Some(_) => return Err(RequestError(format!("user_ids[{i}]: empty user id"))),
            None => return Err(RequestError(format!("user_ids[{i}]: must be a user id (a string), found {}", kind(v)))),
        }
    }
    Ok(ids)
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
    let creator: String = creator_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    format!("outputs/{creator}_{export_id}_{}.zip", created.format("%Y%m%d%H%M%S"))
}

/// The file name a download is saved under.
pub fn download_name(export_id: uuid::Uuid) -> String {
    format!("export_{export_id}.zip")
}

/// RFC 3339 UTC with seconds, as every timestamp in the API.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A JSON object from pairs, keeping their order.
pub fn ordered(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>())
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
        let r = ExportRequest::from_json(&json!({"query": {"method": "ALL"}, "include_images": true, "fields": ["tags", "ocr.text"]}), &seed_fields()).unwrap();
        assert_eq!(r.parameters(), ExportParameters { query: json!({"method": "ALL"}), include_images: true, fields: vec!["tags".into(), "ocr.text".into()] });
        let defaults = ExportRequest::from_json(&json!({"query": {"method": "ALL"}}), &seed_fields()).unwrap();
        assert!(!defaults.include_images);
        assert_eq!(defaults.fields.len(), 13);
    }

    #[test]
    fn bad_requests_name_what_is_wrong() {
        assert_eq!(refused(json!([1])), "the body must be a JSON object, found a list");
        assert!(refused(json!({"include_images": true})).starts_with("query: missing"));
        assert!(refused(json!({"query": {"method": "FOO"}})).starts_with("query.method: unknown method \"FOO\""));
        assert_eq!(refused(json!({"query": {"method": "ALL"}, "include_images": "yes"})), "include_images: must be true or false, found a string");
        assert_eq!(refused(json!({"query": {"method": "ALL"}, "fields": "tags"})), "fields: must be a list of field paths, found a string");
        assert_eq!(refused(json!({"query": {"method": "ALL"}, "fields": ["tags", 3]})), "fields[1]: must be a field path (a string), found a number");
        assert!(refused(json!({"query": {"method": "ALL"}, "fields": ["nope"]})).contains("unknown field \"nope\""));
        assert!(refused(json!({"query": {"method": "ALL"}, "filds": []})).starts_with("unknown key \"filds\""));
    }

    #[test]
    fn user_id_lists_are_checked() {
        assert_eq!(parse_user_ids(&json!({"user_ids": ["a", "b", "a"]})).unwrap(), ["a", "b"]);
        assert_eq!(parse_user_ids(&json!({"user_ids": []})).unwrap_err().0, "user_ids: the list is empty");
        assert_eq!(parse_user_ids(&json!({"user_ids": "a"})).unwrap_err().0, "user_ids: must be a list of user ids, found a string");
        assert_eq!(parse_user_ids(&json!({"user_ids": ["a", 1]})).unwrap_err().0, "user_ids[1]: must be a user id (a string), found a number");
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
