//! The SQL compilation of queries agrees with an independent in-memory evaluator of the same
//! query on generated RDOs: a property test over random queries, on every backend, plus
//! hand-written cases that pin the tricky semantics of aao-contracts.md §3.
//!
//! The evaluator below reads the RDO JSON directly; it shares no code with the crate's `Query`,
//! catalogue or SQL compiler, so a mistake in either shows up as a disagreement.

use crate::common;

use aao_export_core::query::Query;
use aao_export_db::{Database, ObjectOutcome, OutcomeKind};
use aao_export_testkit::TestDatabase;
use common::{candidate, ids, newest_first, outcome, rdo, try_search_all};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// The independent evaluator: aao-contracts.md §3, applied to the RDO as JSON.
// ---------------------------------------------------------------------------------------------

/// Whether `query` (the raw JSON a user sends) matches the RDO.
fn matches(query: &Value, rdo: &Value) -> bool {
    let method = query["method"].as_str().expect("a query has a method");
    let args: &[Value] = query.get("args").and_then(Value::as_array).map_or(&[], Vec::as_slice);
    let strings = || args.iter().map(|a| a.as_str().expect("a string argument"));
    match method {
        "AND" => args.iter().all(|a| matches(a, rdo)),
        "OR" => args.iter().any(|a| matches(a, rdo)),
        "NOT" => !matches(&args[0], rdo),
        "ALL" => true,
        "DATETIME_AFTER" => observed_on_device_at(rdo) >= epoch_ms(&args[0]) as f64 / 1000.0,
        "DATETIME_BEFORE" => observed_on_device_at(rdo) <= epoch_ms(&args[0]) as f64 / 1000.0,
        "OBSERVER_ID_CONTAINS" => {
            let uuid = rdo["observer"]["uuid"].as_str().unwrap();
            strings().any(|a| uuid.contains(a))
        }
        "OBSERVER_ID_EQUALS" => {
            let uuid = rdo["observer"]["uuid"].as_str().unwrap();
            strings().any(|a| uuid == a)
        }
        "OBSERVATION_ID_CONTAINS" => {
            let uuid = rdo["observation"]["uuid"].as_str().unwrap();
            strings().any(|a| uuid.contains(a))
        }
        "PAGE_NAME_CONTAINS" => {
            let names: Vec<&str> = candidate_data(rdo).filter_map(|d| d.get("page_name")?.as_str()).collect();
            strings().any(|a| names.iter().any(|n| contains_ignoring_case(n, a)))
        }
        "CATEGORIES_CONTAINS" => {
            let categories: Vec<&str> = candidate_data(rdo)
                .filter_map(|d| d.get("categories")?.as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            strings().any(|a| categories.iter().any(|c| contains_ignoring_case(c, a)))
        }
        "ANYTHING_CONTAINS" => {
            let mut texts = Vec::new();
            string_values(rdo, &mut texts);
            strings().any(|a| texts.iter().any(|t| contains_ignoring_case(t, a)))
        }
        other => panic!("the generator made an unknown method {other}"),
    }
}

fn observed_on_device_at(rdo: &Value) -> f64 {
    rdo["observation"]["observed_on_device_at"].as_f64().expect("observed_on_device_at is a number")
}

fn epoch_ms(arg: &Value) -> i64 {
    arg.as_str().unwrap().parse().expect("epoch milliseconds")
}

fn contains_ignoring_case(text: &str, phrase: &str) -> bool {
    text.to_lowercase().contains(&phrase.to_lowercase())
}

/// `data` of every `enrichment.meta_adlibrary_scrape.candidates[]` entry.
fn candidate_data(rdo: &Value) -> impl Iterator<Item = &serde_json::Map<String, Value>> {
    rdo.pointer("/enrichment/meta_adlibrary_scrape/candidates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("data")?.as_object())
}

/// Every string value in the RDO (values only, never keys).
fn string_values<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| string_values(v, out)),
        Value::Object(map) => map.values().for_each(|v| string_values(v, out)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Generated RDOs.
// ---------------------------------------------------------------------------------------------

const T0: i64 = 1_759_583_000;
const TIME_SPAN: i64 = 40;

const OBSERVERS: &[&str] = &[
    "48734387-5226-4e96-b97c-2d0747a99898",
    "48734387-aaaa-4e96-b97c-000000000001",
    "4873abcd-1111-4222-8333-444455556666",
    "A1B2C3D4-0000-4000-8000-00000000000a",
    "a1b2c3d4-0000-4000-8000-00000000000b",
];

const PAGE_NAMES: &[&str] = &[
    "Raiz Invest",
    "RAIZ INVEST Australia",
    "COLES",
    "Coles Supermarkets",
    "100% Pure_Fun",
    "100 Pure Fun",
    "Électricité Verte",
    "électricité VERTE",
    "a\\b",
    "ab",
    "Straße & Söhne",
    "İstanbul Tours",
];

const CATEGORIES: &[&str] = &["POLITICAL", "UNKNOWN", "HOUSING", "EMPLOYMENT", "Credit_Card%"];

const OCR_TEXTS: &[&str] = &[
    "Spare change? Invest it",
    "SPARE\nCHANGE",
    "50% off_today",
    "100%",
    "back\\slash",
    "Down Down",
    "Paid for by Raiz Invest Australia Limited",
    "e_f",
    "eXf",
    "Tab\there",
    "naïve CAFÉ",
];

const PLATFORMS: &[&str] = &["FACEBOOK", "INSTAGRAM", "TIKTOK", "YOUTUBE"];

/// One generated ad: its id, whether it is withdrawn, and the RDO.
#[derive(Clone)]
struct GeneratedAd {
    observation_id: String,
    withdrawn: bool,
    rdo: Value,
}

fn pick<'a>(rng: &mut ChaCha8Rng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

fn hex(rng: &mut ChaCha8Rng, n: usize, upper: bool) -> String {
    (0..n)
        .map(|_| {
            let c = char::from_digit(rng.random_range(0..16u32), 16).unwrap();
            if upper { c.to_ascii_uppercase() } else { c }
        })
        .collect()
}

fn generate_ads(n: usize, seed: u64) -> Vec<GeneratedAd> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let upper = rng.random_bool(0.1);
            let observation_id = format!(
                "{}-{}-4{}-8{}-{}",
                hex(&mut rng, 8, upper),
                hex(&mut rng, 4, upper),
                hex(&mut rng, 3, upper),
                hex(&mut rng, 3, upper),
                hex(&mut rng, 12, upper)
            );
            let observer = pick(&mut rng, OBSERVERS);
            // Few distinct seconds, so many ads share an observed_at; some are fractional.
            let second = T0 + rng.random_range(0..=TIME_SPAN);
            let observed: Value = match rng.random_range(0..10) {
                0 => json!(second as f64 + [0.5, 0.25, 0.125, 0.001][rng.random_range(0..4)]),
                1 => json!(second as f64), // an integral float, `1759583019.0`
                _ => json!(second),
            };
            let ms = (observed.as_f64().unwrap() * 1000.0).round() as i64;
            let observation_uuid = if i % 25 == 7 { observation_id.clone() } else { format!("{ms}.{observation_id}") };
            let candidates: Vec<Value> = (0..rng.random_range(0..=3))
                .map(|_| {
                    let categories: Vec<&str> =
                        (0..rng.random_range(0..=2)).map(|_| pick(&mut rng, CATEGORIES)).collect();
                    let mut c = candidate(pick(&mut rng, PAGE_NAMES), &categories);
                    c["data"]["currency"] = json!(if rng.random_bool(0.5) { "AUD" } else { "" });
                    if rng.random_bool(0.3) {
                        c["data"]["spend"] = json!("$100-$199");
                    }
                    c
                })
                .collect();
            let ocr: Vec<&str> = (0..rng.random_range(0..=3)).map(|_| pick(&mut rng, OCR_TEXTS)).collect();
            let mut value = rdo(observer, &observation_uuid, observed, candidates, &ocr);
            value["observation"]["platform"] = json!(pick(&mut rng, PLATFORMS));
            if i % 40 == 3 {
                // Some ads were never enriched at all.
                value.as_object_mut().unwrap().remove("enrichment");
            }
            let withdrawn = rng.random_bool(0.04);
            if withdrawn {
                value["is_user_disabled"] = json!(true);
            }
            GeneratedAd { observation_id, withdrawn, rdo: value }
        })
        .collect()
}

