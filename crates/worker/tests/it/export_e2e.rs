//! End to end: demo data written to an observations store and indexed into a catalogue (SQLite
//! always, PostgreSQL when `TEST_DATABASE_URL` is set, S3 when `TEST_S3_ENDPOINT` is set), then
//! exports with and without images, default and explicit fields, and several queries. Every ZIP
//! is opened and checked entry by entry against the objects in the observations store and the
//! curation the demo generator assigned (see `common`), and proved by `$AAO_CHECK_ZIP`.

use crate::common;

use aao_export_core::export::{ExportRecord, ExportRequest};
use aao_export_db::Database;
use aao_export_demo::{DemoConfig, SeedProgress, SeedReport, seed_demo_data};
use aao_export_stores::{AwsSettings, open_store};
use aao_export_testkit::{TestDatabase, check_zip_externally};
use aao_export_worker::archive::{ExportError, ExportJob, ExportSummary, Progress, UploadTarget, build_export};
use aao_export_worker::index::{IndexReport, index_observations};
use common::*;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const ADS: usize = 120;
const IMAGES_PER_AD: usize = 3;

/// The explicit field list of the spec's example, plus a few more kinds of value.
const EXPLICIT: &[&str] = &[
    "observation_id",
    "observer_id",
    "ocr.text",
    "ocr.confidence",
    "tags",
    "attributes.starred.value",
    "classifications",
    "enrichment.meta_adlibrary_scrape.candidates.data.page_name",
    "observation.observed_on_device_at",
    "observation.video.fps",
    "attributes.hidden.modified_by",
];

fn explicit() -> Vec<String> {
    EXPLICIT.iter().map(|s| s.to_string()).collect()
}

/// Writes the demo data, then indexes the store, as `aao-export demo-data` does.
async fn seed(
    storage: Arc<dyn Database>,
    observations: Arc<dyn ObjectStore>,
    config: &DemoConfig,
) -> (SeedReport, IndexReport) {
    let quiet = |_: u64| {};
    let report = seed_demo_data(storage.as_ref(), observations.clone(), config, SeedProgress { written: &quiet })
        .await
        .expect("demo data seeds");
    let index = index_observations(storage, observations, quiet).await.expect("demo data indexes");
    (report, index)
}

/// The job the API would build: the request validated (fields resolved, defaults spelled out), an
/// export recorded with it, and that record's query parsed.
async fn job(storage: &dyn Database, query: &Value, fields: Option<&[String]>, include_images: bool) -> ExportJob {
    let catalogue = storage.exportable_fields().await.unwrap();
    let mut body = json!({"query": query, "include_images": include_images});
    if let Some(fields) = fields {
        body["fields"] = json!(fields);
    }
    let request = ExportRequest::from_json(&body, &catalogue).unwrap();
    let mut record = ExportRecord::pending(
        uuid::Uuid::new_v4(),
        "researcher-1",
        request.parameters(),
        3,
        aao_export_core::time::now_ms(),
    );
    record.shared_with = vec!["researcher-2".into()];
    ExportJob::new(record, &catalogue).unwrap()
}

/// `outputs/{creator_id}_{export_id}_{YYYYMMDDHHMMSS}.zip`.
fn key_for(job: &ExportJob) -> Path {
    Path::from(aao_export_core::export::object_key(&job.record.creator_id, job.record.export_id, job.record.created_at))
}

async fn export(
    storage: &Arc<dyn Database>,
    observations: &Arc<dyn ObjectStore>,
    exports: &Arc<dyn ObjectStore>,
    job: &ExportJob,
) -> Result<(ExportSummary, Arc<Progress>), ExportError> {
    let progress = Arc::new(Progress::default());
    let key = key_for(job);
    let run = build_export(
        storage.clone(),
        observations.clone(),
        UploadTarget::new(exports.clone(), &key),
        job,
        progress.clone(),
        Default::default(),
    );
    let summary =
        tokio::time::timeout(Duration::from_secs(120), run).await.expect("the export finishes (no deadlock)")?;
    Ok((summary, progress))
}

/// One query of the matrix: its JSON and the same selection as a predicate over the source ads.
struct Case {
    name: &'static str,
    query: Value,
    matches: Box<dyn Fn(&SourceAd) -> bool>,
    fields: Option<Vec<String>>,
    include_images: bool,
    /// Whether the selection may be empty (else it must not be, so the case tests something).
    empty: bool,
}

