//! `user_name_conflict` (docs/behaviour.md 2.8): an Entra user whose UPN is the
//! user name of a platform user not linked to it is not imported, and an
//! imported user renamed to one keeps its AM state: neither user is
//! overwritten. Names compare case-insensitively.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use super::ports::PlatformUser;
use super::{DirectoryStore, EntraDirectory, ImportRun, ImportState, Interruption};
use crate::model::directory::{UserItem, user_name_key};
use crate::model::entra::EntraUser;
use crate::ports::TenantConfigs;
use crate::problems::ProblemStore;
use crate::problems::{Code, Direction, ObjectKind, Operation, Problem, ProblemKey};

fn hash(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

fn name_key(user_name: &str) -> u64 {
    hash(&user_name_key(user_name))
}

/// The platform users' names, as 64-bit hashes of the lowercased name and
/// of the user id (16 bytes a user), read once per invocation.
#[derive(Debug, Default)]
pub(crate) struct PlatformNames(HashMap<u64, Owner>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    One(u64),
    /// Several platform users have the name (in some case): whoever else
    /// takes it conflicts with one of them.
    Several,
}

impl PlatformNames {
    pub(crate) fn of(users: Vec<PlatformUser>) -> Self {
        let mut names: HashMap<u64, Owner> = HashMap::new();
        for user in &users {
            let owner = Owner::One(hash(&user.user_id));
            names
                .entry(name_key(&user.user_name))
                .and_modify(|o| {
                    if *o != owner {
                        *o = Owner::Several
                    }
                })
                .or_insert(owner);
        }
        Self(names)
    }

    /// Whether a platform user other than `current` (the AM user this
    /// Entra user already is, if any) has this name.
    pub(crate) fn taken(&self, upn: &str, current: Option<&str>) -> bool {
        match self.0.get(&name_key(upn)) {
            None => false,
            Some(Owner::Several) => true,
            Some(Owner::One(owner)) => current.is_none_or(|id| hash(id) != *owner),
        }
    }
}

/// A create, or a rename to another name: what the check is for.
pub(crate) fn needs_check(user: &EntraUser, current: Option<&UserItem>) -> bool {
    current.is_none_or(|c| {
        c.attributes.user_name.trim().to_lowercase()
            != user.attributes.user_name.trim().to_lowercase()
    })
}

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    /// The users among these whose UPN a platform user not linked to them
    /// holds, each named in a problem item. The platform's names are read
    /// only when a user is created or renamed.
    pub(super) async fn name_conflicts(
        &self,
        users: &[&EntraUser],
        existing: &HashMap<String, UserItem>,
    ) -> Result<HashSet<String>, Interruption> {
        let checked: Vec<(&EntraUser, Option<&UserItem>)> = users
            .iter()
            .map(|u| (*u, existing.get(u.id.as_str())))
            .filter(|(u, current)| needs_check(u, *current))
            .collect();
        if checked.is_empty() {
            return Ok(HashSet::new());
        }
        let names = self
            .platform_names
            .get_or_try_init(async || {
                let users = self.directory.platform_user_names(self.tenant()).await?;
                Ok::<_, Interruption>(PlatformNames::of(users))
            })
            .await?;
        let mut conflicts = HashSet::new();
        for (user, current) in checked {
            if names.taken(
                &user.attributes.user_name,
                current.map(|c| c.user_id.as_str()),
            ) {
                self.report_conflict(user, current.is_some()).await?;
                conflicts.insert(user.id.to_string());
            }
        }
        Ok(conflicts)
    }

    /// A user the tenant's mappings cannot map: not imported (an AM user
    /// it is keeps its state) until the mapping or the user is fixed.
    pub(super) async fn report_unmapped(
        &self,
        user: &EntraUser,
        imported: bool,
        error: &crate::import::flows::UserMappingError,
    ) -> Result<(), Interruption> {
        let (operation, kept) = match imported {
            true => (Operation::Update, "; the AM user keeps its previous state"),
            false => (Operation::Create, ""),
        };
        tracing::warn!(entra_id = %user.id, error = %error, "the tenant's mappings cannot map an Entra user; not imported");
        let key = ProblemKey {
            direction: Direction::Import,
            kind: ObjectKind::User,
            object_id: user.id.to_string(),
        };
        let reason = format!("{error}{kept}");
        let problem = Problem::new(key, operation, Code::InvalidObject, reason)
            .displayed_as(user.attributes.user_name.clone());
        self.record_problem(&problem).await?;
        Ok(())
    }

    async fn report_conflict(&self, user: &EntraUser, imported: bool) -> Result<(), Interruption> {
        let upn = &user.attributes.user_name;
        let (operation, kept) = if imported {
            (Operation::Update, "; the AM user keeps its previous state")
        } else {
            (Operation::Create, "")
        };
        let reason = format!(
            "the UPN {upn} is already the user name of a platform user that is not linked to this Entra user (compared case-insensitively); neither is changed{kept}: rename one of them, or link the platform user to this Entra user"
        );
        tracing::warn!(entra_id = %user.id, "an Entra user's UPN is a platform user's name; not imported");
        let key = ProblemKey {
            direction: Direction::Import,
            kind: ObjectKind::User,
            object_id: user.id.to_string(),
        };
        let problem =
            Problem::new(key, operation, Code::UserNameConflict, reason).displayed_as(upn.clone());
        self.record_problem(&problem).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_taken_case_insensitively_unless_by_the_user_itself() {
        let names = PlatformNames::of(vec![PlatformUser {
            user_id: "p1".into(),
            user_name: "Ann@Contoso.com".into(),
        }]);
        assert!(names.taken("ann@contoso.COM", None));
        assert!(names.taken("ann@contoso.com", Some("e1")));
        assert!(!names.taken("ann@contoso.com", Some("p1")), "its own name");
        assert!(!names.taken("bob@contoso.com", None));
    }

    #[test]
    fn a_name_two_platform_users_share_is_taken_even_for_one_of_them() {
        let names = PlatformNames::of(vec![
            PlatformUser {
                user_id: "p1".into(),
                user_name: "ann@contoso.com".into(),
            },
            PlatformUser {
                user_id: "p2".into(),
                user_name: "ANN@contoso.com".into(),
            },
        ]);
        assert!(names.taken("ann@contoso.com", Some("p1")));
    }
}
