//! `oauth-callback` as the platform and the admin's browser see it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use entra_sync_tests::emulator::{Browser, TokenFailure};
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::stack::{
    CONTOSO, CONTOSO_ADMIN, CONTOSO_USER, FABRIKAM_ADMIN, LocalStack, PORTAL_RETURN_URL,
};

const TENANT: &str = "acme";

fn query_of(url: &url::Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

fn token_requests(stack: &LocalStack) -> usize {
    stack
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .count()
}

async fn assert_nothing_stored(stack: &LocalStack) {
    assert!(
        stack.tenant_secret(TENANT).await.unwrap().is_none(),
        "no secret may be stored"
    );
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert!(config.get("authorisation").is_none(), "{config:?}");
    assert!(config.get("authorised_at").is_none(), "{config:?}");
}

fn assert_portal_error(response: &entra_sync_tests::events::HttpResponse, reason: &str) {
    assert_eq!(response.status, 302, "{response:?}");
    let location = response.location().expect("a Location header");
    assert!(
        location.as_str().starts_with(PORTAL_RETURN_URL),
        "{location}"
    );
    let q = query_of(&location);
    assert_eq!(q["tenant_id"], TENANT);
    assert_eq!(q["status"], "error");
    assert_eq!(q["reason"], reason, "{location}");
}

#[tokio::test]
async fn given_a_global_admin_consents_then_tokens_are_stored_and_the_tenant_is_authorised() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();

    let start = stack.authorize(TENANT).await.unwrap();
    assert_eq!(start.status, 200, "{start:?}");
    let body = start.json();
    let authorize_url = url::Url::parse(body["authorize_url"].as_str().unwrap()).unwrap();
    assert!(authorize_url.as_str().starts_with(&stack.emulator.base_url));
    assert_eq!(authorize_url.path(), "/organizations/oauth2/v2.0/authorize");
    let q = query_of(&authorize_url);
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["scope"].split(' ').any(|s| s == "offline_access"));
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    let minutes = (expires_at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    assert!((540..=600).contains(&minutes), "state lifetime {minutes}s");

    let back = stack
        .emulator
        .browse(authorize_url.as_str())
        .await
        .unwrap()
        .redirect();
    let done = stack
        .callback(url::Url::parse(&back).unwrap().query().unwrap())
        .await
        .unwrap();
    assert_eq!(done.status, 302, "{done:?}");
    assert_eq!(
        done.location().unwrap().as_str(),
        format!("{PORTAL_RETURN_URL}?tenant_id={TENANT}&status=authorised")
    );

    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert_eq!(config["authorisation"], "authorised");
    assert_eq!(config["authorised_by"], CONTOSO_ADMIN);
    assert_eq!(
        config["entra_tenant_id"], CONTOSO,
        "filled from the id token"
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(config["authorised_at"].as_str().unwrap()).is_ok()
    );
    assert_eq!(
        config["label"], "Contoso Entra ID",
        "platform attributes are kept"
    );

    let secret = stack.tenant_secret(TENANT).await.unwrap().unwrap();
    assert_eq!(secret["entra_tenant_id"], CONTOSO);
    let refresh_token = secret["refresh_token"].as_str().unwrap();
    assert!(
        stack
            .emulator
            .issued_secrets()
            .iter()
            .any(|t| t == refresh_token)
    );
    assert!(
        secret["scope"]
            .as_str()
            .unwrap()
            .contains("User.ReadWrite.All")
    );
    assert!(secret["authorised_at"].is_string());

    // The state is spent: nothing pending is left behind.
    let pending = stack.integration_items().await.unwrap();
    assert!(
        pending
            .iter()
            .all(|i| !i["pk"].as_str().unwrap().starts_with("OAUTH#")),
        "{pending:?}"
    );
}

#[tokio::test]
async fn given_a_configured_entra_tenant_then_it_is_the_authority_and_a_reauthorisation_succeeds() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, Some(CONTOSO)).await.unwrap();
    let query = stack.sign_in(TENANT).await.unwrap();
    assert!(
        stack
            .emulator
            .requests()
            .iter()
            .any(|r| r.path == format!("/{CONTOSO}/oauth2/v2.0/authorize"))
    );
    assert_eq!(stack.callback(&query).await.unwrap().status, 302);
    let first = stack.tenant_secret(TENANT).await.unwrap().unwrap();

    // Later the grant was lost; the admin authorises again.
    stack
        .aws
        .dynamodb
        .update_item()
        .table_name(&stack.tables.integrations)
        .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
        .key("sk", AttributeValue::S("ENTRA#CONFIG".into()))
        .update_expression("SET authorisation = :r")
        .expression_attribute_values(":r", AttributeValue::S("reauthorisation_required".into()))
        .send()
        .await
        .unwrap();
    let query = stack.sign_in(TENANT).await.unwrap();
    let done = stack.callback(&query).await.unwrap();
    assert!(
        done.location()
            .unwrap()
            .as_str()
            .ends_with("status=authorised")
    );
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert_eq!(config["authorisation"], "authorised");
    let second = stack.tenant_secret(TENANT).await.unwrap().unwrap();
    assert_ne!(
        first["refresh_token"], second["refresh_token"],
        "a new version of the secret"
    );
}

