//! The tables' layout (docs/contract.md 1.3): every partition and sort key
//! the adapters write, the TTL attribute and the index names, in one place.
//! Adapters build keys only through this module; the item layouts are a
//! contract, so a change here is a change of the contract.

use std::collections::HashMap;

use super::dynamo::{Item, s};
use crate::import::buckets::{Bucket, SeenKind};
use crate::import::state::Phase;
use crate::model::TenantId;
use crate::problems::{Direction, ObjectKind, ProblemKey};

/// The integrations table's TTL attribute (template.yaml): epoch seconds.
pub const TTL_ATTRIBUTE: &str = "expires_at_epoch";

/// The integrations table's items by `sk` (`tenant_id` projected): the
/// configs the scheduler lists, and the tenants holding subscriptions.
pub const BY_SK_INDEX: &str = "by-sk";
/// Sparse: only configs that ask for a preview.
pub const PREVIEW_REQUEST_INDEX: &str = "by-preview-request";
/// Sparse: only change events, by `event_object` (one object's events).
pub const EVENT_OBJECT_INDEX: &str = "by-event-object";
/// The directory table's users and groups by `entra_id`.
pub const ENTRA_ID_INDEX: &str = "by-entra-id";
/// The directory table's membership items by `user_id` (and `group_id`).
pub const MEMBER_INDEX: &str = "by-member";
/// The directory table's users by their manager's Entra id (sparse:
/// `sync_manager_entra_id` is set only when the tenant imports managers).
pub const MANAGER_INDEX: &str = "by-manager";
/// The directory table's users by `user_name` (keys only).
pub const USER_NAME_INDEX: &str = "by-user-name";

// A tenant's items, in either table: `pk = TENANT#<id>`.

pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

/// The primary key of a tenant's item.
pub fn key(tenant: &TenantId, sk: impl Into<String>) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(tenant_pk(tenant))),
        ("sk".to_owned(), s(sk)),
    ])
}

/// The platform's settings.
pub const CONFIG_SK: &str = "ENTRA#CONFIG";
/// The status the admin reads, with the run lease, the delta links and the
/// checkpoint, and the sync request fields.
pub const STATUS_SK: &str = "ENTRA#STATUS";
/// The preview report the portal reads.
pub const PREVIEW_SK: &str = "ENTRA#PREVIEW";
/// The preview's own lease and checkpoint (TTL 7 days).
pub const PREVIEW_RUN_SK: &str = "ENTRA#PREVIEW#RUN";
/// The group scope, a chunked document.
pub const SCOPE_SK: &str = "ENTRA#SCOPE";
/// Deletions held back, a chunked document.
pub const HELD_SK: &str = "ENTRA#HELD";
/// The on-demand sync's rate-limit slots (TTL: a minute after the last use).
pub const ON_DEMAND_RATE_SK: &str = "ENTRA#ONDEMAND#RATE";
/// Change events sort under this prefix (`ENTRA#EVENT#<timestamp>#<id>`).
pub const EVENT_SK_PREFIX: &str = "ENTRA#EVENT#";

/// A change event's `event_object`, the key of `by-event-object`:
/// `<tenant_id>#<object_kind>#<object_id>`.
pub fn event_object(tenant: &TenantId, kind: ObjectKind, object_id: &str) -> String {
    format!("{tenant}#{}#{object_id}", kind.as_str())
}
/// Marker: the tenant holds subscriptions (listed through `by-sk`).
pub const REALTIME_MARKER_SK: &str = "ENTRA#REALTIME";
/// A switch to application mode under way: the delegated grant is still to
/// be deleted (docs/behaviour.md 2.12).
pub const AUTH_SWITCH_SK: &str = "ENTRA#AUTH_SWITCH";
/// Present once the tenant's links made before link items were copied.
pub const LINKS_COPIED_SK: &str = "ENTRA#LINKS";

/// A run's history item (docs/behaviour.md 2.14), kept 30 days:
/// `ENTRA#RUN#<started_at>#<run_id>`, so a tenant's runs list in the
/// order they began.
pub fn run_sk(started_at: chrono::DateTime<chrono::Utc>, run_id: &str) -> String {
    let at = started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    format!("{RUN_PREFIX}{at}#{run_id}")
}

