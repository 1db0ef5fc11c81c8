//! `graph-notifications`: Microsoft Graph's change notifications for users
//! and groups (docs/contract.md 1.4, 2.7). Wiring only; the HTTP side is in
//! `routes.rs`, the decisions in `entra_sync::notifications`.

mod routes;

use entra_sync::config::GraphNotificationsConfig;
use entra_sync::notifications::NotificationIntake;
use entra_sync::wiring::{self, Clients};
use lambda_http::{Error, run, service_fn};

use routes::NotificationRoute;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = wiring::start("graph-notifications", GraphNotificationsConfig::from_env);
    let clients = Clients::load().await;
    let route = NotificationRoute {
        intake: NotificationIntake {
            records: clients.subscriptions(&config.common),
            requests: clients.sync_requests(&config.common, &config.sync_queue_url),
        },
        key: config.notification_key,
    };
    let route = &route;
    run(service_fn(move |request| route.handle(request))).await
}
