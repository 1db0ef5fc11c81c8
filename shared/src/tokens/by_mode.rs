//! Which token source a tenant's config chooses (DESIGN 2.12): client
//! credentials in `application` mode, the stored delegated grant otherwise
//! (tenants authorised before 2.12), each with the app registration of the
//! tenant's cloud.

use std::collections::BTreeMap;

use secrecy::SecretString;

use super::application::{
    AppCredentials, AppTenantTokenSource, AppTokenProvider, PermissionRecords,
};
use super::{GrantStore, RefreshTokenGrant, TenantTokenSource, TokenProvider};
use crate::model::entra::{PermissionCheck, TokenError};
use crate::model::{AuthMode, Cloud, TenantConfig};
use crate::ports::{AccessTokenSource, TenantTokenSources};

/// Process-wide: both providers; the delegated one holds the global app,
/// `national` the app of each other cloud served (`A`: the app's grants,
/// `identity::EntraApp` in Lambda).
pub struct TenantTokens<A, G, R> {
    delegated: TokenProvider<A, G>,
    application: AppTokenProvider<R>,
    national_apps: BTreeMap<Cloud, A>,
}

impl<A, G, R: PermissionRecords> TenantTokens<A, G, R> {
    pub fn new(delegated: TokenProvider<A, G>, permission_records: R) -> Self {
        Self::with_national_clouds(delegated, permission_records, [])
    }

    /// `national_apps`: the app registration of each national cloud in
    /// ENTRA_CLOUDS (the global one is the delegated provider's).
    pub fn with_national_clouds(
        delegated: TokenProvider<A, G>,
        permission_records: R,
        national_apps: impl IntoIterator<Item = (Cloud, A)>,
    ) -> Self {
        Self {
            delegated,
            application: AppTokenProvider::new(permission_records),
            national_apps: national_apps
                .into_iter()
                .filter(|(cloud, _)| *cloud != Cloud::Global)
                .collect(),
        }
    }

    /// The token source for the tenant as its config says.
    pub fn for_config(&self, config: &TenantConfig) -> TenantTokenSourceByMode<'_, A, G, R> {
        let Some(app) = self.app_for(config.cloud) else {
            return TenantTokenSourceByMode::CloudNotSupported(config.cloud);
        };
        match config.auth_mode {
            // Grants from before 2.12 are all of the global cloud's app.
            AuthMode::Delegated if config.cloud == Cloud::Global => {
                TenantTokenSourceByMode::Delegated(self.delegated.for_tenant(&config.tenant_id))
            }
            AuthMode::Delegated => TenantTokenSourceByMode::CloudNotSupported(config.cloud),
            AuthMode::Application => TenantTokenSourceByMode::Application(AppTenantTokenSource {
                app,
                provider: &self.application,
                tenant: config.tenant_id.clone(),
                // Only the organisation the confirm proved.
                entra_tenant_id: config
                    .authorised_entra_tenant_id
                    .clone()
                    .filter(|_| config.is_authorised()),
            }),
        }
    }

    /// The app registration of `cloud` (the password grant uses it);
    /// `None` when the deployment does not serve that cloud.
    pub fn app_for(&self, cloud: Cloud) -> Option<&A> {
        match cloud {
            Cloud::Global => Some(self.delegated.app()),
            national => self.national_apps.get(&national),
        }
    }

    /// The global cloud's app.
    pub fn app(&self) -> &A {
        self.delegated.app()
    }
}

impl<A, G, R> TenantTokenSources for TenantTokens<A, G, R>
where
    A: RefreshTokenGrant + AppCredentials,
    G: GrantStore,
    R: PermissionRecords,
{
    type Source<'a>
        = TenantTokenSourceByMode<'a, A, G, R>
    where
        Self: 'a;

    fn for_config(&self, config: &TenantConfig) -> Self::Source<'_> {
        TenantTokens::for_config(self, config)
    }
}

