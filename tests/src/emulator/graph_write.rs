//! Graph's write side as docs/graph.md 3 describes it: required fields,
//! verified-domain and unique UPNs, password complexity, the immutable id of
//! federated users, `$ref` membership rules, soft deletes visible to delta,
//! and an optional replication lag for objects just created.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use serde_json::{Map, Value, json};

use super::EmulatorState;
use super::directory::{DomainAuthentication, Group, Tenant, User};
use super::graph::{authorise, graph_error, group_json, not_found, tenant_mut};
use super::graph_extensions::{apply_extensions, extension_values};
use super::user_properties::user_view;
use super::user_writes::{apply_extra_properties, check_user_write};

type Shared = Arc<Mutex<EmulatorState>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/v1.0/users",
            post(create_user).get(super::graph_extensions::list_users),
        )
        .route(
            "/v1.0/groups",
            post(create_group).get(super::graph_extensions::list_groups),
        )
        .route("/v1.0/groups/{id}/members/$ref", post(add_member))
        .route(
            "/v1.0/groups/{id}/members/{member}/$ref",
            delete(remove_member),
        )
}

fn bad_request(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

pub(crate) fn conflict(property: &str) -> Response {
    let mut response = graph_error(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        &format!("Another object with the same value for property {property} already exists."),
    );
    *response.body_mut() = axum::body::Body::from(
        json!({"error": {
            "code": "Request_BadRequest",
            "message": format!("Another object with the same value for property {property} already exists."),
            "details": [{"code": "ObjectConflict", "target": property}, {"code": "ConflictingObjects", "target": property}],
        }})
        .to_string(),
    );
    response
}

/// Objects created less than the replication lag ago are not visible yet.
pub(crate) fn visible(state: &EmulatorState, id: &str) -> bool {
    state
        .created_at
        .get(id)
        .is_none_or(|at| at.elapsed() >= state.knobs.replication_lag)
}

fn text(body: &Map<String, Value>, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Entra's default password policy: at least 8 characters, three of the
/// four character classes.
fn complex_enough(password: &str) -> bool {
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    password.chars().count() >= 8 && classes.iter().filter(|c| **c).count() >= 3
}

#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn check_upn(tenant: &Tenant, upn: &str, except: Option<&str>) -> Result<(), Response> {
    let valid_chars = upn
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "'.-_!#^~@".contains(c));
    let Some(domain) = tenant
        .domain_of(upn)
        .filter(|_| valid_chars && upn.matches('@').count() == 1)
    else {
        return Err(bad_request(
            "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
        ));
    };
    if !domain.is_verified {
        return Err(bad_request(
            "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
        ));
    }
    // Soft-deleted users keep their UPN until purged.
    if tenant
        .users
        .values()
        .any(|u| u.user_principal_name.eq_ignore_ascii_case(upn) && Some(u.id.as_str()) != except)
    {
        return Err(conflict("userPrincipalName"));
    }
    Ok(())
}

/// Graph's length limits on user properties (the user resource type).
const USER_PROPERTY_LIMITS: [(&str, usize); 6] = [
    ("displayName", 256),
    ("givenName", 64),
    ("surname", 64),
    ("jobTitle", 128),
    ("department", 64),
    ("mobilePhone", 64),
];

#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn check_user_properties(body: &Map<String, Value>) -> Result<(), Response> {
    for (key, limit) in USER_PROPERTY_LIMITS {
        if body
            .get(key)
            .and_then(Value::as_str)
            .is_some_and(|v| v.chars().count() > limit)
        {
            return Err(bad_request(&format!(
                "Invalid value specified for property '{key}' of resource 'User'."
            )));
        }
    }
    Ok(())
}

fn apply_user_properties(user: &mut User, body: &Map<String, Value>) {
    let optional = |key: &str| match body.get(key) {
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(Value::Null) => Some(None),
        _ => None,
    };
    if let Some(upn) = text(body, "userPrincipalName") {
        user.user_principal_name = upn;
    }
    for (key, field) in [
        ("displayName", &mut user.display_name),
        ("givenName", &mut user.given_name),
        ("surname", &mut user.surname),
        ("mail", &mut user.mail),
        ("mobilePhone", &mut user.mobile_phone),
        ("jobTitle", &mut user.job_title),
        ("department", &mut user.department),
    ] {
        if let Some(value) = optional(key) {
            *field = value;
        }
    }
    if let Some(enabled) = body.get("accountEnabled").and_then(Value::as_bool) {
        user.account_enabled = enabled;
    }
}

