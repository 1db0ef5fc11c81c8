//! `oauth-callback`: the two HTTP routes of the admin's authorisation
//! (docs/contract.md 1.4). Wiring only; the routes live in `routes.rs`.

mod body;
mod path;
mod routes;

use entra_sync::authorisation::AuthorisationFlow;
use entra_sync::config::OAuthCallbackConfig;
use entra_sync::wiring::{self, Clients};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = wiring::start("oauth-callback", OAuthCallbackConfig::from_env);
    let clients = Clients::load().await;
    let flow = AuthorisationFlow::new(
        clients.integrations(&config.common),
        clients.tenant_secrets(&config.common),
        clients.entra_apps(&config.clouds, Some(config.redirect_uri.clone())),
        config.portal_return_url.clone(),
    );
    let flow = &flow;
    run(service_fn(move |request| routes::handle(flow, request))).await
}
