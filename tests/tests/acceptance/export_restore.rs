//! DESIGN 2.13, the export half, through the real `export-stream` binary
//! against the emulator's deleted items and its on-premises-mastered
//! users: a deleted platform user that comes back is restored, the same
//! Entra object; a user Active Directory masters is a
//! `source_of_authority` problem.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

use super::export::{TENANT, World, field, platform_user, world};
use entra_sync_tests::stack::CONTOSO;

/// Platform user p-ada in platform group p-team, exported, then deleted
/// by the platform with its membership, and the delete exported: the
/// Entra ids (user, group).
async fn exported_then_deleted(w: &mut World) -> (String, String) {
    w.put("USER#p-ada", platform_user("p-ada", "ada@contoso.com"))
        .await;
    w.put(
        "GROUP#p-team",
        json!({"group_id": "p-team", "name": "Team", "source": "local"}),
    )
    .await;
    w.put(
        "MEMBER#p-team#p-ada",
        json!({"group_id": "p-team", "user_id": "p-ada", "source": "local"}),
    )
    .await;
    w.export().await;
    w.export().await;
    let ada = w.item("USER#p-ada").await["entra_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let team = w.item("GROUP#p-team").await["entra_id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.delete("USER#p-ada").await;
    w.delete("MEMBER#p-team#p-ada").await;
    let report = w.export().await;
    assert!(report.retried.is_empty(), "{report:?}");
    assert!(
        w.stack
            .emulator
            .with_tenant(CONTOSO, |t| t.users[&ada].deleted)
    );
    // The first create long past: within minutes of one, a create waits
    // for what that one may have made rather than make a second.
    w.stack
        .aws
        .dynamodb
        .delete_item()
        .table_name(&w.stack.tables.integrations)
        .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
        .key("sk", AttributeValue::S("ENTRA#CREATING#USER#p-ada".into()))
        .send()
        .await
        .unwrap();
    (ada, team)
}

async fn remembered(w: &World) -> Option<serde_json::Map<String, serde_json::Value>> {
    w.stack
        .item(
            &w.stack.tables.integrations,
            &format!("TENANT#{TENANT}"),
            "ENTRA#DELETED#USER#p-ada",
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn given_a_deleted_platform_user_back_then_the_same_entra_user_is_restored_with_its_groups() {
    let mut w = world(json!({})).await;
    let (ada, team) = exported_then_deleted(&mut w).await;
    let start = w.log_len();

    let mut back = platform_user("p-ada", "ada@contoso.com");
    back["job_title"] = json!("Chief Analyst");
    w.put("USER#p-ada", back).await;
    let report = w.export().await;

    assert!(report.retried.is_empty(), "{report:?}");
    let writes: Vec<_> = w
        .writes_since(start)
        .into_iter()
        .map(|r| (r.method, r.path, r.body))
        .collect();
    assert_eq!(
        writes,
        vec![
            (
                "POST".to_owned(),
                format!("/v1.0/directory/deletedItems/{ada}/restore"),
                None
            ),
            (
                "PATCH".to_owned(),
                format!("/v1.0/users/{ada}"),
                Some(json!({"jobTitle": "Chief Analyst"}))
            ),
        ]
    );
    assert_eq!(w.item("USER#p-ada").await["entra_id"], json!(ada));
    let (user, in_team) = w.stack.emulator.with_tenant(CONTOSO, |t| {
        (
            t.users[&ada].clone(),
            t.groups[&team].members.contains(&ada),
        )
    });
    assert!(!user.deleted && user.job_title.as_deref() == Some("Chief Analyst"));
    assert!(in_team, "Entra ID restores its memberships with it");
    assert!(remembered(&w).await.is_none(), "restored: forgotten");
    assert!(w.stack.problem_items(TENANT).await.unwrap().is_empty());
}

#[tokio::test]
async fn given_a_deleted_platform_user_purged_meanwhile_then_its_return_creates_a_new_one() {
    let mut w = world(json!({})).await;
    let (ada, _) = exported_then_deleted(&mut w).await;
    w.stack
        .emulator
        .with_tenant(CONTOSO, |t| t.purge_user(&ada));

    w.put("USER#p-ada", platform_user("p-ada", "ada@contoso.com"))
        .await;
    let report = w.export().await;

    assert!(report.retried.is_empty(), "{report:?}");
    let linked = w.item("USER#p-ada").await["entra_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(linked, ada, "a new Entra user");
    assert!(remembered(&w).await.is_none());
}

#[tokio::test]
async fn given_a_restore_whose_upn_another_user_took_then_the_problem_names_the_holder() {
    let mut w = world(json!({})).await;
    let (ada, _) = exported_then_deleted(&mut w).await;
    // Someone makes another Ada in Entra ID meanwhile.
    w.stack.emulator.with_tenant(CONTOSO, |t| {
        let mut other = t.users[&ada].clone();
        other.id = "0a0a0a0a-0000-4000-8000-000000000a0a".into();
        other.deleted = false;
        other.deleted_at = None;
        other.extensions.clear();
        t.upsert_user(other)
    });

    w.put("USER#p-ada", platform_user("p-ada", "ada@contoso.com"))
        .await;
    w.export().await;

    let problems = w.stack.problem_items(TENANT).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(field(&problems[0], "code"), "entra_object_exists");
    assert_eq!(field(&problems[0], "operation"), "create");
    assert!(
        w.stack
            .emulator
            .with_tenant(CONTOSO, |t| t.users[&ada].deleted),
        "left in deleted items"
    );
    assert!(
        remembered(&w).await.is_some(),
        "tried again once the UPN is free"
    );
}

#[tokio::test]
async fn given_a_user_mastered_on_premises_then_what_ad_owns_is_a_source_of_authority_problem() {
    let mut w = world(json!({})).await;
    w.put("USER#p-ada", platform_user("p-ada", "ada@contoso.com"))
        .await;
    w.export().await;
    w.export().await;
    let ada = w.item("USER#p-ada").await["entra_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Entra Connect takes the account over (a hard match).
    w.stack.emulator.with_tenant(CONTOSO, |t| {
        t.update_user(&ada, |u| {
            u.set_property("onPremisesSyncEnabled", json!(true))
        })
    });
    let start = w.log_len();

    w.set("USER#p-ada", "job_title", AttributeValue::S("Chief".into()))
        .await;
    w.export().await;

    let problems = w.stack.problem_items(TENANT).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = &problems[0];
    assert_eq!(field(problem, "code"), "source_of_authority");
    assert_eq!(field(problem, "operation"), "update");
    assert!(
        field(problem, "reason").contains("job_title (jobTitle)"),
        "{problem:?}"
    );
    assert!(
        !problem.contains_key("next_attempt_at"),
        "waits for a change"
    );
    let writes = w.writes_since(start);
    assert_eq!(writes.len(), 1, "the refused PATCH alone: {writes:?}");
    let job_title = w
        .stack
        .emulator
        .with_tenant(CONTOSO, |t| t.users[&ada].job_title.clone());
    assert_eq!(
        job_title.as_deref(),
        Some("Analyst"),
        "unchanged in Entra ID"
    );
}
