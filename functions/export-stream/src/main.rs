//! `export-stream`: the platform's directory changes, read from the
//! directory table's stream, reflected in Entra ID (docs/behaviour.md 2.3).
//! Wiring only; the batch handling is in `batch.rs`.

mod batch;

use entra_sync::config::WorkerConfig;
use entra_sync::graph::RetryPolicy;
use entra_sync::wiring::{self, Clients};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = wiring::start("export-stream", WorkerConfig::from_env);
    let clients = Clients::load().await;
    let exporter = batch::Exporter {
        configs: clients.integrations(&config.common),
        directory: clients.directory(&config.common),
        tokens: clients.tenant_tokens(&config.common, &config.clouds),
        graph: clients.graph_clients(&config.clouds, RetryPolicy::default()),
        domains: Default::default(),
        problems: clients.problems(&config.common),
        events: clients.change_events(&config.common),
        mark_properties: wiring::mark_properties(&config.clouds),
    };
    let exporter = &exporter;
    run(service_fn(move |event| batch::handle(exporter, event))).await
}