#[tokio::test]
async fn given_the_admin_declines_consent_then_the_portal_hears_access_denied_and_nothing_is_stored()
 {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    stack.emulator.set_browser(Browser {
        user_principal_name: Some(CONTOSO_ADMIN.into()),
        declines_consent: true,
        interactive: false,
    });
    let query = stack.sign_in(TENANT).await.unwrap();
    assert!(query.contains("error=access_denied"), "{query}");
    let done = stack.callback(&query).await.unwrap();
    assert_portal_error(&done, "access_denied");
    assert_nothing_stored(&stack).await;
    assert_eq!(token_requests(&stack), 0);
}

#[tokio::test]
async fn given_a_user_who_is_not_an_admin_then_the_sign_in_fails_without_storing_anything() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    stack.emulator.set_browser(Browser {
        user_principal_name: Some(CONTOSO_USER.into()),
        declines_consent: false,
        interactive: false,
    });
    let query = stack.sign_in(TENANT).await.unwrap();
    let done = stack.callback(&query).await.unwrap();
    assert_portal_error(&done, "access_denied");
    assert_nothing_stored(&stack).await;
}

#[tokio::test]
async fn given_a_replayed_state_then_the_second_callback_is_a_plain_400_and_no_second_exchange() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    let query = stack.sign_in(TENANT).await.unwrap();
    assert_eq!(stack.callback(&query).await.unwrap().status, 302);
    let secret_before = stack.tenant_secret(TENANT).await.unwrap();

    let replay = stack.callback(&query).await.unwrap();
    assert_eq!(replay.status, 400, "{replay:?}");
    assert!(replay.headers["content-type"].starts_with("text/plain"));
    assert!(!replay.body.contains("state") || !replay.body.contains(&query));
    assert_eq!(
        token_requests(&stack),
        1,
        "no token exchange for a spent state"
    );
    assert_eq!(stack.tenant_secret(TENANT).await.unwrap(), secret_before);
}

#[tokio::test]
async fn given_an_unknown_state_then_400_nothing_stored_and_nothing_reflected() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    let marker = "ZZ<script>alert(1)</script>";
    let query = format!(
        "code=anything&state={}",
        url::form_urlencoded::byte_serialize(marker.as_bytes()).collect::<String>()
    );
    let response = stack.callback(&query).await.unwrap();
    assert_eq!(response.status, 400);
    assert!(
        !response.body.contains("ZZ") && !response.body.contains("script"),
        "{}",
        response.body
    );
    assert_eq!(token_requests(&stack), 0);
    assert_nothing_stored(&stack).await;
}

#[tokio::test]
async fn given_an_expired_state_then_400_and_no_token_exchange() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    let query = stack.sign_in(TENANT).await.unwrap();
    // Age the pending state past its 10 minutes (moto never deletes TTL
    // items, and real DynamoDB may take hours: the function must check).
    let items = stack.integration_items().await.unwrap();
    let pending = items
        .iter()
        .find(|i| i["pk"].as_str().unwrap().starts_with("OAUTH#STATE#"))
        .unwrap();
    let past = chrono::Utc::now() - chrono::Duration::minutes(11);
    stack
        .aws
        .dynamodb
        .update_item()
        .table_name(&stack.tables.integrations)
        .key(
            "pk",
            AttributeValue::S(pending["pk"].as_str().unwrap().into()),
        )
        .key(
            "sk",
            AttributeValue::S(pending["sk"].as_str().unwrap().into()),
        )
        .update_expression("SET expires_at = :t, expires_at_epoch = :e")
        .expression_attribute_values(
            ":t",
            AttributeValue::S(past.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        )
        .expression_attribute_values(":e", AttributeValue::N(past.timestamp().to_string()))
        .send()
        .await
        .unwrap();

    let response = stack.callback(&query).await.unwrap();
    assert_eq!(response.status, 400, "{response:?}");
    assert_eq!(token_requests(&stack), 0);
    assert_nothing_stored(&stack).await;
}

