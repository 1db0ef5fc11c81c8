//! The multi-tenant Entra app's credentials, one per process: the identity
//! client and the app's client secret (fetched once). The authorisation
//! flow's code exchange, token refresh and the password grant all go
//! through it.

use secrecy::SecretString;

use super::{
    AppToken, ClaimsError, IdTokenClaims, IdentityClient, IdentityError, SignInRequest, TokenGrant,
};
use crate::authorisation::IdentityPlatform;
use crate::model::EntraTenantId;
use crate::store::AppClientSecret;

pub struct EntraApp {
    client: IdentityClient,
    secret: AppClientSecret,
}

impl EntraApp {
    pub fn new(client: IdentityClient, secret: AppClientSecret) -> Self {
        Self { client, secret }
    }

    /// The app registration's id (one per cloud).
    pub fn client_id(&self) -> &str {
        self.client.client_id()
    }

    /// Runs `call` with the app's client secret; when Microsoft refuses
    /// the secret (rotated, expired), reads it again once and retries with
    /// the new one (issue 21 §6: a rotation is not an outage).
    async fn with_secret<T, F, Fut>(&self, call: F) -> Result<T, IdentityError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: std::future::Future<Output = Result<T, IdentityError>>,
    {
        let secret = self.secret.get().await.map_err(configuration)?;
        match call(secret.clone()).await {
            Err(e) if e.is_refused_client_secret() => {
                match self.secret.reread(&secret).await.map_err(configuration)? {
                    Some(fresh) => {
                        tracing::warn!(
                            "the app's client secret was refused; retrying with the one read again"
                        );
                        call(fresh).await
                    }
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    /// A new access token for the tenant from its refresh token.
    pub async fn refresh(
        &self,
        entra_tenant_id: &str,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, IdentityError> {
        self.with_secret(|secret| async move {
            self.client
                .refresh(entra_tenant_id, &secret, refresh_token)
                .await
        })
        .await
    }

    /// A client-credentials token for the customer tenant (DESIGN 2.12).
    pub async fn client_credentials(
        &self,
        entra_tenant_id: &str,
    ) -> Result<super::AppToken, IdentityError> {
        self.with_secret(|secret| async move {
            self.client
                .client_credentials(entra_tenant_id, &secret)
                .await
        })
        .await
    }

    /// The resource-owner password grant (password verification only).
    pub async fn password_grant(
        &self,
        entra_tenant_id: &str,
        user_name: &str,
        password: &SecretString,
    ) -> Result<TokenGrant, IdentityError> {
        self.with_secret(|secret| async move {
            self.client
                .password_grant(entra_tenant_id, &secret, user_name, password)
                .await
        })
        .await
    }
}

fn configuration(e: crate::ports::StoreError) -> IdentityError {
    IdentityError::Configuration(e.to_string())
}

impl IdentityPlatform for EntraApp {
    fn admin_consent_url(
        &self,
        authority: &str,
    ) -> Result<(url::Url, SecretString), IdentityError> {
        self.client.admin_consent_url(authority)
    }

    fn sign_in_request(
        &self,
        entra_tenant_id: &EntraTenantId,
        interactive: bool,
    ) -> Result<SignInRequest, IdentityError> {
        self.client
            .sign_in_request(entra_tenant_id.as_str(), interactive)
    }

    async fn exchange_code(
        &self,
        entra_tenant_id: &EntraTenantId,
        code: &SecretString,
        pkce_verifier: &SecretString,
    ) -> Result<TokenGrant, IdentityError> {
        self.with_secret(|secret| async move {
            self.client
                .exchange_code(entra_tenant_id.as_str(), &secret, code, pkce_verifier)
                .await
        })
        .await
    }

    async fn verify_id_token(
        &self,
        entra_tenant_id: &EntraTenantId,
        id_token: &SecretString,
        nonce: &SecretString,
    ) -> Result<IdTokenClaims, ClaimsError> {
        self.client
            .verify_id_token(entra_tenant_id.as_str(), id_token, nonce)
            .await
    }

    async fn app_token(&self, entra_tenant_id: &EntraTenantId) -> Result<AppToken, IdentityError> {
        self.client_credentials(entra_tenant_id.as_str()).await
    }
}
