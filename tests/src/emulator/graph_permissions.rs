//! Application permissions on Graph (APP-ONLY-AUTH.md §3): a request with
//! an app token (client credentials) needs one of the roles its route
//! accepts, else 403 `Authorization_RequestDenied`. The roles are the
//! token's, as issued: a role revoked later still works until the token
//! expires, as with Microsoft. Delegated tokens are not checked here.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::directory::ObjectKind;
use super::graph::{Shared, graph_error};

const USER_READ: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const USER_WRITE: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];
const GROUP_READ: &[&str] = &[
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Deleted groups are read with `Group.Read.All` (docs/graph.md 3.3), not the
/// member-only roles.
const DELETED_GROUP_READ: &[&str] = &[
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const GROUP_CREATE: &[&str] = &[
    "Group.Create",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const GROUP_WRITE: &[&str] = &["Group.ReadWrite.All", "Directory.ReadWrite.All"];
const MEMBER_WRITE: &[&str] = &[
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const DOMAIN_READ: &[&str] = &[
    "Domain.Read.All",
    "Domain.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const ROLE_READ: &[&str] = &[
    "RoleManagement.Read.Directory",
    "RoleManagement.Read.All",
    "RoleManagement.ReadWrite.Directory",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const ROLE_ELIGIBILITY_READ: &[&str] = &[
    "RoleEligibilitySchedule.Read.Directory",
    "RoleManagement.Read.Directory",
    "RoleManagement.Read.All",
    "RoleManagement.ReadWrite.Directory",
];
// Subscriptions take the read role of their resource: Microsoft does not
// support write roles "where only read access privileges are needed".
const USER_SUBSCRIPTION: &[&str] = &["User.Read.All", "Directory.Read.All"];
const GROUP_SUBSCRIPTION: &[&str] = &["Group.Read.All", "Directory.Read.All"];

/// The roles a Graph route (`segments` after `/v1.0/`) accepts, any one of
/// them; `None`: no role needed here (`$batch`'s items are checked one by
/// one, `GET /subscriptions` lists only the app's own).
fn accepted_roles(method: &Method, segments: &[&str]) -> Option<&'static [&'static str]> {
    let read = *method == Method::GET;
    match segments {
        ["users", ..] if read => Some(USER_READ),
        ["users", ..] => Some(USER_WRITE),
        ["groups", _, "members", ..] if !read => Some(MEMBER_WRITE),
        ["groups", ..] if read => Some(GROUP_READ),
        ["groups"] => Some(GROUP_CREATE),
        ["groups", ..] => Some(GROUP_WRITE),
        ["domains", ..] => Some(DOMAIN_READ),
        [
            "roleManagement",
            "directory",
            "roleEligibilityScheduleInstances",
        ] => Some(ROLE_ELIGIBILITY_READ),
        ["roleManagement", ..] => Some(ROLE_READ),
        _ => None,
    }
}

/// The roles a deleted item's route needs: to read, the read role of its
/// kind; to restore or purge, the write role.
fn deleted_item_roles(method: &Method, kind: ObjectKind) -> &'static [&'static str] {
    match (kind, *method == Method::GET) {
        (ObjectKind::User, true) => USER_READ,
        (ObjectKind::User, false) => USER_WRITE,
        (ObjectKind::Group, true) => DELETED_GROUP_READ,
        (ObjectKind::Group, false) => GROUP_WRITE,
    }
}

/// The kind a deletedItems segment names: a cast, or a deleted object's
/// id (`None`: the handler answers 400 or 404).
fn deleted_item_kind(shared: &Shared, segment: &str) -> Option<ObjectKind> {
    match segment {
        "microsoft.graph.user" => Some(ObjectKind::User),
        "microsoft.graph.group" => Some(ObjectKind::Group),
        id => shared
            .lock()
            .unwrap()
            .tenants
            .values()
            .find_map(|t| t.deleted_object(id))
            .map(|(kind, _)| kind),
    }
}

/// The roles a subscription on `resource` (`users`, `/groups`, ...) needs.
fn subscription_roles(resource: &str) -> Option<&'static [&'static str]> {
    match resource.trim_start_matches('/').split('/').next() {
        Some("users") => Some(USER_SUBSCRIPTION),
        Some("groups") => Some(GROUP_SUBSCRIPTION),
        _ => None,
    }
}

/// The roles of the request's app token; `None` for any other token (a
/// user's, an unknown or expired one: the handler answers those).
fn app_token_roles(shared: &Shared, request: &Request) -> Option<Vec<String>> {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let state = shared.lock().unwrap();
    let grant = state.access_tokens.get(token)?;
    (grant.expires_at > chrono::Utc::now())
        .then(|| grant.app_roles.clone())
        .flatten()
}

/// What the request needs: its route's roles, or for a subscription those
/// of its resource (from the body of a create, else the stored one).
async fn needed_roles(
    shared: &Shared,
    request: Request,
) -> (Request, Option<&'static [&'static str]>) {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path
        .trim_start_matches("/v1.0/")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["subscriptions"] if request.method() == Method::POST => {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let resource = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|b| b["resource"].as_str().map(str::to_owned));
            let request = Request::from_parts(parts, Body::from(bytes));
            (request, resource.as_deref().and_then(subscription_roles))
        }
        ["directory", "deletedItems", segment, ..] => {
            let roles = deleted_item_kind(shared, segment)
                .map(|kind| deleted_item_roles(request.method(), kind));
            (request, roles)
        }
        ["subscriptions", id, ..] => {
            let stored = shared
                .lock()
                .unwrap()
                .subscriptions
                .get(*id)
                .map(|s| s.resource.clone());
            (request, stored.as_deref().and_then(subscription_roles))
        }
        _ => {
            let roles = accepted_roles(request.method(), &segments);
            (request, roles)
        }
    }
}

/// The middleware: an app token lacking every accepted role gets 403.
pub async fn enforce_app_roles(
    State(shared): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with("/v1.0/") {
        return next.run(request).await;
    }
    let Some(held) = app_token_roles(&shared, &request) else {
        return next.run(request).await;
    };
    let (request, needed) = needed_roles(&shared, request).await;
    if let Some(needed) = needed
        && !held.iter().any(|r| needed.contains(&r.as_str()))
    {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_takes_the_roles_of_its_kind() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(accepted_roles(&get, &["users", "delta"]), Some(USER_READ));
        assert_eq!(
            accepted_roles(&Method::PATCH, &["users", "u1"]),
            Some(USER_WRITE)
        );
        assert_eq!(
            accepted_roles(&get, &["groups", "g1", "transitiveMembers"]),
            Some(GROUP_READ)
        );
        assert_eq!(accepted_roles(&post, &["groups"]), Some(GROUP_CREATE));
        assert_eq!(
            accepted_roles(&Method::DELETE, &["groups", "g1"]),
            Some(GROUP_WRITE)
        );
        assert_eq!(
            accepted_roles(&post, &["groups", "g1", "members", "$ref"]),
            Some(MEMBER_WRITE)
        );
        assert_eq!(
            accepted_roles(&Method::DELETE, &["groups", "g1", "members", "u1", "$ref"]),
            Some(MEMBER_WRITE)
        );
        assert_eq!(accepted_roles(&get, &["domains"]), Some(DOMAIN_READ));
        assert_eq!(accepted_roles(&post, &["$batch"]), None);
        assert_eq!(subscription_roles("/users"), Some(USER_SUBSCRIPTION));
        assert_eq!(subscription_roles("groups"), Some(GROUP_SUBSCRIPTION));
        assert!(!USER_SUBSCRIPTION.contains(&"User.ReadWrite.All"));
    }
}
