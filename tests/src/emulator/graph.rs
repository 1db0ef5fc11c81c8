//! Microsoft Graph v1.0 as docs/graph.md 0-4 describe it: bearer-token checks,
//! error bodies, injected faults, `/domains`, single objects and
//! `transitiveMembers`. Delta lives in `graph_delta/`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::directory::{DomainAuthentication, Group, ObjectKind, Tenant, User};
use super::user_properties::{check_select, user_view};
use super::{EmulatorState, GraphFault};

pub(crate) type Shared = Arc<Mutex<EmulatorState>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1.0/users/delta", get(super::graph_delta::users_delta))
        .route("/v1.0/groups/delta", get(super::graph_delta::groups_delta))
        .route("/v1.0/domains", get(domains))
        .route(
            "/v1.0/users/{id}",
            get(get_user)
                .patch(super::graph_write::patch_user)
                .delete(super::graph_write::delete_user),
        )
        .route(
            "/v1.0/groups/{id}",
            get(get_group)
                .patch(super::graph_write::patch_group)
                .delete(super::graph_write::delete_group),
        )
        .route(
            "/v1.0/groups/{id}/transitiveMembers",
            get(transitive_members),
        )
        .route(
            "/v1.0/users/{id}/memberOf",
            get(super::graph_roles::member_of),
        )
        .route(
            "/v1.0/users/{id}/transitiveMemberOf",
            get(super::graph_roles::transitive_member_of),
        )
        .route(
            "/v1.0/roleManagement/directory/roleAssignments",
            get(super::graph_roles::role_assignments),
        )
        .route(
            "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances",
            get(super::graph_roles::role_eligibility_schedule_instances),
        )
}

/// Graph's error body (docs/graph.md 0.2).
pub fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        axum::Json(json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "request-id": request_id,
                    "client-request-id": request_id,
                }
            }
        })),
    )
        .into_response()
}

/// Checks the bearer token and consumes one injected fault, if any. Returns
/// the tenant the token belongs to, or the response to send instead.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
pub(crate) fn authorise(
    state: &mut EmulatorState,
    headers: &HeaderMap,
) -> Result<String, Response> {
    if let Some(fault) = state.graph_faults.pop_front() {
        return Err(fault_response(&fault));
    }
    let tenant = check_token(state, headers)?;
    if state.knobs.throttled_tenants.contains(&tenant) {
        return Err(fault_response(&GraphFault::Throttle {
            retry_after: Some("1".into()),
        }));
    }
    Ok(tenant)
}

/// The tenant of the request's bearer token, or the 401 to answer.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
pub(crate) fn check_token(state: &EmulatorState, headers: &HeaderMap) -> Result<String, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(grant) = token.and_then(|t| state.access_tokens.get(t)) else {
        return Err(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty or invalid.",
        ));
    };
    if grant.expires_at <= chrono::Utc::now() {
        return Err(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Lifetime validation failed, the token is expired.",
        ));
    }
    Ok(grant.tenant_id.clone())
}

fn fault_response(fault: &GraphFault) -> Response {
    match fault {
        GraphFault::Throttle { retry_after } => {
            let mut response = graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests from Identifier:app under category:throttle.aad.ags.appId.large. Please try again later.",
            );
            if let Some(after) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", after.parse().expect("a header value"));
            }
            response
        }
        GraphFault::Unavailable { status } => graph_error(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please try again later.",
        ),
        GraphFault::Forbidden => graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ),
    }
}

/// The token's tenant, its deleted objects past 30 days purged first (as
/// Graph does on its own schedule).
pub(crate) fn tenant_mut<'a>(state: &'a mut EmulatorState, id: &str) -> &'a mut Tenant {
    let tenant = state
        .tenants
        .get_mut(id)
        .expect("tokens are issued for existing tenants");
    tenant.purge_expired(chrono::Utc::now());
    tenant
}

fn opt(value: &Option<String>) -> Value {
    value.clone().map(Value::String).unwrap_or(Value::Null)
}

/// Every Graph property of a user the emulator knows.
pub fn user_json(user: &User) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("id".into(), json!(user.id));
    map.insert("userPrincipalName".into(), json!(user.user_principal_name));
    map.insert("displayName".into(), opt(&user.display_name));
    map.insert("givenName".into(), opt(&user.given_name));
    map.insert("surname".into(), opt(&user.surname));
    map.insert("mail".into(), opt(&user.mail));
    map.insert("mobilePhone".into(), opt(&user.mobile_phone));
    map.insert("jobTitle".into(), opt(&user.job_title));
    map.insert("department".into(), opt(&user.department));
    map.insert("accountEnabled".into(), json!(user.account_enabled));
    map.insert(
        "userType".into(),
        json!(if user.guest { "Guest" } else { "Member" }),
    );
    super::user_properties::insert_extra_properties(&mut map, user);
    map
}

pub fn group_json(group: &Group) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("id".into(), json!(group.id));
    map.insert("displayName".into(), json!(group.display_name));
    map.insert("description".into(), opt(&group.description));
    map.insert("mailNickname".into(), json!(group.mail_nickname));
    map.insert("securityEnabled".into(), json!(group.security_enabled));
    map.insert("mailEnabled".into(), json!(group.mail_enabled));
    map.insert(
        "isAssignableToRole".into(),
        json!(group.is_assignable_to_role),
    );
    map.insert("groupTypes".into(), json!(group.group_types));
    map
}

