//! The manager (DESIGN 2.13): an export mapping `manager` ← `manager_id`
//! writes the Entra user's manager with its own reference calls, after
//! the rest of the user; a manager not in Entra ID yet waits as a problem
//! that passes by itself, and the user's hash does not claim it.

use super::*;

fn manager_mapping() -> Value {
    json!([{"direction": "export", "target": "manager", "source_type": "attribute",
            "source": "manager_id"}])
}

fn run_config(mappings: Value) -> TenantConfig {
    exporting().user_mappings(mappings).build()
}

async fn export_with(
    directory: &MemoryItemDirectory,
    entra: &RecordingEntra,
    change: &DirectoryChange,
    mappings: Value,
) -> Result<ExportOutcome, ExportFailure> {
    let config = run_config(mappings);
    ExportRun::new(directory, entra, &config)
        .apply(change)
        .await
}

/// An imported manager: its AM id is its Entra id.
fn imported_manager(directory: &MemoryItemDirectory, id: &str) {
    let boss = json!({"user_id": id, "user_name": "boss@contoso.com", "source": "entra"});
    put(directory, &format!("USER#{id}"), with_user_hash(boss));
}

/// The platform user p1, linked to `e1` and agreeing with Entra ID, with
/// this manager.
fn linked_user(
    directory: &MemoryItemDirectory,
    entra: &RecordingEntra,
    manager: Option<&str>,
) -> Value {
    entra.mark_as_ours("e1", "acme/USER#p1");
    let mut user = json!({"user_id": "p1", "user_name": "ann@contoso.com",
        "department": "Kitchen", "enabled": true, "source": "local", "entra_id": "e1"});
    if let Some(manager) = manager {
        user["manager_id"] = json!(manager);
    }
    let user = with_user_hash(user);
    put(directory, "USER#p1", user.clone());
    user
}

/// The platform's edit of p1: the record, and the item in the table.
fn edit(
    directory: &MemoryItemDirectory,
    old: &Value,
    change_it: impl FnOnce(&mut Value),
) -> DirectoryChange {
    let mut new = old.clone();
    change_it(&mut new);
    put(directory, "USER#p1", new.clone());
    change("MODIFY", "USER#p1", old.clone(), new)
}

fn stored_user(directory: &MemoryItemDirectory) -> UserItem {
    let item = directory.0.lock().unwrap()["USER#p1"].clone();
    serde_json::from_value(Value::Object(item)).unwrap()
}

fn manager_calls(entra: &RecordingEntra) -> Vec<String> {
    entra
        .calls()
        .into_iter()
        .filter(|c| c.contains("MANAGER"))
        .collect()
}

#[tokio::test]
async fn given_a_manager_mapping_when_a_user_with_an_exported_manager_is_created_then_its_manager_is_set()
 {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    imported_manager(&directory, "e-boss");
    let mut user = platform_user();
    user["manager_id"] = json!("e-boss");
    let change = insert(&directory, "USER#p1", user);

    let outcome = export_with(&directory, &entra, &change, manager_mapping()).await;

    assert_eq!(outcome.unwrap().exported(), Some("user created"));
    let calls = entra.calls();
    let created = calls.iter().position(|c| c == "POST user").unwrap();
    let managed = calls
        .iter()
        .position(|c| c == "PUT MANAGER e-new e-boss")
        .expect("the manager is set");
    assert!(created < managed, "after the user exists: {calls:?}");
    assert!(first_body(&entra).get("manager").is_none(), "never a PATCH");
    assert!(stored_user(&directory).agrees_with_entra());
}

#[tokio::test]
async fn given_a_manager_not_exported_yet_then_the_rest_is_written_and_the_manager_waits_until_it_is()
 {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let boss = json!({"user_id": "p-boss", "user_name": "boss@contoso.com", "source": "local"});
    put(&directory, "USER#p-boss", boss.clone());
    let old = linked_user(&directory, &entra, None);
    let change = edit(&directory, &old, |u| {
        u["department"] = json!("Bakery");
        u["manager_id"] = json!("p-boss");
    });

    let failure = export_with(&directory, &entra, &change, manager_mapping())
        .await
        .unwrap_err();

    assert_eq!(failure.problem(), Some((Code::DependencyMissing, true)));
    assert!(
        failure.to_string().contains("p-boss") && failure.to_string().contains("boss@contoso.com"),
        "the problem names the manager: {failure}"
    );
    assert!(entra.calls().contains(&"PATCH user e1".to_owned()));
    assert_eq!(
        first_body(&entra),
        json!({"department": "Bakery"}),
        "the rest went"
    );
    assert!(manager_calls(&entra).is_empty());
    let item = stored_user(&directory);
    assert!(
        !item.agrees_with_entra(),
        "the hash does not claim the manager was written"
    );
    assert!(item.pending_export());

    // The manager is exported; the parked problem's replay sets it.
    entra.mark_as_ours("e-boss", "acme/USER#p-boss");
    let mut exported_boss = boss;
    exported_boss["entra_id"] = json!("e-boss");
    put(&directory, "USER#p-boss", with_user_hash(exported_boss));
    let problem = user_problem("p1", Operation::Update, Code::DependencyMissing, "".into());
    let config = run_config(manager_mapping());
    let (_, outcome) = ExportRun::new(&directory, &entra, &config)
        .replay(&acme(), &problem)
        .await
        .unwrap();

    assert_eq!(outcome.exported(), Some("user updated"));
    assert_eq!(manager_calls(&entra), ["PUT MANAGER e1 e-boss"]);
    assert!(stored_user(&directory).agrees_with_entra());
}

