//! docs/behaviour.md 2.11 through the real `export-stream` binary: the export takes
//! over no Entra account it cannot prove it created (unless the tenant
//! allows adoption), never touches an administrator, refuses ids that hold
//! the keys' separator, and lets no tenant hold up another.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use entra_sync_tests::emulator::{Group, RequestRecord, User};
use entra_sync_tests::export::lambda_record;
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, FABRIKAM, FABRIKAM_ADMIN};
use serde_json::{Value, json};

use super::export::{TENANT, World, field, platform_user, world};

/// The seeded Contoso admin (a Global Administrator), imported by the
/// first sync as an AM user with this id.
const ADMIN_ID: &str = "a1b2c3d4-0000-4000-8000-000000000001";

/// An Entra user the first import has not seen: a break-glass account.
fn add_entra_user(w: &World, id: &str, upn: &str) {
    w.stack.emulator.with_tenant(CONTOSO, |t| {
        t.upsert_user(User {
            id: id.into(),
            user_principal_name: upn.into(),
            display_name: Some("Break Glass".into()),
            account_enabled: true,
            ..User::default()
        })
    });
}

/// Graph writes (PATCH, DELETE, ...) aimed at one Entra user since `from`.
fn writes_to(w: &World, from: usize, entra_id: &str) -> Vec<RequestRecord> {
    w.writes_since(from)
        .into_iter()
        .filter(|r| r.path.contains(entra_id))
        .collect()
}

async fn problem(w: &World, object_id: &str) -> serde_json::Map<String, Value> {
    let problems = w.stack.problem_items(TENANT).await.unwrap();
    problems
        .into_iter()
        .find(|p| field(p, "object_id") == object_id)
        .unwrap_or_else(|| panic!("no problem for {object_id}"))
}

#[tokio::test]
async fn given_a_platform_user_with_the_upn_of_an_unmarked_entra_user_then_a_problem_and_no_patch_or_delete()
 {
    let mut w = world(json!({})).await;
    let breakglass = "b0000000-0000-4000-8000-0000000000b1";
    add_entra_user(&w, breakglass, "breakglass@contoso.com");
    let start = w.log_len();

    w.put("USER#p-bg", platform_user("p-bg", "breakglass@contoso.com"))
        .await;
    let report = w.export().await;
    assert!(report.retried.is_empty(), "{report:?}");
    assert!(!w.item("USER#p-bg").await.contains_key("entra_id"));
    let parked = problem(&w, "p-bg").await;
    assert_eq!(field(&parked, "code"), "entra_object_exists");
    assert_eq!(field(&parked, "operation"), "create");
    assert!(
        field(&parked, "reason").contains("export_adopt_existing"),
        "the admin is told how to link it: {parked:?}"
    );

    // The platform disables, then deletes its user: Entra's account stays.
    w.set("USER#p-bg", "enabled", AttributeValue::Bool(false))
        .await;
    w.export().await;
    w.delete("USER#p-bg").await;
    w.export().await;
    assert!(
        writes_to(&w, start, breakglass).is_empty(),
        "{:?}",
        w.writes_since(start)
    );
    let account = w
        .stack
        .emulator
        .with_tenant(CONTOSO, |t| t.users[breakglass].clone());
    assert!(account.account_enabled && !account.deleted);
    assert!(w.stack.problem_items(TENANT).await.unwrap().is_empty());
}

#[tokio::test]
async fn given_export_adopt_existing_then_the_unmarked_user_is_adopted_and_deleted_with_its_platform_user()
 {
    let mut w = world(json!({"export_adopt_existing": true})).await;
    let migrated = "b0000000-0000-4000-8000-0000000000b2";
    add_entra_user(&w, migrated, "migrated@contoso.com");
    let start = w.log_len();

    w.put("USER#p-mig", platform_user("p-mig", "migrated@contoso.com"))
        .await;
    w.export().await;
    let item = w.item("USER#p-mig").await;
    assert_eq!(item["entra_id"], migrated);
    assert_eq!(item["sync_entra_origin"], "adopted");
    let methods: Vec<String> = writes_to(&w, start, migrated)
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(
        methods,
        ["PATCH", "PATCH"],
        "marked as adopted, then the platform's values go out"
    );
    let mark = w.stack.emulator.with_tenant(CONTOSO, |t| {
        t.users[migrated].extensions.values().next().cloned()
    });
    assert_eq!(mark, Some(json!(format!("{TENANT}/USER#p-mig"))));
    assert_eq!(
        w.stack
            .emulator
            .with_tenant(CONTOSO, |t| t.users[migrated].display_name.clone()),
        Some("Ada Lovelace".into())
    );

    w.export().await;
    w.delete("USER#p-mig").await;
    w.export().await;
    assert!(
        w.stack
            .emulator
            .with_tenant(CONTOSO, |t| t.users[migrated].deleted),
        "an adopted account goes with its platform user"
    );
}

