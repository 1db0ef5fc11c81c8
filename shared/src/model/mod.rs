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
