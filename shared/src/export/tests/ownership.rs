//! docs/behaviour.md 2.11: the export takes over only what it can prove it created
//! (or what the tenant lets it adopt), and never touches an administrator.

use super::*;
use crate::problems::Code;

fn existing(upn: &str, id: &str, mark: Option<&str>) -> Map<String, Value> {
    let mut user = obj(
        json!({"id": id, "userPrincipalName": upn, "displayName": "Break Glass", "accountEnabled": true}),
    );
    if let Some(mark) = mark {
        user.insert(MARK.into(), json!(mark));
    }
    user
}

fn entra_with(users: Vec<Map<String, Value>>) -> RecordingEntra {
    let entra = RecordingEntra::default();
    for user in users {
        let upn = user["userPrincipalName"].as_str().unwrap().to_owned();
        entra.existing_upns.lock().unwrap().insert(upn, user);
    }
    entra
}

fn refusal(err: &ExportFailure) -> Code {
    match err.problem() {
        Some((code, false)) => code,
        other => panic!("expected a problem that waits for a change, got {other:?} for {err}"),
    }
}

fn writes(entra: &RecordingEntra) -> Vec<String> {
    entra
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("PATCH") || c.starts_with("DELETE"))
        .collect()
}

fn change(event: &str, sk: &str, old: Value, new: Value) -> DirectoryChange {
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

#[tokio::test]
async fn given_an_unmarked_entra_user_with_the_upn_then_it_is_a_problem_and_left_untouched() {
    let directory = MemoryItemDirectory::default();
    let entra = entra_with(vec![existing("ann@contoso.com", "e-9", None)]);
    let change = insert(&directory, "USER#p1", platform_user());
    let err = ExportRun::new(&directory, &entra, &exporting().build())
        .apply(&change)
        .await
        .unwrap_err();
    // Tried again by itself: the account may be renamed or deleted in
    // Entra ID, or adoption allowed, none of which changes the AM user
    // (found by the export simulation, seeds 10981 and 1517).
    assert_eq!(
        err.problem(),
        Some((Code::EntraObjectExists, true)),
        "{err}"
    );
    assert!(err.to_string().contains("ann@contoso.com"), "{err}");
    assert!(err.to_string().contains("export_adopt_existing"), "{err}");
    assert_eq!(
        entra.calls(),
        vec![
            "GET user by mark acme/USER#p1",
            "GET domains",
            "POST user",
            "GET user ann@contoso.com",
            "GET roles e-9"
        ]
    );
    let item = directory.0.lock().unwrap()["USER#p1"].clone();
    assert!(!item.contains_key("entra_id"), "not linked: {item:?}");
}

#[tokio::test]
async fn given_adoption_allowed_then_the_unmarked_user_is_adopted_and_the_link_says_so() {
    {
        let directory = MemoryItemDirectory::default();
        let entra = entra_with(vec![existing("ann@contoso.com", "e-9", None)]);
        let change = insert(&directory, "USER#p1", platform_user());
        let config = exporting().export_adopt_existing(true).build();
        ExportRun::new(&directory, &entra, &config)
            .apply(&change)
            .await
            .unwrap();
        assert_eq!(
            writes(&entra),
            vec!["PATCH user mark e-9", "PATCH user e-9"],
            "marked as adopted for p1; its name differed"
        );
        assert_eq!(entra.marks.lock().unwrap()["e-9"], "acme/USER#p1");
        let item = directory.0.lock().unwrap()["USER#p1"].clone();
        assert_eq!(item["entra_id"], "e-9");
        assert_eq!(item[ENTRA_ORIGIN], "adopted");
    }
}

#[tokio::test]
async fn given_the_create_answer_was_lost_then_the_user_it_made_is_found_by_its_mark_and_linked() {
    let directory = MemoryItemDirectory::default();
    let mut entra = RecordingEntra {
        lose_create_answer: true,
        ..Default::default()
    };
    let change = insert(&directory, "USER#p1", platform_user());
    let config = exporting().build();
    // Graph may have made it: the mark is looked for at once, and finds it
    // (visible at once here; else the record waits, docs/behaviour.md 2.3).
    let run = ExportRun::new(&directory, &entra, &config);
    assert_eq!(
        run.apply(&change).await.unwrap(),
        ExportOutcome::Exported("user found by its mark and linked")
    );
    let posts = entra.calls().iter().filter(|c| *c == "POST user").count();
    assert_eq!(posts, 1, "no second POST: {:?}", entra.calls());
    entra.lose_create_answer = false;
    let item = directory.0.lock().unwrap()["USER#p1"].clone();
    assert_eq!(item["entra_id"], "e-lost");
    assert_eq!(item[ENTRA_ORIGIN], "created", "its own, not adopted");
    assert!(
        writes(&entra).is_empty(),
        "its own values already: {:?}",
        entra.calls()
    );
}

#[tokio::test]
async fn given_a_user_marked_for_another_am_object_then_it_is_not_taken_even_with_adoption() {
    let directory = MemoryItemDirectory::default();
    let entra = entra_with(vec![existing(
        "ann@contoso.com",
        "e-9",
        Some("acme/USER#p-old"),
    )]);
    let change = insert(&directory, "USER#p1", platform_user());
    let config = exporting().export_adopt_existing(true).build();
    let err = ExportRun::new(&directory, &entra, &config)
        .apply(&change)
        .await
        .unwrap_err();
    // Tried again by itself: that object's rename or delete frees the UPN
    // (found by the export simulation, seeds 10, 32, 92 and others).
    assert_eq!(err.problem(), Some((Code::EntraObjectExists, true)));
    assert!(err.to_string().contains("acme/USER#p-old"), "{err}");
    assert!(writes(&entra).is_empty());
}

#[tokio::test]
async fn given_an_administrator_holds_the_upn_then_it_is_privileged_even_with_adoption() {
    let directory = MemoryItemDirectory::default();
    let entra = entra_with(vec![existing("ann@contoso.com", "e-adm", None)]);
    entra.administrators.lock().unwrap().push("e-adm".into());
    let change = insert(&directory, "USER#p1", platform_user());
    let config = exporting().export_adopt_existing(true).build();
    let err = ExportRun::new(&directory, &entra, &config)
        .apply(&change)
        .await
        .unwrap_err();
    assert_eq!(refusal(&err), Code::PrivilegedAccount);
    assert!(err.to_string().contains("Global Administrator"), "{err}");
    assert!(writes(&entra).is_empty());
    assert!(!directory.0.lock().unwrap()["USER#p1"].contains_key("entra_id"));
}

#[tokio::test]
async fn given_an_administrator_then_neither_an_edit_nor_a_disable_nor_a_delete_is_sent() {
    let directory = MemoryItemDirectory::default();
    let entra = RecordingEntra::default();
    entra.administrators.lock().unwrap().push("e-adm".into());
    let config = exporting().build();
    let run = ExportRun::new(&directory, &entra, &config);
    let admin = json!({"user_id": "e-adm", "user_name": "admin@contoso.com", "enabled": true, "source": "entra"});
    for (field, value) in [("job_title", json!("Intern")), ("enabled", json!(false))] {
        let mut edited = admin.clone();
        edited[field] = value;
        // The directory holds the item as the record left it.
        directory
            .0
            .lock()
            .unwrap()
            .insert("USER#e-adm".into(), obj(edited.clone()));
        let err = run
            .apply(&change("MODIFY", "USER#e-adm", admin.clone(), edited))
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), Code::PrivilegedAccount, "{field}");
    }
    // An adopted user who became an administrator since is not deleted.
    let mark = "acme/USER#p9".to_owned();
    entra.marks.lock().unwrap().insert("e-adm".into(), mark);
    let adopted = json!({"user_id": "p9", "user_name": "p9@contoso.com", "entra_id": "e-adm", "sync_entra_origin": "adopted"});
    let err = run
        .apply(&change("REMOVE", "USER#p9", adopted, json!({})))
        .await
        .unwrap_err();
    assert_eq!(refusal(&err), Code::PrivilegedAccount);
    assert!(writes(&entra).is_empty(), "{:?}", entra.calls());
}

