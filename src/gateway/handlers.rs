//! HTTP handlers of the gateway endpoints.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use http_body_util::{BodyExt, Limited};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::body::Strict;
use super::call::{handle, Admitted};
use super::{tokens, Format};
use crate::api::extract::{json_bytes, json_content_type, parse_json, secret_from_headers};
use crate::configuration::Settings;
use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// Bounds of the gateway endpoints on what a caller sends.
#[derive(Clone)]
pub struct Limits {
    /// Most body bytes read before authentication, when a ModelsLab caller sends its key as
    /// `"key"` in the body.
    pub body_key_max_bytes: usize,
    /// Most text bytes `count_tokens` tokenizes.
    pub count_tokens_max_bytes: usize,
    /// Tokenizations running at once (on blocking threads).
    pub tokenizer: Arc<Semaphore>,
}

impl Limits {
    pub fn new(settings: &Settings) -> Self {
        Limits {
            body_key_max_bytes: settings.body_key_max_bytes,
            count_tokens_max_bytes: settings.count_tokens_max_bytes,
            tokenizer: Arc::new(Semaphore::new(settings.effective_tokenizer_concurrency())),
        }
    }
}

/// A gateway body: JSON with no duplicate keys (see [`super::body`]).
fn parse_body(bytes: &[u8]) -> Result<Value, ApiError> {
    parse_json::<Strict>(bytes).map(|Strict(v)| v)
}

/// Authenticates a gateway request before its body is read, then reads and parses the body.
///
/// A key in `Authorization: Bearer` or `x-api-key` is checked first: an unknown, revoked or
/// missing key is refused without reading a byte of the body. ModelsLab callers may send the
/// key as `"key"` in the body instead; then at most [`Limits::body_key_max_bytes`] are read
/// before the key is checked (413 above that). The key found here is the call's: it is
/// checked once, at the gateway's clock.
async fn admit(
    state: &AppState,
    limits: &Limits,
    req: Request,
    modelslab: bool,
) -> Result<Admitted, ApiError> {
    let header_secret = secret_from_headers(req.headers());
    if header_secret.is_some() || !modelslab {
        let key = state
            .keys
            .authenticate(header_secret.as_deref(), state.clock.now())?;
        let headers = req.headers().clone();
        let raw = json_bytes(req).await?;
        let body = parse_body(&raw)?;
        return Ok(Admitted {
            headers,
            raw,
            body,
            key,
        });
    }
    json_content_type(req.headers())?;
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, limits.body_key_max_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ApiError::new(
                ErrorKind::PayloadTooLarge,
                "payload_too_large",
                format!(
                "a request carrying its API key as \"key\" in the body may be at most {} bytes; \
                     send larger requests with Authorization: Bearer <key>",
                limits.body_key_max_bytes
            ),
            ))
        }
        Err(e) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("failed to read the request body: {e}"),
            ))
        }
    };
    let body = parse_body(&bytes)?;
    let secret = body.get("key").and_then(Value::as_str);
    let key = state.keys.authenticate(secret, state.clock.now())?;
    Ok(Admitted {
        headers: parts.headers,
        raw: bytes,
        body,
        key,
    })
}

async fn call(
    state: AppState,
    limits: &Limits,
    req: Request,
    format: Format,
    modelslab: bool,
) -> Response {
    let id = req
        .extensions()
        .get::<crate::api::CallId>()
        .map_or_else(super::new_call_id, |c| c.0.clone());
    match admit(&state, limits, req, modelslab).await {
        // Boxed: the call's future is large (every stage's state), and an unboxed one is
        // copied whole each time a wrapper takes it (bench/callgrind.py measured ~60,000
        // instructions of memcpy per call).
        Ok(admitted) => Box::pin(handle(state, format, modelslab, admitted, id)).await,
        Err(e) => e.into_response(),
    }
}

/// OpenAI Chat Completions, streaming or not, for every catalog model.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "gateway", request_body = Object,
    responses((status = 200, description = "A chat completion (or an SSE stream of chunks); x-request-id and x-tollgate-cost headers"),
        (status = 400, description = "Invalid request or unpriced model"), (status = 401, description = "Bad API key"),
        (status = 402, description = "A budget or prepaid balance would be exceeded"), (status = 403, description = "Model not allowed for this key"),
        (status = 404, description = "Unknown model"), (status = 413, description = "Body too large"), (status = 415, description = "Content-Type is not JSON"),
        (status = 429, description = "Rate limit reached"), (status = "4XX", description = "Another client error the upstream answered, passed through"),
        (status = 502, description = "Upstream failed"), (status = 503, description = "The gateway is shutting down, or the upstream is overloaded (OpenAI callers)"), (status = 529, description = "The upstream is overloaded (Anthropic callers, `overloaded_error`)"), (status = 504, description = "Upstream timed out")))]
pub async fn chat_completions(
    State(state): State<AppState>,
    Extension(limits): Extension<Limits>,
    req: Request,
) -> Response {
    call(state, &limits, req, Format::OpenAi, false).await
}

