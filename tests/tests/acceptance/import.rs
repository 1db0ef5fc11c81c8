//! The import through the real binaries: the scheduler's tick, SQS, the
//! worker, moto's DynamoDB (and its stream, to see every write), and the
//! Entra emulator's Graph.

use std::collections::HashMap;

use entra_sync_tests::emulator::{DeltaExpiry, GraphFault, Knobs, Revocation, User};
use entra_sync_tests::organisation::{self, FEDERATED, MANAGED, UNLISTED, group_id, user_id};
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, FABRIKAM, FABRIKAM_ADMIN, LocalStack};
use entra_sync_tests::sync::{StreamCursor, SyncFunctions};
use serde_json::{Map, Value, json};

const TENANT: &str = "acme";
const USERS: usize = 300;
const GROUPS: usize = 12;

/// A stack with Contoso seeded (300 users, 12 groups, tiny pages) and
/// `acme` connected to it, importing contoso.com and its federated domain.
async fn connected(settings: Value) -> (LocalStack, SyncFunctions) {
    let mut stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, USERS, GROUPS);
    stack.emulator.set_knobs(Knobs {
        page_size: Some(7),
        member_page_size: Some(40),
        ..Knobs::default()
    });
    let mut config = json!({"domains": [MANAGED, FEDERATED]});
    for (k, v) in settings.as_object().unwrap() {
        config[k] = v.clone();
    }
    stack.connect(TENANT, CONTOSO_ADMIN, config).await.unwrap();
    let functions = stack.start_sync_functions().await.unwrap();
    (stack, functions)
}

fn by_id(items: Vec<Map<String, Value>>, id: &str) -> HashMap<String, Map<String, Value>> {
    items
        .into_iter()
        .map(|i| (i[id].as_str().unwrap().to_owned(), i))
        .collect()
}

fn in_scope(n: usize) -> bool {
    !organisation::user_upn(n).ends_with(UNLISTED)
}

#[tokio::test]
async fn given_a_new_tenant_when_the_schedule_ticks_then_a_full_import_arrives() {
    let (stack, mut functions) = connected(json!({})).await;
    // Every round opens with an empty page, and each page repeats the last
    // object of the one before (both allowed by docs/graph.md 1.1 and 1.8).
    stack.emulator.set_knobs(Knobs {
        page_size: Some(7),
        member_page_size: Some(40),
        empty_first_page: true,
        duplicate_items: true,
        ..Knobs::default()
    });
    let report = stack.tick(&mut functions).await.unwrap();
    assert_eq!(report.messages, 1);
    assert!(report.failed_message_ids.is_empty());

    let users = by_id(
        stack.directory_of(TENANT, "USER#").await.unwrap(),
        "user_id",
    );
    let expected: Vec<usize> = (0..USERS).filter(|n| in_scope(*n)).collect();
    // Plus the two seeded accounts of contoso.com (the admin and Megan).
    assert_eq!(users.len(), expected.len() + 2);
    let managed = &users[&user_id(0)];
    assert_eq!(managed["user_name"], organisation::user_upn(0));
    assert_eq!(managed["password_mode"], "entra");
    assert_eq!(managed["source"], "entra");
    assert!(
        managed.get("entra_id").is_none(),
        "an imported object is its Entra object: its id is the Entra id"
    );
    assert!(managed["sync_entra_hash"].is_string());
    assert_eq!(managed["enabled"], true);
    assert_eq!(managed["job_title"], "Engineer");
    assert_eq!(managed["display_name"], "User 00000");
    assert!(managed.get("mobile_phone").is_none(), "null maps to absent");
    assert_eq!(
        users[&user_id(1)]["password_mode"],
        "temporary",
        "federated domain"
    );
    assert!(
        !users.contains_key(&user_id(2)),
        "unlisted domain is out of scope"
    );

    let groups = by_id(
        stack.directory_of(TENANT, "GROUP#").await.unwrap(),
        "group_id",
    );
    assert_eq!(groups.len(), GROUPS);
    assert_eq!(groups[&group_id(0)]["name"], "All Staff");
    let members = stack.directory_of(TENANT, "MEMBER#").await.unwrap();
    let all_staff: Vec<_> = members
        .iter()
        .filter(|m| m["group_id"] == group_id(0))
        .collect();
    let expected_all_staff = (0..USERS).step_by(10).filter(|n| in_scope(*n)).count();
    assert_eq!(
        all_staff.len(),
        expected_all_staff,
        "users only; nested groups are not AM memberships"
    );
    assert!(members.iter().all(|m| m["source"] == "entra"));

    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok");
    assert_eq!(status["last_sync_mode"], "full");
    assert!(status.get("last_sync_error").is_none());
    assert!(
        status["last_sync_completed_at"].as_str().unwrap()
            >= status["last_sync_started_at"].as_str().unwrap()
    );
    assert_eq!(
        status["last_sync_counts"]["users_created"],
        users.len() as u64
    );
    assert_eq!(status["last_sync_counts"]["groups_created"], GROUPS as u64);
    assert_eq!(
        status["last_sync_counts"]["members_added"],
        members.len() as u64
    );
    assert!(status.get("lease_owner").is_none(), "the lease is released");
}

