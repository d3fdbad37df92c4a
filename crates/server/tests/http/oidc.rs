//! Signing in with CILogon's protocol against a real OpenID Connect provider on loopback
//! (`oidc-provider`, through a proxy that can spoil its token answers): a first sign-in waits for
//! an administrator, an enabled one signs in and lands where it was going, an identity the AAO
//! wrote signs in as its user, and every way the answer can be wrong is refused with a page that
//! says so and no session.

use crate::common::{ADMIN, Auth, Body, CREATOR, TestApp, form, spawn_app_listening, sqlite_app};
use aao_export_db::Database;
use aao_export_server::oidc::{ClientSecret, DEFAULT_SCOPES, Oidc, OidcSettings};
use aao_export_testkit::oidc::{
    CLIENT_ID, CLIENT_SECRET, OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, OidcProvider, ProviderProxy, Spoil,
};
use aao_export_testkit::{AAO_SEED, AaoDatabase, TestDatabase};
use reqwest::Url;
use serde_json::Value;
use sqlx::{Connection, PgConnection, Row};
use std::collections::HashMap;
use std::sync::Arc;

const NEXT: &str = "/exports/new";

/// The app signing in through the provider, behind the proxy.
struct Signing {
    app: TestApp,
    provider: OidcProvider,
    proxy: ProviderProxy,
}

fn settings(issuer: &str, public_url: &str) -> OidcSettings {
    OidcSettings {
        issuer_url: issuer.to_string(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(ClientSecret::new(CLIENT_SECRET.into())),
        provider: "cilogon".into(),
        display_name: "CILogon".into(),
        scopes: DEFAULT_SCOPES.split(' ').map(str::to_string).collect(),
        public_url: public_url.to_string(),
        flow_key: uuid::Uuid::new_v4().as_bytes().to_vec(),
    }
}

async fn signing_app(db: TestDatabase) -> Option<Signing> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (proxy, forward_to) = ProviderProxy::start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    let provider = OidcProvider::start(&format!("{url}/auth/oidc/callback"), Some(&proxy.url))?;
    forward_to(&provider.url);
    let oidc = Oidc::new(settings(&proxy.url, &url)).unwrap();
    let app = spawn_app_listening(db, listener, |state| state.with_oidc(oidc)).await;
    Some(Signing { app, provider, proxy })
}

/// A browser: follows redirects by hand and keeps each site's cookies.
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, HashMap<String, String>>,
}

