//! `sync-scheduler`: on every EventBridge tick, one SQS sync job per tenant
//! that is `sync_enabled` and `authorised` (docs/behaviour.md 2.2). Wiring only;
//! the tick is in `tick.rs`.

mod tick;

use entra_sync::config::SchedulerConfig;
use entra_sync::wiring::{self, Clients};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = wiring::start("sync-scheduler", SchedulerConfig::from_env);
    let clients = Clients::load().await;
    let configs = clients.integrations(&config.common);
    let queue = clients.sync_queue(&config.sync_queue_url);
    let (configs, queue) = (&configs, &queue);
    run(service_fn(move |event| tick::tick(configs, queue, event))).await
}