fn memberships_of(items: Vec<Map<String, Value>>) -> Vec<(String, String)> {
    items
        .iter()
        .map(|m| {
            let field = |k: &str| m[k].as_str().unwrap().to_owned();
            (field("group_id"), field("user_id"))
        })
        .collect()
}

/// DESIGN 2.13's default: soft delete → disabled with its memberships →
/// Entra ID restores it → enabled, the same AM user, the same groups.
#[tokio::test]
async fn given_a_user_restored_after_its_soft_delete_was_imported_then_it_comes_back_with_its_groups()
 {
    let (stack, mut functions) = connected(json!({})).await;
    stack.tick(&mut functions).await.unwrap();
    let imported = memberships_of(stack.directory_of(TENANT, "MEMBER#").await.unwrap());
    let (group, user) = imported[0].clone();
    let user_item = |users: Vec<Map<String, Value>>| by_id(users, "user_id")[&user].clone();
    stack
        .emulator
        .with_tenant(CONTOSO, |t| t.soft_delete_user(&user));
    stack.tick(&mut functions).await.unwrap();
    let disabled = user_item(stack.directory_of(TENANT, "USER#").await.unwrap());
    assert_eq!(disabled["enabled"], false, "disabled, not deleted");
    assert_eq!(disabled["sync_deprovisioned_reason"], "soft_deleted");
    assert!(disabled["sync_deprovisioned_at"].is_string());
    let members = memberships_of(stack.directory_of(TENANT, "MEMBER#").await.unwrap());
    assert!(members.contains(&(group.clone(), user.clone())), "kept");

    // A resync's full round does not list the soft-deleted member: its
    // memberships stay all the same.
    stack
        .update_config(
            TENANT,
            json!({"resync_requested_at": "2026-12-07T00:00:00Z"}),
        )
        .await
        .unwrap();
    stack.tick(&mut functions).await.unwrap();
    let members = memberships_of(stack.directory_of(TENANT, "MEMBER#").await.unwrap());
    assert!(
        members.contains(&(group.clone(), user.clone())),
        "kept through a sweep"
    );

    stack
        .emulator
        .with_tenant(CONTOSO, |t| t.restore_user(&user));
    stack.tick(&mut functions).await.unwrap();

    let restored = user_item(stack.directory_of(TENANT, "USER#").await.unwrap());
    assert_eq!(restored["enabled"], true, "reactivated");
    assert!(restored.get("sync_deprovisioned_at").is_none());
    let members = memberships_of(stack.directory_of(TENANT, "MEMBER#").await.unwrap());
    for membership in imported.iter().filter(|(_, u)| *u == user) {
        assert!(members.contains(membership), "restored with {membership:?}");
    }
}

/// Each choice through the binaries: soft delete → `delete`, purge →
/// `keep`, leaving the scope → `delete`, deleted group → `keep`.
#[tokio::test]
async fn given_the_tenants_deprovisioning_choices_then_each_departure_gets_its_choice() {
    let (stack, mut functions) = connected(json!({
        "import_user_soft_delete_action": "delete",
        "import_user_purge_action": "keep",
        "import_user_out_of_scope_action": "delete",
        "import_group_delete_action": "keep",
    }))
    .await;
    stack.tick(&mut functions).await.unwrap();
    let u = |n: usize| user_id(n);
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.soft_delete_user(&u(4));
        t.purge_user(&u(6));
        t.update_user(&u(9), |user| {
            user.user_principal_name = organisation::user_upn(9).replace(MANAGED, UNLISTED)
        });
        t.delete_group(&group_id(1));
    });
    stack.tick(&mut functions).await.unwrap();

    let users = by_id(
        stack.directory_of(TENANT, "USER#").await.unwrap(),
        "user_id",
    );
    assert!(!users.contains_key(&u(4)), "soft delete → delete");
    assert_eq!(users[&u(6)]["enabled"], true, "purge → keep");
    assert_eq!(users[&u(6)]["sync_deprovisioned_reason"], "purged");
    assert!(!users.contains_key(&u(9)), "out of scope → delete");
    let groups = by_id(
        stack.directory_of(TENANT, "GROUP#").await.unwrap(),
        "group_id",
    );
    assert!(groups.contains_key(&group_id(1)), "group delete → keep");
    let counts = &stack.status_item(TENANT).await.unwrap()["last_sync_counts"];
    assert_eq!(counts["users_deleted"], 2);
    assert_eq!(counts["groups_deleted"], 0);
}

/// Runs a tick and returns how many directory writes it made (from the
/// table's stream) and how many Graph requests it sent.
async fn measured_tick(stack: &LocalStack, functions: &mut SyncFunctions) -> (usize, usize) {
    let mut cursor = StreamCursor::start(stack).await.unwrap();
    let graph_before = stack.emulator.graph_requests().len();
    let report = stack.tick(functions).await.unwrap();
    assert!(report.failed_message_ids.is_empty(), "{report:?}");
    (
        cursor.read().await.unwrap().len(),
        stack.emulator.graph_requests().len() - graph_before,
    )
}