#[tokio::test]
async fn given_platform_items_forging_a_link_to_unmarked_entra_objects_then_their_deletes_send_no_delete()
 {
    let mut w = world(json!({})).await;
    let victim = "b0000000-0000-4000-8000-0000000000b3";
    add_entra_user(&w, victim, "victim@contoso.com");
    let victim_group = "b0000000-0000-4000-8000-0000000000c3";
    w.stack.emulator.with_tenant(CONTOSO, |t| {
        t.upsert_group(Group {
            id: victim_group.into(),
            display_name: "Finance".into(),
            mail_nickname: "finance".into(),
            security_enabled: true,
            ..Group::default()
        })
    });
    let start = w.log_len();
    // Links and origins any writer of the table can set.
    let mut user = platform_user("p-forge", "forge@contoso.com");
    user["entra_id"] = json!(victim);
    user["sync_entra_origin"] = json!("created");
    w.put("USER#p-forge", user).await;
    let group = json!({"group_id": "g-forge", "name": "Forged", "source": "local", "entra_id": victim_group, "sync_entra_origin": "created"});
    w.put("GROUP#g-forge", group).await;
    w.export().await;
    w.delete("USER#p-forge").await;
    w.delete("GROUP#g-forge").await;
    w.export().await;

    for (id, entra_id) in [("p-forge", victim), ("g-forge", victim_group)] {
        assert!(writes_to(&w, start, entra_id).is_empty(), "{id}");
        let parked = problem(&w, id).await;
        assert_eq!(field(&parked, "code"), "entra_object_exists");
        assert!(field(&parked, "reason").contains(entra_id), "{parked:?}");
    }
    let (user_gone, group_gone) = w.stack.emulator.with_tenant(CONTOSO, |t| {
        (t.users[victim].deleted, t.groups[victim_group].deleted)
    });
    assert!(!user_gone && !group_gone);
}

#[tokio::test]
async fn given_the_admins_upn_or_the_imported_admin_then_privileged_account_and_nothing_is_written()
{
    let mut w = world(json!({"export_adopt_existing": true})).await;
    let start = w.log_len();

    // A platform user claiming the admin's UPN, adoption allowed or not.
    w.put("USER#p-adm", platform_user("p-adm", CONTOSO_ADMIN))
        .await;
    // The platform edits, then disables the imported admin.
    let admin_sk = format!("USER#{ADMIN_ID}");
    w.set(&admin_sk, "job_title", AttributeValue::S("Intern".into()))
        .await;
    w.export().await;
    w.set(&admin_sk, "enabled", AttributeValue::Bool(false))
        .await;
    w.export().await;
    assert_eq!(
        field(&problem(&w, "p-adm").await, "code"),
        "privileged_account"
    );
    let parked = problem(&w, ADMIN_ID).await;
    assert_eq!(field(&parked, "code"), "privileged_account");
    assert!(
        field(&parked, "reason").contains("Global Administrator"),
        "{parked:?}"
    );

    // And the platform deletes it.
    w.delete(&admin_sk).await;
    w.export().await;
    assert!(
        writes_to(&w, start, ADMIN_ID).is_empty(),
        "{:?}",
        w.writes_since(start)
    );
    let admin = w
        .stack
        .emulator
        .with_tenant(CONTOSO, |t| t.users[ADMIN_ID].clone());
    assert!(admin.account_enabled && !admin.deleted && admin.job_title.is_none());
    assert!(!w.item("USER#p-adm").await.contains_key("entra_id"));
}

#[tokio::test]
async fn given_the_create_answer_was_lost_then_the_repeated_create_finds_the_marked_user_and_links_it()
 {
    let mut w = world(json!({})).await;
    w.stack.emulator.lose_answer_to("POST", "/v1.0/users");
    let start = w.log_len();

    w.put("USER#p-lost", platform_user("p-lost", "lost@contoso.com"))
        .await;
    let report = w.export().await;

    assert!(report.retried.is_empty(), "{report:?}");
    let creates: Vec<u16> = w.stack.emulator.requests()[start..]
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1.0/users")
        .map(|r| r.status)
        .collect();
    // Not sent again (Graph may have applied it): looked for by its mark
    // at once, and found.
    assert_eq!(creates, [504], "applied but unanswered, and not sent again");
    let made: Vec<User> = w.stack.emulator.with_tenant(CONTOSO, |t| {
        t.users
            .values()
            .filter(|u| u.user_principal_name == "lost@contoso.com")
            .cloned()
            .collect()
    });
    assert_eq!(made.len(), 1, "created once");
    assert_eq!(
        made[0].extensions.values().next(),
        Some(&json!(format!("{TENANT}/USER#p-lost"))),
        "marked as the export's in the create"
    );
    let item = w.item("USER#p-lost").await;
    assert_eq!(item["entra_id"], made[0].id.as_str());
    assert_eq!(item["sync_entra_origin"], "created", "its own, not adopted");
    assert!(w.stack.problem_items(TENANT).await.unwrap().is_empty());
}

