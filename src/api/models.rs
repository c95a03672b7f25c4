//! The public catalog: `GET /v1/models` and `GET /v1/models/{id}` in two shapes.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use chrono::Utc;

use super::extract::ApiQuery;
use super::views::{
    anthropic_model, details, openai_model, AnthropicModelDetail, AnthropicModelList, ModelDetail,
    ModelList, OpenAiModelDetail,
};
use crate::catalog::query::ModelQuery;
use crate::error::ApiError;
use crate::state::AppState;

/// Anthropic SDKs send `anthropic-version` on every request; that selects the Anthropic shape.
pub fn wants_anthropic(headers: &HeaderMap) -> bool {
    headers.contains_key("anthropic-version")
}

/// List catalog models (OpenAI shape, or Anthropic shape with `anthropic-version`).
#[utoipa::path(
    get, path = "/v1/models", tag = "catalog",
    params(ModelQuery, ("anthropic-version" = Option<String>, Header, description = "Selects the Anthropic Models API shape")),
    responses(
        (status = 200, description = "OpenAI list shape; the Anthropic shape (AnthropicModelList) when anthropic-version is sent", body = ModelList),
        (status = 400, description = "Invalid query parameter"),
    )
)]
pub async fn list_models(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ModelQuery>,
) -> Result<Response, ApiError> {
    let snapshot = state.catalog.snapshot();
    let now = Utc::now();
    let selected = query.select(&snapshot, now);
    if wants_anthropic(&headers) {
        let page = query.page(selected)?;
        let data: Vec<_> = page.entries.iter().map(|e| anthropic_model(e)).collect();
        let body = AnthropicModelList {
            first_id: data.first().map(|m| m.id.clone()),
            last_id: data.last().map(|m| m.id.clone()),
            has_more: page.has_more,
            data,
        };
        return Ok(Json(ModelList::Anthropic(body)).into_response());
    }
    // The list is each model's JSON, rendered once per catalog snapshot and price version in
    // effect (the same bytes `Json(OpenAiModelList { .. })` would write): at thousands of
    // models, rendering them on every request is what a request would spend its time on.
    let parts: Vec<Bytes> = selected
        .iter()
        .map(|e| {
            let render = || {
                let json = serde_json::to_vec(&openai_model(&snapshot, e, now))
                    .expect("a model serializes");
                Bytes::from(json)
            };
            match snapshot.position(e) {
                Some(i) => {
                    snapshot
                        .listed_json
                        .get_or_render(i, e.price_at(now).map(|v| v.id), render)
                }
                None => render(),
            }
        })
        .collect();
    const HEAD: &[u8] = br#"{"object":"list","data":["#;
    let len = HEAD.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>() + 2;
    let mut body = Vec::with_capacity(len);
    body.extend_from_slice(HEAD);
    for (n, part) in parts.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(part);
    }
    body.extend_from_slice(b"]}");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The same list on ModelsLab's path.
#[utoipa::path(
    get, path = "/api/v7/llm/v1/models", tag = "catalog",
    params(ModelQuery, ("anthropic-version" = Option<String>, Header, description = "Selects the Anthropic Models API shape")),
    responses((status = 200, description = "As GET /v1/models", body = ModelList), (status = 400, description = "Invalid query parameter"))
)]
pub async fn list_models_modelslab(
    state: State<AppState>,
    headers: HeaderMap,
    query: ApiQuery<ModelQuery>,
) -> Result<Response, ApiError> {
    list_models(state, headers, query).await
}

/// One model with its current price, price history and related models. An alias (or a name a
/// pattern alias matches) finds its model too, as a call would; the answer's `id` is the
/// catalog id.
#[utoipa::path(
    get, path = "/v1/models/{id}", tag = "catalog",
    params(("id" = String, Path, description = "Model id, or an alias"), ("anthropic-version" = Option<String>, Header, description = "Selects the Anthropic shape")),
    responses(
        (status = 200, description = "OpenAI shape; AnthropicModelDetail with anthropic-version", body = ModelDetail),
        (status = 404, description = "No such model"),
    )
)]
pub async fn get_model(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let snapshot = state.catalog.snapshot();
    let entry = snapshot.resolve(&id).ok_or_else(|| model_not_found(&id))?;
    let now = Utc::now();
    if wants_anthropic(&headers) {
        let body = AnthropicModelDetail {
            model: anthropic_model(entry),
            pricing: entry.price_at(now).cloned(),
            details: details(&snapshot, entry, now),
        };
        return Ok(Json(ModelDetail::Anthropic(Box::new(body))).into_response());
    }
    let body = OpenAiModelDetail {
        model: openai_model(&snapshot, entry, now),
        details: details(&snapshot, entry, now),
    };
    Ok(Json(ModelDetail::OpenAi(Box::new(body))).into_response())
}

/// The same model on ModelsLab's path.
#[utoipa::path(
    get, path = "/api/v7/llm/v1/models/{id}", tag = "catalog",
    params(("id" = String, Path, description = "Model id, or an alias"), ("anthropic-version" = Option<String>, Header, description = "Selects the Anthropic shape")),
    responses((status = 200, description = "As GET /v1/models/{id}", body = ModelDetail), (status = 404, description = "No such model"))
)]
pub async fn get_model_modelslab(
    state: State<AppState>,
    headers: HeaderMap,
    id: Path<String>,
) -> Result<Response, ApiError> {
    get_model(state, headers, id).await
}

pub fn model_not_found(id: &str) -> ApiError {
    ApiError::not_found("model_not_found", format!("model '{id}' does not exist"))
}
