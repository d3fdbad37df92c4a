//! The report (`report.html` and `report/page-NNNN.html`) of real exports: demo data plus one ad
//! whose OCR text and page name are hostile HTML, exported with and without images. Every page is
//! read back from the ZIP: the cards are the CSV's rows in order, the paging and its links are
//! right, every link and image points to an entry of the archive, the hostile text is escaped,
//! and the pages carry their Content-Security-Policy. (The browser's view of the same is
//! `tests/ui/report.spec.mjs`.)

use crate::common;

use aao_export_core::export::{ExportRecord, ExportRequest};
use aao_export_db::Database;
use aao_export_demo::{DemoConfig, SeedProgress, seed_demo_data};
use aao_export_stores::{AwsSettings, open_store};
use aao_export_testkit::TestDatabase;
use aao_export_worker::archive::{ExportJob, Progress, UploadTarget, build_export};
use aao_export_worker::index::index_observations;
use common::*;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

const ADS: usize = 260;
const HOSTILE_OCR: &str = "<img src=x onerror=alert(1)>";
const HOSTILE_OCR_2: &str = "</script><script>alert(2)</script>";
const HOSTILE_PAGE: &str = "<b>Bold & \"quoted\"</b>";
const HOSTILE_ID: &str = "0badc0de-0000-4000-8000-00000000beef";

const FIELDS: &[&str] = &["observation_id", "ocr.text", "tags", "classifications", "observation.platform"];

/// Demo ads plus one hostile ad (a copy of a demo ad with images, observed after every other so
/// that it is the first card), indexed.
async fn seeded(storage: Arc<dyn Database>, observations: Arc<dyn ObjectStore>) -> Source {
    let config = DemoConfig { ads: ADS, images_per_ad: 2, seed: pick_seed(ADS, 2) };
    let quiet = |_: u64| {};
    seed_demo_data(storage.as_ref(), observations.clone(), &config, SeedProgress { written: &quiet })
        .await
        .expect("demo data seeds");
    let source = Source::read(observations.as_ref(), &config).await;
    let model = source.active().find(|a| a.media.len() >= 2).expect("an ad with two images").clone();
    let newest = source.active().map(|a| a.observed_at).fold(0.0, f64::max);
    let observed = newest.floor() as i64 + 3600;
    let mut rdo = model.rdo.clone();
    rdo["observation"]["uuid"] = json!(format!("{}.{HOSTILE_ID}", observed * 1000));
    rdo["observation"]["observed_on_device_at"] = json!(observed);
    rdo["observation"]["keyframes"] = json!([{"observed_at": observed, "ocr_data": [
        {"x": 1, "y": 2, "w": 3, "h": 4, "text": HOSTILE_OCR, "confidence": 0.9},
        {"x": 1, "y": 2, "w": 3, "h": 4, "text": HOSTILE_OCR_2, "confidence": 0.8},
    ]}]);
    rdo["enrichment"]["meta_adlibrary_scrape"]["candidates"] = json!([{"data": {"page_name": HOSTILE_PAGE}}]);
    let key = format!("{}/rdo/{}.{HOSTILE_ID}/output.json", model.observer_id, observed * 1000);
    observations.put(&Path::parse(&key).unwrap(), PutPayload::from(serde_json::to_vec(&rdo).unwrap())).await.unwrap();
    index_observations(storage, observations.clone(), quiet).await.expect("the store indexes");
    let mut source = source;
    let hostile = SourceAd {
        observation_id: HOSTILE_ID.to_string(),
        observed_at: observed as f64,
        rdo_key: key,
        media: model.media.clone(),
        rdo: rdo.clone(),
        tags: Vec::new(),
        attributes: Default::default(),
        classifications: Vec::new(),
        ..model
    };
    source.ads.push(hostile);
    source
}

async fn export(
    storage: &Arc<dyn Database>,
    observations: &Arc<dyn ObjectStore>,
    fields: Option<&[&str]>,
    include_images: bool,
) -> (ExportJob, Vec<u8>) {
    let catalogue = storage.exportable_fields().await.unwrap();
    let mut body = json!({"query": {"method": "ALL"}, "include_images": include_images});
    if let Some(fields) = fields {
        body["fields"] = json!(fields);
    }
    let request = ExportRequest::from_json(&body, &catalogue).unwrap();
    let record = ExportRecord::pending(
        uuid::Uuid::new_v4(),
        "researcher-1",
        request.parameters(),
        3,
        aao_export_core::time::now_ms(),
    );
    let mut job = ExportJob::new(record, &catalogue).unwrap();
    job.expiration = Some(Duration::from_secs(7 * 86_400));
    let dir = tempfile::tempdir().unwrap();
    let exports = open_store(dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
    let key = Path::from("export.zip");
    let run = build_export(
        storage.clone(),
        observations.clone(),
        UploadTarget::new(exports.clone(), &key),
        &job,
        Arc::new(Progress::default()),
        Default::default(),
    );
    tokio::time::timeout(Duration::from_secs(120), run).await.expect("the export finishes").expect("the export works");
    (job, get_bytes(exports.as_ref(), key.as_ref()).await.unwrap().to_vec())
}

/// Every entry of a ZIP, in archive order.
fn entries(zip_bytes: &[u8]) -> (Vec<String>, HashMap<String, Vec<u8>>) {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let (mut order, mut map) = (Vec::new(), HashMap::new());
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        order.push(file.name().unwrap().to_string());
        map.insert(file.name().unwrap().to_string(), data);
    }
    (order, map)
}

