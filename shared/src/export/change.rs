//! Stream records parsed into directory changes, and what each one asks of
//! Entra ID (docs/behaviour.md 2.3), decided from the item's state alone.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::model::directory::{
    GroupItem, ItemKey, MembershipItem, MembershipKey, Source, SyncedObject, UserItem,
};
use crate::model::entra::EntraObjectKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeAction {
    Created,
    Modified,
    Removed,
}

/// The item before and after the change (`None` where the action has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images<T> {
    pub old: Option<T>,
    pub new: Option<T>,
}

/// The images of a change, typed by the kind of item its key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeImages {
    User(Box<Images<UserItem>>),
    Group(Box<Images<GroupItem>>),
    Membership(Images<MembershipItem>),
}

/// One stream record about a directory item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryChange {
    pub key: ItemKey,
    pub action: ChangeAction,
    pub images: ChangeImages,
    pub sequence_number: String,
    pub recorded_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("unknown eventName {0:?}")]
    UnknownEvent(String),
    #[error("the record has no key pk/sk")]
    NoKeys,
    #[error("a {0} record has no {1} image (the stream must be NEW_AND_OLD_IMAGES)")]
    MissingImage(&'static str, &'static str),
    #[error("the {image} image is not a directory item: {detail}")]
    Malformed { image: &'static str, detail: String },
    /// `#` separates the ids in keys: an id holding one would be read as
    /// another object's (`MEMBER#a#b#c`).
    #[error(
        "the key {pk} {sk} holds an AM id with '#', the keys' separator; the record is refused"
    )]
    SeparatorInId { pk: String, sk: String },
}

fn event_action(event_name: &str) -> Result<ChangeAction, ChangeError> {
    match event_name {
        "INSERT" => Ok(ChangeAction::Created),
        "MODIFY" => Ok(ChangeAction::Modified),
        "REMOVE" => Ok(ChangeAction::Removed),
        other => Err(ChangeError::UnknownEvent(other.to_owned())),
    }
}

/// The images the action needs must be there (NEW_AND_OLD_IMAGES).
fn check_images(
    action: ChangeAction,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), ChangeError> {
    match action {
        ChangeAction::Created if new.is_empty() => Err(ChangeError::MissingImage("INSERT", "new")),
        ChangeAction::Modified if new.is_empty() => Err(ChangeError::MissingImage("MODIFY", "new")),
        ChangeAction::Modified if old.is_empty() => Err(ChangeError::MissingImage("MODIFY", "old")),
        ChangeAction::Removed if old.is_empty() => Err(ChangeError::MissingImage("REMOVE", "old")),
        _ => Ok(()),
    }
}

/// An image as the item its key names; an empty image is none.
fn typed<T: DeserializeOwned>(
    image: Map<String, Value>,
    name: &'static str,
) -> Result<Option<T>, ChangeError> {
    if image.is_empty() {
        return Ok(None);
    }
    serde_json::from_value(Value::Object(image))
        .map(Some)
        .map_err(|e| ChangeError::Malformed {
            image: name,
            detail: e.to_string(),
        })
}

/// Both images as the item the key names, under the key's ids.
fn images<T: DeserializeOwned>(
    key: &ItemKey,
    mut old: Map<String, Value>,
    mut new: Map<String, Value>,
) -> Result<Images<T>, ChangeError> {
    for image in [&mut old, &mut new] {
        if !image.is_empty() {
            key.fill_ids(image);
        }
    }
    Ok(Images {
        old: typed(old, "old")?,
        new: typed(new, "new")?,
    })
}

impl DirectoryChange {
    /// `Ok(None)` for items that are not users, groups or memberships.
    pub fn parse(
        event_name: &str,
        keys: &Map<String, Value>,
        old: Map<String, Value>,
        new: Map<String, Value>,
        sequence_number: String,
        recorded_at: Option<DateTime<Utc>>,
    ) -> Result<Option<Self>, ChangeError> {
        let action = event_action(event_name)?;
        let (Some(pk), Some(sk)) = (
            keys.get("pk").and_then(Value::as_str),
            keys.get("sk").and_then(Value::as_str),
        ) else {
            return Err(ChangeError::NoKeys);
        };
        if ItemKey::separator_in_id(sk) {
            return Err(ChangeError::SeparatorInId {
                pk: pk.to_owned(),
                sk: sk.to_owned(),
            });
        }
        let Some(key) = ItemKey::parse(pk, sk) else {
            return Ok(None);
        };
        check_images(action, &old, &new)?;
        let images = match &key {
            ItemKey::User { .. } => ChangeImages::User(Box::new(images(&key, old, new)?)),
            ItemKey::Group { .. } => ChangeImages::Group(Box::new(images(&key, old, new)?)),
            ItemKey::Membership { .. } => ChangeImages::Membership(images(&key, old, new)?),
        };
        Ok(Some(Self {
            key,
            action,
            images,
            sequence_number,
            recorded_at,
        }))
    }
}

