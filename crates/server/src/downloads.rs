//! `GET /downloads/{export_id}?expires=&signature=`: the file of an export kept in a local folder,
//! served without other credentials (the signature is the credential; the service checks it).
//! On S3, downloads are presigned GETs and never pass through here.

use crate::error::{ApiResult, HttpCode, Segment, envelope, query_pairs};
use crate::state::Shared;
use aao_export_core::export::download_name;
use aao_export_service::Code;
use aao_export_service::exports::bad_link;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceExt;
use tower_http::services::ServeFile;

pub fn router() -> Router<Shared> {
    Router::new().route("/downloads/{export_id}", get(download))
}

/// Download an export's ZIP (local folder storage)
///
/// The link comes from an export's status (url); its signature is the credential, so it needs no
/// other. Supports Range requests. Saved as export_{export_id}.zip (Content-Disposition).
#[utoipa::path(get, path = "/downloads/{export_id}", tag = "downloads", operation_id = "downloadExport", security(()),
    params(crate::openapi::ExportIdParam,
        ("expires" = i64, Query, description = "When the link stops working (Unix seconds)"),
        ("signature" = String, Query, description = "Hex HMAC-SHA256 of \"{export_id}:{expires}\""),
        ("Range" = Option<String>, Header, description = "A byte range, e.g. bytes=0-1023")),
    responses(
        (status = 200, description = "The ZIP", content_type = "application/zip", body = Vec<u8>,
            headers(("Content-Disposition" = String, description = "attachment; filename=\"export_{export_id}.zip\""))),
        (status = 206, description = "The requested range of the ZIP", content_type = "application/zip", body = Vec<u8>),
        (status = 403, description = "The link is incomplete or altered (INVALID_SIGNATURE)", body = aao_export_core::api::ErrorBody),
        (status = 404, response = crate::openapi::NotFound),
        (status = 410, description = "The link (LINK_EXPIRED) or the export (EXPORT_EXPIRED) has expired", body = aao_export_core::api::ErrorBody),
        (status = 416, description = "The range lies outside the file", body = aao_export_core::api::ErrorBody)))]
pub(crate) async fn download(
    State(state): State<Shared>,
    Segment(raw_id): Segment,
    request: Request,
) -> ApiResult<Response> {
    let (mut expires, mut given) = (None, None);
    for (key, value) in query_pairs(request.uri()).map_err(|_| bad_link())? {
        let slot = match key.as_str() {
            "expires" => &mut expires,
            "signature" => &mut given,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(bad_link().into());
        }
    }
    let (Some(expires), Some(given)) = (expires, given) else { return Err(bad_link().into()) };
    let expires: i64 = expires.parse().map_err(|_| bad_link())?;
    let (id, path) = state.service.local_download(&raw_id, expires, &given).await?;
    if !tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
        return Err(crate::error::ApiError::not_found(format!(
            "export {raw_id} no longer exists or has no file to download"
        )));
    }
    let response = match ServeFile::new(&path).oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    };
    Ok(finish(response, id))
}

/// Names the download and types it; turns the file server's own refusals (a range that cannot be
/// satisfied, a file removed meanwhile) into the envelope.
fn finish(mut response: Response, id: uuid::Uuid) -> Response {
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        let content_range = response.headers().get(header::CONTENT_RANGE).cloned();
        let (comment, message) = match status {
            StatusCode::RANGE_NOT_SATISFIABLE => (
                HttpCode::RangeNotSatisfiable.as_str(),
                format!("the requested range is outside the file of export {id}"),
            ),
            StatusCode::NOT_FOUND => (Code::NotFound.as_str(), format!("export {id} no longer has a file to download")),
            _ => (Code::InvalidRequest.as_str(), format!("the file of export {id} could not be served ({status})")),
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
