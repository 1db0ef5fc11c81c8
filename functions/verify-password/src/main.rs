//! `verify-password`: checks a user's password against Entra ID for managed
//! domains (DESIGN.md 2.4), invoked directly by the platform. Wiring only;
//! the request handling is in `request.rs`.

mod request;

use entra_sync::config::{ProcessEnv, VerifyPasswordConfig};
use entra_sync::graph::{self, GraphClient, RetryPolicy};
use entra_sync::password::ThrottlePolicy;
use entra_sync::store::DynamoIntegrationsStore;
use entra_sync::store::failures::DynamoFailureCounter;
use entra_sync::tokens::TokenProvider;
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    entra_sync::telemetry::init();
    let config = match VerifyPasswordConfig::from_env(&ProcessEnv) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(error = %err, "verify-password cannot start");
            std::process::exit(1);
        }
    };
    let common = &config.worker.common;
    let app = &config.worker.app;
    let aws = entra_sync::aws::load_sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let verifier = request::Verifier {
        configs: DynamoIntegrationsStore::new(dynamodb.clone(), common.integrations_table.clone()),
        failures: DynamoFailureCounter::new(dynamodb, common.integrations_table.clone()),
        tokens: TokenProvider::from_config(&aws, common, app),
        graph: GraphClient::new(
            graph::http_client(),
            &common.graph_base_url,
            RetryPolicy {
                max_attempts: 3,
                ..RetryPolicy::default()
            },
        ),
        policy: ThrottlePolicy {
            max_failures: config.max_failures,
            window: config.failure_window,
        },
        domains: Default::default(),
    };
    let verifier = &verifier;
    run(service_fn(move |event| request::handle(verifier, event))).await
}