#[tokio::test]
async fn given_records_whose_ids_hold_the_key_separator_then_each_is_refused_by_name_and_not_retried()
 {
    let mut w = world(json!({})).await;
    let start = w.log_len();
    w.put("USER#x#y", platform_user("x#y", "xy@contoso.com"))
        .await;
    w.put(
        "MEMBER#a#b#c",
        json!({"group_id": "a#b", "user_id": "c", "source": "local"}),
    )
    .await;
    w.put(
        "USER#p-after",
        platform_user("p-after", "after@contoso.com"),
    )
    .await;
    let report = w.export().await;

    assert!(report.retried.is_empty(), "not a batch failure: {report:?}");
    let writes = w.writes_since(start);
    assert!(
        writes.iter().all(|r| r.path == "/v1.0/users"
            && r.body.as_ref().unwrap()["userPrincipalName"] == "after@contoso.com"),
        "only the record behind them went out: {writes:?}"
    );
    assert!(w.item("USER#p-after").await.contains_key("entra_id"));
    let logs = w.export.settled_logs().await;
    for sk in ["USER#x#y", "MEMBER#a#b#c"] {
        let line = logs
            .iter()
            .find(|l| l.contains(sk))
            .unwrap_or_else(|| panic!("no log line names {sk}"));
        assert!(line.contains("sequence_number"), "{line}");
        assert!(line.contains("'#'"), "{line}");
    }
    assert!(w.stack.problem_items(TENANT).await.unwrap().is_empty());
}

/// A second AM tenant, `globex`, connected to Fabrikam with export on.
const OTHER: &str = "globex";

async fn put_for(w: &World, tenant: &str, sk: &str, item: Value) {
    let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(item).unwrap();
    item.insert("pk".into(), AttributeValue::S(format!("TENANT#{tenant}")));
    item.insert("sk".into(), AttributeValue::S(sk.into()));
    w.stack
        .aws
        .dynamodb
        .put_item()
        .table_name(&w.stack.tables.directory)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn given_one_tenants_graph_throttled_then_its_changes_are_parked_within_its_budget_and_the_other_tenants_arrive()
 {
    let mut w = world(json!({})).await;
    w.stack
        .connect(
            OTHER,
            FABRIKAM_ADMIN,
            json!({"export_users": true, "domains": ["fabrikam.com"]}),
        )
        .await
        .unwrap();
    w.stack.emulator.throttle_tenant(CONTOSO, true);
    for n in 1..=3 {
        let id = format!("p-{n}");
        w.put(
            &format!("USER#{id}"),
            platform_user(&id, &format!("slow{n}@contoso.com")),
        )
        .await;
    }
    put_for(
        &w,
        OTHER,
        "USER#g-1",
        platform_user("g-1", "quick@fabrikam.com"),
    )
    .await;
    let records: Vec<Value> = w
        .cursor
        .read()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            lambda_record(
                r,
                "arn:aws:dynamodb:us-east-1:123456789012:table/directory/stream/local",
            )
        })
        .collect();
    assert_eq!(records.len(), 4, "both tenants in one batch");

    // A 12 s invocation: each tenant's share is (12 s - 2 s) / 4.
    let started = Instant::now();
    let answer = w
        .export
        .invoke_with_deadline(json!({ "Records": records }), Duration::from_secs(12))
        .await
        .unwrap()
        .unwrap();
    let took = started.elapsed();

    assert_eq!(
        answer["batchItemFailures"],
        json!([]),
        "throttling is no AWS failure"
    );
    assert!(took < Duration::from_secs(6), "the batch was held {took:?}");
    let arrived = w
        .stack
        .emulator
        .with_tenant(FABRIKAM, |t| t.user_by_upn("quick@fabrikam.com").is_some());
    assert!(arrived, "the other tenant's change is in its Entra ID");
    let parked = w.stack.problem_items(TENANT).await.unwrap();
    assert_eq!(parked.len(), 3, "{parked:?}");
    for problem in &parked {
        assert_eq!(field(problem, "code"), "retries_exhausted", "{problem:?}");
        assert!(
            problem.contains_key("next_attempt_at"),
            "it passes by itself"
        );
    }

    // Graph takes the tenant back: the first sync run after the backoff
    // exports what waited.
    w.stack.emulator.throttle_tenant(CONTOSO, false);
    w.stack.make_problems_due(TENANT).await.unwrap();
    w.stack.tick(&mut w.sync).await.unwrap();
    for n in 1..=3 {
        assert!(
            w.item(&format!("USER#p-{n}"))
                .await
                .contains_key("entra_id")
        );
    }
    assert!(w.stack.problem_items(TENANT).await.unwrap().is_empty());
}

#[tokio::test]
async fn given_the_mark_not_registered_on_the_app_then_creates_are_a_problem_naming_it() {
    let mut w = world(json!({})).await;
    // The deployment skipped the README's registration step.
    w.stack.emulator.set_extension_properties(Vec::new());
    w.put("USER#p-1", platform_user("p-1", "one@contoso.com"))
        .await;
    let report = w.export().await;
    assert!(report.retried.is_empty(), "{report:?}");
    let parked = problem(&w, "p-1").await;
    assert_eq!(field(&parked, "code"), "graph_rejected");
    let reason = field(&parked, "reason");
    // The first call that names it is the create's lookup by the mark.
    assert!(
        reason.contains("does not exist as a declared property or extension property")
            && reason.contains("entraSyncCreatedFor"),
        "{reason}"
    );
}