impl Browser {
    fn new() -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { http, cookies: HashMap::new() }
    }

    fn site(url: &Url) -> String {
        format!("{}:{}", url.host_str().unwrap(), url.port_or_known_default().unwrap())
    }

    fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.cookies.get(&Self::site(&Url::parse(url).unwrap()))?.get(name).cloned()
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        let parsed = Url::parse(url).unwrap();
        let jar = self.cookies.entry(Self::site(&parsed)).or_default();
        let header = jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let mut request = self.http.get(url).header("accept", "text/html");
        if !header.is_empty() {
            request = request.header("cookie", header);
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let text = set.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") || attributes.contains("expires=Thu, 01 Jan 1970") {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_string(), value.trim().to_string());
            }
        }
        response
    }

    /// From the sign-in button's link, through the provider (signing in as `account`), up to the
    /// provider's redirect back to the service: that callback URL, not yet visited.
    async fn through_provider(&mut self, app: &TestApp, account: &str) -> String {
        self.through_provider_to(app, account, NEXT).await
    }

    /// [`Browser::through_provider`], asking to go on to `next` (as the link carries it).
    async fn through_provider_to(&mut self, app: &TestApp, account: &str, next: &str) -> String {
        let start = self.get(&format!("{}/auth/oidc/start?next={next}", app.url)).await;
        assert_eq!(start.status(), 303, "the start goes to the provider");
        let mut url = format!("{}&login_hint={account}", location(&start));
        for _ in 0..10 {
            if url.starts_with(&format!("{}/auth/oidc/callback", app.url)) {
                return url;
            }
            let answer = self.get(&url).await;
            assert!(answer.status().is_redirection(), "the provider at {url} answered {}", answer.status());
            url = Url::parse(&url).unwrap().join(&location(&answer)).unwrap().to_string();
        }
        panic!("the provider never sent the browser back");
    }

    /// A whole sign-in as `account`: the callback's answer.
    async fn sign_in(&mut self, app: &TestApp, account: &str) -> (u16, String, reqwest::header::HeaderMap) {
        let callback = self.through_provider(app, account).await;
        let answer = self.get(&callback).await;
        let (status, headers) = (answer.status().as_u16(), answer.headers().clone());
        (status, answer.text().await.unwrap(), headers)
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

/// The user the provider's subject names, through the identity.
async fn user_of(storage: &Arc<dyn Database>, subject: &str) -> Option<aao_export_db::UserOverview> {
    let everyone = storage.users_overview().await.unwrap();
    everyone.into_iter().find(|u| u.identities.contains(&("cilogon".to_string(), subject.to_string())))
}

/// Signs in as `account` and asserts that the page refused it with `status` and `words`, and that
/// no session came of it.
async fn refused(browser: &mut Browser, s: &Signing, callback: &str, status: u16, words: &str) {
    let answer = browser.get(callback).await;
    let got = answer.status();
    let set_cookies: Vec<String> =
        answer.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let page = answer.text().await.unwrap();
    assert_eq!(got, status, "{callback}: {page}");
    assert!(page.contains(words), "the page should say {words:?}:\n{page}");
    assert!(page.contains("Back to sign-in"), "{page}");
    assert!(!set_cookies.iter().any(|c| c.starts_with("aao_session=") && !c.contains("Max-Age=0")), "{set_cookies:?}");
    assert_eq!(browser.cookie(&s.app.url, "aao_session"), None);
}

#[tokio::test]
async fn a_first_sign_in_waits_for_an_administrator_then_lands_where_it_was_going() {
    for db in TestDatabase::ours().await {
        let Some(s) = signing_app(db).await else { return };
        let mut browser = Browser::new();
        let (status, page, headers) = browser.sign_in(&s.app, "nina").await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("Your account is waiting for an administrator to enable it"), "{page}");
        assert!(page.contains("Nina Newcomer") && page.contains("nina@uni.example.edu.au"), "{page}");
        assert!(headers.get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with("aao_session=")));
        assert_eq!(browser.cookie(&s.app.url, "aao_oidc_flow"), None, "the flow's cookie is cleared");
        let waiting = user_of(&s.app.storage, "nina").await.expect("a user for nina");
        assert_eq!(
            (waiting.user.enabled, waiting.user.role.as_str(), waiting.user.full_name.as_str()),
            (false, "user", "Nina Newcomer")
        );
        assert_eq!(waiting.user.primary_email.as_deref(), Some("nina@uni.example.edu.au"));
        assert_eq!(waiting.last_sign_in, None, "no session, so no sign-in");

        // Signing in again changes nothing until an administrator enables the account.
        let (status, _, _) = browser.sign_in(&s.app, "nina").await;
        assert_eq!(status, 403);
        assert_eq!(s.app.storage.users_overview().await.unwrap().len(), 6, "one user for nina, still");

        s.app.storage.set_enabled(&waiting.user.id, true).await.unwrap();
        let (status, page, headers) = browser.sign_in(&s.app, "nina").await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(headers["refresh"], format!("0; url={NEXT}").as_str(), "on to the page it asked for");
        assert!(page.contains(&format!("href=\"{NEXT}\"")), "{page}");
        let session = browser.cookie(&s.app.url, "aao_session").expect("a session cookie");
        let set = headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect::<Vec<_>>().join("\n");
        assert!(set.contains("HttpOnly; SameSite=Strict"), "{set}");
        let (status, me) = s.app.get("/auth/me", &Auth::Header("cookie", format!("aao_session={session}"))).await;
        assert_eq!((status, me["full_name"].as_str()), (200, Some("Nina Newcomer")), "{me}");
        assert_eq!(me["id"], waiting.user.id.as_str());
        assert!(user_of(&s.app.storage, "nina").await.unwrap().last_sign_in.is_some());
        // And the page it asked for shows it signed in.
        let page = browser.get(&format!("{}{NEXT}", s.app.url)).await.text().await.unwrap();
        assert!(page.contains("Signed in as Nina Newcomer"), "{page}");
    }
}

