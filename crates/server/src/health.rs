//! Liveness and readiness for load balancers and orchestrators; neither needs credentials.

use crate::error::{ApiError, ApiResult, Json};
use crate::state::Shared;
use aao_export_core::api::Health;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use std::time::Duration;

/// How long the readiness check waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<Shared> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

fn ok() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// Liveness: the process answers
#[utoipa::path(get, path = "/healthz", tag = "service", operation_id = "healthz", security(()),
    responses((status = 200, description = "Alive", body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    ok()
}

/// Readiness: the database answers
///
/// A cheap query: the field catalogue, which also shows that migrations ran.
#[utoipa::path(get, path = "/readyz", tag = "service", operation_id = "readyz", security(()),
    responses((status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database does not answer (NOT_READY)", body = aao_export_core::api::ErrorBody)))]
pub(crate) async fn readyz(State(state): State<Shared>) -> ApiResult<Json<Health>> {
    match tokio::time::timeout(READY_TIMEOUT, state.service.catalogue.exportable_fields()).await {
        Ok(Ok(fields)) if !fields.is_empty() => Ok(ok()),
        Ok(Ok(_)) => Err(ApiError::NotReady("the exportable field catalogue is empty: migrations have not run".into())),
        Ok(Err(e)) => Err(ApiError::NotReady(e.to_string())),
        Err(_) => Err(ApiError::NotReady(format!("the database did not answer within {READY_TIMEOUT:?}"))),
    }
}
