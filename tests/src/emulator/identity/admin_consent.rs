//! Admin consent, `GET /{tenant}/v2.0/adminconsent` (APP-ONLY-AUTH.md
//! §1(b), docs/graph.md 5.3): the browser leg where an administrator grants
//! the app's application permissions for the whole organisation.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;

use super::authorize::{
    browser_user, declines_consent, error_page, redirect_with_state, registered_redirect,
    sign_in_page,
};
use super::{Shared, is_guid};
use crate::emulator::EmulatorState;
use crate::emulator::app_only::{
    GRAPH_AUDIENCE, may_grant_app_permissions, roles_granted_on_consent,
};

pub(super) async fn admin_consent(
    State(shared): State<Shared>,
    Path(authority): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    answer(&shared, &authority, &q)
}

/// The sign-in page's form: the account picked, and the consent answer.
pub(super) async fn admin_consent_answered(
    State(shared): State<Shared>,
    Path(authority): Path<String>,
    axum::Form(q): axum::Form<HashMap<String, String>>,
) -> Response {
    answer(&shared, &authority, &q)
}

/// A request that passed the app's checks: where its answers go.
struct ConsentRequest {
    redirect_uri: String,
    client_state: String,
}

impl ConsentRequest {
    /// An error at the redirect URI: `admin_consent=True` is there on
    /// errors too, as Microsoft documents.
    fn fail(&self, error: &str, description: &str) -> Response {
        redirect_with_state(
            &self.redirect_uri,
            &self.client_state,
            vec![
                ("admin_consent", "True"),
                ("error", error),
                ("error_description", description),
            ],
        )
    }
}

fn answer(shared: &Shared, authority: &str, q: &HashMap<String, String>) -> Response {
    let mut state = shared.lock().unwrap();
    let request = match checked_request(&state, authority, q) {
        Ok(request) => request,
        Err(response) => return response,
    };
    if state.browser.interactive && !q.contains_key("login_hint") {
        return sign_in_page(&state, &format!("/{authority}/v2.0/adminconsent"), q);
    }
    let (tenant_id, upn) = match consenting_admin(&state, authority, q, &request) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let roles = roles_granted_on_consent(&state.knobs);
    if let Some(tenant) = state.tenants.get_mut(&tenant_id) {
        tenant.app_consent.grant(roles.clone());
    }
    // The browser keeps the session: a silent sign-in may follow.
    state.browser.user_principal_name = Some(upn);
    let scope = roles
        .iter()
        .map(|r| format!("{GRAPH_AUDIENCE}/{r}"))
        .collect::<Vec<_>>()
        .join(" ");
    redirect_with_state(
        &request.redirect_uri,
        &request.client_state,
        vec![
            ("admin_consent", "True"),
            ("tenant", tenant_id.as_str()),
            ("scope", scope.as_str()),
        ],
    )
}

/// The app, its redirect URI, the authority and the scope.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn checked_request(
    state: &EmulatorState,
    authority: &str,
    q: &HashMap<String, String>,
) -> Result<ConsentRequest, Response> {
    let (_, redirect_uri) = registered_redirect(state, q)?;
    check_authority(state, authority)?;
    let request = ConsentRequest {
        redirect_uri: redirect_uri.clone(),
        client_state: q.get("state").cloned().unwrap_or_default(),
    };
    let scopes = q.get("scope").map(String::as_str).unwrap_or("");
    if !scopes.split(' ').any(|s| state.is_graph_default_scope(s)) {
        return Err(request.fail(
            "invalid_request",
            "AADSTS70011: The provided request must include a 'scope' input parameter with 'https://graph.microsoft.com/.default' to request application permissions.",
        ));
    }
    Ok(request)
}

/// `organizations` or a known tenant's id; never `common`. (Which AADSTS
/// code Microsoft shows for `common` here is not documented: 90130.)
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn check_authority(state: &EmulatorState, authority: &str) -> Result<(), Response> {
    match authority {
        "organizations" => Ok(()),
        "common" | "consumers" => Err(error_page(
            90130,
            "Application is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
        )),
        id if is_guid(id) && state.tenants.contains_key(id) => Ok(()),
        other => Err(error_page(
            90002,
            &format!(
                "Tenant '{other}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        )),
    }
}

/// The simulated browser's user, if it exists in the authority, is enabled,
/// may grant application permissions and consents: its tenant and UPN.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn consenting_admin(
    state: &EmulatorState,
    authority: &str,
    q: &HashMap<String, String>,
    request: &ConsentRequest,
) -> Result<(String, String), Response> {
    let (tenant, user) = browser_user(state, authority, q, || {
        error_page(50058, "No user is signed in.")
    })?;
    // What Microsoft shows a user who may not grant application permissions
    // here is not documented (its portal offers an admin-consent request):
    // the emulator stops at an error page, and nothing reaches the app.
    if !may_grant_app_permissions(tenant, user) {
        return Err(error_page(
            90094,
            "Admin consent is required: the signed-in user cannot grant application permissions for this organisation.",
        ));
    }
    if declines_consent(state, q) {
        return Err(request.fail(
            "consent_required",
            "AADSTS65004: The resource owner or authorization server denied the request.",
        ));
    }
    Ok((tenant.id.clone(), user.user_principal_name.clone()))
}
