//! What the API does, driven over HTTP: creating (and what is queued), reading, listing, sharing,
//! deleting, the in-flight limit, expiry, the field catalogue and the users list.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// The spec's keys of a status object, then the additive ones (DESIGN.md §5), in order.
const STATUS_KEYS: [&str; 18] = [
    "export_id",
    "creator_id",
    "export_parameters",
    "shared_with",
    "status",
    "url",
    "created_at",
    "updated_at",
    "started_at",
    "completed_at",
    "message",
    "progress",
    "attempt",
    "size_bytes",
    "ad_count",
    "image_count",
    "expires_at",
    "download_count",
];

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|e| e["export_id"].as_str().unwrap().to_string()).collect()
}

fn is_rfc3339_utc(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_shows_a_pending_export_and_queues_the_spec_payload() {
    for app in apps().await {
        let b = app.backend;
        let request = json!({
            "query": {"method": "OBSERVER_ID_CONTAINS", "args": ["123456"]},
            "include_images": true,
            "fields": ["observation_id", "observer_id", "ocr.x", "ocr.y", "ocr.text", "ocr.confidence", "attributes.starred.value", "tags", "classifications"]
        });
        let (status, created) = app.post("/exports", &app.key(CREATOR), request.clone()).await;
        assert_eq!(status, 201, "[{b}] {created}");
        assert_eq!(keys(&created), ["success", "export"], "[{b}]");
        assert_eq!(created["success"], json!(true));
        let export = &created["export"];
        assert_eq!(keys(export), STATUS_KEYS, "[{b}] the status object's keys, in order");
        let id = export["export_id"].as_str().unwrap().to_string();
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
        assert_eq!(export["creator_id"], json!(CREATOR));
        assert_eq!(export["export_parameters"], request, "[{b}] the parameters echo the request");
        assert_eq!(export["shared_with"], json!([]));
        assert_eq!(export["status"], json!("pending"));
        for null in
            ["url", "started_at", "completed_at", "message", "size_bytes", "ad_count", "image_count", "expires_at"]
        {
            assert_eq!(export[null], Value::Null, "[{b}] {null}");
        }
        assert!(is_rfc3339_utc(&export["created_at"]) && is_rfc3339_utc(&export["updated_at"]), "[{b}] {export}");
        assert_eq!(export["attempt"], json!(1));
        assert_eq!(export["progress"], json!({"processed": 0, "total": null}));

        let (status, read) = app.get(&format!("/exports/{id}"), &app.key(CREATOR)).await;
        assert_eq!(status, 200);
        assert_eq!(&read, export, "[{b}] GET shows what POST answered");

        // No fields: the catalogue's defaults, spelled out; include_images defaults to false.
        let defaults = app.create(CREATOR, json!({"query": {"method": "ALL"}})).await;
        let (_, catalogue) = app.get("/exports/fields", &app.key(CREATOR)).await;
        let default_paths: Vec<Value> = catalogue
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["is_default"] == json!(true))
            .map(|f| f["path"].clone())
            .collect();
        assert_eq!(
            defaults["export_parameters"],
            json!({"query": {"method": "ALL"}, "include_images": false, "fields": default_paths}),
            "[{b}]"
        );
        let empty =
            app.create(CREATOR, json!({"query": {"method": "ALL"}, "fields": [], "include_images": null})).await;
        assert_eq!(
            empty["export_parameters"], defaults["export_parameters"],
            "[{b}] an empty list means the defaults too"
        );

        // The queue holds exactly the spec's payload for each, committed with the export.
        let received = app.queue_messages().await;
        let expected: Vec<Value> = [export, &defaults, &empty]
            .iter()
            .map(|e| json!({"export_id": e["export_id"], "creator_id": CREATOR, "export_parameters": e["export_parameters"], "attempt": 1, "max_retries": 3}))
            .collect();
        assert_eq!(received.len(), 3, "[{b}] {received:?}");
        for want in &expected {
            let got = received
                .iter()
                .find(|m| m["export_id"] == want["export_id"])
                .unwrap_or_else(|| panic!("[{b}] no message for {want}"));
            assert_eq!(got, want, "[{b}] the queue message");
            assert_eq!(keys(got), ["export_id", "creator_id", "export_parameters", "attempt", "max_retries"], "[{b}]");
        }
    }
}