/// The platform set the values back to what Entra ID has (the stored hash
/// unchanged: not an import write): nothing to send, but a change parked
/// since is settled by it.
pub const SET_BACK: &str = "set back by the platform to the values Entra ID has";

/// What a change asks of Entra ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportPlan {
    /// Nothing to do (why): import's writes, our write-backs, no-op changes.
    Ignore(&'static str),
    CreateUser {
        user_id: String,
        item: UserItem,
    },
    UpdateUser {
        user_id: String,
        entra_id: String,
        /// The AM attributes the platform changed.
        changed: Vec<&'static str>,
        /// The record's old image, which the export mappings are evaluated
        /// on too (`None`: every mapped value is sent).
        before: Option<Box<UserItem>>,
        item: UserItem,
    },
    DeleteUser {
        entra_id: String,
    },
    CreateGroup {
        group_id: String,
        item: GroupItem,
    },
    UpdateGroup {
        group_id: String,
        entra_id: String,
        changed: Vec<&'static str>,
        /// The record's old image (the old values of its change event).
        before: Option<Box<GroupItem>>,
        item: GroupItem,
    },
    DeleteGroup {
        entra_id: String,
    },
    /// An AM object gone before its link was recorded: a create may have
    /// gone through with its answer lost, so the Entra object that carries
    /// its mark, if any, goes too.
    DeleteMarked(EntraObjectKind),
    AddMember {
        group_id: String,
        user_id: String,
    },
    RemoveMember {
        group_id: String,
        user_id: String,
    },
}

/// What a change of a user or group asks, whichever it is.
enum ObjectPlan<T> {
    Ignore(&'static str),
    Create(T),
    Update {
        entra_id: String,
        changed: Vec<&'static str>,
        item: T,
    },
    Delete {
        entra_id: String,
    },
    DeleteMarked,
}

fn plan_object<T: SyncedObject + Clone>(action: ChangeAction, images: &Images<T>) -> ObjectPlan<T> {
    match (action, &images.old, &images.new) {
        (ChangeAction::Created, _, Some(new)) => plan_created(new),
        (ChangeAction::Modified, Some(old), Some(new)) => plan_modified(old, new),
        (ChangeAction::Removed, Some(old), _) if old.import_deleted() => {
            ObjectPlan::Ignore("the import deleted it (it is gone from Entra ID)")
        }
        (ChangeAction::Removed, Some(old), _) => match (old.entra_object_id(), old.export_origin())
        {
            (Some(entra_id), Some(_)) => ObjectPlan::Delete {
                entra_id: entra_id.to_owned(),
            },
            // Export deletes only what it created or adopted (docs/behaviour.md
            // 2.11): an imported object, or a link another writer set.
            (Some(_), None) => {
                ObjectPlan::Ignore("Entra ID keeps it: the export neither created nor adopted it")
            }
            (None, _) if old.source() == Source::Entra => ObjectPlan::Ignore("never exported"),
            (None, _) => ObjectPlan::DeleteMarked,
        },
        _ => ObjectPlan::Ignore("the record lacks the image its action needs"),
    }
}

fn plan_created<T: SyncedObject + Clone>(new: &T) -> ObjectPlan<T> {
    if new.source() == Source::Entra {
        ObjectPlan::Ignore("an object the import created")
    } else if new.linked_entra_id().is_some() {
        ObjectPlan::Ignore("already linked to Entra ID")
    } else {
        ObjectPlan::Create(new.clone())
    }
}

fn plan_modified<T: SyncedObject + Clone>(old: &T, new: &T) -> ObjectPlan<T> {
    let changed = T::changed_attributes(old, new);
    if changed.is_empty() {
        return ObjectPlan::Ignore("no synchronised attribute changed");
    }
    if new.agrees_with_entra() && old.stored_hash() == new.stored_hash() {
        return ObjectPlan::Ignore(SET_BACK);
    }
    if new.agrees_with_entra() {
        return ObjectPlan::Ignore("the values are Entra ID's own (written by the import)");
    }
    match new.entra_object_id() {
        Some(entra_id) => ObjectPlan::Update {
            entra_id: entra_id.to_owned(),
            changed,
            item: new.clone(),
        },
        // Never exported (export was off, or its create failed).
        None if new.source() != Source::Entra => ObjectPlan::Create(new.clone()),
        None => ObjectPlan::Ignore("an imported object without an Entra id"),
    }
}

/// The ids come from the key the `#` check covered, never from the
/// item's own attributes (a writer could make those name other objects).
fn plan_membership(
    action: ChangeAction,
    key: &MembershipKey,
    images: &Images<MembershipItem>,
) -> ExportPlan {
    let member = |_: &MembershipItem| (key.group_id.clone(), key.user_id.clone());
    match (action, &images.old, &images.new) {
        (ChangeAction::Created, _, Some(new)) if new.source == Source::Entra => {
            ExportPlan::Ignore("a membership the import wrote")
        }
        (ChangeAction::Created, _, Some(new)) => {
            let (group_id, user_id) = member(new);
            ExportPlan::AddMember { group_id, user_id }
        }
        (ChangeAction::Modified, ..) => {
            ExportPlan::Ignore("a membership has no synchronised attributes")
        }
        (ChangeAction::Removed, Some(old), _) if old.import_deleted_at.is_some() => {
            ExportPlan::Ignore("the import removed it")
        }
        (ChangeAction::Removed, Some(old), _) => {
            let (group_id, user_id) = member(old);
            ExportPlan::RemoveMember { group_id, user_id }
        }
        _ => ExportPlan::Ignore("the record lacks the image its action needs"),
    }
}

impl DirectoryChange {
    /// The Entra object this change links its user or group to, when the
    /// link is new in it (set by any writer: the export, an earlier
    /// release, the platform). Imported objects are their Entra object.
    pub fn link_set(&self) -> Option<&str> {
        fn set<'a>(old: Option<&'a str>, new: Option<&'a str>, id: &str) -> Option<&'a str> {
            new.filter(|e| *e != id && old != Some(*e))
        }
        match (&self.images, &self.key) {
            (ChangeImages::User(i), ItemKey::User { user_id, .. }) => set(
                i.old.as_ref().and_then(|u| u.sync.entra_id.as_deref()),
                i.new.as_ref().and_then(|u| u.sync.entra_id.as_deref()),
                user_id,
            ),
            (ChangeImages::Group(i), ItemKey::Group { group_id, .. }) => set(
                i.old.as_ref().and_then(|g| g.sync.entra_id.as_deref()),
                i.new.as_ref().and_then(|g| g.sync.entra_id.as_deref()),
                group_id,
            ),
            _ => None,
        }
    }

