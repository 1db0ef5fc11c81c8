//! What users and groups share, as the engines compare them with Entra ID.

use super::attributes::{GroupAttributes, UserAttributes};
use super::fields::{Field, FieldValue, GROUP_FIELDS, USER_FIELDS};
use super::hash::EntraHash;
use super::items::{EntraSync, GroupItem, LinkOrigin, Source, UserItem};

/// What users and groups share: an id, a source, a link to Entra ID and
/// the hash of the values last synchronised.
pub trait SyncedObject {
    type Attributes: 'static;
    const FIELDS: &'static [Field<Self::Attributes>];
    fn id(&self) -> &str;
    fn source(&self) -> Source;
    fn attributes(&self) -> &Self::Attributes;
    fn sync(&self) -> &EntraSync;

    fn linked_entra_id(&self) -> Option<&str> {
        self.sync().entra_id.as_deref()
    }

    fn stored_hash(&self) -> Option<&EntraHash> {
        self.sync().entra_hash.as_ref()
    }

    /// The import marked the item just before deleting it.
    fn import_deleted(&self) -> bool {
        self.sync().import_deleted_at.is_some()
    }

    /// How the export linked the item, when it did.
    fn export_origin(&self) -> Option<LinkOrigin> {
        self.sync().entra_origin
    }

    /// The Entra object this item is: its `entra_id` once linked, or its
    /// own id when it was imported (imported objects use the Entra id as
    /// their id and carry no `entra_id`).
    fn entra_object_id(&self) -> Option<&str> {
        match self.linked_entra_id() {
            Some(linked) => Some(linked),
            None if self.source() == Source::Entra => Some(self.id()),
            None => None,
        }
    }

    /// Hashes earlier releases computed for these same values.
    fn legacy_hashes(&self) -> Vec<EntraHash> {
        Vec::new()
    }

    /// The synchronised attributes whose values differ between two
    /// versions, by AM name.
    fn changed_attributes(old: &Self, new: &Self) -> Vec<&'static str> {
        super::fields::changed_fields(Self::FIELDS, old.attributes(), new.attributes())
            .into_iter()
            .map(|f| f.am)
            .collect()
    }

    /// The hash of the item's synchronised values as they are now.
    fn current_hash(&self) -> EntraHash {
        EntraHash::of(Self::FIELDS, self.attributes())
    }

    /// The item still holds the values entra-sync last synchronised.
    fn agrees_with_entra(&self) -> bool {
        let Some(stored) = self.stored_hash() else {
            return false;
        };
        stored == &self.current_hash() || self.legacy_hashes().contains(stored)
    }

    /// The platform changed the item since it last agreed with Entra ID and
    /// the export has not pushed it yet: the import leaves it alone.
    fn pending_export(&self) -> bool {
        self.stored_hash().is_some() && !self.agrees_with_entra()
    }
}

impl SyncedObject for UserItem {
    type Attributes = UserAttributes;
    const FIELDS: &'static [Field<UserAttributes>] = USER_FIELDS;
    fn id(&self) -> &str {
        &self.user_id
    }
    fn source(&self) -> Source {
        self.source
    }
    fn attributes(&self) -> &UserAttributes {
        &self.attributes
    }
    fn sync(&self) -> &EntraSync {
        &self.sync
    }

    fn current_hash(&self) -> EntraHash {
        EntraHash::of_user(&self.attributes)
    }

    /// The field table's attributes, and `attributes` when the map changed
    /// (export mappings read it, DESIGN 2.13), and `manager_id` when the
    /// manager changed.
    fn changed_attributes(old: &Self, new: &Self) -> Vec<&'static str> {
        let mut changed: Vec<&'static str> =
            super::fields::changed_fields(USER_FIELDS, &old.attributes, &new.attributes)
                .into_iter()
                .map(|f| f.am)
                .collect();
        if old.attributes.attributes != new.attributes.attributes {
            changed.push("attributes");
        }
        if old.attributes.manager_id != new.attributes.manager_id {
            changed.push("manager_id");
        }
        changed
    }

    /// Releases before the typed model hashed the item's JSON, where an
    /// absent `enabled` (which means enabled) rendered as no value.
    /// (The hash without the `attributes` map is no legacy hash: it is
    /// also what an item had before the platform gave it a map.)
    fn legacy_hashes(&self) -> Vec<EntraHash> {
        let later_attributes =
            !self.attributes.attributes.is_empty() || self.attributes.manager_id.is_some();
        if !self.attributes.enabled || later_attributes {
            return Vec::new();
        }
        let without_enabled: Vec<Field<UserAttributes>> = USER_FIELDS
            .iter()
            .map(|f| Field {
                read: if f.am == "enabled" {
                    |_| FieldValue::Text(None)
                } else {
                    f.read
                },
                ..*f
            })
            .collect();
        vec![EntraHash::of(&without_enabled, &self.attributes)]
    }
}

impl SyncedObject for GroupItem {
    type Attributes = GroupAttributes;
    const FIELDS: &'static [Field<GroupAttributes>] = GROUP_FIELDS;
    fn id(&self) -> &str {
        &self.group_id
    }
    fn source(&self) -> Source {
        self.source
    }
    fn attributes(&self) -> &GroupAttributes {
        &self.attributes
    }
    fn sync(&self) -> &EntraSync {
        &self.sync
    }
}
