//! `DIRECTORY_TABLE` on DynamoDB: the import engine's `DirectoryStore` and
//! the export engine's `ExportDirectory`. Items become the model's typed
//! items here (`serde_dynamo`) and nowhere else; what to write, and the
//! hash each write carries, the engines decide.

mod create_intents;
mod deleted_users;
mod links;
mod reads;
mod reports;
mod user_names;
mod writes;

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::WriteRequest;

use super::dynamo::{
    Item, batch_get, batch_get_projected, batch_write, malformed, query_all, s, sk_prefix_query,
    text,
};
use super::layout::tenant_pk;
use crate::import::buckets::KeyRange;
use crate::model::TenantId;
use crate::ports::StoreError;

const CONCURRENCY: usize = 16;

#[derive(Debug)]
pub struct DynamoDirectoryStore {
    client: Client,
    table: String,
    links: links::LinkIndex,
    writes: AtomicU64,
}

/// A table item as one of the model's items, under the ids its key names
/// (the model reads a value of an unexpected type as no value).
fn parse<T: serde::de::DeserializeOwned>(
    mut item: Item,
    what: &'static str,
) -> Result<T, StoreError> {
    let sk = text(&item, "sk").unwrap_or_default();
    let key = text(&item, "pk").and_then(|pk| crate::model::directory::ItemKey::parse(&pk, &sk));
    if let Some(key) = key {
        for (name, id) in key.ids() {
            item.insert(name.to_owned(), s(id));
        }
    }
    serde_dynamo::from_item(item).map_err(|e| malformed(what, format!("{sk}: {e}")))
}

impl DynamoDirectoryStore {
    /// `links_table` is `INTEGRATIONS_TABLE`, where the Entra links live.
    pub fn new(client: Client, table: String, links_table: String) -> Self {
        Self {
            client,
            table,
            links: links::LinkIndex::new(links_table),
            writes: AtomicU64::new(0),
        }
    }

    /// Items written or deleted so far (for the benchmark).
    pub fn write_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    fn count_writes(&self, n: u64) {
        self.writes.fetch_add(n, Ordering::Relaxed);
    }

    /// BatchGetItem in chunks of 100, retrying unprocessed keys.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        batch_get(&self.client, &self.table, keys, "reading directory items").await
    }

    async fn batch_get_projected(
        &self,
        keys: Vec<Item>,
        projection: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        batch_get_projected(
            &self.client,
            &self.table,
            keys,
            projection,
            "reading directory items",
        )
        .await
    }

    /// BatchWriteItem in chunks of 25, retrying unprocessed items.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        let written = batch_write(
            &self.client,
            &self.table,
            requests,
            "writing directory items",
        )
        .await?;
        self.count_writes(written);
        Ok(())
    }

    /// Items of the tenant whose sk starts with `prefix`, projected.
    async fn query_prefix(
        &self,
        tenant: &TenantId,
        prefix: &str,
        projection: &str,
        only_imported: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut query = sk_prefix_query(&self.client, &self.table, tenant_pk(tenant), prefix)
            .projection_expression(projection);
        if only_imported {
            query = imported_only(query);
        }
        query_all(query, "listing directory items").await
    }

    /// Imported items of the tenant whose sk is `prefix` followed by an id
    /// in the range, projected. The range's end is inclusive in a key
    /// condition: the caller keeps the ids the range contains.
    async fn query_range(
        &self,
        tenant: &TenantId,
        prefix: &str,
        range: KeyRange,
        projection: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let (from, to) = range.bounds();
        let from = format!("{prefix}{}", from.unwrap_or_default());
        let to = match to {
            Some(to) => format!("{prefix}{to}"),
            None => after_every_key_of(prefix),
        };
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(tenant_pk(tenant)))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(to))
            .projection_expression(projection);
        query_all(
            imported_only(query),
            "listing a key range of directory items",
        )
        .await
    }
}

fn imported_only(query: QueryFluentBuilder) -> QueryFluentBuilder {
    query
        .filter_expression("#source = :entra")
        .expression_attribute_names("#source", "source")
        .expression_attribute_values(":entra", s("entra"))
}

/// A key that sorts after every key beginning with `prefix` (`USER#` →
/// `USER$`): its last character, one higher.
fn after_every_key_of(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    if let Some(last) = chars.pop() {
        chars.push(char::from_u32(u32::from(last) + 1).unwrap_or(char::MAX));
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests;