#[tokio::test]
async fn given_an_imported_tenant_when_entra_changes_then_the_next_tick_reflects_every_change() {
    let (stack, mut functions) = connected(json!({})).await;
    stack.tick(&mut functions).await.unwrap();

    // An idle tick: two Graph requests, no directory write.
    let (writes, requests) = measured_tick(&stack, &mut functions).await;
    assert_eq!((writes, requests), (0, 2), "idle poll");
    assert_eq!(
        stack.status_item(TENANT).await.unwrap()["last_sync_mode"],
        "delta"
    );

    let u = |n: usize| user_id(n);
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.update_user(&u(0), |user| {
            user.job_title = Some("Principal Engineer".into())
        });
        t.update_user(&u(3), |user| user.account_enabled = false);
        t.soft_delete_user(&u(4));
        t.purge_user(&u(6));
        t.soft_delete_user(&u(7));
        t.restore_user(&u(7));
        t.update_user(&u(9), |user| {
            user.user_principal_name = organisation::user_upn(9).replace(MANAGED, UNLISTED)
        });
        t.update_user(&u(10), |user| {
            user.mobile_phone = Some("+44 20 7946 0000".into())
        });
        t.update_group(&group_id(0), |g| g.display_name = "Everyone".into());
        t.remove_member(&group_id(0), &u(20));
        t.add_member(&group_id(0), &u(21));
        t.upsert_user(User {
            id: user_id(9999),
            user_principal_name: "new.hire@contoso.com".into(),
            display_name: Some("New Hire".into()),
            account_enabled: true,
            ..User::default()
        });
        t.add_member(&group_id(0), &user_id(9999));
    });
    let (writes, _) = measured_tick(&stack, &mut functions).await;

    let users = by_id(
        stack.directory_of(TENANT, "USER#").await.unwrap(),
        "user_id",
    );
    assert_eq!(users[&u(0)]["job_title"], "Principal Engineer");
    assert_eq!(users[&u(3)]["enabled"], false, "disabled, not deleted");
    assert_eq!(users[&u(4)]["enabled"], false, "soft-deleted: disabled");
    assert_eq!(users[&u(4)]["sync_deprovisioned_reason"], "soft_deleted");
    assert!(!users.contains_key(&u(6)), "hard-deleted in Entra");
    assert!(users.contains_key(&u(7)), "deleted then restored");
    assert_eq!(users[&u(7)]["enabled"], true);
    assert_eq!(
        users[&u(9)]["sync_deprovisioned_reason"],
        "out_of_scope",
        "moved to a domain outside the scope: disabled"
    );
    assert_eq!(users[&u(10)]["mobile_phone"], "+44 20 7946 0000");
    assert_eq!(users[&user_id(9999)]["user_name"], "new.hire@contoso.com");
    let groups = by_id(
        stack.directory_of(TENANT, "GROUP#").await.unwrap(),
        "group_id",
    );
    assert_eq!(groups[&group_id(0)]["name"], "Everyone");
    let members: Vec<(String, String)> = stack
        .directory_of(TENANT, "MEMBER#")
        .await
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["group_id"].as_str().unwrap().to_owned(),
                m["user_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(!members.contains(&(group_id(0), u(20))));
    assert!(members.contains(&(group_id(0), u(21))));
    assert!(members.contains(&(group_id(0), user_id(9999))));
    assert!(
        members.iter().all(|(_, user)| user != &u(6)),
        "memberships of deleted users go too"
    );

    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_mode"], "delta");
    let counts = &status["last_sync_counts"];
    assert_eq!(counts["users_created"], 1);
    assert_eq!(counts["users_deleted"], 1, "the purged one; two disabled");
    assert_eq!(counts["groups_updated"], 1);
    // Only what changed was written: 4 user updates, 1 create, 3 deletes,
    // 1 group update, memberships (2 added, 1 removed, the deleted users').
    assert!(writes < 40, "{writes} writes for a dozen changes");

    let (writes, requests) = measured_tick(&stack, &mut functions).await;
    assert_eq!((writes, requests), (0, 2), "idle again");
}

