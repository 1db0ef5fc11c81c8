//! `/users/delta` and `/groups/delta` (docs/graph.md 1): rounds over the tenant's
//! change log, opaque tokens, configurable page sizes, empty pages,
//! duplicates, split membership pages, `@removed` reasons, `$select`
//! tracking, `$filter=id eq` (up to 50), `Prefer: return=minimal`, and delta
//! tokens that expire in either documented style.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::directory::{ObjectKind, Tenant};
use super::graph::{
    Shared, authorise, decode_token, encode_token, graph_error, group_json, parse_select, project,
    tenant_mut, user_json,
};
use super::{DeltaExpiry, EmulatorState};

/// What a nextLink or deltaLink encodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoundToken {
    kind: ObjectKind,
    /// Changes after this sequence belong to the round (0 = initial round).
    since: u64,
    /// The round covers changes up to this sequence.
    upto: u64,
    initial: bool,
    cursor: usize,
    member_cursor: usize,
    empty_page_served: bool,
    select: Option<Vec<String>>,
    filter: Option<Vec<String>>,
    issued_at: i64,
    /// The last object of the previous page, re-sent when duplicates are on.
    previous: Option<String>,
}

pub async fn users_delta(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    delta(shared, headers, q, ObjectKind::User)
}

pub async fn groups_delta(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    delta(shared, headers, q, ObjectKind::Group)
}

fn collection(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "users",
        ObjectKind::Group => "groups",
    }
}

fn sync_state_gone(state: &EmulatorState, kind: ObjectKind) -> Response {
    match state.knobs.delta_expiry {
        DeltaExpiry::SyncStateNotFound => graph_error(
            StatusCode::BAD_REQUEST,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        ),
        DeltaExpiry::Gone => {
            let mut response = graph_error(
                StatusCode::GONE,
                "resyncRequired",
                "Sync state reset; restart with a full synchronisation.",
            );
            let location = format!(
                "{}/v1.0/{}/delta?$deltatoken=",
                state.issuer_base,
                collection(kind)
            );
            response
                .headers_mut()
                .insert(header::LOCATION, location.parse().expect("a header value"));
            response
        }
    }
}

/// `$filter=id eq 'a' or id eq 'b'`, nothing else (docs/graph.md 1.2).
fn parse_filter(raw: &str) -> Result<Vec<String>, ()> {
    raw.split(" or ")
        .map(|term| {
            let value = term.trim().strip_prefix("id eq ").ok_or(())?.trim();
            value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .map(str::to_owned)
                .ok_or(())
        })
        .collect()
}

