//! The browser legs of DESIGN 2.12 and the proof they end in: the admin
//! consent URL, the sign-in that proves who consented (code + PKCE +
//! nonce, `openid profile`), and the id token checked against the keys
//! of the tenant that issued it.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::{CsrfToken, PkceCodeChallenge, Scope};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::model::same_digest;

use super::{ClaimsError, IdTokenClaims, IdentityClient, IdentityError, SignInRequest};

/// How long the keys request may take.
const KEYS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl IdentityClient {
    /// `{login}/{authority}/v2.0/adminconsent` for every application
    /// permission of the app registration.
    pub fn admin_consent_url(&self, authority: &str) -> Result<(Url, SecretString), IdentityError> {
        let redirect_uri = self
            .redirect_uri
            .as_ref()
            .ok_or_else(|| IdentityError::Configuration("no redirect URI is configured".into()))?;
        let mut url = Url::parse(&format!(
            "{}/{authority}/v2.0/adminconsent",
            self.login_base_url.as_str().trim_end_matches('/')
        ))
        .map_err(|e| IdentityError::Configuration(e.to_string()))?;
        let state = CsrfToken::new_random_len(32);
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("scope", &self.graph_scope)
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("state", state.secret());
        Ok((url, SecretString::from(state.secret().clone())))
    }

    /// The sign-in to the tenant Microsoft named, silent (`prompt=none`:
    /// the consent just given left a session) unless `interactive`.
    pub fn sign_in_request(
        &self,
        entra_tenant_id: &str,
        interactive: bool,
    ) -> Result<SignInRequest, IdentityError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random_len(32);
        let client = self.oauth_client(entra_tenant_id, None)?;
        let mut request = client
            .authorize_url(|| CsrfToken::new_random_len(32))
            .set_pkce_challenge(challenge)
            .add_scope(Scope::new("openid".into()))
            .add_scope(Scope::new("profile".into()))
            .add_extra_param("nonce", nonce.secret())
            .add_extra_param("response_mode", "query");
        if !interactive {
            request = request.add_extra_param("prompt", "none");
        }
        let (url, state) = request.url();
        Ok(SignInRequest {
            url,
            state: SecretString::from(state.secret().clone()),
            pkce_verifier: SecretString::from(verifier.secret().clone()),
            nonce: SecretString::from(nonce.secret().clone()),
        })
    }

    /// Checks an id token as the proof of who signed in where: its
    /// signature by a key of `entra_tenant_id`'s signing keys, its
    /// audience (this app), issuer (that tenant), expiry (five minutes'
    /// skew) and nonce; then reads its claims.
    pub async fn verify_id_token(
        &self,
        entra_tenant_id: &str,
        id_token: &SecretString,
        nonce: &SecretString,
    ) -> Result<IdTokenClaims, ClaimsError> {
        let token = id_token.expose_secret();
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ClaimsError::NotAJwt("the header cannot be read"))?;
        let keys = self.signing_keys(entra_tenant_id).await?;
        let jwk = header
            .kid
            .as_deref()
            .and_then(|kid| keys.find(kid))
            .ok_or_else(|| invalid("kid", "signed by a key the tenant does not publish"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("kid", "unusable key"))?;
        let issuer = format!(
            "{}/{entra_tenant_id}/v2.0",
            self.login_base_url.as_str().trim_end_matches('/')
        );
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.client_id]);
        validation.set_issuer(&[&issuer]);
        validation.leeway = 300;
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .map_err(|e| invalid("signature", &format!("{:?}", e.kind())))?;
        let claims = IdTokenClaims::from_payload(data.claims)?;
        if claims.tenant_id.as_str() != entra_tenant_id {
            return Err(invalid("tid", "another tenant than the one signed in to"));
        }
        let nonce_matches = claims
            .nonce
            .as_deref()
            .is_some_and(|n| same_digest(n.as_bytes(), nonce.expose_secret().as_bytes()));
        if !nonce_matches {
            return Err(invalid("nonce", "not the one this sign-in sent"));
        }
        Ok(claims)
    }

    /// The tenant's published signing keys.
    async fn signing_keys(&self, entra_tenant_id: &str) -> Result<JwkSet, ClaimsError> {
        let url = format!(
            "{}/{entra_tenant_id}/discovery/v2.0/keys",
            self.login_base_url.as_str().trim_end_matches('/')
        );
        let unavailable = |why: &str| ClaimsError::KeysUnavailable(why.to_owned());
        let response = self
            .http
            .get(url)
            .timeout(KEYS_TIMEOUT)
            .send()
            .await
            .map_err(|_| unavailable("the request failed"))?;
        if !response.status().is_success() {
            return Err(unavailable(&format!("answered {}", response.status())));
        }
        response
            .json::<JwkSet>()
            .await
            .map_err(|_| unavailable("the answer is not a key set"))
    }
}

fn invalid(claim: &'static str, reason: &str) -> ClaimsError {
    ClaimsError::Invalid {
        claim,
        reason: reason.to_owned(),
    }
}
