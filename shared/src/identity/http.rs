//! The bridge between `oauth2` and reqwest 0.13 (oauth2 5 ships one only for
//! reqwest 0.12).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::{AsyncHttpClient, HttpClientError, HttpRequest, HttpResponse};

/// A token request that takes longer than this has failed (the client's
/// own limit is Graph's, longer).
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A reqwest client speaking oauth2's HTTP interface. It must not follow
/// redirects: a redirect would replay credentials to another host.
pub struct OAuthHttp<'a>(pub &'a reqwest::Client);

impl<'c> AsyncHttpClient<'c> for OAuthHttp<'_> {
    type Error = HttpClientError<reqwest::Error>;
    type Future =
        Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + Sync + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .timeout(TOKEN_REQUEST_TIMEOUT)
                .send()
                .await
                .map_err(Box::new)?;
            let mut builder = http::Response::builder().status(response.status());
            if let Some(headers) = builder.headers_mut() {
                *headers = response.headers().clone();
            }
            let body = response.bytes().await.map_err(Box::new)?.to_vec();
            builder.body(body).map_err(HttpClientError::Http)
        })
    }
}
