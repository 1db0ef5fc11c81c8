//! What flows, as the tenant chose it (DESIGN 2.13): the deprovisioning
//! choices, parsed here, and the mappings and scoping filters, kept as
//! written and compiled by the run (a bad one fails the run with an error
//! naming it, `crate::mapping`).

use serde_json::{Map, Value};

use super::TenantConfig;

use super::{Attributes, ConfigItemError, bad};

/// What happens to a user when its counterpart goes (or leaves the scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    /// Disabled, memberships kept, marked `sync_deprovisioned_at`:
    /// reversible.
    Disable,
    Delete,
    /// Left as it is.
    Keep,
}

impl UserAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Delete => "delete",
            Self::Keep => "keep",
        }
    }
}

/// What happens to a group when its counterpart goes (groups cannot be
/// disabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupAction {
    Delete,
    Keep,
}

impl GroupAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Keep => "keep",
        }
    }
}

/// The deprovisioning choices of DESIGN 2.13, each with its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deprovisioning {
    /// A soft delete in Entra ID (`@removed` `changed`).
    pub import_user_soft_delete: UserAction,
    /// A permanent delete (`@removed` `deleted`).
    pub import_user_purge: UserAction,
    /// A user who leaves the scope.
    pub import_user_out_of_scope: UserAction,
    /// A group deleted in Entra ID or leaving the scope.
    pub import_group_delete: GroupAction,
    /// Deleting a platform user, in Entra ID.
    pub export_user_delete: UserAction,
    pub export_group_delete: GroupAction,
    /// A user Entra ID restores (or brings back into scope) is enabled
    /// again, unless Entra ID has it disabled.
    pub reactivate_on_restore: bool,
}

impl Default for Deprovisioning {
    fn default() -> Self {
        Self {
            import_user_soft_delete: UserAction::Disable,
            import_user_purge: UserAction::Delete,
            import_user_out_of_scope: UserAction::Disable,
            import_group_delete: GroupAction::Delete,
            export_user_delete: UserAction::Delete,
            export_group_delete: GroupAction::Delete,
            reactivate_on_restore: true,
        }
    }
}

impl Attributes<'_> {
    fn user_action(
        &self,
        name: &'static str,
        absent: UserAction,
    ) -> Result<UserAction, ConfigItemError> {
        match self.string(name)?.as_deref() {
            None => Ok(absent),
            Some("disable") => Ok(UserAction::Disable),
            Some("delete") => Ok(UserAction::Delete),
            Some("keep") => Ok(UserAction::Keep),
            Some(other) => Err(bad(
                name,
                format!(
                    "must be `disable`, `delete` or `keep`, found {:?}",
                    super::json_fields_shortened(other)
                ),
            )),
        }
    }

    fn group_action(
        &self,
        name: &'static str,
        absent: GroupAction,
    ) -> Result<GroupAction, ConfigItemError> {
        match self.string(name)?.as_deref() {
            None => Ok(absent),
            Some("delete") => Ok(GroupAction::Delete),
            Some("keep") => Ok(GroupAction::Keep),
            Some(other) => Err(bad(
                name,
                format!(
                    "must be `delete` or `keep`, found {:?}",
                    super::json_fields_shortened(other)
                ),
            )),
        }
    }

    pub(super) fn deprovisioning(&self) -> Result<Deprovisioning, ConfigItemError> {
        let d = Deprovisioning::default();
        Ok(Deprovisioning {
            import_user_soft_delete: self
                .user_action("import_user_soft_delete_action", d.import_user_soft_delete)?,
            import_user_purge: self.user_action("import_user_purge_action", d.import_user_purge)?,
            import_user_out_of_scope: self.user_action(
                "import_user_out_of_scope_action",
                d.import_user_out_of_scope,
            )?,
            import_group_delete: self
                .group_action("import_group_delete_action", d.import_group_delete)?,
            export_user_delete: self
                .user_action("export_user_delete_action", d.export_user_delete)?,
            export_group_delete: self
                .group_action("export_group_delete_action", d.export_group_delete)?,
            reactivate_on_restore: self
                .flag_or("reactivate_on_restore", d.reactivate_on_restore)?,
        })
    }

    /// A list attribute as written (`user_mappings`, `user_scope_filters`):
    /// the run compiles it. Anything but a list is refused here.
    pub(super) fn raw_list(&self, name: &'static str) -> Result<Option<Value>, ConfigItemError> {
        match self.get(name) {
            None => Ok(None),
            Some(list @ Value::Array(_)) => Ok(Some(list.clone())),
            Some(other) => Err(bad(
                name,
                format!("must be a list of maps, found {}", super::kind(other)),
            )),
        }
    }
}

