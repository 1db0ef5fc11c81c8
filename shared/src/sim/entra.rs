//! Entra ID as the simulation models it: users, groups and nested
//! memberships with a change sequence, answering the delta queries as
//! docs/graph.md 1.4–1.9 describes them (soft and permanent deletes, restores,
//! duplicates across pages, rounds whose pages are fixed when they start,
//! delta tokens that fix the sequence number the round started at).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::directory::{GroupAttributes, UserAttributes};
use crate::model::entra::{
    Continuation, DeltaItem, DeltaPage, DomainInfo, EntraGroup, EntraUser, GroupDelta,
    MemberChange, MemberKind,
};

use super::rng::Rng;

pub const DOMAINS: [&str; 3] = ["contoso.com", "fed.contoso.com", "other.org"];
const NAMES: [&str; 8] = ["ann", "bob", "cid", "dee", "eve", "fay", "gus", "hal"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    Active,
    /// Restorable for 30 days (`@removed: changed`); keeps its memberships.
    SoftDeleted,
    /// Gone for good (`@removed: deleted`).
    Purged,
}

#[derive(Debug, Clone)]
pub struct SimUser {
    pub attributes: UserAttributes,
    pub life: Life,
    pub changed: u64,
    /// It came back from a soft delete at least once.
    pub restored: bool,
}

#[derive(Debug, Clone)]
pub struct SimMember {
    pub kind: MemberKind,
    pub present: bool,
    pub changed: u64,
}

#[derive(Debug, Clone)]
pub struct SimGroup {
    pub attributes: GroupAttributes,
    pub deleted: bool,
    pub changed: u64,
    pub members: BTreeMap<String, SimMember>,
}

/// The directory and the delta rounds Graph is serving.
#[derive(Debug, Default)]
pub struct EntraModel {
    pub version: u64,
    pub users: BTreeMap<String, SimUser>,
    pub groups: BTreeMap<String, SimGroup>,
    /// What changed, for the seed's trace (taken after each step).
    pub changes: Vec<String>,
    next_id: u64,
    rounds: u64,
    user_pages: BTreeMap<String, DeltaPage<EntraUser>>,
    group_pages: BTreeMap<String, DeltaPage<GroupDelta>>,
}

pub fn user_id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

pub fn group_id(n: u64) -> String {
    format!("00000000-0000-4000-9000-{n:012x}")
}

pub fn domain_infos() -> Vec<DomainInfo> {
    vec![
        DomainInfo {
            name: DOMAINS[0].into(),
            federated: false,
            verified: true,
        },
        DomainInfo {
            name: DOMAINS[1].into(),
            federated: true,
            verified: true,
        },
        DomainInfo {
            name: DOMAINS[2].into(),
            federated: false,
            verified: true,
        },
    ]
}

/// A UPN from a small pool, in a random case (names compare
/// case-insensitively, so collisions with platform names happen).
pub fn random_upn(rng: &mut Rng) -> String {
    let name = rng.pick(&NAMES);
    let domain = rng.pick(&DOMAINS);
    let upn = format!("{name}@{domain}");
    if rng.chance(20) {
        upn.to_uppercase()
    } else {
        upn
    }
}

