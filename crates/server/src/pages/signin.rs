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

/// The longest `next` followed.
const MAX_NEXT_BYTES: usize = 1024;

/// Where to go after signing in: a path on this site by construction. Only a plain absolute path
/// with an optional query, all printable ASCII, no backslash, whose path does not start with two
/// slashes even once percent-decoded; anything else (a URL, `//host`, `/<TAB>/host` that a browser
/// reads as `//host`, `/%2F%2Fhost`) goes to `/exports`.
pub(super) fn local_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_string(),
        _ => "/exports".to_string(),
    }
}

fn is_local_path(next: &str) -> bool {
    // Longer would not fit in the identity provider's flow cookie, and no page's path is so long.
    if next.len() > MAX_NEXT_BYTES || !next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\' && b != b'#') {
        return false;
    }
    let path = next.split_once('?').map_or(next, |(path, _)| path);
    let decoded = percent_encoding::percent_decode_str(path).collect::<Vec<u8>>();
    decoded.first() == Some(&b'/')
        && decoded.get(1) != Some(&b'/')
        && !decoded.iter().any(|&b| b == b'\\' || !(b.is_ascii_graphic() || b >= 0x80))
}

/// The form, with an error next to the part it is about; with the identity provider's button
/// above it when one is configured.
fn form(state: &Shared, status: StatusCode, next: &str, username: &str, error: Option<(&str, &str)>) -> Response {
    let (field, message) = error.unwrap_or(("", ""));
    let provider = state.oidc.as_ref().map(|o| o.settings.display_name.as_str());
    let body = html! {
        div.signin {
            h1 { "Sign in" }
            @if field == "form" { p.error-box #signin-error role="alert" { (message) } }
            @if let Some(provider) = provider {
                a.button.provider href={ "/auth/oidc/start?next=" (super::encode(next)) } { "Sign in with " (provider) }
                p.or { span { "or with a username and password" } }
            } @else {
                p { "Use your Ad Observatory username and password." }
            }
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
    form(&state, StatusCode::OK, &next, "", None)
}

/// `POST /signin`: checks the password; on success sets the session cookie and goes on. Like the
/// API's sign-in it takes only requests from this site's own pages (no login CSRF).
pub async fn submit(
    State(state): State<Shared>,
    headers: HeaderMap,
    client: crate::client::ClientAddress,
    Form(input): Form<SignIn>,
) -> Response {
    let next = local_next(input.next.as_deref());
    if let Err(e) = crate::sessions::check_origin(&state, &headers, true) {
        tracing::warn!(refusal = %e, "a sign-in from another site was refused");
        let message = "This sign-in did not come from this site's page.".to_string();
        return form(&state, StatusCode::FORBIDDEN, &next, "", Some(("form", &message)));
    }
    let username = input.username.trim();
    if username.is_empty() {
        return form(&state, StatusCode::BAD_REQUEST, &next, "", Some(("username", "Enter your username.")));
    }
    if input.password.is_empty() {
        return form(&state, StatusCode::BAD_REQUEST, &next, username, Some(("password", "Enter your password.")));
    }
    match state.service.sign_in(username, &input.password, client.0).await {
        Ok((caller, token)) => signed_in(&state, &caller, &token, &next),
        Err(ServiceError::Refused(r)) => {
            form(&state, crate::error::status_of(r.kind()), &next, username, Some(("form", &r.message)))
        }
        Err(other) => {
            tracing::error!(error = %other, "signing in failed on the server's side");
            form(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                &next,
                username,
                Some(("form", "Signing in failed on our side; try again shortly.")),
            )
        }
    }
}

pub(super) fn signed_in(state: &Shared, caller: &Caller, token: &str, next: &str) -> Response {
    tracing::info!(user = %caller.id, "signed in on the sign-in page");
    let mut response = Redirect::to(next).into_response();
    response.headers_mut().append(header::SET_COOKIE, crate::sessions::session_cookie(state, token));
    response
}

/// `POST /signout`: forgets the session cookie and shows the sign-in page. Only from this site's
/// own pages, like every request the cookie makes that changes something: a page of another site
/// cannot sign a visitor out.
pub async fn sign_out(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(refusal) = crate::sessions::check_origin(&state, &headers, true) {
        tracing::warn!(%refusal, "a sign-out from another site was refused");
        let body = html! {
            h1 { "Not signed out" }
            p.error-box #signout-error role="alert" {
                "This sign-out did not come from this site's own page, so you are still signed in. "
                "To sign out, use the Sign out button on this site."
            }
            p { a href="/exports" { "Back to your exports" } }
        };
        return html_response(StatusCode::FORBIDDEN, page("Not signed out", None, Nav::None, &[], body));
    }
    if let Err(e) = crate::sessions::end_sessions(&state, &headers).await {
        // The cookie is cleared all the same; the session ends when its token expires.
        tracing::error!(error = %e, "ending a session failed on the server's side");
    }
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().append(header::SET_COOKIE, crate::sessions::clear_session_cookie(&state));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        for good in ["/exports/new", "/exports/3f2a?page=2&q=a%20b", "/", "/ads/1/images/2"] {
            assert_eq!(local_next(Some(good)), good);
        }
        for bad in [
            None,
            Some(""),
            Some("https://evil.example/"),
            Some("//evil.example"),
            Some("/\\evil.example"),
            Some("\\/evil.example"),
            Some("/\t/evil.example"),
            Some("\t/evil.example"),
            Some("/\n/evil.example"),
            Some("/\r/evil.example"),
            Some("/%09/evil.example"),
            Some("/%0a/evil.example"),
            Some("/%0D/evil.example"),
            Some("/%2F%2Fevil.example"),
            Some("/%2f/evil.example"),
            Some("/%5Cevil.example"),
            Some(" /exports"),
            Some("/exports new"),
            Some("/exports#x"),
            Some("exports"),
            Some("javascript:alert(1)"),
            Some("/\u{e9}"),
            Some(&format!("/exports?q={}", "a".repeat(1100))),
        ] {
            assert_eq!(local_next(bad), "/exports", "{bad:?}");
        }
    }
}
