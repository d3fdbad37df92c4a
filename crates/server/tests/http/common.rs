//! One app per test: its own database (SQLite, and PostgreSQL when `TEST_DATABASE_URL` is set),
//! its own database queue and exports folder, served on 127.0.0.1:0, with five seeded users and
//! their API keys and bearer tokens. Nothing is shared between tests, so they run in parallel.

use aao_export_core::export::{ExportRequest, object_key};
use aao_export_db::{Claim, CreateOutcome, Database, Finish, NewExport, User};
use aao_export_queue::{DbQueue, Queue};
use aao_export_server::AppState;
use aao_export_service::auth::{Claims, new_api_key};
use aao_export_service::{RateLimit, Service, Settings, Tokens};
use aao_export_stores::{ExportsStore, LocalLinks};
use aao_export_testkit::TestDatabase;
use object_store::ObjectStore;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub const ADMIN: &str = "admin";
pub const CREATOR: &str = "creator";
pub const OTHER: &str = "other";
pub const SHARED: &str = "shared";
pub const DISABLED: &str = "disabled";
pub const USERS: [&str; 5] = [ADMIN, CREATOR, OTHER, SHARED, DISABLED];
pub const DAY_MS: i64 = 86_400_000;
/// The origin of another site's pages every test app lets call it (`SERVER_CORS_ORIGINS`), as the
/// AAO's dashboard would.
pub const DASHBOARD_ORIGIN: &str = "http://dashboard.test:4173";
/// The `API_KEY_SALT` the AAO fixture's API key was hashed with (`aao_seed.sql`).
pub const AAO_TEST_SALT: &str = "aao-test-salt";

pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    /// A client that shows redirects instead of following them.
    pub no_redirect: reqwest::Client,
    pub storage: Arc<dyn Database>,
    pub queue: Arc<DbQueue>,
    pub exports_root: PathBuf,
    /// The observations store the app reads ads' images from (empty until a test writes to it).
    pub observations: Arc<dyn ObjectStore>,
    pub settings: Settings,
    pub max_body_bytes: usize,
    /// Signs local download links as the app does.
    pub links: LocalLinks,
    pub jwt: Tokens,
    pub backend: &'static str,
    /// API keys and bearer tokens by user id.
    pub keys: HashMap<&'static str, String>,
    pub tokens: HashMap<&'static str, String>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
    _db: TestDatabase,
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Key(String),
    Bearer(String),
    /// A raw header (name, value).
    Header(&'static str, String),
}