#[tokio::test]
async fn given_throttling_and_503_storms_then_the_run_retries_and_completes() {
    let (stack, mut functions) = connected(json!({})).await;
    stack.emulator.inject_graph_faults([
        GraphFault::Throttle {
            retry_after: Some("0.2".into()),
        },
        GraphFault::Throttle {
            retry_after: Some("0.05".into()),
        },
        GraphFault::Unavailable { status: 503 },
        GraphFault::Throttle { retry_after: None },
        GraphFault::Unavailable { status: 504 },
        GraphFault::Throttle {
            retry_after: Some("0.1".into()),
        },
    ]);
    stack.tick(&mut functions).await.unwrap();
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok", "{status:?}");
    let throttled = stack
        .emulator
        .graph_requests()
        .iter()
        .filter(|r| r.status == 429 || r.status >= 500)
        .count();
    assert_eq!(throttled, 6);
    assert_eq!(
        stack.directory_of(TENANT, "GROUP#").await.unwrap().len(),
        GROUPS
    );

    // A storm longer than the retry policy: the run fails cleanly, keeps its
    // checkpoint, deletes nothing, and the next tick finishes the job.
    stack
        .emulator
        .with_tenant(CONTOSO, |t| t.purge_user(&user_id(0)));
    stack
        .emulator
        .inject_graph_faults((0..12).map(|_| GraphFault::Throttle {
            retry_after: Some("0.01".into()),
        }));
    stack.tick(&mut functions).await.unwrap();
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "error");
    assert!(
        status["last_sync_error"].as_str().unwrap().contains("429"),
        "{status:?}"
    );
    stack.tick(&mut functions).await.unwrap();
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok");
    assert!(status.get("last_sync_error").is_none());
    assert!(
        !by_id(
            stack.directory_of(TENANT, "USER#").await.unwrap(),
            "user_id"
        )
        .contains_key(&user_id(0))
    );
}

#[tokio::test]
async fn given_an_expired_delta_token_then_a_full_round_recovers_and_removes_what_was_deleted_meanwhile()
 {
    for style in [DeltaExpiry::SyncStateNotFound, DeltaExpiry::Gone] {
        let (stack, mut functions) = connected(json!({})).await;
        stack.tick(&mut functions).await.unwrap();
        // Deleted while the token aged: an initial round never reports it.
        stack
            .emulator
            .with_tenant(CONTOSO, |t| t.purge_user(&user_id(3)));
        stack.emulator.expire_delta_tokens(style);
        stack.tick(&mut functions).await.unwrap();
        let status = stack.status_item(TENANT).await.unwrap();
        assert_eq!(status["last_sync_result"], "ok", "{style:?}: {status:?}");
        assert_eq!(status["last_sync_mode"], "full", "{style:?}");
        // Not among Entra's deleted items: purged, so deleted (the
        // default purge choice, DESIGN 2.13).
        assert_eq!(status["last_sync_counts"]["users_deleted"], 1, "{style:?}");
        let users = by_id(
            stack.directory_of(TENANT, "USER#").await.unwrap(),
            "user_id",
        );
        assert!(!users.contains_key(&user_id(3)), "{style:?}");
        assert!(users.contains_key(&user_id(0)));
        let (writes, requests) = measured_tick(&stack, &mut functions).await;
        assert_eq!((writes, requests), (0, 2), "{style:?}: delta again");
    }
}

#[tokio::test]
async fn given_a_resync_request_then_a_full_run_clears_it() {
    let (stack, mut functions) = connected(json!({})).await;
    stack.tick(&mut functions).await.unwrap();
    stack
        .update_config(
            TENANT,
            json!({"resync_requested_at": "2026-11-26T08:00:00Z"}),
        )
        .await
        .unwrap();
    let (writes, _) = measured_tick(&stack, &mut functions).await;
    assert_eq!(writes, 0, "a full round over unchanged data writes nothing");
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_mode"], "full");
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert!(config.get("resync_requested_at").is_none());
    stack.tick(&mut functions).await.unwrap();
    assert_eq!(
        stack.status_item(TENANT).await.unwrap()["last_sync_mode"],
        "delta"
    );
}