impl EntraModel {
    fn bump(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    fn note(&mut self, change: String) {
        let version = self.version;
        self.changes.push(format!("  entra v{version}: {change}"));
    }

    /// Whether a UPN is held by an object that is not purged (soft-deleted
    /// users keep theirs), compared case-insensitively.
    pub fn upn_taken(&self, upn: &str) -> bool {
        self.users
            .values()
            .any(|u| u.life != Life::Purged && u.attributes.user_name.eq_ignore_ascii_case(upn))
    }

    pub fn user_is(&self, id: &str, life: Life) -> bool {
        self.users.get(id).is_some_and(|u| u.life == life)
    }

    pub fn group_exists(&self, id: &str) -> bool {
        self.groups.get(id).is_some_and(|g| !g.deleted)
    }

    pub fn active_users(&self) -> Vec<String> {
        self.users
            .iter()
            .filter(|(_, u)| u.life == Life::Active)
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn live_groups(&self) -> Vec<String> {
        self.groups
            .iter()
            .filter(|(_, g)| !g.deleted)
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn create_user(&mut self, attributes: UserAttributes) -> String {
        self.next_id += 1;
        let id = user_id(self.next_id);
        let changed = self.bump();
        self.users.insert(
            id.clone(),
            SimUser {
                attributes,
                life: Life::Active,
                changed,
                restored: false,
            },
        );
        self.note(format!(
            "create user {id} {}",
            self.users[&id].attributes.user_name
        ));
        id
    }

    pub fn update_user(&mut self, id: &str, change: impl FnOnce(&mut UserAttributes)) {
        let changed = self.bump();
        if let Some(user) = self.users.get_mut(id) {
            change(&mut user.attributes);
            user.changed = changed;
            let a = user.attributes.clone();
            self.note(format!(
                "update user {id} {} title={:?} enabled={}",
                a.user_name, a.job_title, a.enabled
            ));
        }
    }

    pub fn set_user_life(&mut self, id: &str, life: Life) {
        let changed = self.bump();
        let Some(user) = self.users.get_mut(id) else {
            return;
        };
        if user.life == Life::SoftDeleted && life == Life::Active {
            user.restored = true;
        }
        user.life = life;
        user.changed = changed;
        self.note(format!("user {id} -> {life:?}"));
        if life == Life::Purged {
            // A purge removes its memberships, which the groups delta reports.
            for group in self.groups.values_mut() {
                if let Some(member) = group.members.get_mut(id).filter(|m| m.present) {
                    member.present = false;
                    member.changed = changed;
                    group.changed = changed;
                }
            }
        }
    }

    pub fn create_group(&mut self, name: String) -> String {
        self.next_id += 1;
        let id = group_id(self.next_id);
        let changed = self.bump();
        self.groups.insert(
            id.clone(),
            SimGroup {
                attributes: GroupAttributes {
                    name,
                    description: None,
                },
                deleted: false,
                changed,
                members: BTreeMap::new(),
            },
        );
        self.note(format!(
            "create group {id} {}",
            self.groups[&id].attributes.name
        ));
        id
    }

    pub fn update_group(&mut self, id: &str, change: impl FnOnce(&mut GroupAttributes)) {
        let changed = self.bump();
        if let Some(group) = self.groups.get_mut(id) {
            change(&mut group.attributes);
            group.changed = changed;
            let name = group.attributes.name.clone();
            self.note(format!("rename group {id} {name}"));
        }
    }

    /// Security groups are deleted for good; the groups it was a member of
    /// lose it.
    pub fn delete_group(&mut self, id: &str) {
        let changed = self.bump();
        self.note(format!("delete group {id}"));
        if let Some(group) = self.groups.get_mut(id) {
            group.deleted = true;
            group.changed = changed;
        }
        for group in self.groups.values_mut() {
            if let Some(member) = group.members.get_mut(id).filter(|m| m.present) {
                member.present = false;
                member.changed = changed;
                group.changed = changed;
            }
        }
    }

    pub fn set_member(&mut self, group: &str, member: &str, kind: MemberKind, present: bool) {
        let changed = self.bump();
        self.note(format!(
            "member {group} {member} {kind:?} present={present}"
        ));
        if let Some(g) = self.groups.get_mut(group) {
            g.changed = changed;
            g.members.insert(
                member.to_owned(),
                SimMember {
                    kind,
                    present,
                    changed,
                },
            );
        }
    }

    /// Whether `inner` is `outer` or nested in it (a new nesting must not
    /// make a cycle).
    pub fn contains_group(&self, outer: &str, inner: &str) -> bool {
        self.transitive(outer).get(inner) == Some(&MemberKind::Group) || outer == inner
    }

    /// Current members of a group, nested groups followed; soft-deleted
    /// users are still members.
    pub fn transitive(&self, group: &str) -> BTreeMap<String, MemberKind> {
        let mut found = BTreeMap::new();
        let mut todo = vec![group.to_owned()];
        let mut visited = BTreeSet::new();
        while let Some(g) = todo.pop() {
            if !visited.insert(g.clone()) {
                continue;
            }
            for (id, member) in self.direct_members(&g) {
                if member == MemberKind::Group {
                    todo.push(id.clone());
                }
                found.insert(id, member);
            }
        }
        found
    }

    /// Present members, as `/groups/{id}/members` lists them (users in a
    /// soft delete are not listed).
    pub fn direct_members(&self, group: &str) -> Vec<(String, MemberKind)> {
        let Some(g) = self.groups.get(group).filter(|g| !g.deleted) else {
            return Vec::new();
        };
        g.members
            .iter()
            .filter(|(_, m)| m.present)
            .filter(|(id, m)| match m.kind {
                MemberKind::User => self.user_is(id, Life::Active),
                _ => self.group_exists(id),
            })
            .map(|(id, m)| (id.clone(), m.kind))
            .collect()
    }

    pub fn entra_user(&self, id: &str) -> Option<EntraUser> {
        self.users
            .get(id)
            .filter(|u| u.life == Life::Active)
            .map(|u| EntraUser {
                guest: false,
                properties: Default::default(),
                id: id.into(),
                attributes: u.attributes.clone(),
            })
    }

    pub fn entra_group(&self, id: &str) -> Option<EntraGroup> {
        self.groups
            .get(id)
            .filter(|g| !g.deleted)
            .map(|g| EntraGroup {
                id: id.into(),
                attributes: g.attributes.clone(),
            })
    }
}

/// How a round's pages are cut and what it repeats.
pub struct PagePlan<'a> {
    pub rng: &'a mut Rng,
    pub duplicate_percent: u64,
}

impl PagePlan<'_> {
    /// Cuts `items` into pages of 1–3 items (an empty round is one empty
    /// page), repeating some items on later pages, and stores them under
    /// their links. Returns the first page.
    fn paginate<T: Clone>(
        &mut self,
        mut items: Vec<DeltaItem<T>>,
        prefix: &str,
        delta_link: String,
        store: &mut BTreeMap<String, DeltaPage<T>>,
    ) -> DeltaPage<T> {
        if !items.is_empty() && self.rng.chance(self.duplicate_percent) {
            let copy = items[self.rng.below(items.len() as u64) as usize].clone();
            items.push(copy);
        }
        let mut chunks: Vec<Vec<DeltaItem<T>>> = Vec::new();
        let mut rest = items.into_iter().peekable();
        while rest.peek().is_some() {
            let size = 1 + self.rng.below(3) as usize;
            chunks.push(rest.by_ref().take(size).collect());
        }
        if chunks.is_empty() {
            chunks.push(Vec::new());
        }
        let count = chunks.len();
        let mut pages: Vec<DeltaPage<T>> = chunks
            .into_iter()
            .enumerate()
            .map(|(i, items)| DeltaPage {
                items,
                continuation: if i + 1 == count {
                    Continuation::Done {
                        delta_link: delta_link.clone(),
                    }
                } else {
                    Continuation::Next(format!("{prefix}/{}", i + 1))
                },
                unusable: Vec::new(),
            })
            .collect();
        for (i, page) in pages.iter().enumerate().skip(1) {
            store.insert(format!("{prefix}/{i}"), page.clone());
        }
        pages.swap_remove(0)
    }
}

impl EntraModel {
    /// A users round since `since` (`None`: the initial round).
    pub fn users_round(&mut self, since: Option<u64>, plan: &mut PagePlan) -> DeltaPage<EntraUser> {
        let items: Vec<DeltaItem<EntraUser>> = self
            .users
            .iter()
            .filter(|(_, u)| match since {
                None => u.life == Life::Active,
                Some(v) => u.changed > v,
            })
            .map(|(id, u)| match u.life {
                Life::Active => DeltaItem::Upsert(EntraUser {
                    guest: false,
                    properties: Default::default(),
                    id: id.as_str().into(),
                    attributes: u.attributes.clone(),
                }),
                life => DeltaItem::Removed {
                    id: id.as_str().into(),
                    permanent: life == Life::Purged,
                },
            })
            .collect();
        self.rounds += 1;
        let prefix = format!("next/users/{}", self.rounds);
        let link = format!("delta/users/{}", self.version);
        plan.paginate(items, &prefix, link, &mut self.user_pages)
    }

