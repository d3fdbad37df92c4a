//! One ad's RDO and curation, checked against the sample's structure and the ranges it keeps.

use super::*;
use crate::tests::{data, parse};

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().expect("an object").keys().map(String::as_str).collect()
}

#[test]
fn rdo_follows_the_sample_structure() {
    let d = data(300, 3, 7);
    let observers = d.observers();
    for i in 0..300 {
        let ad = d.ad_without_image_bytes(i);
        let v = parse(&ad);
        assert_eq!(keys(&v), ["version", "is_user_disabled", "observer", "observation", "enrichment", "media"]);
        assert_eq!(v["version"], json!(2.0));
        assert_eq!(
            keys(&v["observer"]),
            ["uuid", "demographic_characteristics", "joined_at", "device_dimensions", "device"]
        );
        assert_eq!(keys(&v["observer"]["device"]), ["dimensions", "os_version", "api_level", "device", "model"]);
        assert!(v["observer"]["device_dimensions"]["w"].is_string());
        assert!(v["observer"]["joined_at"].is_f64());
        assert_eq!(v["observer"]["uuid"], ad.observer_id.as_str());
        let withdrawn = observers.iter().find(|(u, _)| *u == ad.observer_id).expect("known observer").1;
        assert_eq!(v["is_user_disabled"], withdrawn);

        let o = &v["observation"];
        let ok = keys(o);
        assert_eq!(
            ok[..11],
            [
                "uuid",
                "observed_on_device_at",
                "observed_on_device_at_decimal",
                "submitted_from_device_at",
                "platform",
                "ad_format",
                "exposure",
                "media_bounds",
                "whitespace_derived_color",
                "whitespace_derived_signature",
                "ad_dimensions",
            ]
        );
        assert_eq!(*ok.last().unwrap(), "keyframes");
        assert!(ok.len() == 12 || (ok.len() == 13 && ok[11] == "video"));
        if let Some(video) = o.get("video").filter(|v| !v.is_null()) {
            assert_eq!(keys(video), ["fps", "n_frames", "n_seconds"]);
        }
        let uuid = o["uuid"].as_str().unwrap();
        let (ts, ad_uuid) = uuid.split_once('.').unwrap();
        assert_eq!(ad_uuid, ad.observation_id);
        assert_eq!(uuid, format!("{ts}.{}", ad.observation_id));
        let ts: i64 = ts.parse().unwrap();
        assert_eq!(ad.timestamp_ms, ts);
        assert_eq!(o["observed_on_device_at"].as_i64().unwrap(), ts / 1000);
        assert!((FIRST_OBSERVATION_S..LAST_OBSERVATION_S).contains(&(ts / 1000)));
        assert!(o["submitted_from_device_at"].as_i64().unwrap() > ts / 1000);
        let new_key = format!("{}/rdo/{}/output.json", ad.observer_id, uuid);
        let old_key = format!("{}/rdo/{}/output.json", ad.observer_id, ad.observation_id);
        assert!(ad.rdo_key == new_key || ad.rdo_key == old_key, "{}", ad.rdo_key);

        let media: Vec<&str> = v["media"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        let image_keys: Vec<&str> = ad.images.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(media, image_keys);
        assert!((1..=3).contains(&media.len()));
        let prefix = format!("{}/temp-v2/", ad.observer_id);
        for m in &media {
            assert!(m.starts_with(&prefix) && m.ends_with(".jpg"), "{m}");
        }
        let kfs = o["keyframes"].as_array().unwrap();
        assert!((1..=3).contains(&kfs.len()));
        for kf in kfs {
            assert_eq!(keys(kf), ["observed_at", "y_offset", "screenshot_cropped", "frame", "ocr_data"]);
            assert!(media.contains(&kf["frame"].as_str().unwrap()));
            let ocr = kf["ocr_data"].as_array().unwrap();
            assert!((3..=15).contains(&ocr.len()));
            for b in ocr {
                assert_eq!(keys(b), ["x", "y", "w", "h", "text", "confidence"]);
                let c = b["confidence"].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&c));
            }
        }

        let e = &v["enrichment"];
        assert_eq!(keys(e), ["ccl_v2", "ccl", "meta_adlibrary_scrape", "media"]);
        let m = &e["meta_adlibrary_scrape"];
        assert_eq!(keys(m), ["comparisons", "candidates", "rankings", "scraped_at", "reference", "query"]);
        let cands = m["candidates"].as_array().unwrap();
        assert!(cands.len() <= 3);
        assert_eq!(m["rankings"].as_array().unwrap().len(), cands.len());
        for (ci, c) in cands.iter().enumerate() {
            assert_eq!(keys(c), ["ad_library_scrape_candidates_i", "data"]);
            assert_eq!(c["ad_library_scrape_candidates_i"], ci);
            let data = &c["data"];
            let archive_id = data["ad_archive_id"].as_str().unwrap();
            assert!(archive_id.bytes().all(|b| b.is_ascii_digit()));
            assert!(data["page_name"].is_string());
            assert!(!data["categories"].as_array().unwrap().is_empty());
            let currency = data["currency"].as_str().unwrap();
            assert!(currency == "AUD" || currency.is_empty());
            assert!(data["start_date"].as_i64().unwrap() <= data["end_date"].as_i64().unwrap());
            let imp = &data["impressions_with_index"];
            assert!(imp["impressions_text"].is_string() || imp["impressions_text"].is_null());
            assert!(imp["impressions_index"].is_i64());
            assert!(data["reach_estimate"].is_string() || data["reach_estimate"].is_null());
            assert!(data["spend"].is_string() || data["spend"].is_null());
            for p in data["publisher_platform"].as_array().unwrap() {
                assert!(["FACEBOOK", "INSTAGRAM", "MESSENGER"].contains(&p.as_str().unwrap()));
            }
            assert!(data["is_active"].is_boolean());
            assert!(data["snapshot"]["body"]["text"].is_string());
        }
        for r in m["rankings"].as_array().unwrap() {
            assert_eq!(keys(r), ["this_selected_candidate_i", "ranking_pct"]);
        }
        // Curation data refers to known tags and users.
        for t in &ad.tag_ids {
            assert!(d.tags().iter().any(|x| x.id == *t));
        }
        for a in &ad.attributes {
            assert!(a.key == "starred" || a.key == "hidden");
            assert!(a.value == "true" || a.value == "false");
            assert!(a.modified_at >= a.created_at && a.created_at > ts / 1000, "epoch seconds after the ad");
            assert!(d.users().iter().any(|u| u.id == a.created_by));
            assert!(d.users().iter().any(|u| u.id == a.modified_by));
        }
        for c in &ad.classifications {
            assert!((0.0..=1.0).contains(&c.score));
        }
    }
}

