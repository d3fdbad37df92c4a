//! What previews and retries rely on from the database, told once and run on every backend
//! (SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set): the catalogue's totals of a query
//! (ads, images, image bytes, RDO bytes) as the indexer recorded them, one ad by id, and putting a
//! failed or expired export back to the start in one transaction with its queue message.

use crate::common;

use aao_export_core::export::{ExportParameters, ExportStatus};
use aao_export_core::fields::field_id;
use aao_export_core::query::Query;
use aao_export_db::{
    CatalogueTotals, Claim, CreateOutcome, Database, ExportRecord, Finish, NewExport, ObjectOutcome, OutcomeKind,
    RetryExport, RetryOutcome, User,
};
use aao_export_testkit::TestDatabase;
use common::{candidate, outcome, rdo};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const OBSERVER_1: &str = "48734387-5226-4e96-b97c-2d0747a99898";
const OBSERVER_2: &str = "a1b2c3d4-0000-4000-8000-00000000000a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_totals_and_single_ads_on_every_backend() {
    for db in TestDatabase::all().await {
        catalogue_story(db.storage.clone()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_are_bounded_on_every_backend() {
    for db in TestDatabase::all().await {
        bounded_story(db.storage.clone()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_exports_on_every_backend() {
    for db in TestDatabase::all().await {
        retry_story(db.storage.clone()).await;
    }
}

/// An indexed ad of `observer` with `images` images of `bytes` bytes in all, and its RDO's text.
fn ad(observer: &str, id: &str, observed_at: f64, page: &str, images: u64, bytes: u64) -> (ObjectOutcome, String) {
    let uuid = format!("{}.{id}", (observed_at * 1000.0) as i64);
    let value = rdo(observer, &uuid, json!(observed_at), vec![candidate(page, &["POLITICAL"])], &["Zürich café"]);
    let mut o = outcome(&format!("{observer}/rdo/{uuid}/output.json"), "v1", &value);
    let OutcomeKind::Indexed(entry, text) = &mut o.kind else { panic!("{id} should be indexable") };
    entry.image_count = images;
    entry.image_bytes = bytes;
    let text = text.clone();
    (o, text)
}

async fn totals(s: &dyn Database, query: serde_json::Value) -> CatalogueTotals {
    s.catalogue_totals(&Query::from_json(&query).unwrap())
        .await
        .unwrap_or_else(|e| panic!("[{}] catalogue_totals({query}): {e}", s.backend()))
}

async fn catalogue_story(s: Arc<dyn Database>) {
    let s = &*s;
    let b = s.backend();
    assert_eq!(totals(s, json!({"method": "ALL"})).await, CatalogueTotals::default(), "[{b}] an empty catalogue");

    let (a1, t1) = ad(OBSERVER_1, "ad-1", 1_759_000_001.0, "Raiz Invest", 2, 50_000);
    let (a2, t2) = ad(OBSERVER_1, "ad-2", 1_759_000_002.0, "Other Page", 0, 0);
    let (a3, t3) = ad(OBSERVER_2, "ad-3", 1_759_000_003.0, "Raiz Invest", 3, 120_001);
    s.record_objects(&[a1, a2, a3]).await.unwrap();
    // Bytes, not characters: every RDO holds "Zürich café".
    assert!(t1.len() > t1.chars().count());
    let all = totals(s, json!({"method": "ALL"})).await;
    assert_eq!(
        all,
        CatalogueTotals { ads: 3, images: 5, image_bytes: 170_001, rdo_bytes: (t1.len() + t2.len() + t3.len()) as u64 },
        "[{b}] the whole catalogue"
    );
    assert_eq!(
        totals(s, json!({"method": "PAGE_NAME_CONTAINS", "args": ["raiz"]})).await,
        CatalogueTotals { ads: 2, images: 5, image_bytes: 170_001, rdo_bytes: (t1.len() + t3.len()) as u64 },
        "[{b}] the same condition as searches"
    );
    assert_eq!(
        totals(s, json!({"method": "OR", "args": [{"method": "OBSERVER_ID_EQUALS", "args": [OBSERVER_2]}, {"method": "NOT", "args": [{"method": "ALL"}]}]})).await,
        CatalogueTotals { ads: 1, images: 3, image_bytes: 120_001, rdo_bytes: t3.len() as u64 },
        "[{b}] a top-level OR"
    );
    assert_eq!(
        totals(s, json!({"method": "OBSERVER_ID_CONTAINS", "args": []})).await,
        CatalogueTotals::default(),
        "[{b}] nothing selected sums to zero, not NULL"
    );

    // A changed RDO brings its new sizes; a withdrawn ad leaves the totals.
    let (a1, t1) = ad(OBSERVER_1, "ad-1", 1_759_000_001.0, "Raiz Invest", 1, 7);
    let withdrawn = ObjectOutcome {
        key: "x".into(),
        version: "v2".into(),
        kind: OutcomeKind::Withdrawn { observation_id: Some("ad-3".into()) },
    };
    s.record_objects(&[a1, withdrawn]).await.unwrap();
    assert_eq!(
        totals(s, json!({"method": "ALL"})).await,
        CatalogueTotals { ads: 2, images: 1, image_bytes: 7, rdo_bytes: (t1.len() + t2.len()) as u64 },
        "[{b}] after a change and a withdrawal"
    );

    // One ad by id, as searches return it.
    let row = s.catalogue_ad("ad-2").await.unwrap().unwrap_or_else(|| panic!("[{b}] ad-2 is in the catalogue"));
    let page = s.search_page(&Query::All, None, 10).await.unwrap();
    assert_eq!(Some(&row), page.iter().find(|r| r.observation_id == "ad-2"), "[{b}] the same row as a search");
    assert_eq!(row.rdo, t2);
    assert_eq!(s.catalogue_ad("ad-3").await.unwrap(), None, "[{b}] a withdrawn ad is gone");
    assert_eq!(s.catalogue_ad("AD-2").await.unwrap(), None, "[{b}] ids match exactly");
    assert_eq!(s.catalogue_ad("").await.unwrap(), None, "[{b}] an empty id names nothing");
    assert_eq!(s.catalogue_ad("ad-2' OR '1'='1").await.unwrap(), None, "[{b}] ids are bound");
}

/// A preview's count and first page give up when their budget runs out, leaving every
/// connection as it was; an estimate scales a sample's totals (ids below a prefix) to the catalogue.
async fn bounded_story(s: Arc<dyn Database>) {
    let s = &*s;
    let b = s.backend();
    let ads: Vec<ObjectOutcome> = (0..2_000)
        .map(|i| {
            let page = if i % 4 == 0 { "Raiz Invest" } else { "Other Page" };
            // Ids spread like random hex ids, as an estimate's sample expects.
            ad([OBSERVER_1, OBSERVER_2][i % 2], &format!("{:04x}", i * 32), 1_759_000_000.0 + i as f64, page, 1, 10).0
        })
        .collect();
    for chunk in ads.chunks(500) {
        s.record_objects(chunk).await.unwrap();
    }
    // Seventy two-character phrases in no ad: no index helps (too short for trigrams) and no OR
    // stops early, so every ad's text is read seventy times (tens of milliseconds on either
    // database, far past a budget of nothing).
    let phrases: Vec<String> = "~^`|{}€".chars().flat_map(|c| (0..10).map(move |d| format!("{c}{d}"))).collect();
    let broad = Query::from_json(&json!({"method": "ANYTHING_CONTAINS", "args": phrases})).unwrap();
    let exact = s.catalogue_totals(&broad).await.unwrap();
    assert_eq!(exact, CatalogueTotals::default(), "[{b}] no ad holds any of them");
    for _ in 0..8 {
        assert_eq!(s.catalogue_totals_within(&broad, Duration::ZERO).await.unwrap(), None, "[{b}] out of time");
        // (As if the matches were rare: sorting them reads every ad.)
        assert_eq!(s.first_page(&broad, 24, Some(1), Duration::ZERO).await.unwrap(), None, "[{b}] out of time");
    }
    // Every pooled connection answers in full again, past the deadlines set above.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = futures::future::join_all((0..8).map(|_| s.catalogue_totals(&broad))).await;
    assert!(again.iter().all(|t| t.as_ref().ok() == Some(&exact)), "[{b}] {again:?}");
    let within = s.catalogue_totals_within(&broad, Duration::from_secs(30)).await.unwrap();
    assert_eq!(within, Some(exact), "[{b}] in time");
    let first = s.first_page(&broad, 24, Some(2_000), Duration::from_secs(30)).await.unwrap().unwrap();
    assert_eq!(first, s.search_page(&broad, None, 24).await.unwrap(), "[{b}] the same first page");

    // Estimates: a uniform sample by id, scaled; exact when the sample is the whole catalogue.
    let raiz = Query::from_json(&json!({"method": "PAGE_NAME_CONTAINS", "args": ["raiz"]})).unwrap();
    assert_eq!(s.estimate_totals(&raiz, 10_000).await.unwrap(), s.catalogue_totals(&raiz).await.unwrap(), "[{b}]");
    // 100 of 2,000: ids below "0ccc", ads 0 to 102 (ids are i × 32 in hex), of which 26 are
    // Raiz's (every fourth): 26 × 2,000 / 103 = 505.
    let estimate = s.estimate_totals(&raiz, 100).await.unwrap();
    assert_eq!((estimate.ads, estimate.images, estimate.image_bytes), (505, 505, 5_049), "[{b}] {estimate:?}");
    assert_eq!(s.estimate_totals(&Query::All, 1_000).await.unwrap().ads, 2_000, "[{b}] ALL");
}

const T0: i64 = 1_767_787_200_000;
const DAY: i64 = 86_400_000;

fn new_export(n: u128, creator: &str, created_at: i64) -> NewExport {
    let fields = ["observation_id", "tags"];
    NewExport {
        export_id: Uuid::from_u128(0x7e7e_0000_0000_4000_8000_0000_0000_0000 + n),
        creator_id: creator.into(),
        parameters: ExportParameters {
            query: json!({"method": "ALL"}),
            include_images: true,
            fields: fields.iter().map(|f| f.to_string()).collect(),
        },
        field_ids: fields.iter().map(|f| field_id(f)).collect(),
        max_retries: 2,
        created_at,
        max_in_flight: 100,
        queue_body: None,
    }
}

async fn create(s: &dyn Database, e: &NewExport) -> ExportRecord {
    match s.create_export(e).await.unwrap() {
        CreateOutcome::Created(r) => *r,
        other => panic!("[{}] not created: {other:?}", s.backend()),
    }
}

/// Claims the export's current attempt and ends it.
async fn run(s: &dyn Database, id: Uuid, at: i64, finish: Finish) {
    let attempt = s.export(id).await.unwrap().unwrap().attempt;
    let claim = s.claim_export(id, attempt, "w", at, at + 60_000).await.unwrap();
    assert!(matches!(claim, Claim::Claimed(_)), "[{}] {claim:?}", s.backend());
    assert!(s.renew_lease(id, "w", at + 1, at + 60_000, 5, 9).await.unwrap());
    assert!(s.finish_export(id, "w", at + 2, &finish).await.unwrap());
}

fn completed(key: &str) -> Finish {
    Finish::Completed {
        object_location: key.into(),
        s3_url: format!("s3://b/{key}"),
        size_bytes: 10,
        ad_count: 3,
        image_count: 4,
    }
}

fn retry(id: Uuid, now: i64, body: Option<&str>) -> RetryExport {
    RetryExport {
        export_id: id,
        now,
        expired_before: now - 7 * DAY,
        max_in_flight: 2,
        queue_body: body.map(str::to_string),
    }
}

async fn retry_story(s: Arc<dyn Database>) {
    let s = &*s;
    let b = s.backend();
    let user = |id: &str| User {
        id: id.into(),
        full_name: id.into(),
        enabled: true,
        role: "user".into(),
        primary_email: None,
    };
    s.put_users(&[user("alice"), user("bob")]).await.unwrap();

    // A failed export, after a retry of its own (attempt 2), shared with bob.
    let e1 = new_export(1, "alice", T0);
    create(s, &e1).await;
    s.share_export(e1.export_id, &["bob".to_string()]).await.unwrap();
    run(s, e1.export_id, T0 + 10, Finish::Retry { next_attempt: 2, message: "S3 was away".into() }).await;
    run(s, e1.export_id, T0 + 20, Finish::Failed { message: "S3 is still away".into() }).await;
    let failed = s.export(e1.export_id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.attempt), (ExportStatus::Failed, 2), "[{b}]");

    let now = T0 + DAY;
    let outcome = s.retry_export(&retry(e1.export_id, now, Some("message 1"))).await.unwrap();
    let RetryOutcome::Retried { record, old_object_location } = outcome else { panic!("[{b}] {outcome:?}") };
    let mut expected = ExportRecord::pending(e1.export_id, "alice", e1.parameters.clone(), 2, now);
    expected.shared_with = vec!["bob".into()];
    assert_eq!(*record, expected, "[{b}] back to the start: pending, attempt 1, nothing of the old run");
    assert_eq!(old_object_location, None, "[{b}] a failed export has no file");
    assert_eq!(s.export(e1.export_id).await.unwrap().as_ref(), Some(&expected), "[{b}] as stored");
    assert_eq!(s.queue_depth().await.unwrap(), (1, 0), "[{b}] its message is queued with it");
    let received = s.queue_receive(10, now, now + 1000).await.unwrap();
    assert_eq!(received.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["message 1"], "[{b}]");
    assert!(s.queue_delete(received[0].message_id, &received[0].receipt).await.unwrap());
    // The rescuer sees it as a fresh pending export (its old rescue mark is gone).
    assert!(s.exports_to_rescue(now + 1, now).await.unwrap().is_empty(), "[{b}] not stuck yet");
    assert_eq!(ids(&s.exports_to_rescue(now + 2 * DAY, now + 1).await.unwrap()), [e1.export_id], "[{b}] stuck later");
    // Its first attempt can be claimed again.
    assert!(matches!(s.claim_export(e1.export_id, 1, "w2", now + 5, now + 60_000).await.unwrap(), Claim::Claimed(_)));

    // Pending or processing: refused, nothing changes, nothing is queued.
    let processing = s.export(e1.export_id).await.unwrap().unwrap();
    let outcome = s.retry_export(&retry(e1.export_id, now + 10, Some("no"))).await.unwrap();
    assert_eq!(outcome, RetryOutcome::NotRetryable(Box::new(processing.clone())), "[{b}] processing");
    let e2 = new_export(2, "alice", T0);
    let pending = create(s, &e2).await;
    let outcome = s.retry_export(&retry(e2.export_id, now, Some("no"))).await.unwrap();
    assert_eq!(outcome, RetryOutcome::NotRetryable(Box::new(pending)), "[{b}] pending");

    // Completed: refused while fresh; retried once it reads as expired, with its old file's key.
    let e3 = new_export(3, "bob", T0);
    create(s, &e3).await;
    run(s, e3.export_id, T0 + 100, completed("outputs/e3.zip")).await;
    let done = s.export(e3.export_id).await.unwrap().unwrap();
    let fresh = T0 + 102 + 7 * DAY - 1;
    let outcome = s.retry_export(&retry(e3.export_id, fresh, Some("no"))).await.unwrap();
    assert_eq!(outcome, RetryOutcome::NotRetryable(Box::new(done)), "[{b}] completed, not yet expired");
    let stale = T0 + 102 + 7 * DAY;
    let outcome = s.retry_export(&retry(e3.export_id, stale, None)).await.unwrap();
    let RetryOutcome::Retried { record, old_object_location } = outcome else { panic!("[{b}] {outcome:?}") };
    assert_eq!((record.status, record.object_location.as_deref()), (ExportStatus::Pending, None), "[{b}]");
    assert_eq!(old_object_location.as_deref(), Some("outputs/e3.zip"), "[{b}] the old file, to delete");
    assert_eq!(s.queue_depth().await.unwrap(), (0, 0), "[{b}] no message without a body (an external queue)");

    // Expired by the sweeper (file not yet deleted): retried, and the sweeper no longer sees its file.
    let e4 = new_export(4, "bob", T0);
    create(s, &e4).await;
    run(s, e4.export_id, T0 + 100, completed("outputs/e4.zip")).await;
    assert_eq!(s.expire_exports(T0 + 1000, T0 + 2000).await.unwrap(), 1);
    assert_eq!(s.expired_files().await.unwrap().len(), 1, "[{b}]");
    let outcome = s.retry_export(&retry(e4.export_id, T0 + 3000, None)).await.unwrap();
    assert!(
        matches!(&outcome, RetryOutcome::Retried { old_object_location: Some(k), .. } if k == "outputs/e4.zip"),
        "[{b}] {outcome:?}"
    );
    assert!(s.expired_files().await.unwrap().is_empty(), "[{b}] nothing left for the sweeper");

    // bob now has e3 and e4 pending: at the limit of 2, a third retry is refused and rolled back.
    let e5 = new_export(5, "bob", T0);
    create(s, &e5).await;
    run(s, e5.export_id, T0 + 100, Finish::Failed { message: "x".into() }).await;
    let before = s.export(e5.export_id).await.unwrap();
    let outcome = s.retry_export(&retry(e5.export_id, T0 + 4000, Some("no"))).await.unwrap();
    assert_eq!(outcome, RetryOutcome::TooManyInFlight(2), "[{b}] the creator's exports in flight count");
    assert_eq!(s.export(e5.export_id).await.unwrap(), before, "[{b}] nothing changed");
    assert_eq!(s.queue_depth().await.unwrap(), (0, 0), "[{b}] nothing queued");

    assert_eq!(
        s.retry_export(&retry(Uuid::new_v4(), now, Some("no"))).await.unwrap(),
        RetryOutcome::Gone,
        "[{b}] an unknown export"
    );
    assert_eq!(s.queue_depth().await.unwrap(), (0, 0), "[{b}] nothing queued");
}

fn ids(records: &[ExportRecord]) -> Vec<Uuid> {
    records.iter().map(|r| r.export_id).collect()
}
