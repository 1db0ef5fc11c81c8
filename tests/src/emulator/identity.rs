//! `login.microsoftonline.com` as docs/graph.md 5 describes it: authorize (a
//! simulated browser sign-in), token (authorization_code with PKCE and
//! single-use codes, refresh_token with rotation and revocation), keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use serde_json::{Value, json};
use sha2::Digest;

use super::directory::User;
use super::{AccessGrant, EmulatorState, IssuedCode, RefreshGrant, Revocation, jwt, random_token};

type Shared = Arc<Mutex<EmulatorState>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(authorize).post(consent_answered),
        )
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
}

const CODE_LIFETIME_SECS: i64 = 600;

fn is_guid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok()
}

/// The sign-in error page Entra shows when it cannot redirect.
fn error_page(code: u32, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!("<html><body><h1>Sign in</h1><p>AADSTS{code}: {message}</p></body></html>"),
    )
        .into_response()
}

fn redirect(location: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let mut url = url::Url::parse(redirect_uri).expect("registered redirect URIs parse");
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
    }
    redirect(url.to_string())
}

async fn authorize(
    State(shared): State<Shared>,
    Path(authority): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    answer_authorize(&shared, &authority, &q)
}

/// The sign-in page's form: the account picked, and the consent answer.
async fn consent_answered(
    State(shared): State<Shared>,
    Path(authority): Path<String>,
    axum::Form(q): axum::Form<HashMap<String, String>>,
) -> Response {
    answer_authorize(&shared, &authority, &q)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What a person sees at authorize: the accounts to sign in with, and the
/// consent the app asks for. The form posts back with the original
/// parameters, the account as `login_hint` and `consent`.
fn sign_in_page(state: &EmulatorState, authority: &str, q: &HashMap<String, String>) -> Response {
    let hidden: String = q
        .iter()
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                html_escape(k),
                html_escape(v)
            )
        })
        .collect();
    let mut accounts: Vec<(String, String, bool)> = state
        .tenants
        .values()
        .flat_map(|t| {
            t.users.values().filter(|u| !u.deleted).map(|u| {
                (
                    u.user_principal_name.clone(),
                    t.display_name.clone(),
                    u.is_global_admin,
                )
            })
        })
        .collect();
    accounts.sort();
    let options: String = accounts
        .iter()
        .map(|(upn, tenant, admin)| {
            let role = if *admin { ", Global Administrator" } else { "" };
            format!(
                r#"<option value="{0}">{0} ({1}{2})</option>"#,
                html_escape(upn),
                html_escape(tenant),
                role
            )
        })
        .collect();
    let scope = html_escape(q.get("scope").map(String::as_str).unwrap_or(""));
    let body = format!(
        r#"<!doctype html><html><head><title>Sign in to your account</title></head><body>
<h1>Sign in to your account</h1>
<p>The Entra ID emulator plays Microsoft here. Pick the account to sign in with.</p>
<form method="post" action="/{authority}/oauth2/v2.0/authorize">{hidden}
<label for="account">Account</label> <select id="account" name="login_hint">{options}</select>
<h2>Permissions requested</h2><p id="scope">{scope}</p>
<p>Accepting grants these permissions for the whole organisation (admin consent).</p>
<button id="accept" name="consent" value="accept">Accept</button>
<button id="decline" name="consent" value="decline">Cancel</button>
</form></body></html>"#,
        authority = html_escape(authority),
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// An authorize request that passed the app's checks: where its answers go.
struct AuthorizeRequest {
    client_id: String,
    redirect_uri: String,
    client_state: String,
    code_challenge_method: String,
}

impl AuthorizeRequest {
    /// An error the app receives at its redirect URI (with its `state`).
    fn fail(&self, error: &str, description: &str) -> Response {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if !self.client_state.is_empty() {
            pairs.push(("state", self.client_state.as_str()));
        }
        redirect_with(&self.redirect_uri, &pairs)
    }
}

/// Who signed in, in which tenant.
struct SignedIn {
    tenant_id: String,
    user_id: String,
}

fn answer_authorize(shared: &Shared, authority: &str, q: &HashMap<String, String>) -> Response {
    let mut state = shared.lock().unwrap();
    let request = match checked_authorize_request(&state, authority, q) {
        Ok(request) => request,
        Err(response) => return response,
    };
    if state.browser.interactive && !q.contains_key("login_hint") {
        return sign_in_page(&state, authority, q);
    }
    match consenting_admin(&state, authority, q, &request) {
        Ok(signed_in) => grant_code(&mut state, request, signed_in, q),
        Err(response) => response,
    }
}

/// The app, its redirect URI, the response type, the authority and PKCE
/// method, in the order Entra checks them.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn checked_authorize_request(
    state: &EmulatorState,
    authority: &str,
    q: &HashMap<String, String>,
) -> Result<AuthorizeRequest, Response> {
    let Some(app) = state.app.as_ref() else {
        return Err(error_page(
            700016,
            "Application not found in the directory.",
        ));
    };
    if q.get("client_id") != Some(&app.client_id) {
        return Err(error_page(
            700016,
            "Application with identifier was not found in the directory.",
        ));
    }
    let Some(redirect_uri) = q
        .get("redirect_uri")
        .filter(|r| app.redirect_uris.contains(r))
    else {
        return Err(error_page(
            50011,
            "The redirect URI specified in the request does not match the redirect URIs configured for the application.",
        ));
    };
    let request = AuthorizeRequest {
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        client_state: q.get("state").cloned().unwrap_or_default(),
        code_challenge_method: q
            .get("code_challenge_method")
            .cloned()
            .unwrap_or_else(|| "plain".into()),
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return Err(request.fail(
            "unsupported_response_type",
            "AADSTS700054: response_type 'id_token' is not enabled for the application.",
        ));
    }
    if !matches!(authority, "organizations" | "common") && !is_guid(authority) {
        return Err(error_page(90002, "Tenant not found."));
    }
    if q.contains_key("code_challenge")
        && !matches!(request.code_challenge_method.as_str(), "S256" | "plain")
    {
        return Err(request.fail(
            "invalid_request",
            "AADSTS501491: Invalid code_challenge_method.",
        ));
    }
    Ok(request)
}

