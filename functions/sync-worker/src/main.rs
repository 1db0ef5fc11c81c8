//! `sync-worker`: one tenant's Graph delta sync per SQS message
//! (DESIGN.md 2.2). Wiring only; the per-message work is in `job.rs`.

mod job;

use entra_sync::config::WorkerConfig;
use entra_sync::graph::RetryPolicy;
use entra_sync::wiring::{self, AwsClients};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = wiring::start("sync-worker", WorkerConfig::from_env);
    let aws = AwsClients::load().await;
    let worker = job::SyncWorker {
        configs: aws.integrations(&config.common),
        state: aws.sync_state(&config.common),
        directory: aws.directory(&config.common),
        tokens: aws.token_provider(&config.common, &config.app),
        graph: wiring::graph_client(&config.common, RetryPolicy::default()),
    };
    let worker = &worker;
    run(service_fn(move |event| job::handle(worker, event))).await
}
