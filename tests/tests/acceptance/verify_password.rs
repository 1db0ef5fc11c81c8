//! `verify-password` through the real binary, invoked directly with the
//! platform's event, against the emulator's password grant.

use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::organisation::{self, user_id, user_upn};
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, LocalStack};
use serde_json::{Value, json};

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
    let mut env = stack.function_env();
    env.push(("VERIFY_MAX_FAILURES".into(), "3".into()));
    env.push(("VERIFY_FAILURE_WINDOW_SECONDS".into(), "2".into()));
    let function = LambdaFunction::start("verify-password", &env)
        .await
        .unwrap();
    (stack, function)
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

    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    assert_eq!(
        verify(&mut function, event(&user, GOOD)).await.0,
        "valid",
        "released after the window"
    );
    // A success resets the count.
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