/// Every run history item of a tenant begins so.
pub const RUN_PREFIX: &str = "ENTRA#RUN#";

/// A chunk of a chunked document stored at `sk`.
pub fn chunk_sk(sk: &str, generation: &str, index: usize) -> String {
    format!("{sk}#{generation}#{index:05}")
}

/// What a round's pages removed or deferred in a phase:
/// `ENTRA#ROUND#<round>#<phase>#` then `<page>#<part>` (TTL 8 days).
pub fn round_record_prefix(round_id: &str, phase: Phase) -> String {
    format!("ENTRA#ROUND#{round_id}#{}#", phase.as_str())
}

/// The ids a round's pages saw of a kind, in one bucket:
/// `ENTRA#ROUND#<round>#seen#<kind>#<bucket>#` then `<page>#<part>` (TTL 8 days).
pub fn round_seen_prefix(round_id: &str, kind: SeenKind, bucket: Bucket) -> String {
    format!(
        "ENTRA#ROUND#{round_id}#seen#{}#{:02}#",
        kind.as_str(),
        bucket.index()
    )
}

/// One part of a page's round item under `prefix`.
pub fn round_part_sk(prefix: &str, page: u32, part: usize) -> String {
    format!("{prefix}{page:010}#{part:03}")
}

/// The page number a round item's `sk` carries after `prefix`.
pub fn round_page(sk: &str, prefix: &str) -> Option<u32> {
    sk.strip_prefix(prefix)?.split('#').next()?.parse().ok()
}

const LINK_PREFIX: &str = "ENTRA#LINK#";

/// The link naming the AM object (`USER#` or `GROUP#` prefix) that an
/// Entra object is linked to.
pub fn link_sk(object_prefix: &str, entra_id: &str) -> String {
    format!("{LINK_PREFIX}{object_prefix}{entra_id}")
}

/// The intent to create the AM object (`USER#` or `GROUP#` prefix) in
/// Entra, written before the POST (TTL 1 day):
/// `ENTRA#CREATING#<USER#|GROUP#><am_id>`.
pub fn create_intent_sk(object_prefix: &str, am_id: &str) -> String {
    format!("ENTRA#CREATING#{object_prefix}{am_id}")
}

/// The Entra user the export deleted for an AM user, kept while Entra
/// keeps it restorable (TTL 30 days): `ENTRA#DELETED#USER#<user_id>`.
pub fn deleted_user_sk(user_id: &str) -> String {
    format!("ENTRA#DELETED#USER#{user_id}")
}

/// Every problem item of the tenant begins so.
pub const PROBLEM_PREFIX: &str = "ENTRA#PROBLEM#";

/// `ENTRA#PROBLEM#<direction>#<object_kind>#<object_id>`.
pub fn problem_sk(key: &ProblemKey) -> String {
    format!(
        "{}{}#{}",
        problems_of(key.direction),
        key.kind.as_str(),
        key.object_id
    )
}

/// The problems of one direction begin so.
pub fn problems_of(direction: Direction) -> String {
    format!("{PROBLEM_PREFIX}{}#", direction.as_str())
}

/// The key a problem item's `sk` names.
pub fn problem_key(sk: &str) -> Option<ProblemKey> {
    let rest = sk.strip_prefix(PROBLEM_PREFIX)?;
    let (direction, rest) = rest.split_once('#')?;
    let (kind, object_id) = rest.split_once('#')?;
    Some(ProblemKey {
        direction: Direction::parse(direction)?,
        kind: ObjectKind::parse(kind)?,
        object_id: object_id.to_owned(),
    })
}

/// A pending authorisation: `pk = OAUTH#STATE#<state>`, `sk = OAUTH#STATE`.
pub fn pending_authorisation_key(state: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(format!("OAUTH#STATE#{state}"))),
        ("sk".to_owned(), s("OAUTH#STATE")),
    ])
}

/// A proven sign-in awaiting the portal's confirm, under the hash of its
/// one-time result id: `pk = OAUTH#RESULT#<sha256>`, `sk = OAUTH#RESULT`.
pub fn proven_authorisation_key(result_hash: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(format!("OAUTH#RESULT#{result_hash}"))),
        ("sk".to_owned(), s("OAUTH#RESULT")),
    ])
}

