//! `verify-password`: checks a user's password against Entra ID for managed
//! domains (docs/behaviour.md 2.4), invoked directly by the platform. Wiring only;
//! the request handling is in `request.rs`.

mod request;

use entra_sync::config::VerifyPasswordConfig;
use entra_sync::graph::RetryPolicy;
use entra_sync::password::ThrottlePolicy;
use entra_sync::wiring::{self, Clients};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = wiring::start("verify-password", VerifyPasswordConfig::from_env);
    let common = &config.worker.common;
    let clients = Clients::load().await;
    let verifier = request::Verifier {
        configs: clients.integrations(common),
        attempts: clients.password_attempts(common),
        tokens: clients.tenant_tokens(common, &config.worker.clouds),
        // A caller is waiting: fewer attempts than the background functions.
        graph: clients.graph_clients(
            &config.worker.clouds,
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
