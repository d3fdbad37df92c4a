//! One error type for the whole API, turned into HTTP in one place: the AAO envelope
//! `{"success": false, "comment": "<CODE>", "message": "<what is wrong>"}`.
//!
//! Refusals from the service layer carry their kind (mapped to a status here, in [`status_of`]),
//! code and a sentence naming the fault. A busy database is a 503 with `Retry-After`. Other
//! failures (database, queue, object store) are logged with their detail and answered with a
//! generic 500: nothing a client sends may reach them.

use aao_export_service::{Code, Refusal, RefusalKind, ServiceError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// What only HTTP refuses or answers (the use cases' refusals are [`Code`]s): each code with its
/// status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpCode {
    InvalidJson,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RangeNotSatisfiable,
    /// A state-changing request signed in by the session cookie that does not come from the
    /// service's own origin.
    InvalidOrigin,
    Busy,
    NotReady,
    InternalError,
}

impl HttpCode {
    pub const ALL: [HttpCode; 9] = [
        Self::InvalidJson,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RangeNotSatisfiable,
        Self::InvalidOrigin,
        Self::Busy,
        Self::NotReady,
        Self::InternalError,
    ];

    /// The code as the envelope's `comment` says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "INVALID_JSON",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RangeNotSatisfiable => "RANGE_NOT_SATISFIABLE",
            Self::InvalidOrigin => "INVALID_ORIGIN",
            Self::Busy => "BUSY",
            Self::NotReady => "NOT_READY",
            Self::InternalError => "INTERNAL_ERROR",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidJson => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::InvalidOrigin => StatusCode::FORBIDDEN,
            Self::Busy | Self::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Every `comment` an error answer may carry: the use cases' codes, then HTTP's own.
pub fn all_codes() -> impl Iterator<Item = &'static str> {
    Code::ALL.iter().map(|c| c.as_str()).chain(HttpCode::ALL.iter().map(|c| c.as_str()))
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// What the service layer said: a refusal, or a failure of a part.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A refusal only HTTP makes (a body that is not JSON, a method not served, …).
    #[error("{}: {message}", .code.as_str())]
    Http { code: HttpCode, message: String },
    /// The database is unreachable (readiness only).
    #[error("not ready: {0}")]
    NotReady(String),
    /// A download URL the store signed that cannot be a header value: our failure, not the
    /// client's.
    #[error("the download URL of export {0} cannot travel in a Location header")]
    UnsendableUrl(uuid::Uuid),
}

pub type ApiResult<T> = Result<T, ApiError>;

/// How long a client should wait before trying again when the service is busy.
const RETRY_AFTER_SECS: &str = "1";

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        ApiError::Service(ServiceError::Refused(r))
    }
}

impl ApiError {
    /// A use case's kind of refusal, made here (a route that does not exist, a missing credential).
    pub fn refuse(code: Code, message: impl Into<String>) -> Self {
        ServiceError::refuse(code, message).into()
    }
    /// A refusal only HTTP makes.
    pub fn http(code: HttpCode, message: impl Into<String>) -> Self {
        ApiError::Http { code, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::refuse(Code::InvalidRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::refuse(Code::NotFound, message)
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Service(ServiceError::Refused(r)) => status_of(r.kind()),
            ApiError::Http { code, .. } => code.status(),
            other => other.code().status(),
        }
    }

    /// The `comment` code.
    pub fn comment(&self) -> &'static str {
        match self {
            ApiError::Service(ServiceError::Refused(r)) => r.code.as_str(),
            other => other.code().as_str(),
        }
    }

    /// The code of an answer that is not a use case's refusal.
    fn code(&self) -> HttpCode {
        match self {
            ApiError::Http { code, .. } => *code,
            ApiError::Service(e) if e.is_busy() => HttpCode::Busy,
            ApiError::NotReady(_) => HttpCode::NotReady,
            ApiError::Service(_) | ApiError::UnsendableUrl(_) => HttpCode::InternalError,
        }
    }
}