#[test]
fn population_statistics() {
    let n = 5000;
    let d = data(n, 3, 2025);
    let observers = d.observers();
    assert!((10..=14).contains(&observers.len()));
    assert_eq!(observers.iter().filter(|(_, w)| *w).count(), 1);
    for (u, _) in &observers {
        assert_eq!(uuid::Uuid::parse_str(u).unwrap().to_string(), *u);
    }
    struct Summary {
        withdrawn: bool,
        platform: &'static str,
        observer: String,
        old_layout: bool,
        tagged: bool,
        starred: bool,
        hidden: bool,
        classified: bool,
        stress: bool,
        formula: bool,
        unicode: bool,
    }
    let summarise = |i: usize| {
        let ad = d.ad_without_image_bytes(i);
        let text = std::str::from_utf8(&ad.rdo).unwrap();
        // Cheap checks on the serialised text keep this test fast in debug builds.
        let withdrawn = text.contains("\"is_user_disabled\": true");
        if withdrawn {
            assert!(observers.iter().any(|(u, w)| *w && *u == ad.observer_id));
        }
        Summary {
            withdrawn,
            platform: ["FACEBOOK", "INSTAGRAM", "TIKTOK", "YOUTUBE"]
                .into_iter()
                .find(|p| text.contains(&format!("\"platform\": \"{p}\"")))
                .unwrap(),
            // Only the new layout has a '.' before "output.json".
            old_layout: ad.rdo_key.matches('.').count() == 1,
            tagged: !ad.tag_ids.is_empty(),
            starred: ad.attributes.iter().any(|a| a.key == "starred"),
            hidden: ad.attributes.iter().any(|a| a.key == "hidden"),
            classified: !ad.classifications.is_empty(),
            // An escaped newline inside a JSON string.
            stress: text.contains("\\n"),
            formula: text.contains("\"text\": \"=") || text.contains("\"text\": \"@"),
            unicode: text.contains('é') || text.contains('€'),
            observer: ad.observer_id,
        }
    };
    // Two threads: this is the slowest test in debug builds.
    let all: Vec<Summary> = std::thread::scope(|s| {
        let summarise = &summarise;
        let first = s.spawn(move || (0..n / 2).map(summarise).collect::<Vec<_>>());
        let mut second = (n / 2..n).map(summarise).collect::<Vec<_>>();
        let mut all = first.join().unwrap();
        all.append(&mut second);
        all
    });
    let count = |f: fn(&Summary) -> bool| all.iter().filter(|s| f(s)).count();
    let (withdrawn, old_layout, tagged) = (count(|s| s.withdrawn), count(|s| s.old_layout), count(|s| s.tagged));
    let (starred, hidden, classified) = (count(|s| s.starred), count(|s| s.hidden), count(|s| s.classified));
    let (stress, formula, unicode) = (count(|s| s.stress), count(|s| s.formula), count(|s| s.unicode));
    let mut platforms = std::collections::BTreeMap::new();
    let mut per_observer = std::collections::HashMap::new();
    for s in &all {
        *platforms.entry(s.platform).or_insert(0) += 1;
        *per_observer.entry(s.observer.clone()).or_insert(0) += 1;
    }
    let pct = |x: usize| x as f64 * 100.0 / n as f64;
    assert!((0.5..=1.6).contains(&pct(withdrawn)), "withdrawn {}%", pct(withdrawn));
    assert_eq!(platforms.len(), 4, "{platforms:?}");
    assert!(platforms.values().all(|c| *c > n / 20), "{platforms:?}");
    assert!((3.0..=7.0).contains(&pct(old_layout)), "old layout {}%", pct(old_layout));
    assert!((25.0..=35.0).contains(&pct(tagged)));
    assert!((16.0..=24.0).contains(&pct(starred)));
    assert!((7.0..=13.0).contains(&pct(hidden)));
    assert!((35.0..=45.0).contains(&pct(classified)));
    assert!(stress >= 5, "CSV stress ads: {stress}");
    assert!(formula > n / 20, "formula-like OCR: {formula}");
    assert!(unicode > n / 20);
    // Uneven spread over observers.
    let max = per_observer.values().max().unwrap();
    let min_active = per_observer.values().filter(|c| **c > n / 50).min().unwrap();
    assert!(*max > 2 * *min_active, "{per_observer:?}");
}
