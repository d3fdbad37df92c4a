//! The JSON bytes the API answers, pinned: for a fixed state (ids and times chosen here), the
//! status object, the list, the share answer, the error envelope and the catalogue must come out
//! byte for byte as they did when the shapes were first pinned. A refactoring that reorders a key,
//! renames one or changes a number's spelling fails here.

use crate::common::*;
use aao_export_core::export::ExportRequest;
use aao_export_db::{Claim, CreateOutcome, Finish, NewExport};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// 2030-03-17T17:46:40Z: in the future, so a completed export is never expired while this runs.
const T0: i64 = 1_900_000_000_000;
const PENDING: &str = "00000000-0000-4000-8000-000000000001";
const COMPLETED: &str = "00000000-0000-4000-8000-000000000002";
const FAILED: &str = "00000000-0000-4000-8000-000000000003";

async fn put_export(
    app: &TestApp,
    id: &str,
    created_at: i64,
    request: serde_json::Value,
    shared_with: &[&str],
) -> Uuid {
    let catalogue = app.storage.exportable_fields().await.unwrap();
    let request = ExportRequest::from_json(&request, &catalogue).unwrap();
    let export_id = Uuid::parse_str(id).unwrap();
    let new = NewExport {
        export_id,
        creator_id: CREATOR.into(),
        parameters: request.parameters(),
        field_ids: request.fields.iter().map(|f| f.field_id).collect(),
        max_retries: 3,
        created_at,
        max_in_flight: 100,
        queue_body: None,
    };
    assert!(matches!(app.storage.create_export(&new).await.unwrap(), CreateOutcome::Created(_)));
    if !shared_with.is_empty() {
        let ids: Vec<String> = shared_with.iter().map(|s| s.to_string()).collect();
        app.storage.share_export(export_id, &ids).await.unwrap();
    }
    export_id
}

async fn finish(app: &TestApp, id: Uuid, at: i64, finish: Finish) {
    let claim = app.storage.claim_export(id, 1, "pin-worker", at - 60_000, at + 60_000).await.unwrap();
    assert!(matches!(claim, Claim::Claimed(_)), "{claim:?}");
    assert!(app.storage.renew_lease(id, "pin-worker", at - 30_000, at + 60_000, 7, 9).await.unwrap());
    assert!(app.storage.finish_export(id, "pin-worker", at, &finish).await.unwrap());
}

