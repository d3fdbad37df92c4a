//! The Lambda roles, run for real: the `aao-export` binary started as AWS Lambda starts it
//! (`AWS_LAMBDA_RUNTIME_API` set, no arguments, the role in `AAO_ROLE`) against cargo-lambda's
//! runtime emulator on loopback (`cargo lambda watch --only-lambda-apis`), with PostgreSQL and
//! moto's S3 and SQS behind it. Events are the samples that ship inside the `aws_lambda_events`
//! crate, changed only where the test needs (path, body, key).
//!
//! One story, role after role: the API creates an export and reads it back; the worker builds
//! it into S3 from its SQS message; a job whose store fails is retried as the process worker
//! retries it (a new message with `attempt + 1`); a message that is no job is dropped with a log
//! line and not reported as failed; upkeep sweeps; an S3 Object Created event makes a new ad
//! exportable and Object Deleted takes it out.

use crate::common;

use aao_export_core::export::ExportStatus;
use aao_export_queue::{Queue, SqsQueue};
use aao_export_stores::AwsSettings;
use aao_export_testkit::oidc::{CLIENT_ID, CLIENT_SECRET, OidcProvider};
use aao_export_testkit::{TestDatabase, create_bucket, create_queue, external, s3_region, tool};
use common::BIN;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{Value, json};
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The sample events inside the `aws_lambda_events` crate's sources: the version Cargo.lock
/// names, in cargo's registry folder (where the build put it).
fn sample_event(name: &str) -> Value {
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"aws_lambda_events\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .expect("aws_lambda_events is in Cargo.lock");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let registries = std::fs::read_dir(cargo_home.join("registry/src")).expect("cargo's registry sources");
    let path = registries
        .map(|r| r.unwrap().path().join(format!("aws_lambda_events-{version}/src/fixtures/{name}")))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} of aws_lambda_events {version} in {}", cargo_home.display()));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed (with its logs kept for the assertions) when dropped.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How the process ended, if it ends within `limit`.
    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// cargo-lambda's runtime emulator: the Runtime API for the function and the Invoke API for the
/// test, on one loopback port.
struct Emulator {
    port: u16,
    _process: Process,
    logs: tempfile::TempDir,
}

impl Emulator {
    fn start(cargo_lambda: &Path) -> Emulator {
        let logs = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = logs.path().join("emulator.log");
        let child = Command::new(cargo_lambda)
            // A worker function's timeout (900 s, as the template sets): the invocation's deadline.
            .args(["lambda", "watch", "--only-lambda-apis", "--timeout", "900", "-A", "127.0.0.1", "-P"])
            .arg(port.to_string())
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(logs.path().join("emulator.err")).unwrap())
            .spawn()
            .expect("cargo lambda watch starts");
        let process = Process { child, log };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "the emulator did not listen: {}", process.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        Emulator { port, _process: process, logs }
    }

    /// Starts the binary as the Lambda runtime would, serving `role`.
    fn function(&self, role: &str, env: &[(String, String)]) -> Process {
        let log = self.logs.path().join(format!("{role}-{}.log", uuid::Uuid::new_v4().simple()));
        let mut command = Command::new(BIN);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{}/.rt", self.port))
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AAO_ROLE", role)
            .env("RUST_LOG", "info")
            .current_dir(self.logs.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(
                std::fs::File::options()
                    .append(true)
                    .open(&log)
                    .unwrap_or_else(|_| std::fs::File::create(&log).unwrap()),
            );
        for (k, v) in env {
            command.env(k, v);
        }
        Process { child: command.spawn().expect("the binary starts"), log }
    }

    /// Invokes the function with `event` and returns its answer.
    async fn invoke(&self, event: &Value) -> Value {
        let url = format!("http://127.0.0.1:{}/2015-03-31/functions/_/invocations", self.port);
        let response = reqwest::Client::new()
            .post(&url)
            .json(event)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .expect("the emulator answers the invocation");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "invocation answered {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("a JSON answer ({e}): {text}"))
    }
}

/// PostgreSQL, moto's buckets, queue and secrets, a seeded catalogue and a user with an API key.
struct Stack {
    db: TestDatabase,
    endpoint: String,
    observations: String,
    exports: String,
    queue_url: String,
    queue: SqsQueue,
    api_key: String,
    /// Secrets Manager ARNs: the database URL (a JSON secret, as RDS keeps them) and the JWT secret.
    database_secret: String,
    jwt_secret: String,
}

const JWT_SECRET: &str = "lambda-test-secret-lambda-test-secret";

