//! The storage story: what a user of the export service relies on from the database, told once
//! and run on every backend (SQLite always; PostgreSQL of our own and attached to the AAO's
//! schema when `TEST_DATABASE_URL` is set). Then what attaching to the AAO's database promises:
//! nothing of the AAO's changes, and a schema it does not recognise is refused.

use crate::common;

use aao_export_core::document::{Attribute, Classification, Curation};
use aao_export_core::fields::{ExportableField, SEED, field_id, seed_fields};
use aao_export_core::query::Query;
use aao_export_db::{CurationRecord, Database, ObjectOutcome, OutcomeKind, Tag, User};
use aao_export_testkit::TestDatabase;
use common::{candidate, ids, newest_first, outcome, rdo, search_all};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_story_on_every_backend() {
    for db in TestDatabase::all().await {
        story(db.storage.clone()).await;
    }
}

/// Rate limits count hits per bucket and window, concurrent hits each counted once, and the
/// windows that have ended are forgotten (others kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_windows_count_hits_and_are_forgotten_when_ended_on_every_backend() {
    for db in TestDatabase::all().await {
        let s = db.storage.clone();
        let b = s.backend();
        for expected in 1..=3 {
            assert_eq!(s.count_hit("preview:alice", 10_000, 20_000).await.unwrap(), expected, "[{b}]");
        }
        assert_eq!(s.count_hit("preview:bob", 10_000, 20_000).await.unwrap(), 1, "[{b}] buckets apart");
        assert_eq!(s.count_hit("preview:alice", 20_000, 30_000).await.unwrap(), 1, "[{b}] the next window");
        // Twenty hits at once: each sees the ones before it, so together they count 1..=20.
        let hits = futures::future::join_all((0..20).map(|_| s.count_hit("preview:carol", 10_000, 20_000))).await;
        let mut counts: Vec<u32> = hits.into_iter().map(Result::unwrap).collect();
        counts.sort_unstable();
        assert_eq!(counts, (1..=20).collect::<Vec<u32>>(), "[{b}]");
        assert_eq!(s.purge_hits(19_999).await.unwrap(), 0, "[{b}] no window has ended yet");
        assert_eq!(s.purge_hits(20_000).await.unwrap(), 3, "[{b}] the three windows that ended at 20,000");
        assert_eq!(s.count_hit("preview:alice", 10_000, 20_000).await.unwrap(), 1, "[{b}] counted afresh");
        assert_eq!(s.count_hit("preview:alice", 20_000, 30_000).await.unwrap(), 2, "[{b}] the later window kept");
    }
}

/// What the catalogue holds, as every reader sees it: each ad (key, time, RDO), the totals, each
/// key's recorded version, and the unreadable keys with their reasons.
async fn recorded_state(s: &dyn Database, keys: &[String]) -> String {
    let rows = search_all(s, &Query::All, 100).await;
    let ads: Vec<String> =
        rows.iter().map(|r| format!("{} {} {} {}", r.observation_id, r.rdo_key, r.observed_at, r.rdo)).collect();
    let totals = s.catalogue_totals(&Query::All).await.unwrap();
    let versions: BTreeMap<String, String> = s.object_versions(keys).await.unwrap().into_iter().collect();
    let unparseable = s.unparseable_objects().await.unwrap();
    format!("ads {ads:#?}\ntotals {totals:?}\nversions {versions:?}\nunparseable {unparseable:?}")
}

/// The indexer records a batch of outcomes with a few set-wise statements; the result must be
/// the same as recording them one at a time, whatever the batch holds: keys and ads repeated,
/// an ad moving between keys, withdrawn, removed and unreadable keys, in any order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_records_as_its_outcomes_one_by_one_on_every_backend() {
    use rand::{RngExt, SeedableRng};
    let keys: Vec<String> = (0..5).map(|k| format!("obs-{}/rdo/{k}/output.json", k % 2)).collect();
    let ads: Vec<String> = (0..4).map(|a| format!("1759583000000.ad{a}")).collect();
    let random_outcome = |rng: &mut rand_chacha::ChaCha8Rng, version: usize| {
        let key = &keys[rng.random_range(0..keys.len())];
        let ad = &ads[rng.random_range(0..ads.len())];
        let page = ["Solar Co", "Shoes"][rng.random_range(0..2)];
        let mut v = rdo("obs", ad, json!(1_759_583_000 + rng.random_range(0..3)), vec![candidate(page, &[])], &[]);
        let version = format!("v{version}");
        match rng.random_range(0..10) {
            0..=4 => outcome(key, &version, &v),
            5 | 6 => {
                v["is_user_disabled"] = json!(true);
                outcome(key, &version, &v)
            }
            7 => ObjectOutcome { key: key.clone(), version, kind: OutcomeKind::Unparseable(format!("bad {page}")) },
            _ => ObjectOutcome { key: key.clone(), version, kind: OutcomeKind::Removed },
        }
    };
    let forget_all: Vec<ObjectOutcome> = keys
        .iter()
        .map(|k| ObjectOutcome { key: k.clone(), version: String::new(), kind: OutcomeKind::Removed })
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xBA7C4);
    let cases: Vec<(Vec<ObjectOutcome>, Vec<ObjectOutcome>)> = (0..40)
        .map(|_| {
            let before = (0..rng.random_range(0..4)).map(|i| random_outcome(&mut rng, i)).collect();
            let batch = (0..rng.random_range(1..9)).map(|i| random_outcome(&mut rng, 10 + i)).collect();
            (before, batch)
        })
        .collect();
    for db in TestDatabase::all().await {
        let s = db.storage.as_ref();
        let b = s.backend();
        for (before, batch) in &cases {
            let mut states = Vec::new();
            for one_by_one in [false, true] {
                s.record_objects(&forget_all).await.unwrap();
                s.record_objects(before).await.unwrap();
                if one_by_one {
                    for o in batch {
                        s.record_objects(std::slice::from_ref(o)).await.unwrap();
                    }
                } else {
                    s.record_objects(batch).await.unwrap();
                }
                states.push(recorded_state(s, &keys).await);
            }
            assert_eq!(states[0], states[1], "[{b}] recorded as a batch (left) and one by one (right): {batch:#?}");
        }
        s.record_objects(&forget_all).await.unwrap();
        assert_eq!(s.catalogue_size().await.unwrap(), 0, "[{b}] removing every key empties the catalogue");
    }
}