#[tokio::test]
async fn given_a_run_killed_mid_round_then_the_next_run_resumes_from_its_checkpoint() {
    let (stack, mut functions) = connected(json!({})).await;
    stack.emulator.set_knobs(Knobs {
        page_size: Some(7),
        member_page_size: Some(40),
        latency: std::time::Duration::from_millis(40),
        ..Knobs::default()
    });
    stack
        .send_messages(&[&format!(r#"{{"tenant_id":"{TENANT}"}}"#)])
        .await
        .unwrap();
    let messages = stack.receive_all().await.unwrap();
    let queue_event =
        entra_sync_tests::sync::sqs_event("arn:aws:sqs:us-east-1:123456789012:jobs", &messages);
    // Kill the worker after ten pages of users.
    let worker = &mut functions.worker;
    let killed = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let invoke = worker.invoke(queue_event);
        tokio::pin!(invoke);
        loop {
            tokio::select! {
                _ = &mut invoke => panic!("the run finished before it could be killed"),
                _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {
                    let pages = stack.emulator.graph_requests().iter().filter(|r| r.path == "/v1.0/users/delta").count();
                    if pages >= 10 { break; }
                }
            }
        }
    })
    .await;
    assert!(killed.is_ok());
    drop(functions);
    let before_kill = stack.emulator.graph_requests().len();
    let status = stack.status_item(TENANT).await.unwrap();
    let checkpoint: Value =
        serde_json::from_str(status["checkpoint"].as_str().expect("a durable checkpoint")).unwrap();
    assert_eq!(checkpoint["phase"], "users");
    assert!(checkpoint["page"].as_u64().unwrap() >= 8);
    let done_before: usize = stack.directory_of(TENANT, "USER#").await.unwrap().len();
    assert!(done_before > 0);

    // The lease of the killed run blocks the tenant until it expires.
    let mut functions = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut functions).await.unwrap();
    assert_eq!(
        stack.emulator.graph_requests().len(),
        before_kill,
        "the lease is still held"
    );
    stack.expire_lease(TENANT).await.unwrap();
    stack.emulator.set_knobs(Knobs {
        page_size: Some(7),
        member_page_size: Some(40),
        ..Knobs::default()
    });
    stack.tick(&mut functions).await.unwrap();
    let resumed = &stack.emulator.graph_requests()[before_kill];
    assert!(
        resumed
            .query
            .as_deref()
            .unwrap_or("")
            .starts_with("$skiptoken="),
        "resumed with a page link: {resumed:?}"
    );
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok");
    assert_eq!(status["last_sync_mode"], "full");
    let users = stack.directory_of(TENANT, "USER#").await.unwrap();
    assert_eq!(
        users.len(),
        (0..USERS).filter(|n| in_scope(*n)).count() + 2,
        "nothing lost"
    );
    // The page being written when the run died was applied but not yet
    // counted; its replay finds the users there. Never counted twice.
    let created = status["last_sync_counts"]["users_created"]
        .as_u64()
        .unwrap() as usize;
    assert!(
        created <= users.len() && created + 7 >= users.len(),
        "{created} of {}",
        users.len()
    );
    // Re-reading the stored links does not restart from zero.
    let initial_requests = stack.users_rounds_begun();
    assert_eq!(initial_requests, 1);
}

#[tokio::test]
async fn given_two_workers_racing_on_one_tenant_then_one_runs_and_the_other_exits_quietly() {
    let (stack, mut functions) = connected(json!({})).await;
    stack.emulator.set_knobs(Knobs {
        page_size: Some(7),
        member_page_size: Some(40),
        latency: std::time::Duration::from_millis(5),
        ..Knobs::default()
    });
    let mut second = stack.start_sync_functions().await.unwrap();
    let body = format!(r#"{{"tenant_id":"{TENANT}"}}"#);
    let event = |id: &str| {
        entra_sync_tests::sync::sqs_event(
            "arn:aws:sqs:us-east-1:123456789012:jobs",
            &[(id.into(), "r".into(), body.clone())],
        )
    };
    let (a, b) = tokio::join!(
        functions.worker.invoke(event("m-1")),
        second.worker.invoke(event("m-2"))
    );
    for answer in [a.unwrap().unwrap(), b.unwrap().unwrap()] {
        assert_eq!(
            answer["batchItemFailures"],
            json!([]),
            "neither message is a failure"
        );
    }
    let initial_rounds = stack.users_rounds_begun();
    assert_eq!(initial_rounds, 1, "only one worker read Entra ID");
    assert_eq!(
        stack.status_item(TENANT).await.unwrap()["last_sync_result"],
        "ok"
    );
}

#[tokio::test]
async fn given_revoked_consent_of_a_delegated_tenant_then_it_stops_with_a_clear_error_and_others_go_on()
 {
    let mut stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, USERS, GROUPS);
    let config = json!({"domains": [MANAGED, FEDERATED]});
    stack
        .connect_delegated(TENANT, CONTOSO_ADMIN, config)
        .await
        .unwrap();
    let mut functions = stack.start_sync_functions().await.unwrap();
    stack
        .connect("globex", FABRIKAM_ADMIN, json!({}))
        .await
        .unwrap();
    stack.tick(&mut functions).await.unwrap();
    stack
        .emulator
        .revoke_consent(CONTOSO, Revocation::Inactivity);
    // A new sandbox: no access token cached from before the revocation.
    let mut functions = stack.start_sync_functions().await.unwrap();
    stack.emulator.with_tenant(FABRIKAM, |t| {
        t.update_user("b1b2c3d4-0000-4000-8000-000000000001", |u| {
            u.job_title = Some("CIO".into())
        })
    });
    let report = stack.tick(&mut functions).await.unwrap();
    assert_eq!(report.messages, 2);
    assert!(report.failed_message_ids.is_empty());

    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert_eq!(config["authorisation"], "reauthorisation_required");
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "error");
    let error = status["last_sync_error"].as_str().unwrap();
    assert!(
        error.contains("AADSTS700082") && error.contains("authorise it again"),
        "{error}"
    );

    let globex = stack.status_item("globex").await.unwrap();
    assert_eq!(globex["last_sync_result"], "ok");
    let fabrikam_admin = stack.directory_of("globex", "USER#").await.unwrap();
    assert_eq!(fabrikam_admin[0]["job_title"], "CIO");

    // Syncing has stopped for acme: the scheduler no longer enqueues it.
    let report = stack.tick(&mut functions).await.unwrap();
    assert_eq!(report.messages, 1);
    for line in functions.worker.settled_logs().await {
        for secret in stack.emulator.issued_secrets() {
            assert!(
                !line.contains(&secret),
                "a token reached the worker's logs: {line}"
            );
        }
    }
}

