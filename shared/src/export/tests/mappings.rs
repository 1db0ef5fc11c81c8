//! Export mappings (DESIGN 2.13): what the tenant's `direction: export`
//! mappings give is what the export writes.

use super::*;
use crate::problems::Code;

/// The mappings most tests use: employeeId from the `attributes` map,
/// companyName a constant on create only, officeLocation with a default,
/// displayName an expression on the whole user, otherMails a list.
fn mappings() -> Value {
    json!([
        {"direction": "export", "target": "employeeId", "source_type": "attribute",
         "source": "attributes.costCenter"},
        {"direction": "export", "target": "companyName", "source_type": "constant",
         "source": "Contoso Ltd", "apply": "create_only"},
        {"direction": "export", "target": "officeLocation", "source_type": "attribute",
         "source": "attributes.office", "default": "Head office"},
        {"direction": "export", "target": "displayName", "source_type": "expression",
         "source": "Join(\" \", [given_name], [surname])"},
        {"direction": "export", "target": "otherMails", "source_type": "expression",
         "source": "Split([attributes.aliases], \",\")"},
    ])
}

async fn export_mapped(
    directory: &MemoryItemDirectory,
    entra: &RecordingEntra,
    change: &DirectoryChange,
    mappings: Value,
) -> Result<ExportOutcome, ExportFailure> {
    let config = exporting().user_mappings(mappings).build();
    ExportRun::new(directory, entra, &config)
        .apply(change)
        .await
}

/// A platform user entra-sync created and linked as `e1`, agreeing with
/// Entra ID: its record's old image and the table's item.
fn linked_user(directory: &MemoryItemDirectory, entra: &RecordingEntra) -> Value {
    entra.mark_as_ours("e1", "acme/USER#p1");
    let user = with_user_hash(json!({"user_id": "p1", "user_name": "ann@contoso.com",
        "given_name": "Ann", "surname": "Lee", "department": "Kitchen", "enabled": true,
        "source": "local", "entra_id": "e1",
        "attributes": {"costCenter": "42", "office": "B-12"}}));
    put(directory, "USER#p1", user.clone());
    user
}

/// The platform's edit of the linked user: the new image, in the table.
fn edited(directory: &MemoryItemDirectory, old: &Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut new = old.clone();
    edit(&mut new);
    put(directory, "USER#p1", new.clone());
    new
}

#[tokio::test]
async fn given_export_mappings_then_a_create_writes_every_mapped_target_with_a_value() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let user = json!({"user_id": "p1", "user_name": "ann@contoso.com", "given_name": "Ann",
        "surname": "Lee", "job_title": "Chef", "enabled": true, "source": "local",
        "attributes": {"costCenter": "42", "aliases": "ann@fabrikam.com,al@fabrikam.com"}});
    let change = insert(&directory, "USER#p1", user);

    let outcome = export_mapped(&directory, &entra, &change, mappings()).await;

    assert_eq!(outcome.unwrap().exported(), Some("user created"));
    let body = first_body(&entra);
    assert_eq!(body["employeeId"], "42", "attributes.<name> as source");
    assert_eq!(
        body["companyName"], "Contoso Ltd",
        "create_only goes on create"
    );
    assert_eq!(
        body["officeLocation"], "Head office",
        "the default fills it"
    );
    assert_eq!(
        body["displayName"], "Ann Lee",
        "a configured built-in target"
    );
    assert_eq!(
        body["otherMails"],
        json!(["ann@fabrikam.com", "al@fabrikam.com"]),
        "a list target"
    );
    assert_eq!(body["jobTitle"], "Chef", "the other built-in mappings stay");
    assert_eq!(body["userPrincipalName"], "ann@contoso.com");
    assert!(
        body.get("mobilePhone").is_none(),
        "no value, no null: {body}"
    );
    let item = directory.0.lock().unwrap()["USER#p1"].clone();
    assert_eq!(item["entra_id"], "e-new");
}

#[tokio::test]
async fn given_only_a_mapped_attribute_changed_then_the_update_sends_only_its_target() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let old = linked_user(&directory, &entra);
    let new = edited(&directory, &old, |u| {
        u["attributes"]["costCenter"] = json!("43")
    });
    let change = change("MODIFY", "USER#p1", old, new);

    let outcome = export_mapped(&directory, &entra, &change, mappings()).await;

    assert_eq!(outcome.unwrap().exported(), Some("user updated"));
    assert_eq!(first_body(&entra), json!({"employeeId": "43"}));
    // The export's own write-back (the hash) then agrees: no echo.
    let item: UserItem = serde_json::from_value(Value::Object(
        directory.0.lock().unwrap()["USER#p1"].clone(),
    ))
    .unwrap();
    assert!(item.agrees_with_entra());
}

#[tokio::test]
async fn given_an_expression_then_the_update_evaluates_it_on_the_whole_user() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let old = linked_user(&directory, &entra);
    let new = edited(&directory, &old, |u| u["surname"] = json!("Smith"));
    let change = change("MODIFY", "USER#p1", old, new);

    export_mapped(&directory, &entra, &change, mappings())
        .await
        .unwrap();

    // The built-in surname mapping and the displayName expression, with
    // the given name the record did not change (WAVE3 §1.1).
    assert_eq!(
        first_body(&entra),
        json!({"surname": "Smith", "displayName": "Ann Smith"})
    );
}

