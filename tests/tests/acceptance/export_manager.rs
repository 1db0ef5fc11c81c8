//! DESIGN 2.13, the manager in the export direction, through the real
//! `export-stream` binary: a mapping `manager` ← `manager_id` sets, changes
//! and removes the Entra user's manager with `PUT`/`DELETE
//! /users/{id}/manager/$ref` (never a PATCH); a manager not in Entra ID
//! yet waits as a `dependency_missing` problem while the rest of the user
//! is written, and its replay writes the manager once it is exported.

use aws_sdk_dynamodb::types::AttributeValue;
use entra_sync::identity::REQUIRED_APP_ROLES;
use entra_sync_tests::emulator::RequestRecord;
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::organisation;
use entra_sync_tests::stack::{CONTOSO, CONTOSO_US, LocalStack};
use entra_sync_tests::sync::StreamCursor;
use serde_json::{Value, json};

use super::export::{TENANT, World, platform_user, world};

fn manager_mapping() -> Value {
    json!({"user_mappings": [
        {"direction": "export", "target": "manager", "source_type": "attribute",
         "source": "manager_id"},
    ]})
}

/// The Entra user's manager, as the emulator holds it.
fn manager_in_entra(w: &World, id: &str) -> Option<String> {
    w.stack
        .emulator
        .with_tenant(CONTOSO, |t| t.users[id].manager.clone())
}

async fn entra_id(w: &World, sk: &str) -> String {
    w.item(sk).await["entra_id"].as_str().unwrap().to_owned()
}

fn field<'a>(item: &'a serde_json::Map<String, Value>, name: &str) -> &'a str {
    item.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// The Graph writes since `start`, as (method, path).
fn writes(w: &World, start: usize) -> Vec<(String, String)> {
    w.writes_since(start)
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}

async fn remove_attribute(w: &World, sk: &str, attribute: &str) {
    w.stack
        .aws
        .dynamodb
        .update_item()
        .table_name(&w.stack.tables.directory)
        .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
        .key("sk", AttributeValue::S(sk.into()))
        .update_expression("REMOVE #a")
        .expression_attribute_names("#a", attribute)
        .send()
        .await
        .unwrap();
}

/// The manager reference write of `w`'s request log since `start`.
fn manager_writes(w: &World, start: usize) -> Vec<RequestRecord> {
    w.writes_since(start)
        .into_iter()
        .filter(|r| r.path.ends_with("/manager/$ref"))
        .collect()
}

#[tokio::test]
async fn given_a_manager_mapping_then_the_export_sets_changes_and_removes_the_entra_users_manager()
{
    let mut w = world(manager_mapping()).await;
    // Imported users: their AM id is their Entra id.
    let (first, second) = (organisation::user_id(3), organisation::user_id(4));
    let mut ada = platform_user("p-ada", "ada@contoso.com");
    ada["manager_id"] = json!(first);
    w.put("USER#p-ada", ada).await;
    let start = w.log_len();

    let report = w.export().await;

    assert!(report.retried.is_empty(), "{report:?}");
    let id = entra_id(&w, "USER#p-ada").await;
    let set = manager_writes(&w, start);
    assert_eq!(set.len(), 1, "{set:?}");
    assert_eq!(
        (set[0].method.as_str(), set[0].path.as_str()),
        ("PUT", format!("/v1.0/users/{id}/manager/$ref").as_str())
    );
    let reference = format!("{}/v1.0/users/{first}", w.stack.emulator.base_url);
    assert_eq!(set[0].body, Some(json!({"@odata.id": reference})));
    assert!(
        w.writes_since(start)
            .iter()
            .all(|r| r.body.as_ref().is_none_or(|b| b.get("manager").is_none())),
        "never a PATCH of the manager"
    );
    assert_eq!(manager_in_entra(&w, &id).as_deref(), Some(first.as_str()));
    w.export().await; // the export's own write-backs

    // An unrelated change: no manager call.
    let start = w.log_len();
    w.set("USER#p-ada", "job_title", AttributeValue::S("Chief".into()))
        .await;
    w.export().await;
    assert_eq!(
        writes(&w, start),
        [("PATCH".to_owned(), format!("/v1.0/users/{id}"))]
    );

    // Another manager, then none.
    let start = w.log_len();
    w.set(
        "USER#p-ada",
        "manager_id",
        AttributeValue::S(second.clone()),
    )
    .await;
    w.export().await;
    assert_eq!(
        writes(&w, start),
        [("PUT".to_owned(), format!("/v1.0/users/{id}/manager/$ref"))]
    );
    assert_eq!(manager_in_entra(&w, &id).as_deref(), Some(second.as_str()));
    let start = w.log_len();
    remove_attribute(&w, "USER#p-ada", "manager_id").await;
    w.export().await;
    assert_eq!(
        writes(&w, start),
        [(
            "DELETE".to_owned(),
            format!("/v1.0/users/{id}/manager/$ref")
        )]
    );
    assert_eq!(manager_in_entra(&w, &id), None);
    assert!(w.stack.problem_items(TENANT).await.unwrap().is_empty());

    // Its write-backs are not exported again.
    let start = w.log_len();
    w.export().await;
    assert!(writes(&w, start).is_empty(), "{:?}", writes(&w, start));
    assert!(w.stack.gate.take_denials().is_empty());
}

