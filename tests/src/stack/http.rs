//! The stack's HTTP routes, called as the platform, the portal and the
//! admin's browser call them.

use anyhow::Context;

use super::{LocalStack, PORTAL_RETURN_URL, REDIRECT_URI, SESSION_BINDING};
use crate::events::{HttpResponse, http_api_request};
use crate::lambda_runtime_api::LambdaFunction;

impl LocalStack {
    pub async fn invoke_http(
        function: &mut LambdaFunction,
        method: &str,
        route_key: &str,
        path: &str,
        query: &str,
    ) -> anyhow::Result<HttpResponse> {
        let answer = function
            .invoke(http_api_request(method, route_key, path, query))
            .await?
            .map_err(|e| anyhow::anyhow!("the function reported an error: {e}"))?;
        HttpResponse::from_lambda(&answer)
    }

    /// `POST /tenants/{tenant_id}/entra/authorize`, as the platform calls
    /// it for the admin of the portal session `SESSION_BINDING`.
    pub async fn authorize(&mut self, tenant_id: &str) -> anyhow::Result<HttpResponse> {
        let body = serde_json::json!({ "session_binding": SESSION_BINDING }).to_string();
        self.authorize_with(tenant_id, &body).await
    }

    /// `POST …/authorize` with this body.
    pub async fn authorize_with(
        &mut self,
        tenant_id: &str,
        body: &str,
    ) -> anyhow::Result<HttpResponse> {
        self.post_json(
            "POST /tenants/{tenant_id}/entra/authorize",
            &format!("/tenants/{tenant_id}/entra/authorize"),
            body,
        )
        .await
    }

    /// `POST …/authorize/confirm`, as the portal calls it when the admin's
    /// browser comes back with `status=pending&result=…`.
    pub async fn confirm(
        &mut self,
        tenant_id: &str,
        result: &str,
        session_binding: &str,
    ) -> anyhow::Result<HttpResponse> {
        let body = serde_json::json!({ "result": result, "session_binding": session_binding });
        self.post_json(
            "POST /tenants/{tenant_id}/entra/authorize/confirm",
            &format!("/tenants/{tenant_id}/entra/authorize/confirm"),
            &body.to_string(),
        )
        .await
    }

    pub async fn post_json(
        &mut self,
        route_key: &str,
        path: &str,
        body: &str,
    ) -> anyhow::Result<HttpResponse> {
        let mut request = http_api_request("POST", route_key, path, "");
        request["body"] = serde_json::Value::String(body.to_owned());
        request["headers"]["content-type"] = "application/json".into();
        request["headers"]["content-length"] = body.len().to_string().into();
        let answer = self
            .callback
            .invoke(request)
            .await?
            .map_err(|e| anyhow::anyhow!("the function reported an error: {e}"))?;
        HttpResponse::from_lambda(&answer)
    }

    /// `GET /entra/callback?<query>`, as the admin's browser arrives.
    pub async fn callback(&mut self, query: &str) -> anyhow::Result<HttpResponse> {
        Self::invoke_http(
            &mut self.callback,
            "GET",
            "GET /entra/callback",
            "/entra/callback",
            query,
        )
        .await
    }

    /// Authorize, then walk the admin's browser through Microsoft and the
    /// callback, leg after leg (consent, sign-in), until the callback sends
    /// it to the portal: that last answer.
    pub async fn authorise_in_browser(&mut self, tenant_id: &str) -> anyhow::Result<HttpResponse> {
        let start = self.authorize(tenant_id).await?;
        anyhow::ensure!(
            start.status == 200,
            "authorize answered {}: {}",
            start.status,
            start.body
        );
        let url = start.json()["authorize_url"]
            .as_str()
            .context("no authorize_url")?
            .to_owned();
        self.walk_browser(&url).await
    }

    /// The browser at a Microsoft URL, going back and forth between
    /// Microsoft and the callback until the callback sends it to the
    /// portal: that last answer.
    pub async fn walk_browser(&mut self, microsoft_url: &str) -> anyhow::Result<HttpResponse> {
        let mut url = microsoft_url.to_owned();
        for _leg in 0..4 {
            let back = self.emulator.browse(&url).await?.redirect();
            let back = url::Url::parse(&back)?;
            anyhow::ensure!(
                back.as_str().starts_with(REDIRECT_URI),
                "Microsoft sent the browser to {back}"
            );
            let answer = self.callback(back.query().unwrap_or("")).await?;
            match answer.location() {
                Some(next) if !next.as_str().starts_with(PORTAL_RETURN_URL) => {
                    url = next.to_string();
                }
                _ => return Ok(answer),
            }
        }
        anyhow::bail!("the authorisation did not reach the portal after four legs")
    }

    /// The whole authorisation as the portal and the admin go through it:
    /// the browser's legs, then the confirm with the admin's binding.
    pub async fn authorise(&mut self, tenant_id: &str) -> anyhow::Result<HttpResponse> {
        let pending = self.authorise_in_browser(tenant_id).await?;
        let query: std::collections::HashMap<String, String> = pending
            .location()
            .context("the callback did not redirect to the portal")?
            .query_pairs()
            .into_owned()
            .collect();
        anyhow::ensure!(
            query.get("status").map(String::as_str) == Some("pending"),
            "the sign-in did not end pending: {query:?}"
        );
        self.confirm(tenant_id, &query["result"], SESSION_BINDING)
            .await
    }
}
