//! The AWS SDK configuration, loaded once per process. Endpoints, region and
//! credentials come only from the standard SDK settings (`AWS_ENDPOINT_URL*`,
//! `AWS_REGION`, ...), so the same binaries run against AWS and moto.

pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// A readable form of an SDK error: its code and message, not "service error".
pub fn describe_sdk_error<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::SdkError;
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            format!(
                "{}: {}",
                inner.code().unwrap_or("UnknownError"),
                inner.message().unwrap_or("no message")
            )
        }
        SdkError::TimeoutError(_) => "request timed out".to_owned(),
        SdkError::DispatchFailure(failure) => {
            format!(
                "could not reach the service: {:?}",
                failure.as_connector_error()
            )
        }
        other => aws_sdk_dynamodb::error::DisplayErrorContext(other).to_string(),
    }
}