fn has_page_name(ad: &SourceAd, phrases: &[&str]) -> bool {
    page_names(&ad.rdo).iter().any(|p| phrases.iter().any(|phrase| p.to_lowercase().contains(phrase)))
}

fn cases(source: &Source) -> Vec<Case> {
    let code = source.busiest_code.clone();
    let code2 = code.clone();
    let code3 = code.clone();
    let withdrawn_code = source.withdrawn_observer[..8].to_string();
    vec![
        Case {
            name: "all-default-images",
            query: json!({"method": "ALL", "args": []}),
            matches: Box::new(|_| true),
            fields: None,
            include_images: true,
            empty: false,
        },
        Case {
            name: "all-explicit",
            query: json!({"method": "ALL"}),
            matches: Box::new(|_| true),
            fields: Some(explicit()),
            include_images: false,
            empty: false,
        },
        Case {
            name: "activation-code-explicit-images",
            query: json!({"method": "OBSERVER_ID_CONTAINS", "args": [code]}),
            matches: Box::new(move |ad| ad.observer_id.contains(&code2)),
            fields: Some(explicit()),
            include_images: true,
            empty: false,
        },
        Case {
            name: "page-name-explicit",
            query: json!({"method": "PAGE_NAME_CONTAINS", "args": ["AUSTRALIA"]}),
            matches: Box::new(|ad| has_page_name(ad, &["australia"])),
            fields: Some(explicit()),
            include_images: false,
            empty: false,
        },
        Case {
            name: "not-and-default",
            query: json!({"method": "AND", "args": [
                {"method": "NOT", "args": [{"method": "OBSERVER_ID_CONTAINS", "args": [code3.clone()]}]},
                {"method": "PAGE_NAME_CONTAINS", "args": ["australia", "Solar"]}
            ]}),
            matches: Box::new(move |ad| !ad.observer_id.contains(&code3) && has_page_name(ad, &["australia", "solar"])),
            fields: None,
            include_images: false,
            empty: false,
        },
        Case {
            name: "nothing-explicit-images",
            query: json!({"method": "OBSERVATION_ID_CONTAINS", "args": ["no-such-observation"]}),
            matches: Box::new(|_| false),
            fields: Some(explicit()),
            include_images: true,
            empty: true,
        },
        Case {
            name: "withdrawn-participant-default",
            query: json!({"method": "OBSERVER_ID_CONTAINS", "args": [withdrawn_code]}),
            matches: Box::new(|_| false),
            fields: None,
            include_images: true,
            empty: true,
        },
    ]
}

