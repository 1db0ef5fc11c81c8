//! DESIGN 2.13, the export half: what deleting a platform user or group
//! does in Entra ID (delete, disable, keep), the restore of a deleted user
//! that comes back, and users mastered on premises.

use chrono::{TimeDelta, Utc};

use super::ownership::{existing, refusal, writes};
use super::*;
use crate::model::entra::EntraPatch;
use crate::problems::Code;

/// The tenant's export with these deprovisioning choices.
pub(super) fn choosing(user: &str, group: &str) -> TenantConfig {
    exporting()
        .export_user_delete_action(user)
        .export_group_delete_action(group)
        .build()
}

/// A REMOVE record of the item as the directory holds it now.
pub(super) fn removed(directory: &MemoryItemDirectory, sk: &str) -> DirectoryChange {
    let item = directory.0.lock().unwrap().remove(sk).unwrap();
    change("REMOVE", sk, Value::Object(item), json!({}))
}

/// Platform user p1 (e-new), group g1 (g-new) and p1 in g1, exported.
pub(super) async fn exported(run: &ExportRun<'_, MemoryItemDirectory, RecordingEntra>) {
    let directory = run.directory;
    let group = json!({"group_id": "g1", "name": "Sales", "source": "local"});
    let member = json!({"group_id": "g1", "user_id": "p1", "source": "local"});
    for (sk, item) in [
        ("USER#p1", platform_user()),
        ("GROUP#g1", group),
        ("MEMBER#g1#p1", member),
    ] {
        run.apply(&insert(directory, sk, item)).await.unwrap();
    }
}

/// The platform deletes the user, then its membership (records of two
/// items come in any order: the membership's last is the harder one).
pub(super) async fn user_deleted(
    run: &ExportRun<'_, MemoryItemDirectory, RecordingEntra>,
) -> Vec<ExportOutcome> {
    let mut outcomes = Vec::new();
    for sk in ["USER#p1", "MEMBER#g1#p1"] {
        outcomes.push(run.apply(&removed(run.directory, sk)).await.unwrap());
    }
    outcomes
}

#[tokio::test]
async fn given_disable_then_a_deleted_platform_user_is_disabled_in_entra_and_keeps_its_groups() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let config = choosing("disable", "delete");
    let run = ExportRun::new(&directory, &entra, &config);
    exported(&run).await;
    entra.bodies.lock().unwrap().clear();

    let outcomes = user_deleted(&run).await;

    assert_eq!(outcomes[0].exported(), Some("user disabled"));
    assert!(
        matches!(outcomes[1], ExportOutcome::Ignored(_)),
        "{outcomes:?}"
    );
    assert_eq!(writes(&entra), vec!["PATCH user e-new"]);
    assert_eq!(first_body(&entra), json!({"accountEnabled": false}));
    assert!(!entra.calls().iter().any(|c| c.starts_with("REMOVE")));
    assert_eq!(
        directory.3.lock().unwrap().len(),
        1,
        "remembered as the export's own: its memberships stay"
    );
}

#[tokio::test]
async fn given_disable_then_an_imported_users_platform_membership_removal_is_still_exported() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let config = choosing("disable", "delete");
    let run = ExportRun::new(&directory, &entra, &config);
    exported(&run).await;
    entra.bodies.lock().unwrap().clear();
    // An imported user (its id is its Entra id) the platform deleted: its
    // deletion is not exported, its platform membership's removal is.
    let imported = "3f2a6d1c-5b7e-4a90-8c1d-2e4f6a8b0c99";
    let old = json!({"group_id": "g1", "user_id": imported, "source": "local"});
    let record = change("REMOVE", &format!("MEMBER#g1#{imported}"), old, json!({}));
    let outcome = run.apply(&record).await.unwrap();
    assert_eq!(outcome.exported(), Some("member removed"), "{outcome:?}");
}

#[tokio::test]
async fn given_keep_then_deleting_platform_users_and_groups_sends_nothing_to_entra() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let config = choosing("keep", "keep");
    let run = ExportRun::new(&directory, &entra, &config);
    exported(&run).await;
    let before = entra.calls().len();

    let mut outcomes = user_deleted(&run).await;
    outcomes.push(run.apply(&removed(&directory, "GROUP#g1")).await.unwrap());

    for outcome in &outcomes {
        assert!(matches!(outcome, ExportOutcome::Ignored(_)), "{outcomes:?}");
    }
    assert_eq!(entra.calls()[before..], [] as [String; 0]);
}