fn delta(
    shared: Shared,
    headers: HeaderMap,
    q: HashMap<String, String>,
    kind: ObjectKind,
) -> Response {
    let mut state = shared.lock().unwrap();
    let tenant_id = match authorise(&mut state, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let minimal = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("return=minimal"));
    let now = chrono::Utc::now().timestamp();
    let last_sequence = tenant_mut(&mut state, &tenant_id).last_sequence();

    let token = if let Some(raw) = q.get("$skiptoken") {
        match decode_token::<RoundToken>(raw).filter(|t| t.kind == kind) {
            Some(t) => t,
            None => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    "The skip token is invalid.",
                );
            }
        }
    } else if let Some(raw) = q.get("$deltatoken").filter(|t| !t.is_empty()) {
        if raw.eq_ignore_ascii_case("latest") {
            return page_response(
                &state,
                kind,
                Vec::new(),
                None,
                Some(RoundToken {
                    kind,
                    since: last_sequence,
                    upto: 0,
                    initial: false,
                    cursor: 0,
                    member_cursor: 0,
                    empty_page_served: true,
                    select: parse_select(q.get("$select")),
                    filter: None,
                    issued_at: now,
                    previous: None,
                }),
            );
        }
        let Some(mut t) = decode_token::<RoundToken>(raw).filter(|t| t.kind == kind) else {
            return sync_state_gone(&state, kind);
        };
        if state
            .knobs
            .delta_tokens_invalid_before
            .is_some_and(|before| t.issued_at <= before)
        {
            return sync_state_gone(&state, kind);
        }
        // An incremental round covers the changes up to now.
        t.upto = last_sequence;
        t.cursor = 0;
        t.member_cursor = 0;
        t.empty_page_served = false;
        t.previous = None;
        t
    } else {
        let filter = match q.get("$filter").map(|f| parse_filter(f)) {
            None => None,
            Some(Ok(ids)) if ids.len() <= 50 => Some(ids),
            Some(Ok(_)) => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "Request_UnsupportedQuery",
                    "The number of ids in the filter exceeds 50.",
                );
            }
            Some(Err(())) => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "Request_UnsupportedQuery",
                    "Unsupported Query.",
                );
            }
        };
        RoundToken {
            kind,
            since: 0,
            upto: last_sequence,
            initial: true,
            cursor: 0,
            member_cursor: 0,
            empty_page_served: false,
            select: parse_select(q.get("$select")),
            filter,
            issued_at: now,
            previous: None,
        }
    };

    if state.knobs.empty_first_page && !token.empty_page_served {
        let next = RoundToken {
            empty_page_served: true,
            ..token
        };
        return page_response(&state, kind, Vec::new(), Some(next), None);
    }
    let page_size = state.knobs.page_size();
    let member_page_size = state.knobs.member_page_size.unwrap_or(500).max(1);
    let duplicates = state.knobs.duplicate_items;
    let without_upn = state.knobs.users_without_upn.clone();
    let tenant = tenant_mut(&mut state, &tenant_id);
    let entries = round_entries(tenant, &token, minimal);

    let mut items = Vec::new();
    let (mut cursor, mut member_cursor) = (token.cursor, token.member_cursor);
    if duplicates
        && let Some(previous) = &token.previous
        && let Some(entry) = entries.iter().find(|e| &e.id == previous)
    {
        items.push(entry.render(0, usize::MAX));
    }
    let mut links_left = member_page_size;
    while cursor < entries.len() && items.len() < page_size {
        let entry = &entries[cursor];
        let remaining_members = entry.members.len().saturating_sub(member_cursor);
        if remaining_members > links_left {
            // A large group: this page carries a slice of its members.
            items.push(entry.render(member_cursor, links_left));
            member_cursor += links_left;
            break;
        }
        items.push(entry.render(member_cursor, remaining_members));
        links_left -= remaining_members;
        cursor += 1;
        member_cursor = 0;
        if links_left == 0 {
            break;
        }
    }
    for item in items.iter_mut().filter(|i| {
        i.get("id")
            .and_then(Value::as_str)
            .is_some_and(|id| without_upn.iter().any(|w| w == id))
    }) {
        if let Some(item) = item.as_object_mut() {
            item.remove("userPrincipalName");
        }
    }
    let previous = items
        .last()
        .and_then(|i| i.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if cursor < entries.len() {
        let next = RoundToken {
            cursor,
            member_cursor,
            empty_page_served: true,
            previous,
            ..token
        };
        page_response(&state, kind, items, Some(next), None)
    } else {
        let delta = RoundToken {
            since: token.upto,
            upto: 0,
            initial: false,
            cursor: 0,
            member_cursor: 0,
            empty_page_served: false,
            issued_at: now,
            previous: None,
            ..token
        };
        page_response(&state, kind, items, None, Some(delta))
    }
}

/// One object of a round, ready to render.
struct Entry {
    id: String,
    body: Option<Map<String, Value>>,
    removed: Option<&'static str>,
    /// `members@delta` entries: (id, kind, removed).
    members: Vec<(String, ObjectKind, bool)>,
}

impl Entry {
    fn render(&self, member_offset: usize, member_count: usize) -> Value {
        let mut object = match (&self.body, self.removed) {
            (_, Some(reason)) => {
                let mut m = Map::new();
                m.insert("id".into(), json!(self.id));
                m.insert("@removed".into(), json!({"reason": reason}));
                m
            }
            (Some(body), None) => body.clone(),
            (None, None) => {
                let mut m = Map::new();
                m.insert("id".into(), json!(self.id));
                m
            }
        };
        let slice: Vec<Value> = self
            .members
            .iter()
            .skip(member_offset)
            .take(member_count)
            .map(|(id, kind, removed)| {
                let mut member = json!({
                    "@odata.type": match kind { ObjectKind::User => "#microsoft.graph.user", ObjectKind::Group => "#microsoft.graph.group" },
                    "id": id,
                });
                if *removed {
                    member["@removed"] = json!({"reason": "deleted"});
                }
                member
            })
            .collect();
        if !slice.is_empty() {
            object.insert("members@delta".into(), Value::Array(slice));
        }
        Value::Object(object)
    }
}

fn selects(select: &Option<Vec<String>>, property: &str) -> bool {
    select
        .as_ref()
        .is_none_or(|s| s.iter().any(|p| p.eq_ignore_ascii_case(property)))
}

