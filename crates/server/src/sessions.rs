//! `/auth/*`: signing in with a username and password for a session cookie, signing out, and who
//! the session is. Handlers extract, call the service ([`Service::sign_in`]), and answer.
//!
//! The session is the cookie [`SESSION_COOKIE`] ([`SECURE_SESSION_COOKIE`] when the public URL
//! is https): the same HS256 token the API accepts as a
//! bearer token, `HttpOnly; SameSite=Strict; Path=/; Max-Age=` the token's lifetime, and `Secure`
//! when the public URL is https. The API accepts it like a bearer token ([`crate::AuthUser`]);
//! requests that change state with it must come from the public URL's origin ([`check_origin`]).
//!
//! For the web pages (a form-based sign-in, pages that show who is signed in):
//! - [`Service::sign_in`]`(username, password) -> ServiceResult<(Caller, String)>` signs in;
//! - [`session_cookie`]`(state, token)` and [`clear_session_cookie`]`(state)` are the `Set-Cookie`
//!   values that start and end a session;
//! - [`caller_from_cookie`]`(state, headers)` is the signed-in caller, or `None`, never an error;
//! - [`check_origin`]`(state, headers, required)` refuses a cross-site form post.
//!
//! [`Service::sign_in`]: aao_export_service::Service::sign_in

use crate::auth::AuthUser;
use crate::client::ClientAddress;
use crate::error::{ApiError, ApiResult, HttpCode, Json};
use crate::extract::JsonBody;
use crate::state::{AppState, Shared};
use aao_export_core::api::{LoginRequest, LoginResponse, SessionUser, Success, VerifyRequest};
use aao_export_service::Caller;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::routing::{get, post};

/// The session cookie's name over plain http (a laptop, the tests).
pub const SESSION_COOKIE: &str = "aao_session";
/// Its name when the public URL is https. Browsers take a `__Host-` cookie only when it is
/// Secure, for `Path=/` and without a Domain, so no other subdomain or plain-http page can set or
/// shadow the session; the server then reads only this name.
pub const SECURE_SESSION_COOKIE: &str = "__Host-aao_session";

/// The session cookie's name on this server.
pub fn session_cookie_name(state: &AppState) -> &'static str {
    if is_https(state) { SECURE_SESSION_COOKIE } else { SESSION_COOKIE }
}

pub(crate) fn is_https(state: &AppState) -> bool {
    state.public_origin.as_ref().is_some_and(|o| o.https)
}

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .route("/auth/verify", post(verify))
}

/// The `Set-Cookie` value that starts a session holding `token` (from [`Service::sign_in`]): it
/// lasts as long as the token does.
///
/// [`Service::sign_in`]: aao_export_service::Service::sign_in
pub fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    cookie(state, token, state.service.tokens.ttl_secs)
}

/// The `Set-Cookie` value that ends the session (an empty cookie with `Max-Age=0`).
pub fn clear_session_cookie(state: &AppState) -> HeaderValue {
    cookie(state, "", 0)
}

fn cookie(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let text = cookie_text(value, max_age, is_https(state));
    HeaderValue::from_str(&text).expect("a token is base64url and dots, so the cookie is a valid header value")
}

fn cookie_text(value: &str, max_age: u64, secure: bool) -> String {
    let (name, secure) = if secure { (SECURE_SESSION_COOKIE, "; Secure") } else { (SESSION_COOKIE, "") };
    format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}")
}

/// The session token a request's `Cookie` headers carry under this server's cookie name, if any
/// (an empty one counts as none).
pub fn session_token<'h>(state: &AppState, headers: &'h HeaderMap) -> Option<&'h str> {
    cookie_value(headers, session_cookie_name(state))
}

pub(crate) fn cookie_value<'h>(headers: &'h HeaderMap, cookie: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == cookie)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// The caller the session cookie names, or `None` when there is no cookie or it is expired, not
/// valid, or for a user who is gone or disabled. For pages that show who is signed in; it does
/// not check `Origin` (do that with [`check_origin`] before changing anything).
pub async fn caller_from_cookie(state: &AppState, headers: &HeaderMap) -> Option<Caller> {
    state.service.session_caller(session_token(state, headers)?).await.ok()
}

