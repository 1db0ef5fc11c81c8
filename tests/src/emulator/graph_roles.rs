//! `GET /users/{id}/memberOf`: the groups a user belongs to directly and
//! the directory roles it holds (`#microsoft.graph.directoryRole`), as
//! Graph lists them, paged. The emulated administrators
//! (`User::is_global_admin`) hold Global Administrator.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::directory::Tenant;
use super::graph::{
    Shared, authorise, decode_token, encode_token, graph_error, parse_select, tenant_mut,
};

/// Global Administrator's role template id (the same in every tenant).
pub const GLOBAL_ADMINISTRATOR_TEMPLATE: &str = "62e90394-69f5-4237-9190-012177145e10";

#[derive(Serialize, Deserialize)]
struct MemberOfCursor {
    user: String,
    offset: usize,
}

/// What the user is a member of: its groups, then its roles.
fn memberships(tenant: &Tenant, user_id: &str, is_global_admin: bool) -> Vec<Map<String, Value>> {
    let mut entries: Vec<Map<String, Value>> = tenant
        .groups
        .values()
        .filter(|g| g.members.iter().any(|m| m == user_id))
        .map(|g| {
            let mut entry = super::graph::group_json(g);
            entry.insert("@odata.type".into(), json!("#microsoft.graph.group"));
            entry
        })
        .collect();
    if is_global_admin {
        let role = json!({
            "@odata.type": "#microsoft.graph.directoryRole",
            // A role's object id differs per tenant; its template id does not.
            "id": format!("{}-role-{GLOBAL_ADMINISTRATOR_TEMPLATE}", tenant.id),
            "displayName": "Global Administrator",
            "description": "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
            "roleTemplateId": GLOBAL_ADMINISTRATOR_TEMPLATE,
        });
        entries.push(role.as_object().cloned().unwrap_or_default());
    }
    entries
}

pub async fn member_of(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut state = shared.lock().unwrap();
    let base = state.issuer_base.clone();
    let page_size = state.knobs.page_size();
    let tenant_id = match authorise(&mut state, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !super::graph_write::visible(&state, &id) {
        return not_found(&id);
    }
    let tenant = tenant_mut(&mut state, &tenant_id);
    let Some(user) = tenant
        .users
        .get(&id)
        .filter(|u| !u.deleted)
        .or_else(|| tenant.user_by_upn(&id))
    else {
        return not_found(&id);
    };
    let entries = memberships(tenant, &user.id, user.is_global_admin);
    let offset = q
        .get("$skiptoken")
        .and_then(|t| decode_token::<MemberOfCursor>(t))
        .filter(|c| c.user == id)
        .map_or(0, |c| c.offset);
    let select = parse_select(q.get("$select"));
    let (page, more) = selected_page(entries, offset, page_size, select.as_deref());
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects",
        "value": page,
    });
    if more {
        let token = encode_token(&MemberOfCursor {
            user: id.clone(),
            offset: offset + page_size,
        });
        let select = q
            .get("$select")
            .map(|s| format!("&$select={s}"))
            .unwrap_or_default();
        body["@odata.nextLink"] = json!(format!(
            "{base}/v1.0/users/{id}/memberOf?$skiptoken={token}{select}"
        ));
    }
    axum::Json(body).into_response()
}

/// The page from `offset`, each entry cut to `$select` (its id and type
/// always kept), and whether more follow.
fn selected_page(
    entries: Vec<Map<String, Value>>,
    offset: usize,
    page_size: usize,
    select: Option<&[String]>,
) -> (Vec<Value>, bool) {
    let page: Vec<Value> = entries
        .into_iter()
        .skip(offset)
        .take(page_size + 1)
        .map(|mut entry| {
            if let Some(select) = select {
                entry.retain(|k, _| {
                    k == "id"
                        || k == "@odata.type"
                        || select.iter().any(|s| s.eq_ignore_ascii_case(k))
                });
            }
            Value::Object(entry)
        })
        .collect();
    let more = page.len() > page_size;
    (page.into_iter().take(page_size).collect(), more)
}

fn not_found(id: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}
