//! The console answers only its own `Host`, so that a page of another name
//! that resolves to 127.0.0.1 (DNS rebinding) cannot read or drive it, and
//! accepts form posts only from its own pages (`Origin`, or `Referer` when
//! a browser sends no `Origin`), so that no other site open in the same
//! browser can post to it (docs/behaviour.md 2.11).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The names the console is reached by: 127.0.0.1 or localhost, on its
/// own port, over plain HTTP.
#[derive(Debug, Clone, Copy)]
pub struct OwnOrigin {
    port: u16,
}

const OWN_HOSTS: [&str; 2] = ["127.0.0.1", "localhost"];

impl OwnOrigin {
    pub fn new(port: u16) -> Self {
        Self { port }
    }

    /// A `Host` header of the console: `127.0.0.1:<port>` or
    /// `localhost:<port>` (host names are case-insensitive).
    pub fn is_own_host(&self, host: &str) -> bool {
        let Some((name, port)) = host.rsplit_once(':') else {
            return false;
        };
        port.parse() == Ok(self.port) && OWN_HOSTS.iter().any(|own| own.eq_ignore_ascii_case(name))
    }

    /// An `Origin` (`http://<host>`) or `Referer` (a URL) of the console.
    pub fn is_own_url(&self, url: &str) -> bool {
        let Ok(url) = url::Url::parse(url) else {
            return false;
        };
        url.scheme() == "http"
            && url.username().is_empty()
            && url.port() == Some(self.port)
            && url.host_str().is_some_and(|host| OWN_HOSTS.contains(&host))
    }

    /// Whether a request that changes something comes from the console's
    /// own page: its `Origin`, or its `Referer` when there is no `Origin`.
    pub fn is_own_page(&self, headers: &HeaderMap) -> bool {
        let value = |name| headers.get(name).and_then(|v| v.to_str().ok());
        match (value(header::ORIGIN), value(header::REFERER)) {
            (Some(origin), _) => self.is_own_url(origin),
            (None, Some(referer)) => self.is_own_url(referer),
            (None, None) => false,
        }
    }
}

/// Refuses, before any handler runs, a request for another host (421) and
/// a post from another origin (403).
pub async fn guard(State(own): State<OwnOrigin>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !host.is_some_and(|host| own.is_own_host(host)) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "this console answers only at 127.0.0.1 or localhost, on its own port",
        )
            .into_response();
    }
    let reads_only = matches!(*request.method(), Method::GET | Method::HEAD);
    if !reads_only && !own.is_own_page(headers) {
        return (
            StatusCode::FORBIDDEN,
            "this console accepts forms only from its own pages",
        )
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_console_s_own_host_and_port_are_its_host() {
        let own = OwnOrigin::new(8080);
        for host in ["127.0.0.1:8080", "localhost:8080", "LocalHost:8080"] {
            assert!(own.is_own_host(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "127.0.0.1",
            "localhost:8081",
            "127.0.0.1:80800",
            "localhost.evil.example:8080",
            "[::1]:8080",
            "",
        ] {
            assert!(!own.is_own_host(host), "{host}");
        }
    }

    #[test]
    fn only_the_console_s_own_pages_are_its_origin() {
        let own = OwnOrigin::new(8080);
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://LOCALHOST:8080/entra?x=1",
        ] {
            assert!(own.is_own_url(url), "{url}");
        }
        for url in [
            "null",
            "http://evil.example:8080",
            "https://127.0.0.1:8080",
            "http://127.0.0.1:8081",
            "http://127.0.0.1",
            "http://localhost.evil.example:8080/",
            "http://user@127.0.0.1:8080/",
            "",
        ] {
            assert!(!own.is_own_url(url), "{url}");
        }
    }

    #[test]
    fn the_origin_decides_and_the_referer_only_without_one() {
        let own = OwnOrigin::new(8080);
        let headers = |pairs: &[(header::HeaderName, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(name, value.parse().unwrap());
            }
            map
        };
        let mine = "http://127.0.0.1:8080/";
        let theirs = "http://evil.example/";
        assert!(own.is_own_page(&headers(&[(header::ORIGIN, "http://127.0.0.1:8080")])));
        assert!(own.is_own_page(&headers(&[(header::REFERER, mine)])));
        assert!(!own.is_own_page(&headers(&[])));
        assert!(!own.is_own_page(&headers(&[(header::REFERER, theirs)])));
        assert!(!own.is_own_page(&headers(&[
            (header::ORIGIN, "http://evil.example"),
            (header::REFERER, mine)
        ])));
    }
}
