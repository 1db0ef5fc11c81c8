//! The Microsoft identity platform (docs/graph.md 5): authorize URLs with PKCE,
//! the code exchange and refresh, through the `oauth2` crate.
//!
//! No token value ever leaves this module except wrapped in `SecretString`,
//! and no error carries a response body.

pub mod app;
mod grants;
pub mod http;
pub mod sign_in;

use std::time::Duration;

use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

pub use app::EntraApp;
// The values this adapter hands out are the model's (the authorisation
// flow's port speaks them without depending on this adapter).
pub use crate::model::identity::{
    AppCredential, AppToken, CONSENTING_ADMIN_ROLES, ClaimsError, GRAPH_DEFAULT_SCOPE,
    IdTokenClaims, IdentityError, REQUIRED_APP_ROLES, SignInRequest, TokenErrorBody, TokenGrant,
    authority, claims,
};

/// What the connector asks for: sign-in claims, a refresh token, and the
/// Graph permissions configured on the app registration.
pub const SCOPES: &[&str] = &[
    "openid",
    "profile",
    "offline_access",
    "https://graph.microsoft.com/.default",
];

/// The id token field Entra adds to the standard token response.
#[derive(Clone, Debug, Deserialize, Serialize, Default)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type EntraTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

impl oauth2::ErrorResponse for TokenErrorBody {}

type EntraOAuthClient = oauth2::Client<
    TokenErrorBody,
    EntraTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A fresh PKCE pair and state for one authorization attempt.
#[derive(Debug)]
pub struct AuthorizationRequest {
    pub url: Url,
    pub state: SecretString,
    pub pkce_verifier: SecretString,
}

/// The app's side of the identity platform: who we are, where we come back.
#[derive(Clone)]
pub struct IdentityClient {
    http: reqwest::Client,
    login_base_url: Url,
    client_id: String,
    /// Only the authorization-code flow needs it.
    redirect_uri: Option<Url>,
    /// `<graph_base_url>/.default` of the client's cloud: admin consent
    /// and client credentials name it.
    graph_scope: String,
}

impl IdentityClient {
    /// `http` must not follow redirects (see [`http::send`]).
    pub fn new(
        http: reqwest::Client,
        login_base_url: Url,
        client_id: String,
        redirect_uri: Option<Url>,
    ) -> Self {
        Self {
            http,
            login_base_url,
            client_id,
            redirect_uri,
            graph_scope: GRAPH_DEFAULT_SCOPE.to_owned(),
        }
    }

    /// The `.default` scope of the client's cloud (DESIGN 2.12: a national
    /// cloud's Graph is another resource); global's by default.
    pub fn with_graph_scope(self, graph_scope: String) -> Self {
        Self {
            graph_scope,
            ..self
        }
    }

