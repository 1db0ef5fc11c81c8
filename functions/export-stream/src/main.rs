//! `export-stream`: the platform's directory changes, read from the
//! directory table's stream, reflected in Entra ID (DESIGN.md 2.3).
//! Wiring only; the batch handling is in `batch.rs`.

mod batch;

use entra_sync::config::WorkerConfig;
use entra_sync::graph::RetryPolicy;
use entra_sync::wiring::{self, AwsClients};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = wiring::start("export-stream", WorkerConfig::from_env);
    let aws = AwsClients::load().await;
    let exporter = batch::Exporter {
        configs: aws.integrations(&config.common),
        directory: aws.directory(&config.common),
        tokens: aws.token_provider(&config.common, &config.app),
        graph: wiring::graph_client(&config.common, RetryPolicy::default()),
        domains: Default::default(),
    };
    let exporter = &exporter;
    run(service_fn(move |event| batch::handle(exporter, event))).await
}
