//! What must hold once the faults have stopped and the stream and the
//! problem replays have settled (docs/behaviour.md 2.10, 2.11): every
//! platform object is in Entra ID exactly once with its values and
//! memberships, or has a problem that says why it cannot be; nothing was
//! created twice; nothing of the tenant's own was written unless adopted;
//! no administrator was touched; nothing left in Entra ID for an object the
//! platform deleted.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::entra::EntraModel;
use super::world::{DOMAINS, EXPORT_GROUP, World};
use crate::model::TenantConfig;
use crate::model::directory::{
    ENTRA_ORIGIN, GroupItem, MembershipKey, Source, SyncedObject, UserItem,
};
use crate::problems::{Code, ObjectKind, Problem};

/// The state the invariants read, taken once.
pub(super) struct Settled<'a> {
    entra: &'a EntraModel,
    items: &'a BTreeMap<String, Map<String, Value>>,
    problems: HashMap<(ObjectKind, String), &'a Problem>,
    config: &'a TenantConfig,
    /// Platform users and groups in Entra ID as they should be: sort key →
    /// Entra id.
    synced: BTreeMap<String, String>,
    /// Those linked to an Entra object that exists, as they are or not.
    in_entra: BTreeMap<String, String>,
    wrong: Vec<String>,
}

pub fn check(world: &World) -> Vec<String> {
    let entra = world.entra.lock().unwrap();
    let directory = world.directory.lock().unwrap();
    let problems = world.problems.lock().unwrap();
    let mut settled = Settled {
        entra: &entra,
        items: &directory.items,
        problems: problems
            .values()
            .map(|p| ((p.key.kind, p.key.object_id.clone()), p))
            .collect(),
        config: &world.config,
        synced: BTreeMap::new(),
        in_entra: BTreeMap::new(),
        wrong: Vec::new(),
    };
    settled.in_entra = settled.linked();
    settled.created_once();
    settled.tenants_own_untouched();
    settled.users();
    settled.groups();
    settled.memberships();
    settled.nothing_left_behind();
    settled.wrong
}

fn typed<T: serde::de::DeserializeOwned>(item: &Map<String, Value>) -> T {
    serde_json::from_value(Value::Object(item.clone())).expect("a directory item")
}

fn items_of<'a, T: serde::de::DeserializeOwned>(
    items: &'a BTreeMap<String, Map<String, Value>>,
    prefix: &'a str,
) -> impl Iterator<Item = T> + 'a {
    items
        .iter()
        .filter(move |(sk, _)| sk.starts_with(prefix))
        .map(|(_, item)| typed(item))
}

