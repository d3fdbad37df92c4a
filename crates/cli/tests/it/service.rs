//! The service as it is deployed: the real binary's `serve`, `api` and `worker` processes, driven
//! over HTTP like a researcher's browser or `curl` would. The whole lifecycle (create, poll,
//! download, open the ZIP, share, unshare, delete, file gone) runs on the embedded stack (SQLite,
//! local folders, the database queue) and on PostgreSQL with S3 and SQS through the emulator; a
//! worker killed with SIGKILL mid-export is replaced and the export completes into one valid ZIP.

use crate::common;

use common::*;
use serde_json::{Value, json};
use std::io::Read;
use std::time::{Duration, Instant};

struct Api {
    url: String,
    http: reqwest::Client,
}

impl Api {
    fn new(url: &str) -> Api {
        Api { url: url.trim_end_matches('/').to_string(), http: reqwest::Client::new() }
    }

    async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let mut request =
            self.http.request(method.parse().unwrap(), format!("{}{path}", self.url)).header("X-API-Key", key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}")))
    }

    /// Polls the export until it leaves pending/processing.
    async fn settled(&self, id: &str, key: &str, within: Duration) -> Value {
        let started = Instant::now();
        loop {
            let (status, body) = self.call("GET", &format!("/exports/{id}"), key, None).await;
            assert_eq!(status, 200, "{body}");
            if !["pending", "processing"].contains(&body["status"].as_str().unwrap()) {
                return body;
            }
            assert!(started.elapsed() < within, "export {id} still {} after {within:?}: {body}", body["status"]);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Downloads a completed export's URL like `curl -O -J`: the name from Content-Disposition.
async fn download(url: &str) -> (String, Vec<u8>) {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "downloading {url}");
    let disposition =
        response.headers().get("content-disposition").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let name = disposition.split("filename=").nth(1).unwrap_or_default().trim_matches('"').to_string();
    (name, response.bytes().await.unwrap().to_vec())
}

/// Opens the ZIP and checks it against the status object: the layout, one folder per ad with
/// its `data.json` holding exactly the requested fields, the counts and sizes the status reports.
fn check_zip(bytes: &[u8], status: &Value) {
    assert_eq!(status["size_bytes"], json!(bytes.len()), "size_bytes is the file's size");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a valid ZIP");
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    assert!(names.contains(&"all_data.csv".into()) && names.contains(&"export_details.json".into()));
    let data: Vec<&String> = names.iter().filter(|n| n.starts_with("ads/") && n.ends_with("/data.json")).collect();
    let images = names.iter().filter(|n| n.starts_with("ads/") && n.contains("/image_")).count();
    assert_eq!(json!(data.len()), status["ad_count"]);
    assert_eq!(json!(images), status["image_count"]);
    let fields: Vec<String> = serde_json::from_value(status["export_parameters"]["fields"].clone()).unwrap();
    let mut first = String::new();
    zip.by_name(data[0]).unwrap().read_to_string(&mut first).unwrap();
    let first: Value = serde_json::from_str(&first).unwrap();
    let top: Vec<&str> = fields.iter().map(|f| f.split('.').next().unwrap()).collect();
    assert!(
        first.as_object().unwrap().keys().all(|k| top.contains(&k.as_str())),
        "data.json holds the requested fields: {first}"
    );
    let mut csv = String::new();
    zip.by_name("all_data.csv").unwrap().read_to_string(&mut csv).unwrap();
    assert_eq!(csv.lines().next().unwrap(), fields.join(","), "the CSV header is the requested paths in order");
    let mut details = String::new();
    zip.by_name("export_details.json").unwrap().read_to_string(&mut details).unwrap();
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["export_id"], status["export_id"]);
    assert_eq!(details["export_parameters"], status["export_parameters"]);
}

