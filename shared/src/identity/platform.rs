//! The identity platform port, implemented with the real client and the
//! app's secret from Secrets Manager.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{
    AuthorizationRequest, ClaimsError, IdTokenClaims, IdentityClient, IdentityError, TokenGrant,
};
use crate::authorisation::IdentityPlatform;
use crate::store::AppClientSecret;

pub struct EntraIdentityPlatform {
    client: IdentityClient,
    secret: AppClientSecret,
}

impl EntraIdentityPlatform {
    pub fn new(client: IdentityClient, secret: AppClientSecret) -> Self {
        Self { client, secret }
    }
}

impl IdentityPlatform for EntraIdentityPlatform {
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
        let secret = self
            .secret
            .get()
            .await
            .map_err(|e| IdentityError::Configuration(e.to_string()))?;
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
