//! Deletions: a mass deletion is held until approved, a deleted user's
//! memberships go with it even while the index lags, and a large tenant's
//! sweep reads one bucket at a time.

use super::*;

#[tokio::test]
async fn given_a_mass_deletion_then_it_is_held_until_approved() {
    let world = World::new();
    let config = importing().build();
    let many: Vec<_> = (0..30)
        .map(|i| DeltaItem::Upsert(user(&format!("m{i:02}"), &format!("m{i}@contoso.com"))))
        .collect();
    world.entra.users("", users_page(many, done("u-d1")));
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    world.run(&config, "run-first").await;
    let removals: Vec<_> = (0..12)
        .map(|i| DeltaItem::Removed {
            id: format!("m{i:02}").into(),
            permanent: true,
        })
        .collect();
    let mut renamed = user("m20", "m20@contoso.com");
    renamed.attributes.job_title = Some("Boss".into());
    let mut items = removals;
    items.push(DeltaItem::Upsert(renamed));
    world.entra.users("u-d1", users_page(items, done("u-d2")));
    world
        .entra
        .groups("g-d1", groups_page(vec![], done("g-d2")));
    let RunOutcome::Completed(status) = world.run(&config, "run-mass").await else {
        panic!()
    };
    assert_eq!(status.result, RunResult::Held);
    let reason = status.error.unwrap();
    assert!(
        reason.contains("12 user deletions") && reason.contains("40%") && reason.contains("20%"),
        "{reason}"
    );
    assert_eq!(
        world.directory.users.lock().unwrap().len(),
        30,
        "nothing deleted"
    );
    assert_eq!(
        world.directory.users.lock().unwrap()["m20"]
            .attributes
            .job_title
            .as_deref(),
        Some("Boss"),
        "everything else applied"
    );

    // Still held on the next idle run.
    world.entra.users("u-d2", users_page(vec![], done("u-d3")));
    world
        .entra
        .groups("g-d2", groups_page(vec![], done("g-d3")));
    let RunOutcome::Completed(status) = world.run(&config, "run-idle").await else {
        panic!()
    };
    assert_eq!(status.result, RunResult::Held);

    let approved = importing().approve_held_deletions(true).build();
    world.entra.users("u-d3", users_page(vec![], done("u-d4")));
    world
        .entra
        .groups("g-d3", groups_page(vec![], done("g-d4")));
    let RunOutcome::Completed(status) = world.run(&approved, "run-approved").await else {
        panic!()
    };
    assert_eq!(status.result, RunResult::Ok);
    assert_eq!(status.counts.users_deleted, 12);
    assert_eq!(world.directory.users.lock().unwrap().len(), 18);
    assert!(world.state.cleared.lock().unwrap().contains(&"approval"));
}

#[tokio::test]
async fn given_a_user_added_to_a_group_and_deleted_in_one_round_then_no_membership_is_left_behind()
{
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    *world.directory.index_lags.lock().unwrap() = true;
    world.entra.users(
        "u-d1",
        users_page(
            vec![DeltaItem::Removed {
                id: "u3".into(),
                permanent: true,
            }],
            done("u-d2"),
        ),
    );
    // Graph lists the membership change before the member's deletion
    // reaches the groups round.
    world.entra.groups(
        "g-d1",
        groups_page(vec![group("g1", &["u3"])], done("g-d2")),
    );
    let outcome = world.run(&config, "run-delta").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(!world.has_user("u3"));
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        memberships.keys().all(|m| m.user_id != "u3"),
        "the membership written moments before the deletion went with it: {memberships:?}"
    );
}

