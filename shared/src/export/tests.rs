//! The export engine against an in-memory directory and a recording Entra.

use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::*;
use crate::model::TenantId;
use crate::model::directory::{ENTRA_HASH, ENTRA_ORIGIN, SyncedObject, UserItem};
use crate::problems::{Code, Direction, ObjectKind, Operation, Problem, ProblemKey};
use crate::testing::export_directory::MemoryItemDirectory;
use crate::testing::recording_entra::{MARK, RecordingEntra};
use crate::testing::tenant_config::exporting;

mod batch;
mod deletes;
mod deprovisioning;
mod events;
mod found_by_simulation;
mod idempotent;
mod manager;
mod mappings;
mod memberships;
mod ownership;

pub(super) fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn insert(directory: &MemoryItemDirectory, sk: &str, item: Value) -> DirectoryChange {
    directory
        .0
        .lock()
        .unwrap()
        .insert(sk.into(), obj(item.clone()));
    DirectoryChange::parse(
        "INSERT",
        &obj(json!({"pk": "TENANT#acme", "sk": sk})),
        Map::new(),
        obj(item),
        "1".into(),
        Some(chrono::Utc::now()),
    )
    .unwrap()
    .unwrap()
}

/// A stream record of `sk` in tenant acme, from `old` to `new` (`{}` for
/// none).
pub(super) fn change(event: &str, sk: &str, old: Value, new: Value) -> DirectoryChange {
    DirectoryChange::parse(
        event,
        &obj(json!({"pk": "TENANT#acme", "sk": sk})),
        obj(old),
        obj(new),
        "1".into(),
        None,
    )
    .unwrap()
    .unwrap()
}

/// `item` in the table at `sk`, as the platform (or an earlier export)
/// left it.
fn put(directory: &MemoryItemDirectory, sk: &str, item: Value) {
    directory.0.lock().unwrap().insert(sk.into(), obj(item));
}

/// `user` with the hash of its attributes, as the export or import that
/// last agreed with Entra ID stored it.
fn with_user_hash(mut user: Value) -> Value {
    let item: UserItem = serde_json::from_value(user.clone()).unwrap();
    user[ENTRA_HASH] = json!(EntraHash::of_user(&item.attributes).as_str());
    user
}

/// The export's open problem of user `object_id`.
fn user_problem(object_id: &str, operation: Operation, code: Code, detail: String) -> Problem {
    Problem::new(
        ProblemKey {
            direction: Direction::Export,
            kind: ObjectKind::User,
            object_id: object_id.into(),
        },
        operation,
        code,
        detail,
    )
}

/// `change` exported with the default export config.
async fn export(
    directory: &MemoryItemDirectory,
    entra: &RecordingEntra,
    change: &DirectoryChange,
) -> Result<ExportOutcome, ExportFailure> {
    ExportRun::new(directory, entra, &exporting().build())
        .apply(change)
        .await
}

/// Tenant acme's `problem` replayed with the default export config.
async fn replay(
    directory: &MemoryItemDirectory,
    entra: &RecordingEntra,
    problem: &Problem,
) -> Result<(ExportPlan, ExportOutcome), ExportFailure> {
    ExportRun::new(directory, entra, &exporting().build())
        .replay(&acme(), problem)
        .await
}

/// The first body the export sent to Graph.
fn first_body(entra: &RecordingEntra) -> Value {
    entra.bodies.lock().unwrap()[0].clone()
}

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn platform_user() -> Value {
    json!({"user_id": "p1", "user_name": "ann@contoso.com", "display_name": "Ann", "enabled": true, "source": "local"})
}

#[tokio::test]
async fn given_a_platform_user_then_it_is_created_with_a_temporary_password_linked_and_joins_the_export_group()
 {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let config = exporting()
        .export_group_id("11111111-1111-4111-8111-111111111111")
        .build();
    let change = insert(&directory, "USER#p1", platform_user());
    let outcome = ExportRun::new(&directory, &entra, &config)
        .apply(&change)
        .await
        .unwrap();
    assert_eq!(outcome.exported(), Some("user created"));
    assert_eq!(
        entra.calls(),
        vec![
            "GET user by mark acme/USER#p1",
            "GET domains",
            "POST user",
            "GET group roles 11111111-1111-4111-8111-111111111111",
            "ADD 11111111-1111-4111-8111-111111111111 e-new"
        ]
    );
    let body = first_body(&entra);
    assert_eq!(
        body["passwordProfile"]["forceChangePasswordNextSignIn"],
        true
    );
    assert!(body["passwordProfile"]["password"].as_str().unwrap().len() >= 16);
    assert_eq!(body["mailNickname"], "ann");
    assert_eq!(body["accountEnabled"], true);
    assert_eq!(
        body[MARK], "acme/USER#p1",
        "marked as ours in the create itself"
    );
    let item = directory.0.lock().unwrap()["USER#p1"].clone();
    assert_eq!(item["entra_id"], "e-new");
    assert_eq!(item[ENTRA_ORIGIN], "created");
    assert!(item.contains_key(ENTRA_HASH));

    // The same record again: nothing is created twice.
    let outcome = ExportRun::new(&directory, &entra, &config)
        .apply(&change)
        .await
        .unwrap();
    assert!(matches!(outcome, ExportOutcome::Ignored(_)));
    assert_eq!(
        entra.calls().iter().filter(|c| *c == "POST user").count(),
        1
    );
}

