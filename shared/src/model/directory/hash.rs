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

impl EntraHash {
    pub fn of<A>(fields: &[Field<A>], attributes: &A) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for field in fields {
            let rendered = match (field.read)(attributes) {
                FieldValue::Text(None) => String::from("\u{0}"),
                FieldValue::Text(Some(s)) => format!("s:{s}"),
                FieldValue::Flag(b) => format!("v:{b}"),
            };
            for byte in field
                .am
                .bytes()
                .chain([b'='])
                .chain(rendered.bytes())
                .chain([b';'])
            {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Self(format!("{hash:016x}"))
    }

    pub fn of_user(attributes: &UserAttributes) -> Self {
        Self::of(USER_FIELDS, attributes)
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