/// The values of an attribute (`href="…"`) in a page, in order, as written.
fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    let needle = format!(" {attribute}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// The observation ids of a page's cards, in order, and each card's thumbnails.
fn cards(html: &str) -> Vec<(String, Vec<String>)> {
    html.split("<article class=\"ad\"")
        .skip(1)
        .map(|card| {
            let card = &card[..card.find("</article>").expect("a card ends")];
            let id = &card[card.find("<h3><code>").unwrap() + 10..card.find("</code></h3>").unwrap()];
            let thumbs = card.split("<img ").skip(1).map(|img| attribute_values(&format!(" {img}"), "src")[0].clone());
            (id.to_string(), thumbs.collect())
        })
        .collect()
}

/// Resolves a link of a page to an archive entry: pages below `report/` carry `<base href="../">`,
/// so every link is relative to the archive's root; `#fragment` links stay on the page.
fn resolve(page: &str, link: &str) -> Option<String> {
    let path = link.split('#').next().unwrap();
    assert!(
        !link.contains(':') && !link.starts_with('/') && !link.contains(".."),
        "{page}: {link:?} is a plain relative link inside the archive"
    );
    if path.is_empty() { None } else { Some(path.to_string()) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_pages_the_ads_escapes_their_text_and_links_inside_the_archive() {
    let db = TestDatabase::sqlite().await;
    let storage = db.storage.clone();
    let obs_dir = tempfile::tempdir().unwrap();
    let observations = open_store(obs_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
    let source = seeded(storage.clone(), observations.clone()).await;
    let expected: Vec<&SourceAd> = source.select(|_| true);
    assert!(expected.len() > 200, "three pages at least: {}", expected.len());
    assert_eq!(expected[0].observation_id, HOSTILE_ID, "the hostile ad is the newest");

    let (job, zip_bytes) = export(&storage, &observations, Some(FIELDS), true).await;
    let (order, files) = entries(&zip_bytes);
    let details: Value = serde_json::from_slice(&files["export_details.json"]).unwrap();

    // Listed in export_details.json: the pages follow from the ad count.
    let pages = expected.len().div_ceil(100);
    let page_names: Vec<String> = (1..=pages)
        .map(|p| if p == 1 { "report.html".to_string() } else { format!("report/page-{p:04}.html") })
        .collect();
    assert_eq!(
        details["report"],
        json!({"path": "report.html", "page_count": pages, "ads_per_page": 100, "pages": page_names}),
    );
    assert!(details["expires_at"].as_str().is_some_and(|e| e > details["completed_at"].as_str().unwrap()));
    let report_pages: Vec<&String> = order.iter().filter(|n| n.starts_with("report")).collect();
    assert_eq!(report_pages.len(), pages, "exactly the listed pages: {report_pages:?}");
    for name in &page_names {
        assert!(files.contains_key(name), "{name} is in the archive");
    }
    // Streaming: each later page lands before the ads after it; report.html comes at the end.
    let position = |name: &str| order.iter().position(|n| n == name).unwrap();
    assert_eq!(&order[order.len() - 2..], ["report.html", "export_details.json"], "{:?}", &order[order.len() - 4..]);
    assert!(position("report/page-0002.html") < position(&format!("ads/{}/data.json", expected[250].observation_id)));

    // The cards, page after page, are the CSV's rows in order, 100 a page.
    let csv_ids: Vec<String> = csv::Reader::from_reader(files["all_data.csv"].as_slice())
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    let wanted: Vec<&str> = expected.iter().map(|a| a.observation_id.as_str()).collect();
    assert_eq!(csv_ids, wanted, "the CSV holds the ads newest first");
    let mut shown = Vec::new();
    for (p, name) in page_names.iter().enumerate() {
        let html = std::str::from_utf8(&files[name]).unwrap();
        let page_cards = cards(html);
        assert_eq!(page_cards.len(), (expected.len() - p * 100).min(100), "{name}: cards");
        for (id, thumbs) in &page_cards {
            let ad = expected.iter().find(|a| &a.observation_id == id).unwrap();
            let images: Vec<String> =
                (1..=ad.media.len()).map(|n| format!("ads/{}/image_{n}.jpg", ad.observation_id)).collect();
            assert_eq!(thumbs, &images, "{name}: ad {id} shows its images");
        }
        shown.extend(page_cards.into_iter().map(|(id, _)| id));

        // Every page: the policy first in <head>, no script, plain links into the archive.
        let head = &html[..html.find("</head>").unwrap()];
        let csp = head.find("http-equiv=\"Content-Security-Policy\"").expect("a CSP meta tag");
        assert!(
            csp < head.find("<style>").unwrap() && csp < head.find("<title>").unwrap(),
            "{name}: the policy comes first"
        );
        let policy = &attribute_values(&head[csp..], "content")[0];
        assert!(policy.starts_with("default-src 'none';") && policy.contains("img-src 'self'"), "{name}: {policy}");
        assert!(!policy.contains("unsafe") && !policy.contains("script-src"), "{name}: {policy}");
        assert!(!html.to_lowercase().contains("<script"), "{name}: no script");
        assert_eq!(head.contains("<base href=\"../\">"), p > 0, "{name}: pages below report/ link from the root");
        // Every other link is relative to the archive's root (the base is checked above).
        let links = html.replacen("<base href=\"../\">", "", 1);
        for link in attribute_values(&links, "href").iter().chain(&attribute_values(&links, "src")) {
            if let Some(target) = resolve(name, link) {
                assert!(files.contains_key(&target), "{name}: {link} leads to an entry of the archive");
            }
        }
        // Previous, next and the index.
        let prev = attribute_values(html, "rel=\"prev\" href");
        let next = attribute_values(html, "rel=\"next\" href");
        let want_prev: Vec<String> = if p == 0 { vec![] } else { vec![page_names[p - 1].clone(); 2] };
        let want_next: Vec<String> = if p + 1 == pages { vec![] } else { vec![page_names[p + 1].clone(); 2] };
        assert_eq!((prev, next), (want_prev, want_next), "{name}: previous and next, above and below the cards");
        if p > 0 {
            assert!(html.contains("href=\"report.html#pages\""), "{name}: a way back to the index");
        }
    }
    assert_eq!(shown, wanted, "the report shows every ad once, in the CSV's order");

    // report.html: the summary, then the index of every later page.
    let summary = std::str::from_utf8(&files["report.html"]).unwrap();
    let index = &summary[summary.find("<ol class=\"pages\">").expect("a page index")..];
    let index = &index[..index.find("</ol>").unwrap()];
    let mut want_index = vec!["report.html#ads".to_string()];
    want_index.extend(page_names[1..].iter().cloned());
    assert_eq!(attribute_values(index, "href"), want_index, "report.html lists every page");
    for text in [
        format!("{} ads", expected.len()),
        "ALL ADS".to_string(),
        job.record.export_id.to_string(),
        "OCR Text".to_string(),
        "Text extracted from the ad image using OCR, one entry per box".to_string(),
        "href=\"all_data.csv\"".to_string(),
        "href=\"export_details.json\"".to_string(),
        format!("{} (", details["image_count"]),
    ] {
        assert!(summary.contains(&text), "report.html shows {text:?}");
    }
    assert!(summary.contains("&quot;method&quot;: &quot;ALL&quot;"), "the query as JSON");

    // The hostile ad: its text shows, escaped, and nothing of it is markup.
    let first = &summary[summary.find(&format!("<code>{HOSTILE_ID}</code>")).unwrap()..];
    let card = &first[..first.find("</article>").unwrap()];
    for (raw, escaped) in [
        (HOSTILE_OCR, "&lt;img src=x onerror=alert(1)&gt;"),
        (HOSTILE_OCR_2, "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;"),
        (HOSTILE_PAGE, "&lt;b&gt;Bold &amp; &quot;quoted&quot;&lt;/b&gt;"),
    ] {
        assert!(card.contains(escaped), "the card shows {raw:?} as text: {card}");
        for (name, bytes) in &files {
            if name.ends_with(".html") {
                assert!(!String::from_utf8_lossy(bytes).contains(raw), "{name} holds {raw:?} unescaped");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_images_the_report_has_no_thumbnails() {
    let db = TestDatabase::sqlite().await;
    let storage = db.storage.clone();
    let obs_dir = tempfile::tempdir().unwrap();
    let observations = open_store(obs_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
    let source = seeded(storage.clone(), observations.clone()).await;
    let expected = source.select(|_| true);

    let (_, zip_bytes) = export(&storage, &observations, None, false).await;
    let (order, files) = entries(&zip_bytes);
    let details: Value = serde_json::from_slice(&files["export_details.json"]).unwrap();
    assert_eq!(details["report"]["path"], "report.html");
    assert_eq!(details["report"]["page_count"], json!(expected.len().div_ceil(100)));
    let pages: BTreeMap<&String, &Vec<u8>> = files.iter().filter(|(n, _)| n.ends_with(".html")).collect();
    assert_eq!(pages.len(), expected.len().div_ceil(100), "{order:?}");
    let mut cards_seen = 0;
    for (name, bytes) in pages {
        let html = std::str::from_utf8(bytes).unwrap();
        assert!(!html.contains("<img"), "{name}: no thumbnails without images");
        assert!(!html.contains("No images"), "{name}: nothing said about images that were not asked for");
        cards_seen += cards(html).len();
    }
    assert_eq!(cards_seen, expected.len());
    let summary = std::str::from_utf8(&files["report.html"]).unwrap();
    assert!(summary.contains("<dt>Images</dt><dd>not included</dd>"), "the summary says images were not included");
    // Default fields: their names head the values on the cards.
    assert!(summary.contains("<dt>Observer UUID</dt>"));
}
