//! The API's request and response bodies, as types: the JSON handlers answer with them, the pages
//! and the Lambda adapters use the same ones, and the OpenAPI document is generated from them
//! (`utoipa::ToSchema`). Field order is the order on the wire.

use crate::archive::{FieldDescription, MissingImage, ReportListing};
use crate::export::{ExportParameters, ExportRecord, ExportStatus, RequestError};
use crate::time::rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// An AAO query: `{"method": NAME, "args": [...]}` (documented as the `Query` schema).
#[derive(ToSchema)]
#[schema(
    as = Query,
    description = "An AAO query: {\"method\": NAME, \"args\": [...]}. ALL takes no args; AND and OR take queries; NOT takes one query; DATETIME_AFTER and DATETIME_BEFORE take epoch milliseconds (as a string); the text methods take phrases."
)]
pub struct QueryDoc {
    /// One of ALL, AND, OR, NOT, DATETIME_AFTER, DATETIME_BEFORE, OBSERVER_ID_CONTAINS, OBSERVER_ID_EQUALS, OBSERVATION_ID_CONTAINS, PAGE_NAME_CONTAINS, CATEGORIES_CONTAINS, ANYTHING_CONTAINS
    pub method: String,
    /// Sub-queries, phrases or an instant, by method
    #[schema(value_type = Option<Vec<Object>>)]
    pub args: Option<Vec<Value>>,
}

/// The body of `POST /exports`: `{query, include_images?, fields?}` and nothing else; its
/// `Deserialize` (in [`crate::body`]) is the one check of its shape, naming the key at fault.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({"query": {"method": "OBSERVER_ID_CONTAINS", "args": ["123456"]}, "include_images": true, "fields": ["observation_id", "observer_id", "ocr.text", "tags"]}))]
pub struct CreateExportRequest {
    #[schema(value_type = QueryDoc)]
    pub query: Value,
    /// Put each ad's images in the ZIP (default false)
    pub include_images: Option<bool>,
    /// Field paths (GET /exports/fields), in the order wanted; none means the default fields
    pub fields: Option<Vec<String>>,
}

impl CreateExportRequest {
    /// Reads a body ([`crate::body::from_value`]). The query and fields themselves are checked
    /// against the catalogue later ([`crate::export::ExportRequest::resolve`]).
    pub fn from_json(body: &Value) -> Result<Self, RequestError> {
        crate::body::from_value(body)
    }
}

/// The body of `POST /exports/{export_id}/share` and `/unshare`: `{"user_ids": ["…", …]}` with at
/// least one id; repeats are dropped.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({"user_ids": ["user_67890", "user_54321"]}))]
pub struct ShareRequest {
    /// Ids of users (GET /users), at least one
    #[schema(min_items = 1, max_items = 1000)]
    pub user_ids: Vec<String>,
}

impl ShareRequest {
    /// Reads a body ([`crate::body::from_value`]).
    pub fn from_json(body: &Value) -> Result<Self, RequestError> {
        crate::body::from_value(body)
    }
}

/// The body of `POST /auth/login`: `{"username": "…", "password": "…"}`, both non-empty strings,
/// and nothing else. The password never prints (`Debug` hides it).
#[derive(Clone, PartialEq, Eq, ToSchema)]
#[schema(example = json!({"username": "jane", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    /// The username of the user's local identity (often the user id)
    pub username: String,
    #[schema(format = Password)]
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").field("username", &self.username).field("password", &"[redacted]").finish()
    }
}

impl LoginRequest {
    /// Reads a body ([`crate::body::from_value`]).
    pub fn from_json(body: &Value) -> Result<Self, RequestError> {
        crate::body::from_value(body)
    }
}

/// The signed-in user: the answer to `GET /auth/me`, and `user` in the answer to `POST /auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionUser {
    pub id: String,
    pub full_name: String,
    /// admin, user or guest
    pub role: String,
}

/// The answer to `POST /auth/login`: the user, and the session's bearer token (the same token the
/// `aao_session` cookie holds), for clients that keep it themselves, as the AAO's dashboard does.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Always true
    pub success: bool,
    pub user: SessionUser,
    /// A bearer token for `Authorization: Bearer …`, valid as long as the session
    pub token: String,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse").field("user", &self.user).field("token", &"[redacted]").finish()
    }
}

