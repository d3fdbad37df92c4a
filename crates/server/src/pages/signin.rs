//! The sign-in page (a plain form: it works without JavaScript) and signing out. Both use the
//! service's sign-in rules and the API's session cookie, so a page session is an API session.

use super::html_response;
use super::layout::{Nav, page};
use crate::state::Shared;
use aao_export_service::{Caller, ServiceError};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// Where to go after signing in: a path on this site only (never `//elsewhere` or a URL).
fn local_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.contains("://") => {
            n.to_string()
        }
        _ => "/exports".to_string(),
    }
}

/// The form, with an error next to the part it is about.
fn form(status: StatusCode, next: &str, username: &str, error: Option<(&str, &str)>) -> Response {
    let (field, message) = error.unwrap_or(("", ""));
    let body = html! {
        div.signin {
            h1 { "Sign in" }
            p { "Use your Ad Observatory username and password." }
            @if field == "form" { p.error-box #signin-error role="alert" { (message) } }
            form method="post" action="/signin" novalidate {
                input type="hidden" name="next" value=(next);
                div.field {
                    label for="username" { "Username" }
                    input #username type="text" name="username" value=(username) autocomplete="username" required
                        autofocus[field != "password"] aria-invalid=[(field == "username").then_some("true")]
                        aria-describedby=[(field == "username").then_some("username-error")];
                    @if field == "username" { p.error #username-error { (message) } }
                }
                div.field {
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required
                        autofocus[field == "password"] aria-invalid=[(field == "password").then_some("true")]
                        aria-describedby=[(field == "password").then_some("password-error")];
                    @if field == "password" { p.error #password-error { (message) } }
                }
                button type="submit" { "Sign in" }
            }
        }
    };
    html_response(status, page("Sign in", None, Nav::None, &[], body))
}

/// `GET /signin`: the form; a browser already signed in goes straight on.
pub async fn form_page(State(state): State<Shared>, headers: HeaderMap, Query(q): Query<Next>) -> Response {
    let next = local_next(q.next.as_deref());
    if crate::sessions::caller_from_cookie(&state, &headers).await.is_some() {
        return Redirect::to(&next).into_response();
    }
    form(StatusCode::OK, &next, "", None)
}

/// `POST /signin`: checks the password; on success sets the session cookie and goes on. Like the
/// API's sign-in it takes only requests from this site's own pages (no login CSRF).
pub async fn submit(State(state): State<Shared>, headers: HeaderMap, Form(input): Form<SignIn>) -> Response {
    let next = local_next(input.next.as_deref());
    if let Err(e) = crate::sessions::check_origin(&state, &headers, true) {
        let message = match &e {
            crate::ApiError::Service(ServiceError::Refused(r)) => r.message.clone(),
            _ => "This sign-in did not come from this site's page.".to_string(),
        };
        return form(StatusCode::FORBIDDEN, &next, "", Some(("form", &message)));
    }
    let username = input.username.trim();
    if username.is_empty() {
        return form(StatusCode::BAD_REQUEST, &next, "", Some(("username", "Enter your username.")));
    }
    if input.password.is_empty() {
        return form(StatusCode::BAD_REQUEST, &next, username, Some(("password", "Enter your password.")));
    }
    match state.service.sign_in(username, &input.password).await {
        Ok((caller, token)) => signed_in(&state, &caller, &token, &next),
        Err(ServiceError::Refused(r)) => {
            form(crate::error::status_of(r.kind()), &next, username, Some(("form", &r.message)))
        }
        Err(other) => {
            tracing::error!(error = %other, "signing in failed on the server's side");
            form(
                StatusCode::INTERNAL_SERVER_ERROR,
                &next,
                username,
                Some(("form", "Signing in failed on our side; try again shortly.")),
            )
        }
    }
}

fn signed_in(state: &Shared, caller: &Caller, token: &str, next: &str) -> Response {
    tracing::info!(user = %caller.id, "signed in on the sign-in page");
    let mut response = Redirect::to(next).into_response();
    response.headers_mut().append(header::SET_COOKIE, crate::sessions::session_cookie(state, token));
    response
}

/// `POST /signout`: forgets the session cookie and shows the sign-in page.
pub async fn sign_out(State(state): State<Shared>) -> Response {
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().append(header::SET_COOKIE, crate::sessions::clear_session_cookie(&state));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_next(Some("/exports/new")), "/exports/new");
        for bad in [
            None,
            Some("https://evil.example/"),
            Some("//evil.example"),
            Some("/\\evil"),
            Some("exports"),
            Some("/x?u=http://e"),
        ] {
            assert_eq!(local_next(bad), "/exports", "{bad:?}");
        }
    }
}
