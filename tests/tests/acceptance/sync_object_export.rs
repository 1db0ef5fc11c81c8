//! `sync-object`'s export direction (DESIGN 2.14 with 2.3 and 2.13)
//! through the real binary, with API Gateway's payload 2.0 events, against
//! moto and the Entra emulator: a platform user created in Entra ID now
//! (then "no change"), the same as a dry run (nothing written in Entra ID
//! nor in moto), an imported user explained as not exported, a deleted
//! platform user disabled as the tenant chose, a group with its members.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use entra_sync_tests::emulator::User;
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::organisation::{MANAGED, user_id};
use entra_sync_tests::stack::sync_object::call_sync_object;
use entra_sync_tests::stack::{CONTOSO, LocalStack};
use serde_json::{Map, Value, json};

const TENANT: &str = "acme";

/// Contoso's users 0..6, `acme` authorised in application mode with import
/// and export on and these settings, and the function started.
async fn world(settings: Value) -> (LocalStack, LambdaFunction) {
    let mut exporting = json!({"export_users": true, "export_groups": true});
    for (name, value) in settings.as_object().unwrap() {
        exporting[name] = value.clone();
    }
    LocalStack::with_sync_object(TENANT, exporting)
        .await
        .unwrap()
}

async fn call(function: &mut LambdaFunction, body: Value) -> Value {
    let answer = call_sync_object(function, TENANT, &body.to_string())
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()
}

async fn export(function: &mut LambdaFunction, kind: &str, object: &str, dry_run: bool) -> Value {
    let body = json!({"direction": "export", "object_kind": kind, "object": object,
                      "dry_run": dry_run});
    call(function, body).await
}

