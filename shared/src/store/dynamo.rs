//! The small DynamoDB vocabulary every adapter shares: attribute values,
//! keys, and what an SDK error means for the port.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use crate::model::TenantId;
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

pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

/// The primary key of a tenant's item.
pub fn key(tenant: &TenantId, sk: impl Into<String>) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(tenant_pk(tenant))),
        ("sk".to_owned(), s(sk)),
    ])
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
