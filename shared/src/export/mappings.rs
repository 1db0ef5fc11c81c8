//! What the tenant chose to flow out (DESIGN 2.13): the export mappings in
//! effect (the built-in ones, each replaced by a configured one for its
//! target, and the configured ones to other Graph properties), compiled
//! once per run and evaluated on the whole AM user, never on the changed
//! attributes alone (WAVE3 §1.1).

use crate::mapping::{
    Direction, MappedValue, MappingConfigError, MappingEvalError, Occasion, TargetKind,
    TargetValue, UserMapping, UserMappings, map_user,
};
use crate::model::TenantConfig;
use crate::model::directory::UserItem;
use crate::model::entra::{EntraPatch, GraphValue};

/// The tenant's export mappings, ready to apply.
#[derive(Debug, Clone)]
pub struct ExportMappings {
    mappings: Vec<UserMapping>,
}

impl ExportMappings {
    /// A mapping to `manager` is left out, with a warning: exporting the
    /// manager (`PUT …/manager/$ref`) is not available yet, and the rest
    /// of the user still flows.
    pub fn compile(config: &TenantConfig) -> Result<Self, MappingConfigError> {
        let all = UserMappings::from_config(config.user_mappings.as_ref())?;
        let (manager, mappings): (Vec<&UserMapping>, Vec<&UserMapping>) = all
            .for_direction(Direction::Export)
            .iter()
            .partition(|m| m.target.kind == TargetKind::Reference);
        for skipped in manager {
            tracing::warn!(
                mapping = %skipped.describe(),
                "exporting the manager is not available yet; the mapping is skipped"
            );
        }
        Ok(Self {
            mappings: mappings.into_iter().cloned().collect(),
        })
    }

    /// What a create sends: every mapped target with a value (a `default`
    /// where the source gives none).
    pub fn on_create(&self, user: &UserItem) -> Result<EntraPatch, MappingEvalError> {
        let mut patch = EntraPatch::default();
        for mapped in map_user(&self.mappings, user, Occasion::Create)? {
            if let Some(value) = written(&mapped) {
                patch.set(&mapped.target.name, value);
            }
        }
        Ok(patch)
    }

    /// What an update sends, with the values `now` gives: the targets the
    /// record changed (`before` → `seen`, its old and new images) and
    /// those changed since (`seen` → `now`; their own records follow, and
    /// the export then records the hash of `now`, which must not claim a
    /// value Entra ID was never sent). No `before`, or an image a mapping
    /// fails on: every target. `create_only` targets never go.
    pub fn on_update(
        &self,
        before: Option<&UserItem>,
        seen: &UserItem,
        now: &UserItem,
    ) -> Result<EntraPatch, MappingEvalError> {
        let values = |user: &UserItem| map_user(&self.mappings, user, Occasion::Update);
        let current = values(now)?;
        let recorded = values(seen).ok();
        let previous = before.and_then(|old| values(old).ok());
        let mut patch = EntraPatch::default();
        for (index, mapped) in current.iter().enumerate() {
            let value_at = |list: &Option<Vec<MappedValue<'_>>>| {
                list.as_ref().map(|values| values[index].value.clone())
            };
            let (old, new) = (value_at(&previous), value_at(&recorded));
            let changed = old.is_none() || old != new || new.as_ref() != Some(&mapped.value);
            if changed && let Some(value) = written(mapped) {
                patch.set(&mapped.target.name, value);
            }
        }
        Ok(patch)
    }
}

/// The value a mapped target is written with; `None` leaves it alone. No
/// value from a configured mapping leaves the Entra value as it is
/// (docs/mapping.md 1.3: Microsoft flows no nulls either); a built-in
/// mapping mirrors the AM attribute, its absence clearing the property
/// (the import would otherwise bring Entra's value back).
fn written(mapped: &MappedValue<'_>) -> Option<GraphValue> {
    match &mapped.value {
        TargetValue::Text(text) => Some(GraphValue::Text(text.clone())),
        TargetValue::Flag(flag) => Some(GraphValue::Flag(*flag)),
        TargetValue::Texts(texts) => Some(GraphValue::Texts(texts.clone())),
        TargetValue::Absent if mapped.built_in => Some(GraphValue::Null),
        TargetValue::Absent | TargetValue::Reference(_) => None,
    }
}