/// A request body.
pub enum Body {
    None,
    Json(Value),
    /// Raw bytes with a content type (None: no Content-Type header).
    Raw(Option<&'static str>, Vec<u8>),
}

pub fn user(id: &str) -> User {
    User {
        id: id.into(),
        full_name: format!("{}{}", id[..1].to_uppercase(), &id[1..]),
        enabled: id != DISABLED,
        role: if id == ADMIN { "admin".into() } else { "user".into() },
        primary_email: None,
    }
}

/// The app on every database of our own: SQLite always, PostgreSQL when `TEST_DATABASE_URL` is
/// set (and a test failure when it is not but `AAO_REQUIRE_EXTERNAL=1`). The app attached to the
/// AAO's database has its own story (`attached.rs`).
pub async fn apps() -> Vec<TestApp> {
    let mut apps = Vec::new();
    for db in TestDatabase::ours().await {
        apps.push(spawn_app(db).await);
    }
    apps
}

pub async fn sqlite_app() -> TestApp {
    spawn_app(TestDatabase::sqlite().await).await
}

pub async fn spawn_app(db: TestDatabase) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

pub async fn spawn_app_with(db: TestDatabase, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(db, adjust, None, None).await
}

/// The app with another queue than the database queue (`app.queue` is then unused by the API),
/// or another exports store than a local folder (`app.exports_root` is then unused).
pub async fn spawn_app_on(
    db: TestDatabase,
    adjust: impl FnOnce(&mut Settings),
    other_queue: Option<Arc<dyn Queue>>,
    other_exports: Option<ExportsStore>,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    spawn_app_full(db, adjust, other_queue, other_exports, listener, |state| state).await
}

/// The app on a listener bound already (its URL known before it starts, e.g. to register it at an
/// identity provider), with more in its state.
pub async fn spawn_app_listening(
    db: TestDatabase,
    listener: tokio::net::TcpListener,
    extend: impl FnOnce(AppState) -> AppState,
) -> TestApp {
    spawn_app_full(db, |_| {}, None, None, listener, extend).await
}

async fn spawn_app_full(
    db: TestDatabase,
    adjust: impl FnOnce(&mut Settings),
    other_queue: Option<Arc<dyn Queue>>,
    other_exports: Option<ExportsStore>,
    listener: tokio::net::TcpListener,
    extend: impl FnOnce(AppState) -> AppState,
) -> TestApp {
    let storage = db.storage.clone();
    storage.put_users(&USERS.map(user)).await.unwrap();
    let mut keys = HashMap::new();
    let mut tokens = HashMap::new();
    // The AAO's API keys are checked with the fixture's salt (only an attached database has any).
    let jwt = Tokens::new(format!("jwt-{}", Uuid::new_v4()).into(), 3600)
        .with_aao_key_salt(Some(AAO_TEST_SALT.to_string().into()));
    for id in USERS {
        let (key, record) = new_api_key(id, None, None);
        storage.put_api_key(&record).await.unwrap();
        keys.insert(id, key);
        // The disabled user's token was minted while they were enabled.
        tokens.insert(id, jwt.mint(&User { enabled: true, ..user(id) }));
    }
    let dir = tempfile::tempdir().unwrap();
    let exports_root = dir.path().join("exports");
    let exports = match other_exports {
        Some(exports) => exports,
        None => ExportsStore::open(exports_root.to_str().unwrap(), &Default::default()).unwrap(),
    };
    let queue = Arc::new(DbQueue::new(storage.clone()));
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Tests preview as often as they like; the limit's own test sets one.
    let mut settings =
        Settings { preview_limit: RateLimit { hits: 1_000_000, per: Duration::from_secs(1) }, ..Settings::default() };
    adjust(&mut settings);
    let links = LocalLinks::new(&url, Uuid::new_v4().as_bytes().to_vec());
    let api_queue = other_queue.unwrap_or_else(|| queue.clone() as Arc<dyn Queue>);
    let observations_root = dir.path().join("observations");
    let observations = aao_export_stores::open_store(observations_root.to_str().unwrap(), &Default::default()).unwrap();
    let state = AppState::new(Service::new(
        storage.clone(),
        observations.clone(),
        api_queue,
        exports,
        links.clone(),
        jwt.clone(),
        settings.clone(),
    ))
    .with_public_url(&url)
    // Every request comes from 127.0.0.1: as a trusted proxy's, its X-Forwarded-For says which
    // client it is (tests of sign-ins per address send one; without it, 127.0.0.1 is the client).
    .with_trusted_proxies(vec![std::net::Ipv4Addr::LOCALHOST.into()])
    .with_cors_origins(&[DASHBOARD_ORIGIN.to_string()])
    .unwrap();
    let state = extend(state);
    let max_body_bytes = state.max_body_bytes;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(aao_export_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    TestApp {
        url,
        http: reqwest::Client::new(),
        no_redirect: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        backend: storage.backend(),
        storage,
        queue,
        exports_root,
        observations,
        settings,
        max_body_bytes,
        links,
        jwt,
        keys,
        tokens,
        _stop: stop,
        _dir: dir,
        _db: db,
    }
}

impl TestApp {
    pub fn key(&self, who: &str) -> Auth {
        Auth::Key(self.keys[who].clone())
    }

    pub fn token(&self, who: &str) -> Auth {
        Auth::Bearer(self.tokens[who].clone())
    }

    /// A token signed with this app's secret from any claims.
    pub fn signed(&self, claims: &Claims) -> String {
        self.jwt.sign(claims)
    }

    pub async fn send(&self, method: &str, path: &str, auth: &Auth, body: Body) -> reqwest::Response {
        self.send_on(&self.http, method, path, auth, body).await
    }

    /// A GET whose redirect is answered, not followed.
    pub async fn get_unfollowed(&self, path: &str, auth: &Auth) -> reqwest::Response {
        self.send_on(&self.no_redirect, "GET", path, auth, Body::None).await
    }

    async fn send_on(
        &self,
        client: &reqwest::Client,
        method: &str,
        path: &str,
        auth: &Auth,
        body: Body,
    ) -> reqwest::Response {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.url) };
        let mut request = client.request(method, &url);
        request = match auth {
            Auth::None => request,
            Auth::Key(key) => request.header("X-API-Key", key),
            Auth::Bearer(token) => request.header("Authorization", format!("Bearer {token}")),
            Auth::Header(name, value) => request.header(*name, value),
        };
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Raw(content_type, bytes) => {
                let r = request.body(bytes);
                match content_type {
                    Some(ct) => r.header("Content-Type", ct),
                    None => r,
                }
            }
        };
        request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Status and JSON body of a request.
    pub async fn call(&self, method: &str, path: &str, auth: &Auth, body: Body) -> (u16, Value) {
        let response = self.send(method, path, auth, body).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path} answered {status} with a body that is not JSON: {text:?}"));
        (status, value)
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> (u16, Value) {
        self.call("GET", path, auth, Body::None).await
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Value) -> (u16, Value) {
        self.call("POST", path, auth, Body::Json(body)).await
    }

