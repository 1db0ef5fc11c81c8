//! The shared Graph client against the emulated Graph: throttling and 5xx
//! retries (docs/graph.md 2.4, 2.5), the token refresh on 401, and the answers
//! that no retry changes (404, an expired delta token, docs/graph.md 1.9).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use entra_sync::graph::{
    AccessTokenSource, GraphClient, GraphError, Repeat, RetryPolicy, TokenError,
};
use entra_sync::identity::IdentityClient;
use entra_sync_tests::emulator::{AppRegistration, DeltaExpiry, Emulator, GraphFault, Knobs};
use entra_sync_tests::stack::{
    CLIENT_ID, CONTOSO, CONTOSO_ADMIN, REDIRECT_URI, seed_organisations,
};
use secrecy::SecretString;
use serde_json::Value;

const SECRET: &str = "emulated-client-secret";

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn app_secret(s: &str) -> entra_sync::identity::AppCredential {
    entra_sync::identity::AppCredential::ClientSecret(secret(s))
}

/// Short waits so that exhausting the policy takes milliseconds.
fn quick_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
    }
}

/// Contoso's access tokens as a function holds them: the one from the
/// admin's sign-in first, then refreshed at the emulated identity platform
/// when the Graph client forces it.
struct SignedInTokens {
    identity: IdentityClient,
    refresh_token: SecretString,
    current: Mutex<SecretString>,
    refreshes: AtomicU32,
}

impl AccessTokenSource for SignedInTokens {
    async fn access_token(&self, force_refresh: bool) -> Result<SecretString, TokenError> {
        if !force_refresh {
            return Ok(self.current.lock().unwrap().clone());
        }
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let grant = self
            .identity
            .refresh(CONTOSO, &app_secret(SECRET), &self.refresh_token)
            .await
            .map_err(|e| TokenError::Unavailable(e.to_string()))?;
        *self.current.lock().unwrap() = grant.access_token.clone();
        Ok(grant.access_token)
    }
}

impl SignedInTokens {
    fn refreshes(&self) -> u32 {
        self.refreshes.load(Ordering::Relaxed)
    }
}

/// An emulator with Contoso, and the admin signed in through the browser.
async fn signed_in() -> (Emulator, SignedInTokens) {
    let emulator = Emulator::start().await.unwrap();
    emulator.register_app(AppRegistration {
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        federated_credentials: Vec::new(),
    });
    seed_organisations(&emulator);
    let identity = IdentityClient::new(
        entra_sync::https::client(),
        url::Url::parse(&emulator.base_url).unwrap(),
        CLIENT_ID.into(),
        Some(url::Url::parse(REDIRECT_URI).unwrap()),
    );
    let request = identity.authorization_request("organizations").unwrap();
    let mut url = request.url.clone();
    url.query_pairs_mut()
        .append_pair("login_hint", CONTOSO_ADMIN);
    let back = url::Url::parse(&emulator.browse(url.as_str()).await.unwrap().redirect()).unwrap();
    let code = back.query_pairs().find(|(k, _)| k == "code").unwrap().1;
    let grant = identity
        .exchange_code(
            "organizations",
            &app_secret(SECRET),
            &secret(&code),
            &request.pkce_verifier,
        )
        .await
        .unwrap();
    let tokens = SignedInTokens {
        identity,
        refresh_token: grant.refresh_token.unwrap(),
        current: Mutex::new(grant.access_token),
        refreshes: AtomicU32::new(0),
    };
    (emulator, tokens)
}

fn graph_client(emulator: &Emulator, policy: RetryPolicy) -> GraphClient {
    GraphClient::new(
        entra_sync::https::client(),
        &url::Url::parse(&emulator.base_url).unwrap(),
        policy,
    )
}

