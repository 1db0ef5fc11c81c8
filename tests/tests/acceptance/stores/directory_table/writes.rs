//! What the import and export write: updates that keep the attributes they
//! do not own, deletions the stream can tell apart, no recreated items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamValue, OperationType};
use chrono::DateTime;
use entra_sync::export::ExportDirectory;
use entra_sync::import::DirectoryStore;
use entra_sync::import::records::{DeprovisionMark, DirectoryWrite, RemovalCause};
use entra_sync::model::directory::{EntraHash, GroupAttributes, ItemKey, PasswordMode};
use entra_sync_tests::sync::StreamCursor;
use serde_json::json;

use crate::stores::{
    Fresh, TENANT, attributes, entra_guid, imported_group, imported_user, member_sk, membership,
    platform_user, text,
};

#[tokio::test]
async fn given_a_created_user_when_updated_with_values_removed_then_only_the_import_attributes_change()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let id = entra_guid(1);
    let created = imported_user(&id);
    store
        .apply(
            &fresh.tenant,
            vec![DirectoryWrite::CreateUser(created.clone())],
        )
        .await
        .unwrap();
    let sk = format!("USER#{id}");
    let item = fresh.directory_item(&sk).await.unwrap();
    assert_eq!(
        text(&item, "sync_entra_hash"),
        Some(created.sync.entra_hash.as_ref().unwrap().as_str())
    );
    assert_eq!(item.get("enabled"), Some(&AttributeValue::Bool(true)));
    assert_eq!(text(&item, "source"), Some("entra"));
    // The platform adds attributes of its own.
    fresh
        .aws
        .dynamodb
        .update_item()
        .table_name(&fresh.tables.directory)
        .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
        .key("sk", AttributeValue::S(sk.clone()))
        .update_expression("SET #role = :role, sync_other = :other")
        .expression_attribute_names("#role", "role")
        .expression_attribute_values(":role", AttributeValue::S("admin".into()))
        .expression_attribute_values(":other", AttributeValue::N("7".into()))
        .send()
        .await
        .unwrap();

    let mut changed = created.attributes.clone();
    changed.department = None;
    changed.mobile_phone = None;
    changed.job_title = Some("Director".into());
    changed.enabled = false;
    let hash = EntraHash::of_user(&changed);
    let written = store
        .apply(
            &fresh.tenant,
            vec![DirectoryWrite::UpdateUser {
                user_id: id.clone(),
                entra_link: None,
                attributes: changed.clone(),
                password_mode: None,
                hash: hash.clone(),
                deprovision: DeprovisionMark::Set {
                    at: chrono::Utc::now(),
                    cause: RemovalCause::SoftDeleted,
                },
                manager: Default::default(),
            }],
        )
        .await
        .unwrap();

    assert_eq!(written, 1);
    let marked = fresh.directory_item(&sk).await.unwrap();
    assert_eq!(
        text(&marked, "sync_deprovisioned_reason"),
        Some("soft_deleted")
    );
    assert!(text(&marked, "sync_deprovisioned_at").is_some());
    let item = fresh.directory_item(&sk).await.unwrap();
    assert!(!item.contains_key("department"), "{item:?}");
    assert!(!item.contains_key("mobile_phone"), "{item:?}");
    assert!(
        !item.contains_key("entra_id"),
        "an imported user gets no link"
    );
    assert_eq!(text(&item, "job_title"), Some("Director"));
    assert_eq!(item.get("enabled"), Some(&AttributeValue::Bool(false)));
    assert_eq!(text(&item, "sync_entra_hash"), Some(hash.as_str()));
    assert_eq!(text(&item, "role"), Some("admin"));
    assert_eq!(item.get("sync_other"), Some(&AttributeValue::N("7".into())));
    assert_eq!(text(&item, "source"), Some("entra"));
    assert_eq!(
        text(&item, "password_mode"),
        Some("entra"),
        "None leaves it"
    );
    let read = store
        .users_by_entra_id(&fresh.tenant, std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(read[&id].attributes, changed);
    assert_eq!(read[&id].sync.entra_hash.as_ref(), Some(&hash));
}

#[tokio::test]
async fn given_a_linked_platform_user_and_group_when_updated_then_the_link_and_values_are_set_and_the_rest_stays()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let mut platform = platform_user("p-1", &entra_guid(1));
    platform["password_mode"] = json!("temporary");
    platform["department"] = json!("Sales");
    fresh.put_directory("USER#p-1", platform).await;
    fresh
        .put_directory(
            "GROUP#pg-1",
            json!({"group_id": "pg-1", "name": "Old", "description": "keep?", "source": "local", "owner": "p-1"}),
        )
        .await;
    let attributes = attributes("p-1@contoso.com");
    let group_attributes = GroupAttributes {
        name: "New".into(),
        description: None,
    };
    store
        .apply(
            &fresh.tenant,
            vec![
                DirectoryWrite::UpdateUser {
                    user_id: "p-1".into(),
                    entra_link: Some(entra_guid(1)),
                    attributes: attributes.clone(),
                    password_mode: Some(PasswordMode::Entra),
                    hash: EntraHash::of_user(&attributes),
                    deprovision: DeprovisionMark::Unchanged,
                    manager: Default::default(),
                },
                DirectoryWrite::UpdateGroup {
                    group_id: "pg-1".into(),
                    entra_link: Some(entra_guid(2)),
                    attributes: group_attributes.clone(),
                    hash: EntraHash::of_group(&group_attributes),
                },
            ],
        )
        .await
        .unwrap();

    let user = fresh.directory_item("USER#p-1").await.unwrap();
    assert_eq!(text(&user, "entra_id"), Some(entra_guid(1).as_str()));
    assert_eq!(text(&user, "department"), Some("R&D"));
    assert_eq!(text(&user, "password_mode"), Some("entra"));
    assert_eq!(text(&user, "source"), Some("local"));
    assert_eq!(text(&user, "role"), Some("admin"));
    assert_eq!(
        text(&user, "sync_entra_hash"),
        Some(EntraHash::of_user(&attributes).as_str())
    );
    let group = fresh.directory_item("GROUP#pg-1").await.unwrap();
    assert_eq!(text(&group, "name"), Some("New"));
    assert!(!group.contains_key("description"), "{group:?}");
    assert_eq!(text(&group, "entra_id"), Some(entra_guid(2).as_str()));
    assert_eq!(text(&group, "owner"), Some("p-1"));
    assert_eq!(
        text(&group, "sync_entra_hash"),
        Some(EntraHash::of_group(&group_attributes).as_str())
    );
}

