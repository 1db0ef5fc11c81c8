//! The tenant's import mappings and scoping filters (DESIGN 2.13) in a
//! run: mapped values (constant, attribute, expression, create only,
//! default) land on the AM user, a filter keeps users out, a mapping that
//! does not compile fails the run before any write, and one user a
//! mapping fails for is a problem while the rest import.

use serde_json::json;

use super::*;
use crate::problems::{Code, Direction as ProblemDirection};

/// A user as Graph sends it with these extra properties.
fn user_with(id: &str, upn: &str, properties: serde_json::Value) -> EntraUser {
    let mut user = user(id, upn);
    let mut all = serde_json::Map::new();
    all.insert("id".into(), json!(id));
    all.insert("userPrincipalName".into(), json!(upn));
    all.insert("displayName".into(), json!(format!("User {id}")));
    all.insert("accountEnabled".into(), json!(true));
    all.extend(properties.as_object().unwrap().clone());
    user.properties = std::sync::Arc::new(all);
    user
}

fn mappings() -> serde_json::Value {
    json!([
        {"direction": "import", "target": "job_title", "source_type": "attribute", "source": "employeeType"},
        {"direction": "import", "target": "attributes.cost_centre", "source_type": "attribute",
         "source": "onPremisesExtensionAttributes.extensionAttribute3"},
        {"direction": "import", "target": "attributes.company", "source_type": "constant", "source": "Contoso"},
        {"direction": "import", "target": "display_name", "source_type": "expression",
         "source": "Join(\" \", [surname], [givenName])"},
        {"direction": "import", "target": "attributes.first_office", "source_type": "attribute",
         "source": "officeLocation", "apply": "create_only"},
        {"direction": "import", "target": "department", "source_type": "attribute",
         "source": "companyName", "default": "Unassigned"},
    ])
}

fn ann(office: &str) -> EntraUser {
    user_with(
        "u1",
        "ann@contoso.com",
        json!({"employeeType": "Contractor", "surname": "Smith", "givenName": "Ann",
               "officeLocation": office,
               "onPremisesExtensionAttributes": {"extensionAttribute3": "CC-42"}}),
    )
}

#[tokio::test]
async fn given_import_mappings_then_the_mapped_values_land_on_the_am_user_and_create_only_ones_stay()
 {
    let world = World::new();
    let config = importing().user_mappings(mappings()).build();
    world.entra.users(
        "",
        users_page(vec![DeltaItem::Upsert(ann("Leeds"))], done("u-d1")),
    );
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    let outcome = world.run(&config, "run-first").await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");

    let stored = world.directory.users.lock().unwrap()["u1"].clone();
    let a = &stored.attributes;
    assert_eq!(a.job_title.as_deref(), Some("Contractor"));
    assert_eq!(a.display_name.as_deref(), Some("Smith Ann"));
    assert_eq!(
        a.department.as_deref(),
        Some("Unassigned"),
        "default on create"
    );
    assert_eq!(a.attributes["cost_centre"], "CC-42");
    assert_eq!(a.attributes["company"], "Contoso");
    assert_eq!(a.attributes["first_office"], "Leeds");
    assert_eq!(a.user_name, "ann@contoso.com", "the built-in mapping stays");

    // She moves office: the create-only attribute keeps its first value.
    world.script_delta(vec![DeltaItem::Upsert(ann("York"))], vec![]);
    world.run(&config, "run-moved").await;
    let stored = world.directory.users.lock().unwrap()["u1"].clone();
    assert_eq!(stored.attributes.attributes["first_office"], "Leeds");
    assert_eq!(
        stored.attributes.department, None,
        "a default applies on create only"
    );
}

#[tokio::test]
async fn given_a_mapping_that_does_not_compile_then_the_run_fails_before_any_write_naming_it() {
    let world = World::new();
    let config = importing()
        .user_mappings(json!([
            {"direction": "import", "target": "job_title", "source_type": "expression", "source": "Left([jobTitle], "}
        ]))
        .build();
    world.entra.users(
        "",
        users_page(vec![DeltaItem::Upsert(ann("Leeds"))], done("u-d1")),
    );
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    let outcome = world.run(&config, "run-bad").await;

    let RunOutcome::Failed(status) = outcome else {
        panic!("{outcome:?}")
    };
    let error = status.error.unwrap();
    assert!(error.contains("user_mappings #1"), "{error}");
    assert_eq!(
        *world.directory.writes.lock().unwrap(),
        0,
        "nothing written"
    );
    assert!(
        world.entra.requests.lock().unwrap().is_empty(),
        "nothing read"
    );
}

#[tokio::test]
async fn given_a_scoping_filter_then_users_it_excludes_are_not_imported() {
    let world = World::new();
    let config = importing()
        .user_scope_filters(json!([
            {"name": "staff", "clauses": [
                {"attribute": "employeeType", "operator": "equals", "value": "employee"}]}
        ]))
        .build();
    let staff = user_with("u1", "ann@contoso.com", json!({"employeeType": "Employee"}));
    let contractor = user_with(
        "u2",
        "bob@contoso.com",
        json!({"employeeType": "Contractor"}),
    );
    let untyped = user_with("u3", "cy@contoso.com", json!({}));
    world.entra.users(
        "",
        users_page(
            vec![
                DeltaItem::Upsert(staff),
                DeltaItem::Upsert(contractor),
                DeltaItem::Upsert(untyped),
            ],
            done("u-d1"),
        ),
    );
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    world.run(&config, "run-first").await;

    assert!(world.has_user("u1"), "equals ignores case");
    assert!(!world.has_user("u2"));
    assert!(
        !world.has_user("u3"),
        "an absent attribute fails the clause"
    );
}

