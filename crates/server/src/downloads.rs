//! Download links. On S3 a completed export's link is a presigned GET; on a local folder it is
//! `{public_url}/downloads/{export_id}?expires={unix_s}&signature={hex HMAC-SHA256}`, served here
//! without other credentials: the signature is the credential. Either link lives at most an hour
//! and never past the export's expiry.

use crate::auth::hex;
use crate::error::{codes, envelope, query_pairs, ApiError, ApiResult, Segment};
use crate::state::{now_ms, AppState, Shared, MAX_LINK_LIFETIME_MS};
use aao_export_core::export::{download_name, rfc3339, ExportStatus};
use aao_export_db::ExportRecord;
use aao_export_worker::stores::ExportsBacking;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tower::ServiceExt;
use tower_http::services::ServeFile;

pub fn router() -> Router<Shared> {
    Router::new().route("/downloads/{export_id}", get(download))
}

/// The signature of a local download link: hex HMAC-SHA256 of `"{export_id}:{expires}"`.
pub fn signature(key: &[u8], export_id: &str, expires: i64) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{export_id}:{expires}").as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// A fresh download link for a completed, unexpired export; `None` otherwise.
pub(crate) async fn link(state: &AppState, record: &ExportRecord, now: i64) -> Option<String> {
    let expiry_ms = state.settings.expiry_ms();
    if record.status.as_seen(record.completed_at, now, expiry_ms) != ExportStatus::Completed {
        return None;
    }
    let key = record.object_location.as_deref()?;
    let until_expiry = record.completed_at?.saturating_add(expiry_ms).saturating_sub(now);
    let valid_ms = until_expiry.min(MAX_LINK_LIFETIME_MS);
    if valid_ms <= 0 {
        return None;
    }
    match &state.exports.backing {
        ExportsBacking::S3 { .. } => match state.exports.presigned_get(key, Duration::from_millis(valid_ms.unsigned_abs())).await? {
            Ok(url) => Some(url.to_string()),
            Err(e) => {
                tracing::error!(export_id = %record.export_id, error = %e, "presigning a download link failed");
                None
            }
        },
        ExportsBacking::Local { .. } => {
            let expires = (now + valid_ms).div_euclid(1000);
            let id = record.export_id.to_string();
            let signature = signature(&state.settings.download_key, &id, expires);
            Some(format!("{}/downloads/{id}?expires={expires}&signature={signature}", state.settings.base_url()))
        }
    }
}

fn bad_link() -> ApiError {
    ApiError::forbidden(codes::INVALID_SIGNATURE, "this download link is incomplete or has been altered; GET /exports/{export_id} gives a fresh one")
}

/// `GET /downloads/{export_id}?expires=&signature=`
async fn download(State(state): State<Shared>, Segment(raw_id): Segment, request: Request) -> ApiResult<Response> {
    let (mut expires, mut given) = (None, None);
    for (key, value) in query_pairs(request.uri()).map_err(|_| bad_link())? {
        let slot = match key.as_str() {
            "expires" => &mut expires,
            "signature" => &mut given,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(bad_link());
        }
    }
    let (Some(expires), Some(given)) = (expires, given) else { return Err(bad_link()) };
    let expires: i64 = expires.parse().map_err(|_| bad_link())?;
    let expected = signature(&state.settings.download_key, &raw_id, expires);
    if state.settings.download_key.is_empty() || !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return Err(bad_link());
    }
    let now = now_ms();
    if expires.saturating_mul(1000) < now {
        return Err(ApiError::gone(
            codes::LINK_EXPIRED,
            format!("this download link expired at {}; GET /exports/{raw_id} gives a fresh one", rfc3339(expires.saturating_mul(1000))),
        ));
    }
    let gone = || ApiError::not_found(format!("export {raw_id} no longer exists or has no file to download"));
    let id = uuid::Uuid::try_parse(&raw_id).map_err(|_| gone())?;
    let record = state.storage.export(id).await?.ok_or_else(gone)?;
    match record.status.as_seen(record.completed_at, now, state.settings.expiry_ms()) {
        ExportStatus::Completed => {}
        ExportStatus::Expired => return Err(ApiError::gone(codes::EXPORT_EXPIRED, format!("export {id} has expired and its file was deleted"))),
        _ => return Err(gone()),
    }
    let ExportsBacking::Local { root } = &state.exports.backing else {
        return Err(ApiError::not_found(format!("export {id} is stored on S3: download it from the link in GET /exports/{id}")));
    };
    let path = record.object_location.as_deref().and_then(|key| local_path(root, key)).ok_or_else(gone)?;
    if !tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
        return Err(gone());
    }
    let response = match ServeFile::new(&path).oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    };
    Ok(finish(response, id))
}

/// The file of a key under the local root; `None` for a key that would leave the root.
fn local_path(root: &Path, key: &str) -> Option<PathBuf> {
    let key = Path::new(key);
    key.components().all(|c| matches!(c, Component::Normal(_))).then(|| root.join(key))
}

/// Names the download and types it; turns the file server's own refusals (a range that cannot be
/// satisfied, a file removed meanwhile) into the envelope.
fn finish(mut response: Response, id: uuid::Uuid) -> Response {
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        let content_range = response.headers().get(header::CONTENT_RANGE).cloned();
        let (comment, message) = match status {
            StatusCode::RANGE_NOT_SATISFIABLE => ("RANGE_NOT_SATISFIABLE", format!("the requested range is outside the file of export {id}")),
            StatusCode::NOT_FOUND => (codes::NOT_FOUND, format!("export {id} no longer has a file to download")),
            _ => (codes::INVALID_REQUEST, format!("the file of export {id} could not be served ({status})")),
        };
        let mut refused = (status, axum::Json(envelope(comment, &message))).into_response();
        if let Some(range) = content_range {
            refused.headers_mut().insert(header::CONTENT_RANGE, range);
        }
        return refused;
    }
    let headers = response.headers_mut();
    if status.is_success() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    }
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", download_name(id))) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_id_and_expiry() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(hex(&mac.finalize().into_bytes()), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let a = signature(b"k", "id", 10);
        assert_eq!(a.len(), 64);
        assert_ne!(a, signature(b"k", "id", 11));
        assert_ne!(a, signature(b"k2", "id", 10));
    }

    #[test]
    fn keys_never_leave_the_root() {
        let root = Path::new("/data/exports");
        assert_eq!(local_path(root, "outputs/a.zip"), Some(PathBuf::from("/data/exports/outputs/a.zip")));
        assert_eq!(local_path(root, "../etc/passwd"), None);
        assert_eq!(local_path(root, "/etc/passwd"), None);
        assert_eq!(local_path(root, "outputs/../../x"), None);
    }
}
