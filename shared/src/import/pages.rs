//! Applying one delta page to the AM directory: compare, then write only
//! what changed.

use std::collections::{HashMap, HashSet};

use super::records::{
    DirectoryWrite, GroupAttributes, GroupRecord, MembershipKey, PasswordMode, Source,
    UserAttributes, UserRecord,
};
use super::state::{Checkpoint, GroupScope, Mode, PageRecord, Phase};
use super::{DirectoryStore, EntraDirectory, ImportRun, Interruption, SyncStateStore};
use crate::graph::model::{DeltaItem, DeltaPage, DomainInfo, EntraUser, GroupDelta, MemberKind};

/// The last item per id wins: a round may carry an object several times.
fn last_per_id<T, F: Fn(&T) -> &str>(items: &[DeltaItem<T>], id_of: F) -> Vec<&DeltaItem<T>> {
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        let id = match item {
            DeltaItem::Upsert(value) => id_of(value),
            DeltaItem::Removed { id, .. } => id.as_str(),
        };
        position.insert(id, index);
    }
    let mut keep: Vec<usize> = position.into_values().collect();
    keep.sort_unstable();
    keep.into_iter().map(|i| &items[i]).collect()
}

pub(super) fn password_mode(user: &EntraUser, domains: &[DomainInfo]) -> PasswordMode {
    let domain = user.domain();
    match domains.iter().find(|d| Some(&d.name) == domain.as_ref()) {
        Some(d) if !d.federated => PasswordMode::Entra,
        // Federated, or a domain Entra does not list: no cloud password to check.
        _ => PasswordMode::Temporary,
    }
}

