//! Application permissions of the new routes: deleted items read with the
//! read role of their kind (`Group.Read.All` for groups, not the member
//! roles), restored and purged with the write role; the manager written
//! with `User.ReadWrite.All`. Delegated tokens are not judged here.

use serde_json::{Value, json};

use super::*;
use crate::stack::CONTOSO;

fn assert_denied((status, body): (u16, Value)) {
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
}

fn soft_delete_ann_and_a_unified_group(emulator: &crate::emulator::Emulator) {
    emulator.with_tenant(CONTOSO, |t| {
        t.upsert_group(crate::emulator::Group {
            id: "c0c0c0c0-0000-4000-8000-0000000000b3".into(),
            display_name: "Team".into(),
            mail_nickname: "team".into(),
            group_types: vec!["Unified".into()],
            ..Default::default()
        });
        t.soft_delete_group("c0c0c0c0-0000-4000-8000-0000000000b3");
        t.soft_delete_user(ANN_ID);
    });
}

#[tokio::test]
async fn given_read_roles_only_then_deleted_items_read_but_restore_purge_and_manager_writes_are_denied()
 {
    let emulator = emulator().await;
    soft_delete_ann_and_a_unified_group(&emulator);
    let readers = app_token(&emulator, &["User.Read.All", "Group.Read.All"]);
    let users = "/directory/deletedItems/microsoft.graph.user";
    assert_eq!(graph(&emulator, &readers, "GET", users, None).await.0, 200);
    let groups = "/directory/deletedItems/microsoft.graph.group";
    assert_eq!(graph(&emulator, &readers, "GET", groups, None).await.0, 200);
    let one = format!("/directory/deletedItems/{ANN_ID}");
    assert_eq!(graph(&emulator, &readers, "GET", &one, None).await.0, 200);
    assert_denied(graph(&emulator, &readers, "POST", &format!("{one}/restore"), None).await);
    assert_denied(graph(&emulator, &readers, "DELETE", &one, None).await);
    let manager = format!("/users/{MEGAN_ID}/manager/$ref");
    let body = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{ADMIN_ID}")});
    assert_denied(graph(&emulator, &readers, "PUT", &manager, Some(body.clone())).await);

    let members_only = app_token(&emulator, &["GroupMember.Read.All"]);
    assert_denied(graph(&emulator, &members_only, "GET", groups, None).await);
    assert_denied(graph(&emulator, &members_only, "GET", users, None).await);

    let writers = app_token(&emulator, &["User.ReadWrite.All"]);
    assert_eq!(
        graph(&emulator, &writers, "PUT", &manager, Some(body))
            .await
            .0,
        204
    );
    let (status, restored) =
        graph(&emulator, &writers, "POST", &format!("{one}/restore"), None).await;
    assert_eq!(status, 200, "{restored}");
    let group_restore = "/directory/deletedItems/c0c0c0c0-0000-4000-8000-0000000000b3/restore";
    assert_denied(graph(&emulator, &writers, "POST", group_restore, None).await);
    let group_writer = app_token(&emulator, &["Group.ReadWrite.All"]);
    assert_eq!(
        graph(&emulator, &group_writer, "POST", group_restore, None)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn given_the_admin_endpoint_then_a_test_sets_read_only_properties_and_the_manager() {
    let emulator = emulator().await;
    let url = format!(
        "{}/_emulator/tenants/{CONTOSO}/users/{ANN_ID}",
        emulator.base_url
    );
    let mut body = json!({"onPremisesSyncEnabled": true, "onPremisesSamAccountName": "ann", "manager": ADMIN_ID});
    body[EXTENSION] = json!("CC-3");
    let response = reqwest::Client::new()
        .patch(&url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let unknown = reqwest::Client::new()
        .patch(&url)
        .json(&json!({"favouriteColour": "blue"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 400);

    let token = admin_token(&emulator);
    let select = format!(
        "/users/{ANN_ID}?$select=onPremisesSyncEnabled,onPremisesSamAccountName,{EXTENSION}"
    );
    let (_, user) = graph(&emulator, &token, "GET", &select, None).await;
    let mut want =
        json!({"id": ANN_ID, "onPremisesSyncEnabled": true, "onPremisesSamAccountName": "ann"});
    want[EXTENSION] = json!("CC-3");
    assert_eq!(user, want);
    let (_, manager) = graph(
        &emulator,
        &token,
        "GET",
        &format!("/users/{ANN_ID}/manager?$select=id"),
        None,
    )
    .await;
    assert_eq!(manager["id"], ADMIN_ID);
}