/// ModelsLab's path for chat completions: `model_id` may stand for `model`, and the key may
/// be sent as `"key"` in the body.
#[utoipa::path(post, path = "/api/v7/llm/chat/completions", tag = "gateway", request_body = Object,
    responses((status = 200, description = "As POST /v1/chat/completions; a body over the body-key limit with the key in it is a 413"),
        (status = 400, description = "Invalid request or unpriced model"), (status = 401, description = "Bad API key"),
        (status = 402, description = "A budget or prepaid balance would be exceeded"), (status = 403, description = "Model not allowed for this key"),
        (status = 404, description = "Unknown model"), (status = 413, description = "Body too large"), (status = 415, description = "Content-Type is not JSON"),
        (status = 429, description = "Rate limit reached"), (status = "4XX", description = "Another client error the upstream answered, passed through"),
        (status = 502, description = "Upstream failed"), (status = 503, description = "The gateway is shutting down, or the upstream is overloaded (OpenAI callers)"), (status = 529, description = "The upstream is overloaded (Anthropic callers, `overloaded_error`)"), (status = 504, description = "Upstream timed out")))]
pub async fn chat_completions_modelslab(
    State(state): State<AppState>,
    Extension(limits): Extension<Limits>,
    req: Request,
) -> Response {
    call(state, &limits, req, Format::OpenAi, true).await
}

/// The OpenAI Responses API, streaming or not, for every catalog model whatever its provider
/// speaks (translated through the protocol hub). Stateless: `previous_response_id` is refused.
#[utoipa::path(post, path = "/v1/responses", tag = "gateway", request_body = Object,
    responses((status = 200, description = "A response object (or an SSE stream of response events); x-request-id and x-tollgate-cost headers"),
        (status = 400, description = "Invalid request, a field the target cannot carry, or an unpriced model"), (status = 401, description = "Bad API key"),
        (status = 402, description = "A budget or prepaid balance would be exceeded"), (status = 403, description = "Model not allowed for this key"),
        (status = 404, description = "Unknown model"), (status = 413, description = "Body too large"), (status = 415, description = "Content-Type is not JSON"),
        (status = 429, description = "Rate limit reached"), (status = "4XX", description = "Another client error the upstream answered, passed through"),
        (status = 502, description = "Upstream failed"), (status = 503, description = "The gateway is shutting down, or the upstream is overloaded"), (status = 504, description = "Upstream timed out")))]
pub async fn responses(
    State(state): State<AppState>,
    Extension(limits): Extension<Limits>,
    req: Request,
) -> Response {
    call(state, &limits, req, Format::Responses, false).await
}

/// Anthropic Messages, streaming or not, for every catalog model.
#[utoipa::path(post, path = "/v1/messages", tag = "gateway", request_body = Object,
    responses((status = 200, description = "A message (or an SSE stream of message events)"),
        (status = 400, description = "Invalid request or unpriced model"), (status = 401, description = "Bad API key"),
        (status = 402, description = "A budget or prepaid balance would be exceeded"), (status = 403, description = "Model not allowed for this key"),
        (status = 404, description = "Unknown model"), (status = 413, description = "Body too large"), (status = 415, description = "Content-Type is not JSON"),
        (status = 429, description = "Rate limit reached"), (status = "4XX", description = "Another client error the upstream answered, passed through"),
        (status = 502, description = "Upstream failed"), (status = 503, description = "The gateway is shutting down, or the upstream is overloaded (OpenAI callers)"), (status = 529, description = "The upstream is overloaded (Anthropic callers, `overloaded_error`)"), (status = 504, description = "Upstream timed out")))]
pub async fn messages(
    State(state): State<AppState>,
    Extension(limits): Extension<Limits>,
    req: Request,
) -> Response {
    call(state, &limits, req, Format::Anthropic, false).await
}

/// Anthropic Messages on ModelsLab's path.
#[utoipa::path(post, path = "/api/v7/llm/v1/messages", tag = "gateway", request_body = Object,
    responses((status = 200, description = "As POST /v1/messages; a body over the body-key limit with the key in it is a 413"),
        (status = 400, description = "Invalid request or unpriced model"), (status = 401, description = "Bad API key"),
        (status = 402, description = "A budget or prepaid balance would be exceeded"), (status = 403, description = "Model not allowed for this key"),
        (status = 404, description = "Unknown model"), (status = 413, description = "Body too large"), (status = 415, description = "Content-Type is not JSON"),
        (status = 429, description = "Rate limit reached"), (status = "4XX", description = "Another client error the upstream answered, passed through"),
        (status = 502, description = "Upstream failed"), (status = 503, description = "The gateway is shutting down, or the upstream is overloaded (OpenAI callers)"), (status = 529, description = "The upstream is overloaded (Anthropic callers, `overloaded_error`)"), (status = 504, description = "Upstream timed out")))]
pub async fn messages_modelslab(
    State(state): State<AppState>,
    Extension(limits): Extension<Limits>,
    req: Request,
) -> Response {
    call(state, &limits, req, Format::Anthropic, true).await
}

