//! Previews, the ads' images and retries over HTTP. Previews run on the demo catalogue (2,000
//! ads with images, seeded and indexed as `aao-export demo-data` does) and are checked against
//! the store and the catalogue: counts, the 24-ad cap and its order, the images' bytes, and the
//! size estimate against real exports built by the worker's pipeline. Bad bodies get exactly
//! the answers `POST /exports` gives. Retries go through every status and every kind of caller.

use crate::common::*;
use aao_export_core::export::{ExportRecord, ExportRequest, object_key};
use aao_export_core::query::Query;
use aao_export_db::{Claim, Finish};
use aao_export_demo::{DemoConfig, SeedProgress, SeedReport, seed_demo_data};
use aao_export_service::RateLimit;
use aao_export_testkit::TestDatabase;
use aao_export_worker::archive::{ExportJob, UploadTarget, build_export};
use aao_export_worker::index::index_observations;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const DEMO_ADS: usize = 2000;

/// Seeds the demo data into the app's observations store and database, then indexes it.
async fn seed_demo(app: &TestApp, ads: usize) -> SeedReport {
    let quiet = |_: u64| {};
    let config = DemoConfig { ads, images_per_ad: 3, seed: 7 };
    let report =
        seed_demo_data(app.storage.as_ref(), app.observations.clone(), &config, SeedProgress { written: &quiet })
            .await
            .unwrap();
    index_observations(app.storage.clone(), app.observations.clone(), quiet).await.unwrap();
    report
}

/// What the store holds of each catalogued ad: its media keys and the sizes of those found.
struct StoreTruth {
    media: HashMap<String, Vec<String>>,
    sizes: HashMap<String, u64>,
}

impl StoreTruth {
    async fn read(app: &TestApp) -> StoreTruth {
        let sizes: HashMap<String, u64> =
            app.observations.list(None).map_ok(|m| (m.location.to_string(), m.size)).try_collect().await.unwrap();
        let rows = app.storage.search_page(&Query::All, None, 100_000).await.unwrap();
        let media = rows
            .iter()
            .map(|r| {
                let rdo: Value = serde_json::from_str(&r.rdo).unwrap();
                let keys = rdo["media"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
                (r.observation_id.clone(), keys)
            })
            .collect();
        StoreTruth { media, sizes }
    }

    /// Images found in the store, and their bytes, of these ads.
    fn images_of<'a>(&self, ids: impl Iterator<Item = &'a String>) -> (u64, u64) {
        ids.flat_map(|id| &self.media[id]).filter_map(|k| self.sizes.get(k)).fold((0, 0), |(n, b), s| (n + 1, b + s))
    }
}

async fn preview(app: &TestApp, body: Value) -> Value {
    let (status, answer) = app.post("/exports/preview", &app.key(CREATOR), body.clone()).await;
    assert_eq!(status, 200, "[{}] preview of {body}: {answer}", app.backend);
    answer
}

/// Every ad id a query matches, newest first (the catalogue's own order).
async fn matching(app: &TestApp, query: &Value) -> Vec<String> {
    let query = Query::from_json(query).unwrap();
    app.storage.search_page(&query, None, 100_000).await.unwrap().into_iter().map(|r| r.observation_id).collect()
}

/// A query too broad to count within the preview's time gets an estimate, marked as one, from
/// a sample of about 10,000 ads (here the whole demo catalogue, so the same numbers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_out_of_time_answers_with_an_estimate() {
    for db in TestDatabase::ours().await {
        let app = spawn_app_with(db, |s| s.preview_budget = Duration::ZERO).await;
        let b = app.backend;
        seed_demo(&app, 600).await;
        let letters: Vec<String> = "abcdefghijklmnopqrstuvwxyz0123456789".chars().map(String::from).collect();
        let query = json!({"method": "ANYTHING_CONTAINS", "args": letters});
        let started = Instant::now();
        let got = preview(&app, json!({"query": query})).await;
        let took = started.elapsed();
        let ids = matching(&app, &query).await;
        assert_eq!(got["estimated"], json!(true), "[{b}] {got}");
        assert_eq!(got["ad_count"], json!(ids.len()), "[{b}] a sample of 10,000 is all of them here");
        // Listing stops at 24 matches, so it may still have fitted in no time; if so, the right ones.
        let listed: Vec<&str> =
            got["ads"].as_array().unwrap().iter().map(|a| a["observation_id"].as_str().unwrap()).collect();
        assert!(listed.is_empty() || listed == ids[..24], "[{b}] {listed:?}");
        assert!(got["estimated_bytes"]["without_images"].as_u64().unwrap() > 0, "[{b}] {got}");
        eprintln!("[{b}] an estimated preview in {took:?}");
    }
}