#[tokio::test]
async fn a_name_is_made_of_given_and_family_names_when_the_provider_gives_no_name() {
    let Some(s) = signing_app(TestDatabase::sqlite().await).await else { return };
    let (status, page, _) = Browser::new().sign_in(&s.app, "omar").await;
    assert_eq!(status, 403);
    assert!(page.contains("Omar Okafor"), "{page}");
    assert_eq!(user_of(&s.app.storage, "omar").await.unwrap().user.full_name, "Omar Okafor");
}

#[tokio::test]
async fn the_signing_keys_rotate_and_the_next_sign_in_reads_them_again() {
    let Some(s) = signing_app(TestDatabase::sqlite().await).await else { return };
    let mut browser = Browser::new();
    assert_eq!(browser.sign_in(&s.app, "nina").await.0, 403);
    let nina = user_of(&s.app.storage, "nina").await.unwrap();
    s.app.storage.set_enabled(&nina.user.id, true).await.unwrap();
    assert_eq!(Browser::new().sign_in(&s.app, "nina").await.0, 200);
    let (discovered, keys) = (s.proxy.hits("/.well-known/openid-configuration"), s.proxy.hits("/jwks"));
    assert_eq!((discovered, keys), (1, 1), "discovered once, keys read with it, for two sign-ins");
    s.provider.rotate_keys().await;
    let (status, page, _) = Browser::new().sign_in(&s.app, "nina").await;
    assert_eq!(status, 200, "an ID token signed with the new key is accepted: {page}");
    assert_eq!(s.proxy.hits("/jwks"), 2, "the keys were read again once");
    assert_eq!(Browser::new().sign_in(&s.app, "nina").await.0, 200);
    assert_eq!((s.proxy.hits("/.well-known/openid-configuration"), s.proxy.hits("/jwks")), (1, 2), "and kept");
}

#[tokio::test]
async fn after_signing_in_only_a_path_on_this_site_is_followed() {
    let Some(s) = signing_app(TestDatabase::sqlite().await).await else { return };
    assert_eq!(Browser::new().sign_in(&s.app, "nina").await.0, 403);
    let nina = user_of(&s.app.storage, "nina").await.unwrap();
    s.app.storage.set_enabled(&nina.user.id, true).await.unwrap();
    for (next, lands) in [
        ("/exports/new%3Fx%3D1", "/exports/new?x=1"),
        ("//evil.example", "/exports"),
        ("https://evil.example/", "/exports"),
        ("/%2F%2Fevil.example", "/exports"),
        ("/%09/evil.example", "/exports"),
    ] {
        let mut browser = Browser::new();
        let callback = browser.through_provider_to(&s.app, "nina", next).await;
        let answer = browser.get(&callback).await;
        assert_eq!(answer.status(), 200, "{next}");
        assert_eq!(answer.headers()["refresh"], format!("0; url={lands}").as_str(), "{next}");
    }
    // A query that cannot be read (a parameter twice) is refused with a page, not a bare 400.
    let mut browser = Browser::new();
    let callback = browser.through_provider(&s.app, "nina").await;
    let answer = browser.get(&format!("{callback}&state=again")).await;
    assert_eq!(answer.status(), 400);
    let page = answer.text().await.unwrap();
    assert!(page.contains("its answer could not be read") && page.contains("Back to sign-in"), "{page}");
}

