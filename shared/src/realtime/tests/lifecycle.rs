//! A `reauthorizationRequired` is never dropped (docs/behaviour.md 2.11).

use super::*;

/// Graph asks for reauthorization `at`, as graph-notifications records it.
fn reauthorization_required(world: &World, resource: &str, at: DateTime<Utc>) {
    world.edit(resource, |k| {
        k.lifecycle_event = Some(LifecycleEvent::ReauthorizationRequired);
        k.lifecycle_event_at = Some(at);
    });
}

#[tokio::test]
async fn given_a_reauthorization_request_right_after_a_renewal_then_it_waits_out_the_gap_and_is_answered_once()
 {
    let world = World::new();
    let created = Utc::now();
    world.keep("acme", created).await;
    world.calls();

    // Graph sends it a minute after the creation: that creation did not
    // answer it, and no call may follow within ten minutes of it.
    reauthorization_required(&world, "users", created + Duration::minutes(1));
    for minutes in [2, 5, 9] {
        world
            .keep("acme", created + Duration::minutes(minutes))
            .await;
        assert!(world.calls().is_empty(), "no call at +{minutes} min");
        assert_eq!(
            world.kept("users").lifecycle_event,
            Some(LifecycleEvent::ReauthorizationRequired),
            "still pending at +{minutes} min"
        );
    }

    // The first run after the gap answers it: one PATCH.
    let answered_at = created + Duration::minutes(11);
    world.keep("acme", answered_at).await;
    let calls = world.calls();
    let users = world.kept("users").record.subscription_id;
    assert_eq!(calls, [format!("renew {users}")]);
    assert_eq!(world.kept("users").lifecycle_event, None);
    assert_eq!(world.kept("users").renewed_at, answered_at);

    // Answered: the next runs make no call.
    world.keep("acme", answered_at + Duration::minutes(3)).await;
    assert!(world.calls().is_empty());
}

#[tokio::test]
async fn given_a_reauthorization_request_from_before_the_last_renewal_then_that_renewal_answered_it()
 {
    let world = World::new();
    let created = Utc::now();
    world.keep("acme", created).await;
    world.calls();

    reauthorization_required(&world, "users", created - Duration::minutes(1));
    world.keep("acme", created + Duration::minutes(2)).await;

    assert!(world.calls().is_empty());
    assert_eq!(world.kept("users").lifecycle_event, None);
}

#[tokio::test]
async fn given_a_reauthorization_request_for_a_subscription_graph_lost_then_the_404_recreates_it() {
    let world = World::new();
    let created = Utc::now();
    world.keep("acme", created).await;
    let lost = world.kept("users").record.subscription_id;
    world.api.live.lock().unwrap().remove(&lost);
    world.calls();

    reauthorization_required(&world, "users", created + Duration::minutes(1));
    world.keep("acme", created + Duration::minutes(12)).await;

    let calls = world.calls();
    assert_eq!(
        calls,
        [
            format!("renew {lost}"),
            format!("delete {lost}"),
            "create users".into()
        ]
    );
    let users = world.kept("users");
    assert_ne!(users.record.subscription_id, lost);
    assert_eq!(users.lifecycle_event, None);
    assert_eq!(users.record.am_tenants, [tenant("acme")]);
}
