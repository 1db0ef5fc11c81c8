//! The multi-tenant Entra app, one per cloud and process: the identity
//! client and where its credential comes from (DESIGN 2.12: the client
//! secret, or a federated assertion). The authorisation flow's code
//! exchange, token refresh, client credentials and the password grant all
//! go through it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use secrecy::SecretString;

use super::{
    AppCredential, AppToken, ClaimsError, IdTokenClaims, IdentityClient, IdentityError,
    SignInRequest, TokenGrant,
};
use crate::authorisation::IdentityPlatform;
use crate::model::EntraTenantId;
use crate::ports::StoreError;

pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where the app's credential comes from: Secrets Manager (`secret`) or
/// AWS STS (`federated`). Boxed futures: an app holds either at run time.
pub trait AppCredentialSource: Send + Sync {
    /// The credential to send, kept while it is good.
    fn current(&self) -> Pending<'_, AppCredential>;

    /// A credential to retry with after Microsoft refused `refused`:
    /// `None` when the source has nothing newer (no retry is worth it).
    fn renewed<'a>(&'a self, refused: &'a AppCredential) -> Pending<'a, Option<AppCredential>>;
}

pub struct EntraApp {
    client: IdentityClient,
    credential: Arc<dyn AppCredentialSource>,
}

impl EntraApp {
    pub fn new(client: IdentityClient, credential: Arc<dyn AppCredentialSource>) -> Self {
        Self { client, credential }
    }

    /// The app registration's id (one per cloud).
    pub fn client_id(&self) -> &str {
        self.client.client_id()
    }

    /// Runs `call` with the app's credential; when Microsoft refuses it (a
    /// rotated or expired secret, an expired assertion), gets it again once
    /// and retries with the new one (DESIGN 2.12: a rotation is not an
    /// outage).
    async fn with_credential<T, F, Fut>(&self, call: F) -> Result<T, IdentityError>
    where
        F: Fn(AppCredential) -> Fut,
        Fut: Future<Output = Result<T, IdentityError>>,
    {
        let credential = self.credential.current().await.map_err(configuration)?;
        match call(credential.clone()).await {
            Err(e) if e.is_refused_app_credential() => {
                match self
                    .credential
                    .renewed(&credential)
                    .await
                    .map_err(configuration)?
                {
                    Some(fresh) => {
                        tracing::warn!(
                            error = %e,
                            "the app's credential was refused; retrying with a new one"
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
        self.with_credential(|credential| async move {
            self.client
                .refresh(entra_tenant_id, &credential, refresh_token)
                .await
        })
        .await
    }

    /// A client-credentials token for the customer tenant (DESIGN 2.12).
    pub async fn client_credentials(
        &self,
        entra_tenant_id: &str,
    ) -> Result<super::AppToken, IdentityError> {
        self.with_credential(|credential| async move {
            self.client
                .client_credentials(entra_tenant_id, &credential)
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
        self.with_credential(|credential| async move {
            self.client
                .password_grant(entra_tenant_id, &credential, user_name, password)
                .await
        })
        .await
    }
}

/// The app's credential could not be had (Secrets Manager or STS refused
/// or failed): the detail names the account and the role, which is for the
/// operator's log, not for the tenants' statuses that quote this error.
fn configuration(e: StoreError) -> IdentityError {
    tracing::error!(error = %e, "the app's credential is unavailable");
    IdentityError::Configuration(
        "the app's credential is unavailable (the operator's log has the detail)".to_owned(),
    )
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
        self.with_credential(|credential| async move {
            self.client
                .exchange_code(entra_tenant_id.as_str(), &credential, code, pkce_verifier)
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