const NEW_USER_PROPERTIES: &[&str] = &[
    "accountEnabled",
    "displayName",
    "mailNickname",
    "userPrincipalName",
    "passwordProfile",
];

const NEW_GROUP_PROPERTIES: &[&str] = &[
    "displayName",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
];

/// Graph's answer to a create without one of the resource's required properties.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn require_properties(
    body: &Map<String, Value>,
    required: &[&str],
    resource: &str,
) -> Result<(), Response> {
    match required.iter().find(|p| !body.contains_key(**p)) {
        Some(missing) => Err(bad_request(&format!(
            "Invalid value specified for property '{missing}' of resource '{resource}'."
        ))),
        None => Ok(()),
    }
}

/// A new user's UPN is free, its password complex enough, and on a federated
/// domain it carries a usable onPremisesImmutableId.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn check_new_user(
    tenant: &Tenant,
    body: &Map<String, Value>,
    upn: &str,
    password: &str,
) -> Result<(), Response> {
    check_upn(tenant, upn, None)?;
    if !complex_enough(password) {
        return Err(bad_request(
            "The specified password does not comply with password complexity requirements. Please provide a different password.",
        ));
    }
    let federated = tenant
        .domain_of(upn)
        .is_some_and(|d| d.authentication == DomainAuthentication::Federated);
    let immutable = text(body, "onPremisesImmutableId");
    if federated
        && immutable
            .as_deref()
            .is_none_or(|i| i.is_empty() || i.contains('$') || i.contains('_'))
    {
        return Err(bad_request(
            "One or more properties contains invalid values.",
        ));
    }
    Ok(())
}

