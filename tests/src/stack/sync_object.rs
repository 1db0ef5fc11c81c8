//! The set-up the `sync-object` tests share (DESIGN 2.14): Contoso seeded
//! and consenting, one tenant authorised in application mode, the function
//! started, and its route called as API Gateway's payload 2.0 would.

use entra_sync::identity::REQUIRED_APP_ROLES;
use serde_json::{Map, Value, json};

use super::{CONTOSO, LocalStack};
use crate::events::{HttpResponse, http_api_request};
use crate::lambda_runtime_api::LambdaFunction;
use crate::organisation;

const ROUTE: &str = "POST /tenants/{tenant_id}/entra/sync-object";

impl LocalStack {
    /// Contoso's users 0..6 (user 0 on the managed domain), `tenant`
    /// authorised in application mode with sync and import on and
    /// `settings` over that, and `sync-object` started.
    pub async fn with_sync_object(
        tenant: &str,
        settings: Value,
    ) -> anyhow::Result<(Self, LambdaFunction)> {
        let stack = Self::start().await?;
        organisation::seed(&stack.emulator, CONTOSO, 6, 1);
        stack.emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
        let mut config = json!({
            "auth_mode": "application", "authorisation": "authorised",
            "authorised_at": "2026-12-07T06:00:00Z", "sync_enabled": true,
            "import_users": true, "import_groups": true,
        });
        for (name, value) in settings.as_object().into_iter().flatten() {
            config[name] = value.clone();
        }
        stack.put_config_with(tenant, Some(CONTOSO), config).await?;
        let function = LambdaFunction::start("sync-object", &stack.function_env()).await?;
        Ok((stack, function))
    }

    /// The change events of every tenant (`ENTRA#EVENT#` items).
    pub async fn change_events(&self) -> anyhow::Result<Vec<Map<String, Value>>> {
        let items = self.integration_items().await?;
        Ok(items
            .into_iter()
            .filter(|i| {
                i["sk"]
                    .as_str()
                    .is_some_and(|sk| sk.starts_with("ENTRA#EVENT#"))
            })
            .collect())
    }
}

/// `body` POSTed to `tenant`'s sync-object route, as API Gateway sends it.
pub async fn call_sync_object(
    function: &mut LambdaFunction,
    tenant: &str,
    body: &str,
) -> anyhow::Result<HttpResponse> {
    let path = format!("/tenants/{tenant}/entra/sync-object");
    let mut request = http_api_request("POST", ROUTE, &path, "");
    request["body"] = Value::String(body.to_owned());
    request["headers"]["content-type"] = "application/json".into();
    request["headers"]["content-length"] = body.len().to_string().into();
    let answer = function
        .invoke(request)
        .await?
        .map_err(|error| anyhow::anyhow!("sync-object failed: {error:?}"))?;
    HttpResponse::from_lambda(&answer)
}