fn outcomes(ads: &[GeneratedAd]) -> Vec<ObjectOutcome> {
    ads.iter()
        .map(|ad| {
            let observer = ad.rdo["observer"]["uuid"].as_str().unwrap();
            let uuid = ad.rdo["observation"]["uuid"].as_str().unwrap();
            let o = outcome(&format!("{observer}/rdo/{uuid}/output.json"), "v1", &ad.rdo);
            match &o.kind {
                OutcomeKind::Indexed(e, _) => assert!(!ad.withdrawn && e.observation_id == ad.observation_id),
                OutcomeKind::Withdrawn { observation_id } => {
                    assert!(ad.withdrawn && observation_id.as_deref() == Some(ad.observation_id.as_str()))
                }
                OutcomeKind::Unparseable(reason) => panic!("a generated RDO is unparseable: {reason}"),
                OutcomeKind::Removed => panic!("the indexer never removes a generated RDO"),
            }
            o
        })
        .collect()
}

/// The evaluator's answer: matching, exportable ads, newest first.
fn expected_ids(query: &Value, ads: &[GeneratedAd]) -> Vec<String> {
    let mut hits: Vec<(f64, String)> = ads
        .iter()
        .filter(|ad| !ad.withdrawn && matches(query, &ad.rdo))
        .map(|ad| (observed_on_device_at(&ad.rdo), ad.observation_id.clone()))
        .collect();
    hits.sort_by(newest_first);
    hits.into_iter().map(|(_, id)| id).collect()
}

