//! Simulated organisations of any size for the emulator.

use crate::emulator::{Domain, DomainAuthentication, Emulator, Group, Tenant, User};

pub const MANAGED: &str = "contoso.com";
pub const FEDERATED: &str = "federated.contoso.com";
/// A verified domain of the organisation that the tenant config leaves out.
pub const UNLISTED: &str = "contoso.onmicrosoft.com";

/// A stable GUID-shaped id for the n-th object of a kind. Its first
/// digits are scattered like a real GUID's (the import's buckets split by
/// them); the kind and the number keep it unique.
pub fn object_id(kind: u8, n: usize) -> String {
    let scattered = (n as u32).wrapping_mul(0x9e37_79b1) ^ (u32::from(kind) << 28);
    format!("{scattered:08x}-{kind:04x}-4000-8000-{n:012x}")
}

pub fn user_id(n: usize) -> String {
    object_id(1, n)
}

pub fn group_id(n: usize) -> String {
    object_id(2, n)
}

pub fn user_upn(n: usize) -> String {
    let domain = [MANAGED, FEDERATED, UNLISTED][n % 3];
    format!("user{n:05}@{domain}")
}

/// `users` people over three domains and `groups` security groups: group 0
/// ("All Staff") contains groups 1 and 2 (nested) and every tenth user;
/// every other group holds a slice of the users.
pub fn seed(emulator: &Emulator, tenant_id: &str, users: usize, groups: usize) {
    seed_sized(
        emulator,
        tenant_id,
        users,
        groups,
        (users / groups.max(1)).max(1) * 2,
    );
}

/// `seed` with `members` users in each group but "All Staff".
pub fn seed_sized(
    emulator: &Emulator,
    tenant_id: &str,
    users: usize,
    groups: usize,
    members: usize,
) {
    emulator.with_tenant(tenant_id, |tenant| {
        add_seed_domains(tenant);
        for n in 0..users {
            tenant.upsert_user(seeded_user(n));
        }
        for g in 0..groups {
            tenant.upsert_group(seeded_group(g, users, groups, members));
        }
    });
}

/// A federated domain and an unlisted one beside the tenant's own.
fn add_seed_domains(tenant: &mut Tenant) {
    for (name, authentication) in [
        (FEDERATED, DomainAuthentication::Federated),
        (UNLISTED, DomainAuthentication::Managed),
    ] {
        if !tenant.domains.iter().any(|d| d.name == name) {
            tenant.domains.push(Domain {
                name: name.into(),
                authentication,
                is_verified: true,
                is_default: false,
            });
        }
    }
}

fn seeded_user(n: usize) -> User {
    User {
        id: user_id(n),
        user_principal_name: user_upn(n),
        display_name: Some(format!("User {n:05}")),
        given_name: Some("User".into()),
        surname: Some(format!("{n:05}")),
        mail: Some(user_upn(n)),
        job_title: Some(["Engineer", "Analyst", "Manager"][n % 3].into()),
        department: Some(format!("Dept {}", n % 7)),
        account_enabled: true,
        ..User::default()
    }
}

/// Group 0 is "All Staff" (every tenth user and the first teams); the others
/// are teams of `members` consecutive users.
fn seeded_group(g: usize, users: usize, groups: usize, members: usize) -> Group {
    let mut members: Vec<String> = if g == 0 {
        (0..users).step_by(10).map(user_id).collect()
    } else {
        (0..members)
            .map(|i| user_id((g * users / groups.max(1) + i) % users.max(1)))
            .collect()
    };
    if g == 0 {
        members.extend((1..groups.min(3)).map(group_id));
    }
    members.sort();
    members.dedup();
    Group {
        id: group_id(g),
        display_name: if g == 0 {
            "All Staff".into()
        } else {
            format!("Team {g:03}")
        },
        description: Some(format!("Seeded group {g}")),
        mail_nickname: format!("team{g:03}"),
        security_enabled: true,
        mail_enabled: false,
        members,
        deleted: false,
        extensions: Default::default(),
        ..Group::default()
    }
}
