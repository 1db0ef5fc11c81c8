//! One verification request: `{"tenant_id", "user_name", "password"}` in,
//! `{"result", "message"}` out. The password is wrapped the moment it is
//! read; the event is never logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use entra_sync::graph::directory::GraphEntraDirectory;
use entra_sync::graph::model::DomainInfo;
use entra_sync::graph::{GraphClient, GraphError};
use entra_sync::identity::IdentityError;
use entra_sync::import::EntraDirectory;
use entra_sync::model::TenantId;
use entra_sync::password::{
    PasswordAuthority, PasswordVerifier, ThrottlePolicy, Verification, VerifyResult,
};
use entra_sync::ports::TenantConfigs;
use entra_sync::store::failures::DynamoFailureCounter;
use entra_sync::store::{DynamoIntegrationsStore, SecretsManagerTokenStore};
use entra_sync::tokens::TokenProvider;
use lambda_runtime::{Error, LambdaEvent};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::time::Instant;

/// A tenant's domain types are re-read this often.
const DOMAIN_CACHE: Duration = Duration::from_secs(600);

pub struct Verifier {
    pub configs: DynamoIntegrationsStore,
    pub failures: DynamoFailureCounter,
    pub tokens: TokenProvider<SecretsManagerTokenStore>,
    pub graph: GraphClient,
    pub policy: ThrottlePolicy,
    pub domains: Mutex<HashMap<TenantId, (Instant, Vec<DomainInfo>)>>,
}

fn respond(verification: Verification) -> Value {
    json!({"result": verification.result.as_str(), "message": verification.message})
}

fn refuse(result: VerifyResult, message: &str) -> Value {
    respond(Verification {
        result,
        message: message.to_owned(),
    })
}

pub async fn handle(verifier: &Verifier, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    let field = |name: &str| payload.get(name).and_then(Value::as_str);
    let Some(raw_tenant) = field("tenant_id") else {
        return Ok(refuse(VerifyResult::Unavailable, "tenant_id is missing"));
    };
    let tenant = match TenantId::parse(raw_tenant) {
        Ok(tenant) => tenant,
        Err(err) => {
            return Ok(refuse(
                VerifyResult::Unavailable,
                &format!("tenant_id is invalid: {err}"),
            ));
        }
    };
    let Some(user_name) = field("user_name").filter(|u| !u.trim().is_empty()) else {
        return Ok(refuse(VerifyResult::NotFound, "user_name is missing"));
    };
    let Some(password) = field("password").map(|p| SecretString::from(p.to_owned())) else {
        return Ok(refuse(VerifyResult::Invalid, "password is missing"));
    };
    let config = match verifier.configs.tenant_config(&tenant).await {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(tenant_id = %tenant, error = %err, "the tenant config cannot be read");
            return Ok(refuse(
                VerifyResult::Unavailable,
                "the tenant's configuration cannot be read",
            ));
        }
    };
    let authority = TenantAuthority {
        verifier,
        tenant: tenant.clone(),
    };
    let check = PasswordVerifier {
        failures: &verifier.failures,
        authority: &authority,
        policy: verifier.policy,
    };
    Ok(respond(
        check
            .verify(config.as_ref(), user_name, &password, chrono::Utc::now())
            .await,
    ))
}

/// Entra ID for one tenant: its domains (cached) and the password grant.
struct TenantAuthority<'a> {
    verifier: &'a Verifier,
    tenant: TenantId,
}

impl PasswordAuthority for TenantAuthority<'_> {
    async fn domains(&self) -> Result<Vec<DomainInfo>, GraphError> {
        if let Some((at, domains)) = self
            .verifier
            .domains
            .lock()
            .expect("domain cache")
            .get(&self.tenant)
            && at.elapsed() < DOMAIN_CACHE
        {
            return Ok(domains.clone());
        }
        let directory = GraphEntraDirectory::new(
            &self.verifier.graph,
            self.verifier.tokens.for_tenant(&self.tenant),
            None,
        );
        let domains = directory.domains().await?;
        self.verifier
            .domains
            .lock()
            .expect("domain cache")
            .insert(self.tenant.clone(), (Instant::now(), domains.clone()));
        Ok(domains)
    }

    async fn check_password(
        &self,
        entra_tenant_id: &str,
        user_name: &str,
        password: &SecretString,
    ) -> Result<(), IdentityError> {
        // The tokens are dropped here, unused.
        self.verifier
            .tokens
            .password_grant(entra_tenant_id, user_name, password)
            .await
            .map(drop)
    }
}