    /// The user names (lower case) a user change holds before and after:
    /// a create may take a UPN another change frees.
    pub fn user_names(&self) -> Vec<String> {
        match &self.images {
            ChangeImages::User(i) => [&i.old, &i.new]
                .into_iter()
                .flatten()
                .map(|u| u.attributes.user_name.to_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The manager a user change's new image names.
    pub fn manager_id(&self) -> Option<&str> {
        match &self.images {
            ChangeImages::User(i) => i.new.as_ref()?.attributes.manager_id.as_deref(),
            _ => None,
        }
    }

    pub fn plan(&self) -> ExportPlan {
        match (&self.images, &self.key) {
            (ChangeImages::User(images), ItemKey::User { user_id, .. }) => {
                match plan_object(self.action, images) {
                    ObjectPlan::Ignore(why) => ExportPlan::Ignore(why),
                    ObjectPlan::Create(item) => ExportPlan::CreateUser {
                        user_id: user_id.clone(),
                        item,
                    },
                    ObjectPlan::Update {
                        entra_id,
                        changed,
                        item,
                    } => ExportPlan::UpdateUser {
                        user_id: user_id.clone(),
                        entra_id,
                        changed,
                        before: images.old.clone().map(Box::new),
                        item,
                    },
                    ObjectPlan::Delete { entra_id } => ExportPlan::DeleteUser { entra_id },
                    ObjectPlan::DeleteMarked => ExportPlan::DeleteMarked(EntraObjectKind::User),
                }
            }
            (ChangeImages::Group(images), ItemKey::Group { group_id, .. }) => {
                match plan_object(self.action, images) {
                    ObjectPlan::Ignore(why) => ExportPlan::Ignore(why),
                    ObjectPlan::Create(item) => ExportPlan::CreateGroup {
                        group_id: group_id.clone(),
                        item,
                    },
                    ObjectPlan::Update {
                        entra_id,
                        changed,
                        item,
                    } => ExportPlan::UpdateGroup {
                        group_id: group_id.clone(),
                        entra_id,
                        changed,
                        before: images.old.clone().map(Box::new),
                        item,
                    },
                    ObjectPlan::Delete { entra_id } => ExportPlan::DeleteGroup { entra_id },
                    ObjectPlan::DeleteMarked => ExportPlan::DeleteMarked(EntraObjectKind::Group),
                }
            }
            (ChangeImages::Membership(images), ItemKey::Membership { key, .. }) => {
                plan_membership(self.action, key, images)
            }
            _ => ExportPlan::Ignore("the images do not match the key"),
        }
    }
}

#[cfg(test)]
mod tests;
