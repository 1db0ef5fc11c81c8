//! Items Graph sends that do not read (no UPN, an unknown `@removed`
//! reason): the rest of the page is imported, the item is read again by id,
//! and it stays a problem until fixed.

use super::*;

fn without_upn(id: &str, name: &str) -> crate::model::entra::UnusableItem {
    crate::model::entra::UnusableItem {
        id: id.into(),
        display: Some(name.into()),
        reason: format!("user {id} has no userPrincipalName"),
        manager_link: None,
    }
}

#[tokio::test]
async fn given_a_user_without_a_upn_then_the_rest_of_the_page_is_imported_and_it_is_a_problem_until_fixed()
 {
    let world = World::new();
    let config = importing().build();
    let mut page = users_page(
        vec![
            DeltaItem::Upsert(user("u1", "ann@contoso.com")),
            DeltaItem::Upsert(user("u3", "cy@contoso.com")),
        ],
        done("u-d1"),
    )
    .unwrap();
    page.unusable.push(without_upn("u2", "Bob"));
    world.entra.users("", Ok(page));
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    // Read again by id, it still has none.
    world
        .entra
        .invalid_users
        .lock()
        .unwrap()
        .insert("u2".into(), "user u2 has no userPrincipalName".into());

    let RunOutcome::Completed(status) = world.run(&config, "run-1").await else {
        panic!("one user never fails the run");
    };
    assert_eq!(status.result, RunResult::Ok);
    assert_eq!(status.open_problems, Some(1));
    let users = world.directory.users.lock().unwrap().clone();
    assert_eq!(users.keys().collect::<Vec<_>>(), ["u1", "u3"]);
    let problems = world.state.problems.lock().unwrap().clone();
    let problem = &problems["ENTRA#PROBLEM#import#user#u2"];
    assert_eq!(problem.code, crate::problems::Code::InvalidObject);
    assert_eq!(problem.operation, crate::problems::Operation::Create);
    assert_eq!(problem.display, "Bob");
    assert!(
        problem.reason.contains("has no userPrincipalName"),
        "{problem:?}"
    );
    assert!(
        world
            .entra
            .requests
            .lock()
            .unwrap()
            .contains(&"user u2".to_owned())
    );

    // Fixed in Entra: the next run, a quiet delta, reads it again.
    world.entra.invalid_users.lock().unwrap().clear();
    world.entra.user_lookup(user("u2", "bob@contoso.com"));
    world.script_delta(vec![], vec![]);
    let RunOutcome::Completed(status) = world.run(&config, "run-2").await else {
        panic!("the second run completes");
    };
    assert_eq!(status.open_problems, Some(0));
    assert_eq!(status.counts.users_created, 1);
    assert!(world.has_user("u2"));
    assert!(world.state.problems.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_an_unusable_item_that_reads_when_fetched_by_id_then_it_is_imported_without_a_problem()
 {
    let world = World::new();
    let config = importing().build();
    let mut page = users_page(vec![], done("u-d1")).unwrap();
    page.unusable.push(without_upn("u2", "Bob"));
    world.entra.users("", Ok(page));
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    world.entra.user_lookup(user("u2", "bob@contoso.com"));

    let RunOutcome::Completed(status) = world.run(&config, "run-1").await else {
        panic!("the run completes");
    };
    assert_eq!(status.open_problems, Some(0));
    assert!(world.has_user("u2"));
}

#[tokio::test]
async fn given_an_imported_user_that_turns_unusable_then_a_resync_keeps_it_and_names_the_problem() {
    let world = World::new();
    let config = importing().build();
    world.entra.users("", ann_alone(done("u-d1")));
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    assert!(matches!(
        world.run(&config, "run-1").await,
        RunOutcome::Completed(_)
    ));

    let mut page = users_page(vec![], done("u-d2")).unwrap();
    page.unusable.push(without_upn("u1", "Ann"));
    world.entra.users("", Ok(page));
    world.entra.groups("", groups_page(vec![], done("g-d2")));
    world
        .entra
        .invalid_users
        .lock()
        .unwrap()
        .insert("u1".into(), "user u1 has no userPrincipalName".into());
    let RunOutcome::Completed(status) = world.run(&config_resync(), "run-2").await else {
        panic!("the resync completes");
    };
    assert_eq!(status.counts.users_deleted, 0, "it exists in Entra: kept");
    assert!(world.has_user("u1"));
    let problems = world.state.problems.lock().unwrap().clone();
    assert_eq!(
        problems["ENTRA#PROBLEM#import#user#u1"].operation,
        crate::problems::Operation::Update
    );
}

#[tokio::test]
async fn given_an_unusable_item_that_is_gone_when_fetched_by_id_then_a_delta_round_deletes_it() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    assert!(world.has_user("u1"));
    // An @removed with a reason this client does not know; by id, 404.
    let mut page = users_page(vec![], done("u-d2")).unwrap();
    page.unusable.push(crate::model::entra::UnusableItem {
        id: "u1".into(),
        display: None,
        reason: "unknown @removed reason Some(\"archived\")".into(),
        manager_link: None,
    });
    world.entra.users("u-d1", Ok(page));
    world
        .entra
        .groups("g-d1", groups_page(vec![], done("g-d2")));

    let RunOutcome::Completed(status) = world.run(&config, "run-2").await else {
        panic!("the delta run completes");
    };
    assert_eq!(status.counts.users_deleted, 1);
    assert!(!world.has_user("u1"));
    assert!(world.state.problems.lock().unwrap().is_empty());
}
