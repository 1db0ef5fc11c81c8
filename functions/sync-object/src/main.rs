//! `sync-object`: one object synchronised now, or dry-run, every step
//! explained (docs/contract.md 1.1, DESIGN 2.14). Wiring only; the HTTP side
//! is in `route.rs`, the decisions in `entra_sync::on_demand`.

mod route;

use entra_sync::config::WorkerConfig;
use entra_sync::graph::RetryPolicy;
use entra_sync::wiring::{self, Clients};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = wiring::start("sync-object", WorkerConfig::from_env);
    let clients = Clients::load().await;
    let route = route::SyncObjectRoute {
        configs: clients.integrations(&config.common),
        directory: clients.directory(&config.common),
        tokens: clients.tenant_tokens(&config.common, &config.clouds),
        // An admin is waiting (API Gateway gives up at 30 s): fewer
        // attempts than the background functions.
        graph: clients.graph_clients(
            &config.clouds,
            RetryPolicy {
                max_attempts: 3,
                ..RetryPolicy::default()
            },
        ),
        guards: clients.on_demand(&config.common),
        problems: clients.problems(&config.common),
        history: clients.sync_state(&config.common),
        events: clients.change_events(&config.common),
        mark_properties: wiring::mark_properties(&config.clouds),
    };
    let route = &route;
    run(service_fn(move |request| route.handle(request))).await
}
