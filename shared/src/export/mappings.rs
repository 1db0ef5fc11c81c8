//! What the tenant chose to flow out (DESIGN 2.13): the export mappings in
//! effect (the built-in ones, each replaced by a configured one for its
//! target, and the configured ones to other Graph properties), compiled
//! once per run and evaluated on the whole AM user, never on the changed
//! attributes alone (WAVE3 §1.1).

use crate::events::AttributeChange;
use crate::mapping::{
    Apply, Direction, MappedValue, MappingConfigError, MappingEvalError, Occasion, TargetKind,
    TargetValue, UserMapping, UserMappings, map_user,
};
use crate::model::TenantConfig;
use crate::model::directory::UserItem;
use crate::model::entra::{EntraPatch, GraphValue};

/// The tenant's export mappings, ready to apply.
#[derive(Debug, Clone)]
pub struct ExportMappings {
    mappings: Vec<UserMapping>,
    /// The mapping `manager` ← `manager_id`, when configured: its `apply`.
    /// The manager is no property of the PATCH but a reference of its own
    /// (`PUT`/`DELETE …/manager/$ref`), written after the rest.
    manager: Option<Apply>,
}

/// What the export does with the Entra user's manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerWrite {
    /// The manager is this AM user (its Entra user, once exported).
    Set(String),
    /// The AM user has no manager any more.
    Remove,
}

impl ExportMappings {
    /// The manager mapping is kept apart from the others (validation
    /// allows it only as `manager` ← `manager_id`, a plain attribute).
    pub fn compile(config: &TenantConfig) -> Result<Self, MappingConfigError> {
        let all = UserMappings::from_config(config.user_mappings.as_ref())?;
        let (manager, mappings): (Vec<&UserMapping>, Vec<&UserMapping>) = all
            .for_direction(Direction::Export)
            .iter()
            .partition(|m| m.target.kind == TargetKind::Reference);
        Ok(Self {
            mappings: mappings.into_iter().cloned().collect(),
            manager: manager.first().map(|m| m.apply),
        })
    }

    /// The Graph properties to `$select` to read back what the mappings
    /// write (sync-object tells old from new with them): an extension
    /// attribute by its whole object (Graph selects no single one), the
    /// manager not at all (a reference, read apart).
    pub(crate) fn targets(&self) -> Vec<String> {
        let mut properties: Vec<String> = self
            .mappings
            .iter()
            .filter(|m| m.target.kind != TargetKind::Reference)
            .map(|m| crate::mapping::graph_select_property(&m.target.name).to_owned())
            .collect();
        properties.sort();
        properties.dedup();
        properties
    }

    /// The manager a create writes: the AM user's, when it has one and
    /// the manager is mapped (a new Entra user has none to remove).
    pub fn manager_on_create(&self, user: &UserItem) -> Option<ManagerWrite> {
        self.manager?;
        user.attributes.manager_id.clone().map(ManagerWrite::Set)
    }

    /// The manager an update writes, as `on_update` decides for the other
    /// targets: when `manager_id` moved (`before` → `seen` → `now`), or
    /// with no `before`; never for a `create_only` mapping.
    pub fn manager_on_update(
        &self,
        before: Option<&UserItem>,
        seen: &UserItem,
        now: &UserItem,
    ) -> Option<ManagerWrite> {
        if self.manager? == Apply::CreateOnly {
            return None;
        }
        let manager = |user: &UserItem| user.attributes.manager_id.clone();
        let moved =
            before.is_none_or(|old| manager(old) != manager(seen)) || manager(seen) != manager(now);
        if !moved {
            return None;
        }
        // A removal only when this record shows the platform removing it:
        // a retry (no `before`) knows nothing of Entra's manager, and a
        // later change (`seen` → `now`) may be the import's, waiting to
        // link Entra's.
        let record_removed =
            before.is_some_and(|old| manager(old).is_some()) && manager(seen).is_none();
        match manager(now) {
            Some(id) => Some(ManagerWrite::Set(id)),
            None if record_removed => Some(ManagerWrite::Remove),
            None => None,
        }
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
        self.on_update_sent(before, seen, now)
            .map(|(patch, _)| patch)
    }

    /// `on_update`, with each property it sends as old → new for the
    /// change event: old is what the same mapping gives `before` (`null`
    /// when there is none, or a mapping fails on it), new what is sent.
    pub fn on_update_sent(
        &self,
        before: Option<&UserItem>,
        seen: &UserItem,
        now: &UserItem,
    ) -> Result<(EntraPatch, Vec<AttributeChange>), MappingEvalError> {
        let values = |user: &UserItem| map_user(&self.mappings, user, Occasion::Update);
        let current = values(now)?;
        let recorded = values(seen).ok();
        let previous = before.and_then(|old| values(old).ok());
        let (mut patch, mut sent) = (EntraPatch::default(), Vec::new());
        for (index, mapped) in current.iter().enumerate() {
            let value_at = |list: &Option<Vec<MappedValue<'_>>>| {
                list.as_ref().map(|values| values[index].value.clone())
            };
            let (old, new) = (value_at(&previous), value_at(&recorded));
            let changed = old.is_none() || old != new || new.as_ref() != Some(&mapped.value);
            if changed && let Some(value) = written(mapped) {
                sent.push(AttributeChange {
                    attribute: mapped.target.name.clone(),
                    old: old.as_ref().map_or(serde_json::Value::Null, json_of),
                    new: value.to_json(),
                });
                patch.set(&mapped.target.name, value);
            }
        }
        Ok((patch, sent))
    }
}

/// A mapped value as the event shows it (`null`: no value).
fn json_of(value: &TargetValue) -> serde_json::Value {
    match value {
        TargetValue::Text(text) => GraphValue::Text(text.clone()).to_json(),
        TargetValue::Flag(flag) => GraphValue::Flag(*flag).to_json(),
        TargetValue::Texts(texts) => GraphValue::Texts(texts.clone()).to_json(),
        TargetValue::Absent | TargetValue::Reference(_) => serde_json::Value::Null,
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
