//! The match and act of an on-demand export: a linked user compared with
//! the Entra user the export mappings make of it, an unlinked one created
//! or linked to the Entra user of its UPN — each write the export
//! engine's own plan, so nothing here is a second copy of its rules.

use serde_json::{Value, json};

use super::OnDemandError;
use super::answer::{ProblemNote, StepName, StepStatus, SyncObjectAnswer, SyncResult};
use super::explain::field_json;
use super::export_user::{ExportLookups, OnDemandExport};
use super::import_act::verbs_of;
use crate::events::AttributeChange;
use crate::export::{
    EntraWriter, ExportDirectory, ExportFailure, ExportMappings, ExportOutcome, ExportPlan,
    ExportRun,
};
use crate::import::EntraDirectory;
use crate::model::directory::{ItemKey, SyncedObject, USER_FIELDS, UserItem};
use crate::model::entra::{EntraPatch, EntraUser, ExportMark, GraphValue};
use crate::problems::ProblemStore;

/// A value as Graph would send it back.
pub(super) fn graph_json(value: &GraphValue) -> Value {
    match value {
        GraphValue::Null => Value::Null,
        GraphValue::Text(text) => json!(text),
        GraphValue::Flag(flag) => json!(flag),
        GraphValue::Texts(texts) => json!(texts),
    }
}

/// The Entra user's value of a property: the field table's as parsed,
/// any other as Graph sent it.
fn entra_value(user: &EntraUser, property: &str) -> Value {
    if let Some(field) = USER_FIELDS.iter().find(|f| f.graph == property) {
        return field_json((field.read)(&user.attributes));
    }
    // An extension attribute is read inside the object Graph selects whole.
    let nested = || {
        let (object, inner) = property.split_once('.')?;
        user.properties.get(object)?.get(inner)
    };
    user.properties
        .get(property)
        .or_else(nested)
        .cloned()
        .unwrap_or(Value::Null)
}

/// What the patch changes on the Entra user (all of it when there is
/// none yet), by Graph property, old → new.
pub(super) fn patch_changes(patch: &EntraPatch, user: Option<&EntraUser>) -> Vec<AttributeChange> {
    patch
        .properties
        .iter()
        .map(|(property, value)| AttributeChange {
            attribute: property.clone(),
            old: user.map_or(Value::Null, |u| entra_value(u, property)),
            new: graph_json(value),
        })
        .filter(|change| change.old != change.new)
        .collect()
}

/// What retiring the Entra user changes.
pub(super) fn retirement_changes(result: SyncResult, upn: &str) -> Vec<AttributeChange> {
    match result {
        SyncResult::Disable => vec![AttributeChange {
            attribute: "accountEnabled".into(),
            old: json!(true),
            new: json!(false),
        }],
        _ => vec![AttributeChange {
            attribute: "user".into(),
            old: json!(upn),
            new: Value::Null,
        }],
    }
}

/// A failure of the export as the problem the stream would record.
fn failure_note(failure: &ExportFailure) -> Option<ProblemNote> {
    let (code, _) = failure.problem()?;
    Some(ProblemNote {
        code: code.as_str().to_owned(),
        message: failure.to_string(),
    })
}

/// The result an export outcome shows (a link or a restore, not a create).
fn result_of(outcome: &str, planned: SyncResult) -> SyncResult {
    if outcome.contains("restored") {
        SyncResult::Restore
    } else if outcome.contains("linked") {
        SyncResult::Update
    } else {
        planned
    }
}

