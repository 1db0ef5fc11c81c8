//! The domain model: identifiers and the tenant's integration settings.

pub mod ids;
pub mod tenant_config;

pub use ids::{EntraTenantId, Guid, IdError, TenantId};
pub use tenant_config::{Authorisation, ConfigItemError, TenantConfig};
