use super::*;

const ISSUER: &str = "http://127.0.0.1:1/sts/123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/run-sync-worker";
const AUDIENCE: &str = "api://AzureADTokenExchange";

fn credential() -> FederatedCredential {
    FederatedCredential {
        issuer: ISSUER.into(),
        subject: ROLE.into(),
        audience: AUDIENCE.into(),
    }
}

fn claims(expires_in: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": ISSUER, "sub": ROLE, "aud": AUDIENCE, "iat": now, "exp": now + expires_in})
}

fn code(assertion: &str) -> Option<u32> {
    verify_assertion(assertion, &[credential()])
        .err()
        .map(|r| r.code)
}

#[test]
fn an_assertion_of_the_trusted_issuer_role_and_audience_is_accepted() {
    assert_eq!(code(&sign(&claims(300))), None);
}

#[test]
fn a_forged_expired_or_foreign_assertion_is_refused_with_entras_code() {
    // Signed with another key (the identity platform's own): forged.
    assert_eq!(
        code(&crate::emulator::jwt::sign(&claims(300))),
        Some(700027)
    );
    assert_eq!(code(&sign(&claims(-10))), Some(700024));
    let mut early = claims(300);
    early["nbf"] = json!(chrono::Utc::now().timestamp() + 120);
    assert_eq!(code(&sign(&early)), Some(700024), "not yet valid");
    for (field, value) in [
        ("sub", "arn:aws:iam::123456789012:role/someone-else"),
        ("aud", "api://other"),
        ("iss", "http://127.0.0.1:1/sts/999999999999"),
    ] {
        let mut other = claims(300);
        other[field] = json!(value);
        assert_eq!(code(&sign(&other)), Some(70021), "{field}");
    }
    assert_eq!(code("not.a-jwt"), Some(50027));
    // No federated credential on the app: nothing is trusted.
    let refusal = verify_assertion(&sign(&claims(300)), &[]).unwrap_err();
    assert_eq!(refusal.code, 70021);
    assert!(refusal.message.contains(ROLE), "{}", refusal.message);
}

#[test]
fn a_token_request_is_checked_as_sts_documents_it() {
    let form = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let good = [
        ("Action", "GetWebIdentityToken"),
        ("Audience.member.1", AUDIENCE),
        ("SigningAlgorithm", "RS256"),
    ];
    let request = TokenRequest::read(&form(&good)).unwrap();
    assert_eq!(request.audiences, vec![AUDIENCE.to_owned()]);
    assert_eq!(request.duration_seconds, 300, "STS's default");
    for bad in [
        vec![
            ("Action", "GetWebIdentityToken"),
            ("SigningAlgorithm", "RS256"),
        ],
        vec![
            ("Action", "GetWebIdentityToken"),
            ("Audience.member.1", AUDIENCE),
            ("SigningAlgorithm", "HS256"),
        ],
        vec![
            ("Action", "GetWebIdentityToken"),
            ("Audience.member.1", AUDIENCE),
            ("SigningAlgorithm", "RS256"),
            ("DurationSeconds", "7200"),
        ],
    ] {
        assert!(TokenRequest::read(&form(&bad)).is_err(), "{bad:?}");
    }
}
