//! One object's page (DESIGN 2.14): a user or group of the AM directory,
//! its change events, and "Sync now" / "Dry run", which call the live
//! stack's `sync-object` and show its steps and changes old → new.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use entra_sync::problems::ObjectKind;
use serde_json::{Map, Value, json};

use super::super::TENANT;
use super::history::{event_line, object_events};
use super::words::{attribute_label, change_sentence, value_words};
use super::{Console, Fields, esc, failed, field, page};

/// The attributes an object's page shows, in this order.
const USER_SHOWN: &[&str] = &[
    "user_name",
    "display_name",
    "given_name",
    "surname",
    "email",
    "job_title",
    "department",
    "enabled",
];
const GROUP_SHOWN: &[&str] = &["name", "description"];

/// `user` or `group`, and its directory sort-key prefix.
fn kind_prefix(kind: &str) -> Option<&'static str> {
    match kind {
        "user" => Some("USER#"),
        "group" => Some("GROUP#"),
        _ => None,
    }
}

pub(super) async fn object_page(
    State(console): State<Console>,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    render(&console, &kind, &id, None).await
}

/// "Sync now" (`mode=now`) or "Dry run" (`mode=dry_run`).
pub(super) async fn sync_object_now(
    State(console): State<Console>,
    Path((kind, id)): Path<(String, String)>,
    Form(form): Form<Fields>,
) -> Response {
    let Some(prefix) = kind_prefix(&kind) else {
        return (StatusCode::NOT_FOUND, "no such kind of object").into_response();
    };
    let dry_run = form.get("mode").map(String::as_str) != Some("now");
    let item = match directory_item(&console, prefix, &id).await {
        Ok(Some(item)) => item,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such object").into_response(),
        Err(err) => return failed(err),
    };
    // The platform's own objects go to Entra ID; the others come from it.
    let direction = if field(&item, "source") == "local" {
        "export"
    } else {
        "import"
    };
    let request = json!({"direction": direction, "object_kind": kind, "object": id,
                         "dry_run": dry_run});
    let answer = call_sync_object(&console, &request).await;
    let what = if dry_run { "dry run" } else { "sync now" };
    console
        .activity
        .note("console", &format!("{what} of one {kind} asked"));
    render(&console, &kind, &id, Some(answer)).await
}

async fn directory_item(
    console: &Console,
    prefix: &str,
    id: &str,
) -> anyhow::Result<Option<Map<String, Value>>> {
    let stack = &console.stack;
    let pk = format!("TENANT#{TENANT}");
    stack
        .item(&stack.tables.directory, &pk, &format!("{prefix}{id}"))
        .await
}

/// `sync-object`'s answer: its status and body (or why there is none).
pub(super) struct SyncAnswer {
    pub status: StatusCode,
    pub body: Value,
}

/// `POST /tenants/{id}/entra/sync-object` through the live stack's API.
pub(super) async fn call_sync_object(console: &Console, request: &Value) -> SyncAnswer {
    let url = format!("{}/tenants/{TENANT}/entra/sync-object", console.api_url);
    match console.http.post(&url).json(request).send().await {
        Ok(answer) => {
            let status = answer.status();
            SyncAnswer {
                status,
                body: answer.json().await.unwrap_or_default(),
            }
        }
        Err(err) => SyncAnswer {
            status: StatusCode::BAD_GATEWAY,
            body: json!({"error": format!("sync-object could not be reached: {err}")}),
        },
    }
}

async fn render(console: &Console, kind: &str, id: &str, answer: Option<SyncAnswer>) -> Response {
    let Some(prefix) = kind_prefix(kind) else {
        return (StatusCode::NOT_FOUND, "no such kind of object").into_response();
    };
    let stack = &console.stack;
    let item = match directory_item(console, prefix, id).await {
        Ok(Some(item)) => item,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such object").into_response(),
        Err(err) => return failed(err),
    };
    let mut ids = vec![id.to_owned()];
    let entra_id = field(&item, "entra_id");
    if !entra_id.is_empty() && entra_id != id {
        ids.push(entra_id);
    }
    let object_kind = if kind == "user" {
        ObjectKind::User
    } else {
        ObjectKind::Group
    };
    let events = match object_events(stack, object_kind, &ids).await {
        Ok(events) => events,
        Err(err) => return failed(err),
    };
    let shown = if kind == "user" {
        USER_SHOWN
    } else {
        GROUP_SHOWN
    };
    let title = field(&item, shown[0]);
    let body = format!(
        r#"<h1>{kind_label} {title}</h1><p><a id="console_link" href="/">Back to the console</a></p>
{answer}{attributes}
<form method="post" action="/objects/{kind}/{path_id}/sync"><button id="dry_run" name="mode" value="dry_run">Dry run</button>
<button id="sync_now" name="mode" value="now">Sync now</button> (a dry run shows what a sync would do and writes nothing)</form>
{events}"#,
        kind_label = if kind == "user" { "User" } else { "Group" },
        title = esc(&title),
        answer = answer.map(|a| answer_section(&a)).unwrap_or_default(),
        attributes = attributes_table(&item, shown),
        path_id = esc(&url_segment(id)),
        events = events_section(&events),
    );
    page(&title, &body).into_response()
}

