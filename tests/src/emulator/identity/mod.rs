//! `login.microsoftonline.com` as docs/graph.md 5 describes it: authorize (a
//! simulated browser sign-in), admin consent, token (authorization_code
//! with PKCE and single-use codes, refresh_token with rotation and
//! revocation, the resource-owner password grant, client credentials), keys.

mod admin_consent;
mod authorize;
mod client_credentials;
mod password;
mod token;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{EmulatorState, jwt};

type Shared = Arc<Mutex<EmulatorState>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(authorize::authorize).post(authorize::consent_answered),
        )
        .route(
            "/{tenant}/v2.0/adminconsent",
            get(admin_consent::admin_consent).post(admin_consent::admin_consent_answered),
        )
        .route("/{tenant}/oauth2/v2.0/token", post(token::token))
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
}

const CODE_LIFETIME_SECS: i64 = 600;

fn is_guid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok()
}

async fn keys() -> Response {
    axum::Json(jwt::jwks()).into_response()
}
