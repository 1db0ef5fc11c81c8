//! DESIGN 2.13, the export half, through the real `export-stream` binary:
//! what deleting a platform user or group does in Entra ID, as the tenant
//! chose (`export_user_delete_action`, `export_group_delete_action`).

use serde_json::json;

use super::export::{TENANT, World, platform_user, world};
use entra_sync_tests::stack::CONTOSO;

/// Platform user p-ada and group p-team with p-ada in it, exported: their
/// Entra ids (user, group).
async fn exported(w: &mut World) -> (String, String) {
    w.put("USER#p-ada", platform_user("p-ada", "ada@contoso.com"))
        .await;
    w.put(
        "GROUP#p-team",
        json!({"group_id": "p-team", "name": "Team", "source": "local"}),
    )
    .await;
    w.put(
        "MEMBER#p-team#p-ada",
        json!({"group_id": "p-team", "user_id": "p-ada", "source": "local"}),
    )
    .await;
    let report = w.export().await;
    assert!(report.retried.is_empty(), "{report:?}");
    w.export().await;
    let id = |item: serde_json::Map<String, serde_json::Value>| {
        item["entra_id"].as_str().unwrap().to_owned()
    };
    (
        id(w.item("USER#p-ada").await),
        id(w.item("GROUP#p-team").await),
    )
}

/// The platform deletes p-ada and its membership, as it deletes a user.
async fn ada_deleted(w: &mut World) {
    w.delete("USER#p-ada").await;
    w.delete("MEMBER#p-team#p-ada").await;
    let report = w.export().await;
    assert!(report.retried.is_empty(), "{report:?}");
}

#[tokio::test]
async fn given_disable_then_a_deleted_platform_user_is_disabled_in_entra_and_stays_in_its_groups() {
    let mut w = world(json!({"export_user_delete_action": "disable"})).await;
    let (ada, team) = exported(&mut w).await;
    let start = w.log_len();

    ada_deleted(&mut w).await;

    let writes: Vec<_> = w
        .writes_since(start)
        .into_iter()
        .map(|r| (r.method, r.path, r.body))
        .collect();
    assert_eq!(
        writes,
        vec![(
            "PATCH".to_owned(),
            format!("/v1.0/users/{ada}"),
            Some(json!({"accountEnabled": false}))
        )]
    );
    let (user, in_team) = w.stack.emulator.with_tenant(CONTOSO, |t| {
        (
            t.users[&ada].clone(),
            t.groups[&team].members.contains(&ada),
        )
    });
    assert!(!user.deleted && !user.account_enabled, "{user:?}");
    assert!(in_team, "the memberships the export wrote stay");
    assert!(w.stack.problem_items(TENANT).await.unwrap().is_empty());

    // The import sees the Entra user still there: it does not bring the
    // platform's deleted user back as a new one.
    let report = w.stack.tick(&mut w.sync).await.unwrap();
    assert!(report.failed_message_ids.is_empty(), "{report:?}");
    let users = w.stack.directory_of(TENANT, "USER#").await.unwrap();
    assert!(
        !users.iter().any(|u| u["user_id"] == ada.as_str()),
        "not imported back"
    );
}

#[tokio::test]
async fn given_keep_then_deleting_platform_users_and_groups_writes_nothing_in_entra() {
    let settings =
        json!({"export_user_delete_action": "keep", "export_group_delete_action": "keep"});
    let mut w = world(settings).await;
    let (ada, team) = exported(&mut w).await;
    let start = w.log_len();

    ada_deleted(&mut w).await;
    w.delete("GROUP#p-team").await;
    w.export().await;

    assert!(
        w.writes_since(start).is_empty(),
        "{:?}",
        w.writes_since(start)
    );
    let (user, in_team) = w.stack.emulator.with_tenant(CONTOSO, |t| {
        (
            t.users[&ada].clone(),
            t.groups[&team].members.contains(&ada),
        )
    });
    assert!(!user.deleted && user.account_enabled, "{user:?}");
    assert!(in_team);
    assert!(w.stack.problem_items(TENANT).await.unwrap().is_empty());
}

#[tokio::test]
async fn given_the_default_then_a_deleted_platform_user_and_group_are_deleted_and_the_user_remembered()
 {
    let mut w = world(json!({})).await;
    let (ada, team) = exported(&mut w).await;
    let start = w.log_len();

    ada_deleted(&mut w).await;
    w.delete("GROUP#p-team").await;
    w.export().await;

    // (The membership's removal goes out as ever: to an id Graph does not
    // know, which changes nothing.)
    let writes: Vec<_> = w
        .writes_since(start)
        .into_iter()
        .filter(|r| !r.path.ends_with("/$ref"))
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        writes,
        vec![
            ("DELETE".to_owned(), format!("/v1.0/users/{ada}")),
            ("DELETE".to_owned(), format!("/v1.0/groups/{team}")),
        ]
    );
    let remembered = w
        .stack
        .item(
            &w.stack.tables.integrations,
            &format!("TENANT#{TENANT}"),
            "ENTRA#DELETED#USER#p-ada",
        )
        .await
        .unwrap()
        .expect("the deleted user is remembered for its restore");
    assert_eq!(remembered["entra_id"], json!(ada));
    assert!(
        remembered.contains_key("expires_at_epoch"),
        "{remembered:?}"
    );
}
