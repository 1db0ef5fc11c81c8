//! The admin console: a small server-rendered page that plays the AM
//! portal's Entra ID screen (it writes `ENTRA#CONFIG` as the platform
//! does and calls the real routes), shows the status, preview, problems
//! and the AM directory, and a page of the emulated Entra ID to change
//! users and groups by hand. No JavaScript: every action is a form.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};
use tokio::sync::Notify;

use super::TENANT;
use super::activity::Activity;
use super::console_authorise;
use super::own_origin::{self, OwnOrigin};
use crate::emulator::User;
use crate::stack::{CONTOSO, LocalStack};

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
        .route("/authorise", post(console_authorise::authorise))
        .route("/authorise/confirm", post(console_authorise::confirm))
        .route("/request/{what}", post(request))
        .route("/tick", post(tick))
        .route("/am/users", post(create_platform_user))
        .route("/entra", get(entra_page))
        .route("/entra/users", post(add_entra_user))
        .route("/entra/users/{id}", post(edit_entra_user))
        .route("/entra/users/{id}/delete", post(delete_entra_user))
        .route("/entra/groups/{id}/members", post(change_membership))
        .with_state(console)
        .layer(axum::middleware::from_fn_with_state(own, own_origin::guard))
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
    body.push_str(&config_form(&config));
    body.push_str(&actions());
    match status_sections(stack).await {
        Ok(sections) => body.push_str(&sections),
        Err(err) => return failed(err),
    }
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

fn config_form(config: &Map<String, Value>) -> String {
    let flag = |name: &str, label: &str| {
        let checked = if config.get(name) == Some(&Value::Bool(true)) {
            " checked"
        } else {
            ""
        };
        format!(
            r#"<label><input type="checkbox" id="{name}" name="{name}"{checked}> {label}</label>"#
        )
    };
    let list = |name: &str| match config.get(name) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    let text = |name: &str, label: &str, value: String| {
        format!(
            r#"<p><label for="{name}">{label}</label> <input id="{name}" name="{name}" size="60" value="{}"></p>"#,
            esc(&value)
        )
    };
    format!(
        r#"<section><h2>Settings</h2><form method="post" action="/config">
{label}{tenant}<p>{iu} {eu} {ig} {eg}</p>{domains}{groups}{export_group}<p>{sync}</p>
<button id="save">Save</button></form></section>"#,
        label = text("label", "Directory Label Name", field(config, "label")),
        tenant = text(
            "entra_tenant_id_setting",
            "Tenant ID",
            field(config, "entra_tenant_id")
        ),
        iu = flag("import_users", "Import Users"),
        eu = flag("export_users", "Export Users"),
        ig = flag("import_groups", "Import Groups"),
        eg = flag("export_groups", "Export Groups"),
        domains = text(
            "domains",
            "Domains (comma-separated; empty = all)",
            list("domains")
        ),
        groups = text(
            "import_group_ids",
            "Import From Entra ID Groups (ids)",
            list("import_group_ids")
        ),
        export_group = text(
            "export_group_id",
            "Export To Entra ID Group (id)",
            field(config, "export_group_id")
        ),
        sync = flag("sync_enabled", "Directory Sync"),
    )
}

fn actions() -> String {
    let button = |action: &str, id: &str, label: &str| {
        format!(
            r#"<form method="post" action="{action}" style="display:inline"><button id="{id}">{label}</button></form> "#
        )
    };
    format!(
        "<section><h2>Actions</h2>{}{}{}{}</section>",
        button("/request/resync", "resync", "Resync"),
        button("/request/approve", "approve", "Approve held deletions"),
        button("/request/preview", "preview", "Preview"),
        button("/tick", "tick", "Run the schedule now"),
    )
}

async fn status_sections(stack: &LocalStack) -> anyhow::Result<String> {
    let status = stack.status_item(TENANT).await.unwrap_or_default();
    let mut html = status_section(&status);
    let problems = stack.problem_items(TENANT).await?;
    html.push_str(&problems_section(&problems));
    let preview = stack
        .item(
            &stack.tables.integrations,
            &format!("TENANT#{TENANT}"),
            "ENTRA#PREVIEW",
        )
        .await?;
    if let Some(preview) = preview {
        html.push_str(&preview_section(&preview));
    }
    Ok(html)
}

