//! The one HTTPS client a process uses for Microsoft (Graph and the identity
//! platform).
//!
//! Its trust roots are Mozilla's, compiled in (`webpki-roots`), rather than
//! the system store: loading the system store means reading and parsing
//! every certificate file, about 5 ms of cold start per client here, and
//! the AWS SDK's client already pays it once. Microsoft's endpoints chain
//! to roots in Mozilla's programme.

use std::sync::Arc;
use std::time::Duration;

/// A Graph or identity request that takes longer than this has failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn tls_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    // A preconfigured config is used as it is: offer HTTP/2 ourselves.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// Bounded time, and redirects never followed: a redirect would replay a
/// token or the client secret to another host.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config())
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(REQUEST_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(50))
        .build()
        .expect("a client with static settings builds")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_client_builds_with_its_compiled_in_roots() {
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        let _client = super::client();
    }
}
