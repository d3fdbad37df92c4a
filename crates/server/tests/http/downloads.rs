//! Downloading a completed export from its link like `curl -O -J` would: the exact bytes under
//! the export's name, ranges, and links that were altered, have run out or outlived the export.

use crate::common::*;
use serde_json::json;

fn query_param(url: &str, name: &str) -> String {
    let query = url.split_once('?').unwrap().1;
    query.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_export_downloads_from_its_link() {
    for app in apps().await {
        let b = app.backend;
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let id = app.seed_export(CREATOR, &[SHARED]).await;
        app.complete(id, now_ms(), Some(&bytes)).await;
        let (_, export) = app.get(&format!("/exports/{id}"), &app.key(SHARED)).await;
        assert_eq!(export["status"], json!("completed"), "[{b}] {export}");
        let url = export["url"].as_str().unwrap().to_string();
        assert!(url.starts_with(&format!("{}/downloads/{id}?expires=", app.url)), "[{b}] {url}");
        let expires: i64 = query_param(&url, "expires").parse().unwrap();
        let now_s = now_ms() / 1000;
        assert!(expires > now_s + 3500 && expires <= now_s + 3600, "[{b}] valid for an hour: {expires} vs {now_s}");

        // Like curl -O -J: no credentials, the name from Content-Disposition.
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "[{b}]");
        let header = |r: &reqwest::Response, name: &str| {
            r.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
        };
        assert_eq!(
            header(&response, "content-disposition"),
            format!("attachment; filename=\"export_{id}.zip\""),
            "[{b}]"
        );
        assert_eq!(header(&response, "content-type"), "application/zip");
        assert_eq!(header(&response, "content-length"), "5000");
        assert_eq!(header(&response, "accept-ranges"), "bytes");
        assert_eq!(response.bytes().await.unwrap().to_vec(), bytes, "[{b}] the exact bytes");

        let ranged = app.http.get(&url).header("Range", "bytes=0-9").send().await.unwrap();
        assert_eq!(ranged.status().as_u16(), 206, "[{b}]");
        assert_eq!(header(&ranged, "content-range"), "bytes 0-9/5000");
        assert_eq!(header(&ranged, "content-disposition"), format!("attachment; filename=\"export_{id}.zip\""));
        assert_eq!(ranged.bytes().await.unwrap().to_vec(), bytes[..10].to_vec(), "[{b}] the first ten bytes");
        let tail = app.http.get(&url).header("Range", "bytes=4990-").send().await.unwrap();
        assert_eq!(tail.status().as_u16(), 206);
        assert_eq!(tail.bytes().await.unwrap().to_vec(), bytes[4990..].to_vec(), "[{b}] resuming at the end");
        let outside = app.send("GET", &url, &Auth::None, Body::Raw(None, vec![])).await;
        assert_eq!(outside.status().as_u16(), 200);
        let unsatisfiable = app.http.get(&url).header("Range", "bytes=9000-9010").send().await.unwrap();
        assert_eq!(unsatisfiable.status().as_u16(), 416, "[{b}]");
        let body: serde_json::Value = unsatisfiable.json().await.unwrap();
        assert_eq!(body["comment"], json!("RANGE_NOT_SATISFIABLE"));

        // Altered links are refused.
        let sig = query_param(&url, "signature");
        let mut flipped = sig.clone();
        flipped.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
        let cases = [
            ("a tampered signature", url.replace(&sig, &flipped)),
            ("a truncated signature", url.replace(&sig, &sig[..63])),
            ("a later expiry", url.replace(&format!("expires={expires}"), &format!("expires={}", expires + 86_400))),
            ("another export's id", url.replace(&id.to_string(), &uuid::Uuid::new_v4().to_string())),
            ("no signature", url.split("&signature").next().unwrap().to_string()),
        ];
        for (what, altered) in cases {
            assert_error(&app.get(&altered, &Auth::None).await, 403, "INVALID_SIGNATURE", what);
        }
        // A genuine link past its expiry is refused as expired.
        let past = now_s - 10;
        let expired_link = format!(
            "{}/downloads/{id}?expires={past}&signature={}",
            app.url,
            app.links.signature(&id.to_string(), past)
        );
        let refused = app.get(&expired_link, &Auth::None).await;
        assert_error(&refused, 410, "LINK_EXPIRED", "a link past its expiry");

        // Deleted: the link stops working.
        assert_eq!(app.call("DELETE", &format!("/exports/{id}"), &app.key(CREATOR), Body::None).await.0, 200);
        assert_error(&app.get(&url, &Auth::None).await, 404, "NOT_FOUND", "a deleted export");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_never_outlive_the_export() {
    for app in apps().await {
        let b = app.backend;
        // Ten minutes before it expires: the link lasts ten minutes, not an hour.
        let id = app.seed_export(CREATOR, &[]).await;
        let expiry = i64::from(app.settings.expiration_days) * DAY_MS;
        app.complete(id, now_ms() - expiry + 600_000, Some(b"soon gone")).await;
        let (_, export) = app.get(&format!("/exports/{id}"), &app.key(CREATOR)).await;
        let url = export["url"].as_str().unwrap_or_else(|| panic!("[{b}] {export}"));
        let expires: i64 = query_param(url, "expires").parse().unwrap();
        let left = expires - now_ms() / 1000;
        assert!((590..=600).contains(&left), "[{b}] the link ends with the export: {left} s left");
        assert_eq!(reqwest::get(url).await.unwrap().bytes().await.unwrap().as_ref(), b"soon gone");

        // An export that expired since a link was made: the link's own time has not run out,
        // but the export's has.
        let old = app.seed_export(CREATOR, &[]).await;
        app.complete(old, now_ms() - expiry - 1000, Some(b"old")).await;
        let later = now_ms() / 1000 + 600;
        let link = format!(
            "{}/downloads/{old}?expires={later}&signature={}",
            app.url,
            app.links.signature(&old.to_string(), later)
        );
        assert_error(&app.get(&link, &Auth::None).await, 410, "EXPORT_EXPIRED", "an expired export");

        // A pending export has no link, and a signed link to it finds no file.
        let pending = app.seed_export(CREATOR, &[]).await;
        assert_eq!(app.get(&format!("/exports/{pending}"), &app.key(CREATOR)).await.1["url"], serde_json::Value::Null);
        let link = format!(
            "{}/downloads/{pending}?expires={later}&signature={}",
            app.url,
            app.links.signature(&pending.to_string(), later)
        );
        assert_error(&app.get(&link, &Auth::None).await, 404, "NOT_FOUND", "a pending export");

        // A completed export whose file went missing.
        let lost = app.seed_export(CREATOR, &[]).await;
        app.complete(lost, now_ms(), None).await;
        let url = app.get(&format!("/exports/{lost}"), &app.key(CREATOR)).await.1["url"].as_str().unwrap().to_string();
        assert_error(&app.get(&url, &Auth::None).await, 404, "NOT_FOUND", "a missing file");
    }
}
