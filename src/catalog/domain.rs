//! Catalog types. Inputs are parsed into these once, at the edge ("parse, don't validate").

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The wire protocol a provider speaks upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI-compatible chat completions (`{base_url}/chat/completions`).
    Openai,
    /// Anthropic Messages (`{base_url}/v1/messages`).
    Anthropic,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "openai" => Some(ProviderKind::Openai),
            "anthropic" => Some(ProviderKind::Anthropic),
            _ => None,
        }
    }
}

/// An upstream host. Its secret is never stored: only the name of the environment variable
/// that holds it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Provider {
    pub id: String,
    pub kind: ProviderKind,
    pub name: String,
    pub base_url: String,
    pub api_key_env: Option<String>,
    /// Upstream timeouts in milliseconds; the gateway's defaults when `null`.
    pub connect_timeout_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub total_timeout_ms: Option<u64>,
    /// Speaks neither protocol the gateway forwards (an imported provider such as Bedrock):
    /// its models are listed and priced, calls are refused until it is configured.
    pub listing_only: bool,
}

/// Whether a model can be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelStatus {
    Active,
    Deprecated,
}

impl ModelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelStatus::Active => "active",
            ModelStatus::Deprecated => "deprecated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ModelStatus::Active),
            "deprecated" => Some(ModelStatus::Deprecated),
            _ => None,
        }
    }
}

/// Sampling parameters a model's page recommends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultParams {
    #[schema(value_type = Option<String>, example = "0.7")]
    pub temperature: Option<rust_decimal::Decimal>,
    #[schema(value_type = Option<String>, example = "0.9")]
    pub top_p: Option<rust_decimal::Decimal>,
    pub max_tokens: Option<u32>,
    #[schema(value_type = Option<String>, example = "0")]
    pub frequency_penalty: Option<rust_decimal::Decimal>,
    #[schema(value_type = Option<String>, example = "0")]
    pub presence_penalty: Option<rust_decimal::Decimal>,
}

impl Default for DefaultParams {
    /// The defaults the catalog's model pages show: 0.7 / 0.9 / 1000 / 0 / 0.
    fn default() -> Self {
        use rust_decimal::Decimal;
        DefaultParams {
            temperature: Some(Decimal::new(7, 1)),
            top_p: Some(Decimal::new(9, 1)),
            max_tokens: Some(1000),
            frequency_penalty: Some(Decimal::ZERO),
            presence_penalty: Some(Decimal::ZERO),
        }
    }
}

/// A catalog model.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub creator: String,
    pub provider: String,
    pub upstream_model: String,
    pub description: String,
    pub context_length: Option<u32>,
    pub max_output_tokens: Option<u32>,
    pub input_modalities: Vec<String>,
    pub capabilities: Vec<String>,
    pub default_params: DefaultParams,
    pub open_weights: bool,
    pub added_on: NaiveDate,
    pub status: ModelStatus,
    /// What the model does (`chat`, `embedding`, `image_generation`, …, as LiteLLM names
    /// them): only `chat` models are served by the gateway; the others are listed and priced.
    pub mode: String,
    /// Deprecated from this day on (an imported `deprecation_date`).
    pub deprecated_from: Option<NaiveDate>,
}

impl Model {
    pub fn has_capability(&self, cap: &str) -> bool {
        self.capabilities.iter().any(|c| c == cap)
    }

    /// Active, and not past its deprecation date.
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        self.status == ModelStatus::Active && self.deprecated_from.is_none_or(|d| day < d)
    }
}

/// Input modalities a model may accept.
pub const MODALITIES: &[&str] = &["text", "image", "video", "audio", "file"];

/// Capabilities the catalog knows; each has a line on the model's page.
pub const CAPABILITIES: &[(&str, &str)] = &[
    ("chat", "Chat completion and multi-turn conversation"),
    ("streaming", "Token-by-token streaming"),
    ("tools", "Function calling and tool use"),
    ("system_prompt", "System prompts and role-based messages"),
    ("json_mode", "JSON mode and structured output"),
    ("vision", "Image understanding"),
    ("reasoning", "Reasoning (thinking) tokens"),
    ("web_search", "Built-in web search"),
];

/// True for ids made of letters, digits and `. _ - : / @ +` (the forms price lists use, e.g.
/// `gemini/gemini-2.5-pro`, `claude-sonnet-4-5-20250929-v1:0`), without empty, `.` or `..`
/// path segments (they appear in URLs, percent-encoded, and in page file names).
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@' | '+')
        })
        && !id.starts_with(['.', '/'])
        && !id.ends_with('/')
        && !id.contains("//")
        && !id.split('/').any(|seg| seg == "." || seg == "..")
}

/// The longest alias (and the longest name a pattern alias resolves: a longer name is not
/// looked up through patterns, so a usage record never keeps an unbounded caller string).
pub const MAX_ALIAS_LEN: usize = 200;

/// The most aliases one model may have (a bound on one admin request's work).
pub const MAX_ALIASES_PER_MODEL: usize = 256;

/// Why a string is not an alias, or `None` when it is one.
///
/// An alias is 1–[`MAX_ALIAS_LEN`] printable ASCII characters without spaces (`/`, `:`, `@`,
/// `.` are allowed, so providers' and routers' names such as `anthropic/claude-opus-4.6` fit).
/// A `*` may only be the last character, after at least one other: `claude-sonnet-*` is a
/// pattern matching every name that starts with `claude-sonnet-`; a bare `*` (every name) is
/// refused, so that a typo is a 404 rather than a silent call to some model.
pub fn alias_problem(alias: &str) -> Option<String> {
    if alias.is_empty() {
        return Some("an alias must not be empty".into());
    }
    if alias.len() > MAX_ALIAS_LEN {
        return Some(format!(
            "an alias is at most {MAX_ALIAS_LEN} characters long"
        ));
    }
    if let Some(c) = alias.chars().find(|c| !c.is_ascii_graphic()) {
        return Some(format!(
            "an alias is printable ASCII without spaces; found {c:?}"
        ));
    }
    match alias.find('*') {
        Some(i) if i + 1 != alias.len() => {
            Some("'*' may only be the last character of an alias (a pattern)".into())
        }
        Some(0) => Some(
            "a pattern needs a prefix before its '*' (a bare '*' would match every name)".into(),
        ),
        _ => None,
    }
}

/// The prefix of a pattern alias (`claude-sonnet-` of `claude-sonnet-*`), `None` for an exact
/// alias.
pub fn pattern_prefix(alias: &str) -> Option<&str> {
    alias.strip_suffix('*')
}
