//! The flow against in-memory ports: state handling and every failure path.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::identity::{
    AuthorizationRequest, ClaimsError, IdTokenClaims, TokenErrorBody, TokenGrant,
};
use crate::model::{Authorisation, Guid, TenantConfig};

const TID: &str = "6a2d4e1f-0000-4000-8000-00000000abcd";
const OTHER_TID: &str = "99999999-0000-4000-8000-000000000000";

#[derive(Default)]
struct MemoryStore {
    configs: Mutex<HashMap<String, TenantConfig>>,
    pending: Mutex<HashMap<String, PendingAuthorisation>>,
    /// Reads see the config before another sign-in's claim (a race).
    stale_reads: bool,
}

impl crate::ports::TenantConfigs for MemoryStore {
    async fn tenant_config(&self, tenant: &TenantId) -> Result<Option<TenantConfig>, StoreError> {
        let config = self.configs.lock().unwrap().get(tenant.as_str()).cloned();
        Ok(config.map(|c| match self.stale_reads {
            true => TenantConfig {
                entra_tenant_id: None,
                ..c
            },
            false => c,
        }))
    }
    async fn clear_resync_request(&self, _: &TenantId, _: &str) -> Result<(), StoreError> {
        unreachable!("the authorisation flow answers no resync request")
    }
    async fn clear_preview_request(&self, _: &TenantId, _: &str) -> Result<(), StoreError> {
        unreachable!("the authorisation flow answers no preview request")
    }
    async fn clear_deletion_approval(&self, _: &TenantId) -> Result<(), StoreError> {
        unreachable!("the authorisation flow approves no deletions")
    }
    async fn mark_reauthorisation_required(&self, _: &TenantId) -> Result<(), StoreError> {
        unreachable!("the authorisation flow refreshes no grant")
    }
}

impl IntegrationsStore for MemoryStore {
    async fn save_pending_authorisation(&self, p: &PendingAuthorisation) -> Result<(), StoreError> {
        self.pending
            .lock()
            .unwrap()
            .insert(p.state.expose_secret().to_owned(), p.clone());
        Ok(())
    }
    async fn take_pending_authorisation(
        &self,
        state: &str,
    ) -> Result<Option<PendingAuthorisation>, StoreError> {
        Ok(self.pending.lock().unwrap().remove(state))
    }
    async fn claim_entra_tenant(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &crate::model::EntraTenantId,
    ) -> Result<RecordOutcome, StoreError> {
        let mut configs = self.configs.lock().unwrap();
        let Some(config) = configs.get_mut(tenant.as_str()) else {
            return Ok(RecordOutcome::ConfigMissing);
        };
        match &config.entra_tenant_id {
            Some(t) if t != entra_tenant_id => Ok(RecordOutcome::TenantMismatch),
            _ => {
                config.entra_tenant_id = Some(entra_tenant_id.clone());
                Ok(RecordOutcome::Recorded)
            }
        }
    }
    async fn record_authorisation(
        &self,
        tenant: &TenantId,
        record: &AuthorisationRecord,
    ) -> Result<RecordOutcome, StoreError> {
        let mut configs = self.configs.lock().unwrap();
        let Some(config) = configs.get_mut(tenant.as_str()) else {
            return Ok(RecordOutcome::ConfigMissing);
        };
        match &config.entra_tenant_id {
            Some(t) if t != &record.entra_tenant_id => return Ok(RecordOutcome::TenantMismatch),
            _ => {}
        }
        config.entra_tenant_id = Some(record.entra_tenant_id.clone());
        config.authorisation = Authorisation::Authorised;
        config.authorised_by = record.authorised_by.clone();
        config.authorised_at = Some(record.authorised_at);
        Ok(RecordOutcome::Recorded)
    }
}

#[derive(Default)]
struct MemoryTokens(Mutex<HashMap<String, TenantGrant>>);

impl TokenStore for MemoryTokens {
    async fn save_tenant_tokens(
        &self,
        t: &TenantId,
        tokens: &TenantGrant,
    ) -> Result<(), StoreError> {
        self.0.lock().unwrap().insert(t.to_string(), tokens.clone());
        Ok(())
    }
}

/// Scripted identity platform: signs everyone in to `tid`.
struct FakeIdentity {
    tid: String,
    exchange_fails: bool,
    exchanges: Mutex<Vec<(String, String)>>,
}

