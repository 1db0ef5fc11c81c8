//! `oauth-callback`: the two HTTP routes of the admin's authorisation
//! (DESIGN.md 1.4). Wiring only; the routes live in `routes.rs`.

mod routes;

use entra_sync::authorisation::AuthorisationFlow;
use entra_sync::config::{OAuthCallbackConfig, ProcessEnv};
use entra_sync::identity::{self, EntraIdentityPlatform, IdentityClient};
use entra_sync::store::{AppClientSecret, DynamoIntegrationsStore, SecretsManagerTokenStore};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    entra_sync::telemetry::init();
    let config = match OAuthCallbackConfig::from_env(&ProcessEnv) {
        Ok(config) => config,
        Err(err) => {
            // One line naming the variable, then stop: Lambda reports the
            // failed init and keeps the log.
            tracing::error!(error = %err, "oauth-callback cannot start");
            std::process::exit(1);
        }
    };
    let aws = entra_sync::aws::load_sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let flow = AuthorisationFlow::new(
        DynamoIntegrationsStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            config.common.integrations_table.clone(),
        ),
        SecretsManagerTokenStore::new(secrets.clone(), config.common.secret_prefix.clone()),
        EntraIdentityPlatform::new(
            IdentityClient::new(
                identity::http_client(),
                config.common.login_base_url.clone(),
                config.app.client_id.clone(),
                Some(config.redirect_uri.clone()),
            ),
            AppClientSecret::new(secrets, config.app.client_secret_arn.clone()),
        ),
        config.portal_return_url.clone(),
    );
    let flow = &flow;
    run(service_fn(move |request| routes::handle(flow, request))).await
}
