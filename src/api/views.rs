//! The JSON shapes of catalog entries: OpenAI/OpenRouter-style and Anthropic-style.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::catalog::{DefaultParams, Entry, Model, ModelStatus, ProviderKind, Snapshot};
use crate::pricing::{per_token, PriceVersion, Prices};

/// A model in the OpenAI list shape, with OpenRouter's model fields (`canonical_slug`,
/// `pricing` per token, `architecture`, `top_provider`, `supported_parameters`, ...) beside
/// Tollgate's own, so that readers of OpenRouter's model list read it unchanged.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiModel {
    pub id: String,
    /// OpenRouter's permanent slug: the id.
    pub canonical_slug: String,
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
    /// The price version in effect now, with OpenRouter's per-token prices beside Tollgate's
    /// per-1M ones; `null` when the model has no known price.
    pub pricing: Option<ListedPrice>,
    /// OpenRouter's summary of what goes in and comes out.
    pub architecture: Architecture,
    /// OpenRouter's limits of the provider serving the model: here, the model's own.
    pub top_provider: TopProvider,
    /// The chat-completions parameters a call to this model may carry (OpenRouter's names),
    /// sorted: the sampling parameters the gateway forwards to the provider's kind, and
    /// `tools`/`tool_choice`/`parallel_tool_calls`, `response_format`/`structured_outputs`,
    /// `reasoning`/`include_reasoning` by capability. Empty for models that are not `chat`.
    #[schema(value_type = Vec<String>)]
    pub supported_parameters: Vec<&'static str>,
    /// OpenRouter's per-request token limits: always `null` (Tollgate sets none).
    #[schema(value_type = Option<Object>)]
    pub per_request_limits: Option<()>,
    /// OpenRouter's name for the day the model is deprecated from (`YYYY-MM-DD`), if set.
    pub expiration_date: Option<NaiveDate>,
    pub capabilities: Vec<String>,
    pub input_modalities: Vec<String>,
    pub default_parameters: DefaultParams,
    pub open_weights: bool,
    pub added_on: String,
    pub status: ModelStatus,
}

/// OpenRouter's prices: USD per token (`prompt`, `completion`, `input_cache_read`,
/// `input_cache_write`, `internal_reasoning`) or per unit (`image`, `request`, `web_search`), as exact
/// decimal strings (`"0.000003"` for 3 per 1M tokens; `"0"` when free). A key whose price is
/// not set is absent: cache reads and writes then cost `prompt`, reasoning costs `completion`.
/// Long-context tiers have no OpenRouter key: they are in Tollgate's `tiers`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OpenRouterPricing {
    #[schema(value_type = String, example = "0.000003")]
    pub prompt: Decimal,
    #[schema(value_type = String, example = "0.000015")]
    pub completion: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "0.0000003")]
    pub input_cache_read: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "0.00000375")]
    pub input_cache_write: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub internal_reasoning: Option<Decimal>,
    /// Per input image.
    #[schema(value_type = String, example = "0")]
    pub image: Decimal,
    /// Per call.
    #[schema(value_type = String, example = "0")]
    pub request: Decimal,
    /// Per web search the upstream reports.
    #[schema(value_type = String, example = "0.01")]
    pub web_search: Decimal,
}

impl OpenRouterPricing {
    /// Derived exactly from a version's prices (see [`per_token`]).
    pub fn of(p: &Prices) -> Self {
        OpenRouterPricing {
            prompt: per_token(p.input_per_mtok),
            completion: per_token(p.output_per_mtok),
            input_cache_read: p.cached_input_per_mtok.map(per_token),
            input_cache_write: p.cache_write_per_mtok.map(per_token),
            internal_reasoning: p.reasoning_per_mtok.map(per_token),
            image: p.per_image.normalize(),
            request: p.per_request.normalize(),
            web_search: p.per_web_search.normalize(),
        }
    }
}

/// A price version as the model list shows it: Tollgate's fields (USD per 1M tokens, fees,
/// tiers, the version's id and source) and OpenRouter's ([`OpenRouterPricing`]), in one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListedPrice {
    #[serde(flatten)]
    pub version: PriceVersion,
    #[serde(flatten)]
    pub openrouter: OpenRouterPricing,
}

impl ListedPrice {
    pub fn of(version: &PriceVersion) -> Self {
        ListedPrice {
            openrouter: OpenRouterPricing::of(&version.prices),
            version: version.clone(),
        }
    }
}

// One object with the properties of both (utoipa would describe the flattened pair as
// `allOf`; see `PriceVersionSchema` in pricing.rs for why that does not fit).
impl PartialSchema for ListedPrice {
    fn schema() -> RefOr<Schema> {
        let (RefOr::T(Schema::Object(mut all)), RefOr::T(Schema::Object(openrouter))) =
            (PriceVersion::schema(), OpenRouterPricing::schema())
        else {
            unreachable!("both are plain object schemas")
        };
        all.properties.extend(openrouter.properties);
        all.required.extend(openrouter.required);
        all.description = Some(
            "A price version: Tollgate's prices (USD per 1M tokens, fees, tiers) and \
             OpenRouter's (USD per token or per unit), in one object."
                .into(),
        );
        RefOr::T(Schema::Object(all))
    }
}

