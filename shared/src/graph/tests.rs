use super::*;

fn graph_error_body(code: &str, details: &[&str]) -> String {
    let details: Vec<Value> = details
        .iter()
        .map(|d| serde_json::json!({ "code": d }))
        .collect();
    serde_json::json!({
        "error": { "code": code, "message": "text", "details": details }
    })
    .to_string()
}

fn refusal(status: u16, text: &str) -> GraphError {
    match interpret_answer(StatusCode::from_u16(status).unwrap(), None, text) {
        Exchange::Refused(error) => error,
        other => panic!("expected a refusal for {status}, got {other:?}"),
    }
}

#[test]
fn given_a_success_then_its_json_body_or_null_is_the_answer() {
    match interpret_answer(StatusCode::OK, None, r#"{"id":"x"}"#) {
        Exchange::Answered(r) => {
            assert_eq!((r.status, r.body["id"].as_str()), (200, Some("x")))
        }
        other => panic!("{other:?}"),
    }
    match interpret_answer(StatusCode::NO_CONTENT, None, "") {
        Exchange::Answered(r) => assert_eq!((r.status, r.body), (204, Value::Null)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(refusal(200, "<html>"), GraphError::Malformed(_)));
}

#[test]
fn given_throttling_or_a_5xx_then_the_retry_policy_decides_with_retry_after() {
    let after = Some(Duration::from_millis(2128));
    for status in [429, 500, 502, 503, 504] {
        let text = graph_error_body("TooManyRequests", &[]);
        match interpret_answer(StatusCode::from_u16(status).unwrap(), after, &text) {
            Exchange::Transient {
                retry_after,
                reason,
                maybe_applied,
            } => {
                assert_eq!(retry_after, after);
                assert_eq!(reason, format!("{status} TooManyRequests"));
                assert_eq!(
                    maybe_applied,
                    status != 429,
                    "{status}: throttled is unapplied"
                );
            }
            other => panic!("{status}: {other:?}"),
        }
    }
}

#[test]
fn given_429_and_503_answers_then_each_is_counted_as_throttling_once() {
    // The count is per process; nextest runs each test in a process of its own.
    take_throttled();
    let text = graph_error_body("TooManyRequests", &[]);
    for status in [429, 503, 500, 502, 504, 200, 404] {
        interpret_answer(StatusCode::from_u16(status).unwrap(), None, &text);
    }
    // A `$batch` item's answer too.
    interpret_json(StatusCode::TOO_MANY_REQUESTS, None, Value::Null);
    assert_eq!(take_throttled(), 3);
    assert_eq!(take_throttled(), 0, "taking the count resets it");
}

#[test]
fn given_a_401_then_the_token_is_refused() {
    let text = graph_error_body("InvalidAuthenticationToken", &[]);
    assert!(matches!(
        interpret_answer(StatusCode::UNAUTHORIZED, None, &text),
        Exchange::TokenRefused
    ));
}

#[test]
fn given_lost_delta_state_then_sync_state_gone_whatever_the_status() {
    let gone = refusal(410, &graph_error_body("resyncRequired", &[]));
    assert!(matches!(gone, GraphError::SyncStateGone(s) if s == "410 resyncRequired"));
    let expired = refusal(400, &graph_error_body("syncStateNotFound", &[]));
    assert!(matches!(expired, GraphError::SyncStateGone(s) if s == "400 syncStateNotFound"));
}

#[test]
fn given_other_refusals_then_each_is_named_by_its_class() {
    assert!(matches!(
        refusal(404, &graph_error_body("Request_ResourceNotFound", &[])),
        GraphError::NotFound
    ));
    let conflict = refusal(
        400,
        &graph_error_body("Request_BadRequest", &["ObjectConflict"]),
    );
    assert!(
        matches!(&conflict, GraphError::ObjectConflict { code, message }
            if code == "Request_BadRequest" && message == "text"),
        "{conflict:?}"
    );
    let cases = [
        (
            400,
            "Another object with the same value for property userPrincipalName already exists.",
            "ObjectConflict",
        ),
        (
            400,
            "One or more added object references already exist for the following modified properties: 'members'.",
            "AlreadyMember",
        ),
        (
            400,
            "The source resource object or one of the objects being referenced do not exist.",
            "NotVisibleYet",
        ),
        (400, "Invalid object identifier 'am-1'.", "InvalidObjectId"),
        (
            400,
            "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.",
            "OnPremisesMastered",
        ),
        (
            403,
            "Insufficient privileges to complete the operation.",
            "Forbidden",
        ),
        (
            409,
            "A subscription for this resource exists already.",
            "Conflict",
        ),
        (
            400,
            "Invalid value specified for property 'mailNickname'.",
            "Rejected",
        ),
    ];
    for (status, message, class) in cases {
        let body = serde_json::json!({"error": {"code": "Request_BadRequest", "message": message}});
        let err = refusal(status, &body.to_string());
        assert!(format!("{err:?}").starts_with(class), "{message}: {err:?}");
        assert!(err.to_string().contains(message), "{err}");
        assert!(err.to_string().contains(&status.to_string()), "{err}");
    }
}

/// A token source whose permission check answers as told, counting checks.
struct CheckingSource {
    check: Result<Option<PermissionCheck>, TokenError>,
    checks: std::sync::atomic::AtomicUsize,
}

impl CheckingSource {
    fn answering(check: Result<Option<PermissionCheck>, TokenError>) -> Self {
        Self {
            check,
            checks: Default::default(),
        }
    }
}

impl AccessTokenSource for CheckingSource {
    async fn access_token(&self, _: bool) -> Result<SecretString, TokenError> {
        Ok(SecretString::from("t".to_owned()))
    }

    async fn permission_check(&self) -> Result<Option<PermissionCheck>, TokenError> {
        self.checks.fetch_add(1, Ordering::Relaxed);
        self.check.clone()
    }
}

fn denied() -> GraphError {
    refusal(403, &graph_error_body(REQUEST_DENIED, &[]))
}

#[tokio::test]
async fn given_a_403_request_denied_and_roles_missing_then_the_refusal_names_them() {
    let source = CheckingSource::answering(Ok(Some(PermissionCheck {
        granted: vec!["User.Read.All".into()],
        missing: vec!["Group.Read.All".into(), "Domain.Read.All".into()],
    })));
    let err = with_permission_check(&source, denied()).await;
    assert!(
        matches!(&err, GraphError::PermissionsMissing(check) if check.missing.len() == 2),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("Group.Read.All, Domain.Read.All")
            && text.contains("grant admin consent again"),
        "{text}"
    );
    assert!(!err.is_retryable());
    assert_eq!(source.checks.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn given_a_403_with_every_role_or_a_delegated_grant_then_it_stays_todays_403() {
    let complete = CheckingSource::answering(Ok(Some(PermissionCheck {
        granted: vec!["User.ReadWrite.All".into()],
        missing: vec![],
    })));
    let delegated = CheckingSource::answering(Ok(None));
    for source in [&complete, &delegated] {
        let err = with_permission_check(source, denied()).await;
        assert!(matches!(err, GraphError::Forbidden { .. }), "{err:?}");
    }
    // A 403 of another kind, or another refusal: no check at all.
    let other_403 = refusal(403, &graph_error_body("Forbidden", &[]));
    let not_found = refusal(404, &graph_error_body("Request_ResourceNotFound", &[]));
    for err in [other_403, not_found] {
        with_permission_check(&complete, err).await;
    }
    assert_eq!(complete.checks.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn given_a_403_when_the_app_lost_its_access_then_the_token_refusal_wins() {
    let revoked = CheckingSource::answering(Err(TokenError::AppAccessEnded(
        crate::model::entra::ReauthorisationReason::ConsentRevoked,
    )));
    let err = with_permission_check(&revoked, denied()).await;
    assert!(
        matches!(err, GraphError::Token(TokenError::AppAccessEnded(_))),
        "{err:?}"
    );
    // A check that could not be made leaves the 403 as it was.
    let unreachable = CheckingSource::answering(Err(TokenError::Unavailable("down".into())));
    let err = with_permission_check(&unreachable, denied()).await;
    assert!(matches!(err, GraphError::Forbidden { .. }), "{err:?}");
}
