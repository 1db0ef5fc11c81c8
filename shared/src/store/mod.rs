//! Adapters for AWS storage behind the engines' ports.

pub mod directory;
pub mod failures;
pub mod integrations;
pub mod queue;
pub mod secrets;
pub mod sync_state;

pub use integrations::DynamoIntegrationsStore;
pub use secrets::{AppClientSecret, SecretsManagerTokenStore};

use crate::model::ConfigItemError;

/// A failure of a store adapter, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The service failed or could not be reached; a retry may succeed.
    #[error("{operation} failed: {detail}")]
    Unavailable {
        operation: &'static str,
        detail: String,
    },
    /// What the store holds cannot be used as it is.
    #[error("{what} is malformed: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error(transparent)]
    Config(#[from] ConfigItemError),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

pub(crate) fn unavailable<E, R>(
    operation: &'static str,
) -> impl FnOnce(aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |err| StoreError::Unavailable {
        operation,
        detail: crate::aws::describe_sdk_error(&err),
    }
}

/// The outcome of a conditional write: `Ok(true)` when written, `Ok(false)`
/// when its condition did not hold (the caller's "nothing to do").
pub(crate) fn conditional<T, E, R>(
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
    operation: &'static str,
) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(err)
            if err.as_service_error().and_then(|e| e.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(err) => Err(unavailable(operation)(err)),
    }
}