/// Everything of the AAO's that `migrate` must leave as it was: every table, column, index,
/// constraint, trigger, function and type in `public`, and every row of every table.
async fn aao_catalog(url: &str) -> Vec<String> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let listings = [
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || \
         COALESCE(column_default, '-') FROM information_schema.columns WHERE table_schema = 'public'",
        "SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "SELECT conrelid::regclass::text || ' ' || conname || ': ' || pg_get_constraintdef(c.oid) FROM pg_constraint c \
         JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'",
        "SELECT tgrelid::regclass::text || ' ' || tgname::text FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = 'public'",
        "SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
        "SELECT t.typname || ' ' || COALESCE(string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder), '') FROM pg_type t \
         JOIN pg_namespace n ON n.oid = t.typnamespace LEFT JOIN pg_enum e ON e.enumtypid = t.oid \
         WHERE n.nspname = 'public' GROUP BY t.typname",
        "SELECT c.relname::text || ' ' || c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public'",
    ];
    let mut out = Vec::new();
    for listing in listings {
        out.extend(sqlx::query_scalar::<_, String>(listing).fetch_all(&mut c).await.unwrap());
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    for table in tables {
        let rows = format!("SELECT COALESCE(string_agg(t::text, '|' ORDER BY t::text), '') FROM public.{table} t");
        let rows: String = sqlx::query_scalar(sqlx::AssertSqlSafe(rows)).fetch_one(&mut c).await.unwrap();
        out.push(format!("rows of {table}: {rows}"));
    }
    out.sort();
    out
}

/// `migrate` on the AAO's database (its schema and rows, aao-contracts.md §2) creates only what
/// is ours, in our schema: the AAO's catalog and rows are the same before and after, twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attaching_leaves_the_aao_schema_as_it_was() {
    use aao_export_testkit::{AAO_SEED, AaoDatabase};
    let Some(aao) = AaoDatabase::new(&[AAO_SEED]).await else { return };
    let before = aao_catalog(&aao.url).await;
    assert!(before.iter().any(|l| l.starts_with("exports.object_location")), "the catalog lists the AAO's columns");
    assert!(before.iter().any(|l| l.starts_with("rows of users: ") && l.len() > 40), "and its rows");

    let storage = aao_export_db::connect(&aao.url).await.expect("attaches and migrates");
    assert_eq!(storage.backend(), "attached");
    let attached = storage.attached_to().expect("attached to the AAO's schema");
    assert!(attached.contains("revision a3e7c1d82f4b") && attached.contains("aao_export"), "{attached}");
    let after = aao_catalog(&aao.url).await;
    assert_eq!(before, after, "the AAO's schema and rows are untouched by migrate");
    storage.migrate().await.expect("migrating again");
    let again = aao_export_db::connect(&aao.url).await.expect("attaching again");
    again.migrate().await.unwrap();
    assert_eq!(before, aao_catalog(&aao.url).await, "running it twice changes nothing of the AAO's");

    // Ours is in our schema: the catalogue, our record of exports, the migrations we applied.
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&aao.url).await.unwrap();
    let ours: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'aao_export' ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    for table in ["_sqlx_migrations", "catalogue", "exports", "job_queue"] {
        assert!(ours.iter().any(|t| t == table), "aao_export.{table} in {ours:?}");
    }
    assert!(!ours.iter().any(|t| t == "observations"), "no table of ours takes the AAO's registry's name: {ours:?}");
}