#[tokio::test]
async fn given_a_manager_not_in_the_am_directory_then_a_create_links_the_user_and_the_manager_waits()
 {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let mut user = platform_user();
    user["manager_id"] = json!("p-nobody");
    let change = insert(&directory, "USER#p1", user);

    let failure = export_with(&directory, &entra, &change, manager_mapping())
        .await
        .unwrap_err();

    assert_eq!(failure.problem(), Some((Code::DependencyMissing, true)));
    assert!(failure.to_string().contains("p-nobody"), "{failure}");
    let item = stored_user(&directory);
    assert_eq!(
        item.sync.entra_id.as_deref(),
        Some("e-new"),
        "created and linked"
    );
    assert!(!item.agrees_with_entra());
}

#[tokio::test]
async fn given_the_manager_removed_then_it_is_removed_in_entra_and_no_manager_there_is_success() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    imported_manager(&directory, "e-boss");
    let old = linked_user(&directory, &entra, Some("e-boss"));
    let change = edit(&directory, &old, |u| {
        u.as_object_mut().unwrap().remove("manager_id");
    });

    // RecordingEntra answers 404: e1 has no manager there.
    let outcome = export_with(&directory, &entra, &change, manager_mapping()).await;

    assert_eq!(outcome.unwrap().exported(), Some("user updated"));
    assert_eq!(
        entra.calls(),
        ["GET user mark e1", "GET roles e1", "DELETE MANAGER e1"]
    );
    assert!(stored_user(&directory).agrees_with_entra());
}

#[tokio::test]
async fn given_an_unrelated_update_then_no_manager_call_is_sent() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    imported_manager(&directory, "e-boss");
    let old = linked_user(&directory, &entra, Some("e-boss"));
    let change = edit(&directory, &old, |u| u["department"] = json!("Bakery"));

    let outcome = export_with(&directory, &entra, &change, manager_mapping()).await;

    assert_eq!(outcome.unwrap().exported(), Some("user updated"));
    assert!(manager_calls(&entra).is_empty(), "{:?}", entra.calls());
    assert!(stored_user(&directory).agrees_with_entra());
}

#[tokio::test]
async fn given_no_manager_mapping_then_a_manager_change_sends_nothing() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    imported_manager(&directory, "e-boss");
    let old = linked_user(&directory, &entra, None);
    let change = edit(&directory, &old, |u| u["manager_id"] = json!("e-boss"));

    let outcome = export_with(&directory, &entra, &change, json!([])).await;

    assert_eq!(
        outcome.unwrap(),
        ExportOutcome::Ignored("no mapped value changed")
    );
    assert!(entra.calls().is_empty(), "{:?}", entra.calls());
}

#[tokio::test]
async fn given_a_platform_manager_whose_link_entra_sync_did_not_make_then_no_manager_is_written() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let forged = json!({"user_id": "p-boss", "user_name": "boss@contoso.com",
                        "source": "local", "entra_id": "e-ceo"});
    put(&directory, "USER#p-boss", with_user_hash(forged));
    let old = linked_user(&directory, &entra, None);
    let change = edit(&directory, &old, |u| u["manager_id"] = json!("p-boss"));

    let failure = export_with(&directory, &entra, &change, manager_mapping())
        .await
        .unwrap_err();

    assert_eq!(failure.problem(), Some((Code::EntraObjectExists, false)));
    assert!(manager_calls(&entra).is_empty(), "{:?}", entra.calls());
    assert!(!stored_user(&directory).agrees_with_entra());
}

#[test]
fn a_platform_change_of_the_manager_alone_is_exported_and_the_imports_write_of_it_is_not() {
    let old = with_user_hash(json!({"user_id": "p1", "user_name": "ann@contoso.com",
        "source": "local", "entra_id": "e1"}));
    let mut by_platform = old.clone();
    by_platform["manager_id"] = json!("e-boss");
    let plan = change("MODIFY", "USER#p1", old.clone(), by_platform.clone()).plan();
    assert!(
        matches!(&plan, ExportPlan::UpdateUser { changed, .. } if changed == &["manager_id"]),
        "{plan:?}"
    );
    let by_import = with_user_hash(by_platform);
    let plan = change("MODIFY", "USER#p1", old, by_import).plan();
    assert!(matches!(plan, ExportPlan::Ignore(_)), "{plan:?}");
}

/// Found in review: a retried change (no `before`) of a user without
/// `manager_id` deleted the manager Entra ID had (one set in Entra, or
/// one the import is still waiting to link); only a record showing the
/// manager go removes it.
#[test]
fn given_no_record_of_the_manager_going_then_no_removal_is_sent() {
    use crate::export::mappings::{ExportMappings, ManagerWrite};
    let mappings = ExportMappings::compile(&run_config(manager_mapping())).unwrap();
    let user = |value: Value| -> UserItem { serde_json::from_value(value).unwrap() };
    let without = user(json!({"user_id": "p1", "user_name": "ann@contoso.com"}));
    let with = user(json!({"user_id": "p1", "user_name": "ann@contoso.com", "manager_id": "m1"}));
    let mut waiting = without.clone();
    waiting.sync.manager_entra_id = Some("e-boss".into());

    assert_eq!(
        mappings.manager_on_update(None, &without, &without),
        None,
        "a retry"
    );
    assert_eq!(
        mappings.manager_on_update(Some(&without), &without, &waiting),
        None,
        "a later change: the import has not linked Entra's manager yet"
    );
    assert!(
        matches!(
            mappings.manager_on_update(Some(&with), &waiting, &waiting),
            Some(ManagerWrite::Remove)
        ),
        "the platform removed an imported user's linked manager"
    );
    assert!(matches!(
        mappings.manager_on_update(Some(&with), &without, &without),
        Some(ManagerWrite::Remove)
    ));
    assert!(matches!(
        mappings.manager_on_update(None, &with, &with),
        Some(ManagerWrite::Set(_))
    ));
}