#[tokio::test]
async fn given_the_default_then_a_deleted_user_is_deleted_and_remembered_for_its_restore() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let config = exporting().build();
    let run = ExportRun::new(&directory, &entra, &config);
    exported(&run).await;

    let outcomes = user_deleted(&run).await;
    let group = run.apply(&removed(&directory, "GROUP#g1")).await.unwrap();

    assert_eq!(outcomes[0].exported(), Some("user deleted"));
    assert_eq!(group.exported(), Some("group deleted"));
    assert_eq!(
        writes(&entra),
        vec!["DELETE user e-new", "DELETE group g-new"]
    );
    let deleted = directory.3.lock().unwrap()["USER#p1"].clone();
    assert_eq!(deleted.entra_id, "e-new");
    assert!(deleted.restorable_at(Utc::now()));
}

/// Entra ID after the export deleted user p1 (e-new): in deleted items
/// (and the create that made it long past).
pub(super) fn deleted_in_entra(
    directory: &MemoryItemDirectory,
    entra: &RecordingEntra,
    days_ago: i64,
) {
    directory.2.lock().unwrap().clear();
    let user = entra
        .existing_upns
        .lock()
        .unwrap()
        .remove("ann@contoso.com")
        .unwrap();
    entra
        .deleted_users
        .lock()
        .unwrap()
        .insert("e-new".into(), user);
    directory.3.lock().unwrap().insert(
        "USER#p1".into(),
        DeletedEntraUser {
            entra_id: "e-new".into(),
            deleted_at: Utc::now() - TimeDelta::days(days_ago),
        },
    );
}

#[tokio::test]
async fn given_a_deleted_user_back_within_30_days_then_the_same_entra_user_is_restored_and_updated()
{
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let config = exporting().build();
    let run = ExportRun::new(&directory, &entra, &config);
    run.apply(&insert(&directory, "USER#p1", platform_user()))
        .await
        .unwrap();
    run.apply(&removed(&directory, "USER#p1")).await.unwrap();
    deleted_in_entra(&directory, &entra, 29);
    let before = entra.calls().len();

    let mut back = platform_user();
    back["job_title"] = json!("Chef");
    let outcome = run.apply(&insert(&directory, "USER#p1", back)).await;

    assert_eq!(
        outcome.unwrap().exported(),
        Some("user restored from Entra ID's deleted items")
    );
    let calls = entra.calls()[before..].to_vec();
    assert!(
        calls.contains(&"RESTORE user e-new".to_owned()),
        "{calls:?}"
    );
    assert!(calls.contains(&"PATCH user e-new".to_owned()), "{calls:?}");
    assert!(!calls.contains(&"POST user".to_owned()), "{calls:?}");
    let sent = entra.bodies.lock().unwrap().last().unwrap().clone();
    assert_eq!(sent, json!({"jobTitle": "Chef"}));
    let item = directory.0.lock().unwrap()["USER#p1"].clone();
    assert_eq!(item["entra_id"], "e-new");
    assert_eq!(item[ENTRA_ORIGIN], "created");
    assert!(
        directory.3.lock().unwrap().is_empty(),
        "restored: forgotten"
    );
}

#[tokio::test]
async fn given_a_deleted_user_purged_or_past_30_days_then_its_return_creates_a_new_one() {
    for (days_ago, purged, restore_asked) in [(3, true, true), (31, false, false)] {
        let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
        let config = exporting().build();
        let run = ExportRun::new(&directory, &entra, &config);
        run.apply(&insert(&directory, "USER#p1", platform_user()))
            .await
            .unwrap();
        run.apply(&removed(&directory, "USER#p1")).await.unwrap();
        deleted_in_entra(&directory, &entra, days_ago);
        if purged {
            entra.deleted_users.lock().unwrap().clear();
        }
        let before = entra.calls().len();

        let back = insert(&directory, "USER#p1", platform_user());
        let outcome = run.apply(&back).await;

        assert_eq!(outcome.unwrap().exported(), Some("user created"));
        let calls = entra.calls()[before..].to_vec();
        assert_eq!(
            calls.contains(&"RESTORE user e-new".to_owned()),
            restore_asked,
            "{days_ago} days: {calls:?}"
        );
        assert!(calls.contains(&"POST user".to_owned()), "{calls:?}");
    }
}

