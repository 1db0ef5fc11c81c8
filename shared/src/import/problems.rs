//! Import problems (docs/behaviour.md 2.8): an Entra object that cannot be
//! imported is named in a problem item, and the rest of its page is
//! imported. Every run reads the objects of open import problems again, so
//! a fix on either side clears them within a poll interval.

use crate::model::tenant_config::GuestUsers;
use std::borrow::Cow;

use super::scope::Scope;
use super::state::Counts;
use super::{DirectoryStore, EntraDirectory, ImportRun, ImportState, Interruption};
use crate::model::entra::GraphError;
use crate::model::entra::{DeltaItem, DeltaPage, EntraGroup, EntraUser, GroupDelta, UnusableItem};
use crate::ports::TenantConfigs;
use crate::problems::ProblemStore;
use crate::problems::{Code, Direction, ObjectKind, Operation, Problem, ProblemKey};

/// An object fetched again by id.
enum Refetched<T> {
    /// It reads now.
    Usable(T),
    /// Gone from Entra since.
    Gone,
    /// Still not what the directory can hold (why).
    Invalid(String),
}

fn refetched<T>(result: Result<Option<T>, GraphError>) -> Result<Refetched<T>, GraphError> {
    match result {
        Ok(Some(object)) => Ok(Refetched::Usable(object)),
        Ok(None) | Err(GraphError::NotFound) => Ok(Refetched::Gone),
        Err(GraphError::Malformed(reason)) => Ok(Refetched::Invalid(reason)),
        Err(err) => Err(err),
    }
}

