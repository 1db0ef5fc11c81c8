//! National clouds (DESIGN 2.12) through the real binaries: a `usgov`
//! tenant authorises (the whole new flow) and syncs beside a `global` one,
//! each tenant's requests reaching only its own cloud's hosts; a tenant of
//! a cloud the deployment does not serve is refused with
//! `cloud_not_supported` at the start, and the worker refuses to sync it
//! without touching the other tenants.

use entra_sync::identity::REQUIRED_APP_ROLES;
use entra_sync_tests::emulator::RequestRecord;
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::stack::{
    CONTOSO, CONTOSO_ADMIN, CONTOSO_US, CONTOSO_US_USER, FABRIKAM, LocalStack, USGOV_CLIENT_ID,
};
use entra_sync_tests::sync::StreamCursor;
use serde_json::{Value, json};

const GLOBAL_TENANT: &str = "acme";
const USGOV_TENANT: &str = "agency";

fn mentions(requests: &[RequestRecord], entra_tenant_id: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.path.contains(entra_tenant_id))
        .count()
}

async fn authorised(stack: &mut LocalStack, tenant: &str) -> Value {
    let done = stack.authorise(tenant).await.unwrap();
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.json()["status"], "authorised", "{}", done.body);
    done.json()
}

#[tokio::test]
async fn given_a_usgov_tenant_beside_a_global_one_then_each_authorises_and_syncs_in_its_own_cloud_only()
 {
    let (mut stack, usgov) = LocalStack::start_with_usgov().await.unwrap();
    stack.put_config(GLOBAL_TENANT, None).await.unwrap();
    let global = authorised(&mut stack, GLOBAL_TENANT).await;
    assert_eq!(global["entra_tenant_id"], CONTOSO);
    stack
        .put_config_with(USGOV_TENANT, None, json!({"cloud": "usgov"}))
        .await
        .unwrap();
    let gov = authorised(&mut stack, USGOV_TENANT).await;
    assert_eq!(gov["entra_tenant_id"], CONTOSO_US);
    let config = stack.config_item(USGOV_TENANT).await.unwrap().unwrap();
    assert_eq!(config["auth_mode"], "application");
    assert_eq!(config["cloud"], "usgov");
    assert_eq!(stack.tenant_secret(USGOV_TENANT).await.unwrap(), None);

    let mut sync = stack.start_sync_functions().await.unwrap();
    let report = stack.tick(&mut sync).await.unwrap();
    assert_eq!(report.messages, 2);
    assert!(report.failed_message_ids.is_empty(), "{report:?}");
    for tenant in [GLOBAL_TENANT, USGOV_TENANT] {
        let status = stack.status_item(tenant).await.unwrap();
        assert_eq!(status["last_sync_result"], "ok", "{tenant}: {status:?}");
    }
    let names = async |tenant: &str| -> Vec<String> {
        let users = stack.directory_of(tenant, "USER#").await.unwrap();
        users
            .iter()
            .filter_map(|u| u["user_name"].as_str().map(str::to_owned))
            .collect()
    };
    let gov_users = names(USGOV_TENANT).await;
    assert!(
        gov_users.iter().any(|u| u == CONTOSO_US_USER),
        "{gov_users:?}"
    );
    assert!(
        !gov_users.iter().any(|u| u == CONTOSO_ADMIN),
        "{gov_users:?}"
    );
    let global_users = names(GLOBAL_TENANT).await;
    assert!(
        global_users.iter().any(|u| u == CONTOSO_ADMIN),
        "{global_users:?}"
    );
    assert!(!global_users.iter().any(|u| u == CONTOSO_US_USER));

    // Each cloud saw only its own organisation: consent, sign-in, keys,
    // code, app tokens and Graph; and every Graph request it had was
    // accepted (a token of the other cloud would have been refused).
    let (global_seen, usgov_seen) = (stack.emulator.requests(), usgov.requests());
    assert_eq!(mentions(&global_seen, CONTOSO_US), 0);
    assert_eq!(mentions(&usgov_seen, CONTOSO), 0);
    assert!(usgov.token_requests(CONTOSO_US, "client_credentials") >= 2);
    assert!(usgov.token_requests(CONTOSO_US, "authorization_code") == 1);
    for (cloud, seen) in [("global", &global_seen), ("usgov", &usgov_seen)] {
        let graph: Vec<_> = seen
            .iter()
            .filter(|r| r.path.starts_with("/v1.0/"))
            .collect();
        assert!(!graph.is_empty(), "{cloud} had no Graph request");
        let refused: Vec<_> = graph.iter().filter(|r| r.status >= 400).collect();
        assert!(refused.is_empty(), "{cloud} refused {refused:?}");
    }
    assert!(stack.gate.take_denials().is_empty());
}