#[tokio::test]
async fn given_create_only_and_a_default_then_an_update_sends_neither_and_no_null() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let old = linked_user(&directory, &entra);
    let mappings = json!([
        {"direction": "export", "target": "companyName", "source_type": "attribute",
         "source": "department", "apply": "create_only"},
        {"direction": "export", "target": "officeLocation", "source_type": "attribute",
         "source": "attributes.office", "default": "Head office"},
        {"direction": "export", "target": "employeeId", "source_type": "attribute",
         "source": "attributes.costCenter"},
    ]);
    let new = edited(&directory, &old, |u| {
        u["department"] = json!("Bakery");
        u["attributes"] = json!({"costCenter": "43"});
    });
    let change = change("MODIFY", "USER#p1", old, new);

    export_mapped(&directory, &entra, &change, mappings)
        .await
        .unwrap();

    // department's built-in mapping and employeeId go; companyName
    // (create_only) does not; officeLocation lost its source and its
    // default is for creates: Entra keeps its value (no null).
    assert_eq!(
        first_body(&entra),
        json!({"department": "Bakery", "employeeId": "43"})
    );
}

#[tokio::test]
async fn given_a_value_a_mapping_cannot_give_then_the_user_is_an_invalid_object_naming_it() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let old = linked_user(&directory, &entra);
    let mappings = json!([{"direction": "export", "target": "accountEnabled",
        "source_type": "attribute", "source": "attributes.active"}]);
    let new = edited(&directory, &old, |u| {
        u["attributes"]["active"] = json!("yes")
    });
    let change = change("MODIFY", "USER#p1", old, new);

    let err = export_mapped(&directory, &entra, &change, mappings)
        .await
        .unwrap_err();

    assert_eq!(err.problem(), Some((Code::InvalidObject, false)));
    let reason = err.to_string();
    assert!(
        reason.contains("user_mappings #1 (export → `accountEnabled`)")
            && reason.contains("\"yes\""),
        "{reason}"
    );
    assert!(entra.bodies.lock().unwrap().is_empty(), "nothing written");
}

#[tokio::test]
async fn given_a_mapping_that_does_not_compile_then_nothing_is_written_and_the_problem_names_it() {
    let bad = json!([
        {"direction": "export", "target": "employeeId", "source_type": "attribute",
         "source": "attributes.costCenter"},
        {"direction": "export", "target": "companyName", "source_type": "expression",
         "source": "Lower([department])"},
    ]);
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let created = insert(
        &directory,
        "USER#p2",
        json!({"user_id": "p2",
        "user_name": "bo@contoso.com", "source": "local"}),
    );
    let old = linked_user(&directory, &entra);
    let new = edited(&directory, &old, |u| {
        u["attributes"]["costCenter"] = json!("43")
    });
    let updated = change("MODIFY", "USER#p1", old, new);

    for change in [created, updated] {
        let err = export_mapped(&directory, &entra, &change, bad.clone())
            .await
            .unwrap_err();
        assert_eq!(err.problem(), Some((Code::InvalidObject, true)));
        let reason = err.to_string();
        assert!(
            reason.contains("user_mappings #2 (target `companyName`)")
                && reason.contains("unknown function `Lower`"),
            "{reason}"
        );
    }
    assert!(entra.calls().is_empty(), "{:?}", entra.calls());
}

#[test]
fn a_platform_edit_of_the_attributes_map_alone_is_exported_and_the_imports_write_of_it_is_not() {
    let old = with_user_hash(json!({"user_id": "p1", "user_name": "ann@contoso.com",
        "source": "local", "entra_id": "e1", "attributes": {"costCenter": "42"}}));
    let mut by_platform = old.clone();
    by_platform["attributes"]["costCenter"] = json!("43");
    let plan = change("MODIFY", "USER#p1", old.clone(), by_platform.clone()).plan();
    assert!(
        matches!(&plan, ExportPlan::UpdateUser { changed, .. } if changed == &["attributes"]),
        "{plan:?}"
    );
    // The same values written by the import: their hash with them.
    let by_import = with_user_hash(by_platform);
    let plan = change("MODIFY", "USER#p1", old, by_import).plan();
    assert!(matches!(plan, ExportPlan::Ignore(_)), "{plan:?}");
}

#[test]
fn given_export_mappings_to_an_extension_attribute_and_the_manager_then_what_is_read_back_can_be_selected()
 {
    let config = exporting()
        .user_mappings(json!([
            {"direction": "export", "target": "onPremisesExtensionAttributes.extensionAttribute3",
             "source_type": "attribute", "source": "attributes.badge"},
            {"direction": "export", "target": "onPremisesExtensionAttributes.extensionAttribute5",
             "source_type": "attribute", "source": "attributes.desk"},
            {"direction": "export", "target": "manager", "source_type": "attribute",
             "source": "manager_id"},
            {"direction": "export", "target": "employeeId", "source_type": "attribute",
             "source": "attributes.costCenter"},
        ]))
        .build();

    let read = crate::on_demand::export_read_properties(&config);

    assert!(
        read.contains(&"onPremisesExtensionAttributes".to_owned()),
        "{read:?}"
    );
    assert!(read.contains(&"employeeId".to_owned()), "{read:?}");
    assert!(
        read.iter().all(|p| !p.contains('.') && p != "manager"),
        "only what Graph can $select: {read:?}"
    );
    let mut unique = read.clone();
    unique.dedup();
    assert_eq!(unique, read, "each once");
}
