//! `verify-password` through the real binary: the attempt limit counts per
//! Entra account (docs/behaviour.md 2.11), so neither another AM tenant
//! linked to the same Entra tenant nor the name typed in another case
//! buys more attempts against the one account Entra's smart lockout
//! guards.

use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::organisation::{self, user_id};
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, LocalStack};
use serde_json::{Value, json};

const WRONG: &str = "Tr0ub4dor&3-wrong";
const GOOD: &str = "Correct-Horse-Battery-9";

async fn verify(function: &mut LambdaFunction, tenant: &str, user: &str, password: &str) -> Value {
    function
        .invoke(json!({"tenant_id": tenant, "user_name": user, "password": password}))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn given_two_am_tenants_of_one_entra_tenant_and_the_name_in_other_cases_then_one_budget() {
    let mut stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 30, 2);
    // User 24 is of the managed domain (n % 3 == 0): user00024@contoso.com.
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.update_user(&user_id(24), |u| u.password = Some(GOOD.into()))
    });
    for tenant in ["acme", "acme-eu"] {
        stack
            .connect(tenant, CONTOSO_ADMIN, json!({}))
            .await
            .unwrap();
    }
    let mut env = stack.function_env();
    env.push(("VERIFY_MAX_FAILURES".into(), "3".into()));
    env.push(("VERIFY_FAILURE_WINDOW_SECONDS".into(), "600".into()));
    let mut function = LambdaFunction::start("verify-password", &env)
        .await
        .unwrap();

    let tries = [
        ("acme", "User00024@Contoso.com"),
        ("acme-eu", "  user00024@contoso.com"),
        ("acme", "USER00024@CONTOSO.COM"),
    ];
    for (tenant, name) in tries {
        let answer = verify(&mut function, tenant, name, WRONG).await;
        assert_eq!(answer["result"], "invalid", "{tenant} {name}: {answer}");
    }
    // The fourth, from either tenant, in any case, even with the right
    // password: the account's budget is spent.
    for (tenant, name) in [
        ("acme-eu", "user00024@contoso.com"),
        ("acme", "user00024@CONTOSO.com"),
    ] {
        let answer = verify(&mut function, tenant, name, GOOD).await;
        assert_eq!(answer["result"], "unavailable", "{tenant} {name}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .starts_with("too many failed attempts"),
            "{answer}"
        );
    }
    let failed = stack
        .emulator
        .with_tenant(CONTOSO, |t| t.users[&user_id(24)].failed_sign_ins);
    assert_eq!(failed, 3, "Entra saw only the limit");
}