fn problem_key(kind: ObjectKind, id: &str) -> ProblemKey {
    ProblemKey {
        direction: Direction::Import,
        kind,
        object_id: id.to_owned(),
    }
}

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    /// The users page with its unusable items fetched again by id.
    pub(super) async fn repaired_users<'p>(
        &self,
        page: &'p DeltaPage<EntraUser>,
    ) -> Result<(Cow<'p, DeltaPage<EntraUser>>, Vec<String>), Interruption> {
        let fetch = async |id: &str| self.entra.user(id).await;
        let merge =
            |items: &mut Vec<DeltaItem<EntraUser>>, mut user: EntraUser, item: &UnusableItem| {
                // The manager change the item carried, which a read by id lacks.
                if let Some(link) = &item.manager_link {
                    let properties = std::sync::Arc::make_mut(&mut user.properties);
                    properties.insert("manager@delta".into(), link.clone());
                }
                items.push(DeltaItem::Upsert(user))
            };
        self.repaired(page, ObjectKind::User, fetch, merge).await
    }

    /// The groups page with the groups whose properties did not read
    /// fetched again (their membership changes stay as the page had them).
    pub(super) async fn repaired_groups<'p>(
        &self,
        page: &'p DeltaPage<GroupDelta>,
    ) -> Result<(Cow<'p, DeltaPage<GroupDelta>>, Vec<String>), Interruption> {
        let fetch = async |id: &str| self.entra.group(id).await;
        self.repaired(page, ObjectKind::Group, fetch, with_group)
            .await
    }

    /// A page with its unusable items fetched again by id: those that read
    /// now join it (`merge`), those gone are removed. Returns the ids of
    /// those that still do not read, named as problems: they exist in
    /// Entra, so a full round keeps them.
    async fn repaired<'p, T: Clone, R>(
        &self,
        page: &'p DeltaPage<T>,
        kind: ObjectKind,
        fetch: impl AsyncFn(&str) -> Result<Option<R>, GraphError>,
        merge: impl Fn(&mut Vec<DeltaItem<T>>, R, &UnusableItem),
    ) -> Result<(Cow<'p, DeltaPage<T>>, Vec<String>), Interruption> {
        if page.unusable.is_empty() {
            return Ok((Cow::Borrowed(page), Vec::new()));
        }
        let mut repaired = page.clone();
        repaired.unusable.clear();
        let mut invalid = Vec::new();
        for item in &page.unusable {
            match refetched(fetch(item.id.as_str()).await)? {
                Refetched::Usable(object) => merge(&mut repaired.items, object, item),
                // Deleted since (or the item was its unreadable @removed).
                Refetched::Gone => repaired.items.push(removed(&item.id)),
                Refetched::Invalid(reason) => {
                    self.report_invalid(kind, item, &reason).await?;
                    invalid.push(item.id.to_string());
                }
            }
        }
        Ok((Cow::Owned(repaired), invalid))
    }

    async fn report_invalid(
        &self,
        kind: ObjectKind,
        item: &UnusableItem,
        reason: &str,
    ) -> Result<(), Interruption> {
        let id = item.id.as_str();
        let known = match kind {
            ObjectKind::Group => self
                .directory
                .groups_by_entra_id(self.tenant(), &[id.to_owned()])
                .await?
                .contains_key(id),
            _ => self
                .directory
                .user_ids_by_entra_id(self.tenant(), &[id.to_owned()])
                .await?
                .contains_key(id),
        };
        let operation = if known {
            Operation::Update
        } else {
            Operation::Create
        };
        let reason = format!(
            "Entra ID's data for this {} cannot be imported, also when read again by id: {reason}",
            kind.as_str()
        );
        tracing::warn!(kind = kind.as_str(), entra_id = id, reason = %reason, "skipping an object the directory cannot hold");
        let problem = Problem::new(
            problem_key(kind, id),
            operation,
            Code::InvalidObject,
            reason,
        )
        .displayed_as(item.display.clone().unwrap_or_default());
        self.record_problem(&problem).await?;
        Ok(())
    }

    /// Reads the objects of open import problems again (but those this
    /// round named): one that imports now, or is gone, is no longer a
    /// problem. Returns whether an object was created by it: imported
    /// late, it missed its memberships.
    pub(super) async fn recheck_problems(
        &self,
        round_started: chrono::DateTime<chrono::Utc>,
        counts: &mut Counts,
    ) -> Result<bool, Interruption> {
        let created_before = counts.users_created + counts.groups_created;
        let open = self.problems.open(self.tenant(), Direction::Import).await?;
        for problem in open.into_iter().filter(|p| p.last_seen_at < round_started) {
            let id = problem.key.object_id.as_str();
            let fixed = match problem.key.kind {
                ObjectKind::User => match refetched(self.entra.user(id).await)? {
                    Refetched::Usable(user) => self.import_again(&user, counts).await?,
                    Refetched::Gone => true,
                    Refetched::Invalid(_) => false,
                },
                ObjectKind::Group => match refetched(self.entra.group(id).await)? {
                    Refetched::Usable(group) => self.import_group_again(group, counts).await?,
                    Refetched::Gone => true,
                    Refetched::Invalid(_) => false,
                },
                ObjectKind::Membership => false,
            };
            if fixed {
                tracing::info!(entra_id = id, "an import problem is fixed");
                self.resolve_problem(&problem.key).await?;
            }
        }
        Ok(counts.users_created + counts.groups_created > created_before)
    }

    /// Imports a user that had a problem (if it is in scope: one out of
    /// scope has nothing to import, which also clears its problem); false
    /// when its UPN still conflicts.
    async fn import_again(
        &self,
        user: &EntraUser,
        counts: &mut Counts,
    ) -> Result<bool, Interruption> {
        if !self.config.import_users {
            return Ok(true);
        }
        let group_scope = self.saved_group_scope().await?;
        let scope = self.scope(group_scope.as_ref());
        if !scope.includes_user(user) {
            return Ok(true);
        }
        // With its groups: a run killed before the problem is resolved
        // finds it imported, and no groups delta sends them.
        let conflicts = self.import_with_groups(&[user], counts).await?;
        Ok(conflicts.is_empty())
    }

    async fn import_group_again(
        &self,
        group: EntraGroup,
        counts: &mut Counts,
    ) -> Result<bool, Interruption> {
        if !self.config.import_groups {
            return Ok(true);
        }
        let group_scope = self.saved_group_scope().await?;
        let scope = Scope {
            domains: &[],
            groups: group_scope.as_ref(),
            guests: GuestUsers::Exclude,
            filters: None,
        };
        if scope.includes_group(group.id.as_str()) {
            let delta = GroupDelta {
                id: group.id.clone(),
                group: Some(group),
                members: Vec::new(),
            };
            let ids = [delta.id.to_string()];
            self.upsert_groups(&[&delta], &ids, counts).await?;
        }
        Ok(true)
    }

    /// The saved group scope, when `import_group_ids` limits the import.
    async fn saved_group_scope(&self) -> Result<Option<super::state::GroupScope>, Interruption> {
        if self.config.import_group_ids.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            self.state
                .group_scope(self.tenant())
                .await?
                .unwrap_or_default(),
        ))
    }
}

fn removed<T>(id: &crate::model::EntraObjectId) -> DeltaItem<T> {
    DeltaItem::Removed {
        id: id.clone(),
        permanent: false,
    }
}

/// Gives the page's items for this group its properties (or adds one).
fn with_group(items: &mut Vec<DeltaItem<GroupDelta>>, group: EntraGroup, _: &UnusableItem) {
    let mut found = false;
    for item in items.iter_mut() {
        if let DeltaItem::Upsert(delta) = item
            && delta.id == group.id
        {
            delta.group = Some(group.clone());
            found = true;
        }
    }
    if !found {
        items.push(DeltaItem::Upsert(GroupDelta {
            id: group.id.clone(),
            group: Some(group),
            members: Vec::new(),
        }));
    }
}