/// Against an Alembic-managed database without what aao-export relies on, attaching is refused
/// with everything missing named, and nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrecognised_aao_schema_is_refused() {
    use aao_export_testkit::AaoDatabase;
    let older = "ALTER TABLE public.exports DROP COLUMN object_location; DROP TABLE public.shared_exports; \
                 ALTER TYPE public.exportstatus RENAME VALUE 'processing' TO 'running'";
    let Some(aao) = AaoDatabase::new(&[older]).await else { return };
    let before = aao_catalog(&aao.url).await;
    let refused = aao_export_db::connect(&aao.url).await.err().expect("refused");
    let message = refused.to_string();
    for missing in ["column public.exports.object_location", "table public.shared_exports", "label 'processing'"] {
        assert!(message.contains(missing), "the refusal names {missing}: {message}");
    }
    assert_eq!(before, aao_catalog(&aao.url).await, "nothing changed");
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&aao.url).await.unwrap();
    let schemas: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'aao_export'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(schemas, 0, "no schema of ours was created");

    // A schema name that cannot be used as it is is refused before anything is looked at.
    let Some(fine) = AaoDatabase::new(&[]).await else { return };
    let bad = aao_export_db::connect_in(&fine.url, "Robert'); DROP TABLE users;--").await.err().expect("refused");
    assert!(bad.to_string().contains("cannot hold our objects"), "{bad}");
    let good = aao_export_db::connect_in(&fine.url, "exports_service").await.expect("another schema name");
    assert!(good.attached_to().unwrap().contains("exports_service"));
}

/// Attached, exports carry the AAO's curation: attributes under the key its routes write
/// (`"{observer_id}_{timestamp}.{ad_id}"`) and under the bare ad id (older rows), the route's
/// winning where an attribute is under both; tags and classifications by ad id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aaos_curation_is_found_under_both_id_forms() {
    use aao_export_testkit::{AAO_SEED, AaoDatabase};
    const O1: &str = "48734387-5226-4e96-b97c-2d0747a99898";
    const A: &str = "e60b8866-daa0-40de-821b-80d8863db2b6";
    const B: &str = "9e9f8084-c684-4f19-ac07-969a68671b71";
    // A's "starred" under the bare id too (an older, different value): the route's row wins.
    let older = format!(
        "INSERT INTO public.ad_attributes VALUES ('{A}', 'starred', 'False', 1, 'someone', 2, 'someone'), \
         ('{A}', 'note', 'old', 3, 'someone', 4, 'someone')"
    );
    let Some(aao) = AaoDatabase::new(&[AAO_SEED, &older]).await else { return };
    let db = aao.attach().await;
    let s = db.storage.clone();
    let ad = |id: &str, ms: i64| {
        let uuid = format!("{ms}.{id}");
        outcome(&key(O1, &uuid), "v1", &rdo(O1, &uuid, json!(ms / 1000), vec![], &["text"]))
    };
    s.record_objects(&[ad(A, 1_759_583_019_000), ad(B, 1_759_669_421_000)]).await.unwrap();
    let got = s.curation(&[A.to_string(), B.to_string()]).await.unwrap();
    let attribute = |key: &str, value: &str, created: i64, by: &str, modified: i64| Attribute {
        key: key.into(),
        value: Some(value.into()),
        created_at: Some(created),
        created_by: Some(by.into()),
        modified_at: Some(modified),
        modified_by: Some(by.into()),
    };
    let alice = "c9a48a35-1413-4c60-962d-d57f4d4a6276";
    let admin = "016106ef-8425-4dd0-95f0-7ea51a3200c2";
    assert_eq!(
        got[A].attributes,
        vec![
            attribute("note", "old", 3, "someone", 4),
            attribute("starred", "True", 1_759_600_000, alice, 1_759_600_000)
        ],
        "A: starred under the route key, note under the bare id"
    );
    assert_eq!(got[A].tags, vec!["finance".to_string(), "political".into()], "A's tags by name");
    let labels: Vec<&str> = got[A].classifications.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["Education", "Financial services"], "A's classifications");
    assert_eq!(
        got[B].attributes,
        vec![attribute("hidden", "True", 1_759_700_000, admin, 1_759_700_500)],
        "B: hidden under the bare id"
    );
}

/// What the test expects the catalogue to hold, by observation id.
#[derive(Debug, Clone)]
struct Ad {
    observer: String,
    observed_at: f64,
    key: String,
    text: String,
    rdo: Value,
}

type Model = BTreeMap<String, Ad>;

const OBSERVER_1: &str = "48734387-5226-4e96-b97c-2d0747a99898";
const OBSERVER_2: &str = "48734387-aaaa-4e96-b97c-000000000001";
const OBSERVER_3: &str = "A1B2C3D4-0000-4000-8000-00000000000a";

fn key(observer: &str, observation_uuid: &str) -> String {
    format!("{observer}/rdo/{observation_uuid}/output.json")
}