async fn try_storage_ids(storage: &dyn Database, query: &Query, page_size: u32) -> Result<(u64, Vec<String>), String> {
    let count = storage
        .count_matching(query)
        .await
        .map_err(|e| format!("[{}] count_matching({query:?}) failed: {e}", storage.backend()))?;
    Ok((count, ids(&try_search_all(storage, query, page_size).await?)))
}

async fn storage_ids(storage: &dyn Database, query: &Query, page_size: u32) -> (u64, Vec<String>) {
    try_storage_ids(storage, query, page_size).await.unwrap_or_else(|e| panic!("{e}"))
}

/// How the database's ids differ from the evaluator's, briefly.
fn difference(database: &[String], evaluator: &[String]) -> String {
    let extra: Vec<&String> = database.iter().filter(|id| !evaluator.contains(id)).take(5).collect();
    let missing: Vec<&String> = evaluator.iter().filter(|id| !database.contains(id)).take(5).collect();
    if extra.is_empty() && missing.is_empty() {
        let at = database.iter().zip(evaluator).position(|(a, b)| a != b);
        return format!(
            "same {} ads but in another order{}: database {:?}, evaluator {:?}",
            database.len(),
            at.map_or(String::new(), |i| format!(" from position {i}")),
            database.iter().skip(at.unwrap_or(0)).take(4).collect::<Vec<_>>(),
            evaluator.iter().skip(at.unwrap_or(0)).take(4).collect::<Vec<_>>()
        );
    }
    format!(
        "the database found {} ads, the evaluator {}; found but not matching (first 5): {extra:?}; matching but not found (first 5): {missing:?}",
        database.len(),
        evaluator.len()
    )
}

// ---------------------------------------------------------------------------------------------
// Generated queries.
// ---------------------------------------------------------------------------------------------

/// A query as JSON, shown as JSON when proptest reports it.
#[derive(Clone)]
struct JsonQuery(Value);

impl fmt::Debug for JsonQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A phrase drawn from `vocabulary`: whole or a piece of it, in its case or another.
fn phrase(vocabulary: Vec<String>) -> BoxedStrategy<String> {
    (select(vocabulary), 0..6u8, any::<Index>(), any::<Index>(), 0..4u8)
        .prop_map(|(word, cut, a, b, case)| {
            let chars: Vec<char> = word.chars().collect();
            let piece: String = if cut < 3 {
                word.clone()
            } else {
                let (x, y) = (a.index(chars.len()), b.index(chars.len()));
                chars[x.min(y)..=x.max(y)].iter().collect()
            };
            let cased = match case {
                0 | 1 => piece,
                2 => piece.to_uppercase(),
                _ => piece
                    .chars()
                    .map(|c| {
                        if c.is_uppercase() {
                            c.to_lowercase().next().unwrap()
                        } else {
                            c.to_uppercase().next().unwrap()
                        }
                    })
                    .collect(),
            };
            // Query arguments may not hold control characters: a line break becomes a space.
            let clean: String = cased.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            if clean.trim().is_empty() { word.chars().filter(|c| !c.is_control()).collect() } else { clean }
        })
        .boxed()
}

