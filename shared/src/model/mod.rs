//! The domain model: identifiers, the tenant's integration settings, and
//! the AM directory's items.

pub mod cloud;
pub mod directory;
pub mod entra;
pub mod identity;
pub mod ids;
pub mod tenant_config;

pub use cloud::{ByCloud, Cloud};
pub use ids::{EntraObjectId, EntraTenantId, Guid, IdError, TenantId};
pub use tenant_config::{AuthMode, Authorisation, ConfigItemError, TenantConfig};

/// Whether two digests (or other secrets of a fixed length) are equal, in
/// constant time: how much of a guess matched must not show in how long
/// the answer took.
pub fn same_digest(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}
