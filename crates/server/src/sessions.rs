//! TEMPORARY stand-in until the sessions branch lands (replaced by it at the merge): reading the
//! session cookie. Not registered as routes.

use crate::state::Shared;
use aao_export_service::Caller;
use axum::http::{HeaderMap, HeaderValue, header};

pub const COOKIE: &str = "aao_session";

pub async fn caller_from_cookie(state: &Shared, headers: &HeaderMap) -> Option<Caller> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let token = cookies.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == COOKIE)?.1;
    aao_export_service::auth::by_token(state.service.users.as_ref(), &state.service.tokens, token).await.ok()
}

pub fn session_cookie(_state: &Shared, token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/")).expect("a cookie")
}

pub fn clear_cookie(_state: &Shared) -> HeaderValue {
    HeaderValue::from_static("aao_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}