impl Settled<'_> {
    /// Users and groups with an Entra object: linked ones, and imported
    /// users (which are their Entra object).
    fn linked(&self) -> BTreeMap<String, String> {
        let entra = self.entra;
        let users = items_of::<UserItem>(self.items, "USER#")
            .filter_map(|u| {
                Some((
                    format!("USER#{}", u.user_id),
                    u.entra_object_id()?.to_owned(),
                ))
            })
            .filter(|(_, id)| entra.users.contains_key(id));
        let groups = items_of::<GroupItem>(self.items, "GROUP#")
            .filter_map(|g| Some((format!("GROUP#{}", g.group_id), g.sync.entra_id?)))
            .filter(|(_, id)| entra.groups.contains_key(id));
        users.chain(groups).collect()
    }

    fn created_once(&mut self) {
        let mut seen = BTreeSet::new();
        for mark in &self.entra.creates {
            if !seen.insert(mark) {
                self.wrong
                    .push(format!("created twice in Entra ID: {mark}"));
            }
        }
    }

    /// The tenant's own accounts: written only when adopted (an unmarked
    /// one, with `export_adopt_existing`), an administrator never.
    fn tenants_own_untouched(&mut self) {
        for (id, what) in &self.entra.touched {
            // An imported account still in AM is edited for its own AM user
            // only: never adopted for another, never deleted.
            let in_am =
                self.entra.imported.contains(id) && self.items.contains_key(&format!("USER#{id}"));
            let imported = self.entra.imported.contains(id) && what.starts_with("patch");
            let allowed = match self.entra.tenants_accounts.get(id) {
                Some(account) => {
                    let adoptable =
                        account.mark.is_none() && self.config.export_adopt_existing && !in_am;
                    !account.admin && (imported || adoptable)
                }
                None => false,
            };
            if !allowed {
                let account = self.entra.tenants_accounts.get(id);
                self.wrong.push(format!(
                    "the tenant's own Entra object {id} was written ({what}): {account:?}"
                ));
            }
        }
    }

    fn users(&mut self) {
        for user in items_of::<UserItem>(self.items, "USER#") {
            let problem = self
                .problems
                .get(&(ObjectKind::User, user.user_id.clone()))
                .copied();
            match (self.user_state(&user), problem) {
                (Ok(entra_id), None) => {
                    self.synced.insert(format!("USER#{}", user.user_id), entra_id);
                }
                (Ok(_), Some(p)) => self.wrong.push(format!(
                    "user {} is in Entra ID as it should be, yet has a problem: {:?} {}",
                    user.user_id, p.code, p.reason
                )),
                (Err(why), None) => self.wrong.push(format!(
                    "user {} ({}) is not in Entra ID as it should be ({why}) and has no problem",
                    user.user_id, user.attributes.user_name
                )),
                (Err(why), Some(p)) if !self.explains(&user, p) => self.wrong.push(format!(
                    "user {} ({}) is not in Entra ID ({why}); its problem does not say why: {:?} {}",
                    user.user_id, user.attributes.user_name, p.code, p.reason
                )),
                (Err(_), Some(_)) => {}
            }
        }
    }

    /// The Entra user of a platform user, when it is as it should be.
    fn user_state(&self, user: &UserItem) -> Result<String, String> {
        let entra_id = user.entra_object_id().ok_or("not linked")?.to_owned();
        let object = self
            .entra
            .users
            .get(&entra_id)
            .ok_or("linked to no Entra user")?;
        let imported = user.source == Source::Entra;
        if !imported && object.mark.as_deref() != Some(&format!("acme/USER#{}", user.user_id)) {
            return Err(format!("linked to an Entra user marked {:?}", object.mark));
        }
        let a = &user.attributes;
        if (&object.upn, &object.name, object.enabled) != (&a.user_name, &a.display_name, a.enabled)
        {
            return Err(format!("Entra has other values: {object:?}"));
        }
        if !user.agrees_with_entra() {
            return Err("the stored hash is not the values'".into());
        }
        let export_group = self
            .entra
            .groups
            .get(EXPORT_GROUP)
            .expect("the export group");
        let joins = self.config.export_group_id.is_some() && !imported;
        if joins && !export_group.members.contains(&entra_id) {
            return Err("not in the export group".into());
        }
        Ok(entra_id)
    }

    /// Whether the problem names what keeps the user out of Entra ID: its
    /// domain, or an account holding its UPN it may not take over.
    fn explains(&self, user: &UserItem, problem: &Problem) -> bool {
        let upn = &user.attributes.user_name;
        let own = user.entra_object_id();
        let holder_id = self.entra.holder(upn).filter(|id| own != Some(id.as_str()));
        let holder = holder_id.and_then(|id| self.entra.users.get(id));
        // Another AM user's already (the import's): never adopted.
        let imported = holder_id.is_some_and(|id| self.items.contains_key(&format!("USER#{id}")));
        let ours = format!("acme/USER#{}", user.user_id);
        let own_is_admin = own
            .and_then(|id| self.entra.users.get(id))
            .is_some_and(|o| o.admin);
        match (problem.code, holder) {
            (Code::UnverifiedDomain, _) => upn.ends_with(DOMAINS[2]),
            (Code::PrivilegedAccount, _) if own_is_admin => true,
            (Code::PrivilegedAccount, Some(h)) => h.admin,
            // A rename onto a UPN another account holds, or a create
            // onto one it may not take.
            (Code::EntraObjectExists, Some(h)) => {
                own.is_some()
                    || h.mark.as_ref().is_some_and(|m| *m != ours)
                    || (h.mark.is_none() && !self.config.export_adopt_existing)
                    || imported
            }
            _ => false,
        }
    }

    fn groups(&mut self) {
        for group in items_of::<GroupItem>(self.items, "GROUP#") {
            let key = (ObjectKind::Group, group.group_id.clone());
            let state = self.group_state(&group);
            match (state, self.problems.get(&key)) {
                (Ok(entra_id), None) => {
                    self.synced
                        .insert(format!("GROUP#{}", group.group_id), entra_id);
                }
                (state, problem) => self.wrong.push(format!(
                    "group {} is not in Entra ID as it should be ({state:?}; problem {:?})",
                    group.group_id,
                    problem.map(|p| (p.code, &p.reason))
                )),
            }
        }
    }

    fn group_state(&self, group: &GroupItem) -> Result<String, String> {
        let entra_id = group.sync.entra_id.clone().ok_or("not linked")?;
        let object = self
            .entra
            .groups
            .get(&entra_id)
            .ok_or("linked to no Entra group")?;
        if object.mark.as_deref() != Some(&format!("acme/GROUP#{}", group.group_id)) {
            return Err(format!("linked to an Entra group marked {:?}", object.mark));
        }
        if object.name.as_deref() != Some(group.attributes.name.as_str())
            || !group.agrees_with_entra()
        {
            return Err(format!("Entra has other values: {object:?}"));
        }
        Ok(entra_id)
    }
}