/// The lifecycle every deployment shape must pass.
async fn lifecycle(work: &Workdir, exports_dir: Option<&std::path::Path>) {
    tokio::task::block_in_place(|| work.ok(&["demo-data", "--ads", "40", "--images-per-ad", "2", "--seed", "3"]));
    let alice = work.add_user("alice", "user");
    let bob = work.add_user("bob", "user");
    let carol = work.add_user("carol", "user");
    let root = work.add_user("root", "admin");
    let mut server = work.spawn(&["serve"]);
    let api = Api::new(&server.url);

    let request = json!({"query": {"method": "ALL"}, "include_images": true, "fields": ["observation_id", "observer_id", "ocr.text", "tags"]});
    let (code, created) = api.call("POST", "/exports", &alice, Some(request.clone())).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["success"], json!(true));
    let id = created["export"]["export_id"].as_str().unwrap().to_string();
    assert_eq!(created["export"]["creator_id"], json!("alice"));
    assert_eq!(created["export"]["export_parameters"], request);

    let done = api.settled(&id, &alice, Duration::from_secs(90)).await;
    assert_eq!(done["status"], json!("completed"), "{done}\n{}", server.log());
    assert_eq!(done["attempt"], json!(1));
    assert!(done["ad_count"].as_u64().unwrap() > 0);
    assert_eq!(done["progress"]["processed"], done["ad_count"]);
    let url = done["url"].as_str().expect("a completed export has a download URL").to_string();
    let (name, bytes) = download(&url).await;
    assert_eq!(name, format!("export_{id}.zip"), "curl -O -J saves it under the export's name");
    check_zip(&bytes, &done);

    // Sharing: bob sees it, may not manage it; carol never sees it.
    let (code, shared) =
        api.call("POST", &format!("/exports/{id}/share"), &alice, Some(json!({"user_ids": ["bob"]}))).await;
    assert_eq!((code, shared), (200, json!({"success": true, "shared_with": ["bob"]})));
    let (code, seen) = api.call("GET", &format!("/exports/{id}"), &bob, None).await;
    assert_eq!(code, 200);
    assert_eq!(seen["shared_with"], json!(["bob"]));
    let (_, listed) = api.call("GET", "/exports", &bob, None).await;
    assert!(
        listed.as_array().unwrap().iter().any(|e| e["export_id"] == json!(id)),
        "bob's list holds the shared export: {listed}"
    );
    assert_eq!(api.call("DELETE", &format!("/exports/{id}"), &bob, None).await.0, 403);
    assert_eq!(api.call("GET", &format!("/exports/{id}"), &carol, None).await.0, 404);
    let (code, listed) = api.call("GET", "/exports?user_id=alice", &root, None).await;
    assert_eq!(code, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (code, unshared) =
        api.call("POST", &format!("/exports/{id}/unshare"), &alice, Some(json!({"user_ids": ["bob"]}))).await;
    assert_eq!((code, unshared), (200, json!({"success": true, "shared_with": []})));
    assert_eq!(api.call("GET", &format!("/exports/{id}"), &bob, None).await.0, 404);

    // Delete: the rows and the file go.
    let (code, deleted) = api.call("DELETE", &format!("/exports/{id}"), &alice, None).await;
    assert_eq!((code, deleted), (200, json!({"success": true})));
    assert_eq!(api.call("GET", &format!("/exports/{id}"), &alice, None).await.0, 404);
    match exports_dir {
        Some(dir) => assert!(files_under(dir).is_empty(), "the export's file is gone: {:?}", files_under(dir)),
        None => assert_eq!(reqwest::get(&url).await.unwrap().status().as_u16(), 404, "the object is gone from S3"),
    }
    assert!(server.terminate().success(), "serve stops cleanly on SIGTERM:\n{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_on_sqlite_and_local_folders() {
    let work = Workdir::local().with("EXPORT_LOCAL_DIR", "exports").with("SERVER_BIND", "127.0.0.1:0");
    let exports = work.path("exports");
    lifecycle(&work, Some(&exports)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_on_postgres_s3_and_sqs() {
    let Some(db) = aao_export_testkit::TestDatabase::postgres().await else { return };
    let Some(endpoint) = external("TEST_S3_ENDPOINT", "the service on S3 and SQS") else { return };
    let bucket = create_bucket(&endpoint);
    let queue =
        create_queue(&endpoint, &format!("aao-exports-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])).await;
    let work = Workdir::local()
        .with("DATABASE_URL", &db.url)
        .with("BUCKETS_OBSERVATIONS", &format!("s3://{bucket}/observations"))
        .with("EXPORT_S3_BUCKET", &format!("s3://{bucket}/exports"))
        .with("SQS_QUEUE_URL", &queue)
        .with("SERVER_BIND", "127.0.0.1:0")
        .with_aws(&endpoint);
    lifecycle(&work, None).await;
    assert!(!work.path("data/exports").exists(), "exports went to S3, not to a local folder");
    drop(db);
}

/// A worker killed with SIGKILL in the middle of an export: its lease runs out, its message comes
/// back, a new worker starts over, and the export completes into one valid ZIP with nothing stray.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_nothing() {
    let work = Workdir::local()
        .with("EXPORT_LOCAL_DIR", "exports")
        .with("SERVER_BIND", "127.0.0.1:0")
        .with("EXPORT_LEASE_SECONDS", "2")
        .with("EXPORT_WORKER_CONCURRENCY", "1");
    tokio::task::block_in_place(|| work.ok(&["demo-data", "--ads", "1500", "--images-per-ad", "3", "--seed", "5"]));
    let alice = work.add_user("alice", "user");
    let _api_process = work.spawn(&["api"]);
    let api = Api::new(&_api_process.url);
    let mut worker = work.spawn(&["worker"]);

    let (code, created) =
        api.call("POST", "/exports", &alice, Some(json!({"query": {"method": "ALL"}, "include_images": true}))).await;
    assert_eq!(code, 201, "{created}");
    let id = created["export"]["export_id"].as_str().unwrap().to_string();
    let started = Instant::now();
    loop {
        let (_, status) = api.call("GET", &format!("/exports/{id}"), &alice, None).await;
        match status["status"].as_str().unwrap() {
            "processing" => break,
            "pending" => assert!(
                started.elapsed() < Duration::from_secs(30),
                "the worker never picked the export up:\n{}",
                worker.log()
            ),
            other => panic!("the export was {other} before the worker could be killed: {status}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Killed at once: on an idle machine the whole export takes well under a second, so any wait
    // here could let it finish first.
    worker.kill();
    let (_, status) = api.call("GET", &format!("/exports/{id}"), &alice, None).await;
    assert_eq!(status["status"], json!("processing"), "the kill landed mid-export: {status}");

    let mut second = work.spawn(&["worker"]);
    let done = api.settled(&id, &alice, Duration::from_secs(120)).await;
    assert_eq!(done["status"], json!("completed"), "{done}\n{}", second.log());
    let (_, bytes) = download(done["url"].as_str().unwrap()).await;
    check_zip(&bytes, &done);
    let files = files_under(&work.path("exports"));
    assert_eq!(files.len(), 1, "one ZIP and nothing the killed worker staged: {files:?}");
    assert!(second.terminate().success());
}

/// `serve --demo` on an empty catalogue: demo data, the admin `demo` with a printed API key, a
/// curl line that works and a password that signs in; `users token` gives a bearer token that
/// works too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_prints_a_working_key() {
    let work = Workdir::local().with("SERVER_BIND", "127.0.0.1:0");
    let server = work.spawn(&["serve", "--demo"]);
    // The key and curl lines follow the address line.
    let mut printed = Vec::new();
    for _ in 0..100 {
        printed = server.stdout.lock().unwrap().clone();
        if printed.iter().filter(|l| l.contains("curl")).count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let key = printed
        .iter()
        .find_map(|l| l.strip_prefix("demo admin API key: "))
        .unwrap_or_else(|| panic!("no API key printed: {printed:?}"))
        .to_string();
    assert!(
        printed.iter().any(|l| l.contains("curl") && l.contains(&key) && l.contains(&server.url)),
        "a ready curl line: {printed:?}"
    );
    let password = printed
        .iter()
        .find_map(|l| l.strip_prefix("demo sign-in: username demo, password "))
        .unwrap_or_else(|| panic!("no demo password printed: {printed:?}"))
        .to_string();
    assert!(password.len() >= 16, "a long random password: {password}");
    let response = reqwest::Client::new()
        .post(format!("{}/auth/login", server.url))
        .json(&json!({"username": "demo", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "the demo user signs in with the printed password");
    assert!(response.headers()["set-cookie"].to_str().unwrap().starts_with("aao_session="));
    let api = Api::new(&server.url);
    let (code, fields) = api.call("GET", "/exports/fields", &key, None).await;
    assert_eq!(code, 200);
    assert!(fields.as_array().unwrap().iter().any(|f| f["path"] == json!("ocr.text")));
    let (code, exports) = api.call("GET", "/exports", &key, None).await;
    assert_eq!((code, exports), (200, json!([])));

    let token = tokio::task::block_in_place(|| work.ok(&["users", "token", "demo"])).trim().to_string();
    assert_eq!(token.lines().count(), 1, "the token alone");
    let response =
        reqwest::Client::new().get(format!("{}/exports/fields", server.url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);

    // The next start makes a new key and revokes this one: one demo key works at a time.
    drop(server);
    let again = work.spawn(&["serve", "--demo"]);
    let mut new_key = None;
    for _ in 0..200 {
        new_key = again
            .stdout
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| l.strip_prefix("demo admin API key: ").map(str::to_string));
        if new_key.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let new_key = new_key.expect("a new demo key");
    let api = Api::new(&again.url);
    assert_ne!(new_key, key);
    assert_eq!(api.call("GET", "/exports", &new_key, None).await.0, 200, "the new key works");
    let (code, refused) = api.call("GET", "/exports", &key, None).await;
    assert_eq!((code, refused["comment"].as_str()), (401, Some("INVALID_API_KEY")), "the old one is revoked");
}

/// `users keys` lists a user's keys without their secrets; `users revoke-key` ends one at once;
/// a key made with an expiry says when.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_listed_and_revoked() {
    let work = Workdir::local().with("SERVER_BIND", "127.0.0.1:0");
    let first = work.add_user("alice", "user");
    let out = tokio::task::block_in_place(|| {
        work.ok(&["users", "add", "alice", "--name", "Alice", "--key-label", "nightly", "--key-expires-in-days", "30"])
    });
    let second = out.lines().last().unwrap().trim().to_string();
    let server = work.spawn(&["api"]);
    let api = Api::new(&server.url);
    assert_eq!(api.call("GET", "/exports", &first, None).await.0, 200);
    assert_eq!(api.call("GET", "/exports", &second, None).await.0, 200);

    let listed = tokio::task::block_in_place(|| work.ok(&["users", "keys", "alice"]));
    let rows: Vec<Vec<&str>> = listed.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    let key_id = |key: &str| key.strip_prefix("aao_").unwrap().split('_').next().unwrap().to_string();
    let (first_id, second_id) = (key_id(&first), key_id(&second));
    assert_eq!(rows.len(), 2, "a header and two keys: {listed}");
    // key id, label, created, expires, last used
    assert_eq!((rows[0][0], rows[0][1], rows[0][3]), (first_id.as_str(), "-", "never"), "{listed}");
    assert_eq!((rows[1][0], rows[1][1]), (second_id.as_str(), "nightly"), "{listed}");
    let expires = rows[1][3];
    assert!(expires.ends_with('Z') && expires > rows[1][2], "expires after it was made: {listed}");
    assert!(rows.iter().all(|r| r[4] != "never"), "each was used: {listed}");
    assert!(!listed.contains(first.rsplit('_').next().unwrap()), "no secret is shown: {listed}");

    let out = tokio::task::block_in_place(|| work.ok(&["users", "revoke-key", &first_id]));
    assert!(out.contains("revoked"), "{out}");
    let (code, refused) = api.call("GET", "/exports", &first, None).await;
    assert_eq!((code, refused["comment"].as_str()), (401, Some("INVALID_API_KEY")), "revoked at once");
    assert_eq!(api.call("GET", "/exports", &second, None).await.0, 200, "the other key goes on");
    tokio::task::block_in_place(|| {
        work.fails(&["users", "revoke-key", &first_id], "no API key");
        work.fails(&["users", "keys", "nobody"], "no user");
        work.fails(&["users", "add", "bob", "--name", "Bob", "--key-expires-in-days", "0"], "0");
    });
}

/// `users disable` refuses a user at once, whatever the credential (its API key, a token from
/// `users token`); `users enable` lets it back in with the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_disabled_and_enabled() {
    let work = Workdir::local().with("SERVER_BIND", "127.0.0.1:0");
    let key = work.add_user("alice", "user");
    let token = tokio::task::block_in_place(|| work.ok(&["users", "token", "alice"])).trim().to_string();
    let server = work.spawn(&["api"]);
    let api = Api::new(&server.url);
    let bearer = |token: &str| {
        let (url, token) = (format!("{}/exports", server.url), token.to_string());
        async move {
            let r = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(api.call("GET", "/exports", &key, None).await.0, 200);
    assert_eq!(bearer(&token).await.0, 200);

    let out = tokio::task::block_in_place(|| work.ok(&["users", "disable", "alice"]));
    assert!(out.contains("user alice is disabled"), "{out}");
    let (code, refused) = api.call("GET", "/exports", &key, None).await;
    assert_eq!((code, refused["comment"].as_str()), (403, Some("USER_DISABLED")), "the key, at once: {refused}");
    let (code, refused) = bearer(&token).await;
    assert_eq!((code, refused["comment"].as_str()), (403, Some("USER_DISABLED")), "the token too: {refused}");
    tokio::task::block_in_place(|| work.fails(&["users", "token", "alice"], "disabled"));

    let out = tokio::task::block_in_place(|| work.ok(&["users", "enable", "alice"]));
    assert!(out.contains("user alice is enabled"), "{out}");
    assert_eq!(api.call("GET", "/exports", &key, None).await.0, 200, "back in with the same key");
    assert_eq!(bearer(&token).await.0, 200);
    tokio::task::block_in_place(|| {
        work.fails(&["users", "disable", "nobody"], "no user \"nobody\"");
        work.fails(&["users", "enable", "nobody"], "no user \"nobody\"");
    });
}
