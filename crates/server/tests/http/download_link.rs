//! The stable download link, `GET /exports/{id}/download`, as a user meets it: a redirect to a
//! fresh URL that really serves the export's ZIP, for everyone who may see the export with any
//! credential; the export's status instead of a dead link; and who downloaded, and when, for the
//! export's creator and admins (`GET /exports/{id}/downloads` and `download_count`).

use crate::common::*;
use aao_export_core::export::object_key;
use aao_export_db::{Claim, Finish};
use aao_export_demo::{DemoConfig, SeedProgress, seed_demo_data};
use aao_export_worker::archive::{ExportJob, UploadTarget, build_export};
use object_store::ObjectStoreExt;
use serde_json::{Value, json};
use std::io::Read;
use std::sync::Arc;
use uuid::Uuid;

/// Builds the export's ZIP with the worker's own pipeline over a few demo ads, and completes the
/// export with it as a worker would. Returns the ZIP's bytes.
async fn complete_with_a_real_zip(app: &TestApp, id: Uuid) -> Vec<u8> {
    let quiet = |_: u64| {};
    let config = DemoConfig { ads: 4, images_per_ad: 1, seed: 11 };
    seed_demo_data(app.storage.as_ref(), app.observations.clone(), &config, SeedProgress { written: &quiet })
        .await
        .unwrap();
    aao_export_worker::index::index_observations(app.storage.clone(), app.observations.clone(), quiet).await.unwrap();
    let record = app.storage.export(id).await.unwrap().unwrap();
    let catalogue = app.storage.exportable_fields().await.unwrap();
    let job = ExportJob::new(record.clone(), &catalogue).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let store = aao_export_stores::open_store(scratch.path().to_str().unwrap(), &Default::default()).unwrap();
    let key = object_store::path::Path::from(object_key(&record.creator_id, id, record.created_at));
    build_export(
        app.storage.clone(),
        app.observations.clone(),
        UploadTarget::new(store.clone(), &key),
        &job,
        Arc::new(Default::default()),
        Default::default(),
    )
    .await
    .unwrap();
    let bytes = store.get(&key).await.unwrap().bytes().await.unwrap().to_vec();
    app.complete(id, now_ms(), Some(&bytes)).await;
    bytes
}

/// What a user checks in the ZIP they got: the archive's files, and that its details name this
/// export.
fn open_zip(bytes: &[u8], id: Uuid, context: &str) {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap_or_else(|e| panic!("{context}: {e}"));
    let names: Vec<String> =
        (0..archive.len()).map(|i| archive.by_index(i).unwrap().name().unwrap().to_string()).collect();
    assert!(names.contains(&"all_data.csv".to_string()), "{context}: {names:?}");
    assert!(
        names.iter().filter(|n| n.starts_with("ads/") && n.ends_with("/data.json")).count() == 4,
        "{context}: {names:?}"
    );
    let mut details = String::new();
    archive.by_name("export_details.json").unwrap().read_to_string(&mut details).unwrap();
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["export_id"], json!(id.to_string()), "{context}");
    assert!(details.get("download_count").is_none(), "{context}: the archive does not count downloads: {details}");
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

fn cookie(app: &TestApp, who: &str) -> Auth {
    Auth::Header("Cookie", format!("aao_session={}", app.tokens[who]))
}

