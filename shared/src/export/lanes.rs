//! The lanes of a stream batch: the changes that must go out in order (those
//! of one object, or joined through a membership, a UPN or a manager) share a lane;
//! unrelated ones go out side by side. Lanes never span tenants, and each
//! tenant's lanes run apart from the others' (docs/behaviour.md 2.11: one tenant
//! never holds up another).

use std::collections::HashMap;

use super::DirectoryChange;
use crate::model::TenantId;

/// The changes (by index) that must go out in order: those touching the
/// same user or group, directly or through a membership, or the same UPN,
/// share a lane.
/// Each lane keeps the batch's order; lanes are in order of first change.
pub fn lanes(changes: &[DirectoryChange]) -> Vec<Vec<usize>> {
    use crate::model::directory::ItemKey;
    // Union-find over the objects the changes touch.
    let mut object: HashMap<(TenantId, char, String), usize> = HashMap::new();
    let mut parent: Vec<usize> = Vec::new();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut first_object = Vec::with_capacity(changes.len());
    for change in changes {
        let tenant = change.key.tenant().clone();
        let names = change.user_names();
        let mut touched: Vec<(char, &str)> = match &change.key {
            ItemKey::User { user_id, .. } => vec![('u', user_id)],
            ItemKey::Group { group_id, .. } => vec![('g', group_id)],
            ItemKey::Membership { key, .. } => vec![('g', &key.group_id), ('u', &key.user_id)],
        };
        // A UPN one user frees and another takes: delete before create.
        touched.extend(names.iter().map(|n| ('n', n.as_str())));
        // A user after the manager it names (DESIGN 2.13): exported
        // earlier in the batch, the manager is in Entra ID by then.
        touched.extend(change.manager_id().map(|m| ('u', m)));
        let ids: Vec<usize> = touched
            .into_iter()
            .map(|(kind, id)| {
                *object
                    .entry((tenant.clone(), kind, id.to_owned()))
                    .or_insert_with(|| {
                        parent.push(parent.len());
                        parent.len() - 1
                    })
            })
            .collect();
        for pair in ids.windows(2) {
            let (a, b) = (root(&mut parent, pair[0]), root(&mut parent, pair[1]));
            parent[a] = b;
        }
        first_object.push(ids[0]);
    }
    let mut lane_of_root: HashMap<usize, usize> = HashMap::new();
    let mut lanes: Vec<Vec<usize>> = Vec::new();
    for (index, object) in first_object.into_iter().enumerate() {
        let r = root(&mut parent, object);
        let lane = *lane_of_root.entry(r).or_insert_with(|| {
            lanes.push(Vec::new());
            lanes.len() - 1
        });
        lanes[lane].push(index);
    }
    lanes
}

/// The lanes grouped by tenant, each tenant in order of its first change.
pub fn by_tenant(changes: &[DirectoryChange], lanes: Vec<Vec<usize>>) -> Vec<Vec<Vec<usize>>> {
    let mut position: HashMap<&TenantId, usize> = HashMap::new();
    let mut tenants: Vec<Vec<Vec<usize>>> = Vec::new();
    for lane in lanes {
        let tenant = changes[lane[0]].key.tenant();
        let at = *position.entry(tenant).or_insert_with(|| {
            tenants.push(Vec::new());
            tenants.len() - 1
        });
        tenants[at].push(lane);
    }
    tenants
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ChangeImages;
    use serde_json::{Map, Value, json};

    fn change(tenant: &str, sk: &str) -> DirectoryChange {
        let upn = format!("{}@contoso.com", sk.to_lowercase().replace('#', "."));
        named(tenant, sk, &upn)
    }

    fn named(tenant: &str, sk: &str, upn: &str) -> DirectoryChange {
        let keys: Map<String, Value> = json!({"pk": format!("TENANT#{tenant}"), "sk": sk})
            .as_object()
            .unwrap()
            .clone();
        let (group, user) = sk
            .strip_prefix("MEMBER#")
            .and_then(|m| m.split_once('#'))
            .unwrap_or(("", ""));
        let new = json!({"user_id": sk.strip_prefix("USER#").unwrap_or(user), "group_id": sk.strip_prefix("GROUP#").unwrap_or(group), "user_name": upn, "name": "G", "source": "local"});
        DirectoryChange::parse(
            "INSERT",
            &keys,
            Map::new(),
            new.as_object().unwrap().clone(),
            "1".into(),
            None,
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn unrelated_objects_get_lanes_and_a_membership_joins_its_user_and_group() {
        let changes = vec![
            change("acme", "USER#u1"),      // 0
            change("acme", "USER#u2"),      // 1
            change("acme", "GROUP#g1"),     // 2
            change("acme", "USER#u1"),      // 3: u1 again
            change("acme", "MEMBER#g1#u3"), // 4: joins g1 and u3
            change("acme", "USER#u3"),      // 5
            change("other", "USER#u2"),     // 6: another tenant's u2
            change("acme", "MEMBER#g2#u2"), // 7: joins g2 and u2
        ];
        assert_eq!(
            lanes(&changes),
            vec![vec![0, 3], vec![1, 7], vec![2, 4, 5], vec![6]]
        );
    }

    #[test]
    fn a_user_taking_the_upn_another_frees_waits_for_it() {
        let mut freed = named("acme", "USER#u1", "a@contoso.com");
        if let ChangeImages::User(images) = &mut freed.images {
            images.old = images.new.clone();
            images.new = None;
        }
        freed.action = crate::export::ChangeAction::Removed;
        let changes = vec![
            freed,                                     // 0: u1 (a@contoso.com) deleted
            named("acme", "USER#u2", "A@contoso.com"), // 1: u2 takes it
            change("acme", "USER#u3"),                 // 2: unrelated
            named("acme", "USER#u4", "a@Contoso.com"), // 3: the same UPN again
        ];
        assert_eq!(lanes(&changes), vec![vec![0, 1, 3], vec![2]]);
    }

    #[test]
    fn a_user_goes_after_the_manager_it_names() {
        let mut report = change("acme", "USER#u2");
        if let ChangeImages::User(images) = &mut report.images {
            images.new.as_mut().unwrap().attributes.manager_id = Some("u1".into());
        }
        let changes = vec![
            change("acme", "USER#u1"), // 0: the manager
            change("acme", "USER#u3"), // 1: unrelated
            report,                    // 2: u2, managed by u1
        ];
        assert_eq!(lanes(&changes), vec![vec![0, 2], vec![1]]);
    }

    #[test]
    fn each_tenants_lanes_are_kept_apart_in_order_of_first_change() {
        let changes = vec![
            change("acme", "USER#u1"),  // 0
            change("other", "USER#u1"), // 1
            change("acme", "USER#u2"),  // 2
            change("other", "USER#u1"), // 3
        ];
        let grouped = by_tenant(&changes, lanes(&changes));
        assert_eq!(grouped, vec![vec![vec![0], vec![2]], vec![vec![1, 3]]]);
    }

    #[test]
    fn a_membership_that_links_two_lanes_merges_them_in_order() {
        let changes = vec![
            change("acme", "USER#u1"),      // 0
            change("acme", "GROUP#g1"),     // 1
            change("acme", "MEMBER#g1#u1"), // 2: u1's lane and g1's become one
            change("acme", "USER#u1"),      // 3
        ];
        assert_eq!(lanes(&changes), vec![vec![0, 1, 2, 3]]);
    }
}
