//! `/exports`: create, preview, list, read, delete, share, unshare and retry exports, the stable
//! download link and who downloaded, and the field catalogue. Each handler extracts, calls the service, and answers; the rules live in the
//! service.

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, Json, Segment, query_pairs};
use crate::extract::JsonBody;
use crate::state::Shared;
use aao_export_core::api::{
    CreateExportRequest, CreatedExport, Download, ExportStatusObject, FieldListing, Preview, ShareRequest,
    ShareResponse, Success,
};

use aao_export_service::exports::Links;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use uuid::Uuid;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/exports", get(list).post(create))
        .route("/exports/fields", get(fields))
        // A static segment wins over `{export_id}`: "preview" is never taken for an export id.
        .route("/exports/preview", post(preview))
        .route("/exports/{export_id}", get(read).delete(delete))
        .route("/exports/{export_id}/share", post(share))
        .route("/exports/{export_id}/unshare", post(unshare))
        .route("/exports/{export_id}/retry", post(retry))
        .route("/exports/{export_id}/download", get(download))
        .route("/exports/{export_id}/downloads", get(downloads))
}

/// An export id from the path. A segment that is not a UUID names no export: 404.
pub struct ExportId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ExportId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Segment(raw) = Segment::from_request_parts(parts, state).await?;
        Uuid::try_parse(&raw)
            .map(ExportId)
            .map_err(|_| ApiError::not_found(format!("no export {raw:?}: export ids are UUIDs")))
    }
}

/// Start an export
///
/// Validates the query and fields, records a pending export and queues its job. Omitted or empty
/// fields mean the catalogue's default fields; export_parameters in the answer shows the fields
/// resolved.
#[utoipa::path(post, path = "/exports", tag = "exports", operation_id = "createExport",
    request_body(content = CreateExportRequest, description = "What to export"),
    responses((status = 201, description = "The export was created and queued", body = CreatedExport),
        (status = 400, response = crate::openapi::BadRequest), (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType), (status = 429, response = crate::openapi::TooManyExports)))]
pub(crate) async fn create(
    State(state): State<Shared>,
    user: AuthUser,
    JsonBody(request): JsonBody<CreateExportRequest>,
) -> ApiResult<(StatusCode, Json<CreatedExport>)> {
    let export = state.service.create(&user, &request).await?;
    Ok((StatusCode::CREATED, Json(CreatedExport { success: true, export })))
}

/// Preview an export before starting it
///
/// Takes the body of POST /exports, checked exactly as it is there (the same 400s), and records
/// nothing. Answers how many ads and images the export would hold, the first 24 matching ads
/// (newest first) with their image URLs (GET /ads/{observation_id}/images/{n}), and the ZIP's
/// estimated size with and without images. The estimate is a sum, not a guess: the catalogue
/// records each ad's stored RDO size, image count and image bytes when indexing, and one query
/// sums them over the matching ads. The listed ads are projected onto the requested fields as the
/// export does (data.json and the CSV row, deflated at the archive's level); what that takes per
/// byte of their RDOs, times the matching RDOs' bytes, is the ads' content. Added to it: each ZIP
/// entry's headers and name, the CSV header, export_details.json and the end records; with images,
/// the images' recorded bytes (stored uncompressed) and their entries. On the demo data the
/// estimate lands within 6% of the real ZIP, with and without images, for one field, the defaults
/// or every field. Images missing from the store when the ad was indexed count 0. A catalogue
/// indexed before sizes were recorded needs one `aao-export index` run for its sizes. Each user
/// may ask for a limited number of previews in a window of time (by default 30 in 10 s).
#[utoipa::path(post, path = "/exports/preview", tag = "exports", operation_id = "previewExport",
    request_body(content = CreateExportRequest, description = "What to export, as for POST /exports"),
    responses((status = 200, description = "What the export would hold", body = Preview),
        (status = 400, response = crate::openapi::BadRequest), (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 429, response = crate::openapi::TooManyPreviews)))]
pub(crate) async fn preview(
    State(state): State<Shared>,
    user: AuthUser,
    JsonBody(request): JsonBody<CreateExportRequest>,
) -> ApiResult<Json<Preview>> {
    Ok(Json(state.service.preview(&user, &request).await?))
}