/// Seeds one backend and runs every case of the matrix against it.
async fn export_matrix(db: TestDatabase) {
    let storage = db.storage.clone();
    let backend = storage.backend();
    let seed_value = pick_seed(ADS, IMAGES_PER_AD);
    let config = DemoConfig { ads: ADS, images_per_ad: IMAGES_PER_AD, seed: seed_value };
    let obs_dir = tempfile::tempdir().unwrap();
    let observations = open_store(obs_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
    let (report, index) = seed(storage.clone(), observations.clone(), &config).await;
    let source = Source::read(observations.as_ref(), &config).await;
    let withdrawn = source.ads.iter().filter(|a| a.withdrawn).count();
    assert!(withdrawn > 0, "the seed has withdrawn ads");
    assert_eq!(report.ads, ADS as u64);
    assert_eq!(report.images, source.ads.iter().map(|a| a.media.len() as u64).sum::<u64>());
    assert_eq!(index.scanned, ADS as u64);
    assert_eq!(index.indexed, (ADS - withdrawn) as u64);
    assert_eq!(index.withdrawn, withdrawn as u64);
    assert!(index.unparseable.is_empty(), "{:?}", index.unparseable);
    assert_eq!(
        storage.catalogue_size().await.unwrap(),
        (ADS - withdrawn) as u64,
        "{backend}: withdrawn ads are kept out"
    );

    for case in cases(&source) {
        let label = format!("{backend}/{}", case.name);
        let expected = source.select(&case.matches);
        assert_eq!(expected.is_empty(), case.empty, "{label}: {} ads selected", expected.len());
        let job = job(storage.as_ref(), &case.query, case.fields.as_deref(), case.include_images).await;
        let exports_dir = tempfile::tempdir().unwrap();
        let exports = open_store(exports_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
        let (summary, progress) =
            export(&storage, &observations, &exports, &job).await.unwrap_or_else(|e| panic!("{label}: {e}"));

        // Exactly one object, at the key; no staging files left in the folder.
        let key = key_for(&job);
        assert_eq!(
            list_keys(exports.as_ref()).await,
            vec![key.to_string()],
            "{label}: the exports store holds one object"
        );
        assert_eq!(files_under(exports_dir.path()), vec![key.to_string()], "{label}: no staging files remain");
        let bytes = get_bytes(exports.as_ref(), key.as_ref()).await.unwrap();

        let paths = case.fields.clone().unwrap_or_else(default_paths);
        let expectation = Expectation {
            label: label.clone(),
            ads: expected,
            paths,
            include_images: case.include_images,
            observations: observations.clone(),
            forbidden_observers: vec![source.withdrawn_observer.clone()],
        };
        let details = check_export(&bytes, &job, &summary, &progress, &expectation).await.details;
        assert_eq!(details["missing_image_count"], 0, "{label}");
        eprintln!(
            "{label}: {} ads, {} images, {} bytes: checked",
            summary.ad_count, summary.image_count, summary.size_bytes
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_matrix_sqlite() {
    export_matrix(TestDatabase::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_matrix_postgres() {
    if let Some(db) = TestDatabase::postgres().await {
        export_matrix(db).await;
    }
}

/// A missing image never fails the export: it is left out and listed in export_details.json.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_image_is_listed_not_fatal() {
    for db in TestDatabase::all().await {
        let storage = db.storage.clone();
        let backend = storage.backend();
        let config = DemoConfig { ads: 30, images_per_ad: 3, seed: pick_seed(30, 3) };
        let obs_dir = tempfile::tempdir().unwrap();
        let observations = open_store(obs_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
        seed(storage.clone(), observations.clone(), &config).await;
        let source = Source::read(observations.as_ref(), &config).await;
        // The second image of an ad with at least three: image_1 and image_3 stay, image_2 goes.
        let victim = source
            .active()
            .find(|a| a.media.len() >= 3)
            .or_else(|| source.active().find(|a| a.media.len() >= 2))
            .expect("an ad with several images");
        let gone = victim.media[1].clone();
        observations.delete(&Path::parse(&gone).unwrap()).await.unwrap();

        let job = job(storage.as_ref(), &json!({"method": "ALL"}), Some(&explicit()), true).await;
        let exports_dir = tempfile::tempdir().unwrap();
        let exports = open_store(exports_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
        let (summary, progress) =
            export(&storage, &observations, &exports, &job).await.expect("a missing image does not fail the export");
        let bytes = get_bytes(exports.as_ref(), key_for(&job).as_ref()).await.unwrap();
        let label = format!("{backend}/missing-image");
        let expectation = Expectation {
            label: label.clone(),
            ads: source.select(|_| true),
            paths: explicit(),
            include_images: true,
            observations: observations.clone(),
            forbidden_observers: vec![source.withdrawn_observer.clone()],
        };
        let details = check_export(&bytes, &job, &summary, &progress, &expectation).await.details;
        assert_eq!(summary.missing_image_count, 1, "{label}");
        assert_eq!(details["missing_image_count"], 1, "{label}");
        let listed = &details["missing_images"][0];
        assert_eq!(listed["observation_id"], json!(victim.observation_id), "{label}");
        assert_eq!(listed["key"], json!(gone), "{label}");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
        let folder = format!("ads/{}/", victim.observation_id);
        let names: Vec<String> =
            archive.file_names().map(|n| n.unwrap().to_string()).filter(|n| n.starts_with(&folder)).collect();
        assert!(!names.contains(&format!("{folder}image_2.jpg")), "{label}: {names:?}");
        assert!(names.contains(&format!("{folder}image_1.jpg")), "{label}: {names:?}");
        if victim.media.len() >= 3 {
            assert!(
                names.contains(&format!("{folder}image_3.jpg")),
                "{label}: later images keep their numbers: {names:?}"
            );
        }
        assert!(archive.by_name(&format!("{folder}data.json")).is_ok());
    }
}

/// Corrupt RDOs are reported by key and skipped; the rest is indexed; a second run skips
/// unchanged objects and still knows which objects are unreadable; a changed RDO is re-indexed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_rdos_are_reported_and_skipped() {
    for db in TestDatabase::all().await {
        let storage = db.storage.clone();
        let backend = storage.backend();
        let config = DemoConfig { ads: 40, images_per_ad: 1, seed: pick_seed(40, 1) };
        let obs_dir = tempfile::tempdir().unwrap();
        let observations = open_store(obs_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
        let observer = "0f1e2d3c-4b5a-4697-8877-665544332211";
        let garbage_key = format!("{observer}/rdo/1759583019000.deadbeef-0000-4000-8000-000000000001/output.json");
        let no_uuid_key = format!("{observer}/rdo/deadbeef-0000-4000-8000-000000000002/output.json");
        let not_object_key = format!("{observer}/rdo/1759583019000.deadbeef-0000-4000-8000-000000000003/output.json");
        let put = |key: String, body: Vec<u8>| {
            let store = observations.clone();
            async move { store.put(&Path::parse(&key).unwrap(), PutPayload::from(body)).await.unwrap() }
        };
        put(garbage_key.clone(), b"\x00\xffnot json at all {{{".to_vec()).await;
        let no_uuid = json!({"version": 2.0, "is_user_disabled": false, "observer": {"uuid": observer},
                             "observation": {"observed_on_device_at": 1759583019, "platform": "FACEBOOK"}, "media": []});
        put(no_uuid_key.clone(), serde_json::to_vec_pretty(&no_uuid).unwrap()).await;
        put(not_object_key.clone(), b"[1, 2, 3]".to_vec()).await;
        // Not an RDO key at all: ignored.
        put(format!("{observer}/rdo/notes.txt"), b"hello".to_vec()).await;

        let (_, index) = seed(storage.clone(), observations.clone(), &config).await;
        let source = Source::read(observations.as_ref(), &config).await;
        let withdrawn = source.ads.iter().filter(|a| a.withdrawn).count() as u64;
        assert_eq!(index.scanned, config.ads as u64 + 3, "{backend}: {index:?}");
        assert_eq!(index.indexed + index.withdrawn, config.ads as u64, "{backend}: the rest is indexed: {index:?}");
        assert_eq!(index.withdrawn, withdrawn, "{backend}");
        let mut reported: Vec<(String, String)> = index.unparseable.clone();
        reported.sort();
        let keys: Vec<&str> = reported.iter().map(|(k, _)| k.as_str()).collect();
        let mut expected_keys = vec![garbage_key.as_str(), no_uuid_key.as_str(), not_object_key.as_str()];
        expected_keys.sort();
        assert_eq!(keys, expected_keys, "{backend}: unreadable RDOs are reported by key");
        let reason = |key: &str| reported.iter().find(|(k, _)| k == key).unwrap().1.clone();
        assert!(reason(&garbage_key).contains("not valid JSON"), "{}", reason(&garbage_key));
        assert!(reason(&no_uuid_key).contains("observation.uuid"), "{}", reason(&no_uuid_key));
        assert!(reason(&not_object_key).contains("not a JSON object"), "{}", reason(&not_object_key));
        assert_eq!(storage.catalogue_size().await.unwrap(), config.ads as u64 - withdrawn);

        // Second run: nothing changed, nothing re-read; the unreadable objects are still known.
        let again = index_observations(storage.clone(), observations.clone(), |_| {}).await.unwrap();
        assert_eq!(again.scanned, config.ads as u64 + 3, "{backend}: {again:?}");
        assert_eq!(again.unchanged, again.scanned, "{backend}: unchanged objects are skipped: {again:?}");
        assert_eq!(again.indexed, 0, "{backend}: {again:?}");
        let mut known: Vec<String> = storage.unparseable_objects().await.unwrap().into_iter().map(|(k, _)| k).collect();
        known.sort();
        assert_eq!(known, expected_keys, "{backend}: the catalogue still lists the unreadable objects");

        // A changed RDO is re-indexed (and only it), and its new content is exported.
        let target = source.active().next().unwrap().clone();
        let mut changed = target.rdo.clone();
        changed["observation"]["platform"] = json!("TIKTOK_CHANGED");
        put(target.rdo_key.clone(), serde_json::to_vec_pretty(&changed).unwrap()).await;
        // A corrupt object that gets fixed is indexed too.
        let fixed = json!({"version": 2.0, "is_user_disabled": false, "observer": {"uuid": observer},
                           "observation": {"uuid": "1759583019000.deadbeef-0000-4000-8000-000000000001",
                                           "observed_on_device_at": 1759583019, "platform": "FACEBOOK"}, "media": []});
        put(garbage_key.clone(), serde_json::to_vec_pretty(&fixed).unwrap()).await;
        let third = index_observations(storage.clone(), observations.clone(), |_| {}).await.unwrap();
        assert_eq!(third.indexed, 2, "{backend}: {third:?}");
        assert_eq!(third.unchanged, third.scanned - 2, "{backend}: {third:?}");
        assert_eq!(storage.catalogue_size().await.unwrap(), config.ads as u64 - withdrawn + 1);
        let known: Vec<String> = storage.unparseable_objects().await.unwrap().into_iter().map(|(k, _)| k).collect();
        assert!(
            !known.contains(&garbage_key),
            "{backend}: a fixed object is no longer listed as unreadable: {known:?}"
        );

        let query = json!({"method": "OBSERVATION_ID_CONTAINS", "args": [target.observation_id]});
        let fields = vec!["observation_id".to_string(), "observation.platform".to_string()];
        let job = job(storage.as_ref(), &query, Some(&fields), false).await;
        let exports_dir = tempfile::tempdir().unwrap();
        let exports = open_store(exports_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
        let (summary, progress) = export(&storage, &observations, &exports, &job).await.unwrap();
        let bytes = get_bytes(exports.as_ref(), key_for(&job).as_ref()).await.unwrap();
        let mut updated = target.clone();
        updated.rdo = changed;
        let expectation = Expectation {
            label: format!("{backend}/changed-rdo"),
            ads: vec![&updated],
            paths: fields,
            include_images: false,
            observations: observations.clone(),
            forbidden_observers: vec![],
        };
        check_export(&bytes, &job, &summary, &progress, &expectation).await;
    }
}

/// A failing upload leaves nothing behind: no object, no staging file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_upload_leaves_nothing_behind() {
    let db = TestDatabase::sqlite().await;
    let storage = db.storage.clone();
    // Large enough with images for two 8 MiB parts.
    let config = DemoConfig { ads: 90, images_per_ad: 3, seed: pick_seed(90, 3) };
    let obs_dir = tempfile::tempdir().unwrap();
    let observations = open_store(obs_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
    seed(storage.clone(), observations.clone(), &config).await;

    for (fail_part, include_images) in [(0, false), (0, true), (1, true)] {
        let label = format!("part {fail_part} fails, images {include_images}");
        let exports_dir = tempfile::tempdir().unwrap();
        let local = open_store(exports_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
        let exports: Arc<dyn ObjectStore> = Arc::new(FailingUploads::always(local.clone(), fail_part));
        let job = job(storage.as_ref(), &json!({"method": "ALL"}), None, include_images).await;
        let result = export(&storage, &observations, &exports, &job).await;
        match result {
            Err(ExportError::Upload(e)) => assert!(e.to_string().contains("injected failure"), "{label}: {e}"),
            Err(other) => panic!("{label}: expected an upload error, got {other}"),
            Ok((summary, _)) => {
                panic!("{label}: the export succeeded although its upload failed ({} bytes)", summary.size_bytes)
            }
        }
        assert!(list_keys(local.as_ref()).await.is_empty(), "{label}: no object is left");
        assert!(
            files_under(exports_dir.path()).is_empty(),
            "{label}: no staging file is left: {:?}",
            files_under(exports_dir.path())
        );
    }
}

/// The same story on S3 (moto): observations and exports in their own buckets, the exports under
/// a prefix, an export large enough for a multipart upload of several parts, and a failing
/// upload that leaves neither an object nor an open multipart upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_round_trip() {
    let Some(endpoint) = external("TEST_S3_ENDPOINT", "the S3 round trip") else { return };
    let settings = AwsSettings { region: s3_region(), endpoint_url: Some(endpoint.clone()) };
    let obs_bucket = create_bucket(&endpoint, "obs");
    let exp_bucket = create_bucket(&endpoint, "exp");
    let observations = open_store(&format!("s3://{obs_bucket}"), &settings).unwrap();
    let exports = open_store(&format!("s3://{exp_bucket}/some/prefix"), &settings).unwrap();
    let whole_bucket = open_store(&format!("s3://{exp_bucket}"), &settings).unwrap();

    let db = match TestDatabase::postgres().await {
        Some(db) => db,
        None => TestDatabase::sqlite().await,
    };
    let storage = db.storage.clone();
    let backend = storage.backend();
    let config = DemoConfig { ads: 70, images_per_ad: 3, seed: pick_seed(70, 3) };
    seed(storage.clone(), observations.clone(), &config).await;
    let source = Source::read(observations.as_ref(), &config).await;

    let mut expected_objects = Vec::new();
    for (name, fields, include_images) in
        [("s3-all-default-images", None, true), ("s3-all-explicit", Some(explicit()), false)]
    {
        let label = format!("{backend}/{name}");
        let job = job(storage.as_ref(), &json!({"method": "ALL"}), fields.as_deref(), include_images).await;
        let (summary, progress) =
            export(&storage, &observations, &exports, &job).await.unwrap_or_else(|e| panic!("{label}: {e}"));
        if include_images {
            assert!(
                summary.size_bytes > 8 * 1024 * 1024,
                "{label}: big enough for two parts: {} bytes",
                summary.size_bytes
            );
        }
        let key = key_for(&job);
        expected_objects.push(format!("some/prefix/{key}"));
        expected_objects.sort();
        assert_eq!(
            list_keys(whole_bucket.as_ref()).await,
            expected_objects,
            "{label}: one object per export, under the prefix"
        );
        assert_eq!(open_multipart_uploads(&endpoint, &exp_bucket), 0, "{label}: no multipart upload left open");
        let bytes = get_bytes(exports.as_ref(), key.as_ref()).await.unwrap();
        let expectation = Expectation {
            label: label.clone(),
            ads: source.select(|_| true),
            paths: fields.clone().unwrap_or_else(default_paths),
            include_images,
            observations: observations.clone(),
            forbidden_observers: vec![source.withdrawn_observer.clone()],
        };
        check_export(&bytes, &job, &summary, &progress, &expectation).await;
    }

    // The emulator does list open uploads (so the zero counts above and below mean something).
    let mut probe = exports.put_multipart(&Path::from("probe/unfinished.zip")).await.unwrap();
    probe.put_part(PutPayload::from_static(&[0u8; 16])).await.unwrap();
    assert_eq!(open_multipart_uploads(&endpoint, &exp_bucket), 1, "an unfinished upload is listed");
    probe.abort().await.unwrap();
    assert_eq!(open_multipart_uploads(&endpoint, &exp_bucket), 0);

    // A failing part: the multipart upload is aborted, nothing new appears.
    for fail_part in [0, 1] {
        let failing: Arc<dyn ObjectStore> = Arc::new(FailingUploads::always(exports.clone(), fail_part));
        let job = job(storage.as_ref(), &json!({"method": "ALL"}), None, true).await;
        let result = export(&storage, &observations, &failing, &job).await;
        assert!(matches!(result, Err(ExportError::Upload(_))), "part {fail_part} fails: {:?}", result.map(|r| r.0));
        assert_eq!(
            list_keys(whole_bucket.as_ref()).await,
            expected_objects,
            "part {fail_part} fails: no object is left"
        );
        assert_eq!(
            open_multipart_uploads(&endpoint, &exp_bucket),
            0,
            "part {fail_part} fails: the multipart upload is aborted"
        );
    }
}

/// The numbers an export holds are the RDO's numbers, digit for digit: OCR confidences, the
/// observer's joined_at, video seconds, classifier scores. (serde_json's default float parser can
/// be one unit in the last place off, so re-serialising a parsed RDO can change a number.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_numbers_are_the_rdo_numbers() {
    let db = TestDatabase::sqlite().await;
    let storage = db.storage.clone();
    let config = DemoConfig { ads: 40, images_per_ad: 1, seed: pick_seed(40, 1) };
    let obs_dir = tempfile::tempdir().unwrap();
    let observations = open_store(obs_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
    seed(storage.clone(), observations.clone(), &config).await;
    let source = Source::read(observations.as_ref(), &config).await;
    let fields: Vec<String> =
        ["observation_id", "ocr.confidence", "observer.joined_at", "observation.video.n_seconds", "classifications"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let job = job(storage.as_ref(), &json!({"method": "ALL"}), Some(&fields), false).await;
    let exports_dir = tempfile::tempdir().unwrap();
    let exports = open_store(exports_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
    let (summary, progress) = export(&storage, &observations, &exports, &job).await.unwrap();
    let bytes = get_bytes(exports.as_ref(), key_for(&job).as_ref()).await.unwrap();
    let expectation = Expectation {
        label: "sqlite/numbers".into(),
        ads: source.select(|_| true),
        paths: fields,
        include_images: false,
        observations: observations.clone(),
        forbidden_observers: vec![source.withdrawn_observer.clone()],
    };
    let checked = check_export(&bytes, &job, &summary, &progress, &expectation).await;
    assert!(
        checked.inexact.is_empty(),
        "{} exported numbers differ from the RDO's (actual vs RDO), e.g.:\n{}",
        checked.inexact.len(),
        checked.inexact.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// Every run of the indexer reports the RDOs it cannot read, not only the run that first met them:
/// `aao-export index` prints `report.unparseable`, and an operator who runs it again must not be
/// told "0 unreadable" while the broken objects are still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_rdos_are_reported_on_every_index_run() {
    let db = TestDatabase::sqlite().await;
    let storage = db.storage.clone();
    let obs_dir = tempfile::tempdir().unwrap();
    let observations = open_store(obs_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
    let key = "0f1e2d3c-4b5a-4697-8877-665544332211/rdo/1759583019000.deadbeef-0000-4000-8000-000000000001/output.json";
    observations.put(&Path::parse(key).unwrap(), PutPayload::from_static(b"{ not json")).await.unwrap();
    let first = index_observations(storage.clone(), observations.clone(), |_| {}).await.unwrap();
    assert_eq!(first.unparseable.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), [key], "{first:?}");
    let second = index_observations(storage.clone(), observations.clone(), |_| {}).await.unwrap();
    assert_eq!(second.unchanged, 1, "the object is not read again: {second:?}");
    assert_eq!(
        second.unparseable.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        [key],
        "the second run reports the unreadable RDO again: {second:?}"
    );
}

/// An RDO is data a phone sent: its `media[]` may name anything. Only objects in the
/// participant's own folder are fetched; another participant's screenshot or raw RDO is listed as
/// missing with the reason, never read; an oversized object is left out before its body is read;
/// an entry is named `.bin` unless its key is an image's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ad_gets_only_its_own_participants_images() {
    let db = TestDatabase::sqlite().await;
    let storage = db.storage.clone();
    let obs_dir = tempfile::tempdir().unwrap();
    let observations = open_store(obs_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
    let put = async |key: &str, bytes: &[u8]| {
        observations.put(&Path::parse(key).unwrap(), PutPayload::from(bytes.to_vec())).await.unwrap();
    };
    let (me, victim) = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222");
    put(&format!("{victim}/temp-v2/v/secret.jpg"), b"VICTIM'S SCREENSHOT").await;
    put(&format!("{victim}/rdo/1.v/output.json"), b"{\"VICTIM'S\": \"RDO\"}").await;
    put(&format!("{me}/temp-v2/a/480.jpg"), b"MY SCREENSHOT").await;
    put(&format!("{me}/temp-v2/a/page.html"), b"<script>alert(1)</script>").await;
    put(&format!("{me}/temp-v2/a/huge.png"), &vec![0u8; 2048]).await;
    let mut rdo: Value = serde_json::from_slice(include_bytes!("../../../core/tests/sample-rdo.json")).unwrap();
    rdo["observer"]["uuid"] = json!(me);
    let media = [
        format!("{victim}/temp-v2/v/secret.jpg"),
        format!("{me}/temp-v2/a/480.jpg"),
        format!("{victim}/rdo/1.v/output.json"),
        format!("{me}/temp-v2/a/page.html"),
        format!("{me}/../{victim}/temp-v2/v/secret.jpg"),
        format!("{me}/temp-v2/a/huge.png"),
    ];
    rdo["media"] = json!(media);
    put(&format!("{me}/rdo/1759583019000.a/output.json"), &serde_json::to_vec(&rdo).unwrap()).await;
    index_observations(storage.clone(), observations.clone(), |_| {}).await.unwrap();

    let mut job = job(storage.as_ref(), &json!({"method": "ALL"}), None, true).await;
    job.max_image_bytes = 1024;
    let exports_dir = tempfile::tempdir().unwrap();
    let exports = open_store(exports_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
    let (summary, _) = export(&storage, &observations, &exports, &job).await.unwrap();
    let bytes = get_bytes(exports.as_ref(), key_for(&job).as_ref()).await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
    let names: Vec<String> = archive.file_names().map(|n| n.unwrap().to_string()).collect();
    let mut read = |name: &str| {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut archive.by_name(name).unwrap(), &mut text).unwrap();
        text
    };
    let details: Value = serde_json::from_slice(&read("export_details.json")).unwrap();
    let folder = format!("ads/{}/", details["missing_images"][0]["observation_id"].as_str().unwrap());
    assert_eq!(read(&format!("{folder}image_2.jpg")), b"MY SCREENSHOT", "the participant's own image");
    assert_eq!(read(&format!("{folder}image_4.bin")), b"<script>alert(1)</script>", "no image: .bin");
    assert_eq!(
        names.iter().filter(|n| n.starts_with(&folder) && n.contains("image_")).count(),
        2,
        "only those two: {names:?}"
    );
    let missing: Vec<(String, String)> = details["missing_images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["key"].as_str().unwrap().to_string(), m["error"].as_str().unwrap().to_string()))
        .collect();
    let not_own = aao_export_core::catalogue::NOT_OWN_MEDIA.to_string();
    assert_eq!(
        missing,
        [
            (media[0].clone(), not_own.clone()),
            (media[2].clone(), not_own.clone()),
            (media[4].clone(), not_own),
            (media[5].clone(), "2048 bytes, more than the 1024 an image may be, so it was left out".to_string()),
        ],
        "each left out with its reason"
    );
    assert_eq!((summary.image_count, summary.missing_image_count), (2, 4));
    for name in &names {
        let content = read(name);
        let text = String::from_utf8_lossy(&content);
        assert!(!text.contains("VICTIM'S"), "{name} holds none of the other participant's objects");
    }
}

/// Images larger than the worker keeps in memory stream through a spool file into the ZIP: the
/// entry is the object byte for byte (stored, with the right CRC, which every external reader
/// checks), beside a small one held in memory; the summary counts both.
#[tokio::test]
async fn a_large_image_streams_into_the_archive_byte_for_byte() {
    let db = TestDatabase::sqlite().await;
    let storage = db.storage.clone();
    let obs_dir = tempfile::tempdir().unwrap();
    let observations = open_store(obs_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
    let me = "33333333-3333-4333-8333-333333333333";
    // 5 MiB that do not repeat (a CRC or offset error cannot hide in a run of equal bytes).
    let mut large = Vec::with_capacity(5 << 20);
    let mut x: u32 = 0x9E37_79B9;
    while large.len() < 5 << 20 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        large.extend_from_slice(&x.to_le_bytes());
    }
    let small = b"a small screenshot".to_vec();
    let keys = [format!("{me}/temp-v2/a/large.png"), format!("{me}/temp-v2/a/small.jpg")];
    for (key, bytes) in keys.iter().zip([&large, &small]) {
        observations.put(&Path::parse(key).unwrap(), PutPayload::from(bytes.clone())).await.unwrap();
    }
    let mut rdo: Value = serde_json::from_slice(include_bytes!("../../../core/tests/sample-rdo.json")).unwrap();
    rdo["observer"]["uuid"] = json!(me);
    rdo["media"] = json!(keys);
    let rdo_key = format!("{me}/rdo/1759583019000.a/output.json");
    observations.put(&Path::parse(&rdo_key).unwrap(), serde_json::to_vec(&rdo).unwrap().into()).await.unwrap();
    index_observations(storage.clone(), observations.clone(), |_| {}).await.unwrap();

    let job = job(storage.as_ref(), &json!({"method": "ALL"}), None, true).await;
    let exports_dir = tempfile::tempdir().unwrap();
    let exports = open_store(exports_dir.path().to_str().unwrap(), &AwsSettings::default()).unwrap();
    let (summary, _) = export(&storage, &observations, &exports, &job).await.unwrap();
    assert_eq!((summary.image_count, summary.missing_image_count), (2, 0));
    let bytes = get_bytes(exports.as_ref(), key_for(&job).as_ref()).await.unwrap();
    check_zip_externally(&bytes, "an export with a spooled image");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
    let name = |suffix: &str| {
        archive
            .file_names()
            .map(|n| n.unwrap().to_string())
            .find(|n| n.ends_with(suffix))
            .unwrap_or_else(|| panic!("an entry {suffix}"))
    };
    let (large_name, small_name) = (name("image_1.png"), name("image_2.jpg"));
    let mut read = |entry: &str| {
        let mut file = archive.by_name(entry).unwrap();
        assert_eq!(file.compression(), zip::CompressionMethod::Stored, "{entry}: images are stored");
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut out).unwrap();
        out
    };
    assert!(read(&large_name) == large, "the large image, byte for byte");
    assert_eq!(read(&small_name), small);
    let details: Value = serde_json::from_slice(&read_entry(&bytes, "export_details.json")).unwrap();
    assert_eq!(details["image_bytes"], json!(large.len() + small.len()), "{details}");
}

fn read_entry(zip: &[u8], name: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name(name).unwrap(), &mut out).unwrap();
    out
}
