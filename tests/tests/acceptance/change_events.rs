//! Change events (docs/behaviour.md 2.14) through the real binaries: a
//! first import writes one summary per page, a delta run's update carries
//! the attribute's old and new value and the run's cause, an idle poll
//! writes none, an export's event carries its stream record's sequence
//! number, and one object's events are found through `by-event-object`.

use entra_sync::problems::ObjectKind;
use entra_sync::store::events::DynamoChangeEvents;
use entra_sync_tests::emulator::Knobs;
use entra_sync_tests::export::{deliver, lambda_record};
use entra_sync_tests::organisation::{self, FEDERATED, MANAGED, user_id};
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, LocalStack};
use serde_json::{Map, Value, json};

use crate::export::{TENANT, platform_user, world};

/// The tenant's items under `ENTRA#<prefix>`, in key order.
async fn items_under(stack: &LocalStack, prefix: &str) -> Vec<Map<String, Value>> {
    let pk = format!("TENANT#{TENANT}");
    let mut items: Vec<Map<String, Value>> = stack
        .integration_items()
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i["pk"] == pk.as_str())
        .filter(|i| i["sk"].as_str().is_some_and(|sk| sk.starts_with(prefix)))
        .collect();
    items.sort_by(|a, b| a["sk"].as_str().cmp(&b["sk"].as_str()));
    items
}

fn tenant() -> entra_sync::model::TenantId {
    entra_sync::model::TenantId::parse(TENANT).unwrap()
}

#[tokio::test]
async fn given_a_delta_run_that_changes_a_job_title_then_its_event_has_old_and_new_and_the_runs_cause_and_is_found_by_its_object()
 {
    let mut stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 40, 4);
    stack.emulator.set_knobs(Knobs {
        page_size: Some(7),
        ..Knobs::default()
    });
    let config = json!({"domains": [MANAGED, FEDERATED]});
    stack.connect(TENANT, CONTOSO_ADMIN, config).await.unwrap();
    let mut functions = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut functions).await.unwrap();

    // The first import: summaries of pages, never one event per object.
    let first = items_under(&stack, "ENTRA#EVENT#").await;
    assert!(!first.is_empty() && first.len() < 15, "{first:?}");
    for summary in &first {
        let object_id = summary["object_id"].as_str().unwrap();
        assert!(object_id.starts_with("page:"), "{summary:?}");
        assert!(summary["display"].as_str().unwrap().contains(" created"));
        assert_eq!(summary["cause"]["trigger"], "schedule");
    }

    let ann = user_id(0);
    let old_title = stack.emulator.with_tenant(CONTOSO, |t| {
        let old = t.users[&ann].job_title.clone();
        t.update_user(&ann, |u| u.job_title = Some("Principal Engineer".into()));
        old
    });
    stack.tick(&mut functions).await.unwrap();

    let runs = items_under(&stack, "ENTRA#RUN#").await;
    let delta_run = runs.last().unwrap();
    assert_eq!(delta_run["mode"], "delta");
    let events = items_under(&stack, "ENTRA#EVENT#").await;
    let new: Vec<&Map<String, Value>> = events.iter().filter(|e| !first.contains(e)).collect();
    assert_eq!(new.len(), 1, "{new:?}");
    let event = new[0];
    assert_eq!(event["object_id"], ann.as_str());
    assert_eq!(event["object_kind"], "user");
    assert_eq!(event["direction"], "import");
    assert_eq!(event["action"], "update");
    assert_eq!(event["event_object"], format!("{TENANT}#user#{ann}"));
    assert_eq!(
        event["modified"],
        json!([{"attribute": "job_title", "old": old_title, "new": "Principal Engineer"}])
    );
    assert_eq!(event["cause"]["trigger"], "schedule");
    assert_eq!(event["cause"]["run_id"], delta_run["run_id"]);

    // One object's events, through the index.
    let store = DynamoChangeEvents::new(
        stack.aws.dynamodb.clone(),
        stack.tables.integrations.clone(),
    );
    let found = store
        .of_object(&tenant(), ObjectKind::User, &ann, 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].modified[0].attribute, "job_title");
    assert_eq!(found[0].sort_key(), event["sk"].as_str().unwrap());

    // An idle poll writes none.
    stack.tick(&mut functions).await.unwrap();
    assert_eq!(
        items_under(&stack, "ENTRA#EVENT#").await.len(),
        events.len()
    );
}

#[tokio::test]
async fn given_a_platform_user_exported_then_its_event_carries_the_stream_records_sequence_number()
{
    let mut w = world(json!({})).await;
    w.put("USER#p-ada", platform_user("p-ada", "ada@contoso.com"))
        .await;
    let stream = "arn:aws:dynamodb:us-east-1:123456789012:table/directory/stream/local";
    let records: Vec<Value> = w
        .cursor
        .read()
        .await
        .unwrap()
        .iter()
        .map(|r| lambda_record(r, stream))
        .filter(|r| r["dynamodb"]["Keys"]["sk"]["S"] == "USER#p-ada")
        .collect();
    assert_eq!(records.len(), 1, "the platform's insert");
    let sequence_number = records[0]["dynamodb"]["SequenceNumber"].clone();
    let report = deliver(records, &mut w.export, 5).await.unwrap();
    assert!(report.retried.is_empty(), "{report:?}");

    let events = items_under(&w.stack, "ENTRA#EVENT#").await;
    let exported: Vec<&Map<String, Value>> = events
        .iter()
        .filter(|e| e["direction"] == "export")
        .collect();
    assert_eq!(exported.len(), 1, "{exported:?}");
    let event = exported[0];
    assert_eq!(event["object_id"], "p-ada", "the AM id");
    assert_eq!(event["action"], "create");
    assert_eq!(event["display"], "ada@contoso.com");
    assert_eq!(
        event["cause"],
        json!({"trigger": "stream", "sequence_number": sequence_number})
    );
    let modified = event["modified"].as_array().unwrap();
    assert!(
        modified
            .iter()
            .any(|c| c["attribute"] == "jobTitle" && c["old"].is_null() && c["new"] == "Analyst"),
        "the Graph properties the POST sent: {modified:?}"
    );
    assert!(
        !modified
            .iter()
            .any(|c| c["attribute"].as_str().unwrap().contains("password")),
        "never the password: {modified:?}"
    );
    let store = DynamoChangeEvents::new(
        w.stack.aws.dynamodb.clone(),
        w.stack.tables.integrations.clone(),
    );
    let found = store
        .of_object(&tenant(), ObjectKind::User, "p-ada", 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
}