/// The emulator keeps the clouds apart as Microsoft does: an app, a
/// token or the global Graph scope of one cloud is refused by the other.
#[tokio::test]
async fn given_two_clouds_then_neither_accepts_the_others_app_token_or_scope() {
    let (stack, usgov) = LocalStack::start_with_usgov().await.unwrap();
    usgov.consent_app(CONTOSO_US, REQUIRED_APP_ROLES);
    let token = usgov.grant_app_access_token(CONTOSO_US, REQUIRED_APP_ROLES);
    let http = reqwest::Client::new();
    let users = |base: &str| format!("{base}/v1.0/users");
    let at_usgov = http.get(users(&usgov.base_url)).bearer_auth(&token);
    assert_eq!(at_usgov.send().await.unwrap().status(), 200);
    let at_global = http
        .get(users(&stack.emulator.base_url))
        .bearer_auth(&token);
    assert_eq!(at_global.send().await.unwrap().status(), 401);

    let secret = usgov.state().app.clone().unwrap().client_secret;
    let credentials = |base: &str, tenant: &str, scope: &str| {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", USGOV_CLIENT_ID),
            ("client_secret", secret.as_str()),
            ("scope", scope),
        ];
        http.post(format!("{base}/{tenant}/oauth2/v2.0/token"))
            .form(&form)
            .send()
    };
    let global_scope = "https://graph.microsoft.com/.default";
    let wrong_scope = credentials(&usgov.base_url, CONTOSO_US, global_scope);
    let body: Value = wrong_scope.await.unwrap().json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope", "{body}");
    let own_scope = format!("{}/.default", stack.emulator.base_url);
    let foreign_app = credentials(&stack.emulator.base_url, CONTOSO, &own_scope);
    let body: Value = foreign_app.await.unwrap().json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client", "{body}");
    let own = format!("{}/.default", usgov.base_url);
    let accepted = credentials(&usgov.base_url, CONTOSO_US, &own)
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
}

/// A stack serving only `global`; `acme` authorised on Contoso and
/// `bureau` (cloud `china`) configured as if it had been authorised.
async fn stack_with_a_china_tenant() -> LocalStack {
    let stack = LocalStack::start().await.unwrap();
    for tenant in [CONTOSO, FABRIKAM] {
        stack.emulator.consent_app(tenant, REQUIRED_APP_ROLES);
    }
    let authorised = |cloud: &str| {
        json!({"auth_mode": "application", "authorisation": "authorised",
               "authorised_at": "2026-12-07T06:00:00Z", "cloud": cloud})
    };
    stack
        .put_config_with(GLOBAL_TENANT, Some(CONTOSO), authorised("global"))
        .await
        .unwrap();
    stack
        .put_config_with("bureau", Some(FABRIKAM), authorised("china"))
        .await
        .unwrap();
    stack
}

