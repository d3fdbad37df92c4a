//! What the AAO's own dashboard needs of the API beyond the spec (issue 21), each difference from
//! the AAO's API as the dashboard reads it: `POST /auth/verify` on every page load, `token` in the
//! sign-in answer, `id` on each field, `username`/`enabled`/`role`/`provider` on each user, and
//! CORS for the dashboard's own origin (configured), with the session cookie still refused from
//! any other origin.

use crate::common::{
    ADMIN, Auth, Body, CREATOR, DASHBOARD_ORIGIN, DISABLED, TestApp, apps, assert_error, sqlite_app, user,
};
use aao_export_db::UsersDb;
use aao_export_service::auth::Claims;
use aao_export_service::sessions;
use serde_json::{Value, json};

async fn verify(app: &TestApp, body: Value) -> (u16, Value) {
    app.call("POST", "/auth/verify", &Auth::None, Body::Json(body)).await
}

/// A sign-in as the dashboard makes it: from its own origin, JSON, no cookie.
async fn dashboard_login(app: &TestApp, origin: &str, username: &str, password: &str) -> (u16, Value, Option<String>) {
    let response = app
        .http
        .post(format!("{}/auth/login", app.url))
        .header("Origin", origin)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let allowed = response.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string());
    (status, response.json().await.unwrap(), allowed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_answers_as_the_aaos_api_does() {
    for app in apps().await {
        let b = app.backend;
        let good = app.tokens[CREATOR].clone();
        assert_eq!(verify(&app, json!({"token": good})).await, (200, json!({"success": true})), "[{b}]");
        // Every bad token is VERIFY_FAILED, saying why.
        let now = chrono::Utc::now().timestamp() as u64;
        let expired = app.signed(&Claims {
            sub: CREATOR.into(),
            role: "user".into(),
            full_name: "Creator".into(),
            enabled: true,
            iat: now - 7200,
            exp: now - 3600,
            provider: None,
            sid: None,
            iss: None,
            aud: None,
        });
        let foreign = aao_export_service::Tokens::new("another-secret".to_string().into(), 60).mint(&user(CREATOR));
        let gone = app.jwt.mint(&user("nobody-here"));
        for (token, why) in [
            (expired.as_str(), "expired"),
            ("not.a.token", "not valid"),
            (foreign.as_str(), "not valid"),
            (app.tokens[DISABLED].as_str(), "disabled"),
            (gone.as_str(), "does not exist"),
        ] {
            let got = verify(&app, json!({"token": token})).await;
            assert_error(&got, 400, "VERIFY_FAILED", &format!("[{b}] {why}"));
        }
        // A body that holds no token is a bad request, named.
        assert_error(&verify(&app, json!({})).await, 400, "INVALID_REQUEST", "no token");
        assert_error(&verify(&app, json!({"token": ""})).await, 400, "INVALID_REQUEST", "an empty token");
        assert_error(&verify(&app, json!({"token": 5})).await, 400, "INVALID_REQUEST", "a number");
        assert_error(&verify(&app, json!({"token": good, "x": 1})).await, 400, "INVALID_REQUEST", "an unknown key");
        let raw =
            app.call("POST", "/auth/verify", &Auth::None, Body::Raw(Some("application/json"), b"{".to_vec())).await;
        assert_error(&raw, 400, "INVALID_JSON", "not JSON");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_hands_out_the_token_too_and_the_dashboards_origin_may_ask() {
    for app in apps().await {
        let b = app.backend;
        let users: &dyn UsersDb = app.storage.as_ref();
        sessions::set_password(users, CREATOR, None, "creator's passphrase").await.unwrap();
        let (status, body, allowed) = dashboard_login(&app, DASHBOARD_ORIGIN, CREATOR, "creator's passphrase").await;
        assert_eq!(status, 200, "[{b}] {body}");
        assert_eq!(allowed.as_deref(), Some(DASHBOARD_ORIGIN), "[{b}] the dashboard may read the answer");
        assert_eq!((body["success"].clone(), body["user"]["id"].clone()), (json!(true), json!(CREATOR)), "[{b}]");
        let token = body["token"].as_str().expect("a token").to_string();
        let (status, mine) = app.get("/exports", &Auth::Bearer(token.clone())).await;
        assert_eq!((status, mine), (200, json!([])), "[{b}] the token works as a bearer token");
        assert_eq!(verify(&app, json!({"token": token})).await.0, 200, "[{b}] and verifies");
        // The cookie holds the same token (our pages keep using it).
        let response = app
            .http
            .post(format!("{}/auth/login", app.url))
            .json(&json!({"username": CREATOR, "password": "creator's passphrase"}))
            .send()
            .await
            .unwrap();
        let cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
        let body: Value = response.json().await.unwrap();
        assert!(cookie.starts_with(&format!("aao_session={};", body["token"].as_str().unwrap())), "[{b}] {cookie}");
        // Another site's page may not sign in; a wrong password is refused as ever.
        let (status, body, allowed) =
            dashboard_login(&app, "https://evil.example", CREATOR, "creator's passphrase").await;
        assert_error(&(status, body), 403, "INVALID_ORIGIN", "another origin");
        assert_eq!(allowed, None, "[{b}] no CORS for an origin not configured");
        let (status, body, _) = dashboard_login(&app, DASHBOARD_ORIGIN, CREATOR, "wrong").await;
        assert_error(&(status, body.clone()), 401, "INVALID_CREDENTIALS", "a wrong password");
        assert!(body.get("token").is_none(), "[{b}] no token with a refusal");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_carry_id_and_users_carry_what_the_aaos_api_gives() {
    for app in apps().await {
        let b = app.backend;
        let (status, fields) = app.get("/exports/fields", &app.key(CREATOR)).await;
        assert_eq!(status, 200, "[{b}] {fields}");
        let fields = fields.as_array().unwrap();
        assert!(fields.len() > 40, "[{b}] the whole catalogue");
        for f in fields {
            assert_eq!(f["id"], f["field_id"], "[{b}] id is the field id: {f}");
            for key in ["name", "description", "path", "is_default"] {
                assert!(f.get(key).is_some(), "[{b}] {key} kept: {f}");
            }
        }
        let users: &dyn UsersDb = app.storage.as_ref();
        sessions::set_password(users, ADMIN, Some("the.admin"), "admin's passphrase").await.unwrap();
        let (status, listed) = app.get("/users", &app.key(CREATOR)).await;
        assert_eq!(status, 200, "[{b}] {listed}");
        let admin = listed.as_array().unwrap().iter().find(|u| u["id"] == ADMIN).unwrap();
        assert_eq!(
            admin,
            &json!({"id": ADMIN, "full_name": "Admin", "username": "the.admin", "enabled": true, "role": "admin", "provider": "local"}),
            "[{b}] as the AAO's get_user_dict"
        );
        let creator = listed.as_array().unwrap().iter().find(|u| u["id"] == CREATOR).unwrap();
        assert_eq!(
            (creator["username"].clone(), creator["provider"].clone()),
            (Value::Null, Value::Null),
            "[{b}] none"
        );
        assert!(listed.as_array().unwrap().iter().all(|u| u["id"] != DISABLED), "[{b}] enabled users only");
    }
}

/// Preflight and answer headers for the configured origin only; never credentials; the session
/// cookie from the dashboard's origin is still refused when it would change something.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_for_the_configured_origin_and_never_for_the_cookie() {
    let app = sqlite_app().await;
    let preflight = |origin: &'static str, method: &'static str, headers: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}/exports/abc", app.url))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", headers)
            .send()
    };
    let allowed = preflight(DASHBOARD_ORIGIN, "DELETE", "authorization,content-type").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], DASHBOARD_ORIGIN);
    let methods = h["access-control-allow-methods"].to_str().unwrap().to_ascii_uppercase();
    for m in ["GET", "POST", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    for header in ["authorization", "content-type", "x-api-key"] {
        assert!(headers.contains(header), "{headers}");
    }
    assert!(h.get("access-control-allow-credentials").is_none(), "never credentials");
    let other = preflight("https://evil.example", "DELETE", "authorization").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none(), "no CORS for another origin");

    // An answer, and a refusal, both readable by the dashboard.
    let get = |auth: Option<String>| {
        let mut request = app.http.get(format!("{}/exports", app.url)).header("Origin", DASHBOARD_ORIGIN);
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let ok = get(Some(app.tokens[CREATOR].clone())).await.unwrap();
    assert_eq!(
        (ok.status().as_u16(), ok.headers()["access-control-allow-origin"].to_str().unwrap()),
        (200, DASHBOARD_ORIGIN)
    );
    let refused = get(None).await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(refused.headers()["access-control-allow-origin"], DASHBOARD_ORIGIN, "a refusal is readable too");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["comment"], "NO_VALID_AUTHENTICATION");

    // The session cookie from the dashboard's origin changes nothing.
    let export = app.seed_export(CREATOR, &[]).await;
    let deleted = app
        .http
        .delete(format!("{}/exports/{export}", app.url))
        .header("Origin", DASHBOARD_ORIGIN)
        .header("Cookie", format!("aao_session={}", app.tokens[CREATOR]))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 403, "the cookie is for this site's own pages");
    assert!(app.storage.export(export).await.unwrap().is_some(), "not deleted");
}
