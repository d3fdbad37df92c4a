//! Helpers for the worker's end-to-end tests: the source of truth (demo ads read back from the
//! observations store), an independent model of the export document and the CSV rules, an
//! entry-by-entry ZIP checker, the external `check-zip.sh` run, raw S3 emulator calls and an
//! object store whose uploads fail on purpose.

#![allow(dead_code)]

use aao_export_core::fields::SEED;
use aao_export_demo::{DemoConfig, DemoData};
use aao_export_worker::archive::{ExportJob, ExportSummary, Progress};
use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;

// ---------------------------------------------------------------------------------------------
// External pieces
// ---------------------------------------------------------------------------------------------

#[allow(unused_imports)]
pub use aao_export_testkit::{
    check_zip_externally, create_bucket, external, files_under, open_multipart_uploads, s3_region,
};

// ---------------------------------------------------------------------------------------------
// Demo data and the source of truth
// ---------------------------------------------------------------------------------------------

/// The first seed from 1 whose first `ads` ads have what the tests need to be meaningful: a
/// withdrawn participant's ad, an old-layout key, formula-like OCR text, tags, starred ads,
/// classifications, ads with several images and enough page names containing "australia".
pub fn pick_seed(ads: usize, images_per_ad: usize) -> u64 {
    'seeds: for seed in 1..200u64 {
        let demo = DemoData::new_lazy(&DemoConfig { ads, images_per_ad, seed });
        let (mut withdrawn, mut old, mut formula, mut tagged, mut starred, mut classified, mut multi, mut australia) =
            (0, 0, 0, 0, 0, 0, 0, 0);
        for i in 0..ads {
            let ad = demo.ad_without_image_bytes(i);
            let rdo: Value = serde_json::from_slice(&ad.rdo).unwrap();
            if rdo["is_user_disabled"] == true {
                withdrawn += 1;
                continue;
            }
            old += usize::from(!ad.rdo_key.contains(&format!("{}.", ad.timestamp_ms)));
            formula += usize::from(ocr_texts(&rdo).iter().any(|t| t.starts_with(['=', '+', '-', '@'])));
            tagged += usize::from(!ad.tag_ids.is_empty());
            starred += usize::from(ad.attributes.iter().any(|a| a.key == "starred"));
            classified += usize::from(!ad.classifications.is_empty());
            multi += usize::from(ad.images.len() >= 2);
            australia += usize::from(page_names(&rdo).iter().any(|p| p.to_lowercase().contains("australia")));
        }
        for n in [withdrawn, old, formula, tagged, starred, classified] {
            if n == 0 {
                continue 'seeds;
            }
        }
        if (images_per_ad < 2 || multi > 0) && (ads < 100 || australia >= 3) {
            return seed;
        }
    }
    panic!("no seed in 1..200 gives demo data with every feature the tests need");
}

/// One ad as the tests expect to find it: read back from the observations store, with the
/// curation the demo generator assigned to it.
#[derive(Debug, Clone)]
pub struct SourceAd {
    pub observation_id: String,
    pub observer_id: String,
    pub observed_at: f64,
    pub rdo_key: String,
    pub rdo: Value,
    pub withdrawn: bool,
    pub media: Vec<String>,
    /// Tag names, sorted.
    pub tags: Vec<String>,
    /// `{key: {value, created_at, created_by, modified_at, modified_by}}`.
    pub attributes: Map<String, Value>,
    /// `[{label, score}]` sorted by label.
    pub classifications: Vec<Value>,
}

pub struct Source {
    pub ads: Vec<SourceAd>,
    pub withdrawn_observer: String,
    /// Activation code (first 8 characters of the uuid) of the active observer with the most ads.
    pub busiest_code: String,
}