/// Each user may ask for so many previews in a window; past it, a 429 that says how long to
/// wait (`Retry-After`, and in the message), while other users go on previewing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_past_the_per_user_limit_wait_for_the_next_window() {
    const HOUR_MS: i64 = 3_600_000;
    for db in TestDatabase::ours().await {
        let app = spawn_app_with(db, |s| s.preview_limit = RateLimit { hits: 3, per: Duration::from_secs(3600) }).await;
        let b = app.backend;
        // All of this within one hourly window.
        let into = now_ms().rem_euclid(HOUR_MS);
        if into > HOUR_MS - 5_000 {
            tokio::time::sleep(Duration::from_millis((HOUR_MS - into + 100) as u64)).await;
        }
        let body = json!({"query": {"method": "ALL"}});
        for _ in 0..3 {
            preview(&app, body.clone()).await;
        }
        let response = app.send("POST", "/exports/preview", &app.key(CREATOR), Body::Json(body.clone())).await;
        assert_eq!(response.status(), 429, "[{b}]");
        let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=3600).contains(&wait), "[{b}] Retry-After {wait}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["comment"], "TOO_MANY_PREVIEWS", "[{b}] {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.starts_with("at most 3 previews in 3600 s per user; try again in "), "[{b}] {message}");
        assert!(message.ends_with(&format!(" {wait} s")), "[{b}] the message says the same wait: {message}");
        // The same user by another credential is the same user; another user is not limited.
        let (status, _) = app.post("/exports/preview", &app.token(CREATOR), body.clone()).await;
        assert_eq!(status, 429, "[{b}] by token too");
        let (status, answer) = app.post("/exports/preview", &app.key(OTHER), body.clone()).await;
        assert_eq!(status, 200, "[{b}] another user: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_of_the_demo_catalogue() {
    for app in apps().await {
        let b = app.backend;
        let seeded = seed_demo(&app, DEMO_ADS).await;
        let truth = StoreTruth::read(&app).await;
        let (active, withdrawn) = {
            let active = seeded.observers.iter().find(|(_, w)| !*w).unwrap().0.clone();
            let withdrawn = seeded.observers.iter().find(|(_, w)| *w).unwrap().0.clone();
            (active, withdrawn)
        };

        // Counts: what the catalogue holds, and the images the store holds of those ads.
        let queries = [
            json!({"method": "ALL"}),
            json!({"method": "OBSERVER_ID_EQUALS", "args": [active]}),
            json!({"method": "AND", "args": [{"method": "ANYTHING_CONTAINS", "args": ["a"]}, {"method": "NOT", "args": [{"method": "PAGE_NAME_CONTAINS", "args": ["e"]}]}]}),
            json!({"method": "OBSERVER_ID_EQUALS", "args": [withdrawn]}),
        ];
        for query in &queries {
            let got = preview(&app, json!({"query": query})).await;
            let ids = matching(&app, query).await;
            let (images, _) = truth.images_of(ids.iter());
            assert_eq!(got["ad_count"], json!(ids.len()), "[{b}] ad_count of {query}");
            assert_eq!(got["image_count"], json!(images), "[{b}] image_count of {query}");
            let listed: Vec<&str> =
                got["ads"].as_array().unwrap().iter().map(|a| a["observation_id"].as_str().unwrap()).collect();
            let first: Vec<&str> = ids.iter().take(24).map(String::as_str).collect();
            assert_eq!(listed, first, "[{b}] the first 24 matching ads, newest first, of {query}");
        }
        let all = preview(&app, json!({"query": {"method": "ALL"}})).await;
        assert_eq!(all["ad_count"], json!(app.storage.catalogue_size().await.unwrap()), "[{b}]");
        assert!(all["ad_count"].as_u64().unwrap() < DEMO_ADS as u64, "[{b}] withdrawn ads are never counted");
        assert_eq!(
            preview(&app, json!({"query": {"method": "OBSERVER_ID_EQUALS", "args": [withdrawn]}})).await["ad_count"],
            json!(0),
            "[{b}] the withdrawn participant's ads"
        );
        let keys: Vec<&str> = all.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["ad_count", "image_count", "estimated_bytes", "ads", "estimated"],
            "[{b}] the answer's shape"
        );
        assert_eq!(all["estimated"], json!(false), "[{b}] counted in time");

        // The listed ads: 24, newest first, each as the RDO says.
        let ads = all["ads"].as_array().unwrap();
        assert_eq!(ads.len(), 24, "[{b}] at most 24 ads");
        let times: Vec<&str> = ads.iter().map(|a| a["observed_at"].as_str().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "[{b}] newest first: {times:?}");
        for ad in ads {
            let id = ad["observation_id"].as_str().unwrap();
            let row = app.storage.catalogue_ad(id).await.unwrap().unwrap();
            let rdo: Value = serde_json::from_str(&row.rdo).unwrap();
            let keys: Vec<&str> = ad.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["observation_id", "platform", "observed_at", "page_name", "image_urls"], "[{b}]");
            assert_eq!(ad["platform"], rdo["observation"]["platform"], "[{b}] platform of {id}");
            let seconds = rdo["observation"]["observed_on_device_at"].as_f64().unwrap();
            assert_eq!(
                ad["observed_at"],
                json!(aao_export_core::time::rfc3339((seconds * 1000.0).round() as i64)),
                "[{b}] observed_at of {id}"
            );
            let names: Vec<&Value> = rdo["enrichment"]["meta_adlibrary_scrape"]["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| &c["data"]["page_name"])
                .collect();
            assert!(
                (names.is_empty() && ad["page_name"].is_null()) || names.contains(&&ad["page_name"]),
                "[{b}] page_name of {id} is a candidate's: {} of {names:?}",
                ad["page_name"]
            );
            let urls: Vec<String> = (1..=truth.media[id].len()).map(|n| format!("/ads/{id}/images/{n}")).collect();
            assert_eq!(ad["image_urls"], json!(urls), "[{b}] image_urls of {id}");
        }
        let few =
            preview(&app, json!({"query": {"method": "OBSERVATION_ID_CONTAINS", "args": [ads[3]["observation_id"]]}}))
                .await;
        assert_eq!((few["ad_count"].clone(), few["ads"].clone()), (json!(1), json!([ads[3]])), "[{b}] one ad");
        let none = preview(&app, json!({"query": {"method": "OBSERVER_ID_CONTAINS", "args": ["no-such-code"]}})).await;
        assert_eq!(
            (none["ad_count"].clone(), none["image_count"].clone(), none["ads"].clone()),
            (json!(0), json!(0), json!([]))
        );
        let empty = &none["estimated_bytes"];
        assert_eq!(empty["without_images"], empty["with_images"], "[{b}] nothing selected: no images to add");
        assert!(empty["without_images"].as_u64().unwrap() < 10_000, "[{b}] only the archive's own parts: {empty}");

        // How long it takes (information only; speed is for benchmarks).
        let started = Instant::now();
        preview(&app, json!({"query": {"method": "ALL"}, "include_images": true})).await;
        let all_ms = started.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        preview(&app, json!({"query": {"method": "ANYTHING_CONTAINS", "args": ["vote"]}})).await;
        println!(
            "[{b}] POST /exports/preview on the demo catalogue ({DEMO_ADS} ads): ALL {all_ms:.1} ms, ANYTHING_CONTAINS {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );

        images_of_the_preview(&app, &all, &truth, &withdrawn).await;
        estimates_against_real_exports(&app, &active).await;
    }
}

