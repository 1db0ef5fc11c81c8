//! `verify-password` through the real binary, invoked directly with the
//! platform's event, against the emulator's password grant.

use std::time::Duration;

use entra_sync_tests::emulator::Knobs;
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::organisation::{self, user_id, user_upn};
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, LocalStack};
use serde_json::{Value, json};

use crate::aws_proxy;

const TENANT: &str = "acme";
const GOOD: &str = "Correct-Horse-Battery-9";
const WRONG: &str = "Tr0ub4dor&3-wrong";

/// Contoso's users 0..12 with scripted sign-in outcomes; `acme` connected.
async fn world() -> (LocalStack, LambdaFunction) {
    let mut stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 40, 2);
    stack.emulator.with_tenant(CONTOSO, |t| {
        for n in 0..40 {
            t.update_user(&user_id(n), |u| u.password = Some(GOOD.into()));
        }
        // Managed-domain users are those with n % 3 == 0.
        t.update_user(&user_id(3), |u| u.sign_in_outcome = Some(50053));
        t.update_user(&user_id(6), |u| u.sign_in_outcome = Some(50055));
        t.update_user(&user_id(9), |u| u.account_enabled = false);
        t.update_user(&user_id(12), |u| u.sign_in_outcome = Some(50076));
        t.update_user(&user_id(15), |u| u.sign_in_outcome = Some(50079));
        t.update_user(&user_id(18), |u| u.sign_in_outcome = Some(53003));
        t.update_user(&user_id(21), |u| u.password = None);
    });
    stack
        .connect(TENANT, CONTOSO_ADMIN, json!({}))
        .await
        .unwrap();
    stack.put_config("unauthorised", None).await.unwrap();
    let function = LambdaFunction::start("verify-password", &verify_env(&stack))
        .await
        .unwrap();
    (stack, function)
}

/// At most 3 attempts per user in a 2-second window.
fn verify_env(stack: &LocalStack) -> Vec<(String, String)> {
    let mut env = stack.function_env();
    env.push(("VERIFY_MAX_FAILURES".into(), "3".into()));
    env.push(("VERIFY_FAILURE_WINDOW_SECONDS".into(), "2".into()));
    env
}

async fn verify(function: &mut LambdaFunction, event: Value) -> (String, String) {
    let answer = function.invoke(event).await.unwrap().unwrap();
    (
        answer["result"].as_str().unwrap().to_owned(),
        answer["message"].as_str().unwrap().to_owned(),
    )
}

fn event(user: &str, password: &str) -> Value {
    json!({"tenant_id": TENANT, "user_name": user, "password": password})
}

fn password_grants(stack: &LocalStack) -> usize {
    stack
        .emulator
        .requests()
        .iter()
        .filter(|r| r.grant_type.as_deref() == Some("password"))
        .count()
}

#[tokio::test]
async fn given_each_kind_of_account_then_each_result_comes_back() {
    let (stack, mut function) = world().await;
    let cases = [
        (user_upn(0), GOOD, "valid"),
        (user_upn(0).to_uppercase(), GOOD, "valid"),
        (user_upn(27), WRONG, "invalid"),
        (user_upn(3), GOOD, "locked"),
        (user_upn(6), GOOD, "expired"),
        (user_upn(9), GOOD, "disabled"),
        ("nobody@contoso.com".to_owned(), GOOD, "not_found"),
        (user_upn(21), GOOD, "not_supported"),
        (user_upn(12), GOOD, "valid"),
        (user_upn(15), GOOD, "valid"),
        (user_upn(18), GOOD, "valid"),
        ("someone@elsewhere.org".to_owned(), GOOD, "not_found"),
    ];
    for (user, password, expected) in cases {
        let (result, message) = verify(&mut function, event(&user, password)).await;
        assert_eq!(result, expected, "{user}: {message}");
        assert!(!message.is_empty());
    }
    // A federated-domain user: not_supported, and Entra is not asked.
    let before = password_grants(&stack);
    let (result, message) = verify(&mut function, event(&user_upn(1), GOOD)).await;
    assert_eq!(result, "not_supported", "{message}");
    assert!(message.contains("federated"));
    assert_eq!(password_grants(&stack), before);
}

