//! What the platform keeps in the stack: config items, tenants' secrets
//! and grants, written as the platform writes them and read back.

use std::collections::HashMap;

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value};

use super::LocalStack;

impl LocalStack {
    /// Writes the platform's config item for `tenant_id`.
    pub async fn put_config(
        &self,
        tenant_id: &str,
        entra_tenant_id: Option<&str>,
    ) -> anyhow::Result<()> {
        self.put_config_with(tenant_id, entra_tenant_id, serde_json::json!({}))
            .await
    }

    /// The config item with extra attributes (JSON: strings, booleans,
    /// numbers, lists of strings).
    pub async fn put_config_with(
        &self,
        tenant_id: &str,
        entra_tenant_id: Option<&str>,
        extra: Value,
    ) -> anyhow::Result<()> {
        let mut item = HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S(format!("TENANT#{tenant_id}")),
            ),
            ("sk".to_owned(), AttributeValue::S("ENTRA#CONFIG".into())),
            ("tenant_id".to_owned(), AttributeValue::S(tenant_id.into())),
            (
                "label".to_owned(),
                AttributeValue::S("Contoso Entra ID".into()),
            ),
            ("sync_enabled".to_owned(), AttributeValue::Bool(true)),
            ("import_users".to_owned(), AttributeValue::Bool(true)),
            ("import_groups".to_owned(), AttributeValue::Bool(true)),
        ]);
        if let Some(tid) = entra_tenant_id {
            item.insert("entra_tenant_id".into(), AttributeValue::S(tid.into()));
        }
        let mut extra = extra;
        if extra["auth_mode"] == "application"
            && extra.get("authorised_entra_tenant_id").is_none()
            && let Some(tid) = entra_tenant_id
        {
            // As the confirm leaves an application-mode tenant: the
            // organisation it proved.
            extra["authorised_entra_tenant_id"] = tid.into();
            if let Some(cloud) = extra.get("cloud").cloned() {
                extra["authorised_cloud"] = cloud;
            }
        }
        let extra: HashMap<String, AttributeValue> = serde_dynamo::to_item(extra)?;
        item.extend(extra);
        self.aws
            .dynamodb
            .put_item()
            .table_name(&self.tables.integrations)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
        Ok(())
    }

    /// A delegated grant in the tenant's secret, as a tenant authorised
    /// before DESIGN 2.12 holds it (a refresh token nobody issued); returns
    /// the refresh token.
    pub async fn seed_delegated_grant(
        &self,
        tenant_id: &str,
        entra_tenant_id: &str,
    ) -> anyhow::Result<String> {
        let refresh_token = format!("1.AQ-seeded-{}", uuid::Uuid::new_v4().simple());
        self.store_delegated_grant(tenant_id, entra_tenant_id, &refresh_token)
            .await?;
        Ok(refresh_token)
    }

    /// A tenant authorised before DESIGN 2.12: its config `authorised`
    /// without `auth_mode`, and `admin`'s delegated grant (issued by the
    /// emulator) in the tenant's secret.
    pub async fn connect_delegated(
        &mut self,
        tenant_id: &str,
        admin: &str,
        settings: Value,
    ) -> anyhow::Result<()> {
        let entra_tenant_id = self
            .emulator
            .state()
            .tenant_of_user(admin)
            .map(|(t, _)| t.id.clone())
            .context("the admin exists in the emulator")?;
        let mut config = settings;
        config["authorisation"] = "authorised".into();
        config["authorised_by"] = admin.into();
        config["authorised_at"] = chrono::Utc::now()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .into();
        self.put_config_with(tenant_id, Some(&entra_tenant_id), config)
            .await?;
        let refresh_token = self.emulator.grant_refresh_token(admin);
        self.store_delegated_grant(tenant_id, &entra_tenant_id, &refresh_token)
            .await
    }

    async fn store_delegated_grant(
        &self,
        tenant_id: &str,
        entra_tenant_id: &str,
        refresh_token: &str,
    ) -> anyhow::Result<()> {
        let store = entra_sync::store::SecretsManagerTokenStore::new(
            self.aws.secrets.clone(),
            self.secret_prefix.clone(),
        );
        let grant = entra_sync::store::TenantGrant {
            entra_tenant_id: entra_sync::model::Guid::parse(entra_tenant_id)?,
            refresh_token: secrecy::SecretString::from(refresh_token.to_owned()),
            scope: "offline_access https://graph.microsoft.com/.default".into(),
            authorised_at: chrono::Utc::now(),
            authorised_by: None,
        };
        store
            .save_tenant_tokens(&entra_sync::model::TenantId::parse(tenant_id)?, &grant)
            .await?;
        Ok(())
    }

    /// The config item as a JSON object, if present.
    pub async fn config_item(&self, tenant_id: &str) -> anyhow::Result<Option<Map<String, Value>>> {
        self.item(
            &self.tables.integrations,
            &format!("TENANT#{tenant_id}"),
            "ENTRA#CONFIG",
        )
        .await
    }

    pub async fn item(
        &self,
        table: &str,
        pk: &str,
        sk: &str,
    ) -> anyhow::Result<Option<Map<String, Value>>> {
        let output = self
            .aws
            .dynamodb
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
        Ok(match output.item {
            Some(item) => Some(serde_dynamo::from_item(item)?),
            None => None,
        })
    }

    /// The tenant's secret, parsed, if it exists.
    pub async fn tenant_secret(&self, tenant_id: &str) -> anyhow::Result<Option<Value>> {
        let name = format!("{}tenants/{tenant_id}", self.secret_prefix);
        Ok(match self.aws.secret_value(&name).await? {
            Some(text) => Some(serde_json::from_str(&text)?),
            None => None,
        })
    }

    /// Every item in the integrations table (small in tests).
    pub async fn integration_items(&self) -> anyhow::Result<Vec<Map<String, Value>>> {
        let output = self
            .aws
            .dynamodb
            .scan()
            .table_name(&self.tables.integrations)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| Ok(serde_dynamo::from_item(item)?))
            .collect()
    }
}