/// `POST /auth/verify`, as the AAO's API takes it: is this bearer token (still) good?
/// `{"token": "…"}`, a non-empty string, and nothing else.
#[derive(Clone, PartialEq, Eq, ToSchema)]
#[schema(example = json!({"token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJl"}))]
pub struct VerifyRequest {
    pub token: String,
}

impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest").field("token", &"[redacted]").finish()
    }
}

impl VerifyRequest {
    /// Reads a body ([`crate::body::from_value`]).
    pub fn from_json(body: &Value) -> Result<Self, RequestError> {
        crate::body::from_value(body)
    }
}

/// Ads written so far, of how many.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    pub processed: u64,
    pub total: Option<u64>,
}

/// The status object: the spec's fields in the spec's order, then the additive ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = ExportStatus)]
pub struct ExportStatusObject {
    pub export_id: Uuid,
    pub creator_id: String,
    pub export_parameters: ExportParameters,
    /// Ids of the users the export is shared with
    pub shared_with: Vec<String>,
    pub status: ExportStatus,
    /// A download link, while completed: valid for at most an hour and never past the expiry
    pub url: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the export last changed
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// When a worker started building it
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    /// When it completed
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    /// What went wrong, for a failed export (or a retried attempt)
    pub message: Option<String>,
    pub progress: Progress,
    /// The current attempt (1 = the first)
    pub attempt: u32,
    /// The ZIP's size, once completed
    pub size_bytes: Option<u64>,
    /// Ads in the ZIP, once completed
    pub ad_count: Option<u64>,
    /// Images in the ZIP, once completed
    pub image_count: Option<u64>,
    /// When a completed export expires and its file is deleted
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// How many times a user was handed its download URL (GET /exports/{export_id}/download, or
    /// GET /exports/{export_id} answering with a url); GET /exports/{export_id}/downloads lists them
    pub download_count: u64,
}

impl ExportStatusObject {
    /// The status object of a record as a reader sees it at `now`, completed exports expiring
    /// after `expiry_ms`. `url` is the download link, shown only while completed.
    pub fn new(record: &ExportRecord, url: Option<String>, now: i64, expiry_ms: i64) -> Self {
        let status = record.status_at(now, expiry_ms);
        ExportStatusObject {
            export_id: record.export_id,
            creator_id: record.creator_id.clone(),
            export_parameters: record.parameters.clone(),
            shared_with: record.shared_with.clone(),
            status,
            url: if status == ExportStatus::Completed { url } else { None },
            created_at: rfc3339(record.created_at),
            updated_at: rfc3339(record.updated_at),
            started_at: record.started_at.map(rfc3339),
            completed_at: record.completed_at.map(rfc3339),
            message: record.message.clone(),
            progress: Progress { processed: record.progress_processed, total: record.progress_total },
            attempt: record.attempt,
            size_bytes: record.size_bytes,
            ad_count: record.ad_count,
            image_count: record.image_count,
            expires_at: record.expires_at(expiry_ms).map(rfc3339),
            download_count: record.download_count,
        }
    }
}

/// `export_details.json`: the status object without `url`, `status` and what only a live export
/// has, plus what the archive holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportDetails {
    pub export_id: Uuid,
    pub creator_id: String,
    pub export_parameters: ExportParameters,
    pub shared_with: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    /// When the service deletes its copy (absent for an export made outside the service)
    pub expires_at: Option<String>,
    pub message: Option<String>,
    pub fields: Vec<FieldDescription>,
    pub ad_count: u64,
    pub image_count: u64,
    pub image_bytes: u64,
    pub csv_bytes: u64,
    pub all_data_csv_sha256: String,
    pub missing_image_count: u64,
    pub missing_images: Vec<MissingImage>,
    /// The report for people: `report.html` and its pages
    pub report: ReportListing,
}

/// What the archive holds, for [`ExportDetails`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArchiveContents {
    pub fields: Vec<FieldDescription>,
    pub ad_count: u64,
    pub image_count: u64,
    pub image_bytes: u64,
    pub csv_bytes: u64,
    pub all_data_csv_sha256: String,
    pub missing_image_count: u64,
    pub missing_images: Vec<MissingImage>,
}

