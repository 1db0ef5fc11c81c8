//! `oauth-callback` as the platform and the admin's browser see it: the
//! flow of DESIGN 2.12 (admin consent, a signed sign-in, the portal's
//! confirm) through the binary, and every way it stores nothing.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use entra_sync_tests::emulator::{Browser, TokenFailure};
use entra_sync_tests::events::HttpResponse;
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::stack::{
    CONTOSO, CONTOSO_ADMIN, CONTOSO_USER, FABRIKAM, FABRIKAM_ADMIN, LocalStack, PORTAL_RETURN_URL,
    SESSION_BINDING,
};

const TENANT: &str = "acme";
const OTHER_BINDING: &str = "an-attackers-own-portal-session-binding-42";

fn query_of(url: &url::Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

fn token_requests(stack: &LocalStack, grant_type: &str) -> usize {
    stack
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .filter(|r| r.grant_type.as_deref() == Some(grant_type))
        .count()
}

async fn assert_nothing_stored(stack: &LocalStack) {
    assert!(
        stack.tenant_secret(TENANT).await.unwrap().is_none(),
        "no secret may be stored"
    );
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    for field in [
        "authorisation",
        "authorised_at",
        "auth_mode",
        "authorised_by_id",
    ] {
        assert!(config.get(field).is_none(), "{field}: {config:?}");
    }
}

fn assert_portal_error(response: &HttpResponse, reason: &str) {
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

fn browser(upn: &str) -> Browser {
    Browser {
        user_principal_name: Some(upn.into()),
        declines_consent: false,
        interactive: false,
    }
}

/// Authorize, and the browser's trip to the consent endpoint: the query it
/// brings back to the callback.
async fn consent_answer(stack: &mut LocalStack) -> String {
    let start = stack.authorize(TENANT).await.unwrap();
    assert_eq!(start.status, 200, "{start:?}");
    let url = start.json()["authorize_url"].as_str().unwrap().to_owned();
    let back = stack.emulator.browse(&url).await.unwrap().redirect();
    url::Url::parse(&back).unwrap().query().unwrap().to_owned()
}

/// The callback's answer to a consent: where it sends the browser to sign in.
async fn sign_in_url(stack: &mut LocalStack) -> String {
    let query = consent_answer(stack).await;
    let next = stack.callback(&query).await.unwrap();
    assert_eq!(next.status, 302, "{next:?}");
    let location = next.location().unwrap();
    assert!(
        location.as_str().starts_with(&stack.emulator.base_url),
        "{location}"
    );
    location.to_string()
}

/// The sign-in leg: the query the browser brings back with a code.
async fn signed_in_query(stack: &mut LocalStack) -> String {
    let url = sign_in_url(stack).await;
    let back = stack.emulator.browse(&url).await.unwrap().redirect();
    url::Url::parse(&back).unwrap().query().unwrap().to_owned()
}

/// The one-time result a pending callback hands the portal.
fn pending_result(response: &HttpResponse) -> String {
    assert_eq!(response.status, 302, "{response:?}");
    let q = query_of(&response.location().unwrap());
    assert_eq!(
        (q["tenant_id"].as_str(), q["status"].as_str()),
        (TENANT, "pending"),
        "{q:?}"
    );
    q["result"].clone()
}

#[tokio::test]
async fn given_a_global_admin_then_consent_sign_in_and_confirm_authorise_the_tenant_app_only() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();

    let start = stack.authorize(TENANT).await.unwrap();
    assert_eq!(start.status, 200, "{start:?}");
    let body = start.json();
    let authorize_url = url::Url::parse(body["authorize_url"].as_str().unwrap()).unwrap();
    assert!(authorize_url.as_str().starts_with(&stack.emulator.base_url));
    assert_eq!(authorize_url.path(), "/organizations/v2.0/adminconsent");
    // `<GRAPH_BASE_URL>/.default`: the emulator plays Graph (DESIGN 2.12).
    assert_eq!(
        query_of(&authorize_url)["scope"],
        format!("{}/.default", stack.emulator.base_url)
    );
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    let seconds = (expires_at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    assert!((540..=600).contains(&seconds), "state lifetime {seconds}s");

    let pending = stack.walk_browser(authorize_url.as_str()).await.unwrap();
    let result = pending_result(&pending);
    assert_nothing_stored(&stack).await;

    let confirmed = stack
        .confirm(TENANT, &result, SESSION_BINDING)
        .await
        .unwrap();
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let answer = confirmed.json();
    assert_eq!(answer["status"], "authorised");
    assert_eq!(answer["entra_tenant_id"], CONTOSO);
    assert_eq!(answer["authorised_by"], CONTOSO_ADMIN);

    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert_eq!(config["authorisation"], "authorised");
    assert_eq!(config["auth_mode"], "application");
    assert_eq!(config["authorised_by"], CONTOSO_ADMIN);
    assert!(
        config["authorised_by_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36)
    );
    assert_eq!(
        config["entra_tenant_id"], CONTOSO,
        "from the signed id token"
    );
    assert!(config.get("missing_permissions").is_none(), "{config:?}");
    let granted = config["granted_permissions"].as_array().unwrap();
    assert!(
        granted.iter().any(|r| r == "User.ReadWrite.All"),
        "{granted:?}"
    );
    assert_eq!(
        config["label"], "Contoso Entra ID",
        "platform attributes are kept"
    );
    assert!(
        stack.tenant_secret(TENANT).await.unwrap().is_none(),
        "no per-tenant secret"
    );
    assert_eq!(token_requests(&stack, "refresh_token"), 0);
    // Every state and the result are spent.
    let items = stack.integration_items().await.unwrap();
    assert!(
        items
            .iter()
            .all(|i| !i["pk"].as_str().unwrap().starts_with("OAUTH#")),
        "{items:?}"
    );
}

#[tokio::test]
async fn given_a_link_completed_by_another_organisations_admin_and_confirmed_with_another_binding_then_nothing_is_stored()
 {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    // The AM admin's link reaches Fabrikam's administrator, who consents.
    stack.emulator.set_browser(browser(FABRIKAM_ADMIN));
    let pending = stack.authorise_in_browser(TENANT).await.unwrap();
    let result = pending_result(&pending);
    let refused = stack.confirm(TENANT, &result, OTHER_BINDING).await.unwrap();
    assert_eq!(refused.status, 409, "{refused:?}");
    assert_eq!(refused.json()["error"], "binding_mismatch");
    assert_nothing_stored(&stack).await;
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert!(
        config.get("entra_tenant_id").is_none(),
        "Fabrikam left no trace: {config:?}"
    );
    // Used up: the result cannot be tried again, whatever the binding.
    let again = stack
        .confirm(TENANT, &result, SESSION_BINDING)
        .await
        .unwrap();
    assert_eq!(
        (again.status, again.json()["error"].clone()),
        (409, "unknown_result".into())
    );
}

#[tokio::test]
async fn given_a_configured_entra_tenant_then_it_is_the_authority_and_a_delegated_grant_is_dropped()
{
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, Some(CONTOSO)).await.unwrap();
    stack.seed_delegated_grant(TENANT, CONTOSO).await.unwrap();
    let start = stack.authorize(TENANT).await.unwrap();
    let url = url::Url::parse(start.json()["authorize_url"].as_str().unwrap()).unwrap();
    assert_eq!(url.path(), format!("/{CONTOSO}/v2.0/adminconsent"));
    let done = stack.authorise(TENANT).await.unwrap();
    assert_eq!(done.status, 200, "{done:?}");
    let name = format!("{}tenants/{TENANT}", stack.secret_prefix);
    let secret = stack
        .aws
        .secrets
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .unwrap();
    assert!(
        secret.deleted_date().is_some(),
        "the delegated grant is deleted (recoverable for the default window) once the tenant is app-only"
    );
}

#[tokio::test]
async fn given_the_admin_declines_consent_then_consent_declined_and_nothing_is_stored() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    stack.emulator.set_browser(Browser {
        declines_consent: true,
        ..browser(CONTOSO_ADMIN)
    });
    let query = consent_answer(&mut stack).await;
    assert!(query.contains("error=consent_required"), "{query}");
    let done = stack.callback(&query).await.unwrap();
    assert_portal_error(&done, "consent_declined");
    assert_nothing_stored(&stack).await;
    assert_eq!(token_requests(&stack, "client_credentials"), 0);
}

#[tokio::test]
async fn given_a_user_without_an_admin_role_signs_in_after_consent_then_not_admin() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    stack.emulator.set_browser(browser(CONTOSO_ADMIN));
    let url = sign_in_url(&mut stack).await;
    // Another person takes the keyboard before the sign-in leg.
    stack.emulator.set_browser(browser(CONTOSO_USER));
    let back = stack.emulator.browse(&url).await.unwrap().redirect();
    let done = stack
        .callback(url::Url::parse(&back).unwrap().query().unwrap())
        .await
        .unwrap();
    assert_portal_error(&done, "not_admin");
    assert_nothing_stored(&stack).await;
}