/// Records an RDO as indexed at its usual key and notes it in the model.
fn indexed(
    model: &mut Model,
    id: &str,
    observer: &str,
    observed_at: f64,
    candidates: Vec<Value>,
    ocr: &[&str],
) -> ObjectOutcome {
    let ms = (observed_at * 1000.0).round() as i64;
    let uuid = format!("{ms}.{id}");
    let value = rdo(observer, &uuid, json!(observed_at), candidates, ocr);
    indexed_at(model, &key(observer, &uuid), "v1", id, value)
}

fn indexed_at(model: &mut Model, key: &str, version: &str, id: &str, value: Value) -> ObjectOutcome {
    let o = outcome(key, version, &value);
    let OutcomeKind::Indexed(entry, text) = &o.kind else { panic!("{key} should be indexable: {:?}", o.kind) };
    assert_eq!(entry.observation_id, id);
    model.insert(
        id.to_string(),
        Ad {
            observer: entry.observer_id.clone(),
            observed_at: entry.observed_at,
            key: key.to_string(),
            text: text.clone(),
            rdo: value.clone(),
        },
    );
    o
}

fn expected_order(model: &Model, keep: impl Fn(&str, &Ad) -> bool) -> Vec<String> {
    let mut v: Vec<(f64, String)> =
        model.iter().filter(|(id, ad)| keep(id, ad)).map(|(id, ad)| (ad.observed_at, id.clone())).collect();
    v.sort_by(newest_first);
    v.into_iter().map(|(_, id)| id).collect()
}

/// The whole catalogue, paged three at a time, is exactly the model, newest first, row by row.
async fn check_catalogue(s: &dyn Database, model: &Model, step: &str) {
    let b = s.backend();
    assert_eq!(s.catalogue_size().await.unwrap(), model.len() as u64, "[{b}] {step}: catalogue_size");
    assert_eq!(s.count_matching(&Query::All).await.unwrap(), model.len() as u64, "[{b}] {step}: count_matching(ALL)");
    let rows = search_all(s, &Query::All, 3).await;
    assert_eq!(ids(&rows), expected_order(model, |_, _| true), "[{b}] {step}: ALL paged by 3, newest first");
    for row in &rows {
        let ad = &model[&row.observation_id];
        assert_eq!(row.observer_id, ad.observer, "[{b}] {step}: observer of {}", row.observation_id);
        assert_eq!(row.observed_at, ad.observed_at, "[{b}] {step}: observed_at of {}", row.observation_id);
        assert_eq!(row.rdo_key, ad.key, "[{b}] {step}: rdo_key of {}", row.observation_id);
        assert_eq!(row.rdo, ad.text, "[{b}] {step}: rdo text of {}", row.observation_id);
    }
}

/// `query` finds exactly the model's ads that `keep` accepts, newest first, whatever the page size.
async fn check_search(s: &dyn Database, model: &Model, query: Value, keep: impl Fn(&str, &Ad) -> bool) {
    let b = s.backend();
    let parsed = Query::from_json(&query).unwrap();
    let expected = expected_order(model, keep);
    assert!(
        !expected.is_empty() && expected.len() < model.len(),
        "the story's query {query} should select some ads, not all"
    );
    assert_eq!(s.count_matching(&parsed).await.unwrap(), expected.len() as u64, "[{b}] count_matching({query})");
    for page_size in [1, 3, 1000] {
        let got = ids(&search_all(s, &parsed, page_size).await);
        assert_eq!(got, expected, "[{b}] {query} paged by {page_size}");
    }
}

fn page_names(ad: &Ad) -> Vec<String> {
    ad.rdo["enrichment"]["meta_adlibrary_scrape"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["data"]["page_name"].as_str().unwrap().to_lowercase())
        .collect()
}

async fn story(s: Arc<dyn Database>) {
    let s = &*s;
    let fields = the_field_catalogue_is_seeded_in_the_shipped_order(s).await;
    let ad1_curation = curation_is_replaced_per_ad(s).await;
    let mut model = Model::new();
    the_catalogue_records_what_the_indexer_found(s, &mut model).await;
    search_finds_every_match_once_newest_first(s, &mut model).await;
    migrating_again_leaves_the_data_alone(s, &model, &fields, &ad1_curation).await;
}

/// The exportable field catalogue is seeded by migrating, in the shipped order.
async fn the_field_catalogue_is_seeded_in_the_shipped_order(s: &dyn Database) -> Vec<ExportableField> {
    let b = s.backend();
    let fields = s.exportable_fields().await.unwrap();
    assert_eq!(fields.len(), 45, "[{b}] 45 exportable fields");
    assert_eq!(fields.iter().filter(|f| f.is_default).count(), 13, "[{b}] 13 default fields");
    assert_eq!(
        fields.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
        SEED.iter().map(|f| f.1).collect::<Vec<_>>(),
        "[{b}] catalogue order is the SEED order"
    );
    for f in &fields {
        assert_eq!(f.field_id, field_id(&f.path), "[{b}] field_id of {} is the stable one", f.path);
    }
    assert_eq!(fields, seed_fields(), "[{b}] every column of every field as shipped");
    s.migrate().await.unwrap_or_else(|e| panic!("[{b}] migrating again: {e}"));
    assert_eq!(s.exportable_fields().await.unwrap(), fields, "[{b}] migrating again changes no field");
    fields
}