#[tokio::test]
async fn given_the_admin_signs_in_to_another_organisation_then_tenant_mismatch_and_nothing_stored()
{
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    stack.emulator.set_browser(Browser {
        user_principal_name: Some(FABRIKAM_ADMIN.into()),
        declines_consent: false,
        interactive: false,
    });
    let query = stack.sign_in(TENANT).await.unwrap();
    // Meanwhile the platform's settings name Contoso as the organisation.
    stack.put_config(TENANT, Some(CONTOSO)).await.unwrap();

    let done = stack.callback(&query).await.unwrap();
    assert_portal_error(&done, "tenant_mismatch");
    assert_nothing_stored(&stack).await;
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert_eq!(
        config["entra_tenant_id"], CONTOSO,
        "the configured tenant is kept"
    );
}

#[tokio::test]
async fn given_the_token_endpoint_fails_then_token_exchange_failed_and_nothing_stored() {
    for failure in [
        TokenFailure::ServerError,
        TokenFailure::InvalidGrant { code: 54005 },
    ] {
        let mut stack = LocalStack::start().await.unwrap();
        stack.put_config(TENANT, None).await.unwrap();
        let query = stack.sign_in(TENANT).await.unwrap();
        stack.emulator.set_knobs(entra_sync_tests::emulator::Knobs {
            token_failure: Some(failure.clone()),
            ..Default::default()
        });
        let done = stack.callback(&query).await.unwrap();
        assert_portal_error(&done, "token_exchange_failed");
        assert_nothing_stored(&stack).await;
        assert_eq!(token_requests(&stack), 1, "{failure:?}");
    }
}

#[tokio::test]
async fn given_missing_query_parameters_then_400_without_state_and_invalid_request_with_one() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    for query in ["", "code=abc", "state=", "error=access_denied"] {
        let response = stack.callback(query).await.unwrap();
        assert_eq!(response.status, 400, "query {query:?}: {response:?}");
    }
    let query = stack.sign_in(TENANT).await.unwrap();
    let state: String = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let only_state = format!(
        "state={}",
        url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
    );
    let done = stack.callback(&only_state).await.unwrap();
    assert_portal_error(&done, "invalid_request");
    assert_nothing_stored(&stack).await;
}

#[tokio::test]
async fn given_an_unknown_route_or_tenant_then_404_json() {
    let mut stack = LocalStack::start().await.unwrap();
    let unknown_route = LocalStack::invoke_http(
        &mut stack.callback,
        "GET",
        "$default",
        "/tenants/acme/secrets",
        "",
    )
    .await
    .unwrap();
    assert_eq!(unknown_route.status, 404);
    assert_eq!(unknown_route.json()["error"], "not_found");

    let unknown_tenant = stack.authorize("nobody").await.unwrap();
    assert_eq!(unknown_tenant.status, 404, "{unknown_tenant:?}");
    assert_eq!(unknown_tenant.headers["content-type"], "application/json");
    let body = unknown_tenant.json();
    assert_eq!(body["error"], "unknown_tenant");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no Entra ID integration")
    );

    let bad_id = LocalStack::invoke_http(
        &mut stack.callback,
        "POST",
        "POST /tenants/{tenant_id}/entra/authorize",
        "/tenants/a%23b/entra/authorize",
        "",
    )
    .await
    .unwrap();
    assert_eq!(bad_id.status, 400);
    assert_eq!(bad_id.json()["error"], "invalid_tenant_id");
}

/// The tenants that pending authorisations were started for, in order.
async fn pending_tenants(stack: &LocalStack) -> Vec<String> {
    let items = stack.integration_items().await.unwrap();
    let mut pending: Vec<String> = items
        .iter()
        .filter(|i| i["pk"].as_str().unwrap().starts_with("OAUTH#STATE#"))
        .map(|i| i["tenant_id"].as_str().unwrap().to_owned())
        .collect();
    pending.sort();
    pending
}

#[tokio::test]
async fn given_a_tenant_id_in_the_path_then_it_is_decoded_as_a_path_segment_and_nothing_else() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    stack.put_config("a+b", None).await.unwrap();
    let mut authorize = async |path: &str| {
        LocalStack::invoke_http(
            &mut stack.callback,
            "POST",
            "POST /tenants/{tenant_id}/entra/authorize",
            path,
            "",
        )
        .await
        .unwrap()
    };
    // `+` is a plus in a path (a space only in a form); escapes decode.
    for path in [
        "/tenants/a+b/entra/authorize",
        "/tenants/a%2Bb/entra/authorize",
        "/tenants/%61cme/entra/authorize",
    ] {
        let answer = authorize(path).await;
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
    }
    // What is not a tenant id is refused, naming what is wrong.
    for (path, named) in [
        ("/tenants/acme&x=1/entra/authorize", "'&'"),
        ("/tenants/acme%26x%3D1/entra/authorize", "'&'"),
        ("/tenants/a%20b/entra/authorize", "' '"),
        ("/tenants/a%zz/entra/authorize", "%zz"),
    ] {
        let answer = authorize(path).await;
        assert_eq!(answer.status, 400, "{path}: {answer:?}");
        assert_eq!(answer.headers["content-type"], "application/json");
        let body = answer.json();
        assert_eq!(body["error"], "invalid_tenant_id", "{path}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(named), "{path}: {message}");
    }
    assert_eq!(pending_tenants(&stack).await, ["a+b", "a+b", "acme"]);
}