fn status_section(status: &Map<String, Value>) -> String {
    let counts = status
        .get("last_sync_counts")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut rows = vec![];
    for name in [
        "last_sync_completed_at",
        "last_sync_result",
        "last_sync_mode",
        "last_sync_error",
        "open_problems",
        "realtime",
        "realtime_error",
        "last_notification_at",
    ] {
        rows.push(vec![name.to_owned(), field(status, name)]);
    }
    // A run holds the tenant's lease while it works.
    let running = if status.contains_key("lease_owner") {
        "yes"
    } else {
        "no"
    };
    rows.push(vec!["sync running".to_owned(), running.to_owned()]);
    rows.extend(counts.iter().map(|(k, v)| vec![k.clone(), v.to_string()]));
    format!(
        "<section><h2>Status</h2>{}</section>",
        table(&["field", "value"], rows, "status")
    )
}

fn problems_section(problems: &[Map<String, Value>]) -> String {
    let rows = problems
        .iter()
        .map(|p| {
            [
                "direction",
                "object_kind",
                "display",
                "operation",
                "code",
                "reason",
                "attempts",
            ]
            .iter()
            .map(|f| field(p, f))
            .collect()
        })
        .collect();
    format!(
        "<section><h2>Problems</h2>{}</section>",
        table(
            &[
                "direction",
                "kind",
                "object",
                "operation",
                "code",
                "reason",
                "attempts"
            ],
            rows,
            "problems"
        )
    )
}

fn preview_section(preview: &Map<String, Value>) -> String {
    let mut rows: Vec<Vec<String>> = [
        "requested_at",
        "completed_at",
        "result",
        "error",
        "would_hold",
    ]
    .iter()
    .map(|f| vec![(*f).to_owned(), field(preview, f)])
    .collect();
    if let Some(counts) = preview.get("counts").and_then(Value::as_object) {
        rows.extend(counts.iter().map(|(k, v)| vec![k.clone(), v.to_string()]));
    }
    let samples = preview
        .get("samples")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let sample_rows = samples
        .iter()
        .filter_map(Value::as_object)
        .map(|s| vec![field(s, "change"), field(s, "display")])
        .collect();
    format!(
        "<section><h2>Preview</h2>{}{}</section>",
        table(&["field", "value"], rows, "preview"),
        table(&["change", "object"], sample_rows, "samples")
    )
}

async fn directory_sections(stack: &LocalStack) -> anyhow::Result<String> {
    let users = stack.directory_of(TENANT, "USER#").await?;
    let rows = users
        .iter()
        .map(|u| {
            [
                "user_name",
                "display_name",
                "job_title",
                "enabled",
                "source",
                "entra_id",
            ]
            .iter()
            .map(|f| field(u, f))
            .collect()
        })
        .collect();
    let groups = stack.directory_of(TENANT, "GROUP#").await?;
    let group_rows = groups
        .iter()
        .map(|g| vec![field(g, "name"), field(g, "source")])
        .collect();
    let members = stack.directory_of(TENANT, "MEMBER#").await?;
    let member_rows = member_rows(&users, &groups, &members);
    Ok(format!(
        r#"<section><h2>AM directory</h2><h3>Users ({n_users})</h3>{users}
<form method="post" action="/am/users">Create a platform user: <input id="am_user_name" name="user_name" placeholder="name@contoso.com">
<input id="am_display_name" name="display_name" placeholder="Display name"> <button id="create_am_user">Create</button></form>
<h3>Groups ({n_groups})</h3>{groups}<h3>Memberships ({n_members})</h3>{members}
<p><a id="entra_link" href="/entra">The emulated Entra ID</a></p></section>"#,
        n_users = users.len(),
        users = table(
            &[
                "user name",
                "display name",
                "job title",
                "enabled",
                "source",
                "entra_id"
            ],
            rows,
            "am_users"
        ),
        n_groups = groups.len(),
        groups = table(&["name", "source"], group_rows, "am_groups"),
        n_members = members.len(),
        members = table(&["group", "user", "source"], member_rows, "am_members"),
    ))
}