/// The listed image URLs answer the store's bytes; anything else is a 404 in the envelope.
async fn images_of_the_preview(app: &TestApp, all: &Value, truth: &StoreTruth, withdrawn: &str) {
    let b = app.backend;
    let ads = all["ads"].as_array().unwrap();
    let mut checked = 0;
    for ad in ads.iter().take(6) {
        let id = ad["observation_id"].as_str().unwrap();
        for (i, url) in ad["image_urls"].as_array().unwrap().iter().enumerate() {
            let response = app.send("GET", url.as_str().unwrap(), &app.token(SHARED), Body::None).await;
            assert_eq!(response.status().as_u16(), 200, "[{b}] {url}");
            let headers = response.headers().clone();
            assert_eq!(headers["content-type"], "image/jpeg", "[{b}] {url}");
            assert_eq!(headers["x-content-type-options"], "nosniff", "[{b}] {url}");
            assert!(headers["cache-control"].to_str().unwrap().starts_with("private"), "[{b}] {url}");
            let got = response.bytes().await.unwrap();
            let key = &truth.media[id][i];
            let stored = app.observations.get(&Path::from(key.as_str())).await.unwrap().bytes().await.unwrap();
            assert_eq!(got, stored, "[{b}] {url} is {key}'s bytes");
            assert_eq!(headers["content-length"].to_str().unwrap(), stored.len().to_string(), "[{b}] {url}");
            checked += 1;
        }
    }
    assert!(checked >= 6, "[{b}] several images checked");

    // 404 for anything unknown, in the envelope, never a 500.
    let ad = &ads[0];
    let id = ad["observation_id"].as_str().unwrap();
    let n = ad["image_urls"].as_array().unwrap().len();
    let withdrawn_ad = withdrawn_ad_id(app, withdrawn).await;
    let missing = {
        // An image deleted from the store after indexing.
        let ad = &ads[1];
        let id = ad["observation_id"].as_str().unwrap();
        app.observations.delete(&Path::from(truth.media[id][0].as_str())).await.unwrap();
        ad["image_urls"][0].as_str().unwrap().to_string()
    };
    let cases = [
        ("/ads/no-such-ad/images/1".to_string(), "an unknown ad"),
        (format!("/ads/{id}/images/0"), "image 0"),
        (format!("/ads/{id}/images/{}", n + 1), "past the last image"),
        (format!("/ads/{id}/images/x"), "not a number"),
        (format!("/ads/{id}/images/-1"), "a negative number"),
        (format!("/ads/{id}/images/01"), "a leading zero"),
        (format!("/ads/{id}/images/+1"), "a plus sign"),
        (format!("/ads/{id}/images/1.0"), "a decimal"),
        (format!("/ads/{id}/images/99999999999999999999999"), "a number too large"),
        (format!("/ads/{withdrawn_ad}/images/1"), "a withdrawn participant's ad"),
        (missing, "an image missing from the store"),
        ("/ads/a%00b/images/1".to_string(), "a control character"),
        ("/ads/%FF%FE/images/1".to_string(), "bytes that are not UTF-8"),
        (format!("/ads/{}/images/1", id.to_uppercase()), "another case"),
    ];
    for (path, what) in cases {
        let got = app.get(&path, &app.key(CREATOR)).await;
        assert_error(&got, 404, "NOT_FOUND", &format!("[{b}] {what}: {path}"));
    }
    let (_, unknown) = app.get("/ads/no-such-ad/images/1", &app.key(CREATOR)).await;
    let (_, withdrawn) = app.get(&format!("/ads/{withdrawn_ad}/images/1"), &app.key(CREATOR)).await;
    assert_eq!(
        unknown["message"].as_str().unwrap().replace("no-such-ad", "X"),
        withdrawn["message"].as_str().unwrap().replace(&withdrawn_ad, "X"),
        "[{b}] a withdrawn ad reads exactly like an unknown one"
    );
    // The ad's other images still answer.
    for url in ads[1]["image_urls"].as_array().unwrap().iter().skip(1) {
        let response = app.send("GET", url.as_str().unwrap(), &app.key(CREATOR), Body::None).await;
        assert_eq!(response.status().as_u16(), 200, "[{b}] {url}");
    }
}