pub enum TenantTokenSourceByMode<'a, A, G, R> {
    Delegated(TenantTokenSource<'a, A, G>),
    Application(AppTenantTokenSource<'a, A, R>),
    /// A tenant of a cloud not served: every request is refused before
    /// anything is sent to any cloud.
    CloudNotSupported(Cloud),
}

impl<A, G, R> AccessTokenSource for TenantTokenSourceByMode<'_, A, G, R>
where
    A: RefreshTokenGrant + AppCredentials,
    G: GrantStore,
    R: PermissionRecords,
{
    async fn access_token(&self, force_refresh: bool) -> Result<SecretString, TokenError> {
        match self {
            Self::Delegated(source) => source.access_token(force_refresh).await,
            Self::Application(source) => source.access_token(force_refresh).await,
            Self::CloudNotSupported(cloud) => Err(TokenError::CloudNotSupported(*cloud)),
        }
    }

    async fn permission_check(&self) -> Result<Option<PermissionCheck>, TokenError> {
        match self {
            Self::Delegated(source) => source.permission_check().await,
            Self::Application(source) => source.permission_check().await,
            Self::CloudNotSupported(cloud) => Err(TokenError::CloudNotSupported(*cloud)),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Region};

    use super::*;
    use crate::identity::{EntraApp, IdentityClient};
    use crate::store::{AppClientSecret, DynamoIntegrationsStore, SecretsManagerTokenStore};

    /// SDK clients that are never called: choosing a source asks nothing.
    fn secrets() -> aws_sdk_secretsmanager::Client {
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }

    fn app(client_id: &str) -> EntraApp {
        EntraApp::new(
            IdentityClient::new(
                crate::https::client(),
                url::Url::parse("https://login.example").unwrap(),
                client_id.into(),
                None,
            ),
            std::sync::Arc::new(AppClientSecret::new(
                secrets(),
                format!("{client_id}-secret"),
            )),
        )
    }

    fn tokens() -> TenantTokens<EntraApp, SecretsManagerTokenStore, DynamoIntegrationsStore> {
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .build(),
        );
        TenantTokens::with_national_clouds(
            TokenProvider::new(
                app("global-app"),
                SecretsManagerTokenStore::new(secrets(), "p/".into()),
            ),
            DynamoIntegrationsStore::new(dynamodb, "integrations".into()),
            [(Cloud::UsGov, app("usgov-app"))],
        )
    }

    fn config(cloud: &str, auth_mode: &str) -> TenantConfig {
        let item = serde_json::json!({
            "tenant_id": "acme", "cloud": cloud, "auth_mode": auth_mode,
            "entra_tenant_id": "3f2a6d1c-5b7e-4a90-8c1d-2e4f6a8b0c13",
        });
        TenantConfig::from_attributes(item.as_object().unwrap()).unwrap()
    }

    #[test]
    fn each_cloud_has_its_own_app_and_a_cloud_not_served_has_none() {
        let tokens = tokens();
        assert_eq!(
            tokens.app_for(Cloud::Global).unwrap().client_id(),
            "global-app"
        );
        assert_eq!(
            tokens.app_for(Cloud::UsGov).unwrap().client_id(),
            "usgov-app"
        );
        assert!(tokens.app_for(Cloud::China).is_none());
        assert!(tokens.app_for(Cloud::UsGovDod).is_none());
    }

    #[test]
    fn an_application_tenant_gets_client_credentials_of_its_clouds_app() {
        let tokens = tokens();
        for (cloud, app) in [("usgov", "usgov-app"), ("global", "global-app")] {
            let TenantTokenSourceByMode::Application(source) =
                tokens.for_config(&config(cloud, "application"))
            else {
                panic!("{cloud}: not the application source");
            };
            assert_eq!(source.app.client_id(), app);
        }
    }

    #[tokio::test]
    async fn a_tenant_of_a_cloud_not_served_is_refused_without_asking_any_cloud() {
        let tokens = tokens();
        for config in [config("china", "application"), config("usgov", "delegated")] {
            let source = tokens.for_config(&config);
            let refused = TokenError::CloudNotSupported(config.cloud);
            assert_eq!(source.access_token(false).await.unwrap_err(), refused);
            assert_eq!(source.permission_check().await.unwrap_err(), refused);
        }
    }
}