/// Run a failed or expired export again
///
/// For its creator and admins (a user it is shared with gets 403). The export goes back to
/// pending under the same id, with the same parameters and shares, attempt 1, its timestamps
/// reset and its old file deleted, and is queued. Any other status is refused with 409
/// (NOT_RETRYABLE), naming it. The creator's exports in flight count as for a new export (429).
/// Answers 200 with the status object, as POST /exports does.
#[utoipa::path(post, path = "/exports/{export_id}/retry", tag = "exports", operation_id = "retryExport", params(crate::openapi::ExportIdParam),
    responses((status = 200, description = "The export is pending again and queued", body = CreatedExport),
        (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::NotRetryable),
        (status = 429, response = crate::openapi::TooManyExports)))]
pub(crate) async fn retry(
    State(state): State<Shared>,
    user: AuthUser,
    ExportId(id): ExportId,
) -> ApiResult<Json<CreatedExport>> {
    Ok(Json(CreatedExport { success: true, export: state.service.retry(&user, id).await? }))
}

/// List exports created by or shared with a user
///
/// Newest first. Without user_id: the caller's. Only admins may name another user.
#[utoipa::path(get, path = "/exports", tag = "exports", operation_id = "listExports",
    params(("user_id" = Option<String>, Query, description = "The user whose exports to list (default: the caller; another user needs the admin role)")),
    responses((status = 200, description = "The exports, as status objects", body = Vec<ExportStatusObject>),
        (status = 400, response = crate::openapi::BadRequest)))]
pub(crate) async fn list(
    State(state): State<Shared>,
    user: AuthUser,
    uri: Uri,
) -> ApiResult<Json<Vec<ExportStatusObject>>> {
    let mut target: Option<String> = None;
    for (key, value) in query_pairs(&uri)? {
        match key.as_str() {
            "user_id" if target.is_some() => {
                return Err(ApiError::invalid("user_id: given more than once; name one user"));
            }
            "user_id" => target = Some(value),
            other => {
                return Err(ApiError::invalid(format!(
                    "unknown query parameter {other:?}; GET /exports takes only user_id"
                )));
            }
        }
    }
    Ok(Json(state.service.list(&user, target.as_deref(), Links::Fresh).await?))
}

/// An export's status
///
/// For its creator, the users it is shared with and admins. A completed export carries a download
/// link (url) valid for at most an hour and never past its expiry; ask again for a fresh one, or
/// use GET /exports/{export_id}/download, which never expires. An answer that carries a url is
/// recorded as a download (via "api"; download_count includes it); the list (GET /exports) is not.
#[utoipa::path(get, path = "/exports/{export_id}", tag = "exports", operation_id = "getExport", params(crate::openapi::ExportIdParam),
    responses((status = 200, description = "The status object", body = ExportStatusObject), (status = 404, response = crate::openapi::NotFound)))]
pub(crate) async fn read(
    State(state): State<Shared>,
    user: AuthUser,
    ExportId(id): ExportId,
) -> ApiResult<Json<ExportStatusObject>> {
    Ok(Json(state.service.read(&user, id, Links::Fresh).await?))
}

/// Download an export's ZIP (a link that never expires)
///
/// For its creator, the users it is shared with and admins, with any credential (API key, bearer
/// token, or the session cookie, so a browser can follow it from a page). Answers 302 to a fresh
/// download URL (presigned on S3, signed on a local folder; valid for at most an hour), so this
/// link can sit in an email, a page or a notebook. Each answer is recorded as a download (via
/// "link"). An export that is pending, processing or failed answers 409 (EXPORT_NOT_COMPLETED,
/// naming its status) and an expired one 410 (EXPORT_EXPIRED): never a dead link.
#[utoipa::path(get, path = "/exports/{export_id}/download", tag = "exports", operation_id = "downloadExportLink", params(crate::openapi::ExportIdParam),
    responses(
        (status = 302, description = "Follow Location to the ZIP (saved as export_{export_id}.zip)",
            headers(("Location" = String, description = "A fresh download URL, valid for at most an hour"))),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, description = "The export is pending, processing or failed; the message names its status (EXPORT_NOT_COMPLETED)", body = aao_export_core::api::ErrorBody),
        (status = 410, description = "The export has expired and its file is deleted (EXPORT_EXPIRED)", body = aao_export_core::api::ErrorBody)))]
