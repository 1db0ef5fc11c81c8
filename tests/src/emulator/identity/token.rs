//! The token endpoint: client authentication, the authorization_code and
//! refresh_token grants, and the tokens issued (the password grant and
//! client credentials have modules of their own).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use serde_json::{Value, json};
use sha2::Digest;

use super::client_credentials::client_credentials_grant;
use super::password::password_grant;
use super::{CODE_LIFETIME_SECS, Shared, is_guid};
use crate::emulator::app_only::active_role_templates;
use crate::emulator::{
    AccessGrant, EmulatorState, IssuedCode, RefreshGrant, Revocation, jwt, random_token,
};

/// A token-endpoint error body exactly as docs/graph.md 5.4 shows it.
pub(super) fn token_error(status: StatusCode, error: &str, code: u32, message: &str) -> Response {
    let now = Utc::now();
    let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
    let trace_id = uuid::Uuid::new_v4().to_string();
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let mut body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    if code == 700082 {
        body["suberror"] = json!("bad_token");
    }
    (status, axum::Json(body)).into_response()
}

fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        && let Some((id, secret)) = basic.split_once(':')
    {
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return (decode(id), decode(secret));
    }
    (
        form.get("client_id").cloned(),
        form.get("client_secret").cloned(),
    )
}

pub(super) async fn token(
    State(shared): State<Shared>,
    Path(authority): Path<String>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let mut state = shared.lock().unwrap();
    if let Some(failure) = state.knobs.token_failure.clone() {
        return scripted_token_failure(failure);
    }
    let grant_type = form.get("grant_type").map(String::as_str).unwrap_or("");
    if let Err(response) = authenticate_client(&state, grant_type, &headers, &form) {
        return response;
    }
    match grant_type {
        "authorization_code" => redeem_code(&mut state, &authority, &form),
        "refresh_token" => redeem_refresh(&mut state, &authority, &form),
        "password" => password_grant(&mut state, &authority, &form),
        "client_credentials" => client_credentials_grant(&mut state, &authority, &form),
        "" => token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        ),
        _ => token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        ),
    }
}

fn scripted_token_failure(failure: crate::emulator::TokenFailure) -> Response {
    match failure {
        crate::emulator::TokenFailure::ServerError => token_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            90033,
            "A transient error has occurred. Please try again.",
        ),
        crate::emulator::TokenFailure::InvalidGrant { code } => token_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            code,
            "The provided authorization grant is invalid.",
        ),
    }
}

/// The app's client id, and for the grants that need it, its secret.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn authenticate_client(
    state: &EmulatorState,
    grant_type: &str,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(), Response> {
    let Some(app) = state.app.as_ref() else {
        return Err(token_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application not found in the directory.",
        ));
    };
    let (client_id, client_secret) = client_credentials(headers, form);
    if client_id.as_deref() != Some(app.client_id.as_str()) {
        return Err(token_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application with identifier was not found in the directory.",
        ));
    }
    if !matches!(
        grant_type,
        "authorization_code" | "refresh_token" | "password" | "client_credentials"
    ) {
        return Ok(());
    }
    let assertion = form.get("client_assertion");
    match (client_secret, assertion) {
        // Entra refuses a request carrying both (microsoft-identity-web
        // #3470 drops the secret when there is an assertion for this); the
        // code for this case is not documented: Entra's generic one.
        (Some(_), Some(_)) => Err(token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9002313,
            "Invalid request. Only one client credential may be presented: 'client_assertion' or 'client_secret'.",
        )),
        (None, Some(assertion)) => check_assertion(app, form, assertion),
        (None, None) => Err(token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
        (Some(secret), _) if secret != app.client_secret => Err(token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        )),
        (Some(_), _) => Ok(()),
    }
}

/// Workload identity federation: the assertion checked against the app's
/// federated identity credentials (`crate::emulator::sts`).
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn check_assertion(
    app: &crate::emulator::AppRegistration,
    form: &HashMap<String, String>,
    assertion: &str,
) -> Result<(), Response> {
    const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
        return Err(token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
        ));
    }
    crate::emulator::sts::verify_assertion(assertion, &app.federated_credentials).map_err(
        |refusal| {
            token_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                refusal.code,
                &refusal.message,
            )
        },
    )
}

pub(super) fn invalid_grant(code: u32, message: &str) -> Response {
    token_error(StatusCode::BAD_REQUEST, "invalid_grant", code, message)
}

fn redeem_code(
    state: &mut EmulatorState,
    authority: &str,
    form: &HashMap<String, String>,
) -> Response {
    let Some(code_value) = form.get("code") else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'code'.",
        );
    };
    let Some(code) = state.codes.get_mut(code_value) else {
        return invalid_grant(
            70000,
            "The provided value for the 'code' parameter is not valid.",
        );
    };
    if code.redeemed {
        return invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        );
    }
    // A code is spent by any redemption attempt, good or bad.
    code.redeemed = true;
    let code = code.clone();
    if (Utc::now() - code.issued_at).num_seconds() > CODE_LIFETIME_SECS {
        return invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity.",
        );
    }
    if is_guid(authority) && authority != code.tenant_id {
        return invalid_grant(50020, "User account does not exist in tenant.");
    }
    if form.get("redirect_uri") != Some(&code.redirect_uri) {
        return invalid_grant(
            50011,
            "The redirect URI specified in the request does not match the redirect URI used to obtain the authorization code.",
        );
    }
    if let Some(challenge) = &code.code_challenge
        && let Err(response) = verify_pkce(&code, challenge, form)
    {
        return response;
    }
    let signed_in = SignedInGrant {
        tenant_id: &code.tenant_id,
        user_id: &code.user_id,
        client_id: &code.client_id,
        scope: &code.scope,
        nonce: code.nonce.as_deref(),
    };
    issue_tokens(state, &signed_in)
}

