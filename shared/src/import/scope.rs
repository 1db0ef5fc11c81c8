//! Which Entra objects a tenant imports (docs/behaviour.md 2.2): `domains` filters
//! users by UPN domain; `import_group_ids` restricts users and groups to
//! those groups and the groups nested in them.

use std::collections::HashSet;

use super::state::{Checkpoint, GroupScope, Mode, Phase};
use super::{DirectoryStore, EntraDirectory, ImportRun, ImportState, Interruption};
use crate::mapping::ScopeFilters;
use crate::model::TenantConfig;
use crate::model::entra::EntraUser;
use crate::model::entra::GraphError;
use crate::model::entra::MemberKind;
use crate::model::tenant_config::GuestUsers;
use crate::ports::TenantConfigs;
use crate::problems::ProblemStore;

/// A fingerprint of the settings that decide the scope: when it changes,
/// the stored delta links no longer describe what we hold.
pub fn fingerprint(config: &TenantConfig) -> String {
    let mut domains = config.domains.clone();
    domains.sort();
    let mut groups: Vec<&str> = config.import_group_ids.iter().map(|g| g.as_str()).collect();
    groups.sort();
    let mut fingerprint = format!(
        "users={};groups={};domains={};import_groups={};guests={}",
        config.import_users,
        config.import_groups,
        domains.join(","),
        groups.join(","),
        config.guest_users.as_str()
    );
    // Only with mappings or filters: tenants without keep their fingerprint
    // (a new one would make their next run full).
    if config.user_mappings.is_some() || config.user_scope_filters.is_some() {
        fingerprint.push(';');
        fingerprint.push_str(&super::flows::ImportFlows::fingerprint(config));
    }
    fingerprint
}

pub struct Scope<'a> {
    pub domains: &'a [String],
    /// `None` = the whole directory.
    pub groups: Option<&'a GroupScope>,
    pub guests: GuestUsers,
    /// `user_scope_filters` (DESIGN 2.13), on top of the rest.
    pub filters: Option<&'a ScopeFilters>,
}

impl<'a> Scope<'a> {
    /// The scope `config` and its scoping `filters` set, within `groups`.
    pub fn of(
        config: &'a TenantConfig,
        filters: &'a ScopeFilters,
        groups: Option<&'a GroupScope>,
    ) -> Self {
        Self {
            domains: &config.domains,
            groups,
            guests: config.guest_users,
            filters: (!filters.is_empty()).then_some(filters),
        }
    }

    /// A guest is in when the tenant includes guests, whatever `domains`
    /// says (every guest's UPN ends in the tenant's own domain, so the
    /// domain list would decide by accident); a member by its UPN's domain.
    pub fn includes_user(&self, user: &EntraUser) -> bool {
        let kind_ok = if user.guest {
            self.guests == GuestUsers::Include
        } else {
            self.domains.is_empty()
                || user
                    .domain()
                    .is_some_and(|d| self.domains.iter().any(|allowed| allowed == &d))
        };
        kind_ok
            && self
                .groups
                .is_none_or(|g| g.users.contains(user.id.as_str()))
            && self
                .filters
                .is_none_or(|f| f.evaluate(user.properties.as_ref()).is_in_scope())
    }

    pub fn includes_group(&self, group_id: &str) -> bool {
        self.groups.is_none_or(|g| g.groups.contains(group_id))
    }
}

/// The scope from the configured groups' transitive members.
pub fn group_scope(
    configured: &[String],
    members: impl IntoIterator<Item = (String, bool)>,
) -> GroupScope {
    let mut scope = GroupScope {
        users: HashSet::new(),
        groups: configured.iter().cloned().collect(),
    };
    for (id, is_group) in members {
        if is_group {
            scope.groups.insert(id);
        } else {
            scope.users.insert(id);
        }
    }
    scope
}

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    /// The group scope: recomputed when a full round starts or when none
    /// is stored. A resumed full round keeps the scope its first pages
    /// were applied under: its end compares with it, and so does the next
    /// delta run when the scope's groups change.
    pub(super) async fn current_group_scope(
        &self,
        checkpoint: &Checkpoint,
    ) -> Result<GroupScope, Interruption> {
        let round_begun = checkpoint.phase != Phase::Users || checkpoint.page > 0;
        if (checkpoint.mode == Mode::Delta || round_begun)
            && let Some(scope) = self.state.group_scope(self.tenant()).await?
        {
            return Ok(scope);
        }
        let scope = self.compute_group_scope().await?;
        self.state.save_group_scope(self.tenant(), &scope).await?;
        Ok(scope)
    }

    pub(super) async fn compute_group_scope(&self) -> Result<GroupScope, Interruption> {
        Ok(read_group_scope(self.entra, self.config).await?)
    }
}

