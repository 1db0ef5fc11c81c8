//! `export-stream`: the platform's directory changes, read from the
//! directory table's stream, reflected in Entra ID (DESIGN.md 2.3).
//! Wiring only; the batch handling is in `batch.rs`.

mod batch;

use entra_sync::config::{ProcessEnv, WorkerConfig};
use entra_sync::graph::{self, GraphClient, RetryPolicy};
use entra_sync::store::DynamoIntegrationsStore;
use entra_sync::store::directory_table::DynamoDirectoryStore;
use entra_sync::tokens::TokenProvider;
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    entra_sync::telemetry::init();
    let config = match WorkerConfig::from_env(&ProcessEnv) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(error = %err, "export-stream cannot start");
            std::process::exit(1);
        }
    };
    let aws = entra_sync::aws::load_sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let exporter = batch::Exporter {
        configs: DynamoIntegrationsStore::new(
            dynamodb.clone(),
            config.common.integrations_table.clone(),
        ),
        directory: DynamoDirectoryStore::new(dynamodb, config.common.directory_table.clone()),
        tokens: TokenProvider::from_config(&aws, &config.common, &config.app),
        graph: GraphClient::new(
            graph::http_client(),
            &config.common.graph_base_url,
            RetryPolicy::default(),
        ),
        domains: Default::default(),
    };
    let exporter = &exporter;
    run(service_fn(move |event| batch::handle(exporter, event))).await
}