impl ExportDetails {
    pub fn new(status: ExportStatusObject, contents: ArchiveContents) -> Self {
        ExportDetails {
            export_id: status.export_id,
            creator_id: status.creator_id,
            export_parameters: status.export_parameters,
            shared_with: status.shared_with,
            created_at: status.created_at,
            updated_at: status.updated_at,
            started_at: status.started_at,
            completed_at: status.completed_at,
            expires_at: status.expires_at,
            message: status.message,
            fields: contents.fields,
            ad_count: contents.ad_count,
            image_count: contents.image_count,
            image_bytes: contents.image_bytes,
            csv_bytes: contents.csv_bytes,
            all_data_csv_sha256: contents.all_data_csv_sha256,
            missing_image_count: contents.missing_image_count,
            missing_images: contents.missing_images,
            // The report's pages follow from the ad count alone (a fixed number of ads a page).
            report: ReportListing::for_ads(contents.ad_count),
        }
    }
}

/// The answer to `POST /exports`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedExport {
    /// Always true
    pub success: bool,
    pub export: ExportStatusObject,
}

/// The body of `POST /exports/preview`: the body of `POST /exports`, checked the same way.
pub type PreviewRequest = CreateExportRequest;

/// The answer to `POST /exports/preview`: what the export would hold, estimated from the
/// catalogue, and its first ads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "ad_count": 1985,
    "image_count": 3955,
    "estimated_bytes": {"without_images": 1354909, "with_images": 382236560},
    "ads": [{
        "observation_id": "820cc69e-3ebc-4b9e-93c7-5e5e98dfa79c",
        "platform": "TIKTOK",
        "observed_at": "2026-09-30T23:05:18Z",
        "page_name": "CareerLink Australia",
        "image_urls": [
            "/ads/820cc69e-3ebc-4b9e-93c7-5e5e98dfa79c/images/1",
            "/ads/820cc69e-3ebc-4b9e-93c7-5e5e98dfa79c/images/2",
            "/ads/820cc69e-3ebc-4b9e-93c7-5e5e98dfa79c/images/3"
        ]
    }],
    "estimated": false
}))]
pub struct Preview {
    /// Ads the query selects (what the export would hold)
    pub ad_count: u64,
    /// Their images found in the observations store when they were indexed
    pub image_count: u64,
    pub estimated_bytes: EstimatedBytes,
    /// The first matching ads (at most 24), newest first
    pub ads: Vec<PreviewAd>,
    /// True when the query was too broad to count within the preview's time: `ad_count`,
    /// `image_count` and `estimated_bytes` are then scaled from about 10,000 ads spread over the
    /// catalogue, and `ads` may be empty. The export itself always holds every matching ad.
    pub estimated: bool,
}

/// The ZIP's estimated size, both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EstimatedBytes {
    /// With include_images false
    pub without_images: u64,
    /// With include_images true
    pub with_images: u64,
}

/// One ad of a preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreviewAd {
    pub observation_id: String,
    /// observation.platform (FACEBOOK, INSTAGRAM, TIKTOK, YOUTUBE, ...)
    pub platform: Option<String>,
    /// observation.observed_on_device_at
    #[schema(format = DateTime)]
    pub observed_at: String,
    /// The page name of the best-ranked Meta Ad Library candidate
    pub page_name: Option<String>,
    /// The ad's images (media[] in order), relative to the API: GET /ads/{observation_id}/images/{n}
    pub image_urls: Vec<String>,
}

/// Which way a user was handed an export's download URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DownloadVia {
    /// GET /exports/{export_id}/download: the stable link, answered with a redirect
    Link,
    /// GET /exports/{export_id}: a status read that carried a url
    Api,
}

impl DownloadVia {
    pub const ALL: [DownloadVia; 2] = [Self::Link, Self::Api];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One download of an export: who was handed its URL, when, and which way. An item of the answer
/// to `GET /exports/{export_id}/downloads`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"user_id": "user_67890", "full_name": "Jane Researcher", "downloaded_at": "2026-01-07T12:10:00Z", "via": "link"}))]
pub struct Download {
    pub user_id: String,
    /// The user's name (null for a user no longer in the users table)
    pub full_name: Option<String>,
    #[schema(format = DateTime)]
    pub downloaded_at: String,
    pub via: DownloadVia,
}

/// The answer to share and unshare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShareResponse {
    /// Always true
    pub success: bool,
    /// The users the export is now shared with
    pub shared_with: Vec<String>,
}