async fn text(app: &TestApp, method: &str, path: &str, auth: &Auth, body: Body) -> (u16, String) {
    let response = app.send(method, path, auth, body).await;
    (response.status().as_u16(), response.text().await.unwrap())
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

const PENDING_JSON: &str = r#"{"export_id":"00000000-0000-4000-8000-000000000001","creator_id":"creator","export_parameters":{"query":{"method":"AND","args":[{"method":"PAGE_NAME_CONTAINS","args":["bank"]},{"method":"DATETIME_AFTER","args":["1735689600000"]}]},"include_images":true,"fields":["observation_id","ocr.text","tags"]},"shared_with":["other","shared"],"status":"pending","url":null,"created_at":"2030-03-17T17:46:40Z","updated_at":"2030-03-17T17:46:40Z","started_at":null,"completed_at":null,"message":null,"progress":{"processed":0,"total":null},"attempt":1,"size_bytes":null,"ad_count":null,"image_count":null,"expires_at":null,"download_count":0}"#;

const COMPLETED_JSON: &str = r#"{"export_id":"00000000-0000-4000-8000-000000000002","creator_id":"creator","export_parameters":{"query":{"method":"ALL"},"include_images":false,"fields":["observer.uuid","observation.uuid","observation.observed_on_device_at","observation.platform","tags","enrichment.meta_adlibrary_scrape.candidates.data.ad_archive_id","enrichment.meta_adlibrary_scrape.candidates.data.page_name","enrichment.meta_adlibrary_scrape.candidates.data.start_date","enrichment.meta_adlibrary_scrape.candidates.data.end_date","enrichment.meta_adlibrary_scrape.candidates.data.currency","enrichment.meta_adlibrary_scrape.candidates.data.impressions_with_index.impressions_text","enrichment.meta_adlibrary_scrape.candidates.data.reach_estimate","enrichment.meta_adlibrary_scrape.candidates.data.spend"]},"shared_with":[],"status":"completed","url":"{URL}","created_at":"2030-03-17T17:46:41Z","updated_at":"2030-03-17T17:48:41Z","started_at":"2030-03-17T17:47:41Z","completed_at":"2030-03-17T17:48:41Z","message":null,"progress":{"processed":42,"total":42},"attempt":1,"size_bytes":123456,"ad_count":42,"image_count":0,"expires_at":"2030-03-24T17:48:41Z","download_count":{COUNT}}"#;

const FAILED_JSON: &str = r#"{"export_id":"00000000-0000-4000-8000-000000000003","creator_id":"creator","export_parameters":{"query":{"method":"OBSERVER_ID_CONTAINS","args":["4873","ü\"<x>"]},"include_images":false,"fields":["tags"]},"shared_with":["shared"],"status":"failed","url":null,"created_at":"2030-03-17T17:46:42Z","updated_at":"2030-03-17T17:48:42Z","started_at":"2030-03-17T17:47:42Z","completed_at":null,"message":"the export failed after 1 attempts; the last error: boom","progress":{"processed":7,"total":9},"attempt":1,"size_bytes":null,"ad_count":null,"image_count":null,"expires_at":null,"download_count":0}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_of_every_endpoint_is_pinned() {
    for app in apps().await {
        let b = app.backend;
        let pending = put_export(
            &app,
            PENDING,
            T0,
            json!({"query": {"method": "AND", "args": [{"method": "PAGE_NAME_CONTAINS", "args": ["bank"]}, {"method": "DATETIME_AFTER", "args": ["1735689600000"]}]}, "include_images": true, "fields": ["observation_id", "ocr.text", "tags"]}),
            &[SHARED, OTHER],
        )
        .await;
        let completed = put_export(&app, COMPLETED, T0 + 1000, json!({"query": {"method": "ALL"}}), &[]).await;
        finish(
            &app,
            completed,
            T0 + 121_000,
            Finish::Completed {
                object_location: "outputs/x.zip".into(),
                s3_url: "x".into(),
                size_bytes: 123_456,
                ad_count: 42,
                image_count: 0,
            },
        )
        .await;
        let failed = put_export(
            &app,
            FAILED,
            T0 + 2000,
            json!({"query": {"method": "OBSERVER_ID_CONTAINS", "args": ["4873", "ü\"<x>"]}, "fields": ["tags"]}),
            &[SHARED],
        )
        .await;
        finish(
            &app,
            failed,
            T0 + 122_000,
            Finish::Failed { message: "the export failed after 1 attempts; the last error: boom".into() },
        )
        .await;

        let (status, got) = text(&app, "GET", &format!("/exports/{pending}"), &app.key(CREATOR), Body::None).await;
        assert_eq!((status, got.as_str()), (200, PENDING_JSON), "[{b}] a pending export");

        let (status, got) = text(&app, "GET", &format!("/exports/{completed}"), &app.key(CREATOR), Body::None).await;
        let url =
            serde_json::from_str::<serde_json::Value>(&got).unwrap()["url"].as_str().unwrap_or_default().to_string();
        assert!(
            url.starts_with(&format!("{}/downloads/{completed}?expires=", app.url)) && url.contains("&signature="),
            "[{b}] {url}"
        );
        // Handing out the url is a download (the first), counted in this answer.
        assert_eq!(
            (status, got.as_str()),
            (200, COMPLETED_JSON.replace("{URL}", &url).replace("{COUNT}", "1").as_str()),
            "[{b}] a completed export"
        );

        let (status, got) = text(&app, "GET", &format!("/exports/{failed}"), &app.key(SHARED), Body::None).await;
        assert_eq!(
            (status, got.as_str()),
            (200, FAILED_JSON),
            "[{b}] a failed export, read by a user it is shared with"
        );

        // The list: newest first, the same objects joined.
        let (status, got) = text(&app, "GET", "/exports", &app.key(CREATOR), Body::None).await;
        let url_now =
            serde_json::from_str::<serde_json::Value>(&got).unwrap()[1]["url"].as_str().unwrap_or_default().to_string();
        // A list hands out urls too, but records no download.
        let list = format!(
            "[{FAILED_JSON},{},{PENDING_JSON}]",
            COMPLETED_JSON.replace("{URL}", &url_now).replace("{COUNT}", "1")
        );
        assert_eq!((status, got.as_str()), (200, list.as_str()), "[{b}] the list");
        let (status, got) = text(&app, "GET", "/exports?user_id=nobody-has-exports", &app.key(ADMIN), Body::None).await;
        assert_eq!(
            (status, got.as_str()),
            (400, r#"{"success":false,"comment":"UNKNOWN_USERS","message":"user_id: no user \"nobody-has-exports\""}"#),
            "[{b}]"
        );
        let (status, got) = text(&app, "GET", &format!("/exports?user_id={OTHER}"), &app.key(ADMIN), Body::None).await;
        assert_eq!(
            (status, got.as_str()),
            (200, format!("[{PENDING_JSON}]").as_str()),
            "[{b}] another user's list, for an admin"
        );

        // Who downloaded: one item per hand-over, its time from the clock (so taken from the answer).
        let (status, got) =
            text(&app, "GET", &format!("/exports/{completed}/downloads"), &app.key(CREATOR), Body::None).await;
        let at = serde_json::from_str::<serde_json::Value>(&got).unwrap()[0]["downloaded_at"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(at.parse::<chrono::DateTime<chrono::Utc>>().is_ok() && at.ends_with('Z'), "[{b}] {got}");
        assert_eq!(
            (status, got.as_str()),
            (
                200,
                format!(r#"[{{"user_id":"creator","full_name":"Creator","downloaded_at":"{at}","via":"api"}}]"#)
                    .as_str()
            ),
            "[{b}] the downloads"
        );
        let (status, got) =
            text(&app, "GET", &format!("/exports/{pending}/download"), &app.key(CREATOR), Body::None).await;
        assert_eq!(
            (status, got.as_str()),
            (
                409,
                r#"{"success":false,"comment":"EXPORT_NOT_COMPLETED","message":"export 00000000-0000-4000-8000-000000000001 is pending, not completed, so there is nothing to download; try again once it has completed; GET /exports/00000000-0000-4000-8000-000000000001 shows its progress"}"#
            ),
            "[{b}] the link of a pending export"
        );

        // Sharing answers.
        let (status, got) = text(
            &app,
            "POST",
            &format!("/exports/{completed}/share"),
            &app.key(CREATOR),
            Body::Json(json!({"user_ids": [SHARED, ADMIN]})),
        )
        .await;
        assert_eq!(
            (status, got.as_str()),
            (200, r#"{"success":true,"shared_with":["admin","shared"]}"#),
            "[{b}] share"
        );
        let (status, got) = text(
            &app,
            "POST",
            &format!("/exports/{completed}/unshare"),
            &app.key(CREATOR),
            Body::Json(json!({"user_ids": [ADMIN]})),
        )
        .await;
        assert_eq!((status, got.as_str()), (200, r#"{"success":true,"shared_with":["shared"]}"#), "[{b}] unshare");

        // Errors.
        let (status, got) = text(
            &app,
            "POST",
            "/exports",
            &app.key(CREATOR),
            Body::Json(json!({"query": {"method": "AND", "args": [{"method": "ALL"}, {"method": "FOO"}]}})),
        )
        .await;
        assert_eq!(status, 400, "[{b}]");
        assert!(got.starts_with(r#"{"success":false,"comment":"INVALID_REQUEST","message":"query.args[1].method: unknown method \"FOO\""#), "[{b}] {got}");
        let (status, got) = text(&app, "GET", &format!("/exports/{pending}"), &app.key(OTHER), Body::None).await;
        assert_eq!((status, got.as_str()), (200, PENDING_JSON), "[{b}] a user it is shared with");
        let (status, got) = text(&app, "DELETE", &format!("/exports/{pending}"), &app.key(SHARED), Body::None).await;
        assert_eq!(
            (status, got.as_str()),
            (
                403,
                r#"{"success":false,"comment":"FORBIDDEN","message":"export 00000000-0000-4000-8000-000000000001 is shared with you, but only its creator (creator) or an admin may delete it"}"#
            ),
            "[{b}]"
        );
        let (status, got) =
            text(&app, "GET", "/exports/00000000-0000-4000-8000-00000000000f", &app.key(CREATOR), Body::None).await;
        assert_eq!(
            (status, got.as_str()),
            (
                404,
                r#"{"success":false,"comment":"NOT_FOUND","message":"no export 00000000-0000-4000-8000-00000000000f"}"#
            ),
            "[{b}]"
        );
        let (status, got) = text(&app, "DELETE", &format!("/exports/{failed}"), &app.key(CREATOR), Body::None).await;
        assert_eq!((status, got.as_str()), (200, r#"{"success":true}"#), "[{b}] delete");

        // The catalogue and the users: long, so pinned by their hashes (print them to compare).
        let (status, got) = text(&app, "GET", "/exports/fields", &app.key(CREATOR), Body::None).await;
        assert_eq!((status, sha256(&got).as_str()), (200, FIELDS_SHA256), "[{b}] the field catalogue changed: {got}");
        let (status, got) = text(&app, "GET", "/users", &app.key(CREATOR), Body::None).await;
        assert_eq!(
            (status, got.as_str()),
            (
                200,
                concat!(
                    r#"[{"id":"admin","full_name":"Admin","username":null,"enabled":true,"role":"admin","provider":null},"#,
                    r#"{"id":"creator","full_name":"Creator","username":null,"enabled":true,"role":"user","provider":null},"#,
                    r#"{"id":"other","full_name":"Other","username":null,"enabled":true,"role":"user","provider":null},"#,
                    r#"{"id":"shared","full_name":"Shared","username":null,"enabled":true,"role":"user","provider":null}]"#
                )
            ),
            "[{b}] users"
        );
        let (status, got) = text(&app, "GET", "/healthz", &Auth::None, Body::None).await;
        assert_eq!((status, got.as_str()), (200, r#"{"status":"ok"}"#), "[{b}]");
    }
}

/// Each field with `id` (the same as field_id) first, for the AAO's dashboard (issue 21).
const FIELDS_SHA256: &str = "f2be9370037cd50058568e6f0ad021f2883d0732e39ad4006f136256957ba37d";