async fn create_user(
    State(shared): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let Some(body) = body.as_object().cloned() else {
        return Err(bad_request("The request body must be a JSON object."));
    };
    require_properties(&body, NEW_USER_PROPERTIES, "User")?;
    check_user_write(None, &body)?;
    check_user_properties(&body)?;
    let extensions = extension_values(&state, &body)?;
    let upn = text(&body, "userPrincipalName").unwrap_or_default();
    let password = body["passwordProfile"]["password"].as_str().unwrap_or("");
    let tenant = tenant_mut(&mut state, &tenant_id);
    check_new_user(tenant, &body, &upn, password)?;
    let mut user = User {
        id: uuid::Uuid::new_v4().to_string(),
        account_enabled: true,
        password: Some(password.to_owned()),
        ..User::default()
    };
    apply_user_properties(&mut user, &body);
    apply_extra_properties(&mut user, &body);
    apply_extensions(&mut user.extensions, extensions);
    let id = user.id.clone();
    let created = user_view(&user, None);
    tenant.upsert_user(user);
    state.created_at.insert(id, std::time::Instant::now());
    let mut created = Value::Object(created);
    created["@odata.context"] = json!("https://graph.microsoft.com/v1.0/$metadata#users/$entity");
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

pub async fn patch_user(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    if !visible(&state, &id) {
        return Err(not_found(&id));
    }
    let Some(body) = body.as_object().cloned() else {
        return Err(bad_request("The request body must be a JSON object."));
    };
    let extensions = extension_values(&state, &body)?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    let Some(mut user) = tenant.users.get(&id).filter(|u| !u.deleted).cloned() else {
        return Err(not_found(&id));
    };
    check_user_write(Some(&user), &body)?;
    if let Some(upn) = text(&body, "userPrincipalName")
        && let Err(response) = check_upn(tenant, &upn, Some(&id))
    {
        return Err(response);
    }
    if body.get("displayName") == Some(&Value::Null) {
        return Err(bad_request(
            "Invalid value specified for property 'displayName' of resource 'User'.",
        ));
    }
    check_user_properties(&body)?;
    apply_user_properties(&mut user, &body);
    apply_extra_properties(&mut user, &body);
    apply_extensions(&mut user.extensions, extensions);
    tenant.upsert_user(user);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn delete_user(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    if tenant.users.get(&id).is_none_or(|u| u.deleted) {
        return Err(not_found(&id));
    }
    tenant.soft_delete_user(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn create_group(
    State(shared): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let Some(body) = body.as_object().cloned() else {
        return Err(bad_request("The request body must be a JSON object."));
    };
    require_properties(&body, NEW_GROUP_PROPERTIES, "Group")?;
    let extensions = extension_values(&state, &body)?;
    let nickname = text(&body, "mailNickname").unwrap_or_default();
    if !valid_mail_nickname(&nickname) {
        return Err(bad_request(
            "Invalid value specified for property 'mailNickname' of resource 'Group'.",
        ));
    }
    let mut group = new_group(&body, nickname);
    apply_extensions(&mut group.extensions, extensions);
    let id = group.id.clone();
    let created = group_json(&group);
    tenant_mut(&mut state, &tenant_id).upsert_group(group);
    state.created_at.insert(id, std::time::Instant::now());
    Ok((StatusCode::CREATED, axum::Json(Value::Object(created))).into_response())
}

fn valid_mail_nickname(nickname: &str) -> bool {
    !nickname.is_empty()
        && nickname.len() <= 64
        && !nickname
            .chars()
            .any(|c| !c.is_ascii() || "@()\\[]\";:.<>, ".contains(c))
}

fn new_group(body: &Map<String, Value>, nickname: String) -> Group {
    Group {
        id: uuid::Uuid::new_v4().to_string(),
        display_name: text(body, "displayName").unwrap_or_default(),
        description: text(body, "description"),
        mail_nickname: nickname,
        security_enabled: body
            .get("securityEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        mail_enabled: body
            .get("mailEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        members: Vec::new(),
        deleted: false,
        deleted_at: None,
        group_types: body
            .get("groupTypes")
            .and_then(|t| serde_json::from_value(t.clone()).ok())
            .unwrap_or_default(),
        extensions: Default::default(),
        is_assignable_to_role: body
            .get("isAssignableToRole")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        roles: Vec::new(),
    }
}

pub async fn patch_group(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    if !visible(&state, &id) {
        return Err(not_found(&id));
    }
    let no_body = Map::new();
    let extensions = extension_values(&state, body.as_object().unwrap_or(&no_body))?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    let Some(mut group) = tenant.groups.get(&id).filter(|g| !g.deleted).cloned() else {
        return Err(not_found(&id));
    };
    apply_extensions(&mut group.extensions, extensions);
    if let Some(name) = body.get("displayName").and_then(Value::as_str) {
        group.display_name = name.to_owned();
    }
    match body.get("description") {
        Some(Value::String(d)) => group.description = Some(d.clone()),
        Some(Value::Null) => group.description = None,
        _ => {}
    }
    tenant.upsert_group(group);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn delete_group(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    let Some(group) = tenant.groups.get(&id).filter(|g| !g.deleted) else {
        return Err(not_found(&id));
    };
    // Microsoft 365 groups wait in deleted items; security groups are
    // deleted for good at once (docs/graph.md 1.5, 3.4).
    if group.group_types.iter().any(|t| t == "Unified") {
        tenant.soft_delete_group(&id);
    } else {
        tenant.delete_group(&id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn add_member(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let Some(member) = body["@odata.id"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .map(str::to_owned)
    else {
        return Err(bad_request(
            "Invalid value specified for property '@odata.id'.",
        ));
    };
    if !visible(&state, &id) || !visible(&state, &member) {
        return Err(bad_request(
            "The source resource object or one of the objects being referenced do not exist.",
        ));
    }
    let tenant = tenant_mut(&mut state, &tenant_id);
    if tenant.groups.get(&id).is_none_or(|g| g.deleted) {
        return Err(not_found(&id));
    }
    let exists = tenant.users.get(&member).is_some_and(|u| !u.deleted)
        || tenant.groups.get(&member).is_some_and(|g| !g.deleted);
    if !exists {
        return Err(not_found(&member));
    }
    if !tenant.add_member(&id, &member) {
        return Err(bad_request(
            "One or more added object references already exist for the following modified properties: 'members'.",
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove_member(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path((id, member)): Path<(String, String)>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    if tenant.groups.get(&id).is_none_or(|g| g.deleted) || !tenant.remove_member(&id, &member) {
        return Err(not_found(&id));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
