//! The upstream HTTP client: pooled connections, per-provider timeouts and authentication.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
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
    /// Each provider's endpoint, parsed once (a URL parse was ~6,600 instructions of every
    /// call), by base URL.
    endpoints: Mutex<HashMap<String, (ProviderKind, reqwest::Url)>>,
    defaults: Timeouts,
}

/// Endpoints remembered at most; past this the memo starts over (base URLs only change by
/// admin edits, so this bounds a memo no caller controls anyway).
const MAX_ENDPOINTS: usize = 1024;

impl Upstream {
    pub fn new(defaults: Timeouts) -> Self {
        Upstream {
            clients: Mutex::new(HashMap::new()),
            endpoints: Mutex::new(HashMap::new()),
            defaults,
        }
    }

    /// The URL a call to `provider` is sent to; `Err` carries the unparsable text, which the
    /// client then refuses like any bad URL.
    fn endpoint(&self, provider: &Provider) -> Result<reqwest::Url, String> {
        let mut memo = self.endpoints.lock().expect("endpoint memo lock poisoned");
        if let Some((kind, url)) = memo.get(&provider.base_url) {
            if *kind == provider.kind {
                return Ok(url.clone());
            }
        }
        let path = match provider.kind {
            ProviderKind::Openai => "/chat/completions",
            ProviderKind::Anthropic => "/v1/messages",
        };
        let text = format!("{}{path}", provider.base_url);
        let url = reqwest::Url::parse(&text).map_err(|_| text)?;
        if memo.len() >= MAX_ENDPOINTS {
            memo.clear();
        }
        memo.insert(provider.base_url.clone(), (provider.kind, url.clone()));
        Ok(url)
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
                    // A redirect would carry the provider's key to wherever the upstream
                    // points; an upstream that redirects is answered as a failed call.
                    .redirect(reqwest::redirect::Policy::none())
                    .pool_max_idle_per_host(256)
                    .tcp_nodelay(true)
                    .build()
                    .expect("HTTP client builds")
            })
            .clone()
    }

    /// The request for `body` to `provider`, authenticated with `secret` (the key in the
    /// provider's environment variable, see [`secret`]). For Anthropic providers the caller's
    /// `anthropic-version` and `anthropic-beta` headers are forwarded.
    pub fn request(
        &self,
        provider: &Provider,
        secret: Option<String>,
        body: Vec<u8>,
        client_headers: &HeaderMap,
    ) -> reqwest::RequestBuilder {
        let timeouts = self.timeouts(provider);
        let client = self.client(timeouts.connect);
        let req = match self.endpoint(provider) {
            Ok(url) => client.post(url),
            Err(text) => client.post(text),
        };
        let req = match provider.kind {
            ProviderKind::Openai => match secret {
                Some(s) => req.bearer_auth(s),
                None => req,
            },
            ProviderKind::Anthropic => {
                let version = client_headers
                    .get("anthropic-version")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(ANTHROPIC_VERSION);
                let mut req = req.header("anthropic-version", version);
                if let Some(beta) = client_headers.get("anthropic-beta") {
                    req = req.header("anthropic-beta", beta.clone());
                }
                match secret {
                    Some(s) => req.header("x-api-key", s),
                    None => req,
                }
            }
        };
        req.header("content-type", "application/json").body(body)
    }
}

/// A provider names an environment variable for its key, and the variable is unset or empty.
#[derive(Debug, thiserror::Error)]
#[error("provider '{provider}' has no API key: environment variable {variable} is not set")]
pub struct MissingKey {
    pub provider: String,
    pub variable: String,
}

/// The provider's key: `None` for a provider that names no variable (a local server that
/// needs no key), an error when the variable it names is unset, so the call is refused
/// instead of being sent without credentials.
pub fn secret(provider: &Provider) -> Result<Option<String>, MissingKey> {
    let Some(name) = provider.api_key_env.as_deref() else {
        return Ok(None);
    };
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(Some(v)),
        _ => Err(MissingKey {
            provider: provider.id.clone(),
            variable: name.to_string(),
        }),
    }
}

/// Logs a warning for every provider whose key variable is unset (at start and after catalog
/// changes), so a misconfiguration shows before the first call fails.
pub fn warn_missing_keys<'a>(providers: impl IntoIterator<Item = &'a Provider>) {
    for p in providers {
        if let Err(e) = secret(p) {
            tracing::warn!(provider = %e.provider, variable = %e.variable, "provider has no API key; its calls will be refused");
        }
    }
}