/// A path segment: the id with every byte but the unreserved ones
/// percent-encoded (the route's `Path` decodes it back).
fn url_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The link to an object's page.
pub(super) fn object_link(kind: &str, id: &str, text: &str) -> String {
    format!(
        r#"<a href="/objects/{kind}/{}">{}</a>"#,
        esc(&url_segment(id)),
        esc(text)
    )
}

fn attributes_table(item: &Map<String, Value>, shown: &[&str]) -> String {
    let rows: String = shown
        .iter()
        .map(|name| {
            let value = item.get(*name).cloned().unwrap_or(Value::Null);
            format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                esc(&attribute_label(name)),
                esc(&value_words(&value))
            )
        })
        .collect();
    format!(r#"<table id="object_attributes">{rows}</table>"#)
}

fn events_section(events: &[Map<String, Value>]) -> String {
    let now = Utc::now();
    let list = if events.is_empty() {
        r#"<p id="events_none">No change in the last 30 days.</p>"#.to_owned()
    } else {
        let items: String = events
            .iter()
            .map(|e| format!("<li>{}</li>", esc(&event_line(e, now))))
            .collect();
        format!(r#"<ol id="events">{items}</ol>"#)
    };
    format!(
        "<section><h2>History <small>(last 30 days, newest first, UTC)</small></h2>{list}</section>"
    )
}

/// What `sync-object` answered: its result, its steps with their
/// sentences, the changes old → new, a problem; or why it refused.
pub(super) fn answer_section(answer: &SyncAnswer) -> String {
    let body = &answer.body;
    if !answer.status.is_success() {
        let error = body["error"].as_str().unwrap_or("no answer");
        return format!(
            r#"<section id="sync_answer"><p class="error" id="sync_refused">Not synchronised ({}): {}</p></section>"#,
            answer.status.as_u16(),
            esc(error)
        );
    }
    let dry_run = body["dry_run"].as_bool().unwrap_or(true);
    let result = body["result"].as_str().unwrap_or("");
    let heading = if dry_run {
        format!(
            "Dry run: a sync would {} (nothing written)",
            result_verb(result).0
        )
    } else {
        format!("Synchronised: {}", result_verb(result).1)
    };
    let steps: String = body["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            format!(
                "<li><b>{}</b> ({}): {}</li>",
                esc(&step_words(s["step"].as_str().unwrap_or(""))),
                esc(step_status_words(s["status"].as_str().unwrap_or(""))),
                esc(s["description"].as_str().unwrap_or(""))
            )
        })
        .collect();
    let changes: String = body["modified"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|c| format!("<li>{}</li>", esc(&change_sentence(c))))
        .collect();
    let problem = match body["problem"]["message"].as_str() {
        Some(message) => format!(r#"<p class="error" id="sync_problem">{}</p>"#, esc(message)),
        None => String::new(),
    };
    format!(
        r#"<section id="sync_answer" class="banner"><h2 id="sync_result">{}</h2><ol id="steps">{steps}</ol>
<h3>Changes</h3><ul id="modified">{changes}</ul>{problem}</section>"#,
        esc(&heading)
    )
}

fn step_status_words(status: &str) -> &str {
    match status {
        "success" => "done",
        "skipped" => "stops here",
        "failure" => "failed",
        other => other,
    }
}

fn step_words(step: &str) -> String {
    match step {
        "read" => "Read from Entra ID",
        "scope" => "Scope",
        "match" => "Match with the AM directory",
        "act" => "Action",
        other => other,
    }
    .to_owned()
}

/// A result as (what a sync would do, what it did).
fn result_verb(result: &str) -> (&str, &str) {
    match result {
        "create" => ("create it", "created"),
        "update" => ("update it", "updated"),
        "restore" => ("restore it", "restored"),
        "disable" => ("disable it", "disabled"),
        "delete" => ("delete it", "deleted"),
        "keep" => (
            "keep it, marked deprovisioned",
            "kept, marked deprovisioned",
        ),
        "no_change" => ("change nothing", "nothing to change"),
        "skipped" => ("skip it", "skipped"),
        other => (other, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_an_id_with_reserved_characters_then_its_link_keeps_it_one_segment() {
        assert_eq!(url_segment("am-1f2e"), "am-1f2e");
        assert_eq!(url_segment("a/b c+d\"<"), "a%2Fb%20c%2Bd%22%3C");
        assert_eq!(
            object_link("user", "a/b", "<x>"),
            r#"<a href="/objects/user/a%2Fb">&lt;x&gt;</a>"#
        );
    }
}
