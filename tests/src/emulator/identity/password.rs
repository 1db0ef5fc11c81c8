//! The resource-owner password grant (docs/graph.md 5.8): scripted sign-in
//! outcomes, federated domains, and smart lockout.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;

use super::token::{SignedInGrant, invalid_grant, issue_tokens, token_error};
use crate::emulator::EmulatorState;
use crate::emulator::directory::User;

/// Entra's smart lockout threshold (default).
const LOCKOUT_THRESHOLD: u32 = 10;

/// The resource-owner password grant (docs/graph.md 5.8).
pub(super) fn password_grant(
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
        .is_some_and(|d| d.authentication == crate::emulator::DomainAuthentication::Federated);
    let tenant_id = tenant.id.clone();
    let user_id = tenant
        .user_by_upn(&username)
        .map(|u| u.id.clone())
        .unwrap_or_default();
    let user = tenant.users.get_mut(&user_id).expect("found above");
    if let Err(response) = check_password(user, &password, federated) {
        return response;
    }
    let signed_in = SignedInGrant {
        tenant_id: &tenant_id,
        user_id: &user_id,
        client_id: &client_id,
        scope: "openid",
        nonce: None,
    };
    issue_tokens(state, &signed_in)
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
