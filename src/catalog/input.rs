//! What admins (and seed files) send to create or change catalog entries, and the checks that
//! turn it into catalog types.

use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::{
    alias_problem, is_valid_id, DefaultParams, Model, ModelStatus, Provider, ProviderKind,
    CAPABILITIES, MAX_ALIASES_PER_MODEL, MODALITIES,
};
use crate::error::FieldError;
use crate::pricing::Prices;

/// `POST /admin/providers`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProvider {
    #[schema(example = "mock")]
    pub id: String,
    pub kind: ProviderKind,
    #[schema(example = "http://127.0.0.1:18999/v1")]
    pub base_url: String,
    /// Name of the environment variable holding the upstream key (never the key itself).
    #[schema(example = "MOCK_API_KEY")]
    pub api_key_env: Option<String>,
    /// Display name; the id when omitted.
    pub name: Option<String>,
    /// Upstream timeouts in milliseconds (the gateway's defaults when omitted).
    pub connect_timeout_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub total_timeout_ms: Option<u64>,
    /// Listed and priced only: calls to its models are refused until it is configured.
    #[serde(default)]
    pub listing_only: bool,
}

/// `PATCH /admin/providers/{id}`: only the fields given change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderPatch {
    pub kind: Option<ProviderKind>,
    pub base_url: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub api_key_env: Option<Option<String>>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u64>)]
    pub connect_timeout_ms: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u64>)]
    pub first_byte_timeout_ms: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u64>)]
    pub total_timeout_ms: Option<Option<u64>>,
    /// `false` once the provider is configured to be called.
    pub listing_only: Option<bool>,
}

/// `POST /admin/models` (and each model of a seed file).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewModel {
    #[schema(example = "acme-chat")]
    pub id: String,
    #[schema(example = "Acme Chat")]
    pub name: String,
    #[serde(default)]
    pub creator: Option<String>,
    #[schema(example = "mock")]
    pub provider: String,
    /// The provider's own name for the model; the id when omitted.
    #[serde(default)]
    pub upstream_model: Option<String>,
    #[serde(default)]
    pub description: String,
    pub context_length: Option<u32>,
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub input_modalities: Option<Vec<String>>,
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    #[serde(default)]
    pub default_params: Option<DefaultParams>,
    #[serde(default)]
    pub open_weights: bool,
    /// Date added to the catalog; today when omitted.
    pub added_on: Option<NaiveDate>,
    /// The first price version, effective now (or at its `effective_from`).
    pub price: Option<Prices>,
    /// Several price versions at once (a history), each with its `effective_from`.
    #[serde(default)]
    pub prices: Vec<Prices>,
    /// Related model ids, in display order.
    #[serde(default)]
    pub related: Vec<String>,
    /// `chat` (the default) is served; other modes are listed and priced only.
    #[serde(default)]
    pub mode: Option<String>,
    /// Deprecated from this day on.
    #[serde(default)]
    pub deprecated_from: Option<NaiveDate>,
    /// Other names callers may use for the model: exact names, or patterns ending with `*`
    /// (`claude-sonnet-*`). Unique across the catalog.
    #[serde(default)]
    #[schema(example = json!(["acme-chat-latest", "acme-chat-2026-*"]))]
    pub aliases: Vec<String>,
}

/// `PATCH /admin/models/{id}`: only the fields given change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelPatch {
    pub name: Option<String>,
    pub creator: Option<String>,
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    pub context_length: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    pub max_output_tokens: Option<Option<u32>>,
    pub input_modalities: Option<Vec<String>>,
    pub capabilities: Option<Vec<String>>,
    pub default_params: Option<DefaultParams>,
    pub open_weights: Option<bool>,
    pub added_on: Option<NaiveDate>,
    pub status: Option<ModelStatus>,
}

/// `PUT /admin/models/{id}/related`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelatedList {
    pub related: Vec<String>,
}

/// `PUT /admin/models/{id}/aliases` (and its answer, and `GET`'s): a model's whole alias set.
#[derive(Debug, Clone, Deserialize, serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasList {
    /// Exact names, or patterns ending with `*`; sorted in answers.
    #[schema(example = json!(["claude-sonnet-4-5-20250929", "claude-sonnet-*"]))]
    pub aliases: Vec<String>,
}

