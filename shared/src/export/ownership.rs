//! Which Entra objects the export may take over, change or delete
//! (docs/behaviour.md 2.11): those it created (its mark, written with the object,
//! proves it), those the tenant let it adopt, and never an administrator's.

use super::deprovision::Retired;
use super::{
    EntraObjectKind, EntraWriter, ExistingEntraUser, ExportDirectory, ExportFailure, ExportMark,
    ExportOutcome, ExportRun, Exported, graph_failure, read_failure, refused,
};
use crate::events::EventAction;
use crate::model::directory::{ItemKey, LinkOrigin, Source, SyncedObject};
use crate::model::entra::GraphError;
use crate::problems::Code;

impl<D: ExportDirectory, W: EntraWriter> ExportRun<'_, D, W> {
    /// Whether the export may link an AM user to the Entra user that holds
    /// its UPN, and as what: its own object (a replayed create), or, when
    /// the tenant allows adoption, one no other AM object claims; never an
    /// administrator.
    pub(super) async fn take_over(
        &self,
        existing: &ExistingEntraUser,
        ours: &ExportMark,
    ) -> Result<LinkOrigin, ExportFailure> {
        let upn = &existing.user.attributes.user_name;
        self.refuse_administrator(existing.user.id.as_str(), upn)
            .await?;
        match &existing.mark {
            Some(mark) if mark == ours => Ok(LinkOrigin::Created),
            Some(mark) => Err(ExportFailure::UpnHeld(format!(
                "the Entra user {upn} was created by entra-sync for {} and is left untouched; it is tried again by itself, as that object may be renamed or deleted; otherwise delete or rename it in Entra ID, or give this user another user_name",
                self.another_object(mark)
            ))),
            None if self.config.export_adopt_existing => {
                self.refuse_imported(existing).await?;
                Ok(LinkOrigin::Adopted)
            }
            None => Err(ExportFailure::UpnHeld(format!(
                "an Entra user {upn} already exists that entra-sync did not create, and is left untouched; to link this user to it (a migration), set export_adopt_existing in the tenant's Entra ID settings, or give this user another user_name; it is tried again by itself, as that account may be renamed or deleted in Entra ID"
            ))),
        }
    }

    /// Refuses to adopt an Entra user the import brought into AM as
    /// another user (its AM id is its Entra id): linked twice, it would be
    /// deleted with the platform user that adopted it. The imported user's
    /// own rename, on the stream in any order, may free the UPN.
    async fn refuse_imported(&self, existing: &ExistingEntraUser) -> Result<(), ExportFailure> {
        let id = existing.user.id.as_str();
        if self
            .directory
            .user(&self.config.tenant_id, id)
            .await?
            .is_none()
        {
            return Ok(());
        }
        let upn = &existing.user.attributes.user_name;
        Err(ExportFailure::UpnHeld(format!(
            "the Entra user {upn} is already in AM as the imported user {id} and is not linked to a second one; it is tried again by itself, as that user may be renamed; otherwise give this user another user_name"
        )))
    }

    /// Whether the Entra object linked to `key` is the export's own for it
    /// (its mark names `key`: created or adopted for it); `false` when it
    /// is gone. The link alone proves nothing: any writer of the AM table
    /// can set `entra_id` (docs/behaviour.md 2.3, 2.11).
    pub(super) async fn owned(
        &self,
        kind: EntraObjectKind,
        key: &ItemKey,
        entra_id: &str,
    ) -> Result<bool, ExportFailure> {
        let ours = ExportMark::of(key);
        let found = match self.writer.mark_of(kind, entra_id).await {
            Ok(found) => found,
            Err(GraphError::NotFound) => return Ok(false),
            Err(e) => return Err(read_failure("reading the object's entra-sync mark", e)),
        };
        if found.as_ref() == Some(&ours) {
            return Ok(true);
        }
        let noun = kind.noun();
        let held = match found {
            None => "it has none".to_owned(),
            Some(mark) => format!("it has the mark of {}", self.another_object(&mark)),
        };
        Err(refused(
            Code::EntraObjectExists,
            format!(
                "the Entra {noun} {entra_id} linked to {} does not carry entra-sync's mark for it ({ours}; {held}): entra-sync changes or deletes only what it created or adopted for this AM object, so the {noun} is left as it is in Entra ID",
                key.sk()
            ),
        ))
    }

    /// Another AM object's mark, as a problem of this tenant may name it:
    /// one of this tenant by its key; another tenant's (or a digest, whose
    /// tenant cannot be told) not at all, as its ids are that tenant's.
    pub(super) fn another_object(&self, mark: &ExportMark) -> String {
        let this_tenant = format!("{}/", self.config.tenant_id);
        match mark.as_str().strip_prefix(&this_tenant) {
            Some(key) => format!("another AM object ({key})"),
            None => "another AM object".to_owned(),
        }
    }

    /// Refuses a write to the Entra object linked to a platform object
    /// unless it carries entra-sync's mark for it (docs/behaviour.md 2.11):
    /// a forged or stale `entra_id` must not point an update at an account
    /// entra-sync never created or adopted. An imported object is Entra's
    /// own; a gone one is left to the write, which finds out for itself
    /// (a just-created object may not be visible yet).
    pub(super) async fn refuse_unowned<T: SyncedObject>(
        &self,
        kind: EntraObjectKind,
        key: &ItemKey,
        item: &T,
        entra_id: &str,
    ) -> Result<(), ExportFailure> {
        if item.source() == Source::Entra {
            return Ok(());
        }
        self.owned(kind, key, entra_id).await.map(drop)
    }

    /// The Entra user that carries this mark: a create whose answer was
    /// lost (docs/behaviour.md 2.3).
    pub(super) async fn user_by_mark(
        &self,
        mark: &ExportMark,
    ) -> Result<Option<ExistingEntraUser>, ExportFailure> {
        self.writer
            .user_by_mark(mark)
            .await
            .map_err(|e| read_failure("looking for the user by its entra-sync mark", e))
    }

    pub(super) async fn group_by_mark(
        &self,
        mark: &ExportMark,
    ) -> Result<Option<String>, ExportFailure> {
        self.writer
            .group_by_mark(mark)
            .await
            .map_err(|e| read_failure("looking for the group by its entra-sync mark", e))
    }

    /// Deletes what carries the mark of an AM object gone before its link
    /// was recorded (a create whose answer was lost); nothing else.
    pub(super) async fn delete_marked(
        &self,
        kind: EntraObjectKind,
        key: &ItemKey,
    ) -> Result<ExportOutcome, ExportFailure> {
        let mark = ExportMark::of(key);
        let nothing =
            ExportOutcome::Ignored("never exported: nothing in Entra ID carries its mark");
        match kind {
            EntraObjectKind::User => {
                let Some(found) = self.user_by_mark(&mark).await? else {
                    self.check_nothing_created(key).await?;
                    return Ok(nothing);
                };
                let (id, upn) = (found.user.id.as_str(), &found.user.attributes.user_name);
                self.refuse_administrator(id, upn).await?;
                let what = match self.retire_user(key, id, upn).await? {
                    Retired::Deleted => ("user found by its mark and deleted", EventAction::Delete),
                    Retired::Disabled => {
                        ("user found by its mark and disabled", EventAction::Disable)
                    }
                };
                Ok(Exported::new(what.0, what.1).into())
            }
            EntraObjectKind::Group => {
                let Some(id) = self.group_by_mark(&mark).await? else {
                    self.check_nothing_created(key).await?;
                    return Ok(nothing);
                };
                match self.writer.delete_group(&id).await {
                    Ok(()) | Err(GraphError::NotFound) => {
                        let what = "group found by its mark and deleted";
                        Ok(Exported::new(what, EventAction::Delete).into())
                    }
                    Err(e) => Err(graph_failure("deleting the group", e)),
                }
            }
        }
    }

    /// The linked object is gone (or the link was stale or forged): what
    /// carries this AM object's mark goes all the same, once a create that
    /// may still appear has had its time (found by review: a forged link
    /// left the export's own object behind).
    pub(super) async fn delete_unlinked(
        &self,
        kind: EntraObjectKind,
        key: &ItemKey,
    ) -> Result<ExportOutcome, ExportFailure> {
        match self.delete_marked(kind, key).await? {
            ExportOutcome::Ignored(_) if kind == EntraObjectKind::User => {
                Ok(ExportOutcome::Ignored("the Entra user is already gone"))
            }
            ExportOutcome::Ignored(_) => {
                Ok(ExportOutcome::Ignored("the Entra group is already gone"))
            }
            deleted => Ok(deleted),
        }
    }

    /// Deletes an Entra group the export created for this AM group.
    pub(super) async fn delete_group(
        &self,
        key: &ItemKey,
        entra_id: &str,
    ) -> Result<ExportOutcome, ExportFailure> {
        if !self.owned(EntraObjectKind::Group, key, entra_id).await? {
            return self.delete_unlinked(EntraObjectKind::Group, key).await;
        }
        match self.writer.delete_group(entra_id).await {
            Ok(()) | Err(GraphError::NotFound) => {
                Ok(Exported::new("group deleted", EventAction::Delete).into())
            }
            Err(e) => Err(graph_failure("deleting the group", e)),
        }
    }

    /// Refuses to add a member to, or remove one from, a role-assignable
    /// group: its members hold its directory roles. A group Graph cannot
    /// find is left to the write, which finds that out for itself.
    pub(super) async fn refuse_privileged_group(
        &self,
        group_id: &str,
        change: &str,
    ) -> Result<(), ExportFailure> {
        let name = match self.writer.role_assignable_group(group_id).await {
            Ok(None) | Err(GraphError::NotFound) => return Ok(()),
            Ok(Some(name)) => name,
            Err(e) => {
                return Err(graph_failure(
                    "reading whether the group is role-assignable",
                    e,
                ));
            }
        };
        Err(refused(
            Code::PrivilegedAccount,
            format!(
                "the Entra group {name} ({group_id}) is role-assignable: its members hold directory roles, so entra-sync never {change} it; make the change in Entra ID"
            ),
        ))
    }

    /// Refuses any change to an Entra user that holds a directory role
    /// (directly, through a role-assignable group, or eligible through PIM).
    pub(super) async fn refuse_administrator(
        &self,
        entra_id: &str,
        display: &str,
    ) -> Result<(), ExportFailure> {
        let roles = match self.writer.directory_roles(entra_id).await {
            Ok(roles) => roles,
            // Gone: the write that follows finds that out for itself.
            Err(GraphError::NotFound) => return Ok(()),
            // Unanswered: the change waits (retried, then a problem), never
            // goes out blind.
            Err(e) => return Err(read_failure("reading the user's directory roles", e)),
        };
        if roles.is_empty() {
            return Ok(());
        }
        Err(refused(
            Code::PrivilegedAccount,
            format!(
                "the Entra user {display} is an administrator ({}); entra-sync never modifies, disables or deletes an administrator: make the change in Entra ID, or remove the role first",
                roles.join(", ")
            ),
        ))
    }
}
