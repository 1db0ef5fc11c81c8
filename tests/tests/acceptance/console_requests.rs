//! The console's router as any HTTP client reaches it (no browser): it
//! answers only its own `Host` and accepts form posts only from its own
//! pages (docs/behaviour.md 2.11), before any handler runs.

use std::sync::Arc;
use std::time::Duration;

use entra_sync_tests::live::activity::Activity;
use entra_sync_tests::live::console::{self, Console};
use entra_sync_tests::stack::LocalStack;
use reqwest::StatusCode;
use reqwest::header::{HOST, ORIGIN, REFERER};
use tokio::sync::Notify;

const TENANT: &str = "acme";

struct Running {
    stack: Arc<LocalStack>,
    url: String,
    port: u16,
    kick: Arc<Notify>,
    http: reqwest::Client,
}

impl Running {
    async fn start() -> Self {
        let stack = LocalStack::start().await.unwrap();
        stack.put_config(TENANT, None).await.unwrap();
        let stack = Arc::new(stack);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let kick = Arc::new(Notify::new());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        console::serve(
            listener,
            Console {
                stack: stack.clone(),
                api_url: "http://127.0.0.1:9".into(),
                activity: Activity::default(),
                kick: kick.clone(),
                http: http.clone(),
            },
        )
        .unwrap();
        Self {
            stack,
            url: format!("http://127.0.0.1:{port}"),
            port,
            kick,
            http,
        }
    }

    /// `POST <path>` with these headers (besides the client's own `Host`).
    async fn post(
        &self,
        path: &str,
        headers: &[(reqwest::header::HeaderName, String)],
    ) -> StatusCode {
        let mut request = self.http.post(format!("{}{path}", self.url));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send().await.unwrap().status()
    }

    /// Whether "Run the schedule now" was pressed since the last look.
    async fn kicked(&self) -> bool {
        tokio::time::timeout(Duration::from_millis(100), self.kick.notified())
            .await
            .is_ok()
    }

    async fn resync_requested(&self) -> bool {
        let config = self.stack.config_item(TENANT).await.unwrap().unwrap();
        config.contains_key("resync_requested_at")
    }
}

#[tokio::test]
async fn given_another_host_name_then_421_and_nothing_is_shown_or_done() {
    let console = Running::start().await;
    for host in [
        "evil.example",
        "evil.example:80",
        "127.0.0.1:1",
        "localhost",
    ] {
        for path in ["/", "/entra", "/no-such-page"] {
            let answer = console
                .http
                .get(format!("{}{path}", console.url))
                .header(HOST, host)
                .send()
                .await
                .unwrap();
            assert_eq!(
                answer.status(),
                StatusCode::MISDIRECTED_REQUEST,
                "{host}{path}"
            );
            assert!(!answer.text().await.unwrap().contains("Entra ID directory"));
        }
        let own_origin = format!("http://{host}");
        let answer = console
            .http
            .post(format!("{}/tick", console.url))
            .header(HOST, host)
            .header(ORIGIN, &own_origin)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::MISDIRECTED_REQUEST, "{host}");
    }
    assert!(!console.kicked().await);
    // Its own names are answered.
    for host in [
        format!("127.0.0.1:{}", console.port),
        format!("localhost:{}", console.port),
    ] {
        let answer = console
            .http
            .get(format!("{}/", console.url))
            .header(HOST, &host)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{host}");
        assert!(answer.text().await.unwrap().contains("Entra ID directory"));
    }
}

#[tokio::test]
async fn given_a_form_post_from_another_origin_then_403_and_nothing_changes() {
    let console = Running::start().await;
    let port = console.port;
    let refused = [
        vec![],
        vec![(ORIGIN, "null".to_owned())],
        vec![(ORIGIN, "http://evil.example".to_owned())],
        vec![(ORIGIN, format!("http://127.0.0.1:{}", port + 1))],
        vec![(ORIGIN, format!("https://127.0.0.1:{port}"))],
        vec![(REFERER, "http://evil.example/console".to_owned())],
        vec![
            (ORIGIN, "http://evil.example".to_owned()),
            (REFERER, format!("http://127.0.0.1:{port}/")),
        ],
    ];
    for headers in &refused {
        assert_eq!(
            console.post("/tick", headers).await,
            StatusCode::FORBIDDEN,
            "{headers:?}"
        );
        assert_eq!(
            console.post("/request/resync", headers).await,
            StatusCode::FORBIDDEN,
            "{headers:?}"
        );
    }
    assert!(!console.kicked().await, "the schedule was not run");
    assert!(!console.resync_requested().await, "no resync was requested");

    // The same forms from the console's own pages do their work.
    let own = [
        vec![(ORIGIN, format!("http://127.0.0.1:{port}"))],
        vec![(ORIGIN, format!("http://localhost:{port}"))],
        vec![(REFERER, format!("http://127.0.0.1:{port}/entra"))],
    ];
    for headers in &own {
        assert_eq!(
            console.post("/tick", headers).await,
            StatusCode::SEE_OTHER,
            "{headers:?}"
        );
        assert!(console.kicked().await, "{headers:?}");
    }
    assert_eq!(
        console.post("/request/resync", &own[0]).await,
        StatusCode::SEE_OTHER
    );
    assert!(console.resync_requested().await);
}