/// Keeps `id` and the selected properties (all of them without `$select`).
pub fn project(mut object: Map<String, Value>, select: Option<&[String]>) -> Map<String, Value> {
    if let Some(select) = select {
        object.retain(|k, _| k == "id" || select.iter().any(|s| s.eq_ignore_ascii_case(k)));
    }
    object
}

pub fn parse_select(raw: Option<&String>) -> Option<Vec<String>> {
    raw.map(|s| {
        s.split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    })
}

/// Opaque page tokens: base64url JSON, as a client must never read them.
pub fn encode_token<T: Serialize>(token: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(token).expect("tokens serialise"))
}

pub fn decode_token<T: for<'de> Deserialize<'de>>(raw: &str) -> Option<T> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw).ok()?).ok()
}

async fn domains(State(shared): State<Shared>, headers: HeaderMap) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    let value: Vec<Value> = tenant
        .domains
        .iter()
        .map(|d| {
            json!({
                "id": d.name,
                "authenticationType": match d.authentication {
                    DomainAuthentication::Managed => "Managed",
                    DomainAuthentication::Federated => "Federated",
                },
                "isVerified": d.is_verified,
                "isDefault": d.is_default,
                "isInitial": d.name.ends_with(".onmicrosoft.com"),
                "isRoot": true,
                "isAdminManaged": true,
                "supportedServices": ["Email"],
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#domains",
        "value": value,
    }))
    .into_response())
}

/// Graph's 404 for an object it does not know (or not yet).
pub(crate) fn not_found(id: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

async fn get_user(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    if !super::graph_write::visible(&state, &id) {
        return Err(not_found(&id));
    }
    let strip_upn = !state.knobs.upn_returned_by_id;
    let without_upn = state.knobs.users_without_upn.clone();
    let registered = state.extension_properties.clone();
    let tenant = tenant_mut(&mut state, &tenant_id);
    let user = tenant
        .users
        .get(&id)
        .filter(|u| !u.deleted)
        .or_else(|| tenant.user_by_upn(&id));
    Ok(match user {
        Some(user) => {
            let select = parse_select(q.get("$select"));
            check_select(select.as_deref())?;
            let mut body = user_view(user, select.as_deref());
            if strip_upn && without_upn.contains(&user.id) {
                body.remove("userPrincipalName");
            }
            match super::graph_extensions::selected(
                &registered,
                &user.extensions,
                select.as_deref(),
                "user",
            ) {
                Ok(values) => body.extend(values),
                Err(refused) => return Err(refused),
            }
            axum::Json(Value::Object(body)).into_response()
        }
        None => not_found(&id),
    })
}

async fn get_group(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let registered = state.extension_properties.clone();
    let tenant = tenant_mut(&mut state, &tenant_id);
    Ok(match tenant.groups.get(&id).filter(|g| !g.deleted) {
        Some(group) => {
            let select = parse_select(q.get("$select"));
            let mut body = project(group_json(group), select.as_deref());
            match super::graph_extensions::selected(
                &registered,
                &group.extensions,
                select.as_deref(),
                "group",
            ) {
                Ok(values) => body.extend(values),
                Err(refused) => return Err(refused),
            }
            axum::Json(Value::Object(body)).into_response()
        }
        None => not_found(&id),
    })
}

#[derive(Serialize, Deserialize)]
struct MembersCursor {
    group: String,
    offset: usize,
}

/// Every user and group below `group_id`, nested groups followed, each once.
pub fn transitive_member_ids(tenant: &Tenant, group_id: &str) -> Vec<(String, ObjectKind)> {
    let mut out: Vec<(String, ObjectKind)> = Vec::new();
    let mut queue = vec![group_id.to_owned()];
    let mut visited = vec![group_id.to_owned()];
    while let Some(current) = queue.pop() {
        let Some(group) = tenant.groups.get(&current) else {
            continue;
        };
        for member in &group.members {
            if out.iter().any(|(m, _)| m == member) {
                continue;
            }
            if let Some(nested) = tenant.groups.get(member) {
                if nested.deleted {
                    continue;
                }
                out.push((member.clone(), ObjectKind::Group));
                if !visited.contains(member) {
                    visited.push(member.clone());
                    queue.push(member.clone());
                }
            } else if tenant.users.get(member).is_some_and(|u| !u.deleted) {
                out.push((member.clone(), ObjectKind::User));
            }
        }
    }
    out.sort();
    out
}

async fn transitive_members(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let base = state.issuer_base.clone();
    let page_size = state.knobs.page_size();
    let tenant_id = authorise(&mut state, &headers)?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    if tenant.groups.get(&id).is_none_or(|g| g.deleted) {
        return Err(not_found(&id));
    }
    let offset = q
        .get("$skiptoken")
        .and_then(|t| decode_token::<MembersCursor>(t))
        .filter(|c| c.group == id)
        .map_or(0, |c| c.offset);
    let members = transitive_member_ids(tenant, &id);
    let page: Vec<Value> = members
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|(member, kind)| {
            json!({
                "@odata.type": match kind { ObjectKind::User => "#microsoft.graph.user", ObjectKind::Group => "#microsoft.graph.group" },
                "id": member,
            })
        })
        .collect();
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects",
        "value": page,
    });
    if offset + page_size < members.len() {
        let token = encode_token(&MembersCursor {
            group: id.clone(),
            offset: offset + page_size,
        });
        body["@odata.nextLink"] = json!(format!(
            "{base}/v1.0/groups/{id}/transitiveMembers?$skiptoken={token}"
        ));
    }
    Ok(axum::Json(body).into_response())
}
