//! A delta run whose groups lost their delta link (a group entered the
//! scope) reads the groups round from the start. Such a round shows only
//! what exists: it is a full groups round, which sweeps and computes the
//! scope again (found by the simulation, seeds 195, 1221 and 1671).

use super::*;

pub(super) const ENTERING_GROUP: &str = "0a000000-0000-4000-8000-000000000002";

/// A delta item of a group whose listed members are groups.
pub(super) fn group_of_groups(id: &str, members: &[&str]) -> DeltaItem<GroupDelta> {
    let DeltaItem::Upsert(mut delta) = group(id, &[]) else {
        unreachable!("group() is an upsert")
    };
    delta.members = members
        .iter()
        .map(|m| MemberChange {
            member_id: (*m).into(),
            kind: MemberKind::Group,
            removed: false,
        })
        .collect();
    DeltaItem::Upsert(delta)
}

/// After `imported_with_group_scope`: a delta run in which u1 joins the
/// nested group and ENTERING_GROUP is nested in the scope group. The
/// groups' delta link is dropped for the new group's members.
async fn a_group_entered_the_scope(world: &World, config: &TenantConfig) {
    scope_holds(world, &[(ENTERING_GROUP, MemberKind::Group)]);
    world.script_delta(
        vec![],
        vec![
            group(NESTED_GROUP, &["u1"]),
            group_of_groups(SCOPE_GROUP, &[ENTERING_GROUP]),
            group(ENTERING_GROUP, &[]),
        ],
    );
    let outcome = world.run(config, "run-group-enters").await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.has_membership(NESTED_GROUP, "u1"));
    let state = world.state.state.lock().unwrap().clone();
    assert_eq!(state.groups_delta_link, None, "read again from the start");
}

#[tokio::test]
async fn given_groups_read_from_the_start_in_a_delta_run_then_memberships_removed_meanwhile_go() {
    let world = World::new();
    let config = imported_with_group_scope(&world).await;
    a_group_entered_the_scope(&world, &config).await;

    // u1 leaves the nested group; the round from the start just does not
    // list it there.
    world.entra.users("u-d2", users_page(vec![], done("u-d3")));
    world.entra.groups(
        "",
        groups_page(
            vec![
                group(SCOPE_GROUP, &["u1"]),
                group_of_groups(SCOPE_GROUP, &[NESTED_GROUP, ENTERING_GROUP]),
                group(NESTED_GROUP, &[]),
                group(ENTERING_GROUP, &[]),
            ],
            done("g-d3"),
        ),
    );
    let outcome = world.run(&config, "run-groups-from-start").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        !memberships.contains_key(&membership(NESTED_GROUP, "u1")),
        "{memberships:?}"
    );
    assert!(memberships.contains_key(&membership(SCOPE_GROUP, "u1")));
    let state = world.state.state.lock().unwrap().clone();
    assert_eq!(state.groups_delta_link.as_deref(), Some("g-d3"));
}

#[tokio::test]
async fn given_groups_read_from_the_start_in_a_delta_run_then_a_deleted_scope_group_takes_its_scope_along()
 {
    let world = World::new();
    let config = imported_with_group_scope(&world).await;
    a_group_entered_the_scope(&world, &config).await;

    // The configured group is deleted (u1 left the nested group before):
    // the round from the start does not list it, only the groups it held,
    // under the scope stored before.
    world.entra.transitive_members_of(SCOPE_GROUP, &[]);
    world.entra.users("u-d2", users_page(vec![], done("u-d3")));
    world.entra.groups(
        "",
        groups_page(
            vec![group(NESTED_GROUP, &[]), group(ENTERING_GROUP, &[])],
            done("g-d3"),
        ),
    );
    let outcome = world.run(&config, "run-groups-from-start").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let groups = world.directory.groups.lock().unwrap().clone();
    assert!(groups.is_empty(), "{:?}", groups.keys());
    assert!(!world.has_user("u1"));
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(memberships.is_empty(), "{memberships:?}");
}
