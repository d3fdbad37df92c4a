//! The `aao-export` binary, run for real in a temporary working directory whose database and
//! observations store are set through the environment (`DATABASE_URL`, `BUCKETS_OBSERVATIONS`),
//! so nothing touches the repository's `./data`. Every ZIP it writes is opened and checked entry
//! by entry against the demo generator (the source of the bytes it wrote) and proved by
//! `$AAO_CHECK_ZIP`; bad input must fail with a clear message, a non-zero exit, no panic and no
//! file left behind.

use crate::common;

use aao_export_core::fields::SEED;
use aao_export_demo::{DemoConfig, DemoData};
use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

fn seed_with_withdrawn(ads: usize, images_per_ad: usize) -> u64 {
    (1..500u64)
        .find(|&seed| {
            let demo = DemoData::new_lazy(&DemoConfig { ads, images_per_ad, seed });
            (0..ads).any(|i| {
                serde_json::from_slice::<Value>(&demo.ad_without_image_bytes(i).rdo).unwrap()["is_user_disabled"]
                    == true
            })
        })
        .expect("a seed with a withdrawn ad")
}

struct DemoAdView {
    observation_id: String,
    rdo: Value,
    observed_at: f64,
    images: Vec<(String, Vec<u8>)>,
}

/// The exportable demo ads, newest first.
fn exportable_ads(config: &DemoConfig) -> (Vec<DemoAdView>, usize) {
    let demo = DemoData::new(config);
    let mut ads = Vec::new();
    let mut withdrawn = 0;
    for i in 0..config.ads {
        let ad = demo.ad(i);
        let rdo: Value = serde_json::from_slice(&ad.rdo).unwrap();
        if rdo["is_user_disabled"] == true {
            withdrawn += 1;
            continue;
        }
        let observed_at = rdo["observation"]["observed_on_device_at"].as_f64().unwrap();
        let images = ad.images.iter().map(|(k, b)| (k.clone(), b.to_vec())).collect();
        ads.push(DemoAdView { observation_id: ad.observation_id, rdo, observed_at, images });
    }
    ads.sort_by(|a, b| b.observed_at.total_cmp(&a.observed_at).then_with(|| b.observation_id.cmp(&a.observation_id)));
    (ads, withdrawn)
}

fn default_paths() -> Vec<String> {
    SEED.iter().filter(|f| f.4).map(|f| f.1.to_string()).collect()
}

fn ocr_texts(rdo: &Value) -> Value {
    let mut texts = Vec::new();
    for keyframe in rdo["observation"]["keyframes"].as_array().unwrap() {
        for ocr in keyframe["ocr_data"].as_array().unwrap() {
            texts.push(ocr["text"].clone());
        }
    }
    Value::Array(texts)
}

fn formula_escaped(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() }
}