/// `POST /admin/aliases` (and an alias as the admin API shows it).
#[derive(Debug, Clone, Deserialize, serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelAlias {
    /// An exact name, or a pattern ending with `*`.
    #[schema(example = "claude-sonnet-*")]
    pub alias: String,
    /// The catalog id of the model it stands for.
    #[schema(example = "anthropic-claude-opus-4.6")]
    pub model: String,
}

/// A validated new model with its price versions, related list and aliases.
#[derive(Debug, Clone)]
pub struct ModelParts {
    pub model: Model,
    pub prices: Vec<Prices>,
    pub related: Vec<String>,
    pub aliases: Vec<String>,
}

/// Distinguishes "absent" (`None`) from "null" (`Some(None)`) in a PATCH body.
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

fn check_id(field: &str, id: &str) -> Result<(), FieldError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(field_error(
            field,
            format!("{field} must be 1-128 characters of letters, digits, '.', '_', '-' or ':'"),
        ))
    }
}

fn check_non_empty(field: &str, value: &str) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        Err(field_error(field, format!("{field} must not be empty")))
    } else {
        Ok(())
    }
}

fn check_base_url(url: &str) -> Result<(), FieldError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(field_error(
            "base_url",
            "base_url must be an absolute http(s) URL",
        )),
    }
}

fn check_env_name(name: &Option<String>) -> Result<(), FieldError> {
    let Some(name) = name else { return Ok(()) };
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(field_error(
            "api_key_env",
            "api_key_env must be the NAME of an environment variable (A-Z, 0-9, _), not a key",
        ))
    }
}

fn check_list(field: &str, values: &[String], known: &[&str]) -> Result<(), FieldError> {
    for (i, v) in values.iter().enumerate() {
        if !known.contains(&v.as_str()) {
            return Err(field_error(
                &format!("{field}[{i}]"),
                format!("unknown value '{v}'; expected one of: {}", known.join(", ")),
            ));
        }
    }
    Ok(())
}

fn check_prices(field: &str, prices: &Prices) -> Result<(), FieldError> {
    prices
        .validate()
        .map_err(|e| field_error(&format!("{field}.{}", e.field), e.message))
}

fn capability_names() -> Vec<&'static str> {
    CAPABILITIES.iter().map(|(name, _)| *name).collect()
}

impl NewProvider {
    pub fn into_provider(self) -> Result<Provider, FieldError> {
        check_id("id", &self.id)?;
        check_base_url(&self.base_url)?;
        check_env_name(&self.api_key_env)?;
        let name = self.name.unwrap_or_else(|| self.id.clone());
        check_non_empty("name", &name)?;
        Ok(Provider {
            id: self.id,
            kind: self.kind,
            name,
            base_url: self.base_url.trim_end_matches('/').to_string(),
            api_key_env: self.api_key_env,
            connect_timeout_ms: self.connect_timeout_ms,
            first_byte_timeout_ms: self.first_byte_timeout_ms,
            total_timeout_ms: self.total_timeout_ms,
            listing_only: self.listing_only,
        })
    }
}

impl ProviderPatch {
    pub fn apply(self, mut p: Provider) -> Result<Provider, FieldError> {
        if let Some(kind) = self.kind {
            p.kind = kind;
        }
        if let Some(url) = self.base_url {
            check_base_url(&url)?;
            p.base_url = url.trim_end_matches('/').to_string();
        }
        if let Some(env) = self.api_key_env {
            check_env_name(&env)?;
            p.api_key_env = env;
        }
        if let Some(name) = self.name {
            check_non_empty("name", &name)?;
            p.name = name;
        }
        p.connect_timeout_ms = self.connect_timeout_ms.unwrap_or(p.connect_timeout_ms);
        p.first_byte_timeout_ms = self
            .first_byte_timeout_ms
            .unwrap_or(p.first_byte_timeout_ms);
        p.total_timeout_ms = self.total_timeout_ms.unwrap_or(p.total_timeout_ms);
        p.listing_only = self.listing_only.unwrap_or(p.listing_only);
        Ok(p)
    }
}

