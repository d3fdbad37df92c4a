//! The service's side of the database (`ExportsDb`, `UsersDb`): users and API keys, sign-in
//! identities and failed sign-ins, exports with their fields and shares, the worker's leases, the
//! rescuer and the sweeper. Told once and run on every backend: SQLite
//! always; PostgreSQL when `TEST_DATABASE_URL` is set, both in a database of the server's default
//! collation and in one whose text sorts by an ICU locale (as a managed PostgreSQL usually does),
//! so that no answer depends on how a database sorts text.

use aao_export_core::export::{ExportParameters, ExportStatus};
use aao_export_core::fields::field_id;
use aao_export_db::{
    ApiKey, Claim, CreateOutcome, Database, ExpiredFile, ExportRecord, Finish, Identity, LockoutRule, NewExport,
    SignInGate, User,
};
use aao_export_testkit::TestDatabase;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_story_on_every_backend() {
    for db in TestDatabase::all().await {
        story(db.storage.clone(), "default collation").await;
        concurrent_requests(db.storage.clone(), "default collation").await;
    }
    if let Some(db) = TestDatabase::postgres_with(ICU_EN_US).await {
        story(db.storage.clone(), "PostgreSQL with an ICU en-US collation").await;
    }
}

/// 2025-10-09, in epoch milliseconds: every time in the story counts from here.
const T0: i64 = 1_760_000_000_000;
const MINUTE: i64 = 60_000;

fn user(id: &str, enabled: bool) -> User {
    User {
        id: id.into(),
        full_name: format!("{id} (full name)"),
        enabled,
        role: if id == "amy" { "admin".into() } else { "user".into() },
        primary_email: (id != "dan").then(|| format!("{id}@example.org")),
    }
}

fn new_export(n: u128, creator: &str, created_at: i64, fields: &[&str]) -> NewExport {
    let query = if n.is_multiple_of(2) {
        json!({"method": "ALL"})
    } else {
        json!({"method": "AND", "args": [{"method": "OBSERVER", "args": ["48734387-5226-4e96-b97c-2d0747a99898"]}, {"method": "CONTAINS", "args": ["caf\u{e9} \"quoted\""]}]})
    };
    NewExport {
        export_id: Uuid::from_u128(0x5e1f_0000_0000_4000_8000_0000_0000_0000 + n),
        creator_id: creator.into(),
        parameters: ExportParameters {
            query,
            include_images: n.is_multiple_of(3),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        },
        field_ids: fields.iter().map(|f| field_id(f)).collect(),
        max_retries: 3 + n as u32 % 2,
        created_at,
        max_in_flight: 10,
        queue_body: None,
    }
}

/// What `create_export` answers for a new export: pending, attempt 1, nothing else yet.
fn pending(e: &NewExport) -> ExportRecord {
    ExportRecord {
        export_id: e.export_id,
        creator_id: e.creator_id.clone(),
        parameters: e.parameters.clone(),
        shared_with: vec![],
        status: ExportStatus::Pending,
        object_location: None,
        created_at: e.created_at,
        updated_at: e.created_at,
        started_at: None,
        completed_at: None,
        message: None,
        attempt: 1,
        max_retries: e.max_retries,
        lease_owner: None,
        lease_expires_at: None,
        progress_processed: 0,
        progress_total: None,
        size_bytes: None,
        ad_count: None,
        image_count: None,
        download_count: 0,
    }
}

async fn create(s: &dyn Database, e: &NewExport) -> ExportRecord {
    match s.create_export(e).await.unwrap_or_else(|err| panic!("[{}] create {}: {err}", s.backend(), e.export_id)) {
        CreateOutcome::Created(record) => {
            assert_eq!(*record, pending(e), "[{}] the created export as stored", s.backend());
            *record
        }
        other => panic!("[{}] create {}: {other:?}", s.backend(), e.export_id),
    }
}

async fn get(s: &dyn Database, id: Uuid) -> ExportRecord {
    s.export(id).await.unwrap().unwrap_or_else(|| panic!("[{}] export {id} exists", s.backend()))
}

fn ids(records: &[ExportRecord]) -> Vec<Uuid> {
    records.iter().map(|r| r.export_id).collect()
}

async fn story(s: Arc<dyn Database>, label: &str) {
    let s = &*s;
    let b = format!("{} ({label})", s.backend());
    let b = b.as_str();
    users(s, b).await;
    api_keys(s, b).await;
    let mut m = creating(s, b).await;
    reading(s, b, &m).await;
    sharing(s, b, &mut m).await;
    let (taken, expiry) = worker_claims(s, b, &m).await;
    let done = worker_completes(s, b, &m, taken, expiry).await;
    let later = in_flight_and_retry(s, b, &m, &done).await;
    let r9 = rescuer(s, b, &m, &later).await;
    let again = deleting(s, b, &m, &later, &done, &r9).await;
    sweeper(s, b, &m, &later, &done, &again).await;
}

/// What the story has made so far, handed from step to step: the exports asked for (`eN`) and
/// their records as they should read now (`rN`).
struct Made {
    e1: NewExport,
    e2: NewExport,
    e3: NewExport,
    e4: NewExport,
    e5: NewExport,
    e6: NewExport,
    r1: ExportRecord,
    r2: ExportRecord,
    r3: ExportRecord,
    r4: ExportRecord,
    r5: ExportRecord,
}

/// e3, completed by its second worker.
struct Done {
    done_at: i64,
    location: String,
    completed: Finish,
    r3_done: ExportRecord,
}

/// After the in-flight limit and e4's retry and failure.
struct Later {
    e8: NewExport,
    t2: i64,
    r4_failed: ExportRecord,
}

/// e1's id, created again after it was deleted.
struct Again {
    again: NewExport,
    r1_again: ExportRecord,
}

const LEASE: i64 = 30_000;

/// Users: the share picker lists enabled users by id, in byte order whatever the database's
/// collation; unknown_users names the ids that are no user, in the order given.
async fn users(s: &dyn Database, b: &str) {
    let everyone = ["bob", "amy", "Zed", "carl", "dan", "a-c", "ab"].map(|id| user(id, id != "carl"));
    s.put_users(&everyone).await.unwrap();
    let listed = s.enabled_users().await.unwrap();
    let enabled: Vec<User> = listed.iter().map(|l| l.user.clone()).collect();
    assert!(listed.iter().all(|l| l.username.is_none() && l.provider.is_none()), "[{b}] no identities yet");
    assert_eq!(
        enabled.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["Zed", "a-c", "ab", "amy", "bob", "dan"],
        "[{b}] enabled users, sorted by id byte for byte"
    );
    assert_eq!(enabled[3], user("amy", true), "[{b}] every column of a user");
    assert_eq!(enabled[5], user("dan", true), "[{b}] a user without an email");
    assert_eq!(s.user("carl").await.unwrap(), Some(user("carl", false)), "[{b}] a disabled user is still a user");
    assert_eq!(s.user("Amy").await.unwrap(), None, "[{b}] ids are case-sensitive");
    let unknown =
        s.unknown_users(&["nobody".into(), "amy".into(), "carl".into(), "Amy".into(), "".into()]).await.unwrap();
    assert_eq!(unknown, ["nobody", "Amy", ""], "[{b}] unknown ids, disabled users are known");
    assert_eq!(s.unknown_users(&[]).await.unwrap(), Vec::<String>::new(), "[{b}] no ids, none unknown");
    let many: Vec<String> =
        (0..2500).map(|i| if i % 1000 == 7 { "bob".to_string() } else { format!("ghost-{i}") }).collect();
    let unknown = s.unknown_users(&many).await.unwrap();
    assert_eq!(unknown.len(), 2497, "[{b}] more ids than one IN list holds");
    assert!(
        !unknown.contains(&"bob".to_string()) && unknown[0] == "ghost-0" && unknown[2496] == "ghost-2499",
        "[{b}] in order"
    );
}

