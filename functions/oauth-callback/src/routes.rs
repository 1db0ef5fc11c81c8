//! Routing and response shaping; every decision is the flow's.

use entra_sync::authorisation::{
    AuthorisationFlow, CallbackOutcome, CallbackParams, ConfirmError, IdentityPlatform,
    IntegrationsStore, StartError, TokenStore,
};
use entra_sync::model::TenantId;
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::body::{self, AuthorizeBody, ConfirmBody};
use crate::path;

type HttpResult = Result<Response<Body>, lambda_http::Error>;

enum Route<'a> {
    Authorize { tenant_id: &'a str },
    Confirm { tenant_id: &'a str },
    Callback,
}

fn route<'a>(method: &Method, path: &'a str) -> Option<Route<'a>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::POST, ["tenants", tenant_id, "entra", "authorize"]) => {
            Some(Route::Authorize { tenant_id })
        }
        (&Method::POST, ["tenants", tenant_id, "entra", "authorize", "confirm"]) => {
            Some(Route::Confirm { tenant_id })
        }
        (&Method::GET, ["entra", "callback"]) => Some(Route::Callback),
        _ => None,
    }
}

pub async fn handle<S, T, I>(flow: &AuthorisationFlow<S, T, I>, request: Request) -> HttpResult
where
    S: IntegrationsStore,
    T: TokenStore,
    I: IdentityPlatform,
{
    let path = request.uri().path().to_owned();
    match route(request.method(), &path) {
        Some(Route::Authorize { tenant_id }) => authorize(flow, tenant_id, request.body()).await,
        Some(Route::Confirm { tenant_id }) => confirm(flow, tenant_id, request.body()).await,
        Some(Route::Callback) => callback(flow, request.uri().query().unwrap_or("")).await,
        None => {
            tracing::warn!(method = %request.method(), path = %path, "no such route");
            json_error(StatusCode::NOT_FOUND, "not_found", "no such route")
        }
    }
}

async fn authorize<S, T, I>(
    flow: &AuthorisationFlow<S, T, I>,
    raw_tenant_id: &str,
    raw_body: &Body,
) -> HttpResult
where
    S: IntegrationsStore,
    T: TokenStore,
    I: IdentityPlatform,
{
    let (tenant_id, body) = match request_of::<AuthorizeBody>("authorize", raw_tenant_id, raw_body)
    {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    match flow
        .start(&tenant_id, &body.session_binding, chrono::Utc::now())
        .await
    {
        Ok(start) => json_response(
            StatusCode::OK,
            json!({
                "authorize_url": start.authorize_url.as_str(),
                "expires_at": start.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }),
        ),
        Err(err) => start_refused(&tenant_id, err),
    }
}

/// The answer to a start that did not happen, and its log line.
fn start_refused(tenant_id: &TenantId, err: StartError) -> HttpResult {
    match err {
        err @ StartError::InvalidBinding(_) => {
            tracing::warn!(tenant_id = %tenant_id, error = %err, "authorize with an unusable session binding");
            json_error(
                StatusCode::BAD_REQUEST,
                "invalid_session_binding",
                &err.to_string(),
            )
        }
        StartError::UnknownTenant(_) => {
            tracing::warn!(tenant_id = %tenant_id, "authorize for a tenant without an Entra ID config");
            json_error(
                StatusCode::NOT_FOUND,
                "unknown_tenant",
                "no Entra ID integration is configured for this tenant",
            )
        }
        err @ StartError::CloudNotSupported(_) => {
            // Logged by the flow; nothing stored, no cloud asked.
            json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "cloud_not_supported",
                &err.to_string(),
            )
        }
        StartError::Store(err) if !err.is_retryable() => {
            tracing::error!(tenant_id = %tenant_id, error = %err, "the tenant config is unusable");
            json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                &err.to_string(),
            )
        }
        err => {
            tracing::error!(tenant_id = %tenant_id, error = %err, "could not start the authorisation");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the authorisation could not be started; try again",
            )
        }
    }
}

async fn callback<S, T, I>(flow: &AuthorisationFlow<S, T, I>, query: &str) -> HttpResult
where
    S: IntegrationsStore,
    T: TokenStore,
    I: IdentityPlatform,
{
    match flow
        .complete(CallbackParams::from_query(query), chrono::Utc::now())
        .await
    {
        CallbackOutcome::Continue { redirect, .. }
        | CallbackOutcome::Pending { redirect, .. }
        | CallbackOutcome::Failed { redirect, .. } => Ok(Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, redirect.as_str())
            .header(header::CACHE_CONTROL, "no-store")
            .body(Body::Empty)?),
        // A fixed page: nothing from the request is reflected.
        CallbackOutcome::InvalidState(_) => plain_page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is invalid, has expired or has already been used. \
             Start the authorisation again from the portal.",
        ),
        CallbackOutcome::Unavailable => plain_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The authorisation could not be completed right now. Start it again from the portal.",
        ),
    }
}

