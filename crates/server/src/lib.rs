//! The HTTP API of aao-export (axum): exports and their sharing, previews and the ads' images,
//! downloads, users, signing in and out with a session cookie (`/auth/*`), the web pages, health
//! and the OpenAPI document (generated from the handlers) with its docs page.
//!
//! Handlers only extract, call the service layer (`aao-export-service`), and answer. Each module
//! owns its routes (`router()`); [`error::ApiError`] is the one error type, turned into the AAO
//! envelope in one place. Every endpoint needs credentials ([`auth::AuthUser`]: an API key, a
//! bearer token or the session cookie) except `/healthz`, `/readyz`, `/openapi.json`, `/docs`,
//! `/auth/login`, `/auth/logout`, `/auth/verify` and `/downloads/...`, whose links carry their own
//! signature. Pages of the origins in `SERVER_CORS_ORIGINS` may call the API (CORS), never with
//! the session cookie.

pub mod ads;
pub mod auth;
pub mod client;
pub mod downloads;
pub mod error;
pub mod exports;
pub mod extract;
pub mod health;
pub mod oidc;
pub mod openapi;
pub mod pages;
pub mod sessions;
pub mod state;
pub mod users;

pub use auth::AuthUser;
pub use error::{ApiError, Json};
pub use state::{AppState, PublicOrigin};

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Request, Uri};
use axum::{Extension, Router};
use std::future::Future;
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// The whole API as one router.
pub fn app(state: AppState) -> Router {
    let limit = state.max_body_bytes;
    let cors = cors(&state.cors_origins);
    let shared = Arc::new(state);
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            let id =
                request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
            // The path only: a download link's query string holds its signature.
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        })
        .on_response(DefaultOnResponse::new().level(Level::INFO));
    let api = Router::new()
        .merge(health::router())
        .merge(exports::router())
        .merge(ads::router())
        .merge(downloads::router())
        .merge(users::router())
        .merge(sessions::router())
        .merge(openapi::router())
        .merge(pages::router())
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(Extension(error::BodyLimit(limit)))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(shared);
    // Both run before routing: negotiation sends a browser's GET of a page path to the page, and a
    // body declared too large is answered (after draining it) before anything reads it.
    let app = Router::new()
        .fallback_service(api)
        .layer(axum::middleware::from_fn(pages::negotiate))
        .layer(axum::middleware::from_fn(move |request, next| error::refuse_oversized(limit, request, next)))
        .layer(axum::middleware::map_response(no_store_unless_told));
    // Outermost: a preflight is answered before anything else, and every answer (refusals
    // included) carries the headers a configured origin's page needs to read it.
    match cors {
        Some(cors) => app.layer(cors),
        None => app,
    }
}

/// Cross-origin use by the pages of these origins (none: no CORS at all, as before): the methods
/// and headers the API takes, and never credentials, so a page of another site calls the API with
/// a bearer token or an API key it holds, never with this site's session cookie.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static(auth::API_KEY_HEADER)])
            .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Answers hold presigned URLs, tokens and people's data, so none may be kept by a cache unless
/// its handler says otherwise (the docs, the page assets, an ad's images).
async fn no_store_unless_told(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    response.headers_mut().entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no endpoint {method} {}; GET /openapi.json lists the API", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::http(
        error::HttpCode::MethodNotAllowed,
        format!("{method} is not allowed on {}; the Allow header lists the methods that are", uri.path()),
    )
}

/// Serves the API on a bound listener until `shutdown` completes, then finishes the requests in
/// progress and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