/// API keys: found by key id with their user, whose state is read fresh every time.
async fn api_keys(s: &dyn Database, b: &str) {
    let key = ApiKey {
        key_id: "k1".into(),
        user_id: "amy".into(),
        secret_hash: "a".repeat(64),
        created_at: T0,
        label: Some("nightly script".into()),
        expires_at: Some(T0 + MINUTE),
        last_used_at: None,
    };
    s.put_api_key(&key).await.unwrap();
    s.put_api_key(&ApiKey {
        key_id: "k2".into(),
        user_id: "carl".into(),
        secret_hash: "c".repeat(64),
        created_at: T0 + 1,
        label: None,
        expires_at: None,
        last_used_at: None,
    })
    .await
    .unwrap();
    assert_eq!(s.api_key("k1").await.unwrap(), Some((key.clone(), user("amy", true))), "[{b}] a key and its user");
    assert_eq!(s.api_key("K1").await.unwrap(), None, "[{b}] key ids are case-sensitive");
    assert_eq!(s.api_key("nope").await.unwrap(), None, "[{b}] an unknown key");
    let (k2, carl) = s.api_key("k2").await.unwrap().unwrap();
    assert_eq!(
        (k2.user_id.as_str(), k2.created_at, carl.enabled),
        ("carl", T0 + 1, false),
        "[{b}] a disabled user's key says so"
    );
    let rotated = ApiKey { secret_hash: "b".repeat(64), ..key.clone() };
    s.put_api_key(&rotated).await.unwrap();
    s.put_users(&[User { full_name: "Amy Renamed".into(), ..user("amy", false) }]).await.unwrap();
    assert_eq!(
        s.api_key("k1").await.unwrap(),
        Some((rotated.clone(), User { full_name: "Amy Renamed".into(), ..user("amy", false) })),
        "[{b}] a key put again replaces its secret; its user is read as it is now"
    );
    s.put_users(&[user("amy", true)]).await.unwrap();

    // Listing, recording use (at most once per period) and revoking.
    s.touch_api_key("k1", T0 + 10, T0 + 10 - MINUTE).await.unwrap();
    s.touch_api_key("k1", T0 + 20, T0 + 20 - MINUTE).await.unwrap();
    s.touch_api_key("nope", T0 + 20, T0).await.unwrap();
    let used = ApiKey { last_used_at: Some(T0 + 10), ..rotated.clone() };
    assert_eq!(s.api_keys_of("amy").await.unwrap(), [used], "[{b}] a use a minute at most");
    s.touch_api_key("k1", T0 + 10 + MINUTE, T0 + 10).await.unwrap();
    let later = ApiKey { last_used_at: Some(T0 + 10 + MINUTE), ..rotated.clone() };
    assert_eq!(s.api_keys_of("amy").await.unwrap(), std::slice::from_ref(&later), "[{b}] and then the next");
    let k3 = ApiKey { key_id: "k3".into(), created_at: T0 + 5, label: Some("demo".into()), ..key.clone() };
    let k4 = ApiKey { key_id: "k4".into(), created_at: T0 + 6, label: Some("demo".into()), ..key.clone() };
    s.put_api_key(&k3).await.unwrap();
    s.put_api_key(&k4).await.unwrap();
    assert_eq!(s.api_keys_of("amy").await.unwrap(), [later.clone(), k3, k4], "[{b}] oldest first");
    assert_eq!(s.api_keys_of("nobody").await.unwrap(), [], "[{b}]");
    assert_eq!(s.revoke_labelled_api_keys("amy", "demo").await.unwrap(), 2, "[{b}] by label");
    assert_eq!(s.revoke_labelled_api_keys("carl", "nightly script").await.unwrap(), 0, "[{b}] only the user's");
    assert!(s.revoke_api_key("k2").await.unwrap(), "[{b}] revoked");
    assert!(!s.revoke_api_key("k2").await.unwrap(), "[{b}] once");
    assert_eq!(s.api_key("k2").await.unwrap(), None, "[{b}] a revoked key is no key");
    assert_eq!(s.api_keys_of("amy").await.unwrap(), [later], "[{b}] amy's first key stays");
}

/// Creating exports: fields in request order, the database queue's message in the same
/// transaction, and a limit on exports in flight per creator.
async fn creating(s: &dyn Database, b: &str) -> Made {
    let fields_1 = ["observer.joined_at", "observation_id", "observer.uuid"];
    let mut e1 = new_export(1, "amy", T0, &fields_1);
    let body = json!({"export_id": e1.export_id, "creator_id": "amy", "attempt": 1, "note": "\u{2713}"}).to_string();
    e1.queue_body = Some(body.clone());
    let r1 = create(s, &e1).await;
    assert_eq!(r1.parameters.fields, fields_1, "[{b}] fields in request order, not catalogue order");
    assert_eq!(s.queue_depth().await.unwrap(), (1, 0), "[{b}] the export's message was written with it");
    let got = s.queue_receive(10, T0, T0 + MINUTE).await.unwrap();
    assert_eq!(got.len(), 1, "[{b}] one message: {got:?}");
    assert_eq!((got[0].body.as_str(), got[0].receive_count), (body.as_str(), 1), "[{b}] the message is the body given");
    assert!(!got[0].receipt.is_empty() && got[0].message_id > 0, "[{b}] {:?}", got[0]);
    assert!(s.queue_delete(got[0].message_id, &got[0].receipt).await.unwrap(), "[{b}] the message deletes");

    let e2 = new_export(2, "amy", T0 + 10, &["observation_id"]);
    let r2 = create(s, &e2).await;
    assert_eq!(s.queue_depth().await.unwrap(), (0, 0), "[{b}] no queue body, no message (an external queue sends it)");
    let e3 = new_export(3, "amy", T0 + 20, &[]);
    let r3 = create(s, &e3).await;
    assert!(r3.parameters.fields.is_empty(), "[{b}] no field ids, no fields");

    // amy has three in flight: a limit of three refuses the fourth, and writes nothing.
    let mut e6 = new_export(6, "amy", T0 + 30, &["observer.uuid"]);
    e6.max_in_flight = 3;
    e6.queue_body = Some("must not be written".into());
    assert_eq!(s.create_export(&e6).await.unwrap(), CreateOutcome::TooManyInFlight(3), "[{b}] too many in flight");
    assert_eq!(s.export(e6.export_id).await.unwrap(), None, "[{b}] a refused export is not stored");
    assert_eq!(s.queue_depth().await.unwrap(), (0, 0), "[{b}] nor is its message");
    // A creator that is no user cannot create; nothing is left behind.
    let mut ghost = new_export(7, "nobody", T0, &["observer.uuid"]);
    ghost.queue_body = Some("must not be written either".into());
    assert!(s.create_export(&ghost).await.is_err(), "[{b}] an unknown creator is refused by the database");
    assert_eq!(
        (s.export(ghost.export_id).await.unwrap(), s.queue_depth().await.unwrap()),
        (None, (0, 0)),
        "[{b}] and rolled back"
    );

    // bob's exports, one at the very same time as another (ties go by export id).
    let e4 = new_export(4, "bob", T0 + 15, &["observer.uuid", "observation_id"]);
    let e5 = new_export(5, "bob", T0 + 15, &["observer.joined_at"]);
    let (r4, r5) = (create(s, &e4).await, create(s, &e5).await);
    assert!(e4.export_id < e5.export_id);
    Made { e1, e2, e3, e4, e5, e6, r1, r2, r3, r4, r5 }
}

/// Reading: one export, or those created by or shared with a user, newest first, with their
/// fields and shares.
async fn reading(s: &dyn Database, b: &str, m: &Made) {
    let Made { e1, r1, r2, r3, r4, r5, .. } = m;
    assert_eq!(get(s, e1.export_id).await, *r1, "[{b}] export() reads back what was created");
    assert_eq!(s.export(Uuid::from_u128(42)).await.unwrap(), None, "[{b}] an unknown export");
    assert_eq!(
        s.exports_visible_to("amy").await.unwrap(),
        [r3.clone(), r2.clone(), r1.clone()],
        "[{b}] amy's, newest first"
    );
    assert_eq!(s.exports_visible_to("bob").await.unwrap(), [r4.clone(), r5.clone()], "[{b}] bob's, a tie by export id");
    assert_eq!(s.exports_visible_to("dan").await.unwrap(), [], "[{b}] dan has none");
    assert_eq!(s.exports_visible_to("nobody").await.unwrap(), [], "[{b}] nor has an unknown user");
}

