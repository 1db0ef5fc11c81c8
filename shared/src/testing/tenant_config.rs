//! A tenant's config item as a test wants it, built field by field and
//! parsed by `TenantConfig::from_attributes`, as the store's item is.

use serde_json::{Map, Value, json};

use crate::model::Authorisation;
use crate::model::TenantConfig;

/// The config item's attributes, to be parsed by [`Self::build`].
pub(crate) struct TenantConfigBuilder {
    item: Map<String, Value>,
}

/// Tenant `acme`, authorised, syncing, importing users and groups from its
/// Entra tenant. Users who go are deleted, as before DESIGN 2.13 (the
/// tests of deletion's machinery); [`TenantConfigBuilder::deprovisioning`]
/// sets the choices.
pub(crate) fn importing() -> TenantConfigBuilder {
    TenantConfigBuilder::from(json!({
        "tenant_id": "acme", "sync_enabled": true, "import_users": true, "import_groups": true,
        "authorisation": "authorised", "entra_tenant_id": "3f2a6d1c-5b7e-4a90-8c1d-2e4f6a8b0c13",
        "import_user_soft_delete_action": "delete", "import_user_out_of_scope_action": "delete"
    }))
}

/// Tenant `acme`, authorised, exporting users and groups (sync not
/// switched on: export does not ask for it).
pub(crate) fn exporting() -> TenantConfigBuilder {
    TenantConfigBuilder::from(json!({
        "tenant_id": "acme", "export_users": true, "export_groups": true,
        "authorisation": "authorised"
    }))
}

impl TenantConfigBuilder {
    fn from(item: Value) -> Self {
        let Value::Object(item) = item else {
            unreachable!("a config item is a map")
        };
        Self { item }
    }

    fn set(mut self, attribute: &str, value: Value) -> Self {
        self.item.insert(attribute.into(), value);
        self
    }

    pub(crate) fn tenant_id(self, tenant_id: &str) -> Self {
        self.set("tenant_id", json!(tenant_id))
    }
    pub(crate) fn sync_enabled(self, on: bool) -> Self {
        self.set("sync_enabled", json!(on))
    }
    pub(crate) fn authorisation(self, authorisation: Authorisation) -> Self {
        self.set("authorisation", json!(authorisation.as_str()))
    }
    pub(crate) fn export_users(self, on: bool) -> Self {
        self.set("export_users", json!(on))
    }
    pub(crate) fn export_adopt_existing(self, on: bool) -> Self {
        self.set("export_adopt_existing", json!(on))
    }
    /// `export_user_delete_action`: `delete`, `disable` or `keep`.
    pub(crate) fn export_user_delete_action(self, action: &str) -> Self {
        self.set("export_user_delete_action", json!(action))
    }
    /// `export_group_delete_action`: `delete` or `keep`.
    pub(crate) fn export_group_delete_action(self, action: &str) -> Self {
        self.set("export_group_delete_action", json!(action))
    }
    pub(crate) fn export_group_id(self, group_id: &str) -> Self {
        self.set("export_group_id", json!(group_id))
    }
    /// Domain names as the admin typed them (the parse lowercases them).
    pub(crate) fn domains(self, domains: &[&str]) -> Self {
        self.set("domains", json!(domains))
    }
    pub(crate) fn import_group_ids(self, group_ids: &[&str]) -> Self {
        self.set("import_group_ids", json!(group_ids))
    }
    /// An RFC 3339 timestamp, as the platform writes the request.
    pub(crate) fn resync_requested_at(self, at: &str) -> Self {
        self.set("resync_requested_at", json!(at))
    }
    pub(crate) fn approve_held_deletions(self, approved: bool) -> Self {
        self.set("approve_held_deletions", json!(approved))
    }

    /// `user_mappings` and `user_scope_filters` as written (DESIGN 2.13).
    pub(crate) fn user_mappings(self, mappings: Value) -> Self {
        self.set("user_mappings", mappings)
    }
    pub(crate) fn user_scope_filters(self, filters: Value) -> Self {
        self.set("user_scope_filters", filters)
    }

    /// The deprovisioning choices (DESIGN 2.13) as given, the others at
    /// their defaults: `(attribute, value)` pairs.
    pub(crate) fn deprovisioning(mut self, choices: &[(&str, Value)]) -> Self {
        for name in [
            "import_user_soft_delete_action",
            "import_user_out_of_scope_action",
        ] {
            self.item.remove(name);
        }
        for (name, value) in choices {
            self = self.set(name, value.clone());
        }
        self
    }

    pub(crate) fn build(self) -> TenantConfig {
        TenantConfig::from_attributes(&self.item).expect("a valid tenant config")
    }
}