/// Methods that never change anything; every other one does.
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses (403 `INVALID_ORIGIN`) a request whose `Origin` header is not the public URL's origin,
/// and, when `required`, one that sends no `Origin` at all. Browsers send `Origin` with every
/// POST, so a page of another site cannot act with the visitor's session cookie.
pub fn check_origin(state: &AppState, headers: &HeaderMap, required: bool) -> ApiResult<()> {
    let refuse = |message: String| ApiError::http(HttpCode::InvalidOrigin, message);
    let Some(sent) = headers.get(header::ORIGIN) else {
        return if required {
            Err(refuse(
                "this request is signed in by the session cookie and changes something, so it must carry an Origin header (browsers send one); other clients should send an API key or a bearer token instead".into(),
            ))
        } else {
            Ok(())
        };
    };
    let sent = String::from_utf8_lossy(sent.as_bytes());
    match &state.public_origin {
        Some(public) if sent.trim().eq_ignore_ascii_case(&public.origin) => Ok(()),
        Some(public) => Err(refuse(format!(
            "the request comes from the origin {sent:?}, not from this service's own pages ({}); requests signed in by the session cookie must come from them",
            public.origin
        ))),
        None => Err(refuse(format!(
            "the request comes from the origin {sent:?}, and this server has no public URL (SERVER_PUBLIC_URL) to compare it with"
        ))),
    }
}

/// Signing in from a page: this service's own, or one of the configured CORS origins (the AAO's
/// dashboard keeps the token it is given; a browser drops a cross-site answer's cookie anyway).
fn check_sign_in_origin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    match headers.get(header::ORIGIN).map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned()) {
        Some(origin) if state.is_cors_origin(&origin) => Ok(()),
        _ => check_origin(state, headers, false),
    }
}

/// A sign-in's origin, checked ([`check_sign_in_origin`]) before its body is read.
pub(crate) struct SignInOrigin;

impl FromRequestParts<Shared> for SignInOrigin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Self::Rejection> {
        check_sign_in_origin(state, &parts.headers).map(|()| SignInOrigin)
    }
}

fn session_user(caller: Caller) -> SessionUser {
    SessionUser { id: caller.id, full_name: caller.full_name, role: caller.role }
}

/// Sign in with a username and password
///
/// Answers the user and sets the session cookie aao_session (HttpOnly, SameSite=Strict, Secure
/// when the service is served over https), which the API then accepts like a bearer token and
/// which expires like one. A wrong password, an unknown username and a disabled user get the same
/// answer (INVALID_CREDENTIALS). After 5 failed sign-ins in a row for one username it is locked
/// for a short while (TOO_MANY_ATTEMPTS, even with the right password); the message says when to
/// try again. A request with an Origin header must come from the service's own origin.
#[utoipa::path(post, path = "/auth/login", tag = "auth", operation_id = "login", security(()),
    request_body(content = LoginRequest, description = "The username and password"),
    responses((status = 200, description = "Signed in; the Set-Cookie header holds the session", body = LoginResponse,
            headers(("Set-Cookie" = String, description = "aao_session=<token>; HttpOnly; SameSite=Strict; Path=/; Max-Age=<seconds>[; Secure]"))),
        (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::InvalidCredentials),
        (status = 403, response = crate::openapi::Forbidden), (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType), (status = 429, response = crate::openapi::TooManyAttempts),
        (status = 500, response = crate::openapi::InternalError), (status = 503, response = crate::openapi::Busy)))]
pub(crate) async fn login(
    State(state): State<Shared>,
    _origin: SignInOrigin,
    client: ClientAddress,
    JsonBody(request): JsonBody<LoginRequest>,
) -> ApiResult<(HeaderMap, Json<LoginResponse>)> {
    let (caller, token) = state.service.sign_in(&request.username, &request.password, client.0).await?;
    let mut answer = HeaderMap::new();
    answer.insert(header::SET_COOKIE, session_cookie(&state, &token));
    Ok((answer, Json(LoginResponse { success: true, user: session_user(caller), token })))
}