/// Sharing: idempotent, answered with the shares after, sorted byte for byte.
async fn sharing(s: &dyn Database, b: &str, m: &mut Made) {
    let Made { e1, e4, r2, r3, r5, .. } = &*m;
    let id1 = e1.export_id;
    assert_eq!(s.share_export(id1, &["dan".into(), "bob".into()]).await.unwrap(), ["bob", "dan"], "[{b}] shared");
    assert_eq!(
        s.share_export(id1, &["bob".into(), "Zed".into(), "bob".into(), "ab".into(), "a-c".into()]).await.unwrap(),
        ["Zed", "a-c", "ab", "bob", "dan"],
        "[{b}] sharing again adds only the new ones"
    );
    assert_eq!(
        s.share_export(id1, &[]).await.unwrap(),
        ["Zed", "a-c", "ab", "bob", "dan"],
        "[{b}] sharing with nobody changes nothing"
    );
    assert!(
        s.share_export(id1, &["nobody".into()]).await.is_err(),
        "[{b}] sharing with an unknown id is refused by the database"
    );
    assert!(
        s.share_export(Uuid::from_u128(42), &["bob".into()]).await.is_err(),
        "[{b}] sharing an unknown export is refused"
    );
    assert_eq!(
        s.unshare_export(id1, &["dan".into(), "nobody".into(), "ab".into()]).await.unwrap(),
        ["Zed", "a-c", "bob"],
        "[{b}] unshared"
    );
    assert_eq!(
        s.unshare_export(id1, &["dan".into(), "ab".into()]).await.unwrap(),
        ["Zed", "a-c", "bob"],
        "[{b}] unsharing again changes nothing"
    );
    assert_eq!(s.share_export(e4.export_id, &["amy".into()]).await.unwrap(), ["amy"], "[{b}] bob shares with amy");
    let r1 = ExportRecord { shared_with: vec!["Zed".into(), "a-c".into(), "bob".into()], ..m.r1.clone() };
    let r4 = ExportRecord { shared_with: vec!["amy".into()], ..m.r4.clone() };
    assert_eq!(get(s, id1).await, r1, "[{b}] the export shows its shares");
    assert_eq!(
        s.exports_visible_to("amy").await.unwrap(),
        [r3.clone(), r4.clone(), r2.clone(), r1.clone()],
        "[{b}] amy's and those shared with her"
    );
    assert_eq!(
        s.exports_visible_to("bob").await.unwrap(),
        [r4.clone(), r5.clone(), r1.clone()],
        "[{b}] bob's and amy's shared one"
    );
    assert_eq!(
        s.exports_visible_to("Zed").await.unwrap(),
        std::slice::from_ref(&r1),
        "[{b}] Zed only sees what is shared with him"
    );
    (m.r1, m.r4) = (r1, r4);
}

/// The worker: claim (compare-and-set on the attempt and the lease) and renew; a run-out lease
/// is taken over, and the old owner can change nothing after. Answers the record as taken over and
/// when the first lease ran out.
async fn worker_claims(s: &dyn Database, b: &str, m: &Made) -> (ExportRecord, i64) {
    let Made { e3, r3, .. } = m;
    let lease = LEASE;
    let id3 = e3.export_id;
    let t = T0 + MINUTE;
    let Claim::Claimed(c) = s.claim_export(id3, 1, "w1", t, t + lease).await.unwrap() else {
        panic!("[{b}] w1 claims e3")
    };
    let processing = ExportRecord {
        status: ExportStatus::Processing,
        started_at: Some(t),
        updated_at: t,
        lease_owner: Some("w1".into()),
        lease_expires_at: Some(t + lease),
        ..r3.clone()
    };
    assert_eq!(*c, processing, "[{b}] the claimed export");
    assert_eq!(get(s, id3).await, processing, "[{b}] as stored");
    assert_eq!(
        s.claim_export(id3, 1, "w2", t + 1000, t + 1000 + lease).await.unwrap(),
        Claim::Leased,
        "[{b}] a live lease is not taken"
    );
    assert_eq!(
        s.claim_export(id3, 1, "w1", t + 1000, t + 1000 + lease).await.unwrap(),
        Claim::Leased,
        "[{b}] not even by its owner (a second delivery)"
    );
    assert!(s.renew_lease(id3, "w1", t + 5000, t + 5000 + lease, 10, 100).await.unwrap(), "[{b}] the owner renews");
    assert!(!s.renew_lease(id3, "w2", t + 5000, t + 9 * lease, 99, 100).await.unwrap(), "[{b}] another worker cannot");
    let renewed = ExportRecord {
        updated_at: t + 5000,
        lease_expires_at: Some(t + 5000 + lease),
        progress_processed: 10,
        progress_total: Some(100),
        ..processing.clone()
    };
    assert_eq!(get(s, id3).await, renewed, "[{b}] renewed with progress");
    // The lease runs out at its expiry instant; only after it may another worker take over.
    let expiry = t + 5000 + lease;
    assert_eq!(
        s.claim_export(id3, 1, "w2", expiry, expiry + lease).await.unwrap(),
        Claim::Leased,
        "[{b}] not at the expiry instant"
    );
    let Claim::Claimed(c) = s.claim_export(id3, 1, "w2", expiry + 1, expiry + 1 + lease).await.unwrap() else {
        panic!("[{b}] w2 takes over")
    };
    let taken = ExportRecord {
        started_at: Some(expiry + 1),
        updated_at: expiry + 1,
        lease_owner: Some("w2".into()),
        lease_expires_at: Some(expiry + 1 + lease),
        progress_processed: 0,
        progress_total: None,
        ..renewed.clone()
    };
    assert_eq!(*c, taken, "[{b}] taken over, progress restarted");
    assert!(
        !s.renew_lease(id3, "w1", expiry + 2, expiry + 2 + lease, 50, 100).await.unwrap(),
        "[{b}] the old owner's renewal fails"
    );
    for finish in [
        Finish::Completed {
            object_location: "w1.zip".into(),
            s3_url: "s3://b/w1.zip".into(),
            size_bytes: 1,
            ad_count: 1,
            image_count: 1,
        },
        Finish::Retry { next_attempt: 2, message: "w1 gave up".into() },
        Finish::Failed { message: "w1 failed".into() },
    ] {
        assert!(
            !s.finish_export(id3, "w1", expiry + 3, &finish).await.unwrap(),
            "[{b}] the old owner cannot finish: {finish:?}"
        );
    }
    assert_eq!(get(s, id3).await, taken, "[{b}] the old owner changed nothing");
    (taken, expiry)
}

/// The worker finishes: once only, and a late message finds the export finished.
async fn worker_completes(s: &dyn Database, b: &str, m: &Made, taken: ExportRecord, expiry: i64) -> Done {
    let (id3, lease) = (m.e3.export_id, LEASE);
    let done_at = expiry + 10_000;
    let location = "outputs/amy_00000000-0000-0000-0000-000000000003_20251009090000.zip".to_string();
    let completed = Finish::Completed {
        object_location: location.clone(),
        s3_url: format!("s3://exports/{location}"),
        size_bytes: 1_234_567,
        ad_count: 7,
        image_count: 3,
    };
    assert!(s.finish_export(id3, "w2", done_at, &completed).await.unwrap(), "[{b}] the owner completes");
    let r3_done = ExportRecord {
        status: ExportStatus::Completed,
        object_location: Some(location.clone()),
        updated_at: done_at,
        completed_at: Some(done_at),
        lease_owner: None,
        lease_expires_at: None,
        progress_processed: 7,
        progress_total: Some(7),
        size_bytes: Some(1_234_567),
        ad_count: Some(7),
        image_count: Some(3),
        ..taken.clone()
    };
    assert_eq!(get(s, id3).await, r3_done, "[{b}] completed");
    assert!(
        !s.finish_export(id3, "w2", done_at + 1, &Finish::Failed { message: "late".into() }).await.unwrap(),
        "[{b}] finished once only"
    );
    assert!(
        !s.renew_lease(id3, "w2", done_at + 1, done_at + lease, 7, 7).await.unwrap(),
        "[{b}] no lease on a finished export"
    );
    assert_eq!(
        s.claim_export(id3, 1, "w3", done_at + 2, done_at + lease).await.unwrap(),
        Claim::Finished(ExportStatus::Completed),
        "[{b}] a late message finds it finished"
    );
    assert_eq!(get(s, id3).await, r3_done, "[{b}] and changes nothing");
    Done { done_at, location, completed, r3_done }
}