impl TestApp {
    /// Every message in the queue, parsed.
    async fn queue_messages(&self) -> Vec<Value> {
        use aao_export_queue::Queue;
        let mut out = Vec::new();
        loop {
            let batch = self.queue.receive(10, Duration::from_secs(60), Duration::ZERO).await.unwrap();
            if batch.is_empty() {
                return out;
            }
            out.extend(batch.iter().map(|m| serde_json::from_str::<Value>(&m.body).unwrap()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_hold_what_each_user_may_see_newest_first() {
    for app in apps().await {
        let b = app.backend;
        let first =
            app.create(CREATOR, json!({"query": {"method": "ALL"}})).await["export_id"].as_str().unwrap().to_string();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second =
            app.create(CREATOR, json!({"query": {"method": "ALL"}})).await["export_id"].as_str().unwrap().to_string();
        let others =
            app.create(OTHER, json!({"query": {"method": "ALL"}})).await["export_id"].as_str().unwrap().to_string();
        let (status, shared) =
            app.post(&format!("/exports/{first}/share"), &app.key(CREATOR), json!({"user_ids": [SHARED]})).await;
        assert_eq!(status, 200, "{shared}");

        let list = |who: &'static str, query: &'static str| {
            let app = &app;
            async move {
                let (status, body) = app.get(&format!("/exports{query}"), &app.key(who)).await;
                assert_eq!(status, 200, "[{b}] {who} {query}: {body}");
                for e in body.as_array().unwrap() {
                    assert_eq!(keys(e), STATUS_KEYS, "[{b}] list entries are status objects");
                }
                ids(&body)
            }
        };
        assert_eq!(list(CREATOR, "").await, [second.clone(), first.clone()], "[{b}] the creator's, newest first");
        assert_eq!(list(CREATOR, "?user_id=creator").await, [second.clone(), first.clone()], "[{b}] naming oneself");
        assert_eq!(list(SHARED, "").await, [first.as_str()], "[{b}] shared with them");
        assert_eq!(list(OTHER, "").await, [others.as_str()], "[{b}] only their own");
        assert_eq!(list(ADMIN, "").await, Vec::<String>::new(), "[{b}] an admin's own list is their own");
        assert_eq!(
            list(ADMIN, "?user_id=creator").await,
            [second.clone(), first.clone()],
            "[{b}] an admin lists anyone's"
        );
        assert_eq!(list(ADMIN, "?user_id=shared").await, [first.as_str()], "[{b}]");
        assert_eq!(list(ADMIN, "?user_id=disabled").await, Vec::<String>::new(), "[{b}] a disabled user exists");
        let (_, one) = app.get(&format!("/exports?user_id={SHARED}"), &app.key(ADMIN)).await;
        assert_eq!(one[0]["shared_with"], json!([SHARED]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_and_unshare_round_trip() {
    for app in apps().await {
        let b = app.backend;
        let id =
            app.create(CREATOR, json!({"query": {"method": "ALL"}})).await["export_id"].as_str().unwrap().to_string();
        let path = |action: &str| format!("/exports/{id}/{action}");
        assert_error(&app.get(&format!("/exports/{id}"), &app.key(OTHER)).await, 404, "NOT_FOUND", "before sharing");

        let shared = app.post(&path("share"), &app.key(CREATOR), json!({"user_ids": [SHARED, OTHER, SHARED]})).await;
        assert_eq!(shared, (200, json!({"success": true, "shared_with": [OTHER, SHARED]})), "[{b}]");
        let (status, seen) = app.get(&format!("/exports/{id}"), &app.key(OTHER)).await;
        assert_eq!((status, &seen["shared_with"]), (200, &json!([OTHER, SHARED])), "[{b}] {seen}");
        assert_eq!(
            app.post(&path("share"), &app.key(CREATOR), json!({"user_ids": [OTHER]})).await.1["shared_with"],
            json!([OTHER, SHARED]),
            "[{b}] sharing again changes nothing"
        );
        // A disabled user exists, so sharing with them is allowed (they cannot sign in).
        assert_eq!(
            app.post(&path("share"), &app.key(ADMIN), json!({"user_ids": [DISABLED]})).await.0,
            200,
            "[{b}] an admin may share"
        );

        let unshared = app.post(&path("unshare"), &app.key(CREATOR), json!({"user_ids": [OTHER, DISABLED]})).await;
        assert_eq!(unshared, (200, json!({"success": true, "shared_with": [SHARED]})), "[{b}]");
        assert_error(&app.get(&format!("/exports/{id}"), &app.key(OTHER)).await, 404, "NOT_FOUND", "after unsharing");
        assert_eq!(
            app.post(&path("unshare"), &app.key(CREATOR), json!({"user_ids": [ADMIN]})).await,
            (200, json!({"success": true, "shared_with": [SHARED]})),
            "[{b}] unsharing someone it is not shared with changes nothing"
        );
        assert_error(
            &app.post(&path("unshare"), &app.key(SHARED), json!({"user_ids": [SHARED]})).await,
            403,
            "FORBIDDEN",
            "a shared user may not manage access",
        );
        assert_eq!(
            app.post(&path("unshare"), &app.key(ADMIN), json!({"user_ids": [SHARED]})).await.1["shared_with"],
            json!([]),
            "[{b}] an admin may unshare"
        );
        assert_eq!(app.get(&format!("/exports/{id}"), &app.key(CREATOR)).await.1["shared_with"], json!([]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_rows_and_the_file() {
    for app in apps().await {
        let b = app.backend;
        let id = app.seed_export(CREATOR, &[SHARED]).await;
        let key = app.complete(id, now_ms(), Some(b"zip bytes")).await;
        let file = app.exports_root.join(&key);
        assert!(file.is_file());
        assert_error(
            &app.call("DELETE", &format!("/exports/{id}"), &app.key(SHARED), Body::None).await,
            403,
            "FORBIDDEN",
            "shared",
        );
        assert!(file.is_file(), "[{b}] a refused delete leaves the file");

        assert_eq!(
            app.call("DELETE", &format!("/exports/{id}"), &app.key(CREATOR), Body::None).await,
            (200, json!({"success": true})),
            "[{b}]"
        );
        assert_eq!(app.storage.export(id).await.unwrap(), None, "[{b}] the rows are gone");
        assert!(!file.exists(), "[{b}] the file is gone");
        assert_error(&app.get(&format!("/exports/{id}"), &app.key(CREATOR)).await, 404, "NOT_FOUND", "deleted");
        assert_error(
            &app.call("DELETE", &format!("/exports/{id}"), &app.key(CREATOR), Body::None).await,
            404,
            "NOT_FOUND",
            "deleted twice",
        );
        assert_eq!(app.get("/exports", &app.key(SHARED)).await.1, json!([]), "[{b}] gone from the shared user's list");

        // A pending export (no file yet) and an admin deleting someone else's; a completed
        // export whose file is already gone deletes as well.
        let pending =
            app.create(OTHER, json!({"query": {"method": "ALL"}})).await["export_id"].as_str().unwrap().to_string();
        assert_eq!(
            app.call("DELETE", &format!("/exports/{pending}"), &app.key(ADMIN), Body::None).await,
            (200, json!({"success": true})),
            "[{b}]"
        );
        let fileless = app.seed_export(CREATOR, &[]).await;
        app.complete(fileless, now_ms(), None).await;
        assert_eq!(
            app.call("DELETE", &format!("/exports/{fileless}"), &app.key(CREATOR), Body::None).await.0,
            200,
            "[{b}]"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_exports_in_flight_is_a_429() {
    for app in apps().await {
        let b = app.backend;
        let limit = app.settings.max_in_flight;
        assert_eq!(limit, 5);
        let mut created = Vec::new();
        for _ in 0..limit {
            created.push(
                app.create(CREATOR, json!({"query": {"method": "ALL"}})).await["export_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        let refused = app.post("/exports", &app.key(CREATOR), json!({"query": {"method": "ALL"}})).await;
        assert_error(&refused, 429, "TOO_MANY_EXPORTS", "over the limit");
        assert!(refused.1["message"].as_str().unwrap().contains(&format!("at most {limit}")), "[{b}] {}", refused.1);
        assert_eq!(
            app.get("/exports", &app.key(CREATOR)).await.1.as_array().unwrap().len(),
            limit as usize,
            "[{b}] nothing was created"
        );
        assert_eq!(app.queue.depth().await.unwrap().0, u64::from(limit), "[{b}] nor queued");
        assert_eq!(
            app.post("/exports", &app.key(OTHER), json!({"query": {"method": "ALL"}})).await.0,
            201,
            "[{b}] the limit is per user"
        );

        // One finishes: room for one more.
        app.complete(created[0].parse().unwrap(), now_ms(), None).await;
        assert_eq!(app.post("/exports", &app.key(CREATOR), json!({"query": {"method": "ALL"}})).await.0, 201, "[{b}]");
        assert_eq!(app.post("/exports", &app.key(CREATOR), json!({"query": {"method": "ALL"}})).await.0, 429, "[{b}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_completed_long_ago_reads_as_expired_without_a_link() {
    for app in apps().await {
        let b = app.backend;
        let id = app.seed_export(CREATOR, &[]).await;
        let completed_at = now_ms() - 8 * DAY_MS;
        app.complete(id, completed_at, Some(b"old")).await;
        let (status, export) = app.get(&format!("/exports/{id}"), &app.key(CREATOR)).await;
        assert_eq!(status, 200);
        assert_eq!(export["status"], json!("expired"), "[{b}] {export}");
        assert_eq!(export["url"], Value::Null, "[{b}]");
        assert!(is_rfc3339_utc(&export["completed_at"]) && is_rfc3339_utc(&export["expires_at"]), "[{b}] {export}");
        let expires_at = chrono::DateTime::parse_from_rfc3339(export["expires_at"].as_str().unwrap()).unwrap();
        assert!(expires_at.timestamp_millis() < now_ms(), "[{b}] it expired in the past");

        // Still within the expiry period: completed, with a link.
        let fresh = app.seed_export(CREATOR, &[]).await;
        app.complete(fresh, now_ms() - 6 * DAY_MS, Some(b"recent")).await;
        let (_, export) = app.get(&format!("/exports/{fresh}"), &app.key(CREATOR)).await;
        assert_eq!(export["status"], json!("completed"), "[{b}] {export}");
        assert!(export["url"].is_string(), "[{b}] {export}");
        assert_eq!(export["size_bytes"], json!(6));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_field_catalogue_and_the_users() {
    for app in apps().await {
        let b = app.backend;
        let (status, fields) = app.get("/exports/fields", &app.key(OTHER)).await;
        assert_eq!(status, 200);
        let fields = fields.as_array().unwrap();
        assert!(fields.len() >= 40, "[{b}] {}", fields.len());
        for f in fields {
            // `id` (the same as field_id) as the AAO's dashboard reads it, then the spec's keys.
            assert_eq!(keys(f), ["id", "field_id", "name", "description", "path", "group", "is_default"], "[{b}]");
            assert_eq!(f["id"], f["field_id"], "[{b}]");
            assert!(uuid::Uuid::parse_str(f["field_id"].as_str().unwrap()).is_ok());
        }
        let ocr = fields.iter().find(|f| f["path"] == json!("ocr.text")).unwrap();
        assert_eq!(
            (ocr["name"].as_str().unwrap(), ocr["group"].as_str().unwrap(), &ocr["is_default"]),
            ("OCR Text", "OCR", &json!(false))
        );
        assert_eq!(fields.iter().filter(|f| f["is_default"] == json!(true)).count(), 13);

        let (status, users) = app.get("/users", &app.token(SHARED)).await;
        assert_eq!(status, 200);
        assert_eq!(
            users,
            json!([
                {"id": ADMIN, "full_name": "Admin", "username": null, "enabled": true, "role": "admin", "provider": null},
                {"id": CREATOR, "full_name": "Creator", "username": null, "enabled": true, "role": "user", "provider": null},
                {"id": OTHER, "full_name": "Other", "username": null, "enabled": true, "role": "user", "provider": null},
                {"id": SHARED, "full_name": "Shared", "username": null, "enabled": true, "role": "user", "provider": null}
            ]),
            "[{b}] enabled users only, by id"
        );
        let ids: BTreeSet<_> = users.as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
        assert!(!ids.contains(DISABLED));
    }
}

/// An external queue (as SQS is): records what is sent, or fails every send.
struct ExternalQueue {
    sent: std::sync::Mutex<Vec<(String, Duration)>>,
    fail: bool,
}

#[async_trait::async_trait]
impl aao_export_queue::Queue for ExternalQueue {
    fn backend(&self) -> &'static str {
        "external"
    }
    fn outbox(&self, _: &str) -> Option<String> {
        None
    }
    async fn after_commit(&self, body: &str) -> aao_export_queue::Result<()> {
        self.send(body, Duration::ZERO).await
    }
    fn longest_wait(&self) -> Duration {
        Duration::from_secs(1)
    }
    async fn send(&self, body: &str, delay: Duration) -> aao_export_queue::Result<()> {
        if self.fail {
            return Err(aao_export_queue::QueueError::IncompleteAnswer {
                what: "sending".into(),
                missing: "a reachable queue",
            });
        }
        self.sent.lock().unwrap().push((body.to_string(), delay));
        Ok(())
    }
    async fn receive(
        &self,
        _: u32,
        _: Duration,
        _: Duration,
    ) -> aao_export_queue::Result<Vec<aao_export_queue::Received>> {
        Ok(vec![])
    }
    async fn delete(&self, _: &aao_export_queue::Receipt) -> aao_export_queue::Result<()> {
        Ok(())
    }
    async fn change_visibility(&self, _: &aao_export_queue::Receipt, _: Duration) -> aao_export_queue::Result<()> {
        Ok(())
    }
}

/// With a queue outside the database the message is sent after the export is committed, at
/// once; when sending fails the export still stands (pending, for the rescuer to send again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_queue_gets_the_message_after_the_commit() {
    let queue = std::sync::Arc::new(ExternalQueue { sent: Default::default(), fail: false });
    let db = aao_export_testkit::TestDatabase::sqlite().await;
    let app = spawn_app_on(db, |_| {}, Some(queue.clone()), None).await;
    let export = app.create(CREATOR, json!({"query": {"method": "ALL"}, "fields": ["tags"]})).await;
    let sent = queue.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, Duration::ZERO, "visible at once");
    let body: Value = serde_json::from_str(&sent[0].0).unwrap();
    assert_eq!(
        body,
        json!({"export_id": export["export_id"], "creator_id": CREATOR, "export_parameters": {"query": {"method": "ALL"}, "include_images": false, "fields": ["tags"]}, "attempt": 1, "max_retries": 3})
    );
    assert_eq!(app.queue.depth().await.unwrap(), (0, 0), "nothing in the database queue");

    let failing = std::sync::Arc::new(ExternalQueue { sent: Default::default(), fail: true });
    let app = spawn_app_on(aao_export_testkit::TestDatabase::sqlite().await, |_| {}, Some(failing), None).await;
    let export = app.create(CREATOR, json!({"query": {"method": "ALL"}})).await;
    let (status, read) =
        app.get(&format!("/exports/{}", export["export_id"].as_str().unwrap()), &app.key(CREATOR)).await;
    assert_eq!((status, &read["status"]), (200, &json!("pending")), "the export stands for the rescuer: {read}");
}

/// On S3 the link is a presigned GET of the object (with the store's prefix), valid for an hour
/// or until the export expires, whichever is sooner. (Signing needs no server: nothing is fetched.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_the_link_is_a_presigned_get() {
    use aao_export_stores::{ExportsBacking, ExportsStore};
    use object_store::aws::AmazonS3Builder;
    let s3 = || {
        AmazonS3Builder::new()
            .with_bucket_name("exports-bucket")
            .with_region("ap-southeast-2")
            .with_access_key_id("AKIDEXAMPLE")
            .with_secret_access_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
            .with_endpoint("http://127.0.0.1:9")
            .with_allow_http(true)
            .build()
            .unwrap()
    };
    let store = ExportsStore {
        store: std::sync::Arc::new(object_store::prefix::PrefixStore::new(s3(), "some/prefix")),
        location: "s3://exports-bucket/some/prefix".into(),
        backing: ExportsBacking::S3 { signer: std::sync::Arc::new(s3()), prefix: "some/prefix".into() },
    };
    let app = spawn_app_on(aao_export_testkit::TestDatabase::sqlite().await, |_| {}, None, Some(store)).await;
    let id = app.seed_export(CREATOR, &[]).await;
    let key = app.complete(id, now_ms(), None).await;
    let (_, export) = app.get(&format!("/exports/{id}"), &app.key(CREATOR)).await;
    let url = export["url"].as_str().unwrap_or_else(|| panic!("{export}"));
    assert!(url.starts_with(&format!("http://127.0.0.1:9/exports-bucket/some/prefix/{key}?")), "{url}");
    assert!(url.contains("X-Amz-Expires=3600") && url.contains("X-Amz-Signature="), "{url}");

    // The stable link redirects to a fresh presigned GET of the same object.
    let redirect = app.get_unfollowed(&format!("/exports/{id}/download"), &app.key(CREATOR)).await;
    assert_eq!(redirect.status().as_u16(), 302);
    let location = redirect.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(&format!("http://127.0.0.1:9/exports-bucket/some/prefix/{key}?")), "{location}");
    assert!(location.contains("X-Amz-Signature="), "{location}");
    let (_, downloads) = app.get(&format!("/exports/{id}/downloads"), &app.key(CREATOR)).await;
    let ways: Vec<&str> = downloads.as_array().unwrap().iter().map(|d| d["via"].as_str().unwrap()).collect();
    assert_eq!(ways, ["link", "api"], "on S3 the hand-over is what is recorded: {downloads}");

    let soon = app.seed_export(CREATOR, &[]).await;
    app.complete(soon, now_ms() - 7 * DAY_MS + 120_000, None).await;
    let (_, export) = app.get(&format!("/exports/{soon}"), &app.key(CREATOR)).await;
    let url = export["url"].as_str().unwrap();
    let expires: u64 = url.split("X-Amz-Expires=").nth(1).unwrap().split('&').next().unwrap().parse().unwrap();
    assert!((110..=120).contains(&expires), "the link ends with the export: {expires} s");

    // The API serves no local downloads for an S3 store.
    let later = now_ms() / 1000 + 600;
    let sig = app.links.signature(&id.to_string(), later);
    assert_error(
        &app.get(&format!("/downloads/{id}?expires={later}&signature={sig}"), &Auth::None).await,
        404,
        "NOT_FOUND",
        "S3",
    );
}
