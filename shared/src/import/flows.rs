//! What the tenant chose to flow in (DESIGN 2.13), compiled once per run:
//! its import mappings, its scoping filters and the Graph properties they
//! read. A mapping or filter that does not compile fails the run before any
//! write, with an error naming it.

use std::collections::BTreeMap;

use crate::mapping::{
    Apply, Direction, MappedValue, MappingEvalError, Occasion, ScopeFilters, TargetKind,
    TargetValue, UserMapping, UserMappings, map_user,
};
use crate::model::TenantConfig;
use crate::model::directory::{
    FieldValue, MAX_USER_NAME_BYTES, USER_FIELDS, UserAttributes, UserItem,
};
use crate::model::entra::EntraUser;

/// Why one user cannot be imported under the mappings (its problem item).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserMappingError {
    #[error(transparent)]
    Eval(#[from] MappingEvalError),
    #[error("the mappings give the user no user_name")]
    NoUserName,
    #[error(
        "the mappings give the user a user_name of {bytes} bytes; at most {MAX_USER_NAME_BYTES} are allowed"
    )]
    UserNameTooLong { bytes: usize },
}

/// The tenant's import mappings and scoping filters, ready to apply.
#[derive(Debug, Clone, Default)]
pub struct ImportFlows {
    /// The configured import mappings (the built-in ones are the parse's).
    mappings: Vec<UserMapping>,
    pub filters: ScopeFilters,
    /// The Graph properties they read beyond the built-in `$select`.
    select: Vec<String>,
    /// The tenant maps Entra ID's `manager` to `manager_id`.
    imports_manager: bool,
}

/// Why the tenant's flows cannot be used (the run's `last_sync_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowsError {
    #[error(transparent)]
    Mappings(#[from] crate::mapping::MappingConfigError),
    #[error(transparent)]
    ScopeFilters(#[from] crate::mapping::ScopeConfigError),
}

impl ImportFlows {
    pub fn compile(config: &TenantConfig) -> Result<Self, FlowsError> {
        let mappings = UserMappings::from_config(config.user_mappings.as_ref())?;
        let filters = ScopeFilters::from_config(config.user_scope_filters.as_ref())?;
        // The manager is a reference, resolved to an AM user id by the
        // import itself (`import::managers`), not a value to map.
        let (manager, configured): (Vec<UserMapping>, Vec<UserMapping>) = mappings
            .for_direction(Direction::Import)
            .iter()
            .filter(|m| m.number.is_some())
            .cloned()
            .partition(|m| m.target.kind == TargetKind::Reference);
        let mut select = mappings.graph_select();
        select.extend(filters.graph_select());
        select.sort();
        select.dedup();
        Ok(Self {
            mappings: configured,
            filters,
            select,
            imports_manager: !manager.is_empty(),
        })
    }

    /// Whether configured mappings change what the import writes (without
    /// them a user is written as Graph's parse built it).
    pub fn maps_attributes(&self) -> bool {
        !self.mappings.is_empty()
    }

    /// Whether the import sets `manager_id` from Entra ID's `manager`.
    pub fn imports_manager(&self) -> bool {
        self.imports_manager
    }

    /// The Graph user properties to select beyond the built-in ones.
    pub fn extra_select(&self) -> &[String] {
        &self.select
    }

    /// A description of what decides the import's results, for the scope
    /// fingerprint: when it changes, a full round applies it to everyone.
    pub fn fingerprint(config: &TenantConfig) -> String {
        let import_only =
            |list: &Option<serde_json::Value>, keep: fn(&serde_json::Value) -> bool| match list {
                Some(serde_json::Value::Array(items)) => {
                    let kept: Vec<&serde_json::Value> = items.iter().filter(|i| keep(i)).collect();
                    serde_json::to_string(&kept).unwrap_or_default()
                }
                _ => String::new(),
            };
        let is_import =
            |m: &serde_json::Value| m.get("direction").and_then(|d| d.as_str()) == Some("import");
        let mappings = import_only(&config.user_mappings, is_import);
        let filters = import_only(&config.user_scope_filters, |_| true);
        let digest = |text: &str| {
            use sha2::{Digest, Sha256};
            let hash = Sha256::digest(text.as_bytes());
            hash.iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        format!(
            "mappings={};filters={}",
            digest(&mappings),
            digest(&filters)
        )
    }

    /// The user's AM attributes under the tenant's mappings: the parse's
    /// built-in values, each configured target replaced. On update a
    /// `create_only` target keeps the AM value; mapped attributes
    /// (`attributes.<name>`) are rebuilt, so a removed mapping's go.
    pub fn attributes_of(
        &self,
        user: &EntraUser,
        current: Option<&UserItem>,
    ) -> Result<UserAttributes, UserMappingError> {
        let mut attributes = user.attributes.clone();
        if self.mappings.is_empty() {
            return Ok(attributes);
        }
        let occasion = match current {
            None => Occasion::Create,
            Some(_) => Occasion::Update,
        };
        attributes.attributes = BTreeMap::new();
        for mapped in map_user(&self.mappings, user.properties.as_ref(), occasion)? {
            set_target(&mut attributes, mapped);
        }
        if let Some(current) = current {
            self.keep_create_only(&mut attributes, &current.attributes);
        }
        if attributes.user_name.is_empty() {
            return Err(UserMappingError::NoUserName);
        }
        if attributes.user_name.len() > MAX_USER_NAME_BYTES {
            // One such user would fail its whole batch of writes, page
            // after page: it is this user's problem instead.
            return Err(UserMappingError::UserNameTooLong {
                bytes: attributes.user_name.len(),
            });
        }
        Ok(attributes)
    }

    /// On update, `create_only` targets keep what AM holds.
    fn keep_create_only(&self, attributes: &mut UserAttributes, current: &UserAttributes) {
        let create_only = self
            .mappings
            .iter()
            .filter(|m| m.apply == Apply::CreateOnly);
        for mapping in create_only {
            match mapping.target.attribute_key() {
                Some(key) => match current.attributes.get(key) {
                    Some(value) => {
                        attributes.attributes.insert(key.to_owned(), value.clone());
                    }
                    None => {
                        attributes.attributes.remove(key);
                    }
                },
                None => {
                    if let Some(field) = USER_FIELDS.iter().find(|f| f.am == mapping.target.name) {
                        (field.write)(attributes, (field.read)(current));
                    }
                }
            }
        }
    }
}

/// Writes one mapped value into the AM attributes (moved, not copied:
/// this runs for every mapping of every imported user).
fn set_target(attributes: &mut UserAttributes, mapped: MappedValue<'_>) {
    if let Some(key) = mapped.target.attribute_key() {
        let text = match mapped.value {
            TargetValue::Text(text) => text,
            TargetValue::Texts(texts) => texts.join(","),
            TargetValue::Flag(flag) => flag.to_string(),
            TargetValue::Absent | TargetValue::Reference(_) => {
                attributes.attributes.remove(key);
                return;
            }
        };
        attributes.attributes.insert(key.to_owned(), text);
        return;
    }
    let Some(field) = USER_FIELDS.iter().find(|f| f.am == mapped.target.name) else {
        return;
    };
    let value = match mapped.value {
        TargetValue::Absent => FieldValue::Text(None),
        TargetValue::Text(text) => FieldValue::Text(Some(text)),
        TargetValue::Texts(texts) => FieldValue::Text(texts.into_iter().next()),
        TargetValue::Flag(flag) => FieldValue::Flag(flag),
        TargetValue::Reference(id) => FieldValue::Text(Some(id)),
    };
    (field.write)(attributes, value);
}
