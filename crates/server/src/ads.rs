//! `/ads/{observation_id}/images/{n}`: an ad's images, streamed from the observations store for
//! the preview of an export (the service decides what may be shown).

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Images do not change under an ad; the answer depends on the caller's credentials, so only
/// their own browser may keep it.
const CACHE_CONTROL: &str = "private, max-age=3600";

pub fn router() -> Router<Shared> {
    Router::new().route("/ads/{observation_id}/images/{n}", get(image))
}

/// The ad and image number from the path, whatever bytes they hold: segments axum cannot decode
/// name no image (404 in the envelope), never axum's plain text.
pub struct ImagePath {
    pub observation_id: String,
    pub n: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ImagePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<(String, String)>::from_request_parts(parts, state).await {
            Ok(Path((observation_id, n))) => Ok(ImagePath { observation_id, n }),
            Err(_) => Err(ApiError::not_found("no such ad image: the path is not /ads/{observation_id}/images/{n}")),
        }
    }
}

/// One of an ad's images
///
/// The n-th entry (from 1) of the ad's media[], as the preview of an export lists them
/// (image_urls), streamed from the observations store. 404 for an ad the catalogue does not
/// hold (a withdrawn participant's ads never are), an n out of range, or an image missing from
/// the store.
#[utoipa::path(get, path = "/ads/{observation_id}/images/{n}", tag = "ads", operation_id = "getAdImage",
    params(("observation_id" = String, Path, description = "The ad's observation id"),
        ("n" = u32, Path, description = "Which image, from 1, in the order of the ad's media[]")),
    responses(
        (status = 200, description = "The image; the type follows the key's extension (image/jpeg, image/png, image/webp, else application/octet-stream)",
            content_type = "image/jpeg", body = Vec<u8>,
            headers(("Cache-Control" = String, description = "private, max-age=3600"),
                ("X-Content-Type-Options" = String, description = "nosniff"))),
        (status = 404, description = "No such ad, image, or image in the store (NOT_FOUND)", body = aao_export_core::api::ErrorBody)))]
pub(crate) async fn image(State(state): State<Shared>, user: AuthUser, path: ImagePath) -> ApiResult<Response> {
    let image = state.service.ad_image(&user, &path.observation_id, &path.n).await?;
    let mut response = Body::from_stream(image.bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(image.content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(image.size));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
    Ok(response)
}