async fn count(
    state: AppState,
    limits: &Limits,
    req: Request,
    modelslab: bool,
) -> Result<Json<Value>, ApiError> {
    let Admitted { mut body, .. } = admit(&state, limits, req, modelslab).await?;
    if let Some(o) = body.as_object_mut() {
        o.remove("key");
    }
    let model_field = if modelslab && body.get("model").is_none() {
        "model_id"
    } else {
        "model"
    };
    let model = body
        .get(model_field)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::invalid_field(model_field, format!("missing field `{model_field}`"))
        })?;
    if state.catalog.snapshot().resolve(model).is_none() {
        return Err(crate::api::models::model_not_found(model));
    }
    if !body.get("messages").is_some_and(Value::is_array) {
        return Err(ApiError::invalid_field(
            "messages",
            "messages must be an array",
        ));
    }
    let text_bytes = tokenizer_input_bytes(&body);
    if text_bytes > limits.count_tokens_max_bytes {
        return Err(ApiError::new(
            ErrorKind::PayloadTooLarge,
            "payload_too_large",
            format!(
                "count_tokens reads at most {} bytes of text; this request has {text_bytes}",
                limits.count_tokens_max_bytes
            ),
        ));
    }
    let _permit = limits
        .tokenizer
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal())?;
    let input_tokens = tokio::task::spawn_blocking(move || tokens::count_request(&body))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the tokenizer failed");
            ApiError::internal()
        })?;
    Ok(Json(json!({"input_tokens": input_tokens})))
}

/// An upper bound of the text the tokenizer reads from a request: every string under
/// `system`, `messages` and `tools`, except images and documents (`source` objects and
/// `data:` URLs), which it skips.
fn tokenizer_input_bytes(body: &Value) -> usize {
    fn walk(v: &Value) -> usize {
        match v {
            Value::String(s) if s.starts_with("data:") => 0,
            Value::String(s) => s.len() + 1,
            Value::Array(items) => items.iter().map(walk).fold(0, usize::saturating_add),
            Value::Object(map) => map
                .iter()
                .filter(|(k, _)| k.as_str() != "source")
                .map(|(_, v)| walk(v))
                .fold(0, usize::saturating_add),
            _ => 0,
        }
    }
    ["system", "messages", "tools"]
        .iter()
        .filter_map(|f| body.get(*f))
        .map(walk)
        .fold(0, usize::saturating_add)
}

/// Counts a Messages request's input tokens (locally, with the o200k_base tokenizer).
#[utoipa::path(post, path = "/v1/messages/count_tokens", tag = "gateway", request_body = Object,
    responses((status = 200, description = "{\"input_tokens\": N}"), (status = 400, description = "Invalid request"), (status = 401, description = "Bad API key"), (status = 404, description = "Unknown model"),
        (status = 413, description = "Body or its text larger than the limits"), (status = 415, description = "Content-Type is not JSON")))]
pub async fn count_tokens(
    State(state): State<AppState>,
    Extension(limits): Extension<Limits>,
    req: Request,
) -> Result<Json<Value>, ApiError> {
    count(state, &limits, req, false).await
}

/// `count_tokens` on ModelsLab's path: `model_id` may stand for `model`, and the key may be sent
/// as `"key"` in the body.
#[utoipa::path(post, path = "/api/v7/llm/v1/messages/count_tokens", tag = "gateway", request_body = Object,
    responses((status = 200, description = "As POST /v1/messages/count_tokens"), (status = 400, description = "Invalid request"), (status = 401, description = "Bad API key"), (status = 404, description = "Unknown model"),
        (status = 413, description = "Body or its text larger than the limits; with the key in the body, larger than the body-key limit"), (status = 415, description = "Content-Type is not JSON")))]
pub async fn count_tokens_modelslab(
    State(state): State<AppState>,
    Extension(limits): Extension<Limits>,
    req: Request,
) -> Result<Json<Value>, ApiError> {
    count(state, &limits, req, true).await
}

/// The caller's own record of one call: tokens of each kind, cost, price version, latency.
#[utoipa::path(get, path = "/v1/generations/{id}", tag = "gateway",
    params(("id" = String, Path, description = "The call id (x-request-id)")),
    responses((status = 200, description = "{\"data\": generation}", body = crate::metering::Generation),
        (status = 401, description = "Bad API key"), (status = 404, description = "No such call for this key")))]
pub async fn generation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<crate::metering::Generation>, ApiError> {
    let secret = crate::api::extract::secret_from_headers(&headers);
    let key = state.keys.authenticate(secret.as_deref(), Utc::now())?;
    let record = state.store.usage_record(&id).await?;
    match record.filter(|r| r.key_id.as_deref() == Some(key.id.as_str())) {
        Some(r) => Ok(Json(crate::metering::Generation { data: r.view() })),
        None => Err(ApiError::not_found(
            "generation_not_found",
            format!("no call '{id}' for this key"),
        )),
    }
}