const SUBSCRIPTION_SK: &str = "ENTRA#SUBSCRIPTION";

/// A subscription record: `pk = SUBSCRIPTION#<id>`, `sk = ENTRA#SUBSCRIPTION`.
pub fn subscription_key(subscription_id: &str) -> Item {
    HashMap::from([
        (
            "pk".to_owned(),
            s(format!("SUBSCRIPTION#{subscription_id}")),
        ),
        ("sk".to_owned(), s(SUBSCRIPTION_SK)),
    ])
}

fn entra_tenant_key(entra_tenant_id: &str, sk: String) -> Item {
    HashMap::from([
        (
            "pk".to_owned(),
            s(format!("ENTRA_TENANT#{entra_tenant_id}")),
        ),
        ("sk".to_owned(), s(sk)),
    ])
}

/// The subscription kept for an Entra tenant and resource:
/// `pk = ENTRA_TENANT#<id>`, `sk = ENTRA#SUBSCRIPTION#<resource>`.
pub fn subscription_pointer_key(entra_tenant_id: &str, resource: &str) -> Item {
    entra_tenant_key(entra_tenant_id, format!("{SUBSCRIPTION_SK}#{resource}"))
}

/// The lock on changing an Entra tenant's subscriptions:
/// `pk = ENTRA_TENANT#<id>`, `sk = ENTRA#SUBSCRIPTIONS#LOCK`.
pub fn subscription_lock_key(entra_tenant_id: &str) -> Item {
    entra_tenant_key(entra_tenant_id, format!("{SUBSCRIPTION_SK}S#LOCK"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::dynamo::text;

    fn sk(item: &Item) -> String {
        text(item, "sk").unwrap()
    }

    fn pk(item: &Item) -> String {
        text(item, "pk").unwrap()
    }

    #[test]
    fn problem_keys_round_trip_through_their_sort_key() {
        let key = ProblemKey {
            direction: Direction::Export,
            kind: ObjectKind::Membership,
            object_id: "g1#u1".into(),
        };
        assert_eq!(problem_sk(&key), "ENTRA#PROBLEM#export#membership#g1#u1");
        assert_eq!(problem_key(&problem_sk(&key)), Some(key));
        assert_eq!(problem_key("ENTRA#PROBLEM#sideways#user#u1"), None);
        assert_eq!(problem_key("ENTRA#STATUS"), None);
        assert_eq!(problems_of(Direction::Import), "ENTRA#PROBLEM#import#");
    }

    #[test]
    fn keys_are_the_contracts() {
        let tenant = TenantId::parse("acme").unwrap();
        let status = key(&tenant, STATUS_SK);
        assert_eq!(
            (pk(&status), sk(&status)),
            ("TENANT#acme".into(), "ENTRA#STATUS".into())
        );
        let state = pending_authorisation_key("abc");
        assert_eq!(
            (pk(&state), sk(&state)),
            ("OAUTH#STATE#abc".into(), "OAUTH#STATE".into())
        );
        let record = subscription_key("s-1");
        assert_eq!(
            (pk(&record), sk(&record)),
            ("SUBSCRIPTION#s-1".into(), "ENTRA#SUBSCRIPTION".into())
        );
        let pointer = subscription_pointer_key("t-1", "users");
        assert_eq!(
            (pk(&pointer), sk(&pointer)),
            ("ENTRA_TENANT#t-1".into(), "ENTRA#SUBSCRIPTION#users".into())
        );
        let lock = subscription_lock_key("t-1");
        assert_eq!(
            (pk(&lock), sk(&lock)),
            ("ENTRA_TENANT#t-1".into(), "ENTRA#SUBSCRIPTIONS#LOCK".into())
        );
        assert_eq!(link_sk("USER#", "e-1"), "ENTRA#LINK#USER#e-1");
        assert_eq!(chunk_sk(SCOPE_SK, "g7", 3), "ENTRA#SCOPE#g7#00003");
        let prefix = round_record_prefix("r1", Phase::Groups);
        let part = round_part_sk(&prefix, 12, 1);
        assert_eq!(
            part,
            format!("ENTRA#ROUND#r1#{}#0000000012#001", Phase::Groups.as_str())
        );
        assert_eq!(round_page(&part, &prefix), Some(12));
    }
}
