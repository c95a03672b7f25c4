//! The JSON shapes of catalog entries: OpenAI/OpenRouter-style and Anthropic-style.

use chrono::{DateTime, NaiveTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::{DefaultParams, Entry, ModelStatus, Snapshot};
use crate::pricing::PriceVersion;

/// A model in the OpenAI list shape, with OpenRouter-style catalog fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiModel {
    pub id: String,
    /// Other names that call this model: exact names, and patterns ending with `*` that match
    /// every name they start (the longest matching pattern wins). Sorted.
    pub aliases: Vec<String>,
    /// Always `model`.
    pub object: &'static str,
    /// Unix seconds of the date the model was added.
    pub created: i64,
    pub owned_by: String,
    pub name: String,
    pub description: String,
    pub creator: String,
    pub provider: String,
    pub provider_name: String,
    pub context_length: Option<u32>,
    pub max_output_tokens: Option<u32>,
    /// The price version in effect now; `null` when the model has no known price.
    pub pricing: Option<PriceVersion>,
    pub capabilities: Vec<String>,
    pub input_modalities: Vec<String>,
    pub default_parameters: DefaultParams,
    pub open_weights: bool,
    pub added_on: String,
    pub status: ModelStatus,
}

/// `GET /v1/models` in the OpenAI shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiModelList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<OpenAiModel>,
}

/// A model in the Anthropic Models API shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnthropicModel {
    /// Always `model`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub display_name: String,
    /// RFC 3339 time the model was added.
    pub created_at: String,
}

/// `GET /v1/models` in the Anthropic shape (sent when the request has `anthropic-version`).
#[derive(Debug, Serialize, ToSchema)]
pub struct AnthropicModelList {
    pub data: Vec<AnthropicModel>,
    pub has_more: bool,
    pub first_id: Option<String>,
    pub last_id: Option<String>,
}

/// `GET /v1/models` in either shape: the Anthropic one when the request has `anthropic-version`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ModelList {
    OpenAi(OpenAiModelList),
    Anthropic(AnthropicModelList),
}

/// `GET /v1/models/{id}` in either shape: the Anthropic one when the request has
/// `anthropic-version`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ModelDetail {
    OpenAi(Box<OpenAiModelDetail>),
    Anthropic(Box<AnthropicModelDetail>),
}

/// A related model with its current price.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelatedModel {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub pricing: Option<PriceVersion>,
}

/// What `GET /v1/models/{id}` adds to either shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelDetails {
    /// Every price version, oldest first (future-dated versions included).
    pub price_history: Vec<PriceVersion>,
    pub related: Vec<RelatedModel>,
}

/// `GET /v1/models/{id}` in the OpenAI shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiModelDetail {
    #[serde(flatten)]
    pub model: OpenAiModel,
    #[serde(flatten)]
    pub details: ModelDetails,
}

/// `GET /v1/models/{id}` in the Anthropic shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnthropicModelDetail {
    #[serde(flatten)]
    pub model: AnthropicModel,
    pub pricing: Option<PriceVersion>,
    #[serde(flatten)]
    pub details: ModelDetails,
}

fn added_at(e: &Entry) -> DateTime<Utc> {
    e.model.added_on.and_time(NaiveTime::MIN).and_utc()
}

pub fn openai_model(snapshot: &Snapshot, e: &Entry, now: DateTime<Utc>) -> OpenAiModel {
    let m = &e.model;
    OpenAiModel {
        id: m.id.clone(),
        aliases: e.aliases.clone(),
        object: "model",
        created: added_at(e).timestamp(),
        owned_by: m.creator.clone(),
        name: m.name.clone(),
        description: m.description.clone(),
        creator: m.creator.clone(),
        provider: m.provider.clone(),
        provider_name: snapshot
            .provider(&m.provider)
            .map_or_else(|| m.provider.clone(), |p| p.name.clone()),
        context_length: m.context_length,
        max_output_tokens: m.max_output_tokens,
        pricing: e.price_at(now).cloned(),
        capabilities: m.capabilities.clone(),
        input_modalities: m.input_modalities.clone(),
        default_parameters: m.default_params.clone(),
        open_weights: m.open_weights,
        added_on: m.added_on.to_string(),
        status: m.status,
    }
}

pub fn anthropic_model(e: &Entry) -> AnthropicModel {
    AnthropicModel {
        kind: "model",
        id: e.model.id.clone(),
        display_name: e.model.name.clone(),
        created_at: added_at(e).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

pub fn details(snapshot: &Snapshot, e: &Entry, now: DateTime<Utc>) -> ModelDetails {
    let related = e
        .related
        .iter()
        .filter_map(|id| snapshot.get(id))
        .map(|r| RelatedModel {
            id: r.model.id.clone(),
            name: r.model.name.clone(),
            provider: r.model.provider.clone(),
            pricing: r.price_at(now).cloned(),
        })
        .collect();
    ModelDetails {
        price_history: e.prices.clone(),
        related,
    }
}
