//! Removal: the planned deletions written with every membership they
//! take along, then (after a sweeping groups round) the imported
//! memberships the round did not show.

use std::collections::HashSet;

use super::deletions::{Deletions, SeenRound};
use super::deprovision::keeps_unseen_memberships;
use crate::import::buckets::{Bucket, KeyRange, SeenKind};
use crate::import::records::DirectoryWrite;
use crate::import::records::RemovalCause;
use crate::import::state::Counts;
use crate::import::{DirectoryStore, EntraDirectory, ImportRun, ImportState, Interruption};
use crate::model::directory::MembershipKey;
use crate::ports::TenantConfigs;
use crate::problems::ProblemStore;

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    /// Deletes what the plans say, with the memberships that go with it;
    /// a sweeping groups round also removes the memberships it did not see.
    pub(super) async fn apply_deletions(
        &self,
        plans: &Deletions,
        round: &SeenRound,
        sweeps_groups: bool,
        deferred_added: &HashSet<String>,
        counts: &mut Counts,
    ) -> Result<(), Interruption> {
        let sweeps_memberships = sweeps_groups && self.config.import_groups;
        // The membership sweep reads what the round wrote; otherwise the
        // deletion looks it up.
        let written = (!sweeps_memberships).then_some(deferred_added);
        let removed = self.delete(plans, round, written, counts).await?;
        let deprovisioned = plans.deprovisioned();
        self.deprovision(&deprovisioned, counts).await?;
        if sweeps_memberships {
            // Out of scope, a user is still listed with its memberships.
            let gone = deprovisioned
                .into_iter()
                .filter(|(_, _, cause)| *cause != RemovalCause::LeftScope)
                .map(|(id, _, _)| id);
            let kept = KeptMemberships {
                deprovisioned: gone.collect(),
            };
            self.sweep_memberships(round, deferred_added, (plans, &removed), &kept, counts)
                .await?;
        }
        Ok(())
    }

    /// Deletes imported users and groups (their Entra ids are their AM ids)
    /// with every membership they have: those the by-member index and the
    /// group prefixes show, and (given `written`, the deferred ones added)
    /// those this run wrote. Returns the memberships removed.
    async fn delete(
        &self,
        plans: &Deletions,
        round: &SeenRound,
        written: Option<&HashSet<String>>,
        counts: &mut Counts,
    ) -> Result<HashSet<MembershipKey>, Interruption> {
        let users: HashSet<String> = plans.users.delete.iter().cloned().collect();
        let groups: HashSet<String> = plans.groups.delete.iter().cloned().collect();
        if users.is_empty() && groups.is_empty() {
            return Ok(HashSet::new());
        }
        let mut memberships: HashSet<MembershipKey> = self
            .directory
            .memberships_involving(self.tenant(), &users, &groups)
            .await?
            .into_iter()
            .collect();
        if let Some(deferred_added) = written {
            let missed = self
                .written_memberships_of(round, deferred_added, plans, &memberships)
                .await?;
            memberships.extend(missed);
        }
        counts.members_removed += memberships.len() as u64;
        counts.users_deleted += users.len() as u64;
        counts.groups_deleted += groups.len() as u64;
        // The memberships first, in writes of their own: a batch written
        // in part may have deleted the user or group and left its
        // memberships, which the run that retries would no longer find.
        let removals = memberships.iter().cloned();
        self.write(removals.map(DirectoryWrite::RemoveMembership).collect())
            .await?;
        let writes = users
            .into_iter()
            .map(|user_id| DirectoryWrite::DeleteUser { user_id })
            .chain(
                groups
                    .into_iter()
                    .map(|group_id| DirectoryWrite::DeleteGroup { group_id }),
            )
            .collect();
        self.write(writes).await?;
        Ok(memberships)
    }

    /// Memberships of the deleted objects that this run wrote and the
    /// index did not show yet (and that still exist), a bucket at a time.
    async fn written_memberships_of(
        &self,
        round: &SeenRound,
        deferred_added: &HashSet<String>,
        deleted: &Deletions,
        found: &HashSet<MembershipKey>,
    ) -> Result<HashSet<MembershipKey>, Interruption> {
        let missed = |raw: &String| {
            MembershipKey::decode(raw).filter(|m| deleted.covers(m) && !found.contains(m))
        };
        let mut candidates: HashSet<MembershipKey> =
            deferred_added.iter().filter_map(missed).collect();
        for bucket in Bucket::all() {
            for (_, ids) in self.seen_ids(round, SeenKind::Members, bucket).await? {
                candidates.extend(ids.iter().filter_map(missed));
            }
        }
        if candidates.is_empty() {
            return Ok(HashSet::new());
        }
        let candidates: Vec<MembershipKey> = candidates.into_iter().collect();
        Ok(self
            .directory
            .existing_memberships(self.tenant(), &candidates)
            .await?)
    }

    /// After a full groups round, a key range at a time: the imported
    /// memberships it did not show, and those of deleted objects that the
    /// deletion did not find (written by this round).
    ///
    /// Memberships stay with what is not gone: a deprovisioned user's
    /// (Entra ID lists a soft-deleted member nowhere, yet restores its
    /// memberships with it), and a group's that the round did not show
    /// at all but did not delete (kept, or held back).
    async fn sweep_memberships(
        &self,
        round: &SeenRound,
        deferred_added: &HashSet<String>,
        (deleted, removed): (&Deletions, &HashSet<MembershipKey>),
        kept: &KeptMemberships,
        counts: &mut Counts,
    ) -> Result<(), Interruption> {
        for range in KeyRange::covering(round.buckets.members.ids) {
            let in_range = |raw: &&String| {
                MembershipKey::decode(raw).is_some_and(|m| range.contains_membership(&m))
            };
            let mut seen: HashSet<String> =
                deferred_added.iter().filter(in_range).cloned().collect();
            for bucket in range.buckets() {
                for (_, ids) in self.seen_ids(round, SeenKind::Members, bucket).await? {
                    seen.extend(ids);
                }
            }
            let unseen: Vec<MembershipKey> = self
                .directory
                .imported_memberships_in(self.tenant(), range)
                .await?
                .into_iter()
                .filter(|m| !removed.contains(m))
                .filter(|m| {
                    deleted.covers(m) || (!seen.contains(&m.encode()) && !deleted.spares(m))
                })
                .collect();
            let stale = self.without_deprovisioned(unseen, deleted, kept).await?;
            counts.members_removed += stale.len() as u64;
            self.write(stale).await?;
        }
        Ok(())
    }

    /// The removals among `memberships`, leaving those of deprovisioned
    /// users (now or before) that are not deleted with their group.
    async fn without_deprovisioned(
        &self,
        memberships: Vec<MembershipKey>,
        deleted: &Deletions,
        kept: &KeptMemberships,
    ) -> Result<Vec<DirectoryWrite>, Interruption> {
        let spared =
            |user_id: &String| kept.deprovisioned.contains(user_id) || deleted.holds_user(user_id);
        let mut users: Vec<String> = memberships
            .iter()
            .filter(|m| !deleted.covers(m) && !spared(&m.user_id))
            .map(|m| m.user_id.clone())
            .collect();
        users.sort();
        users.dedup();
        let marked: HashSet<String> = match users.is_empty() {
            true => HashSet::new(),
            false => self
                .directory
                .users_by_entra_id(self.tenant(), &users)
                .await?
                .into_iter()
                .filter(|(_, user)| {
                    keeps_unseen_memberships(user.sync.deprovisioned_reason.as_deref())
                })
                .map(|(id, _)| id)
                .collect(),
        };
        Ok(memberships
            .into_iter()
            .filter(|m| deleted.covers(m) || !(spared(&m.user_id) || marked.contains(&m.user_id)))
            .map(DirectoryWrite::RemoveMembership)
            .collect())
    }
}

/// The users whose memberships a sweep leaves: those this run
/// deprovisioned for a deletion (their marks may not read back yet).
struct KeptMemberships {
    deprovisioned: HashSet<String>,
}