#[tokio::test]
async fn given_a_manager_not_exported_yet_then_the_user_is_written_and_its_manager_follows_the_manager()
 {
    let mut w = world(manager_mapping()).await;
    let mut ada = platform_user("p-ada", "ada@contoso.com");
    ada["manager_id"] = json!("p-boss");
    w.put("USER#p-ada", ada).await;

    w.export().await;

    let id = entra_id(&w, "USER#p-ada").await;
    assert_eq!(manager_in_entra(&w, &id), None);
    let problems = w.stack.problem_items(TENANT).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(field(&problems[0], "code"), "dependency_missing");
    assert!(
        field(&problems[0], "reason").contains("p-boss"),
        "names the manager: {problems:?}"
    );
    assert!(
        problems[0].contains_key("next_attempt_at"),
        "it passes by itself"
    );

    // The manager arrives and is exported; the tenant's next run, once
    // the backoff has passed, writes the waiting manager.
    w.put("USER#p-boss", platform_user("p-boss", "boss@contoso.com"))
        .await;
    w.export().await;
    let boss = entra_id(&w, "USER#p-boss").await;
    w.stack.make_problems_due(TENANT).await.unwrap();
    w.stack.tick(&mut w.sync).await.unwrap();

    assert_eq!(manager_in_entra(&w, &id).as_deref(), Some(boss.as_str()));
    assert!(w.stack.problem_items(TENANT).await.unwrap().is_empty());
    assert_eq!(w.stack.open_problems(TENANT).await.unwrap(), 0);
    // Nothing left to send: the user agrees with Entra ID now.
    let start = w.log_len();
    w.export().await;
    assert!(writes(&w, start).is_empty(), "{:?}", writes(&w, start));
    assert!(w.stack.gate.take_denials().is_empty());
}

#[tokio::test]
async fn given_a_manager_and_its_report_in_one_batch_then_the_manager_is_exported_first() {
    let mut w = world(manager_mapping()).await;
    w.put("USER#p-boss", platform_user("p-boss", "boss@contoso.com"))
        .await;
    let mut ada = platform_user("p-ada", "ada@contoso.com");
    ada["manager_id"] = json!("p-boss");
    w.put("USER#p-ada", ada).await;

    let report = w.export().await;

    assert!(report.retried.is_empty(), "{report:?}");
    let (id, boss) = (
        entra_id(&w, "USER#p-ada").await,
        entra_id(&w, "USER#p-boss").await,
    );
    assert_eq!(manager_in_entra(&w, &id).as_deref(), Some(boss.as_str()));
    let problems = w.stack.problem_items(TENANT).await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

#[tokio::test]
async fn given_a_usgov_tenant_then_the_manager_reference_names_the_usgov_graph_host() {
    let (stack, usgov) = LocalStack::start_with_usgov().await.unwrap();
    usgov.consent_app(CONTOSO_US, REQUIRED_APP_ROLES);
    let mut config = json!({"auth_mode": "application", "authorisation": "authorised",
                            "authorised_at": "2026-12-07T06:00:00Z", "cloud": "usgov",
                            "export_users": true});
    config["user_mappings"] = manager_mapping()["user_mappings"].clone();
    stack
        .put_config_with("agency", Some(CONTOSO_US), config)
        .await
        .unwrap();
    let mut export = LambdaFunction::start("export-stream", &stack.function_env())
        .await
        .unwrap();
    let mut cursor = StreamCursor::start(&stack).await.unwrap();
    let put = |id: &'static str, upn: &'static str| {
        entra_sync_tests::export::put_platform_user(&stack, "agency", id, upn)
    };
    put("p-boss", "boss@contoso.us").await.unwrap();
    entra_sync_tests::export::export_pending(&mut cursor, &mut export, 5)
        .await
        .unwrap();
    put("p-ada", "ada@contoso.us").await.unwrap();
    stack
        .aws
        .dynamodb
        .update_item()
        .table_name(&stack.tables.directory)
        .key("pk", AttributeValue::S("TENANT#agency".into()))
        .key("sk", AttributeValue::S("USER#p-ada".into()))
        .update_expression("SET manager_id = :m")
        .expression_attribute_values(":m", AttributeValue::S("p-boss".into()))
        .send()
        .await
        .unwrap();

    let exported = entra_sync_tests::export::export_pending(&mut cursor, &mut export, 5)
        .await
        .unwrap();

    assert!(exported.retried.is_empty(), "{exported:?}");
    let (ada, boss) = usgov.with_tenant(CONTOSO_US, |t| {
        let id = |upn| t.user_by_upn(upn).map(|u| u.id.clone()).unwrap();
        (id("ada@contoso.us"), id("boss@contoso.us"))
    });
    let set: Vec<_> = usgov
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/manager/$ref"))
        .collect();
    assert_eq!(set.len(), 1, "{set:?}");
    let reference = format!("{}/v1.0/users/{boss}", usgov.base_url);
    assert_eq!(set[0].body, Some(json!({"@odata.id": reference})));
    let manager = usgov.with_tenant(CONTOSO_US, |t| t.users[&ada].manager.clone());
    assert_eq!(manager, Some(boss));
    assert!(stack.emulator.graph_requests().is_empty());
    assert!(stack.gate.take_denials().is_empty());
}
