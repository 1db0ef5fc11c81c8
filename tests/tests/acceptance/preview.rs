//! Previews (docs/behaviour.md 2.9) through the real binaries: the scheduler's
//! tick, SQS, the worker, moto's DynamoDB (its stream shows every
//! directory write) and the Entra emulator's Graph.

use entra_sync_tests::emulator::Knobs;
use entra_sync_tests::organisation::{self, FEDERATED, MANAGED, UNLISTED};
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, LocalStack};
use entra_sync_tests::sync::{StreamCursor, SyncFunctions};
use serde_json::{Map, Value, json};

const TENANT: &str = "acme";
const USERS: usize = 300;
const GROUPS: usize = 12;
const ASKED: &str = "2026-12-01T09:00:00Z";

async fn connected(settings: Value) -> (LocalStack, SyncFunctions) {
    let mut stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, USERS, GROUPS);
    stack.emulator.set_knobs(small_pages());
    let mut config = json!({"domains": [MANAGED, FEDERATED]});
    for (k, v) in settings.as_object().unwrap() {
        config[k] = v.clone();
    }
    stack.connect(TENANT, CONTOSO_ADMIN, config).await.unwrap();
    let functions = stack.start_sync_functions().await.unwrap();
    (stack, functions)
}

fn small_pages() -> Knobs {
    Knobs {
        page_size: Some(7),
        member_page_size: Some(40),
        ..Knobs::default()
    }
}

async fn preview_item(stack: &LocalStack) -> Map<String, Value> {
    stack
        .item(
            &stack.tables.integrations,
            &format!("TENANT#{TENANT}"),
            "ENTRA#PREVIEW",
        )
        .await
        .unwrap()
        .expect("an ENTRA#PREVIEW item")
}

fn count(item: &Map<String, Value>, name: &str) -> u64 {
    item["counts"][name].as_u64().unwrap_or_default()
}

fn graph_writes(stack: &LocalStack) -> usize {
    stack
        .emulator
        .graph_requests()
        .iter()
        .filter(|r| r.method != "GET")
        .count()
}

/// Users of the seeded organisation in `domains`.
fn users_in(domains: &[&str]) -> usize {
    let seeded = (0..USERS)
        .filter(|n| {
            domains
                .iter()
                .any(|d| organisation::user_upn(*n).ends_with(d))
        })
        .count();
    // The two seeded accounts of contoso.com (the admin and Megan).
    seeded + if domains.contains(&MANAGED) { 2 } else { 0 }
}

#[tokio::test]
async fn given_a_preview_of_a_first_import_then_it_writes_nothing_and_the_import_does_what_it_said()
{
    let (stack, mut functions) =
        connected(json!({"sync_enabled": false, "preview_requested_at": ASKED})).await;
    let mut directory = StreamCursor::start(&stack).await.unwrap();
    let report = stack.tick(&mut functions).await.unwrap();
    assert_eq!(report.messages, 1, "enqueued although sync is off");
    assert!(report.failed_message_ids.is_empty());

    let preview = preview_item(&stack).await;
    assert_eq!(preview["result"], "ok", "{preview:?}");
    assert_eq!(preview["requested_at"], ASKED);
    assert_eq!(preview["would_hold"], false);
    assert!(preview["completed_at"].as_str() >= preview["started_at"].as_str());
    assert_eq!(
        count(&preview, "users_created"),
        users_in(&[MANAGED, FEDERATED]) as u64
    );
    assert_eq!(count(&preview, "groups_created"), GROUPS as u64);
    assert!(count(&preview, "members_added") > 0);
    let samples = preview["samples"].as_array().unwrap();
    let of = |change: &str| samples.iter().filter(|s| s["change"] == change).count();
    assert_eq!(of("user_create"), 25, "at most 25 per kind of change");
    assert_eq!(of("group_create"), GROUPS);
    assert_eq!(of("member_add"), 25);
    let member = samples
        .iter()
        .find(|s| s["change"] == "member_add")
        .unwrap();
    assert!(
        member["display"].as_str().unwrap().contains(" / user"),
        "group name / UPN: {member:?}"
    );

    assert!(
        directory.read().await.unwrap().is_empty(),
        "no directory write"
    );
    assert_eq!(graph_writes(&stack), 0, "no Graph write");
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert!(
        !config.contains_key("preview_requested_at"),
        "the request is answered"
    );
    let status = stack.status_item(TENANT).await.unwrap_or_default();
    for kept in [
        "users_delta_link",
        "groups_delta_link",
        "checkpoint",
        "last_sync_result",
    ] {
        assert!(!status.contains_key(kept), "the sync's {kept} untouched");
    }
    assert!(stack.problem_items(TENANT).await.unwrap().is_empty());

    // Answered: the next tick does nothing for the tenant.
    let report = stack.tick(&mut functions).await.unwrap();
    assert_eq!(report.messages, 0);

    // The first import then does what the preview said.
    stack
        .update_config(TENANT, json!({"sync_enabled": true}))
        .await
        .unwrap();
    stack.tick(&mut functions).await.unwrap();
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok");
    assert_eq!(status["last_sync_counts"], preview["counts"]);
}

