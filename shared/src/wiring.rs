//! What every function's `main` does once: read its configuration (or stop
//! with one line naming the variable), and build the SDK and HTTP clients
//! and the adapters the handler borrows. The engines never see this module.

use std::sync::OnceLock;
use std::time::SystemTime;

use tokio::time::Instant;

use crate::config::{CommonConfig, ConfigError, EntraAppConfig, Env, ProcessEnv};
use crate::graph::{GraphClient, RetryPolicy};
use crate::identity::{EntraApp, IdentityClient};
use crate::store::directory_table::DynamoDirectoryStore;
use crate::store::password_attempts::DynamoAttemptLedger;
use crate::store::preview::DynamoPreviewStore;
use crate::store::problems::DynamoProblemStore;
use crate::store::queue::SqsSyncQueue;
use crate::store::subscriptions::DynamoSubscriptionStore;
use crate::store::sync_requests::DynamoSyncRequests;
use crate::store::sync_state::DynamoSyncStateStore;
use crate::store::{AppClientSecret, DynamoIntegrationsStore, SecretsManagerTokenStore};
use crate::tokens::{TenantTokens, TokenProvider};

/// Starts the JSON logs and reads the function's configuration; a missing
/// or malformed variable stops the process with one clear line (Lambda
/// reports the failed init and keeps the log).
pub fn start<C>(function: &str, load: impl FnOnce(&dyn Env) -> Result<C, ConfigError>) -> C {
    crate::telemetry::init();
    match load(&ProcessEnv) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(error = %err, "{function} cannot start");
            std::process::exit(1);
        }
    }
}

/// The clients of one process, each built once: the AWS SDK's from the
/// standard SDK settings, and the HTTPS client for Microsoft on first need
/// (a function that never calls Microsoft does not load its TLS roots).
#[derive(Debug)]
pub struct Clients {
    dynamodb: aws_sdk_dynamodb::Client,
    secrets: aws_sdk_secretsmanager::Client,
    sqs: aws_sdk_sqs::Client,
    microsoft: OnceLock<reqwest::Client>,
}

impl Clients {
    pub async fn load() -> Self {
        let sdk = crate::aws::load_sdk_config().await;
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            microsoft: OnceLock::new(),
        }
    }

    /// Shared by Graph and the identity platform (clones share one pool).
    fn microsoft_https(&self) -> reqwest::Client {
        self.microsoft.get_or_init(crate::https::client).clone()
    }

    pub fn graph(&self, common: &CommonConfig, retry: RetryPolicy) -> GraphClient {
        GraphClient::new(self.microsoft_https(), &common.graph_base_url, retry)
    }

    pub fn integrations(&self, common: &CommonConfig) -> DynamoIntegrationsStore {
        DynamoIntegrationsStore::new(self.dynamodb.clone(), common.integrations_table.clone())
    }

    pub fn sync_state(&self, common: &CommonConfig) -> DynamoSyncStateStore {
        DynamoSyncStateStore::new(self.dynamodb.clone(), common.integrations_table.clone())
    }

    pub fn previews(&self, common: &CommonConfig) -> DynamoPreviewStore {
        DynamoPreviewStore::new(self.dynamodb.clone(), common.integrations_table.clone())
    }

    pub fn problems(&self, common: &CommonConfig) -> DynamoProblemStore {
        DynamoProblemStore::new(self.dynamodb.clone(), common.integrations_table.clone())
    }

    pub fn password_attempts(&self, common: &CommonConfig) -> DynamoAttemptLedger {
        DynamoAttemptLedger::new(self.dynamodb.clone(), common.integrations_table.clone())
    }

    pub fn directory(&self, common: &CommonConfig) -> DynamoDirectoryStore {
        DynamoDirectoryStore::new(
            self.dynamodb.clone(),
            common.directory_table.clone(),
            common.integrations_table.clone(),
        )
    }

    pub fn tenant_secrets(&self, common: &CommonConfig) -> SecretsManagerTokenStore {
        SecretsManagerTokenStore::new(self.secrets.clone(), common.secret_prefix.clone())
    }

    pub fn sync_queue(&self, queue_url: &str) -> SqsSyncQueue {
        SqsSyncQueue::new(self.sqs.clone(), queue_url.to_owned())
    }

    pub fn subscriptions(&self, common: &CommonConfig) -> DynamoSubscriptionStore {
        DynamoSubscriptionStore::new(self.dynamodb.clone(), common.integrations_table.clone())
    }

    pub fn sync_requests(&self, common: &CommonConfig, queue_url: &str) -> DynamoSyncRequests {
        DynamoSyncRequests::new(
            self.dynamodb.clone(),
            common.integrations_table.clone(),
            self.sync_queue(queue_url),
        )
    }

    /// The app's credentials; `redirect_uri` only for the callback.
    pub fn entra_app(
        &self,
        common: &CommonConfig,
        app: &EntraAppConfig,
        redirect_uri: Option<url::Url>,
    ) -> EntraApp {
        EntraApp::new(
            IdentityClient::new(
                self.microsoft_https(),
                common.login_base_url.clone(),
                app.client_id.clone(),
                redirect_uri,
            ),
            AppClientSecret::new(self.secrets.clone(), app.client_secret_arn.clone()),
        )
    }

    /// The tenants' access tokens, from their grants in Secrets Manager.
    pub fn token_provider(
        &self,
        common: &CommonConfig,
        app: &EntraAppConfig,
    ) -> TokenProvider<SecretsManagerTokenStore> {
        TokenProvider::new(
            self.entra_app(common, app, None),
            self.tenant_secrets(common),
        )
    }

    /// The tenants' access tokens as each config says (DESIGN 2.12): client
    /// credentials in application mode (permission checks recorded on the
    /// config), the delegated grant in Secrets Manager otherwise.
    pub fn tenant_tokens(
        &self,
        common: &CommonConfig,
        app: &EntraAppConfig,
    ) -> TenantTokens<SecretsManagerTokenStore, DynamoIntegrationsStore> {
        TenantTokens::new(self.token_provider(common, app), self.integrations(common))
    }
}

/// The Lambda invocation's deadline as a tokio instant.
pub fn deadline_instant(deadline: SystemTime) -> Instant {
    Instant::now()
        + deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
}
