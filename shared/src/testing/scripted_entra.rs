//! A scripted Entra ID for the import engine (its `EntraDirectory` port):
//! delta pages queued by link, lookups by id, and the requests it was
//! sent; with builders of the pages it answers.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::fixtures::tenant_domains;
use crate::import::ports::EntraDirectory;
use crate::model::directory::{GroupAttributes, UserAttributes};
use crate::model::entra::*;

/// Answers to come, per link.
pub(crate) type Script<T> = HashMap<String, VecDeque<Result<DeltaPage<T>, GraphError>>>;

/// Scripted Entra ID: pages by link ("" = initial request).
#[derive(Default)]
pub(crate) struct ScriptedEntra {
    pub(crate) user_pages: Mutex<Script<EntraUser>>,
    pub(crate) group_pages: Mutex<Script<GroupDelta>>,
    /// `/groups/{id}/transitiveMembers` answers, by group.
    pub(crate) transitive: Mutex<HashMap<String, Vec<(crate::model::EntraObjectId, MemberKind)>>>,
    /// `/users/{id}` answers.
    pub(crate) users_by_id: Mutex<HashMap<String, EntraUser>>,
    /// This many `/users/{id}` requests fail first (throttling outlasting
    /// the retries).
    pub(crate) failing_user_lookups: Mutex<u32>,
    /// `/users/{id}` answers that do not read as a user (why).
    pub(crate) invalid_users: Mutex<HashMap<String, String>>,
    pub(crate) requests: Mutex<Vec<String>>,
    /// `/users/{id}/memberOf` answers (group ids), by user.
    pub(crate) groups_of_users: Mutex<HashMap<String, Vec<String>>>,
    /// `/groups/{id}` answers.
    pub(crate) groups_by_id: Mutex<HashMap<String, EntraGroup>>,
    /// Users among Entra ID's deleted items (restorable).
    pub(crate) soft_deleted: Mutex<std::collections::HashSet<String>>,
}