#[tokio::test]
async fn given_a_platform_group_then_it_is_created_marked_and_its_link_says_the_export_made_it() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let change = insert(
        &directory,
        "GROUP#g1",
        json!({"group_id": "g1", "name": "Sales", "source": "local"}),
    );
    ExportRun::new(&directory, &entra, &exporting().build())
        .apply(&change)
        .await
        .unwrap();
    assert_eq!(entra.bodies.lock().unwrap()[0][MARK], "acme/GROUP#g1");
    let item = directory.0.lock().unwrap()["GROUP#g1"].clone();
    assert_eq!(
        (item["entra_id"].clone(), item[ENTRA_ORIGIN].clone()),
        (json!("g-new"), json!("created"))
    );
}

/// A REMOVE record of the item as the directory holds it now.
fn removed(directory: &MemoryItemDirectory, sk: &str) -> DirectoryChange {
    let item = directory.0.lock().unwrap().remove(sk).unwrap();
    change("REMOVE", sk, Value::Object(item), json!({}))
}

#[tokio::test]
async fn given_a_platform_item_linked_to_an_object_not_marked_for_it_then_no_delete_is_sent() {
    let directory = MemoryItemDirectory::default();
    let entra = RecordingEntra::default();
    entra
        .marks
        .lock()
        .unwrap()
        .insert("e-other".into(), "acme/USER#p-other".into());
    let config = exporting().build();
    let run = ExportRun::new(&directory, &entra, &config);
    // Links any writer of the table can forge, origin and all.
    for (sk, forged, victim) in [
        (
            "USER#x",
            json!({"user_id": "x", "entra_id": "e-victim"}),
            "e-victim",
        ),
        (
            "USER#y",
            json!({"user_id": "y", "entra_id": "e-other"}),
            "e-other",
        ),
        (
            "GROUP#gx",
            json!({"group_id": "gx", "entra_id": "g-victim"}),
            "g-victim",
        ),
    ] {
        let mut forged = forged;
        forged["sync_entra_origin"] = json!("created");
        let err = run
            .apply(&change("REMOVE", sk, forged, json!({})))
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), Code::EntraObjectExists, "{sk}");
        assert!(err.to_string().contains(victim), "{err}");
    }
    assert!(writes(&entra).is_empty(), "{:?}", entra.calls());
}