/// The statuses of the Graph requests the emulator answered, in order.
fn graph_statuses(emulator: &Emulator) -> Vec<u16> {
    emulator.graph_requests().iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn given_a_429_with_retry_after_when_getting_then_the_client_waits_and_succeeds() {
    let (emulator, tokens) = signed_in().await;
    let client = graph_client(&emulator, quick_policy(3));
    emulator.inject_graph_faults([GraphFault::Throttle {
        retry_after: Some("0.3".into()),
    }]);

    let started = std::time::Instant::now();
    let domains = client
        .get(&tokens, &client.url("/domains"), None)
        .await
        .unwrap();

    assert_eq!(domains["value"][0]["id"], "contoso.com");
    assert_eq!(graph_statuses(&emulator), vec![429, 200]);
    assert_eq!(client.request_count(), 2);
    // Retry-After is honoured as given, not replaced by the short backoff.
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn given_repeated_503s_when_getting_then_the_attempts_are_bounded_and_the_error_is_retryable()
{
    let (emulator, tokens) = signed_in().await;
    let client = graph_client(&emulator, quick_policy(3));
    emulator.inject_graph_faults((0..5).map(|_| GraphFault::Unavailable { status: 503 }));

    let err = client
        .get(&tokens, &client.url("/domains"), None)
        .await
        .unwrap_err();

    match &err {
        GraphError::Exhausted { attempts, last } => {
            assert_eq!(*attempts, 3);
            assert_eq!(last, "503 serviceNotAvailable");
        }
        other => panic!("expected the retries to be exhausted, got {other:?}"),
    }
    assert!(err.is_retryable());
    assert_eq!(graph_statuses(&emulator), vec![503, 503, 503]);
    assert_eq!(client.request_count(), 3);
}

#[tokio::test]
async fn given_an_expired_access_token_when_getting_then_the_client_refreshes_once_and_retries() {
    let (emulator, tokens) = signed_in().await;
    let client = graph_client(&emulator, quick_policy(3));
    // The token from the sign-in is already past its lifetime.
    emulator.set_knobs(Knobs {
        access_token_ttl_secs: Some(0),
        ..Knobs::default()
    });
    *tokens.current.lock().unwrap() = tokens
        .identity
        .refresh(CONTOSO, &app_secret(SECRET), &tokens.refresh_token)
        .await
        .unwrap()
        .access_token;
    emulator.set_knobs(Knobs::default());

    let domains = client
        .get(&tokens, &client.url("/domains"), None)
        .await
        .unwrap();

    assert_eq!(domains["value"][0]["id"], "contoso.com");
    assert_eq!(tokens.refreshes(), 1);
    assert_eq!(graph_statuses(&emulator), vec![401, 200]);
}

#[tokio::test]
async fn given_every_access_token_expired_when_getting_then_one_refresh_and_unauthorized() {
    let (emulator, tokens) = signed_in().await;
    let client = graph_client(&emulator, quick_policy(3));
    emulator.set_knobs(Knobs {
        access_token_ttl_secs: Some(0),
        ..Knobs::default()
    });
    *tokens.current.lock().unwrap() = tokens
        .identity
        .refresh(CONTOSO, &app_secret(SECRET), &tokens.refresh_token)
        .await
        .unwrap()
        .access_token;

    let err = client
        .get(&tokens, &client.url("/domains"), None)
        .await
        .unwrap_err();

    assert!(matches!(err, GraphError::Unauthorized), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(tokens.refreshes(), 1);
    assert_eq!(graph_statuses(&emulator), vec![401, 401]);
}

#[tokio::test]
async fn given_an_unknown_user_when_getting_then_not_found_without_a_retry() {
    let (emulator, tokens) = signed_in().await;
    let client = graph_client(&emulator, quick_policy(3));

    let err = client
        .get(
            &tokens,
            &client.url("/users/00000000-0000-4000-8000-0000000000ff"),
            None,
        )
        .await
        .unwrap_err();

    assert!(matches!(err, GraphError::NotFound), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(graph_statuses(&emulator), vec![404]);
}

/// Follows a full users delta round to its deltaLink.
async fn users_delta_link(client: &GraphClient, tokens: &SignedInTokens) -> String {
    let mut url = client.url("/users/delta");
    loop {
        let page: Value = client.get(tokens, &url, None).await.unwrap();
        if let Some(delta) = page["@odata.deltaLink"].as_str() {
            return delta.to_owned();
        }
        url = page["@odata.nextLink"]
            .as_str()
            .expect("a delta page has a nextLink or a deltaLink")
            .to_owned();
    }
}

#[tokio::test]
async fn given_an_expired_delta_token_when_polled_then_sync_state_gone_in_either_style() {
    for (style, status, expected) in [
        (DeltaExpiry::SyncStateNotFound, 400, "400 syncStateNotFound"),
        (DeltaExpiry::Gone, 410, "410 resyncRequired"),
    ] {
        let (emulator, tokens) = signed_in().await;
        let client = graph_client(&emulator, quick_policy(3));
        let delta_link = users_delta_link(&client, &tokens).await;
        emulator.expire_delta_tokens(style);

        let err = client.get(&tokens, &delta_link, None).await.unwrap_err();

        match &err {
            GraphError::SyncStateGone(why) => assert_eq!(why, expected),
            other => panic!("expected the sync state to be gone, got {other:?}"),
        }
        assert!(!err.is_retryable());
        // One answer is enough: no retry can bring a lost state back.
        let statuses = graph_statuses(&emulator);
        assert_eq!(statuses.last(), Some(&status));
        assert_eq!(statuses.iter().filter(|s| **s >= 400).count(), 1);
    }
}

/// Found by review: a create that met a 5xx or a timeout was sent again by
/// the retry policy, and Graph may have applied the first: two groups.
#[tokio::test]
async fn given_a_create_meets_a_5xx_then_it_is_not_sent_again_but_after_throttling_it_is() {
    let (emulator, tokens) = signed_in().await;
    let client = graph_client(&emulator, quick_policy(3));
    let body = serde_json::json!({"displayName": "Team", "mailNickname": "team",
        "mailEnabled": false, "securityEnabled": true});
    let url = client.url("/groups");
    let create = || {
        client.send_through(
            &tokens,
            (reqwest::Method::POST, &url, Some(&body)),
            None,
            None,
            Repeat::UnappliedOnly,
        )
    };
    emulator.inject_graph_faults([GraphFault::Unavailable { status: 503 }]);
    let err = create().await.unwrap_err();
    assert!(err.is_retryable(), "parked to pass by itself: {err}");
    assert!(err.to_string().contains("may have applied"), "{err}");
    assert_eq!(graph_statuses(&emulator), vec![503], "sent once");

    emulator.inject_graph_faults([GraphFault::Throttle {
        retry_after: Some("0".into()),
    }]);
    let created = create().await.unwrap();
    assert_eq!(created.status, 201);
    assert_eq!(graph_statuses(&emulator), vec![503, 429, 201]);
}

// ---------------------------------------------------------------- $batch

/// `n` concurrent PATCHes of the seeded users' job titles through one batcher.
async fn patch_concurrently(
    client: &GraphClient,
    tokens: &SignedInTokens,
    batcher: &entra_sync::graph::batch::GraphBatcher,
    ids: &[&str],
) -> Vec<Result<u16, String>> {
    let body = serde_json::json!({"jobTitle": "Batched"});
    futures::future::join_all(ids.iter().map(|id| {
        let url = client.url(&format!("/users/{id}"));
        let body = body.clone();
        async move {
            client
                .send_through(
                    tokens,
                    (reqwest::Method::PATCH, &url, Some(&body)),
                    None,
                    Some(batcher),
                    Repeat::Always,
                )
                .await
                .map(|r| r.status)
                .map_err(|e| e.to_string())
        }
    }))
    .await
}

const SEEDED: [&str; 2] = [
    "a1b2c3d4-0000-4000-8000-000000000001",
    "a1b2c3d4-0000-4000-8000-000000000002",
];

#[tokio::test]
async fn given_concurrent_requests_when_sent_through_a_batcher_then_they_share_one_batch_and_each_gets_its_answer()
 {
    let (emulator, tokens) = signed_in().await;
    let client = graph_client(&emulator, quick_policy(3));
    let batcher = entra_sync::graph::batch::GraphBatcher::default();
    let ids = [SEEDED[0], SEEDED[1], "00000000-0000-4000-8000-00000000dead"];

    let answers = patch_concurrently(&client, &tokens, &batcher, &ids).await;

    assert_eq!(answers[0], Ok(204));
    assert_eq!(answers[1], Ok(204));
    assert_eq!(answers[2], Err("Graph has no such object".into()));
    let requests = emulator.graph_requests();
    let envelopes: Vec<_> = requests.iter().filter(|r| r.is_batch_envelope()).collect();
    assert_eq!(envelopes.len(), 1, "{requests:?}");
    assert_eq!(client.request_count(), 1);
    let items: Vec<_> = requests.iter().filter(|r| r.in_batch).collect();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|r| r.method == "PATCH"));
    emulator.with_tenant(CONTOSO, |t| {
        assert_eq!(t.users[SEEDED[0]].job_title.as_deref(), Some("Batched"));
        assert_eq!(t.users[SEEDED[1]].job_title.as_deref(), Some("Batched"));
    });
}

#[tokio::test]
async fn given_a_throttled_item_in_a_batch_when_sent_then_only_that_item_is_retried() {
    let (emulator, tokens) = signed_in().await;
    let client = graph_client(&emulator, quick_policy(3));
    let batcher = entra_sync::graph::batch::GraphBatcher::default();
    // The first item run inside the batch is throttled; the envelope is not.
    emulator.inject_graph_faults([GraphFault::Throttle {
        retry_after: Some("0.1".into()),
    }]);

    let answers = patch_concurrently(&client, &tokens, &batcher, &SEEDED).await;

    assert_eq!(answers, vec![Ok(204), Ok(204)]);
    let requests = emulator.graph_requests();
    let items: Vec<u16> = requests
        .iter()
        .filter(|r| r.in_batch)
        .map(|r| r.status)
        .collect();
    // Two items answered, one of them after its 429: three items, not four.
    assert_eq!(sorted(items), vec![204, 204, 429]);
    assert!(
        requests
            .iter()
            .filter(|r| r.is_batch_envelope())
            .all(|r| r.status == 200)
    );
}

fn sorted(mut v: Vec<u16>) -> Vec<u16> {
    v.sort();
    v
}

#[tokio::test]
async fn given_malformed_batches_when_posted_then_the_emulator_refuses_them_with_400() {
    let (emulator, tokens) = signed_in().await;
    let token = tokens.access_token(false).await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/v1.0/$batch", emulator.base_url);
    let item =
        |id: usize| serde_json::json!({"id": id.to_string(), "method": "GET", "url": "/domains"});
    let cases = [
        serde_json::json!({"requests": (0..21).map(item).collect::<Vec<_>>()}),
        serde_json::json!({"requests": [item(1), item(1)]}),
        serde_json::json!({"requests": [{"id": "1", "url": "/domains"}]}),
        serde_json::json!({"requests": [{"id": "1", "method": "PATCH", "url": "/users/x", "body": {"a": 1}}]}),
        serde_json::json!({"nothing": []}),
    ];
    for case in cases {
        let answer = http
            .post(&url)
            .bearer_auth(secrecy::ExposeSecret::expose_secret(&token))
            .json(&case)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{case}");
    }
    let ok = http
        .post(&url)
        .bearer_auth(secrecy::ExposeSecret::expose_secret(&token))
        .json(&serde_json::json!({"requests": [item(1)]}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["responses"][0]["status"], 200);
    assert_eq!(
        body["responses"][0]["body"]["value"][0]["id"],
        "contoso.com"
    );
}
