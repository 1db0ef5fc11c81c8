//! The AWS side of tests: moto in server mode on 127.0.0.1 (started by
//! `tests/scripts/local-aws.sh`), reached through the real SDK. Tables are
//! created from `template.yaml`, the one definition of their keys and streams.

use std::collections::HashMap;

use anyhow::{Context, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use serde_yaml_ng::Value as Yaml;

pub const TEMPLATE: &str = include_str!("../../template.yaml");

#[derive(Clone)]
pub struct LocalAws {
    pub endpoint: String,
    pub sdk: aws_config::SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sqs: aws_sdk_sqs::Client,
}

/// The physical names of the template's tables, by their role.
#[derive(Debug, Clone)]
pub struct Tables {
    pub integrations: String,
    pub directory: String,
}

impl LocalAws {
    /// Deletes a received message: it was handled.
    pub async fn delete_message(&self, queue_url: &str, receipt: &str) -> anyhow::Result<()> {
        self.sqs
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// Connects to the moto server named by `AWS_ENDPOINT_URL`.
    pub async fn from_env() -> anyhow::Result<Self> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").context(
            "AWS_ENDPOINT_URL is not set: run the tests through tests/scripts/run-tests.sh, which starts moto",
        )?;
        let host = url::Url::parse(&endpoint)?
            .host_str()
            .unwrap_or("")
            .to_owned();
        if !matches!(host.as_str(), "127.0.0.1" | "localhost") {
            bail!("AWS_ENDPOINT_URL must point at a local moto server, not {endpoint}");
        }
        let sdk = entra_sync::aws::load_sdk_config().await;
        Ok(Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            endpoint,
            sdk,
        })
    }

    /// The environment a function binary needs to reach the same moto.
    pub fn function_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_ENDPOINT_URL".to_owned(), self.endpoint.clone()),
            ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
        ];
        for name in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            env.push((
                name.to_owned(),
                std::env::var(name).unwrap_or_else(|_| match name {
                    "AWS_REGION" => "us-east-1".to_owned(),
                    _ => "test".to_owned(),
                }),
            ));
        }
        env
    }

    /// Creates every DynamoDB table of `template.yaml`, named
    /// `<prefix>-<LogicalId>`, with the template's keys, indexes, stream and TTL.
    pub async fn create_tables(&self, prefix: &str) -> anyhow::Result<Tables> {
        let mut names = HashMap::new();
        for (logical_id, properties) in template_tables()? {
            let name = format!("{prefix}-{logical_id}");
            self.create_table(&name, &properties)
                .await
                .with_context(|| format!("creating table {logical_id} from template.yaml"))?;
            names.insert(logical_id, name);
        }
        let mut take = |id: &str| {
            names
                .remove(id)
                .with_context(|| format!("template.yaml has no {id}"))
        };
        Ok(Tables {
            integrations: take("IntegrationsTable")?,
            directory: take("DirectoryTable")?,
        })
    }

    async fn create_table(&self, name: &str, p: &Yaml) -> anyhow::Result<()> {
        let mut request = self.dynamodb.create_table().table_name(name);
        for def in seq(p, "AttributeDefinitions")? {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(text(def, "AttributeName")?)
                    .attribute_type(ScalarAttributeType::from(text(def, "AttributeType")?))
                    .build()?,
            );
        }
        for key in key_schema(p)? {
            request = request.key_schema(key);
        }
        request = request.billing_mode(BillingMode::from(
            p.get("BillingMode")
                .and_then(Yaml::as_str)
                .unwrap_or("PAY_PER_REQUEST"),
        ));
        if let Some(indexes) = p.get("GlobalSecondaryIndexes").and_then(Yaml::as_sequence) {
            for index in indexes {
                request = request.global_secondary_indexes(global_index(index)?);
            }
        }
        if let Some(stream) = p.get("StreamSpecification") {
            request = request.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(text(stream, "StreamViewType")?))
                    .build()?,
            );
        }
        request
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
        if let Some(ttl) = p.get("TimeToLiveSpecification") {
            self.dynamodb
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(text(ttl, "AttributeName")?)
                        .enabled(ttl.get("Enabled").and_then(Yaml::as_bool).unwrap_or(true))
                        .build()?,
                )
                .send()
                .await
                .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
        }
        Ok(())
    }

    /// Stores a plain-string secret (e.g. the app's client secret); returns its ARN.
    pub async fn create_secret(&self, name: &str, value: &str) -> anyhow::Result<String> {
        let output = self
            .secrets
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
        output.arn.context("CreateSecret returned no ARN")
    }

    /// The current value of a secret, if it exists.
    pub async fn secret_value(&self, name: &str) -> anyhow::Result<Option<String>> {
        match self
            .secrets
            .get_secret_value()
            .secret_id(name)
            .version_stage("AWSCURRENT")
            .send()
            .await
        {
            Ok(output) => Ok(output.secret_string),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => bail!(entra_sync::aws::describe_sdk_error(&e)),
        }
    }
}

