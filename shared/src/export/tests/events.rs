//! DESIGN 2.14, the export's change events: each carries what the engine
//! sent to Entra ID (the Graph properties, old → new) and the action it
//! took, as the tenant's choices made it — through the batch that writes
//! them.

use chrono::Utc;

use super::batch::Graphs;
use super::deprovisioning::{choosing, deleted_in_entra, exported, removed, user_deleted};
use super::*;
use crate::events::{ChangeEvent, EventAction};
use crate::export::batch::ExportBatch;
use crate::model::entra::TenantDomains;
use crate::testing::change_events::MemoryChangeEvents;
use crate::testing::tenant_stores::{MemoryConfigs, MemoryProblems};

/// The events one batch of `changes` writes, with tenant acme's `config`.
async fn batch_events(
    config: TenantConfig,
    directory: &MemoryItemDirectory,
    graphs: &Graphs,
    changes: &[DirectoryChange],
) -> Vec<ChangeEvent> {
    let configs = MemoryConfigs(vec![config]);
    let (domains, problems) = (TenantDomains::default(), MemoryProblems::default());
    let batch = ExportBatch::new(&configs, directory, graphs, &domains, &problems);
    batch.export_all(changes, Utc::now(), None).await;
    let store = MemoryChangeEvents::default();
    batch.write_events(&store).await;
    let events = store.events.lock().unwrap();
    events.iter().map(|(_, event)| event.clone()).collect()
}

/// (attribute, old, new) of each change the event names.
fn named(event: &ChangeEvent) -> Vec<(&str, &Value, &Value)> {
    (event.modified.iter())
        .map(|c| (c.attribute.as_str(), &c.old, &c.new))
        .collect()
}

#[tokio::test]
async fn given_an_edit_of_a_mapped_and_an_unmapped_attribute_then_the_event_names_only_the_graph_property_sent()
 {
    let (directory, graphs) = (MemoryItemDirectory::default(), Graphs::default());
    graphs.entra.mark_as_ours("e1", "acme/USER#p1");
    let old = with_user_hash(json!({"user_id": "p1", "user_name": "ann@contoso.com",
        "job_title": "Analyst", "enabled": true, "source": "local", "entra_id": "e1",
        "attributes": {"costCentre": "12"}}));
    let mut new = old.clone();
    new["job_title"] = json!("Lead");
    // No export mapping reads the `attributes` map: never sent to Entra.
    new["attributes"] = json!({"costCentre": "13"});
    put(&directory, "USER#p1", new.clone());
    let edit = change("MODIFY", "USER#p1", old, new);

    let events = batch_events(exporting().build(), &directory, &graphs, &[edit]).await;

    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].action, EventAction::Update);
    assert_eq!(
        named(&events[0]),
        vec![("jobTitle", &json!("Analyst"), &json!("Lead"))]
    );
    assert_eq!(first_body(&graphs.entra), json!({"jobTitle": "Lead"}));
}

#[tokio::test]
async fn given_delete_made_a_disable_by_the_tenant_then_the_event_is_a_disable_without_values() {
    let (directory, graphs) = (MemoryItemDirectory::default(), Graphs::default());
    let config = choosing("disable", "delete");
    exported(&ExportRun::new(&directory, &graphs.entra, &config)).await;

    let gone = removed(&directory, "USER#p1");
    let events = batch_events(config, &directory, &graphs, &[gone]).await;

    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].action, EventAction::Disable);
    assert_eq!(events[0].object_id, "p1");
    assert!(events[0].modified.is_empty(), "{events:?}");
}

#[tokio::test]
async fn given_a_deleted_user_back_then_the_event_is_a_restore_with_what_its_link_sent() {
    let (directory, graphs) = (MemoryItemDirectory::default(), Graphs::default());
    let config = exporting().build();
    let run = ExportRun::new(&directory, &graphs.entra, &config);
    exported(&run).await;
    user_deleted(&run).await;
    deleted_in_entra(&directory, &graphs.entra, 29);

    let mut back = platform_user();
    back["job_title"] = json!("Chef");
    let returned = insert(&directory, "USER#p1", back);
    let events = batch_events(config, &directory, &graphs, &[returned]).await;

    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].action, EventAction::Restore);
    assert_eq!(
        named(&events[0]),
        vec![("jobTitle", &Value::Null, &json!("Chef"))]
    );
}
