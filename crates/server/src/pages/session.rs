//! Who is signed in, for a page: the session cookie's caller, or nobody (the page then sends the
//! browser to sign in instead of answering 401).

use crate::state::Shared;
use aao_export_service::Caller;
use axum::http::HeaderMap;

/// The caller the session cookie names, when it is valid and the user still enabled.
pub async fn caller(state: &Shared, headers: &HeaderMap) -> Option<Caller> {
    crate::sessions::caller_from_cookie(state, headers).await
}
