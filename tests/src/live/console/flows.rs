//! The "what flows" page (DESIGN 2.13): the tenant's attribute mappings,
//! scoping filters, guests and deprovisioning choices, edited as a form,
//! compiled with the engine's own code before they are saved, and
//! previewed unsaved through `preview_draft` (2.9).

use aws_sdk_dynamodb::types::AttributeValue;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value as Json, json};

use super::super::TENANT;
use super::flows_draft::{CHOICES, ClauseRow, FlowsDraft, FlowsErrors, MappingRow, OPERATORS};
use super::object::{answer_section, call_sync_object};
use super::platform::update_config;
use super::status::preview_section;
use super::{Console, Fields, esc, failed, field, page};

pub(super) async fn flows_page(
    State(console): State<Console>,
    Query(query): Query<Fields>,
) -> Response {
    let config = match console.stack.config_item(TENANT).await {
        Ok(config) => config.unwrap_or_default(),
        Err(err) => return failed(err),
    };
    let banner = match query.get("done").map(String::as_str) {
        Some("saved") => r#"<p class="banner" id="flows_banner">Saved.</p>"#,
        Some("preview") => {
            r#"<p class="banner" id="flows_banner">Preview requested with these changes (not saved).</p>"#
        }
        _ => "",
    };
    let draft = FlowsDraft::from_config(&config);
    let pending = field(&config, "preview_requested_at");
    render(
        &console,
        &draft,
        &FlowsErrors::default(),
        banner,
        &pending,
        ("", ""),
    )
    .await
}

/// The form's buttons: add a row, save, or preview the draft.
pub(super) async fn flows_action(
    State(console): State<Console>,
    Form(form): Form<Fields>,
) -> Response {
    let mut draft = FlowsDraft::from_form(&form);
    let none = FlowsErrors::default();
    match form.get("action").map(String::as_str) {
        Some("add_mapping") => {
            draft.mappings.push(MappingRow::blank());
            render(&console, &draft, &none, "", "", ("", "")).await
        }
        Some("add_clause") => {
            draft.clauses.push(ClauseRow::blank());
            render(&console, &draft, &none, "", "", ("", "")).await
        }
        Some("save") => save(&console, &draft).await,
        Some("preview") => preview(&console, &draft).await,
        Some("test") => test_on_a_user(&console, &draft, &form).await,
        _ => (StatusCode::BAD_REQUEST, "no such action").into_response(),
    }
}

/// Saved only when every part compiles; otherwise the page again, with
/// the admin's rows and the engine's errors, and nothing written.
async fn save(console: &Console, draft: &FlowsDraft) -> Response {
    let errors = draft.compile();
    if errors.any() {
        console
            .activity
            .note("console", "flows not saved: they do not compile");
        return refused(console, draft, &errors).await;
    }
    let mut set = Vec::new();
    let mut remove = Vec::new();
    for (attribute, list, empty) in [
        (
            "user_mappings",
            draft.mappings_json(),
            draft.mappings.is_empty(),
        ),
        (
            "user_scope_filters",
            draft.filters_json(),
            draft.clauses.is_empty(),
        ),
    ] {
        // Absent is the built-in mapping, and no filter.
        if empty {
            remove.push(attribute);
        } else {
            set.push((attribute, list));
        }
    }
    set.extend(draft.choices_json());
    match write(console, set, remove).await {
        Ok(()) => {
            console.activity.note("console", "what flows saved");
            Redirect::to("/flows?done=saved").into_response()
        }
        Err(err) => failed(err),
    }
}