    pub fn groups_round(
        &mut self,
        since: Option<u64>,
        plan: &mut PagePlan,
    ) -> DeltaPage<GroupDelta> {
        let mut items = Vec::new();
        for (id, g) in &self.groups {
            let changed = since.is_none_or(|v| g.changed > v);
            if g.deleted {
                if since.is_some() && changed {
                    items.push(DeltaItem::Removed {
                        id: id.as_str().into(),
                        permanent: true,
                    });
                }
                continue;
            }
            if !changed {
                continue;
            }
            let members: Vec<MemberChange> = g
                .members
                .iter()
                .filter(|(_, m)| match since {
                    None => m.present,
                    Some(v) => m.changed > v,
                })
                .map(|(member, m)| MemberChange {
                    member_id: member.as_str().into(),
                    kind: m.kind,
                    removed: !m.present,
                })
                .collect();
            // A large group comes in slices, each with its properties.
            let slices: Vec<Vec<MemberChange>> = if members.len() > 2 {
                let (a, b) = members.split_at(members.len() / 2);
                vec![a.to_vec(), b.to_vec()]
            } else {
                vec![members]
            };
            for slice in slices {
                items.push(DeltaItem::Upsert(GroupDelta {
                    id: id.as_str().into(),
                    group: self.entra_group(id),
                    members: slice,
                }));
            }
        }
        self.rounds += 1;
        let prefix = format!("next/groups/{}", self.rounds);
        let link = format!("delta/groups/{}", self.version);
        plan.paginate(items, &prefix, link, &mut self.group_pages)
    }

    pub fn user_page(&self, link: &str) -> Option<DeltaPage<EntraUser>> {
        self.user_pages.get(link).cloned()
    }

    pub fn group_page(&self, link: &str) -> Option<DeltaPage<GroupDelta>> {
        self.group_pages.get(link).cloned()
    }
}

/// The sequence number a delta link was issued at.
pub fn delta_since(link: &str) -> Option<u64> {
    link.rsplit_once('/')?.1.parse().ok()
}
