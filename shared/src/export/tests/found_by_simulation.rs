//! Defects the export simulation (`crate::sim::export`) found, each
//! pinned by the smallest case that shows it.

use super::*;
use crate::problems::{Code, Operation};

/// Found by the export simulation (seed 1991): the platform disabled a user
/// and enabled it again before the first record was exported. The first
/// record's export stored the hash of the item as it is now (enabled), so
/// the second record, agreeing with that hash, was ignored; Entra had been
/// sent the first record's value (disabled) and kept it.
#[tokio::test]
async fn given_a_record_whose_change_the_platform_has_set_back_then_entra_gets_the_current_value() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    // entra-sync created it for this AM user: its mark says so.
    entra.mark_as_ours("e1", "acme/USER#p1");
    let current = with_user_hash(json!({"user_id": "p1", "user_name": "ann@contoso.com",
        "display_name": "Ann", "enabled": true, "source": "local", "entra_id": "e1"}));
    put(&directory, "USER#p1", current.clone());
    let mut disabled = current.clone();
    disabled["enabled"] = json!(false);
    let change = change("MODIFY", "USER#p1", current, disabled);
    let outcome = export(&directory, &entra, &change).await.unwrap();
    assert_eq!(outcome.exported(), Some("user updated"));
    let body = first_body(&entra);
    assert_eq!(body["accountEnabled"], true, "{body}");
}

/// Found by the export simulation (seed 3 and many others): the user was
/// created and linked, then adding it to the export group failed. The
/// problem's replay found the user linked and agreeing with Entra ID, and
/// never added it to the export group.
#[tokio::test]
async fn given_the_export_group_add_fails_after_the_create_then_the_replay_adds_the_member() {
    const GROUP: &str = "11111111-1111-4111-8111-111111111111";
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    *entra.members_throttled.lock().unwrap() = true;
    let config = exporting().export_group_id(GROUP).build();
    let change = insert(&directory, "USER#p1", platform_user());
    let run = ExportRun::new(&directory, &entra, &config);
    let failure = run.apply(&change).await.unwrap_err();
    assert!(failure.is_retryable(), "{failure}");
    *entra.members_throttled.lock().unwrap() = false;
    let problem = user_problem(
        "p1",
        Operation::Create,
        Code::RetriesExhausted,
        failure.to_string(),
    );
    run.replay(&acme(), &problem).await.unwrap();
    let added = format!("ADD {GROUP} e-new");
    let adds = entra.calls().iter().filter(|c| **c == added).count();
    assert_eq!(adds, 2, "tried, then added: {:?}", entra.calls());
}

/// Found by the export simulation (seeds 189, 669, 698): a platform edit
/// reached Graph moments after the create, before the new object was
/// visible; Graph's 404 was parked as `graph_rejected`, which waits for the
/// object to change, so the edit never reached Entra ID.
#[tokio::test]
async fn given_an_update_of_an_object_not_visible_yet_then_it_passes_by_itself() {
    let directory = MemoryItemDirectory::default();
    let entra = RecordingEntra {
        updates_not_found: true,
        ..Default::default()
    };
    let linked = json!({"user_id": "p1", "user_name": "ann@contoso.com", "display_name": "Ann", "source": "local", "entra_id": "e1"});
    let mut renamed = linked.clone();
    renamed["display_name"] = json!("Ann B");
    put(&directory, "USER#p1", renamed.clone());
    let change = change("MODIFY", "USER#p1", linked, renamed);
    let failure = export(&directory, &entra, &change).await.unwrap_err();
    assert_eq!(
        failure.problem(),
        Some((Code::DependencyMissing, true)),
        "{failure}"
    );
}

/// Found by the export simulation (seed 229): a record changed the display
/// name; by the time it was exported the platform had renamed the user
/// too. Only the display name was sent, yet the stored hash covered the
/// new UPN: the open problem's replay then found the user agreeing with
/// Entra ID, and the rename never reached it.
#[tokio::test]
async fn given_a_field_changed_since_the_record_then_the_update_sends_it_too() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    // entra-sync created it for this AM user: its mark says so.
    entra.mark_as_ours("e1", "acme/USER#p1");
    let linked = json!({"user_id": "p1", "user_name": "ann@contoso.com", "display_name": "Ann", "source": "local", "entra_id": "e1"});
    let mut seen = linked.clone();
    seen["display_name"] = json!("Ann B");
    let mut now = seen.clone();
    now["user_name"] = json!("ann.b@contoso.com");
    put(&directory, "USER#p1", now);
    let change = change("MODIFY", "USER#p1", linked, seen);
    export(&directory, &entra, &change).await.unwrap();
    let body = first_body(&entra);
    assert_eq!(
        (&body["displayName"], &body["userPrincipalName"]),
        (&json!("Ann B"), &json!("ann.b@contoso.com")),
        "{body}"
    );
}

