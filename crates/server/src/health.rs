//! Liveness and readiness for load balancers and orchestrators; neither needs credentials.

use crate::error::{ApiError, ApiResult, Json};
use crate::state::Shared;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::time::Duration;

/// How long the readiness check waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<Shared> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

/// `GET /healthz`: the process answers (no I/O).
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers a cheap query (the field catalogue, which also shows
/// that migrations ran).
async fn readyz(State(state): State<Shared>) -> ApiResult<Json<Value>> {
    match tokio::time::timeout(READY_TIMEOUT, state.storage.exportable_fields()).await {
        Ok(Ok(fields)) if !fields.is_empty() => Ok(Json(json!({"status": "ok"}))),
        Ok(Ok(_)) => Err(ApiError::NotReady("the exportable field catalogue is empty: migrations have not run".into())),
        Ok(Err(e)) => Err(ApiError::NotReady(e.to_string())),
        Err(_) => Err(ApiError::NotReady(format!("the database did not answer within {READY_TIMEOUT:?}"))),
    }
}
