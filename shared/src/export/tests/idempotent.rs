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
    change("REMOVE", sk, old, json!({}))
}

fn posts(entra: &RecordingEntra, what: &str) -> usize {
    entra.calls().iter().filter(|c| *c == what).count()
}

#[tokio::test]
async fn given_a_group_whose_create_answer_was_lost_then_the_retry_links_it_and_creates_no_second()
{
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    entra
        .marks
        .lock()
        .unwrap()
        .insert("g-lost".into(), "acme/GROUP#g1".into());
    let group = json!({"group_id": "g1", "name": "Team", "source": "local"});
    let change = insert(&directory, "GROUP#g1", group);
    let outcome = export(&directory, &entra, &change).await.unwrap();
    assert_eq!(
        outcome.exported(),
        Some("group found by its mark and linked")
    );
    assert_eq!(posts(&entra, "POST group"), 0, "{:?}", entra.calls());
    let item = directory.0.lock().unwrap()["GROUP#g1"].clone();
    assert_eq!(item["entra_id"], "g-lost");
    assert_eq!(item[ENTRA_ORIGIN], "created");
}

#[tokio::test]
async fn given_a_user_renamed_before_the_retry_then_its_marked_user_is_linked_and_renamed() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    lost_user(&entra, "old@contoso.com");
    // The platform renamed the user before the create was tried again.
    let change = insert(&directory, "USER#p1", platform_user());
    let outcome = export(&directory, &entra, &change).await.unwrap();
    assert_eq!(outcome.exported(), Some("user updated"));
    assert_eq!(posts(&entra, "POST user"), 0, "{:?}", entra.calls());
    let body = first_body(&entra);
    assert_eq!(body["userPrincipalName"], "ann@contoso.com", "{body}");
    let item = directory.0.lock().unwrap()["USER#p1"].clone();
    assert_eq!(item["entra_id"], "e-lost");
    assert_eq!(item[ENTRA_ORIGIN], "created");
    let linked: UserItem = serde_json::from_value(Value::Object(item)).unwrap();
    assert!(linked.agrees_with_entra(), "the rename went out");
}

#[tokio::test]
async fn given_a_user_deleted_before_its_link_was_recorded_then_its_marked_user_is_deleted() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    lost_user(&entra, "ann@contoso.com");
    let outcome = export(&directory, &entra, &removed("USER#p1", platform_user()))
        .await
        .unwrap();
    assert_eq!(
        outcome.exported(),
        Some("user found by its mark and deleted")
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
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
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
    let (plan, outcome) = replay(&directory, &entra, &problem).await.unwrap();
    assert_eq!(plan, ExportPlan::DeleteMarked(EntraObjectKind::Group));
    assert_eq!(
        outcome.exported(),
        Some("group found by its mark and deleted")
    );
    assert!(entra.calls().contains(&"DELETE group g-lost".to_owned()));
}

#[tokio::test]
async fn given_an_imported_object_never_linked_then_its_removal_asks_nothing_of_entra() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let imported = json!({"user_id": "e9", "user_name": "bob@contoso.com", "source": "entra"});
    let outcome = export(&directory, &entra, &removed("USER#e9", imported))
        .await
        .unwrap();
    assert!(matches!(outcome, ExportOutcome::Ignored(_)), "{outcome:?}");
    assert!(entra.calls().is_empty(), "{:?}", entra.calls());
}

/// The intent to create, as a lost create left it `minutes_ago`.
fn create_began(directory: &MemoryItemDirectory, sk: &str, minutes_ago: i64) {
    let began = chrono::Utc::now() - chrono::TimeDelta::minutes(minutes_ago);
    directory.2.lock().unwrap().insert(sk.into(), began);
}