/// The export's `download_count` as the list shows it (a list read records nothing).
async fn count_in_list(app: &TestApp, id: Uuid) -> u64 {
    let (status, list) = app.get("/exports", &app.key(CREATOR)).await;
    assert_eq!(status, 200, "{list}");
    let export = list.as_array().unwrap().iter().find(|e| e["export_id"] == json!(id.to_string())).unwrap();
    export["download_count"].as_u64().unwrap_or_else(|| panic!("a count: {export}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_redirects_whoever_may_see_the_export_to_its_zip_and_is_recorded() {
    for app in apps().await {
        let b = app.backend;
        let id = app.seed_export(CREATOR, &[SHARED]).await;
        let zip = complete_with_a_real_zip(&app, id).await;
        aao_export_testkit::check_zip_externally(&zip, "stable-link");
        assert_eq!(count_in_list(&app, id).await, 0, "[{b}] not downloaded yet");
        // Times on the wire are whole seconds.
        let started = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 0);

        // Each with another credential: an API key, the session cookie (a browser's click), a token.
        let path = format!("/exports/{id}/download");
        for (n, (who, auth)) in [(CREATOR, app.key(CREATOR)), (SHARED, cookie(&app, SHARED)), (ADMIN, app.token(ADMIN))]
            .into_iter()
            .enumerate()
        {
            let redirect = app.get_unfollowed(&path, &auth).await;
            assert_eq!(redirect.status().as_u16(), 302, "[{b}] {who}");
            assert_eq!(header(&redirect, "cache-control"), "private, no-store", "[{b}] {who}: never cached");
            let location = header(&redirect, "location");
            assert!(location.starts_with(&format!("{}/downloads/{id}?expires=", app.url)), "[{b}] {who}: {location}");
            // The URL works on its own, like a link in a browser or curl.
            let file = reqwest::get(&location).await.unwrap();
            assert_eq!(file.status().as_u16(), 200, "[{b}] {who}");
            assert_eq!(header(&file, "content-disposition"), format!("attachment; filename=\"export_{id}.zip\""));
            let got = file.bytes().await.unwrap().to_vec();
            assert_eq!(got, zip, "[{b}] {who}: the export's ZIP");
            open_zip(&got, id, &format!("[{b}] {who}"));
            assert_eq!(count_in_list(&app, id).await, n as u64 + 1, "[{b}] {who}: counted");
        }

        // A client that follows redirects gets the ZIP in one go.
        let followed = app.send("GET", &path, &cookie(&app, CREATOR), Body::None).await;
        assert_eq!(followed.status().as_u16(), 200, "[{b}]");
        open_zip(&followed.bytes().await.unwrap(), id, &format!("[{b}] followed"));

        // Anyone else: as if it did not exist; no credentials: 401. Neither is recorded.
        let refused = app.get(&path, &app.key(OTHER)).await;
        assert_error(&refused, 404, "NOT_FOUND", "a user it is not shared with");
        assert_eq!(refused.1["message"], json!(format!("no export {id}")), "[{b}] reads like an unknown id");
        assert_error(&app.get(&path, &Auth::None).await, 401, "NO_VALID_AUTHENTICATION", "no credentials");
        assert_eq!(count_in_list(&app, id).await, 4, "[{b}] refusals are not downloads");

        // A status read that carries a URL is a download too ("api"), counted in its own answer.
        let (status, read) = app.get(&format!("/exports/{id}"), &app.key(SHARED)).await;
        assert_eq!(status, 200, "[{b}] {read}");
        assert!(read["url"].is_string(), "[{b}] {read}");
        assert_eq!(read["download_count"], json!(5), "[{b}] {read}");

        // The record: each download with who, when and which way, newest first.
        let (status, listed) = app.get(&format!("{path}s"), &app.key(CREATOR)).await;
        assert_eq!(status, 200, "[{b}] {listed}");
        let listed = listed.as_array().unwrap().clone();
        let rows: Vec<(&str, &str, &str)> = listed
            .iter()
            .map(|d| (d["user_id"].as_str().unwrap(), d["full_name"].as_str().unwrap(), d["via"].as_str().unwrap()))
            .collect();
        assert_eq!(
            rows,
            [
                (SHARED, "Shared", "api"),
                (CREATOR, "Creator", "link"),
                (ADMIN, "Admin", "link"),
                (SHARED, "Shared", "link"),
                (CREATOR, "Creator", "link"),
            ],
            "[{b}] newest first"
        );
        let times: Vec<chrono::DateTime<chrono::Utc>> =
            listed.iter().map(|d| d["downloaded_at"].as_str().unwrap().parse().unwrap()).collect();
        let now = chrono::Utc::now() + chrono::Duration::seconds(1);
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "[{b}] newest first: {times:?}");
        assert!(times.iter().all(|t| *t >= started && *t <= now), "[{b}] {times:?}");
        assert!(listed.iter().all(|d| d.as_object().unwrap().len() == 4), "[{b}] {listed:?}");
        let (status, by_admin) = app.get(&format!("{path}s"), &app.key(ADMIN)).await;
        assert_eq!((status, by_admin.as_array().map(Vec::len)), (200, Some(5)), "[{b}] an admin sees it too");

        // A user it is shared with may download but not see who else did; a stranger sees nothing.
        assert_error(&app.get(&format!("{path}s"), &app.key(SHARED)).await, 403, "FORBIDDEN", "a shared user");
        assert_error(&app.get(&format!("{path}s"), &app.key(OTHER)).await, 404, "NOT_FOUND", "a stranger");

        // Deleted: the link answers 404 and the record goes with the export.
        assert_eq!(app.call("DELETE", &format!("/exports/{id}"), &app.key(CREATOR), Body::None).await.0, 200);
        assert_error(&app.get(&path, &app.key(CREATOR)).await, 404, "NOT_FOUND", "a deleted export");
        assert_error(&app.get(&format!("{path}s"), &app.key(ADMIN)).await, 404, "NOT_FOUND", "a deleted export");
        assert_eq!(app.storage.downloads(id).await.unwrap(), vec![], "[{b}] the record is deleted with the export");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_without_a_file_answers_with_its_status_never_a_dead_link() {
    for app in apps().await {
        let b = app.backend;
        let expiry = i64::from(app.settings.expiration_days) * DAY_MS;
        let link = |id: Uuid| format!("/exports/{id}/download");

        let pending = app.seed_export(CREATOR, &[SHARED]).await;
        let processing = app.seed_export(CREATOR, &[SHARED]).await;
        let claim = app.storage.claim_export(processing, 1, "w", now_ms(), now_ms() + 60_000).await.unwrap();
        assert!(matches!(claim, Claim::Claimed(_)), "[{b}] {claim:?}");
        let failed = app.seed_export(CREATOR, &[SHARED]).await;
        app.storage.claim_export(failed, 1, "w", now_ms(), now_ms() + 60_000).await.unwrap();
        let finish = Finish::Failed { message: "boom".into() };
        assert!(app.storage.finish_export(failed, "w", now_ms(), &finish).await.unwrap());
        for (id, status) in [(pending, "pending"), (processing, "processing"), (failed, "failed")] {
            for auth in [app.key(CREATOR), app.key(SHARED)] {
                let response = app.get_unfollowed(&link(id), &auth).await;
                assert!(response.headers().get("location").is_none(), "[{b}] {status}: no redirect");
                let refused = (response.status().as_u16(), response.json::<Value>().await.unwrap());
                assert_error(&refused, 409, "EXPORT_NOT_COMPLETED", status);
                let message = refused.1["message"].as_str().unwrap();
                assert!(message.contains(&format!("export {id} is {status}")), "[{b}] names the status: {message}");
            }
            // A status without a URL is no download either.
            assert_eq!(app.get(&format!("/exports/{id}"), &app.key(CREATOR)).await.1["download_count"], json!(0));
            assert_eq!(app.get(&format!("{}s", link(id)), &app.key(CREATOR)).await, (200, json!([])), "[{b}] {status}");
        }
        // A stranger learns nothing, not even the status.
        assert_error(&app.get(&link(pending), &app.key(OTHER)).await, 404, "NOT_FOUND", "a stranger, pending");

        // Expired: past its time but not yet swept, and swept (file deleted).
        let stale = app.seed_export(CREATOR, &[SHARED]).await;
        app.complete(stale, now_ms() - expiry - 1000, Some(b"old")).await;
        let swept = app.seed_export(CREATOR, &[SHARED]).await;
        app.complete(swept, now_ms() - expiry - 2000, Some(b"old")).await;
        assert!(app.storage.expire_exports(now_ms() - expiry - 1500, now_ms()).await.unwrap() >= 1);
        assert_eq!(app.storage.export(swept).await.unwrap().unwrap().status.as_str(), "expired", "[{b}]");
        for (id, what) in [(stale, "expired, not yet swept"), (swept, "expired and swept")] {
            let response = app.get_unfollowed(&link(id), &app.key(SHARED)).await;
            assert!(response.headers().get("location").is_none(), "[{b}] {what}: no redirect");
            let refused = (response.status().as_u16(), response.json::<Value>().await.unwrap());
            assert_error(&refused, 410, "EXPORT_EXPIRED", what);
            assert_eq!(app.storage.downloads(id).await.unwrap(), vec![], "[{b}] {what}: nothing recorded");
        }

        // Ids that name nothing: as on every other route.
        let unknown = Uuid::new_v4();
        for path in [link(unknown), format!("{}s", link(unknown))] {
            let refused = app.get(&path, &app.key(ADMIN)).await;
            assert_error(&refused, 404, "NOT_FOUND", &path);
            assert_eq!(refused.1["message"], json!(format!("no export {unknown}")), "[{b}]");
        }
        for path in ["/exports/not-a-uuid/download", "/exports/not-a-uuid/downloads", "/exports/%FF/download"] {
            assert_error(&app.get(path, &app.key(ADMIN)).await, 404, "NOT_FOUND", path);
        }
        let wrong_method = app.call("POST", &link(pending), &app.key(CREATOR), Body::Json(json!({}))).await;
        assert_error(&wrong_method, 405, "METHOD_NOT_ALLOWED", "POST on the link");
    }
}

/// Recording is best effort: a database that refuses the record neither fails nor changes the
/// download (SQLite, where a trigger can refuse the insert alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_cannot_be_recorded_still_downloads() {
    use sqlx::Connection;
    let db = aao_export_testkit::TestDatabase::sqlite().await;
    let url = db.url.clone();
    let app = spawn_app(db).await;
    let id = app.seed_export(CREATOR, &[]).await;
    app.complete(id, now_ms(), Some(b"PK the bytes")).await;
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TRIGGER refuse_downloads BEFORE INSERT ON export_downloads BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    let redirect = app.get_unfollowed(&format!("/exports/{id}/download"), &app.key(CREATOR)).await;
    assert_eq!(redirect.status().as_u16(), 302);
    let location = header(&redirect, "location");
    assert_eq!(reqwest::get(&location).await.unwrap().bytes().await.unwrap().as_ref(), b"PK the bytes");
    let (status, read) = app.get(&format!("/exports/{id}"), &app.key(CREATOR)).await;
    assert_eq!(status, 200, "{read}");
    assert!(read["url"].is_string(), "{read}");
    assert_eq!(read["download_count"], json!(0), "nothing was recorded, and the answer says so: {read}");
    assert_eq!(app.get(&format!("/exports/{id}/downloads"), &app.key(CREATOR)).await, (200, json!([])));
}
