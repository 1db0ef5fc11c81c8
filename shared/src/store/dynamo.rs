//! The small DynamoDB vocabulary every adapter shares: attribute values,
//! keys, and what an SDK error means for the port.

use std::collections::HashMap;

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, WriteRequest};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::ports::StoreError;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn timestamp(t: DateTime<Utc>) -> AttributeValue {
    s(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// A string attribute of an item.
pub fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

pub fn flag(item: &Item, name: &str) -> Option<bool> {
    item.get(name).and_then(|v| v.as_bool().ok()).copied()
}

/// A query of the items under `pk` whose `sk` begins with `prefix`.
pub fn sk_prefix_query(
    client: &Client,
    table: &str,
    pk: String,
    prefix: &str,
) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
    client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(":pk", s(pk))
        .expression_attribute_values(":prefix", s(prefix))
}

/// Every item a query finds, following `LastEvaluatedKey` page by page.
pub async fn query_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    operation: &'static str,
) -> Result<Vec<Item>, StoreError> {
    query_kept(query, operation, |_| true).await
}

/// The items of a query that `keep` holds, page by page: the others are
/// dropped as each page is read (a scan of a tenant's index for a few).
pub async fn query_kept(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    operation: &'static str,
    mut keep: impl FnMut(&Item) -> bool,
) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let output = query
            .clone()
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(unavailable(operation))?;
        let page = output.items.unwrap_or_default();
        items.extend(page.into_iter().filter(|item| keep(item)));
        match output.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(items),
        }
    }
}

/// Bookkeeping of our own design, kept as one JSON string attribute.
pub fn to_json<T: serde::Serialize>(value: &T) -> AttributeValue {
    s(serde_json::to_string(value).expect("bookkeeping serialises"))
}

pub fn from_json<T: serde::de::DeserializeOwned>(
    item: &Item,
    name: &'static str,
    what: &'static str,
) -> Result<Option<T>, StoreError> {
    text(item, name)
        .map(|raw| {
            serde_json::from_str(&raw).map_err(|e| StoreError::Malformed {
                what,
                detail: format!("{name}: {e}"),
            })
        })
        .transpose()
}

pub fn malformed(what: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Malformed {
        what,
        detail: detail.into(),
    }
}

/// The write's condition did not hold.
pub fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// Maps an SDK error to the port's error, naming the operation.
pub fn unavailable<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |err| StoreError::Unavailable {
        operation,
        detail: crate::aws::describe_sdk_error(&err),
    }
}

/// `unavailable`, except that a request DynamoDB refuses as invalid (a
/// value from outside that cannot be a key) is `Refused`: retrying it
/// cannot help.
pub fn refused_or_unavailable<E, R>(
    operation: &'static str,
) -> impl FnOnce(SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |err| {
        if err.as_service_error().and_then(|e| e.code()) == Some("ValidationException") {
            StoreError::Refused {
                operation,
                detail: crate::aws::describe_sdk_error(&err),
            }
        } else {
            unavailable(operation)(err)
        }
    }
}

/// The outcome of a conditional write: `Ok(true)` when written, `Ok(false)`
/// when its condition did not hold (the caller's "nothing to do").
pub fn conditional<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    operation: &'static str,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(err) if is_condition_failure(&err) => Ok(false),
        Err(err) => Err(unavailable(operation)(err)),
    }
}

/// A put of a whole item, for a batch write.
pub fn put_request(item: Item) -> Result<WriteRequest, StoreError> {
    let put = aws_sdk_dynamodb::types::PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(|e| malformed("an item to write", e.to_string()))?;
    Ok(WriteRequest::builder().put_request(put).build())
}

