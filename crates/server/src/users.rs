//! `GET /users`: the enabled users (id and display name), for picking whom to share with.

use crate::auth::AuthUser;
use crate::error::{ApiResult, Json};
use crate::state::Shared;
use aao_export_core::api::UserSummary;
use axum::Router;
use axum::extract::State;
use axum::routing::get;

pub fn router() -> Router<Shared> {
    Router::new().route("/users", get(list))
}

/// The enabled users
///
/// Ids and display names, to choose whom to share an export with.
#[utoipa::path(get, path = "/users", tag = "users", operation_id = "listUsers",
    responses((status = 200, description = "The users", body = Vec<UserSummary>)))]
pub(crate) async fn list(State(state): State<Shared>, _user: AuthUser) -> ApiResult<Json<Vec<UserSummary>>> {
    Ok(Json(state.service.users().await?))
}