/// The limit on exports in flight counts processing ones; a retry goes back to pending for the
/// next attempt (the old attempt's message is stale), then fails.
async fn in_flight_and_retry(s: &dyn Database, b: &str, m: &Made, done: &Done) -> Later {
    let (lease, done_at) = (LEASE, done.done_at);
    let Made { e4, e6, r4, .. } = m;
    // amy has two in flight now (e1, e2): a limit of three lets one more in.
    let mut e8 = new_export(8, "amy", T0 + 40, &["observation_id"]);
    e8.max_in_flight = 3;
    create(s, &e8).await;
    assert_eq!(e6.max_in_flight, 3);
    assert_eq!(s.create_export(e6).await.unwrap(), CreateOutcome::TooManyInFlight(3), "[{b}] and then no more");
    // Processing exports count as in flight too.
    let t2 = done_at + MINUTE;
    assert!(
        matches!(s.claim_export(e8.export_id, 1, "w1", t2, t2 + lease).await.unwrap(), Claim::Claimed(_)),
        "[{b}] e8 claimed"
    );
    assert_eq!(s.create_export(e6).await.unwrap(), CreateOutcome::TooManyInFlight(3), "[{b}] processing counts");

    // Retry: back to pending for the next attempt; the old attempt's message is stale.
    let id4 = e4.export_id;
    let Claim::Claimed(c) = s.claim_export(id4, 1, "w1", t2, t2 + lease).await.unwrap() else {
        panic!("[{b}] e4 claimed")
    };
    assert_eq!(
        (c.status, c.attempt, c.shared_with.clone()),
        (ExportStatus::Processing, 1, vec!["amy".to_string()]),
        "[{b}]"
    );
    let retry = Finish::Retry { next_attempt: 2, message: "the observations store timed out".into() };
    assert!(s.finish_export(id4, "w1", t2 + 100, &retry).await.unwrap(), "[{b}] a retry");
    let r4_retry = ExportRecord {
        updated_at: t2 + 100,
        started_at: Some(t2),
        attempt: 2,
        message: Some("the observations store timed out".into()),
        ..r4.clone()
    };
    assert_eq!(get(s, id4).await, r4_retry, "[{b}] pending again for attempt 2");
    assert_eq!(
        s.claim_export(id4, 1, "w2", t2 + 200, t2 + 200 + lease).await.unwrap(),
        Claim::Stale { current_attempt: 2 },
        "[{b}] the first attempt's message is stale"
    );
    let Claim::Claimed(c) = s.claim_export(id4, 2, "w2", t2 + 300, t2 + 300 + lease).await.unwrap() else {
        panic!("[{b}] attempt 2 claims")
    };
    assert_eq!(
        *c,
        ExportRecord {
            status: ExportStatus::Processing,
            updated_at: t2 + 300,
            started_at: Some(t2 + 300),
            message: None,
            lease_owner: Some("w2".into()),
            lease_expires_at: Some(t2 + 300 + lease),
            ..r4_retry.clone()
        },
        "[{b}] attempt 2 runs, the retry's message cleared"
    );
    assert!(
        s.finish_export(id4, "w2", t2 + 400, &Finish::Failed { message: "the query names an unknown field".into() })
            .await
            .unwrap(),
        "[{b}] failed"
    );
    let r4_failed = ExportRecord {
        status: ExportStatus::Failed,
        updated_at: t2 + 400,
        started_at: Some(t2 + 300),
        message: Some("the query names an unknown field".into()),
        ..r4_retry.clone()
    };
    assert_eq!(get(s, id4).await, r4_failed, "[{b}] failed, with a message, no lease, never completed");
    assert_eq!(
        s.claim_export(id4, 2, "w3", t2 + 500, t2 + 500 + lease).await.unwrap(),
        Claim::Finished(ExportStatus::Failed),
        "[{b}]"
    );
    Later { e8, t2, r4_failed }
}

/// The rescuer: pending exports untouched for a while, processing ones whose lease ran out.
async fn rescuer(s: &dyn Database, b: &str, m: &Made, later: &Later) -> ExportRecord {
    let Made { e1, e2, e5, r1, r2, .. } = m;
    let (lease, t2, e8) = (LEASE, later.t2, &later.e8);
    //     Now: e1, e2 pending since T0; e8 processing until t2 + lease; e5 pending since T0 + 15.
    let e9 = new_export(9, "bob", t2, &["observation_id"]);
    let r9 = create(s, &e9).await;
    let rescue = s.exports_to_rescue(t2 + 1000, T0 + 15).await.unwrap();
    assert_eq!(ids(&rescue), [e2.export_id, e1.export_id], "[{b}] pending before T0 + 15 (strictly), newest first");
    assert_eq!(rescue, [r2.clone(), r1.clone()], "[{b}] whole records");
    let rescue = s.exports_to_rescue(t2 + lease, t2).await.unwrap();
    assert_eq!(
        ids(&rescue),
        [e5.export_id, e2.export_id, e1.export_id],
        "[{b}] a lease that ends now is still live; e9 is fresh"
    );
    let rescue = s.exports_to_rescue(t2 + lease + 1, t2 + 1).await.unwrap();
    assert_eq!(
        ids(&rescue),
        [e9.export_id, e8.export_id, e5.export_id, e2.export_id, e1.export_id],
        "[{b}] and then the run-out lease too"
    );
    let r8_lost = rescue.iter().find(|r| r.export_id == e8.export_id).unwrap();
    assert_eq!(
        (r8_lost.status, r8_lost.lease_owner.as_deref(), r8_lost.lease_expires_at),
        (ExportStatus::Processing, Some("w1"), Some(t2 + lease)),
        "[{b}]"
    );
    assert_eq!(r9, get(s, e9.export_id).await, "[{b}] looking for stuck exports only reads");
    //     Marking: one rescuer wins; the export is left alone until a whole waiting period has
    //     passed since its rescue.
    let (now, stuck_before) = (t2 + lease + 1, t2 + 1);
    assert!(s.mark_rescued(e1.export_id, now, stuck_before).await.unwrap(), "[{b}] the first rescuer marks e1");
    assert!(!s.mark_rescued(e1.export_id, now, stuck_before).await.unwrap(), "[{b}] a second rescuer does not");
    assert!(
        !s.mark_rescued(e9.export_id, T0 + 1, T0).await.unwrap(),
        "[{b}] an export that is not stuck is not marked"
    );
    let rescue = s.exports_to_rescue(now, stuck_before).await.unwrap();
    assert_eq!(ids(&rescue), [e9.export_id, e8.export_id, e5.export_id, e2.export_id], "[{b}] e1 was just rescued");
    let rescue = s.exports_to_rescue(now + 10, now + 1).await.unwrap();
    assert!(ids(&rescue).contains(&e1.export_id), "[{b}] e1 again once the period since its rescue has passed");
    assert_eq!(
        get(s, e1.export_id).await,
        *r1,
        "[{b}] the mark is the rescuer's own: the export's status object is unchanged"
    );
    r9
}

