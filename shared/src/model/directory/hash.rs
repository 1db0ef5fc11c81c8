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
    /// show, and the import's own write of it must not be exported back).
    /// An empty map adds nothing, so hashes from before it stay valid;
    /// so does an absent `manager_id` (the same two reasons).
    pub fn of_user(attributes: &UserAttributes) -> Self {
        let fields = fields_hash(USER_FIELDS, attributes);
        let mapped = attributes
            .attributes
            .iter()
            .fold(fields, |hash, (name, value)| {
                feed_parts(hash, &["attributes.", name], &["s:", value])
            });
        Self::from_u64(match &attributes.manager_id {
            Some(manager) => feed_parts(mapped, &["manager_id"], &["s:", manager]),
            None => mapped,
        })
    }

    pub fn of_group(attributes: &GroupAttributes) -> Self {
        Self::of(GROUP_FIELDS, attributes)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `sync_entra_hash`: text, or none.
pub(super) fn hash_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EntraHash>, D::Error> {
    Ok(text_or_none(d)?.map(EntraHash))
}
