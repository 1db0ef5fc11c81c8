//! Authorize: the app's checks, the simulated browser's sign-in and
//! consent, and the single-use code sent to the redirect URI.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::{Shared, is_guid};
use crate::emulator::{AppRegistration, EmulatorState, IssuedCode, Tenant, User, random_token};

/// The sign-in error page Entra shows when it cannot redirect.
pub(super) fn error_page(code: u32, message: &str) -> Response {
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

pub(super) fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let mut url = url::Url::parse(redirect_uri).expect("registered redirect URIs parse");
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
    }
    redirect(url.to_string())
}

/// An answer at the app's redirect URI, with the app's `state` if it sent one.
pub(super) fn redirect_with_state<'a>(
    redirect_uri: &str,
    client_state: &'a str,
    mut pairs: Vec<(&'a str, &'a str)>,
) -> Response {
    if !client_state.is_empty() {
        pairs.push(("state", client_state));
    }
    redirect_with(redirect_uri, &pairs)
}

/// The app of `client_id` and the redirect URI, if registered: Entra's
/// first checks at authorize and admin consent alike.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
pub(super) fn registered_redirect<'s>(
    state: &'s EmulatorState,
    q: &'s HashMap<String, String>,
) -> Result<(&'s AppRegistration, &'s String), Response> {
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
    Ok((app, redirect_uri))
}

