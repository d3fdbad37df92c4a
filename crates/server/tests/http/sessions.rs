//! Signing in with a password and the session cookie: the cookie's flags, the cookie as a
//! credential (and the Origin check on what changes state), one answer for every wrong sign-in,
//! the upgrade of the AAO's legacy MD5 passwords, the lockout after repeated failures, signing
//! out, and bad bodies. On SQLite and, when configured, PostgreSQL.

use crate::common::*;
use aao_export_db::{Database, UsersDb};
use aao_export_service::auth::Claims;
use aao_export_service::{SignInLimits, sessions};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// md5("password"), as the AAO's `user_identities` stores its legacy passwords.
const MD5_OF_PASSWORD: &str = "5f4dcc3b5aa765d61d8327deb882cf99";

async fn give_password(app: &TestApp, user_id: &str, password: &str) {
    let users: &dyn UsersDb = app.storage.as_ref();
    assert_eq!(sessions::set_password(users, user_id, None, password).await.unwrap(), user_id);
}

/// The answer to a sign-in: status, body and the Set-Cookie header.
struct Answer {
    status: u16,
    body: Value,
    cookie: Option<String>,
    cache: Option<String>,
}

async fn login_from(app: &TestApp, username: &str, password: &str, origin: Option<&str>) -> Answer {
    let mut request =
        app.http.post(format!("{}/auth/login", app.url)).json(&json!({"username": username, "password": password}));
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    answer(request.send().await.unwrap()).await
}

async fn login(app: &TestApp, username: &str, password: &str) -> Answer {
    login_from(app, username, password, None).await
}

async fn answer(response: reqwest::Response) -> Answer {
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_string());
    let (cookie, cache) = (header("set-cookie"), header("cache-control"));
    assert!(response.headers().get_all("set-cookie").iter().count() <= 1, "one cookie at most");
    let status = response.status().as_u16();
    let body = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    Answer { status, body, cookie, cache }
}

/// The token in a `Set-Cookie: aao_session=TOKEN; …` header.
fn token_of(cookie: &str) -> String {
    let value = cookie.strip_prefix("__Host-").unwrap_or(cookie);
    value.strip_prefix("aao_session=").unwrap().split(';').next().unwrap().to_string()
}

