//! One error type for the whole API, turned into HTTP in one place: the AAO envelope
//! `{"success": false, "comment": "<CODE>", "message": "<what is wrong>"}`.
//!
//! Client errors carry their status, code and a sentence naming the fault. Server errors
//! (database, queue, object store) are logged with their detail and answered with a generic
//! 500: nothing a client sends may reach them.

use aao_export_db::DbError;
use aao_export_queue::QueueError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// The `comment` codes the API answers with.
pub mod codes {
    pub const INVALID_JSON: &str = "INVALID_JSON";
    pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
    pub const UNKNOWN_USERS: &str = "UNKNOWN_USERS";
    pub const NO_VALID_AUTHENTICATION: &str = "NO_VALID_AUTHENTICATION";
    pub const INVALID_API_KEY: &str = "INVALID_API_KEY";
    pub const SESSION_TOKEN_EXPIRED: &str = "SESSION_TOKEN_EXPIRED";
    pub const UNAUTHORISED: &str = "UNAUTHORISED";
    pub const USER_NOT_FOUND: &str = "USER_NOT_FOUND";
    pub const USER_DISABLED: &str = "USER_DISABLED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const INVALID_SIGNATURE: &str = "INVALID_SIGNATURE";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    pub const LINK_EXPIRED: &str = "LINK_EXPIRED";
    pub const EXPORT_EXPIRED: &str = "EXPORT_EXPIRED";
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    pub const TOO_MANY_EXPORTS: &str = "TOO_MANY_EXPORTS";
    pub const NOT_READY: &str = "NOT_READY";
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A refusal the client can act on.
    #[error("{status} {comment}: {message}")]
    Client { status: StatusCode, comment: &'static str, message: String },
    /// The database is unreachable (readiness only).
    #[error("not ready: {0}")]
    NotReady(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("{0}")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, comment: &'static str, message: impl Into<String>) -> Self {
        ApiError::Client { status, comment, message: message.into() }
    }
    pub fn bad_request(comment: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, comment, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::bad_request(codes::INVALID_REQUEST, message)
    }
    pub fn unauthorised(comment: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, comment, message)
    }
    pub fn forbidden(comment: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, comment, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }
    pub fn gone(comment: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, comment, message)
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Client { status, .. } => *status,
            ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `comment` code.
    pub fn comment(&self) -> &'static str {
        match self {
            ApiError::Client { comment, .. } => comment,
            ApiError::NotReady(_) => codes::NOT_READY,
            _ => codes::INTERNAL_ERROR,
        }
    }
}

/// The error envelope.
pub fn envelope(comment: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"success": false, "comment": comment, "message": message})
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Client { message, .. } => message.clone(),
            ApiError::NotReady(detail) => {
                tracing::warn!(detail = %detail, "readiness check failed");
                "the service cannot reach its database; try again shortly".to_string()
            }
            other => {
                tracing::error!(error = %other, "request failed on the server's side");
                "the server could not complete the request; the failure has been logged".to_string()
            }
        };
        (status, axum::Json(envelope(self.comment(), &message))).into_response()
    }
}

/// `axum::Json`, with every rejection (bad JSON, a body that is not JSON, a body too large)
/// answered in the envelope.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<BodyLimit>().map(|l| l.0);
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection, limit)),
        }
    }
}

/// The body limit in force, as a request extension (for the 413 message).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

fn json_rejection(rejection: JsonRejection, limit: Option<usize>) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(codes::INVALID_JSON, format!("the body is not valid JSON: {}", source_text(&e.body_text()))),
        JsonRejection::JsonDataError(e) => ApiError::invalid(format!("the body has the wrong shape: {}", source_text(&e.body_text()))),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON, sent with the header Content-Type: application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let limit = limit.map_or_else(String::new, |n| format!(" ({n} bytes)"));
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, codes::PAYLOAD_TOO_LARGE, format!("the request body is larger than the API accepts{limit}"))
        }
        other => ApiError::invalid(format!("the request body could not be read: {}", other.body_text())),
    }
}

/// axum's rejection text is "Failed to …: {serde's message}"; keep serde's part.
fn source_text(text: &str) -> String {
    text.split_once(": ").map_or(text, |(_, detail)| detail).to_string()
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// One path segment (an export id), whatever bytes it holds: a segment axum cannot decode is
/// answered like an id that names nothing (404 in the envelope), never with axum's plain text.
#[derive(Debug, Clone)]
pub struct Segment(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Segment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(segment)) => Ok(Segment(segment)),
            Err(_) => Err(ApiError::not_found("no such export: export ids are UUIDs")),
        }
    }
}

/// The pairs of a query string, in order; a malformed query string is a 400.
pub fn query_pairs(uri: &axum::http::Uri) -> ApiResult<Vec<(String, String)>> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| ApiError::invalid(format!("the query string is malformed: {}", source_text(&e.body_text()))))
}