/// Removes credentials from text an upstream sent (error bodies echo keys): the provider's own
/// key wherever it appears, and anything shaped like a bearer token or API key.
pub fn redact(text: &str, secret: Option<&str>) -> String {
    static PATTERN: OnceLock<regex::Regex> = OnceLock::new();
    let pattern = PATTERN.get_or_init(|| {
        regex::Regex::new(
            r"(?i)(bearer\s+[A-Za-z0-9._~+/=-]{8,}|\b(?:sk|pk|rk|ak|key|api|tok|token)[-_][A-Za-z0-9._-]{8,}|\b[A-Za-z0-9_-]{40,}\b)",
        )
        .expect("the redaction pattern compiles")
    });
    let mut text = text.to_string();
    if let Some(s) = secret.filter(|s| s.len() >= 4) {
        text = text.replace(s, "[redacted]");
    }
    pattern.replace_all(&text, "[redacted]").into_owned()
}

/// The headers of an upstream's error answer that reach the caller: when to retry, and the
/// rate-limit state (`x-ratelimit-*` from OpenAI-kind hosts, `anthropic-ratelimit-*`).
pub fn passed_on_headers(
    headers: &reqwest::header::HeaderMap,
) -> Vec<(axum::http::HeaderName, axum::http::HeaderValue)> {
    headers
        .iter()
        .filter(|(name, _)| {
            let n = name.as_str();
            n == "retry-after"
                || n == "retry-after-ms"
                || n.starts_with("x-ratelimit-")
                || n.starts_with("anthropic-ratelimit-")
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// True when an error body says the upstream is overloaded (Anthropic's `overloaded_error`).
pub fn is_overloaded(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .is_ok_and(|v| v.pointer("/error/type").and_then(Value::as_str) == Some("overloaded_error"))
}

/// The error message an upstream put in its error body, in either format (not yet redacted).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_key_and_key_shaped_words() {
        let secret = "upstream-secret-123";
        let text = "invalid key upstream-secret-123; Authorization: Bearer abcdefghijkl; try sk-proj-ABCDEFGH12345678 or 0123456789abcdef0123456789abcdef0123456789";
        let clean = redact(text, Some(secret));
        for leaked in [secret, "abcdefghijkl", "sk-proj", "0123456789abcdef"] {
            assert!(!clean.contains(leaked), "{leaked} left in {clean}");
        }
        assert!(clean.starts_with("invalid key [redacted]"), "{clean}");
        assert_eq!(redact("model not found", Some(secret)), "model not found");
    }
}

/// Largest non-streaming answer read from an upstream (a chat answer is kilobytes; this only
/// stops an upstream from filling the gateway's memory).
pub const MAX_ANSWER_BODY: usize = 32 * 1024 * 1024;
/// Largest upstream error body read (the rest is dropped).
pub const MAX_ERROR_BODY: usize = 64 * 1024;
/// Largest single server-sent event of an upstream stream.
pub const MAX_SSE_EVENT: usize = 4 * 1024 * 1024;

/// Why an upstream body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the upstream's answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// Reads a whole body, refusing one longer than `max` bytes without holding more than that.
pub async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<bytes::Bytes, ReadError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(ReadError::TooLarge(max));
    }
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if out.len() + chunk.len() > max {
            return Err(ReadError::TooLarge(max));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// An upstream stream's bytes, failing once [`MAX_SSE_EVENT`] bytes pass without an event
/// boundary (a blank line), so one endless event cannot fill the gateway's memory.
pub fn bounded_events(
    response: reqwest::Response,
) -> impl futures::Stream<Item = Result<bytes::Bytes, ReadError>> {
    use futures::StreamExt;
    let mut since_boundary = 0usize;
    let mut last = 0u8;
    response.bytes_stream().map(move |chunk| {
        let chunk = chunk?;
        for &b in chunk.iter() {
            if b == b'\n' && last == b'\n' {
                since_boundary = 0;
            } else if b != b'\r' {
                since_boundary += 1;
            }
            if b != b'\r' {
                last = b;
            }
        }
        if since_boundary > MAX_SSE_EVENT {
            return Err(ReadError::TooLarge(MAX_SSE_EVENT));
        }
        Ok(chunk)
    })
}