/// An ad of the withdrawn participant, as its RDO in the store names it.
async fn withdrawn_ad_id(app: &TestApp, observer: &str) -> String {
    let prefix = Path::from(format!("{observer}/rdo"));
    let meta =
        app.observations.list(Some(&prefix)).try_next().await.unwrap().expect("the withdrawn participant has ads");
    let rdo: Value =
        serde_json::from_slice(&app.observations.get(&meta.location).await.unwrap().bytes().await.unwrap()).unwrap();
    assert_eq!(rdo["is_user_disabled"], json!(true));
    let uuid = rdo["observation"]["uuid"].as_str().unwrap();
    uuid.split_once('.').map_or(uuid, |(_, id)| id).to_string()
}

/// The estimate against the ZIPs the worker's pipeline really builds from the same catalogue.
async fn estimates_against_real_exports(app: &TestApp, observer: &str) {
    let b = app.backend;
    let catalogue = app.storage.exportable_fields().await.unwrap();
    let every_field: Vec<String> = catalogue.iter().map(|f| f.path.clone()).collect();
    let one_observer = json!({"method": "OBSERVER_ID_EQUALS", "args": [observer]});
    let cases = [
        ("ALL, default fields", json!({"query": {"method": "ALL"}}), false),
        ("ALL, observation_id only", json!({"query": {"method": "ALL"}, "fields": ["observation_id"]}), false),
        ("ALL, every field", json!({"query": {"method": "ALL"}, "fields": every_field}), false),
        ("one observer, default fields", json!({"query": one_observer}), true),
        ("one observer, every field", json!({"query": one_observer, "fields": every_field}), true),
        ("one ad", json!({"query": {"method": "OBSERVATION_ID_CONTAINS", "args": [first_ad(app).await]}}), true),
    ];
    let exports = tempfile::tempdir().unwrap();
    let store = aao_export_stores::open_store(exports.path().to_str().unwrap(), &Default::default()).unwrap();
    for (what, body, with_images) in cases {
        let estimate = preview(app, body.clone()).await["estimated_bytes"].clone();
        for images in if with_images { vec![false, true] } else { vec![false] } {
            let mut request = body.clone();
            request["include_images"] = json!(images);
            let parsed = ExportRequest::from_json(&request, &catalogue).unwrap();
            let record = ExportRecord::pending(Uuid::new_v4(), CREATOR, parsed.parameters(), 3, now_ms());
            let job = ExportJob::new(record, &catalogue).unwrap();
            let key = Path::from(object_key(CREATOR, job.record.export_id, job.record.created_at));
            let summary = build_export(
                app.storage.clone(),
                app.observations.clone(),
                UploadTarget::new(store.clone(), &key),
                &job,
                Arc::new(Default::default()),
                Default::default(),
            )
            .await
            .unwrap();
            let real = summary.size_bytes as f64;
            let estimated = estimate[if images { "with_images" } else { "without_images" }].as_u64().unwrap() as f64;
            let ratio = estimated / real;
            println!(
                "[{b}] {what}, {} images: estimated {estimated} bytes, real {real} ({} ads): ×{ratio:.3}",
                if images { "with" } else { "without" },
                summary.ad_count
            );
            assert!((0.5..=2.0).contains(&ratio), "[{b}] {what}: the estimate {estimated} is within ×2 of {real}");
        }
    }
}