#[tokio::test]
async fn given_a_forged_consent_answer_naming_another_tenant_then_tenant_mismatch() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, Some(CONTOSO)).await.unwrap();
    let query = consent_answer(&mut stack).await;
    let state =
        query_of(&url::Url::parse(&format!("https://x/?{query}")).unwrap())["state"].clone();
    let forged = format!(
        "admin_consent=True&tenant={FABRIKAM}&state={}",
        url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
    );
    let done = stack.callback(&forged).await.unwrap();
    assert_portal_error(&done, "tenant_mismatch");
    assert_nothing_stored(&stack).await;
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert_eq!(
        config["entra_tenant_id"], CONTOSO,
        "the configured tenant is kept"
    );
}

#[tokio::test]
async fn given_the_app_disabled_or_its_consent_gone_before_the_sign_in_then_the_reason_says_which()
{
    for (reason, change) in [("app_disabled", true), ("app_not_installed", false)] {
        let mut stack = LocalStack::start().await.unwrap();
        stack.put_config(TENANT, None).await.unwrap();
        let url = sign_in_url(&mut stack).await;
        if change {
            stack.emulator.set_app_disabled(CONTOSO, true);
        } else {
            stack.emulator.revoke_app_consent(CONTOSO);
        }
        // The silent sign-in may need a person now: the browser follows.
        let done = stack.walk_browser(&url).await.unwrap();
        assert_portal_error(&done, reason);
        assert_nothing_stored(&stack).await;
    }
}

