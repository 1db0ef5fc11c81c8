//! The hash that tells entra-sync's writes from the platform's.

use serde::{Deserialize, Deserializer, Serialize};

use super::attributes::{GroupAttributes, UserAttributes};
use super::fields::{Field, FieldValue, GROUP_FIELDS, USER_FIELDS};
use super::lenient::text_or_none;

/// A hash of the synchronised values, stored as `sync_entra_hash`:
/// FNV-1a 64 over a canonical rendering, stable across processes and
/// releases (no std `Hasher`, whose output may change).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntraHash(String);

/// FNV-1a 64's offset basis.
const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// Feeds `name=rendered;` to the hash.
fn feed(hash: u64, name: &str, rendered: &str) -> u64 {
    feed_parts(hash, &[name], &[rendered])
}

/// `feed` of names and renderings given in parts (no string built per
/// attribute: a first import hashes every user).
fn feed_parts(mut hash: u64, name: &[&str], rendered: &[&str]) -> u64 {
    for part in name
        .iter()
        .flat_map(|p| p.bytes())
        .chain([b'='])
        .chain(rendered.iter().flat_map(|p| p.bytes()).chain([b';']))
    {
        hash ^= u64::from(part);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn fields_hash<A>(fields: &[Field<A>], attributes: &A) -> u64 {
    fields
        .iter()
        .fold(FNV_BASIS, |hash, field| match (field.read)(attributes) {
            FieldValue::Text(None) => feed(hash, field.am, "\u{0}"),
            FieldValue::Text(Some(s)) => feed_parts(hash, &[field.am], &["s:", &s]),
            FieldValue::Flag(b) => {
                feed_parts(hash, &[field.am], &["v:", if b { "true" } else { "false" }])
            }
        })
}

impl EntraHash {
    pub fn of<A>(fields: &[Field<A>], attributes: &A) -> Self {
        Self::from_u64(fields_hash(fields, attributes))
    }

    fn from_u64(hash: u64) -> Self {
        Self(format!("{hash:016x}"))
    }

    /// The field table's values, then the `attributes` map's (the export
    /// mappings read it, DESIGN 2.13: a platform edit of it alone must
    /// show, and the import's own write of it must not be exported back),
    /// then `manager_id`. An empty map and no manager add nothing, so
    /// hashes from before them stay valid.
    pub fn of_user(attributes: &UserAttributes) -> Self {
        let manager = attributes.manager_id.as_deref().map(|id| ["s:", id]);
        Self::from_u64(user_hash(attributes, manager.as_ref().map(|m| &m[..])))
    }

    /// `of_user` with the manager left out of the agreement: the export
    /// wrote the rest but not the manager (it waits for the manager to be
    /// in Entra ID), so the item agrees with no value of `manager_id` and
    /// its next export sends the manager again.
    pub fn of_user_manager_unwritten(attributes: &UserAttributes) -> Self {
        Self::from_u64(user_hash(attributes, Some(&["?unwritten"])))
    }

    pub fn of_group(attributes: &GroupAttributes) -> Self {
        Self::of(GROUP_FIELDS, attributes)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's fields, its `attributes` map, and its manager as rendered
/// (`None`: no manager, which adds nothing).
fn user_hash(attributes: &UserAttributes, manager: Option<&[&str]>) -> u64 {
    let fields = fields_hash(USER_FIELDS, attributes);
    let mapped = attributes
        .attributes
        .iter()
        .fold(fields, |hash, (name, value)| {
            feed_parts(hash, &["attributes.", name], &["s:", value])
        });
    match manager {
        Some(rendered) => feed_parts(mapped, &["manager_id"], rendered),
        None => mapped,
    }
}

/// `sync_entra_hash`: text, or none.
pub(super) fn hash_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EntraHash>, D::Error> {
    Ok(text_or_none(d)?.map(EntraHash))
}