#[tokio::test]
async fn given_an_unverified_or_unlisted_domain_then_the_record_fails_for_good_with_the_reason() {
    use crate::problems::Code;
    for (upn, config, expected, code) in [
        (
            "bob@pending.contoso.com",
            exporting().build(),
            "pending.contoso.com is not a verified domain",
            Code::UnverifiedDomain,
        ),
        (
            "bob@elsewhere.org",
            exporting().build(),
            "elsewhere.org is not a verified domain",
            Code::UnverifiedDomain,
        ),
        (
            "bob@fed.contoso.com",
            exporting().domains(&["contoso.com"]).build(),
            "fed.contoso.com is not among the domains this tenant synchronises",
            Code::DomainNotInScope,
        ),
    ] {
        let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
        let change = insert(
            &directory,
            "USER#p2",
            json!({"user_id": "p2", "user_name": upn}),
        );
        let err = ExportRun::new(&directory, &entra, &config)
            .apply(&change)
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{err:?}");
        assert_eq!(err.problem(), Some((code, false)), "waits for a change");
        let reason = err.to_string();
        assert!(reason.contains(expected), "{reason}");
        assert!(!entra.calls().contains(&"POST user".to_owned()));
    }
}

#[tokio::test]
async fn given_a_federated_domain_then_the_immutable_id_is_set() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let change = insert(
        &directory,
        "USER#p3",
        json!({"user_id": "p3", "user_name": "cy@fed.contoso.com"}),
    );
    export(&directory, &entra, &change).await.unwrap();
    let body = first_body(&entra);
    let anchor = body["onPremisesImmutableId"].as_str().unwrap();
    assert!(!anchor.contains('$') && !anchor.contains('_'));
}

#[tokio::test]
async fn given_a_membership_whose_user_is_not_exported_yet_then_it_is_a_problem_that_passes_by_itself()
 {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    entra.mark_as_ours("eg1", "acme/GROUP#g1");
    entra.mark_as_ours("eu1", "acme/USER#p1");
    directory.0.lock().unwrap().insert(
        "GROUP#g1".into(),
        obj(json!({"group_id": "g1", "entra_id": "eg1"})),
    );
    directory
        .0
        .lock()
        .unwrap()
        .insert("USER#p1".into(), obj(json!({"user_id": "p1"})));
    let change = insert(
        &directory,
        "MEMBER#g1#p1",
        json!({"group_id": "g1", "user_id": "p1"}),
    );
    let config = exporting().build();
    let run = ExportRun::new(&directory, &entra, &config);
    let err = run.apply(&change).await.unwrap_err();
    assert_eq!(
        err.problem(),
        Some((crate::problems::Code::DependencyMissing, true))
    );
    assert!(
        err.to_string()
            .contains("the user p1 is not in Entra ID yet"),
        "{err}"
    );
    directory
        .0
        .lock()
        .unwrap()
        .get_mut("USER#p1")
        .unwrap()
        .insert("entra_id".into(), json!("eu1"));
    assert_eq!(
        run.apply(&change).await.unwrap().exported(),
        Some("member added")
    );
    assert!(entra.calls().contains(&"ADD eg1 eu1".to_owned()));
}

#[tokio::test]
async fn given_export_switched_off_then_nothing_is_sent() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let change = insert(&directory, "USER#p1", platform_user());
    let outcome = ExportRun::new(&directory, &entra, &exporting().export_users(false).build())
        .apply(&change)
        .await
        .unwrap();
    assert!(matches!(outcome, ExportOutcome::Ignored(_)));
    assert!(entra.calls().is_empty());
}

#[tokio::test]
async fn given_a_parked_edit_of_an_imported_user_then_its_replay_exports_it() {
    use crate::problems::{Direction, ObjectKind, Operation, Problem, ProblemKey};
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let imported = json!({"user_id": "e1", "user_name": "bo@contoso.com", "source": "entra"});
    let item: UserItem = serde_json::from_value(imported.clone()).unwrap();
    let mut edited = imported;
    edited["job_title"] = json!("Platform title");
    edited[ENTRA_HASH] = json!(EntraHash::of_user(&item.attributes).as_str());
    insert(&directory, "USER#e1", edited);
    let problem = Problem::new(
        ProblemKey {
            direction: Direction::Export,
            kind: ObjectKind::User,
            object_id: "e1".into(),
        },
        Operation::Update,
        crate::problems::Code::RetriesExhausted,
        "throttled".into(),
    );
    let config = exporting().build();
    let (_, outcome) = ExportRun::new(&directory, &entra, &config)
        .replay(&TenantId::parse("acme").unwrap(), &problem)
        .await
        .unwrap();
    assert_eq!(outcome.exported(), Some("user updated"));
    assert_eq!(
        entra.calls(),
        vec!["GET domains", "GET roles e1", "PATCH user e1"]
    );
}
