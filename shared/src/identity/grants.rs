//! `EntraApp` as the engines' token endpoint: the delegated provider's
//! refresh, the client credentials of application mode, and the password
//! grant of a tenant's cloud (the ports live with `tokens` and `password`).

use secrecy::SecretString;

use super::{AppToken, EntraApp, IdentityError, TokenGrant};
use crate::model::Cloud;
use crate::password::entra::PasswordGrants;
use crate::tokens::{AppCredentials, PermissionRecords, RefreshTokenGrant, TenantTokens};

impl RefreshTokenGrant for EntraApp {
    async fn refresh(
        &self,
        entra_tenant_id: &str,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, IdentityError> {
        EntraApp::refresh(self, entra_tenant_id, refresh_token).await
    }
}

impl AppCredentials for EntraApp {
    fn client_id(&self) -> &str {
        EntraApp::client_id(self)
    }

    async fn client_credentials(&self, entra_tenant_id: &str) -> Result<AppToken, IdentityError> {
        EntraApp::client_credentials(self, entra_tenant_id).await
    }
}

/// The tenants' token providers hold the app of each cloud served.
impl<G: Send + Sync, R: PermissionRecords> PasswordGrants for TenantTokens<EntraApp, G, R> {
    async fn password_grant(
        &self,
        cloud: Cloud,
        entra_tenant_id: &str,
        user_name: &str,
        password: &SecretString,
    ) -> Result<(), IdentityError> {
        let app = self.app_for(cloud).ok_or_else(|| {
            IdentityError::Configuration(format!("the tenant's cloud `{cloud}` is not served"))
        })?;
        // The tokens are dropped here, unused.
        app.password_grant(entra_tenant_id, user_name, password)
            .await
            .map(drop)
    }
}
