//! `GET /users/{id}/memberOf` and `/transitiveMemberOf`: the groups a user
//! belongs to (directly, or also through nested groups) and the directory
//! roles it holds (`#microsoft.graph.directoryRole`), as Graph lists them,
//! paged. The emulated administrators (`User::is_global_admin`) hold Global
//! Administrator; a role-assignable group's roles (`Group::roles`) are held
//! by its members, and listed by `transitiveMemberOf` only. PIM
//! eligibilities (`User::eligible_roles`):
//! `GET /roleManagement/directory/roleEligibilityScheduleInstances`; role
//! assignments (Global Administrator's at `/`, `User::scoped_roles`):
//! `GET /roleManagement/directory/roleAssignments`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::directory::{Group, Tenant, User};
use super::graph::{
    Shared, authorise, decode_token, encode_token, graph_error, not_found, parse_select, tenant_mut,
};

/// Global Administrator's role template id (the same in every tenant).
pub const GLOBAL_ADMINISTRATOR_TEMPLATE: &str = "62e90394-69f5-4237-9190-012177145e10";

#[derive(Serialize, Deserialize)]
struct MemberOfCursor {
    user: String,
    offset: usize,
}

fn role_entry(tenant: &Tenant, name: &str, template: &str) -> Map<String, Value> {
    let role = json!({
        "@odata.type": "#microsoft.graph.directoryRole",
        // A role's object id differs per tenant; its template id does not.
        "id": format!("{}-role-{template}", tenant.id),
        "displayName": name,
        "roleTemplateId": template,
    });
    role.as_object().cloned().unwrap_or_default()
}

fn group_entry(group: &Group) -> Map<String, Value> {
    let mut entry = super::graph::group_json(group);
    entry.insert("@odata.type".into(), json!("#microsoft.graph.group"));
    entry
}

/// The groups holding `member` directly, or also through nested groups.
pub(crate) fn groups_of<'t>(tenant: &'t Tenant, member: &str, transitive: bool) -> Vec<&'t Group> {
    let mut found: Vec<&Group> = Vec::new();
    let mut frontier = vec![member.to_owned()];
    while let Some(id) = frontier.pop() {
        for group in tenant.groups.values() {
            let new = !group.deleted
                && group.members.contains(&id)
                && !found.iter().any(|g| g.id == group.id);
            if new {
                found.push(group);
                if transitive {
                    frontier.push(group.id.clone());
                }
            }
        }
    }
    found
}

/// What the user is a member of: its groups, then its roles (through its
/// groups too when `transitive`).
fn memberships(tenant: &Tenant, user: &User, transitive: bool) -> Vec<Map<String, Value>> {
    let groups = groups_of(tenant, &user.id, transitive);
    let mut entries: Vec<Map<String, Value>> = groups.iter().map(|g| group_entry(g)).collect();
    let mut roles: Vec<String> = Vec::new();
    if user.is_global_admin {
        roles.push("Global Administrator".into());
    }
    if user.is_privileged_role_admin {
        roles.push(PRIVILEGED_ROLE_ADMINISTRATOR.into());
    }
    if transitive {
        for name in groups.iter().flat_map(|g| &g.roles) {
            if !roles.contains(name) {
                roles.push(name.clone());
            }
        }
    }
    for name in roles {
        entries.push(role_entry(tenant, &name, &role_template(&name)));
    }
    entries
}

const PRIVILEGED_ROLE_ADMINISTRATOR: &str = "Privileged Role Administrator";

/// A directory role's template id from its display name (made up for the
/// roles the emulator does not know).
pub(crate) fn role_template(name: &str) -> String {
    match name {
        "Global Administrator" => GLOBAL_ADMINISTRATOR_TEMPLATE.to_owned(),
        PRIVILEGED_ROLE_ADMINISTRATOR => {
            super::app_only::PRIVILEGED_ROLE_ADMINISTRATOR_TEMPLATE.to_owned()
        }
        _ => format!("role-{}", name.to_lowercase().replace(' ', "-")),
    }
}

pub async fn member_of(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    list_memberships(&shared, &headers, &id, &q, "memberOf")
}

pub async fn transitive_member_of(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    list_memberships(&shared, &headers, &id, &q, "transitiveMemberOf")
}

