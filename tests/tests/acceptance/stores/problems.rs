//! `DynamoProblemStore`: one problem item per object and direction
//! (docs/contract.md 1.3), its attempts counted by the store, and the status
//! item's `open_problems` moved by one by whoever opens or resolves one.

use chrono::{Duration, SubsecRound, Utc};
use entra_sync::ports::StoreError;
use entra_sync::problems::{
    Code, Direction, ObjectKind, Operation, Problem, ProblemKey, ProblemStore,
};
use entra_sync::store::problems::DynamoProblemStore;
use serde_json::json;

use super::{Fresh, Item, text};

fn store(fresh: &Fresh) -> DynamoProblemStore {
    DynamoProblemStore::new(
        fresh.aws.dynamodb.clone(),
        fresh.tables.integrations.clone(),
    )
}

/// Two writers at once, through a client whose writes reach moto one at a time.
async fn two_writers(fresh: &Fresh) -> (DynamoProblemStore, DynamoProblemStore) {
    let client = fresh.serialised_client().await;
    let table = fresh.tables.integrations.clone();
    (
        DynamoProblemStore::new(client.clone(), table.clone()),
        DynamoProblemStore::new(client, table),
    )
}

fn problem_key(direction: Direction, kind: ObjectKind, object_id: &str) -> ProblemKey {
    ProblemKey {
        direction,
        kind,
        object_id: object_id.to_owned(),
    }
}

