//! What every function's `main` does once: read its configuration (or stop
//! with one line naming the variable), and build the SDK and HTTP clients
//! and the adapters the handler borrows. The engines never see this module.

use std::sync::OnceLock;
use std::time::SystemTime;

use tokio::time::Instant;

use std::sync::Arc;

use crate::config::{
    AppCredentialConfig, CloudEndpoints, CommonConfig, ConfigError, Env, ProcessEnv,
};
use crate::graph::{GraphClient, RetryPolicy};
use crate::identity::app::AppCredentialSource;
use crate::identity::{EntraApp, IdentityClient};
use crate::model::{ByCloud, Cloud};
use crate::store::directory_table::DynamoDirectoryStore;
use crate::store::events::DynamoChangeEvents;
use crate::store::on_demand::DynamoOnDemand;
use crate::store::password_attempts::DynamoAttemptLedger;
use crate::store::preview::DynamoPreviewStore;
use crate::store::problems::DynamoProblemStore;
use crate::store::queue::SqsSyncQueue;
use crate::store::subscriptions::DynamoSubscriptionStore;
use crate::store::sync_requests::DynamoSyncRequests;
use crate::store::sync_state::DynamoSyncStateStore;
use crate::store::{
    AppClientSecret, DynamoIntegrationsStore, SecretsManagerTokenStore, WebIdentityAssertions,
};
use crate::tokens::{TenantTokens, TokenProvider};

/// Every tenant's access tokens in Lambda: the apps' grants at the
/// identity platform, delegated grants in Secrets Manager, permission
/// checks recorded on the config. The Graph adapters see them through
/// `ports::TenantTokenSources`, the password check through
/// `password::entra::PasswordGrants`.
pub type LambdaTenantTokens =
    TenantTokens<EntraApp, SecretsManagerTokenStore, DynamoIntegrationsStore>;

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
    sts: aws_sdk_sts::Client,
    microsoft: OnceLock<reqwest::Client>,
}

/// STS with an operation timeout: a federated assertion is asked under a
/// process-wide lock, and a hanging STS must not hold every tenant's token
/// request until Lambda's own timeout.
fn sts_client(sdk: &aws_config::SdkConfig) -> aws_sdk_sts::Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_timeout(std::time::Duration::from_secs(5))
        .build();
    let config = aws_sdk_sts::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

impl Clients {
    pub async fn load() -> Self {
        let sdk = crate::aws::load_sdk_config().await;
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            sts: sts_client(&sdk),
            microsoft: OnceLock::new(),
        }
    }

    /// Shared by Graph and the identity platform (clones share one pool).
    fn microsoft_https(&self) -> reqwest::Client {
        self.microsoft.get_or_init(crate::https::client).clone()
    }

    /// One Graph client per cloud served, each on its own base URL.
    pub fn graph_clients(
        &self,
        clouds: &ByCloud<CloudEndpoints>,
        retry: RetryPolicy,
    ) -> ByCloud<GraphClient> {
        clouds.map(|_, cloud| {
            GraphClient::new(self.microsoft_https(), &cloud.graph_base_url, retry.clone())
        })
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

    pub fn change_events(&self, common: &CommonConfig) -> DynamoChangeEvents {
        DynamoChangeEvents::new(self.dynamodb.clone(), common.integrations_table.clone())
    }

    pub fn on_demand(&self, common: &CommonConfig) -> DynamoOnDemand {
        DynamoOnDemand::new(self.dynamodb.clone(), common.integrations_table.clone())
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

    /// A cloud's app: its login host, client id, credential and
    /// `.default` scope; `redirect_uri` only for the callback.
    pub fn entra_app(
        &self,
        cloud: Cloud,
        endpoints: &CloudEndpoints,
        redirect_uri: Option<url::Url>,
    ) -> EntraApp {
        let credential: Arc<dyn AppCredentialSource> = match &endpoints.app.credential {
            AppCredentialConfig::ClientSecret(arn) => {
                Arc::new(AppClientSecret::new(self.secrets.clone(), arn.clone()))
            }
            AppCredentialConfig::Federated => Arc::new(WebIdentityAssertions::new(
                self.sts.clone(),
                cloud.federated_audience().to_owned(),
            )),
        };
        EntraApp::new(
            IdentityClient::new(
                self.microsoft_https(),
                endpoints.login_base_url.clone(),
                endpoints.app.client_id.clone(),
                redirect_uri,
            )
            .with_graph_scope(endpoints.graph_default_scope()),
            credential,
        )
    }

    /// The app of every cloud served.
    pub fn entra_apps(
        &self,
        clouds: &ByCloud<CloudEndpoints>,
        redirect_uri: Option<url::Url>,
    ) -> ByCloud<EntraApp> {
        clouds.map(|cloud, endpoints| self.entra_app(cloud, endpoints, redirect_uri.clone()))
    }

    /// The tenants' delegated grants in Secrets Manager (global only).
    pub fn token_provider(
        &self,
        common: &CommonConfig,
        global: &CloudEndpoints,
    ) -> TokenProvider<EntraApp, SecretsManagerTokenStore> {
        TokenProvider::new(
            self.entra_app(Cloud::Global, global, None),
            self.tenant_secrets(common),
        )
    }

    /// The tenants' access tokens as each config says (DESIGN 2.12): client
    /// credentials of the tenant's cloud in application mode (permission
    /// checks recorded on the config), the delegated grant otherwise.
    pub fn tenant_tokens(
        &self,
        common: &CommonConfig,
        clouds: &ByCloud<CloudEndpoints>,
    ) -> LambdaTenantTokens {
        let national = clouds
            .iter()
            .filter(|(cloud, _)| *cloud != Cloud::Global)
            .map(|(cloud, endpoints)| (cloud, self.entra_app(cloud, endpoints, None)));
        TenantTokens::with_national_clouds(
            self.token_provider(common, clouds.global()),
            self.integrations(common),
            national,
        )
    }
}

/// The directory extension of the export's mark in each cloud: it is
/// registered on that cloud's app (`extension_<client id>_…`).
pub fn mark_properties(clouds: &ByCloud<CloudEndpoints>) -> ByCloud<String> {
    clouds.map(|_, cloud| crate::graph::bodies::export_mark_property(&cloud.app.client_id))
}

/// The Lambda invocation's deadline as a tokio instant.
pub fn deadline_instant(deadline: SystemTime) -> Instant {
    Instant::now()
        + deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
}