#[tokio::test]
async fn given_a_membership_left_by_a_failed_attempt_whose_user_never_came_when_the_user_is_deleted_then_it_goes()
 {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    // A delta attempt wrote the memberships of a new user, u9, before the
    // user (so that a retry reads them again), then failed; u9 was deleted
    // in Entra before the retry.
    world
        .directory
        .memberships
        .lock()
        .unwrap()
        .insert(membership("g1", "u9"), Source::Entra);
    world.entra.users(
        "u-d1",
        users_page(
            vec![DeltaItem::Removed {
                id: "u9".into(),
                permanent: true,
            }],
            done("u-d2"),
        ),
    );
    // The deletion takes u9 out of its groups, which the groups delta says.
    world.entra.groups(
        "g-d1",
        groups_page(vec![group_left_by("g1", &["u9"])], done("g-d2")),
    );
    let outcome = world.run(&config, "run-retry").await;

    let RunOutcome::Completed(status) = outcome else {
        panic!("{outcome:?}")
    };
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        !memberships.contains_key(&membership("g1", "u9")),
        "{memberships:?}"
    );
    assert_eq!(status.counts.members_removed, 1);
    assert_eq!(memberships.len(), 2, "g1's other members stay");
}

/// Entra-like ids whose first hex digit cycles: every bucket gets its share.
fn spread_id(kind: char, n: usize) -> String {
    format!("{:x}{kind}{n:06}", n % 16)
}

#[tokio::test]
async fn given_a_resync_of_a_large_tenant_then_its_finish_reads_one_bucket_at_a_time() {
    let world = World::new();
    let config = importing().build();
    let users: Vec<String> = (0..1_600).map(|n| spread_id('u', n)).collect();
    let groups: Vec<String> = (0..64).map(|n| spread_id('g', n)).collect();
    let members_of = |g: usize| -> Vec<&str> {
        (0..25)
            .map(|i| users[(g * 25 + i) % users.len()].as_str())
            .collect()
    };
    let users_round = |skip: &[usize]| {
        let items = (0..users.len())
            .filter(|n| !skip.contains(n))
            .map(|n| DeltaItem::Upsert(user(&users[n], &format!("user{n}@contoso.com"))))
            .collect();
        users_page(items, done("u-d"))
    };
    let groups_round = |without: Option<(usize, &str)>| {
        let items = groups
            .iter()
            .enumerate()
            .map(|(g, id)| {
                let members: Vec<&str> = members_of(g)
                    .into_iter()
                    .filter(|m| without != Some((g, *m)))
                    .collect();
                group(id, &members)
            })
            .collect();
        groups_page(items, done("g-d"))
    };
    world.entra.users("", users_round(&[]));
    world.entra.groups("", groups_round(None));
    assert!(matches!(
        world.run(&config, "run-1").await,
        RunOutcome::Completed(_)
    ));
    assert_eq!(world.directory.memberships.lock().unwrap().len(), 1_600);

    // Deleted in Entra: ten users. Left a group: one member of group 5.
    let gone: Vec<usize> = (0..10).map(|n| n * 37).collect();
    let left = members_of(5)[3].to_owned();
    world.entra.users("", users_round(&gone));
    world
        .entra
        .groups("", groups_round(Some((5, left.as_str()))));
    *world.directory.largest_read.lock().unwrap() = 0;
    let outcome = world.run(&config_resync(), "run-2").await;

    let RunOutcome::Completed(status) = outcome else {
        panic!("the resync completes: {outcome:?}");
    };
    assert_eq!(status.counts.users_deleted, 10);
    let directory_users = world.directory.users.lock().unwrap().clone();
    assert_eq!(directory_users.len(), 1_590);
    assert!(
        gone.iter()
            .all(|n| !directory_users.contains_key(&users[*n]))
    );
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(!memberships.contains_key(&membership(&groups[5], &left)));
    let of_gone = memberships
        .keys()
        .filter(|m| gone.iter().any(|n| users[*n] == m.user_id))
        .count();
    assert_eq!(of_gone, 0, "the deleted users' memberships went with them");
    // 1,600 memberships, 10 deleted users' 10 and the one that left.
    assert_eq!(memberships.len(), 1_600 - 10 - 1);
    assert_eq!(status.counts.members_removed, 11);
    // A tenant-wide read would return 1,600 ids at once; a range of four
    // buckets (400 ids in the unit tests' ranges), 400.
    let largest = *world.directory.largest_read.lock().unwrap();
    assert!(largest <= 400, "one read returned {largest} ids");
    assert!(largest >= 100, "the ranges were read: {largest}");
}
