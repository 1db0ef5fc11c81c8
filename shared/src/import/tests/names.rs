//! `user_name_conflict`: a platform user's name is never taken over.

use super::*;

/// A platform user (`source` local), as the platform writes one.
fn platform_user(id: &str, user_name: &str) -> UserItem {
    UserItem {
        user_id: id.into(),
        source: Source::Local,
        attributes: UserAttributes {
            user_name: user_name.into(),
            display_name: Some("Platform".into()),
            enabled: true,
            ..Default::default()
        },
        password_mode: Some(PasswordMode::Temporary),
        sync: EntraSync::default(),
    }
}

impl World {
    /// The platform writes its own user `id` named `user_name`.
    pub(super) fn platform_writes_user(&self, id: &str, user_name: &str) -> UserItem {
        let user = platform_user(id, user_name);
        let mut users = self.directory.users.lock().unwrap();
        users.insert(id.into(), user.clone());
        user
    }
}

fn problem(world: &World, id: &str) -> Option<crate::problems::Problem> {
    let key = format!("ENTRA#PROBLEM#import#user#{id}");
    world.state.problems.lock().unwrap().get(&key).cloned()
}

#[tokio::test]
async fn given_an_entra_user_whose_upn_is_a_platform_users_name_then_neither_is_overwritten_until_one_is_renamed()
 {
    let world = World::new();
    let config = importing().build();
    let platform = world.platform_writes_user("p-1", "Ann@Contoso.com");
    world.entra.users("", ann_and_bob(done("u-d1")));
    world.entra.groups(
        "",
        groups_page(vec![group("g1", &["u1", "u2"])], done("g-d1")),
    );
    let RunOutcome::Completed(status) = world.run(&config, "run-1").await else {
        panic!("a conflict never fails the run")
    };
    assert_eq!(status.result, RunResult::Ok);
    assert_eq!(status.open_problems, Some(1));
    assert_eq!(status.counts.users_created, 1);
    let users = world.directory.users.lock().unwrap().clone();
    assert!(!users.contains_key("u1"), "not imported");
    assert_eq!(users["p-1"], platform, "the platform user untouched");
    assert!(users.contains_key("u2"), "the rest of the page is imported");
    let found = problem(&world, "u1").expect("a problem for u1");
    assert_eq!(found.code, crate::problems::Code::UserNameConflict);
    assert_eq!(found.operation, crate::problems::Operation::Create);
    assert_eq!(found.display, "ann@contoso.com");
    assert!(found.reason.contains("ann@contoso.com"), "{found:?}");

    // The platform renames its user: the next (delta) run imports u1 and
    // reads the groups again for the membership it missed.
    world.platform_writes_user("p-1", "ann.local@contoso.com");
    world.entra.user_lookup(user("u1", "ann@contoso.com"));
    world.script_delta(vec![], vec![]);
    let RunOutcome::Completed(status) = world.run(&config, "run-2").await else {
        panic!()
    };
    assert_eq!(status.open_problems, Some(0));
    assert!(world.has_user("u1"));
    assert!(problem(&world, "u1").is_none());
    let state = world.state.state.lock().unwrap().clone();
    assert!(
        state.groups_delta_link.is_none(),
        "the next run reads the groups in full"
    );
    // A delta run: the users from their link, the groups from the start.
    world.entra.users("u-d2", users_page(vec![], done("u-d3")));
    world.entra.groups(
        "",
        groups_page(vec![group("g1", &["u1", "u2"])], done("g-d3")),
    );
    let RunOutcome::Completed(status) = world.run(&config, "run-3").await else {
        panic!()
    };
    assert_eq!(status.mode, Mode::Delta, "no full read of the users");
    assert_eq!(status.counts.members_added, 1, "u1's membership arrives");
    assert!(world.has_membership("g1", "u1"));
}

#[tokio::test]
async fn given_an_imported_user_renamed_to_a_platform_users_name_then_it_keeps_its_previous_state()
{
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    world.platform_writes_user("p-1", "Taken@Contoso.com");
    let mut renamed = user("u1", "taken@contoso.com");
    renamed.attributes.job_title = Some("Renamed".into());
    world.script_delta(vec![DeltaItem::Upsert(renamed)], vec![]);
    let RunOutcome::Completed(status) = world.run(&config, "run-rename").await else {
        panic!()
    };
    assert_eq!(status.counts.users_updated, 0);
    let users = world.directory.users.lock().unwrap().clone();
    assert_eq!(users["u1"].attributes.user_name, "ann@contoso.com", "kept");
    assert!(users["u1"].attributes.job_title.is_none());
    assert_eq!(users["p-1"].attributes.user_name, "Taken@Contoso.com");
    let found = problem(&world, "u1").expect("a problem");
    assert_eq!(found.operation, crate::problems::Operation::Update);
    assert!(world.has_membership("g1", "u1"), "its memberships stay");
}

/// A user a problem's recheck imports brings its groups at once (read
/// through `/users/{id}/memberOf`): a run that fails after the recheck
/// loses the count that would have made the next groups round full, and
/// the problem is resolved already (found by the simulation, seeds 9176,
/// 16096, 16672, 22495).
#[tokio::test]
async fn given_a_run_that_fails_after_a_recheck_imported_a_user_then_the_user_keeps_its_memberships()
 {
    let world = World::new();
    let config = importing().build();
    world.platform_writes_user("p-1", "ann@contoso.com");
    world.entra.users("", ann_alone(done("u-d1")));
    world
        .entra
        .groups("", groups_page(vec![group("g1", &["u1"])], done("g-d1")));
    assert!(matches!(
        world.run(&config, "run-1").await,
        RunOutcome::Completed(_)
    ));
    assert!(problem(&world, "u1").is_some());

    // The platform renames its user; the run that imports u1 fails after.
    world.platform_writes_user("p-1", "ann.local@contoso.com");
    world.entra.user_lookup(user("u1", "ann@contoso.com"));
    world
        .entra
        .groups_of_users
        .lock()
        .unwrap()
        .insert("u1".into(), vec!["g1".into()]);
    world.script_delta(vec![], vec![]);
    *world.state.failing_problem_counts.lock().unwrap() = 1;
    let failed = world
        .try_run(&config, "run-2", None, MAX_DEADLINE_MARGIN)
        .await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(
        problem(&world, "u1").is_none(),
        "resolved before the failure"
    );
    // The round is read again: nothing changed.
    world.script_delta(vec![], vec![]);
    let outcome = world.run(&config, "run-3").await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    world.entra.users("u-d2", users_page(vec![], done("u-d3")));
    world
        .entra
        .groups("g-d2", groups_page(vec![], done("g-d3")));
    let outcome = world.run(&config, "run-4").await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");

    assert!(world.has_user("u1"));
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        memberships.contains_key(&membership("g1", "u1")),
        "{memberships:?}"
    );
}
