//! One verification request: `{"tenant_id", "user_name", "password"}` in,
//! `{"result", "message"}` out, the message always fixed text. The
//! password is wrapped the moment it is read; the event is never logged.

use entra_sync::graph::GraphClient;
use entra_sync::graph::tenants::TenantGraphReaders;
use entra_sync::model::ByCloud;
use entra_sync::model::TenantId;
use entra_sync::model::entra::TenantDomains;
use entra_sync::password::entra::EntraPasswordAuthority;
use entra_sync::password::{PasswordVerifier, ThrottlePolicy, Verification, VerifyResult, answer};
use entra_sync::ports::TenantConfigs;
use entra_sync::store::DynamoIntegrationsStore;
use entra_sync::store::password_attempts::DynamoAttemptLedger;
use entra_sync::wiring::LambdaTenantTokens;
use lambda_runtime::{Error, LambdaEvent};
use secrecy::SecretString;
use serde_json::{Value, json};

pub struct Verifier {
    pub configs: DynamoIntegrationsStore,
    pub attempts: DynamoAttemptLedger,
    /// Graph tokens for the domain check; the password grant uses only
    /// the app's own credential (DESIGN 2.12), in either mode.
    pub tokens: LambdaTenantTokens,
    /// One per cloud served.
    pub graph: ByCloud<GraphClient>,
    pub policy: ThrottlePolicy,
    pub domains: TenantDomains,
}

fn respond(verification: Verification) -> Value {
    json!({"result": verification.result.as_str(), "message": verification.message})
}

fn refuse(result: VerifyResult, message: &'static str) -> Value {
    respond(answer(result, message))
}

pub async fn handle(verifier: &Verifier, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    let field = |name: &str| payload.get(name).and_then(Value::as_str);
    let Some(raw_tenant) = field("tenant_id") else {
        return Ok(refuse(VerifyResult::Unavailable, "tenant_id is missing"));
    };
    let Ok(tenant) = TenantId::parse(raw_tenant) else {
        return Ok(refuse(
            VerifyResult::Unavailable,
            "tenant_id is invalid: a tenant id is 1-128 letters, digits or ._-@+=",
        ));
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
    let authority = EntraPasswordAuthority {
        readers: &TenantGraphReaders::new(&verifier.graph, &verifier.tokens),
        grants: &verifier.tokens,
        domains: &verifier.domains,
        config: config.as_ref(),
    };
    let check = PasswordVerifier {
        attempts: &verifier.attempts,
        authority: &authority,
        policy: verifier.policy,
    };
    Ok(respond(
        check
            .verify(config.as_ref(), user_name, &password, chrono::Utc::now())
            .await,
    ))
}