async fn put(stack: &LocalStack, sk: &str, item: Value) {
    let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(item).unwrap();
    item.insert("pk".into(), AttributeValue::S(format!("TENANT#{TENANT}")));
    item.insert("sk".into(), AttributeValue::S(sk.into()));
    stack
        .aws
        .dynamodb
        .put_item()
        .table_name(&stack.tables.directory)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

async fn delete(stack: &LocalStack, sk: &str) {
    stack
        .aws
        .dynamodb
        .delete_item()
        .table_name(&stack.tables.directory)
        .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
        .key("sk", AttributeValue::S(sk.into()))
        .send()
        .await
        .unwrap();
}

async fn item(stack: &LocalStack, sk: &str) -> Option<Map<String, Value>> {
    let pk = format!("TENANT#{TENANT}");
    stack.item(&stack.tables.directory, &pk, sk).await.unwrap()
}

fn ada_upn() -> String {
    format!("ada@{MANAGED}")
}

fn ada() -> Value {
    json!({"user_id": "p-ada", "user_name": ada_upn(), "display_name": "Ada Lovelace",
           "given_name": "Ada", "job_title": "Analyst", "enabled": true, "source": "local"})
}

fn entra_user(stack: &LocalStack, upn: &str) -> Option<User> {
    stack
        .emulator
        .with_tenant(CONTOSO, |t| t.user_by_upn(upn).cloned())
}

/// Everything moto holds for the tenant but the rate limit's slots (each
/// call takes one).
async fn tables(stack: &LocalStack) -> (Vec<Map<String, Value>>, Vec<Map<String, Value>>) {
    let directory = stack.directory_of(TENANT, "").await.unwrap();
    let integrations = stack.integration_items().await.unwrap();
    let integrations = integrations
        .into_iter()
        .filter(|i| i["sk"] != "ENTRA#ONDEMAND#RATE")
        .collect();
    (directory, integrations)
}

async fn events(stack: &LocalStack) -> Vec<Map<String, Value>> {
    stack.change_events().await.unwrap()
}

fn graph_writes(stack: &LocalStack) -> usize {
    stack
        .emulator
        .requests()
        .iter()
        .filter(|r| r.is_graph_write())
        .count()
}

fn act(answer: &Value) -> &Value {
    let steps = answer["steps"].as_array().unwrap();
    steps
        .iter()
        .rev()
        .find(|s| s["step"] == "act")
        .unwrap_or_else(|| panic!("{answer:#}"))
}

#[tokio::test]
async fn given_a_platform_user_then_it_is_created_in_entra_its_problem_cleared_with_an_event_and_again_is_no_change()
 {
    let (stack, mut function) = world(json!({})).await;
    put(&stack, "USER#p-ada", ada()).await;
    // The stream's open problem for it (throttled past its retries).
    let problem = json!({
        "pk": format!("TENANT#{TENANT}"), "sk": "ENTRA#PROBLEM#export#user#p-ada",
        "direction": "export", "object_kind": "user", "object_id": "p-ada",
        "display": ada_upn(), "operation": "create", "code": "retries_exhausted",
        "reason": "Graph throttled", "attempts": 3,
        "first_seen_at": "2026-12-07T06:00:00Z", "last_seen_at": "2026-12-07T06:05:00Z",
    });
    stack
        .aws
        .dynamodb
        .put_item()
        .table_name(&stack.tables.integrations)
        .set_item(Some(serde_dynamo::to_item(problem).unwrap()))
        .send()
        .await
        .unwrap();

    let answer = export(&mut function, "user", "p-ada", false).await;

    assert_eq!(answer["result"], "create", "{answer:#}");
    let problems = stack.problem_items(TENANT).await.unwrap();
    assert!(problems.is_empty(), "cleared once exported: {problems:?}");
    let created = entra_user(&stack, &ada_upn()).expect("in Entra ID");
    assert_eq!(created.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(answer["object_id"], created.id);
    let linked = item(&stack, "USER#p-ada").await.unwrap();
    assert_eq!(
        linked["entra_id"],
        created.id.as_str(),
        "linked as the stream links"
    );
    assert!(!answer.to_string().contains("password"), "{answer:#}");
    let events = events(&stack).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["direction"], "export");
    assert_eq!(events[0]["action"], "create");
    assert_eq!(events[0]["object_id"], "p-ada");
    assert_eq!(events[0]["cause"]["trigger"], "on_demand");

    let writes = graph_writes(&stack);
    let again = export(&mut function, "user", &ada_upn(), false).await;
    assert_eq!(again["result"], "no_change", "{again:#}");
    assert_eq!(act(&again)["details"]["rule"], "agrees_with_entra");
    assert_eq!(graph_writes(&stack), writes, "nothing sent again");
    assert_eq!(self::events(&stack).await.len(), 1);

    // Each real call is a run of the tenant's history, its direction export.
    let items = stack.integration_items().await.unwrap();
    let runs: Vec<&Map<String, Value>> = items
        .iter()
        .filter(|i| {
            i["sk"]
                .as_str()
                .is_some_and(|sk| sk.starts_with("ENTRA#RUN#"))
        })
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(
        runs.iter().all(|r| r["trigger"] == "on_demand"
            && r["direction"] == "export"
            && r["result"] == "ok")
    );
    let created: i64 = runs
        .iter()
        .filter_map(|r| r["users_created"].as_i64())
        .sum();
    assert_eq!(created, 1, "{runs:?}");
}

#[tokio::test]
async fn given_a_dry_run_then_it_says_it_would_create_and_nothing_is_written_in_entra_or_moto() {
    let (stack, mut function) = world(json!({})).await;
    put(&stack, "USER#p-ada", ada()).await;
    let before = tables(&stack).await;

    let answer = export(&mut function, "user", &ada_upn(), true).await;

    assert_eq!(answer["result"], "create", "{answer:#}");
    assert_eq!(answer["dry_run"], true);
    assert!(
        act(&answer)["description"]
            .as_str()
            .unwrap()
            .starts_with("Dry run")
    );
    let modified = answer["modified"].as_array().unwrap();
    assert!(
        modified
            .iter()
            .any(|m| m["attribute"] == "displayName" && m["new"] == "Ada Lovelace"),
        "{answer:#}"
    );
    assert!(entra_user(&stack, &ada_upn()).is_none(), "not created");
    assert_eq!(graph_writes(&stack), 0);
    assert_eq!(tables(&stack).await, before, "nothing written in moto");
}

#[tokio::test]
async fn given_an_imported_user_then_it_is_explained_as_not_exported() {
    let (stack, mut function) = world(json!({})).await;
    let import = json!({"direction": "import", "object_kind": "user", "object": user_id(0)});
    assert_eq!(call(&mut function, import).await["result"], "create");
    let writes = graph_writes(&stack);

    let answer = export(&mut function, "user", &user_id(0), false).await;

    assert_eq!(answer["result"], "skipped", "{answer:#}");
    let scope = answer["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(scope["step"], "scope");
    assert_eq!(scope["details"]["rule"], "imported");
    assert_eq!(graph_writes(&stack), writes);
}

#[tokio::test]
async fn given_a_deleted_platform_user_then_its_entra_user_is_disabled_as_the_tenant_chose() {
    let (stack, mut function) = world(json!({"export_user_delete_action": "disable"})).await;
    put(&stack, "USER#p-ada", ada()).await;
    assert_eq!(
        export(&mut function, "user", "p-ada", false).await["result"],
        "create"
    );
    let entra_id = entra_user(&stack, &ada_upn()).unwrap().id;
    // Deleted by the platform; the stream's record not exported.
    delete(&stack, "USER#p-ada").await;

    let dry = export(&mut function, "user", &entra_id, true).await;
    assert_eq!(dry["result"], "disable", "{dry:#}");
    assert!(entra_user(&stack, &ada_upn()).unwrap().account_enabled);

    let answer = export(&mut function, "user", "p-ada", false).await;

    assert_eq!(answer["result"], "disable", "{answer:#}");
    let user = entra_user(&stack, &ada_upn()).expect("kept, disabled");
    assert!(!user.account_enabled && !user.deleted, "{user:?}");
    let events = events(&stack).await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "disable" && e["object_id"] == "p-ada")
    );
    let again = export(&mut function, "user", "p-ada", false).await;
    assert_eq!(again["result"], "no_change", "{again:#}");
}