/// One page of a user's `memberOf` or `transitiveMemberOf` (`relation`).
fn list_memberships(
    shared: &Shared,
    headers: &HeaderMap,
    id: &str,
    q: &HashMap<String, String>,
    relation: &str,
) -> Response {
    let mut state = shared.lock().unwrap();
    let base = state.issuer_base.clone();
    let page_size = state.knobs.page_size();
    let tenant_id = match authorise(&mut state, headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !super::graph_write::visible(&state, id) {
        return not_found(id);
    }
    let tenant = tenant_mut(&mut state, &tenant_id);
    let Some(user) = tenant
        .users
        .get(id)
        .filter(|u| !u.deleted)
        .or_else(|| tenant.user_by_upn(id))
    else {
        return not_found(id);
    };
    let entries = memberships(tenant, user, relation == "transitiveMemberOf");
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
            user: id.to_owned(),
            offset: offset + page_size,
        });
        let select = q
            .get("$select")
            .map(|s| format!("&$select={s}"))
            .unwrap_or_default();
        body["@odata.nextLink"] = json!(format!(
            "{base}/v1.0/users/{id}/{relation}?$skiptoken={token}{select}"
        ));
    }
    axum::Json(body).into_response()
}

/// `principalId eq '<id>'` (a doubled quote is one quote); `None` for any
/// other filter.
fn principal_of(filter: &str) -> Option<String> {
    let literal = filter
        .trim()
        .strip_prefix("principalId eq '")?
        .strip_suffix('\'')?;
    let lone_quote = literal.replace("''", "").contains('\'');
    (!lone_quote).then(|| literal.replace("''", "'"))
}

/// A `$filter` that names no principal.
struct InvalidFilter;

impl IntoResponse for InvalidFilter {
    fn into_response(self) -> Response {
        graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Invalid filter clause.",
        )
    }
}

/// The principal a `$filter` names (`None`: no filter).
fn filtered_principal(q: &HashMap<String, String>) -> Result<Option<String>, InvalidFilter> {
    match q.get("$filter").map(|f| principal_of(f)) {
        None => Ok(None),
        Some(Some(principal)) => Ok(Some(principal)),
        Some(None) => Err(InvalidFilter),
    }
}

/// The tenant's role assignments, all or one principal's (`$filter`).
pub async fn role_assignments(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let principal = filtered_principal(&q).map_err(IntoResponse::into_response)?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    let value: Vec<Value> = tenant
        .users
        .values()
        .filter(|u| !u.deleted && principal.as_ref().is_none_or(|p| *p == u.id))
        .flat_map(assignments)
        .collect();
    Ok(axum::Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleAssignments",
        "value": value,
    }))
    .into_response())
}

fn assignments(user: &User) -> Vec<Value> {
    let global = user
        .is_global_admin
        .then(|| (GLOBAL_ADMINISTRATOR_TEMPLATE.to_owned(), "/".to_owned()));
    let privileged_role = user.is_privileged_role_admin.then(|| {
        (
            super::app_only::PRIVILEGED_ROLE_ADMINISTRATOR_TEMPLATE.to_owned(),
            "/".to_owned(),
        )
    });
    global
        .into_iter()
        .chain(privileged_role)
        .chain(user.scoped_roles.iter().cloned())
        .map(|(role, scope)| {
            json!({
                "id": format!("{}-{role}-{scope}", user.id),
                "principalId": user.id,
                "roleDefinitionId": role,
                "directoryScopeId": scope,
            })
        })
        .collect()
}

/// The tenant's PIM eligibilities, all or one principal's (`$filter`).
pub async fn role_eligibility_schedule_instances(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let principal = filtered_principal(&q).map_err(IntoResponse::into_response)?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    if tenant.pim_not_found {
        return Err(graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            "Resource not found for the segment 'roleEligibilityScheduleInstances'.",
        ));
    }
    if tenant.without_pim_licence {
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            "AadPremiumLicenseRequired",
            "The tenant needs to have Microsoft Entra ID P2 or Microsoft Entra ID Governance license.",
        ));
    }
    let value: Vec<Value> = tenant
        .users
        .values()
        .filter(|u| !u.deleted && principal.as_ref().is_none_or(|p| *p == u.id))
        .flat_map(|u| {
            u.eligible_roles
                .iter()
                .map(move |role| eligibility(u, role))
        })
        .collect();
    Ok(axum::Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleEligibilityScheduleInstances",
        "value": value,
    }))
    .into_response())
}

fn eligibility(user: &User, role: &str) -> Value {
    json!({
        "id": format!("{}-{role}", user.id),
        "principalId": user.id,
        "roleDefinitionId": role,
        "directoryScopeId": "/",
        "appScopeId": null,
        "startDateTime": "2026-01-01T00:00:00Z",
        "endDateTime": null,
        "memberType": "Direct",
        "roleEligibilityScheduleId": format!("{}-{role}", user.id),
    })
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
