use super::*;

mod lifecycle;
mod notification_key;
mod world;

use world::{World, tenant};

const ENTRA: &str = "3f2a6d1c-5b7e-4a90-8c1d-2e4f6a8b0c13";
const URL: &str = "https://abc.execute-api.eu-west-1.amazonaws.com/entra/notifications";

#[tokio::test]
async fn given_a_tenant_after_its_run_then_both_subscriptions_are_created_once_and_kept_quietly() {
    let world = World::new();
    let now = Utc::now();

    let status = world.keep("acme", now).await;

    assert_eq!(status, RealtimeStatus::Active);
    assert_eq!(world.calls(), ["create users", "create groups"]);
    let users = world.kept("users");
    assert_eq!(users.record.am_tenants, [tenant("acme")]);
    assert!(users.expires_at <= now + Duration::minutes(41_760));
    assert!(users.expires_at > now + Duration::days(28));
    assert_ne!(
        users.record.client_state_sha256,
        world.kept("groups").record.client_state_sha256
    );

    // The next runs: nothing to do, no Graph call, no status write.
    world.keep("acme", now + Duration::minutes(3)).await;
    assert!(world.calls().is_empty());
    assert_eq!(*world.kept.status_writes.lock().unwrap(), 1);
    assert_eq!(*world.kept.locks_taken.lock().unwrap(), 1, "no lock either");
    // A tenant that holds none leaves without a lock.
    world.release("stranger", now).await;
    assert_eq!(*world.kept.locks_taken.lock().unwrap(), 1);

    // A second AM tenant on the same Entra tenant shares them.
    world.keep("acme-eu", now).await;
    assert!(world.calls().is_empty());
    assert_eq!(
        world.kept("users").record.am_tenants,
        [tenant("acme"), tenant("acme-eu")]
    );
}

#[tokio::test]
async fn given_expiry_near_or_a_lost_subscription_then_it_is_renewed_or_recreated() {
    let world = World::new();
    let now = Utc::now();
    world.keep("acme", now).await;
    world.calls();

    // 26 days later: less than three days left.
    let later = now + Duration::days(26);
    world.keep("acme", later).await;
    let calls = world.calls();
    let renewals = calls.iter().filter(|c| c.starts_with("renew ")).count();
    assert_eq!(renewals, 2, "{calls:?}");
    assert!(
        calls.iter().all(|c| c.starts_with("renew ") || c == "list"),
        "{calls:?}"
    );
    assert!(world.kept("users").expires_at > later + Duration::days(28));

    // Graph dropped the users subscription silently: 404 on renew.
    let lost = world.kept("users").record.subscription_id;
    world.api.live.lock().unwrap().remove(&lost);
    let much_later = later + Duration::days(26);
    world.keep("acme", much_later).await;
    let calls = world.calls();
    assert!(calls.contains(&"create users".to_owned()), "{calls:?}");
    assert_ne!(world.kept("users").record.subscription_id, lost);
    assert_eq!(world.kept("users").record.am_tenants, [tenant("acme")]);
}

#[tokio::test]
async fn given_a_removed_subscription_event_then_it_is_made_again_at_once() {
    let world = World::new();
    let now = Utc::now();
    world.keep("acme", now).await;
    world.calls();

    world.edit("groups", |k| {
        k.lifecycle_event = Some(LifecycleEvent::SubscriptionRemoved)
    });
    let removed = world.kept("groups").record.subscription_id;
    world.keep("acme", now + Duration::minutes(2)).await;
    assert_eq!(
        world.calls(),
        [format!("delete {removed}"), "create groups".into()]
    );
}

#[tokio::test]
async fn given_graph_refusing_then_the_status_says_why_and_a_lost_record_is_recovered() {
    let world = World::new();
    let now = Utc::now();
    *world.api.refuse_next_create.lock().unwrap() = Some(403);

    let status = world.keep("acme", now).await;

    let RealtimeStatus::Error(reason) = status else {
        panic!("{status:?}");
    };
    assert!(reason.contains("User.Read.All"), "{reason}");
    assert!(reason.contains("403"), "{reason}");

    // A subscription Graph has but we lost the record of (409): replaced.
    world.calls();
    world.kept.kept.lock().unwrap().clear();
    world.api.live.lock().unwrap().clear();
    *world.api.refuse_next_create.lock().unwrap() = Some(409);
    let status = world.keep("acme", now).await;
    assert_eq!(status, RealtimeStatus::Active);
    assert_eq!(
        world.calls()[..2],
        ["create users".to_owned(), "list".to_owned()]
    );
}

#[tokio::test]
async fn given_realtime_switched_off_then_the_tenant_leaves_and_the_last_one_deletes_them() {
    let world = World::new();
    let now = Utc::now();
    world.keep("acme", now).await;
    world.keep("acme-eu", now).await;
    world.calls();

    world.release("acme", now).await;
    assert!(world.calls().is_empty(), "acme-eu still wants them");
    assert_eq!(world.kept("users").record.am_tenants, [tenant("acme-eu")]);
    assert_eq!(
        world.kept.status.lock().unwrap()[&tenant("acme")],
        RealtimeStatus::Inactive
    );

    world.release("acme-eu", now).await;
    assert_eq!(world.calls().len(), 2);
    assert!(world.api.live.lock().unwrap().is_empty());
    assert!(world.kept.kept.lock().unwrap().is_empty());
}