/// The HTTP status of each kind of refusal: the one place they are decided.
pub fn status_of(kind: RefusalKind) -> StatusCode {
    match kind {
        RefusalKind::BadRequest => StatusCode::BAD_REQUEST,
        RefusalKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        RefusalKind::Forbidden => StatusCode::FORBIDDEN,
        RefusalKind::NotFound => StatusCode::NOT_FOUND,
        RefusalKind::Conflict => StatusCode::CONFLICT,
        RefusalKind::Gone => StatusCode::GONE,
        RefusalKind::TooMany => StatusCode::TOO_MANY_REQUESTS,
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
            ApiError::Service(ServiceError::Refused(r)) => r.message.clone(),
            ApiError::Http { message, .. } => message.clone(),
            ApiError::NotReady(detail) => {
                tracing::warn!(detail = %detail, "readiness check failed");
                "the service cannot reach its database; try again shortly".to_string()
            }
            ApiError::Service(e) if e.is_busy() => {
                tracing::warn!(error = %e, "the database is busy");
                format!("the service is busy; try again in {RETRY_AFTER_SECS} s")
            }
            other => {
                tracing::error!(error = %other, "request failed on the server's side");
                "the server could not complete the request; the failure has been logged".to_string()
            }
        };
        let retry_after = match &self {
            ApiError::Service(ServiceError::Refused(r)) => r.retry_after_secs.map(axum::http::HeaderValue::from),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                Some(axum::http::HeaderValue::from_static(RETRY_AFTER_SECS))
            }
            _ => None,
        };
        let mut response = (status, axum::Json(envelope(self.comment(), &message))).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds);
        }
        response
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

/// The most of a refused body that is read and thrown away before the 413 goes out.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;
/// How long the draining may take.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);

fn too_large(limit: usize) -> ApiError {
    ApiError::http(
        HttpCode::PayloadTooLarge,
        format!("the request body is larger than the API accepts ({limit} bytes)"),
    )
}

/// Answers a body that declares more than `limit` bytes with the 413 envelope before routing,
/// and makes sure its sender can read it: a server that answers and closes while the client is
/// still sending resets the connection (unread bytes), so the sender sees a broken pipe instead
/// of the answer. The body is therefore read and thrown away first (up to [`DRAIN_LIMIT`], within
/// [`DRAIN_TIME`]); a client that sent `Expect: 100-continue` has sent nothing yet and gets the
/// answer at once (hyper then never asks it for the body).
pub async fn refuse_oversized(limit: usize, request: Request, next: axum::middleware::Next) -> Response {
    use axum::http::header;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let Some(length) = declared.filter(|n| *n > limit as u64) else { return next.run(request).await };
    let waits_for_continue =
        request.headers().get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !waits_for_continue && length <= DRAIN_LIMIT {
        use futures::StreamExt;
        let mut body = request.into_body().into_data_stream();
        let drain = async { while let Some(Ok(_)) = body.next().await {} };
        if tokio::time::timeout(DRAIN_TIME, drain).await.is_err() {
            tracing::warn!(length, "an oversized body was still arriving after the drain time; answering anyway");
        }
    }
    let mut response = too_large(limit).into_response();
    response.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    response
}

/// The body limit in force, as a request extension (for the 413 message).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

fn json_rejection(rejection: JsonRejection, limit: Option<usize>) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => ApiError::http(
            HttpCode::InvalidJson,
            format!("the body is not valid JSON: {}", source_text(&e.body_text())),
        ),
        JsonRejection::JsonDataError(e) => {
            ApiError::invalid(format!("the body has the wrong shape: {}", source_text(&e.body_text())))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::http(
            HttpCode::UnsupportedMediaType,
            "the body must be JSON, sent with the header Content-Type: application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let limit = limit.map_or_else(String::new, |n| format!(" ({n} bytes)"));
            ApiError::http(HttpCode::PayloadTooLarge, format!("the request body is larger than the API accepts{limit}"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use aao_export_db::DbError;

    async fn answer(e: ApiError) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = e.into_response();
        let retry = response.headers().get(axum::http::header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_string());
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 10_000).await.unwrap();
        (status, retry, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_busy_database_is_a_503_with_retry_after_a_limit_a_429_with_its_wait_and_a_duplicate_a_409() {
        let (status, retry, body) = answer(ServiceError::Db(DbError::from(sqlx::Error::PoolTimedOut)).into()).await;
        assert_eq!(
            (status, retry.as_deref(), body["comment"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("1"), Some("BUSY"))
        );
        let (status, retry, body) =
            answer(ServiceError::refuse(Code::Conflict, "export x exists already").into()).await;
        assert_eq!(
            (status, retry, body["message"].as_str()),
            (StatusCode::CONFLICT, None, Some("export x exists already"))
        );
        let (status, retry, body) =
            answer(ServiceError::too_many(Code::TooManyPreviews, "at most 30 previews in 10 s", 7).into()).await;
        assert_eq!(
            (status, retry.as_deref(), body["comment"].as_str()),
            (StatusCode::TOO_MANY_REQUESTS, Some("7"), Some("TOO_MANY_PREVIEWS"))
        );
        let (status, _, body) = answer(ServiceError::Db(DbError::Corrupt("secret detail".into())).into()).await;
        assert_eq!((status, body["comment"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, Some("INTERNAL_ERROR")));
        assert!(!body.to_string().contains("secret detail"), "no detail leaks: {body}");
    }
}
