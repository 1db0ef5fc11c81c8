//! The directory items' layout (docs/contract.md 1.3): an item as the table
//! holds it reads into the model and writes back attribute for attribute.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Item, parse, s};
use crate::model::directory::{EntraHash, GroupItem, LinkOrigin, UserItem};

fn item(attributes: &[(&str, AttributeValue)]) -> Item {
    attributes
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

/// What `put` would store for the item read from `stored`.
fn read_and_written<T: DeserializeOwned + Serialize>(stored: &Item) -> Item {
    let model: T = parse(stored.clone(), "a directory item").unwrap();
    let mut written: Item = serde_dynamo::to_item(&model).unwrap();
    for key in ["pk", "sk"] {
        written.insert(key.to_owned(), stored[key].clone());
    }
    written
}

#[test]
fn a_linked_user_item_reads_and_writes_back_as_stored() {
    let stored = item(&[
        ("pk", s("TENANT#acme")),
        ("sk", s("USER#u1")),
        ("user_id", s("u1")),
        ("user_name", s("ann@contoso.com")),
        ("display_name", s("Ann")),
        ("given_name", s("Ann")),
        ("surname", s("Lee")),
        ("email", s("ann@contoso.com")),
        ("mobile_phone", s("+1 555 0100")),
        ("job_title", s("CTO")),
        ("department", s("Office")),
        ("enabled", AttributeValue::Bool(false)),
        ("source", s("local")),
        ("entra_id", s("3f2a6d1c-5b7e-4a90-8c1d-2e4f6a8b0c13")),
        ("password_mode", s("entra")),
        ("sync_entra_hash", s("2856858713eef70b")),
        ("sync_import_deleted_at", s("2026-12-07T09:00:00Z")),
        ("sync_entra_origin", s("adopted")),
    ]);
    assert_eq!(read_and_written::<UserItem>(&stored), stored);
    let user: UserItem = parse(stored, "a user").unwrap();
    // entra-sync's attributes are the item's `sync`.
    let sync = &user.sync;
    assert_eq!(
        sync.entra_id.as_deref(),
        Some("3f2a6d1c-5b7e-4a90-8c1d-2e4f6a8b0c13")
    );
    assert_eq!(
        sync.entra_hash.as_ref().map(EntraHash::as_str),
        Some("2856858713eef70b")
    );
    assert_eq!(
        sync.import_deleted_at.as_deref(),
        Some("2026-12-07T09:00:00Z")
    );
    assert_eq!(sync.entra_origin, Some(LinkOrigin::Adopted));
}

#[test]
fn an_imported_user_item_gains_no_attribute_it_did_not_have() {
    let stored = item(&[
        ("pk", s("TENANT#acme")),
        ("sk", s("USER#e1")),
        ("user_id", s("e1")),
        ("user_name", s("bob@contoso.com")),
        ("enabled", AttributeValue::Bool(true)),
        ("source", s("entra")),
        ("password_mode", s("temporary")),
        ("sync_entra_hash", s("0123456789abcdef")),
    ]);
    assert_eq!(read_and_written::<UserItem>(&stored), stored);
}

#[test]
fn group_items_read_and_write_back_as_stored() {
    let linked = item(&[
        ("pk", s("TENANT#acme")),
        ("sk", s("GROUP#g1")),
        ("group_id", s("g1")),
        ("name", s("Sales")),
        ("description", s("The sales team")),
        ("source", s("local")),
        ("entra_id", s("9b1c7e2a-4d3f-4e5a-8b6c-1d2e3f4a5b6c")),
        ("sync_entra_hash", s("fedcba9876543210")),
        ("sync_import_deleted_at", s("2026-12-07T09:00:00Z")),
        ("sync_entra_origin", s("created")),
    ]);
    assert_eq!(read_and_written::<GroupItem>(&linked), linked);
    let imported = item(&[
        ("pk", s("TENANT#acme")),
        ("sk", s("GROUP#e2")),
        ("group_id", s("e2")),
        ("name", s("Engineering")),
        ("source", s("entra")),
        ("sync_entra_hash", s("0011223344556677")),
    ]);
    assert_eq!(read_and_written::<GroupItem>(&imported), imported);
}