#[tokio::test]
async fn given_a_mass_deletion_then_it_is_held_until_the_admin_approves_it() {
    let (stack, mut functions) = connected(json!({})).await;
    stack.tick(&mut functions).await.unwrap();
    let before = stack.directory_of(TENANT, "USER#").await.unwrap().len();
    let doomed: Vec<usize> = (0..USERS).filter(|n| in_scope(*n)).take(60).collect();
    stack.emulator.with_tenant(CONTOSO, |t| {
        for n in &doomed {
            t.purge_user(&user_id(*n));
        }
        t.update_user(&user_id(201), |u| {
            u.department = Some("Still applied".into())
        });
    });
    stack.tick(&mut functions).await.unwrap();
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "held");
    let reason = status["last_sync_error"].as_str().unwrap();
    assert!(
        reason.contains("60 user deletions") && reason.contains("threshold"),
        "{reason}"
    );
    let users = by_id(
        stack.directory_of(TENANT, "USER#").await.unwrap(),
        "user_id",
    );
    assert_eq!(users.len(), before, "nothing deleted");
    assert_eq!(users[&user_id(201)]["department"], "Still applied");

    stack.tick(&mut functions).await.unwrap();
    assert_eq!(
        stack.status_item(TENANT).await.unwrap()["last_sync_result"],
        "held",
        "still held"
    );

    stack
        .update_config(TENANT, json!({"approve_held_deletions": true}))
        .await
        .unwrap();
    stack.tick(&mut functions).await.unwrap();
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok");
    assert_eq!(status["last_sync_counts"]["users_deleted"], 60);
    assert_eq!(
        stack.directory_of(TENANT, "USER#").await.unwrap().len(),
        before - 60
    );
    assert_eq!(
        stack.config_item(TENANT).await.unwrap().unwrap()["approve_held_deletions"],
        false
    );
}

#[tokio::test]
async fn given_a_malformed_message_before_a_good_one_then_the_bad_one_is_dropped_and_the_good_one_runs()
 {
    let (stack, mut functions) = connected(json!({})).await;
    stack
        .send_messages(&[
            "{not json",
            r#"{"tenant":"acme"}"#,
            r#"{"tenant_id":"a/b"}"#,
            &format!(r#"{{"tenant_id":"{TENANT}"}}"#),
        ])
        .await
        .unwrap();
    let report = stack.deliver(&mut functions.worker).await.unwrap();
    assert_eq!(report.messages, 4);
    assert!(
        report.failed_message_ids.is_empty(),
        "poison messages are not retried forever"
    );
    assert_eq!(
        stack.status_item(TENANT).await.unwrap()["last_sync_result"],
        "ok"
    );
    let logs = functions.worker.settled_logs().await.join("\n");
    assert!(logs.contains("the message body is not JSON"));
    assert!(logs.contains("the message has no string `tenant_id`"));
    assert!(
        stack.receive_all().await.unwrap().is_empty(),
        "nothing left on the queue"
    );
}

#[tokio::test]
async fn given_import_group_ids_then_only_those_groups_nested_groups_and_their_members_arrive() {
    let (stack, mut functions) =
        connected(json!({"import_group_ids": [group_id(0)], "domains": []})).await;
    stack.tick(&mut functions).await.unwrap();
    let groups = by_id(
        stack.directory_of(TENANT, "GROUP#").await.unwrap(),
        "group_id",
    );
    let mut ids: Vec<&String> = groups.keys().collect();
    ids.sort();
    let mut expected = [group_id(0), group_id(1), group_id(2)];
    expected.sort();
    assert_eq!(
        ids,
        expected.iter().collect::<Vec<_>>(),
        "All Staff and the two groups nested in it"
    );
    let users = by_id(
        stack.directory_of(TENANT, "USER#").await.unwrap(),
        "user_id",
    );
    assert!(users.contains_key(&user_id(0)), "a direct member");
    assert!(
        !users.contains_key(&user_id(5)) || users.len() > USERS / 10,
        "only members, direct or nested"
    );
    let member_of_nested = organisation::user_id(USERS / GROUPS);
    assert!(
        users.contains_key(&member_of_nested),
        "a member of a nested group"
    );

    // A user leaving the scope groups is disabled (the default choice).
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.remove_member(&group_id(0), &user_id(0));
    });
    stack.tick(&mut functions).await.unwrap();
    let users = by_id(
        stack.directory_of(TENANT, "USER#").await.unwrap(),
        "user_id",
    );
    assert_eq!(users[&user_id(0)]["enabled"], false);
    assert_eq!(
        users[&user_id(0)]["sync_deprovisioned_reason"],
        "out_of_scope"
    );
    assert_eq!(
        stack.status_item(TENANT).await.unwrap()["last_sync_counts"]["users_deleted"],
        0
    );
}

