//! HTTP handlers of the gateway endpoints.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::call::handle;
use super::{tokens, Format};
use crate::api::extract::ApiJson;
use crate::error::ApiError;
use crate::state::AppState;

/// OpenAI Chat Completions, streaming or not, for every catalog model.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "gateway", request_body = Object,
    responses((status = 200, description = "A chat completion (or an SSE stream of chunks); x-request-id and x-tollgate-cost headers"),
        (status = 400, description = "Invalid request or unpriced model"), (status = 401, description = "Bad API key"),
        (status = 403, description = "Model not allowed for this key"), (status = 404, description = "Unknown model"),
        (status = 413, description = "Body too large"), (status = 502, description = "Upstream failed"), (status = 504, description = "Upstream timed out")))]
pub async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    handle(state, Format::OpenAi, false, headers, body).await
}

/// ModelsLab's path for chat completions: `model_id` may stand for `model`, and the key may
/// be sent as `"key"` in the body.
#[utoipa::path(post, path = "/api/v7/llm/chat/completions", tag = "gateway", request_body = Object,
    responses((status = 200, description = "As POST /v1/chat/completions")))]
pub async fn chat_completions_modelslab(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    handle(state, Format::OpenAi, true, headers, body).await
}

/// Anthropic Messages, streaming or not, for every catalog model.
#[utoipa::path(post, path = "/v1/messages", tag = "gateway", request_body = Object,
    responses((status = 200, description = "A message (or an SSE stream of message events)"), (status = 400, description = "Invalid request"),
        (status = 401, description = "Bad API key"), (status = 404, description = "Unknown model"), (status = 502, description = "Upstream failed")))]
pub async fn messages(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    handle(state, Format::Anthropic, false, headers, body).await
}

/// Anthropic Messages on ModelsLab's path.
#[utoipa::path(post, path = "/api/v7/llm/v1/messages", tag = "gateway", request_body = Object,
    responses((status = 200, description = "As POST /v1/messages")))]
pub async fn messages_modelslab(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    handle(state, Format::Anthropic, true, headers, body).await
}

async fn count(
    state: AppState,
    headers: HeaderMap,
    mut body: Value,
    modelslab: bool,
) -> Result<Json<Value>, ApiError> {
    let body_key = if modelslab {
        body.as_object_mut().and_then(|o| o.remove("key"))
    } else {
        None
    };
    let secret = crate::api::extract::secret_from_headers(&headers)
        .or_else(|| body_key.and_then(|k| k.as_str().map(str::to_string)));
    state.keys.authenticate(secret.as_deref(), Utc::now())?;
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_field("model", "missing field `model`"))?;
    if state.catalog.snapshot().get(model).is_none() {
        return Err(crate::api::models::model_not_found(model));
    }
    if !body.get("messages").is_some_and(Value::is_array) {
        return Err(ApiError::invalid_field(
            "messages",
            "messages must be an array",
        ));
    }
    Ok(Json(json!({"input_tokens": tokens::count_request(&body)})))
}

/// Counts a Messages request's input tokens (locally, with the o200k_base tokenizer).
#[utoipa::path(post, path = "/v1/messages/count_tokens", tag = "gateway", request_body = Object,
    responses((status = 200, description = "{\"input_tokens\": N}"), (status = 401, description = "Bad API key"), (status = 404, description = "Unknown model")))]
pub async fn count_tokens(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    count(state, headers, body, false).await
}

/// `count_tokens` on ModelsLab's path.
#[utoipa::path(post, path = "/api/v7/llm/v1/messages/count_tokens", tag = "gateway", request_body = Object,
    responses((status = 200, description = "As POST /v1/messages/count_tokens")))]
pub async fn count_tokens_modelslab(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    count(state, headers, body, true).await
}

/// The caller's own record of one call: tokens of each kind, cost, price version, latency.
#[utoipa::path(get, path = "/v1/generations/{id}", tag = "gateway",
    params(("id" = String, Path, description = "The call id (x-request-id)")),
    responses((status = 200, description = "{\"data\": generation}", body = crate::metering::GenerationView),
        (status = 401, description = "Bad API key"), (status = 404, description = "No such call for this key")))]
pub async fn generation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let secret = crate::api::extract::secret_from_headers(&headers);
    let key = state.keys.authenticate(secret.as_deref(), Utc::now())?;
    let record = state.store.usage_record(&id).await?;
    match record.filter(|r| r.key_id.as_deref() == Some(key.id.as_str())) {
        Some(r) => Ok(Json(json!({"data": r.view()}))),
        None => Err(ApiError::not_found(
            "generation_not_found",
            format!("no call '{id}' for this key"),
        )),
    }
}