#[tokio::test]
async fn every_wrong_answer_is_refused_with_a_page_and_no_session() {
    let Some(s) = signing_app(TestDatabase::sqlite().await).await else { return };
    let mut browser = Browser::new();
    // State mismatch: the answer to another sign-in.
    let callback = browser.through_provider(&s.app, "nina").await;
    let mut other = Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = other
        .query_pairs()
        .map(|(k, v)| (k.to_string(), if k == "state" { "someone-elses".to_string() } else { v.to_string() }))
        .collect();
    other.query_pairs_mut().clear().extend_pairs(pairs);
    refused(&mut browser, &s, other.as_str(), 400, "does not belong to the sign-in this browser started").await;

    // No flow cookie (another browser, or after 10 minutes).
    let callback = browser.through_provider(&s.app, "nina").await;
    refused(&mut Browser::new(), &s, &callback, 400, "started in another browser or more than 10 minutes ago").await;

    // The provider says no.
    let mut fresh = Browser::new();
    let callback = fresh.through_provider(&s.app, "refuse").await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    refused(&mut fresh, &s, &callback, 403, "CILogon did not sign you in: The user cancelled the sign-in.").await;

    // A tampered ID token (its payload changed, its signature not).
    s.proxy.spoil(Spoil::TamperIdToken);
    let callback = browser.through_provider(&s.app, "nina").await;
    refused(&mut browser, &s, &callback, 400, "signature is not valid").await;

    // An ID token without a subject.
    s.proxy.spoil(Spoil::DropSubject);
    let callback = browser.through_provider(&s.app, "nina").await;
    refused(&mut browser, &s, &callback, 400, "its ID token could not be read").await;

    // Genuine ID tokens: issued to another client; for another sign-in (nonce); by another issuer.
    s.proxy.spoil(Spoil::Nothing);
    let redirect = format!("{}/auth/oidc/callback", s.app.url);
    let theirs = genuine_id_token(&s.proxy.url, &redirect, (OTHER_CLIENT_ID, OTHER_CLIENT_SECRET), "n").await;
    s.proxy.spoil(Spoil::SwapIdToken(theirs));
    let callback = browser.through_provider(&s.app, "nina").await;
    refused(&mut browser, &s, &callback, 400, "issued to another service (audience)").await;
    s.proxy.spoil(Spoil::Nothing);
    let earlier = genuine_id_token(&s.proxy.url, &redirect, (CLIENT_ID, CLIENT_SECRET), "another-sign-in").await;
    s.proxy.spoil(Spoil::SwapIdToken(earlier));
    let callback = browser.through_provider(&s.app, "nina").await;
    refused(&mut browser, &s, &callback, 400, "is for another sign-in (nonce)").await;
    let elsewhere = OidcProvider::start(&redirect, None).unwrap();
    let foreign = genuine_id_token(&elsewhere.url, &redirect, (CLIENT_ID, CLIENT_SECRET), "n").await;
    s.proxy.spoil(Spoil::SwapIdToken(foreign));
    let callback = browser.through_provider(&s.app, "nina").await;
    refused(&mut browser, &s, &callback, 400, "comes from another issuer").await;

    // The token endpoint down.
    s.proxy.spoil(Spoil::TokenEndpointDown);
    let callback = browser.through_provider(&s.app, "nina").await;
    refused(&mut browser, &s, &callback, 502, "CILogon did not answer as expected").await;
    s.proxy.spoil(Spoil::Nothing);

    // A code used twice: the second time (the flow cookie replayed with it) is refused.
    let callback = browser.through_provider(&s.app, "nina").await;
    let flow = browser.cookie(&s.app.url, "aao_oidc_flow").unwrap();
    assert_eq!(browser.get(&callback).await.status(), 403, "nina is waiting");
    let mut replay = Browser::new();
    replay.cookies.insert(Browser::site(&Url::parse(&s.app.url).unwrap()), [("aao_oidc_flow".into(), flow)].into());
    refused(&mut replay, &s, &callback, 400, "already used or has expired").await;

    // None of these made a user: only nina's first sign-in did.
    let made: Vec<_> =
        s.app.storage.users_overview().await.unwrap().into_iter().filter(|u| !u.identities.is_empty()).collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(made[0].identities.contains(&("cilogon".into(), "nina".into())));
}

