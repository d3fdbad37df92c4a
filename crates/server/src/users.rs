//! `GET /users`: the enabled users (id and display name), for picking whom to share with.

use crate::auth::AuthUser;
use crate::error::{ApiResult, Json};
use crate::state::Shared;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

pub fn router() -> Router<Shared> {
    Router::new().route("/users", get(list))
}

async fn list(State(state): State<Shared>, _user: AuthUser) -> ApiResult<Json<Value>> {
    let users = state.storage.enabled_users().await?;
    Ok(Json(users.into_iter().map(|u| json!({"id": u.id, "full_name": u.full_name})).collect()))
}