#[tokio::test]
async fn given_bad_input_or_an_unusable_tenant_then_a_clear_result_and_no_crash() {
    let (stack, mut function) = world().await;
    let cases = [
        (
            json!({"user_name": user_upn(0), "password": GOOD}),
            "unavailable",
            "tenant_id is missing",
        ),
        (
            json!({"tenant_id": "a/b", "user_name": user_upn(0), "password": GOOD}),
            "unavailable",
            "tenant_id is invalid",
        ),
        (
            json!({"tenant_id": TENANT, "password": GOOD}),
            "not_found",
            "user_name is missing",
        ),
        (
            json!({"tenant_id": TENANT, "user_name": user_upn(0)}),
            "invalid",
            "password is missing",
        ),
        (
            json!({"tenant_id": TENANT, "user_name": user_upn(0), "password": ""}),
            "invalid",
            "empty",
        ),
        (
            json!({"tenant_id": TENANT, "user_name": "not-an-upn", "password": GOOD}),
            "not_found",
            "not a user principal name",
        ),
        (
            json!({"tenant_id": "nobody", "user_name": user_upn(0), "password": GOOD}),
            "unavailable",
            "no Entra ID integration",
        ),
        (
            json!({"tenant_id": "unauthorised", "user_name": user_upn(0), "password": GOOD}),
            "unavailable",
            "not authorised",
        ),
        (
            json!(["not", "an", "object"]),
            "unavailable",
            "tenant_id is missing",
        ),
    ];
    for (input, expected, fragment) in cases {
        let (result, message) = verify(&mut function, input.clone()).await;
        assert_eq!(result, expected, "{input}: {message}");
        assert!(message.contains(fragment), "{input}: {message}");
    }
    assert_eq!(password_grants(&stack), 0, "none of these reached Entra ID");
}

#[tokio::test]
async fn given_repeated_failures_then_the_throttle_engages_without_asking_entra_and_releases_later()
{
    let (stack, mut function) = world().await;
    let user = user_upn(24);
    for _ in 0..3 {
        assert_eq!(
            verify(&mut function, event(&user, WRONG)).await.0,
            "invalid"
        );
    }
    let before = password_grants(&stack);
    let (result, message) = verify(&mut function, event(&user, GOOD)).await;
    assert_eq!(result, "unavailable", "{message}");
    assert!(message.contains("too many failed attempts"), "{message}");
    assert_eq!(
        password_grants(&stack),
        before,
        "the throttle answers without Entra ID"
    );
    // Another user is not affected.
    assert_eq!(
        verify(&mut function, event(&user_upn(30), GOOD)).await.0,
        "valid"
    );
    // Entra's own lockout was never reached.
    let failed = stack
        .emulator
        .with_tenant(CONTOSO, |t| t.users[&user_id(24)].failed_sign_ins);
    assert_eq!(failed, 3);

    // The failures count until a whole window after the one that held
    // them has ended (a window carries the one before it).
    tokio::time::sleep(std::time::Duration::from_millis(4_200)).await;
    assert_eq!(
        verify(&mut function, event(&user, GOOD)).await.0,
        "valid",
        "released once the failures are a window old"
    );
    // A correct password does not count against the user.
    assert_eq!(
        verify(&mut function, event(&user, WRONG)).await.0,
        "invalid"
    );
    assert_eq!(verify(&mut function, event(&user, GOOD)).await.0, "valid");
}

#[tokio::test]
async fn given_passwords_checked_then_none_reaches_a_log_line_or_the_tables() {
    let (stack, mut function) = world().await;
    let secrets = [GOOD, WRONG, "An0ther-Secret!"];
    for password in secrets {
        verify(&mut function, event(&user_upn(0), password)).await;
        verify(&mut function, event(&user_upn(1), password)).await;
        verify(&mut function, event(&user_upn(12), password)).await;
    }
    let logs = function.settled_logs().await;
    assert!(!logs.is_empty());
    for line in &logs {
        for secret in secrets {
            assert!(
                !line.contains(secret),
                "a password reached the logs: {line}"
            );
        }
        for token in stack.emulator.issued_secrets() {
            assert!(!line.contains(&token), "a token reached the logs: {line}");
        }
    }
    let items = serde_json::to_string(&stack.integration_items().await.unwrap()).unwrap();
    for secret in secrets {
        assert!(!items.contains(secret));
    }
}