impl ToSchema for ListedPrice {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        PriceVersion::schemas(schemas);
    }
}

/// OpenRouter's `architecture`, as far as the catalog knows it (no tokenizer).
#[derive(Debug, Serialize, ToSchema)]
pub struct Architecture {
    /// `text+image->text`: the input modalities, `->`, the output's.
    pub modality: String,
    pub input_modalities: Vec<String>,
    /// `text` for chat models; `embeddings`, `image`, `audio` or `video` for the modes that
    /// produce those.
    #[schema(value_type = Vec<String>)]
    pub output_modalities: Vec<&'static str>,
}

/// OpenRouter's `top_provider`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopProvider {
    pub context_length: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    /// Always `false`: the gateway moderates nothing.
    pub is_moderated: bool,
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

/// What a model of this mode produces, by OpenRouter's names.
fn output_modalities(mode: &str) -> Vec<&'static str> {
    match mode {
        "embedding" => vec!["embeddings"],
        "image_generation" | "image_edit" => vec!["image"],
        "audio_speech" => vec!["audio"],
        "video_generation" => vec!["video"],
        _ => vec!["text"],
    }
}

fn architecture(m: &Model) -> Architecture {
    let output_modalities = output_modalities(&m.mode);
    Architecture {
        modality: format!(
            "{}->{}",
            m.input_modalities.join("+"),
            output_modalities.join("+")
        ),
        input_modalities: m.input_modalities.clone(),
        output_modalities,
    }
}

/// The chat-completions parameters a call may carry (see [`OpenAiModel::supported_parameters`]):
/// an OpenAI-kind provider gets the caller's sampling parameters as sent; an Anthropic-kind
/// one takes `top_k` and refuses the penalties (docs/gateway.md, "Fields across formats").
fn supported_parameters(m: &Model, kind: Option<ProviderKind>) -> Vec<&'static str> {
    if m.mode != "chat" {
        return vec![];
    }
    let mut params = vec!["max_tokens", "stop", "temperature", "top_p"];
    match kind {
        Some(ProviderKind::Anthropic) => params.push("top_k"),
        _ => params.extend(["frequency_penalty", "presence_penalty", "seed"]),
    }
    for (capability, names) in [
        (
            "tools",
            &["parallel_tool_calls", "tool_choice", "tools"][..],
        ),
        ("json_mode", &["response_format", "structured_outputs"][..]),
        ("reasoning", &["include_reasoning", "reasoning"][..]),
    ] {
        if m.has_capability(capability) {
            params.extend(names);
        }
    }
    params.sort_unstable();
    params
}

