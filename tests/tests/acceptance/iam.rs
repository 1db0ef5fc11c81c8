//! IAM enforced (docs/behaviour.md 2.10): the functions run under their template
//! policies, and a policy that lacks what a function needs fails the way
//! AWS would make it fail.

use entra_sync_tests::iam::FunctionRole;
use entra_sync_tests::organisation;
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, LocalStack};
use serde_json::{Value, json};

const TENANT: &str = "acme";

/// Takes `action` out of every inline statement of `binary`'s role (and a
/// statement left with no action out of its policy).
pub(crate) fn without(
    action: &'static str,
    binary: &'static str,
) -> impl Fn(&mut Vec<FunctionRole>) + Send {
    move |roles| {
        let role = roles
            .iter_mut()
            .find(|r| r.binary == binary)
            .expect("a function of the template");
        for policy in &mut role.inline {
            let Some(statements) = policy.document["Statement"].as_array_mut() else {
                continue;
            };
            let mut kept_labels = Vec::new();
            let mut kept = Vec::new();
            for (statement, labels) in statements.drain(..).zip(policy.resource_labels.drain(..)) {
                let mut statement = statement;
                let actions: Vec<Value> = match &statement["Action"] {
                    Value::Array(list) => list.clone(),
                    one => vec![one.clone()],
                };
                let actions: Vec<Value> = actions.into_iter().filter(|a| a != action).collect();
                if actions.is_empty() {
                    continue;
                }
                statement["Action"] = Value::Array(actions);
                kept.push(statement);
                kept_labels.push(labels);
            }
            *statements = kept;
            policy.resource_labels = kept_labels;
        }
    }
}

pub(crate) async fn connected(stack: &mut LocalStack) {
    organisation::seed(&stack.emulator, CONTOSO, 5, 1);
    stack
        .connect(TENANT, CONTOSO_ADMIN, json!({}))
        .await
        .unwrap();
}

#[tokio::test]
async fn given_the_template_policies_then_a_tick_and_a_sync_meet_no_denial() {
    let mut stack = LocalStack::start().await.unwrap();
    connected(&mut stack).await;
    let mut functions = stack.start_sync_functions().await.unwrap();

    let report = stack.tick(&mut functions).await.unwrap();

    assert_eq!(report.messages, 1);
    assert!(report.failed_message_ids.is_empty());
    assert_eq!(
        stack.status_item(TENANT).await.unwrap()["last_sync_result"],
        "ok"
    );
    assert!(stack.gate.take_denials().is_empty());
}

#[tokio::test]
async fn given_the_scheduler_without_send_message_then_the_tick_fails_with_access_denied() {
    let mut stack =
        LocalStack::start_with_roles(Box::new(without("sqs:SendMessage", "sync-scheduler")))
            .await
            .unwrap();
    connected(&mut stack).await;
    let mut functions = stack.start_sync_functions().await.unwrap();

    let tick = stack.tick(&mut functions).await;

    let error = format!("{:#}", tick.expect_err("the scheduler cannot enqueue"));
    assert!(error.contains("AccessDenied"), "{error}");
    let denials = stack.gate.take_denials();
    assert!(
        denials
            .iter()
            .any(|d| d.contains("sync-scheduler is not authorized to perform sqs:SendMessage")),
        "{denials:?}"
    );
}

#[tokio::test]
async fn given_the_worker_without_query_on_the_directory_then_its_run_fails_and_the_status_says_so()
{
    let mut stack =
        LocalStack::start_with_roles(Box::new(without("dynamodb:Query", "sync-worker")))
            .await
            .unwrap();
    connected(&mut stack).await;
    let mut functions = stack.start_sync_functions().await.unwrap();

    let report = stack.tick(&mut functions).await.unwrap();

    // The job is reported failed (SQS delivers it again), never `ok`.
    assert_eq!(report.failed_message_ids.len(), 1, "{report:?}");
    let status = stack.status_item(TENANT).await.unwrap();
    assert_ne!(
        status.get("last_sync_result"),
        Some(&Value::from("ok")),
        "{status:?}"
    );
    let denials = stack.gate.take_denials();
    assert!(
        denials
            .iter()
            .any(|d| d.starts_with("sync-worker is not authorized to perform dynamodb:Query")),
        "{denials:?}"
    );
}

/// The translated template's resources of `kind`.
fn resources_of(template: &Value, kind: &str) -> Vec<(String, Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, r)| (id.clone(), r["Properties"].clone()))
        .collect()
}