#[tokio::test]
async fn given_a_platform_group_then_it_is_created_with_its_exported_members() {
    let (stack, mut function) = world(json!({})).await;
    put(&stack, "USER#p-ada", ada()).await;
    assert_eq!(
        export(&mut function, "user", "p-ada", false).await["result"],
        "create"
    );
    let ada_id = entra_user(&stack, &ada_upn()).unwrap().id;
    put(
        &stack,
        "GROUP#p-team",
        json!({"group_id": "p-team", "name": "Team", "source": "local"}),
    )
    .await;
    put(
        &stack,
        "MEMBER#p-team#p-ada",
        json!({"group_id": "p-team", "user_id": "p-ada", "source": "local"}),
    )
    .await;

    let answer = export(&mut function, "group", "p-team", false).await;

    assert_eq!(answer["result"], "create", "{answer:#}");
    let team = item(&stack, "GROUP#p-team").await.unwrap();
    let team_id = team["entra_id"].as_str().expect("linked").to_owned();
    let has_ada = stack.emulator.with_tenant(CONTOSO, |t| {
        (
            t.groups[&team_id].display_name.clone(),
            t.groups[&team_id].members.contains(&ada_id),
        )
    });
    assert_eq!(has_ada, ("Team".to_owned(), true));
    let again = export(&mut function, "group", &team_id, false).await;
    assert_eq!(again["result"], "no_change", "{again:#}");
}

#[tokio::test]
async fn given_a_deleted_platform_group_then_its_entra_group_is_deleted_as_the_tenant_chose() {
    let (stack, mut function) = world(json!({})).await;
    let team = json!({"group_id": "p-team", "name": "Team", "source": "local"});
    put(&stack, "GROUP#p-team", team).await;
    assert_eq!(
        export(&mut function, "group", "p-team", false).await["result"],
        "create"
    );
    let team_id = item(&stack, "GROUP#p-team").await.unwrap()["entra_id"]
        .as_str()
        .unwrap()
        .to_owned();
    delete(&stack, "GROUP#p-team").await;

    let answer = export(&mut function, "group", &team_id, false).await;

    assert_eq!(answer["result"], "delete", "{answer:#}");
    assert_eq!(answer["am_id"], "p-team");
    let left = stack
        .emulator
        .with_tenant(CONTOSO, |t| t.groups.contains_key(&team_id));
    assert!(!left, "deleted in Entra ID");
    let events = events(&stack).await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "delete" && e["object_id"] == "p-team")
    );
}

#[tokio::test]
async fn given_a_draft_export_mapping_in_a_dry_run_then_its_value_shows_and_nothing_is_saved() {
    let (stack, mut function) = world(json!({})).await;
    put(&stack, "USER#p-ada", ada()).await;
    let body = json!({"direction": "export", "object_kind": "user", "object": "p-ada",
        "dry_run": true, "draft": {"user_mappings": [{"direction": "export",
        "target": "jobTitle", "source_type": "constant", "source": "Draft title"}]}});

    let answer = call(&mut function, body).await;

    assert_eq!(answer["result"], "create", "{answer:#}");
    let modified = answer["modified"].as_array().unwrap();
    assert!(
        modified
            .iter()
            .any(|m| m["attribute"] == "jobTitle" && m["new"] == "Draft title"),
        "{answer:#}"
    );
    assert!(entra_user(&stack, &ada_upn()).is_none());
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert!(
        !config.contains_key("user_mappings"),
        "the draft is not saved"
    );
}
