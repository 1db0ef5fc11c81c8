//! Exporting platform users: create (or take over the Entra user with the
//! same UPN, when it may: `ownership`), update, delete, and the export
//! group.

use base64::Engine;

use super::deprovision::Retired;
use super::{
    EntraObjectKind, EntraPatch, EntraWriter, ExistingEntraUser, ExportDirectory, ExportFailure,
    ExportMappings, ExportMark, ExportOutcome, ExportRun, NewEntraUser, graph_failure,
    intent::made_nothing, is_conflict, naming, read_failure, update_failure,
};
use super::{Exported, events};
use crate::events::{AttributeChange, EventAction};
use crate::model::TenantId;
use crate::model::directory::{
    EntraHash, ItemKey, LinkOrigin, SyncedObject, USER_FIELDS, UserAttributes, UserItem,
};
use crate::model::entra::{DomainInfo, EntraUser};
use crate::model::entra::{GraphError, GraphValue};

/// The new Entra user for these attributes (docs/graph.md 3.1, 3.4).
fn new_entra_user(
    user_id: &str,
    (mut attributes, properties): (UserAttributes, EntraPatch),
    domain: Option<&DomainInfo>,
    mark: ExportMark,
) -> NewEntraUser {
    let local_part = attributes
        .user_name
        .split('@')
        .next()
        .unwrap_or_default()
        .to_owned();
    attributes
        .display_name
        .get_or_insert_with(|| local_part.clone());
    NewEntraUser {
        mail_nickname: naming::mail_nickname(&local_part, &format!("am-{user_id}")),
        // Required for federated domains; must not contain `$` or `_`.
        on_premises_immutable_id: domain
            .filter(|d| d.federated)
            .map(|_| base64::engine::general_purpose::STANDARD.encode(user_id)),
        password: naming::temporary_password(),
        attributes,
        properties,
        mark,
    }
}

