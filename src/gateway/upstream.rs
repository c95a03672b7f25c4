//! The upstream HTTP client: pooled connections, per-provider timeouts and authentication.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::Value;

use crate::catalog::{Provider, ProviderKind};

/// The Anthropic API version sent when the caller did not name one.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Timeouts of one upstream call.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// Until the response headers of a streamed call.
    pub first_byte: Duration,
    /// The whole call, body included.
    pub total: Duration,
}

/// Shared upstream clients. reqwest sets the connect timeout per client, so there is one
/// pooled client per distinct connect timeout (in practice one or two).
pub struct Upstream {
    clients: Mutex<HashMap<Duration, reqwest::Client>>,
    defaults: Timeouts,
}

impl Upstream {
    pub fn new(defaults: Timeouts) -> Self {
        Upstream {
            clients: Mutex::new(HashMap::new()),
            defaults,
        }
    }

    pub fn timeouts(&self, p: &Provider) -> Timeouts {
        let ms = Duration::from_millis;
        Timeouts {
            connect: p.connect_timeout_ms.map_or(self.defaults.connect, ms),
            first_byte: p.first_byte_timeout_ms.map_or(self.defaults.first_byte, ms),
            total: p.total_timeout_ms.map_or(self.defaults.total, ms),
        }
    }

    fn client(&self, connect: Duration) -> reqwest::Client {
        let mut clients = self.clients.lock().expect("upstream client lock poisoned");
        clients
            .entry(connect)
            .or_insert_with(|| {
                reqwest::Client::builder()
                    .connect_timeout(connect)
                    .pool_max_idle_per_host(256)
                    .tcp_nodelay(true)
                    .build()
                    .expect("HTTP client builds")
            })
            .clone()
    }

    /// The request for `body` to `provider`, authenticated with the key in the provider's
    /// environment variable. For Anthropic providers the caller's `anthropic-version` and
    /// `anthropic-beta` headers are forwarded.
    pub fn request(
        &self,
        provider: &Provider,
        body: &Value,
        client_headers: &HeaderMap,
    ) -> reqwest::RequestBuilder {
        let timeouts = self.timeouts(provider);
        let secret = provider
            .api_key_env
            .as_deref()
            .and_then(|name| std::env::var(name).ok());
        let bytes = serde_json::to_vec(body).expect("JSON values serialize");
        let client = self.client(timeouts.connect);
        let req = match provider.kind {
            ProviderKind::Openai => {
                let req = client.post(format!("{}/chat/completions", provider.base_url));
                match secret {
                    Some(s) => req.bearer_auth(s),
                    None => req,
                }
            }
            ProviderKind::Anthropic => {
                let version = client_headers
                    .get("anthropic-version")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(ANTHROPIC_VERSION);
                let mut req = client
                    .post(format!("{}/v1/messages", provider.base_url))
                    .header("anthropic-version", version);
                if let Some(beta) = client_headers.get("anthropic-beta") {
                    req = req.header("anthropic-beta", beta.clone());
                }
                match secret {
                    Some(s) => req.header("x-api-key", s),
                    None => req,
                }
            }
        };
        req.header("content-type", "application/json").body(bytes)
    }
}

/// The error message an upstream put in its error body, in either format.
pub fn error_message(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    parsed
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .or_else(|| v.get("error"))
        })
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned())
}