/// The stream's records of one item, in order: (event, new image, old image).
type Change = (
    OperationType,
    Option<HashMap<String, StreamValue>>,
    Option<HashMap<String, StreamValue>>,
);

fn changes_of(records: &[aws_sdk_dynamodbstreams::types::Record], sk: &str) -> Vec<Change> {
    records
        .iter()
        .filter_map(|r| {
            let change = r.dynamodb.as_ref()?;
            let key = change.keys.as_ref()?.get("sk")?.as_s().ok()?;
            if key != sk {
                return None;
            }
            Some((
                r.event_name.clone()?,
                change.new_image.clone(),
                change.old_image.clone(),
            ))
        })
        .collect()
}

#[tokio::test]
async fn given_a_user_group_and_membership_when_deleted_then_each_is_marked_by_the_import_before_its_removal()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let user = entra_guid(1);
    let group = entra_guid(2);
    let member = membership(&group, &user);
    store
        .apply(
            &fresh.tenant,
            vec![
                DirectoryWrite::CreateUser(imported_user(&user)),
                DirectoryWrite::CreateGroup(imported_group(&group)),
                DirectoryWrite::AddMembership(member.clone()),
            ],
        )
        .await
        .unwrap();
    let mut cursor = StreamCursor::on_table(&fresh.aws, &fresh.tables.directory)
        .await
        .unwrap();

    store
        .apply(
            &fresh.tenant,
            vec![
                DirectoryWrite::DeleteUser {
                    user_id: user.clone(),
                },
                DirectoryWrite::DeleteGroup {
                    group_id: group.clone(),
                },
                DirectoryWrite::RemoveMembership(member.clone()),
            ],
        )
        .await
        .unwrap();

    let records = cursor.read().await.unwrap();
    for sk in [
        format!("USER#{user}"),
        format!("GROUP#{group}"),
        member_sk(&member),
    ] {
        assert!(fresh.directory_item(&sk).await.is_none(), "{sk} remains");
        let changes = changes_of(&records, &sk);
        let events: Vec<&OperationType> = changes.iter().map(|c| &c.0).collect();
        assert_eq!(
            events,
            [&OperationType::Modify, &OperationType::Remove],
            "{sk}: {changes:?}"
        );
        let marked = changes[0].1.as_ref().unwrap();
        let stamp = marked["sync_import_deleted_at"].as_s().unwrap();
        assert!(DateTime::parse_from_rfc3339(stamp).is_ok(), "{stamp}");
        let removed = changes[1].2.as_ref().unwrap();
        assert_eq!(
            removed["sync_import_deleted_at"].as_s().unwrap(),
            stamp,
            "the REMOVE record's old image says the import deleted {sk}"
        );
    }
}

#[tokio::test]
async fn given_vanished_items_when_written_then_none_is_recreated() {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let attributes = attributes("gone@contoso.com");
    let group_attributes = GroupAttributes {
        name: "Gone".into(),
        description: None,
    };
    let written = store
        .apply(
            &fresh.tenant,
            vec![
                DirectoryWrite::UpdateUser {
                    user_id: "u-gone".into(),
                    entra_link: Some(entra_guid(1)),
                    attributes: attributes.clone(),
                    password_mode: Some(PasswordMode::Entra),
                    hash: EntraHash::of_user(&attributes),
                    deprovision: DeprovisionMark::Unchanged,
                    manager: Default::default(),
                },
                DirectoryWrite::UpdateGroup {
                    group_id: "g-gone".into(),
                    entra_link: None,
                    attributes: group_attributes.clone(),
                    hash: EntraHash::of_group(&group_attributes),
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(written, 0, "an update of a vanished item writes nothing");
    store
        .apply(
            &fresh.tenant,
            vec![
                DirectoryWrite::DeleteUser {
                    user_id: "u-deleted".into(),
                },
                DirectoryWrite::RemoveMembership(membership("g-gone", "u-gone")),
            ],
        )
        .await
        .unwrap();
    store
        .record_entra_state(
            &ItemKey::user(&fresh.tenant, "u-exported"),
            &entra_guid(2),
            &EntraHash::of_user(&attributes),
            None,
        )
        .await
        .unwrap();

    let items = fresh
        .aws
        .dynamodb
        .scan()
        .table_name(&fresh.tables.directory)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert!(items.is_empty(), "recreated: {items:?}");
}