#[tokio::test]
async fn given_a_scope_change_that_would_delete_most_users_then_the_preview_would_hold_and_nothing_is_deleted()
 {
    // Every domain imported; narrowing to one keeps a third.
    // Users leaving the scope are deleted, not disabled (DESIGN 2.13).
    let (stack, mut functions) =
        connected(json!({"domains": [], "import_user_out_of_scope_action": "delete"})).await;
    stack.tick(&mut functions).await.unwrap();
    let imported = stack.directory_of(TENANT, "USER#").await.unwrap().len();
    assert_eq!(imported, users_in(&[MANAGED, FEDERATED, UNLISTED]));
    let status_before = stack.status_item(TENANT).await.unwrap();

    // The admin would narrow `domains` to the federated one, and asks first.
    let narrowed = users_in(&[FEDERATED]);
    stack
        .update_config(
            TENANT,
            json!({"domains": [FEDERATED], "preview_requested_at": ASKED, "sync_enabled": false}),
        )
        .await
        .unwrap();
    let mut directory = StreamCursor::start(&stack).await.unwrap();
    stack.tick(&mut functions).await.unwrap();

    let preview = preview_item(&stack).await;
    assert_eq!(preview["result"], "ok", "{preview:?}");
    let deleted = imported - narrowed;
    assert!(deleted * 100 >= imported * 60, "{deleted} of {imported}");
    assert_eq!(preview["would_hold"], true);
    assert_eq!(
        count(&preview, "users_deleted"),
        deleted as u64,
        "as if approved"
    );
    assert_eq!(count(&preview, "users_created"), 0);
    assert!(
        count(&preview, "members_removed") > 0,
        "memberships go with them"
    );
    let samples = preview["samples"].as_array().unwrap();
    let deletion = samples
        .iter()
        .find(|s| s["change"] == "user_delete")
        .unwrap();
    assert!(
        !deletion["display"].as_str().unwrap().ends_with(FEDERATED)
            && deletion["display"].as_str().unwrap().contains('@'),
        "a deleted user is shown by UPN: {deletion:?}"
    );

    assert!(
        directory.read().await.unwrap().is_empty(),
        "nothing deleted"
    );
    assert_eq!(
        stack.directory_of(TENANT, "USER#").await.unwrap().len(),
        imported
    );
    let status = stack.status_item(TENANT).await.unwrap();
    for kept in [
        "users_delta_link",
        "groups_delta_link",
        "scope_fingerprint",
        "last_sync_completed_at",
        "last_sync_counts",
    ] {
        assert_eq!(
            status[kept], status_before[kept],
            "the sync's {kept} untouched"
        );
    }
}