pub fn openai_model(snapshot: &Snapshot, e: &Entry, now: DateTime<Utc>) -> OpenAiModel {
    let m = &e.model;
    let provider = snapshot.provider(&m.provider);
    OpenAiModel {
        id: m.id.clone(),
        canonical_slug: m.id.clone(),
        aliases: e.aliases.clone(),
        object: "model",
        created: added_at(e).timestamp(),
        owned_by: m.creator.clone(),
        name: m.name.clone(),
        description: m.description.clone(),
        creator: m.creator.clone(),
        provider: m.provider.clone(),
        provider_name: provider.map_or_else(|| m.provider.clone(), |p| p.name.clone()),
        context_length: m.context_length,
        max_output_tokens: m.max_output_tokens,
        pricing: e.price_at(now).map(ListedPrice::of),
        architecture: architecture(m),
        top_provider: TopProvider {
            context_length: m.context_length,
            max_completion_tokens: m.max_output_tokens,
            is_moderated: false,
        },
        supported_parameters: supported_parameters(m, provider.map(|p| p.kind)),
        per_request_limits: None,
        expiration_date: m.deprecated_from,
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

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn version(prices: Prices) -> PriceVersion {
        PriceVersion {
            id: 7,
            model_id: "vendor/m:1".into(),
            effective_from: Utc::now(),
            source: Some("openrouter".into()),
            prices,
        }
    }

    fn prices(input: &str, output: &str) -> Prices {
        Prices {
            input_per_mtok: dec(input),
            output_per_mtok: dec(output),
            cached_input_per_mtok: None,
            cache_write_per_mtok: None,
            cache_write_1h_per_mtok: None,
            reasoning_per_mtok: None,
            per_request: Decimal::ZERO,
            per_image: Decimal::ZERO,
            per_web_search: Decimal::ZERO,
            tiers: vec![],
            service_tiers: vec![],
            effective_from: None,
        }
    }

    #[test]
    fn a_listed_price_carries_both_shapes_exactly() {
        let mut p = prices("3.00", "15");
        p.cached_input_per_mtok = Some(dec("0.30"));
        p.cache_write_per_mtok = Some(dec("3.75"));
        p.reasoning_per_mtok = Some(dec("0.075"));
        p.per_image = dec("0.004800");
        p.per_request = dec("0.01");
        p.per_web_search = dec("0.010");
        let v = serde_json::to_value(ListedPrice::of(&version(p))).unwrap();
        assert_eq!(
            v["input_per_mtok"], "3.00",
            "Tollgate's fields as they were"
        );
        assert_eq!(v["cached_input_per_mtok"], "0.30");
        assert_eq!(v["id"], 7);
        assert_eq!(v["prompt"], "0.000003");
        assert_eq!(v["completion"], "0.000015");
        assert_eq!(v["input_cache_read"], "0.0000003");
        assert_eq!(v["input_cache_write"], "0.00000375");
        assert_eq!(v["internal_reasoning"], "0.000000075");
        assert_eq!(v["image"], "0.0048");
        assert_eq!(v["request"], "0.01");
        assert_eq!(v["web_search"], "0.01");

        let v = serde_json::to_value(ListedPrice::of(&version(prices("0", "0.000")))).unwrap();
        assert_eq!((&v["prompt"], &v["completion"]), (&"0".into(), &"0".into()));
        assert_eq!((&v["image"], &v["request"]), (&"0".into(), &"0".into()));
        for unset in [
            "input_cache_read",
            "input_cache_write",
            "internal_reasoning",
        ] {
            assert!(v.get(unset).is_none(), "{unset} is absent when unset: {v}");
        }
    }

    #[test]
    fn the_listed_price_schema_lists_exactly_what_it_serializes() {
        let mut p = prices("1", "2");
        p.cached_input_per_mtok = Some(dec("0.1"));
        p.cache_write_per_mtok = Some(dec("1.25"));
        p.reasoning_per_mtok = Some(dec("3"));
        let serialized = serde_json::to_value(ListedPrice::of(&version(p))).unwrap();
        let mut fields: Vec<&String> = serialized.as_object().unwrap().keys().collect();
        let schema = serde_json::to_value(ListedPrice::schema()).unwrap();
        let mut documented: Vec<&String> =
            schema["properties"].as_object().unwrap().keys().collect();
        fields.sort();
        documented.sort();
        assert_eq!(fields, documented, "{schema}");
        let required = schema["required"].as_array().unwrap();
        for key in ["prompt", "completion", "image", "request", "input_per_mtok"] {
            assert!(required.contains(&key.into()), "{key} is required");
        }
        assert!(!required.contains(&"input_cache_read".into()));
    }

    fn chat_model(capabilities: &[&str]) -> Model {
        let parts = crate::catalog::NewModel {
            id: "vendor/m".into(),
            name: "M".into(),
            creator: None,
            provider: "p".into(),
            upstream_model: None,
            description: String::new(),
            context_length: Some(1000),
            max_output_tokens: None,
            input_modalities: Some(vec!["text".into(), "image".into()]),
            capabilities: Some(capabilities.iter().map(|c| c.to_string()).collect()),
            default_params: None,
            open_weights: false,
            added_on: None,
            price: None,
            prices: vec![],
            related: vec![],
            aliases: vec![],
            mode: None,
            deprecated_from: None,
        }
        .into_parts()
        .unwrap();
        parts.model
    }

    #[test]
    fn supported_parameters_follow_capabilities_and_the_providers_kind() {
        let plain = chat_model(&["chat"]);
        assert_eq!(
            supported_parameters(&plain, Some(ProviderKind::Openai)),
            [
                "frequency_penalty",
                "max_tokens",
                "presence_penalty",
                "seed",
                "stop",
                "temperature",
                "top_p"
            ]
        );
        assert_eq!(
            supported_parameters(&plain, Some(ProviderKind::Anthropic)),
            ["max_tokens", "stop", "temperature", "top_k", "top_p"]
        );
        let all = chat_model(&["chat", "tools", "json_mode", "reasoning"]);
        let params = supported_parameters(&all, Some(ProviderKind::Anthropic));
        for p in [
            "tools",
            "tool_choice",
            "parallel_tool_calls",
            "response_format",
            "structured_outputs",
            "reasoning",
            "include_reasoning",
        ] {
            assert!(params.contains(&p), "{p}: {params:?}");
        }
        let mut embedding = chat_model(&["chat"]);
        embedding.mode = "embedding".into();
        assert!(supported_parameters(&embedding, None).is_empty());
        assert_eq!(architecture(&embedding).modality, "text+image->embeddings");
        assert_eq!(architecture(&plain).modality, "text+image->text");
    }
}
