//! Deleted items: users and Microsoft 365 groups restorable for 30 days
//! (delta `changed`, memberships kept and not reported), restore as a full
//! item, purge as `deleted`; security groups deleted for good at once.

use serde_json::{Value, json};

use super::*;
use crate::emulator::Group;
use crate::stack::CONTOSO;

const UNIFIED_ID: &str = "c0c0c0c0-0000-4000-8000-0000000000b2";

fn with_unified_group(emulator: &crate::emulator::Emulator) {
    emulator.with_tenant(CONTOSO, |t| {
        t.upsert_group(Group {
            id: UNIFIED_ID.into(),
            display_name: "Project X".into(),
            mail_nickname: "projectx".into(),
            mail_enabled: true,
            group_types: vec!["Unified".into()],
            members: vec![ANN_ID.into()],
            ..Group::default()
        })
    });
}

fn removed(id: &str, reason: &str) -> Value {
    json!({"id": id, "@removed": {"reason": reason}})
}

#[tokio::test]
async fn given_deleted_users_then_deleted_items_lists_them_by_cast_in_pages_and_one_by_id() {
    let emulator = emulator().await;
    let token = admin_token(&emulator);
    for id in [ANN_ID, MEGAN_ID] {
        let (status, _) = graph(&emulator, &token, "DELETE", &format!("/users/{id}"), None).await;
        assert_eq!(status, 204);
    }
    let without_cast = graph(&emulator, &token, "GET", "/directory/deletedItems", None).await;
    assert_eq!(without_cast.0, 400, "{}", without_cast.1);
    assert_eq!(without_cast.1["error"]["code"], "Request_BadRequest");
    let too_many = "/directory/deletedItems/microsoft.graph.user?$top=1000";
    assert_error(
        &graph(&emulator, &token, "GET", too_many, None).await,
        400,
        "Request_BadRequest",
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.",
    );

    let first = "/directory/deletedItems/microsoft.graph.user?$top=1&$select=id,displayName";
    let (status, page) = graph(&emulator, &token, "GET", first, None).await;
    assert_eq!(status, 200, "{page}");
    let item_of = |page: &Value| page["value"][0].clone();
    // Listed in object id order: Megan's id sorts before Ann's.
    assert_eq!(item_of(&page)["id"], MEGAN_ID);
    assert_eq!(item_of(&page)["displayName"], "Megan Bowen");
    assert!(
        item_of(&page)["deletedDateTime"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(item_of(&page).get("userPrincipalName").is_none());
    let next = page["@odata.nextLink"].as_str().unwrap();
    let (_, page) = graph(&emulator, &token, "GET", next, None).await;
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
    assert_eq!(item_of(&page)["id"], ANN_ID);
    assert!(page.get("@odata.nextLink").is_none());

    let (status, one) = graph(
        &emulator,
        &token,
        "GET",
        &format!("/directory/deletedItems/{ANN_ID}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["@odata.type"], "#microsoft.graph.user");
    assert_eq!(one["userPrincipalName"], "ann@contoso.com");
    let groups = graph(
        &emulator,
        &token,
        "GET",
        "/directory/deletedItems/microsoft.graph.group",
        None,
    )
    .await;
    assert_eq!(groups.1["value"], json!([]));
    let live = graph(
        &emulator,
        &token,
        "GET",
        &format!("/directory/deletedItems/{ADMIN_ID}"),
        None,
    )
    .await;
    assert_eq!(live.0, 404);
}

#[tokio::test]
async fn given_a_soft_deleted_member_then_groups_delta_keeps_quiet_and_a_restore_brings_the_user_back_whole()
 {
    let emulator = emulator().await;
    let token = admin_token(&emulator);
    let (_, users_link) =
        delta_round(&emulator, &token, "/users/delta?$select=displayName", &[]).await;
    let groups_round = "/groups/delta?$select=displayName,members";
    let (_, groups_link) = delta_round(&emulator, &token, groups_round, &[]).await;
    graph(
        &emulator,
        &token,
        "DELETE",
        &format!("/users/{ANN_ID}"),
        None,
    )
    .await;

    let (items, users_link) = delta_round(&emulator, &token, &users_link, &[]).await;
    assert_eq!(items, vec![removed(ANN_ID, "changed")]);
    let (items, groups_link) = delta_round(&emulator, &token, &groups_link, &[]).await;
    assert!(
        items.is_empty(),
        "a soft-deleted member is no removal: {items:?}"
    );
    let (fresh, _) = delta_round(&emulator, &token, groups_round, &[]).await;
    assert!(
        item(&fresh, GROUP_ID)
            .unwrap()
            .get("members@delta")
            .is_none()
    );
    let members = format!("/groups/{GROUP_ID}/transitiveMembers");
    assert_eq!(
        graph(&emulator, &token, "GET", &members, None).await.1["value"],
        json!([])
    );

    let restore = format!("/directory/deletedItems/{ANN_ID}/restore");
    let (status, body) = graph(&emulator, &token, "POST", &restore, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["@odata.type"], "#microsoft.graph.user");
    assert_eq!(body["id"], ANN_ID);
    let (items, _) = delta_round(
        &emulator,
        &token,
        &users_link,
        &[("Prefer", "return=minimal")],
    )
    .await;
    assert_eq!(items, vec![json!({"id": ANN_ID, "displayName": "Ann One"})]);
    let (items, _) = delta_round(&emulator, &token, &groups_link, &[]).await;
    assert!(items.is_empty(), "{items:?}");
    let (_, listed) = graph(&emulator, &token, "GET", &members, None).await;
    assert_eq!(listed["value"][0]["id"], ANN_ID);
}

#[tokio::test]
async fn given_a_deleted_users_upn_taken_then_its_restore_is_an_object_conflict() {
    let emulator = emulator().await;
    let token = admin_token(&emulator);
    graph(
        &emulator,
        &token,
        "DELETE",
        &format!("/users/{ANN_ID}"),
        None,
    )
    .await;
    emulator.with_tenant(CONTOSO, |t| {
        t.upsert_user(crate::emulator::User {
            id: "a1b2c3d4-0000-4000-8000-0000000000a2".into(),
            ..ann()
        })
    });
    let restore = format!("/directory/deletedItems/{ANN_ID}/restore");
    let (status, body) = graph(&emulator, &token, "POST", &restore, None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    assert_eq!(
        body["error"]["details"][0],
        json!({"code": "ObjectConflict", "target": "userPrincipalName"})
    );
    assert!(emulator.with_tenant(CONTOSO, |t| t.users[ANN_ID].deleted));
}

#[tokio::test]
async fn given_a_purge_then_delta_says_deleted_and_the_membership_is_removed() {
    let emulator = emulator().await;
    let token = admin_token(&emulator);
    let (_, users_link) =
        delta_round(&emulator, &token, "/users/delta?$select=displayName", &[]).await;
    let (_, groups_link) =
        delta_round(&emulator, &token, "/groups/delta?$select=members", &[]).await;
    graph(
        &emulator,
        &token,
        "DELETE",
        &format!("/users/{ANN_ID}"),
        None,
    )
    .await;
    let purge = format!("/directory/deletedItems/{ANN_ID}");
    let (status, body) = graph(&emulator, &token, "DELETE", &purge, None).await;
    assert_eq!(status, 204, "{body}");

    let (items, _) = delta_round(&emulator, &token, &users_link, &[]).await;
    assert_eq!(items, vec![removed(ANN_ID, "deleted")]);
    let (items, _) = delta_round(&emulator, &token, &groups_link, &[]).await;
    let removal = json!([{"@odata.type": "#microsoft.graph.user", "id": ANN_ID, "@removed": {"reason": "deleted"}}]);
    assert_eq!(
        items,
        vec![json!({"id": GROUP_ID, "members@delta": removal})]
    );
    assert_eq!(
        graph(&emulator, &token, "DELETE", &purge, None).await.0,
        404
    );
    let restore = format!("{purge}/restore");
    assert_eq!(
        graph(&emulator, &token, "POST", &restore, None).await.0,
        404
    );
}

#[tokio::test]
async fn given_group_deletes_then_a_microsoft_365_group_is_restorable_and_a_security_group_gone() {
    let emulator = emulator().await;
    with_unified_group(&emulator);
    let token = admin_token(&emulator);
    let (_, link) = delta_round(
        &emulator,
        &token,
        "/groups/delta?$select=displayName,members",
        &[],
    )
    .await;
    for id in [UNIFIED_ID, GROUP_ID] {
        let (status, _) = graph(&emulator, &token, "DELETE", &format!("/groups/{id}"), None).await;
        assert_eq!(status, 204);
    }
    let (items, link) = delta_round(&emulator, &token, &link, &[]).await;
    assert_eq!(
        item(&items, UNIFIED_ID),
        Some(&removed(UNIFIED_ID, "changed"))
    );
    assert_eq!(item(&items, GROUP_ID), Some(&removed(GROUP_ID, "deleted")));
    let (_, listed) = graph(
        &emulator,
        &token,
        "GET",
        "/directory/deletedItems/microsoft.graph.group",
        None,
    )
    .await;
    let ids: Vec<&Value> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| &g["id"])
        .collect();
    assert_eq!(ids, vec![&json!(UNIFIED_ID)]);
    assert_eq!(
        graph(
            &emulator,
            &token,
            "GET",
            &format!("/groups/{UNIFIED_ID}"),
            None
        )
        .await
        .0,
        404
    );
    let security = format!("/directory/deletedItems/{GROUP_ID}/restore");
    assert_eq!(
        graph(&emulator, &token, "POST", &security, None).await.0,
        404
    );

    let restore = format!("/directory/deletedItems/{UNIFIED_ID}/restore");
    let (status, body) = graph(&emulator, &token, "POST", &restore, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["@odata.type"], "#microsoft.graph.group");
    assert_eq!(body["groupTypes"], json!(["Unified"]));
    let (items, _) = delta_round(&emulator, &token, &link, &[]).await;
    let members = json!([{"@odata.type": "#microsoft.graph.user", "id": ANN_ID}]);
    assert_eq!(
        items,
        vec![json!({"id": UNIFIED_ID, "displayName": "Project X", "members@delta": members})]
    );
}

#[tokio::test]
async fn given_a_deleted_user_older_than_30_days_then_the_next_request_finds_it_purged() {
    let emulator = emulator().await;
    let token = admin_token(&emulator);
    let (_, link) = delta_round(&emulator, &token, "/users/delta?$select=displayName", &[]).await;
    graph(
        &emulator,
        &token,
        "DELETE",
        &format!("/users/{ANN_ID}"),
        None,
    )
    .await;
    graph(
        &emulator,
        &token,
        "DELETE",
        &format!("/users/{MEGAN_ID}"),
        None,
    )
    .await;
    emulator.with_tenant(CONTOSO, |t| {
        t.age_deleted(MEGAN_ID, chrono::Duration::days(29))
    });
    let age = reqwest::Client::new()
        .post(format!(
            "{}/_emulator/tenants/{CONTOSO}/deleted/{ANN_ID}/age",
            emulator.base_url
        ))
        .json(&json!({"days": 31}))
        .send()
        .await
        .unwrap();
    assert_eq!(age.status().as_u16(), 204);

    let gone = graph(
        &emulator,
        &token,
        "GET",
        &format!("/directory/deletedItems/{ANN_ID}"),
        None,
    )
    .await;
    assert_eq!(gone.0, 404, "{}", gone.1);
    let kept = graph(
        &emulator,
        &token,
        "GET",
        &format!("/directory/deletedItems/{MEGAN_ID}"),
        None,
    )
    .await;
    assert_eq!(kept.0, 200, "{}", kept.1);
    let (items, _) = delta_round(&emulator, &token, &link, &[]).await;
    assert_eq!(item(&items, ANN_ID), Some(&removed(ANN_ID, "deleted")));
    assert_eq!(item(&items, MEGAN_ID), Some(&removed(MEGAN_ID, "changed")));
}
