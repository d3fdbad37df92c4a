//! Health, readiness, the OpenAPI document (checked against the running router), the docs page,
//! request ids and graceful shutdown.

use crate::common::*;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    for app in apps().await {
        assert_eq!(app.get("/healthz", &Auth::None).await, (200, json!({"status": "ok"})));
        assert_eq!(app.get("/readyz", &Auth::None).await, (200, json!({"status": "ok"})));
        let response = app.send("GET", "/healthz", &Auth::None, Body::None).await;
        assert!(
            response.headers().get("x-request-id").is_some_and(|v| !v.is_empty()),
            "every answer carries a request id"
        );
        let response = app.send("GET", "/healthz", &Auth::Header("x-request-id", "abc-123".into()), Body::None).await;
        assert_eq!(response.headers()["x-request-id"], "abc-123", "a caller's request id is kept");
    }
}

/// Readiness fails (503 in the envelope) when the database goes away: a PostgreSQL database
/// dropped under the running app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_without_the_database() {
    use sqlx::Connection;
    let Some(db) = aao_export_testkit::TestDatabase::postgres().await else { return };
    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap();
    let name = db.url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let app = spawn_app(db).await;
    assert_eq!(app.get("/readyz", &Auth::None).await.0, 200);
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)"))).execute(&mut admin).await.unwrap();
    let refused = app.get("/readyz", &Auth::None).await;
    assert_error(&refused, 503, "NOT_READY", "the database is gone");
    assert!(!refused.1["message"].as_str().unwrap().contains(&name), "no detail leaks: {}", refused.1);
    assert_eq!(app.get("/healthz", &Auth::None).await.0, 200, "liveness does no I/O");
    // Endpoints that need the database answer a generic 500, with the detail only in the log.
    let failed = app.get("/exports", &app.key(CREATOR)).await;
    assert_error(&failed, 500, "INTERNAL_ERROR", "the database is gone");
}

/// Every documented operation exists on the router, and every route the router serves is
/// documented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_router() {
    let app = sqlite_app().await;
    let (status, doc) = app.get("/openapi.json", &Auth::None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], json!("3.1.0"));
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["ApiKeyAuth"]["name"], json!("X-API-Key"));
    assert_eq!(schemes["BearerAuth"]["scheme"], json!("bearer"));
    assert_eq!(
        (&schemes["SessionCookie"]["in"], &schemes["SessionCookie"]["name"]),
        (&json!("cookie"), &json!("aao_session"))
    );

    let id = app.seed_export(CREATOR, &[]).await;
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap().iter().filter(|(m, _)| *m != "parameters") {
            documented.push(format!("{} {path}", method.to_uppercase()));
            let concrete = path
                .replace("{export_id}", &id.to_string())
                .replace("{observation_id}", "no-such-ad")
                .replace("{n}", "1");
            let body = if method == "post" { Body::Json(json!({})) } else { Body::None };
            let response = app.send(&method.to_uppercase(), &concrete, &app.key(ADMIN), body).await;
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let comment =
                serde_json::from_str::<Value>(&text).ok().and_then(|v| v["comment"].as_str().map(str::to_string));
            assert!(
                status != 405 && !(status == 404 && text.contains("no endpoint")),
                "{method} {path} is documented but not served: {status} {text}"
            );
            let public = op["security"] == json!([]);
            let anonymous =
                app.send(&method.to_uppercase(), &concrete, &Auth::None, Body::None).await.status().as_u16();
            assert_eq!(
                anonymous == 401,
                !public,
                "{method} {path}: documented as {} ({comment:?})",
                if public { "public" } else { "needing credentials" }
            );
            for (code, _) in op["responses"].as_object().unwrap() {
                assert!(code.parse::<u16>().is_ok(), "{method} {path}: response {code}");
            }
        }
    }
    documented.sort();
    let served = [
        "DELETE /exports/{export_id}",
        "GET /ads/{observation_id}/images/{n}",
        "GET /auth/me",
        "GET /docs",
        "GET /downloads/{export_id}",
        "GET /exports",
        "GET /exports/fields",
        "GET /exports/{export_id}",
        "GET /exports/{export_id}/download",
        "GET /exports/{export_id}/downloads",
        "GET /healthz",
        "GET /openapi.json",
        "GET /readyz",
        "GET /users",
        "POST /auth/login",
        "POST /auth/logout",
        "POST /auth/verify",
        "POST /exports",
        "POST /exports/preview",
        "POST /exports/{export_id}/retry",
        "POST /exports/{export_id}/share",
        "POST /exports/{export_id}/unshare",
    ];
    assert_eq!(documented, served, "the document lists exactly the served operations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_is_self_contained_html() {
    let app = sqlite_app().await;
    let response = app.send("GET", "/docs", &Auth::None, Body::None).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = response.text().await.unwrap();
    for needle in ["/exports/{export_id}/share", "X-API-Key", "user_id", "ExportStatus", "TOO_MANY_EXPORTS", "<table>"]
    {
        assert!(page.contains(needle), "the page shows {needle}");
    }
    assert!(!page.contains("<script") && !page.contains("src=\"http"), "nothing fetched from elsewhere");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_gracefully() {
    let db = aao_export_testkit::TestDatabase::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let exports = aao_export_stores::ExportsStore::open(dir.path().to_str().unwrap(), &Default::default()).unwrap();
    let queue = std::sync::Arc::new(aao_export_queue::DbQueue::new(db.storage.clone()));
    let observations = aao_export_stores::open_store(dir.path().to_str().unwrap(), &Default::default()).unwrap();
    let state = aao_export_server::AppState::new(aao_export_service::Service::new(
        db.storage.clone(),
        observations,
        queue,
        exports,
        aao_export_stores::LocalLinks::new("http://127.0.0.1", b"k".to_vec()),
        aao_export_service::Tokens::new("s".to_string().into(), 60),
        Default::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(aao_export_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    assert_eq!(reqwest::get(format!("http://{addr}/healthz")).await.unwrap().status().as_u16(), 200);
    stop.send(()).unwrap();
    let result =
        tokio::time::timeout(Duration::from_secs(5), server).await.expect("serve returns after the shutdown signal");
    assert!(result.unwrap().is_ok());
    assert!(reqwest::get(format!("http://{addr}/healthz")).await.is_err(), "no longer listening");
}