#[tokio::test]
async fn given_objects_the_export_created_or_adopted_then_their_deletes_go_out() {
    let directory = MemoryItemDirectory::default();
    let entra = entra_with(vec![existing("bo@contoso.com", "e-9", None)]);
    let config = exporting().export_adopt_existing(true).build();
    let run = ExportRun::new(&directory, &entra, &config);
    let adopted = json!({"user_id": "p2", "user_name": "bo@contoso.com", "source": "local"});
    let group = json!({"group_id": "g1", "name": "Sales", "source": "local"});
    for (sk, item) in [
        ("USER#p1", platform_user()),
        ("USER#p2", adopted),
        ("GROUP#g1", group),
    ] {
        run.apply(&insert(&directory, sk, item)).await.unwrap();
    }
    for sk in ["USER#p1", "USER#p2", "GROUP#g1"] {
        run.apply(&removed(&directory, sk)).await.unwrap();
    }
    let deletes: Vec<String> = writes(&entra)
        .into_iter()
        .filter(|c| c.starts_with("DELETE"))
        .collect();
    assert_eq!(
        deletes,
        vec!["DELETE user e-new", "DELETE user e-9", "DELETE group g-new"]
    );
}

#[tokio::test]
async fn given_a_deleted_user_already_gone_in_entra_then_the_delete_counts_as_done() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let mark = "acme/USER#p1".to_owned();
    entra.marks.lock().unwrap().insert("e-1".into(), mark);
    let old = obj(
        json!({"user_id": "p1", "user_name": "ann@contoso.com", "entra_id": "e-1", "sync_entra_origin": "created"}),
    );
    let change = DirectoryChange::parse(
        "REMOVE",
        &obj(json!({"pk": "TENANT#acme", "sk": "USER#p1"})),
        old,
        Map::new(),
        "1".into(),
        None,
    )
    .unwrap()
    .unwrap();
    let outcome = ExportRun::new(&directory, &entra, &exporting().build())
        .apply(&change)
        .await
        .unwrap();
    assert_eq!(outcome, ExportOutcome::Exported("user deleted"));
    assert_eq!(
        entra.calls(),
        vec!["GET user mark e-1", "GET roles e-1", "DELETE user e-1"]
    );
}

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
        let err = ExportRun::new(&directory, &entra, &exporting().build())
            .apply(&membership)
            .await
            .unwrap_err();
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
    ExportRun::new(&directory, &entra, &exporting().build())
        .apply(&membership)
        .await
        .unwrap();
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
        let err = ExportRun::new(&directory, &entra, &exporting().build())
            .apply(&membership)
            .await
            .unwrap_err();
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