/// Deleting: the export goes with its fields and shares; what it was is answered.
async fn deleting(s: &dyn Database, b: &str, m: &Made, later: &Later, done: &Done, r9: &ExportRecord) -> Again {
    let Made { e1, r1, r5, .. } = m;
    let (lease, t2, id1) = (LEASE, later.t2, e1.export_id);
    let (r4_failed, completed) = (&later.r4_failed, &done.completed);
    let deleted = s.delete_export(id1).await.unwrap();
    assert_eq!(deleted, Some(r1.clone()), "[{b}] the deleted export as it was");
    assert_eq!(s.delete_export(id1).await.unwrap(), None, "[{b}] deleting again finds nothing");
    assert_eq!(s.export(id1).await.unwrap(), None, "[{b}] gone");
    assert_eq!(s.exports_visible_to("Zed").await.unwrap(), [], "[{b}] its shares went with it");
    assert_eq!(
        s.exports_visible_to("bob").await.unwrap(),
        [r9.clone(), r4_failed.clone(), r5.clone()],
        "[{b}] bob no longer sees it"
    );
    assert_eq!(
        s.claim_export(id1, 1, "w1", t2, t2 + lease).await.unwrap(),
        Claim::Gone,
        "[{b}] a message for it finds it gone"
    );
    // The same id created again starts with none of the old fields or shares left behind.
    let again = new_export(1, "bob", t2 + 5, &["observer.uuid"]);
    let r1_again = create(s, &again).await;
    assert_eq!(
        (r1_again.parameters.fields.clone(), r1_again.shared_with.clone()),
        (vec!["observer.uuid".to_string()], vec![]),
        "[{b}] no leftovers"
    );
    // Deleting a processing export takes the lease away: renewing and finishing fail.
    let id8 = later.e8.export_id;
    assert_eq!(
        s.delete_export(id8).await.unwrap().map(|r| r.status),
        Some(ExportStatus::Processing),
        "[{b}] a processing export deleted"
    );
    assert!(!s.renew_lease(id8, "w1", t2 + 10, t2 + lease, 1, 2).await.unwrap(), "[{b}] its worker's renewal fails");
    assert!(!s.finish_export(id8, "w1", t2 + 10, completed).await.unwrap(), "[{b}] as does its completion");
    assert_eq!(s.export(id8).await.unwrap(), None, "[{b}] which did not bring it back");
    Again { again, r1_again }
}

/// The sweeper: completed exports finished before the cut-off expire; their files are listed
/// until forgotten. Failed and pending exports never expire.
async fn sweeper(s: &dyn Database, b: &str, m: &Made, later: &Later, done: &Done, again: &Again) {
    let Made { e2, e3, e4, e5, r5, .. } = m;
    let (lease, t2, id3, id4) = (LEASE, later.t2, e3.export_id, e4.export_id);
    let Done { done_at, location, r3_done, .. } = done;
    let done_at = *done_at;
    let (r4_failed, Again { again, r1_again }) = (&later.r4_failed, again);
    let ide = e2.export_id;
    let Claim::Claimed(_) = s.claim_export(ide, 1, "w1", t2, t2 + lease).await.unwrap() else {
        panic!("[{b}] e2 claimed")
    };
    let later = Finish::Completed {
        object_location: "outputs/e2.zip".into(),
        s3_url: "s3://exports/outputs/e2.zip".into(),
        size_bytes: 22,
        ad_count: 0,
        image_count: 0,
    };
    assert!(s.finish_export(ide, "w1", t2 + 50, &later).await.unwrap(), "[{b}] e2 completed later");
    let sweep = t2 + 7 * 24 * 60 * MINUTE;
    assert_eq!(
        s.expire_exports(done_at, sweep).await.unwrap(),
        0,
        "[{b}] nothing completed before {done_at} (strictly)"
    );
    assert_eq!(s.expired_files().await.unwrap(), [], "[{b}] no expired file yet");
    assert_eq!(s.expire_exports(done_at + 1, sweep).await.unwrap(), 1, "[{b}] e3 expires");
    assert_eq!(s.expire_exports(done_at + 1, sweep + 1).await.unwrap(), 0, "[{b}] once");
    let r3_expired = ExportRecord { status: ExportStatus::Expired, updated_at: sweep, ..r3_done.clone() };
    assert_eq!(get(s, id3).await, r3_expired, "[{b}] expired, its file still recorded");
    assert_eq!(get(s, ide).await.status, ExportStatus::Completed, "[{b}] e2 is not old enough");
    assert_eq!(
        s.expired_files().await.unwrap(),
        [ExpiredFile { export_id: id3, object_location: location.clone() }],
        "[{b}] the file to delete"
    );
    s.forget_file(id3).await.unwrap();
    assert_eq!(s.expired_files().await.unwrap(), [], "[{b}] forgotten");
    assert_eq!(
        get(s, id3).await,
        ExportRecord { object_location: None, ..r3_expired },
        "[{b}] an expired export without its file"
    );
    assert_eq!(
        s.expire_exports(sweep, sweep).await.unwrap(),
        1,
        "[{b}] at last e2, but not the failed or pending ones"
    );
    assert_eq!(get(s, id4).await, *r4_failed, "[{b}] the failed export is untouched");
    assert_eq!(
        s.expired_files().await.unwrap(),
        [ExpiredFile { export_id: ide, object_location: "outputs/e2.zip".into() }],
        "[{b}] e2's file"
    );
    assert_eq!(get(s, e5.export_id).await, *r5, "[{b}] a pending export is untouched by all of it");
    assert_eq!(get(s, again.export_id).await, *r1_again, "[{b}]");
    assert_eq!(s.queue_depth().await.unwrap(), (0, 0), "[{b}] the story wrote one message only, and deleted it");
}

/// Requests that arrive at once: creations cannot together pass the limit on exports in flight,
/// and claims of one export leave it with one owner.
async fn concurrent_requests(s: Arc<dyn Database>, label: &str) {
    let b = format!("{} ({label})", s.backend());
    s.put_users(&[user("eve", true)]).await.unwrap();
    let tries: Vec<_> = (0..8u128)
        .map(|i| {
            let s = s.clone();
            let mut e = new_export(100 + i, "eve", T0 + i as i64, &["observation_id"]);
            e.max_in_flight = 3;
            tokio::spawn(async move { s.create_export(&e).await.unwrap() })
        })
        .collect();
    let mut created = 0;
    for t in tries {
        match t.await.unwrap() {
            CreateOutcome::Created(_) => created += 1,
            CreateOutcome::TooManyInFlight(n) => assert_eq!(n, 3, "[{b}] refused at the limit"),
        }
    }
    assert_eq!(created, 3, "[{b}] exactly the limit was created");
    let stored = s.exports_visible_to("eve").await.unwrap();
    assert_eq!(stored.len(), 3, "[{b}] and stored");

    // Workers that claim one export at once: exactly one gets the lease.
    let id = stored[0].export_id;
    let claims: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(
                async move { s.claim_export(id, 1, &format!("w{i}"), T0 + MINUTE, T0 + 2 * MINUTE).await.unwrap() },
            )
        })
        .collect();
    let mut owners = Vec::new();
    for (i, c) in claims.into_iter().enumerate() {
        match c.await.unwrap() {
            Claim::Claimed(r) => {
                assert_eq!(r.lease_owner, Some(format!("w{i}")), "[{b}]");
                owners.push(i);
            }
            other => assert_eq!(other, Claim::Leased, "[{b}] the others find it leased"),
        }
    }
    assert_eq!(owners.len(), 1, "[{b}] one owner: {owners:?}");
    assert_eq!(get(&*s, id).await.lease_owner, Some(format!("w{}", owners[0])), "[{b}] as stored");
}

/// `CREATE DATABASE` options for a default collation of ICU's en-US (where `Zed` sorts after `amy`).
const ICU_EN_US: &str = "TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'";

