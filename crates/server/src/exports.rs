//! `/exports`: create, list, read, delete, share and unshare exports, and the field catalogue.
//!
//! Who may do what (aao-contracts.md §5): the creator and admins manage an export; users it is
//! shared with may see and download it but not manage it (403); anyone else is told it does not
//! exist (404, the same answer as for an id that names nothing).

use crate::auth::AuthUser;
use crate::downloads;
use crate::error::{codes, query_pairs, ApiError, ApiResult, Json, Segment};
use crate::state::{now_ms, AppState, Shared};
use aao_export_core::export::{ordered, parse_user_ids, ExportRequest, JobMessage};
use aao_export_db::{CreateOutcome, ExportRecord, NewExport};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::Router;
use object_store::ObjectStoreExt;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/exports", get(list).post(create))
        .route("/exports/fields", get(fields))
        .route("/exports/{export_id}", get(read).delete(delete))
        .route("/exports/{export_id}/share", post(share))
        .route("/exports/{export_id}/unshare", post(unshare))
}

/// An export id from the path. A segment that is not a UUID names no export: 404.
pub struct ExportId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ExportId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Segment(raw) = Segment::from_request_parts(parts, state).await?;
        Uuid::try_parse(&raw).map(ExportId).map_err(|_| ApiError::not_found(format!("no export {raw:?}: export ids are UUIDs")))
    }
}

/// User ids never hold control characters (and PostgreSQL cannot even compare text holding NUL).
fn has_control(id: &str) -> bool {
    id.chars().any(char::is_control)
}

fn no_export(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no export {id}"))
}

fn may_see(user: &AuthUser, record: &ExportRecord) -> bool {
    user.is_admin() || record.creator_id == user.id || record.shared_with.contains(&user.id)
}

fn may_manage(user: &AuthUser, record: &ExportRecord) -> bool {
    user.is_admin() || record.creator_id == user.id
}

/// The export, if the caller may see it; otherwise the same 404 as for an unknown id.
async fn visible(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<ExportRecord> {
    match state.storage.export(id).await? {
        Some(record) if may_see(user, &record) => Ok(record),
        _ => Err(no_export(id)),
    }
}

/// The export, if the caller may manage it: 404 when they may not see it, 403 when they may
/// only see it.
async fn managed(state: &AppState, user: &AuthUser, id: Uuid, action: &str) -> ApiResult<ExportRecord> {
    let record = visible(state, user, id).await?;
    if !may_manage(user, &record) {
        return Err(ApiError::forbidden(
            codes::FORBIDDEN,
            format!("export {id} is shared with you, but only its creator ({}) or an admin may {action}", record.creator_id),
        ));
    }
    Ok(record)
}

/// The status object of an export as the caller sees it now, with a fresh download link.
pub(crate) async fn status_object(state: &AppState, record: &ExportRecord, now: i64) -> Value {
    let url = downloads::link(state, record, now).await;
    record.status_object(url, now, state.settings.expiry_ms())
}

/// `POST /exports`
async fn create(State(state): State<Shared>, user: AuthUser, Json(body): Json<Value>) -> ApiResult<(StatusCode, Json<Value>)> {
    let catalogue = state.storage.exportable_fields().await?;
    let request = ExportRequest::from_json(&body, &catalogue).map_err(|e| ApiError::invalid(e.0))?;
    let export_id = Uuid::new_v4();
    let created_at = now_ms();
    let parameters = request.parameters();
    let message = JobMessage {
        export_id,
        creator_id: user.id.clone(),
        export_parameters: parameters.clone(),
        attempt: 1,
        max_retries: state.settings.max_retries,
    };
    let message = serde_json::to_string(&message).map_err(|e| ApiError::Internal(format!("serialising the queue message: {e}")))?;
    let in_database = state.queue.in_database();
    let new = NewExport {
        export_id,
        creator_id: user.id.clone(),
        parameters,
        field_ids: request.fields.iter().map(|f| f.field_id).collect(),
        max_retries: state.settings.max_retries,
        created_at,
        max_in_flight: state.settings.max_in_flight,
        queue_body: in_database.then(|| message.clone()),
    };
    let record = match state.storage.create_export(&new).await? {
        CreateOutcome::Created(record) => record,
        CreateOutcome::TooManyInFlight(in_flight) => {
            let limit = state.settings.max_in_flight;
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::TOO_MANY_EXPORTS,
                format!("you have {in_flight} exports pending or processing and at most {limit} may be in flight at once; wait for one to finish or delete one"),
            ));
        }
    };
    if !in_database {
        // The export is committed; if the send fails, the rescuer sends the message again for an
        // export left pending, so the request still succeeded.
        if let Err(e) = state.queue.send(&message, Duration::ZERO).await {
            tracing::error!(%export_id, error = %e, "queueing a new export failed; the rescuer will send it again");
        }
    }
    tracing::info!(%export_id, creator = %user.id, "export created");
    let status = status_object(&state, &record, now_ms()).await;
    Ok((StatusCode::CREATED, Json(json!({"success": true, "export": status}))))
}