#[tokio::test]
async fn given_import_group_ids_when_users_join_a_nested_group_then_they_arrive_with_that_membership()
 {
    let (stack, mut functions) =
        connected(json!({"import_group_ids": [group_id(0)], "domains": []})).await;
    stack.tick(&mut functions).await.unwrap();
    // Group 1 (nested in All Staff) holds users 25..75; All Staff every
    // tenth: user 101 is in neither, so not imported.
    let outsider = user_id(101);
    assert!(
        !by_id(
            stack.directory_of(TENANT, "USER#").await.unwrap(),
            "user_id"
        )
        .contains_key(&outsider)
    );

    let new_hire = user_id(9998);
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.add_member(&group_id(1), &outsider);
        t.upsert_user(User {
            id: new_hire.clone(),
            user_principal_name: "new.starter@contoso.com".into(),
            display_name: Some("New Starter".into()),
            account_enabled: true,
            ..User::default()
        });
        t.add_member(&group_id(1), &new_hire);
    });
    let report = stack.tick(&mut functions).await.unwrap();
    assert!(report.failed_message_ids.is_empty(), "{report:?}");

    let users = by_id(
        stack.directory_of(TENANT, "USER#").await.unwrap(),
        "user_id",
    );
    let members: Vec<String> = stack
        .directory_of(TENANT, &format!("MEMBER#{}#", group_id(1)))
        .await
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_str().unwrap().to_owned())
        .collect();
    for user in [&outsider, &new_hire] {
        assert!(users.contains_key(user), "{user} entered the scope");
        assert!(
            members.contains(user),
            "the membership that brought {user} in"
        );
    }
    let counts = &stack.status_item(TENANT).await.unwrap()["last_sync_counts"];
    assert_eq!(counts["users_created"], 2);
    assert_eq!(counts["users_deleted"], 0);
    assert_eq!(counts["members_added"], 2);
}