#[tokio::test]
async fn given_a_tenant_of_a_cloud_not_served_then_it_is_refused_cloud_not_supported() {
    let mut stack = stack_with_a_china_tenant().await;
    let start = stack.authorize("bureau").await.unwrap();
    assert_eq!(start.status, 422, "{}", start.body);
    assert_eq!(start.json()["error"], "cloud_not_supported");
    let states = stack.integration_items().await.unwrap();
    assert!(
        !states
            .iter()
            .any(|i| i["pk"].as_str().unwrap_or("").starts_with("OAUTH#")),
        "a state was stored: {states:?}"
    );

    let mut sync = stack.start_sync_functions().await.unwrap();
    let report = stack.tick(&mut sync).await.unwrap();
    assert!(report.failed_message_ids.is_empty(), "{report:?}");
    let refused = stack.status_item("bureau").await.unwrap();
    assert_eq!(refused["last_sync_result"], "error");
    let error = refused["last_sync_error"].as_str().unwrap_or("");
    assert!(
        error.contains("cloud `china`") && error.contains("ENTRA_CLOUDS"),
        "{error}"
    );
    let other = stack.status_item(GLOBAL_TENANT).await.unwrap();
    assert_eq!(other["last_sync_result"], "ok", "{other:?}");
    // Nothing of the refused tenant reached any cloud.
    assert_eq!(mentions(&stack.emulator.requests(), FABRIKAM), 0);
    assert_eq!(
        stack.config_item("bureau").await.unwrap().unwrap()["authorisation"],
        "authorised"
    );
}

#[tokio::test]
async fn given_a_usgov_tenant_then_verify_password_asks_the_usgov_cloud_only() {
    let (stack, usgov) = LocalStack::start_with_usgov().await.unwrap();
    usgov.consent_app(CONTOSO_US, REQUIRED_APP_ROLES);
    let password = "Correct-Horse-Battery-9";
    usgov.with_tenant(CONTOSO_US, |t| {
        t.update_user("c1b2c3d4-0000-4000-8000-000000000002", |u| {
            u.password = Some(password.into())
        })
    });
    let config = json!({"auth_mode": "application", "authorisation": "authorised",
                        "authorised_at": "2026-12-07T06:00:00Z", "cloud": "usgov"});
    stack
        .put_config_with(USGOV_TENANT, Some(CONTOSO_US), config)
        .await
        .unwrap();
    let mut function = LambdaFunction::start("verify-password", &stack.function_env())
        .await
        .unwrap();
    let answer = function
        .invoke(
            json!({"tenant_id": USGOV_TENANT, "user_name": CONTOSO_US_USER, "password": password}),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer["result"], "valid", "{answer}");
    assert_eq!(usgov.token_requests(CONTOSO_US, "password"), 1);
    assert_eq!(mentions(&stack.emulator.requests(), CONTOSO_US), 0);
    assert!(stack.gate.take_denials().is_empty());
}

#[tokio::test]
async fn given_a_usgov_tenant_then_export_creates_its_users_in_the_usgov_cloud_with_that_apps_mark()
{
    let (stack, usgov) = LocalStack::start_with_usgov().await.unwrap();
    usgov.consent_app(CONTOSO_US, REQUIRED_APP_ROLES);
    let config = json!({"auth_mode": "application", "authorisation": "authorised",
                        "authorised_at": "2026-12-07T06:00:00Z", "cloud": "usgov",
                        "export_users": true});
    stack
        .put_config_with(USGOV_TENANT, Some(CONTOSO_US), config)
        .await
        .unwrap();
    let mut export = LambdaFunction::start("export-stream", &stack.function_env())
        .await
        .unwrap();
    let mut cursor = StreamCursor::start(&stack).await.unwrap();
    let upn = "ada@contoso.us";
    entra_sync_tests::export::put_platform_user(&stack, USGOV_TENANT, "p-ada", upn)
        .await
        .unwrap();
    let exported = entra_sync_tests::export::export_pending(&mut cursor, &mut export, 5)
        .await
        .unwrap();
    assert!(exported.retried.is_empty(), "{exported:?}");
    let usgov_mark = entra_sync::graph::bodies::export_mark_property(USGOV_CLIENT_ID);
    let marked = usgov.with_tenant(CONTOSO_US, |t| {
        t.user_by_upn(upn)
            .map(|u| u.extensions.contains_key(&usgov_mark))
    });
    assert_eq!(
        marked,
        Some(true),
        "created in usgov with the usgov app's mark"
    );
    let global_graph = stack.emulator.graph_requests();
    assert!(global_graph.is_empty(), "{global_graph:?}");
    assert!(stack.gate.take_denials().is_empty());
}