/// `GET /exports?user_id=`: exports created by or shared with a user (the caller by default;
/// another user's only for admins).
async fn list(State(state): State<Shared>, user: AuthUser, uri: Uri) -> ApiResult<Json<Value>> {
    let mut target: Option<String> = None;
    for (key, value) in query_pairs(&uri)? {
        match key.as_str() {
            "user_id" if target.is_some() => return Err(ApiError::invalid("user_id: given more than once; name one user")),
            "user_id" if value.trim().is_empty() => return Err(ApiError::invalid("user_id: empty; name a user, or leave it out for your own exports")),
            "user_id" if has_control(&value) => return Err(ApiError::invalid(format!("user_id: {value:?} contains a control character; user ids never do"))),
            "user_id" => target = Some(value),
            other => return Err(ApiError::invalid(format!("unknown query parameter {other:?}; GET /exports takes only user_id"))),
        }
    }
    let target = target.unwrap_or_else(|| user.id.clone());
    if target != user.id {
        if !user.is_admin() {
            return Err(ApiError::forbidden(codes::FORBIDDEN, format!("only admins may list another user's exports; you are {:?}", user.id)));
        }
        if !state.storage.unknown_users(std::slice::from_ref(&target)).await?.is_empty() {
            return Err(ApiError::bad_request(codes::UNKNOWN_USERS, format!("user_id: no user {target:?}")));
        }
    }
    let records = state.storage.exports_visible_to(&target).await?;
    let now = now_ms();
    let mut list = Vec::with_capacity(records.len());
    for record in &records {
        list.push(status_object(&state, record, now).await);
    }
    Ok(Json(Value::Array(list)))
}

/// `GET /exports/{export_id}`
async fn read(State(state): State<Shared>, user: AuthUser, ExportId(id): ExportId) -> ApiResult<Json<Value>> {
    let record = visible(&state, &user, id).await?;
    Ok(Json(status_object(&state, &record, now_ms()).await))
}

/// `DELETE /exports/{export_id}`: the rows, then the file. A worker building it notices its lease
/// is gone and stops.
async fn delete(State(state): State<Shared>, user: AuthUser, ExportId(id): ExportId) -> ApiResult<Json<Value>> {
    managed(&state, &user, id, "delete it").await?;
    let Some(record) = state.storage.delete_export(id).await? else { return Err(no_export(id)) };
    if let Some(key) = record.object_location.as_deref() {
        match state.exports.store.delete(&object_store::path::Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            // The rows are gone, so the export is deleted as far as anyone can see; the file left
            // behind is logged for an operator (S3's lifecycle rule removes it in any case).
            Err(e) => tracing::error!(export_id = %id, key, error = %e, "the export was deleted but its file could not be"),
        }
    }
    tracing::info!(export_id = %id, by = %user.id, "export deleted");
    Ok(Json(json!({"success": true})))
}

#[derive(Clone, Copy, PartialEq)]
enum Sharing {
    Share,
    Unshare,
}

/// `POST /exports/{export_id}/share`
async fn share(State(state): State<Shared>, user: AuthUser, ExportId(id): ExportId, Json(body): Json<Value>) -> ApiResult<Json<Value>> {
    change_shares(&state, &user, id, &body, Sharing::Share).await
}

/// `POST /exports/{export_id}/unshare`
async fn unshare(State(state): State<Shared>, user: AuthUser, ExportId(id): ExportId, Json(body): Json<Value>) -> ApiResult<Json<Value>> {
    change_shares(&state, &user, id, &body, Sharing::Unshare).await
}

/// Checks everything before changing anything: a list with an unknown user or the creator is
/// refused whole.
async fn change_shares(state: &AppState, user: &AuthUser, id: Uuid, body: &Value, how: Sharing) -> ApiResult<Json<Value>> {
    let action = if how == Sharing::Share { "share it" } else { "unshare it" };
    let record = managed(state, user, id, action).await?;
    let ids = parse_user_ids(body).map_err(|e| ApiError::invalid(e.0))?;
    if let Some(bad) = ids.iter().find(|id| has_control(id)) {
        return Err(ApiError::invalid(format!("user_ids: {bad:?} contains a control character; user ids never do")));
    }
    let unknown = state.storage.unknown_users(&ids).await?;
    if !unknown.is_empty() {
        let named = unknown.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(", ");
        let s = if unknown.len() == 1 { "" } else { "s" };
        return Err(ApiError::bad_request(codes::UNKNOWN_USERS, format!("user_ids: no user{s} {named}; nothing was changed")));
    }
    if ids.contains(&record.creator_id) {
        return Err(ApiError::invalid(format!(
            "user_ids: {:?} created this export and always has access to it; nothing was changed",
            record.creator_id
        )));
    }
    let changed = match how {
        Sharing::Share => state.storage.share_export(id, &ids).await,
        Sharing::Unshare => state.storage.unshare_export(id, &ids).await,
    };
    let shared_with = match changed {
        Ok(shared_with) => shared_with,
        // Deleted by someone else since it was read (a share then breaks its foreign key).
        Err(_) if state.storage.export(id).await?.is_none() => return Err(no_export(id)),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(export_id = %id, by = %user.id, users = ?ids, shared = (how == Sharing::Share), "export access changed");
    Ok(Json(json!({"success": true, "shared_with": shared_with})))
}

/// `GET /exports/fields`: the catalogue of exportable fields, in catalogue order.
async fn fields(State(state): State<Shared>, _user: AuthUser) -> ApiResult<Json<Value>> {
    let catalogue = state.storage.exportable_fields().await?;
    let list = catalogue
        .into_iter()
        .map(|f| {
            ordered([
                ("field_id", json!(f.field_id)),
                ("name", json!(f.name)),
                ("description", json!(f.description)),
                ("path", json!(f.path)),
                ("group", json!(f.group)),
                ("is_default", json!(f.is_default)),
            ])
        })
        .collect();
    Ok(Json(Value::Array(list)))
}