#[tokio::test]
async fn given_a_malformed_config_item_then_authorize_names_the_attribute() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    stack
        .aws
        .dynamodb
        .update_item()
        .table_name(&stack.tables.integrations)
        .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
        .key("sk", AttributeValue::S("ENTRA#CONFIG".into()))
        .update_expression("SET entra_tenant_id = :t")
        .expression_attribute_values(":t", AttributeValue::S("contoso".into()))
        .send()
        .await
        .unwrap();
    let response = stack.authorize(TENANT).await.unwrap();
    assert_eq!(response.status, 422, "{response:?}");
    assert!(
        response.json()["message"]
            .as_str()
            .unwrap()
            .contains("entra_tenant_id")
    );
}

#[tokio::test]
async fn given_two_concurrent_callbacks_with_one_state_then_exactly_one_succeeds() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    let query = stack.sign_in(TENANT).await.unwrap();
    let mut other = stack.start_callback_function().await.unwrap();
    let (a, b) = tokio::join!(
        LocalStack::invoke_http(
            &mut stack.callback,
            "GET",
            "GET /entra/callback",
            "/entra/callback",
            &query
        ),
        LocalStack::invoke_http(
            &mut other,
            "GET",
            "GET /entra/callback",
            "/entra/callback",
            &query
        ),
    );
    let mut statuses = [a.unwrap().status, b.unwrap().status];
    statuses.sort();
    assert_eq!(statuses, [302, 400]);
    assert_eq!(token_requests(&stack), 1);
    assert_eq!(
        stack.config_item(TENANT).await.unwrap().unwrap()["authorisation"],
        "authorised"
    );
}

#[tokio::test]
async fn given_a_full_flow_at_debug_level_then_no_secret_reaches_the_logs() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    let query = stack.sign_in(TENANT).await.unwrap();
    let verifier = stack
        .integration_items()
        .await
        .unwrap()
        .into_iter()
        .find_map(|i| {
            i.get("pkce_verifier")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .expect("the pending state holds the verifier");
    assert_eq!(stack.callback(&query).await.unwrap().status, 302);
    // And the failure paths, which log the most.
    stack.callback(&query).await.unwrap();
    let query = stack.sign_in(TENANT).await.unwrap();
    stack.emulator.set_knobs(entra_sync_tests::emulator::Knobs {
        token_failure: Some(TokenFailure::InvalidGrant { code: 70008 }),
        ..Default::default()
    });
    stack.callback(&query).await.unwrap();

    let logs = stack.callback.settled_logs().await;
    assert!(!logs.is_empty());
    let mut secrets = stack.emulator.issued_secrets();
    secrets.push(verifier);
    secrets.push(stack.client_secret.clone());
    assert!(
        secrets.len() >= 6,
        "codes, tokens, verifier and client secret: {}",
        secrets.len()
    );
    for line in &logs {
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "a secret reached the logs: {line}"
            );
        }
        let json: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
        if json["message"]
            .as_str()
            .is_some_and(|m| m.contains("authorised") || m.contains("code exchange"))
        {
            assert_eq!(json["tenant_id"], TENANT, "{line}");
        }
    }
}

#[tokio::test]
async fn given_a_missing_variable_then_the_function_stops_at_start_naming_it() {
    let stack = LocalStack::start().await.unwrap();
    let env: Vec<_> = stack
        .function_env()
        .into_iter()
        .filter(|(k, _)| k != "PORTAL_RETURN_URL")
        .collect();
    let mut function = LambdaFunction::start("oauth-callback", &env).await.unwrap();
    let status = function
        .wait_for_exit(std::time::Duration::from_secs(20))
        .await
        .unwrap();
    assert!(!status.success());
    let logs = function.logs();
    let naming: Vec<_> = logs
        .iter()
        .filter(|l| l.contains("PORTAL_RETURN_URL"))
        .collect();
    assert!(!naming.is_empty(), "{logs:?}");
    assert!(
        serde_json::from_str::<serde_json::Value>(naming[0]).is_ok(),
        "{logs:?}"
    );
}
