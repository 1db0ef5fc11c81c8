//! The on-demand import of one group: created as the import creates it,
//! and an imported group outside the import groups deleted as chosen.

use super::*;

const SALES: &str = "5c1d7e2a-3b4f-4a6e-8d9c-0e1f2a3b4c5d";

fn sales() -> crate::model::entra::EntraGroup {
    crate::model::entra::EntraGroup {
        id: SALES.into(),
        attributes: crate::model::directory::GroupAttributes {
            name: "Sales".into(),
            description: Some("The sales team".into()),
        },
    }
}

#[tokio::test]
async fn given_a_group_in_scope_then_it_is_created_and_again_is_no_change() {
    let (directory, entra) = (MemoryDirectory::default(), ScriptedEntra::default());
    entra
        .groups_by_id
        .lock()
        .unwrap()
        .insert(SALES.into(), sales());
    let config = importing().build();
    let run = OnDemandImport {
        directory: &directory,
        entra: &entra,
        problems: &MemoryProblems::default(),
        config: &config,
    };
    let answer = run.sync_group(SALES, false).await.unwrap();
    assert_eq!(answer.result, SyncResult::Create, "{answer:#?}");
    assert!(
        answer
            .modified
            .iter()
            .any(|c| c.attribute == "name" && c.new == "Sales")
    );
    let group = directory.groups.lock().unwrap()[SALES].clone();
    assert_eq!(group.source, Source::Entra);
    assert!(group.agrees_with_entra());
    let again = run.sync_group(SALES, false).await.unwrap();
    assert_eq!(again.result, SyncResult::NoChange);
}

#[tokio::test]
async fn given_a_group_outside_the_import_groups_then_its_imported_copy_would_be_deleted() {
    let (directory, entra) = (MemoryDirectory::default(), ScriptedEntra::default());
    entra
        .groups_by_id
        .lock()
        .unwrap()
        .insert(SALES.into(), sales());
    let config = importing().build();
    let run = OnDemandImport {
        directory: &directory,
        entra: &entra,
        problems: &MemoryProblems::default(),
        config: &config,
    };
    run.sync_group(SALES, false).await.unwrap();
    let scoped = importing()
        .import_group_ids(&["7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"])
        .build();
    let run = OnDemandImport {
        directory: &directory,
        entra: &entra,
        problems: &MemoryProblems::default(),
        config: &scoped,
    };
    let answer = run.sync_group(SALES, true).await.unwrap();
    assert_eq!(answer.result, SyncResult::Delete, "{answer:#?}");
    assert!(
        step(&answer, StepName::Scope)
            .description
            .contains("neither an import group")
    );
    assert!(
        directory.groups.lock().unwrap().contains_key(SALES),
        "a dry run"
    );
}