/// A request carrying the session cookie (and an Origin header, when given).
async fn with_cookie(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    origin: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .http
        .request(method.parse().unwrap(), format!("{}{path}", app.url))
        .header("Cookie", format!("theme=dark; aao_session={token}; lang=en"));
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.text().await.unwrap()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_sets_a_session_cookie_the_api_accepts_like_a_token() {
    for app in apps().await {
        let b = app.backend;
        give_password(&app, CREATOR, "creator's passphrase").await;
        let signed_in = login(&app, CREATOR, "creator's passphrase").await;
        assert_eq!(signed_in.status, 200, "[{b}] {}", signed_in.body);
        let token =
            signed_in.body["token"].as_str().expect("the session's token, for clients that keep it").to_string();
        assert_eq!(
            signed_in.body,
            json!({"success": true, "user": {"id": "creator", "full_name": "Creator", "role": "user"}, "token": token}),
            "[{b}]"
        );
        let cookie = signed_in.cookie.expect("a session cookie");
        let token = token_of(&cookie);
        assert_eq!(
            cookie,
            format!("aao_session={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=3600"),
            "[{b}] HttpOnly, SameSite=Strict, the whole site, as long as the token; not Secure over http"
        );
        assert_eq!(signed_in.cache.as_deref(), Some("no-store"), "[{b}]");
        assert_eq!(token.split('.').count(), 3, "[{b}] a JWT");
        assert_eq!(
            app.get("/exports", &Auth::Bearer(token.clone())).await,
            (200, json!([])),
            "[{b}] a bearer token too"
        );

        // The cookie is a credential for reading.
        let me = json!({"id": "creator", "full_name": "Creator", "role": "user"});
        assert_eq!(with_cookie(&app, "GET", "/auth/me", &token, None, None).await, (200, me.clone()), "[{b}]");
        assert_eq!(with_cookie(&app, "GET", "/exports", &token, None, None).await, (200, json!([])), "[{b}]");
        assert_eq!(app.get("/auth/me", &app.key(ADMIN)).await.1["id"], json!("admin"), "[{b}] any credential");
        assert_error(&app.get("/auth/me", &Auth::None).await, 401, "NO_VALID_AUTHENTICATION", b);

        // Changing something with the cookie needs the service's own Origin.
        let request = json!({"query": {"method": "ALL"}});
        let missing = with_cookie(&app, "POST", "/exports", &token, None, Some(request.clone())).await;
        assert_error(&missing, 403, "INVALID_ORIGIN", b);
        assert!(missing.1["message"].as_str().unwrap().contains("Origin header"), "[{b}] {}", missing.1);
        let foreign =
            with_cookie(&app, "POST", "/exports", &token, Some("https://evil.example"), Some(request.clone()));
        let foreign = foreign.await;
        assert_error(&foreign, 403, "INVALID_ORIGIN", b);
        assert!(
            foreign.1["message"].as_str().unwrap().contains("https://evil.example"),
            "[{b}] names it: {}",
            foreign.1
        );
        let null = with_cookie(&app, "POST", "/exports", &token, Some("null"), Some(request.clone())).await;
        assert_error(&null, 403, "INVALID_ORIGIN", b);
        assert_eq!(app.get("/exports", &app.key(CREATOR)).await.1, json!([]), "[{b}] nothing was created");
        let (status, created) = with_cookie(&app, "POST", "/exports", &token, Some(&app.url), Some(request)).await;
        assert_eq!(status, 201, "[{b}] from the service's own origin: {created}");
        assert_eq!(created["export"]["creator_id"], json!("creator"), "[{b}]");
        let id = created["export"]["export_id"].as_str().unwrap().to_string();
        let path = format!("/exports/{id}");
        assert_error(&with_cookie(&app, "DELETE", &path, &token, None, None).await, 403, "INVALID_ORIGIN", b);
        let deleted = with_cookie(&app, "DELETE", &path, &token, Some(&app.url.to_uppercase()), None).await;
        assert_eq!(deleted, (200, json!({"success": true})), "[{b}] origins compare without case");

        // Headers win over the cookie, and need no Origin (another site cannot set them).
        let response = app
            .http
            .get(format!("{}/auth/me", app.url))
            .header("X-API-Key", &app.keys[ADMIN])
            .header("Cookie", format!("aao_session={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.json::<Value>().await.unwrap()["id"], json!("admin"), "[{b}]");

        // A cookie that is not a session of this service, expired, or a disabled user's.
        assert_error(&with_cookie(&app, "GET", "/auth/me", "not-a-token", None, None).await, 401, "UNAUTHORISED", b);
        let now = (now_ms() / 1000) as u64;
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
        let refused = with_cookie(&app, "GET", "/exports", &expired, None, None).await;
        assert_error(&refused, 401, "SESSION_TOKEN_EXPIRED", b);
        assert!(refused.1["message"].as_str().unwrap().contains("sign in again"), "[{b}] {}", refused.1);
        let disabled = with_cookie(&app, "GET", "/auth/me", &app.tokens[DISABLED], None, None).await;
        assert_error(&disabled, 403, "USER_DISABLED", b);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_clears_the_cookie_with_or_without_a_session() {
    for app in apps().await {
        let b = app.backend;
        let cleared = "aao_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0";
        for cookie in [None, Some("aao_session=whatever")] {
            let mut request = app.http.post(format!("{}/auth/logout", app.url));
            if let Some(cookie) = cookie {
                request = request.header("Cookie", cookie);
            }
            let signed_out = answer(request.send().await.unwrap()).await;
            assert_eq!((signed_out.status, &signed_out.body), (200, &json!({"success": true})), "[{b}] {cookie:?}");
            assert_eq!(signed_out.cookie.as_deref(), Some(cleared), "[{b}] {cookie:?}");
        }
        let from_here =
            app.http.post(format!("{}/auth/logout", app.url)).header("Origin", &app.url).send().await.unwrap();
        assert_eq!(from_here.status().as_u16(), 200, "[{b}]");
        let forged = app.http.post(format!("{}/auth/logout", app.url)).header("Origin", "https://evil.example").send();
        let forged = answer(forged.await.unwrap()).await;
        assert_error(&(forged.status, forged.body), 403, "INVALID_ORIGIN", b);
        assert_eq!(forged.cookie, None, "[{b}] another site cannot sign anyone out");
        // Nor sign anyone in: a sign-in whose Origin is another site is refused before the password.
        give_password(&app, SHARED, "shared's passphrase").await;
        let forged = login_from(&app, SHARED, "shared's passphrase", Some("https://evil.example")).await;
        assert_error(&(forged.status, forged.body), 403, "INVALID_ORIGIN", b);
        assert_eq!(forged.cookie, None, "[{b}]");
        assert_eq!(login_from(&app, SHARED, "shared's passphrase", Some(&app.url)).await.status, 200, "[{b}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_unknown_user_and_disabled_user_get_the_same_answer_in_the_same_time() {
    for app in apps().await {
        let b = app.backend;
        give_password(&app, CREATOR, "creator's passphrase").await;
        give_password(&app, DISABLED, "disabled's passphrase").await;
        let attempts: [(&str, &str, &str); 3] = [
            ("wrong password", CREATOR, "not the passphrase"),
            ("unknown user", "nobody-by-this-name", "creator's passphrase"),
            ("disabled user", DISABLED, "disabled's passphrase"),
        ];
        let mut fastest = Vec::new();
        let mut bodies = Vec::new();
        for (what, username, password) in attempts {
            let mut times = Vec::new();
            for _ in 0..3 {
                let started = Instant::now();
                let refused = login(&app, username, password).await;
                times.push(started.elapsed());
                assert_error(
                    &(refused.status, refused.body.clone()),
                    401,
                    "INVALID_CREDENTIALS",
                    &format!("[{b}] {what}"),
                );
                assert_eq!(refused.cookie, None, "[{b}] {what}: no cookie");
                bodies.push(refused.body);
            }
            fastest.push((what, times.into_iter().min().unwrap()));
        }
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "[{b}] one answer for all: {bodies:?}");
        // Every refusal does one argon2 computation: none is much quicker than a wrong password.
        let slowest = fastest.iter().map(|(_, t)| *t).max().unwrap();
        for (what, t) in &fastest {
            assert!(*t * 4 >= slowest, "[{b}] {what} took {t:?}, the slowest refusal {slowest:?}: {fastest:?}");
        }

        // A user without a password, and usernames no identity can have, are refused alike (no 500).
        let long = "u".repeat(300);
        for username in [OTHER, "a\u{0}b", " creator", long.as_str(), "Creator"] {
            let refused = login(&app, username, "creator's passphrase").await;
            assert_eq!((refused.status, &refused.body), (401, &bodies[0]), "[{b}] {username:?}");
        }
        // Three failures are under the limit, and a success clears them.
        assert_eq!(login(&app, CREATOR, "creator's passphrase").await.status, 200, "[{b}]");
        assert_eq!(login(&app, CREATOR, "creator's passphrase").await.status, 200, "[{b}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_md5_password_signs_in_and_is_stored_as_argon2_from_then_on() {
    for app in apps().await {
        let b = app.backend;
        // As the AAO left it: an unsalted MD5 hex digest (in capitals, as some rows have it).
        let now = now_ms();
        app.storage.set_password(SHARED, None, MD5_OF_PASSWORD, now).await.unwrap();
        app.storage.set_password(OTHER, None, &MD5_OF_PASSWORD.to_uppercase(), now).await.unwrap();
        let stored = |who: &'static str| {
            let storage = app.storage.clone();
            async move { storage.local_identity(who).await.unwrap().unwrap().0.password.unwrap() }
        };
        assert_error(
            &{
                let a = login(&app, SHARED, "Password").await;
                (a.status, a.body)
            },
            401,
            "INVALID_CREDENTIALS",
            b,
        );
        assert_eq!(stored(SHARED).await, MD5_OF_PASSWORD, "[{b}] a wrong password changes nothing");
        for who in [SHARED, OTHER] {
            let signed_in = login(&app, who, "password").await;
            assert_eq!(signed_in.status, 200, "[{b}] {who}: {}", signed_in.body);
            let upgraded = stored(who).await;
            assert!(upgraded.starts_with("$argon2id$v=19$"), "[{b}] {who}: stored as argon2: {upgraded}");
            assert_eq!(login(&app, who, "password").await.status, 200, "[{b}] {who}: and still signs in");
            assert_eq!(stored(who).await, upgraded, "[{b}] {who}: upgraded once");
            let refused = login(&app, who, MD5_OF_PASSWORD).await;
            assert_eq!(refused.status, 401, "[{b}] the digest itself is not a password");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_username_for_a_while_even_with_the_right_password() {
    for db in aao_export_testkit::TestDatabase::ours().await {
        let limits = SignInLimits {
            max_failures: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(2),
            ..SignInLimits::default()
        };
        let app = spawn_app_with(db, |s| s.sign_in = limits).await;
        let b = app.backend;
        give_password(&app, CREATOR, "creator's passphrase").await;
        give_password(&app, SHARED, "shared's passphrase").await;
        for _ in 0..3 {
            assert_eq!(login(&app, CREATOR, "guess").await.status, 401, "[{b}]");
        }
        let locked = login(&app, CREATOR, "creator's passphrase").await;
        assert_error(&(locked.status, locked.body.clone()), 429, "TOO_MANY_ATTEMPTS", b);
        let message = locked.body["message"].as_str().unwrap();
        assert!(
            message.contains("try again in 2 s") || message.contains("try again in 1 s"),
            "[{b}] says when: {message}"
        );
        assert_eq!(locked.cookie, None, "[{b}]");
        assert_eq!(login(&app, CREATOR, "guess").await.status, 429, "[{b}] a guess too");
        assert_eq!(
            login(&app, SHARED, "shared's passphrase").await.status,
            200,
            "[{b}] other usernames are not locked"
        );

        // When the lock ends one attempt goes through; failing, it locks again at once.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(login(&app, CREATOR, "guess").await.status, 401, "[{b}]");
        assert_eq!(login(&app, CREATOR, "creator's passphrase").await.status, 429, "[{b}] locked again");
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(login(&app, CREATOR, "creator's passphrase").await.status, 200, "[{b}] the lock ended");
        // The success cleared the count: two failures later the right password still works.
        for _ in 0..2 {
            assert_eq!(login(&app, CREATOR, "guess").await.status, 401, "[{b}]");
        }
        assert_eq!(login(&app, CREATOR, "creator's passphrase").await.status, 200, "[{b}]");

        // A burst of guesses at once: no more than the limit get an answer about the password.
        let guesses: Vec<_> = (0..8)
            .map(|_| {
                let (http, url) = (app.http.clone(), app.url.clone());
                tokio::spawn(async move {
                    let body = json!({"username": "shared", "password": "guess"});
                    http.post(format!("{url}/auth/login")).json(&body).send().await.unwrap().status().as_u16()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for g in guesses {
            statuses.push(g.await.unwrap());
        }
        statuses.sort();
        assert_eq!(statuses, [401, 401, 401, 429, 429, 429, 429, 429], "[{b}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sign_in_bodies_are_refused_by_name() {
    let app = sqlite_app().await;
    let cases: Vec<(Body, u16, &str, &str)> = vec![
        (Body::Raw(Some("application/json"), b"username=a&password=b".to_vec()), 400, "INVALID_JSON", "not valid JSON"),
        (
            Body::Raw(None, br#"{"username":"a","password":"b"}"#.to_vec()),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "Content-Type",
        ),
        (Body::Json(json!(["a", "b"])), 400, "INVALID_REQUEST", "must be a JSON object, found a list"),
        (Body::Json(json!({})), 400, "INVALID_REQUEST", "username: missing"),
        (Body::Json(json!({"username": "creator"})), 400, "INVALID_REQUEST", "password: missing"),
        (
            Body::Json(json!({"username": 7, "password": "x"})),
            400,
            "INVALID_REQUEST",
            "username: must be a string, found a number",
        ),
        (
            Body::Json(json!({"username": "creator", "password": ["x"]})),
            400,
            "INVALID_REQUEST",
            "password: must be a string, found a list",
        ),
        (Body::Json(json!({"username": "", "password": "x"})), 400, "INVALID_REQUEST", "username: empty"),
        (Body::Json(json!({"username": "creator", "password": ""})), 400, "INVALID_REQUEST", "password: empty"),
        (
            Body::Json(json!({"username": "a", "password": "b", "remember": true})),
            400,
            "INVALID_REQUEST",
            "unknown key \"remember\"",
        ),
    ];
    for (body, status, comment, needle) in cases {
        let got = app.call("POST", "/auth/login", &Auth::None, body).await;
        assert_error(&got, status, comment, needle);
        assert!(got.1["message"].as_str().unwrap().contains(needle), "{needle}: {}", got.1);
    }
    let huge = json!({"username": "creator", "password": "x".repeat(app.max_body_bytes)});
    assert_error(&app.post("/auth/login", &Auth::None, huge).await, 413, "PAYLOAD_TOO_LARGE", "a huge body");
    assert_error(&app.get("/auth/login", &Auth::None).await, 405, "METHOD_NOT_ALLOWED", "GET /auth/login");
    assert_error(&app.call("DELETE", "/auth/me", &Auth::None, Body::None).await, 405, "METHOD_NOT_ALLOWED", "DELETE");
}

/// Behind an https public URL the cookie is Secure, and the Origin to match is the https one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_is_secure_behind_an_https_public_url() {
    let db = aao_export_testkit::TestDatabase::sqlite().await;
    let storage: std::sync::Arc<dyn Database> = db.storage.clone();
    storage.put_users(&[user(CREATOR)]).await.unwrap();
    let users: &dyn UsersDb = storage.as_ref();
    sessions::set_password(users, CREATOR, None, "creator's passphrase").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exports = aao_export_stores::ExportsStore::open(dir.path().to_str().unwrap(), &Default::default()).unwrap();
    let queue = std::sync::Arc::new(aao_export_queue::DbQueue::new(storage.clone()));
    let public = "https://aao.example.org/";
    let observations = aao_export_stores::open_store(dir.path().to_str().unwrap(), &Default::default()).unwrap();
    let state = aao_export_server::AppState::new(aao_export_service::Service::new(
        storage,
        observations,
        queue,
        exports,
        aao_export_stores::LocalLinks::new(public, b"k".to_vec()),
        aao_export_service::Tokens::new("s".to_string().into(), 600),
        Default::default(),
    ))
    .with_public_url(public);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(aao_export_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let body = json!({"username": CREATOR, "password": "creator's passphrase"});
    let signed_in = answer(http.post(format!("{url}/auth/login")).json(&body).send().await.unwrap()).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let cookie = signed_in.cookie.unwrap();
    let token = token_of(&cookie);
    assert_eq!(
        cookie,
        format!("__Host-aao_session={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=600; Secure"),
        "over https the cookie has the __Host- prefix: only this host, only over https, never shadowed"
    );
    // Over https only that name is read: a plain `aao_session` (set by some http page) is no session.
    let plain =
        http.get(format!("{url}/auth/me")).header("Cookie", format!("aao_session={token}")).send().await.unwrap();
    assert_eq!(plain.status().as_u16(), 401);
    let hosted = http
        .get(format!("{url}/auth/me"))
        .header("Cookie", format!("__Host-aao_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(hosted.status().as_u16(), 200);
    let signed_out = answer(
        http.post(format!("{url}/auth/logout"))
            .header("Cookie", format!("__Host-aao_session={token}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        signed_out.cookie.as_deref(),
        Some("__Host-aao_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure")
    );
    let signed_in = answer(http.post(format!("{url}/auth/login")).json(&body).send().await.unwrap()).await;
    let token = token_of(&signed_in.cookie.unwrap());
    for (origin, status) in [("https://aao.example.org", 201), (url.as_str(), 403), ("http://aao.example.org", 403)] {
        let response = http
            .post(format!("{url}/exports"))
            .header("Cookie", format!("__Host-aao_session={token}"))
            .header("Origin", origin)
            .json(&json!({"query": {"method": "ALL"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{origin}: {}", response.text().await.unwrap());
    }
}