    pub fn graph_scope(&self) -> &str {
        &self.graph_scope
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn login_base_url(&self) -> &Url {
        &self.login_base_url
    }

    fn endpoint(&self, authority: &str, path: &str) -> String {
        format!(
            "{}/{}/oauth2/v2.0/{path}",
            self.login_base_url.as_str().trim_end_matches('/'),
            authority
        )
    }

    fn oauth_client(
        &self,
        authority: &str,
        credential: Option<&AppCredential>,
    ) -> Result<EntraOAuthClient, IdentityError> {
        let bad = |e: url::ParseError| IdentityError::Configuration(e.to_string());
        let mut client = oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(AuthUrl::new(self.endpoint(authority, "authorize")).map_err(bad)?)
            .set_token_uri(TokenUrl::new(self.endpoint(authority, "token")).map_err(bad)?)
            .set_auth_type(AuthType::RequestBody);
        if let Some(redirect_uri) = &self.redirect_uri {
            client = client.set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
        }
        if let Some(AppCredential::ClientSecret(secret)) = credential {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        Ok(client)
    }

    /// Builds the URL the admin's browser is sent to, with a random state and
    /// a PKCE S256 challenge.
    pub fn authorization_request(
        &self,
        authority: &str,
    ) -> Result<AuthorizationRequest, IdentityError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.oauth_client(authority, None)?;
        let mut request = client
            .authorize_url(|| CsrfToken::new_random_len(32))
            .set_pkce_challenge(challenge);
        for scope in SCOPES {
            request = request.add_scope(Scope::new((*scope).to_owned()));
        }
        let (url, state) = request.url();
        Ok(AuthorizationRequest {
            url,
            state: SecretString::from(state.secret().clone()),
            pkce_verifier: SecretString::from(verifier.secret().clone()),
        })
    }

    pub async fn exchange_code(
        &self,
        authority: &str,
        credential: &AppCredential,
        code: &SecretString,
        pkce_verifier: &SecretString,
    ) -> Result<TokenGrant, IdentityError> {
        let client = self.oauth_client(authority, Some(credential))?;
        let http = http::OAuthHttp(&self.http);
        let request = client
            .exchange_code(AuthorizationCode::new(code.expose_secret().to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                pkce_verifier.expose_secret().to_owned(),
            ));
        let request = with_assertion(request, credential, |r, k, v| r.add_extra_param(k, v));
        grant_from(request.request_async(&http).await)
    }

    /// The resource-owner password grant (docs/graph.md 5.8), for password
    /// verification only. The tokens it returns are the caller's to drop.
    pub async fn password_grant(
        &self,
        authority: &str,
        credential: &AppCredential,
        username: &str,
        password: &SecretString,
    ) -> Result<TokenGrant, IdentityError> {
        let client = self.oauth_client(authority, Some(credential))?;
        let http = http::OAuthHttp(&self.http);
        let username = oauth2::ResourceOwnerUsername::new(username.to_owned());
        let password = oauth2::ResourceOwnerPassword::new(password.expose_secret().to_owned());
        let request = client
            .exchange_password(&username, &password)
            .add_scope(Scope::new("openid".to_owned()));
        let request = with_assertion(request, credential, |r, k, v| r.add_extra_param(k, v));
        grant_from(request.request_async(&http).await)
    }

    /// A client-credentials token for one customer tenant (`authority` is
    /// its id), with every application role granted there.
    pub async fn client_credentials(
        &self,
        authority: &str,
        credential: &AppCredential,
    ) -> Result<AppToken, IdentityError> {
        let client = self.oauth_client(authority, Some(credential))?;
        let http = http::OAuthHttp(&self.http);
        let request = client
            .exchange_client_credentials()
            .add_scope(Scope::new(self.graph_scope.clone()));
        let request = with_assertion(request, credential, |r, k, v| r.add_extra_param(k, v));
        let grant = grant_from(request.request_async(&http).await)?;
        Ok(AppToken::new(grant.access_token, grant.expires_in))
    }

    pub async fn refresh(
        &self,
        authority: &str,
        credential: &AppCredential,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, IdentityError> {
        let client = self.oauth_client(authority, Some(credential))?;
        let http = http::OAuthHttp(&self.http);
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let mut request = client.exchange_refresh_token(&token);
        for scope in SCOPES {
            request = request.add_scope(Scope::new((*scope).to_owned()));
        }
        let request = with_assertion(request, credential, |r, k, v| r.add_extra_param(k, v));
        grant_from(request.request_async(&http).await)
    }
}

/// RFC 7523's client authentication by assertion: a federated credential
/// rides as two form fields of the token request (a secret is set on the
/// client instead). The request builders of `oauth2` share no trait, so
/// each call site passes its own `add_extra_param`.
fn with_assertion<R>(
    request: R,
    credential: &AppCredential,
    add: impl Fn(R, &'static str, String) -> R,
) -> R {
    match credential {
        AppCredential::ClientAssertion(assertion) => {
            let request = add(
                request,
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            );
            add(
                request,
                "client_assertion",
                assertion.expose_secret().to_owned(),
            )
        }
        AppCredential::ClientSecret(_) => request,
    }
}

type OAuthResult = Result<
    EntraTokenResponse,
    RequestTokenError<oauth2::HttpClientError<reqwest::Error>, TokenErrorBody>,
>;

/// Turns oauth2's result into ours. `Parse` errors carry the raw body, which
/// may hold tokens: it is dropped here, never formatted.
fn grant_from(result: OAuthResult) -> Result<TokenGrant, IdentityError> {
    match result {
        Ok(response) => Ok(TokenGrant {
            access_token: SecretString::from(response.access_token().secret().clone()),
            refresh_token: response
                .refresh_token()
                .map(|t| SecretString::from(t.secret().clone())),
            id_token: response
                .extra_fields()
                .id_token
                .clone()
                .map(SecretString::from),
            scope: response
                .scopes()
                .map(|scopes| {
                    scopes
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default(),
            // At most a day: an absurd answer must not overflow a deadline.
            expires_in: response
                .expires_in()
                .unwrap_or(Duration::from_secs(3599))
                .min(Duration::from_secs(86_400)),
        }),
        Err(RequestTokenError::ServerResponse(body)) => Err(IdentityError::Rejected(body)),
        Err(RequestTokenError::Request(err)) => {
            Err(IdentityError::Transport(transport_reason(&err)))
        }
        Err(RequestTokenError::Parse(..)) => Err(IdentityError::UnreadableResponse),
        Err(RequestTokenError::Other(reason)) => Err(IdentityError::Transport(reason)),
    }
}

/// Why a request did not complete. URLs are left out: a query can carry codes.
fn transport_reason(err: &oauth2::HttpClientError<reqwest::Error>) -> String {
    let oauth2::HttpClientError::Reqwest(err) = err else {
        return "the request could not be sent".to_owned();
    };
    if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "connection failed".to_owned()
    } else {
        "the request or its response failed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> IdentityClient {
        IdentityClient::new(
            crate::https::client(),
            Url::parse("https://login.microsoftonline.com").unwrap(),
            "app-id".into(),
            Some(Url::parse("https://am.example.com/entra/callback").unwrap()),
        )
    }

    #[test]
    fn the_authorize_url_carries_pkce_state_scopes_and_the_authority() {
        let request = client().authorization_request("organizations").unwrap();
        let url = request.url;
        assert_eq!(url.path(), "/organizations/oauth2/v2.0/authorize");
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "app-id");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["redirect_uri"], "https://am.example.com/entra/callback");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], request.state.expose_secret());
        assert!(q["scope"].split(' ').any(|s| s == "offline_access"));
        // The challenge is the S256 of the verifier we keep.
        use base64::Engine;
        use sha2::Digest;
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            sha2::Sha256::digest(request.pkce_verifier.expose_secret().as_bytes()),
        );
        assert_eq!(q["code_challenge"], expected);
    }

    #[test]
    fn a_national_clouds_consent_url_goes_to_its_login_host_with_its_graph_scope() {
        let usgov = IdentityClient::new(
            crate::https::client(),
            Url::parse("https://login.microsoftonline.us").unwrap(),
            "usgov-app".into(),
            Some(Url::parse("https://am.example.com/entra/callback").unwrap()),
        )
        .with_graph_scope("https://graph.microsoft.us/.default".into());
        let (url, _) = usgov.admin_consent_url("organizations").unwrap();
        assert_eq!(url.host_str(), Some("login.microsoftonline.us"));
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["scope"], "https://graph.microsoft.us/.default");
        assert_eq!(q["client_id"], "usgov-app");
        let (global, _) = client().admin_consent_url("organizations").unwrap();
        assert!(global.as_str().contains("graph.microsoft.com%2F.default"));
    }

    #[test]
    fn the_authority_is_the_tenant_once_known() {
        assert_eq!(authority(None), "organizations");
        let tid = crate::model::Guid::parse("6a2d4e1f-0000-4000-8000-00000000abcd").unwrap();
        assert_eq!(authority(Some(&tid)), tid.as_str());
    }

    #[test]
    fn invalid_grant_is_terminal_and_server_errors_are_retryable() {
        let body = |error: &str| TokenErrorBody {
            error: error.into(),
            error_description: None,
            error_codes: vec![700082],
            suberror: None,
        };
        assert!(IdentityError::Rejected(body("invalid_grant")).is_invalid_grant());
        assert!(!IdentityError::Rejected(body("invalid_grant")).is_retryable());
        assert!(IdentityError::Rejected(body("temporarily_unavailable")).is_retryable());
        assert_eq!(
            body("invalid_grant").to_string(),
            "invalid_grant (AADSTS700082)"
        );
    }
}