impl ScriptedEntra {
    pub(crate) fn users(&self, link: &str, page: Result<DeltaPage<EntraUser>, GraphError>) {
        self.user_pages
            .lock()
            .unwrap()
            .entry(link.into())
            .or_default()
            .push_back(page);
    }
    pub(crate) fn groups(&self, link: &str, page: Result<DeltaPage<GroupDelta>, GraphError>) {
        self.group_pages
            .lock()
            .unwrap()
            .entry(link.into())
            .or_default()
            .push_back(page);
    }
    pub(crate) fn transitive_members_of(&self, group: &str, members: &[(&str, MemberKind)]) {
        self.transitive.lock().unwrap().insert(
            group.into(),
            members.iter().map(|(id, k)| ((*id).into(), *k)).collect(),
        );
    }
    pub(crate) fn user_lookup(&self, user: EntraUser) {
        self.users_by_id
            .lock()
            .unwrap()
            .insert(user.id.to_string(), user);
    }
    pub(crate) fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl EntraDirectory for ScriptedEntra {
    async fn users_delta(&self, link: Option<&str>) -> Result<DeltaPage<EntraUser>, GraphError> {
        let link = link.unwrap_or("").to_owned();
        self.requests.lock().unwrap().push(format!("users {link}"));
        self.user_pages
            .lock()
            .unwrap()
            .get_mut(&link)
            .and_then(|q| q.pop_front())
            .unwrap_or_else(|| panic!("no users page scripted for {link:?}"))
    }
    async fn groups_delta(&self, link: Option<&str>) -> Result<DeltaPage<GroupDelta>, GraphError> {
        let link = link.unwrap_or("").to_owned();
        self.requests.lock().unwrap().push(format!("groups {link}"));
        self.group_pages
            .lock()
            .unwrap()
            .get_mut(&link)
            .and_then(|q| q.pop_front())
            .unwrap_or_else(|| panic!("no groups page scripted for {link:?}"))
    }
    async fn domains(&self) -> Result<Vec<DomainInfo>, GraphError> {
        self.requests.lock().unwrap().push("domains".into());
        Ok(tenant_domains())
    }
    async fn transitive_members(
        &self,
        group: &str,
    ) -> Result<Vec<(crate::model::EntraObjectId, MemberKind)>, GraphError> {
        Ok(self
            .transitive
            .lock()
            .unwrap()
            .get(group)
            .cloned()
            .unwrap_or_default())
    }
    async fn user(&self, id: &str) -> Result<Option<EntraUser>, GraphError> {
        self.requests.lock().unwrap().push(format!("user {id}"));
        {
            let mut failing = self.failing_user_lookups.lock().unwrap();
            if *failing > 0 {
                *failing -= 1;
                return Err(GraphError::Exhausted {
                    attempts: 5,
                    last: "429 Too Many Requests".into(),
                });
            }
        }
        if let Some(reason) = self.invalid_users.lock().unwrap().get(id) {
            return Err(GraphError::Malformed(reason.clone()));
        }
        // Graph's `/users/{id | userPrincipalName}`.
        let users = self.users_by_id.lock().unwrap();
        Ok(users.get(id).cloned().or_else(|| {
            users
                .values()
                .find(|u| u.attributes.user_name.eq_ignore_ascii_case(id))
                .cloned()
        }))
    }
    async fn is_soft_deleted_user(&self, id: &str) -> Result<bool, GraphError> {
        self.requests
            .lock()
            .unwrap()
            .push(format!("deletedItems {id}"));
        Ok(self.soft_deleted.lock().unwrap().contains(id))
    }
    async fn group(&self, id: &str) -> Result<Option<EntraGroup>, GraphError> {
        self.requests.lock().unwrap().push(format!("group {id}"));
        Ok(self.groups_by_id.lock().unwrap().get(id).cloned())
    }
    async fn groups_of_user(&self, id: &str) -> Result<Vec<String>, GraphError> {
        self.requests.lock().unwrap().push(format!("memberOf {id}"));
        let answers = self.groups_of_users.lock().unwrap();
        Ok(answers.get(id).cloned().unwrap_or_default())
    }
}

/// An enabled user `User {id}` with the UPN given.
pub(crate) fn user(id: &str, upn: &str) -> EntraUser {
    EntraUser {
        guest: false,
        properties: Default::default(),
        id: id.into(),
        attributes: UserAttributes {
            user_name: upn.into(),
            display_name: Some(format!("User {id}")),
            enabled: true,
            ..Default::default()
        },
    }
}

/// A page with more to come at `link`.
pub(crate) fn next(link: &str) -> Continuation {
    Continuation::Next(link.into())
}

/// A round's last page, whose delta link is `link`.
pub(crate) fn done(link: &str) -> Continuation {
    Continuation::Done {
        delta_link: link.into(),
    }
}

/// A users page with nothing unusable in it.
pub(crate) fn users_page(
    items: Vec<DeltaItem<EntraUser>>,
    continuation: Continuation,
) -> Result<DeltaPage<EntraUser>, GraphError> {
    Ok(DeltaPage {
        items,
        continuation,
        unusable: Vec::new(),
    })
}

/// A group `Group {id}` and the users it gained.
pub(crate) fn group(id: &str, members: &[&str]) -> DeltaItem<GroupDelta> {
    DeltaItem::Upsert(GroupDelta {
        id: id.into(),
        group: Some(EntraGroup {
            id: id.into(),
            attributes: GroupAttributes {
                name: format!("Group {id}"),
                description: None,
            },
        }),
        members: members
            .iter()
            .map(|m| MemberChange {
                member_id: (*m).into(),
                kind: MemberKind::User,
                removed: false,
            })
            .collect(),
    })
}

/// A group `Group {id}` and the users that left it (`@removed` members).
pub(crate) fn group_left_by(id: &str, members: &[&str]) -> DeltaItem<GroupDelta> {
    let mut left = group(id, members);
    if let DeltaItem::Upsert(delta) = &mut left {
        for member in &mut delta.members {
            member.removed = true;
        }
    }
    left
}

/// A groups page with nothing unusable in it.
pub(crate) fn groups_page(
    items: Vec<DeltaItem<GroupDelta>>,
    continuation: Continuation,
) -> Result<DeltaPage<GroupDelta>, GraphError> {
    Ok(DeltaPage {
        items,
        continuation,
        unusable: Vec::new(),
    })
}