#[tokio::test]
async fn given_a_preview_requested_while_a_sync_is_paused_then_both_complete_and_the_sync_is_undisturbed()
 {
    let (stack, mut functions) = connected(json!({})).await;
    // Slow pages and two-second invocations: the first import pauses.
    stack.emulator.set_knobs(Knobs {
        latency: std::time::Duration::from_millis(60),
        ..small_pages()
    });
    stack
        .send_messages(&[&format!(r#"{{"tenant_id":"{TENANT}"}}"#)])
        .await
        .unwrap();
    let budget = std::time::Duration::from_secs(2);
    stack
        .deliver_within(&mut functions.worker, budget)
        .await
        .unwrap();
    let paused = stack.status_item(TENANT).await.unwrap();
    let checkpoint = paused["checkpoint"]
        .as_str()
        .expect("a paused sync")
        .to_owned();

    // The admin asks for a preview now; its continuation runs it first.
    stack
        .update_config(TENANT, json!({"preview_requested_at": ASKED}))
        .await
        .unwrap();
    stack.emulator.set_knobs(small_pages());
    let report = stack
        .deliver_within(&mut functions.worker, std::time::Duration::from_secs(120))
        .await
        .unwrap();
    assert!(report.failed_message_ids.is_empty(), "{report:?}");

    let preview = preview_item(&stack).await;
    assert_eq!(preview["result"], "ok", "{preview:?}");
    let in_scope = users_in(&[MANAGED, FEDERATED]) as u64;
    // What the paused sync had not imported yet.
    assert!(count(&preview, "users_created") < in_scope);
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok", "{status:?}");
    assert_eq!(
        status["last_sync_counts"]["users_created"], in_scope,
        "the sync resumed from its own checkpoint and counted every user once"
    );
    let resumed_from: Value = serde_json::from_str(&checkpoint).unwrap();
    assert!(resumed_from["next_link"].is_string());
    let initial_requests = stack.users_rounds_begun();
    assert_eq!(
        initial_requests, 2,
        "one round each: the sync's and the preview's"
    );
    assert_eq!(
        stack.directory_of(TENANT, "USER#").await.unwrap().len() as u64,
        in_scope
    );
}

#[tokio::test]
async fn given_previews_then_no_token_secret_or_password_is_in_their_items() {
    let (stack, mut functions) =
        connected(json!({"sync_enabled": false, "preview_requested_at": ASKED})).await;
    stack.tick(&mut functions).await.unwrap();
    let pk = format!("TENANT#{TENANT}");
    let items: Vec<Map<String, Value>> = stack
        .integration_items()
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i["pk"] == pk.as_str())
        .filter(|i| {
            i["sk"]
                .as_str()
                .is_some_and(|sk| sk.starts_with("ENTRA#PREVIEW") || sk.starts_with("ENTRA#ROUND"))
        })
        .collect();
    assert!(!items.is_empty());
    let text = serde_json::to_string(&items).unwrap();
    let passwords: Vec<String> = stack.emulator.with_tenant(CONTOSO, |t| {
        t.users
            .values()
            .filter_map(|u| u.password.clone())
            .collect()
    });
    let secrets = stack.emulator.issued_secrets();
    assert!(!secrets.is_empty());
    for secret in secrets.into_iter().chain(passwords) {
        assert!(!text.contains(&secret), "a secret in a preview's items");
    }
}

#[tokio::test]
async fn given_a_preview_requested_for_a_tenant_that_is_not_authorised_then_it_is_not_enqueued_and_a_worker_says_why()
 {
    let (stack, mut functions) = connected(json!({"sync_enabled": false})).await;
    stack
        .update_config(
            TENANT,
            json!({"authorisation": "reauthorisation_required", "preview_requested_at": ASKED}),
        )
        .await
        .unwrap();
    let report = stack.tick(&mut functions).await.unwrap();
    assert_eq!(
        report.messages, 0,
        "the scheduler enqueues authorised tenants only"
    );

    // A job that reaches the worker all the same gets an error report.
    stack
        .send_messages(&[&format!(r#"{{"tenant_id":"{TENANT}"}}"#)])
        .await
        .unwrap();
    stack.deliver(&mut functions.worker).await.unwrap();
    let preview = preview_item(&stack).await;
    assert_eq!(preview["result"], "error");
    assert!(
        preview["error"]
            .as_str()
            .unwrap()
            .contains("not authorised"),
        "{preview:?}"
    );
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert!(!config.contains_key("preview_requested_at"));
    assert_eq!(graph_writes(&stack), 0);
}

#[tokio::test]
async fn given_a_preview_requested_while_a_sync_runs_then_a_second_worker_previews_beside_it_and_leaves_it_alone()
 {
    let (stack, mut functions) = connected(json!({})).await;
    stack.emulator.set_knobs(Knobs {
        latency: std::time::Duration::from_millis(30),
        ..small_pages()
    });
    let mut second = stack.start_sync_functions().await.unwrap();
    let body = format!(r#"{{"tenant_id":"{TENANT}"}}"#);
    let event = |id: &str| {
        entra_sync_tests::sync::sqs_event(
            "arn:aws:sqs:us-east-1:123456789012:jobs",
            &[(id.into(), "r".into(), body.clone())],
        )
    };
    let syncing = functions.worker.invoke(event("m-sync"));
    let previewing = async {
        // Once the sync holds its lease, the admin asks for a preview and
        // another worker gets the message.
        loop {
            let status = stack.status_item(TENANT).await.unwrap_or_default();
            if status.contains_key("lease_owner") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        stack
            .update_config(TENANT, json!({"preview_requested_at": ASKED}))
            .await
            .unwrap();
        let answer = second.worker.invoke(event("m-preview")).await;
        let still_running = stack.status_item(TENANT).await.unwrap();
        (answer, still_running.contains_key("lease_owner"))
    };
    let (synced, (previewed, sync_still_running)) = tokio::join!(syncing, previewing);
    for answer in [synced.unwrap().unwrap(), previewed.unwrap().unwrap()] {
        assert_eq!(answer["batchItemFailures"], json!([]));
    }
    assert!(sync_still_running, "the preview ran beside the sync");

    let written = stack
        .item(
            &stack.tables.integrations,
            &format!("TENANT#{TENANT}"),
            "ENTRA#PREVIEW",
        )
        .await
        .unwrap();
    // Intermittent in CI once: say what the previewing worker did.
    let said: Vec<String> = second
        .worker
        .logs()
        .into_iter()
        .filter(|l| !l.contains("\"level\":\"DEBUG\"") && !l.contains("\"level\":\"TRACE\""))
        .collect();
    assert!(
        written.is_some(),
        "no ENTRA#PREVIEW; the second worker logged:\n{}",
        said.join("\n")
    );
    let preview = preview_item(&stack).await;
    assert_eq!(preview["result"], "ok", "{preview:?}");
    let in_scope = users_in(&[MANAGED, FEDERATED]) as u64;
    assert!(count(&preview, "users_created") <= in_scope);
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok", "{status:?}");
    assert_eq!(status["last_sync_counts"]["users_created"], in_scope);
    assert_eq!(status["last_sync_counts"]["groups_created"], GROUPS as u64);
    assert_eq!(
        stack.directory_of(TENANT, "USER#").await.unwrap().len() as u64,
        in_scope,
        "the preview wrote nothing, the sync everything"
    );
    assert!(
        !stack
            .config_item(TENANT)
            .await
            .unwrap()
            .unwrap()
            .contains_key("preview_requested_at")
    );
}

/// Issue 22 §9: a draft scoping filter is previewed before it is saved
/// (the preview reads what the draft's filter needs), nothing changes;
/// saved, the next run applies it as the preview said.
#[tokio::test]
async fn given_a_draft_scoping_filter_then_the_preview_shows_its_effect_and_saving_it_applies_it() {
    let (stack, mut functions) = connected(json!({})).await;
    stack.tick(&mut functions).await.unwrap();
    let imported = stack.directory_of(TENANT, "USER#").await.unwrap();
    let engineers = imported
        .iter()
        .filter(|u| u["job_title"] == "Engineer")
        .count();
    let others = (imported.len() - engineers) as u64;
    let filters = json!([{"name": "engineers", "clauses": [
        {"attribute": "jobTitle", "operator": "equals", "value": "engineer"}]}]);

    stack
        .update_config(
            TENANT,
            json!({"preview_requested_at": ASKED,
                   "preview_draft": {"user_scope_filters": filters.clone()}}),
        )
        .await
        .unwrap();
    let mut directory = StreamCursor::start(&stack).await.unwrap();
    stack.tick(&mut functions).await.unwrap();

    let preview = preview_item(&stack).await;
    assert_eq!(preview["result"], "ok", "{preview:?}");
    assert_eq!(
        count(&preview, "users_updated"),
        others,
        "disabled: out of scope"
    );
    assert_eq!(count(&preview, "users_deleted"), 0);
    assert_eq!(preview["would_hold"], true, "two thirds is above 20%");
    assert!(
        directory.read().await.unwrap().is_empty(),
        "nothing written"
    );
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert!(config.get("preview_requested_at").is_none(), "answered");
    assert!(config.get("preview_draft").is_none(), "the draft goes with it");

    // Saved (and the hold approved): the run does what the preview said.
    stack
        .update_config(
            TENANT,
            json!({"user_scope_filters": filters, "approve_held_deletions": true}),
        )
        .await
        .unwrap();
    stack.tick(&mut functions).await.unwrap();
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_mode"], "full", "the scope changed");
    let users = stack.directory_of(TENANT, "USER#").await.unwrap();
    let disabled = users
        .iter()
        .filter(|u| u["sync_deprovisioned_reason"] == "out_of_scope")
        .count() as u64;
    assert_eq!(disabled, others);
    assert!(
        users
            .iter()
            .filter(|u| u["job_title"] == "Engineer")
            .all(|u| u["enabled"] == true)
    );
}

#[tokio::test]
async fn given_a_draft_that_is_not_what_flows_then_the_preview_says_why_and_nothing_runs_with_it() {
    let (stack, mut functions) = connected(json!({})).await;
    stack.tick(&mut functions).await.unwrap();
    stack
        .update_config(
            TENANT,
            json!({"preview_requested_at": ASKED, "preview_draft": {"domains": ["evil.example"]}}),
        )
        .await
        .unwrap();
    stack.tick(&mut functions).await.unwrap();
    let preview = preview_item(&stack).await;
    assert_eq!(preview["result"], "error");
    let error = preview["error"].as_str().unwrap();
    assert!(error.contains("preview_draft"), "{error}");
    assert!(error.contains("`domains`"), "{error}");
}