/// Found by the export simulation (seeds 1553, 1962): a rename onto a UPN
/// that another AM user's Entra user still held (that user's own rename
/// was still on the stream) was parked as `graph_rejected`, which waits for
/// this user to change: the rename never reached Entra ID.
#[tokio::test]
async fn given_a_rename_onto_a_upn_entra_sync_holds_for_another_object_then_it_passes_by_itself() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    // entra-sync created it for this AM user: its mark says so.
    entra.mark_as_ours("e-1", "acme/USER#p1");
    let holder = json!({"id": "e-2", "userPrincipalName": "bob@contoso.com", MARK: "acme/USER#p2"});
    entra
        .existing_upns
        .lock()
        .unwrap()
        .insert("bob@contoso.com".into(), obj(holder));
    let linked = json!({"user_id": "p1", "user_name": "ann@contoso.com", "source": "local", "entra_id": "e-1"});
    let mut renamed = linked.clone();
    renamed["user_name"] = json!("bob@contoso.com");
    put(&directory, "USER#p1", renamed.clone());
    let change = change("MODIFY", "USER#p1", linked, renamed);
    let failure = export(&directory, &entra, &change).await.unwrap_err();
    assert_eq!(
        failure.problem(),
        Some((Code::EntraObjectExists, true)),
        "{failure}"
    );
    assert!(
        failure.to_string().contains("another AM object (USER#p2)"),
        "{failure}"
    );
}

/// Found by the export simulation (seed 700): a group's rename reached
/// Entra ID but its answer was lost, so the update was parked and the hash
/// kept the old name; the platform then set the old name back. The record
/// agreed with the hash, and so did the replay: Entra kept the new name.
#[tokio::test]
async fn given_a_parked_update_whose_values_agree_with_the_hash_then_its_replay_sends_them() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    // entra-sync created it for this AM user: its mark says so.
    entra.mark_as_ours("e1", "acme/USER#p1");
    let user = json!({"user_id": "p1", "user_name": "ann@contoso.com", "display_name": "Ann", "source": "local", "entra_id": "e1"});
    put(&directory, "USER#p1", with_user_hash(user));
    let problem = user_problem(
        "p1",
        Operation::Update,
        Code::RetriesExhausted,
        "updating the user: 504 GatewayTimeout".into(),
    );
    let (_, outcome) = replay(&directory, &entra, &problem).await.unwrap();
    assert_eq!(outcome.exported(), Some("user updated"));
    let body = first_body(&entra);
    assert_eq!(body["displayName"], "Ann", "{body}");
}

/// Found by the export simulation (seed 828 with `ENTRA_SYNC_SIM_FAULTS=calm`):
/// an imported user was renamed on the platform, and a platform user took
/// its old user_name before the rename reached Entra ID. With adoption on,
/// the export adopted the imported user's Entra account for the platform
/// user, and deleted it when the platform user was deleted: the import
/// then lost the imported user too.
#[tokio::test]
async fn given_an_entra_user_already_imported_as_another_am_user_then_it_is_not_adopted() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let account = json!({"id": "e-9", "userPrincipalName": "ann@contoso.com", "displayName": "Ann", "accountEnabled": true});
    entra
        .existing_upns
        .lock()
        .unwrap()
        .insert("ann@contoso.com".into(), obj(account));
    put(
        &directory,
        "USER#e-9",
        json!({"user_id": "e-9", "user_name": "ann.renamed@contoso.com", "source": "entra"}),
    );
    let change = insert(&directory, "USER#p1", platform_user());
    let config = exporting().export_adopt_existing(true).build();
    let failure = ExportRun::new(&directory, &entra, &config)
        .apply(&change)
        .await
        .unwrap_err();
    assert_eq!(
        failure.problem(),
        Some((Code::EntraObjectExists, true)),
        "{failure}"
    );
    let writes: Vec<String> = entra
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("PATCH") || c.starts_with("ADD"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

/// Found by the export simulation (23 seeds, 28 after the creates became
/// idempotent): the platform deleted an imported user and its membership
/// of a platform group. The membership's REMOVE found no Entra id for the
/// user, gone from AM, and was ignored ("a deleted user takes its
/// memberships with it", true only of the export's own): Entra kept the
/// member. An imported user's AM id is its Entra id.
#[tokio::test]
async fn given_an_imported_user_deleted_with_its_membership_then_the_member_is_removed_in_entra() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    entra.mark_as_ours("g-1", "acme/GROUP#g1");
    let group = json!({"group_id": "g1", "name": "Team", "source": "local",
        "entra_id": "g-1", ENTRA_ORIGIN: "created"});
    put(&directory, "GROUP#g1", group);
    let change = change(
        "REMOVE",
        "MEMBER#g1#e9",
        json!({"group_id": "g1", "user_id": "e9"}),
        json!({}),
    );
    let outcome = export(&directory, &entra, &change).await.unwrap();
    assert_eq!(outcome.exported(), Some("member removed"));
    assert!(
        entra.calls().contains(&"REMOVE g-1 e9".to_owned()),
        "{:?}",
        entra.calls()
    );
}