#[tokio::test]
async fn given_thirty_wrong_passwords_at_once_then_no_more_than_the_limit_reach_entra() {
    let (stack, _) = world().await;
    // Six sandboxes, as Lambda runs concurrent requests, with a window that
    // outlasts the test, and DynamoDB's one write at a time per item.
    let mut env = verify_env(&stack);
    env.retain(|(name, _)| name != "VERIFY_FAILURE_WINDOW_SECONDS");
    env.push(("VERIFY_FAILURE_WINDOW_SECONDS".into(), "600".into()));
    let dynamodb = aws_proxy::start(&stack.meter.endpoint, None).await;
    env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), dynamodb));
    let mut functions = Vec::new();
    for _ in 0..6 {
        functions.push(
            LambdaFunction::start("verify-password", &env)
                .await
                .unwrap(),
        );
    }
    // Every answer from Entra ID takes a while, so the requests overlap.
    stack.emulator.set_knobs(Knobs {
        latency: Duration::from_millis(300),
        ..Knobs::default()
    });
    let user = user_upn(33);
    let before = password_grants(&stack);

    let answers: Vec<(String, String)> =
        futures::future::join_all(functions.iter_mut().map(|function| {
            let user = user.clone();
            async move {
                let mut answers = Vec::new();
                for _ in 0..5 {
                    answers.push(verify(function, event(&user, WRONG)).await);
                }
                answers
            }
        }))
        .await
        .into_iter()
        .flatten()
        .collect();

    assert_eq!(answers.len(), 30);
    assert!(
        password_grants(&stack) - before <= 3,
        "{} password grants reached Entra ID; the limit is 3",
        password_grants(&stack) - before
    );
    let failed = stack
        .emulator
        .with_tenant(CONTOSO, |t| t.users[&user_id(33)].failed_sign_ins);
    assert!(failed <= 3, "Entra ID counted {failed} failed sign-ins");
    for (result, message) in &answers {
        match result.as_str() {
            "invalid" => {}
            "unavailable" => assert!(message.contains("too many failed attempts"), "{message}"),
            other => panic!("unexpected {other}: {message}"),
        }
    }
}

/// The answer to a request whose AWS call fails: its result and message.
fn assert_fixed_unavailable(answer: &(String, String), message: &str) {
    assert_eq!(answer.0, "unavailable", "{}", answer.1);
    assert_eq!(answer.1, message);
    assert!(!answer.1.contains("arn:") && !answer.1.contains("Exception"));
}

#[tokio::test]
async fn given_a_missing_table_then_unavailable_in_fixed_words_and_entra_is_not_asked() {
    let (stack, _) = world().await;
    let env: Vec<(String, String)> = verify_env(&stack)
        .into_iter()
        .map(|(name, value)| match name.as_str() {
            "INTEGRATIONS_TABLE" => (name, format!("{value}-missing")),
            _ => (name, value),
        })
        .collect();
    let mut function = LambdaFunction::start("verify-password", &env)
        .await
        .unwrap();
    let answer = verify(&mut function, event(&user_upn(0), GOOD)).await;
    assert_fixed_unavailable(&answer, "the tenant's configuration cannot be read");
    assert_eq!(password_grants(&stack), 0);
    // A table its policy does not name is refused, as AWS would refuse it.
    let denials = stack.gate.take_denials();
    assert!(
        !denials.is_empty() && denials.iter().all(|d| d.contains("-missing")),
        "{denials:?}"
    );
}

#[tokio::test]
async fn given_the_attempt_cannot_be_reserved_then_unavailable_in_fixed_words_and_entra_is_not_asked()
 {
    let (stack, _) = world().await;
    let refusing = aws_proxy::start(&stack.meter.endpoint, Some("UpdateItem")).await;
    let mut env = verify_env(&stack);
    env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), refusing));
    let mut function = LambdaFunction::start("verify-password", &env)
        .await
        .unwrap();
    for password in [GOOD, WRONG] {
        let answer = verify(&mut function, event(&user_upn(0), password)).await;
        assert_fixed_unavailable(&answer, "password verification is unavailable right now");
    }
    assert_eq!(password_grants(&stack), 0, "Entra ID is not asked blind");
}

/// Issue 21 §6: a rotated app secret was never read again, so every call
/// failed until the sandboxes recycled. Microsoft's refusal of the secret
/// (AADSTS7000215) makes the function read it again once and retry.
#[tokio::test]
async fn given_the_app_secret_rotated_then_the_function_reads_it_again_and_recovers() {
    let (stack, mut function) = world().await;
    let (result, message) = verify(&mut function, event(&user_upn(0), GOOD)).await;
    assert_eq!(result, "valid", "{message}");

    let rotated = "app~secret.rotated";
    let arn = stack
        .function_env()
        .into_iter()
        .find(|(name, _)| name == "ENTRA_CLIENT_SECRET_ARN")
        .map(|(_, arn)| arn)
        .unwrap();
    stack
        .aws
        .secrets
        .put_secret_value()
        .secret_id(arn)
        .secret_string(rotated)
        .send()
        .await
        .unwrap();
    stack.emulator.state().app.as_mut().unwrap().client_secret = rotated.into();

    let before = password_grants(&stack);
    let (result, message) = verify(&mut function, event(&user_upn(0), GOOD)).await;
    assert_eq!(result, "valid", "{message}");
    assert_eq!(
        password_grants(&stack) - before,
        2,
        "refused once with the old secret, then granted with the new"
    );
}