/// PKCE (RFC 7636): the verifier must hash (S256) or equal (plain) the challenge.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn verify_pkce(
    code: &IssuedCode,
    challenge: &str,
    form: &HashMap<String, String>,
) -> Result<(), Response> {
    let Some(verifier) = form.get("code_verifier") else {
        return Err(invalid_grant(
            50148,
            "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
        ));
    };
    let computed = match code.code_challenge_method.as_str() {
        "S256" => URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes())),
        _ => verifier.clone(),
    };
    if computed != challenge {
        return Err(invalid_grant(
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        ));
    }
    Ok(())
}

fn redeem_refresh(
    state: &mut EmulatorState,
    authority: &str,
    form: &HashMap<String, String>,
) -> Response {
    let Some(grant) = form
        .get("refresh_token")
        .and_then(|t| state.refresh_tokens.get(t))
        .cloned()
    else {
        return invalid_grant(9002313, "Invalid request. Request is malformed or invalid.");
    };
    if is_guid(authority) && authority != grant.tenant_id {
        return invalid_grant(50020, "User account does not exist in tenant.");
    }
    match state
        .tenants
        .get(&grant.tenant_id)
        .and_then(|t| t.consent_revoked)
    {
        Some(Revocation::Inactivity) => {
            return invalid_grant(
                700082,
                "The refresh token has expired due to inactivity. The token was issued on 2026-01-01T00:00:00.0000000Z and was inactive for 90.00:00:00.",
            );
        }
        Some(Revocation::Revoked) => {
            return invalid_grant(
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is needed.",
            );
        }
        None => {}
    }
    let client_id = state
        .app
        .as_ref()
        .map(|a| a.client_id.clone())
        .unwrap_or_default();
    // Rotation: a new refresh token each time; the old one stays valid
    // (docs/graph.md 5.6), the client is expected to keep the newest.
    let signed_in = SignedInGrant {
        tenant_id: &grant.tenant_id,
        user_id: &grant.user_id,
        client_id: &client_id,
        scope: &grant.scope,
        nonce: None,
    };
    issue_tokens(state, &signed_in)
}

/// A user's tokens to issue: for whom, to which app, what was asked.
pub(super) struct SignedInGrant<'a> {
    pub tenant_id: &'a str,
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    /// The authorize request's `nonce`, echoed in the id token.
    pub nonce: Option<&'a str>,
}

pub(super) fn issue_tokens(state: &mut EmulatorState, grant: &SignedInGrant) -> Response {
    let SignedInGrant {
        tenant_id,
        user_id,
        scope,
        ..
    } = *grant;
    let now = Utc::now();
    let ttl = state.knobs.access_token_ttl_secs.unwrap_or(3599);
    let access_token = format!("eyJ0eXAi.{}", random_token(48));
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    let mut body = json!({
        "token_type": "Bearer",
        "scope": "https://graph.microsoft.com/User.ReadWrite.All https://graph.microsoft.com/Group.ReadWrite.All https://graph.microsoft.com/Directory.Read.All https://graph.microsoft.com/RoleEligibilitySchedule.Read.Directory",
        "expires_in": ttl,
        "ext_expires_in": ttl,
        "access_token": access_token,
    });
    state.access_tokens.insert(
        access_token.clone(),
        AccessGrant {
            tenant_id: tenant_id.to_owned(),
            user_id: user_id.to_owned(),
            expires_at: now + chrono::Duration::seconds(ttl as i64),
            app_roles: None,
        },
    );
    state.issued_secrets.push(access_token);
    if scopes.contains(&"offline_access") {
        let refresh_token = format!("1.AQ{}", random_token(64));
        state.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshGrant {
                tenant_id: tenant_id.to_owned(),
                user_id: user_id.to_owned(),
                scope: scope.to_owned(),
            },
        );
        state.issued_secrets.push(refresh_token.clone());
        body["refresh_token"] = Value::String(refresh_token);
    }
    if scopes.contains(&"openid") {
        let id_token = id_token(state, grant);
        state.issued_secrets.push(id_token.clone());
        body["id_token"] = Value::String(id_token);
    }
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

/// The id token: the user, and `wids` (their active directory roles, as
/// with `groupMembershipClaims=DirectoryRole`), `nonce` when one was sent.
fn id_token(state: &EmulatorState, grant: &SignedInGrant) -> String {
    let SignedInGrant {
        tenant_id, user_id, ..
    } = *grant;
    let now = Utc::now();
    let tenant = state.tenants.get(tenant_id);
    let user = tenant.and_then(|t| t.users.get(user_id));
    let base = &state.issuer_base;
    let mut claims = json!({
        "aud": grant.client_id,
        "iss": format!("{base}/{tenant_id}/v2.0"),
        "iat": now.timestamp(),
        "nbf": now.timestamp(),
        "exp": now.timestamp() + 3600,
        "sub": random_token(16),
        "oid": user_id,
        "tid": tenant_id,
        "preferred_username": user.map(|u| u.user_principal_name.clone()),
        "name": user.and_then(|u| u.display_name.clone()),
        "ver": "2.0",
    });
    if let Some(nonce) = grant.nonce {
        claims["nonce"] = json!(nonce);
    }
    let wids = tenant
        .zip(user)
        .map(|(t, u)| active_role_templates(t, u))
        .unwrap_or_default();
    if !wids.is_empty() {
        claims["wids"] = json!(wids);
    }
    jwt::sign(&claims)
}