/// Curation: tags by name, attributes, classifications; replaced per ad. Returns ad-1's curation as it ends.
async fn curation_is_replaced_per_ad(s: &dyn Database) -> Curation {
    let b = s.backend();
    let user = |id: &str, role: &str, email: Option<&str>| User {
        id: id.into(),
        full_name: format!("User {id}"),
        enabled: true,
        role: role.into(),
        primary_email: email.map(str::to_string),
    };
    s.put_users(&[user("u1", "admin", Some("u1@example.org")), user("u2", "guest", None)]).await.unwrap();
    s.put_users(&[User { enabled: false, ..user("u2", "user", Some("u2@example.org")) }]).await.unwrap();
    let tag =
        |id: &str, name: &str| Tag { id: id.into(), name: name.into(), description: None, hex: Some("#ff0000".into()) };
    s.put_tags(&[tag("t1", "Zeta"), tag("t2", "alpha"), tag("t3", "Beta"), tag("t4", "Électoral")]).await.unwrap();
    // Tags are upserted: a renamed tag shows its new name.
    s.put_tags(&[tag("t1", "Zeta (renamed)")]).await.unwrap();

    let attribute = |key: &str, value: Option<&str>, at: Option<i64>, by: Option<&str>| Attribute {
        key: key.into(),
        value: value.map(str::to_string),
        created_at: at,
        created_by: by.map(str::to_string),
        modified_at: at.map(|t| t + 1),
        modified_by: by.map(str::to_string),
    };
    let class = |label: &str, score: f64| Classification { label: label.into(), score };
    // An attribute with nothing recorded but its key; the AAO's columns take no NULL, so there
    // it is an unstarred one.
    let bare_starred = if b == "attached" {
        attribute("starred", Some("False"), Some(1_759_583_021), Some("u1"))
    } else {
        attribute("starred", None, None, None)
    };
    s.put_curation(&[
        CurationRecord {
            observation_id: "ad-1".into(),
            tag_ids: vec!["t1".into(), "t2".into(), "t4".into(), "t3".into()],
            attributes: vec![
                attribute("starred", Some("true"), Some(1_759_583_019), Some("u1")),
                attribute("hidden", Some("false"), Some(1_759_583_020), Some("u2")),
            ],
            classifications: vec![class("political", 0.9), class("commercial", 0.25), class("political", 0.125)],
        },
        CurationRecord {
            observation_id: "ad-2".into(),
            tag_ids: vec!["t2".into()],
            attributes: vec![bare_starred.clone()],
            classifications: vec![],
        },
    ])
    .await
    .unwrap();
    let wanted = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let got = s.curation(&wanted(&["ad-1", "ad-2", "ad-3"])).await.unwrap();
    let mut tag_names = vec!["Zeta (renamed)".to_string(), "alpha".into(), "Beta".into(), "Électoral".into()];
    tag_names.sort();
    let ad1 = Curation {
        tags: tag_names,
        attributes: vec![
            attribute("hidden", Some("false"), Some(1_759_583_020), Some("u2")),
            attribute("starred", Some("true"), Some(1_759_583_019), Some("u1")),
        ],
        classifications: vec![class("commercial", 0.25), class("political", 0.125), class("political", 0.9)],
    };
    let ad2 = Curation { tags: vec!["alpha".into()], attributes: vec![bare_starred.clone()], classifications: vec![] };
    assert_eq!(
        got,
        HashMap::from([("ad-1".to_string(), ad1.clone()), ("ad-2".to_string(), ad2.clone())]),
        "[{b}] curation of ad-1, ad-2 (sorted tag names, attributes by key, classifications by label), none for ad-3"
    );
    assert!(s.curation(&[]).await.unwrap().is_empty(), "[{b}] curation of no ids");
    // More ids than one IN list holds: the ad deep in the list is still found, and nothing else.
    let mut many: Vec<String> = (0..2500).map(|i| format!("absent-{i}")).collect();
    many[1700] = "ad-1".into();
    let got = s.curation(&many).await.unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), vec!["ad-1"], "[{b}] curation over 2500 ids");
    assert_eq!(got["ad-1"], ad1, "[{b}] curation over 2500 ids");

    // put_curation replaces what an ad had; other ads keep theirs.
    let ad1_new = CurationRecord {
        observation_id: "ad-1".into(),
        tag_ids: vec!["t3".into()],
        attributes: vec![],
        classifications: vec![class("other", 0.5)],
    };
    s.put_curation(&[ad1_new]).await.unwrap();
    let got = s.curation(&wanted(&["ad-1", "ad-2"])).await.unwrap();
    let ad1_replaced =
        Curation { tags: vec!["Beta".into()], attributes: vec![], classifications: vec![class("other", 0.5)] };
    assert_eq!(got.get("ad-1"), Some(&ad1_replaced), "[{b}] ad-1's curation was replaced, not added to");
    assert_eq!(got.get("ad-2"), Some(&ad2), "[{b}] ad-2's curation is untouched");
    s.put_curation(&[CurationRecord { observation_id: "ad-2".into(), ..Default::default() }]).await.unwrap();
    let got = s.curation(&wanted(&["ad-1", "ad-2"])).await.unwrap();
    assert!(!got.contains_key("ad-2"), "[{b}] ad-2's curation was cleared: {got:?}");
    ad1_replaced
}

