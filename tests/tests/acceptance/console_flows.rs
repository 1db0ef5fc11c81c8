//! The console's "what flows" page (issue 22 §11, DESIGN 2.13) in a real
//! browser: mappings compiled with the engine's code before they are
//! saved, scoping filters and deprovisioning choices saved to the config
//! item, and a preview of unsaved changes through `preview_draft`.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use entra_sync_tests::live::TENANT;
use entra_sync_tests::local_aws::LocalAws;
use fantoccini::Locator;
use serde_json::{Map, Value, json};

use super::console_browser::{Browser, LiveProcess, in_live_console};

/// Shown back in an input as typed: the page escapes what it renders.
const FILTER_NAME: &str = r#"first <users> & "co""#;

#[tokio::test]
async fn given_the_live_console_when_an_admin_edits_what_flows_then_only_what_compiles_is_saved_and_a_draft_is_previewed()
 {
    in_live_console(async |live: &mut LiveProcess, b: &Browser| edit_what_flows(live, b).await)
        .await;
}

/// The tenant's config item, read from moto.
async fn config_item(aws: &LocalAws, live: &LiveProcess) -> Map<String, Value> {
    let output = aws
        .dynamodb
        .get_item()
        .table_name(&live.integrations)
        .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
        .key("sk", AttributeValue::S("ENTRA#CONFIG".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    serde_dynamo::from_item(output.item.unwrap()).unwrap()
}

/// Signs in as the emulated Contoso's admin and confirms.
pub(crate) async fn authorise(b: &Browser) {
    b.click("authorise").await.unwrap();
    b.settle("account").await.unwrap();
    b.choose("#account", "admin@contoso.com").await.unwrap();
    b.click("accept").await.unwrap();
    b.settle("confirm").await.unwrap();
    b.click("confirm").await.unwrap();
    b.settle("authorisation").await.unwrap();
    assert_eq!(b.text_of("authorisation").await.unwrap(), "Authorised");
}

async fn edit_what_flows(live: &LiveProcess, b: &Browser) {
    let aws = LocalAws::from_env().await.unwrap();
    b.client.goto(&format!("{}/", live.console)).await.unwrap();
    authorise(b).await;
    // Import Users on, Directory Sync off: only the preview reads Entra ID.
    b.click("import_users").await.unwrap();
    b.click("save").await.unwrap();
    b.settle("flows_link").await.unwrap();
    b.click("flows_link").await.unwrap();
    b.settle("mappings").await.unwrap();
    b.shot("flows-1-page").await.unwrap();
    mappings_compile_before_they_are_saved(&aws, live, b).await;
    let saved_filters = filter_and_choice_are_saved(&aws, live, b).await;
    a_draft_is_previewed_unsaved(&aws, live, b, &saved_filters).await;
}

async fn mappings_compile_before_they_are_saved(aws: &LocalAws, live: &LiveProcess, b: &Browser) {
    // 1. A mapping whose expression does not compile: shown, not saved.
    b.type_into(r#"input[name="m0.target"]"#, "attributes.team")
        .await
        .unwrap();
    b.choose(r#"select[name="m0.source_type"]"#, "expression")
        .await
        .unwrap();
    b.type_into(r#"input[name="m0.source"]"#, "Lower([department])")
        .await
        .unwrap();
    b.click("save_flows").await.unwrap();
    b.settle("mappings_error").await.unwrap();
    let error = b.text_of("mappings_error").await.unwrap();
    assert_eq!(
        error,
        "user_mappings #1 (target `attributes.team`): the expression does not compile: at character 1: unknown function `Lower`"
    );
    // The admin's row is still there to fix, and nothing was written.
    let source = r#"input[name="m0.source"]"#;
    assert_eq!(b.value_of(source).await.unwrap(), "Lower([department])");
    let config = config_item(aws, live).await;
    assert!(!config.contains_key("user_mappings"), "{config:?}");
    b.shot("flows-2-does-not-compile").await.unwrap();

    // 2. Fixed: saved, and shown again from the config.
    b.type_into(source, "ToLower([department])").await.unwrap();
    b.click("save_flows").await.unwrap();
    b.settle("flows_banner").await.unwrap();
    let config = config_item(aws, live).await;
    assert_eq!(
        config["user_mappings"],
        json!([{"direction": "import", "target": "attributes.team", "source_type": "expression",
                "source": "ToLower([department])", "apply": "always"}])
    );
    assert_eq!(b.value_of(source).await.unwrap(), "ToLower([department])");
    assert!(b.client.find(Locator::Id("mappings_error")).await.is_err());
}

/// The saved filters.
async fn filter_and_choice_are_saved(aws: &LocalAws, live: &LiveProcess, b: &Browser) -> Value {
    // 3. A scoping filter and a deprovisioning choice.
    b.type_into(r#"input[name="c0.filter"]"#, FILTER_NAME)
        .await
        .unwrap();
    b.type_into(r#"input[name="c0.attribute"]"#, "userPrincipalName")
        .await
        .unwrap();
    b.choose(r#"select[name="c0.operator"]"#, "starts_with")
        .await
        .unwrap();
    b.type_into(r#"input[name="c0.value"]"#, "user000")
        .await
        .unwrap();
    b.choose(r#"select[name="import_user_out_of_scope_action"]"#, "keep")
        .await
        .unwrap();
    b.click("save_flows").await.unwrap();
    b.settle("flows_banner").await.unwrap();
    let saved_filters = json!([{"name": FILTER_NAME, "clauses": [
        {"attribute": "userPrincipalName", "operator": "starts_with", "value": "user000"}]}]);
    let config = config_item(aws, live).await;
    assert_eq!(config["user_scope_filters"], saved_filters);
    assert_eq!(config["import_user_out_of_scope_action"], "keep");
    assert_eq!(config["guest_users"], "exclude", "the default, written");
    assert_eq!(config["reactivate_on_restore"], true);
    let filter_name = r#"input[name="c0.filter"]"#;
    assert_eq!(b.value_of(filter_name).await.unwrap(), FILTER_NAME);
    b.shot("flows-3-saved").await.unwrap();
    saved_filters
}

async fn a_draft_is_previewed_unsaved(
    aws: &LocalAws,
    live: &LiveProcess,
    b: &Browser,
    saved_filters: &Value,
) {
    let console = format!("{}/", live.console);
    let flows = format!("{}/flows", live.console);
    // 4. Preview a narrower filter without saving it: the ten users
    // user00000–user00009 of the seeded 24 (and Contoso's two accounts).
    b.type_into(r#"input[name="c0.value"]"#, "user0000")
        .await
        .unwrap();
    b.click("preview_flows").await.unwrap();
    b.settle("preview_pending").await.unwrap();
    let config = config_item(aws, live).await;
    assert_eq!(&config["user_scope_filters"], saved_filters, "not saved");
    assert!(config.contains_key("preview_requested_at"));
    let draft = &config["preview_draft"];
    assert_eq!(
        draft["user_scope_filters"][0]["clauses"][0]["value"],
        "user0000"
    );
    assert_eq!(draft["user_mappings"], config["user_mappings"]);
    assert_eq!(draft["import_user_out_of_scope_action"], "keep");
    // The page shows the saved rows again, not the draft.
    b.client.goto(&flows).await.unwrap();
    assert_eq!(
        b.value_of(r#"input[name="c0.value"]"#).await.unwrap(),
        "user000"
    );

    // 5. The worker's tick: the preview's counts are those of the draft.
    b.client.goto(&console).await.unwrap();
    b.click("tick").await.unwrap();
    b.wait_for_text(
        &flows,
        "a full sync now would do: 10 users created</p>",
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    b.shot("flows-4-preview").await.unwrap();
    let config = config_item(aws, live).await;
    assert!(
        !config.contains_key("preview_draft"),
        "removed with the request"
    );
    assert!(!config.contains_key("preview_requested_at"));
}