impl<D, W, R, P> OnDemandExport<'_, D, W, R, P>
where
    D: ExportDirectory + ExportLookups,
    W: EntraWriter,
    R: EntraDirectory,
    P: ProblemStore,
{
    /// A linked user: what the mappings give that Entra ID has different,
    /// unless the AM user agrees with what was last exported (echo rule).
    pub(super) async fn linked(
        &self,
        item: UserItem,
        entra_id: &str,
        mappings: &ExportMappings,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let Some(entra_user) = self.entra.user(entra_id).await? else {
            let why = format!(
                "The linked Entra user {entra_id} is not in Entra ID (deleted there, or created moments ago and not visible yet)"
            );
            let mut answer = answer.skip(StepName::Match, why, json!({"entra_id": entra_id}));
            if let Some(step) = answer.steps.last_mut() {
                step.status = StepStatus::Failure;
            }
            return Ok(answer);
        };
        answer.step(
            StepName::Match,
            StepStatus::Success,
            format!(
                "Matched Entra user '{}' by its link",
                entra_user.attributes.user_name
            ),
            json!({"match": "link", "entra_id": entra_id}),
        );
        let wanted = match mappings.on_update(None, &item, &item) {
            Ok(wanted) => wanted,
            Err(error) => return Ok(unmappable(answer, &error.to_string())),
        };
        let differences = patch_changes(&wanted, Some(&entra_user));
        if item.agrees_with_entra() {
            return Ok(echo(answer, &differences));
        }
        if differences.is_empty() {
            answer.result = SyncResult::NoChange;
            let why = "No change: Entra ID already has every value the export mappings give";
            answer.step(StepName::Act, StepStatus::Success, why, json!({}));
            return Ok(answer);
        }
        answer.modified = differences;
        let key = ItemKey::user(self.tenant(), &item.user_id);
        let plan = ExportPlan::UpdateUser {
            user_id: item.user_id.clone(),
            entra_id: entra_id.to_owned(),
            changed: Vec::new(),
            before: None,
            item,
        };
        self.export_plan(answer, &key, plan, SyncResult::Update, "user")
            .await
    }

    /// An unlinked platform user: created, or linked to the Entra user of
    /// its UPN (the export links rather than duplicates) or of its mark.
    pub(super) async fn unlinked(
        &self,
        item: UserItem,
        mappings: &ExportMappings,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let wanted = match mappings.on_create(&item) {
            Ok(wanted) => wanted,
            Err(error) => return Ok(unmappable(answer, &error.to_string())),
        };
        let upn = match wanted.value("userPrincipalName") {
            Some(GraphValue::Text(upn)) => upn.clone(),
            _ => item.attributes.user_name.clone(),
        };
        let key = ItemKey::user(self.tenant(), &item.user_id);
        let ours = ExportMark::of(&key);
        let (existing, result) = self.match_unlinked(&upn, &ours, &mut answer).await?;
        answer.modified = patch_changes(&wanted, existing.as_ref());
        if answer.dry_run && existing.is_none() {
            // The create's own check, which a real call meets in the plan.
            let run = ExportRun::new(self.directory, self.writer, self.config);
            if let Err(failure) = run.check_upn(&upn, "created").await {
                return self.refused(answer, failure);
            }
        }
        let plan = ExportPlan::CreateUser {
            user_id: item.user_id.clone(),
            item,
        };
        self.export_plan(answer, &key, plan, result, "user").await
    }

    /// The Entra user an unlinked platform user would be linked to (by its
    /// UPN, else by its mark), and so whether it is created.
    async fn match_unlinked(
        &self,
        upn: &str,
        ours: &ExportMark,
        answer: &mut SyncObjectAnswer,
    ) -> Result<(Option<EntraUser>, SyncResult), OnDemandError> {
        Ok(match self.writer.user_by_upn(upn).await? {
            Some(existing) => {
                let how = self.link_sentence(&existing.mark, ours, upn);
                // Another AM tenant's mark names its ids: only whose it is.
                let mark = existing.mark.as_ref().map(|m| match m == ours {
                    true => m.to_string(),
                    false => "another AM object".to_owned(),
                });
                let details = json!({"match": "user_name", "entra_id": existing.user.id.to_string(),
                                     "mark": mark});
                answer.step(StepName::Match, StepStatus::Success, how, details);
                (Some(existing.user), SyncResult::Update)
            }
            None => match self.writer.user_by_mark(ours).await? {
                Some(found) => {
                    let why = "Matched the Entra user that carries entra-sync's mark for this user (a create whose answer was lost): it is linked, not made again";
                    answer.step(
                        StepName::Match,
                        StepStatus::Success,
                        why,
                        json!({"match": "mark"}),
                    );
                    (Some(found.user), SyncResult::Update)
                }
                None => {
                    let why = format!(
                        "No Entra user has the UPN '{upn}' or entra-sync's mark for this user"
                    );
                    answer.step(
                        StepName::Match,
                        StepStatus::Success,
                        why,
                        json!({"match": "none"}),
                    );
                    (None, SyncResult::Create)
                }
            },
        })
    }

    /// How the export treats the Entra user that holds the UPN
    /// (`ownership::take_over`'s rule, in words).
    fn link_sentence(&self, mark: &Option<ExportMark>, ours: &ExportMark, upn: &str) -> String {
        match mark {
            Some(mark) if mark == ours => format!(
                "Matched Entra user '{upn}' by its UPN; it carries entra-sync's mark for this user: it is linked, not duplicated"
            ),
            Some(_) => format!(
                "Entra user '{upn}' holds the UPN but was created by entra-sync for another AM object: it is not taken over"
            ),
            None if self.config.export_adopt_existing => format!(
                "Matched Entra user '{upn}' by its UPN; the tenant allows adopting existing users (export_adopt_existing): it is linked, not duplicated"
            ),
            None => format!(
                "Entra user '{upn}' holds the UPN and entra-sync did not create it: it is not taken over unless the tenant sets export_adopt_existing"
            ),
        }
    }

    /// The export engine's plan, applied in a real call (a dry run says
    /// what it would do); its failure is the problem the stream records.
    pub(super) async fn export_plan(
        &self,
        mut answer: SyncObjectAnswer,
        key: &ItemKey,
        plan: ExportPlan,
        planned: SyncResult,
        noun: &str,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        answer.result = planned;
        if answer.dry_run {
            let (verb, _) = verbs_of(planned);
            let description =
                format!("Dry run: would {verb} the Entra {noun}; nothing was written");
            answer.step(
                StepName::Act,
                StepStatus::Success,
                description,
                json!({"action": planned}),
            );
            return Ok(answer);
        }
        let run = ExportRun::new(self.directory, self.writer, self.config);
        match run.apply_plan(self.tenant(), key, plan).await {
            Ok(ExportOutcome::Exported(exported)) => {
                let what = exported.what;
                answer.result = result_of(what, planned);
                answer.written = true;
                self.note_link(&mut answer, key).await?;
                let details = json!({"action": answer.result, "outcome": what});
                answer.step(
                    StepName::Act,
                    StepStatus::Success,
                    format!("Entra ID: {what}"),
                    details,
                );
            }
            Ok(ExportOutcome::Ignored(why)) => {
                answer.result = SyncResult::NoChange;
                answer.modified.clear();
                answer.step(
                    StepName::Act,
                    StepStatus::Success,
                    format!("Nothing sent: {why}"),
                    json!({}),
                );
            }
            Err(failure) => return self.refused(answer, failure),
        }
        Ok(answer)
    }

    /// The export's failure as the act's, with the problem the stream
    /// would record.
    fn refused(
        &self,
        mut answer: SyncObjectAnswer,
        failure: ExportFailure,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        if let ExportFailure::Store(error) = failure {
            return Err(error.into());
        }
        answer.result = SyncResult::Skipped;
        answer.modified.clear();
        answer.problem = failure_note(&failure);
        let details = json!({"retryable": failure.is_retryable()});
        answer.step(
            StepName::Act,
            StepStatus::Failure,
            failure.to_string(),
            details,
        );
        Ok(answer)
    }

    /// The Entra id the AM object is linked to after the act.
    async fn note_link(
        &self,
        answer: &mut SyncObjectAnswer,
        key: &ItemKey,
    ) -> Result<(), OnDemandError> {
        let linked = match key {
            ItemKey::User { tenant, user_id } => self
                .directory
                .user(tenant, user_id)
                .await?
                .and_then(|u| u.entra_object_id().map(str::to_owned)),
            ItemKey::Group { tenant, group_id } => self
                .directory
                .group(tenant, group_id)
                .await?
                .and_then(|g| g.entra_object_id().map(str::to_owned)),
            ItemKey::Membership { .. } => None,
        };
        if linked.is_some() {
            answer.object_id = linked;
        }
        Ok(())
    }
}