/// The browser's user (a `login_hint`, or whoever is signed in), if it
/// exists in the authority and is enabled; `no_user` answers when nobody is.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
pub(super) fn browser_user<'s>(
    state: &'s EmulatorState,
    authority: &str,
    q: &HashMap<String, String>,
    no_user: impl FnOnce() -> Response,
) -> Result<(&'s Tenant, &'s User), Response> {
    let Some(upn) = q
        .get("login_hint")
        .cloned()
        .or_else(|| state.browser.user_principal_name.clone())
    else {
        return Err(no_user());
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
    Ok((tenant, user))
}

/// The consent screen's answer (the form's, else the browser's script):
/// declined or not.
pub(super) fn declines_consent(state: &EmulatorState, q: &HashMap<String, String>) -> bool {
    match q.get("consent").map(String::as_str) {
        Some(answer) => answer == "decline",
        None => state.browser.declines_consent,
    }
}

pub(super) async fn authorize(
    State(shared): State<Shared>,
    Path(authority): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    answer_authorize(&shared, &authority, &q)
}

/// The sign-in page's form: the account picked, and the consent answer.
pub(super) async fn consent_answered(
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

/// The sign-in page's accounts: every live user, with its organisation.
fn account_options(state: &EmulatorState) -> String {
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
    accounts
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
        .collect()
}

/// What a person sees at authorize (or admin consent, `action`): the
/// accounts to sign in with, and the consent the app asks for. The form
/// posts back with the original parameters, the account as `login_hint`
/// and `consent`.
pub(super) fn sign_in_page(
    state: &EmulatorState,
    action: &str,
    q: &HashMap<String, String>,
) -> Response {
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
    let options = account_options(state);
    let scope = html_escape(q.get("scope").map(String::as_str).unwrap_or(""));
    let body = format!(
        r#"<!doctype html><html><head><title>Sign in to your account</title></head><body>
<h1>Sign in to your account</h1>
<p>The Entra ID emulator plays Microsoft here. Pick the account to sign in with.</p>
<form method="post" action="{action}">{hidden}
<label for="account">Account</label> <select id="account" name="login_hint">{options}</select>
<h2>Permissions requested</h2><p id="scope">{scope}</p>
<p>Accepting grants these permissions for the whole organisation (admin consent).</p>
<button id="accept" name="consent" value="accept">Accept</button>
<button id="decline" name="consent" value="decline">Cancel</button>
</form></body></html>"#,
        action = html_escape(action),
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
        redirect_with_state(
            &self.redirect_uri,
            &self.client_state,
            vec![("error", error), ("error_description", description)],
        )
    }
}

/// Who signed in, in which tenant, and whether they consented just now.
struct SignedIn {
    tenant_id: String,
    user_id: String,
    consented: bool,
}

/// `prompt=none`: no page may be shown; what would need one is an error
/// at the redirect URI.
fn is_silent(q: &HashMap<String, String>) -> bool {
    q.get("prompt").map(String::as_str) == Some("none")
}

/// A sign-in that asks for nothing but who the user is (`openid profile
/// email`): no refresh token, no Graph scopes (DESIGN 2.12's proof leg).
fn is_sign_in_only(q: &HashMap<String, String>) -> bool {
    q.get("scope")
        .map(String::as_str)
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .all(|s| matches!(s, "openid" | "profile" | "email"))
}

fn answer_authorize(shared: &Shared, authority: &str, q: &HashMap<String, String>) -> Response {
    let mut state = shared.lock().unwrap();
    let request = match checked_authorize_request(&state, authority, q) {
        Ok(request) => request,
        Err(response) => return response,
    };
    if state.browser.interactive && !q.contains_key("login_hint") && !is_silent(q) {
        return sign_in_page(&state, &format!("/{authority}/oauth2/v2.0/authorize"), q);
    }
    match consenting_user(&state, authority, q, &request) {
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
    let (app, redirect_uri) = registered_redirect(state, q)?;
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

/// The simulated browser's user, if it may sign in. Once the app is
/// consented in the user's tenant (admin consent), any enabled user there
/// signs in with `openid profile`, as Microsoft lets them; otherwise the
/// user must consent, and (delegated Graph scopes) be a Global
/// Administrator. A silent request cannot show the consent screen.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn consenting_user(
    state: &EmulatorState,
    authority: &str,
    q: &HashMap<String, String>,
    request: &AuthorizeRequest,
) -> Result<SignedIn, Response> {
    let silent = is_silent(q);
    if silent && state.knobs.silent_sign_in_interaction_required {
        return Err(request.fail(
            "interaction_required",
            "AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the application.",
        ));
    }
    let (tenant, user) = signed_in_user(state, authority, q, request)?;
    let mut signed_in = SignedIn {
        tenant_id: tenant.id.clone(),
        user_id: user.id.clone(),
        consented: false,
    };
    if is_sign_in_only(q) && tenant.app_consent.consented {
        return Ok(signed_in);
    }
    if silent {
        return Err(request.fail(
            "consent_required",
            "AADSTS65001: The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource.",
        ));
    }
    consent_screen(state, q, request, user)?;
    signed_in.consented = true;
    Ok(signed_in)
}

/// The browser's user (a login_hint, or whoever is signed in), if it
/// exists in the authority and is enabled.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn signed_in_user<'s>(
    state: &'s EmulatorState,
    authority: &str,
    q: &HashMap<String, String>,
    request: &AuthorizeRequest,
) -> Result<(&'s Tenant, &'s User), Response> {
    browser_user(state, authority, q, || {
        let message = "A silent sign-in request was sent but no user is signed in.";
        if is_silent(q) {
            request.fail("login_required", &format!("AADSTS50058: {message}"))
        } else {
            error_page(50058, message)
        }
    })
}

/// The consent screen: the user accepts, and is an admin.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn consent_screen(
    state: &EmulatorState,
    q: &HashMap<String, String>,
    request: &AuthorizeRequest,
    user: &User,
) -> Result<(), Response> {
    if declines_consent(state, q) {
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
    Ok(())
}

/// Consent given: a single-use code, sent to the redirect URI.
fn grant_code(
    state: &mut EmulatorState,
    request: AuthorizeRequest,
    signed_in: SignedIn,
    q: &HashMap<String, String>,
) -> Response {
    // A fresh consent lifts an earlier revocation.
    if signed_in.consented
        && let Some(t) = state.tenants.get_mut(&signed_in.tenant_id)
    {
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
            nonce: q.get("nonce").cloned(),
            issued_at: Utc::now(),
            redeemed: false,
        },
    );
    state.issued_secrets.push(code.clone());
    redirect_with_state(
        &request.redirect_uri,
        &request.client_state,
        vec![("code", code.as_str())],
    )
}
