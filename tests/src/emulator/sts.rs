//! AWS STS's outbound identity federation, which moto lacks (DESIGN 2.12):
//! `GetWebIdentityToken` signs a JWT for the calling role with a per-account
//! issuer that publishes OIDC discovery and its keys, and the identity
//! platform checks a `client_assertion` against the app's federated
//! identity credentials as Entra does (issuer, signature, expiry, subject,
//! audience). The caller's role comes from the stack's AWS gate (what real
//! STS learns from SigV4) in [`CALLER_HEADER`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use super::{EmulatorState, FederatedCredential};

type Shared = Arc<Mutex<EmulatorState>>;

/// The role ARN of the caller, set by the stack's AWS gate.
pub const CALLER_HEADER: &str = "x-emulator-caller-arn";

const SIGNING_KEY_PEM: &[u8] = include_bytes!("../../fixtures/sts-signing-key.pem");
const SIGNING_JWK: &str = include_str!("../../fixtures/sts-signing-jwk.json");
const KEY_ID: &str = "sts-emulator-1";

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/sts", post(get_web_identity_token))
        .route(
            "/sts/{account}/.well-known/openid-configuration",
            get(discovery),
        )
        .route("/sts/{account}/.well-known/jwks.json", get(jwks))
}

/// The account's issuer on this emulator (AWS gives each account its own
/// `https://<id>.tokens.sts.global.api.aws`).
pub fn issuer(base_url: &str, account: &str) -> String {
    format!("{}/sts/{account}", base_url.trim_end_matches('/'))
}

async fn discovery(headers: HeaderMap, Path(account): Path<String>) -> Response {
    let issuer = issuer(&own_base(&headers), &account);
    axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
    }))
    .into_response()
}

async fn jwks() -> Response {
    let jwk: Value = serde_json::from_str(SIGNING_JWK).expect("the fixture JWK is JSON");
    axum::Json(json!({ "keys": [jwk] })).into_response()
}

fn own_base(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

async fn get_web_identity_token(
    State(shared): State<Shared>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let Some(role) = headers.get(CALLER_HEADER).and_then(|v| v.to_str().ok()) else {
        return error(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        );
    };
    let request = match TokenRequest::read(&form) {
        Ok(request) => request,
        Err(message) => return error(StatusCode::BAD_REQUEST, "ValidationError", &message),
    };
    let account = role.split(':').nth(4).unwrap_or_default().to_owned();
    let now = chrono::Utc::now().timestamp();
    let expires = now + request.duration_seconds;
    let claims = json!({
        "iss": issuer(&own_base(&headers), &account),
        "sub": role,
        "aud": if request.audiences.len() == 1 { json!(request.audiences[0]) } else { json!(request.audiences) },
        "iat": now,
        "exp": expires,
        "jti": uuid::Uuid::new_v4().to_string(),
        "https://sts.amazonaws.com/": { "aws_account": account, "principal_id": role },
    });
    let token = sign(&claims);
    {
        let mut state = shared.lock().expect("emulator state lock");
        state.web_identity_tokens += 1;
        state.issued_secrets.push(token.clone());
    }
    let expiration = chrono::DateTime::from_timestamp(expires, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = format!(
        "<GetWebIdentityTokenResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetWebIdentityTokenResult><WebIdentityToken>{token}</WebIdentityToken><Expiration>{expiration}</Expiration></GetWebIdentityTokenResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetWebIdentityTokenResponse>",
        uuid::Uuid::new_v4()
    );
    (StatusCode::OK, [("content-type", "text/xml")], body).into_response()
}

/// `GetWebIdentityToken`'s parameters, checked as STS documents them.
struct TokenRequest {
    audiences: Vec<String>,
    duration_seconds: i64,
}

impl TokenRequest {
    fn read(form: &HashMap<String, String>) -> Result<Self, String> {
        if form.get("Action").map(String::as_str) != Some("GetWebIdentityToken") {
            return Err("only GetWebIdentityToken is played here".into());
        }
        let mut audiences: Vec<(usize, String)> = form
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("Audience.member.")?.parse().ok()?;
                Some((n, v.clone()))
            })
            .collect();
        audiences.sort();
        let audiences: Vec<String> = audiences.into_iter().map(|(_, v)| v).collect();
        if audiences.is_empty() || audiences.len() > 10 || audiences.iter().any(|a| a.is_empty()) {
            return Err("Audience must hold 1 to 10 non-empty values".into());
        }
        match form.get("SigningAlgorithm").map(String::as_str) {
            Some("RS256") => {}
            Some("ES384") => return Err("ES384 is not played by the emulator".into()),
            _ => return Err("SigningAlgorithm must be RS256 or ES384".into()),
        }
        let duration_seconds = match form.get("DurationSeconds") {
            None => 300,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|d| (60..=3600).contains(d))
                .ok_or("DurationSeconds must be 60 to 3600")?,
        };
        Ok(Self {
            audiences,
            duration_seconds,
        })
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>0</RequestId></ErrorResponse>",
        xml_text(message)
    );
    (status, [("content-type", "text/xml")], body).into_response()
}