#[tokio::test]
async fn given_fewer_permissions_granted_than_needed_then_the_missing_ones_are_named() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    stack.emulator.set_knobs(entra_sync_tests::emulator::Knobs {
        consent_grants_roles: Some(vec!["User.Read.All".into(), "Group.Read.All".into()]),
        ..Default::default()
    });
    let done = stack.authorise(TENANT).await.unwrap();
    assert_eq!(done.status, 200, "{done:?}");
    let missing = done.json()["missing_permissions"].clone();
    assert!(
        missing
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "User.ReadWrite.All"),
        "{missing}"
    );
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert_eq!(config["missing_permissions"], missing);
}

#[tokio::test]
async fn given_a_short_or_missing_session_binding_then_400_and_nothing_pending() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    for body in ["", "{}", r#"{"session_binding": "short"}"#, "not json"] {
        let answer = stack.authorize_with(TENANT, body).await.unwrap();
        assert_eq!(answer.status, 400, "{body:?}: {answer:?}");
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(
            ["invalid_body", "invalid_session_binding"].contains(&error.as_str()),
            "{error}"
        );
    }
    assert!(pending_tenants(&stack).await.is_empty());
}

#[tokio::test]
async fn given_a_replayed_state_then_the_second_callback_is_a_plain_400_and_no_second_exchange() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    let query = signed_in_query(&mut stack).await;
    pending_result(&stack.callback(&query).await.unwrap());
    let replay = stack.callback(&query).await.unwrap();
    assert_eq!(replay.status, 400, "{replay:?}");
    assert!(replay.headers["content-type"].starts_with("text/plain"));
    assert_eq!(
        token_requests(&stack, "authorization_code"),
        1,
        "no exchange for a spent state"
    );
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
    assert_eq!(stack.emulator.requests().len(), 0);
    assert_nothing_stored(&stack).await;
}