/// A delete of the item with this key, for a batch write.
pub fn delete_request(key: Item) -> Result<WriteRequest, StoreError> {
    let delete = aws_sdk_dynamodb::types::DeleteRequest::builder()
        .set_key(Some(key))
        .build()
        .map_err(|e| malformed("a key to delete", e.to_string()))?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

/// Unprocessed keys or items are sent again this many times, with backoff.
const UNPROCESSED_RETRIES: u32 = 8;
/// Batch requests of one call in flight at once.
const BATCHES_IN_FLIGHT: usize = 4;

async fn unprocessed_backoff(attempt: &mut u32, operation: &'static str) -> Result<(), StoreError> {
    *attempt += 1;
    if *attempt > UNPROCESSED_RETRIES {
        return Err(StoreError::Unavailable {
            operation,
            detail: "DynamoDB left part of the batch unprocessed after every retry".into(),
        });
    }
    tokio::time::sleep(Duration::from_millis(50 << (*attempt).min(6))).await;
    Ok(())
}

/// BatchGetItem (strongly consistent) in chunks of 100, retrying
/// unprocessed keys.
pub async fn batch_get(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
    operation: &'static str,
) -> Result<Vec<Item>, StoreError> {
    batch_get_projected(client, table, keys, None, operation).await
}

/// `batch_get` of only the attributes `projection` names (plain names, no
/// reserved words): smaller answers when a caller needs a key and an id.
pub async fn batch_get_projected(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
    projection: Option<&str>,
    operation: &'static str,
) -> Result<Vec<Item>, StoreError> {
    let chunks: Vec<Vec<Item>> = keys.chunks(100).map(<[Item]>::to_vec).collect();
    let results: Vec<Vec<Item>> = stream::iter(chunks)
        .map(|chunk| async move {
            let mut found = Vec::new();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk))
                    .consistent_read(true)
                    .set_projection_expression(projection.map(str::to_owned))
                    .build()
                    .map_err(|e| malformed("a key set", e.to_string()))?,
            );
            let mut attempt = 0u32;
            while let Some(request) = pending.take() {
                let output = client
                    .batch_get_item()
                    .request_items(table, request)
                    .send()
                    .await
                    .map_err(unavailable(operation))?;
                found.extend(
                    output
                        .responses
                        .and_then(|mut r| r.remove(table))
                        .unwrap_or_default(),
                );
                pending = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(table))
                    .filter(|k| !k.keys.is_empty());
                if pending.is_some() {
                    unprocessed_backoff(&mut attempt, operation).await?;
                }
            }
            Ok::<_, StoreError>(found)
        })
        .buffer_unordered(BATCHES_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(results.into_iter().flatten().collect())
}

/// BatchWriteItem in chunks of 25, retrying unprocessed items; returns how
/// many requests were written.
pub async fn batch_write(
    client: &Client,
    table: &str,
    requests: Vec<WriteRequest>,
    operation: &'static str,
) -> Result<u64, StoreError> {
    let chunks: Vec<Vec<WriteRequest>> =
        requests.chunks(25).map(<[WriteRequest]>::to_vec).collect();
    let written: Vec<u64> = stream::iter(chunks)
        .map(|chunk| async move {
            let count = chunk.len() as u64;
            let mut pending = chunk;
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let output = client
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .map_err(unavailable(operation))?;
                pending = output
                    .unprocessed_items
                    .and_then(|mut u| u.remove(table))
                    .unwrap_or_default();
                if !pending.is_empty() {
                    unprocessed_backoff(&mut attempt, operation).await?;
                }
            }
            Ok::<_, StoreError>(count)
        })
        .buffer_unordered(BATCHES_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(written.into_iter().sum())
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;

    use super::*;

    fn service_error(code: &str) -> SdkError<GetItemError, ()> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("One or more parameter values were invalid")
            .build();
        SdkError::service_error(GetItemError::generic(meta), ())
    }

    #[test]
    fn a_request_dynamodb_refuses_as_invalid_is_refused_and_not_retried() {
        let err =
            refused_or_unavailable("reading a subscription")(service_error("ValidationException"));
        assert!(matches!(err, StoreError::Refused { .. }), "{err:?}");
        assert!(!err.is_retryable());

        let err = refused_or_unavailable("reading a subscription")(service_error(
            "ProvisionedThroughputExceededException",
        ));
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    }
}
