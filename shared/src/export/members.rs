//! Exporting memberships: both ends must be in Entra ID; a member not
//! exported yet is a problem that passes by itself.

use super::{
    EntraObjectKind, EntraWriter, ExportDirectory, ExportFailure, ExportOutcome, ExportRun,
    Exported, REPLICATION_RETRIES, events, graph_failure, not_visible_yet,
};
use crate::events::EventAction;
use crate::model::TenantId;
use crate::model::directory::{ItemKey, MembershipKey, Source, SyncedObject};
use crate::model::entra::GraphError;
use crate::problems::Code;

/// Which membership write the ends are read for (a manager's is an add).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Write {
    Add,
    Remove,
}

/// One end of a membership: the AM object, and whether it is in Entra ID.
enum MembershipEnd {
    Gone,
    NotInEntra,
    InEntra(String),
}

fn end_of<T: SyncedObject>(item: Option<T>) -> MembershipEnd {
    match item {
        None => MembershipEnd::Gone,
        Some(item) => match item.entra_object_id() {
            Some(entra_id) => MembershipEnd::InEntra(entra_id.to_owned()),
            None => MembershipEnd::NotInEntra,
        },
    }
}

impl<D: ExportDirectory, W: EntraWriter> ExportRun<'_, D, W> {
    pub(super) async fn add_membership(
        &self,
        tenant: &TenantId,
        group_id: &str,
        user_id: &str,
    ) -> Result<ExportOutcome, ExportFailure> {
        let Some((group, user)) = self.member_ids(tenant, group_id, user_id).await? else {
            let key = MembershipKey {
                group_id: group_id.to_owned(),
                user_id: user_id.to_owned(),
            };
            // The platform may write a membership before its user: while
            // the membership stands, it waits for it.
            if self.directory.has_membership(tenant, &key).await? {
                return Err(ExportFailure::NotYet(format!(
                    "the group {group_id} or the user {user_id} is not in the AM directory yet"
                )));
            }
            return Ok(ExportOutcome::Ignored(
                "the user or the group no longer exists",
            ));
        };
        self.add_member(&group, &user).await?;
        let added = Exported::new("member added", EventAction::AddMember);
        Ok(added.with(events::member(true, user_id)).into())
    }

    pub(super) async fn remove_membership(
        &self,
        tenant: &TenantId,
        group_id: &str,
        user_id: &str,
    ) -> Result<ExportOutcome, ExportFailure> {
        let (group, user) = match self
            .membership_ends(tenant, (group_id, user_id), Write::Remove)
            .await?
        {
            (MembershipEnd::InEntra(group), MembershipEnd::InEntra(user)) => (group, user),
            // A user gone from AM, when Entra ID keeps the users of deleted
            // platform users (disabled, or as they are): its memberships
            // stay with it, to come back with the user (DESIGN 2.13).
            (MembershipEnd::InEntra(_), MembershipEnd::Gone)
                if self.keeps_deleted_users() && self.retired_own_user(tenant, user_id).await? =>
            {
                return Ok(ExportOutcome::Ignored(
                    "the user is gone from AM and Entra ID keeps it (export_user_delete_action): its memberships stay",
                ));
            }
            // A user gone from AM: the export's own was deleted in Entra ID
            // with its memberships, but an imported one stays there (its
            // deletion is not exported), and its AM id is its Entra id.
            (MembershipEnd::InEntra(group), MembershipEnd::Gone) => (group, user_id.to_owned()),
            // A deleted group takes its memberships with it.
            _ => {
                return Ok(ExportOutcome::Ignored(
                    "the user or the group is not in Entra ID",
                ));
            }
        };
        self.refuse_privileged_group(&group, "removes a member from")
            .await?;
        match self.writer.remove_member(&group, &user).await {
            Ok(()) | Err(GraphError::NotFound) => {
                let removed = Exported::new("member removed", EventAction::RemoveMember);
                Ok(removed.with(events::member(false, user_id)).into())
            }
            // Not an Entra id: a deleted user of the export's own.
            Err(GraphError::InvalidObjectId { .. }) => Ok(ExportOutcome::Ignored(
                "the user is gone from AM and Entra ID",
            )),
            Err(e) => Err(graph_failure("removing the member", e)),
        }
    }

    /// Where a membership's group and user stand. A platform object's
    /// Entra end must carry entra-sync's mark for it, as for its updates
    /// (docs/behaviour.md 2.11): a forged or stale `entra_id` must not add
    /// members to, or remove them from, a group entra-sync never made, nor
    /// put an account it never made into one.
    async fn membership_ends(
        &self,
        tenant: &TenantId,
        (group_id, user_id): (&str, &str),
        write: Write,
    ) -> Result<(MembershipEnd, MembershipEnd), ExportFailure> {
        let group = self.directory.group(tenant, group_id).await?;
        let user = self.directory.user(tenant, user_id).await?;
        if let Some(group) = &group {
            let key = ItemKey::group(tenant, group_id);
            self.refuse_unowned_end(EntraObjectKind::Group, key, group, write)
                .await?;
        }
        if let Some(user) = &user {
            let key = ItemKey::user(tenant, user_id);
            self.refuse_unowned_end(EntraObjectKind::User, key, user, write)
                .await?;
        }
        Ok((end_of(group), end_of(user)))
    }

    /// `refuse_unowned` for a membership's end, once per object and run (a
    /// batch adds many members to one group).
    pub(super) async fn refuse_unowned_end<T: SyncedObject>(
        &self,
        kind: EntraObjectKind,
        key: ItemKey,
        item: &T,
        write: Write,
    ) -> Result<(), ExportFailure> {
        let Some(entra_id) = item.entra_object_id() else {
            return Ok(());
        };
        if item.source() == Source::Entra {
            return Ok(());
        }
        let checked = (key.sk(), entra_id.to_owned());
        if self
            .owned_ends
            .lock()
            .expect("owned ends")
            .contains(&checked)
        {
            return Ok(());
        }
        // Not found as such an object: one created moments ago, or a link
        // to a group, device or service principal (a GET of a user 404s on
        // them, but a member write takes any directory object).
        if !self.owned(kind, &key, entra_id).await? {
            // A removal through a link Graph does not find removes nothing
            // that matters: the write finds out for itself (a user deleted
            // in Entra ID leaves its groups).
            if write == Write::Remove {
                return Ok(());
            }
            self.check_nothing_created(&key).await?;
            let noun = kind.noun();
            return Err(ExportFailure::Refused {
                code: Code::EntraObjectExists,
                reason: format!(
                    "the Entra {noun} {entra_id} linked to {} is not found as an Entra {noun}: no membership or manager is written through that link",
                    key.sk()
                ),
            });
        }
        self.owned_ends.lock().expect("owned ends").insert(checked);
        Ok(())
    }

    /// The Entra ids to add a membership with; an end not exported yet
    /// is a problem that passes by itself (retried with backoff).
    async fn member_ids(
        &self,
        tenant: &TenantId,
        group_id: &str,
        user_id: &str,
    ) -> Result<Option<(String, String)>, ExportFailure> {
        match self
            .membership_ends(tenant, (group_id, user_id), Write::Add)
            .await?
        {
            (MembershipEnd::InEntra(group), MembershipEnd::InEntra(user)) => {
                Ok(Some((group, user)))
            }
            (MembershipEnd::Gone, _) | (_, MembershipEnd::Gone) => Ok(None),
            (MembershipEnd::NotInEntra, _) => Err(ExportFailure::NotYet(format!(
                "the group {group_id} is not in Entra ID yet"
            ))),
            (_, MembershipEnd::NotInEntra) => Err(ExportFailure::NotYet(format!(
                "the user {user_id} is not in Entra ID yet"
            ))),
        }
    }

    /// Adds a member, waiting out Graph's read-after-write lag for objects
    /// just created (docs/graph.md 2.6).
    pub(super) async fn add_member(&self, group: &str, member: &str) -> Result<(), ExportFailure> {
        self.refuse_privileged_group(group, "adds a member to")
            .await?;
        for (attempt, wait) in REPLICATION_RETRIES.iter().enumerate() {
            match self.writer.add_member(group, member).await {
                Ok(()) => return Ok(()),
                Err(GraphError::AlreadyMember { .. }) => return Ok(()),
                Err(e) if not_visible_yet(&e) && attempt + 1 < REPLICATION_RETRIES.len() => {
                    tokio::time::sleep(*wait).await
                }
                Err(e) if not_visible_yet(&e) => {
                    return Err(ExportFailure::NotYet(format!("adding the member: {e}")));
                }
                Err(e) => return Err(graph_failure("adding the member", e)),
            }
        }
        Err(ExportFailure::NotYet(
            "adding the member: not visible yet".into(),
        ))
    }
}