#[test]
fn the_template_throttles_its_routes_and_caps_the_public_functions() {
    let template = entra_sync_tests::iam::template::translated_template().unwrap();
    let stages = resources_of(&template, "AWS::ApiGatewayV2::Stage");
    assert_eq!(stages.len(), 1);
    let stage = &stages[0].1;
    let default_rate = stage["DefaultRouteSettings"]["ThrottlingRateLimit"]
        .as_f64()
        .unwrap();
    assert!(
        stage["DefaultRouteSettings"]["ThrottlingBurstLimit"]
            .as_f64()
            .is_some()
    );
    // Every public route (no IAM authoriser) has limits of its own,
    // tighter than the default, and its function a concurrency cap.
    let routes = entra_sync_tests::live::gateway::template_routes().unwrap();
    let public: Vec<_> = routes.iter().filter(|r| !r.iam).collect();
    assert!(public.len() >= 2, "{}", public.len());
    for route in &public {
        let key = format!("{} {}", route.method, route.path);
        let limits = &stage["RouteSettings"][&key];
        let rate = limits["ThrottlingRateLimit"].as_f64().unwrap_or(f64::MAX);
        assert!(
            rate < default_rate,
            "{key}: {limits} is not tighter than the default"
        );
        assert!(
            limits["ThrottlingBurstLimit"].as_f64().is_some(),
            "{key} has no burst limit"
        );
    }
    for (id, function) in resources_of(&template, "AWS::Lambda::Function") {
        let public = [
            "OAuthCallbackFunction",
            "GraphNotificationsFunction",
            "VerifyPasswordFunction",
        ];
        if public.contains(&id.as_str()) {
            assert!(
                function.get("ReservedConcurrentExecutions").is_some(),
                "{id} has no reserved concurrency"
            );
        }
    }
    for (id, mapping) in resources_of(&template, "AWS::Lambda::EventSourceMapping") {
        if mapping["EventSourceArn"].to_string().contains("SyncQueue") {
            let maximum = &mapping["ScalingConfig"]["MaximumConcurrency"];
            assert!(!maximum.is_null(), "{id} has no MaximumConcurrency");
        }
    }
    for name in ["EntraLoginBaseUrl", "GraphBaseUrl", "NotificationUrl"] {
        let pattern = template["Parameters"][name]["AllowedPattern"]
            .as_str()
            .unwrap_or_default();
        assert!(pattern.contains("https://"), "{name}: {pattern:?}");
        assert!(!pattern.contains("http:"), "{name}: {pattern:?}");
    }
}

#[tokio::test]
async fn given_thirty_concurrent_conditional_writes_to_one_item_then_the_stack_admits_exactly_the_limit()
 {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = LocalStack::start().await.unwrap();
    // Through the stack's proxy, as every function's writes go.
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&stack.aws.sdk)
            .endpoint_url(&stack.meter.endpoint)
            .build(),
    );
    let reserve = || {
        client
            .update_item()
            .table_name(&stack.tables.integrations)
            .key("pk", AttributeValue::S("COUNTER#one".into()))
            .key("sk", AttributeValue::S("COUNTER".into()))
            .update_expression("ADD n :one")
            .condition_expression("attribute_not_exists(n) OR n < :limit")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N("5".into()))
            .send()
    };
    let answers = futures::future::join_all((0..30).map(|_| reserve())).await;

    let admitted = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(
        admitted, 5,
        "DynamoDB applies one item's writes one at a time"
    );
    let item = stack
        .item(&stack.tables.integrations, "COUNTER#one", "COUNTER")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item["n"], 5);
}

/// An SDK client holding `binary`'s own credentials, through the stack's
/// gate (what the function itself would be).
async fn secrets_as(stack: &LocalStack, binary: &str) -> aws_sdk_secretsmanager::Client {
    let env = stack.function_env();
    let wanted = entra_sync_tests::iam::identity_variable(binary);
    let value = &env.iter().find(|(k, _)| *k == wanted).unwrap().1;
    let (key, secret) = value.split_once(':').unwrap();
    let region = env
        .iter()
        .find(|(k, _)| k == "AWS_REGION")
        .unwrap()
        .1
        .clone();
    let credentials =
        aws_sdk_secretsmanager::config::Credentials::new(key, secret, None, None, "test");
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new(region))
        .endpoint_url(&stack.meter.endpoint)
        .credentials_provider(credentials)
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

#[tokio::test]
async fn given_a_tenant_grant_then_its_functions_may_delete_it_only_with_the_recovery_window() {
    let stack = LocalStack::start().await.unwrap();
    stack.seed_delegated_grant("acme", CONTOSO).await.unwrap();
    let name = format!("{}tenants/acme", stack.secret_prefix);
    for binary in ["oauth-callback", "sync-worker"] {
        let secrets = secrets_as(&stack, binary).await;
        let forced = secrets
            .delete_secret()
            .secret_id(&name)
            .force_delete_without_recovery(true)
            .send()
            .await;
        assert!(forced.is_err(), "{binary} deleted a grant for good");
        let denials = stack.gate.take_denials();
        assert!(
            denials
                .iter()
                .any(|d| d.contains(binary) && d.contains("TenantGrantsRecoverable")),
            "{denials:?}"
        );
    }
    let secrets = secrets_as(&stack, "sync-worker").await;
    secrets
        .delete_secret()
        .secret_id(&name)
        .send()
        .await
        .expect("a recoverable delete is allowed");
    assert!(stack.gate.take_denials().is_empty());
}