fn text_method(method: &'static str, phrases: BoxedStrategy<String>, min: usize) -> BoxedStrategy<Value> {
    prop::collection::vec(phrases, min..=3).prop_map(move |args| json!({"method": method, "args": args})).boxed()
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

fn query_strategy(ads: &[GeneratedAd]) -> impl Strategy<Value = JsonQuery> {
    let metacharacters =
        strings(&["%", "_", "\\", "100%", "%_", "e_f", "c%s", "a\\b", "Pure_", "_Fun", "% P", "é", "É", "ß", "SS"]);
    let nothing = strings(&["zzz-nothing", "Ünïcode-none", "4873438x"]);

    let mut observer_words = strings(OBSERVERS);
    observer_words.extend(strings(&["48734387", "4873", "A1B2C3D4", "a1b2c3d4", "-0000-", "B97C", "b97c"]));
    observer_words.extend(nothing.clone());
    let mut exact_observers = strings(OBSERVERS);
    exact_observers.extend(OBSERVERS.iter().map(|o| o.to_uppercase()));
    exact_observers.extend(strings(&["48734387", "a1b2c3d4-0000-4000-8000-00000000000A"]));

    let mut observation_words: Vec<String> =
        ads.iter().step_by(7).map(|ad| ad.rdo["observation"]["uuid"].as_str().unwrap().to_string()).collect();
    observation_words.extend(strings(&["17595830", "175958301", ".", "-4", "-8", "zzz"]));

    let mut page_words = strings(PAGE_NAMES);
    page_words.extend(metacharacters.clone());
    page_words.extend(nothing.clone());
    let mut category_words = strings(CATEGORIES);
    category_words.extend(strings(&["political", "Card%", "t_c", "_", "%"]));
    category_words.extend(nothing.clone());
    let mut any_words = strings(OCR_TEXTS);
    any_words.extend(strings(PAGE_NAMES));
    any_words.extend(strings(CATEGORIES));
    any_words.extend(strings(PLATFORMS));
    any_words.extend(strings(OBSERVERS));
    any_words.extend(metacharacters);
    any_words.extend(nothing);
    // Keys of the RDO are not text values; some values happen to contain them.
    any_words.extend(strings(&[
        "page_name",
        "ocr_data",
        "FEED_BASED",
        "temp-v2",
        "AUD",
        "$100",
        "spare change",
        "tab here",
    ]));

    let time = (0..=TIME_SPAN + 1, select(vec![-1000i64, -1, 0, 1, 125, 250, 500, 999]))
        .prop_map(|(k, delta)| ((T0 + k) * 1000 + delta).to_string());

    let leaf = prop_oneof![
        1 => Just(json!({"method": "ALL", "args": []})),
        2 => time.clone().prop_map(|ms| json!({"method": "DATETIME_AFTER", "args": [ms]})),
        2 => time.prop_map(|ms| json!({"method": "DATETIME_BEFORE", "args": [ms]})),
        2 => text_method("OBSERVER_ID_CONTAINS", phrase(observer_words), 0),
        2 => text_method("OBSERVER_ID_EQUALS", select(exact_observers).boxed(), 0),
        2 => text_method("OBSERVATION_ID_CONTAINS", phrase(observation_words), 1),
        3 => text_method("PAGE_NAME_CONTAINS", phrase(page_words), 1),
        2 => text_method("CATEGORIES_CONTAINS", phrase(category_words), 1),
        3 => text_method("ANYTHING_CONTAINS", phrase(any_words), 1),
    ];
    leaf.prop_recursive(4, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..=4).prop_map(|args| json!({"method": "AND", "args": args})),
            prop::collection::vec(inner.clone(), 1..=4).prop_map(|args| json!({"method": "OR", "args": args})),
            inner.prop_map(|q| json!({"method": "NOT", "args": [q]})),
        ]
    })
    .prop_map(JsonQuery)
}

// ---------------------------------------------------------------------------------------------
// The property.
// ---------------------------------------------------------------------------------------------

