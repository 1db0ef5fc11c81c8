//! The user properties of docs/mapping.md 1.2: returned only when `$select` names them,
//! `onPremisesExtensionAttributes` whole (all 15 keys), directory
//! extensions by their full names; a change surfaces in delta only when
//! its property is selected.

use serde_json::{Map, Value, json};

use super::*;
use crate::stack::CONTOSO;

/// `onPremisesExtensionAttributes` with these set and the others null.
fn extension_attributes(set: &[(u8, &str)]) -> Value {
    let mut attributes: Map<String, Value> = (1..=15)
        .map(|n| (format!("extensionAttribute{n}"), Value::Null))
        .collect();
    for (n, value) in set {
        attributes.insert(format!("extensionAttribute{n}"), json!(value));
    }
    Value::Object(attributes)
}

fn give_ann_wave3_properties(emulator: &crate::emulator::Emulator) {
    emulator.with_tenant(CONTOSO, |t| {
        t.update_user(ANN_ID, |u| {
            u.set_property("employeeId", json!("E-17"));
            u.set_property("businessPhones", json!(["+1 555 0100"]));
            u.set_property("companyName", json!("Contoso Ltd"));
            u.set_extension_attribute(1, Some("cost-7"));
            u.extensions.insert(EXTENSION.into(), json!("CC-9"));
        })
    });
}

#[tokio::test]
async fn given_wave3_properties_when_selected_then_get_and_delta_return_exactly_the_selection() {
    let emulator = emulator().await;
    give_ann_wave3_properties(&emulator);
    let token = admin_token(&emulator);
    let select = format!("employeeId,businessPhones,onPremisesExtensionAttributes,{EXTENSION}");
    let mut want = json!({
        "id": ANN_ID,
        "employeeId": "E-17",
        "businessPhones": ["+1 555 0100"],
        "onPremisesExtensionAttributes": extension_attributes(&[(1, "cost-7")]),
    });
    want[EXTENSION] = json!("CC-9");

    let path = format!("/users/{ANN_ID}?$select={select}");
    let (status, body) = graph(&emulator, &token, "GET", &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, want);
    let round = format!("/users/delta?$select={select}");
    let (items, _) = delta_round(&emulator, &token, &round, &[]).await;
    assert_eq!(item(&items, ANN_ID), Some(&want));
    let list = format!("/users?$select={select}");
    let (_, body) = graph(&emulator, &token, "GET", &list, None).await;
    assert_eq!(item(body["value"].as_array().unwrap(), ANN_ID), Some(&want));

    // Without $select: the default set, none of what must be asked for.
    let (_, body) = graph(&emulator, &token, "GET", &format!("/users/{ANN_ID}"), None).await;
    assert_eq!(body["businessPhones"], json!(["+1 555 0100"]));
    for unasked in [
        "employeeId",
        "companyName",
        "onPremisesExtensionAttributes",
        EXTENSION,
    ] {
        assert!(body.get(unasked).is_none(), "{unasked} in {body}");
    }
}

#[tokio::test]
async fn given_a_select_of_one_extension_attribute_then_get_list_and_delta_refuse_it_with_400() {
    let emulator = emulator().await;
    let token = admin_token(&emulator);
    let select = "$select=id,onPremisesExtensionAttributes/extensionAttribute1";
    for path in [
        format!("/users/{ANN_ID}?{select}"),
        format!("/users?{select}"),
        format!("/users/delta?{select}"),
    ] {
        let (status, body) = graph(&emulator, &token, "GET", &path, None).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "Request_BadRequest", "{path}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("onPremisesExtensionAttributes/extensionAttribute1"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn given_a_delta_link_then_only_a_change_to_a_selected_property_surfaces_the_user() {
    let emulator = emulator().await;
    give_ann_wave3_properties(&emulator);
    let token = admin_token(&emulator);
    let round = format!("/users/delta?$select=displayName,employeeId,{EXTENSION}");
    let (_, link) = delta_round(&emulator, &token, &round, &[]).await;

    emulator.with_tenant(CONTOSO, |t| {
        t.update_user(ANN_ID, |u| {
            u.set_property("companyName", json!("Fabrikam"));
            u.set_extension_attribute(2, Some("not selected"));
        })
    });
    let (items, link) = delta_round(&emulator, &token, &link, &[]).await;
    assert_eq!(item(&items, ANN_ID), None, "{items:?}");

    emulator.with_tenant(CONTOSO, |t| {
        t.update_user(ANN_ID, |u| {
            u.set_property("employeeId", json!("E-18"));
            u.extensions.remove(EXTENSION);
        })
    });
    let minimal = [("Prefer", "return=minimal")];
    let (items, _) = delta_round(&emulator, &token, &link, &minimal).await;
    let mut want = json!({"id": ANN_ID, "employeeId": "E-18"});
    want[EXTENSION] = Value::Null;
    assert_eq!(item(&items, ANN_ID), Some(&want));
}

#[tokio::test]
async fn given_a_cloud_user_when_patched_then_the_new_properties_are_written_and_extension_attributes_merge()
 {
    let emulator = emulator().await;
    give_ann_wave3_properties(&emulator);
    let token = admin_token(&emulator);
    let patch = json!({
        "employeeId": "E-20",
        "city": "Oslo",
        "otherMails": ["ann@example.org"],
        "onPremisesExtensionAttributes": {"extensionAttribute3": "x", "extensionAttribute1": null},
    });
    let path = format!("/users/{ANN_ID}");
    let (status, body) = graph(&emulator, &token, "PATCH", &path, Some(patch)).await;
    assert_eq!(status, 204, "{body}");
    let select = "$select=employeeId,city,otherMails,onPremisesExtensionAttributes";
    let (_, body) = graph(&emulator, &token, "GET", &format!("{path}?{select}"), None).await;
    assert_eq!(
        body,
        json!({
            "id": ANN_ID,
            "employeeId": "E-20",
            "city": "Oslo",
            "otherMails": ["ann@example.org"],
            "onPremisesExtensionAttributes": extension_attributes(&[(3, "x")]),
        })
    );

    let two_phones = json!({"businessPhones": ["+1 555 0100", "+1 555 0101"]});
    let refused = graph(&emulator, &token, "PATCH", &path, Some(two_phones)).await;
    assert_error(
        &refused,
        400,
        "Request_BadRequest",
        "Invalid value specified for property 'businessPhones' of resource 'User'.",
    );
}

#[tokio::test]
async fn given_a_delta_link_without_select_then_only_a_change_to_the_default_set_surfaces_the_user()
{
    let emulator = emulator().await;
    let token = admin_token(&emulator);
    let (_, link) = delta_round(&emulator, &token, "/users/delta", &[]).await;
    emulator.with_tenant(CONTOSO, |t| {
        t.update_user(ANN_ID, |u| {
            u.set_property("employeeId", json!("E-30"));
            u.extensions.insert(EXTENSION.into(), json!("CC-30"));
        })
    });
    let (items, link) = delta_round(&emulator, &token, &link, &[]).await;
    assert!(items.is_empty(), "{items:?}");
    emulator.with_tenant(CONTOSO, |t| {
        t.update_user(ANN_ID, |u| u.set_property("officeLocation", json!("B-12")))
    });
    let minimal = [("Prefer", "return=minimal")];
    let (items, _) = delta_round(&emulator, &token, &link, &minimal).await;
    assert_eq!(items, vec![json!({"id": ANN_ID, "officeLocation": "B-12"})]);
}