/// The simulated browser's user (a login_hint, or whoever is signed in),
/// if it exists in the authority, is enabled, consents and is an admin.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn consenting_admin(
    state: &EmulatorState,
    authority: &str,
    q: &HashMap<String, String>,
    request: &AuthorizeRequest,
) -> Result<SignedIn, Response> {
    let Some(upn) = q
        .get("login_hint")
        .cloned()
        .or_else(|| state.browser.user_principal_name.clone())
    else {
        return Err(error_page(
            50058,
            "A silent sign-in request was sent but no user is signed in.",
        ));
    };
    let Some((tenant, user)) = state.tenant_of_user(&upn) else {
        return Err(error_page(
            50034,
            "The user account does not exist in the directory.",
        ));
    };
    if is_guid(authority) && authority != tenant.id {
        return Err(error_page(
            50020,
            "User account from identity provider does not exist in tenant and cannot access the application in that tenant.",
        ));
    }
    if !user.account_enabled {
        return Err(error_page(50057, "The user account is disabled."));
    }
    let declines = match q.get("consent").map(String::as_str) {
        Some(answer) => answer == "decline",
        None => state.browser.declines_consent,
    };
    if declines {
        return Err(request.fail(
            "access_denied",
            "AADSTS65004: User declined to consent to access the app.",
        ));
    }
    if !user.is_global_admin {
        return Err(request.fail(
            "access_denied",
            "AADSTS90094: Admin consent is required for the permissions requested by this application.",
        ));
    }
    Ok(SignedIn {
        tenant_id: tenant.id.clone(),
        user_id: user.id.clone(),
    })
}

/// Consent given: a single-use code, sent to the redirect URI.
fn grant_code(
    state: &mut EmulatorState,
    request: AuthorizeRequest,
    signed_in: SignedIn,
    q: &HashMap<String, String>,
) -> Response {
    // A fresh consent lifts an earlier revocation.
    if let Some(t) = state.tenants.get_mut(&signed_in.tenant_id) {
        t.consent_revoked = None;
    }
    let code = random_token(48);
    state.codes.insert(
        code.clone(),
        IssuedCode {
            tenant_id: signed_in.tenant_id,
            user_id: signed_in.user_id,
            client_id: request.client_id,
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: q.get("code_challenge").cloned(),
            code_challenge_method: request.code_challenge_method,
            scope: q.get("scope").cloned().unwrap_or_default(),
            issued_at: Utc::now(),
            redeemed: false,
        },
    );
    state.issued_secrets.push(code.clone());
    let mut pairs = vec![("code", code.as_str())];
    if !request.client_state.is_empty() {
        pairs.push(("state", request.client_state.as_str()));
    }
    redirect_with(&request.redirect_uri, &pairs)
}

