//! The flow of DESIGN 2.12 against in-memory ports: each leg, the proof,
//! the confirm, and every way it stores nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::*;
use crate::model::identity::{
    AppToken, ClaimsError, IdTokenClaims, SignInRequest, TokenErrorBody, TokenGrant,
};
use crate::model::{AuthMode, Authorisation, EntraTenantId, Guid, TenantConfig};

const TID: &str = "6a2d4e1f-0000-4000-8000-00000000abcd";
const OTHER_TID: &str = "99999999-0000-4000-8000-000000000000";
const ADMIN_OID: &str = "00000000-0000-4000-8000-000000000001";
const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
const BINDING: &str = "portal-session-binding-0123456789abcdef";
const OTHER_BINDING: &str = "another-admins-session-binding-0123456789";

#[derive(Default)]
struct MemoryStore {
    configs: Mutex<HashMap<String, TenantConfig>>,
    pending: Mutex<HashMap<String, PendingAuthorisation>>,
    proven: Mutex<HashMap<String, ProvenAuthorisation>>,
    /// Reads see the config before another organisation's confirm (a race).
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
        let state = p.state.expose_secret().to_owned();
        self.pending.lock().unwrap().insert(state, p.clone());
        Ok(())
    }
    async fn take_pending_authorisation(
        &self,
        state: &str,
    ) -> Result<Option<PendingAuthorisation>, StoreError> {
        Ok(self.pending.lock().unwrap().remove(state))
    }
    async fn save_proven_authorisation(&self, p: &ProvenAuthorisation) -> Result<(), StoreError> {
        let key = p.result_hash.clone();
        self.proven.lock().unwrap().insert(key, p.clone());
        Ok(())
    }
    async fn take_proven_authorisation(
        &self,
        result_hash: &str,
    ) -> Result<Option<ProvenAuthorisation>, StoreError> {
        Ok(self.proven.lock().unwrap().remove(result_hash))
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
        config.auth_mode = AuthMode::Application;
        config.authorised_entra_tenant_id = Some(record.entra_tenant_id.clone());
        config.authorised_cloud = Some(record.cloud);
        config.authorised_by = record.authorised_by.clone();
        config.authorised_at = Some(record.authorised_at);
        Ok(RecordOutcome::Recorded)
    }
}

/// The delegated grants deleted, by tenant.
#[derive(Default)]
struct MemoryTokens(Mutex<Vec<String>>);

impl TokenStore for MemoryTokens {
    async fn delete_tenant_tokens(&self, t: &TenantId) -> Result<(), StoreError> {
        self.0.lock().unwrap().push(t.to_string());
        Ok(())
    }
}

/// A scripted identity platform: whoever signs in does so to `signed_in`,
/// holding `wids`; the app's token carries `roles` or fails with `app_error`.
struct FakeIdentity {
    signed_in: Mutex<String>,
    wids: Vec<String>,
    roles: Vec<&'static str>,
    app_error: Option<u32>,
    /// How long the app token takes to come (a slow identity platform).
    app_token_delay: std::time::Duration,
    app_token_requests: Mutex<u32>,
    sign_ins: Mutex<u32>,
}

impl Default for FakeIdentity {
    fn default() -> Self {
        Self {
            signed_in: Mutex::new(TID.into()),
            wids: vec![GLOBAL_ADMIN.into()],
            roles: crate::model::identity::REQUIRED_APP_ROLES.to_vec(),
            app_error: None,
            app_token_delay: std::time::Duration::ZERO,
            app_token_requests: Mutex::default(),
            sign_ins: Mutex::default(),
        }
    }
}

fn rejected(code: u32, error: &str) -> crate::model::identity::IdentityError {
    crate::model::identity::IdentityError::Rejected(TokenErrorBody {
        error: error.into(),
        error_description: None,
        error_codes: vec![code],
        suberror: None,
    })
}

fn jwt(claims: serde_json::Value) -> SecretString {
    use base64::Engine;
    let part = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    SecretString::from(format!(
        "{}.{}.sig",
        part(&serde_json::json!({})),
        part(&claims)
    ))
}