/// Each membership as (group name, user name, source).
fn member_rows(
    users: &[Map<String, Value>],
    groups: &[Map<String, Value>],
    members: &[Map<String, Value>],
) -> Vec<Vec<String>> {
    let name_of = |id: &str| {
        users
            .iter()
            .find(|u| field(u, "user_id") == id)
            .map(|u| field(u, "user_name"))
            .unwrap_or_else(|| id.to_owned())
    };
    let group_of = |id: &str| {
        groups
            .iter()
            .find(|g| field(g, "group_id") == id)
            .map(|g| field(g, "name"))
            .unwrap_or_else(|| id.to_owned())
    };
    members
        .iter()
        .map(|m| {
            vec![
                group_of(&field(m, "group_id")),
                name_of(&field(m, "user_id")),
                field(m, "source"),
            ]
        })
        .collect()
}

/// The settings form, written as the platform writes them: only the
/// attributes the portal owns, each set (or removed when emptied).
async fn save_config(State(console): State<Console>, Form(form): Form<Fields>) -> Response {
    let on = |name: &str| AttributeValue::Bool(form.contains_key(name));
    let list = |name: &str| {
        let items: Vec<AttributeValue> = form
            .get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| AttributeValue::S(s.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        AttributeValue::L(items)
    };
    let mut set: Vec<(&str, AttributeValue)> = vec![
        ("import_users", on("import_users")),
        ("export_users", on("export_users")),
        ("import_groups", on("import_groups")),
        ("export_groups", on("export_groups")),
        ("sync_enabled", on("sync_enabled")),
        ("domains", list("domains")),
        ("import_group_ids", list("import_group_ids")),
    ];
    let mut remove = Vec::new();
    for (attribute, name) in [("label", "label"), ("export_group_id", "export_group_id")] {
        match form.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            Some(value) => set.push((attribute, AttributeValue::S(value.to_owned()))),
            None => remove.push(attribute),
        }
    }
    // The callback fills the Tenant ID; the admin may set it beforehand
    // (the callback then checks it), never clear it here.
    if let Some(tenant) = form
        .get("entra_tenant_id_setting")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        set.push(("entra_tenant_id", AttributeValue::S(tenant.to_owned())));
    }
    match update_config(&console.stack, set, remove).await {
        Ok(()) => {
            console.activity.note("console", "settings saved");
            back()
        }
        Err(err) => failed(err),
    }
}

async fn update_config(
    stack: &LocalStack,
    set: Vec<(&str, AttributeValue)>,
    remove: Vec<&str>,
) -> anyhow::Result<()> {
    let mut request = stack
        .aws
        .dynamodb
        .update_item()
        .table_name(&stack.tables.integrations)
        .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
        .key("sk", AttributeValue::S("ENTRA#CONFIG".into()));
    let mut expression = Vec::new();
    for (i, (name, value)) in set.into_iter().enumerate() {
        expression.push(format!("#s{i} = :s{i}"));
        request = request
            .expression_attribute_names(format!("#s{i}"), name)
            .expression_attribute_values(format!(":s{i}"), value);
    }
    let mut removed = Vec::new();
    for (i, name) in remove.into_iter().enumerate() {
        removed.push(format!("#r{i}"));
        request = request.expression_attribute_names(format!("#r{i}"), name);
    }
    let mut update = format!("SET {}", expression.join(", "));
    if !removed.is_empty() {
        update.push_str(&format!(" REMOVE {}", removed.join(", ")));
    }
    request
        .update_expression(update)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
    Ok(())
}

