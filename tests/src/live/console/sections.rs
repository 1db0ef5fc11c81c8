//! The home page's sections: the settings form, the actions, the status,
//! preview and problems, and the AM directory.

use serde_json::{Map, Value};

use super::super::TENANT;
use super::history::{runs_page, runs_section};
use super::object::object_link;
use super::status::{preview_section, problems_section, status_section};
use super::words::value_words;
use super::{esc, field, table};
use crate::stack::LocalStack;

pub(super) fn config_form(config: &Map<String, Value>) -> String {
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

pub(super) fn actions() -> String {
    let button = |action: &str, id: &str, label: &str| {
        format!(
            r#"<form method="post" action="{action}" style="display:inline"><button id="{id}">{label}</button></form> "#
        )
    };
    format!(
        r#"<section><h2>Actions</h2>{}{}{}{}
<p><a id="flows_link" href="/flows">What flows: attribute mappings, scoping filters, deprovisioning</a></p></section>"#,
        button("/request/resync", "resync", "Resync"),
        button("/request/approve", "approve", "Approve held deletions"),
        button("/request/preview", "preview", "Preview"),
        button("/tick", "tick", "Run the schedule now"),
    )
}

pub(super) async fn status_sections(
    stack: &LocalStack,
    config: &Map<String, Value>,
) -> anyhow::Result<String> {
    let now = chrono::Utc::now();
    let status = stack.status_item(TENANT).await.unwrap_or_default();
    let mut html = status_section(&status, config, now);
    let problems = stack.problem_items(TENANT).await?;
    html.push_str(&problems_section(&problems));
    let runs = runs_page(stack, None, now).await?;
    html.push_str(&runs_section(&runs, now));
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

pub(super) async fn directory_sections(stack: &LocalStack) -> anyhow::Result<String> {
    let users = stack.directory_of(TENANT, "USER#").await?;
    let user_rows: String = users.iter().map(user_row).collect();
    let groups = stack.directory_of(TENANT, "GROUP#").await?;
    let group_rows: String = groups
        .iter()
        .map(|g| {
            format!(
                "<tr><td>{}</td><td>{}</td></tr>",
                object_link("group", &field(g, "group_id"), &field(g, "name")),
                esc(source_words(&field(g, "source")))
            )
        })
        .collect();
    let members = stack.directory_of(TENANT, "MEMBER#").await?;
    let member_rows = member_rows(&users, &groups, &members);
    Ok(format!(
        r#"<section><h2>AM directory</h2><h3>Users ({n_users})</h3><p>Open a user or group for its history, "Sync now" and "Dry run".</p>
<table id="am_users"><tr><th>User name</th><th>Display name</th><th>Job title</th><th>Enabled</th><th>Comes from</th><th>Entra ID object</th></tr>{user_rows}</table>
<form method="post" action="/am/users">Create a platform user: <input id="am_user_name" name="user_name" placeholder="name@contoso.com">
<input id="am_display_name" name="display_name" placeholder="Display name"> <button id="create_am_user">Create</button></form>
<h3>Groups ({n_groups})</h3><table id="am_groups"><tr><th>Name</th><th>Comes from</th></tr>{group_rows}</table>
<h3>Memberships ({n_members})</h3>{members}
<p><a id="entra_link" href="/entra">The emulated Entra ID</a></p></section>"#,
        n_users = users.len(),
        n_groups = groups.len(),
        n_members = members.len(),
        members = table(&["Group", "User", "Comes from"], member_rows, "am_members"),
    ))
}

/// A user's row, its name a link to its page.
fn user_row(user: &Map<String, Value>) -> String {
    let cell = |name: &str| {
        let value = user.get(name).cloned().unwrap_or(Value::Null);
        format!("<td>{}</td>", esc(&value_words(&value)))
    };
    format!(
        "<tr><td>{link}</td>{display}{job}{enabled}<td>{source}</td><td>{entra}</td></tr>",
        link = object_link("user", &field(user, "user_id"), &field(user, "user_name")),
        display = cell("display_name"),
        job = cell("job_title"),
        enabled = cell("enabled"),
        source = esc(source_words(&field(user, "source"))),
        entra = esc(&field(user, "entra_id")),
    )
}

fn source_words(source: &str) -> &str {
    match source {
        "entra" => "Entra ID",
        "local" | "" => "the platform",
        other => other,
    }
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
                source_words(&field(m, "source")).to_owned(),
            ]
        })
        .collect()
}
