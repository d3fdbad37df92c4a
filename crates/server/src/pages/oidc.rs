//! Signing in through the identity provider (`/auth/oidc/start`, `/auth/oidc/callback`): the
//! browser goes to the provider and comes back signed in, to the page it first asked for; or to
//! a page that says, in a researcher's words, why not. Both answer 404 when no provider is
//! configured, as for any unknown path.

use super::html_response;
use super::layout::{Nav, page};
use super::signin::local_next;
use crate::oidc::{Callback, Oidc, OidcError, Vouched, flow};
use crate::state::Shared;
use aao_export_service::{ProviderSignInOutcome, ServiceError, User};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

#[derive(serde::Deserialize, Default)]
pub struct Start {
    next: Option<String>,
}

/// What an unconfigured server answers, as for any unknown path.
fn not_configured() -> Response {
    crate::ApiError::not_found("no endpoint here: signing in through an identity provider is not configured")
        .into_response()
}

fn secure(state: &Shared) -> bool {
    crate::sessions::is_https(state)
}

fn flow_cookie(state: &Shared, value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&flow::cookie_text(value, max_age, secure(state)))
        .expect("the flow cookie is base64url and a dot")
}

/// `GET /auth/oidc/start?next=PATH`: to the provider, with this flow's cookie. A query that
/// cannot be read (e.g. `next` twice) goes on to the exports list afterwards.
pub async fn start(State(state): State<Shared>, query: Result<Query<Start>, QueryRejection>) -> Response {
    let Some(oidc) = state.oidc.as_deref() else { return not_configured() };
    let next = local_next(query.ok().and_then(|Query(q)| q.next).as_deref());
    match oidc.begin(&next).await {
        Ok((authorize_url, cookie)) => {
            let mut response = Redirect::to(&authorize_url).into_response();
            response.headers_mut().append(header::SET_COOKIE, flow_cookie(&state, &cookie, flow::FLOW_TTL_SECS));
            response
        }
        Err(e) => problem(oidc, &e, &next),
    }
}

/// `GET /auth/oidc/callback?code=…&state=…` (or `?error=…`): the provider's answer. Whatever
/// happens once this browser's flow is opened, the flow is over and its cookie goes; but an
/// answer that is not for it (state mismatch: perhaps forged by another site) leaves it, so a
/// sign-in in progress can still finish.
pub async fn callback(
    State(state): State<Shared>,
    headers: HeaderMap,
    answer: Result<Query<Callback>, QueryRejection>,
) -> Response {
    let Some(oidc) = state.oidc.as_deref() else { return not_configured() };
    let cookie = crate::sessions::cookie_value(&headers, flow::cookie_name(secure(&state)));
    let flow = match oidc.open_flow(cookie) {
        Ok(flow) => flow,
        Err(e) => return refused(oidc, &e, "/exports"),
    };
    let next = flow.next.clone();
    let mut response = match answer {
        Ok(Query(answer)) => match oidc.finish(flow, answer).await {
            Ok(vouched) => signed_in(&state, oidc, vouched).await,
            Err(e @ OidcError::StateMismatch(_)) => return refused(oidc, &e, &next),
            Err(e) => refused(oidc, &e, &next),
        },
        Err(rejection) => {
            let why = format!("its answer could not be read: {}", rejection.body_text());
            refused(oidc, &OidcError::Untrusted { provider: oidc.settings.display_name.clone(), why }, &next)
        }
    };
    response.headers_mut().append(header::SET_COOKIE, flow_cookie(&state, "", 0));
    response
}

fn refused(oidc: &Oidc, e: &OidcError, next: &str) -> Response {
    tracing::info!(problem = %e, "a sign-in through the identity provider was refused");
    problem(oidc, e, next)
}

/// Who the provider vouched for, signed in (or waiting to be enabled).
async fn signed_in(state: &Shared, oidc: &Oidc, vouched: Vouched) -> Response {
    let outcome = state
        .service
        .sign_in_with_provider(
            &oidc.settings.provider,
            &vouched.subject,
            vouched.full_name.as_deref(),
            vouched.email.as_deref(),
        )
        .await;
    match outcome {
        Ok(ProviderSignInOutcome::SignedIn(caller, token)) => {
            let mut response = continue_to(&vouched.next, &caller.full_name);
            response.headers_mut().append(header::SET_COOKIE, crate::sessions::session_cookie(state, &token));
            response
        }
        Ok(ProviderSignInOutcome::Waiting(user)) => waiting(oidc, &user),
        Err(ServiceError::Refused(r)) => {
            let e = OidcError::Untrusted { provider: oidc.settings.display_name.clone(), why: r.message };
            refused(oidc, &e, &vouched.next)
        }
        Err(other) => super::error_page(None, &other),
    }
}

/// Signed in: a page that goes on to `next` at once. A redirect would carry on the provider's
/// cross-site navigation, and browsers may then hold back the `SameSite=Strict` session cookie
/// on the first page; a navigation this page starts is same-site.
fn continue_to(next: &str, name: &str) -> Response {
    let body = html! {
        h1 { "Signed in" }
        p { "Welcome, " (name) ". " a #continue href=(next) { "Continue" } }
    };
    let mut response = html_response(StatusCode::OK, page("Signed in", None, Nav::None, &[], body));
    // `next` is a local path of printable ASCII (the sign-in page's rule), so this always holds.
    if let Ok(refresh) = HeaderValue::from_str(&format!("0; url={next}")) {
        response.headers_mut().insert(header::REFRESH, refresh);
    }
    response
}

/// Known, but not enabled: nothing is reachable until an administrator enables them.
fn waiting(oidc: &Oidc, user: &User) -> Response {
    let provider = &oidc.settings.display_name;
    let body = html! {
        div.signin {
            h1 { "Almost there" }
            p.notice-box role="status" { "Your account is waiting for an administrator to enable it." }
            p { (provider) " signed you in as:" }
            dl.who-card {
                dt { "Name" } dd #waiting-name { @if user.full_name.is_empty() { "(no name given)" } @else { (user.full_name) } }
                dt { "Email" } dd #waiting-email { (user.primary_email.as_deref().unwrap_or("(no email given)")) }
            }
            p { "An administrator of the Ad Observatory's exports will enable your account. Then "
                a href="/signin" { "sign in again" } "." }
        }
    };
    html_response(StatusCode::FORBIDDEN, page("Waiting to be enabled", None, Nav::None, &[], body))
}

/// Why the sign-in did not work, with a way to start again.
fn problem(oidc: &Oidc, e: &OidcError, next: &str) -> Response {
    let retry = format!("/signin?next={}", super::encode(next));
    let body = html! {
        div.signin {
            h1 { "Not signed in" }
            p.error-box #oidc-error role="alert" { (e.to_string()) }
            p { a href=(retry) { "Back to sign-in" } }
            p.hint { "If " (oidc.settings.display_name) " keeps failing and you have an Ad Observatory username and password, you can sign in with those on the sign-in page." }
        }
    };
    html_response(e.status(), page("Not signed in", None, Nav::None, &[], body))
}