/// Text escaped for an XML element.
pub fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Signs with the STS fixture key (tests forge with another key).
pub fn sign(claims: &Value) -> String {
    super::jwt::sign_with(SIGNING_KEY_PEM, KEY_ID, claims)
}

/// Why Entra refuses an assertion: its AADSTS code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionRefusal {
    pub code: u32,
    pub message: String,
}

/// Entra's check of a `client_assertion` against the app's federated
/// identity credentials: an issuer it trusts, that issuer's signature, a
/// time window, then an exact subject and audience.
pub fn verify_assertion(
    assertion: &str,
    credentials: &[FederatedCredential],
) -> Result<(), AssertionRefusal> {
    let refuse = |code: u32, message: String| AssertionRefusal { code, message };
    let unverified = unverified_claims(assertion)
        .ok_or_else(|| refuse(50027, "Invalid JWT token. The token is malformed.".into()))?;
    let claim = |name: &str| unverified[name].as_str().unwrap_or_default().to_owned();
    let (iss, sub) = (claim("iss"), claim("sub"));
    let trusted: Vec<&FederatedCredential> =
        credentials.iter().filter(|c| c.issuer == iss).collect();
    if trusted.is_empty() {
        return Err(no_match(&iss, &sub, &unverified["aud"]));
    }
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_str(SIGNING_JWK).expect("the fixture JWK is a JWK");
    let key = DecodingKey::from_jwk(&jwk).expect("the fixture JWK is an RSA key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.leeway = 0;
    match jsonwebtoken::decode::<Value>(assertion, &key, &validation) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                jsonwebtoken::errors::ErrorKind::ExpiredSignature
                    | jsonwebtoken::errors::ErrorKind::ImmatureSignature
            ) =>
        {
            return Err(refuse(
                700024,
                "Client assertion is not within its valid time range.".into(),
            ));
        }
        Err(_) => {
            return Err(refuse(
                700027,
                "Client assertion failed signature validation.".into(),
            ));
        }
    }
    let audiences = audiences(&unverified["aud"]);
    let matched = trusted
        .iter()
        .any(|c| c.subject == sub && audiences.contains(&c.audience));
    if matched {
        Ok(())
    } else {
        Err(no_match(&iss, &sub, &unverified["aud"]))
    }
}

fn no_match(iss: &str, sub: &str, aud: &Value) -> AssertionRefusal {
    AssertionRefusal {
        code: 70021,
        message: format!(
            "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'.",
            audiences(aud).join(",")
        ),
    }
}

/// `aud`: one string or a list of them.
fn audiences(aud: &Value) -> Vec<String> {
    match aud {
        Value::String(a) => vec![a.clone()],
        Value::Array(list) => list
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The payload of a JWT, not yet trusted.
fn unverified_claims(token: &str) -> Option<Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests;