#[tokio::test]
async fn given_a_restore_whose_upn_another_user_took_then_the_create_names_the_holder() {
    let directory = MemoryItemDirectory::default();
    let entra = RecordingEntra {
        restore_conflicts: true,
        ..Default::default()
    };
    let config = exporting().build();
    let run = ExportRun::new(&directory, &entra, &config);
    run.apply(&insert(&directory, "USER#p1", platform_user()))
        .await
        .unwrap();
    run.apply(&removed(&directory, "USER#p1")).await.unwrap();
    deleted_in_entra(&directory, &entra, 1);
    entra.existing_upns.lock().unwrap().insert(
        "ann@contoso.com".into(),
        existing("ann@contoso.com", "e-someone", None),
    );

    let err = run
        .apply(&insert(&directory, "USER#p1", platform_user()))
        .await
        .unwrap_err();

    assert_eq!(
        err.problem(),
        Some((Code::EntraObjectExists, true)),
        "{err}"
    );
    assert!(entra.calls().contains(&"RESTORE user e-new".to_owned()));
    assert!(
        directory.3.lock().unwrap().contains_key("USER#p1"),
        "tried again once the UPN is free"
    );
}

/// Platform user p1 linked to e-1, which entra-sync made and Active
/// Directory masters.
fn mastered_user(directory: &MemoryItemDirectory, entra: &RecordingEntra) -> Value {
    let mut user = platform_user();
    user["entra_id"] = json!("e-1");
    user[ENTRA_ORIGIN] = json!("created");
    let user = with_user_hash(user);
    put(directory, "USER#p1", user.clone());
    entra.mark_as_ours("e-1", "acme/USER#p1");
    entra
        .mastered_on_premises
        .lock()
        .unwrap()
        .push("e-1".into());
    user
}

#[tokio::test]
async fn given_a_user_mastered_on_premises_then_what_ad_owns_is_a_source_of_authority_problem() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let old = mastered_user(&directory, &entra);
    let mut new = old.clone();
    new["job_title"] = json!("Chef");
    put(&directory, "USER#p1", new.clone());

    let err = export(&directory, &entra, &change("MODIFY", "USER#p1", old, new))
        .await
        .unwrap_err();

    assert_eq!(refusal(&err), Code::SourceOfAuthority, "waits for a change");
    assert!(err.to_string().contains("job_title (jobTitle)"), "{err}");
    assert!(err.to_string().contains("mastered on premises"), "{err}");
    assert_eq!(
        writes(&entra),
        vec!["PATCH user e-1"],
        "nothing else to send"
    );
    let item = directory.0.lock().unwrap()["USER#p1"].clone();
    assert_ne!(
        item[ENTRA_HASH], "",
        "the hash still says what Entra ID had before"
    );
}

#[tokio::test]
async fn given_a_refusal_on_premises_then_what_the_cloud_owns_is_still_written() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    entra
        .mastered_on_premises
        .lock()
        .unwrap()
        .push("e-1".into());
    let config = exporting().build();
    let run = ExportRun::new(&directory, &entra, &config);
    let text = |v: &str| crate::model::entra::GraphValue::Text(v.into());
    let patch = EntraPatch {
        properties: vec![
            ("department".into(), text("Kitchen")),
            ("usageLocation".into(), text("FR")),
        ],
    };

    let err = run
        .write_cloud_owned("e-1", &patch, "ann@contoso.com")
        .await;

    assert_eq!(refusal(&err), Code::SourceOfAuthority);
    let reason = err.to_string();
    assert!(
        reason.contains("refused department (department)"),
        "{reason}"
    );
    assert!(reason.contains("usageLocation written"), "{reason}");
    assert_eq!(first_body(&entra), json!({"usageLocation": "FR"}));
}

#[tokio::test]
async fn given_disable_of_a_user_mastered_on_premises_then_it_is_a_source_of_authority_problem() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let old = mastered_user(&directory, &entra);
    directory.0.lock().unwrap().remove("USER#p1");
    let config = choosing("disable", "delete");

    let err = ExportRun::new(&directory, &entra, &config)
        .apply(&change("REMOVE", "USER#p1", old, json!({})))
        .await
        .unwrap_err();

    assert_eq!(refusal(&err), Code::SourceOfAuthority);
    assert!(
        err.to_string().contains("enabled (accountEnabled)"),
        "{err}"
    );
}