/// A genuine ID token for nina from the provider at `base`, issued to `client` with `nonce`.
async fn genuine_id_token(base: &str, redirect: &str, client: (&str, &str), nonce: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let mut browser = Browser::new();
    let verifier = "a-verifier-long-enough-for-pkce-0123456789-abcdefghij";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut url = Url::parse(&format!("{base}/auth")).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("client_id", client.0),
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", redirect),
        ("state", "theirs"),
        ("nonce", nonce),
        ("login_hint", "nina"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let mut url = url.to_string();
    while !url.starts_with(redirect) {
        let answer = browser.get(&url).await;
        assert!(answer.status().is_redirection(), "{url}: {}", answer.status());
        url = Url::parse(&url).unwrap().join(&location(&answer)).unwrap().to_string();
    }
    let code = Url::parse(&url).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
    let tokens: Value = reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth(client.0, Some(client.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["id_token"].as_str().unwrap_or_else(|| panic!("an ID token: {tokens}")).to_string()
}

#[tokio::test]
async fn a_provider_that_does_not_answer_gets_a_502_page() {
    // Nothing listens at the issuer: discovery fails when the button is pressed.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let oidc = Oidc::new(settings(&issuer, &url)).unwrap();
    let app = spawn_app_listening(TestDatabase::sqlite().await, listener, |state| state.with_oidc(oidc)).await;
    let answer = app.no_redirect.get(format!("{url}/auth/oidc/start?next=/exports")).send().await.unwrap();
    assert_eq!(answer.status(), 502);
    assert!(answer.headers().get("set-cookie").is_none());
    let page = answer.text().await.unwrap();
    assert!(page.contains("CILogon did not answer as expected") && page.contains("Back to sign-in"), "{page}");
    // The sign-in page still offers the button, and the password form.
    let page = app.http.get(format!("{url}/signin")).header("accept", "text/html").send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("Sign in with CILogon") && page.contains("id=\"password\""), "{page}");
}

#[tokio::test]
async fn without_a_provider_there_is_no_button_and_no_route() {
    let app = sqlite_app().await;
    let page = app.http.get(format!("{}/signin", app.url)).header("accept", "text/html").send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(!page.contains("Sign in with") && page.contains("Use your Ad Observatory username and password"), "{page}");
    for path in ["/auth/oidc/start", "/auth/oidc/callback?code=x&state=y"] {
        let (status, body) = app.call("GET", path, &Auth::None, Body::None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
}

#[tokio::test]
async fn administrators_enable_and_disable_people_on_the_users_page() {
    let app = sqlite_app().await;
    let cookie = |who: &str| format!("aao_session={}", app.tokens[who]);
    let page = |who: &str| {
        app.no_redirect
            .get(format!("{}/admin/users", app.url))
            .header("accept", "text/html")
            .header("cookie", cookie(who))
    };
    let answer = page(ADMIN).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let html = answer.text().await.unwrap();
    assert!(html.contains(r#"<a href="/admin/users" aria-current="page">Users</a>"#), "{html}");
    assert!(html.contains("5 users, 1 of them not enabled"), "{html}");
    let first_row = html.split("<tbody>").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(
        first_row.contains("data-user=\"disabled\"") && first_row.contains("Not enabled"),
        "waiting first: {first_row}"
    );
    assert!(first_row.contains(r#"value="enable""#), "{first_row}");

    let answer = page(CREATOR).send().await.unwrap();
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap().contains("only administrators may see the list of users"));
    let html =
        app.http.get(format!("{}/exports", app.url)).header("accept", "text/html").header("cookie", cookie(CREATOR));
    assert!(!html.send().await.unwrap().text().await.unwrap().contains("/admin/users"), "no Users link for others");
    let anonymous = app.no_redirect.get(format!("{}/admin/users", app.url)).header("accept", "text/html");
    assert_eq!(location(&anonymous.send().await.unwrap()), "/signin?next=/admin/users");

    let post = |who: &str, origin: Option<&str>, user: &str, action: &str| {
        let mut request = app.no_redirect.post(format!("{}/admin/users", app.url)).header("cookie", cookie(who));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("user_id", user), ("action", action)]))
            .send()
    };
    let enabled = |id: &'static str| {
        let storage = app.storage.clone();
        async move { storage.user(id).await.unwrap().unwrap().enabled }
    };
    // Refused, each next to its user or at the top, and nothing changes.
    let origin = Some(app.url.as_str());
    for (who, origin, user, action, status, words) in [
        (ADMIN, None, "disabled", "enable", 403, "did not come from this site's own page, so nothing was changed"),
        (ADMIN, Some("http://evil.example"), "disabled", "enable", 403, "so nothing was changed"),
        (CREATOR, origin, "disabled", "enable", 403, "only administrators may enable or disable users"),
        (ADMIN, origin, "disabled", "promote", 400, "is not something a user can be changed by"),
        (ADMIN, origin, ADMIN, "disable", 400, "you cannot disable yourself"),
        (ADMIN, origin, "nobody", "enable", 404, "no user &quot;nobody&quot;"),
    ] {
        let answer = post(who, origin, user, action).await.unwrap();
        assert_eq!(answer.status(), status, "{who} {user} {action}");
        let html = answer.text().await.unwrap();
        assert!(html.contains(words) && html.contains("role=\"alert\""), "{words}: {html}");
        assert!(!enabled("disabled").await && enabled(ADMIN).await);
    }
    let answer = post(ADMIN, origin, "disabled", "enable").await.unwrap();
    assert_eq!((answer.status().as_u16(), location(&answer).as_str()), (303, "/admin/users?changed=disabled"));
    assert!(enabled("disabled").await);
    let html = app.http.get(format!("{}/admin/users?changed=disabled", app.url)).header("accept", "text/html");
    let html = html.header("cookie", cookie(ADMIN)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Disabled is enabled and can sign in."), "{html}");
    let creator = app.storage.user(CREATOR).await.unwrap().unwrap();
    app.storage.start_session("creator-session", CREATOR, 0, i64::MAX).await.unwrap();
    let session = app.jwt.mint_for_session(&creator, "creator-session");
    let (status, _) = app.get("/auth/me", &Auth::Bearer(session.clone())).await;
    assert_eq!(status, 200);
    let answer = post(ADMIN, origin, CREATOR, "disable").await.unwrap();
    assert_eq!(answer.status(), 303);
    assert!(!enabled(CREATOR).await);
    assert!(!app.storage.session_alive("creator-session", CREATOR, 1).await.unwrap(), "disabling ends the sessions");
    post(ADMIN, origin, CREATOR, "enable").await.unwrap();
    let (status, body) = app.get("/auth/me", &Auth::Bearer(session)).await;
    assert_eq!((status, &body["comment"]), (401, &Value::from("SESSION_ENDED")), "and they stay ended: {body}");
    post(ADMIN, origin, CREATOR, "disable").await.unwrap();
    let (status, _) = app.get("/auth/me", &Auth::Bearer(app.tokens[CREATOR].clone())).await;
    assert_eq!(status, 403, "a disabled user's token is refused");
}

/// The AAO's tables' row counts, to see that nothing else of theirs was written.
async fn aao_counts(aao: &mut PgConnection) -> Vec<(String, i64)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&mut *aao)
    .await
    .unwrap();
    let mut counts = Vec::new();
    for table in tables {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM public.\"{table}\"")))
            .fetch_one(&mut *aao)
            .await
            .unwrap();
        counts.push((table, n));
    }
    counts
}