impl IdentityPlatform for FakeIdentity {
    fn admin_consent_url(
        &self,
        authority: &str,
    ) -> Result<(Url, SecretString), crate::model::identity::IdentityError> {
        let state = format!("consent-{}", uuid::Uuid::new_v4());
        let url = Url::parse(&format!(
            "https://login.example/{authority}/v2.0/adminconsent?state={state}"
        ));
        Ok((url.unwrap(), SecretString::from(state)))
    }
    fn sign_in_request(
        &self,
        entra_tenant_id: &EntraTenantId,
        interactive: bool,
    ) -> Result<SignInRequest, crate::model::identity::IdentityError> {
        *self.sign_ins.lock().unwrap() += 1;
        let state = format!("sign-in-{}", uuid::Uuid::new_v4());
        let prompt = if interactive { "" } else { "&prompt=none" };
        let url =
            format!("https://login.example/{entra_tenant_id}/authorize?state={state}{prompt}");
        Ok(SignInRequest {
            url: Url::parse(&url).unwrap(),
            state: SecretString::from(state),
            pkce_verifier: SecretString::from("verifier".to_owned()),
            nonce: SecretString::from("nonce-1".to_owned()),
        })
    }
    async fn exchange_code(
        &self,
        _: &EntraTenantId,
        code: &SecretString,
        verifier: &SecretString,
    ) -> Result<TokenGrant, crate::model::identity::IdentityError> {
        if code.expose_secret() == "bad-code" || verifier.expose_secret() != "verifier" {
            return Err(rejected(54005, "invalid_grant"));
        }
        Ok(TokenGrant {
            access_token: SecretString::from("at".to_owned()),
            refresh_token: None,
            id_token: Some(SecretString::from("id-token".to_owned())),
            scope: "openid profile".into(),
            expires_in: std::time::Duration::from_secs(3600),
        })
    }
    async fn verify_id_token(
        &self,
        entra_tenant_id: &EntraTenantId,
        _: &SecretString,
        nonce: &SecretString,
    ) -> Result<IdTokenClaims, ClaimsError> {
        // As the real check: the token's tenant must be the one signed in to.
        let signed_in = self.signed_in.lock().unwrap().clone();
        if signed_in != entra_tenant_id.as_str() {
            return Err(ClaimsError::Invalid {
                claim: "tid",
                reason: "another tenant".into(),
            });
        }
        assert_eq!(nonce.expose_secret(), "nonce-1");
        Ok(IdTokenClaims {
            tenant_id: Guid::parse(&signed_in).unwrap(),
            object_id: Guid::parse(ADMIN_OID).unwrap(),
            preferred_username: Some("admin@contoso.com".into()),
            audience: "app".into(),
            issuer: "iss".into(),
            expires_at: 0,
            nonce: Some("nonce-1".into()),
            wids: self.wids.clone(),
        })
    }
    async fn app_token(
        &self,
        _: &EntraTenantId,
    ) -> Result<AppToken, crate::model::identity::IdentityError> {
        *self.app_token_requests.lock().unwrap() += 1;
        tokio::time::sleep(self.app_token_delay).await;
        if let Some(code) = self.app_error {
            return Err(rejected(code, "unauthorized_client"));
        }
        let token = jwt(serde_json::json!({ "roles": self.roles }));
        Ok(AppToken::new(token, std::time::Duration::from_secs(3599)))
    }
}

type Flow = AuthorisationFlow<MemoryStore, MemoryTokens, FakeIdentity>;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn flow_with(configured_tid: Option<&str>, identity: FakeIdentity) -> Flow {
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
        ByCloud::global_only(identity),
        Url::parse("https://portal.example/entra").unwrap(),
    )
}

fn flow() -> Flow {
    flow_with(None, FakeIdentity::default())
}

fn query_of(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// Starts and returns the consent leg's state.
async fn started(flow: &Flow) -> String {
    let start = flow.start(&acme(), BINDING, now()).await.unwrap();
    query_of(&start.authorize_url)["state"].clone()
}

/// The callback of a leg with `query` (the state appended).
async fn callback(flow: &Flow, state: &str, query: &str) -> CallbackOutcome {
    let params = CallbackParams::from_query(&format!("{query}&state={state}"));
    flow.complete(params, now()).await
}

/// The consent answered for `tenant`: the sign-in leg's state.
async fn consented(flow: &Flow, tenant: &str) -> String {
    let state = started(flow).await;
    let outcome = callback(flow, &state, &format!("admin_consent=True&tenant={tenant}")).await;
    let CallbackOutcome::Continue { redirect, .. } = outcome else {
        panic!("on to the sign-in: {outcome:?}")
    };
    query_of(&redirect)["state"].clone()
}

/// A whole successful sign-in: the one-time result for the confirm.
async fn proven(flow: &Flow) -> String {
    let state = consented(flow, TID).await;
    let outcome = callback(flow, &state, "code=good-code").await;
    let CallbackOutcome::Pending { redirect, .. } = outcome else {
        panic!("pending the confirm: {outcome:?}")
    };
    let query = query_of(&redirect);
    assert_eq!(query["status"], "pending");
    query["result"].clone()
}

fn failed_with(outcome: &CallbackOutcome) -> &'static str {
    match outcome {
        CallbackOutcome::Failed {
            reason, redirect, ..
        } => {
            let query = query_of(redirect);
            assert_eq!(query["status"], "error");
            assert_eq!(query["reason"], reason.as_str());
            reason.as_str()
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn config(flow: &Flow) -> TenantConfig {
    flow.store.configs.lock().unwrap()["acme"].clone()
}

fn nothing_stored(flow: &Flow) {
    let config = config(flow);
    assert_eq!(config.authorisation, Authorisation::NotAuthorised);
    assert!(flow.store.proven.lock().unwrap().is_empty());
    assert!(flow.tokens.0.lock().unwrap().is_empty());
}

mod clouds;
mod confirm;
mod legs;