impl NewModel {
    pub fn into_parts(self) -> Result<ModelParts, FieldError> {
        check_id("id", &self.id)?;
        check_non_empty("name", &self.name)?;
        let modalities = self.input_modalities.unwrap_or_else(|| vec!["text".into()]);
        check_list("input_modalities", &modalities, MODALITIES)?;
        let capabilities = self.capabilities.unwrap_or_else(|| vec!["chat".into()]);
        check_list("capabilities", &capabilities, &capability_names())?;
        if self.price.is_some() && !self.prices.is_empty() {
            return Err(field_error(
                "price",
                "give either price or prices, not both",
            ));
        }
        let prices: Vec<Prices> = self.price.into_iter().chain(self.prices).collect();
        for (i, p) in prices.iter().enumerate() {
            check_prices(&format!("prices[{i}]"), p)?;
            if prices.len() > 1 && p.effective_from.is_none() {
                return Err(field_error(
                    &format!("prices[{i}].effective_from"),
                    "each of several price versions needs effective_from",
                ));
            }
        }
        let upstream_model = self.upstream_model.unwrap_or_else(|| self.id.clone());
        check_non_empty("upstream_model", &upstream_model)?;
        let model = Model {
            creator: self.creator.unwrap_or_default(),
            upstream_model,
            description: self.description,
            context_length: self.context_length,
            max_output_tokens: self.max_output_tokens,
            input_modalities: modalities,
            capabilities,
            default_params: self.default_params.unwrap_or_default(),
            open_weights: self.open_weights,
            added_on: self.added_on.unwrap_or_else(|| Utc::now().date_naive()),
            status: ModelStatus::Active,
            mode: self.mode.unwrap_or_else(|| "chat".into()),
            deprecated_from: self.deprecated_from,
            id: self.id,
            name: self.name,
            provider: self.provider,
        };
        let aliases = check_aliases("aliases", self.aliases)?;
        Ok(ModelParts {
            model,
            prices,
            related: self.related,
            aliases,
        })
    }
}

impl ModelPatch {
    pub fn apply(self, mut m: Model) -> Result<Model, FieldError> {
        if let Some(v) = self.name {
            check_non_empty("name", &v)?;
            m.name = v;
        }
        if let Some(v) = self.upstream_model {
            check_non_empty("upstream_model", &v)?;
            m.upstream_model = v;
        }
        if let Some(v) = self.input_modalities {
            check_list("input_modalities", &v, MODALITIES)?;
            m.input_modalities = v;
        }
        if let Some(v) = self.capabilities {
            check_list("capabilities", &v, &capability_names())?;
            m.capabilities = v;
        }
        m.creator = self.creator.unwrap_or(m.creator);
        m.provider = self.provider.unwrap_or(m.provider);
        m.description = self.description.unwrap_or(m.description);
        m.context_length = self.context_length.unwrap_or(m.context_length);
        m.max_output_tokens = self.max_output_tokens.unwrap_or(m.max_output_tokens);
        m.default_params = self.default_params.unwrap_or(m.default_params);
        m.open_weights = self.open_weights.unwrap_or(m.open_weights);
        m.added_on = self.added_on.unwrap_or(m.added_on);
        m.status = self.status.unwrap_or(m.status);
        Ok(m)
    }
}

/// Checks an alias set's syntax (each alias, its size, no alias twice) and returns it sorted.
/// What depends on the rest of the catalog — that no alias is another model's or equals a model
/// id — is checked by the store, in the transaction that writes the set.
pub fn check_aliases(field: &str, mut aliases: Vec<String>) -> Result<Vec<String>, FieldError> {
    if aliases.len() > MAX_ALIASES_PER_MODEL {
        return Err(field_error(
            field,
            format!("a model has at most {MAX_ALIASES_PER_MODEL} aliases"),
        ));
    }
    for (i, alias) in aliases.iter().enumerate() {
        check_alias(&format!("{field}[{i}]"), alias)?;
        if aliases[..i].contains(alias) {
            return Err(field_error(
                &format!("{field}[{i}]"),
                format!("'{alias}' is listed twice"),
            ));
        }
    }
    aliases.sort();
    Ok(aliases)
}

/// Checks one alias's syntax (see [`super::alias_problem`]).
pub fn check_alias(field: &str, alias: &str) -> Result<(), FieldError> {
    match alias_problem(alias) {
        Some(problem) => Err(field_error(field, problem)),
        None => Ok(()),
    }
}

/// Checks a new price version sent on its own.
pub fn check_price_version(prices: &Prices) -> Result<(), FieldError> {
    prices.validate()
}
