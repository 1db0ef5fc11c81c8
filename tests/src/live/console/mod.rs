//! The admin console: a small server-rendered page that plays the AM
//! portal's Entra ID screen (it writes `ENTRA#CONFIG` as the platform
//! does and calls the real routes), shows the status, preview, problems
//! and the AM directory in the seed's words, the run history, an object's
//! page with its events and "Sync now" / "Dry run", and a page of the
//! emulated Entra ID to change users and groups by hand. No JavaScript:
//! every action is a form.

mod entra;
mod flows;
mod flows_draft;
mod history;
mod object;
mod platform;
mod sections;
mod status;
mod words;

use entra::{add_entra_user, change_membership, delete_entra_user, edit_entra_user, entra_page};
use flows::{flows_action, flows_page};
use history::runs_page_handler;
use object::{object_page, sync_object_now};
use platform::{create_platform_user, request, save_config, tick};
use sections::{actions, config_form, directory_sections, status_sections};
use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};
use tokio::sync::Notify;

use super::TENANT;
use super::activity::Activity;
use super::console_authorise;
use super::own_origin::{self, OwnOrigin};
use crate::stack::LocalStack;

#[derive(Clone)]
pub struct Console {
    pub stack: Arc<LocalStack>,
    pub api_url: String,
    pub activity: Activity,
    /// Wakes the schedule ("Run the schedule now").
    pub kick: Arc<Notify>,
    pub http: reqwest::Client,
}

pub type Fields = HashMap<String, String>;

/// Serves the console on `listener`, for its own host and origin only.
pub fn serve(listener: tokio::net::TcpListener, console: Console) -> anyhow::Result<()> {
    let own = OwnOrigin::new(listener.local_addr()?.port());
    let router = router(console, own);
    tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });
    Ok(())
}

pub fn router(console: Console, own: OwnOrigin) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/config", post(save_config))
        .route("/flows", get(flows_page).post(flows_action))
        .route("/authorise", post(console_authorise::authorise))
        .route("/authorise/confirm", post(console_authorise::confirm))
        .route("/request/{what}", post(request))
        .route("/tick", post(tick))
        .route("/runs", get(runs_page_handler))
        .route("/objects/{kind}/{id}", get(object_page))
        .route("/objects/{kind}/{id}/sync", post(sync_object_now))
        .route("/am/users", post(create_platform_user))
        .route("/entra", get(entra_page))
        .route("/entra/users", post(add_entra_user))
        .route("/entra/users/{id}", post(edit_entra_user))
        .route("/entra/users/{id}/delete", post(delete_entra_user))
        .route("/entra/groups/{id}/members", post(change_membership))
        .with_state(console)
        .layer(axum::middleware::from_fn_with_state(own, own_origin::guard))
}

/// " on 7 Dec 2026 18:06 UTC" when the config says when it was authorised.
pub fn authorised_on(config: &Map<String, Value>) -> String {
    words::parse_time(&field(config, "authorised_at"))
        .map(|at| format!(" on {}", at.format("%-d %b %Y %H:%M UTC")))
        .unwrap_or_default()
}

/// Text for HTML.
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn field(item: &Map<String, Value>, name: &str) -> String {
    match item.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

pub fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>
body{{font-family:sans-serif;margin:1.5em;max-width:70em}} table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #bbb;padding:.2em .5em;text-align:left;font-size:.9em}} section{{margin-bottom:1.5em}}
.banner{{background:#e7f4e4;padding:.5em}} .error{{background:#fbe3e3;padding:.5em}} label{{margin-right:1em}}
</style></head><body>{body}</body></html>"#,
        title = esc(title)
    ))
}

pub fn failed(err: impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the console's request failed: {err}"),
    )
        .into_response()
}

fn back() -> Response {
    Redirect::to("/").into_response()
}

fn table(headers: &[&str], rows: Vec<Vec<String>>, id: &str) -> String {
    let head: String = headers
        .iter()
        .map(|h| format!("<th>{}</th>", esc(h)))
        .collect();
    let body: String = rows
        .iter()
        .map(|row| {
            let cells: String = row.iter().map(|c| format!("<td>{}</td>", esc(c))).collect();
            format!("<tr>{cells}</tr>")
        })
        .collect();
    format!(r#"<table id="{id}"><tr>{head}</tr>{body}</table>"#)
}

async fn home(State(console): State<Console>, Query(query): Query<Fields>) -> Response {
    if query.get("status").map(String::as_str) == Some("pending") {
        return console_authorise::pending_page(&query);
    }
    let stack = &console.stack;
    let config = match stack.config_item(TENANT).await {
        Ok(config) => config.unwrap_or_default(),
        Err(err) => return failed(err),
    };
    let mut body = format!("<h1>Entra ID directory <small>(tenant {TENANT})</small></h1>");
    body.push_str(&console_authorise::banner(&query));
    body.push_str(&console_authorise::authorisation_section(&config));
    // What the admin reads first: the status, the problems, the runs.
    match status_sections(stack, &config).await {
        Ok(sections) => body.push_str(&sections),
        Err(err) => return failed(err),
    }
    body.push_str(&config_form(&config));
    body.push_str(&actions());
    match directory_sections(stack).await {
        Ok(sections) => body.push_str(&sections),
        Err(err) => return failed(err),
    }
    let activity: String = console
        .activity
        .latest(80)
        .iter()
        .map(|l| format!("{}\n", esc(l)))
        .collect();
    body.push_str(&format!(
        r#"<section><h2>Activity</h2><pre id="activity">{activity}</pre></section>"#
    ));
    page("entra-sync console", &body).into_response()
}