    /// Creates an export over the API and returns its status object.
    pub async fn create(&self, who: &str, request: Value) -> Value {
        let (status, body) = self.post("/exports", &self.key(who), request).await;
        assert_eq!(status, 201, "{body}");
        body["export"].clone()
    }

    /// Creates an export straight in storage (no in-flight limit, no queue message), shared with
    /// `shared_with`.
    pub async fn seed_export(&self, creator: &str, shared_with: &[&str]) -> Uuid {
        let catalogue = self.storage.exportable_fields().await.unwrap();
        let request = ExportRequest::from_json(
            &json!({"query": {"method": "ALL"}, "fields": ["observation_id", "tags"]}),
            &catalogue,
        )
        .unwrap();
        let export_id = Uuid::new_v4();
        let new = NewExport {
            export_id,
            creator_id: creator.into(),
            parameters: request.parameters(),
            field_ids: request.fields.iter().map(|f| f.field_id).collect(),
            max_retries: 3,
            created_at: now_ms(),
            max_in_flight: 10_000,
            queue_body: None,
        };
        assert!(matches!(self.storage.create_export(&new).await.unwrap(), CreateOutcome::Created(_)));
        if !shared_with.is_empty() {
            let ids: Vec<String> = shared_with.iter().map(|s| s.to_string()).collect();
            self.storage.share_export(export_id, &ids).await.unwrap();
        }
        export_id
    }

    /// Runs an export to completion as a worker would, finishing at `completed_at`, and (with
    /// `bytes`) puts its file where the exports store keeps it. Returns the object key.
    pub async fn complete(&self, id: Uuid, completed_at: i64, bytes: Option<&[u8]>) -> String {
        let record = self.storage.export(id).await.unwrap().unwrap();
        let claim = self
            .storage
            .claim_export(id, record.attempt, "test-worker", completed_at - 1000, completed_at + 60_000)
            .await
            .unwrap();
        assert!(matches!(claim, Claim::Claimed(_)), "{claim:?}");
        let key = object_key(&record.creator_id, id, record.created_at);
        if let Some(bytes) = bytes {
            let path = self.exports_root.join(&key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
        let finish = Finish::Completed {
            object_location: key.clone(),
            s3_url: self.exports_root.join(&key).display().to_string(),
            size_bytes: bytes.map_or(0, |b| b.len() as u64),
            ad_count: 1,
            image_count: 0,
        };
        assert!(self.storage.finish_export(id, "test-worker", completed_at, &finish).await.unwrap());
        key
    }
}

pub use aao_export_core::time::now_ms;

/// Asserts an error answer: the status, the envelope, the comment and a message that says something.
#[track_caller]
pub fn assert_error(got: &(u16, Value), status: u16, comment: &str, context: &str) {
    let (code, body) = got;
    assert_eq!(*code, status, "{context}: {body}");
    assert_eq!(body["success"], json!(false), "{context}: {body}");
    assert_eq!(body["comment"], json!(comment), "{context}: {body}");
    let message = body["message"].as_str().unwrap_or_else(|| panic!("{context}: no message in {body}"));
    assert!(message.len() > 10 && message.contains(' '), "{context}: a human message: {body}");
    assert_eq!(body.as_object().unwrap().len(), 3, "{context}: exactly success, comment, message: {body}");
}

/// A form body (`application/x-www-form-urlencoded`), as a browser encodes it.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let encode =
        |text: &str| percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string();
    pairs.iter().map(|(name, value)| format!("{}={}", encode(name), encode(value))).collect::<Vec<_>>().join("&")
}