async fn confirm<S, T, I>(
    flow: &AuthorisationFlow<S, T, I>,
    raw_tenant_id: &str,
    raw_body: &Body,
) -> HttpResult
where
    S: IntegrationsStore,
    T: TokenStore,
    I: IdentityPlatform,
{
    let (tenant_id, body) = match request_of::<ConfirmBody>("confirm", raw_tenant_id, raw_body) {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    let now = chrono::Utc::now();
    match flow
        .confirm(&tenant_id, &body.result, &body.session_binding, now)
        .await
    {
        Ok(confirmed) => json_response(
            StatusCode::OK,
            json!({
                "status": "authorised",
                "entra_tenant_id": confirmed.entra_tenant_id.as_str(),
                "authorised_by": confirmed.authorised_by,
                "missing_permissions": confirmed.missing_permissions,
            }),
        ),
        Err(ConfirmError::Store(err)) => {
            tracing::error!(tenant_id = %tenant_id, error = %err, "could not confirm the authorisation");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the authorisation could not be confirmed; start it again",
            )
        }
        Err(refused) => {
            tracing::warn!(tenant_id = %tenant_id, reason = refused.code(), "confirm refused; nothing stored");
            json_error(StatusCode::CONFLICT, refused.code(), &refused.to_string())
        }
    }
}

/// The tenant id of the path and the JSON body of a platform route, or
/// the `400` naming what is wrong.
#[allow(clippy::result_large_err)] // the error is the route's own answer
fn request_of<B: serde::de::DeserializeOwned>(
    route: &'static str,
    raw_tenant_id: &str,
    raw_body: &Body,
) -> Result<(TenantId, B), HttpResult> {
    let tenant_id = tenant_id_of_path(raw_tenant_id).map_err(|message| {
        tracing::warn!(route, reason = %message, "a request with an invalid tenant id");
        json_error(StatusCode::BAD_REQUEST, "invalid_tenant_id", &message)
    })?;
    let body = body::parse(raw_body).map_err(|message| {
        tracing::warn!(route, tenant_id = %tenant_id, reason = %message, "a request with an unusable body");
        json_error(StatusCode::BAD_REQUEST, "invalid_body", &message)
    })?;
    Ok((tenant_id, body))
}

/// The tenant id a path segment names, or what is wrong with it.
fn tenant_id_of_path(segment: &str) -> Result<TenantId, String> {
    let decoded = path::decode_segment(segment)
        .map_err(|err| format!("the tenant id in the path is not well encoded: {err}"))?;
    TenantId::parse(&decoded).map_err(|err| err.to_string())
}

fn plain_page(status: StatusCode, text: &'static str) -> HttpResult {
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(text.to_owned()))?)
}

fn json_response(status: StatusCode, body: serde_json::Value) -> HttpResult {
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(body.to_string()))?)
}

fn json_error(status: StatusCode, error: &str, message: &str) -> HttpResult {
    json_response(status, json!({"error": error, "message": message}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_method_and_path_exactly() {
        assert!(matches!(
            route(&Method::POST, "/tenants/acme/entra/authorize"),
            Some(Route::Authorize { tenant_id: "acme" })
        ));
        assert!(matches!(
            route(&Method::GET, "/entra/callback"),
            Some(Route::Callback)
        ));
        assert!(matches!(
            route(&Method::POST, "/tenants/acme/entra/authorize/confirm"),
            Some(Route::Confirm { tenant_id: "acme" })
        ));
        assert!(route(&Method::GET, "/tenants/acme/entra/authorize").is_none());
        assert!(route(&Method::GET, "/tenants/acme/entra/authorize/confirm").is_none());
        assert!(route(&Method::POST, "/entra/callback").is_none());
        assert!(route(&Method::GET, "/entra/callback/extra").is_none());
    }

    #[test]
    fn the_tenant_id_is_the_decoded_segment_and_nothing_else() {
        assert_eq!(tenant_id_of_path("acme%2Dco").unwrap().as_str(), "acme-co");
        assert_eq!(tenant_id_of_path("a+b").unwrap().as_str(), "a+b");
        let refused = [
            ("acme&x=1", "'&'"),
            ("a%20b", "' '"),
            ("a%2Fb", "'/'"),
            ("a%23b", "'#'"),
            ("a%zz", "not well encoded"),
        ];
        for (segment, named) in refused {
            let message = tenant_id_of_path(segment).unwrap_err();
            assert!(message.contains(named), "{segment}: {message}");
        }
    }
}
