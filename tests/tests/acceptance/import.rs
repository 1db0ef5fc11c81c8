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
    assert_eq!(managed["entra_id"], user_id(0));
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
