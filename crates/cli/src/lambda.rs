//! Started by the Lambda runtime (`AWS_LAMBDA_RUNTIME_API` set): builds the parts of the role its
//! function names in `AAO_ROLE`, the same way the process roles do, and hands them to the Lambda
//! front door (`aao-export-lambda`). Configuration comes from the function's environment.

use crate::config::Config;
use crate::service;
use aao_export_db::Database;
use aao_export_lambda::{IndexRole, Role, WorkerRole};
use aao_export_stores::open_store;
use anyhow::{Context, anyhow, bail};
use std::sync::Arc;

/// True when the Lambda runtime started this process.
pub fn started_by_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Serves the role named in `AAO_ROLE` until the runtime stops the process.
pub async fn run(config: &Config, storage: Arc<dyn Database>) -> anyhow::Result<()> {
    let name = std::env::var("AAO_ROLE").unwrap_or_default();
    let Some(role) = Role::parse(&name) else {
        bail!("AAO_ROLE is {name:?}: a Lambda function runs one role, {}", Role::NAMES);
    };
    tracing::info!(?role, "starting as a Lambda function");
    let queue = service::open_queue(config, storage.clone()).await;
    let exports = service::open_exports(config)?;
    let observations = open_store(&config.observations, &config.aws())?;
    let served = match role {
        Role::Api => {
            if config.public_url_is_default() {
                bail!("SERVER_PUBLIC_URL must be set for the api role: the API Gateway URL its links point to");
            }
            let service = service::service(config, storage, observations, queue, exports, &config.public_url)?;
            let state = service::app_state(config, service, &config.public_url)?;
            aao_export_lambda::serve_api(aao_export_server::app(state)).await
        }
        Role::Worker => {
            let runner = service::runner(config, storage, queue, observations, exports).await?;
            aao_export_lambda::serve_worker(WorkerRole { runner: Arc::new(runner) }).await
        }
        Role::Upkeep => aao_export_lambda::serve_upkeep(service::upkeep(config, storage, queue, exports)?).await,
        Role::Index => {
            let bucket = bucket_name(&config.observations);
            aao_export_lambda::serve_index(IndexRole { catalogue: storage, observations, bucket }).await
        }
    };
    served.map_err(|e| anyhow!(e)).context("the Lambda runtime loop stopped")
}

/// `s3://bucket/…` → `bucket`; a local folder has none.
fn bucket_name(location: &str) -> Option<String> {
    let rest = location.strip_prefix("s3://")?;
    Some(rest.split('/').next().unwrap_or(rest).to_string()).filter(|b| !b.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn bucket_names() {
        assert_eq!(super::bucket_name("s3://aao-observations").as_deref(), Some("aao-observations"));
        assert_eq!(super::bucket_name("s3://aao-observations/prefix").as_deref(), Some("aao-observations"));
        assert_eq!(super::bucket_name("data/observations"), None);
    }
}