#[tokio::test]
async fn attached_to_the_aaos_database_a_sign_in_writes_only_what_its_api_writes() {
    let Some(aao) = AaoDatabase::new(&[AAO_SEED]).await else { return };
    let mut conn = PgConnection::connect(&aao.url).await.unwrap();
    // A researcher who signed in on the AAO's dashboard before: their identity, as its API wrote it.
    sqlx::query("INSERT INTO public.users (id, full_name, enabled, role, primary_email) VALUES ('aao-ahmed', 'A. Already', true, 'user', NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO public.user_identities (user_id, provider, provider_user_id, password, created_at) VALUES ('aao-ahmed', 'cilogon', 'ahmed', NULL, 1700000000)")
        .execute(&mut conn)
        .await
        .unwrap();
    let Some(s) = signing_app(aao.attach().await).await else { return };
    let before = aao_counts(&mut conn).await;

    // The existing identity signs in as its user, name and email refreshed.
    let (status, page, _) = Browser::new().sign_in(&s.app, "ahmed").await;
    assert_eq!(status, 200, "{page}");
    let row = sqlx::query("SELECT full_name, primary_email, enabled FROM public.users WHERE id = 'aao-ahmed'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("full_name"), "Ahmed Already");
    assert_eq!(row.get::<Option<String>, _>("primary_email").as_deref(), Some("ahmed@uni.example.edu.au"));
    assert_eq!(aao_counts(&mut conn).await, before, "no row of the AAO's added or removed");

    // A first sign-in: exactly a disabled user and its cilogon identity.
    // (Another person, so another browser: the provider would otherwise ask who is signing in.)
    let mut browser = Browser::new();
    let (status, _, _) = browser.sign_in(&s.app, "nina").await;
    assert_eq!(status, 403);
    let after = aao_counts(&mut conn).await;
    let grew: Vec<_> =
        before.iter().zip(&after).filter(|(b, a)| b != a).map(|(b, a)| (b.0.as_str(), a.1 - b.1)).collect();
    assert_eq!(grew, [("user_identities", 1), ("users", 1)]);
    let row = sqlx::query(
        "SELECT u.id, u.full_name, u.enabled, u.role, u.primary_email, i.password, i.created_at \
         FROM public.user_identities i JOIN public.users u ON u.id = i.user_id WHERE i.provider = 'cilogon' AND i.provider_user_id = 'nina'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let id: String = row.get("id");
    assert!(uuid::Uuid::try_parse(&id).is_ok(), "{id}");
    assert_eq!(row.get::<String, _>("full_name"), "Nina Newcomer");
    assert_eq!((row.get::<bool, _>("enabled"), row.get::<String, _>("role")), (false, "user".to_string()));
    assert_eq!(row.get::<Option<String>, _>("password"), None);
    let created_at: i64 =
        row.try_get::<i64, _>("created_at").unwrap_or_else(|_| row.get::<i32, _>("created_at").into());
    let now = chrono::Utc::now().timestamp();
    assert!((now - 120..=now + 5).contains(&created_at), "epoch seconds, as the AAO's API writes: {created_at}");

    // Enabling writes users.enabled, and nothing else of theirs.
    const USERS_ROWS: &str = "SELECT to_jsonb(u)::text FROM public.users u ORDER BY id";
    let users_before: Vec<String> = sqlx::query_scalar(USERS_ROWS).fetch_all(&mut conn).await.unwrap();
    s.app.storage.set_enabled(&id, true).await.unwrap();
    let users_after: Vec<String> = sqlx::query_scalar(USERS_ROWS).fetch_all(&mut conn).await.unwrap();
    let changed: Vec<_> = users_before.iter().zip(&users_after).filter(|(b, a)| b != a).collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].0.replace("\"enabled\": false", "\"enabled\": true"), *changed[0].1);
    assert_eq!(browser.sign_in(&s.app, "nina").await.0, 200, "and nina signs in");
}
