//! A create is idempotent once its answer is lost (a Graph timeout, or a
//! kill or an AWS failure between the POST and the link record): the
//! export finds the object it made by its mark, never makes a second one,
//! and deletes it when the AM object is gone before the link was recorded.

use super::*;
use crate::problems::{Code, Direction, ObjectKind, Operation, Problem, ProblemKey};

/// An Entra user the lost create made: marked for `USER#p1`, as `upn`.
fn lost_user(entra: &RecordingEntra, upn: &str) {
    let user = json!({"id": "e-lost", "userPrincipalName": upn, "displayName": "Ann",
        "accountEnabled": true, MARK: "acme/USER#p1"});
    entra
        .existing_upns
        .lock()
        .unwrap()
        .insert(upn.into(), obj(user));
}

fn removed(sk: &str, old: Value) -> DirectoryChange {
    DirectoryChange::parse(
        "REMOVE",
        &obj(json!({"pk": "TENANT#acme", "sk": sk})),
        obj(old),
        Map::new(),
        "3".into(),
        None,
    )
    .unwrap()
    .unwrap()
}

fn posts(entra: &RecordingEntra, what: &str) -> usize {
    entra.calls().iter().filter(|c| *c == what).count()
}

#[tokio::test]
async fn given_a_group_whose_create_answer_was_lost_then_the_retry_links_it_and_creates_no_second()
{
    let (directory, entra) = (MemoryDirectory::default(), RecordingEntra::default());
    entra
        .marks
        .lock()
        .unwrap()
        .insert("g-lost".into(), "acme/GROUP#g1".into());
    let group = json!({"group_id": "g1", "name": "Team", "source": "local"});
    let change = insert(&directory, "GROUP#g1", group);
    let outcome = ExportRun::new(&directory, &entra, &config(json!({})))
        .apply(&change)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ExportOutcome::Exported("group found by its mark and linked")
    );
    assert_eq!(posts(&entra, "POST group"), 0, "{:?}", entra.calls());
    let item = directory.0.lock().unwrap()["GROUP#g1"].clone();
    assert_eq!(item["entra_id"], "g-lost");
    assert_eq!(item[ENTRA_ORIGIN], "created");
}

#[tokio::test]
async fn given_a_user_renamed_before_the_retry_then_its_marked_user_is_linked_and_renamed() {
    let (directory, entra) = (MemoryDirectory::default(), RecordingEntra::default());
    lost_user(&entra, "old@contoso.com");
    // The platform renamed the user before the create was tried again.
    let change = insert(&directory, "USER#p1", platform_user());
    let outcome = ExportRun::new(&directory, &entra, &config(json!({})))
        .apply(&change)
        .await
        .unwrap();
    assert_eq!(outcome, ExportOutcome::Exported("user updated"));
    assert_eq!(posts(&entra, "POST user"), 0, "{:?}", entra.calls());
    let body = entra.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["userPrincipalName"], "ann@contoso.com", "{body}");
    let item = directory.0.lock().unwrap()["USER#p1"].clone();
    assert_eq!(item["entra_id"], "e-lost");
    assert_eq!(item[ENTRA_ORIGIN], "created");
    let linked: UserItem = serde_json::from_value(Value::Object(item)).unwrap();
    assert!(linked.agrees_with_entra(), "the rename went out");
}

#[tokio::test]
async fn given_a_user_deleted_before_its_link_was_recorded_then_its_marked_user_is_deleted() {
    let (directory, entra) = (MemoryDirectory::default(), RecordingEntra::default());
    lost_user(&entra, "ann@contoso.com");
    let outcome = ExportRun::new(&directory, &entra, &config(json!({})))
        .apply(&removed("USER#p1", platform_user()))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ExportOutcome::Exported("user found by its mark and deleted")
    );
    assert!(entra.calls().contains(&"DELETE user e-lost".to_owned()));
    assert!(
        entra.calls().contains(&"GET roles e-lost".to_owned()),
        "never an administrator: {:?}",
        entra.calls()
    );
}

#[tokio::test]
async fn given_a_parked_create_of_a_group_gone_since_then_the_replay_deletes_its_marked_group() {
    let (directory, entra) = (MemoryDirectory::default(), RecordingEntra::default());
    entra
        .marks
        .lock()
        .unwrap()
        .insert("g-lost".into(), "acme/GROUP#g1".into());
    let problem = Problem::new(
        ProblemKey {
            direction: Direction::Export,
            kind: ObjectKind::Group,
            object_id: "g1".into(),
        },
        Operation::Create,
        Code::RetriesExhausted,
        "creating the group: 504".into(),
    );
    let (plan, outcome) = ExportRun::new(&directory, &entra, &config(json!({})))
        .replay(&TenantId::parse("acme").unwrap(), &problem)
        .await
        .unwrap();
    assert_eq!(plan, ExportPlan::DeleteMarked(EntraObjectKind::Group));
    assert_eq!(
        outcome,
        ExportOutcome::Exported("group found by its mark and deleted")
    );
    assert!(entra.calls().contains(&"DELETE group g-lost".to_owned()));
}

#[tokio::test]
async fn given_an_imported_object_never_linked_then_its_removal_asks_nothing_of_entra() {
    let (directory, entra) = (MemoryDirectory::default(), RecordingEntra::default());
    let imported = json!({"user_id": "e9", "user_name": "bob@contoso.com", "source": "entra"});
    let outcome = ExportRun::new(&directory, &entra, &config(json!({})))
        .apply(&removed("USER#e9", imported))
        .await
        .unwrap();
    assert!(matches!(outcome, ExportOutcome::Ignored(_)), "{outcome:?}");
    assert!(entra.calls().is_empty(), "{:?}", entra.calls());
}