/// The users and groups at or below the tenant's import groups, as Graph
/// lists them now (a configured group Entra ID does not have adds none).
pub(crate) async fn read_group_scope<E: EntraDirectory>(
    entra: &E,
    config: &TenantConfig,
) -> Result<GroupScope, GraphError> {
    let configured: Vec<String> = config
        .import_group_ids
        .iter()
        .map(|g| g.to_string())
        .collect();
    let mut members = Vec::new();
    for group in &configured {
        match entra.transitive_members(group).await {
            Ok(found) => members.extend(
                found
                    .into_iter()
                    .filter(|(_, kind)| *kind != MemberKind::Other)
                    .map(|(id, kind)| (id.to_string(), kind == MemberKind::Group)),
            ),
            Err(GraphError::NotFound) => {
                tracing::warn!(tenant_id = %config.tenant_id, group_id = %group, "a configured import group does not exist in Entra ID");
            }
            Err(err) => return Err(err),
        }
    }
    Ok(group_scope(&configured, members))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, upn: &str) -> EntraUser {
        EntraUser {
            guest: false,
            properties: Default::default(),
            id: id.into(),
            attributes: crate::model::directory::UserAttributes {
                user_name: upn.into(),
                enabled: true,
                ..Default::default()
            },
        }
    }

    #[test]
    fn domains_match_case_insensitively_and_empty_means_all() {
        let domains = vec!["contoso.com".to_owned()];
        let scope = Scope {
            domains: &domains,
            groups: None,
            guests: GuestUsers::Exclude,
            filters: None,
        };
        assert!(scope.includes_user(&user("1", "Ann@CONTOSO.com")));
        assert!(!scope.includes_user(&user("2", "bob@fabrikam.com")));
        let all = Scope {
            domains: &[],
            groups: None,
            guests: GuestUsers::Exclude,
            filters: None,
        };
        assert!(all.includes_user(&user("2", "bob@fabrikam.com")));
    }

    #[test]
    fn group_scope_restricts_users_and_groups() {
        let g = group_scope(&["g1".into()], [("u1".into(), false), ("g2".into(), true)]);
        let scope = Scope {
            domains: &[],
            groups: Some(&g),
            guests: GuestUsers::Exclude,
            filters: None,
        };
        assert!(scope.includes_user(&user("u1", "a@b.c")));
        assert!(!scope.includes_user(&user("u2", "a@b.c")));
        assert!(
            scope.includes_group("g1") && scope.includes_group("g2") && !scope.includes_group("g3")
        );
    }

    #[test]
    fn guests_are_in_only_when_included_whatever_the_domains() {
        let guest = EntraUser {
            guest: true,
            properties: Default::default(),
            ..user("g1", "alice@fabrikam.com")
        };
        let domains = vec!["fabrikam.com".to_owned()];
        let excluding = Scope {
            domains: &domains,
            groups: None,
            guests: GuestUsers::Exclude,
            filters: None,
        };
        assert!(
            !excluding.includes_user(&guest),
            "a matching domain does not let a guest in"
        );
        let including = Scope {
            domains: &["contoso.com".to_owned()],
            groups: None,
            guests: GuestUsers::Include,
            filters: None,
        };
        assert!(
            including.includes_user(&guest),
            "included guests are not filtered by domain"
        );
        let g = group_scope(&["grp".into()], [("other".into(), false)]);
        let grouped = Scope {
            groups: Some(&g),
            ..including
        };
        assert!(
            !grouped.includes_user(&guest),
            "the import groups still apply"
        );
    }

    #[test]
    fn the_guest_choice_is_part_of_the_scope_fingerprint() {
        let attrs = |extra: serde_json::Value| {
            let mut item = serde_json::json!({"tenant_id": "acme"});
            for (k, v) in extra.as_object().unwrap() {
                item[k] = v.clone();
            }
            TenantConfig::from_attributes(item.as_object().unwrap()).unwrap()
        };
        let excluded = attrs(serde_json::json!({}));
        let included = attrs(serde_json::json!({"guest_users": "include"}));
        assert_eq!(excluded.guest_users, GuestUsers::Exclude);
        assert_ne!(fingerprint(&excluded), fingerprint(&included));
        let err = TenantConfig::from_attributes(
            serde_json::json!({"tenant_id": "acme", "guest_users": "all"})
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("guest_users"), "{err}");
    }
}
