//! The manager, a navigation property: `manager@delta` when selected, its
//! `$ref` routes, never PATCH; a deleted manager manages no one.

use serde_json::json;

use super::*;
use crate::stack::CONTOSO;

fn manager_ref(id: &str) -> serde_json::Value {
    json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{id}")})
}

fn manager_delta(id: &str) -> serde_json::Value {
    json!([{"@odata.type": "#microsoft.graph.user", "id": id}])
}

#[tokio::test]
async fn given_a_manager_set_by_ref_then_get_manager_and_delta_show_it_and_its_changes() {
    let emulator = emulator().await;
    let token = admin_token(&emulator);
    let path = format!("/users/{ANN_ID}/manager/$ref");
    let (status, body) = graph(&emulator, &token, "PUT", &path, Some(manager_ref(ADMIN_ID))).await;
    assert_eq!(status, 204, "{body}");
    let manager_path = format!("/users/{ANN_ID}/manager?$select=id,displayName");
    let (status, body) = graph(&emulator, &token, "GET", &manager_path, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"@odata.type": "#microsoft.graph.user", "id": ADMIN_ID, "displayName": "Contoso Admin"})
    );

    let round = "/users/delta?$select=displayName,manager";
    let (items, link) = delta_round(&emulator, &token, round, &[]).await;
    assert_eq!(
        item(&items, ANN_ID),
        Some(
            &json!({"id": ANN_ID, "displayName": "Ann One", "manager@delta": manager_delta(ADMIN_ID)})
        )
    );
    assert!(
        item(&items, MEGAN_ID)
            .unwrap()
            .get("manager@delta")
            .is_none()
    );

    let (status, _) = graph(&emulator, &token, "PUT", &path, Some(manager_ref(MEGAN_ID))).await;
    assert_eq!(status, 204);
    let (items, link) = delta_round(&emulator, &token, &link, &[]).await;
    assert_eq!(
        items,
        vec![json!({"id": ANN_ID, "manager@delta": manager_delta(MEGAN_ID)})]
    );

    let (status, _) = graph(&emulator, &token, "DELETE", &path, None).await;
    assert_eq!(status, 204);
    let (items, _) = delta_round(&emulator, &token, &link, &[]).await;
    let removed = json!([{"@odata.type": "#microsoft.graph.user", "id": MEGAN_ID, "@removed": {"reason": "deleted"}}]);
    assert_eq!(items, vec![json!({"id": ANN_ID, "manager@delta": removed})]);
    let none = graph(
        &emulator,
        &token,
        "GET",
        &format!("/users/{ANN_ID}/manager"),
        None,
    )
    .await;
    assert_error(
        &none,
        404,
        "Request_ResourceNotFound",
        "Resource 'manager' does not exist or one of its queried reference-property objects are not present.",
    );
    let again = graph(&emulator, &token, "DELETE", &path, None).await;
    assert_eq!(again.0, 404, "{}", again.1);
}

#[tokio::test]
async fn given_a_bad_manager_write_then_404_for_unknown_users_400_for_a_bad_body_or_a_patch() {
    let emulator = emulator().await;
    let token = admin_token(&emulator);
    let unknown = "a1b2c3d4-0000-4000-8000-00000000ffff";
    let unknown_user = graph(
        &emulator,
        &token,
        "PUT",
        &format!("/users/{unknown}/manager/$ref"),
        Some(manager_ref(ADMIN_ID)),
    )
    .await;
    assert_eq!(unknown_user.0, 404, "{}", unknown_user.1);
    assert_eq!(unknown_user.1["error"]["code"], "Request_ResourceNotFound");
    let path = format!("/users/{ANN_ID}/manager/$ref");
    let unknown_manager = graph(&emulator, &token, "PUT", &path, Some(manager_ref(unknown))).await;
    assert_eq!(unknown_manager.0, 404, "{}", unknown_manager.1);
    assert_eq!(
        unknown_manager.1["error"]["code"],
        "Request_ResourceNotFound"
    );
    let bad_body = graph(
        &emulator,
        &token,
        "PUT",
        &path,
        Some(json!({"id": ADMIN_ID})),
    )
    .await;
    assert_error(
        &bad_body,
        400,
        "Request_BadRequest",
        "Invalid value specified for property '@odata.id'.",
    );
    let patch = graph(
        &emulator,
        &token,
        "PATCH",
        &format!("/users/{ANN_ID}"),
        Some(json!({"manager": ADMIN_ID})),
    )
    .await;
    assert_eq!(patch.0, 400, "{}", patch.1);
    assert_eq!(patch.1["error"]["code"], "Request_BadRequest");
    assert!(emulator.with_tenant(CONTOSO, |t| t.users[ANN_ID].manager.is_none()));
}

#[tokio::test]
async fn given_a_manager_soft_deleted_then_the_report_has_none_and_delta_says_so() {
    let emulator = emulator().await;
    emulator.with_tenant(CONTOSO, |t| {
        t.update_user(ANN_ID, |u| u.manager = Some(MEGAN_ID.into()))
    });
    let token = admin_token(&emulator);
    let (_, link) = delta_round(&emulator, &token, "/users/delta?$select=manager", &[]).await;

    let (status, _) = graph(
        &emulator,
        &token,
        "DELETE",
        &format!("/users/{MEGAN_ID}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = graph(
        &emulator,
        &token,
        "GET",
        &format!("/users/{ANN_ID}/manager"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (items, _) = delta_round(&emulator, &token, &link, &[]).await;
    let removed = json!([{"@odata.type": "#microsoft.graph.user", "id": MEGAN_ID, "@removed": {"reason": "deleted"}}]);
    assert_eq!(
        item(&items, ANN_ID),
        Some(&json!({"id": ANN_ID, "manager@delta": removed}))
    );
    assert_eq!(
        item(&items, MEGAN_ID),
        Some(&json!({"id": MEGAN_ID, "@removed": {"reason": "changed"}}))
    );
}

#[tokio::test]
async fn given_manager_not_selected_then_a_manager_change_does_not_surface_the_user() {
    let emulator = emulator().await;
    let token = admin_token(&emulator);
    let (items, link) =
        delta_round(&emulator, &token, "/users/delta?$select=displayName", &[]).await;
    assert!(item(&items, ANN_ID).unwrap().get("manager@delta").is_none());
    emulator.with_tenant(CONTOSO, |t| {
        t.update_user(ANN_ID, |u| u.manager = Some(ADMIN_ID.into()))
    });
    let (items, _) = delta_round(&emulator, &token, &link, &[]).await;
    assert!(items.is_empty(), "{items:?}");
}