impl IdentityPlatform for FakeIdentity {
    fn authorization_request(
        &self,
        authority: &str,
    ) -> Result<AuthorizationRequest, crate::identity::IdentityError> {
        let n = self.exchanges.lock().unwrap().len();
        Ok(AuthorizationRequest {
            url: url::Url::parse(&format!("https://login.example/{authority}/authorize")).unwrap(),
            state: SecretString::from(format!("state-{authority}-{n}-{}", uuid::Uuid::new_v4())),
            pkce_verifier: SecretString::from("verifier".to_owned()),
        })
    }
    async fn exchange_code(
        &self,
        authority: &str,
        code: &SecretString,
        verifier: &SecretString,
    ) -> Result<TokenGrant, crate::identity::IdentityError> {
        self.exchanges.lock().unwrap().push((
            authority.to_owned(),
            format!("{}:{}", code.expose_secret(), verifier.expose_secret()),
        ));
        if self.exchange_fails {
            return Err(crate::identity::IdentityError::Rejected(TokenErrorBody {
                error: "invalid_grant".into(),
                error_description: None,
                error_codes: vec![54005],
                suberror: None,
            }));
        }
        Ok(TokenGrant {
            access_token: SecretString::from("at".to_owned()),
            refresh_token: Some(SecretString::from("rt".to_owned())),
            id_token: Some(SecretString::from(self.tid.clone())),
            scope: "https://graph.microsoft.com/.default".into(),
            expires_in: std::time::Duration::from_secs(3600),
        })
    }
    fn id_token_claims(
        &self,
        id_token: &SecretString,
        _now: DateTime<Utc>,
    ) -> Result<IdTokenClaims, ClaimsError> {
        Ok(IdTokenClaims {
            tenant_id: Guid::parse(id_token.expose_secret()).unwrap(),
            object_id: Guid::parse("00000000-0000-4000-8000-000000000001").unwrap(),
            preferred_username: Some("admin@contoso.com".into()),
            audience: "app".into(),
            issuer: "iss".into(),
            expires_at: 0,
        })
    }
}

type Flow = AuthorisationFlow<MemoryStore, MemoryTokens, FakeIdentity>;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

fn flow(configured_tid: Option<&str>, signed_in_tid: &str, exchange_fails: bool) -> Flow {
    let mut item = serde_json::json!({"tenant_id": "acme"});
    if let Some(t) = configured_tid {
        item["entra_tenant_id"] = t.into();
    }
    let config = TenantConfig::from_attributes(item.as_object().unwrap()).unwrap();
    let store = MemoryStore::default();
    store.configs.lock().unwrap().insert("acme".into(), config);
    AuthorisationFlow::new(
        store,
        MemoryTokens::default(),
        FakeIdentity {
            tid: signed_in_tid.into(),
            exchange_fails,
            exchanges: Mutex::default(),
        },
        url::Url::parse("https://portal.example/entra").unwrap(),
    )
}

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}

async fn started_state(flow: &Flow) -> String {
    flow.start(&acme(), now()).await.unwrap();
    flow.store
        .pending
        .lock()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone()
}

fn params(state: &str, code: Option<&str>, error: Option<&str>) -> CallbackParams {
    CallbackParams {
        state: Some(SecretString::from(state.to_owned())),
        code: code.map(|c| SecretString::from(c.to_owned())),
        error: error.map(str::to_owned),
        error_description: None,
    }
}

#[tokio::test]
async fn given_no_configured_tenant_when_starting_then_the_authority_is_organizations() {
    let flow = flow(None, TID, false);
    let start = flow.start(&acme(), now()).await.unwrap();
    assert!(start.authorize_url.path().starts_with("/organizations/"));
    assert_eq!(start.expires_at, now() + STATE_LIFETIME);
}

#[tokio::test]
async fn given_a_configured_tenant_when_starting_then_it_is_the_authority() {
    let flow = flow(Some(TID), TID, false);
    let start = flow.start(&acme(), now()).await.unwrap();
    assert!(start.authorize_url.path().starts_with(&format!("/{TID}/")));
}

#[tokio::test]
async fn given_an_unknown_tenant_when_starting_then_it_is_refused() {
    let flow = flow(None, TID, false);
    let err = flow
        .start(&TenantId::parse("nobody").unwrap(), now())
        .await
        .unwrap_err();
    assert!(matches!(err, StartError::UnknownTenant(_)));
}

#[tokio::test]
async fn given_a_good_code_then_tokens_are_stored_and_the_config_authorised() {
    let flow = flow(None, TID, false);
    let state = started_state(&flow).await;
    let outcome = flow
        .complete(params(&state, Some("code"), None), now())
        .await;
    let CallbackOutcome::Authorised { redirect, .. } = outcome else {
        panic!("expected success, got {outcome:?}");
    };
    assert_eq!(
        redirect.as_str(),
        "https://portal.example/entra?tenant_id=acme&status=authorised"
    );
    let tokens = flow.tokens.0.lock().unwrap();
    assert_eq!(tokens["acme"].refresh_token.expose_secret(), "rt");
    let configs = flow.store.configs.lock().unwrap();
    assert_eq!(configs["acme"].authorisation, Authorisation::Authorised);
    assert_eq!(
        configs["acme"].entra_tenant_id.as_ref().unwrap().as_str(),
        TID
    );
    assert_eq!(
        configs["acme"].authorised_by.as_deref(),
        Some("admin@contoso.com")
    );
    assert_eq!(
        flow.identity.exchanges.lock().unwrap()[0],
        ("organizations".into(), "code:verifier".into())
    );
}

