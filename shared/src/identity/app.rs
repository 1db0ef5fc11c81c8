//! The multi-tenant Entra app's credentials, one per process: the identity
//! client and the app's client secret (fetched once). The authorisation
//! flow's code exchange, token refresh and the password grant all go
//! through it.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{
    AuthorizationRequest, ClaimsError, IdTokenClaims, IdentityClient, IdentityError, TokenGrant,
};
use crate::authorisation::IdentityPlatform;
use crate::store::AppClientSecret;

pub struct EntraApp {
    client: IdentityClient,
    secret: AppClientSecret,
}

impl EntraApp {
    pub fn new(client: IdentityClient, secret: AppClientSecret) -> Self {
        Self { client, secret }
    }

    async fn client_secret(&self) -> Result<&SecretString, IdentityError> {
        self.secret
            .get()
            .await
            .map_err(|e| IdentityError::Configuration(e.to_string()))
    }

    /// A new access token for the tenant from its refresh token.
    pub async fn refresh(
        &self,
        entra_tenant_id: &str,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, IdentityError> {
        let secret = self.client_secret().await?;
        self.client
            .refresh(entra_tenant_id, secret, refresh_token)
            .await
    }

    /// The resource-owner password grant (password verification only).
    pub async fn password_grant(
        &self,
        entra_tenant_id: &str,
        user_name: &str,
        password: &SecretString,
    ) -> Result<TokenGrant, IdentityError> {
        let secret = self.client_secret().await?;
        self.client
            .password_grant(entra_tenant_id, secret, user_name, password)
            .await
    }
}

impl IdentityPlatform for EntraApp {
    fn authorization_request(
        &self,
        authority: &str,
    ) -> Result<AuthorizationRequest, IdentityError> {
        self.client.authorization_request(authority)
    }

    async fn exchange_code(
        &self,
        authority: &str,
        code: &SecretString,
        pkce_verifier: &SecretString,
    ) -> Result<TokenGrant, IdentityError> {
        let secret = self.client_secret().await?;
        self.client
            .exchange_code(authority, secret, code, pkce_verifier)
            .await
    }

    fn id_token_claims(
        &self,
        id_token: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<IdTokenClaims, ClaimsError> {
        let claims = IdTokenClaims::decode(id_token.expose_secret())?;
        claims.validate(
            self.client.client_id(),
            self.client.login_base_url(),
            now.timestamp(),
        )?;
        Ok(claims)
    }
}