async fn first_ad(app: &TestApp) -> String {
    app.storage.search_page(&Query::All, None, 1).await.unwrap().remove(0).observation_id
}

/// The same bodies get the same answers from `POST /exports` and `POST /exports/preview`, byte
/// for byte; and a preview records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_refuses_exactly_what_create_refuses() {
    let app = sqlite_app().await;
    const JSON: Option<&str> = Some("application/json");
    let text = |content_type: Option<&'static str>, text: &str| (content_type, text.as_bytes().to_vec());
    let value = |v: Value| (JSON, serde_json::to_vec(&v).unwrap());
    let all = |extra: Value| {
        let mut body = json!({"query": {"method": "ALL"}});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        value(body)
    };
    let big: Vec<String> = (0..app.max_body_bytes / 10).map(|i| format!("field_{i:04}")).collect();
    let mut deep = json!({"method": "ALL"});
    for _ in 0..40 {
        deep = json!({"method": "NOT", "args": [deep]});
    }
    // (what, content type, bytes)
    let bodies = [
        ("malformed JSON", text(JSON, "{\"query\": ")),
        ("an empty body", text(JSON, "")),
        ("bytes that are not UTF-8", (JSON, vec![b'{', 0xff, 0xfe, b'}'])),
        ("JSON nested too deep", text(JSON, &"[".repeat(5000))),
        ("text/plain", text(Some("text/plain"), "{\"query\": {\"method\": \"ALL\"}}")),
        ("no content type", text(None, "{\"query\": {\"method\": \"ALL\"}}")),
        ("a form", text(Some("application/x-www-form-urlencoded"), "query=ALL")),
        ("over the limit", all(json!({"fields": big}))),
        ("null", value(json!(null))),
        ("a list", value(json!([1]))),
        ("a string", value(json!("ALL"))),
        ("no query", value(json!({"include_images": true}))),
        ("a query that is a string", value(json!({"query": "ALL"}))),
        ("an unknown method", value(json!({"query": {"method": "NOPE"}}))),
        ("REFERENCE QUERY", value(json!({"query": {"method": "REFERENCE QUERY", "args": ["p"]}}))),
        ("an instant that is an object", value(json!({"query": {"method": "DATETIME_AFTER", "args": [{}]}}))),
        ("a NUL in a phrase", value(json!({"query": {"method": "OBSERVER_ID_CONTAINS", "args": ["12\u{0}34"]}}))),
        ("a NUL key", value(json!({"query": {"method": "ALL", "\u{0}": 1}}))),
        ("a query nested too deep", value(json!({"query": deep}))),
        ("include_images a string", all(json!({"include_images": "yes"}))),
        ("fields a string", all(json!({"fields": "tags"}))),
        ("a field that is a number", all(json!({"fields": ["tags", 3]}))),
        ("unknown fields", all(json!({"fields": ["tags", "nope", "ocr.txt"]}))),
        ("a repeated field", all(json!({"fields": ["tags", "tags"]}))),
        ("an unknown key", all(json!({"filds": []}))),
    ];
    let answer = |path: &'static str, body: Body| {
        let app = &app;
        async move {
            let response = app.send("POST", path, &app.key(CREATOR), body).await;
            let status = response.status().as_u16();
            let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
            (status, content_type, response.text().await.unwrap())
        }
    };
    for (what, (content_type, bytes)) in bodies {
        let created = answer("/exports", Body::Raw(content_type, bytes.clone())).await;
        let previewed = answer("/exports/preview", Body::Raw(content_type, bytes)).await;
        assert!((400..500).contains(&created.0), "{what}: a 4xx: {created:?}");
        assert_eq!(previewed, created, "{what}: the preview answers as create does, byte for byte");
    }
    let (_, listed) = app.get("/exports", &app.key(CREATOR)).await;
    assert_eq!(listed, json!([]), "nothing was created");
    assert_eq!(app.queue.depth().await.unwrap(), (0, 0), "nor queued");
    // A good body: a preview, and still nothing created or queued.
    let got = preview(&app, json!({"query": {"method": "ALL"}, "include_images": true, "fields": ["tags"]})).await;
    assert_eq!((got["ad_count"].clone(), got["ads"].clone()), (json!(0), json!([])), "an empty catalogue");
    let (_, listed) = app.get("/exports", &app.key(CREATOR)).await;
    assert_eq!((listed, app.queue.depth().await.unwrap()), (json!([]), (0, 0)), "a preview records nothing");
    // "preview" is no export id.
    let got = app.get("/exports/preview", &app.key(CREATOR)).await;
    assert_error(&got, 405, "METHOD_NOT_ALLOWED", "GET /exports/preview");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_new_endpoint_needs_credentials() {
    let app = sqlite_app().await;
    let id = app.seed_export(CREATOR, &[]).await;
    let endpoints = [
        ("POST", "/exports/preview".to_string(), Body::Json(json!({"query": {"method": "ALL"}}))),
        ("POST", format!("/exports/{id}/retry"), Body::None),
        ("GET", "/ads/some-ad/images/1".to_string(), Body::None),
    ];
    for (method, path, body) in endpoints {
        let body_again = || match &body {
            Body::Json(v) => Body::Json(v.clone()),
            _ => Body::None,
        };
        for (auth, status, comment) in [
            (Auth::None, 401, "NO_VALID_AUTHENTICATION"),
            (Auth::Key("aao_nope_nope".into()), 401, "INVALID_API_KEY"),
            (Auth::Bearer("not.a.token".into()), 401, "UNAUTHORISED"),
            (app.key(DISABLED), 403, "USER_DISABLED"),
        ] {
            let got = app.call(method, &path, &auth, body_again()).await;
            let (code, body) = &got;
            assert_eq!(
                (*code, body["comment"].as_str()),
                (status, Some(comment)),
                "{method} {path} with {auth:?}: {body}"
            );
        }
    }
    assert_eq!(app.storage.export(id).await.unwrap().unwrap().attempt, 1, "nothing happened");
}

