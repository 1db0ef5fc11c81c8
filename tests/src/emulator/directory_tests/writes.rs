//! Write rules: read-only properties refused by name; a user mastered on
//! premises writable only in its cloud-owned few, all or nothing;
//! `onPremisesExtensionAttributes` only on a user never synced.

use serde_json::json;

use super::*;
use crate::emulator::user_writes::{EXTERNALLY_ORIGINATED, ON_PREMISES_MASTERED};
use crate::stack::CONTOSO;

#[tokio::test]
async fn given_a_read_only_property_then_patch_and_post_refuse_it_by_name_and_change_nothing() {
    let emulator = emulator().await;
    let token = admin_token(&emulator);
    let path = format!("/users/{ANN_ID}");
    for (property, value) in [
        ("onPremisesSyncEnabled", json!(true)),
        ("onPremisesSamAccountName", json!("ann")),
        ("proxyAddresses", json!(["SMTP:ann@contoso.com"])),
        ("id", json!(ANN_ID)),
    ] {
        let body = json!({"jobTitle": "Boss", property: value});
        let refused = graph(&emulator, &token, "PATCH", &path, Some(body)).await;
        assert_error(
            &refused,
            400,
            "Request_BadRequest",
            &format!("Property '{property}' is read-only and cannot be set."),
        );
    }
    assert!(emulator.with_tenant(CONTOSO, |t| t.users[ANN_ID].job_title.is_none()));

    let create = json!({
        "accountEnabled": true,
        "displayName": "Bob",
        "mailNickname": "bob",
        "userPrincipalName": "bob@contoso.com",
        "passwordProfile": {"password": "Str0ng!pass"},
        "createdDateTime": "2020-01-01T00:00:00Z",
    });
    let refused = graph(&emulator, &token, "POST", "/users", Some(create)).await;
    assert_error(
        &refused,
        400,
        "Request_BadRequest",
        "Property 'createdDateTime' is read-only and cannot be set.",
    );
    assert!(emulator.with_tenant(CONTOSO, |t| t.user_by_upn("bob@contoso.com").is_none()));
}

#[tokio::test]
async fn given_a_user_mastered_on_premises_then_only_its_cloud_owned_properties_are_written() {
    let emulator = emulator().await;
    emulator.with_tenant(CONTOSO, |t| {
        t.update_user(ANN_ID, |u| {
            u.set_property("onPremisesSyncEnabled", json!(true))
        })
    });
    let token = admin_token(&emulator);
    let path = format!("/users/{ANN_ID}");
    for body in [
        json!({"jobTitle": "Boss"}),
        json!({"accountEnabled": false}),
        json!({"onPremisesExtensionAttributes": {"extensionAttribute1": "x"}}),
        // All or nothing: the writable one is not applied either.
        json!({"usageLocation": "NO", "department": "Sales"}),
    ] {
        let refused = graph(&emulator, &token, "PATCH", &path, Some(body.clone())).await;
        assert_error(&refused, 400, "Request_BadRequest", ON_PREMISES_MASTERED);
    }
    let unchanged = emulator.with_tenant(CONTOSO, |t| t.users[ANN_ID].clone());
    assert!(unchanged.account_enabled && unchanged.property("usageLocation").is_none());

    let mut cloud_owned = json!({"usageLocation": "NO", "preferredLanguage": "nb-NO"});
    cloud_owned[EXTENSION] = json!("CC-1");
    let (status, body) = graph(&emulator, &token, "PATCH", &path, Some(cloud_owned)).await;
    assert_eq!(status, 204, "{body}");
    let select = format!("{path}?$select=usageLocation,preferredLanguage,{EXTENSION}");
    let (_, body) = graph(&emulator, &token, "GET", &select, None).await;
    let mut want = json!({"id": ANN_ID, "usageLocation": "NO", "preferredLanguage": "nb-NO"});
    want[EXTENSION] = json!("CC-1");
    assert_eq!(body, want);
}

#[tokio::test]
async fn given_a_user_synced_once_then_its_extension_attributes_are_refused_and_a_never_synced_ones_written()
 {
    let emulator = emulator().await;
    emulator.with_tenant(CONTOSO, |t| {
        t.update_user(MEGAN_ID, |u| {
            u.set_property("onPremisesSyncEnabled", json!(false))
        })
    });
    let token = admin_token(&emulator);
    let body = json!({"onPremisesExtensionAttributes": {"extensionAttribute1": "x"}});
    let refused = graph(
        &emulator,
        &token,
        "PATCH",
        &format!("/users/{MEGAN_ID}"),
        Some(body.clone()),
    )
    .await;
    assert_error(&refused, 400, "Request_BadRequest", EXTERNALLY_ORIGINATED);
    let megan = graph(
        &emulator,
        &token,
        "PATCH",
        &format!("/users/{MEGAN_ID}"),
        Some(json!({"jobTitle": "Lead"})),
    )
    .await;
    assert_eq!(
        megan.0, 204,
        "no longer synced: her other properties are the cloud's"
    );

    let path = format!("/users/{ANN_ID}");
    let (status, body) = graph(&emulator, &token, "PATCH", &path, Some(body)).await;
    assert_eq!(status, 204, "{body}");
    let attribute = emulator.with_tenant(CONTOSO, |t| {
        t.users[ANN_ID]
            .property("onPremisesExtensionAttributes")
            .cloned()
    });
    assert_eq!(attribute, Some(json!({"extensionAttribute1": "x"})));
}
