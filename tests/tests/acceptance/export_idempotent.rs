//! A create whose answer was lost is not made twice: the export finds the
//! Entra object that carries its mark (`GET /users|groups?$filter=<mark
//! extension> eq '<mark>'`) before any POST, through the real
//! `export-stream` binary against the emulator's Graph.

use entra_sync_tests::emulator::{Group, User};
use entra_sync_tests::stack::CONTOSO;
use serde_json::json;

use super::export::{TENANT, World, platform_user, world};

fn mark_property(w: &World) -> String {
    let registered = w.stack.emulator.state().extension_properties.clone();
    registered
        .into_iter()
        .next()
        .expect("the app's mark extension")
}

/// What a create whose answer was lost left in Entra ID: an object marked
/// for the AM object, which AM never linked.
fn lost_group(w: &World, id: &str, group_id: &str) {
    let mark = mark_property(w);
    w.stack.emulator.with_tenant(CONTOSO, |t| {
        let mut group = Group {
            id: id.into(),
            display_name: "Team".into(),
            mail_nickname: "am-team".into(),
            security_enabled: true,
            ..Group::default()
        };
        let value = json!(format!("{TENANT}/GROUP#{group_id}"));
        group.extensions.insert(mark, value);
        t.upsert_group(group)
    });
}

fn lost_user(w: &World, id: &str, upn: &str, user_id: &str) {
    let mark = mark_property(w);
    w.stack.emulator.with_tenant(CONTOSO, |t| {
        let mut user = User {
            id: id.into(),
            user_principal_name: upn.into(),
            display_name: Some("Ada Lovelace".into()),
            account_enabled: true,
            ..User::default()
        };
        let value = json!(format!("{TENANT}/USER#{user_id}"));
        user.extensions.insert(mark, value);
        t.upsert_user(user)
    });
}

fn posts_to(w: &World, from: usize, path: &str) -> usize {
    w.writes_since(from)
        .iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .count()
}

#[tokio::test]
async fn given_objects_a_lost_create_made_then_the_export_links_them_and_creates_none() {
    let mut w = world(json!({})).await;
    lost_group(&w, "e7a1c2d3-0000-4000-8000-0000000a0001", "p-team");
    // Renamed on the platform since the create whose answer was lost.
    lost_user(
        &w,
        "e7a1c2d3-0000-4000-8000-0000000a0002",
        "ada.old@contoso.com",
        "p-ada",
    );
    let start = w.log_len();
    w.put(
        "GROUP#p-team",
        json!({"group_id": "p-team", "name": "Team", "source": "local"}),
    )
    .await;
    w.put("USER#p-ada", platform_user("p-ada", "ada@contoso.com"))
        .await;
    let report = w.export().await;

    assert_eq!(posts_to(&w, start, "/v1.0/groups"), 0, "{report:?}");
    assert_eq!(posts_to(&w, start, "/v1.0/users"), 0, "{report:?}");
    let group = w.item("GROUP#p-team").await;
    assert_eq!(group["entra_id"], "e7a1c2d3-0000-4000-8000-0000000a0001");
    assert_eq!(group["sync_entra_origin"], "created");
    let user = w.item("USER#p-ada").await;
    assert_eq!(user["entra_id"], "e7a1c2d3-0000-4000-8000-0000000a0002");
    let upn = w.stack.emulator.with_tenant(CONTOSO, |t| {
        t.users["e7a1c2d3-0000-4000-8000-0000000a0002"]
            .user_principal_name
            .clone()
    });
    assert_eq!(upn, "ada@contoso.com", "the rename went out");
    let filters: Vec<_> = w.stack.emulator.requests()[start..]
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/v1.0/groups")
        .filter_map(|r| r.query.clone())
        .collect();
    assert!(
        filters
            .iter()
            .any(|q| q.contains("$filter") && !q.contains("$count")),
        "a default query, no advanced parameters: {filters:?}"
    );
}

#[tokio::test]
async fn given_a_platform_group_deleted_before_its_link_was_recorded_then_its_marked_group_goes() {
    let mut w = world(json!({})).await;
    lost_group(&w, "e7a1c2d3-0000-4000-8000-0000000a0003", "p-gone");
    w.put(
        "GROUP#p-gone",
        json!({"group_id": "p-gone", "name": "Gone", "source": "local"}),
    )
    .await;
    w.delete("GROUP#p-gone").await;
    let start = w.log_len();
    let report = w.export().await;
    let deleted: Vec<_> = w
        .writes_since(start)
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    assert_eq!(
        deleted,
        vec!["/v1.0/groups/e7a1c2d3-0000-4000-8000-0000000a0003"],
        "{report:?}"
    );
    let left = w.stack.emulator.with_tenant(CONTOSO, |t| {
        t.groups
            .contains_key("e7a1c2d3-0000-4000-8000-0000000a0003")
    });
    assert!(!left);
}