/// The catalogue: what the indexer records.
async fn the_catalogue_records_what_the_indexer_found(s: &dyn Database, model: &mut Model) {
    let b = s.backend();
    check_catalogue(s, model, "empty catalogue").await;

    let a = indexed(
        model,
        "aaaa0001-0000-4000-8000-000000000001",
        OBSERVER_1,
        1_759_583_019.0,
        vec![candidate("Raiz Invest", &["UNKNOWN"])],
        &["Raiz"],
    );
    let key_a = a.key.clone();
    let b_ad = indexed(
        model,
        "bbbb0002-0000-4000-8000-000000000002",
        OBSERVER_2,
        1_759_583_030.5,
        vec![candidate("COLES", &["HOUSING"])],
        &["Down Down"],
    );
    let key_b = b_ad.key.clone();
    let withdrawn_rdo = {
        let mut v =
            rdo(OBSERVER_3, "1759583040000.cccc0003-0000-4000-8000-000000000003", json!(1_759_583_040), vec![], &["x"]);
        v["is_user_disabled"] = json!(true);
        v
    };
    let key_c = key(OBSERVER_3, "1759583040000.cccc0003-0000-4000-8000-000000000003");
    let c = outcome(&key_c, "v1", &withdrawn_rdo);
    assert!(
        matches!(&c.kind, OutcomeKind::Withdrawn { observation_id: Some(id) } if id == "cccc0003-0000-4000-8000-000000000003")
    );
    let key_bad = format!("{OBSERVER_1}/rdo/1759583050000.broken/output.json");
    let bad = ObjectOutcome {
        key: key_bad.clone(),
        version: "v1".into(),
        kind: OutcomeKind::Unparseable("the RDO is not valid JSON: EOF while parsing".into()),
    };
    let key_bad2 = format!("{OBSERVER_1}/rdo/1759583051000.no-observer/output.json");
    let mut no_observer = rdo(OBSERVER_1, "1759583051000.no-observer", json!(1_759_583_051), vec![], &[]);
    no_observer.as_object_mut().unwrap().remove("observer");
    let bad2 = outcome(&key_bad2, "etag-\"x\"", &no_observer);
    assert_eq!(bad2.kind, OutcomeKind::Unparseable("the RDO has no \"observer.uuid\" string".into()));
    s.record_objects(&[a, b_ad, c, bad, bad2]).await.unwrap();
    check_catalogue(s, model, "after the first batch").await;

    let versions = s
        .object_versions(&[
            key_a.clone(),
            key_b.clone(),
            key_c.clone(),
            key_bad.clone(),
            key_bad2.clone(),
            "never/seen.json".into(),
        ])
        .await
        .unwrap();
    let expected_versions = HashMap::from([
        (key_a.clone(), "v1".to_string()),
        (key_b.clone(), "v1".to_string()),
        (key_c.clone(), "v1".to_string()),
        (key_bad.clone(), "v1".to_string()),
        (key_bad2.clone(), "etag-\"x\"".to_string()),
    ]);
    assert_eq!(versions, expected_versions, "[{b}] object_versions: recorded keys only, whatever their outcome");
    assert!(s.object_versions(&[]).await.unwrap().is_empty(), "[{b}] object_versions of no keys");
    let mut recorded_keys = vec![key_a.clone(), key_b.clone(), key_c.clone(), key_bad.clone(), key_bad2.clone()];
    recorded_keys.sort();
    let first_three = s.object_keys(None, 3).await.unwrap();
    let the_rest = s.object_keys(first_three.last().map(String::as_str), 3).await.unwrap();
    let mut paged = [first_three, the_rest].concat();
    let pages_held = paged.len();
    paged.sort();
    paged.dedup();
    assert_eq!((paged, pages_held), (recorded_keys, 5), "[{b}] object_keys page by page: every recorded key once");
    let many_keys: Vec<String> = (0..2100).map(|i| if i == 2050 { key_b.clone() } else { format!("k{i}") }).collect();
    assert_eq!(
        s.object_versions(&many_keys).await.unwrap(),
        HashMap::from([(key_b.clone(), "v1".to_string())]),
        "[{b}] object_versions over 2100 keys"
    );
    assert_eq!(
        s.unparseable_objects().await.unwrap(),
        vec![
            (key_bad.clone(), "the RDO is not valid JSON: EOF while parsing".to_string()),
            (key_bad2.clone(), "the RDO has no \"observer.uuid\" string".to_string()),
        ],
        "[{b}] unparseable objects, by key, with the reason"
    );

    // A participant withdraws: their already indexed ad leaves the catalogue.
    let mut a_withdrawn = model["aaaa0001-0000-4000-8000-000000000001"].rdo.clone();
    a_withdrawn["is_user_disabled"] = json!(true);
    let w = outcome(&key_a, "v2", &a_withdrawn);
    assert!(matches!(w.kind, OutcomeKind::Withdrawn { .. }));
    s.record_objects(&[w]).await.unwrap();
    let a_ad = model.remove("aaaa0001-0000-4000-8000-000000000001").unwrap();
    check_catalogue(s, model, "after A was withdrawn").await;
    assert_eq!(
        s.object_versions(std::slice::from_ref(&key_a)).await.unwrap()[&key_a],
        "v2",
        "[{b}] the withdrawal's version is recorded"
    );

    // The participant comes back: the same key indexes the ad again.
    let mut a_back = a_ad.rdo.clone();
    a_back["observation"]["platform"] = json!("FACEBOOK");
    let back = indexed_at(model, &key_a, "v3", "aaaa0001-0000-4000-8000-000000000001", a_back);
    s.record_objects(&[back]).await.unwrap();
    check_catalogue(s, model, "after A came back").await;

    // A changed RDO at the same key updates the row (time, page name, text).
    let b_id = "bbbb0002-0000-4000-8000-000000000002";
    let mut b_changed = model[b_id].rdo.clone();
    b_changed["observation"]["observed_on_device_at"] = json!(1_759_583_031.25);
    b_changed["enrichment"]["meta_adlibrary_scrape"]["candidates"] =
        json!([candidate("Coles Supermarkets", &["HOUSING"])]);
    let changed = indexed_at(model, &key_b, "v2", b_id, b_changed);
    s.record_objects(&[changed]).await.unwrap();
    check_catalogue(s, model, "after B's RDO changed").await;
    let supermarkets = Query::from_json(&json!({"method": "PAGE_NAME_CONTAINS", "args": ["SUPERMARKETS"]})).unwrap();
    assert_eq!(ids(&search_all(s, &supermarkets, 10).await), vec![b_id], "[{b}] B's new page name is searchable");
    let old_name = Query::from_json(&json!({"method": "PAGE_NAME_CONTAINS", "args": ["coles"]})).unwrap();
    assert_eq!(ids(&search_all(s, &old_name, 10).await), vec![b_id], "[{b}] 'coles' is in 'Coles Supermarkets'");
    let down = Query::from_json(&json!({"method": "ANYTHING_CONTAINS", "args": ["down down"]})).unwrap();
    assert_eq!(ids(&search_all(s, &down, 10).await), vec![b_id], "[{b}] B's OCR text is still searchable");

    // The key now holds another ad: the old row goes, the new one comes.
    let d_id = "dddd0004-0000-4000-8000-000000000004";
    let d_rdo = rdo(
        OBSERVER_2,
        &format!("1759583060000.{d_id}"),
        json!(1_759_583_060),
        vec![candidate("Woolworths", &["UNKNOWN"])],
        &[],
    );
    let d = indexed_at(model, &key_b, "v3", d_id, d_rdo);
    model.remove(b_id);
    s.record_objects(&[d])
        .await
        .unwrap_or_else(|e| panic!("[{b}] recording another ad at a key that held B failed: {e}"));
    check_catalogue(s, model, "after B's key came to hold D").await;

    // An object that was unparseable becomes a good RDO; a good one becomes unparseable.
    let e_id = "eeee0005-0000-4000-8000-000000000005";
    let e = indexed_at(
        model,
        &key_bad,
        "v2",
        e_id,
        rdo(OBSERVER_1, &format!("1759583050000.{e_id}"), json!(1_759_583_050), vec![], &[]),
    );
    let f_id = "ffff0006-0000-4000-8000-000000000006";
    let key_f = key(OBSERVER_3, &format!("1759583070000.{f_id}"));
    let f = indexed_at(
        model,
        &key_f,
        "v1",
        f_id,
        rdo(OBSERVER_3, &format!("1759583070000.{f_id}"), json!(1_759_583_070), vec![], &[]),
    );
    s.record_objects(&[e, f]).await.unwrap();
    check_catalogue(s, model, "after E and F were indexed").await;
    s.record_objects(&[ObjectOutcome {
        key: key_f.clone(),
        version: "v2".into(),
        kind: OutcomeKind::Unparseable("the RDO is not a JSON object".into()),
    }])
    .await
    .unwrap();
    model.remove(f_id);
    check_catalogue(s, model, "after F's object became unparseable").await;
    assert_eq!(
        s.unparseable_objects().await.unwrap(),
        vec![
            (key_bad2.clone(), "the RDO has no \"observer.uuid\" string".to_string()),
            (key_f.clone(), "the RDO is not a JSON object".to_string()),
        ],
        "[{b}] unparseable objects after E was fixed and F broke"
    );
}

