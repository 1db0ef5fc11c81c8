//! `sync-worker`: one tenant's Graph delta sync per SQS message
//! (docs/behaviour.md 2.2). Wiring only; the per-message work is in `job.rs`.

mod job;
mod metrics;
mod switch;

use entra_sync::config::SyncWorkerConfig;
use entra_sync::graph::RetryPolicy;
use entra_sync::wiring::{self, Clients};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = wiring::start("sync-worker", SyncWorkerConfig::from_env);
    let common = &config.worker.common;
    let clients = Clients::load().await;
    let worker = job::SyncWorker {
        configs: clients.integrations(common),
        state: clients.sync_state(common),
        directory: clients.directory(common),
        tokens: clients.tenant_tokens(common, &config.worker.clouds),
        graph: clients.graph_clients(&config.worker.clouds, RetryPolicy::default()),
        queue: clients.sync_queue(&config.sync_queue_url),
        subscriptions: clients.subscriptions(common),
        notification_url: config.notification_url.clone(),
        problems: clients.problems(common),
        previews: clients.previews(common),
        domains: Default::default(),
        mark_properties: wiring::mark_properties(&config.worker.clouds),
        tenant_secrets: clients.tenant_secrets(common),
        switches: Default::default(),
    };
    let worker = &worker;
    run(service_fn(move |event| job::handle(worker, event))).await
}
