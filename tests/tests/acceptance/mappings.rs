//! `user_mappings` and `user_scope_filters` (DESIGN 2.13) through the
//! binaries: the worker selects what the tenant's mappings and filters
//! read, imports the mapped values (attribute, extension attribute,
//! constant, expression) and leaves out the users a filter excludes; a
//! mapping that does not compile fails the run before any write, naming it.

use entra_sync::identity::REQUIRED_APP_ROLES;
use entra_sync_tests::organisation::{self, user_id};
use entra_sync_tests::stack::{CONTOSO, LocalStack};
use entra_sync_tests::sync::StreamCursor;
use serde_json::{Map, Value, json};

const TENANT: &str = "acme";

fn config(mappings: Value) -> Value {
    json!({
        "auth_mode": "application", "authorisation": "authorised",
        "authorised_at": "2026-12-07T06:00:00Z",
        "user_mappings": mappings,
        "user_scope_filters": [{"name": "not contractors", "clauses": [
            {"attribute": "employeeType", "operator": "not_equals", "value": "contractor"}]}],
    })
}

fn good_mappings() -> Value {
    json!([
        {"direction": "import", "target": "job_title", "source_type": "attribute", "source": "employeeType"},
        {"direction": "import", "target": "attributes.cost_centre", "source_type": "attribute",
         "source": "onPremisesExtensionAttributes.extensionAttribute3"},
        {"direction": "import", "target": "attributes.badge", "source_type": "expression",
         "source": "Join(\"-\", \"B\", [employeeId])"},
        {"direction": "import", "target": "attributes.company", "source_type": "constant", "source": "Contoso"},
    ])
}

async fn users(stack: &LocalStack) -> Vec<Map<String, Value>> {
    stack.directory_of(TENANT, "USER#").await.unwrap()
}

fn by_id<'a>(users: &'a [Map<String, Value>], id: &str) -> Option<&'a Map<String, Value>> {
    users.iter().find(|u| u["user_id"] == id)
}

/// Contoso with four users and a group, the app consented.
async fn contoso_of_four() -> LocalStack {
    let stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 4, 1);
    stack.emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    stack
}

#[tokio::test]
async fn given_mappings_and_a_scoping_filter_then_mapped_values_arrive_and_excluded_users_do_not() {
    let stack = contoso_of_four().await;
    stack.emulator.with_tenant(CONTOSO, |t| {
        for n in 0..4 {
            t.update_user(&user_id(n), |user| {
                let kind = if n == 3 { "Contractor" } else { "Employee" };
                user.set_property("employeeType", json!(kind));
                user.set_property("employeeId", json!(format!("E{n}")));
                user.set_extension_attribute(3, Some(&format!("CC-{n}")));
            });
        }
    });
    stack
        .put_config_with(TENANT, Some(CONTOSO), config(good_mappings()))
        .await
        .unwrap();
    let mut sync = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut sync).await.unwrap();

    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok", "{status:?}");
    let delta = stack
        .emulator
        .graph_requests()
        .into_iter()
        .find(|r| r.path == "/v1.0/users/delta")
        .expect("a users delta request");
    let select = delta.query.unwrap_or_default();
    for property in [
        "employeeType",
        "employeeId",
        "onPremisesExtensionAttributes",
    ] {
        assert!(select.contains(property), "{property} selected: {select}");
    }
    let am = users(&stack).await;
    let ann = by_id(&am, &user_id(0)).expect("an employee is imported");
    assert_eq!(ann["job_title"], "Employee");
    assert_eq!(ann["attributes"]["cost_centre"], "CC-0");
    assert_eq!(ann["attributes"]["badge"], "B-E0");
    assert_eq!(ann["attributes"]["company"], "Contoso");
    assert!(
        by_id(&am, &user_id(3)).is_none(),
        "the filter keeps the contractor out"
    );

    // A broken mapping: the next run fails before writing anything.
    stack
        .update_config(
            TENANT,
            json!({"user_mappings": [
                {"direction": "import", "target": "job_title", "source_type": "expression",
                 "source": "Left([jobTitle], "}]}),
        )
        .await
        .unwrap();
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.update_user(&user_id(1), |user| {
            user.set_property("employeeType", json!("Staff"))
        })
    });
    let mut cursor = StreamCursor::start(&stack).await.unwrap();
    stack.tick(&mut sync).await.unwrap();
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "error");
    let error = status["last_sync_error"].as_str().unwrap();
    assert!(error.contains("user_mappings #1"), "{error}");
    assert!(
        cursor.read().await.unwrap().is_empty(),
        "no directory write"
    );
}

/// Entra ID's `manager` imported as `manager_id` (DESIGN 2.13) through the
/// worker: `$select` names `manager`, a report whose manager is out of scope
/// waits (its Entra id kept) and is linked when the manager enters the
/// scope; Entra ID removing the manager clears it.
#[tokio::test]
async fn given_a_manager_mapping_then_reports_carry_their_managers_am_id_once_it_is_imported() {
    let stack = contoso_of_four().await;
    stack.emulator.with_tenant(CONTOSO, |t| {
        for n in 0..3 {
            t.update_user(&user_id(n), |u| {
                u.set_property("employeeType", json!("Employee"))
            });
        }
        t.update_user(&user_id(0), |u| u.manager = Some(user_id(1)));
        t.update_user(&user_id(2), |u| u.manager = Some(user_id(3)));
        // The second manager is a contractor: out of scope for now.
        t.update_user(&user_id(3), |u| {
            u.set_property("employeeType", json!("Contractor"))
        });
    });
    let mappings = json!([{"direction": "import", "target": "manager_id",
        "source_type": "attribute", "source": "manager"}]);
    stack
        .put_config_with(TENANT, Some(CONTOSO), config(mappings))
        .await
        .unwrap();
    let mut sync = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut sync).await.unwrap();
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok", "{status:?}");
    let delta = stack.emulator.graph_requests().into_iter();
    let select = delta
        .filter(|r| r.path == "/v1.0/users/delta")
        .find_map(|r| r.query)
        .unwrap_or_default();
    assert!(select.contains("manager"), "manager selected: {select}");
    let am = users(&stack).await;
    let ann = by_id(&am, &user_id(0)).unwrap();
    assert_eq!(ann["manager_id"], json!(user_id(1)));
    let waiting = by_id(&am, &user_id(2)).unwrap();
    assert!(waiting.get("manager_id").is_none(), "{waiting:?}");
    assert_eq!(waiting["sync_manager_entra_id"], json!(user_id(3)));

    // The contractor becomes an employee: imported, and linked as manager.
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.update_user(&user_id(3), |u| {
            u.set_property("employeeType", json!("Employee"))
        });
        t.update_user(&user_id(0), |u| u.manager = None);
    });
    stack.tick(&mut sync).await.unwrap();
    let am = users(&stack).await;
    assert!(by_id(&am, &user_id(3)).is_some());
    assert_eq!(
        by_id(&am, &user_id(2)).unwrap()["manager_id"],
        json!(user_id(3))
    );
    let ann = by_id(&am, &user_id(0)).unwrap();
    assert!(ann.get("manager_id").is_none(), "removed in Entra: {ann:?}");
    assert!(ann.get("sync_manager_entra_id").is_none(), "{ann:?}");
}
