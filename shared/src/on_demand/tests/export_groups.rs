//! The on-demand export of one platform group: created with its exported
//! members, and a deleted one's Entra group gone as the tenant chose.

use serde_json::{Value, json};

use super::export::{Stage, act, linked_pat, put};
use crate::on_demand::SyncResult;
use crate::testing::tenant_config::exporting;

#[tokio::test]
async fn given_a_platform_group_then_it_is_created_with_its_exported_members() {
    let stage = Stage::new();
    put(
        &stage.directory,
        "GROUP#g-1",
        json!({"group_id": "g-1", "name": "Sales", "source": "local"}),
    );
    linked_pat(&stage, json!({}), true);
    put(
        &stage.directory,
        "USER#p-2",
        json!({"user_id": "p-2", "user_name": "lee@contoso.com", "enabled": true, "source": "local"}),
    );
    for user_id in ["p-1", "p-2"] {
        put(
            &stage.directory,
            &format!("MEMBER#g-1#{user_id}"),
            json!({"group_id": "g-1", "user_id": user_id, "source": "local"}),
        );
    }
    let config = exporting().build();

    let dry = stage.group(&config, "g-1", true).await;
    assert_eq!(dry.result, SyncResult::Create, "{dry:#?}");
    assert!(stage.writes().is_empty());

    let answer = stage.group(&config, "g-1", false).await;

    assert_eq!(answer.result, SyncResult::Create, "{answer:#?}");
    let writes = stage.writes();
    assert_eq!(writes[0], "POST group");
    let group_id = stage.item("GROUP#g-1")["entra_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(writes[1..], [format!("ADD {group_id} e-1")]);
    let members: Vec<&Value> = answer
        .modified
        .iter()
        .filter(|c| c.attribute == "member")
        .map(|c| &c.new)
        .collect();
    assert_eq!(members, [&json!("pat@contoso.com")]);
    assert!(
        act(&answer).description.contains("Added 1 member"),
        "{:#?}",
        answer.steps
    );
    let waiting = answer
        .steps
        .iter()
        .any(|s| s.details["waiting"] == json!(["lee@contoso.com"]));
    assert!(waiting, "lee is not exported yet: {:#?}", answer.steps);
}

#[tokio::test]
async fn given_a_deleted_platform_group_then_its_entra_group_goes_as_the_tenant_chose() {
    let stage = Stage::new();
    stage.writer.mark_as_ours("g-9", "acme/GROUP#p-team");

    let kept = exporting().export_group_delete_action("keep").build();
    let answer = stage.group(&kept, "p-team", false).await;
    assert_eq!(answer.result, SyncResult::NoChange, "{answer:#?}");
    assert!(stage.writes().is_empty());

    let config = exporting().build();
    let dry = stage.group(&config, "p-team", true).await;
    assert_eq!(dry.result, SyncResult::Delete, "{dry:#?}");
    assert_eq!(dry.am_id.as_deref(), Some("p-team"));
    assert!(stage.writes().is_empty(), "a dry run deletes nothing");

    let answer = stage.group(&config, "p-team", false).await;
    assert_eq!(answer.result, SyncResult::Delete, "{answer:#?}");
    assert!(answer.written);
    assert_eq!(stage.writes(), ["DELETE group g-9"]);
}