#[test]
fn sql_search_agrees_with_the_evaluator_on_random_queries() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let ads = generate_ads(300, 0xAA0_2026);
    let exportable = ads.iter().filter(|ad| !ad.withdrawn).count();
    let dbs = rt.block_on(async {
        let dbs = TestDatabase::all().await;
        for db in &dbs {
            for chunk in outcomes(&ads).chunks(100) {
                db.storage.record_objects(chunk).await.unwrap();
            }
            assert_eq!(
                db.storage.catalogue_size().await.unwrap(),
                exportable as u64,
                "[{}] catalogue size",
                db.storage.backend()
            );
        }
        dbs
    });
    let storages: Vec<Arc<dyn Database>> = dbs.iter().map(|db| db.storage.clone()).collect();

    // The generated data is what the property needs: ties, fractions, ads without candidates.
    let mut times: Vec<f64> = ads.iter().map(|ad| observed_on_device_at(&ad.rdo)).collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    assert!(
        times.len() < 100 && times.iter().any(|t| t.fract() != 0.0),
        "observed_at values collide and some are fractional"
    );
    assert!(
        ads.iter().filter(|ad| candidate_data(&ad.rdo).next().is_none()).count() >= 20,
        "some ads have no candidates"
    );

    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256);
    let mut runner =
        TestRunner::new(Config { cases, failure_persistence: None, max_shrink_iters: 4096, ..Config::default() });
    let nonempty = std::cell::Cell::new(0usize);
    let partial = std::cell::Cell::new(0usize);
    let result = runner.run(&query_strategy(&ads), |JsonQuery(q)| {
        let parsed =
            Query::from_json(&q).map_err(|e| TestCaseError::fail(format!("generated query {q} was refused: {e}")))?;
        let expected = expected_ids(&q, &ads);
        if !expected.is_empty() {
            nonempty.set(nonempty.get() + 1);
        }
        if !expected.is_empty() && expected.len() < exportable {
            partial.set(partial.get() + 1);
        }
        for storage in &storages {
            let b = storage.backend();
            let (count, got) = rt
                .block_on(try_storage_ids(&**storage, &parsed, 50))
                .map_err(|e| TestCaseError::fail(format!("{e}; query {q}")))?;
            if got != expected {
                return Err(TestCaseError::fail(format!("[{b}] query {q}: {}", difference(&got, &expected))));
            }
            prop_assert_eq!(count, expected.len() as u64, "[{}] count_matching for query {}", b, q);
            // The preview's first page, found every way (as if the matches were rare, common,
            // not known): the newest 24 of the same ads.
            for matching in [Some(1), Some(ads.len() as u64), None] {
                let first = rt
                    .block_on(storage.first_page(&parsed, 24, matching, std::time::Duration::from_secs(60)))
                    .map_err(|e| TestCaseError::fail(format!("[{b}] first_page: {e}; query {q}")))?
                    .ok_or_else(|| TestCaseError::fail(format!("[{b}] first_page out of time; query {q}")))?;
                let first: Vec<String> = first.into_iter().map(|r| r.observation_id).collect();
                prop_assert_eq!(
                    &first[..],
                    &got[..got.len().min(24)],
                    "[{}] first_page({:?}) of query {}",
                    b,
                    matching,
                    q
                );
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("on {:?}: {e}", storages.iter().map(|s| s.backend()).collect::<Vec<_>>());
    }
    // The generator must make queries that select something, but not always everything.
    let (partial, nonempty) = (partial.get(), nonempty.get());
    assert!(
        partial * 3 >= cases as usize,
        "only {partial} of {cases} queries selected some but not all ads ({nonempty} selected any)"
    );
    drop(storages);
    drop(dbs);
}

// ---------------------------------------------------------------------------------------------
// Hand-written cases for the tricky parts.
// ---------------------------------------------------------------------------------------------

const P1_OBSERVER: &str = "48734387-5226-4e96-b97c-2d0747a99898";
const P2_OBSERVER: &str = "A1B2C3D4-0000-4000-8000-00000000000a";
const P3_OBSERVER: &str = "a1b2c3d4-0000-4000-8000-00000000000b";

fn pinned_ads() -> Vec<GeneratedAd> {
    let ad = |id: &str, observer: &str, observed: Value, candidates: Vec<Value>, ocr: &[&str]| {
        let ms = (observed.as_f64().unwrap() * 1000.0).round() as i64;
        GeneratedAd {
            observation_id: id.into(),
            withdrawn: false,
            rdo: rdo(observer, &format!("{ms}.{id}"), observed, candidates, ocr),
        }
    };
    let t = T0 + 19;
    vec![
        ad("p1", P1_OBSERVER, json!(t), vec![candidate("100% Pure_Fun", &["UNKNOWN"])], &["50% off"]),
        ad("p2", P2_OBSERVER, json!(t as f64 + 0.5), vec![candidate("100 Pure Fun", &["POLITICAL"])], &[]),
        ad("p3", P3_OBSERVER, json!(t - 1), vec![candidate("Électricité Verte", &["Credit_Card"])], &[]),
        ad("p4", P1_OBSERVER, json!(t), vec![candidate("a\\b", &[])], &["eXf"]),
        ad("p5", P2_OBSERVER, json!(t + 1), vec![candidate("ab", &[])], &["e_f"]),
        ad("p6", P3_OBSERVER, json!(t), vec![], &["Spare\nchange? Invest it"]),
        ad(
            "p7",
            P1_OBSERVER,
            json!(t as f64 + 0.001),
            vec![candidate("Raiz", &["POLI"]), candidate("Invest", &["TICAL"])],
            &[],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tricky_semantics_are_pinned_on_every_backend() {
    let ads = pinned_ads();
    let all = expected_ids(&json!({"method": "ALL"}), &ads);
    assert_eq!(all, ["p5", "p2", "p7", "p6", "p4", "p1", "p3"], "newest first, ties by observation_id descending");
    let t = (T0 + 19) * 1000;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        // LIKE metacharacters match themselves.
        (json!({"method": "PAGE_NAME_CONTAINS", "args": ["100%"]}), vec!["p1"]),
        (json!({"method": "PAGE_NAME_CONTAINS", "args": ["pure_fun"]}), vec!["p1"]),
        (json!({"method": "PAGE_NAME_CONTAINS", "args": ["0%"]}), vec!["p1"]),
        (json!({"method": "PAGE_NAME_CONTAINS", "args": ["%"]}), vec!["p1"]),
        (json!({"method": "PAGE_NAME_CONTAINS", "args": ["_"]}), vec!["p1"]),
        (json!({"method": "PAGE_NAME_CONTAINS", "args": ["a\\b"]}), vec!["p4"]),
        (json!({"method": "PAGE_NAME_CONTAINS", "args": ["\\"]}), vec!["p4"]),
        (json!({"method": "ANYTHING_CONTAINS", "args": ["e_f"]}), vec!["p5", "p1"]), // "e_f" and "Pure_Fun", never "eXf"
        (json!({"method": "CATEGORIES_CONTAINS", "args": ["t_c"]}), vec!["p3"]),
        (json!({"method": "CATEGORIES_CONTAINS", "args": ["T%C"]}), vec![]),
        // Activation codes are case-sensitive; observer ids are compared exactly.
        (json!({"method": "OBSERVER_ID_CONTAINS", "args": ["A1B2C3D4"]}), vec!["p5", "p2"]),
        (json!({"method": "OBSERVER_ID_CONTAINS", "args": ["a1b2c3d4"]}), vec!["p6", "p3"]),
        (json!({"method": "OBSERVER_ID_CONTAINS", "args": ["a1b2", "48734387"]}), vec!["p7", "p6", "p4", "p1", "p3"]),
        (json!({"method": "OBSERVER_ID_EQUALS", "args": [P2_OBSERVER.to_lowercase()]}), vec![]),
        (json!({"method": "OBSERVER_ID_EQUALS", "args": [P2_OBSERVER]}), vec!["p5", "p2"]),
        (json!({"method": "OBSERVER_ID_EQUALS", "args": ["48734387"]}), vec![]),
        // No activation codes match nothing, so NOT of that matches everything.
        (json!({"method": "OBSERVER_ID_CONTAINS", "args": []}), vec![]),
        (json!({"method": "OBSERVER_ID_EQUALS", "args": []}), vec![]),
        (
            json!({"method": "NOT", "args": [{"method": "OBSERVER_ID_CONTAINS", "args": []}]}),
            all.iter().map(String::as_str).collect(),
        ),
        (
            json!({"method": "OR", "args": [{"method": "OBSERVER_ID_CONTAINS", "args": []}, {"method": "OBSERVER_ID_EQUALS", "args": [P3_OBSERVER]}]}),
            vec!["p6", "p3"],
        ),
        // Page names, categories and text ignore case, accents included.
        (json!({"method": "PAGE_NAME_CONTAINS", "args": ["électricité"]}), vec!["p3"]),
        (json!({"method": "PAGE_NAME_CONTAINS", "args": ["ÉLECTRICITÉ"]}), vec!["p3"]),
        (json!({"method": "PAGE_NAME_CONTAINS", "args": ["eLEctricité VERTE"]}), vec![]), // "e" is not "é"
        (json!({"method": "PAGE_NAME_CONTAINS", "args": ["ÉlEcTrIcItÉ vErTe"]}), vec!["p3"]),
        (json!({"method": "CATEGORIES_CONTAINS", "args": ["political"]}), vec!["p2"]),
        (json!({"method": "ANYTHING_CONTAINS", "args": ["INVEST IT"]}), vec!["p6"]),
        // A phrase never spans two values (two candidates' page names, two categories).
        (json!({"method": "PAGE_NAME_CONTAINS", "args": ["raiz invest"]}), vec![]),
        (json!({"method": "PAGE_NAME_CONTAINS", "args": ["raizinvest"]}), vec![]),
        // Keys are not text values.
        (json!({"method": "ANYTHING_CONTAINS", "args": ["page_name"]}), vec![]),
        (json!({"method": "ANYTHING_CONTAINS", "args": ["is_user_disabled"]}), vec![]),
        // Observation ids contain the timestamp.
        (json!({"method": "OBSERVATION_ID_CONTAINS", "args": [format!("{t}.")]}), vec!["p6", "p4", "p1"]),
        (json!({"method": "OBSERVATION_ID_CONTAINS", "args": ["P1"]}), vec![]),
        // Time bounds are inclusive and compare seconds with milliseconds / 1000.
        (json!({"method": "DATETIME_AFTER", "args": [t.to_string()]}), vec!["p5", "p2", "p7", "p6", "p4", "p1"]),
        (json!({"method": "DATETIME_AFTER", "args": [(t + 1).to_string()]}), vec!["p5", "p2", "p7"]),
        (json!({"method": "DATETIME_AFTER", "args": [(t + 2).to_string()]}), vec!["p5", "p2"]),
        (json!({"method": "DATETIME_BEFORE", "args": [t.to_string()]}), vec!["p6", "p4", "p1", "p3"]),
        (json!({"method": "DATETIME_BEFORE", "args": [(t - 1).to_string()]}), vec!["p3"]),
        (
            json!({"method": "AND", "args": [
                {"method": "DATETIME_AFTER", "args": [(t + 500).to_string()]},
                {"method": "DATETIME_BEFORE", "args": [(t + 500).to_string()]}
            ]}),
            vec!["p2"],
        ),
    ];
    for db in TestDatabase::all().await {
        let s = &*db.storage;
        let b = s.backend();
        s.record_objects(&outcomes(&ads)).await.unwrap();
        for (query, want) in &cases {
            let evaluator = expected_ids(query, &ads);
            assert_eq!(evaluator, *want, "the evaluator on {query}");
            let parsed = Query::from_json(query).unwrap_or_else(|e| panic!("{query}: {e}"));
            for page_size in [2, 50] {
                let (count, got) = storage_ids(s, &parsed, page_size).await;
                assert_eq!(got, *want, "[{b}] {query} paged by {page_size}");
                assert_eq!(count, want.len() as u64, "[{b}] count_matching({query})");
            }
        }
    }
}

/// A phrase does not occur in a value where the value has a line break instead of its space.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_space_does_not_match_a_line_break_on_every_backend() {
    let ads = pinned_ads();
    let query = json!({"method": "ANYTHING_CONTAINS", "args": ["spare change"]});
    assert!(
        expected_ids(&query, &ads).is_empty(),
        "the evaluator: \"spare change\" does not occur in \"Spare\\nchange? ...\""
    );
    for db in TestDatabase::all().await {
        let s = &*db.storage;
        s.record_objects(&outcomes(&ads)).await.unwrap();
        let (count, got) = storage_ids(s, &Query::from_json(&query).unwrap(), 10).await;
        assert_eq!((count, got), (0, vec![]), "[{}] {query}", s.backend());
    }
}

// ---------------------------------------------------------------------------------------------
// Paging plans on PostgreSQL: every page starts where the previous one ended.
// ---------------------------------------------------------------------------------------------

/// Each paging statement, as PostgreSQL plans it, must use the keyset cursor to start its scan
/// of the time index (an index condition), never as a filter over the whole table or the time
/// index: such a filter re-reads every earlier row on every page, which made a 200,000-ad export
/// quadratic. Both plans a prepared statement can get are checked (custom and generic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_statements_start_at_the_cursor_on_postgres() {
    use aao_export_db::search::{Bind, Dialect, PageCursor, PageOrder, page_sql};
    use sqlx::Connection;

    let Some(db) = TestDatabase::postgres().await else { return };
    let ads = generate_ads(4_000, 11);
    for chunk in outcomes(&ads).chunks(500) {
        db.storage.record_objects(chunk).await.unwrap();
    }
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("ANALYZE catalogue; ANALYZE catalogue_documents").execute(&mut conn).await.unwrap();
    // A few thousand rows fit in a few pages, where reading them all is the cheapest plan; at a
    // million ads it is not. Ruling out whole-table scans asks for the plan a large catalogue gets.
    sqlx::raw_sql("SET enable_seqscan = off").execute(&mut conn).await.unwrap();
    let cursor = PageCursor { observed_at: (T0 + TIME_SPAN / 2) as f64, observation_id: "8".into() };

    let shapes = [
        json!({"method": "ALL"}),
        json!({"method": "AND", "args": [
            {"method": "DATETIME_AFTER", "args": [format!("{}", T0 * 1000)]},
            {"method": "DATETIME_BEFORE", "args": [format!("{}", (T0 + 30) * 1000)]},
            {"method": "CATEGORIES_CONTAINS", "args": ["political"]}]}),
        json!({"method": "ANYTHING_CONTAINS", "args": ["spare change"]}),
        json!({"method": "ANYTHING_CONTAINS", "args": ["xylophone"]}),
        json!({"method": "PAGE_NAME_CONTAINS", "args": ["raiz"]}),
        json!({"method": "OBSERVER_ID_CONTAINS", "args": ["4873"]}),
        json!({"method": "OR", "args": [
            {"method": "PAGE_NAME_CONTAINS", "args": ["coles"]},
            {"method": "ANYTHING_CONTAINS", "args": ["50% off"]}]}),
        json!({"method": "NOT", "args": [{"method": "ANYTHING_CONTAINS", "args": ["spare"]}]}),
    ];
    for (i, shape) in shapes.iter().enumerate() {
        let query = Query::from_json(shape).unwrap();
        let sql = page_sql(&query, Dialect::Postgres, Some(&cursor), 500, PageOrder::WalkNewest);
        // PREPARE/EXECUTE with literal arguments, so that plan_cache_mode picks the plan kind.
        let literal = |b: &Bind| match b {
            Bind::Text(t) => format!("'{}'", t.replace('\'', "''")),
            Bind::Float(f) => format!("{f:?}::float8"),
            Bind::Int(n) => n.to_string(),
        };
        let arguments: Vec<String> = sql.binds.iter().map(literal).collect();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PREPARE page_{i} AS {}", sql.text)))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("PREPARE {}: {e}", sql.text));
        for mode in ["force_custom_plan", "force_generic_plan"] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET plan_cache_mode = {mode}")))
                .execute(&mut conn)
                .await
                .unwrap();
            let explain = format!("EXPLAIN EXECUTE page_{i}({})", arguments.join(", "));
            let plan: Vec<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(explain)).fetch_all(&mut conn).await.unwrap();
            // A plan is a tree of nodes ("->  Index Scan using …"), each followed by its
            // conditions ("Index Cond: …", "Filter: …"). The cursor may filter the rows another
            // index found (a trigram match: as many as the query matches), but never a scan of
            // the whole table or of the time index, which would read every earlier row again.
            let mut node = plan.first().cloned().unwrap_or_default();
            let mut cursor_seen = false;
            for line in &plan {
                let trimmed = line.trim_start().trim_start_matches("->").trim_start();
                if line.trim_start().starts_with("->") {
                    node = trimmed.to_string();
                }
                if !line.contains("ROW(observed_at, observation_id)")
                    && !line.contains("ROW(c.observed_at, c.observation_id)")
                {
                    continue;
                }
                cursor_seen = true;
                let kind = trimmed.split(':').next().unwrap_or("");
                let rereads = node.starts_with("Seq Scan") || node.contains("catalogue_newest");
                assert!(
                    kind == "Index Cond" || !rereads,
                    "{mode}: the cursor of {shape} is a {kind} of {node:?}, so every page reads every earlier row:\n{}",
                    plan.join("\n")
                );
            }
            assert!(cursor_seen, "{mode}: the plan of {shape} does not use the cursor:\n{}", plan.join("\n"));
        }
    }
}