impl TestApp {
    /// Every message in the database queue, parsed (received and so hidden from later calls).
    async fn take_messages(&self) -> Vec<Value> {
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

    /// Runs the export's current attempt to a failure (after `retries` retries).
    async fn fail(&self, id: Uuid, retries: u32) {
        let now = now_ms();
        for _ in 0..=retries {
            let attempt = self.storage.export(id).await.unwrap().unwrap().attempt;
            let claim = self.storage.claim_export(id, attempt, "w", now, now + 60_000).await.unwrap();
            assert!(matches!(claim, Claim::Claimed(_)), "{claim:?}");
            assert!(self.storage.renew_lease(id, "w", now, now + 60_000, 3, 10).await.unwrap());
            let finish = if attempt > retries {
                Finish::Failed { message: "the exports store is away".into() }
            } else {
                Finish::Retry { next_attempt: attempt + 1, message: "try again".into() }
            };
            assert!(self.storage.finish_export(id, "w", now, &finish).await.unwrap());
        }
    }

    async fn retry(&self, who: &str, id: Uuid) -> (u16, Value) {
        self.call("POST", &format!("/exports/{id}/retry"), &self.key(who), Body::None).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_expired_export_starts_again_under_its_id() {
    for app in apps().await {
        let b = app.backend;

        // Failed after two retries: back to pending, attempt 1, queued, shares and fields kept.
        let failed = app.seed_export(CREATOR, &[SHARED]).await;
        app.fail(failed, 2).await;
        let (_, before) = app.get(&format!("/exports/{failed}"), &app.key(CREATOR)).await;
        assert_eq!(
            (before["status"].clone(), before["attempt"].clone()),
            (json!("failed"), json!(3)),
            "[{b}] {before}"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await; // timestamps have seconds
        let (status, answer) = app.retry(CREATOR, failed).await;
        assert_eq!(status, 200, "[{b}] {answer}");
        let export = &answer["export"];
        let mut expected = before.clone();
        for (key, value) in [
            ("status", json!("pending")),
            ("attempt", json!(1)),
            ("started_at", Value::Null),
            ("completed_at", Value::Null),
            ("message", Value::Null),
            ("progress", json!({"processed": 0, "total": null})),
            ("size_bytes", Value::Null),
            ("ad_count", Value::Null),
            ("image_count", Value::Null),
            ("expires_at", Value::Null),
            ("url", Value::Null),
            ("created_at", export["created_at"].clone()),
            ("updated_at", export["created_at"].clone()),
        ] {
            expected[key] = value;
        }
        assert_eq!(answer, json!({"success": true, "export": expected}), "[{b}] the status object, reset");
        assert!(export["created_at"].as_str() > before["created_at"].as_str(), "[{b}] created again now");
        assert_eq!(app.get(&format!("/exports/{failed}"), &app.key(SHARED)).await, (200, export.clone()), "[{b}]");
        assert_eq!(
            app.take_messages().await,
            [
                json!({"export_id": failed, "creator_id": CREATOR, "export_parameters": before["export_parameters"], "attempt": 1, "max_retries": 3})
            ],
            "[{b}] queued for attempt 1"
        );
        assert!(matches!(
            app.storage.claim_export(failed, 1, "w2", now_ms(), now_ms() + 60_000).await.unwrap(),
            Claim::Claimed(_)
        ));
        // Now processing: not retryable.
        let got = app.retry(CREATOR, failed).await;
        assert_error(&got, 409, "NOT_RETRYABLE", &format!("[{b}] processing"));
        assert_eq!(
            got.1["message"],
            json!(format!("export {failed} is processing; only failed or expired exports can be retried")),
            "[{b}]"
        );

        // Completed and past the expiry, as the sweeper has not marked it yet; and one it has
        // marked expired, its file still there. (Retried a second after their creation, so that
        // the new run's key, named after the new created_at, is not the old file's.)
        let stale = app.seed_export(CREATOR, &[]).await;
        let stale_key = app.complete(stale, now_ms() - 7 * DAY_MS - DAY_MS / 2, Some(b"old zip")).await;
        let swept = app.seed_export(CREATOR, &[]).await;
        let swept_key = app.complete(swept, now_ms() - 8 * DAY_MS, Some(b"old zip")).await;
        assert_eq!(app.storage.expire_exports(now_ms() - 7 * DAY_MS - DAY_MS * 3 / 4, now_ms()).await.unwrap(), 1);
        assert!(app.exports_root.join(&stale_key).exists() && app.exports_root.join(&swept_key).exists());
        for id in [stale, swept] {
            assert_eq!(app.get(&format!("/exports/{id}"), &app.key(CREATOR)).await.1["status"], json!("expired"));
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (status, answer) = app.retry(CREATOR, stale).await;
        assert_eq!((status, &answer["export"]["status"]), (200, &json!("pending")), "[{b}] {answer}");
        assert!(!app.exports_root.join(&stale_key).exists(), "[{b}] the old file is deleted");
        let (status, answer) = app.retry(ADMIN, swept).await;
        assert_eq!((status, &answer["export"]["status"]), (200, &json!("pending")), "[{b}] an admin may: {answer}");
        assert!(!app.exports_root.join(&swept_key).exists(), "[{b}] the old file is deleted");
        assert_eq!(app.take_messages().await.len(), 2, "[{b}] both queued");

        // Anything else is a conflict naming the status.
        let fresh = app.seed_export(CREATOR, &[]).await;
        let fresh_key = app.complete(fresh, now_ms(), Some(b"zip")).await;
        let pending = app.seed_export(CREATOR, &[]).await;
        for (id, status) in [(fresh, "completed"), (pending, "pending"), (stale, "pending")] {
            let got = app.retry(CREATOR, id).await;
            assert_error(&got, 409, "NOT_RETRYABLE", &format!("[{b}] {status}"));
            assert!(
                got.1["message"].as_str().unwrap().contains(&format!("export {id} is {status};")),
                "[{b}] {}",
                got.1
            );
        }
        assert!(app.exports_root.join(&fresh_key).exists(), "[{b}] a refused retry deletes nothing");

        // Who may: not a user it is shared with (403), not a stranger (404, as for no export).
        let shared = app.seed_export(CREATOR, &[SHARED]).await;
        app.fail(shared, 0).await;
        assert_error(&app.retry(SHARED, shared).await, 403, "FORBIDDEN", &format!("[{b}] shared"));
        let stranger = app.retry(OTHER, shared).await;
        assert_error(&stranger, 404, "NOT_FOUND", &format!("[{b}] stranger"));
        let nobody = Uuid::new_v4();
        let unknown = app.retry(OTHER, nobody).await;
        assert_eq!(
            serde_json::to_string(&stranger.1).unwrap().replace(&shared.to_string(), "ID"),
            serde_json::to_string(&unknown.1).unwrap().replace(&nobody.to_string(), "ID"),
            "[{b}] exactly as for no export"
        );
        assert_error(
            &app.call("POST", "/exports/not-a-uuid/retry", &app.key(CREATOR), Body::None).await,
            404,
            "NOT_FOUND",
            &format!("[{b}] not a uuid"),
        );
        assert_eq!(app.storage.export(shared).await.unwrap().unwrap().status.as_str(), "failed", "[{b}] unchanged");
        assert!(app.take_messages().await.is_empty(), "[{b}] refusals queue nothing");
    }
}

/// A retried export counts against its creator's exports in flight, as a new one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_respects_the_limit_on_exports_in_flight() {
    let app = spawn_app_with(TestDatabase::sqlite().await, |s| s.max_in_flight = 1).await;
    let failed = app.seed_export(CREATOR, &[]).await;
    app.fail(failed, 0).await;
    let pending = app.seed_export(CREATOR, &[]).await;
    let got = app.retry(CREATOR, failed).await;
    assert_error(&got, 429, "TOO_MANY_EXPORTS", "one in flight already");
    assert!(got.1["message"].as_str().unwrap().contains("you have 1 exports pending or processing"), "{}", got.1);
    let got = app.retry(ADMIN, failed).await;
    assert!(got.1["message"].as_str().unwrap().contains(&format!("its creator \"{CREATOR}\" has 1")), "{}", got.1);
    assert_eq!(app.storage.export(failed).await.unwrap().unwrap().status.as_str(), "failed", "unchanged");
    assert!(app.take_messages().await.is_empty(), "nothing queued");
    app.call("DELETE", &format!("/exports/{pending}"), &app.key(CREATOR), Body::None).await;
    assert_eq!(app.retry(CREATOR, failed).await.0, 200, "once the other is gone");
}