/// Sign out
///
/// Ends the session: the session cookie is cleared (Max-Age=0) and its token (or the bearer
/// token sent, if it is a session's) stops working at once, as a cookie and as a bearer token.
/// Tokens made for scripts and API keys are not sessions and keep working. Answers the same with
/// or without a session. A request with an Origin header must come from the service's own origin.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", operation_id = "logout", security(()),
    responses((status = 200, description = "Signed out; the Set-Cookie header clears the session", body = Success,
            headers(("Set-Cookie" = String, description = "aao_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0[; Secure]"))),
        (status = 403, response = crate::openapi::Forbidden)))]
pub(crate) async fn logout(State(state): State<Shared>, headers: HeaderMap) -> ApiResult<(HeaderMap, Json<Success>)> {
    check_origin(&state, &headers, false)?;
    end_sessions(&state, &headers).await?;
    let mut answer = HeaderMap::new();
    answer.insert(header::SET_COOKIE, clear_session_cookie(&state));
    Ok((answer, Json(Success { success: true })))
}

/// Ends the sessions of the tokens a request carries (the cookie's, a bearer token's).
pub async fn end_sessions(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let bearer = crate::auth::bearer_token(headers);
    for token in session_token(state, headers).into_iter().chain(bearer) {
        state.service.sign_out(token).await?;
    }
    Ok(())
}

/// Check a bearer token
///
/// Whether a token is good: signed by this service, not expired, for a user who exists and is
/// enabled; as the AAO's API answers its dashboard, which asks on every page load.
#[utoipa::path(post, path = "/auth/verify", tag = "auth", operation_id = "verify", security(()),
    request_body(content = VerifyRequest, description = "The token to check"),
    responses((status = 200, description = "The token is good", body = Success),
        (status = 400, description = "VERIFY_FAILED: the token is not (or no longer) good, with why; INVALID_REQUEST: no token given", body = aao_export_core::api::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 500, response = crate::openapi::InternalError), (status = 503, response = crate::openapi::Busy)))]
pub(crate) async fn verify(
    State(state): State<Shared>,
    JsonBody(request): JsonBody<VerifyRequest>,
) -> ApiResult<Json<Success>> {
    state.service.verify_token(&request.token).await?;
    Ok(Json(Success { success: true }))
}

/// Who is signed in
///
/// The user the session cookie (or any other credential) names.
#[utoipa::path(get, path = "/auth/me", tag = "auth", operation_id = "me",
    responses((status = 200, description = "The signed-in user", body = SessionUser)))]
pub(crate) async fn me(user: AuthUser) -> Json<SessionUser> {
    Json(session_user(user.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_only_over_https() {
        assert_eq!(
            cookie_text("a.b.c", 3600, false),
            "aao_session=a.b.c; HttpOnly; SameSite=Strict; Path=/; Max-Age=3600"
        );
        assert_eq!(
            cookie_text("", 0, true),
            "__Host-aao_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure"
        );
    }

    #[test]
    fn the_session_token_is_found_among_other_cookies() {
        let token = |headers: &HeaderMap| cookie_value(headers, SESSION_COOKIE).map(str::to_string);
        let mut headers = HeaderMap::new();
        assert_eq!(token(&headers), None);
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark; aao_session_old=x"));
        assert_eq!(token(&headers), None, "only the exact name");
        headers.append(header::COOKIE, HeaderValue::from_static("a=1;aao_session=t.o.k ; b=2"));
        assert_eq!(token(&headers).as_deref(), Some("t.o.k"));
        assert_eq!(cookie_value(&headers, SECURE_SESSION_COOKIE), None, "over https only the __Host- name");
        let mut empty = HeaderMap::new();
        empty.insert(header::COOKIE, HeaderValue::from_static("aao_session="));
        assert_eq!(token(&empty), None, "a cleared cookie is no session");
        assert!(changes_state(&Method::POST) && changes_state(&Method::DELETE) && !changes_state(&Method::HEAD));
    }
}