fn problem(direction: Direction, object_id: &str, reason: &str) -> Problem {
    Problem::new(
        problem_key(direction, ObjectKind::User, object_id),
        Operation::Create,
        Code::UserNameConflict,
        reason.to_owned(),
    )
    .displayed_as(format!("{object_id}@contoso.com"))
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

async fn open_problems(fresh: &Fresh) -> Option<i64> {
    number(&fresh.status_item().await, "open_problems")
}

#[tokio::test]
async fn given_a_new_problem_when_recorded_then_its_item_holds_every_attribute_and_the_count_moves_by_one()
 {
    let fresh = Fresh::tables().await;
    let store = store(&fresh);
    let seen = Utc::now().trunc_subsecs(0) - Duration::minutes(5);
    let retry = seen + Duration::hours(1);
    let mut new = problem(Direction::Export, "am-1", "ann@contoso.com is taken");
    new.first_seen_at = seen;
    new.last_seen_at = seen;
    new.next_attempt_at = Some(retry);
    new.entra_id = Some("e-1".into());

    let stored = store.record(&fresh.tenant, &new).await.unwrap();

    assert_eq!(stored, new);
    let item = fresh
        .get(&fresh.tables.integrations, "ENTRA#PROBLEM#export#user#am-1")
        .await
        .expect("the problem item");
    for (name, value) in [
        ("direction", "export"),
        ("object_kind", "user"),
        ("object_id", "am-1"),
        ("display", "am-1@contoso.com"),
        ("operation", "create"),
        ("code", "user_name_conflict"),
        ("reason", "ann@contoso.com is taken"),
        ("entra_id", "e-1"),
    ] {
        assert_eq!(text(&item, name), Some(value), "{name}: {item:?}");
    }
    let at = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(text(&item, "first_seen_at"), Some(at(seen).as_str()));
    assert_eq!(text(&item, "last_seen_at"), Some(at(seen).as_str()));
    assert_eq!(text(&item, "next_attempt_at"), Some(at(retry).as_str()));
    assert_eq!(number(&item, "attempts"), Some(1));
    assert_eq!(open_problems(&fresh).await, Some(1));
}

#[tokio::test]
async fn given_an_open_problem_when_seen_again_then_its_attempts_count_its_first_sighting_stays_and_the_count_does_not_move()
 {
    let fresh = Fresh::tables().await;
    let store = store(&fresh);
    let first = Utc::now().trunc_subsecs(0) - Duration::hours(2);
    let mut earlier = problem(Direction::Import, "e-1", "first cause");
    earlier.first_seen_at = first;
    earlier.last_seen_at = first;
    earlier.next_attempt_at = Some(first + Duration::hours(1));
    store.record(&fresh.tenant, &earlier).await.unwrap();

    let mut again = problem(Direction::Import, "e-1", "second cause");
    again.code = Code::GraphRejected;
    let again = Problem {
        last_seen_at: again.last_seen_at.trunc_subsecs(0),
        ..again
    };
    let stored = store.record(&fresh.tenant, &again).await.unwrap();
    let third = store.record(&fresh.tenant, &again).await.unwrap();

    assert_eq!(stored.attempts, 2);
    assert_eq!(third.attempts, 3);
    assert_eq!(stored.first_seen_at, first);
    assert_eq!(stored.last_seen_at, again.last_seen_at);
    assert_eq!(stored.reason, "second cause");
    assert_eq!(stored.code, Code::GraphRejected);
    let item = fresh
        .get(&fresh.tables.integrations, "ENTRA#PROBLEM#import#user#e-1")
        .await
        .unwrap();
    // Seen again without a retry time: it waits for its object to change.
    assert!(!item.contains_key("next_attempt_at"), "{item:?}");
    assert_eq!(open_problems(&fresh).await, Some(1));
}

/// A write that may have reached Entra ID stays so until the problem
/// goes: a later attempt that failed before writing does not undo it.
#[tokio::test]
async fn given_a_write_that_may_have_reached_entra_then_a_later_attempt_does_not_undo_it() {
    let fresh = Fresh::tables().await;
    let store = store(&fresh);
    let lost = problem(Direction::Export, "am-2", "504").write_unconfirmed(true);
    store.record(&fresh.tenant, &lost).await.unwrap();
    let unsent = problem(Direction::Export, "am-2", "429 on a read").write_unconfirmed(false);
    let stored = store.record(&fresh.tenant, &unsent).await.unwrap();
    assert_eq!(stored.write_unconfirmed, Some(true));

    let read_only = problem(Direction::Export, "am-3", "429 on a read").write_unconfirmed(false);
    let stored = store.record(&fresh.tenant, &read_only).await.unwrap();
    assert_eq!(stored.write_unconfirmed, Some(false));
}

#[tokio::test]
async fn given_one_new_problem_recorded_twice_at_once_then_one_write_opens_it_and_the_count_moves_once()
 {
    let fresh = Fresh::tables().await;
    let (a, b) = two_writers(&fresh).await;
    let new = problem(Direction::Export, "am-1", "taken");

    let (first, second) =
        tokio::join!(a.record(&fresh.tenant, &new), b.record(&fresh.tenant, &new));

    let mut attempts = [first.unwrap().attempts, second.unwrap().attempts];
    attempts.sort();
    assert_eq!(attempts, [1, 2]);
    assert_eq!(open_problems(&fresh).await, Some(1));
}

#[tokio::test]
async fn given_problems_when_resolved_then_only_an_open_one_is_removed_and_counted_once_even_at_once()
 {
    let fresh = Fresh::tables().await;
    let (a, b) = two_writers(&fresh).await;
    let open = problem(Direction::Export, "am-1", "taken");
    a.record(&fresh.tenant, &open).await.unwrap();
    a.record(&fresh.tenant, &problem(Direction::Export, "am-2", "taken"))
        .await
        .unwrap();
    assert_eq!(open_problems(&fresh).await, Some(2));

    let (first, second) = tokio::join!(
        a.resolve(&fresh.tenant, &open.key),
        b.resolve(&fresh.tenant, &open.key)
    );
    let never_open = problem_key(Direction::Import, ObjectKind::User, "am-1");
    let unknown = a.resolve(&fresh.tenant, &never_open).await.unwrap();

    let mut answers = [first.unwrap(), second.unwrap()];
    answers.sort();
    assert_eq!(answers, [false, true]);
    assert!(!unknown);
    assert!(
        fresh
            .get(&fresh.tables.integrations, "ENTRA#PROBLEM#export#user#am-1")
            .await
            .is_none()
    );
    assert_eq!(open_problems(&fresh).await, Some(1));
}

#[tokio::test]
async fn given_problems_of_both_directions_when_listed_and_counted_then_each_direction_lists_its_own_across_query_pages()
 {
    let fresh = Fresh::tables().await;
    let store = store(&fresh);
    // About 150 KB a reason: eight items span more than one Query page (1 MB).
    let long = "x".repeat(150_000);
    for n in 0..8 {
        let id = format!("am-{n}");
        store
            .record(&fresh.tenant, &problem(Direction::Export, &id, &long))
            .await
            .unwrap();
    }
    let mut membership = problem(Direction::Import, "g1#u1", "missing");
    membership.key.kind = ObjectKind::Membership;
    membership.operation = Operation::AddMember;
    membership.code = Code::DependencyMissing;
    store.record(&fresh.tenant, &membership).await.unwrap();
    // Items beside them that are not problems.
    fresh
        .put(
            &fresh.tables.integrations,
            "ENTRA#PREVIEW",
            json!({"result": "ok"}),
        )
        .await;

    let exported = store.open(&fresh.tenant, Direction::Export).await.unwrap();
    let imported = store.open(&fresh.tenant, Direction::Import).await.unwrap();
    let count = store.count(&fresh.tenant).await.unwrap();

    let ids: Vec<&str> = exported.iter().map(|p| p.key.object_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "am-0", "am-1", "am-2", "am-3", "am-4", "am-5", "am-6", "am-7"
        ]
    );
    assert!(exported.iter().all(|p| p.reason.len() == 150_000));
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].key, membership.key);
    assert_eq!(imported[0].operation, Operation::AddMember);
    assert_eq!(count, 9);
}

#[tokio::test]
async fn given_a_problem_item_written_with_defaults_missing_then_it_reads_with_them_and_a_broken_one_is_named()
 {
    let fresh = Fresh::tables().await;
    let store = store(&fresh);
    // An item with only what a problem needs: one attempt, seen now, shown by its id.
    fresh
        .put(
            &fresh.tables.integrations,
            "ENTRA#PROBLEM#import#group#e-9",
            json!({"operation": "update", "code": "invalid_object"}),
        )
        .await;

    let listed = store.open(&fresh.tenant, Direction::Import).await.unwrap();

    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].display, "e-9");
    assert_eq!(listed[0].attempts, 1);
    assert_eq!(listed[0].first_seen_at, listed[0].last_seen_at);
    assert_eq!(listed[0].next_attempt_at, None);

    fresh
        .put(
            &fresh.tables.integrations,
            "ENTRA#PROBLEM#import#user#e-10",
            json!({"operation": "update", "code": "no_such_code"}),
        )
        .await;
    match store.open(&fresh.tenant, Direction::Import).await {
        Err(StoreError::Malformed { detail, .. }) => {
            assert!(
                detail.contains("ENTRA#PROBLEM#import#user#e-10"),
                "{detail}"
            );
            assert!(detail.contains("no_such_code"), "{detail}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}