/// The answer to an action that returns nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Success {
    /// Always true
    pub success: bool,
}

/// A user one may share with; `username`, `enabled`, `role` and `provider` as the AAO's API
/// gives them (from the user's sign-in identity, the local one first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserSummary {
    pub id: String,
    pub full_name: String,
    /// The username the user signs in with (the identity's provider_user_id); null without one
    pub username: Option<String>,
    pub enabled: bool,
    /// admin, user or guest
    pub role: String,
    /// local or cilogon; null without an identity
    pub provider: Option<String>,
}

/// One field of `GET /exports/fields`: the catalogue's field, with its id also as `id` (the key
/// the AAO's dashboard reads).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldListing {
    /// The same as field_id
    pub id: Uuid,
    #[serde(flatten)]
    pub field: crate::fields::ExportableField,
}

/// Liveness and readiness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// "ok"
    pub status: String,
}

/// Every refusal: the AAO envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// Always false
    pub success: bool,
    /// What kind of refusal (the message says what exactly); the API's description lists the codes
    pub comment: String,
    /// A sentence saying what is wrong
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_checked_by_shape() {
        let ok = CreateExportRequest::from_json(
            &json!({"query": {"method": "ALL"}, "include_images": null, "fields": ["a"]}),
        )
        .unwrap();
        assert_eq!(
            ok,
            CreateExportRequest {
                query: json!({"method": "ALL"}),
                include_images: None,
                fields: Some(vec!["a".into()])
            }
        );
        let refused = |v: Value| CreateExportRequest::from_json(&v).unwrap_err().0;
        assert_eq!(refused(json!("x")), "the body must be a JSON object, found a string");
        assert_eq!(
            refused(json!({"query": 1, "a": 1, "b": 2})),
            "unknown keys \"a\", \"b\"; a request has \"query\", \"include_images\" and \"fields\""
        );
        assert_eq!(ShareRequest::from_json(&json!({"user_ids": ["a", "a", "b"]})).unwrap().user_ids, ["a", "b"]);
    }

    #[test]
    fn a_login_body_names_the_key_at_fault_and_never_prints_the_password() {
        let ok = LoginRequest::from_json(&json!({"username": "jane", "password": "hunter2hunter2"})).unwrap();
        assert_eq!((ok.username.as_str(), ok.password.as_str()), ("jane", "hunter2hunter2"));
        assert!(!format!("{ok:?}").contains("hunter2"), "{ok:?}");
        let refused = |v: Value| LoginRequest::from_json(&v).unwrap_err().0;
        assert_eq!(refused(json!([])), "the body must be a JSON object, found a list");
        assert!(refused(json!({"password": "x"})).starts_with("username: missing"));
        assert!(refused(json!({"username": "x"})).starts_with("password: missing"));
        assert_eq!(refused(json!({"username": 5, "password": "x"})), "username: must be a string, found a number");
        assert_eq!(refused(json!({"username": "x", "password": null})), "password: must be a string, found null");
        assert_eq!(refused(json!({"username": "", "password": "x"})), "username: empty");
        assert!(
            refused(json!({"username": "x", "password": "y", "remember": true}))
                .starts_with("unknown key \"remember\"")
        );
    }

    #[test]
    fn the_status_object_hides_the_link_unless_completed() {
        let parameters = ExportParameters { query: json!({"method": "ALL"}), include_images: false, fields: vec![] };
        let mut record = ExportRecord::pending(Uuid::nil(), "u", parameters, 3, 0);
        let pending = ExportStatusObject::new(&record, Some("http://x".into()), 10, 100);
        assert_eq!((pending.status, pending.url, pending.expires_at), (ExportStatus::Pending, None, None));
        record.status = ExportStatus::Completed;
        record.completed_at = Some(5);
        assert_eq!(ExportStatusObject::new(&record, Some("http://x".into()), 10, 100).url.as_deref(), Some("http://x"));
        let expired = ExportStatusObject::new(&record, Some("http://x".into()), 105, 100);
        assert_eq!((expired.status, expired.url), (ExportStatus::Expired, None));
    }
}
