//! The caller of a request: an API key in `X-API-Key`, a bearer token in `Authorization`, or,
//! when neither header is sent, the session cookie (`crate::sessions`). The credential is read
//! here; whether it names an enabled user is the service's decision. A request signed in by the
//! cookie that changes state must also come from the service's own origin: a page of another site
//! can make the browser send the cookie, but not set these headers.

use crate::error::ApiError;
use crate::sessions::{changes_state, check_origin, session_token};
use crate::state::Shared;
use aao_export_service::Caller;
use aao_export_service::Code;
use aao_export_service::auth::{by_api_key, by_token};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// The header an API key travels in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Some(token.trim()),
        _ => None,
    }
}

/// The authenticated caller, as an extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser(pub Caller);

impl std::ops::Deref for AuthUser {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl FromRequestParts<Shared> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Self::Rejection> {
        let users = state.service.users.as_ref();
        if let Some(value) = parts.headers.get(API_KEY_HEADER) {
            let key = value.to_str().unwrap_or_default().trim();
            return Ok(AuthUser(by_api_key(users, &state.service.tokens, key).await?));
        }
        if parts.headers.contains_key(axum::http::header::AUTHORIZATION) {
            let Some(token) = bearer_token(&parts.headers) else {
                return Err(ApiError::refuse(
                    Code::NoValidAuthentication,
                    "the Authorization header must be \"Bearer <token>\"; API keys go in the X-API-Key header",
                ));
            };
            return Ok(AuthUser(by_token(users, &state.service.tokens, token).await?));
        }
        if let Some(token) = session_token(state, &parts.headers) {
            if changes_state(&parts.method) {
                check_origin(state, &parts.headers, true)?;
            }
            return Ok(AuthUser(state.service.session_caller(token).await?));
        }
        Err(ApiError::refuse(
            Code::NoValidAuthentication,
            "no credentials: send an API key in the X-API-Key header or a bearer token in the Authorization header, or sign in (POST /auth/login) for a session cookie",
        ))
    }
}
