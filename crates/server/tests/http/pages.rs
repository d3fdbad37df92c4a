//! The pages over HTTP: the spec's paths answer a browser with HTML and everyone else with the
//! JSON as before (`Vary: Accept` on both); a browser without a session goes to sign in and back;
//! pages show only what the caller may see, escape every text they show, and carry a
//! Content-Security-Policy.

use crate::common::*;
use serde_json::json;

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

async fn page(app: &TestApp, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut request = client.get(format!("{}{path}", app.url)).header("Accept", HTML);
    if let Some(token) = cookie {
        request = request.header("Cookie", format!("aao_session={token}"));
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_pages_and_everyone_else_the_json() {
    let app = sqlite_app().await;
    let id = app.seed_export(CREATOR, &[SHARED]).await;
    for path in ["/exports".to_string(), "/exports/new".to_string(), format!("/exports/{id}")] {
        let response = page(&app, &path, None).await;
        assert_eq!(response.status().as_u16(), 303, "{path}: a browser without a session is sent to sign in");
        let location = response.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(location, format!("/signin?next={path}"), "{path}");
        assert_eq!(response.headers()["vary"], "Accept", "{path}");
    }
    // The API answers as before, now with Vary.
    let response = app.send("GET", "/exports", &app.key(CREATOR), Body::None).await;
    assert_eq!(response.headers()["vary"], "Accept");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let response = app.send("GET", &format!("/exports/{id}"), &Auth::Header("accept", "*/*".into()), Body::None).await;
    assert_eq!(response.status().as_u16(), 401, "fetch()'s */* is an API call");
    // A page for a browser with a session.
    let token = app.tokens[CREATOR].clone();
    let response = page(&app, "/exports", Some(&token)).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'self'"), "{csp}");
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&format!("id=\"export-{id}\"")) && html.contains("ALL ADS") && html.contains("Manage access (1)"),
        "{html}"
    );
    assert!(
        !html.contains("<script>") && !html.contains("http://") && !html.contains("https://"),
        "nothing inline, nothing from elsewhere"
    );
    assert!(html.len() < 150_000, "under 150 KB");
    // The page's assets are served from the binary.
    for asset in ["app.css", "app.js", "new.js"] {
        let response = app.send("GET", &format!("/assets/{asset}"), &Auth::None, Body::None).await;
        assert_eq!(response.status().as_u16(), 200, "{asset}");
    }
    assert_eq!(app.send("GET", "/assets/nope.js", &Auth::None, Body::None).await.status().as_u16(), 404);
    assert_eq!(page(&app, "/", None).await.headers()["location"], "/exports", "/ leads to the list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_show_only_what_the_caller_may_see_and_escape_ad_text() {
    let app = sqlite_app().await;
    let hostile = "<img src=x onerror=alert(1)></script>";
    let export = app
        .create(CREATOR, json!({"query": {"method": "PAGE_NAME_CONTAINS", "args": [hostile]}, "fields": ["tags"]}))
        .await;
    let id = export["export_id"].as_str().unwrap();
    let creator = app.tokens[CREATOR].clone();
    for path in ["/exports".to_string(), format!("/exports/{id}"), format!("/exports/new?from={id}")] {
        let html = page(&app, &path, Some(&creator)).await.text().await.unwrap();
        assert!(!html.contains("<img src=x") && !html.contains("</script>\""), "{path}: ad text is escaped");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;") || html.contains("&lt;img src=x"),
            "{path}: and shown as text"
        );
    }
    let other = app.tokens[OTHER].clone();
    let response = page(&app, &format!("/exports/{id}"), Some(&other)).await;
    assert_eq!(response.status().as_u16(), 404, "a stranger sees no such export");
    assert!(response.text().await.unwrap().contains(&format!("no export {id}")));
    let response = page(&app, &format!("/exports/new?from={id}"), Some(&other)).await;
    assert_eq!(response.status().as_u16(), 404, "nor can copy it");
    let html = page(&app, "/exports", Some(&other)).await.text().await.unwrap();
    assert!(html.contains("No exports yet") && !html.contains(id), "the stranger's list is empty");
    // The new-export page lists every field, defaults preselected, each named for people.
    let html = page(&app, "/exports/new", Some(&creator)).await.text().await.unwrap();
    let catalogue = app.storage.exportable_fields().await.unwrap();
    for f in &catalogue {
        assert!(html.contains(&format!("value=\"{}\"", f.path)), "{}", f.path);
    }
    assert_eq!(html.matches(" checked data-default").count(), catalogue.iter().filter(|f| f.is_default).count());
    assert!(html.contains("Include images") && html.contains("Create export") && html.contains("Query JSON"));
    // A disabled user's session no longer opens pages.
    let disabled = app.tokens[DISABLED].clone();
    assert_eq!(page(&app, "/exports", Some(&disabled)).await.status().as_u16(), 303);
}

/// Download buttons point at the stable link, so showing a page signs and records nothing; the
/// detail page shows its creator and admins who downloaded (and a user it is shared with, not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_link_to_the_stable_download_and_show_who_downloaded() {
    let app = sqlite_app().await;
    let id = app.seed_export(CREATOR, &[SHARED]).await;
    app.complete(id, now_ms(), Some(b"PK zip")).await;
    let (creator, shared, admin) = (app.tokens[CREATOR].clone(), app.tokens[SHARED].clone(), app.tokens[ADMIN].clone());
    let button = format!("href=\"/exports/{id}/download\" download>Download</a>");
    for path in ["/exports".to_string(), format!("/exports/{id}")] {
        let html = page(&app, &path, Some(&shared)).await.text().await.unwrap();
        assert!(html.contains(&button), "{path}: {html}");
        assert!(!html.contains("/downloads/") && !html.contains("signature="), "{path}: no signed URL in the page");
    }
    let html = page(&app, &format!("/exports/{id}"), Some(&creator)).await.text().await.unwrap();
    assert!(html.contains("Downloads") && html.contains("Not downloaded yet."), "{html}");
    assert_eq!(app.storage.downloads(id).await.unwrap(), vec![], "showing pages recorded nothing");

    // A click on the button, with the session cookie: a download through the link.
    let response = page(&app, &format!("/exports/{id}/download"), Some(&shared)).await;
    assert_eq!(response.status().as_u16(), 302);
    let html = page(&app, &format!("/exports/{id}"), Some(&admin)).await.text().await.unwrap();
    let section = html.split("id=\"downloads\"").nth(1).expect("a Downloads section for an admin");
    assert!(section.contains("<td>Shared</td>") && section.contains("download link"), "{section}");
    assert!(!section.contains("Not downloaded yet."), "{section}");
    let html = page(&app, &format!("/exports/{id}"), Some(&shared)).await.text().await.unwrap();
    assert!(!html.contains("id=\"downloads\""), "a user it is shared with does not see who downloaded");
}