#[tokio::test]
async fn given_the_administrator_check_unanswered_then_nothing_is_sent_and_the_change_is_retried() {
    let directory = MemoryItemDirectory::default();
    let entra = RecordingEntra {
        roles_unanswered: true,
        ..RecordingEntra::default()
    };
    let user = json!({"user_id": "e-1", "user_name": "ann@contoso.com", "enabled": true, "source": "entra"});
    let mut edited = user.clone();
    edited["job_title"] = json!("Intern");
    // The directory holds the item as the record left it.
    directory
        .0
        .lock()
        .unwrap()
        .insert("USER#e-1".into(), obj(edited.clone()));
    let err = ExportRun::new(&directory, &entra, &exporting().build())
        .apply(&change("MODIFY", "USER#e-1", user, edited))
        .await
        .unwrap_err();
    assert_eq!(err.problem(), Some((Code::RetriesExhausted, true)));
    assert!(writes(&entra).is_empty(), "{:?}", entra.calls());
}

/// Found by review: only a delete read the mark, so an AM item whose
/// `entra_id` pointed at an unrelated Entra account (a forged or stale
/// link) made the export PATCH that account (disable it, rename it).
#[tokio::test]
async fn given_a_platform_object_linked_to_an_unmarked_entra_object_then_no_update_is_sent() {
    let directory = MemoryItemDirectory::default();
    let entra = RecordingEntra::default();
    let user = json!({"user_id": "p1", "user_name": "ann@contoso.com", "enabled": true, "source": "local", "entra_id": "victim"});
    let mut disabled = user.clone();
    disabled["enabled"] = json!(false);
    let group =
        json!({"group_id": "g1", "name": "Staff", "source": "local", "entra_id": "victim-group"});
    let mut renamed = group.clone();
    renamed["name"] = json!("Former staff");
    {
        let mut items = directory.0.lock().unwrap();
        items.insert("USER#p1".into(), obj(disabled.clone()));
        items.insert("GROUP#g1".into(), obj(renamed.clone()));
    }
    let tenant_config = exporting().build();
    let run = ExportRun::new(&directory, &entra, &tenant_config);
    for (sk, old, new) in [("USER#p1", user, disabled), ("GROUP#g1", group, renamed)] {
        let err = run
            .apply(&change("MODIFY", sk, old, new))
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), Code::EntraObjectExists, "{sk}: {err}");
        assert!(
            err.to_string().contains("does not carry entra-sync's mark"),
            "{err}"
        );
    }
    assert!(writes(&entra).is_empty(), "{:?}", entra.calls());

    // The same user, once entra-sync's mark for it is on the object, is updated.
    entra.mark_as_ours("victim", "acme/USER#p1");
    let mut enabled_again = json!({"user_id": "p1", "user_name": "ann@contoso.com", "enabled": false, "source": "local", "entra_id": "victim"});
    let before = enabled_again.clone();
    enabled_again["enabled"] = json!(true);
    directory
        .0
        .lock()
        .unwrap()
        .insert("USER#p1".into(), obj(enabled_again.clone()));
    run.apply(&change("MODIFY", "USER#p1", before, enabled_again))
        .await
        .unwrap();
    assert_eq!(writes(&entra).len(), 1, "{:?}", entra.calls());
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
    let err = ExportRun::new(&directory, &entra, &exporting().build())
        .apply(&membership)
        .await
        .unwrap_err();
    assert_eq!(refusal(&err), Code::EntraObjectExists, "{err}");
    assert!(err.to_string().contains("is not found"), "{err}");
    assert!(!entra.calls().iter().any(|c| c.starts_with("ADD")));
}

/// Found by review: a platform object whose `entra_id` was stale or forged
/// (Graph 404s on it) was deleted as "already gone", and the Entra object
/// that carries its mark stayed.
#[tokio::test]
async fn given_a_deleted_object_whose_link_graph_does_not_find_then_its_marked_object_goes() {
    let directory = MemoryItemDirectory::default();
    let entra = RecordingEntra {
        updates_not_found: true,
        ..Default::default()
    };
    entra.existing_upns.lock().unwrap().insert(
        "ann@contoso.com".into(),
        existing("ann@contoso.com", "e-ours", Some("acme/USER#p1")),
    );
    let old = json!({"user_id": "p1", "user_name": "ann@contoso.com", "source": "local",
        "entra_id": "e-stale", ENTRA_ORIGIN: "created"});
    let outcome = ExportRun::new(&directory, &entra, &exporting().build())
        .apply(&change("REMOVE", "USER#p1", old, json!({})))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ExportOutcome::Exported("user found by its mark and deleted")
    );
    assert!(entra.calls().contains(&"DELETE user e-ours".to_owned()));
}