/// Errors say what went wrong, the same on both backends: a second export with the same id is a
/// duplicate, a share of an export deleted meanwhile misses its reference, and a pool with no free
/// connection is busy (not a failure of the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_typed_on_every_backend() {
    use aao_export_db::DbError;
    for db in TestDatabase::all().await {
        let s = db.storage.clone();
        let b = s.backend();
        s.put_users(&[user("alice", true), user("bob", true)]).await.unwrap();
        let e = new_export(900, "alice", 1_000, &["tags"]);
        create(s.as_ref(), &e).await;
        let again = s.create_export(&e).await;
        assert!(matches!(again, Err(DbError::Duplicate(_))), "[{b}] the same id twice: {again:?}");
        s.delete_export(e.export_id).await.unwrap().expect("deleted");
        let shared = s.share_export(e.export_id, &["bob".to_string()]).await;
        assert!(matches!(shared, Err(DbError::MissingReference(_))), "[{b}] sharing a deleted export: {shared:?}");
        assert!(!DbError::Duplicate(sqlx::Error::RowNotFound).is_transient());
        assert!(DbError::from(sqlx::Error::PoolTimedOut).is_transient(), "[{b}] an exhausted pool is busy");
        assert!(matches!(DbError::from(sqlx::Error::PoolTimedOut), DbError::PoolExhausted(_)));
    }
}

/// Who downloaded an export, on every backend: each download recorded with its user, time and
/// way; listed newest first (the later recorded first at the same instant) with the users' names
/// (none for a user no longer known); counted in the export's own row, in the same read as the
/// export; refused for an export that is gone; and deleted with the export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_story_on_every_backend() {
    use aao_export_db::{DbError, DownloadRecord, DownloadVia, NewDownload};
    for db in TestDatabase::all().await {
        let s = db.storage.clone();
        let b = s.backend();
        s.put_users(&[user("amy", true), user("bob", true), user("carl", true)]).await.unwrap();
        let e1 = create(s.as_ref(), &new_export(950, "bob", T0, &["tags"])).await;
        let e2 = create(s.as_ref(), &new_export(951, "bob", T0 + MINUTE, &["tags"])).await;
        assert_eq!(s.downloads(e1.export_id).await.unwrap(), vec![], "[{b}] none yet");
        assert_eq!(get(s.as_ref(), e1.export_id).await.download_count, 0, "[{b}]");

        let record = |id: Uuid, user: &str, at: i64, via: DownloadVia| {
            let s = s.clone();
            let download = NewDownload { export_id: id, user_id: user.into(), at, via };
            async move { s.record_download(&download).await }
        };
        record(e1.export_id, "bob", T0 + 2 * MINUTE, DownloadVia::Link).await.unwrap();
        record(e1.export_id, "amy", T0 + 3 * MINUTE, DownloadVia::Api).await.unwrap();
        // The same instant as amy's: recorded later, so listed first.
        record(e1.export_id, "carl", T0 + 3 * MINUTE, DownloadVia::Link).await.unwrap();
        record(e1.export_id, "ghost", T0 + MINUTE, DownloadVia::Api).await.unwrap();
        record(e2.export_id, "carl", T0 + 4 * MINUTE, DownloadVia::Link).await.unwrap();

        let seen = |user: &str, name: Option<&str>, at: i64, via: DownloadVia| DownloadRecord {
            user_id: user.into(),
            full_name: name.map(str::to_string),
            downloaded_at: at,
            via,
        };
        assert_eq!(
            s.downloads(e1.export_id).await.unwrap(),
            vec![
                seen("carl", Some("carl (full name)"), T0 + 3 * MINUTE, DownloadVia::Link),
                seen("amy", Some("amy (full name)"), T0 + 3 * MINUTE, DownloadVia::Api),
                seen("bob", Some("bob (full name)"), T0 + 2 * MINUTE, DownloadVia::Link),
                seen("ghost", None, T0 + MINUTE, DownloadVia::Api),
            ],
            "[{b}] newest first, with names"
        );
        assert_eq!(
            s.downloads(e2.export_id).await.unwrap(),
            vec![seen("carl", Some("carl (full name)"), T0 + 4 * MINUTE, DownloadVia::Link)],
            "[{b}] each export its own"
        );
        assert_eq!(get(s.as_ref(), e1.export_id).await.download_count, 4, "[{b}] counted with the export");
        let listed = s.exports_visible_to("bob").await.unwrap();
        assert_eq!(
            listed.iter().map(|r| (r.export_id, r.download_count)).collect::<Vec<_>>(),
            [(e2.export_id, 1), (e1.export_id, 4)],
            "[{b}] counted in the list too"
        );

        let gone = Uuid::from_u128(0x5e1f_dead);
        let refused = record(gone, "bob", T0, DownloadVia::Link).await;
        assert!(matches!(refused, Err(DbError::MissingReference(_))), "[{b}] an unknown export: {refused:?}");

        // Deleted with the export: the same id created again starts with none.
        s.delete_export(e1.export_id).await.unwrap().expect("deleted");
        assert_eq!(s.downloads(e1.export_id).await.unwrap(), vec![], "[{b}] gone with the export");
        let again = create(s.as_ref(), &new_export(950, "bob", T0 + 10 * MINUTE, &["tags"])).await;
        assert_eq!((again.export_id, again.download_count), (e1.export_id, 0), "[{b}] no rows left behind");
        assert_eq!(s.downloads(e1.export_id).await.unwrap(), vec![], "[{b}]");
        assert_eq!(get(s.as_ref(), e2.export_id).await.download_count, 1, "[{b}] the other export keeps its own");
    }
}

/// Attached to the AAO's database, identities are the AAO's: written by its API (here, as it
/// writes them: unsalted MD5, seconds), found by username, never changed by us.
async fn aao_identities_are_read_never_written(db: &TestDatabase) {
    use aao_export_db::DbError;
    use sqlx::Connection;
    let s = db.storage.clone();
    let refused = s.set_password("amy", None, "$argon2id$one", T0).await;
    assert!(matches!(refused, Err(DbError::AaoOwned(_))), "[attached] set_password is the AAO's: {refused:?}");
    let mut aao = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO public.user_identities (user_id, provider, provider_user_id, password, created_at) VALUES \
         ('amy', 'local', 'amy.admin', md5('amy-pass'), 1759583019), ('carl', 'local', 'carl', md5('carl-pass'), 1759583020)",
    )
    .execute(&mut aao)
    .await
    .unwrap();
    let digest = |text: &'static str| sqlx::query_scalar::<_, String>("SELECT md5($1)").bind(text);
    let amy_digest = digest("amy-pass").fetch_one(&mut aao).await.unwrap();
    let (identity, user_row) = s.local_identity("amy.admin").await.unwrap().expect("the AAO's identity is found");
    assert_eq!(
        identity,
        Identity {
            user_id: "amy".into(),
            provider: "local".into(),
            provider_user_id: "amy.admin".into(),
            password: Some(amy_digest),
            created_at: 1_759_583_019,
        },
        "[attached] as the AAO keeps it (created_at in its seconds)"
    );
    assert_eq!(user_row, user("amy", true), "[attached] with its user");
    assert_eq!(s.local_identity("Amy.admin").await.unwrap(), None, "[attached] usernames are case-sensitive");
    // No upgrade to a stronger hash: the AAO's API checks MD5.
    let carl_digest = digest("carl-pass").fetch_one(&mut aao).await.unwrap();
    assert!(!s.replace_password("carl", &carl_digest, "$argon2id$new").await.unwrap(), "[attached] never replaced");
    let stored: String = sqlx::query_scalar("SELECT password FROM public.user_identities WHERE user_id = 'carl'")
        .fetch_one(&mut aao)
        .await
        .unwrap();
    assert_eq!(stored, carl_digest, "[attached] the AAO's digest is unchanged");
}

