//! docs/behaviour.md 2.11: a membership is written only between objects the
//! export made or adopted, never for a role-assignable group, and not when
//! Graph does not find one of its ends.

use super::ownership::refusal;
use super::*;
use crate::problems::Code;

/// A linked Entra group `eg1` and user `eu1` (marked as entra-sync's own
/// for them), and the change that adds (or removes) the user to (from) the
/// group.
fn linked_membership(
    directory: &MemoryItemDirectory,
    entra: &RecordingEntra,
    event: &str,
) -> DirectoryChange {
    entra.mark_as_ours("eg1", "acme/GROUP#g1");
    entra.mark_as_ours("eu1", "acme/USER#p1");
    let mut items = directory.0.lock().unwrap();
    items.insert(
        "GROUP#g1".into(),
        obj(json!({"group_id": "g1", "entra_id": "eg1"})),
    );
    items.insert(
        "USER#p1".into(),
        obj(json!({"user_id": "p1", "entra_id": "eu1"})),
    );
    let member = json!({"group_id": "g1", "user_id": "p1"});
    match event {
        "INSERT" => {
            items.insert("MEMBER#g1#p1".into(), obj(member.clone()));
            change("INSERT", "MEMBER#g1#p1", json!({}), member)
        }
        _ => change("REMOVE", "MEMBER#g1#p1", member, json!({})),
    }
}

#[tokio::test]
async fn given_a_role_assignable_group_then_no_member_is_added_or_removed_and_the_problem_names_it()
{
    for event in ["INSERT", "REMOVE"] {
        let directory = MemoryItemDirectory::default();
        let entra = RecordingEntra::default();
        entra.role_assignable.lock().unwrap().push("eg1".into());
        let membership = linked_membership(&directory, &entra, event);
        let err = export(&directory, &entra, &membership).await.unwrap_err();
        assert_eq!(refusal(&err), Code::PrivilegedAccount, "{event}");
        assert!(err.to_string().contains("Admins eg1"), "{err}");
        let calls = entra.calls();
        assert!(
            !calls
                .iter()
                .any(|c| c.starts_with("ADD") || c.starts_with("REMOVE")),
            "{event}: {calls:?}"
        );
    }
}

#[tokio::test]
async fn given_an_ordinary_group_then_its_membership_is_written_after_the_check() {
    let directory = MemoryItemDirectory::default();
    let entra = RecordingEntra::default();
    let membership = linked_membership(&directory, &entra, "INSERT");
    export(&directory, &entra, &membership).await.unwrap();
    assert_eq!(
        entra.calls(),
        vec![
            "GET group mark eg1",
            "GET user mark eu1",
            "GET group roles eg1",
            "ADD eg1 eu1"
        ]
    );
}

/// The review's finding: membership writes did not read the mark, so a
/// platform group's forged `entra_id` made the export add members to (or
/// remove them from) any Entra group, a tenant's "VPN access" say; and a
/// platform user's forged one put any account into a group.
#[tokio::test]
async fn given_a_membership_end_linked_to_an_object_entra_sync_never_made_then_nothing_is_written()
{
    for (forged, event) in [("eg1", "INSERT"), ("eg1", "REMOVE"), ("eu1", "INSERT")] {
        let directory = MemoryItemDirectory::default();
        let entra = RecordingEntra::default();
        let membership = linked_membership(&directory, &entra, event);
        entra.marks.lock().unwrap().remove(forged);
        let err = export(&directory, &entra, &membership).await.unwrap_err();
        assert_eq!(refusal(&err), Code::EntraObjectExists, "{forged} {event}");
        assert!(err.to_string().contains(forged), "{err}");
        let calls = entra.calls();
        assert!(
            !calls
                .iter()
                .any(|c| c.starts_with("ADD") || c.starts_with("REMOVE")),
            "{forged} {event}: {calls:?}"
        );
    }
}

/// Found by review: a membership end whose link Graph does not find as a
/// user (a GET of a user 404s on a group, device or service principal,
/// which a member write takes all the same) let the write through.
#[tokio::test]
async fn given_a_membership_end_graph_does_not_find_then_nothing_is_written() {
    let directory = MemoryItemDirectory::default();
    let entra = RecordingEntra {
        updates_not_found: true,
        ..Default::default()
    };
    let membership = linked_membership(&directory, &entra, "INSERT");
    let err = export(&directory, &entra, &membership).await.unwrap_err();
    assert_eq!(refusal(&err), Code::EntraObjectExists, "{err}");
    assert!(err.to_string().contains("is not found"), "{err}");
    assert!(!entra.calls().iter().any(|c| c.starts_with("ADD")));
}

/// Found by review: a removal through a link Graph does not find (a user
/// deleted in Entra ID) became a problem for good; it removes what there
/// is to remove, as before.
#[tokio::test]
async fn given_a_removal_through_a_link_graph_does_not_find_then_it_is_sent() {
    let directory = MemoryItemDirectory::default();
    let entra = RecordingEntra {
        updates_not_found: true,
        ..Default::default()
    };
    let membership = linked_membership(&directory, &entra, "REMOVE");
    export(&directory, &entra, &membership).await.unwrap();
    assert!(
        entra.calls().iter().any(|c| c.starts_with("REMOVE eg1")),
        "{:?}",
        entra.calls()
    );
}