/// Resync, approval of held deletions, preview: attributes the portal sets.
async fn request(State(console): State<Console>, Path(what): Path<String>) -> Response {
    // Milliseconds: two clicks in one second are two requests.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let set = match what.as_str() {
        "resync" => ("resync_requested_at", AttributeValue::S(now)),
        "preview" => ("preview_requested_at", AttributeValue::S(now)),
        "approve" => ("approve_held_deletions", AttributeValue::Bool(true)),
        _ => return (StatusCode::NOT_FOUND, "no such request").into_response(),
    };
    match update_config(&console.stack, vec![set], vec![]).await {
        Ok(()) => {
            console
                .activity
                .note("console", &format!("{what} requested"));
            console.kick.notify_one();
            back()
        }
        Err(err) => failed(err),
    }
}

async fn tick(State(console): State<Console>) -> Response {
    console.kick.notify_one();
    back()
}

/// A user created on the platform side, as the platform writes one.
async fn create_platform_user(
    State(console): State<Console>,
    Form(form): Form<Fields>,
) -> Response {
    let Some(user_name) = form
        .get("user_name")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    else {
        return (StatusCode::BAD_REQUEST, "user_name is required").into_response();
    };
    let id = format!("am-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let display = form.get("display_name").cloned().unwrap_or_default();
    let item: HashMap<String, AttributeValue> = [
        ("pk", format!("TENANT#{TENANT}")),
        ("sk", format!("USER#{id}")),
        ("user_id", id.clone()),
        ("user_name", user_name.to_owned()),
        ("display_name", display),
        ("source", "local".to_owned()),
        ("password_mode", "temporary".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), AttributeValue::S(v)))
    .chain([("enabled".to_owned(), AttributeValue::Bool(true))])
    .collect();
    let stack = &console.stack;
    let put = stack
        .aws
        .dynamodb
        .put_item()
        .table_name(&stack.tables.directory)
        .set_item(Some(item))
        .send()
        .await;
    match put {
        Ok(_) => {
            console
                .activity
                .note("console", &format!("platform user {user_name} created"));
            back()
        }
        Err(err) => failed(entra_sync::aws::describe_sdk_error(&err)),
    }
}

async fn entra_page(State(console): State<Console>) -> Response {
    let (users, groups) = console.stack.emulator.with_tenant(CONTOSO, |t| {
        let mut users: Vec<User> = t.users.values().filter(|u| !u.deleted).cloned().collect();
        users.sort_by(|a, b| a.user_principal_name.cmp(&b.user_principal_name));
        let mut groups: Vec<(String, String, usize)> = t
            .groups
            .values()
            .map(|g| (g.id.clone(), g.display_name.clone(), g.members.len()))
            .collect();
        groups.sort_by(|a, b| a.1.cmp(&b.1));
        (users, groups)
    });
    let rows: String = users.iter().map(entra_user_row).collect();
    let options: String = users
        .iter()
        .map(|u| {
            format!(
                r#"<option value="{}">{}</option>"#,
                esc(&u.id),
                esc(&u.user_principal_name)
            )
        })
        .collect();
    let group_rows: String = groups
        .iter()
        .map(|(id, name, members)| {
            format!(
                r#"<tr><td>{name}</td><td>{members}</td><td><form method="post" action="/entra/groups/{id}/members">
<select name="user_id">{options}</select> <button name="action" value="add">Add member</button>
<button name="action" value="remove">Remove member</button></form></td></tr>"#,
                name = esc(name),
                id = esc(id),
            )
        })
        .collect();
    let body = format!(
        r#"<h1>Emulated Entra ID <small>(Contoso)</small></h1><p><a id="console_link" href="/">Back to the console</a></p>
<h2>Users ({n})</h2><table id="entra_users"><tr><th>UPN</th><th>display name / job title</th><th>enabled</th><th></th></tr>{rows}</table>
<form method="post" action="/entra/users">Add a user: <input id="new_upn" name="upn" placeholder="name@contoso.com">
<input id="new_display_name" name="display_name" placeholder="Display name"> <button id="add_entra_user">Add</button></form>
<h2>Groups</h2><table id="entra_groups"><tr><th>name</th><th>members</th><th></th></tr>{group_rows}</table>"#,
        n = users.len(),
    );
    page("Emulated Entra ID", &body).into_response()
}