/// `preview_requested_at` with the unsaved draft; the saved attributes
/// stay as they are.
async fn preview(console: &Console, draft: &FlowsDraft) -> Response {
    let errors = draft.compile();
    if errors.any() {
        return refused(console, draft, &errors).await;
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let set = vec![
        ("preview_requested_at", Json::String(now)),
        ("preview_draft", Json::Object(draft.preview_draft())),
    ];
    match write(console, set, vec![]).await {
        Ok(()) => {
            console
                .activity
                .note("console", "preview requested with a draft");
            console.kick.notify_one();
            Redirect::to("/flows?done=preview").into_response()
        }
        Err(err) => failed(err),
    }
}

/// "Test on a user": the unsaved rows sent to `sync-object` as a dry
/// run's draft; the page again, with what the sync would do to that user.
async fn test_on_a_user(console: &Console, draft: &FlowsDraft, form: &Fields) -> Response {
    let errors = draft.compile();
    if errors.any() {
        return refused(console, draft, &errors).await;
    }
    let user = form.get("test_user").map(|u| u.trim()).unwrap_or_default();
    let request = json!({"direction": "import", "object_kind": "user", "object": user,
                         "dry_run": true, "draft": draft.preview_draft()});
    let answer = call_sync_object(console, &request).await;
    console
        .activity
        .note("console", "the unsaved flows tested on a user (dry run)");
    let tested = format!(
        r#"<p class="banner" id="flows_banner">Tested on {} with these changes (not saved).</p>{}"#,
        esc(user),
        answer_section(&answer)
    );
    render(
        console,
        draft,
        &FlowsErrors::default(),
        "",
        "",
        (user, &tested),
    )
    .await
}

async fn write(console: &Console, set: Vec<(&str, Json)>, remove: Vec<&str>) -> anyhow::Result<()> {
    let set = set
        .into_iter()
        .map(|(name, value)| {
            Ok((
                name,
                serde_dynamo::to_attribute_value::<_, AttributeValue>(value)?,
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    update_config(&console.stack, set, remove).await
}

async fn refused(console: &Console, draft: &FlowsDraft, errors: &FlowsErrors) -> Response {
    let mut response = render(console, draft, errors, "", "", ("", "")).await;
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

async fn render(
    console: &Console,
    draft: &FlowsDraft,
    errors: &FlowsErrors,
    banner: &str,
    pending: &str,
    // The user tested on, and what the test showed.
    (test_user, tested): (&str, &str),
) -> Response {
    let stack = &console.stack;
    let key = format!("TENANT#{TENANT}");
    let preview = match stack
        .item(&stack.tables.integrations, &key, "ENTRA#PREVIEW")
        .await
    {
        Ok(preview) => preview,
        Err(err) => return failed(err),
    };
    let mut body = format!(
        r#"<h1>What flows <small>(tenant {TENANT})</small></h1><p><a id="console_link" href="/">Back to the console</a></p>{banner}
<form method="post" action="/flows">{mappings}{filters}{choices}
<p><button name="action" value="save" id="save_flows">Save</button>
<button name="action" value="preview" id="preview_flows">Preview these changes</button> (the preview uses the rows above without saving them)</p>
<p><label for="test_user">Test on a user</label> <input id="test_user" name="test_user" size="40" placeholder="name@contoso.com" value="{test_user}">
<button name="action" value="test" id="test_flows">Test on this user</button> (a dry run with the rows above: nothing is saved or written)</p></form>{tested}"#,
        mappings = mappings_section(&draft.mappings, errors.mappings.as_deref()),
        filters = filters_section(&draft.clauses, errors.filters.as_deref()),
        choices = choices_section(&draft.choices, errors.choices.as_deref()),
        test_user = esc(test_user),
    );
    if !pending.is_empty() {
        body.push_str(&format!(
            r#"<p id="preview_pending">A preview was requested at {}; it appears below after the worker's next run.</p>"#,
            esc(pending)
        ));
    }
    if let Some(preview) = preview {
        body.push_str(&preview_section(&preview));
    }
    page("What flows", &body).into_response()
}

fn error_note(id: &str, error: Option<&str>) -> String {
    error
        .map(|e| format!(r#"<p class="error" id="{id}">{}</p>"#, esc(e)))
        .unwrap_or_default()
}

/// A `<select>` of `values` (value, label), `selected` chosen.
fn select(name: &str, values: &[(&str, String)], selected: &str) -> String {
    let options: String = values
        .iter()
        .map(|(value, label)| {
            let chosen = if *value == selected { " selected" } else { "" };
            format!(
                r#"<option value="{}"{chosen}>{}</option>"#,
                esc(value),
                esc(label)
            )
        })
        .collect();
    format!(r#"<select name="{}">{options}</select>"#, esc(name))
}

fn plain(values: &[&'static str]) -> Vec<(&'static str, String)> {
    values.iter().map(|v| (*v, (*v).to_owned())).collect()
}

fn input(name: &str, value: &str, size: u32) -> String {
    format!(
        r#"<input name="{}" value="{}" size="{size}">"#,
        esc(name),
        esc(value)
    )
}

fn remove_box(prefix: &str) -> String {
    format!(r#"<input type="checkbox" name="{prefix}.remove">"#)
}

fn mappings_section(rows: &[MappingRow], error: Option<&str>) -> String {
    let blank = MappingRow::blank();
    let cells: String = rows
        .iter()
        .chain([&blank])
        .enumerate()
        .map(|(i, row)| {
            let p = format!("m{i}");
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                select(&format!("{p}.direction"), &plain(&["import", "export"]), &row.direction),
                input(&format!("{p}.target"), &row.target, 22),
                select(
                    &format!("{p}.source_type"),
                    &plain(&["attribute", "constant", "expression"]),
                    &row.source_type
                ),
                input(&format!("{p}.source"), &row.source, 40),
                select(&format!("{p}.apply"), &plain(&["always", "create_only"]), &row.apply),
                input(&format!("{p}.default"), &row.default, 12),
                remove_box(&p),
            )
        })
        .collect();
    format!(
        r#"<section><h2>Attribute mappings</h2>
<p>Which attribute fills which: import fills an AM user attribute (or <code>attributes.&lt;name&gt;</code>) from Entra ID; export fills an Entra ID property from the AM user. A mapping for a built-in target replaces it; the others stay. Fill the last row to add one; tick "remove" to drop one.</p>
<table id="mappings"><tr><th>direction</th><th>target</th><th>source type</th><th>source or expression</th><th>apply</th><th>default (on create)</th><th>remove</th></tr>{cells}</table>
<input type="hidden" name="mappings" value="{count}"><button name="action" value="add_mapping" id="add_mapping">Another row</button>{error}</section>"#,
        count = rows.len() + 1,
        error = error_note("mappings_error", error),
    )
}

fn filters_section(rows: &[ClauseRow], error: Option<&str>) -> String {
    let blank = ClauseRow::blank();
    let cells: String = rows
        .iter()
        .chain([&blank])
        .enumerate()
        .map(|(i, row)| {
            let p = format!("c{i}");
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                input(&format!("{p}.filter"), &row.filter, 14),
                input(&format!("{p}.attribute"), &row.attribute, 22),
                select(&format!("{p}.operator"), &plain(OPERATORS), &row.operator),
                input(&format!("{p}.value"), &row.value, 30),
                remove_box(&p),
            )
        })
        .collect();
    format!(
        r#"<section><h2>Scoping filters</h2>
<p>Which Entra ID users are imported, on top of the domains and groups: a user is in scope when every clause of at least one filter holds (clauses with the same filter name are one filter). Case-insensitive; <code>in</code> takes values separated by commas. No filter: every user of the domains and groups.</p>
<table id="clauses"><tr><th>filter</th><th>attribute</th><th>operator</th><th>value</th><th>remove</th></tr>{cells}</table>
<input type="hidden" name="clauses" value="{count}"><button name="action" value="add_clause" id="add_clause">Another clause</button>{error}</section>"#,
        count = rows.len() + 1,
        error = error_note("filters_error", error),
    )
}

fn choices_section(values: &[String], error: Option<&str>) -> String {
    let rows: String = CHOICES
        .iter()
        .zip(values)
        .map(|(choice, value)| {
            let labelled: Vec<(&str, String)> = choice
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let label = if i == 0 {
                        format!("{v} (default)")
                    } else {
                        (*v).to_owned()
                    };
                    (*v, label)
                })
                .collect();
            format!(
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(choice.label),
                select(choice.attribute, &labelled, value)
            )
        })
        .collect();
    format!(
        r#"<section><h2>Guests and deprovisioning</h2><table id="choices"><tr><th>when</th><th>then</th></tr>{rows}</table>{error}</section>"#,
        error = error_note("choices_error", error),
    )
}
