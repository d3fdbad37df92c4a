//! The AWS deployment: `deploy/aws/template.yaml` passes `sam validate --lint` and `cfn-lint` and
//! holds what matters (bucket rules, queues, event sources, schedules, roles, secrets); and
//! `setup-bucket` / `check` through the binary against the S3/SQS emulator.

use crate::common;

use aao_export_stores::bucket_rules::{
    ABORT_AFTER_DAYS, ABORT_UPLOADS_RULE_ID, EXPIRE_OUTPUTS_RULE_ID, OUTPUTS_PREFIX,
};
use aao_export_testkit::tool;
use common::{Workdir, create_bucket, create_queue, external};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const TEMPLATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/aws/template.yaml");

// ---------------------------------------------------------------------------------------------
// The template
// ---------------------------------------------------------------------------------------------

/// Runs a checker offline: a region (they want one), no credentials lookup on the network, no
/// telemetry.
fn run_checker(program: &Path, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .env("AWS_DEFAULT_REGION", "ap-southeast-2")
        .env("AWS_REGION", "ap-southeast-2")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SAM_CLI_TELEMETRY", "0")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

fn assert_passes(program: &Path, args: &[&str]) -> String {
    let out = run_checker(program, args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "{} {args:?} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        program.display(),
        out.status
    );
    format!("{stdout}{stderr}")
}

/// The template as JSON, read by cfn-lint's own decoder (it knows the short-form tags).
fn template_json(cfn_lint: &Path) -> Value {
    let python = cfn_lint.with_file_name("python");
    let python = if python.is_file() { python } else { PathBuf::from("python3") };
    let script = "import json, sys\nfrom cfnlint.decode import decode\ntemplate, matches = decode(sys.argv[1])\nif matches:\n    sys.exit('\\n'.join(str(m) for m in matches))\nprint(json.dumps(template))";
    let out = Command::new(&python)
        .args(["-c", script, TEMPLATE])
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    assert!(out.status.success(), "decoding the template: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the decoder prints JSON")
}

/// `*` matches any run of characters (EventBridge's wildcard matching).
fn wildcard(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(text) = text.strip_prefix(head) else { return false };
            (0..=text.len()).filter(|i| text.is_char_boundary(*i)).any(|i| wildcard(rest, &text[i..]))
        }
    }
}

/// A policy's statements with `Fn::If` branches flattened (both may apply).
fn statements(function: &Value) -> Vec<Value> {
    fn flatten(v: &Value, out: &mut Vec<Value>) {
        if let Some(branches) = v.get("Fn::If").and_then(Value::as_array) {
            for branch in &branches[1..] {
                flatten(branch, out);
            }
        } else if v.get("Effect").is_some() {
            out.push(v.clone());
        }
    }
    let mut out = Vec::new();
    for policy in function["Properties"]["Policies"].as_array().into_iter().flatten() {
        for s in policy["Statement"].as_array().into_iter().flatten() {
            flatten(s, &mut out);
        }
    }
    out
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().expect("an action name").to_string()).collect(),
        other => panic!("an Action: {other}"),
    }
}

#[test]
fn the_template_passes_the_linters() {
    let (Some(sam), Some(cfn_lint)) = (tool("sam"), tool("cfn-lint")) else { return };
    let said = assert_passes(&sam, &["validate", "--lint", "--template", TEMPLATE]);
    assert!(said.contains("is a valid SAM Template"), "{said}");
    assert_passes(&cfn_lint, &[TEMPLATE]);

    // The linters do fail on a broken template (so a pass above means something).
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("template.yaml");
    let text = std::fs::read_to_string(TEMPLATE).unwrap();
    assert!(text.contains("SSEAlgorithm: AES256"));
    std::fs::write(&broken, text.replace("SSEAlgorithm: AES256", "SSEAlgorithm: AES257")).unwrap();
    let broken = broken.to_str().unwrap();
    assert!(!run_checker(&cfn_lint, &[broken]).status.success(), "cfn-lint accepted a bad SSEAlgorithm");
    assert!(
        !run_checker(&sam, &["validate", "--lint", "--template", broken]).status.success(),
        "sam validate --lint accepted a bad SSEAlgorithm"
    );
}

