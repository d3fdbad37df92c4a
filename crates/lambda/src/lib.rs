//! The Lambda front door (DESIGN.md §11). The same `aao-export` binary serves every role: started
//! by the Lambda runtime (`AWS_LAMBDA_RUNTIME_API` set) it runs the role its function names in
//! `AAO_ROLE`. Each handler is thin: it turns the event into a call of the same router, runner,
//! upkeep or indexer that the long-running processes use, and their outcome into the answer Lambda
//! expects. The cli wires the parts (configuration, stores, database) and calls `serve`.

use aao_export_db::CatalogueDb;
use aao_export_queue::{Receipt, Received};
use aao_export_worker::index::{IndexReport, index_keys, index_observations};
use aao_export_worker::runner::{Runner, Settled};
use aao_export_worker::upkeep::Upkeep;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use object_store::ObjectStore;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::SystemTime;
use tokio_util::sync::CancellationToken;

pub use lambda_runtime::Error;

/// The part of the service one Lambda function runs, named by `AAO_ROLE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The HTTP API behind an API Gateway HTTP API (payload format 2.0).
    Api,
    /// Export jobs from SQS, one message per invocation.
    Worker,
    /// The sweeper and the rescuer, on a schedule.
    Upkeep,
    /// The indexer: S3 Object Created / Deleted events for RDO keys, or a scheduled full scan.
    Index,
}

impl Role {
    pub const NAMES: &str = "api, worker, upkeep or index";

    pub fn parse(name: &str) -> Option<Role> {
        match name.trim().to_ascii_lowercase().as_str() {
            "api" => Some(Role::Api),
            "worker" => Some(Role::Worker),
            "upkeep" => Some(Role::Upkeep),
            "index" => Some(Role::Index),
            _ => None,
        }
    }
}

/// The `api` role: the whole axum router, as the process serves it. Downloads never pass through
/// Lambda (its responses are limited to 6 MB): they are presigned S3 URLs.
pub async fn serve_api(router: axum::Router) -> Result<(), Error> {
    lambda_http::run(router.layer(axum::middleware::map_request(with_source_ip))).await
}

/// API Gateway's `sourceIp` as the connection's address, where the router looks for the client's
/// (sign-ins are counted per address).
async fn with_source_ip(mut request: axum::extract::Request) -> axum::extract::Request {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    let ip = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
        _ => None,
    };
    if let Some(ip) = ip {
        request.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(ip, 0)));
    }
    request
}

/// What the `worker` role needs.
pub struct WorkerRole {
    pub runner: Arc<Runner>,
}

/// The `worker` role: each SQS message is one job, run by the runner's own code with the
/// invocation's deadline. A message is reported as failed (so SQS delivers it again) only when
/// the runner left it on the queue; everything else is settled (deleted, or handed on).
pub async fn serve_worker(role: WorkerRole) -> Result<(), Error> {
    let role = Arc::new(role);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let role = role.clone();
        async move { Ok::<_, Error>(handle_sqs(&role, event).await) }
    }))
    .await
}

async fn handle_sqs(role: &WorkerRole, event: LambdaEvent<SqsEvent>) -> SqsBatchResponse {
    let deadline = deadline(&event.context);
    tracing::info!(
        seconds_left = deadline.duration_since(SystemTime::now()).unwrap_or_default().as_secs(),
        "SQS batch received"
    );
    let mut response = SqsBatchResponse::default();
    for message in event.payload.records {
        let Some(message_id) = message.message_id.clone() else {
            tracing::warn!("an SQS record without a message id: nothing to report it by");
            continue;
        };
        let received = Received {
            body: message.body.unwrap_or_default(),
            receipt: Receipt(message.receipt_handle.unwrap_or_default()),
            receive_count: message.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1),
        };
        // Lambda gives no shutdown notice to a plain function: the deadline is the only stop.
        let settled = role.runner.handle_before(received, CancellationToken::new(), Some(deadline)).await;
        if settled == Settled::ComesBack {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    // Before answering: the runtime freezes the process once it has the answer.
    if let Some(notices) = &role.runner.notices {
        notices.send_due().await;
    }
    response
}

/// When the invocation must be answered. Lambda sends a timestamp (ms since 1970); cargo-lambda's
/// emulator sends the time left (ms) instead, which would read as a deadline in January 1970:
/// anything before 2001 is taken as time left.
fn deadline(context: &lambda_runtime::Context) -> SystemTime {
    const YEAR_2001_MS: u64 = 978_307_200_000;
    if context.deadline < YEAR_2001_MS {
        SystemTime::now() + std::time::Duration::from_millis(context.deadline)
    } else {
        context.deadline()
    }
}

/// The `upkeep` role: one pass of the sweeper, the rescuer and the email notices per invocation
/// (an EventBridge schedule); the event itself carries nothing it needs. Answers with what it did.
pub async fn serve_upkeep(upkeep: Upkeep) -> Result<(), Error> {
    let upkeep = Arc::new(upkeep);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| {
        let upkeep = upkeep.clone();
        async move {
            let report = upkeep.once().await?;
            Ok::<_, Error>(json!({
                "expired": report.sweep.expired,
                "files_deleted": report.sweep.files_deleted,
                "files_failed": report.sweep.files_failed,
                "rescued": report.rescued,
                "notices_sent": report.notices.sent,
                "notices_deferred": report.notices.deferred,
                "notices_given_up": report.notices.given_up,
            }))
        }
    }))
    .await
}

/// What the `index` role needs.
pub struct IndexRole {
    pub catalogue: Arc<dyn CatalogueDb>,
    pub observations: Arc<dyn ObjectStore>,
    /// The observations bucket's name when it is on S3: events about other buckets are ignored.
    pub bucket: Option<String>,
}

/// The `index` role: an EventBridge `Object Created` or `Object Deleted` event from the
/// observations bucket indexes just that key (so an ad is exportable seconds after its RDO
/// lands); any other event (the slower schedule) runs the full incremental scan, the backstop.
pub async fn serve_index(role: IndexRole) -> Result<(), Error> {
    let role = Arc::new(role);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent<Value>>| {
        let role = role.clone();
        async move { index_event(&role, event.payload).await }
    }))
    .await
}

async fn index_event(role: &IndexRole, event: EventBridgeEvent<Value>) -> Result<Value, Error> {
    let report = match event.detail_type.as_str() {
        "Object Created" | "Object Deleted" => {
            let bucket = event.detail.pointer("/bucket/name").and_then(Value::as_str);
            let key = event.detail.pointer("/object/key").and_then(Value::as_str);
            let Some(key) = key else {
                tracing::warn!(detail_type = %event.detail_type, "an S3 event without detail.object.key: ignored");
                return Ok(json!({ "ignored": "no object key" }));
            };
            if let (Some(expected), Some(bucket)) = (&role.bucket, bucket)
                && expected != bucket
            {
                tracing::warn!(%bucket, %expected, "an S3 event from another bucket: ignored");
                return Ok(json!({ "ignored": format!("bucket {bucket} is not the observations bucket") }));
            }
            index_keys(role.catalogue.clone(), role.observations.clone(), &[key.to_string()]).await?
        }
        _ => index_observations(role.catalogue.clone(), role.observations.clone(), |_| {}).await?,
    };
    tracing::info!(?report, "indexed");
    Ok(report_json(&report))
}

fn report_json(report: &IndexReport) -> Value {
    json!({
        "scanned": report.scanned,
        "indexed": report.indexed,
        "unchanged": report.unchanged,
        "withdrawn": report.withdrawn,
        "removed": report.removed,
        "unparseable": report.unparseable.len(),
    })
}