/// The `AWS::DynamoDB::Table` resources of the template: logical id, properties.
pub fn template_tables() -> anyhow::Result<Vec<(String, Yaml)>> {
    let template: Yaml = serde_yaml_ng::from_str(TEMPLATE).context("template.yaml is not YAML")?;
    let resources = template
        .get("Resources")
        .and_then(Yaml::as_mapping)
        .context("template.yaml has no Resources")?;
    Ok(resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Yaml::as_str) == Some("AWS::DynamoDB::Table"))
        .filter_map(|(id, r)| Some((id.as_str()?.to_owned(), r.get("Properties")?.clone())))
        .collect())
}

/// The `sk` prefixes of the export's event filter in template.yaml.
pub fn template_stream_filter_prefixes() -> anyhow::Result<Vec<String>> {
    let template: Yaml = serde_yaml_ng::from_str(TEMPLATE)?;
    let pattern = template["Resources"]["ExportStreamFunction"]["Properties"]["Events"]["DirectoryChanges"]["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"]
        .as_str()
        .context("template.yaml has no export filter pattern")?;
    let pattern: serde_json::Value = serde_json::from_str(pattern)?;
    Ok(pattern["dynamodb"]["Keys"]["sk"]["S"]
        .as_array()
        .context("the filter has no sk prefixes")?
        .iter()
        .filter_map(|p| p["prefix"].as_str().map(str::to_owned))
        .collect())
}

fn seq<'a>(v: &'a Yaml, key: &str) -> anyhow::Result<&'a Vec<Yaml>> {
    v.get(key)
        .and_then(Yaml::as_sequence)
        .with_context(|| format!("{key} is not a list"))
}

fn text<'a>(v: &'a Yaml, key: &str) -> anyhow::Result<&'a str> {
    v.get(key)
        .and_then(Yaml::as_str)
        .with_context(|| format!("{key} is not a string"))
}

/// A template `GlobalSecondaryIndexes` entry as the SDK's index.
fn global_index(index: &Yaml) -> anyhow::Result<GlobalSecondaryIndex> {
    let projection = index.get("Projection");
    let mut projection_builder = Projection::builder().projection_type(ProjectionType::from(
        projection
            .and_then(|p| p.get("ProjectionType"))
            .and_then(Yaml::as_str)
            .unwrap_or("ALL"),
    ));
    for attribute in projection
        .and_then(|p| p.get("NonKeyAttributes"))
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Yaml::as_str)
    {
        projection_builder = projection_builder.non_key_attributes(attribute);
    }
    let mut gsi = GlobalSecondaryIndex::builder()
        .index_name(text(index, "IndexName")?)
        .projection(projection_builder.build());
    for key in key_schema(index)? {
        gsi = gsi.key_schema(key);
    }
    Ok(gsi.build()?)
}

fn key_schema(v: &Yaml) -> anyhow::Result<Vec<KeySchemaElement>> {
    seq(v, "KeySchema")?
        .iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(text(k, "AttributeName")?)
                .key_type(KeyType::from(text(k, "KeyType")?))
                .build()?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_defines_both_tables_with_pk_and_sk() {
        let tables = template_tables().unwrap();
        let ids: Vec<_> = tables.iter().map(|(id, _)| id.as_str()).collect();
        assert!(ids.contains(&"IntegrationsTable") && ids.contains(&"DirectoryTable"));
        for (_, p) in &tables {
            let keys = key_schema(p).unwrap();
            assert_eq!(keys[0].attribute_name(), "pk");
            assert_eq!(keys[1].attribute_name(), "sk");
        }
        let directory = &tables
            .iter()
            .find(|(id, _)| id == "DirectoryTable")
            .unwrap()
            .1;
        assert_eq!(
            text(
                directory.get("StreamSpecification").unwrap(),
                "StreamViewType"
            )
            .unwrap(),
            "NEW_AND_OLD_IMAGES"
        );
    }
}