#[tokio::test]
async fn given_a_mapping_that_fails_for_one_user_then_it_is_a_problem_and_the_rest_import() {
    let world = World::new();
    let config = importing()
        .user_mappings(json!([
            {"direction": "import", "target": "enabled", "source_type": "attribute", "source": "employeeType"}
        ]))
        .build();
    let good = user_with("u1", "ann@contoso.com", json!({"employeeType": "true"}));
    let bad = user_with(
        "u2",
        "bob@contoso.com",
        json!({"employeeType": "Contractor"}),
    );
    world.entra.users(
        "",
        users_page(
            vec![DeltaItem::Upsert(good), DeltaItem::Upsert(bad)],
            done("u-d1"),
        ),
    );
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    world.run(&config, "run-first").await;

    assert!(world.has_user("u1"));
    assert!(!world.has_user("u2"));
    let problems = world.state.problems.lock().unwrap().clone();
    let problem = problems
        .values()
        .find(|p| p.key.object_id == "u2" && p.key.direction == ProblemDirection::Import)
        .expect("a problem names bob");
    assert_eq!(problem.code, Code::InvalidObject);
    assert!(
        problem.reason.contains("user_mappings #1"),
        "{}",
        problem.reason
    );
}

#[tokio::test]
async fn given_a_login_mapped_from_mail_then_its_password_is_never_checked_against_entra() {
    let world = World::new();
    let config = importing()
        .user_mappings(json!([
            {"direction": "import", "target": "user_name", "source_type": "attribute", "source": "mail"}
        ]))
        .build();
    // bob's mail is someone else's UPN in a managed domain.
    let bob = user_with(
        "u2",
        "bsmith@contoso.com",
        json!({"mail": "ann@contoso.com"}),
    );
    world
        .entra
        .users("", users_page(vec![DeltaItem::Upsert(bob)], done("u-d1")));
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    world.run(&config, "run-first").await;

    let stored = world.directory.users.lock().unwrap()["u2"].clone();
    assert_eq!(stored.attributes.user_name, "ann@contoso.com");
    assert_eq!(stored.password_mode, Some(PasswordMode::Temporary));
}

#[tokio::test]
async fn given_a_linked_platform_user_with_its_own_mapped_attributes_then_the_import_leaves_them() {
    let world = World::new();
    let config = importing().build();
    let mut attributes = user("u1", "ann@contoso.com").attributes;
    attributes
        .attributes
        .insert("team".into(), "platform".into());
    let mut sync = EntraSync::imported(crate::model::directory::EntraHash::of_user(&attributes));
    sync.entra_id = Some("u1".into());
    world.directory.users.lock().unwrap().insert(
        "p-ann".into(),
        UserItem {
            user_id: "p-ann".into(),
            attributes,
            source: Source::Local,
            password_mode: Some(PasswordMode::Entra),
            sync,
        },
    );
    world.entra.users(
        "",
        users_page(
            vec![DeltaItem::Upsert(user("u1", "ann@contoso.com"))],
            done("u-d1"),
        ),
    );
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    world.run(&config, "run-first").await;

    let ann = world.directory.users.lock().unwrap()["p-ann"].clone();
    assert_eq!(ann.attributes.attributes["team"], "platform");
    assert_eq!(
        *world.directory.writes.lock().unwrap(),
        0,
        "nothing differs"
    );
}

/// A login longer than the `by-user-name` index's key allows would fail its
/// batch of writes page after page: it is that user's problem, and the
/// rest of the page is imported.
#[tokio::test]
async fn given_a_login_mapped_longer_than_an_index_key_then_only_that_user_is_a_problem() {
    let world = World::new();
    let config = importing()
        .user_mappings(json!([
            {"direction": "import", "target": "user_name", "source_type": "expression",
             "source": "Join(\"\", [mail], [jobTitle])"}
        ]))
        .build();
    // 600 four-byte characters: 2,400 bytes, within the mapping's 1,024 characters.
    let long = user_with(
        "u2",
        "bob@contoso.com",
        json!({"mail": "bob@contoso.com", "jobTitle": "𝒜".repeat(600)}),
    );
    let ann = user_with("u1", "ann@contoso.com", json!({"mail": "ann@contoso.com"}));
    world.entra.users(
        "",
        users_page(
            vec![DeltaItem::Upsert(ann), DeltaItem::Upsert(long)],
            done("u-d1"),
        ),
    );
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    world.run(&config, "run-first").await;

    assert!(world.has_user("u1"), "the rest of the page is imported");
    assert!(!world.has_user("u2"));
    let problems = world.state.problems.lock().unwrap().clone();
    let problem = problems
        .values()
        .find(|p| p.key.object_id == "u2" && p.key.direction == ProblemDirection::Import)
        .expect("a problem names bob");
    assert!(
        problem.reason.contains("at most 1024 are allowed"),
        "{}",
        problem.reason
    );
}