/// Sign-in storage on every backend: the AAO's `local` identities (a username per user, unique
/// among users; a password hash replaced only by compare-and-set) and the count of failed
/// sign-ins per username that locks it out, shared by every process and safe under concurrency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_story_on_every_backend() {
    use aao_export_db::DbError;
    for db in TestDatabase::all().await {
        let s = db.storage.clone();
        let b = s.backend();
        s.put_users(&[user("amy", true), user("bob", true), user("carl", false)]).await.unwrap();

        if b == "attached" {
            aao_identities_are_read_never_written(&db).await;
        } else {
            // --- Identities: found by username with their user; the username defaults to the user id.
            assert_eq!(s.local_identity("amy").await.unwrap(), None, "[{b}] no identity yet");
            assert_eq!(s.set_password("amy", None, "$argon2id$one", T0).await.unwrap(), "amy", "[{b}]");
            let identity = |username: &str, password: &str, created_at: i64| Identity {
                user_id: "amy".into(),
                provider: "local".into(),
                provider_user_id: username.into(),
                password: Some(password.into()),
                created_at,
            };
            assert_eq!(
                s.local_identity("amy").await.unwrap(),
                Some((identity("amy", "$argon2id$one", T0), user("amy", true))),
                "[{b}] every column of an identity, and its user"
            );
            assert!(
                !format!("{:?}", identity("amy", "$argon2id$one", T0)).contains("$argon2id$one"),
                "[{b}] no hash in Debug"
            );
            assert_eq!(s.local_identity("Amy").await.unwrap(), None, "[{b}] usernames are case-sensitive");
            // A new username replaces the old one; the identity keeps when it was created.
            assert_eq!(s.set_password("amy", Some("amy.admin"), "$argon2id$two", T0 + 1).await.unwrap(), "amy.admin");
            assert_eq!(s.local_identity("amy").await.unwrap(), None, "[{b}] the old username is gone");
            assert_eq!(
                s.local_identity("amy.admin").await.unwrap().map(|(i, _)| i),
                Some(identity("amy.admin", "$argon2id$two", T0)),
                "[{b}] renamed, new hash, same created_at"
            );
            // No username given: the identity keeps the one it has.
            assert_eq!(s.set_password("amy", None, "$argon2id$three", T0 + 2).await.unwrap(), "amy.admin", "[{b}]");
            let taken = s.set_password("bob", Some("amy.admin"), "$argon2id$x", T0).await;
            assert!(matches!(taken, Err(DbError::Duplicate(_))), "[{b}] another user's username: {taken:?}");
            let nobody = s.set_password("nobody", None, "$argon2id$x", T0).await;
            assert!(matches!(nobody, Err(DbError::MissingReference(_))), "[{b}] an unknown user: {nobody:?}");
            assert_eq!(s.set_password("carl", None, "5f4dcc3b5aa765d61d8327deb882cf99", T0).await.unwrap(), "carl");
            let (carl, carl_user) = s.local_identity("carl").await.unwrap().unwrap();
            assert_eq!(
                (carl.password.as_deref(), carl_user.enabled),
                (Some("5f4dcc3b5aa765d61d8327deb882cf99"), false)
            );

            // --- Upgrading a hash: only while it is still the one that was checked.
            assert!(!s.replace_password("carl", "something else", "$argon2id$new").await.unwrap(), "[{b}] stale");
            assert!(!s.replace_password("bob", "5f4dcc3b5aa765d61d8327deb882cf99", "$argon2id$new").await.unwrap());
            assert!(s.replace_password("carl", "5f4dcc3b5aa765d61d8327deb882cf99", "$argon2id$new").await.unwrap());
            let (carl, _) = s.local_identity("carl").await.unwrap().unwrap();
            assert_eq!(carl.password.as_deref(), Some("$argon2id$new"), "[{b}] replaced");
        }

        // The share picker shows the identity's username and provider, none without one.
        let listed = s.enabled_users().await.unwrap();
        let named = |id: &str| {
            let l = listed.iter().find(|l| l.user.id == id).unwrap();
            (l.provider.clone(), l.username.clone())
        };
        assert_eq!(named("amy"), (Some("local".into()), Some("amy.admin".into())), "[{b}] amy's identity");
        assert_eq!(named("bob"), (None, None), "[{b}] bob has none");

        // --- Failed sign-ins: 3 failures, each within 10 minutes of the last, lock for a minute.
        let rule = LockoutRule { max_failures: 3, window_ms: 10 * MINUTE, lockout_ms: MINUTE };
        let gate = |name: &'static str, at: i64| {
            let s = s.clone();
            async move { s.begin_sign_in(name, at, &rule).await.unwrap() }
        };
        assert_eq!(gate("amy.admin", T0).await, SignInGate::Open { failures: 1 }, "[{b}]");
        assert_eq!(gate("amy.admin", T0 + 1).await, SignInGate::Open { failures: 2 }, "[{b}]");
        assert_eq!(gate("amy.admin", T0 + 2).await, SignInGate::Open { failures: 3 }, "[{b}]");
        let locked = SignInGate::Locked { until: T0 + 2 + MINUTE };
        assert_eq!(gate("amy.admin", T0 + 3).await, locked, "[{b}] locked a minute after the last failure");
        assert_eq!(gate("amy.admin", T0 + 2 + MINUTE - 1).await, locked, "[{b}] refusals are not counted");
        assert_eq!(gate("bob", T0 + 4).await, SignInGate::Open { failures: 1 }, "[{b}] other usernames go on");
        assert_eq!(gate("nobody-at-all", T0 + 4).await, SignInGate::Open { failures: 1 }, "[{b}] unknown ones too");
        // When the lock ends one more attempt goes through; failing, it locks again at once.
        assert_eq!(gate("amy.admin", T0 + 2 + MINUTE).await, SignInGate::Open { failures: 4 }, "[{b}]");
        let again = SignInGate::Locked { until: T0 + 2 + 2 * MINUTE };
        assert_eq!(gate("amy.admin", T0 + 3 + MINUTE).await, again, "[{b}] locked again");
        // A success (or a new password) clears the count.
        s.clear_failed_sign_ins("amy.admin").await.unwrap();
        assert_eq!(gate("amy.admin", T0 + 4 + MINUTE).await, SignInGate::Open { failures: 1 }, "[{b}] cleared");
        s.clear_failed_sign_ins("never-failed").await.unwrap();
        // Counts kept per username and address: clearing a username clears it from every address,
        // and no other username that merely starts alike.
        for key in ["zoe\n10.0.0.1", "zoe\n10.0.0.2", "zoe2\n10.0.0.1", "zoe"] {
            assert_eq!(gate(key, T0).await, SignInGate::Open { failures: 1 }, "[{b}] {key:?}");
        }
        s.clear_failed_sign_ins("zoe").await.unwrap();
        assert_eq!(gate("zoe\n10.0.0.1", T0).await, SignInGate::Open { failures: 1 }, "[{b}] cleared");
        assert_eq!(gate("zoe\n10.0.0.2", T0).await, SignInGate::Open { failures: 1 }, "[{b}] cleared");
        assert_eq!(gate("zoe", T0).await, SignInGate::Open { failures: 1 }, "[{b}] cleared");
        assert_eq!(gate("zoe2\n10.0.0.1", T0).await, SignInGate::Open { failures: 2 }, "[{b}] not another username");
        s.clear_failed_sign_ins("zoe\n10.0.0.1").await.unwrap();
        assert_eq!(gate("zoe\n10.0.0.1", T0).await, SignInGate::Open { failures: 1 }, "[{b}] one address");
        assert_eq!(gate("zoe\n10.0.0.2", T0).await, SignInGate::Open { failures: 2 }, "[{b}] not the other");
        // The upkeep pass forgets counts whose last failure is older than it is told.
        let purged = s.purge_failed_sign_ins(T0 + 1).await.unwrap();
        assert!(purged >= 4, "[{b}] the counts last failed at T0: {purged}");
        assert_eq!(gate("zoe\n10.0.0.2", T0 + 2).await, SignInGate::Open { failures: 1 }, "[{b}] forgotten");
        assert_eq!(s.purge_failed_sign_ins(T0).await.unwrap(), 0, "[{b}] nothing older is left");
        // A count whose last failure is older than the window starts again.
        assert_eq!(gate("bob", T0 + 5).await, SignInGate::Open { failures: 2 }, "[{b}]");
        assert_eq!(gate("bob", T0 + 6 + 10 * MINUTE).await, SignInGate::Open { failures: 1 }, "[{b}] a new window");

        // --- Concurrent attempts: exactly the limit gets through, the rest find the lock.
        let tries: Vec<_> = (0..10).map(|_| tokio::spawn(gate("eve", T0))).collect();
        let mut open = Vec::new();
        for t in tries {
            match t.await.unwrap() {
                SignInGate::Open { failures } => open.push(failures),
                SignInGate::Locked { until } => assert_eq!(until, T0 + MINUTE, "[{b}]"),
            }
        }
        open.sort();
        assert_eq!(open, [1, 2, 3], "[{b}] each attempt counted once, in turn");

        sessions_end_when_told(s.as_ref(), b).await;
        provider_identities(s.as_ref(), b).await;
    }
}

