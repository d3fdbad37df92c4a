//! What an attacker tried against the sign-in page, sign-out and cached answers (issue 19), each
//! refused: `next` leads only to a path on this site; a page of another site cannot sign a visitor
//! out; no answer that holds a URL, a token or user data may be kept by a cache.

use crate::common::*;

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// Where a signed-in browser's `GET /signin?next=…` (sent as given, not re-encoded) is sent.
async fn next_from_signin_page(app: &TestApp, token: &str, raw_next: &str) -> String {
    let url = format!("{}/signin?next={raw_next}", app.url);
    let response = app
        .no_redirect
        .get(url)
        .header("Accept", HTML)
        .header("Cookie", format!("aao_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303, "{raw_next}");
    response.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_leads_only_to_a_path_on_this_site() {
    let app = sqlite_app().await;
    let token = app.tokens[CREATOR].clone();
    // Each as a browser would send it in the query (percent-encoded where a URL must be).
    for raw in [
        "/%09/evil.example",
        "/%0a/evil.example",
        "/%0d/evil.example",
        "%09/evil.example",
        "//evil.example",
        "/%5Cevil.example",
        "%5C/evil.example",
        "https://evil.example/",
        "https:%2F%2Fevil.example",
        "/%252F%252Fevil.example",
        "%2F%2Fevil.example",
        "%20/exports",
        "javascript:alert(1)",
    ] {
        assert_eq!(next_from_signin_page(&app, &token, raw).await, "/exports", "next={raw}");
    }
    assert_eq!(next_from_signin_page(&app, &token, "/exports/new").await, "/exports/new");
    assert_eq!(next_from_signin_page(&app, &token, "%2Fexports%3Fpage%3D2").await, "/exports?page=2");

    // The form carries it through a password sign-in the same way.
    let users: &dyn aao_export_db::UsersDb = app.storage.as_ref();
    aao_export_service::sessions::set_password(users, CREATOR, None, "correct horse battery").await.unwrap();
    for (next, to) in [("/\t/evil.example", "/exports"), ("/exports/new", "/exports/new")] {
        let response = app
            .no_redirect
            .post(format!("{}/signin", app.url))
            .header("Origin", &app.url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[("username", CREATOR), ("password", "correct horse battery"), ("next", next)]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 303, "{next:?}");
        assert_eq!(response.headers()["location"], to, "{next:?}");
    }
}

/// `POST /signout` with the session cookie and the given Origin: status, the cookie it sets (if
/// any) and the page.
async fn sign_out(app: &TestApp, token: &str, origin: Option<&str>) -> (u16, Option<String>, String) {
    let mut request =
        app.no_redirect.post(format!("{}/signout", app.url)).header("Cookie", format!("aao_session={token}"));
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_string());
    (status, cookie, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_site_cannot_sign_a_visitor_out() {
    let app = sqlite_app().await;
    let token = app.tokens[CREATOR].clone();
    for origin in [Some("https://evil.example"), Some("null"), None] {
        let (status, cookie, page) = sign_out(&app, &token, origin).await;
        assert_eq!((status, cookie), (403, None), "{origin:?}: refused, the cookie kept");
        assert!(page.contains("you are still signed in"), "{origin:?}: {page}");
    }
    let (status, cookie, _) = sign_out(&app, &token, Some(&app.url)).await;
    assert_eq!(status, 303, "from this site's own page");
    assert!(cookie.unwrap().starts_with("aao_session=;"), "the cookie is cleared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_with_urls_tokens_or_user_data_are_never_cached() {
    let app = sqlite_app().await;
    let id = app.seed_export(CREATOR, &[SHARED]).await;
    app.complete(id, now_ms(), Some(b"PK")).await;
    let creator = app.key(CREATOR);
    let cache = |r: &reqwest::Response| r.headers().get("cache-control").map(|v| v.to_str().unwrap().to_string());
    for (method, path, auth) in [
        ("GET", format!("/exports/{id}"), creator.clone()),
        ("GET", "/exports".to_string(), creator.clone()),
        ("GET", "/users".to_string(), creator.clone()),
        ("GET", "/auth/me".to_string(), creator.clone()),
        ("GET", format!("/exports/{id}"), Auth::None),
        ("GET", "/nope".to_string(), creator.clone()),
    ] {
        let response = app.send(method, &path, &auth, Body::None).await;
        let status = response.status().as_u16();
        assert_eq!(cache(&response).as_deref(), Some("no-store"), "{method} {path} ({status})");
    }
    let response = app.send("GET", &format!("/exports/{id}"), &creator, Body::None).await;
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["url"].as_str().is_some_and(|u| !u.is_empty()), "the answer holds a URL: {body}");
}

/// Signs in through `POST /auth/login`; the session's token.
async fn session_of(app: &TestApp, who: &str, password: &str) -> String {
    let body = serde_json::json!({"username": who, "password": password});
    let response = app.http.post(format!("{}/auth/login", app.url)).json(&body).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "{who} signs in");
    let body: serde_json::Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

/// `GET /auth/me` with the token as a bearer token and as the session cookie: both statuses and
/// the refusal's code (empty when good).
async fn both_ways(app: &TestApp, token: &str) -> [(u16, String); 2] {
    let code = |got: (u16, serde_json::Value)| (got.0, got.1["comment"].as_str().unwrap_or_default().to_string());
    let cookie = app
        .http
        .get(format!("{}/auth/me", app.url))
        .header("Cookie", format!("aao_session={token}"))
        .send()
        .await
        .unwrap();
    let cookie = (cookie.status().as_u16(), cookie.json().await.unwrap());
    [code(app.get("/auth/me", &Auth::Bearer(token.to_string())).await), code(cookie)]
}

/// `POST /auth/logout` with these headers: the status.
async fn logout(app: &TestApp, headers: &[(&str, &str)]) -> u16 {
    let mut request = app.http.post(format!("{}/auth/logout", app.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_or_a_new_password_ends_the_session_at_once() {
    let on = [(200, String::new()), (200, String::new())];
    let ended = [(401, "SESSION_ENDED".to_string()), (401, "SESSION_ENDED".to_string())];
    for app in apps().await {
        let b = app.backend;
        let users: &dyn aao_export_db::UsersDb = app.storage.as_ref();
        aao_export_service::sessions::set_password(users, CREATOR, None, "correct horse battery").await.unwrap();

        // Signing out through the API with the cookie ends the token as a bearer token too.
        let token = session_of(&app, CREATOR, "correct horse battery").await;
        assert_eq!(both_ways(&app, &token).await, on, "[{b}] signed in");
        let cookie = format!("aao_session={token}");
        let from_here = [("Cookie", cookie.as_str()), ("Origin", app.url.as_str())];
        assert_eq!(logout(&app, &from_here).await, 200, "[{b}]");
        assert_eq!(both_ways(&app, &token).await, ended, "[{b}] signed out through /auth/logout");
        let verify = app.post("/auth/verify", &Auth::None, serde_json::json!({"token": token})).await;
        assert_error(&verify, 400, "VERIFY_FAILED", b);

        // The sign-out button of the pages does the same.
        let token = session_of(&app, CREATOR, "correct horse battery").await;
        assert_eq!(sign_out(&app, &token, Some(&app.url)).await.0, 303, "[{b}]");
        assert_eq!(both_ways(&app, &token).await, ended, "[{b}] signed out through /signout");

        // One device signing out (with its bearer token) leaves the other signed in.
        let (laptop, phone) = (
            session_of(&app, CREATOR, "correct horse battery").await,
            session_of(&app, CREATOR, "correct horse battery").await,
        );
        assert_eq!(logout(&app, &[("Authorization", &format!("Bearer {laptop}"))]).await, 200, "[{b}]");
        assert_eq!(both_ways(&app, &laptop).await, ended, "[{b}] the laptop signed out");
        assert_eq!(both_ways(&app, &phone).await, on, "[{b}] the phone still signed in");

        // A new password ends every session; a script's token and API keys are no sessions.
        aao_export_service::sessions::set_password(users, CREATOR, None, "a new passphrase").await.unwrap();
        assert_eq!(both_ways(&app, &phone).await, ended, "[{b}] a new password signs the phone out");
        let script = app.tokens[CREATOR].clone();
        assert_eq!(app.get("/auth/me", &Auth::Bearer(script)).await.0, 200, "[{b}] a script's token works");
        assert_eq!(app.get("/auth/me", &app.key(CREATOR)).await.0, 200, "[{b}] an API key works");
        assert_eq!(both_ways(&app, &session_of(&app, CREATOR, "a new passphrase").await).await, on, "[{b}]");
    }
}

/// `POST /auth/login` from the client `from` (behind the test app's trusted proxy): status, body
/// and the `Retry-After` header.
async fn login_from_address(
    app: &TestApp,
    username: &str,
    password: &str,
    from: &str,
) -> (u16, serde_json::Value, Option<String>) {
    let body = serde_json::json!({"username": username, "password": password});
    let response = app
        .http
        .post(format!("{}/auth/login", app.url))
        .header("X-Forwarded-For", from)
        .json(&body)
        .send()
        .await
        .unwrap();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), response.json().await.unwrap(), retry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attackers_failures_lock_out_the_attacker_not_the_user() {
    for app in apps().await {
        let b = app.backend;
        let users: &dyn aao_export_db::UsersDb = app.storage.as_ref();
        aao_export_service::sessions::set_password(users, CREATOR, None, "correct horse battery").await.unwrap();
        // Five wrong passwords from the attacker's address lock the username there only.
        for _ in 0..5 {
            let (status, _, _) = login_from_address(&app, CREATOR, "guess", "203.0.113.66").await;
            assert_eq!(status, 401, "[{b}]");
        }
        let (status, body, retry) = login_from_address(&app, CREATOR, "correct horse battery", "203.0.113.66").await;
        assert_eq!((status, body["comment"].as_str()), (429, Some("TOO_MANY_ATTEMPTS")), "[{b}] the attacker waits");
        assert!(retry.is_some_and(|s| s.parse::<u64>().unwrap() >= 1), "[{b}] with Retry-After");
        let (status, _, _) = login_from_address(&app, CREATOR, "correct horse battery", "198.51.100.7").await;
        assert_eq!(status, 200, "[{b}] the user, elsewhere, signs in");
        // Signing in there cleared only that address's count: the attacker is still locked out.
        let (status, _, _) = login_from_address(&app, CREATOR, "correct horse battery", "203.0.113.66").await;
        assert_eq!(status, 429, "[{b}]");
        // A new password forgets the username's counts from every address.
        aao_export_service::sessions::set_password(users, CREATOR, None, "a new passphrase").await.unwrap();
        let (status, _, _) = login_from_address(&app, CREATOR, "a new passphrase", "203.0.113.66").await;
        assert_eq!(status, 200, "[{b}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_guess_through_the_user_list() {
    let db = aao_export_testkit::TestDatabase::sqlite().await;
    let app = spawn_app_with(db, |s| {
        s.sign_in.per_address = aao_export_service::RateLimit { hits: 3, per: std::time::Duration::from_secs(600) };
    })
    .await;
    let users: &dyn aao_export_db::UsersDb = app.storage.as_ref();
    aao_export_service::sessions::set_password(users, SHARED, None, "shared's passphrase").await.unwrap();
    for username in ["admin", "creator", "other"] {
        assert_eq!(login_from_address(&app, username, "guess", "203.0.113.66").await.0, 401, "{username}");
    }
    let (status, body, retry) = login_from_address(&app, "nobody-at-all", "guess", "203.0.113.66").await;
    assert_eq!((status, body["comment"].as_str()), (429, Some("TOO_MANY_ATTEMPTS")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("from this address"), "{body}");
    let wait: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    assert_eq!(
        login_from_address(&app, SHARED, "shared's passphrase", "203.0.113.66").await.0,
        429,
        "even a right one"
    );
    assert_eq!(login_from_address(&app, SHARED, "shared's passphrase", "198.51.100.7").await.0, 200, "others go on");
}
