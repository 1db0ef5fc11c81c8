//! `/users/delta` and `/groups/delta` (docs/graph.md 1): rounds over the tenant's
//! change log, opaque tokens, configurable page sizes, empty pages,
//! duplicates, split membership pages, `@removed` reasons, `$select`
//! tracking, `$filter=id eq` (up to 50), `Prefer: return=minimal`, and delta
//! tokens that expire in either documented style.

mod entries;

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::emulator::directory::ObjectKind;
use crate::emulator::graph::{
    Shared, authorise, decode_token, encode_token, graph_error, parse_select, tenant_mut,
};
use crate::emulator::{DeltaExpiry, EmulatorState};
use entries::{Entry, round_entries};

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
    let token = match requested_round(&state, &q, kind, last_sequence, now) {
        Ok(RoundRequest::Page(token)) => token,
        Ok(RoundRequest::Latest(delta)) => {
            return page_response(&state, kind, Vec::new(), None, Some(delta));
        }
        Err(response) => return response,
    };
    if state.knobs.empty_first_page && !token.empty_page_served {
        let next = RoundToken {
            empty_page_served: true,
            ..token
        };
        return page_response(&state, kind, Vec::new(), Some(next), None);
    }
    let layout = PageLayout {
        page_size: state.knobs.page_size(),
        member_page_size: state.knobs.member_page_size.unwrap_or(500).max(1),
        duplicates: state.knobs.duplicate_items,
    };
    let without_upn = state.knobs.users_without_upn.clone();
    let entries = round_entries(tenant_mut(&mut state, &tenant_id), &token, minimal);
    let mut page = fill_page(&entries, &token, &layout);
    remove_upn(&mut page.items, &without_upn);
    let (next, delta) = following_links(token, &page, entries.len(), now);
    page_response(&state, kind, page.items, next, delta)
}

/// What the query asks for: a page of a round, or `$deltatoken=latest`
/// (an empty answer whose deltaLink starts from now).
enum RoundRequest {
    Page(RoundToken),
    Latest(RoundToken),
}

#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn requested_round(
    state: &EmulatorState,
    q: &HashMap<String, String>,
    kind: ObjectKind,
    last_sequence: u64,
    now: i64,
) -> Result<RoundRequest, Response> {
    if let Some(raw) = q.get("$skiptoken") {
        return decode_token::<RoundToken>(raw)
            .filter(|t| t.kind == kind)
            .map(RoundRequest::Page)
            .ok_or_else(|| {
                graph_error(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    "The skip token is invalid.",
                )
            });
    }
    match q.get("$deltatoken").filter(|t| !t.is_empty()) {
        Some(raw) if raw.eq_ignore_ascii_case("latest") => Ok(RoundRequest::Latest(latest_round(
            kind,
            last_sequence,
            parse_select(q.get("$select")),
            now,
        ))),
        Some(raw) => incremental_round(state, raw, kind, last_sequence).map(RoundRequest::Page),
        None => initial_round(q, kind, last_sequence, now).map(RoundRequest::Page),
    }
}

fn latest_round(
    kind: ObjectKind,
    last_sequence: u64,
    select: Option<Vec<String>>,
    now: i64,
) -> RoundToken {
    RoundToken {
        kind,
        since: last_sequence,
        upto: 0,
        initial: false,
        cursor: 0,
        member_cursor: 0,
        empty_page_served: true,
        select,
        filter: None,
        issued_at: now,
        previous: None,
    }
}

/// A deltaLink's token, unless expired: the round now covers the changes up to now.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn incremental_round(
    state: &EmulatorState,
    raw: &str,
    kind: ObjectKind,
    last_sequence: u64,
) -> Result<RoundToken, Response> {
    let Some(token) = decode_token::<RoundToken>(raw).filter(|t| t.kind == kind) else {
        return Err(sync_state_gone(state, kind));
    };
    if state
        .knobs
        .delta_tokens_invalid_before
        .is_some_and(|before| token.issued_at <= before)
    {
        return Err(sync_state_gone(state, kind));
    }
    Ok(RoundToken {
        upto: last_sequence,
        cursor: 0,
        member_cursor: 0,
        empty_page_served: false,
        previous: None,
        ..token
    })
}

#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn initial_round(
    q: &HashMap<String, String>,
    kind: ObjectKind,
    last_sequence: u64,
    now: i64,
) -> Result<RoundToken, Response> {
    let filter = match q.get("$filter").map(|f| parse_filter(f)) {
        None => None,
        Some(Ok(ids)) if ids.len() <= 50 => Some(ids),
        Some(Ok(_)) => {
            return Err(graph_error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                "The number of ids in the filter exceeds 50.",
            ));
        }
        Some(Err(())) => {
            return Err(graph_error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                "Unsupported Query.",
            ));
        }
    };
    let select = parse_select(q.get("$select"));
    crate::emulator::user_properties::check_select(select.as_deref())?;
    Ok(RoundToken {
        kind,
        since: 0,
        upto: last_sequence,
        initial: true,
        cursor: 0,
        member_cursor: 0,
        empty_page_served: false,
        select,
        filter,
        issued_at: now,
        previous: None,
    })
}

/// The emulator's knobs that shape a page.
struct PageLayout {
    page_size: usize,
    member_page_size: usize,
    duplicates: bool,
}

/// One page's items, and where the next page resumes.
struct FilledPage {
    items: Vec<Value>,
    cursor: usize,
    member_cursor: usize,
}

/// Objects from the token's cursor until the page or its member links are
/// full; a large group's members are split across pages.
fn fill_page(entries: &[Entry], token: &RoundToken, layout: &PageLayout) -> FilledPage {
    let mut items = Vec::new();
    let (mut cursor, mut member_cursor) = (token.cursor, token.member_cursor);
    if layout.duplicates
        && let Some(previous) = &token.previous
        && let Some(entry) = entries.iter().find(|e| &e.id == previous)
    {
        items.push(entry.render(token.kind, 0, usize::MAX));
    }
    let mut links_left = layout.member_page_size;
    while cursor < entries.len() && items.len() < layout.page_size {
        let entry = &entries[cursor];
        let remaining_members = entry.members.len().saturating_sub(member_cursor);
        if remaining_members > links_left {
            // A large group: this page carries a slice of its members.
            items.push(entry.render(token.kind, member_cursor, links_left));
            member_cursor += links_left;
            break;
        }
        items.push(entry.render(token.kind, member_cursor, remaining_members));
        links_left -= remaining_members;
        cursor += 1;
        member_cursor = 0;
        if links_left == 0 {
            break;
        }
    }
    FilledPage {
        items,
        cursor,
        member_cursor,
    }
}

/// The `users_without_upn` knob: those users come without a userPrincipalName.
fn remove_upn(items: &mut [Value], without_upn: &[String]) {
    for item in items.iter_mut().filter(|i| {
        i.get("id")
            .and_then(Value::as_str)
            .is_some_and(|id| without_upn.iter().any(|w| w == id))
    }) {
        if let Some(item) = item.as_object_mut() {
            item.remove("userPrincipalName");
        }
    }
}

/// A nextLink's token while the round has entries left, else the deltaLink's.
fn following_links(
    token: RoundToken,
    page: &FilledPage,
    entry_count: usize,
    now: i64,
) -> (Option<RoundToken>, Option<RoundToken>) {
    if page.cursor < entry_count {
        let previous = page
            .items
            .last()
            .and_then(|i| i.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let next = RoundToken {
            cursor: page.cursor,
            member_cursor: page.member_cursor,
            empty_page_served: true,
            previous,
            ..token
        };
        return (Some(next), None);
    }
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
    (None, Some(delta))
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