impl Settled<'_> {
    /// Each synced group's members are the synced users of its AM
    /// memberships; a membership with an end not in Entra ID has a
    /// problem saying so; the export group holds every linked user.
    fn memberships(&mut self) {
        let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut parked: BTreeSet<String> = BTreeSet::new();
        for sk in self.items.keys().filter(|sk| sk.starts_with("MEMBER#")) {
            let key = MembershipKey::decode(&sk["MEMBER#".len()..]).expect("a membership key");
            let group = self.in_entra.get(&format!("GROUP#{}", key.group_id));
            let user = self.in_entra.get(&format!("USER#{}", key.user_id));
            if let (Some(group), Some(user)) = (group, user) {
                expected
                    .entry(group.clone())
                    .or_default()
                    .insert(user.clone());
            } else {
                parked.insert(key.encode());
            }
        }
        for (&(kind, ref id), problem) in &self.problems {
            if kind == ObjectKind::Membership && !parked.contains(id) {
                self.wrong.push(format!(
                    "membership {id} has a problem it should not have: {:?} {}",
                    problem.code, problem.reason
                ));
            }
        }
        for id in &parked {
            let problem = self.problems.get(&(ObjectKind::Membership, id.clone()));
            if problem.is_none_or(|p| p.code != Code::DependencyMissing) {
                self.wrong.push(format!(
                    "membership {id} has an end not in Entra ID, and no problem saying so ({:?})",
                    problem.map(|p| &p.reason)
                ));
            }
        }
        for (sk, entra_id) in &self.in_entra {
            if sk.starts_with("GROUP#") {
                let members = &self.entra.groups[entra_id].members;
                let wanted = expected.remove(entra_id).unwrap_or_default();
                if *members != wanted {
                    self.wrong.push(format!("the members of {sk} ({entra_id}) in Entra ID are {members:?}, not {wanted:?}"));
                }
            }
        }
        self.export_group();
    }

    fn export_group(&mut self) {
        if self.config.export_group_id.is_none() {
            return;
        }
        // Users the export created or adopted (imported ones never join).
        let linked: BTreeSet<String> = self
            .in_entra
            .iter()
            .filter(|(sk, _)| sk.starts_with("USER#") && self.items[*sk].contains_key(ENTRA_ORIGIN))
            .map(|(_, id)| id.clone())
            .collect();
        let members = &self.entra.groups[EXPORT_GROUP].members;
        if *members != linked {
            self.wrong.push(format!(
                "the export group holds {members:?}, the linked users are {linked:?}"
            ));
        }
    }

    /// Whatever Entra ID holds for a platform object is linked from it:
    /// nothing left behind by a delete, no orphan of a lost answer. A
    /// problem names an object that is still there.
    fn nothing_left_behind(&mut self) {
        let objects = self.entra.users.iter().chain(self.entra.groups.iter());
        for (id, object) in objects {
            let Some(sk) = object.mark.as_deref().and_then(|m| m.strip_prefix("acme/")) else {
                continue;
            };
            if sk.ends_with("old-1") {
                continue;
            }
            let linked = self.items.get(sk).and_then(|i| i.get("entra_id")?.as_str());
            if linked != Some(id.as_str()) {
                self.wrong.push(format!(
                    "Entra {id} is marked for {sk}, which is {}",
                    match linked {
                        None if self.items.contains_key(sk) => "not linked to it".to_owned(),
                        None => "gone from AM".to_owned(),
                        Some(other) => format!("linked to {other}"),
                    }
                ));
            }
        }
        for (&(kind, ref id), problem) in &self.problems {
            let sk = match kind {
                ObjectKind::User => format!("USER#{id}"),
                ObjectKind::Group => format!("GROUP#{id}"),
                ObjectKind::Membership => continue,
            };
            if !self.items.contains_key(&sk) {
                self.wrong.push(format!(
                    "a problem names {sk}, which is gone: {:?} {}",
                    problem.code, problem.reason
                ));
            }
            if problem.display.is_empty() {
                self.wrong.push(format!(
                    "the problem of {sk} names nothing an admin recognises"
                ));
            }
        }
    }
}

/// A summary of Entra ID and the problems, for the trace.
pub fn actual(world: &World) -> String {
    let entra = world.entra.lock().unwrap();
    let users: Vec<String> = entra
        .users
        .iter()
        .map(|(id, u)| format!("{id}={} {:?} {:?}", u.upn, u.name, u.mark))
        .collect();
    let groups: Vec<String> = entra
        .groups
        .iter()
        .map(|(id, g)| format!("{id}={:?} {:?} {:?}", g.name, g.mark, g.members))
        .collect();
    let problems: Vec<String> = world
        .problems
        .lock()
        .unwrap()
        .values()
        .map(|p| {
            format!(
                "{:?} {} {:?}: {}",
                p.key.kind, p.key.object_id, p.code, p.reason
            )
        })
        .collect();
    format!(
        "users {users:?}\n groups {groups:?}\n problems {problems:?}\n Entra's writes {:?}",
        entra.log
    )
}