/// Per object of an incremental round: changed properties, and membership
/// changes (member id -> kind, removed).
type ObjectChanges = (Vec<String>, BTreeMap<String, (ObjectKind, bool)>);

fn round_entries(tenant: &Tenant, token: &RoundToken, minimal: bool) -> Vec<Entry> {
    let in_filter = |id: &str| {
        token
            .filter
            .as_ref()
            .is_none_or(|f| f.iter().any(|x| x == id))
    };
    let with_members = token.kind == ObjectKind::Group && selects(&token.select, "members");
    let mut entries = Vec::new();
    if token.initial {
        match token.kind {
            ObjectKind::User => {
                for user in tenant
                    .users
                    .values()
                    .filter(|u| !u.deleted && in_filter(&u.id))
                {
                    entries.push(Entry {
                        id: user.id.clone(),
                        body: Some(project(user_json(user), token.select.as_deref())),
                        removed: None,
                        members: Vec::new(),
                    });
                }
            }
            ObjectKind::Group => {
                for group in tenant.groups.values().filter(|g| in_filter(&g.id)) {
                    let members = if with_members {
                        group
                            .members
                            .iter()
                            .map(|m| {
                                (
                                    m.clone(),
                                    if tenant.groups.contains_key(m) {
                                        ObjectKind::Group
                                    } else {
                                        ObjectKind::User
                                    },
                                    false,
                                )
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    entries.push(Entry {
                        id: group.id.clone(),
                        body: Some(project(group_json(group), token.select.as_deref())),
                        removed: None,
                        members,
                    });
                }
            }
        }
        return entries;
    }

    // Incremental: per object, the properties and membership changes in (since, upto].
    let mut changed: BTreeMap<String, ObjectChanges> = BTreeMap::new();
    for change in tenant
        .change_log
        .iter()
        .filter(|c| c.sequence > token.since && c.sequence <= token.upto && c.kind == token.kind)
    {
        if !in_filter(&change.id) {
            continue;
        }
        let tracked: Vec<String> = change
            .properties
            .iter()
            .filter(|p| p.starts_with('@') || selects(&token.select, p))
            .cloned()
            .collect();
        match &change.member {
            Some(m) if with_members => {
                let entry = changed.entry(change.id.clone()).or_default();
                entry
                    .1
                    .insert(m.member_id.clone(), (m.member_kind, m.removed));
            }
            Some(_) => {}
            None if !tracked.is_empty() => changed
                .entry(change.id.clone())
                .or_default()
                .0
                .extend(tracked),
            None => {}
        }
    }
    for (id, (properties, members)) in changed {
        let members: Vec<(String, ObjectKind, bool)> =
            members.into_iter().map(|(m, (k, r))| (m, k, r)).collect();
        let live = match token.kind {
            ObjectKind::User => tenant.users.get(&id).filter(|u| !u.deleted).map(user_json),
            ObjectKind::Group => tenant.groups.get(&id).map(group_json),
        };
        let entry = match live {
            Some(body) => {
                let mut body = project(body, token.select.as_deref());
                let restored = properties.iter().any(|p| p == "@restored");
                if minimal && !restored {
                    body.retain(|k, _| k == "id" || properties.iter().any(|p| p == k));
                } else if properties.is_empty() {
                    // Only memberships changed: the object carries its id.
                    body.retain(|k, _| k == "id");
                }
                Entry {
                    id,
                    body: Some(body),
                    removed: None,
                    members,
                }
            }
            None => {
                let soft = token.kind == ObjectKind::User
                    && tenant.users.get(&id).is_some_and(|u| u.deleted);
                let hard = tenant.tombstones.contains_key(&id);
                if !soft && !hard {
                    continue;
                }
                Entry {
                    id,
                    body: None,
                    removed: Some(if soft { "changed" } else { "deleted" }),
                    members: Vec::new(),
                }
            }
        };
        entries.push(entry);
    }
    entries
}

fn page_response(
    state: &EmulatorState,
    kind: ObjectKind,
    items: Vec<Value>,
    next: Option<RoundToken>,
    delta: Option<RoundToken>,
) -> Response {
    let base = format!("{}/v1.0/{}/delta", state.issuer_base, collection(kind));
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{}", collection(kind)),
        "value": items,
    });
    if let Some(next) = next {
        body["@odata.nextLink"] = json!(format!("{base}?$skiptoken={}", encode_token(&next)));
    }
    if let Some(delta) = delta {
        body["@odata.deltaLink"] = json!(format!("{base}?$deltatoken={}", encode_token(&delta)));
    }
    axum::Json(body).into_response()
}
