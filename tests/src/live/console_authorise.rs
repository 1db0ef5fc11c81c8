//! The console's "Authorise", as the portal does it (DESIGN 2.12): the
//! admin's portal session gets a binding (a cookie); the authorize request
//! carries it; when the browser comes back `status=pending`, the console
//! confirms the result with that session's binding, so a link completed in
//! someone else's browser binds nothing.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value, json};

use super::TENANT;
use super::console::{Console, Fields, esc, failed, field};

const SESSION_COOKIE: &str = "entra_console_session";

/// "Authorise": a new session binding, the real
/// `POST /tenants/{id}/entra/authorize`, then the browser goes to
/// Microsoft's admin consent page.
pub async fn authorise(State(console): State<Console>) -> Response {
    let binding = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let url = format!("{}/tenants/{TENANT}/entra/authorize", console.api_url);
    let request = console
        .http
        .post(&url)
        .json(&json!({ "session_binding": binding }));
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(err) => return failed(err),
    };
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or_default();
    match body["authorize_url"].as_str() {
        Some(authorize_url) if status.is_success() => {
            console
                .activity
                .note("console", "authorising: to Microsoft's admin consent page");
            let cookie = format!("{SESSION_COOKIE}={binding}; HttpOnly; SameSite=Lax; Path=/");
            ([(header::SET_COOKIE, cookie)], Redirect::to(authorize_url)).into_response()
        }
        _ => failed(format!("{status} {body}")),
    }
}

/// The browser back from the callback with `status=pending`: a page that
/// asks the admin to confirm. Never confirmed on landing: a link someone
/// else completed could otherwise bind this session to their organisation
/// by one visit.
pub fn pending_page(query: &Fields) -> Response {
    let result = query.get("result").cloned().unwrap_or_default();
    let body = format!(
        r#"<h1>Confirm the authorisation</h1>
<p>Microsoft has signed in an administrator who consented for an organisation. Confirm only if you started this authorisation from this console.</p>
<form method="post" action="/authorise/confirm"><input type="hidden" name="result" value="{}">
<button id="confirm">Confirm</button> <a id="cancel" href="/">Cancel</a></form>"#,
        esc(&result)
    );
    super::console::page("Confirm the authorisation", &body).into_response()
}

/// "Confirm": the real `POST …/authorize/confirm` with this session's
/// binding, then the console with its outcome.
pub async fn confirm(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<Fields>,
) -> Response {
    let result = form.get("result").cloned().unwrap_or_default();
    let binding = session_binding(&headers).unwrap_or_default();
    let url = format!(
        "{}/tenants/{TENANT}/entra/authorize/confirm",
        console.api_url
    );
    let request = console
        .http
        .post(&url)
        .json(&json!({ "result": result, "session_binding": binding }));
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(err) => return failed(err),
    };
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or_default();
    let outcome = if status.is_success() {
        let organisation = body["entra_tenant_id"].as_str().unwrap_or("?");
        console.activity.note(
            "console",
            &format!("authorisation confirmed for organisation {organisation}"),
        );
        "/?status=authorised".to_owned()
    } else {
        let reason = body["error"].as_str().unwrap_or("confirm_failed");
        console
            .activity
            .note("console", &format!("authorisation not confirmed: {reason}"));
        format!("/?status=error&reason={reason}")
    };
    Redirect::to(&outcome).into_response()
}

fn session_binding(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then(|| value.to_owned())
        })
}

/// What the redirect back to the portal says.
pub fn banner(query: &Fields) -> String {
    match query.get("status").map(String::as_str) {
        Some("authorised") => {
            r#"<p class="banner" id="banner">Authorisation completed.</p>"#.into()
        }
        Some(status) => format!(
            r#"<p class="error" id="banner">Authorisation {}: {}</p>"#,
            esc(status),
            esc(query.get("reason").map(String::as_str).unwrap_or(""))
        ),
        None => String::new(),
    }
}

pub fn authorisation_section(config: &Map<String, Value>) -> String {
    let state = match field(config, "authorisation").as_str() {
        "authorised" => "Authorised".to_owned(),
        "" => "Not authorised".to_owned(),
        other => format!("Not authorised ({})", esc(other)),
    };
    let missing = match config.get("missing_permissions").and_then(Value::as_array) {
        Some(roles) if !roles.is_empty() => {
            let names: Vec<&str> = roles.iter().filter_map(Value::as_str).collect();
            format!(
                r#"<p class="error">Missing permissions: <span id="missing_permissions">{}</span> (grant admin consent again)</p>"#,
                esc(&names.join(", "))
            )
        }
        _ => String::new(),
    };
    let mode = match field(config, "auth_mode").as_str() {
        "" => "delegated".to_owned(),
        mode => mode.to_owned(),
    };
    format!(
        r#"<section><h2>Authorisation</h2><p>Status: <b id="authorisation">{state}</b>
(<span id="auth_mode">{mode}</span>) by <span id="authorised_by">{by}</span>{on}; Tenant ID <span id="entra_tenant_id">{tid}</span></p>{missing}
<form method="post" action="/authorise"><button id="authorise">Authorise</button></form></section>"#,
        mode = esc(&mode),
        by = esc(&field(config, "authorised_by")),
        on = super::console::authorised_on(config),
        tid = esc(&field(config, "entra_tenant_id")),
    )
}
