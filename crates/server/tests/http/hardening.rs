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

/// A form body, as a browser encodes it.
fn form(pairs: &[(&str, &str)]) -> String {
    let encode =
        |text: &str| percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string();
    pairs.iter().map(|(name, value)| format!("{}={}", encode(name), encode(value))).collect::<Vec<_>>().join("&")
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
