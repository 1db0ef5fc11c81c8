//! Row 2: what moto accepts when nothing but writing is done: the items the
//! import writes, in the same proportion, through the same adapter (four
//! BatchWriteItem requests in flight), on fresh tables of the template.

use std::time::Instant;

use entra_sync::import::DirectoryStore;
use entra_sync::import::records::DirectoryWrite;
use entra_sync::model::TenantId;
use entra_sync::model::directory::{
    EntraHash, EntraSync, GroupAttributes, GroupItem, MembershipKey, PasswordMode, Source,
    UserAttributes, UserItem,
};
use entra_sync::store::directory_table::DynamoDirectoryStore;
use entra_sync_tests::local_aws::LocalAws;
use serde_json::{Value, json};

use crate::Sizes;
use crate::import::Shape;

fn user(n: usize) -> UserItem {
    let upn = entra_sync_tests::organisation::user_upn(n);
    let attributes = UserAttributes {
        user_name: upn.clone(),
        display_name: Some(format!("User {n:05}")),
        given_name: Some("User".into()),
        surname: Some(format!("{n:05}")),
        email: Some(upn),
        mobile_phone: None,
        job_title: Some("Engineer".into()),
        department: Some(format!("Dept {}", n % 7)),
        enabled: true,
        attributes: Default::default(),
        manager_id: None,
    };
    UserItem {
        user_id: entra_sync_tests::organisation::user_id(n),
        sync: EntraSync::imported(EntraHash::of_user(&attributes)),
        attributes,
        source: Source::Entra,
        password_mode: Some(PasswordMode::Entra),
    }
}

fn group(n: usize) -> GroupItem {
    let attributes = GroupAttributes {
        name: format!("Team {n:03}"),
        description: Some(format!("Seeded group {n}")),
    };
    GroupItem {
        group_id: entra_sync_tests::organisation::group_id(n),
        sync: EntraSync::imported(EntraHash::of_group(&attributes)),
        attributes,
        source: Source::Entra,
    }
}

/// `items` writes in the proportion of `shape`.
fn writes(shape: &Shape, items: usize) -> Vec<DirectoryWrite> {
    let total = (shape.users + shape.groups + shape.memberships).max(1);
    let users = items * shape.users / total;
    let groups = (items * shape.groups / total).max(1);
    let memberships = items.saturating_sub(users + groups);
    let mut writes: Vec<DirectoryWrite> = (0..users)
        .map(|n| DirectoryWrite::CreateUser(user(n)))
        .collect();
    writes.extend((0..groups).map(|g| DirectoryWrite::CreateGroup(group(g))));
    writes.extend((0..memberships).map(|m| {
        DirectoryWrite::AddMembership(MembershipKey {
            group_id: entra_sync_tests::organisation::group_id(m % groups),
            user_id: entra_sync_tests::organisation::user_id(m / groups),
        })
    }));
    writes
}

pub async fn store_ceiling(sizes: &Sizes, shape: &Shape) -> anyhow::Result<Value> {
    let aws = LocalAws::from_env().await?;
    let prefix = format!("c{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let tables = aws.create_tables(&prefix).await?;
    let store =
        DynamoDirectoryStore::new(aws.dynamodb.clone(), tables.directory, tables.integrations);
    let tenant = TenantId::parse("ceiling")?;
    let all = writes(shape, sizes.ceiling_items);
    let count = all.len();
    println!("\nrow 2: the raw store ceiling, {count} items");
    let started = Instant::now();
    // Page-sized calls, as the import makes them.
    let mut all = all.into_iter().peekable();
    while all.peek().is_some() {
        let chunk: Vec<DirectoryWrite> = all.by_ref().take(500).collect();
        store.apply(&tenant, chunk).await?;
    }
    let wall = started.elapsed().as_secs_f64();
    let figures = json!({
        "items": count,
        "wall_seconds": wall,
        "items_per_second": count as f64 / wall,
        "batch_writes_in_flight": 4,
    });
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(figures)
}
