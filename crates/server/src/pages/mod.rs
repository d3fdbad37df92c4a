//! The web pages: server-rendered HTML (`maud`, compile-checked) with a little plain JavaScript,
//! every asset embedded in the binary. They call the same service layer as the JSON API, so an
//! action in one shows in the other at once.
//!
//! The spec's paths serve both: a browser asking for HTML at `/exports`, `/exports/new` or
//! `/exports/{id}` gets the page ([`negotiate`] routes it to `/ui/...`), every other client the
//! JSON; both answers carry `Vary: Accept`. A browser without a session is sent to the sign-in page
//! and back.

mod assets;
mod cards;
mod exports;
mod layout;
mod new;
mod oidc;
mod signin;
mod users;

use crate::state::Shared;
use aao_export_service::{Caller, RefusalKind, ServiceError};
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};

/// Where the pages live inside the router; the public paths are the spec's.
const PREFIX: &str = "/ui";

/// What pages may load and do: only this origin, no inline script, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/exports") }))
        .route("/ui/exports", get(exports::list))
        .route("/ui/exports/new", get(new::new_export))
        .route("/ui/exports/{export_id}", get(exports::detail))
        .route("/signin", get(signin::form_page).post(signin::submit))
        .route("/signout", axum::routing::post(signin::sign_out))
        .route("/auth/oidc/start", get(oidc::start))
        .route("/auth/oidc/callback", get(oidc::callback))
        .route("/admin/users", get(users::list).post(users::change))
        .route("/assets/{name}", get(assets::serve))
}

/// True for the paths a browser may ask for as a page.
fn is_page_path(path: &str) -> bool {
    match path.strip_prefix("/exports") {
        Some("") | Some("/new") => true,
        Some(rest) => rest.strip_prefix('/').is_some_and(|id| uuid::Uuid::try_parse(id).is_ok()),
        None => false,
    }
}

/// True when the client ranks HTML first (a browser navigating), not for `fetch()`'s `*/*` or JSON.
fn wants_html(headers: &HeaderMap) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let first = accept.split(',').next().unwrap_or_default().split(';').next().unwrap_or_default().trim();
    first.eq_ignore_ascii_case("text/html") || first.eq_ignore_ascii_case("application/xhtml+xml")
}

/// Sends a browser's GET of a page path to the page, and marks both answers `Vary: Accept`.
pub async fn negotiate(mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let page_path = is_page_path(&path);
    if page_path && request.method() == Method::GET && wants_html(request.headers()) {
        let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
        if let Ok(uri) = format!("{PREFIX}{path}{query}").parse::<Uri>() {
            *request.uri_mut() = uri;
        }
    }
    let mut response = next.run(request).await;
    if page_path {
        response.headers_mut().append(header::VARY, HeaderValue::from_static("Accept"));
    }
    response
}

/// An HTML answer with the pages' security headers.
fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// The signed-in caller, or a redirect to the sign-in page that comes back to `back_to`.
async fn signed_in(state: &Shared, headers: &HeaderMap, back_to: &str) -> Result<Caller, Response> {
    match crate::sessions::caller_from_cookie(state, headers).await {
        Some(caller) => Ok(caller),
        None => Err(Redirect::to(&format!("/signin?next={}", encode(back_to))).into_response()),
    }
}

/// Percent-encodes a path for a query string (unreserved characters and `/` kept as they are).
fn encode(text: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
    percent_encoding::utf8_percent_encode(text, KEEP).to_string()
}

/// A page saying what went wrong, with the status the API would answer.
fn error_page(caller: Option<&Caller>, error: &ServiceError) -> Response {
    let (status, title, message) = match error {
        ServiceError::Refused(r) => {
            let status = crate::error::status_of(r.kind());
            let title = match r.kind() {
                RefusalKind::NotFound => "Not found",
                RefusalKind::Forbidden => "Not allowed",
                _ => "That did not work",
            };
            (status, title, r.message.clone())
        }
        other => {
            tracing::error!(error = %other, "a page failed on the server's side");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The page could not be shown; the failure has been logged. Try again shortly.".to_string(),
            )
        }
    };
    let body = html! {
        h1 { (title) }
        p.error-box role="alert" { (message) }
        p { a href="/exports" { "Back to your exports" } }
    };
    html_response(status, layout::page(title, caller, layout::Nav::None, &["app.js"], body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_for_browsers_on_the_spec_paths() {
        assert!(is_page_path("/exports") && is_page_path("/exports/new"));
        assert!(is_page_path("/exports/00000000-0000-4000-8000-000000000001"));
        assert!(!is_page_path("/exports/fields") && !is_page_path("/exports/x") && !is_page_path("/exportsx"));
        assert!(!is_page_path("/exports/00000000-0000-4000-8000-000000000001/share"));
        let accept = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            wants_html(&h)
        };
        assert!(accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
        assert!(!accept("*/*") && !accept("application/json") && !wants_html(&HeaderMap::new()));
        assert_eq!(encode("/exports/new?from=a b"), "/exports/new%3Ffrom%3Da%20b");
    }
}