fn entra_user_row(user: &User) -> String {
    let id = esc(&user.id);
    let checked = if user.account_enabled { " checked" } else { "" };
    format!(
        r#"<tr><td>{upn}</td><td><form method="post" action="/entra/users/{id}" id="edit-{id}">
<input name="display_name" value="{display}"> <input name="job_title" value="{job}">
<label><input type="checkbox" name="enabled"{checked}> enabled</label> <button>Save</button></form></td>
<td>{enabled}</td><td><form method="post" action="/entra/users/{id}/delete"><button>Delete</button></form></td></tr>"#,
        upn = esc(&user.user_principal_name),
        display = esc(user.display_name.as_deref().unwrap_or("")),
        job = esc(user.job_title.as_deref().unwrap_or("")),
        enabled = user.account_enabled,
    )
}

fn to_entra() -> Response {
    Redirect::to("/entra").into_response()
}

fn refused(why: &str) -> Response {
    let body = format!(
        r#"<p id="refused">{}</p><p><a href="/entra">Back</a></p>"#,
        esc(why)
    );
    (StatusCode::BAD_REQUEST, page("Refused", &body)).into_response()
}

/// A user of the emulated Contoso that is there (not deleted).
fn known_user(tenant: &crate::emulator::Tenant, id: &str) -> bool {
    tenant.users.get(id).is_some_and(|u| !u.deleted)
}

/// A new user, refused as Graph refuses one: a UPN already taken, a domain
/// the tenant does not have, no display name.
async fn add_entra_user(State(console): State<Console>, Form(form): Form<Fields>) -> Response {
    let upn = form
        .get("upn")
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    let display_name = form.get("display_name").map(|v| v.trim().to_owned());
    let Some(display_name) = display_name.filter(|v| !v.is_empty()) else {
        return refused("a display name is required");
    };
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        user_principal_name: upn.clone(),
        display_name: Some(display_name),
        account_enabled: true,
        ..User::default()
    };
    let added = console.stack.emulator.with_tenant(CONTOSO, |t| {
        if t.domain_of(&upn).is_none() {
            return Err(format!("{upn}: not a UPN of one of the tenant's domains"));
        }
        let taken = t
            .users
            .values()
            .any(|u| u.user_principal_name.eq_ignore_ascii_case(&upn));
        if taken {
            return Err(format!("{upn} is already taken"));
        }
        t.upsert_user(user);
        Ok(())
    });
    match added {
        Ok(()) => {
            console.activity.note("entra", &format!("user {upn} added"));
            to_entra()
        }
        Err(why) => refused(&why),
    }
}

async fn edit_entra_user(
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    let text = |name: &str| {
        form.get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let edited = console.stack.emulator.with_tenant(CONTOSO, |t| {
        // `update_user` insists on a user that exists.
        let known = known_user(t, &id);
        if known {
            t.update_user(&id, |u| {
                u.display_name = text("display_name").or(u.display_name.take());
                u.job_title = text("job_title");
                u.account_enabled = form.contains_key("enabled");
            });
        }
        known
    });
    if !edited {
        return refused("no such user");
    }
    console.activity.note("entra", "a user edited");
    to_entra()
}

async fn delete_entra_user(State(console): State<Console>, Path(id): Path<String>) -> Response {
    let deleted = console.stack.emulator.with_tenant(CONTOSO, |t| {
        let known = known_user(t, &id);
        if known {
            t.soft_delete_user(&id);
        }
        known
    });
    if !deleted {
        return refused("no such user");
    }
    console.activity.note("entra", "a user deleted");
    to_entra()
}

async fn change_membership(
    State(console): State<Console>,
    Path(group): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    let user = form.get("user_id").cloned().unwrap_or_default();
    let add = form.get("action").map(String::as_str) == Some("add");
    let changed = console.stack.emulator.with_tenant(CONTOSO, |t| {
        if !known_user(t, &user) {
            false
        } else if add {
            t.add_member(&group, &user)
        } else {
            t.remove_member(&group, &user)
        }
    });
    let what = if add { "added to" } else { "removed from" };
    if changed {
        console
            .activity
            .note("entra", &format!("a user {what} a group"));
    }
    to_entra()
}
