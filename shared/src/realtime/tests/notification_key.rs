//! The notification key in the subscriptions' URLs (docs/behaviour.md 2.11).

use super::*;

#[tokio::test]
async fn given_a_notification_url_with_a_key_then_the_record_holds_its_hash_and_a_new_key_remakes_them()
 {
    let world = World::new();
    let now = Utc::now();
    let keyed = format!("{URL}?key=Zx81mQv0ba7RtY2nKc5LpW3sHd9FgJ4e6UoIiN1A");
    let keeper = |url| RealtimeKeeper {
        api: &world.api,
        kept: &world.kept,
        notification_url: url,
    };
    // Subscriptions made before the key: Graph calls them without it.
    keeper(URL)
        .keep_for(&tenant("acme"), ENTRA, now)
        .await
        .unwrap();
    world.calls();

    keeper(&keyed)
        .keep_for(&tenant("acme"), ENTRA, now)
        .await
        .unwrap();
    let calls = world.calls();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("create")).count(),
        2,
        "{calls:?}"
    );
    let live = world.api.live.lock().unwrap().clone();
    assert!(
        live.values().all(|s| s.notification_url == keyed),
        "Graph gets the key"
    );
    let recorded = world.kept("users").notification_url.unwrap();
    assert!(
        !recorded.contains("Zx81mQv0ba7RtY2nKc5LpW3sHd9FgJ4e6UoIiN1A"),
        "{recorded}"
    );
    assert!(recorded.contains("key=sha256%3A"), "{recorded}");

    // The same key: in order. A new key: made again.
    keeper(&keyed)
        .keep_for(&tenant("acme"), ENTRA, now)
        .await
        .unwrap();
    assert!(world.calls().is_empty());
    let rotated = format!("{URL}?key=Pq0wErTy9uIoPaSdFgHjKlZxCvBnM1234567890a");
    keeper(&rotated)
        .keep_for(&tenant("acme"), ENTRA, now)
        .await
        .unwrap();
    assert_eq!(
        world
            .calls()
            .iter()
            .filter(|c| c.starts_with("create"))
            .count(),
        2
    );
}