impl<D: DirectoryStore, S: SyncStateStore, E: EntraDirectory> ImportRun<'_, D, S, E> {
    pub(super) async fn record_page(
        &self,
        checkpoint: &mut Checkpoint,
        phase: Phase,
        record: PageRecord,
    ) -> Result<(), Interruption> {
        if record.is_empty() {
            return Ok(());
        }
        self.state
            .save_page_record(
                self.tenant(),
                &checkpoint.round_id,
                phase,
                checkpoint.page,
                &record,
            )
            .await?;
        checkpoint.recorded_pages += 1;
        Ok(())
    }

    pub(super) async fn apply_users_page(
        &self,
        page: &DeltaPage<EntraUser>,
        scope: &super::scope::Scope<'_>,
        domains: &mut Option<Vec<DomainInfo>>,
        checkpoint: &mut Checkpoint,
    ) -> Result<(), Interruption> {
        let items = last_per_id(&page.items, |u| u.id.as_str());
        let mut record = PageRecord::default();
        let mut in_scope: Vec<&EntraUser> = Vec::new();
        for item in items {
            match item {
                DeltaItem::Upsert(user) if scope.includes_user(user) => {
                    record.present.push(user.id.clone());
                    in_scope.push(user);
                }
                // Out of scope now: removed from AM like a deleted user.
                DeltaItem::Upsert(user) => record.removed.push(user.id.clone()),
                DeltaItem::Removed { id, .. } => record.removed.push(id.clone()),
            }
        }
        if !in_scope.is_empty() {
            if domains.is_none() {
                *domains = Some(self.entra.domains().await?);
            }
            let domains = domains.as_deref().unwrap_or_default();
            let ids: Vec<String> = in_scope.iter().map(|u| u.id.clone()).collect();
            let existing = self
                .directory
                .users_by_entra_id(self.tenant(), &ids)
                .await?;
            let mut writes = Vec::new();
            for user in in_scope {
                let mut attributes = UserAttributes::from_entra(user, password_mode(user, domains));
                let current = existing.get(&user.id);
                // A platform user linked to Entra keeps the platform's
                // password_mode: the seed's rule is for imported users.
                if let Some(local) = current.filter(|c| c.source == Source::Local) {
                    attributes.password_mode = local.attributes.password_mode;
                }
                match current {
                    None => {
                        checkpoint.counts.users_created += 1;
                        writes.push(DirectoryWrite::CreateUser(UserRecord {
                            user_id: user.id.clone(),
                            source: Source::Entra,
                            entra_id: Some(user.id.clone()),
                            attributes,
                            pending_export: false,
                        }));
                    }
                    Some(current) if current.pending_export => {
                        tracing::info!(tenant_id = %self.tenant(), user_id = %current.user_id, "the platform's change is not exported yet; this user is updated after it");
                    }
                    Some(current) if current.attributes != attributes => {
                        checkpoint.counts.users_updated += 1;
                        writes.push(DirectoryWrite::UpdateUser {
                            user_id: current.user_id.clone(),
                            entra_id: user.id.clone(),
                            attributes,
                        });
                    }
                    Some(_) => {}
                }
            }
            if !writes.is_empty() {
                self.directory.apply(self.tenant(), writes).await?;
            }
        }
        self.record_page(checkpoint, Phase::Users, record).await
    }

    pub(super) async fn apply_groups_page(
        &self,
        page: &DeltaPage<GroupDelta>,
        group_scope: Option<&GroupScope>,
        checkpoint: &mut Checkpoint,
    ) -> Result<(), Interruption> {
        let scope = super::scope::Scope {
            domains: &[],
            groups: group_scope,
        };
        let mut record = PageRecord::default();
        // A large group's members come on several pages: merge per group.
        let mut groups: Vec<&GroupDelta> = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        for item in &page.items {
            match item {
                DeltaItem::Upsert(delta) => {
                    removed.retain(|r| r != &delta.id);
                    groups.push(delta);
                }
                DeltaItem::Removed { id, .. } => {
                    groups.retain(|g| &g.id != id);
                    removed.push(id.clone());
                }
            }
        }
        // In a delta round, membership changes of a scope group (or its
        // deletion) change who is in scope.
        if checkpoint.mode == Mode::Delta
            && let Some(scope) = group_scope
            && (groups
                .iter()
                .any(|g| scope.groups.contains(&g.id) && !g.members.is_empty())
                || removed.iter().any(|id| scope.groups.contains(id)))
        {
            checkpoint.scope_changed = true;
        }
        let (in_scope, out_of_scope): (Vec<&GroupDelta>, Vec<&GroupDelta>) = groups
            .into_iter()
            .partition(|g| scope.includes_group(&g.id));
        record.removed = removed;
        record
            .removed
            .extend(out_of_scope.iter().map(|g| g.id.clone()));
        let mut seen: HashSet<&str> = HashSet::new();
        record.present = in_scope
            .iter()
            .filter(|g| seen.insert(g.id.as_str()))
            .map(|g| g.id.clone())
            .collect();

        if !in_scope.is_empty() {
            let ids: Vec<String> = record.present.clone();
            let existing = self
                .directory
                .groups_by_entra_id(self.tenant(), &ids)
                .await?;
            let mut writes = Vec::new();
            // Group ids in AM after this page, by Entra id.
            let mut am_group: HashMap<String, String> = existing
                .iter()
                .map(|(entra, g)| (entra.clone(), g.group_id.clone()))
                .collect();
            let mut written: HashSet<&str> = HashSet::new();
            for delta in in_scope.iter().rev() {
                // The last occurrence carries the newest attributes.
                let Some(group) = &delta.group else { continue };
                if !written.insert(group.id.as_str()) {
                    continue;
                }
                let attributes = GroupAttributes::from_entra(group);
                match existing.get(&group.id) {
                    None => {
                        checkpoint.counts.groups_created += 1;
                        am_group.insert(group.id.clone(), group.id.clone());
                        writes.push(DirectoryWrite::CreateGroup(GroupRecord {
                            group_id: group.id.clone(),
                            source: super::records::Source::Entra,
                            entra_id: Some(group.id.clone()),
                            attributes,
                            pending_export: false,
                        }));
                    }
                    Some(current) if current.pending_export => {
                        tracing::info!(tenant_id = %self.tenant(), group_id = %current.group_id, "the platform's change is not exported yet; this group is updated after it");
                    }
                    Some(current) if current.attributes != attributes => {
                        checkpoint.counts.groups_updated += 1;
                        writes.push(DirectoryWrite::UpdateGroup {
                            group_id: current.group_id.clone(),
                            entra_id: group.id.clone(),
                            attributes,
                        });
                    }
                    Some(_) => {}
                }
            }

            // Memberships: users only, and only users the AM directory holds.
            let mut member_ids: Vec<String> = in_scope
                .iter()
                .flat_map(|g| g.members.iter())
                .filter(|m| m.kind == MemberKind::User)
                .map(|m| m.member_id.clone())
                .collect();
            member_ids.sort();
            member_ids.dedup();
            let users = if member_ids.is_empty() {
                HashMap::new()
            } else {
                self.directory
                    .users_by_entra_id(self.tenant(), &member_ids)
                    .await?
            };
            // Net change per membership: the last mention wins.
            let mut wanted: HashMap<MembershipKey, bool> = HashMap::new();
            for delta in &in_scope {
                let Some(group_id) = am_group.get(&delta.id) else {
                    continue;
                };
                for member in delta.members.iter().filter(|m| m.kind == MemberKind::User) {
                    let Some(user) = users.get(&member.member_id) else {
                        continue;
                    };
                    wanted.insert(
                        MembershipKey {
                            group_id: group_id.clone(),
                            user_id: user.user_id.clone(),
                        },
                        !member.removed,
                    );
                }
            }
            if checkpoint.mode == Mode::Full {
                record.memberships = wanted
                    .iter()
                    .filter(|(_, present)| **present)
                    .map(|(k, _)| k.encode())
                    .collect();
                record.memberships.sort();
            }
            if !wanted.is_empty() {
                let keys: Vec<MembershipKey> = wanted.keys().cloned().collect();
                let existing = self
                    .directory
                    .existing_memberships(self.tenant(), &keys)
                    .await?;
                for (key, present) in wanted {
                    match (present, existing.contains(&key)) {
                        (true, false) => {
                            checkpoint.counts.members_added += 1;
                            writes.push(DirectoryWrite::AddMembership(key));
                        }
                        (false, true) => {
                            checkpoint.counts.members_removed += 1;
                            writes.push(DirectoryWrite::RemoveMembership(key));
                        }
                        _ => {}
                    }
                }
            }
            if !writes.is_empty() {
                self.directory.apply(self.tenant(), writes).await?;
            }
        }
        self.record_page(checkpoint, Phase::Groups, record).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_item_per_id_wins() {
        let items = vec![
            DeltaItem::Upsert(EntraUser {
                id: "a".into(),
                display_name: Some("old".into()),
                ..Default::default()
            }),
            DeltaItem::Removed {
                id: "b".into(),
                permanent: false,
            },
            DeltaItem::Upsert(EntraUser {
                id: "a".into(),
                display_name: Some("new".into()),
                ..Default::default()
            }),
        ];
        let kept = last_per_id(&items, |u| u.id.as_str());
        assert_eq!(kept.len(), 2);
        assert!(
            matches!(kept[1], DeltaItem::Upsert(u) if u.display_name.as_deref() == Some("new"))
        );
    }

    #[test]
    fn managed_domains_verify_with_entra_others_get_temporary_passwords() {
        let domains = vec![
            DomainInfo {
                name: "contoso.com".into(),
                federated: false,
                verified: true,
            },
            DomainInfo {
                name: "fed.contoso.com".into(),
                federated: true,
                verified: true,
            },
        ];
        let user = |upn: &str| EntraUser {
            user_principal_name: upn.into(),
            ..Default::default()
        };
        assert_eq!(
            password_mode(&user("a@Contoso.com"), &domains),
            PasswordMode::Entra
        );
        assert_eq!(
            password_mode(&user("a@fed.contoso.com"), &domains),
            PasswordMode::Temporary
        );
        assert_eq!(
            password_mode(&user("a@elsewhere.org"), &domains),
            PasswordMode::Temporary
        );
    }
}