/// Search: every match exactly once, newest first, ties broken by observation_id.
async fn search_finds_every_match_once_newest_first(s: &dyn Database, model: &mut Model) {
    // Several ads share an observed_at (some fractional), ids differ only in case or order, and
    // one is an old-layout ad whose observation.uuid has no timestamp.
    let t = 1_759_583_019.0;
    let batch = vec![
        indexed(
            model,
            "c3f0a1b2-0000-4000-8000-000000000010",
            OBSERVER_1,
            t,
            vec![candidate("COLES", &["UNKNOWN"])],
            &["Fresh"],
        ),
        indexed(model, "C3F0A1B2-0000-4000-8000-000000000010", OBSERVER_2, t, vec![], &["FRESH"]),
        indexed(
            model,
            "b7000000-0000-4000-8000-000000000011",
            OBSERVER_3,
            t,
            vec![candidate("Raiz Invest", &["POLITICAL"])],
            &[],
        ),
        indexed(model, "e60b8866-daa0-40de-821b-80d8863db2b6", OBSERVER_1, t, vec![], &[]),
        indexed(model, "0a000000-0000-4000-8000-000000000012", OBSERVER_2, t + 0.5, vec![candidate("coles", &[])], &[]),
        indexed(model, "0b000000-0000-4000-8000-000000000013", OBSERVER_2, t + 0.5, vec![], &[]),
        indexed(model, "f0000000-0000-4000-8000-000000000014", OBSERVER_3, t - 1.0, vec![], &[]),
        indexed(
            model,
            "f0000000-0000-4000-8000-000000000015",
            OBSERVER_3,
            t - 1.0,
            vec![candidate("Électricité Verte", &["HOUSING"])],
            &[],
        ),
        indexed(model, "F0000000-0000-4000-8000-000000000016", OBSERVER_1, t - 1.0, vec![], &[]),
        indexed(model, "10000000-0000-4000-8000-000000000017", OBSERVER_1, t + 0.25, vec![], &[]),
        indexed(
            model,
            "20000000-0000-4000-8000-000000000018",
            OBSERVER_2,
            t + 100.0,
            vec![candidate("COLES", &["UNKNOWN"])],
            &[],
        ),
    ];
    s.record_objects(&batch).await.unwrap();
    let old_id = "a0000000-0000-4000-8000-00000000001f";
    let old = indexed_at(
        model,
        &format!("{OBSERVER_1}/rdo/{old_id}/output.json"),
        "v1",
        old_id,
        rdo(OBSERVER_1, old_id, json!(t), vec![], &["old layout"]),
    );
    s.record_objects(&[old]).await.unwrap();
    check_catalogue(s, model, "after the search batch").await;

    // The ties really are ties: 6 ads at t (with E60B8866... and the old-layout one).
    assert_eq!(model.values().filter(|ad| ad.observed_at == t).count(), 6, "story setup");

    let coles = |_: &str, ad: &Ad| page_names(ad).iter().any(|p| p.contains("coles"));
    check_search(s, model, json!({"method": "PAGE_NAME_CONTAINS", "args": ["Coles"]}), coles).await;
    // A top-level OR: every page must continue after the cursor for every branch.
    check_search(
        s,
        model,
        json!({"method": "OR", "args": [
            {"method": "PAGE_NAME_CONTAINS", "args": ["coles"]},
            {"method": "OBSERVER_ID_EQUALS", "args": [OBSERVER_3]}
        ]}),
        |id, ad| coles(id, ad) || ad.observer == OBSERVER_3,
    )
    .await;
    check_search(
        s,
        model,
        json!({"method": "AND", "args": [
            {"method": "DATETIME_AFTER", "args": ["1759583019000"]},
            {"method": "DATETIME_BEFORE", "args": ["1759583019500"]},
            {"method": "NOT", "args": [{"method": "OBSERVER_ID_CONTAINS", "args": ["48734387"]}]}
        ]}),
        |_, ad| {
            ad.observed_at >= 1_759_583_019.0 && ad.observed_at <= 1_759_583_019.5 && !ad.observer.contains("48734387")
        },
    )
    .await;
    check_search(s, model, json!({"method": "ANYTHING_CONTAINS", "args": ["fresh", "OLD LAYOUT"]}), |_, ad| {
        ad.text.to_lowercase().contains("fresh") || ad.text.contains("old layout")
    })
    .await;
}

/// Migrating again leaves the data alone.
async fn migrating_again_leaves_the_data_alone(
    s: &dyn Database,
    model: &Model,
    fields: &[ExportableField],
    ad1_curation: &Curation,
) {
    let b = s.backend();
    let wanted = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    s.migrate().await.unwrap();
    check_catalogue(s, model, "after migrating again").await;
    assert_eq!(s.exportable_fields().await.unwrap(), *fields, "[{b}] fields after migrating again");
    assert_eq!(
        s.curation(&wanted(&["ad-1"])).await.unwrap().get("ad-1"),
        Some(ad1_curation),
        "[{b}] curation after migrating again"
    );
}
