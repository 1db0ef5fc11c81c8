//! Client credentials (APP-ONLY-AUTH.md §2, docs/graph.md 5.4): the app's
//! own token for one tenant, carrying the application roles granted there.
//! The client is already authenticated (`token::authenticate_client`).

use std::collections::HashMap;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use super::is_guid;
use super::token::token_error;
use crate::emulator::app_only::{APP_DISPLAY_NAME, GRAPH_AUDIENCE};
use crate::emulator::{AccessGrant, EmulatorState, jwt, random_token};

/// The app's service principal in the tenant, as a token is issued for it.
struct ServicePrincipal {
    tenant_id: String,
    id: String,
    roles: Vec<String>,
}

pub(super) fn client_credentials_grant(
    state: &mut EmulatorState,
    authority: &str,
    form: &HashMap<String, String>,
) -> Response {
    match service_principal(state, authority, form) {
        Ok(principal) => issue_app_token(state, &principal),
        Err(refused) => refused,
    }
}

fn bad_request(error: &str, code: u32, message: &str) -> Response {
    token_error(StatusCode::BAD_REQUEST, error, code, message)
}

/// The tenant (by id), the scope, then the app's consent there.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn service_principal(
    state: &EmulatorState,
    authority: &str,
    form: &HashMap<String, String>,
) -> Result<ServicePrincipal, Response> {
    // Microsoft documents /common and /consumers as refused; /organizations
    // is unconfirmed (docs/graph.md 5.1): the emulator refuses it the same.
    if matches!(authority, "common" | "consumers" | "organizations") {
        return Err(bad_request(
            "invalid_request",
            9001023,
            "The grant type is not supported over the /common, /consumers or /organizations endpoints. Please use a tenant-specific endpoint.",
        ));
    }
    let Some(tenant) = state.tenants.get(authority).filter(|_| is_guid(authority)) else {
        return Err(bad_request(
            "invalid_request",
            90002,
            &format!(
                "Tenant '{authority}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    };
    check_scope(state, form)?;
    let client_id = state.app.as_ref().map_or("", |a| a.client_id.as_str());
    let consent = &tenant.app_consent;
    let Some(id) = consent
        .service_principal_id
        .clone()
        .filter(|_| consent.consented)
    else {
        return Err(bad_request(
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{authority}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ));
    };
    if consent.disabled {
        return Err(bad_request(
            "unauthorized_client",
            7000112,
            &format!("Application '{client_id}'({APP_DISPLAY_NAME}) is disabled."),
        ));
    }
    Ok(ServicePrincipal {
        tenant_id: tenant.id.clone(),
        id,
        roles: consent.granted_roles.clone(),
    })
}

/// Graph's `.default` and nothing else: application permissions cannot be
/// asked for one by one.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn check_scope(state: &EmulatorState, form: &HashMap<String, String>) -> Result<(), Response> {
    match form.get("scope").map(String::as_str) {
        None | Some("") => Err(bad_request(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        )),
        Some(scope) if state.is_graph_default_scope(scope) => Ok(()),
        Some(other) => Err(bad_request(
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {other} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )),
    }
}

/// A signed app token (v1 format, as Graph's are) and the answer: no
/// refresh token, no id token, `roles` left out when none is granted.
fn issue_app_token(state: &mut EmulatorState, principal: &ServicePrincipal) -> Response {
    let now = Utc::now();
    let ttl = state.knobs.access_token_ttl_secs.unwrap_or(3599);
    let client_id = state
        .app
        .as_ref()
        .map(|a| a.client_id.clone())
        .unwrap_or_default();
    let issuer = format!("https://sts.windows.net/{}/", principal.tenant_id);
    let mut claims = json!({
        "aud": GRAPH_AUDIENCE,
        "iss": issuer,
        "idp": issuer,
        "iat": now.timestamp(),
        "nbf": now.timestamp(),
        "exp": now.timestamp() + ttl as i64,
        "tid": principal.tenant_id,
        "appid": client_id,
        "app_displayname": APP_DISPLAY_NAME,
        "appidacr": "1",
        "idtyp": "app",
        "oid": principal.id,
        "sub": principal.id,
        "uti": random_token(16),
        "ver": "1.0",
    });
    if !principal.roles.is_empty() {
        claims["roles"] = json!(principal.roles);
    }
    let access_token = jwt::sign(&claims);
    state.access_tokens.insert(
        access_token.clone(),
        AccessGrant {
            tenant_id: principal.tenant_id.clone(),
            user_id: principal.id.clone(),
            expires_at: now + chrono::Duration::seconds(ttl as i64),
            app_roles: Some(principal.roles.clone()),
        },
    );
    state.issued_secrets.push(access_token.clone());
    let body = json!({
        "token_type": "Bearer",
        "expires_in": ttl,
        "ext_expires_in": ttl,
        "access_token": access_token,
    });
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}