pub(crate) async fn download(
    State(state): State<Shared>,
    user: AuthUser,
    ExportId(id): ExportId,
) -> ApiResult<axum::response::Response> {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let url = state.service.download(&user, id).await?;
    let location = HeaderValue::from_str(&url).map_err(|_| ApiError::UnsendableUrl(id))?;
    // A fresh URL each time: nothing on the way may keep this answer.
    Ok((
        StatusCode::FOUND,
        [(header::LOCATION, location), (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"))],
    )
        .into_response())
}

/// Who downloaded an export
///
/// For its creator and admins (a user it is shared with gets 403). Each time a user was handed a
/// download URL of this export, newest first: through GET /exports/{export_id}/download (via
/// "link") or a GET /exports/{export_id} that carried a url (via "api"). Deleting the export
/// deletes this record.
#[utoipa::path(get, path = "/exports/{export_id}/downloads", tag = "exports", operation_id = "listExportDownloads", params(crate::openapi::ExportIdParam),
    responses((status = 200, description = "The downloads, newest first", body = Vec<Download>),
        (status = 404, response = crate::openapi::NotFound)))]
pub(crate) async fn downloads(
    State(state): State<Shared>,
    user: AuthUser,
    ExportId(id): ExportId,
) -> ApiResult<Json<Vec<Download>>> {
    Ok(Json(state.service.downloads(&user, id).await?))
}

/// Delete an export and its file
///
/// For its creator and admins (a user it is shared with gets 403). An export being built is cancelled.
#[utoipa::path(delete, path = "/exports/{export_id}", tag = "exports", operation_id = "deleteExport", params(crate::openapi::ExportIdParam),
    responses((status = 200, description = "Deleted", body = Success), (status = 404, response = crate::openapi::NotFound)))]
pub(crate) async fn delete(
    State(state): State<Shared>,
    user: AuthUser,
    ExportId(id): ExportId,
) -> ApiResult<Json<Success>> {
    state.service.delete(&user, id).await?;
    Ok(Json(Success { success: true }))
}

/// Give users access to an export
///
/// For its creator and admins. Every id must name a user and none may be the creator; otherwise nothing changes.
#[utoipa::path(post, path = "/exports/{export_id}/share", tag = "exports", operation_id = "shareExport", params(crate::openapi::ExportIdParam),
    request_body(content = ShareRequest, description = "The users to add"),
    responses((status = 200, description = "The users the export is now shared with", body = ShareResponse),
        (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound),
        (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType)))]
pub(crate) async fn share(
    State(state): State<Shared>,
    user: AuthUser,
    ExportId(id): ExportId,
    JsonBody(request): JsonBody<ShareRequest>,
) -> ApiResult<Json<ShareResponse>> {
    Ok(Json(ShareResponse { success: true, shared_with: state.service.share(&user, id, &request).await? }))
}

/// Remove users' access to an export
///
/// For its creator and admins. Every id must name a user and none may be the creator; otherwise
/// nothing changes. Removing a user the export is not shared with changes nothing.
#[utoipa::path(post, path = "/exports/{export_id}/unshare", tag = "exports", operation_id = "unshareExport", params(crate::openapi::ExportIdParam),
    request_body(content = ShareRequest, description = "The users to remove"),
    responses((status = 200, description = "The users the export is now shared with", body = ShareResponse),
        (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound),
        (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType)))]
pub(crate) async fn unshare(
    State(state): State<Shared>,
    user: AuthUser,
    ExportId(id): ExportId,
    JsonBody(request): JsonBody<ShareRequest>,
) -> ApiResult<Json<ShareResponse>> {
    Ok(Json(ShareResponse { success: true, shared_with: state.service.unshare(&user, id, &request).await? }))
}

/// The fields an export can hold
///
/// The catalogue, in display order; is_default marks the fields exported when a request names none.
#[utoipa::path(get, path = "/exports/fields", tag = "exports", operation_id = "listExportableFields",
    responses((status = 200, description = "The field catalogue", body = Vec<FieldListing>)))]
pub(crate) async fn fields(State(state): State<Shared>, _user: AuthUser) -> ApiResult<Json<Vec<FieldListing>>> {
    let fields = state.service.fields().await?;
    Ok(Json(fields.into_iter().map(|field| FieldListing { id: field.field_id, field }).collect()))
}
