//! Which token source a tenant's config chooses (DESIGN 2.12): client
//! credentials in `application` mode, the stored delegated grant otherwise
//! (tenants authorised before 2.12).

use secrecy::SecretString;

use super::application::{AppTenantTokenSource, AppTokenProvider, PermissionRecords};
use super::{GrantStore, TenantTokenSource, TokenProvider};
use crate::graph::{AccessTokenSource, PermissionCheck, TokenError};
use crate::identity::EntraApp;
use crate::model::{AuthMode, TenantConfig};

/// Process-wide: both providers, sharing the app's credentials.
pub struct TenantTokens<G, R> {
    delegated: TokenProvider<G>,
    application: AppTokenProvider<R>,
}

impl<G: GrantStore, R: PermissionRecords> TenantTokens<G, R> {
    pub fn new(delegated: TokenProvider<G>, permission_records: R) -> Self {
        Self {
            delegated,
            application: AppTokenProvider::new(permission_records),
        }
    }

    /// The token source for the tenant as its config says.
    pub fn for_config(&self, config: &TenantConfig) -> TenantTokenSourceByMode<'_, G, R> {
        match config.auth_mode {
            AuthMode::Delegated => {
                TenantTokenSourceByMode::Delegated(self.delegated.for_tenant(&config.tenant_id))
            }
            AuthMode::Application => TenantTokenSourceByMode::Application(AppTenantTokenSource {
                app: self.delegated.app(),
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

    /// The app's own credentials (the password grant uses them).
    pub fn app(&self) -> &EntraApp {
        self.delegated.app()
    }
}

pub enum TenantTokenSourceByMode<'a, G, R> {
    Delegated(TenantTokenSource<'a, G>),
    Application(AppTenantTokenSource<'a, EntraApp, R>),
}

impl<G: GrantStore, R: PermissionRecords> AccessTokenSource for TenantTokenSourceByMode<'_, G, R> {
    async fn access_token(&self, force_refresh: bool) -> Result<SecretString, TokenError> {
        match self {
            Self::Delegated(source) => source.access_token(force_refresh).await,
            Self::Application(source) => source.access_token(force_refresh).await,
        }
    }

    async fn permission_check(&self) -> Result<Option<PermissionCheck>, TokenError> {
        match self {
            Self::Delegated(source) => source.permission_check().await,
            Self::Application(source) => source.permission_check().await,
        }
    }
}