#[tokio::test]
async fn given_a_first_import_longer_than_one_invocation_then_its_continuations_run_back_to_back_without_a_tick()
 {
    let (stack, mut functions) = connected(json!({})).await;
    // Slow Graph pages and a two-second invocation: the first import cannot
    // finish in one, and no scheduler tick comes to resume it.
    stack.emulator.set_knobs(Knobs {
        page_size: Some(7),
        member_page_size: Some(40),
        latency: std::time::Duration::from_millis(60),
        ..Knobs::default()
    });
    stack
        .send_messages(&[&format!(r#"{{"tenant_id":"{TENANT}"}}"#)])
        .await
        .unwrap();
    let budget = std::time::Duration::from_secs(2);
    let mut invocations = 0;
    loop {
        let report = stack
            .deliver_within(&mut functions.worker, budget)
            .await
            .unwrap();
        assert!(report.failed_message_ids.is_empty(), "{report:?}");
        if report.messages == 0 {
            break;
        }
        invocations += report.messages;
        assert!(invocations < 40, "the import never completed");
    }

    assert!(
        invocations >= 2,
        "{invocations} invocation(s): the import needed more than one; worker said {:#?}",
        functions
            .worker
            .logs()
            .into_iter()
            .filter(
                |l| l.contains("\"target\":\"entra_sync") || l.contains("\"target\":\"sync_worker")
            )
            .collect::<Vec<_>>()
    );
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok", "{status:?}");
    assert_eq!(status["last_sync_mode"], "full");
    assert!(!status.contains_key("checkpoint"), "the round finished");
    assert!(
        !status.contains_key("lease_owner"),
        "and gave its lease back"
    );
    // The seeded users in scope and the two seeded accounts of contoso.com.
    let in_scope_users = (0..USERS).filter(|n| in_scope(*n)).count() + 2;
    assert_eq!(
        stack.directory_of(TENANT, "USER#").await.unwrap().len(),
        in_scope_users
    );
    assert_eq!(
        status["last_sync_counts"]["users_created"], in_scope_users as u64,
        "counted once across all the invocations"
    );
}

#[tokio::test]
async fn given_a_user_graph_sends_without_a_upn_then_the_rest_imports_and_a_problem_names_it_until_fixed()
 {
    let (stack, mut functions) = connected(json!({})).await;
    let knobs = |by_id: bool| Knobs {
        page_size: Some(7),
        member_page_size: Some(40),
        users_without_upn: vec![user_id(3)],
        upn_returned_by_id: by_id,
        ..Knobs::default()
    };
    stack.emulator.set_knobs(knobs(false));
    stack.tick(&mut functions).await.unwrap();

    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok", "{status:?}");
    let users = by_id(
        stack.directory_of(TENANT, "USER#").await.unwrap(),
        "user_id",
    );
    assert!(!users.contains_key(&user_id(3)));
    assert!(
        users.contains_key(&user_id(6)),
        "the rest of its page is imported"
    );
    let problems = stack.problem_items(TENANT).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = &problems[0];
    assert_eq!(
        problem["sk"],
        format!("ENTRA#PROBLEM#import#user#{}", user_id(3))
    );
    assert_eq!(problem["code"], "invalid_object");
    assert_eq!(problem["operation"], "create");
    assert!(
        problem["reason"]
            .as_str()
            .unwrap()
            .contains("has no userPrincipalName"),
        "{problem:?}"
    );
    assert_eq!(stack.open_problems(TENANT).await.unwrap(), 1);
    // Read again by id before it was named: one request for it.
    let by_id_requests = stack
        .emulator
        .graph_requests()
        .iter()
        .filter(|r| r.path == format!("/v1.0/users/{}", user_id(3)))
        .count();
    assert_eq!(by_id_requests, 1);

    // Graph returns it whole again: the next poll imports it.
    stack.emulator.set_knobs(knobs(true));
    stack.tick(&mut functions).await.unwrap();
    let users = by_id(
        stack.directory_of(TENANT, "USER#").await.unwrap(),
        "user_id",
    );
    assert!(users.contains_key(&user_id(3)));
    assert!(stack.problem_items(TENANT).await.unwrap().is_empty());
    assert_eq!(stack.open_problems(TENANT).await.unwrap(), 0);
}

#[tokio::test]
async fn given_graph_refusing_a_permission_then_the_error_names_it_and_the_next_poll_goes_on() {
    let (stack, mut functions) = connected(json!({})).await;
    stack.emulator.inject_graph_faults([GraphFault::Forbidden]);
    stack.tick(&mut functions).await.unwrap();
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "error");
    let error = status["last_sync_error"].as_str().unwrap();
    assert!(
        error.contains("403 Authorization_RequestDenied")
            && error.contains("lacks the Microsoft Graph permission User.Read.All"),
        "{error}"
    );
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert_eq!(config["authorisation"], "authorised", "not a lost grant");
    stack.tick(&mut functions).await.unwrap();
    assert_eq!(
        stack.status_item(TENANT).await.unwrap()["last_sync_result"],
        "ok"
    );
}

/// A platform user, written as the platform writes one (here without
/// `source`: absent means `local`).
async fn put_platform_user(stack: &LocalStack, id: &str, user_name: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let item = [
        ("pk", format!("TENANT#{TENANT}")),
        ("sk", format!("USER#{id}")),
        ("user_id", id.to_owned()),
        ("user_name", user_name.to_owned()),
        ("display_name", "Platform User".to_owned()),
    ];
    stack
        .aws
        .dynamodb
        .put_item()
        .table_name(&stack.tables.directory)
        .set_item(Some(
            item.into_iter()
                .map(|(k, v)| (k.to_owned(), AttributeValue::S(v)))
                .collect(),
        ))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn given_an_entra_user_whose_upn_is_a_platform_users_name_then_it_is_a_problem_until_the_platform_renames_its_user()
 {
    let (stack, mut functions) = connected(json!({})).await;
    let upn = organisation::user_upn(0);
    put_platform_user(&stack, "platform-ann", &upn.to_uppercase()).await;
    stack.tick(&mut functions).await.unwrap();

    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok", "{status:?}");
    let users = by_id(
        stack.directory_of(TENANT, "USER#").await.unwrap(),
        "user_id",
    );
    assert!(!users.contains_key(&user_id(0)), "not imported");
    assert_eq!(users["platform-ann"]["user_name"], upn.to_uppercase());
    assert_eq!(
        users["platform-ann"]["display_name"], "Platform User",
        "the platform user is not overwritten"
    );
    assert!(users.contains_key(&user_id(3)), "the rest is imported");
    let problems = stack.problem_items(TENANT).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0]["sk"],
        format!("ENTRA#PROBLEM#import#user#{}", user_id(0))
    );
    assert_eq!(problems[0]["code"], "user_name_conflict");
    assert_eq!(problems[0]["display"], upn);
    assert_eq!(stack.open_problems(TENANT).await.unwrap(), 1);
    let members = stack.directory_of(TENANT, "MEMBER#").await.unwrap();
    assert!(members.iter().all(|m| m["user_id"] != user_id(0)));

    // The platform renames its user: the next poll imports the Entra user,
    // and the one after reads the groups again for its memberships.
    put_platform_user(&stack, "platform-ann", "ann.platform@contoso.example").await;
    stack.tick(&mut functions).await.unwrap();
    let users = by_id(
        stack.directory_of(TENANT, "USER#").await.unwrap(),
        "user_id",
    );
    assert_eq!(users[&user_id(0)]["user_name"], upn);
    assert!(stack.problem_items(TENANT).await.unwrap().is_empty());
    assert_eq!(stack.open_problems(TENANT).await.unwrap(), 0);
    stack.tick(&mut functions).await.unwrap();
    let members = stack.directory_of(TENANT, "MEMBER#").await.unwrap();
    assert!(
        members
            .iter()
            .any(|m| m["user_id"] == user_id(0) && m["group_id"] == group_id(0)),
        "user 0 is in All Staff"
    );
}