/// The attributes a preview draft may hold: what flows (DESIGN 2.13).
pub const DRAFTABLE: &[&str] = &[
    "user_mappings",
    "user_scope_filters",
    "guest_users",
    "import_user_soft_delete_action",
    "import_user_purge_action",
    "import_user_out_of_scope_action",
    "import_group_delete_action",
    "export_user_delete_action",
    "export_group_delete_action",
    "reactivate_on_restore",
];

/// `preview_draft` (M): unsaved 2.13 attributes the preview evaluates
/// instead of the saved ones (issue 22 §9), parsed as the config with them.
pub(super) fn drafted(
    item: &Map<String, Value>,
) -> Option<Result<Box<TenantConfig>, ConfigItemError>> {
    let draft = item.get("preview_draft").filter(|v| !v.is_null())?;
    Some(apply_draft(item, draft).map(Box::new))
}

fn apply_draft(item: &Map<String, Value>, draft: &Value) -> Result<TenantConfig, ConfigItemError> {
    let Value::Object(draft) = draft else {
        return Err(bad(
            "preview_draft",
            format!("must be a map, found {}", super::kind(draft)),
        ));
    };
    if let Some(other) = draft.keys().find(|k| !DRAFTABLE.contains(&k.as_str())) {
        return Err(bad(
            "preview_draft",
            format!(
                "may hold only {}; found `{}`",
                DRAFTABLE.join(", "),
                super::json_fields_shortened(other)
            ),
        ));
    }
    let mut merged = item.clone();
    merged.remove("preview_draft");
    merged.extend(draft.clone());
    TenantConfig::from_attributes(&merged).map_err(|e| ConfigItemError {
        attribute: "preview_draft",
        problem: e.to_string(),
    })
}

impl TenantConfig {
    /// This config with a draft of the 2.13 attributes over its saved ones,
    /// for one on-demand sync (DESIGN 2.14 `draft`): parsed as the config
    /// parses them, an error naming the attribute at fault.
    pub fn with_draft(&self, draft: &Map<String, Value>) -> Result<TenantConfig, ConfigItemError> {
        if let Some(other) = draft.keys().find(|k| !DRAFTABLE.contains(&k.as_str())) {
            return Err(bad(
                "draft",
                format!(
                    "may hold only {}; found `{}`",
                    DRAFTABLE.join(", "),
                    super::json_fields_shortened(other)
                ),
            ));
        }
        let mut item = self.flows_item();
        item.extend(draft.clone());
        let attrs = Attributes(&item);
        Ok(TenantConfig {
            guest_users: attrs.guest_users()?,
            user_mappings: attrs.raw_list("user_mappings")?,
            user_scope_filters: attrs.raw_list("user_scope_filters")?,
            deprovisioning: attrs.deprovisioning()?,
            preview_draft: None,
            ..self.clone()
        })
    }

    /// The saved 2.13 attributes as the config item holds them.
    fn flows_item(&self) -> Map<String, Value> {
        let d = &self.deprovisioning;
        let mut item = Map::new();
        let mut put = |name: &str, value: Value| {
            item.insert(name.to_owned(), value);
        };
        put("guest_users", Value::from(self.guest_users.as_str()));
        for (name, list) in [
            ("user_mappings", &self.user_mappings),
            ("user_scope_filters", &self.user_scope_filters),
        ] {
            if let Some(list) = list {
                put(name, list.clone());
            }
        }
        for (name, action) in [
            ("import_user_soft_delete_action", d.import_user_soft_delete),
            ("import_user_purge_action", d.import_user_purge),
            (
                "import_user_out_of_scope_action",
                d.import_user_out_of_scope,
            ),
            ("export_user_delete_action", d.export_user_delete),
        ] {
            put(name, Value::from(action.as_str()));
        }
        for (name, action) in [
            ("import_group_delete_action", d.import_group_delete),
            ("export_group_delete_action", d.export_group_delete),
        ] {
            put(name, Value::from(action.as_str()));
        }
        put(
            "reactivate_on_restore",
            Value::from(d.reactivate_on_restore),
        );
        item
    }
}