impl Source {
    /// Reads every demo ad's RDO back from the observations store.
    pub async fn read(store: &dyn ObjectStore, config: &DemoConfig) -> Source {
        let demo = DemoData::new_lazy(config);
        let tag_names: HashMap<String, String> = demo.tags().iter().map(|t| (t.id.clone(), t.name.clone())).collect();
        let mut ads = Vec::with_capacity(config.ads);
        for i in 0..config.ads {
            let generated = demo.ad_without_image_bytes(i);
            let stored = get_bytes(store, &generated.rdo_key)
                .await
                .unwrap_or_else(|| panic!("RDO {} is in the store", generated.rdo_key));
            let rdo = exact_json(&stored);
            let observation_uuid = rdo["observation"]["uuid"].as_str().unwrap();
            let (_, observation_id) = observation_uuid.split_once('.').unwrap();
            assert_eq!(observation_id, generated.observation_id);
            let mut tags: Vec<String> = generated.tag_ids.iter().map(|id| tag_names[id].clone()).collect();
            tags.sort();
            let mut attributes = Map::new();
            for a in &generated.attributes {
                attributes.insert(
                    a.key.clone(),
                    json!({"value": a.value, "created_at": a.created_at, "created_by": a.created_by,
                           "modified_at": a.modified_at, "modified_by": a.modified_by}),
                );
            }
            let mut classifications: Vec<(String, f64)> =
                generated.classifications.iter().map(|c| (c.label.clone(), c.score)).collect();
            classifications.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            ads.push(SourceAd {
                observation_id: observation_id.to_string(),
                observer_id: rdo["observer"]["uuid"].as_str().unwrap().to_string(),
                observed_at: rdo["observation"]["observed_on_device_at"].as_f64().unwrap(),
                rdo_key: generated.rdo_key.clone(),
                withdrawn: rdo["is_user_disabled"] == true,
                media: rdo["media"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect(),
                tags,
                attributes,
                classifications: classifications
                    .into_iter()
                    .map(|(label, score)| json!({"label": label, "score": score}))
                    .collect(),
                rdo,
            });
        }
        let withdrawn: Vec<String> = demo.observers().into_iter().filter(|(_, w)| *w).map(|(u, _)| u).collect();
        assert_eq!(withdrawn.len(), 1, "the demo data has one withdrawn participant");
        let withdrawn_observer = withdrawn[0].clone();
        for ad in &ads {
            assert_eq!(
                ad.withdrawn,
                ad.observer_id == withdrawn_observer,
                "only the withdrawn participant's ads are disabled"
            );
        }
        let mut per_observer: HashMap<&str, usize> = HashMap::new();
        for ad in ads.iter().filter(|a| !a.withdrawn) {
            *per_observer.entry(&ad.observer_id).or_default() += 1;
        }
        let busiest = per_observer.iter().max_by_key(|(o, n)| (**n, *o)).unwrap().0;
        let busiest_code = busiest[..8].to_string();
        Source { ads, withdrawn_observer, busiest_code }
    }

    pub fn active(&self) -> impl Iterator<Item = &SourceAd> {
        self.ads.iter().filter(|a| !a.withdrawn)
    }

    /// The exportable ads a predicate selects, newest first (observed time desc, then id desc).
    pub fn select(&self, predicate: impl Fn(&SourceAd) -> bool) -> Vec<&SourceAd> {
        let mut selected: Vec<&SourceAd> = self.active().filter(|a| predicate(a)).collect();
        selected.sort_by(|a, b| {
            b.observed_at.total_cmp(&a.observed_at).then_with(|| b.observation_id.cmp(&a.observation_id))
        });
        selected
    }
}

/// Parses JSON with every number read exactly (Rust's `str::parse`): serde_json's default float
/// parser may be off by one unit in the last place, which would hide (or fake) a difference
/// between the RDO's numbers and the exported ones. Objects come back unordered.
pub fn exact_json(bytes: &[u8]) -> Value {
    use serde_json::value::RawValue;
    fn go(raw: &str) -> Value {
        let text = raw.trim();
        match text.as_bytes().first() {
            Some(b'{') => {
                let map: HashMap<String, Box<RawValue>> = serde_json::from_str(text).unwrap();
                Value::Object(map.into_iter().map(|(k, v)| (k, go(v.get()))).collect())
            }
            Some(b'[') => {
                let items: Vec<Box<RawValue>> = serde_json::from_str(text).unwrap();
                Value::Array(items.iter().map(|v| go(v.get())).collect())
            }
            Some(b'-' | b'0'..=b'9') => {
                if let Ok(i) = text.parse::<i64>() {
                    json!(i)
                } else if let Ok(u) = text.parse::<u64>() {
                    json!(u)
                } else {
                    json!(text.parse::<f64>().unwrap_or_else(|e| panic!("number {text}: {e}")))
                }
            }
            _ => serde_json::from_str(text).unwrap(),
        }
    }
    let text = std::str::from_utf8(bytes).expect("JSON is UTF-8");
    serde_json::from_str::<Box<RawValue>>(text)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", &text[..text.len().min(200)]));
    go(text)
}

pub async fn get_bytes(store: &dyn ObjectStore, key: &str) -> Option<Bytes> {
    match store.get(&Path::parse(key).unwrap()).await {
        Ok(result) => Some(result.bytes().await.unwrap()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => panic!("reading {key}: {e}"),
    }
}

pub async fn list_keys(store: &dyn ObjectStore) -> Vec<String> {
    let mut keys: Vec<String> = store.list(None).map_ok(|m| m.location.to_string()).try_collect().await.unwrap();
    keys.sort();
    keys
}

pub fn ocr_texts(rdo: &Value) -> Vec<String> {
    ocr_column(rdo, "text").into_iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// Every keyframe's every OCR box's `field`, in order.
pub fn ocr_column(rdo: &Value, field: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for keyframe in rdo["observation"]["keyframes"].as_array().into_iter().flatten() {
        for ocr in keyframe["ocr_data"].as_array().into_iter().flatten() {
            if let Some(v) = ocr.get(field) {
                out.push(v.clone());
            }
        }
    }
    out
}

pub fn page_names(rdo: &Value) -> Vec<String> {
    rdo["enrichment"]["meta_adlibrary_scrape"]["candidates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["data"]["page_name"].as_str().map(str::to_string))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The expected export document, computed independently of the engine (DESIGN.md §6)
// ---------------------------------------------------------------------------------------------

/// The value of a field path for an ad, or `None` when the path leads nowhere.
pub fn expected_value(ad: &SourceAd, path: &str) -> Option<Value> {
    let segments: Vec<&str> = path.split('.').collect();
    match segments.as_slice() {
        ["observation_id"] => Some(json!(ad.observation_id)),
        ["observer_id"] => Some(json!(ad.observer_id)),
        ["tags"] => Some(json!(ad.tags)),
        ["classifications"] => Some(Value::Array(ad.classifications.clone())),
        ["ocr", field] => Some(Value::Array(ocr_column(&ad.rdo, field))),
        ["attributes", rest @ ..] => walk(&Value::Object(ad.attributes.clone()), rest),
        _ => walk(&ad.rdo, &segments),
    }
}

/// A dot path into JSON; crossing an array collects every element's match into one flat list.
fn walk(value: &Value, segments: &[&str]) -> Option<Value> {
    fn go(value: &Value, segments: &[&str], out: &mut Vec<Value>, crossed: &mut bool) {
        let Some((first, rest)) = segments.split_first() else {
            out.push(value.clone());
            return;
        };
        match value {
            Value::Object(map) => {
                if let Some(next) = map.get(*first) {
                    go(next, rest, out, crossed);
                }
            }
            Value::Array(items) => {
                *crossed = true;
                for item in items {
                    go(item, segments, out, crossed);
                }
            }
            _ => {}
        }
    }
    let (mut out, mut crossed) = (Vec::new(), false);
    go(value, segments, &mut out, &mut crossed);
    if crossed { Some(Value::Array(out)) } else { out.pop() }
}

/// `data.json` for the paths: a nested object, null where a path leads nowhere.
pub fn expected_data_json(ad: &SourceAd, paths: &[String]) -> Value {
    let mut root = Map::new();
    for path in paths {
        let segments: Vec<&str> = path.split('.').collect();
        let mut node = &mut root;
        for segment in &segments[..segments.len() - 1] {
            node = node.entry(segment.to_string()).or_insert_with(|| json!({})).as_object_mut().unwrap();
        }
        node.insert(segments[segments.len() - 1].to_string(), expected_value(ad, path).unwrap_or(Value::Null));
    }
    Value::Object(root)
}

/// A CSV cell by DESIGN.md §6: empty for null/missing, plain scalars, compact JSON for lists and
/// objects, and a leading `'` on text a spreadsheet would run as a formula.
pub fn expected_cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(v) => serde_json::to_string(v).unwrap(),
    }
}

/// The catalogue's default fields, in catalogue order (what "no fields" means).
pub fn default_paths() -> Vec<String> {
    SEED.iter().filter(|f| f.4).map(|f| f.1.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// The ZIP, entry by entry
// ---------------------------------------------------------------------------------------------

/// What one export should contain.
pub struct Expectation<'a> {
    pub label: String,
    pub ads: Vec<&'a SourceAd>,
    pub paths: Vec<String>,
    pub include_images: bool,
    /// The observations store: the images the ZIP must hold, byte for byte.
    pub observations: Arc<dyn ObjectStore>,
    /// Observer uuids whose ads must never appear (withdrawn participants).
    pub forbidden_observers: Vec<String>,
}

/// What [`check_export`] found besides failures.
pub struct Checked {
    /// The parsed `export_details.json`.
    pub details: Value,
    /// Numbers that differ from the RDO's in the last digits only (`where: actual vs expected`).
    pub inexact: Vec<String>,
}

/// Opens the ZIP with the `zip` crate and checks every entry against the source of truth; then
/// runs the external readers. Numbers must match to a few units in the last place here; whether
/// they match exactly is reported in [`Checked::inexact`] (and asserted by a test of its own).
pub async fn check_export(
    zip_bytes: &[u8],
    job: &ExportJob,
    summary: &ExportSummary,
    progress: &Progress,
    expect: &Expectation<'_>,
) -> Checked {
    let label = &expect.label;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes))
        .unwrap_or_else(|e| panic!("{label}: the zip crate opens the archive: {e}"));
    let mut entries: HashMap<String, (Vec<u8>, zip::CompressionMethod)> = HashMap::new();
    let mut order = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let name = file.name().unwrap().to_string();
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap_or_else(|e| panic!("{label}: reading {name}: {e}"));
        assert_eq!(data.len() as u64, file.size(), "{label}: {name}: size");
        assert!(
            entries.insert(name.clone(), (data, file.compression())).is_none(),
            "{label}: entry {name} appears twice"
        );
        order.push(name);
    }

    let mut inexact: Vec<String> = Vec::new();

    // The set of entries, exactly; images byte for byte from the observations store.
    let mut expected_names: BTreeSet<String> = ["all_data.csv".to_string(), "export_details.json".to_string()].into();
    // The report: report.html, then one page of 100 ads each below report/ (checked in report_e2e.rs).
    expected_names.insert("report.html".to_string());
    for page in 2..=expect.ads.len().div_ceil(100) {
        expected_names.insert(format!("report/page-{page:04}.html"));
    }
    let mut missing: Vec<(String, String)> = Vec::new();
    let mut image_count = 0u64;
    for ad in &expect.ads {
        expected_names.insert(format!("ads/{}/data.json", ad.observation_id));
        if !expect.include_images {
            continue;
        }
        for (n, key) in ad.media.iter().enumerate() {
            let name = format!("ads/{}/image_{}.jpg", ad.observation_id, n + 1);
            match get_bytes(expect.observations.as_ref(), key).await {
                Some(bytes) => {
                    let (data, method) =
                        entries.get(&name).unwrap_or_else(|| panic!("{label}: {name} is missing from the archive"));
                    assert!(
                        data.as_slice() == bytes.as_ref(),
                        "{label}: {name} differs from the observations store's {key}"
                    );
                    assert_eq!(
                        *method,
                        zip::CompressionMethod::Stored,
                        "{label}: {name}: images are stored, not recompressed"
                    );
                    expected_names.insert(name);
                    image_count += 1;
                }
                None => missing.push((ad.observation_id.clone(), key.clone())),
            }
        }
    }
    let actual_names: BTreeSet<String> = entries.keys().cloned().collect();
    let unexpected: Vec<_> = actual_names.difference(&expected_names).collect();
    let absent: Vec<_> = expected_names.difference(&actual_names).collect();
    assert!(
        unexpected.is_empty() && absent.is_empty(),
        "{label}: unexpected entries {unexpected:?}; absent entries {absent:?}"
    );
    for forbidden in &expect.forbidden_observers {
        for (name, (data, _)) in &entries {
            assert!(!name.contains(forbidden.as_str()), "{label}: {name} names a withdrawn participant");
            assert!(
                !String::from_utf8_lossy(data).contains(forbidden.as_str()),
                "{label}: {name} holds data of the withdrawn participant {forbidden}"
            );
        }
    }

    // data.json of every ad.
    for ad in &expect.ads {
        let name = format!("ads/{}/data.json", ad.observation_id);
        let (data, method) = &entries[&name];
        assert_eq!(*method, zip::CompressionMethod::Deflated, "{label}: {name} is deflated");
        let in_order: Value = serde_json::from_slice(data).unwrap_or_else(|e| panic!("{label}: {name} is JSON: {e}"));
        let actual = exact_json(data);
        let expected = expected_data_json(ad, &expect.paths);
        if actual != expected {
            assert!(approx_eq(&actual, &expected), "{label}: {name}\n  actual: {actual}\nexpected: {expected}");
            inexact.push(format!("{name}: {}", first_difference(&actual, &expected)));
        }
        let keys: Vec<&String> = in_order.as_object().unwrap().keys().collect();
        let mut first_segments: Vec<&str> = Vec::new();
        for p in &expect.paths {
            let head = p.split('.').next().unwrap();
            if !first_segments.contains(&head) {
                first_segments.push(head);
            }
        }
        assert_eq!(keys, first_segments, "{label}: {name}: keys follow the request order");
    }

    // all_data.csv: header, one row per ad newest first, cells by the rules.
    let (csv_bytes, csv_method) = &entries["all_data.csv"];
    assert_eq!(*csv_method, zip::CompressionMethod::Deflated, "{label}: all_data.csv is deflated");
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(csv_bytes.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header, expect.paths, "{label}: CSV header = requested paths in order");
    let rows: Vec<csv::StringRecord> =
        reader.records().collect::<Result<_, _>>().unwrap_or_else(|e| panic!("{label}: CSV parses: {e}"));
    assert_eq!(rows.len(), expect.ads.len(), "{label}: one CSV row per ad");
    for (i, (row, ad)) in rows.iter().zip(&expect.ads).enumerate() {
        let cells: Vec<&str> = row.iter().collect();
        let expected: Vec<String> =
            expect.paths.iter().map(|p| expected_cell(expected_value(ad, p).as_ref())).collect();
        assert_eq!(cells.len(), expected.len(), "{label}: CSV row {i} (ad {})", ad.observation_id);
        for ((cell, want), path) in cells.iter().zip(&expected).zip(&expect.paths) {
            if cell == want {
                continue;
            }
            // Only a number's last digit may differ (reported below as inexact, failing the
            // number-fidelity test); anything else is a wrong cell.
            let numbers = |text: &str| serde_json::from_str::<Value>(text).ok().map(|_| exact_json(text.as_bytes()));
            match (numbers(cell), numbers(want)) {
                (Some(a), Some(b)) if approx_eq(&a, &b) => {
                    inexact.push(format!("all_data.csv row {i} {path}: {}", first_difference(&a, &b)))
                }
                _ => panic!(
                    "{label}: CSV row {i} (ad {}), column {path}:\n  actual: {cell:?}\nexpected: {want:?}",
                    ad.observation_id
                ),
            }
        }
    }

    // export_details.json.
    let (details_bytes, details_method) = &entries["export_details.json"];
    assert_eq!(*details_method, zip::CompressionMethod::Deflated, "{label}: export_details.json is deflated");
    let details: Value = serde_json::from_slice(details_bytes).unwrap();
    let obj = details.as_object().unwrap();
    assert!(
        !obj.contains_key("url") && !obj.contains_key("status"),
        "{label}: export_details.json has no url and no status: {details:#}"
    );
    assert_eq!(details["export_id"], json!(job.record.export_id.to_string()), "{label}");
    assert_eq!(details["creator_id"], json!(job.record.creator_id), "{label}");
    assert_eq!(details["export_parameters"], json!(job.record.parameters), "{label}");
    assert_eq!(details["export_parameters"]["include_images"], json!(expect.include_images), "{label}");
    for key in ["created_at", "started_at", "completed_at", "updated_at"] {
        let text = details[key].as_str().unwrap_or_else(|| panic!("{label}: {key} is a string"));
        assert!(
            chrono::DateTime::parse_from_rfc3339(text).is_ok() && text.ends_with('Z'),
            "{label}: {key} = {text:?} is RFC 3339 UTC"
        );
    }
    let catalogue: HashMap<&str, (&str, &str)> = SEED.iter().map(|f| (f.1, (f.2, f.3))).collect();
    let fields = details["fields"].as_array().unwrap();
    assert_eq!(fields.len(), expect.paths.len(), "{label}: fields");
    for (field, path) in fields.iter().zip(&expect.paths) {
        let (name, description) = catalogue[path.as_str()];
        assert_eq!(field["path"], json!(path), "{label}");
        assert_eq!(field["name"], json!(name), "{label}");
        assert_eq!(field["description"], json!(description), "{label}");
    }
    assert_eq!(details["ad_count"], json!(expect.ads.len()), "{label}");
    assert_eq!(details["image_count"], json!(image_count), "{label}");
    assert_eq!(details["missing_image_count"], json!(missing.len()), "{label}");
    let listed: Vec<(String, String)> = details["missing_images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert!(m["error"].as_str().is_some_and(|e| !e.is_empty()), "{label}: a missing image says why: {m}");
            (m["observation_id"].as_str().unwrap().to_string(), m["key"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(listed, missing, "{label}: missing_images");
    let sha = hex::encode(Sha256::digest(csv_bytes));
    assert_eq!(
        details["all_data_csv_sha256"],
        json!(sha),
        "{label}: all_data_csv_sha256 is the SHA-256 of all_data.csv"
    );

    // The summary and the live counters agree with the archive.
    assert_eq!(summary.ad_count, expect.ads.len() as u64, "{label}");
    assert_eq!(summary.image_count, image_count, "{label}");
    assert_eq!(summary.missing_image_count, missing.len() as u64, "{label}");
    assert_eq!(summary.size_bytes, zip_bytes.len() as u64, "{label}: size_bytes");
    assert_eq!(summary.csv_sha256, sha, "{label}");
    assert_eq!(progress.total.load(Ordering::Relaxed), expect.ads.len() as u64, "{label}: progress.total");
    assert_eq!(progress.processed.load(Ordering::Relaxed), expect.ads.len() as u64, "{label}: progress.processed");
    assert_eq!(progress.images.load(Ordering::Relaxed), image_count, "{label}: progress.images");
    assert_eq!(progress.bytes.load(Ordering::Relaxed), zip_bytes.len() as u64, "{label}: progress.bytes");

    check_zip_externally(zip_bytes, label);
    assert!(
        inexact.is_empty(),
        "{label}: {} numbers differ from the RDO's in the last digits, e.g. {}",
        inexact.len(),
        inexact[0]
    );
    Checked { details, inexact }
}

/// Equal, with floating-point numbers allowed to differ by a few units in the last place.
pub fn approx_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x == y {
                return true;
            }
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| approx_eq(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| approx_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The first place two (approximately equal) values differ, as `actual vs expected`.
pub fn first_difference(a: &Value, b: &Value) -> String {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.iter().zip(y).find(|(x, y)| x != y).map_or_else(String::new, |(x, y)| first_difference(x, y))
        }
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .find(|(k, v)| y.get(*k) != Some(*v))
            .map_or_else(String::new, |(k, v)| format!("{k}: {}", first_difference(v, &y[k]))),
        _ => format!("{a} vs {b}"),
    }
}

// ---------------------------------------------------------------------------------------------
// An exports store whose multipart uploads fail at a chosen part
// ---------------------------------------------------------------------------------------------

/// An exports store whose multipart uploads misbehave on purpose: the first `failing_uploads`
/// uploads fail at part `fail_part`, and every part can be slowed down.
#[derive(Debug)]
pub struct FailingUploads {
    pub inner: Arc<dyn ObjectStore>,
    /// The part (0-based) whose upload fails.
    pub fail_part: usize,
    /// How many uploads fail (then they work).
    pub failing_uploads: std::sync::atomic::AtomicUsize,
    pub part_delay: std::time::Duration,
    /// Every read (`get`) takes this much longer.
    pub read_delay: std::time::Duration,
}

impl FailingUploads {
    /// Every upload fails at `fail_part`.
    pub fn always(inner: Arc<dyn ObjectStore>, fail_part: usize) -> Self {
        Self { fail_part, failing_uploads: usize::MAX.into(), ..Self::slow(inner, std::time::Duration::ZERO) }
    }

    /// The first `n` uploads fail at their first part.
    pub fn first(inner: Arc<dyn ObjectStore>, n: usize) -> Self {
        Self { failing_uploads: n.into(), ..Self::slow(inner, std::time::Duration::ZERO) }
    }

    /// Nothing fails; every part takes `delay` longer.
    pub fn slow(inner: Arc<dyn ObjectStore>, delay: std::time::Duration) -> Self {
        Self {
            inner,
            fail_part: 0,
            failing_uploads: 0.into(),
            part_delay: delay,
            read_delay: std::time::Duration::ZERO,
        }
    }

    /// Nothing fails; every read takes `delay` longer (a slow observations store).
    pub fn slow_reads(inner: Arc<dyn ObjectStore>, delay: std::time::Duration) -> Self {
        Self { read_delay: delay, ..Self::slow(inner, std::time::Duration::ZERO) }
    }
}

impl std::fmt::Display for FailingUploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FailingUploads({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FailingUploads {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        use std::sync::atomic::Ordering;
        let fails = self.failing_uploads.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        let fail_part = if fails { Some(self.fail_part) } else { None };
        Ok(Box::new(FailingUpload { inner, parts: 0, fail_part, delay: self.part_delay }))
    }
    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        tokio::time::sleep(self.read_delay).await;
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[derive(Debug)]
struct FailingUpload {
    inner: Box<dyn MultipartUpload>,
    parts: usize,
    fail_part: Option<usize>,
    delay: std::time::Duration,
}

#[async_trait]
impl MultipartUpload for FailingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let n = self.parts;
        self.parts += 1;
        if self.fail_part.is_some_and(|p| p <= n) {
            return Box::pin(async move {
                Err(object_store::Error::Generic {
                    store: "test",
                    source: format!("injected failure of part {n}").into(),
                })
            });
        }
        let part = self.inner.put_part(data);
        let delay = self.delay;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            part.await
        })
    }
    async fn complete(&mut self) -> object_store::Result<PutResult> {
        if self.fail_part.is_some() {
            return Err(object_store::Error::Generic {
                store: "test",
                source: "injected failure at completion".into(),
            });
        }
        self.inner.complete().await
    }
    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}