#[tokio::test]
async fn given_a_used_state_then_the_second_callback_is_invalid() {
    let flow = flow(None, TID, false);
    let state = started_state(&flow).await;
    flow.complete(params(&state, Some("code"), None), now())
        .await;
    let again = flow
        .complete(params(&state, Some("code"), None), now())
        .await;
    assert!(matches!(
        again,
        CallbackOutcome::InvalidState(InvalidState::UnknownOrUsed)
    ));
    assert_eq!(flow.identity.exchanges.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn given_an_expired_state_then_no_exchange_is_attempted() {
    let flow = flow(None, TID, false);
    let state = started_state(&flow).await;
    let later = now() + STATE_LIFETIME + chrono::Duration::seconds(1);
    let outcome = flow
        .complete(params(&state, Some("code"), None), later)
        .await;
    assert!(matches!(
        outcome,
        CallbackOutcome::InvalidState(InvalidState::Expired)
    ));
    assert!(flow.identity.exchanges.lock().unwrap().is_empty());
    assert!(flow.tokens.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_no_state_then_the_callback_is_invalid() {
    let flow = flow(None, TID, false);
    let outcome = flow
        .complete(CallbackParams::from_query("code=abc"), now())
        .await;
    assert!(matches!(
        outcome,
        CallbackOutcome::InvalidState(InvalidState::Missing)
    ));
}

#[tokio::test]
async fn given_access_denied_then_the_portal_hears_the_reason_and_nothing_is_stored() {
    let flow = flow(None, TID, false);
    let state = started_state(&flow).await;
    let outcome = flow
        .complete(params(&state, None, Some("access_denied")), now())
        .await;
    let CallbackOutcome::Failed {
        reason, redirect, ..
    } = outcome
    else {
        panic!()
    };
    assert_eq!(reason, FailureReason::AccessDenied);
    assert!(
        redirect
            .as_str()
            .ends_with("status=error&reason=access_denied")
    );
    assert!(flow.tokens.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_an_unknown_error_value_then_it_is_not_reflected() {
    let flow = flow(None, TID, false);
    let state = started_state(&flow).await;
    let outcome = flow
        .complete(params(&state, None, Some("<script>")), now())
        .await;
    let CallbackOutcome::Failed { redirect, .. } = outcome else {
        panic!()
    };
    assert!(redirect.as_str().ends_with("reason=authorization_failed"));
}

#[tokio::test]
async fn given_another_entra_tenant_then_tenant_mismatch_and_nothing_stored() {
    let flow = flow(Some(TID), OTHER_TID, false);
    let state = started_state(&flow).await;
    let outcome = flow
        .complete(params(&state, Some("code"), None), now())
        .await;
    assert!(matches!(
        outcome,
        CallbackOutcome::Failed {
            reason: FailureReason::TenantMismatch,
            ..
        }
    ));
    assert!(flow.tokens.0.lock().unwrap().is_empty());
    assert_eq!(
        flow.store.configs.lock().unwrap()["acme"].authorisation,
        Authorisation::NotAuthorised
    );
}

#[tokio::test]
async fn given_a_refused_exchange_then_token_exchange_failed() {
    let flow = flow(None, TID, true);
    let state = started_state(&flow).await;
    let outcome = flow
        .complete(params(&state, Some("code"), None), now())
        .await;
    assert!(matches!(
        outcome,
        CallbackOutcome::Failed {
            reason: FailureReason::TokenExchangeFailed,
            ..
        }
    ));
}

#[tokio::test]
async fn given_a_valid_state_without_code_or_error_then_invalid_request() {
    let flow = flow(None, TID, false);
    let state = started_state(&flow).await;
    let outcome = flow.complete(params(&state, None, None), now()).await;
    assert!(matches!(
        outcome,
        CallbackOutcome::Failed {
            reason: FailureReason::InvalidRequest,
            ..
        }
    ));
}

#[test]
fn callback_params_ignore_empty_and_unknown_keys() {
    let params = CallbackParams::from_query("state=s%20x&code=&foo=bar&error=access_denied");
    assert_eq!(params.state.unwrap().expose_secret(), "s x");
    assert!(params.code.is_none());
    assert_eq!(params.error.as_deref(), Some("access_denied"));
}

/// The security read's finding: the tenant check read the config, the
/// tokens were stored, and only then was the config marked; a sign-in to
/// another organisation that raced one to this tenant's own overwrote the
/// tenant's grant before it was refused. Claim, then store.
#[tokio::test]
async fn given_another_organisation_claimed_the_config_during_the_sign_in_then_nothing_is_stored() {
    let mut flow = flow(Some(TID), OTHER_TID, false);
    flow.store.stale_reads = true;
    let state = started_state(&flow).await;
    let outcome = flow
        .complete(params(&state, Some("code"), None), now())
        .await;
    assert!(
        matches!(
            outcome,
            CallbackOutcome::Failed {
                reason: FailureReason::TenantMismatch,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(
        flow.tokens.0.lock().unwrap().is_empty(),
        "the other organisation's grant is not stored"
    );
    let configs = flow.store.configs.lock().unwrap();
    assert_eq!(
        configs["acme"].entra_tenant_id.as_ref().map(|t| t.as_str()),
        Some(TID)
    );
}
