//! A delivery's body: a Graph notification collection (change or lifecycle
//! notifications). It is read item by item and nothing of an item is kept
//! but what is checked: a body becomes its distinct notifications, each
//! with a count, so what a delivery costs grows with its distinct
//! subscriptions, not with its size (docs/behaviour.md 2.11). Errors name what is
//! wrong, never what the body held.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::LifecycleEvent;

/// A body over this is refused (413) before it is read.
pub const MAX_DELIVERY_BYTES: usize = 1024 * 1024;

/// The Entra tenant a notification names (`tenantId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TenantClaim {
    Absent,
    Named(Uuid),
    /// Not a GUID: no Entra tenant has it.
    Malformed,
}

/// One change or lifecycle notification, as far as entra-sync checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Notification {
    pub subscription_id: Uuid,
    /// The SHA-256 of its `clientState` (the value itself is not kept);
    /// `None` when it has none, which no subscription matches.
    pub client_state_sha256: Option<[u8; 32]>,
    pub tenant: TenantClaim,
    /// `None` for a change notification, or an event this version does
    /// not know (it still wakes the tenant: a delta run is always safe).
    pub lifecycle_event: Option<LifecycleEvent>,
}

impl Notification {
    /// The subscription id as Graph spells it (and as it is stored).
    pub fn subscription_key(&self) -> String {
        self.subscription_id.hyphenated().to_string()
    }
}

/// What a delivery holds, once read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Each distinct notification, with how many times the body holds it.
    pub notifications: BTreeMap<Notification, usize>,
    /// Items without a well-formed subscription id (not a GUID, or not an
    /// object at all): counted, never looked up.
    pub malformed: usize,
}

impl Delivery {
    /// How many items the body's `value` held.
    pub fn items(&self) -> usize {
        self.notifications.values().sum::<usize>() + self.malformed
    }

    /// The subscriptions worth reading: those a notification names with
    /// a `clientState` (one without can match none).
    pub fn subscriptions_to_check(&self) -> BTreeSet<Uuid> {
        self.notifications
            .keys()
            .filter(|n| n.client_state_sha256.is_some())
            .map(|n| n.subscription_id)
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("the body is empty")]
    Empty,
    #[error("the body is not a notification collection: {0}")]
    NotACollection(String),
}

/// Reads a delivery body. A malformed item is counted and skipped (the
/// others still count, since Graph would retry the whole delivery for
/// hours and then drop it all); a body that is not a collection is an
/// error.
pub fn parse_delivery(body: &[u8]) -> Result<Delivery, DeliveryError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DeliveryError::Empty);
    }
    serde_json::from_slice::<Collection>(body)
        .map(|c| c.value.0)
        // serde_json's message can quote the body ("invalid type: string
        // \"...\""): keep only its category and position.
        .map_err(|e| {
            DeliveryError::NotACollection(format!(
                "{} error at line {} column {}",
                match e.classify() {
                    serde_json::error::Category::Io => "read",
                    serde_json::error::Category::Syntax => "JSON syntax",
                    serde_json::error::Category::Data => "shape",
                    serde_json::error::Category::Eof => "unexpected end",
                },
                e.line(),
                e.column()
            ))
        })
}

/// A GUID in its usual 8-4-4-4-12 form, whatever the case; nothing else
/// (no braces, no URN, no bare hex digits).
fn parse_guid(raw: &str) -> Option<Uuid> {
    let well_formed = raw.len() == 36
        && raw.bytes().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    well_formed.then(|| Uuid::try_parse(raw).ok()).flatten()
}

#[derive(Deserialize)]
struct Collection {
    value: Items,
}

/// `value`, folded into a `Delivery` as it is read.
struct Items(Delivery);

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ItemsVisitor)
    }
}

struct ItemsVisitor;

impl<'de> Visitor<'de> for ItemsVisitor {
    type Value = Items;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of notifications")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Items, S::Error> {
        let mut delivery = Delivery::default();
        while let Some(Item(item)) = seq.next_element()? {
            match item {
                Some(notification) => *delivery.notifications.entry(notification).or_default() += 1,
                None => delivery.malformed += 1,
            }
        }
        Ok(Items(delivery))
    }
}

/// One item of `value`: its notification, or `None` when it has no
/// well-formed subscription id (any JSON value is read without error).
struct Item(Option<Notification>);

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum Field {
    SubscriptionId,
    ClientState,
    TenantId,
    LifecycleEvent,
    #[serde(other)]
    Other,
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a notification")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Item, M::Error> {
        let mut subscription_id = None;
        let mut client_state_sha256 = None;
        let mut tenant = TenantClaim::Absent;
        let mut lifecycle_event = None;
        while let Some(field) = map.next_key::<Field>()? {
            if let Field::Other = field {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = map.next_value::<Scalar>()?;
            match (field, value) {
                (Field::SubscriptionId, Scalar::Text(id)) => subscription_id = parse_guid(&id),
                (Field::SubscriptionId, _) => subscription_id = None,
                (Field::ClientState, Scalar::Text(state)) => {
                    client_state_sha256 = Some(Sha256::digest(state.as_bytes()).into())
                }
                (Field::ClientState, _) => client_state_sha256 = None,
                (Field::TenantId, Scalar::Text(id)) => {
                    tenant = parse_guid(&id).map_or(TenantClaim::Malformed, TenantClaim::Named)
                }
                (Field::TenantId, Scalar::Null) => tenant = TenantClaim::Absent,
                (Field::TenantId, Scalar::Other) => tenant = TenantClaim::Malformed,
                (Field::LifecycleEvent, Scalar::Text(event)) => {
                    lifecycle_event = LifecycleEvent::parse(&event)
                }
                (Field::LifecycleEvent, _) => lifecycle_event = None,
                (Field::Other, _) => {}
            }
        }
        Ok(Item(subscription_id.map(|subscription_id| Notification {
            subscription_id,
            client_state_sha256,
            tenant,
            lifecycle_event,
        })))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Item, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Item(None))
    }

    fn visit_str<E>(self, _: &str) -> Result<Item, E> {
        Ok(Item(None))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Item, E> {
        Ok(Item(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Item, E> {
        Ok(Item(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Item, E> {
        Ok(Item(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Item, E> {
        Ok(Item(None))
    }

    fn visit_unit<E>(self) -> Result<Item, E> {
        Ok(Item(None))
    }
}

/// A field's value as far as it is read: text (borrowed from the body
/// when it has no escapes), null, or anything else (skipped).
enum Scalar<'de> {
    Text(std::borrow::Cow<'de, str>),
    Null,
    Other,
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Text(text.into()))
    }

    fn visit_str<E>(self, text: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Text(text.to_owned().into()))
    }

    fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Scalar<'de>, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Scalar<'de>, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}