/// Identities of an OpenID Connect provider, as the AAO's API writes them: a new subject is a new
/// user, not enabled, with its identity; the same subject again is that user, name and email
/// refreshed (each kept when the provider says nothing); the list for administrators shows each
/// user's identities and last sign-in (the start of their latest session).
async fn provider_identities(s: &dyn Database, b: &str) {
    use aao_export_db::ProviderSignIn;
    let sign_in = |sub: &str, provider: &str, name: Option<&str>, email: Option<&str>, new_id: &str| ProviderSignIn {
        provider: provider.into(),
        provider_user_id: sub.into(),
        full_name: name.map(str::to_string),
        email: email.map(str::to_string),
        new_user_id: new_id.into(),
        now_secs: T0 / 1000,
    };
    let nina = s
        .sign_in_with_provider(&sign_in("sub-nina", "cilogon", Some("Nina N"), Some("n@uni.edu"), "u-nina"))
        .await
        .unwrap();
    let expected = User {
        id: "u-nina".into(),
        full_name: "Nina N".into(),
        enabled: false,
        role: "user".into(),
        primary_email: Some("n@uni.edu".into()),
    };
    assert_eq!(nina, expected, "[{b}] a new subject: a user who is not enabled");
    assert_eq!(s.user("u-nina").await.unwrap(), Some(expected.clone()), "[{b}] as stored");
    let again = s
        .sign_in_with_provider(&sign_in("sub-nina", "cilogon", Some("Nina Newcomer"), None, "u-unused"))
        .await
        .unwrap();
    let refreshed = User { full_name: "Nina Newcomer".into(), ..expected };
    assert_eq!(again, refreshed, "[{b}] the same subject is the same user, its name refreshed, its email kept");
    assert_eq!(s.user("u-nina").await.unwrap(), Some(refreshed.clone()), "[{b}]");
    assert_eq!(s.user("u-unused").await.unwrap(), None, "[{b}] no second user");
    let elsewhere = s.sign_in_with_provider(&sign_in("sub-nina", "orcid", None, None, "u-orcid")).await.unwrap();
    assert_eq!(
        (elsewhere.id.as_str(), elsewhere.full_name.as_str()),
        ("u-orcid", ""),
        "[{b}] subjects are per provider"
    );

    s.start_session("s-nina-1", "u-nina", T0 + 5, T0 + 60 * MINUTE).await.unwrap();
    s.start_session("s-nina-2", "u-nina", T0 + 9, T0 + 60 * MINUTE).await.unwrap();
    let everyone = s.users_overview().await.unwrap();
    let ids: Vec<&str> = everyone.iter().map(|u| u.user.id.as_str()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "[{b}] by id: {ids:?}");
    let nina = everyone.iter().find(|u| u.user.id == "u-nina").expect("nina is listed");
    assert_eq!((&nina.user, nina.last_sign_in), (&refreshed, Some(T0 + 9)), "[{b}] the latest session's start");
    assert_eq!(nina.identities, [("cilogon".to_string(), "sub-nina".to_string())], "[{b}]");
    let orcid = everyone.iter().find(|u| u.user.id == "u-orcid").expect("listed");
    assert_eq!((orcid.last_sign_in, orcid.identities.len()), (None, 1), "[{b}] never signed in");
}

/// Signed-in sessions: on from their start until they expire or are ended, one by one or all of a
/// user's at once; the upkeep pass forgets the expired ones.
async fn sessions_end_when_told(s: &dyn Database, b: &str) {
    let hour = 60 * MINUTE;
    s.start_session("s-amy-1", "amy", T0, T0 + hour).await.unwrap();
    s.start_session("s-amy-2", "amy", T0, T0 + 2 * hour).await.unwrap();
    s.start_session("s-bob-1", "bob", T0, T0 + hour).await.unwrap();
    assert!(s.start_session("s-amy-1", "bob", T0, T0 + hour).await.is_err(), "[{b}] a session id is one session");
    assert!(s.session_alive("s-amy-1", "amy", T0).await.unwrap(), "[{b}] on from its start");
    assert!(s.session_alive("s-amy-1", "amy", T0 + hour - 1).await.unwrap(), "[{b}] until just before it expires");
    assert!(!s.session_alive("s-amy-1", "amy", T0 + hour).await.unwrap(), "[{b}] not once it has expired");
    assert!(!s.session_alive("s-amy-1", "bob", T0).await.unwrap(), "[{b}] only for its own user");
    assert!(!s.session_alive("S-AMY-1", "amy", T0).await.unwrap(), "[{b}] ids are case-sensitive");
    assert!(!s.session_alive("never", "amy", T0).await.unwrap(), "[{b}] an unknown session is off");

    assert!(s.end_session("s-amy-1").await.unwrap(), "[{b}] signing out ends it");
    assert!(!s.end_session("s-amy-1").await.unwrap(), "[{b}] once");
    assert!(!s.session_alive("s-amy-1", "amy", T0 + 1).await.unwrap(), "[{b}] ended");
    assert!(s.session_alive("s-amy-2", "amy", T0 + 1).await.unwrap(), "[{b}] the user's other session goes on");

    s.start_session("s-amy-3", "amy", T0 + 1, T0 + hour).await.unwrap();
    assert_eq!(s.end_sessions_of("amy").await.unwrap(), 2, "[{b}] a new password ends all of a user's sessions");
    assert!(!s.session_alive("s-amy-2", "amy", T0 + 2).await.unwrap(), "[{b}]");
    assert!(s.session_alive("s-bob-1", "bob", T0 + 2).await.unwrap(), "[{b}] and no one else's");

    s.start_session("s-bob-2", "bob", T0, T0 + 3 * hour).await.unwrap();
    assert_eq!(s.purge_sessions(T0 + hour - 1).await.unwrap(), 0, "[{b}] none has expired yet");
    assert_eq!(s.purge_sessions(T0 + hour).await.unwrap(), 1, "[{b}] the upkeep forgets the expired one");
    assert!(s.session_alive("s-bob-2", "bob", T0 + hour).await.unwrap(), "[{b}] and keeps the rest");
    assert_eq!(s.end_sessions_of("bob").await.unwrap(), 1, "[{b}]");

    // Disabling a user ends its sessions; enabling writes only `enabled` back.
    s.start_session("s-bob-3", "bob", T0, T0 + hour).await.unwrap();
    let before = s.user("bob").await.unwrap().expect("bob is a user");
    assert!(s.set_enabled("bob", false).await.unwrap(), "[{b}]");
    assert!(!s.session_alive("s-bob-3", "bob", T0 + 1).await.unwrap(), "[{b}] disabling ends the user's sessions");
    assert_eq!(s.user("bob").await.unwrap(), Some(User { enabled: false, ..before.clone() }), "[{b}] only enabled");
    assert!(s.set_enabled("bob", true).await.unwrap(), "[{b}]");
    assert_eq!(s.user("bob").await.unwrap(), Some(User { enabled: true, ..before }), "[{b}] enabled again");
    assert!(!s.set_enabled("nobody", false).await.unwrap(), "[{b}] an unknown user is no user");
}