/// Found by the export simulation (27 of 2,000 seeds): a create whose
/// answer was lost, retried while Graph did not show the new object yet
/// (replication lag), found nothing by its mark and made a second one.
#[tokio::test]
async fn given_a_create_begun_moments_ago_and_not_visible_yet_then_the_retry_waits_rather_than_create_twice()
 {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    create_began(&directory, "GROUP#g1", 1);
    let group = json!({"group_id": "g1", "name": "Team", "source": "local"});
    let change = insert(&directory, "GROUP#g1", group);
    let config = exporting().build();
    let run = ExportRun::new(&directory, &entra, &config);
    let failure = run.apply(&change).await.unwrap_err();
    assert!(
        matches!(failure, ExportFailure::NotYet(_)),
        "it passes by itself: {failure}"
    );
    assert_eq!(
        failure.problem(),
        Some((Code::DependencyMissing, true)),
        "{failure}"
    );
    assert_eq!(posts(&entra, "POST group"), 0, "{:?}", entra.calls());

    // Past the window, nothing found by the mark is the truth: it is made.
    create_began(&directory, "GROUP#g1", 6);
    let outcome = run.apply(&change).await.unwrap();
    assert_eq!(outcome.exported(), Some("group created"));
    assert_eq!(posts(&entra, "POST group"), 1);
}

#[tokio::test]
async fn given_a_first_create_then_its_intent_is_recorded_before_the_post() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let change = insert(&directory, "USER#p1", platform_user());
    let before = chrono::Utc::now();
    export(&directory, &entra, &change).await.unwrap();
    let began = directory.2.lock().unwrap()["USER#p1"];
    assert!(began >= before, "dated with the run: {began}");
    // A second record of the same create, delivered again at once, finds
    // the link and asks Graph nothing.
    let again = export(&directory, &entra, &change).await.unwrap();
    assert_eq!(again, ExportOutcome::Ignored("already linked to Entra ID"));
}

/// Found by the export simulation: an AM object deleted while its
/// just-created Entra object was not visible yet found nothing to delete,
/// and the Entra object stayed for good.
#[tokio::test]
async fn given_an_object_deleted_while_its_create_is_not_visible_yet_then_the_delete_waits() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    create_began(&directory, "GROUP#g1", 1);
    let gone = json!({"group_id": "g1", "name": "Team", "source": "local"});
    let failure = export(&directory, &entra, &removed("GROUP#g1", gone))
        .await
        .unwrap_err();
    assert!(matches!(failure, ExportFailure::NotYet(_)), "{failure}");

    // Linked, but the GET of its mark meets Graph's 404 of a new object.
    let entra = RecordingEntra {
        updates_not_found: true,
        ..Default::default()
    };
    let linked = json!({"group_id": "g1", "name": "Team", "source": "local",
        "entra_id": "g-new", ENTRA_ORIGIN: "created"});
    let failure = export(&directory, &entra, &removed("GROUP#g1", linked.clone()))
        .await
        .unwrap_err();
    assert!(matches!(failure, ExportFailure::NotYet(_)), "{failure}");

    // Past the window a 404 means gone.
    create_began(&directory, "GROUP#g1", 6);
    let outcome = export(&directory, &entra, &removed("GROUP#g1", linked))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ExportOutcome::Ignored("the Entra group is already gone")
    );
}

#[tokio::test]
async fn given_graph_refuses_a_create_then_its_intent_is_forgotten_and_the_next_change_posts_at_once()
 {
    let (directory, entra) = (
        MemoryItemDirectory::default(),
        RecordingEntra {
            group_create_refused: true,
            ..Default::default()
        },
    );
    let group = json!({"group_id": "g1", "name": "Team", "source": "local"});
    let change = insert(&directory, "GROUP#g1", group);
    let failure = export(&directory, &entra, &change).await.unwrap_err();
    assert_eq!(
        failure.problem(),
        Some((Code::GraphRejected, false)),
        "{failure}"
    );
    assert!(
        directory.2.lock().unwrap().is_empty(),
        "nothing was made: nothing to wait for"
    );
}