/// A secret in the emulator's Secrets Manager; its ARN.
async fn create_secret(endpoint: &str, purpose: &str, text: &str) -> String {
    let aws = AwsSettings { region: s3_region(), endpoint_url: Some(endpoint.to_string()) };
    let client = aws_sdk_secretsmanager::Client::new(&aao_export_aws::sdk_config(&aws).await);
    let name = format!("aao-export/{purpose}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let created =
        client.create_secret().name(&name).secret_string(text).send().await.expect("the emulator keeps the secret");
    created.arn().expect("a secret's ARN").to_string()
}

impl Stack {
    async fn new() -> Option<Stack> {
        let endpoint = external("TEST_S3_ENDPOINT", "the Lambda roles")?;
        let db = TestDatabase::postgres().await?;
        let observations = create_bucket(&endpoint, "lambda-obs");
        let exports = create_bucket(&endpoint, "lambda-exports");
        let name = format!("lambda-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let queue_url: String = create_queue(&endpoint, &name).await;
        let aws = AwsSettings { region: s3_region(), endpoint_url: Some(endpoint.clone()) };
        let queue = SqsQueue::connect(&queue_url, &aws).await;
        let database_secret =
            create_secret(&endpoint, "database", &json!({"url": db.url, "engine": "postgres"}).to_string()).await;
        let jwt_secret = create_secret(&endpoint, "jwt", JWT_SECRET).await;
        let mut stack = Stack {
            db,
            endpoint,
            observations,
            exports,
            queue_url,
            queue,
            api_key: String::new(),
            database_secret,
            jwt_secret,
        };
        stack.binary(&["demo-data", "--ads", "12", "--images-per-ad", "1"]);
        let added = stack.binary(&["users", "add", "alice", "--name", "Alice", "--role", "user"]);
        stack.api_key = added.lines().last().unwrap().trim().to_string();
        Some(stack)
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("DATABASE_URL", self.db.url.clone()),
            ("BUCKETS_OBSERVATIONS", format!("s3://{}", self.observations)),
            ("EXPORT_S3_BUCKET", self.exports.clone()),
            ("EXPORT_SQS_QUEUE_URL", self.queue_url.clone()),
            ("EXPORT_RETRY_BACKOFF_SECONDS", "0".into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", s3_region()),
            ("JWT_SECRET", JWT_SECRET.into()),
            ("SERVER_PUBLIC_URL", "https://api.example.test".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            env.push((key.into(), std::env::var(key).unwrap_or_else(|_| "test".into())));
        }
        env
    }

    /// A function's configuration, as the template gives it: the secrets by ARN only, and only
    /// the ones its role uses (the database's for all, the JWT secret for the api alone).
    fn function_env(&self, role: &str) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> =
            self.env().into_iter().filter(|(k, _)| k != "DATABASE_URL" && k != "JWT_SECRET").collect();
        env.push(("DATABASE_URL_SECRET_ID".into(), self.database_secret.clone()));
        env.push(("DATABASE_URL_SECRET_JSON_KEY".into(), "url".into()));
        if role == "api" {
            env.push(("JWT_SECRET_SECRET_ID".into(), self.jwt_secret.clone()));
        }
        env
    }

    /// Runs a command of the binary (as a process, not a Lambda) with the stack's configuration.
    fn binary(&self, args: &[&str]) -> String {
        let out = Command::new(BIN).args(args).env_clear().envs(self.env()).output().unwrap();
        assert!(out.status.success(), "aao-export {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// A bucket as the service opens it (credentials from the test command's environment).
    fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        aao_export_stores::open_store(
            &format!("s3://{bucket}"),
            &AwsSettings { region: s3_region(), endpoint_url: Some(self.endpoint.clone()) },
        )
        .unwrap()
    }

    /// The one job message waiting on the export queue, as an SQS event record.
    async fn next_message(&self) -> (Value, Value) {
        for _ in 0..50 {
            if let Some(m) = self.queue.receive(1, Duration::from_secs(60), Duration::from_secs(1)).await.unwrap().pop()
            {
                let body: Value = serde_json::from_str(&m.body).unwrap_or(Value::Null);
                return (sqs_event(&m.body, &m.receipt.0, m.receive_count), body);
            }
        }
        panic!("no message arrived on the export queue");
    }
}

/// The crate's SQS sample with one record carrying this message.
fn sqs_event(body: &str, receipt: &str, receive_count: u32) -> Value {
    let mut event = sample_event("example-sqs-event.json");
    let record = &mut event["Records"][0];
    record["messageId"] = json!(uuid::Uuid::new_v4().to_string());
    record["receiptHandle"] = json!(receipt);
    record["body"] = json!(body);
    record["attributes"]["ApproximateReceiveCount"] = json!(receive_count.to_string());
    event
}

/// The crate's API Gateway HTTP API (payload 2.0) sample, as this request.
fn http_event(method: &str, path: &str, api_key: &str, body: Option<&Value>) -> Value {
    let mut event = sample_event("example-apigw-v2-request-no-authorizer.json");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    let headers = event["headers"].as_object_mut().unwrap();
    headers.insert("x-api-key".into(), json!(api_key));
    headers.insert("accept".into(), json!("application/json"));
    match body {
        Some(body) => {
            let text = body.to_string();
            headers.insert("content-type".into(), json!("application/json"));
            headers.insert("content-length".into(), json!(text.len().to_string()));
            event["body"] = json!(text);
        }
        None => {
            headers.insert("content-length".into(), json!("0"));
        }
    }
    event
}

/// An HTTP API answer's status and JSON body.
fn http_answer(answer: &Value) -> (u64, Value) {
    let status = answer["statusCode"].as_u64().unwrap_or_else(|| panic!("an HTTP answer: {answer}"));
    let body = answer["body"].as_str().unwrap_or("null");
    assert_eq!(answer["isBase64Encoded"], json!(false), "{answer}");
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("JSON ({e}): {body}")))
}

/// An EventBridge event from S3 about `key`, in the envelope of the crate's EventBridge sample.
fn s3_event(detail_type: &str, bucket: &str, key: &str) -> Value {
    let mut event = sample_event("example-eventbridge-event-obj.json");
    event["source"] = json!("aws.s3");
    event["detail-type"] = json!(detail_type);
    event["detail"] = json!({
        "version": "0",
        "bucket": { "name": bucket },
        "object": { "key": key, "size": 1024, "etag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "00617F08299329D189" },
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "reason": if detail_type == "Object Created" { "PutObject" } else { "DeleteObject" },
    });
    event
}

async fn export_status(stack: &Stack, id: uuid::Uuid) -> aao_export_db::ExportRecord {
    stack.db.storage.export(id).await.unwrap().expect("the export exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_runs_under_the_lambda_runtime() {
    let Some(cargo_lambda) = tool("cargo-lambda") else { return };
    let Some(stack) = Stack::new().await else { return };
    let emulator = Emulator::start(&cargo_lambda);

    // --- api: POST /exports, then GET /exports/{id}, through API Gateway v2 events.
    let api = emulator.function("api", &stack.function_env("api"));
    let create = json!({ "query": { "method": "ALL" }, "include_images": true });
    let (status, created) =
        http_answer(&emulator.invoke(&http_event("POST", "/exports", &stack.api_key, Some(&create))).await);
    assert_eq!(status, 201, "{created}\n{}", api.log());
    assert_eq!(created["export"]["status"], "pending", "{created}");
    let id: uuid::Uuid = created["export"]["export_id"].as_str().unwrap().parse().unwrap();
    let (status, read) =
        http_answer(&emulator.invoke(&http_event("GET", &format!("/exports/{id}"), &stack.api_key, None)).await);
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["export_id"], json!(id.to_string()));
    assert_eq!(read["creator_id"], "alice");
    let (status, refused) = http_answer(&emulator.invoke(&http_event("GET", "/exports", "aao_wrong", None)).await);
    assert_eq!(status, 401, "a wrong key is refused as by the process: {refused}");
    // The JWT secret it read from Secrets Manager is the one tokens are signed with.
    let token = stack.binary(&["users", "token", "alice"]).trim().to_string();
    let mut bearer = http_event("GET", &format!("/exports/{id}"), "", None);
    bearer["headers"].as_object_mut().unwrap().remove("x-api-key");
    bearer["headers"]["authorization"] = json!(format!("Bearer {token}"));
    let (status, read) = http_answer(&emulator.invoke(&bearer).await);
    assert_eq!((status, &read["creator_id"]), (200, &json!("alice")), "{read}\n{}", api.log());
    assert!(!api.log().contains(JWT_SECRET) && !api.log().contains(&stack.db.url), "no secret in the log");
    drop(api);

    // Signing in with CILogon is an ordinary route of the same router; the client's secret comes
    // from Secrets Manager like the others.
    if let Some(provider) = OidcProvider::start("https://api.example.test/auth/oidc/callback", None) {
        let client_secret = create_secret(&stack.endpoint, "oidc", CLIENT_SECRET).await;
        let mut env = stack.function_env("api");
        env.push(("OIDC_ISSUER_URL".into(), provider.issuer.clone()));
        env.push(("OIDC_CLIENT_ID".into(), CLIENT_ID.into()));
        env.push(("OIDC_CLIENT_SECRET_SECRET_ID".into(), client_secret));
        let api = emulator.function("api", &env);
        let mut start = http_event("GET", "/auth/oidc/start", "", None);
        start["headers"].as_object_mut().unwrap().remove("x-api-key");
        start["rawQueryString"] = json!("next=/exports/new");
        start["queryStringParameters"] = json!({"next": "/exports/new"});
        let answer = emulator.invoke(&start).await;
        assert_eq!(answer["statusCode"], json!(303), "{answer}\n{}", api.log());
        let to = answer["headers"]["location"].as_str().unwrap_or_default();
        assert!(to.starts_with(&format!("{}/auth?", provider.issuer)), "to the provider: {to}");
        for part in [
            "client_id=aao-export",
            "code_challenge_method=S256",
            "redirect_uri=https%3A%2F%2Fapi.example.test%2Fauth%2Foidc%2Fcallback",
        ] {
            assert!(to.contains(part), "{part} in {to}");
        }
        let cookies = answer["cookies"].to_string();
        assert!(cookies.contains("__Host-aao_oidc_flow=") && cookies.contains("SameSite=Lax"), "{answer}");
        assert!(!api.log().contains(CLIENT_SECRET), "no secret in the log");
    }

    // A function whose secret cannot be read stops at once, naming the variable and the secret.
    let mut missing = stack.function_env("api");
    let gone = format!("{}-gone", stack.jwt_secret);
    missing.iter_mut().filter(|(k, _)| k == "JWT_SECRET_SECRET_ID").for_each(|(_, v)| *v = gone.clone());
    let mut refused = emulator.function("api", &missing);
    let status = refused.wait(Duration::from_secs(30)).expect("the function stops by itself");
    assert!(!status.success());
    let said = refused.log();
    assert!(said.contains("JWT_SECRET_SECRET_ID: the secret") && said.contains(&gone), "{said}");

    // --- worker: the export's SQS message builds the ZIP into the exports bucket.
    let worker = emulator.function("worker", &stack.function_env("worker"));
    let (event, job) = stack.next_message().await;
    assert_eq!(job["export_id"], json!(id.to_string()));
    let answer = emulator.invoke(&event).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}\n{}", worker.log());
    let done = export_status(&stack, id).await;
    assert_eq!(done.status, ExportStatus::Completed, "{done:?}\n{}", worker.log());
    let key = done.object_location.clone().unwrap();
    let zip_bytes = stack.store(&stack.exports).get(&key.as_str().into()).await.unwrap().bytes().await.unwrap();
    assert_eq!(zip_bytes.len() as u64, done.size_bytes.unwrap());
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes.to_vec())).expect("a valid ZIP in S3");
    let mut csv = String::new();
    zip.by_name("all_data.csv").unwrap().read_to_string(&mut csv).unwrap();
    let rows = csv::Reader::from_reader(csv.as_bytes()).records().count() as u64;
    assert_eq!(rows, done.ad_count.unwrap());
    assert_eq!(rows, stack.db.storage.catalogue_size().await.unwrap(), "every ad of the catalogue");
    drop(worker);

    // --- a job whose exports store fails: retried as the process worker retries it.
    let second = create_export(&emulator, &stack).await;
    let broken: Vec<(String, String)> = stack
        .function_env("worker")
        .into_iter()
        .map(|(k, v)| if k == "EXPORT_S3_BUCKET" { (k, "aao-no-such-bucket".into()) } else { (k, v) })
        .collect();
    let worker = emulator.function("worker", &broken);
    let (event, job) = stack.next_message().await;
    assert_eq!((job["export_id"].as_str(), job["attempt"].as_u64()), (Some(second.to_string().as_str()), Some(1)));
    let answer = emulator.invoke(&event).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "the retry is a new message, this one is done: {answer}");
    let retried = export_status(&stack, second).await;
    assert_eq!((retried.status, retried.attempt), (ExportStatus::Pending, 2), "{retried:?}");
    assert!(retried.message.as_deref().unwrap_or("").contains("attempt 1 failed"), "{:?}", retried.message);
    drop(worker);
    let worker = emulator.function("worker", &stack.function_env("worker"));
    let (event, job) = stack.next_message().await;
    assert_eq!((job["export_id"].as_str(), job["attempt"].as_u64()), (Some(second.to_string().as_str()), Some(2)));
    let answer = emulator.invoke(&event).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    assert_eq!(export_status(&stack, second).await.status, ExportStatus::Completed);

    // --- a message that is no job: dropped (deleted) with a log line, not reported as failed.
    stack.queue.send("this is not an export job", Duration::ZERO).await.unwrap();
    let (event, _) = stack.next_message().await;
    let answer = emulator.invoke(&event).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    assert!(worker.log().contains("dropping a message that is not an export job"), "{}", worker.log());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        stack.queue.receive(1, Duration::from_secs(1), Duration::from_secs(1)).await.unwrap().is_empty(),
        "the queue is empty: the poison message was deleted"
    );
    drop(worker);

    // --- upkeep (a schedule's event): with a zero expiry, both exports expire, files deleted.
    let mut expiring = stack.function_env("upkeep");
    expiring.push(("EXPORT_EXPORT_EXPIRATION_DAYS".into(), "0".into()));
    let upkeep = emulator.function("upkeep", &expiring);
    let answer = emulator.invoke(&sample_event("example-eventbridge-schedule.json")).await;
    assert_eq!(answer["expired"], json!(2), "{answer}\n{}", upkeep.log());
    assert_eq!(answer["files_deleted"], json!(2), "{answer}");
    assert_eq!(export_status(&stack, id).await.status, ExportStatus::Expired);
    let gone = stack.store(&stack.exports).head(&key.as_str().into()).await;
    assert!(matches!(gone, Err(object_store::Error::NotFound { .. })), "the ZIP is deleted: {gone:?}");
    drop(upkeep);

    // --- index: an RDO lands (Object Created) → exportable; it goes (Object Deleted) → gone.
    let index = emulator.function("index", &stack.function_env("index"));
    let before = stack.db.storage.catalogue_size().await.unwrap();
    let sample = stack
        .db
        .storage
        .search_page(&aao_export_core::query::Query::from_json(&json!({"method":"ALL"})).unwrap(), None, 1)
        .await
        .unwrap()
        .remove(0);
    let mut rdo: Value = serde_json::from_str(&sample.rdo).unwrap();
    let ad = uuid::Uuid::new_v4().to_string();
    let observation_uuid = format!("{}.{ad}", chrono_ms());
    rdo["observation"]["uuid"] = json!(observation_uuid);
    let new_key = format!("{}/rdo/{observation_uuid}/output.json", sample.observer_id);
    let observations = stack.store(&stack.observations);
    observations.put(&new_key.as_str().into(), rdo.to_string().into()).await.unwrap();
    let answer = emulator.invoke(&s3_event("Object Created", &stack.observations, &new_key)).await;
    assert_eq!(answer["indexed"], json!(1), "{answer}\n{}", index.log());
    assert!(stack.db.storage.catalogue_ad(&ad).await.unwrap().is_some(), "the new ad is exportable");
    assert_eq!(stack.db.storage.catalogue_size().await.unwrap(), before + 1);
    observations.delete(&new_key.as_str().into()).await.unwrap();
    let answer = emulator.invoke(&s3_event("Object Deleted", &stack.observations, &new_key)).await;
    assert_eq!(answer["removed"], json!(1), "{answer}");
    assert!(stack.db.storage.catalogue_ad(&ad).await.unwrap().is_none(), "the ad left the catalogue");
    assert_eq!(stack.db.storage.catalogue_size().await.unwrap(), before);
    // Another bucket's event changes nothing; the schedule runs the full scan.
    let answer = emulator.invoke(&s3_event("Object Created", "someone-elses-bucket", &new_key)).await;
    assert!(answer["ignored"].as_str().unwrap().contains("someone-elses-bucket"), "{answer}");
    let answer = emulator.invoke(&sample_event("example-eventbridge-schedule.json")).await;
    assert_eq!(answer["scanned"].as_u64(), Some(12), "the full scan sees every demo RDO: {answer}");
    drop(index);
}

fn chrono_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
}

/// Creates an export through a fresh `api` function; its id.
async fn create_export(emulator: &Emulator, stack: &Stack) -> uuid::Uuid {
    let _api = emulator.function("api", &stack.env());
    let body = json!({ "query": { "method": "ALL" }, "include_images": false });
    let (status, created) =
        http_answer(&emulator.invoke(&http_event("POST", "/exports", &stack.api_key, Some(&body))).await);
    assert_eq!(status, 201, "{created}");
    created["export"]["export_id"].as_str().unwrap().parse().unwrap()
}