/// The echo rule (DESIGN 2.3): values the export last sent, or the import
/// wrote, are not sent (again).
fn echo(mut answer: SyncObjectAnswer, differences: &[AttributeChange]) -> SyncObjectAnswer {
    answer.result = SyncResult::NoChange;
    let mut why = "No change: the AM user's values are the ones the export last sent to Entra ID (or the import wrote from it), and the export never sends those again".to_owned();
    if !differences.is_empty() {
        let names: Vec<&str> = differences.iter().map(|d| d.attribute.as_str()).collect();
        why.push_str(&format!(
            "; Entra ID has {} different, changed there: the import brings that to AM",
            names.join(", ")
        ));
    }
    answer.step(
        StepName::Act,
        StepStatus::Success,
        why,
        json!({"rule": "agrees_with_entra"}),
    );
    answer
}

fn unmappable(mut answer: SyncObjectAnswer, error: &str) -> SyncObjectAnswer {
    let message = format!("the user cannot be exported: {error}");
    answer.problem = Some(ProblemNote {
        code: "invalid_object".into(),
        message: message.clone(),
    });
    let mut answer = answer.skip(StepName::Act, message, json!({}));
    if let Some(step) = answer.steps.last_mut() {
        step.status = StepStatus::Failure;
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EntraObjectId;

    #[test]
    fn an_extension_attribute_is_read_inside_the_object_graph_selects_whole() {
        let properties = serde_json::json!({
            "employeeId": "E1",
            "onPremisesExtensionAttributes": {"extensionAttribute3": "B-7"}
        });
        let user = EntraUser {
            id: EntraObjectId::parse("5eed0001-0000-4000-8000-000000000001").unwrap(),
            attributes: Default::default(),
            guest: false,
            properties: std::sync::Arc::new(properties.as_object().unwrap().clone()),
        };
        let read = |p: &str| entra_value(&user, p);
        assert_eq!(
            read("onPremisesExtensionAttributes.extensionAttribute3"),
            "B-7"
        );
        assert_eq!(
            read("onPremisesExtensionAttributes.extensionAttribute4"),
            Value::Null
        );
        assert_eq!(read("employeeId"), "E1");
    }
}