/// Opens the ZIP and checks it entry by entry; returns `export_details.json`.
fn check_cli_zip(file: &Path, ads: &[DemoAdView], paths: &[String], include_images: bool) -> Value {
    let bytes = std::fs::read(file).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).expect("the zip crate opens the archive");
    let mut entries: HashMap<String, Vec<u8>> = HashMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        assert!(entries.insert(name.clone(), data).is_none(), "{name} appears twice");
    }
    let mut expected: BTreeSet<String> = ["all_data.csv".to_string(), "export_details.json".to_string()].into();
    // The report: its first page at the root, the others under report/ (100 ads a page).
    let pages = aao_export_core::archive::report_page_count(ads.len() as u64);
    expected.extend((1..=pages).map(aao_export_core::archive::report_page_entry));
    let mut image_count = 0;
    for ad in ads {
        expected.insert(format!("ads/{}/data.json", ad.observation_id));
        if include_images {
            for (n, (key, image)) in ad.images.iter().enumerate() {
                let name = format!("ads/{}/image_{}.jpg", ad.observation_id, n + 1);
                let data = entries.get(&name).unwrap_or_else(|| panic!("{name} ({key}) is missing"));
                assert!(data == image, "{name} differs from the demo image {key}");
                expected.insert(name);
                image_count += 1;
            }
        }
        let data: Value = serde_json::from_slice(&entries[&format!("ads/{}/data.json", ad.observation_id)]).unwrap();
        if paths.iter().any(|p| p == "observation_id") {
            assert_eq!(data["observation_id"], ad.observation_id.as_str());
        }
        if paths.iter().any(|p| p == "ocr.text") {
            assert_eq!(data["ocr"]["text"], ocr_texts(&ad.rdo));
        }
        if paths.iter().any(|p| p == "observation.uuid") {
            assert_eq!(data["observation"]["uuid"], ad.rdo["observation"]["uuid"]);
        }
    }
    let actual: BTreeSet<String> = entries.keys().cloned().collect();
    assert_eq!(actual, expected, "the archive's entries");

    let csv_bytes = &entries["all_data.csv"];
    let mut reader = csv::Reader::from_reader(csv_bytes.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header, paths, "CSV header");
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(rows.len(), ads.len(), "one CSV row per ad");
    for (row, ad) in rows.iter().zip(ads) {
        for (cell, path) in row.iter().zip(paths) {
            match path.as_str() {
                "observation_id" => assert_eq!(cell, ad.observation_id),
                "observation.uuid" => {
                    assert_eq!(cell, formula_escaped(ad.rdo["observation"]["uuid"].as_str().unwrap()))
                }
                "observation.platform" => assert_eq!(cell, ad.rdo["observation"]["platform"].as_str().unwrap()),
                "ocr.text" => assert_eq!(cell, serde_json::to_string(&ocr_texts(&ad.rdo)).unwrap()),
                _ => {}
            }
        }
    }

    let details: Value = serde_json::from_slice(&entries["export_details.json"]).unwrap();
    assert!(details.get("url").is_none() && details.get("status").is_none(), "no url, no status: {details}");
    assert_eq!(details["ad_count"], ads.len());
    assert_eq!(details["image_count"], image_count);
    assert_eq!(details["missing_image_count"], 0);
    let sha: String = Sha256::digest(csv_bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(details["all_data_csv_sha256"], sha.as_str());
    let fields: Vec<&str> = details["fields"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(fields, paths);
    check_zip_externally(file);
    details
}

/// `demo-data`, `index`, `migrate` and three exports, in a working directory.
fn round_trip(work: &Workdir, config: &DemoConfig, backend: &str) {
    let (ads, withdrawn) = exportable_ads(config);
    assert!(withdrawn > 0, "the seed has a withdrawn ad");
    let out = work.ok(&[
        "demo-data",
        "--ads",
        &config.ads.to_string(),
        "--images-per-ad",
        &config.images_per_ad.to_string(),
        "--seed",
        &config.seed.to_string(),
    ]);
    let images: usize = ads.iter().map(|a| a.images.len()).sum();
    assert!(out.contains(&format!("wrote {} ads and ", config.ads)), "{out}");
    assert!(out.contains(&format!("indexed {} RDOs: {} new or changed", config.ads, ads.len())), "{out}");
    assert!(
        out.contains(&format!("{withdrawn} withdrawn, 0 removed, 0 unreadable; the catalogue holds {} ads", ads.len())),
        "{out}"
    );
    assert!(images > 0);

    let out = work.ok(&["index"]);
    assert!(out.contains(&format!("0 new or changed, {} unchanged", config.ads)), "{out}");
    let out = work.ok(&["migrate"]);
    assert!(out.contains(&format!("database is up to date ({backend})")), "{out}");

    std::fs::create_dir_all(work.path("out")).unwrap();
    let out = work.ok(&["export", "--query", r#"{"method":"ALL"}"#, "--include-images", "--out", "out/x.zip"]);
    let image_total: usize = ads.iter().map(|a| a.images.len()).sum();
    assert!(out.contains(&format!("wrote out/x.zip: {} ads, {image_total} images", ads.len())), "{out}");
    let details = check_cli_zip(&work.path("out/x.zip"), &ads, &default_paths(), true);
    assert_eq!(details["export_parameters"]["include_images"], true);
    assert_eq!(details["creator_id"], "cli");

    let out = work.ok(&[
        "export",
        "--query",
        r#"{"method":"ALL"}"#,
        "--fields",
        "observation_id,ocr.text",
        "--out",
        "out/y.zip",
    ]);
    assert!(out.contains(&format!("wrote out/y.zip: {} ads, 0 images", ads.len())), "{out}");
    check_cli_zip(&work.path("out/y.zip"), &ads, &["observation_id".into(), "ocr.text".into()], false);

    // The spec's own example query: an activation code (the first 8 characters of an observer id).
    let observer = ads[0].rdo["observer"]["uuid"].as_str().unwrap().to_string();
    let code = &observer[..8];
    let mine: Vec<DemoAdView> =
        exportable_ads(config).0.into_iter().filter(|a| a.rdo["observer"]["uuid"] == observer.as_str()).collect();
    let query = format!(r#"{{"method":"OBSERVER_ID_CONTAINS","args":["{code}"]}}"#);
    let out = work.ok(&[
        "export",
        "--query",
        &query,
        "--fields",
        "observation_id,observer_id,ocr.text,tags",
        "--include-images",
        "--out",
        "out/z.zip",
    ]);
    assert!(out.contains(&format!("wrote out/z.zip: {} ads", mine.len())), "{out}");
    let paths: Vec<String> =
        ["observation_id", "observer_id", "ocr.text", "tags"].iter().map(|s| s.to_string()).collect();
    check_cli_zip(&work.path("out/z.zip"), &mine, &paths, true);

    assert_eq!(
        files_under(&work.path("out")),
        ["x.zip", "y.zip", "z.zip"],
        "nothing else is left in the output folder"
    );
    assert!(!work.path("data").exists(), "nothing is written under ./data when the environment points elsewhere");
}

#[test]
fn round_trip_sqlite_local() {
    let config = DemoConfig { ads: 50, images_per_ad: 2, seed: seed_with_withdrawn(50, 2) };
    round_trip(&Workdir::local(), &config, "sqlite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_postgres() {
    let Some(db) = aao_export_testkit::TestDatabase::postgres().await else { return };
    let work = Workdir::local().with("DATABASE_URL", &db.url);
    let config = DemoConfig { ads: 30, images_per_ad: 2, seed: seed_with_withdrawn(30, 2) };
    tokio::task::spawn_blocking(move || round_trip(&work, &config, "postgres")).await.unwrap();
    drop(db);
}

/// `BUCKETS_OBSERVATIONS=s3://...` with `AWS_ENDPOINT_URL` pointing at the emulator.
#[test]
fn round_trip_s3_observations() {
    let Some(endpoint) = external("TEST_S3_ENDPOINT", "the CLI's S3 round trip") else { return };
    let bucket = create_bucket(&endpoint);
    let mut work = Workdir::local()
        .with("BUCKETS_OBSERVATIONS", &format!("s3://{bucket}/observations"))
        .with("AWS_ENDPOINT_URL", &endpoint);
    for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        let value = std::env::var(key)
            .unwrap_or_else(|_| if key == "AWS_REGION" { "ap-southeast-2".into() } else { "test".into() });
        work = work.with(key, &value);
    }
    let config = DemoConfig { ads: 25, images_per_ad: 2, seed: seed_with_withdrawn(25, 2) };
    round_trip(&work, &config, "sqlite");
    assert!(!work.path("observations").exists(), "the observations went to S3, not to a local folder");
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

fn nested_not(depth: usize) -> String {
    let mut query = r#"{"method":"ALL"}"#.to_string();
    for _ in 0..depth {
        query = format!(r#"{{"method":"NOT","args":[{query}]}}"#);
    }
    query
}

#[test]
fn bad_input_fails_cleanly_and_leaves_nothing() {
    let work = Workdir::local();
    std::fs::create_dir_all(work.path("out")).unwrap();
    let all = r#"{"method":"ALL"}"#;
    let many_args = format!(r#"{{"method":"PAGE_NAME_CONTAINS","args":[{}]}}"#, vec![r#""x""#; 201].join(","));
    let long_arg = format!(r#"{{"method":"PAGE_NAME_CONTAINS","args":["{}"]}}"#, "a".repeat(501));
    let alls = vec![all; 199].join(",");
    let many_nodes = format!(
        r#"{{"method":"OR","args":[{0}]}}"#,
        vec![format!(r#"{{"method":"OR","args":[{alls}]}}"#); 3].join(",")
    );
    let deep = nested_not(40);
    let very_deep = nested_not(600);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--query", r#"{"method":"#], "query: not valid JSON"),
        (vec!["--query", ""], "query: not valid JSON"),
        (vec!["--query", "[1, 2]"], "query: expected an object"),
        (vec!["--query", r#"{"method":"FOO"}"#], r#"query.method: unknown method "FOO""#),
        (
            vec!["--query", r#"{"method":"AND","args":[{"method":"ALL"},{"method":"FOO","args":[]}]}"#],
            r#"query.args[1].method: unknown method "FOO""#,
        ),
        (vec!["--query", r#"{"method":"NOT","args":[]}"#], "query.args: NOT takes exactly 1 argument, found 0"),
        (vec!["--query", r#"{"method":"ALL","args":["x"]}"#], "query.args: ALL takes no arguments, found 1"),
        (
            vec!["--query", r#"{"method":"PAGE_NAME_CONTAINS","args":[5]}"#],
            "query.args[0]: expected a string, found a number",
        ),
        (
            vec!["--query", r#"{"method":"DATETIME_AFTER","args":["yesterday"]}"#],
            "query.args[0]: expected epoch milliseconds",
        ),
        (vec!["--query", &many_args], "at most 200 arguments"),
        (vec!["--query", &long_arg], "at most 500 characters"),
        (vec!["--query", &many_nodes], "at most 500 nodes"),
        (vec!["--query", &deep], "nest at most 32 levels"),
        (vec!["--query", &very_deep], "error: query: "),
        (vec!["--query", all, "--fields", "observation_id,nope.nothing"], r#"unknown field "nope.nothing""#),
        (vec!["--query", all, "--fields", "tags,tags"], r#""tags" requested more than once"#),
        (vec!["--query", all, "--out", "missing/folder/x.zip"], "does not exist"),
        (vec!["--query", all, "--out", "."], "is a folder; name a file in it"),
    ];
    for (extra, message) in &cases {
        let mut args = vec!["export"];
        args.extend(extra.iter().copied());
        if !extra.contains(&"--out") {
            args.extend(["--out", "out/bad.zip"]);
        }
        let stderr = work.fails(&args, message);
        assert!(stderr.lines().count() <= 5, "a short message, not a dump: {stderr}");
        assert_eq!(files_under(&work.path("out")), Vec::<String>::new(), "{args:?} left files behind");
    }
    assert!(!work.path("missing").exists());

    // demo-data refuses too many images per ad before writing anything.
    let out = work.run(&["demo-data", "--ads", "5", "--images-per-ad", "21"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--images-per-ad") && stderr.contains("21 is not in 0..=20"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!work.path("observations").exists(), "nothing was written");
    work.fails(&["export", "--query"], "a value is required");
    work.fails(&["no-such-command"], "unrecognized subcommand");
}

/// `--out` naming an existing folder: a clear error, and no staging file left beside it.
#[test]
fn out_naming_a_folder_fails_cleanly_and_leaves_nothing() {
    let work = Workdir::local();
    std::fs::create_dir_all(work.path("out/taken")).unwrap();
    let out = work.run(&["export", "--query", r#"{"method":"ALL"}"#, "--out", "out/taken"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(files_under(&work.path("out")), Vec::<String>::new(), "staging files are left behind; stderr: {stderr}");
    assert!(stderr.contains("out/taken") && stderr.contains("folder"), "the error names the folder: {stderr}");
}

// ---------------------------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------------------------

/// Asserts a clean success whose output never shows the password.
fn quiet_ok(out: &std::process::Output, secret: &str) -> String {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}", out.status);
    assert!(!stdout.contains(secret) && !stderr.contains(secret), "the password was printed:\n{stdout}\n{stderr}");
    stdout.into_owned()
}

/// Asserts a clean failure with the message on stderr.
fn clean_failure(out: &std::process::Output, message: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail: {stderr}");
    assert!(!stderr.contains("panicked") && stderr.contains(message), "stderr should contain {message:?}: {stderr}");
}

/// `users add --password` and `users passwd` (from standard input or `--password`, with
/// `--username`), checked by signing in on a running `api`; passwords are stored as argon2 and
/// never printed; bad passwords, unknown users and taken usernames fail cleanly, changing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_set_from_the_command_line_sign_in() {
    let work = Workdir::local().with("SERVER_BIND", "127.0.0.1:0");
    let database_url = work.env.iter().find(|(k, _)| k == "DATABASE_URL").unwrap().1.clone();
    tokio::task::block_in_place(|| {
        let add = ["users", "add", "alice", "--name", "Alice", "--role", "admin", "--password", "alice's passphrase"];
        let out = quiet_ok(&work.run(&add), "alice's passphrase");
        assert!(out.lines().last().unwrap().starts_with("aao_"), "the API key still comes last: {out}");
        work.ok(&["users", "add", "bob", "--name", "Bob"]);

        let out = quiet_ok(&work.run_with_stdin(&["users", "passwd", "bob"], "bob's passphrase\n"), "bob's passphrase");
        assert!(out.contains("user bob now signs in as \"bob\""), "{out}");
        let renamed =
            work.run_with_stdin(&["users", "passwd", "bob", "--username", "robert"], "robert's passphrase\r\n");
        let out = quiet_ok(&renamed, "robert's passphrase");
        assert!(out.contains("signs in as \"robert\""), "{out}");
        quiet_ok(&work.run(&["users", "passwd", "alice", "--password", "alice's new passphrase"]), "alice's new");

        clean_failure(&work.run_with_stdin(&["users", "passwd", "bob"], "short\n"), "it needs at least 8");
        clean_failure(&work.run_with_stdin(&["users", "passwd", "bob"], ""), "no password on standard input");
        clean_failure(&work.run_with_stdin(&["users", "passwd", "bob"], "\n"), "no password on standard input");
        clean_failure(&work.run(&["users", "passwd", "bob", "--password", ""]), "the password is empty");
        clean_failure(&work.run(&["users", "passwd", "nobody"]), "no user \"nobody\"");
        let taken = work.run_with_stdin(&["users", "passwd", "bob", "--username", "alice"], "another passphrase\n");
        clean_failure(&taken, "the username \"alice\" belongs to another user");
        let bad_name = work.run_with_stdin(&["users", "passwd", "bob", "--username", " bob"], "another passphrase\n");
        clean_failure(&bad_name, "starts or ends with a space");
        clean_failure(&work.run(&["users", "add", "carol", "--name", "C", "--password", "short"]), "at least 8");
        work.fails(&["users", "token", "carol"], "no user \"carol\"");
    });

    let storage = aao_export_db::connect(&database_url).await.unwrap();
    for username in ["alice", "robert"] {
        let (identity, _) = storage.local_identity(username).await.unwrap().unwrap();
        assert!(identity.password.unwrap().starts_with("$argon2id$"), "{username}: stored as argon2");
    }
    assert_eq!(storage.local_identity("bob").await.unwrap(), None, "renamed");

    let api = work.spawn(&["api"]);
    let http = reqwest::Client::new();
    let login = |username: &str, password: &str| {
        let request = http
            .post(format!("{}/auth/login", api.url))
            .json(&serde_json::json!({"username": username, "password": password}));
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(login("alice", "alice's new passphrase").await.1["user"]["id"], "alice");
    assert_eq!(login("alice", "alice's passphrase").await.0, 401, "the old password is gone");
    assert_eq!(login("robert", "robert's passphrase").await.1["user"]["id"], "bob");
    assert_eq!(login("bob", "bob's passphrase").await.0, 401, "the old username is gone");
}

// ---------------------------------------------------------------------------------------------
// One pass from a shell: single keys, rescue, sweep
// ---------------------------------------------------------------------------------------------

/// The number in "... the catalogue holds N ads".
fn catalogue_holds(out: &str) -> u64 {
    let tail = out.rsplit("the catalogue holds ").next().unwrap();
    tail.split_whitespace().next().unwrap().parse().unwrap_or_else(|_| panic!("a count in {out}"))
}

/// `index --key` indexes one RDO that landed and takes out one that went, as the `index`
/// Lambda does for S3 events; `rescue` and `sweep` each do one pass and say what they did.
#[test]
fn single_keys_and_one_pass_chores_from_a_shell() {
    let work = Workdir::local();
    let seeded = work.ok(&["demo-data", "--ads", "10", "--images-per-ad", "1"]);
    let before = catalogue_holds(&seeded);
    // A new RDO: an existing one under a new ad id and key.
    let observations = work.path("observations");
    let existing = files_under(&observations)
        .into_iter()
        .find(|k| k.contains("/rdo/") && k.ends_with("/output.json"))
        .expect("a demo RDO");
    let mut rdo: Value = serde_json::from_slice(&std::fs::read(observations.join(&existing)).unwrap()).unwrap();
    let observer = existing.split('/').next().unwrap().to_string();
    let ad = "0badc0de-0000-4000-8000-00000000c0de";
    rdo["is_user_disabled"] = Value::Bool(false);
    rdo["observation"]["uuid"] = Value::String(format!("1764000000000.{ad}"));
    let key = format!("{observer}/rdo/1764000000000.{ad}/output.json");
    std::fs::create_dir_all(observations.join(&key).parent().unwrap()).unwrap();
    std::fs::write(observations.join(&key), rdo.to_string()).unwrap();

    let out = work.ok(&["index", "--key", &key]);
    assert!(out.contains("indexed 1 RDOs: 1 new or changed"), "{out}");
    assert_eq!(catalogue_holds(&out), before + 1, "{out}");
    std::fs::remove_file(observations.join(&key)).unwrap();
    let out = work.ok(&["index", "--key", &key, "--key", "not/an/rdo.json"]);
    assert!(out.contains("1 removed"), "{out}");
    assert!(out.contains("skipped 1 keys that are not RDO keys"), "{out}");
    assert_eq!(catalogue_holds(&out), before, "{out}");

    let out = work.ok(&["rescue"]);
    assert_eq!(out.trim(), "rescue: 0 exports got their message again");
    let out = work.ok(&["sweep"]);
    assert!(out.starts_with("sweep: 0 exports expired, 0 files deleted"), "{out}");
}

/// Pointed at the Ad Observatory's database, `migrate` and `check` say what they attached to,
/// commands that would write the AAO's users and curation refuse without changing anything, and
/// a database the AAO's schema is not in full refuses with what is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_to_the_aaos_database_from_a_shell() {
    use aao_export_testkit::{AAO_SEED, AaoDatabase};
    let Some(aao) = AaoDatabase::new(&[AAO_SEED]).await else { return };
    let work = Workdir::local().with("DATABASE_URL", &aao.url).with("DATABASE_SCHEMA", "aao_export_cli");
    let migrated = quiet_ok(&work.run(&["migrate"]), "postgres://");
    assert!(
        migrated.contains("attached to the Ad Observatory schema (revision a3e7c1d82f4b), ours in aao_export_cli"),
        "{migrated}"
    );
    let checked = work.run(&["check"]);
    let report = String::from_utf8_lossy(&checked.stdout);
    assert!(report.contains("attached to the Ad Observatory schema (revision a3e7c1d82f4b)"), "{report}");
    for args in [&["demo-data", "--ads", "3"][..], &["users", "add", "someone", "--name", "Someone"][..]] {
        clean_failure(&work.run(args), "are the Ad Observatory's own in its database");
    }
    clean_failure(
        &work.run_with_stdin(&["users", "passwd", "c9a48a35-1413-4c60-962d-d57f4d4a6276"], "new-pass\n"),
        "passwords are the Ad Observatory's",
    );

    let Some(partial) = AaoDatabase::new(&["DROP TABLE public.shared_exports"]).await else { return };
    let refused = Workdir::local().with("DATABASE_URL", &partial.url).run(&["migrate"]);
    clean_failure(&refused, "missing table public.shared_exports");
}