fn config(extra: serde_json::Value) -> TenantConfig {
    let mut item = serde_json::json!({
        "tenant_id": "acme",
        "entra_tenant_id": ENTRA,
        "sync_enabled": true,
        "authorisation": "authorised",
    });
    for (k, v) in extra.as_object().unwrap() {
        item[k] = v.clone();
    }
    TenantConfig::from_attributes(item.as_object().unwrap()).unwrap()
}

#[tokio::test]
async fn given_run_outcomes_then_subscriptions_are_kept_released_or_forgotten() {
    let world = World::new();
    let now = Utc::now();
    let completed = RunOutcome::Completed(crate::import::state::RunStatus {
        completed_at: Some(now),
        result: crate::import::state::RunResult::Ok,
        error: None,
        mode: crate::import::state::Mode::Delta,
        counts: Default::default(),
        open_problems: None,
    });
    let on = config(serde_json::json!({}));
    world.keeper().settle(&on, &completed, true, now).await;
    assert_eq!(world.calls(), ["create users", "create groups"]);

    // Paused or failed runs change nothing.
    world
        .keeper()
        .settle(&on, &RunOutcome::Paused, true, now)
        .await;
    assert!(world.calls().is_empty());

    // Authorisation lost: forgotten without a call (there is no token).
    let lost = config(serde_json::json!({"authorisation": "reauthorisation_required"}));
    world
        .keeper()
        .settle(&lost, &RunOutcome::Skipped("not authorised"), false, now)
        .await;
    assert!(world.calls().is_empty());
    assert!(world.kept.kept.lock().unwrap().is_empty());
    assert_eq!(
        world.kept.status.lock().unwrap()[&tenant("acme")],
        RealtimeStatus::Inactive
    );

    // Sync switched off: released through Graph.
    world.keeper().settle(&on, &completed, true, now).await;
    world.calls();
    let off = config(serde_json::json!({"sync_enabled": false}));
    world
        .keeper()
        .settle(
            &off,
            &RunOutcome::Skipped("directory sync is off"),
            false,
            now,
        )
        .await;
    assert_eq!(world.calls().len(), 2, "both deleted");
    assert_eq!(
        world.api.live.lock().unwrap().len(),
        2,
        "only the forgotten pair is left, to expire"
    );
}

#[tokio::test]
async fn given_a_subscription_graph_dropped_silently_then_the_daily_check_replaces_it() {
    let world = World::new();
    let now = Utc::now();
    world.keep("acme", now).await;
    let dropped = world.kept("groups").record.subscription_id;
    world.api.live.lock().unwrap().remove(&dropped);
    world.calls();

    world.keep("acme", now + Duration::hours(2)).await;
    assert!(world.calls().is_empty(), "checked once a day");

    world.keep("acme", now + Duration::hours(25)).await;
    let calls = world.calls();
    assert_eq!(
        calls.iter().filter(|c| *c == "list").count(),
        2,
        "{calls:?}"
    );
    assert!(calls.contains(&"create groups".to_owned()), "{calls:?}");
    assert_ne!(world.kept("groups").record.subscription_id, dropped);
}

#[tokio::test]
async fn given_another_run_settling_the_entra_tenant_then_this_one_leaves_the_subscriptions_alone()
{
    let world = World::new();
    let now = Utc::now();
    world
        .kept
        .locks
        .lock()
        .unwrap()
        .insert(ENTRA.into(), "other-run".into());

    world.keep("acme", now).await;
    world.release("acme", now).await;

    assert!(world.calls().is_empty());
    assert!(world.kept.kept.lock().unwrap().is_empty());
    world.kept.locks.lock().unwrap().clear();
    world.keep("acme", now).await;
    assert_eq!(
        world.calls().len(),
        2,
        "once free, the next run does the work"
    );
    assert!(
        world.kept.locks.lock().unwrap().is_empty(),
        "and gives the lock back"
    );
}

#[tokio::test]
async fn given_a_new_notification_url_then_the_subscriptions_are_made_again_for_it() {
    let world = World::new();
    let now = Utc::now();
    world.keep("acme", now).await;
    let before = world.kept("users").record.subscription_id;
    world.calls();

    let moved = RealtimeKeeper {
        api: &world.api,
        kept: &world.kept,
        notification_url: "https://entra.am.example.com/entra/notifications",
    };
    moved.keep_for(&tenant("acme"), ENTRA, now).await.unwrap();

    let calls = world.calls();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("create")).count(),
        2,
        "{calls:?}"
    );
    assert!(calls.contains(&format!("delete {before}")), "{calls:?}");
    assert_eq!(
        world.kept("users").notification_url.as_deref(),
        Some("https://entra.am.example.com/entra/notifications")
    );
}