impl<D: ExportDirectory, W: EntraWriter> ExportRun<'_, D, W> {
    /// Sends the mapped values the user has now that changed (see
    /// `ExportMappings::on_update`), then its manager when that moved:
    /// `before` is the record's old image (`None`: every mapped value),
    /// `seen` its new one.
    pub(super) async fn update_user(
        &self,
        key: &ItemKey,
        user_id: &str,
        entra_id: &str,
        (before, seen): (Option<&UserItem>, &UserItem),
    ) -> Result<ExportOutcome, ExportFailure> {
        let mappings = self.export_mappings()?;
        let Some(item) = self.directory.user(key.tenant(), user_id).await? else {
            return Ok(ExportOutcome::Ignored("the user no longer exists"));
        };
        let (patch, mut sent) = mappings
            .on_update_sent(before, seen, &item)
            .map_err(unmappable)?;
        let manager = mappings.manager_on_update(before, seen, &item);
        if patch.is_empty() && manager.is_none() {
            self.record(key, entra_id, None).await?;
            return Ok(ExportOutcome::Ignored("no mapped value changed"));
        }
        let renamed = match patch.value("userPrincipalName") {
            Some(GraphValue::Text(upn)) => Some(upn.as_str()),
            _ => None,
        };
        if let Some(upn) = renamed {
            self.check_upn(upn, "renamed").await?;
        }
        self.refuse_unowned(EntraObjectKind::User, key, &item, entra_id)
            .await?;
        self.refuse_administrator(entra_id, &item.attributes.user_name)
            .await?;
        if !patch.is_empty() {
            self.patch_user(entra_id, &patch, (renamed, &item.attributes.user_name))
                .await?;
        }
        self.finish_user(key, entra_id, None, manager.as_ref())
            .await?;
        sent.extend(manager.map(|m| events::manager(before, &m)));
        let action = events::update_action(&sent);
        Ok(Exported::new("user updated", action).with(sent).into())
    }

    /// PATCHes the user: an on-premises-mastered one gets what Graph lets
    /// the cloud write (`authority`), a refused rename is named.
    async fn patch_user(
        &self,
        entra_id: &str,
        patch: &EntraPatch,
        (renamed, display): (Option<&str>, &str),
    ) -> Result<(), ExportFailure> {
        match self.writer.update_user(entra_id, patch).await {
            Ok(()) => Ok(()),
            Err(GraphError::OnPremisesMastered { .. }) => {
                Err(self.write_cloud_owned(entra_id, patch, display).await)
            }
            Err(e) => Err(self.update_refused(renamed, e).await),
        }
    }

    /// Why Graph refused an update. A rename onto a UPN another Entra user
    /// holds passes by itself: the holder's own rename or delete (another
    /// AM object's, on the stream in any order, or one made in Entra ID)
    /// frees the UPN.
    /// (`renamed_to`: the UPN the update sends, if it sends one; another
    /// property's conflict is Graph's refusal as it is.)
    async fn update_refused(&self, renamed_to: Option<&str>, refusal: GraphError) -> ExportFailure {
        let Some(upn) = renamed_to.filter(|_| is_conflict(&refusal)) else {
            return update_failure("updating the user", refusal);
        };
        let holder = match self.writer.user_by_upn(upn).await {
            Ok(Some(ExistingEntraUser {
                mark: Some(mark), ..
            })) => format!(
                "was created by entra-sync for {}",
                self.another_object(&mark)
            ),
            _ => "was not created by entra-sync".to_owned(),
        };
        ExportFailure::UpnHeld(format!(
            "renaming the user to {upn}: the Entra user holding that UPN {holder}; it is tried again by itself, as that user may be renamed or deleted; otherwise give this user another user_name"
        ))
    }

    /// Deletes (or disables, as the tenant chose) an Entra user the export
    /// created or adopted for this AM user (its mark says so), unless it
    /// has become an administrator since.
    pub(super) async fn delete_user(
        &self,
        key: &ItemKey,
        entra_id: &str,
    ) -> Result<ExportOutcome, ExportFailure> {
        if !self.owned(EntraObjectKind::User, key, entra_id).await? {
            return self.delete_unlinked(EntraObjectKind::User, key).await;
        }
        self.refuse_administrator(entra_id, entra_id).await?;
        Ok(match self.retire_user(key, entra_id, entra_id).await? {
            Retired::Deleted => Exported::new("user deleted", EventAction::Delete),
            Retired::Disabled => Exported::new("user disabled", EventAction::Disable),
        }
        .into())
    }

    pub(super) async fn create_user(
        &self,
        tenant: &TenantId,
        user_id: &str,
        record_item: &UserItem,
    ) -> Result<ExportOutcome, ExportFailure> {
        // Before anything is read or written: a mapping that does not
        // compile writes nothing for any user.
        let mappings = self.export_mappings()?;
        // A replayed record: an earlier attempt may have linked it already.
        let Some(item) = self.directory.user(tenant, user_id).await? else {
            return Ok(ExportOutcome::Ignored("the user no longer exists"));
        };
        if let Some(entra_id) = item.entra_object_id() {
            if item.agrees_with_entra() {
                return Ok(ExportOutcome::Ignored("already linked to Entra ID"));
            }
            // Linked by its mark as Entra had it, and the update that
            // followed was lost: it goes now.
            let key = ItemKey::user(tenant, user_id);
            return self
                .update_user(&key, user_id, entra_id, (None, &item))
                .await;
        }
        let key = ItemKey::user(tenant, user_id);
        let mark = ExportMark::of(&key);
        if let Some(linked) = self.link_marked(&key, &mark, &item).await? {
            return Ok(linked);
        }
        if let Some(restored) = self.restore_deleted(&key, &item).await? {
            return Ok(restored);
        }
        let user = self
            .user_to_create(mappings, (&item, record_item), mark)
            .await?;
        // POST first: the UPN is looked up only when Graph says it is taken
        // (a user made in Entra, or one of ours not visible by its mark yet).
        self.begin_create(&key).await?;
        let (entra_id, origin, mut sent) = match self.post_user(&key, &user).await {
            Ok(created) => created,
            // Graph may have made it: if it shows already, it is linked now.
            Err(failure @ ExportFailure::Graph { .. }) if failure.is_retryable() => {
                return match self.link_marked(&key, &user.mark, &item).await {
                    Ok(Some(linked)) => Ok(linked),
                    _ => Err(failure),
                };
            }
            Err(failure) => return Err(failure),
        };
        self.join_export_group(&entra_id).await?;
        let manager = mappings.manager_on_create(&item);
        self.finish_user(&key, &entra_id, Some(origin), manager.as_ref())
            .await?;
        sent.extend(manager.map(|m| events::manager(None, &m)));
        Ok(Exported::new("user created", EventAction::Create)
            .with(sent)
            .into())
    }

    /// The Entra user the mappings make of the AM user, its UPN checked.
    async fn user_to_create(
        &self,
        mappings: &ExportMappings,
        (item, record_item): (&UserItem, &UserItem),
        mark: ExportMark,
    ) -> Result<NewEntraUser, ExportFailure> {
        let mut attributes = item.attributes.clone();
        if attributes.user_name.is_empty() {
            attributes.user_name = record_item.attributes.user_name.clone();
        }
        let properties = mappings.on_create(item).map_err(unmappable)?;
        // A mapped UPN is the one created, checked and looked up.
        if let Some(GraphValue::Text(upn)) = properties.value("userPrincipalName") {
            attributes.user_name = upn.clone();
        }
        let domain = self.check_upn(&attributes.user_name, "created").await?;
        Ok(new_entra_user(
            &item.user_id,
            (attributes, properties),
            domain.as_ref(),
            mark,
        ))
    }

    /// Links the user that carries the mark, if one is visible: a create
    /// whose answer was lost made it already (renamed since, perhaps, even
    /// out of the domains), and it is linked, never a second made. One GET.
    async fn link_marked(
        &self,
        key: &ItemKey,
        mark: &ExportMark,
        item: &UserItem,
    ) -> Result<Option<ExportOutcome>, ExportFailure> {
        let Some(existing) = self.user_by_mark(mark).await? else {
            return Ok(None);
        };
        self.take_over(&existing, mark).await?;
        self.join_export_group(existing.user.id.as_str()).await?;
        self.link_marked_user(key, &existing.user, item)
            .await
            .map(Some)
    }

    /// The export group before the link: once linked, a replay finds
    /// nothing to create, and a failed add would never be retried.
    pub(super) async fn join_export_group(&self, entra_id: &str) -> Result<(), ExportFailure> {
        if let Some(group) = &self.config.export_group_id {
            self.add_member(group.as_str(), entra_id).await?;
        }
        Ok(())
    }

    /// Links the user a lost create made, as Entra has it, then sends what
    /// the platform changed since as an update (a refused rename is then an
    /// update's problem, of a linked user).
    pub(super) async fn link_marked_user(
        &self,
        key: &ItemKey,
        existing: &EntraUser,
        item: &UserItem,
    ) -> Result<ExportOutcome, ExportFailure> {
        let entra_id = existing.id.as_str();
        self.directory.record_link(key, entra_id).await?;
        let as_entra_has_it = EntraHash::of_user(&existing.attributes);
        self.directory
            .record_entra_state(key, entra_id, &as_entra_has_it, Some(LinkOrigin::Created))
            .await?;
        tracing::info!(entra_id, "linked to the Entra user that carries its mark");
        let seen = UserItem {
            attributes: existing.attributes.clone(),
            ..item.clone()
        };
        let mappings = self.export_mappings()?;
        let differing = mappings
            .on_update(Some(&seen), &seen, item)
            .map_err(unmappable)?;
        // Entra's user as found says nothing of its manager: the AM
        // user's, if any, is written.
        let manager = mappings.manager_on_update(Some(&seen), &seen, item);
        if differing.is_empty() && manager.is_none() {
            self.record(key, entra_id, None).await?;
            // Made by an attempt whose answer was lost: this record's create.
            let linked = Exported::new("user found by its mark and linked", EventAction::Create);
            return Ok(linked.into());
        }
        self.update_user(key, &item.user_id, entra_id, (Some(&seen), &seen))
            .await
    }

    async fn user_by_upn(&self, upn: &str) -> Result<Option<ExistingEntraUser>, ExportFailure> {
        self.writer
            .user_by_upn(upn)
            .await
            .map_err(|e| read_failure("looking up the UPN", e))
    }

    /// Creates the user; on a conflict (a retried create that had
    /// succeeded, or a user made in Entra) links to the user that holds the
    /// UPN only when it may take it over.
    async fn post_user(
        &self,
        key: &ItemKey,
        user: &NewEntraUser,
    ) -> Result<(String, LinkOrigin, Vec<AttributeChange>), ExportFailure> {
        match self.writer.create_user(user).await {
            Ok(id) => {
                let sent = events::posted(&user.posted_properties());
                Ok((id, LinkOrigin::Created, sent))
            }
            Err(e) if is_conflict(&e) => {
                let Some(existing) = self.user_by_upn(&user.attributes.user_name).await? else {
                    return Err(ExportFailure::NotYet(
                        "the UPN is taken but not visible yet".into(),
                    ));
                };
                let origin = match self.take_over(&existing, &user.mark).await {
                    Ok(origin) => origin,
                    // Another's account holds the UPN: this POST made
                    // nothing (an earlier one would hold the UPN itself).
                    Err(refusal) => return Err(self.create_refused(key, refusal).await),
                };
                if origin == LinkOrigin::Adopted {
                    self.writer
                        .write_mark(EntraObjectKind::User, &existing.user.id, &user.mark)
                        .await
                        .map_err(|e| graph_failure("marking the adopted user", e))?;
                }
                let (id, sent) = self.adopt_user(&existing.user, &user.properties).await?;
                Ok((id, origin, sent))
            }
            Err(e) if made_nothing(&e) => Err(self
                .create_refused(key, graph_failure("creating the user", e))
                .await),
            Err(e) => Err(graph_failure("creating the user", e)),
        }
    }

    /// Links to an existing Entra user and patches what the mappings give
    /// that it has different (the UPN, which matched, aside): what was
    /// sent, old as the user held it.
    async fn adopt_user(
        &self,
        existing: &EntraUser,
        wanted: &EntraPatch,
    ) -> Result<(String, Vec<AttributeChange>), ExportFailure> {
        if existing.id.is_empty() {
            return Err(ExportFailure::Refused {
                code: crate::problems::Code::GraphRejected,
                reason: "Graph returned a user without an id".into(),
            });
        }
        let differing = EntraPatch {
            properties: wanted
                .properties
                .iter()
                .filter(|(name, value)| {
                    name != "userPrincipalName" && held(existing, name) != value.to_json()
                })
                .cloned()
                .collect(),
        };
        if !differing.is_empty() {
            self.writer
                .update_user(&existing.id, &differing)
                .await
                .map_err(|e| graph_failure("updating the adopted user", e))?;
        }
        tracing::info!(entra_id = %existing.id, "linked to the Entra user with the same UPN");
        let sent = events::patched(&differing, |property| held(existing, property));
        Ok((existing.id.to_string(), sent))
    }
}

/// The value the Entra user has for `property`, as Graph's JSON: the
/// field table's properties as parsed, the others as Graph sent them.
fn held(existing: &EntraUser, property: &str) -> serde_json::Value {
    if let Some(field) = USER_FIELDS.iter().find(|f| f.graph == property) {
        return GraphValue::from((field.read)(&existing.attributes)).to_json();
    }
    let sent = existing.properties.get(property);
    sent.cloned().unwrap_or_default()
}

/// A mapping that cannot give a value for this user: its problem
/// (`invalid_object`), naming the mapping; waits for the user to change.
fn unmappable(error: crate::mapping::MappingEvalError) -> ExportFailure {
    ExportFailure::Refused {
        code: crate::problems::Code::InvalidObject,
        reason: format!("the user cannot be exported: {error}"),
    }
}
