//! What the console does as the platform: the settings it writes, the
//! requests it sets, the schedule it wakes, the platform users it creates.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::super::TENANT;
use super::{Console, Fields, back, failed};
use crate::stack::LocalStack;

/// The settings form, written as the platform writes them: only the
/// attributes the portal owns, each set (or removed when emptied).
pub(super) async fn save_config(
    State(console): State<Console>,
    Form(form): Form<Fields>,
) -> Response {
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

pub(super) async fn update_config(
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
pub(super) async fn request(State(console): State<Console>, Path(what): Path<String>) -> Response {
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

pub(super) async fn tick(State(console): State<Console>) -> Response {
    console.kick.notify_one();
    back()
}

/// A user created on the platform side, as the platform writes one.
pub(super) async fn create_platform_user(
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