#[test]
fn the_template_holds_what_matters() {
    let Some(cfn_lint) = tool("cfn-lint") else { return };
    let t = template_json(&cfn_lint);
    let resources = t["Resources"].as_object().expect("resources");
    let of_type = |ty: &str| -> Vec<(&String, &Value)> { resources.iter().filter(|(_, r)| r["Type"] == ty).collect() };

    // Only what the stack owns: the observations bucket is never a resource of it.
    let allowed = [
        "AWS::Serverless::Function",
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::Queue",
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGatewayV2::Route",
        "AWS::ApiGatewayV2::Stage",
        "AWS::Lambda::Permission",
        "AWS::IAM::ManagedPolicy",
    ];
    for (name, r) in resources {
        assert!(allowed.contains(&r["Type"].as_str().unwrap()), "{name}: unexpected resource type {}", r["Type"]);
    }
    let buckets = of_type("AWS::S3::Bucket");
    assert_eq!(buckets.len(), 1, "one bucket: the exports bucket");
    let (bucket_name, bucket) = buckets[0];
    for (name, policy) in of_type("AWS::S3::BucketPolicy") {
        assert_eq!(policy["Properties"]["Bucket"], json!({"Ref": bucket_name}), "{name} is on the exports bucket");
    }

    // The exports bucket: lifecycle rules (same IDs as `setup-bucket`), public access, encryption.
    let p = &bucket["Properties"];
    let rules = p["LifecycleConfiguration"]["Rules"].as_array().expect("lifecycle rules");
    let rule = |id: &str| rules.iter().find(|r| r["Id"] == id).unwrap_or_else(|| panic!("lifecycle rule {id}"));
    let expire = rule(EXPIRE_OUTPUTS_RULE_ID);
    assert_eq!(expire["Status"], "Enabled");
    assert_eq!(expire["Prefix"], OUTPUTS_PREFIX);
    assert_eq!(expire["ExpirationInDays"], json!({"Ref": "ExportExpirationDays"}));
    let days = &t["Parameters"]["ExportExpirationDays"];
    assert_eq!(days["Type"], "Number");
    assert_eq!(days["Default"], 7, "the same default as EXPORT_EXPORT_EXPIRATION_DAYS");
    let abort = rule(ABORT_UPLOADS_RULE_ID);
    assert_eq!(abort["Status"], "Enabled");
    assert_eq!(abort["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"], ABORT_AFTER_DAYS);
    assert!(abort.get("Prefix").is_none() && abort.get("TagFilters").is_none(), "the whole bucket: {abort}");
    let block = &p["PublicAccessBlockConfiguration"];
    for setting in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(block[setting], true, "{setting}");
    }
    let sse = &p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"];
    assert!(["AES256", "aws:kms"].contains(&sse["SSEAlgorithm"].as_str().unwrap_or_default()), "{sse}");
    // Its name is an output: EXPORT_S3_BUCKET for workers outside the stack.
    assert_eq!(t["Outputs"]["ExportsBucketName"]["Value"], json!({"Ref": bucket_name}));

    // Functions: one binary, four roles.
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Handler"], "bootstrap");
    let functions = of_type("AWS::Serverless::Function");
    let role_of =
        |f: &Value| f["Properties"]["Environment"]["Variables"]["AAO_ROLE"].as_str().unwrap_or("").to_string();
    let mut roles: Vec<String> = functions.iter().map(|(_, f)| role_of(f)).collect();
    roles.sort();
    assert_eq!(roles, ["api", "index", "upkeep", "worker"]);
    for (name, f) in &functions {
        assert_eq!(f["Metadata"]["BuildProperties"]["Binary"], "aao-export", "{name} ships aao-export");
        assert!(f["Properties"].get("Runtime").is_none_or(|r| r == "provided.al2023"), "{name}");
    }
    let function = |role: &str| -> (&String, &Value) {
        *functions.iter().find(|(_, f)| role_of(f) == role).unwrap_or_else(|| panic!("the {role} function"))
    };

    // The worker: fed by the export queue one message at a time, partial batch responses, a
    // visibility timeout of at least six times its timeout.
    let (_, worker) = function("worker");
    let events: Vec<&Value> = worker["Properties"]["Events"].as_object().unwrap().values().collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["Type"], "SQS");
    let source = &events[0]["Properties"];
    assert_eq!(source["BatchSize"], 1);
    assert!(source["FunctionResponseTypes"].as_array().unwrap().contains(&json!("ReportBatchItemFailures")));
    let queue_name = source["Queue"]["Fn::GetAtt"][0].as_str().expect("the queue by GetAtt").to_string();
    let queue = &resources[&queue_name];
    assert_eq!(queue["Type"], "AWS::SQS::Queue");
    let timeout = worker["Properties"]["Timeout"].as_u64().expect("a literal worker timeout");
    assert_eq!(timeout, 900, "Lambda's longest");
    let visibility = queue["Properties"]["VisibilityTimeout"].as_u64().expect("a literal visibility timeout");
    assert!(visibility >= 6 * timeout, "visibility {visibility} s < 6 × the worker's {timeout} s");
    assert!(visibility <= 43_200, "SQS's longest visibility timeout");
    let redrive = &queue["Properties"]["RedrivePolicy"];
    let receives = redrive["maxReceiveCount"].as_u64().expect("maxReceiveCount");
    assert!((1..=10).contains(&receives), "maxReceiveCount {receives}");
    let dead = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0].as_str().expect("the dead-letter queue by GetAtt");
    assert_eq!(resources[dead]["Type"], "AWS::SQS::Queue");
    assert_ne!(dead, queue_name);
    assert_eq!(t["Outputs"]["ExportQueueUrl"]["Value"], json!({"Ref": queue_name}));
    let worker_actions: Vec<String> = statements(worker).iter().flat_map(actions).collect();
    for needed in ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:SendMessage"] {
        assert!(worker_actions.iter().any(|a| a == needed), "the worker may {needed}");
    }

    // Upkeep every 5 minutes.
    let (_, upkeep) = function("upkeep");
    let schedules: Vec<&Value> = upkeep["Properties"]["Events"]
        .as_object()
        .unwrap()
        .values()
        .filter(|e| e["Type"] == "Schedule")
        .map(|e| &e["Properties"]["Schedule"])
        .collect();
    assert_eq!(schedules, [&json!("rate(5 minutes)")]);

    // The indexer: the observations bucket's RDO events, and an hourly scan.
    let (_, index) = function("index");
    let events = index["Properties"]["Events"].as_object().unwrap();
    let rule = events.values().find(|e| e["Type"] == "EventBridgeRule").expect("an EventBridge rule");
    let pattern = &rule["Properties"]["Pattern"];
    assert_eq!(pattern["source"], json!(["aws.s3"]));
    let mut kinds: Vec<&str> = pattern["detail-type"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds, ["Object Created", "Object Deleted"]);
    assert_eq!(pattern["detail"]["bucket"]["name"], json!([{"Ref": "ObservationsBucketName"}]));
    let key = pattern["detail"]["object"]["key"][0]["wildcard"].as_str().expect("a wildcard on the key");
    for rdo in ["48734387-5226/rdo/1759583019000.e60b8866/output.json", "48734387-5226/rdo/e60b8866/output.json"] {
        assert!(wildcard(key, rdo), "{key} should match {rdo}");
        assert!(aao_export_worker::index::is_rdo_key(rdo), "the indexer's own rule agrees on {rdo}");
    }
    for other in ["48734387-5226/temp-v2/x/480.jpg", "48734387-5226/rdo/e60b8866/output.json.tmp"] {
        assert!(!wildcard(key, other), "{key} should not match {other}");
    }
    let scans: Vec<&Value> =
        events.values().filter(|e| e["Type"] == "Schedule").map(|e| &e["Properties"]["Schedule"]).collect();
    assert_eq!(scans, [&json!("rate(1 hour)")]);

    // Least privilege: no wildcard actions or resources; each role only what it uses.
    for (name, f) in &functions {
        for s in statements(f) {
            assert_eq!(s["Effect"], "Allow", "{name}: {s}");
            for a in actions(&s) {
                assert!(!a.contains('*'), "{name}: wildcard action {a}");
            }
            assert_ne!(s["Resource"], "*", "{name}: {s}");
        }
    }
    let only = |role: &str, allowed: &[&str]| {
        let (name, f) = function(role);
        for a in statements(f).iter().flat_map(actions) {
            assert!(allowed.contains(&a.as_str()), "{name} ({role}) may not {a}");
        }
    };
    // kms:Decrypt only with a customer-managed key for the secrets, and only through Secrets Manager.
    let secrets = ["secretsmanager:GetSecretValue", "kms:Decrypt"];
    only("index", &[&["s3:GetObject", "s3:ListBucket"][..], &secrets].concat());
    only("upkeep", &[&["s3:DeleteObject", "sqs:SendMessage"][..], &secrets].concat());
    only("api", &[&["s3:GetObject", "s3:DeleteObject", "s3:ListBucket", "sqs:SendMessage"][..], &secrets].concat());
    for (name, f) in &functions {
        for s in statements(f).iter().filter(|s| actions(s).contains(&"kms:Decrypt".to_string())) {
            assert_eq!(s["Resource"], json!({"Ref": "SecretsKmsKeyArn"}), "{name}");
            assert_eq!(
                s["Condition"]["StringEquals"]["kms:ViaService"],
                json!({"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}),
                "{name}: only through Secrets Manager"
            );
        }
    }

    // Secrets: never in the template or a function's configuration (no `{{resolve:…}}`): each
    // function is told the ARNs of the secrets it uses, reads them at start, and its role may read
    // exactly those.
    let text = serde_json::to_string(&t).unwrap();
    assert!(!text.contains("resolve:secretsmanager"), "a secret resolved into the configuration");
    let env = &globals["Environment"]["Variables"];
    for var in ["DATABASE_URL", "JWT_SECRET", "EMAIL_SMTP_URL", "API_KEY_SALT", "OIDC_CLIENT_SECRET"] {
        assert!(env.get(var).is_none(), "no function is given {var} itself");
    }
    assert_eq!(
        env["DATABASE_URL_SECRET_ID"],
        json!({"Ref": "DatabaseUrlSecretArn"}),
        "every function uses the database"
    );
    let secrets_of = |role: &str| -> (Vec<String>, Vec<Value>) {
        let (_, f) = function(role);
        let vars = f["Properties"]["Environment"]["Variables"].as_object().unwrap();
        let mut named: Vec<String> = vars
            .keys()
            .filter(|k| k.ends_with("_SECRET_ID"))
            .map(|k| k.trim_end_matches("_SECRET_ID").to_string())
            .collect();
        named.sort();
        let readable = statements(f)
            .into_iter()
            .filter(|s| actions(s).contains(&"secretsmanager:GetSecretValue".to_string()))
            .map(|s| s["Resource"].clone())
            .collect();
        (named, readable)
    };
    let refs = |names: &[&str]| -> Value { Value::Array(names.iter().map(|n| json!({"Ref": n})).collect()) };
    let (named, readable) = secrets_of("api");
    assert_eq!(
        named,
        ["API_KEY_SALT", "JWT_SECRET", "OIDC_CLIENT_SECRET"],
        "the api's own secrets (and the database's, from Globals)"
    );
    let optional = |condition: &str, arn: &str| json!({"Fn::If": [condition, {"Ref": arn}, {"Ref": "AWS::NoValue"}]});
    assert_eq!(
        readable,
        [json!([
            {"Ref": "DatabaseUrlSecretArn"},
            {"Ref": "JwtSecretArn"},
            optional("HasApiKeySalt", "ApiKeySaltSecretArn"),
            optional("HasOidcClientSecret", "OidcClientSecretArn")
        ])]
    );
    for role in ["worker", "upkeep"] {
        let (named, readable) = secrets_of(role);
        assert_eq!(named, ["EMAIL_SMTP_URL"], "{role}: e-mail only, never the JWT secret");
        assert_eq!(
            readable,
            [
                json!({"Fn::If": ["HasEmail", refs(&["DatabaseUrlSecretArn", "EmailSmtpUrlSecretArn"]), {"Ref": "DatabaseUrlSecretArn"}]})
            ],
            "{role}"
        );
    }
    let (named, readable) = secrets_of("index");
    assert!(named.is_empty(), "the indexer parses participants' data and holds no secret but the database's");
    assert_eq!(readable, [json!({"Ref": "DatabaseUrlSecretArn"})]);
    // One role per function (SAM makes one from each function's own policies), none shared.
    for (name, f) in &functions {
        assert!(f["Properties"].get("Role").is_none(), "{name} has its own role, not a shared one");
    }
    let outputs = serde_json::to_string(&t["Outputs"]).unwrap();
    for secret in ["DatabaseUrlSecret", "JwtSecret", "EmailSmtpUrlSecret", "ApiKeySalt", "OidcClientSecret", "resolve:"]
    {
        assert!(!outputs.contains(secret), "an output names {secret}: {outputs}");
    }
    for required in ["ApiUrl", "ExportQueueUrl", "ExportsBucketName", "LongJobQueueUrl"] {
        assert!(t["Outputs"].get(required).is_some(), "output {required}");
    }

    // The long-job queue: optional, and the worker is told about it when it is there.
    let long = &resources["LongJobQueue"];
    assert_eq!(long["Condition"], "WithLongJobQueue");
    assert_eq!(t["Outputs"]["LongJobQueueUrl"]["Condition"], "WithLongJobQueue");
    assert_eq!(env["EXPORT_LONG_SQS_QUEUE_URL"]["Fn::If"][1], json!({"Ref": "LongJobQueue"}));
    for var in ["EXPORT_SQS_QUEUE_URL", "EXPORT_S3_BUCKET", "BUCKETS_OBSERVATIONS", "EXPORT_EXPORT_EXPIRATION_DAYS"] {
        assert!(env.get(var).is_some(), "every function gets {var}");
    }
}

/// `sam build` on the template: one `cargo lambda build --release --bin aao-export` (with
/// `--arm64` for arm64) serves all four functions, each shipped as `bootstrap`. A stand-in `cargo`
/// records the call and leaves a bootstrap where cargo-lambda would (the real build is the
/// release build this suite already makes; building it again for Lambda takes 20 minutes here).
#[test]
fn sam_build_runs_cargo_lambda_once_for_every_function() {
    let Some(sam) = tool("sam") else { return };
    for (architecture, wanted) in [
        ("x86_64", "lambda build --release --bin aao-export"),
        ("arm64", "lambda build --release --arm64 --bin aao-export"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (bin, calls, target) = (dir.path().join("bin"), dir.path().join("calls"), dir.path().join("target"));
        std::fs::create_dir(&bin).unwrap();
        let fake = bin.join("cargo");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{calls}'\nif [ \"$1\" = lambda ]; then\n  mkdir -p \"$CARGO_TARGET_DIR/lambda/aao-export\" && echo built > \"$CARGO_TARGET_DIR/lambda/aao-export/bootstrap\"\nelse\n  exec '{cargo}' \"$@\"\nfi\n",
                calls = calls.display(),
                cargo = env!("CARGO"),
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let path = std::env::join_paths(
            std::iter::once(bin.clone()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .unwrap();
        let out = Command::new(&sam)
            .args(["build", "--template", TEMPLATE, "--build-dir", "out", "--parameter-overrides"])
            .arg(format!("Architecture={architecture}"))
            .current_dir(dir.path())
            .env("PATH", path)
            // cargo metadata tells SAM where the binary lands: a folder of this test, not target/.
            .env("CARGO_TARGET_DIR", &target)
            .env("AWS_DEFAULT_REGION", "ap-southeast-2")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("SAM_CLI_TELEMETRY", "0")
            .output()
            .unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "sam build ({architecture}) failed:\n{said}");
        assert!(said.contains(&format!("architecture: {architecture}")), "{said}");
        let calls = std::fs::read_to_string(&calls).unwrap();
        let builds: Vec<&str> = calls.lines().filter(|l| l.starts_with("lambda")).collect();
        assert_eq!(builds, [wanted], "one build for all four functions:\n{calls}");
        for function in ["ApiFunction", "WorkerFunction", "UpkeepFunction", "IndexFunction"] {
            let bootstrap = dir.path().join("out").join(function).join("bootstrap");
            assert_eq!(std::fs::read_to_string(&bootstrap).unwrap_or_default(), "built\n", "{}", bootstrap.display());
        }
    }
}

#[test]
fn the_wildcard_matcher_works() {
    assert!(wildcard("*/rdo/*/output.json", "a/rdo/b/output.json"));
    assert!(wildcard("*", ""));
    assert!(!wildcard("*/rdo/*/output.json", "a/rdo/b/output.jsonx"));
    assert!(!wildcard("a*", "ba"));
}

// ---------------------------------------------------------------------------------------------
// setup-bucket and check against the emulator
// ---------------------------------------------------------------------------------------------

fn lines(out: &std::process::Output) -> (bool, String, String) {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.success(), stdout.into_owned(), stderr.into_owned())
}

#[tokio::test]
async fn setup_bucket_then_check() {
    let Some(endpoint) = external("TEST_S3_ENDPOINT", "setup-bucket and check on the S3 emulator") else { return };
    let bucket = create_bucket(&endpoint);
    let observations = create_bucket(&endpoint);
    let queue =
        create_queue(&endpoint, &format!("aao-check-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).await;
    let secret = "jwt-secret-that-must-not-print-4711";
    let work = Workdir::local()
        .with_aws(&endpoint)
        .with("BUCKETS_OBSERVATIONS", &format!("s3://{observations}"))
        .with("EXPORT_S3_BUCKET", &bucket)
        .with("EXPORT_SQS_QUEUE_URL", &queue)
        .with("JWT_SECRET", secret);

    // Before: the bucket rules are missing, everything else answers.
    let (ok, stdout, stderr) = lines(&work.run(&["check"]));
    assert!(!ok, "check passes with the rules missing:\n{stdout}");
    assert!(stderr.contains("problems found"), "{stderr}");
    assert!(stdout.contains("OK       database: sqlite"), "{stdout}");
    assert!(
        stdout.contains(&format!("OK       observations store: s3://{observations} (reachable, empty)")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("OK       exports store: s3://{bucket}")), "{stdout}");
    assert!(stdout.contains(&format!("OK       queue: {queue}: 0 messages waiting")), "{stdout}");
    assert!(stdout.contains("dead-letter queue after 5 receives"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "PROBLEM  exports bucket rules: {bucket}: missing lifecycle rule {EXPIRE_OUTPUTS_RULE_ID}: enabled, objects under outputs/, expire after 7 days"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("missing public access block"), "{stdout}");

    // setup-bucket: the changes, then nothing.
    let (ok, stdout, stderr) = lines(&work.run(&["setup-bucket"]));
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "bucket {bucket}: added lifecycle rule {EXPIRE_OUTPUTS_RULE_ID}: enabled, objects under outputs/, expire after 7 days"
        )),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("bucket {bucket}: added lifecycle rule {ABORT_UPLOADS_RULE_ID}")), "{stdout}");
    assert!(stdout.contains(&format!("bucket {bucket}: added public access block")), "{stdout}");
    let (ok, stdout, _) = lines(&work.run(&["setup-bucket"]));
    assert!(ok);
    assert_eq!(
        stdout.trim(),
        format!(
            "bucket {bucket}: nothing to change (lifecycle rules, public access block and encryption are in place)"
        )
    );

    // After: all OK, exit 0.
    let (ok, stdout, stderr) = lines(&work.run(&["check"]));
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("OK       exports bucket rules: {bucket}: outputs/ expire after 7 days")),
        "{stdout}"
    );
    assert!(!stdout.contains("PROBLEM"), "{stdout}");
    assert!(stdout.contains("OK       JWT secret: set"));
    assert!(!stdout.contains(secret) && !stderr.contains(secret), "the JWT secret printed");
    assert!(!stdout.contains("aao.db"), "the database URL printed: {stdout}");

    // A new expiry: check sees the difference, setup-bucket changes that rule only.
    let work = work.with("EXPORT_EXPORT_EXPIRATION_DAYS", "14");
    let (ok, stdout, _) = lines(&work.run(&["check"]));
    assert!(!ok);
    assert!(stdout.contains(&format!("lifecycle rule {EXPIRE_OUTPUTS_RULE_ID} differs: wanted enabled, objects under outputs/, expire after 14 days; found enabled, objects under outputs/, expire after 7 days")), "{stdout}");
    let (ok, stdout, _) = lines(&work.run(&["setup-bucket"]));
    assert!(ok);
    assert_eq!(
        stdout.trim(),
        format!(
            "bucket {bucket}: changed lifecycle rule {EXPIRE_OUTPUTS_RULE_ID}: enabled, objects under outputs/, expire after 14 days (was: enabled, objects under outputs/, expire after 7 days)"
        )
    );
}