/// Found by the export simulation (seeds 110, 530, 668, 1064, 1806): an
/// update refused for good (here an administrator's) and then set back by
/// the platform. The second record agreed with the stored hash and was
/// ignored without reading the problems, and a replay sent the update
/// again (a parked update may have reached Entra ID: one refused never
/// did), so the problem stayed open.
#[tokio::test]
async fn given_a_refused_update_set_back_by_the_platform_then_its_problem_settles() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let agreed = with_user_hash(json!({"user_id": "p1", "user_name": "ann@contoso.com",
        "display_name": "Ann", "enabled": true, "source": "local", "entra_id": "e1"}));
    put(&directory, "USER#p1", agreed.clone());
    let mut refused = agreed.clone();
    refused["display_name"] = json!("Ann B");
    let set_back = change("MODIFY", "USER#p1", refused, agreed);
    assert_eq!(set_back.plan(), ExportPlan::Ignore(change::SET_BACK));

    let problem = user_problem(
        "p1",
        Operation::Update,
        Code::PrivilegedAccount,
        "the Entra user ann@contoso.com is an administrator".into(),
    );
    let (_, outcome) = replay(&directory, &entra, &problem).await.unwrap();
    assert!(matches!(outcome, ExportOutcome::Ignored(_)), "{outcome:?}");
    assert!(entra.calls().is_empty(), "{:?}", entra.calls());
}

/// Found by the export simulation (seed 24819 of a deep run): the platform
/// disabled an imported user, Entra applied it but the answer was lost
/// (parked), then the platform enabled it again. The set-back found the
/// item agreeing with the stored hash and the replay took an imported
/// object "as Entra ID has it": Entra kept the user disabled.
#[tokio::test]
async fn given_an_imported_user_set_back_after_a_lost_update_then_the_replay_sends_its_values() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let set_back = with_user_hash(json!({"user_id": "e1", "user_name": "bo@contoso.com",
        "enabled": true, "source": "entra"}));
    insert(&directory, "USER#e1", set_back);
    let lost = user_problem(
        "e1",
        Operation::Update,
        Code::RetriesExhausted,
        "updating the user: 504".into(),
    );
    let (_, outcome) = replay(&directory, &entra, &lost).await.unwrap();
    assert_eq!(outcome.exported(), Some("user updated"));
    let body = first_body(&entra);
    assert_eq!(body["accountEnabled"], true, "{body}");
}

/// Found by the export simulation (seed 13928 of a deep run): the platform
/// edited an imported administrator; the administrator check went
/// unanswered (parked, nothing sent), and the platform set the value back.
/// Every parked update that ran out counted as "may have reached Entra", so
/// the set-back was sent, refused as `privileged_account`, and that problem
/// stayed with nothing left to do. A problem now says whether a write of it
/// may have gone.
#[tokio::test]
async fn given_a_set_back_after_an_update_parked_before_any_write_then_the_problem_settles() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    entra.administrators.lock().unwrap().push("e1".into());
    let set_back = with_user_hash(json!({"user_id": "e1", "user_name": "bo@contoso.com",
        "enabled": true, "source": "entra"}));
    insert(&directory, "USER#e1", set_back);
    let unanswered = ExportFailure::Graph {
        action: "reading the user's directory roles",
        write: false,
        source: GraphError::Exhausted {
            attempts: 5,
            last: "429".into(),
        },
    };
    assert!(!unanswered.may_have_written(), "a read sends nothing");
    let parked = user_problem(
        "e1",
        Operation::Update,
        Code::RetriesExhausted,
        unanswered.to_string(),
    )
    .write_unconfirmed(unanswered.may_have_written());
    let (_, outcome) = replay(&directory, &entra, &parked).await.unwrap();
    assert!(matches!(outcome, ExportOutcome::Ignored(_)), "{outcome:?}");
    assert!(entra.bodies.lock().unwrap().is_empty(), "nothing sent");
}