/// A token-endpoint error body exactly as docs/graph.md 5.4 shows it.
pub fn token_error(status: StatusCode, error: &str, code: u32, message: &str) -> Response {
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

async fn token(
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

fn scripted_token_failure(failure: super::TokenFailure) -> Response {
    match failure {
        super::TokenFailure::ServerError => token_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            90033,
            "A transient error has occurred. Please try again.",
        ),
        super::TokenFailure::InvalidGrant { code } => token_error(
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
        "authorization_code" | "refresh_token" | "password"
    ) {
        return Ok(());
    }
    match client_secret {
        None => Err(token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
        Some(secret) if secret != app.client_secret => Err(token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        )),
        Some(_) => Ok(()),
    }
}

fn invalid_grant(code: u32, message: &str) -> Response {
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
    issue_tokens(
        state,
        &code.tenant_id,
        &code.user_id,
        &code.client_id,
        &code.scope,
    )
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
    issue_tokens(
        state,
        &grant.tenant_id,
        &grant.user_id,
        &client_id,
        &grant.scope,
    )
}

/// Entra's smart lockout threshold (default).
const LOCKOUT_THRESHOLD: u32 = 10;

/// The resource-owner password grant (docs/graph.md 5.8).
fn password_grant(
    state: &mut EmulatorState,
    authority: &str,
    form: &HashMap<String, String>,
) -> Response {
    if matches!(authority, "common" | "consumers") {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9001023,
            "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
        );
    }
    let username = form.get("username").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let client_id = state
        .app
        .as_ref()
        .map(|a| a.client_id.clone())
        .unwrap_or_default();
    let tenant = state.tenants.values_mut().find(|t| {
        (t.id == authority || authority == "organizations") && t.user_by_upn(&username).is_some()
    });
    let Some(tenant) = tenant else {
        return invalid_grant(50034, "The user account does not exist in the directory.");
    };
    let federated = tenant
        .domain_of(&username)
        .is_some_and(|d| d.authentication == super::DomainAuthentication::Federated);
    let tenant_id = tenant.id.clone();
    let user_id = tenant
        .user_by_upn(&username)
        .map(|u| u.id.clone())
        .unwrap_or_default();
    let user = tenant.users.get_mut(&user_id).expect("found above");
    if let Err(response) = check_password(user, &password, federated) {
        return response;
    }
    issue_tokens(state, &tenant_id, &user_id, &client_id, "openid")
}

/// A password sign-in's checks in Entra's order; a wrong password counts
/// towards smart lockout, a right one resets the count.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn check_password(user: &mut User, password: &str, federated: bool) -> Result<(), Response> {
    let correct = user.password.as_deref() == Some(password) && !password.is_empty();
    if let Some(response) = user
        .sign_in_outcome
        .and_then(|o| scripted_sign_in(o, correct))
    {
        return Err(response);
    }
    if federated {
        return Err(invalid_grant(
            50126,
            "Error validating credentials due to invalid username or password.",
        ));
    }
    if !user.account_enabled {
        return Err(invalid_grant(50057, "The user account is disabled."));
    }
    if user.failed_sign_ins >= LOCKOUT_THRESHOLD {
        return Err(invalid_grant(
            50053,
            "Your account is locked because you've tried to sign in too many times with an incorrect user ID or password.",
        ));
    }
    if user.password.is_none() {
        return Err(invalid_grant(
            50056,
            "Invalid or null password: password does not exist in the directory for this user.",
        ));
    }
    if !correct {
        user.failed_sign_ins += 1;
        return Err(invalid_grant(
            50126,
            "Error validating credentials due to invalid username or password.",
        ));
    }
    user.failed_sign_ins = 0;
    Ok(())
}

/// A user's scripted sign-in outcome: the policy codes (MFA, Conditional
/// Access, expired password) answer only a correct password; any other
/// code answers every attempt.
fn scripted_sign_in(code: u32, correct: bool) -> Option<Response> {
    let (error, message) = match code {
        50076 => (
            "invalid_grant",
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
        ),
        50079 => (
            "interaction_required",
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access the resource.",
        ),
        53003 => (
            "invalid_grant",
            "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
        ),
        50055 => (
            "invalid_grant",
            "The session is not valid due to password expiration or recent password change.",
        ),
        _ => {
            return Some(invalid_grant(
                code,
                "The account cannot sign in (scripted).",
            ));
        }
    };
    correct.then(|| token_error(StatusCode::BAD_REQUEST, error, code, message))
}

fn issue_tokens(
    state: &mut EmulatorState,
    tenant_id: &str,
    user_id: &str,
    client_id: &str,
    scope: &str,
) -> Response {
    let now = Utc::now();
    let ttl = state.knobs.access_token_ttl_secs.unwrap_or(3599);
    let access_token = format!("eyJ0eXAi.{}", random_token(48));
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    let mut body = json!({
        "token_type": "Bearer",
        "scope": "https://graph.microsoft.com/User.ReadWrite.All https://graph.microsoft.com/Group.ReadWrite.All https://graph.microsoft.com/Directory.Read.All",
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
        let id_token = id_token(state, tenant_id, user_id, client_id);
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

fn id_token(state: &EmulatorState, tenant_id: &str, user_id: &str, client_id: &str) -> String {
    let now = Utc::now();
    let user = state
        .tenants
        .get(tenant_id)
        .and_then(|t| t.users.get(user_id));
    let base = &state.issuer_base;
    jwt::sign(&json!({
        "aud": client_id,
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
    }))
}

async fn keys() -> Response {
    axum::Json(jwt::jwks()).into_response()
}