#[tokio::test]
async fn check_names_what_is_wrong() {
    let Some(endpoint) = external("TEST_S3_ENDPOINT", "check on the S3 emulator") else { return };
    // A queue without a dead-letter queue, a bucket that does not exist.
    let sdk = aao_export_stores::sdk_config(&aao_export_stores::AwsSettings {
        region: aao_export_testkit::s3_region(),
        endpoint_url: Some(endpoint.clone()),
    })
    .await;
    let plain = aws_sdk_sqs::Client::new(&sdk)
        .create_queue()
        .queue_name(format!("aao-plain-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let missing = format!("aao-missing-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let work =
        Workdir::local().with_aws(&endpoint).with("EXPORT_S3_BUCKET", &missing).with("EXPORT_SQS_QUEUE_URL", &plain);
    let (ok, stdout, stderr) = lines(&work.run(&["check"]));
    assert!(!ok);
    assert!(stdout.contains(&format!("PROBLEM  queue: {plain}: no dead-letter queue")), "{stdout}");
    assert!(
        stdout.contains(&format!("PROBLEM  exports bucket rules: {missing}: bucket {missing} does not exist")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("PROBLEM  exports store: s3://{missing}")), "{stdout}");
    assert!(stdout.contains("OK       observations store"), "{stdout}");
    assert!(stdout.contains("NOTE     JWT secret: not set"), "{stdout}");
    assert!(stderr.contains("3 problems found"), "{stderr}");
    let (ok, _, stderr) = lines(&work.run(&["setup-bucket"]));
    assert!(!ok);
    assert!(stderr.contains(&format!("bucket {missing} does not exist")), "{stderr}");
}

#[test]
fn setup_bucket_wants_an_s3_bucket() {
    let work = Workdir::local();
    work.fails(&["setup-bucket"], "exports go to the local folder data/exports (EXPORT_LOCAL_DIR)");
    // The embedded shape checks out with no AWS at all.
    let stdout = work.ok(&["check"]);
    assert!(stdout.contains("OK       queue: the database queue"), "{stdout}");
    assert!(stdout.contains("OK       exports store: file://data/exports"), "{stdout}");
    assert!(!stdout.contains("exports bucket rules"), "{stdout}");
    assert!(stdout.contains("NOTE     email: EMAIL_SMTP_URL not set"), "{stdout}");
    // A mail server that does not answer is named, its URL's password never.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let work = work.with("EMAIL_SMTP_URL", &format!("smtp://mailer:hunter2@127.0.0.1:{closed}"));
    let (ok, stdout, stderr) = lines(&work.run(&["check"]));
    assert!(!ok, "{stdout}");
    assert!(stdout.contains("PROBLEM  email: the SMTP server: "), "{stdout}");
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"), "the SMTP password printed");
}