/// Ages every pending state past its 10 minutes (moto never deletes TTL
/// items, and real DynamoDB may take hours: the function must check).
async fn age_pending_states(stack: &LocalStack) {
    let items = stack.integration_items().await.unwrap();
    let past = chrono::Utc::now() - chrono::Duration::minutes(11);
    for pending in items
        .iter()
        .filter(|i| i["pk"].as_str().unwrap().starts_with("OAUTH#"))
    {
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
            .update_expression("SET expires_at = :t")
            .expression_attribute_values(
                ":t",
                AttributeValue::S(past.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            )
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn given_an_expired_state_or_result_then_nothing_is_stored() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    let query = signed_in_query(&mut stack).await;
    age_pending_states(&stack).await;
    let response = stack.callback(&query).await.unwrap();
    assert_eq!(response.status, 400, "{response:?}");
    assert_eq!(token_requests(&stack, "authorization_code"), 0);

    let result = pending_result(&stack.authorise_in_browser(TENANT).await.unwrap());
    age_pending_states(&stack).await;
    let late = stack
        .confirm(TENANT, &result, SESSION_BINDING)
        .await
        .unwrap();
    assert_eq!(
        (late.status, late.json()["error"].clone()),
        (409, "expired".into())
    );
    assert_nothing_stored(&stack).await;
}

#[tokio::test]
async fn given_the_token_endpoint_fails_then_token_exchange_failed_and_nothing_stored() {
    for failure in [
        TokenFailure::ServerError,
        TokenFailure::InvalidGrant { code: 54005 },
    ] {
        let mut stack = LocalStack::start().await.unwrap();
        stack.put_config(TENANT, None).await.unwrap();
        let query = signed_in_query(&mut stack).await;
        stack.emulator.set_knobs(entra_sync_tests::emulator::Knobs {
            token_failure: Some(failure.clone()),
            ..Default::default()
        });
        let done = stack.callback(&query).await.unwrap();
        assert_portal_error(&done, "token_exchange_failed");
        assert_nothing_stored(&stack).await;
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
    let query = signed_in_query(&mut stack).await;
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
    let body = serde_json::json!({ "session_binding": SESSION_BINDING }).to_string();
    let mut authorize = async |path: &str| {
        stack
            .post_json("POST /tenants/{tenant_id}/entra/authorize", path, &body)
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
async fn given_two_concurrent_callbacks_with_one_state_then_exactly_one_proceeds() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    let query = signed_in_query(&mut stack).await;
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
    assert_eq!(token_requests(&stack, "authorization_code"), 1);
}

#[tokio::test]
async fn given_a_full_flow_at_debug_level_then_no_secret_reaches_the_logs() {
    let mut stack = LocalStack::start().await.unwrap();
    stack.put_config(TENANT, None).await.unwrap();
    let query = signed_in_query(&mut stack).await;
    let stored: Vec<String> = stack
        .integration_items()
        .await
        .unwrap()
        .into_iter()
        .flat_map(|i| {
            ["pkce_verifier", "nonce", "state"]
                .into_iter()
                .filter_map(move |k| i.get(k).and_then(|v| v.as_str()).map(str::to_owned))
        })
        .collect();
    assert!(
        stored.len() >= 3,
        "the sign-in leg's verifier, nonce and state: {stored:?}"
    );
    let result = pending_result(&stack.callback(&query).await.unwrap());
    assert_eq!(
        stack
            .confirm(TENANT, &result, SESSION_BINDING)
            .await
            .unwrap()
            .status,
        200
    );
    // And the failure paths, which log the most.
    stack.callback(&query).await.unwrap();
    stack.confirm(TENANT, &result, OTHER_BINDING).await.unwrap();
    let query = signed_in_query(&mut stack).await;
    stack.emulator.set_knobs(entra_sync_tests::emulator::Knobs {
        token_failure: Some(TokenFailure::InvalidGrant { code: 70008 }),
        ..Default::default()
    });
    stack.callback(&query).await.unwrap();

    let logs = stack.callback.settled_logs().await;
    assert!(!logs.is_empty());
    let mut secrets = stack.emulator.issued_secrets();
    secrets.extend(stored);
    secrets.push(result);
    secrets.push(SESSION_BINDING.to_owned());
    secrets.push(OTHER_BINDING.to_owned());
    secrets.push(stack.client_secret.clone());
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
