//! Effective-dated prices and the exact cost of a call.
//!
//! Token counts follow one convention everywhere in Tollgate (see `docs/pricing.md`):
//! `input_tokens` is every prompt token, of which `cached_input_tokens` were read from the
//! provider's cache and `cache_write_tokens` were written to it; `output_tokens` is every
//! generated token, of which `reasoning_tokens` were reasoning. Each token is therefore
//! charged exactly once, at the price of its kind.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::money::{significant_scale, MAX_FEE_SCALE, MAX_PRICE_PER_MTOK_SCALE};
use crate::service_tier::ServiceTier;

const MTOK: u64 = 1_000_000;

/// The six per-token prices (USD per 1M tokens) of a price version or of one of its tiers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenRates {
    pub input: Decimal,
    pub output: Decimal,
    pub cached_input: Decimal,
    /// Cache writes that live 5 minutes (Anthropic's default), or of unstated lifetime.
    pub cache_write: Decimal,
    /// Cache writes that live 1 hour (Anthropic's `ttl: "1h"`).
    pub cache_write_1h: Decimal,
    pub reasoning: Decimal,
}

/// Other prices for calls whose input exceeds a threshold (long-context pricing). The tier
/// applies to the whole call, as long-context providers bill it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceTier {
    /// The tier applies when the call's input tokens are strictly above this number.
    pub above_input_tokens: u64,
    #[schema(value_type = String, example = "1.30")]
    pub input_per_mtok: Decimal,
    #[schema(value_type = String, example = "3.90")]
    pub output_per_mtok: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cached_input_per_mtok: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cache_write_per_mtok: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cache_write_1h_per_mtok: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub reasoning_per_mtok: Option<Decimal>,
}

/// A price version's prices in one service tier (see [`crate::service_tier`]): every per-token
/// rate and long-context tier, complete (an importer resolves the source's fallbacks to the
/// standard rates). Fees are the version's own in every tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicePrices {
    /// `flex` or `priority` (charged when the upstream reports serving the call in it) or
    /// `batch` (listed, never charged: Tollgate serves no batch API).
    pub tier: ServiceTier,
    #[schema(value_type = String, example = "4.25")]
    pub input_per_mtok: Decimal,
    #[schema(value_type = String, example = "17")]
    pub output_per_mtok: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cached_input_per_mtok: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cache_write_per_mtok: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cache_write_1h_per_mtok: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub reasoning_per_mtok: Option<Decimal>,
    #[serde(default)]
    pub tiers: Vec<PriceTier>,
}

/// The prices of one version, as an admin sets them (USD; per 1M tokens unless a fee).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    #[schema(value_type = String, example = "2.00")]
    pub input_per_mtok: Decimal,
    #[schema(value_type = String, example = "6.00")]
    pub output_per_mtok: Decimal,
    /// Cache reads; when absent, cached tokens cost the input price.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "0.20")]
    pub cached_input_per_mtok: Option<Decimal>,
    /// Cache writes (5-minute, or of unstated lifetime); when absent, cache-write tokens cost
    /// the input price.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub cache_write_per_mtok: Option<Decimal>,
    /// One-hour cache writes; when absent, they cost the 5-minute cache-write price.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub cache_write_1h_per_mtok: Option<Decimal>,
    /// Reasoning tokens; when absent, they cost the output price.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub reasoning_per_mtok: Option<Decimal>,
    /// Flat fee per call.
    #[serde(default)]
    #[schema(value_type = String, example = "0")]
    pub per_request: Decimal,
    /// Fee per input image.
    #[serde(default)]
    #[schema(value_type = String, example = "0")]
    pub per_image: Decimal,
    /// Fee per web search the upstream reports the call made (Anthropic's
    /// `usage.server_tool_use.web_search_requests`).
    #[serde(default)]
    #[schema(value_type = String, example = "0.01")]
    pub per_web_search: Decimal,
    #[serde(default)]
    pub tiers: Vec<PriceTier>,
    /// Prices in other service tiers (`flex`, `priority`: charged when the upstream reports
    /// serving a call in that tier; `batch`: listed only). A call in a tier without prices
    /// here is charged the prices above.
    #[serde(default)]
    pub service_tiers: Vec<ServicePrices>,
    /// When this version takes effect (input only; now when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<DateTime<Utc>>,
}

/// One stored price version of a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceVersion {
    /// Identifies the version in usage records, so every cost can be traced to its prices.
    pub id: i64,
    pub model_id: String,
    pub effective_from: DateTime<Utc>,
    /// Who set it: `seed`, `litellm`, `openrouter` (an import), or `null` for an
    /// administrator, whose prices an import never overwrites.
    pub source: Option<String>,
    #[serde(flatten)]
    pub prices: Prices,
}

// The OpenAPI schema of `PriceVersion`: its fields and the flattened `Prices`, as one object.
// Derived on `PriceVersion` itself, utoipa would describe it as `allOf` with `Prices`, whose
// `additionalProperties: false` (it refuses unknown fields as input) then forbids `id` and
// `model_id`, so every answer carrying a price version would break its own schema. A unit test
// checks that the two list the same fields.
/// One stored price version of a model.
#[derive(ToSchema)]
#[schema(as = PriceVersion)]
#[allow(dead_code)] // only its schema is used
struct PriceVersionSchema {
    /// Identifies the version in usage records, so every cost can be traced to its prices.
    id: i64,
    model_id: String,
    effective_from: DateTime<Utc>,
    /// Who set it: `seed`, `litellm`, `openrouter` (an import), or `null` for an
    /// administrator, whose prices an import never overwrites.
    source: Option<String>,
    #[schema(value_type = String, example = "2.00")]
    input_per_mtok: Decimal,
    #[schema(value_type = String, example = "6.00")]
    output_per_mtok: Decimal,
    /// Cache reads; when null, cached tokens cost the input price.
    #[schema(value_type = Option<String>, example = "0.20")]
    cached_input_per_mtok: Option<Decimal>,
    /// Cache writes (5-minute, or of unstated lifetime); when null, cache-write tokens cost
    /// the input price.
    #[schema(value_type = Option<String>)]
    cache_write_per_mtok: Option<Decimal>,
    /// One-hour cache writes; when null, they cost the 5-minute cache-write price.
    #[schema(value_type = Option<String>)]
    cache_write_1h_per_mtok: Option<Decimal>,
    /// Reasoning tokens; when null, they cost the output price.
    #[schema(value_type = Option<String>)]
    reasoning_per_mtok: Option<Decimal>,
    /// Flat fee per call.
    #[schema(value_type = String, example = "0")]
    per_request: Decimal,
    /// Fee per input image.
    #[schema(value_type = String, example = "0")]
    per_image: Decimal,
    /// Fee per web search the upstream reports the call made.
    #[schema(value_type = String, example = "0.01")]
    per_web_search: Decimal,
    tiers: Vec<PriceTier>,
    /// Prices in other service tiers (`flex`, `priority`: charged when the upstream reports
    /// serving a call in that tier; `batch`: listed only).
    service_tiers: Vec<ServicePrices>,
}

impl utoipa::PartialSchema for PriceVersion {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        PriceVersionSchema::schema()
    }
}

impl ToSchema for PriceVersion {
    fn name() -> std::borrow::Cow<'static, str> {
        PriceVersionSchema::name()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        PriceVersionSchema::schemas(schemas)
    }
}

/// Tokens and images of one call, in the convention described at the top of this module.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    /// Of the cache-write tokens, those written for one hour (the rest live 5 minutes).
    #[serde(default)]
    pub cache_write_1h_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub images: u64,
    /// Web searches the upstream reports the call made (server-side tool use).
    #[serde(default)]
    pub web_search_requests: u64,
    /// The service tier the upstream reported serving the call in (`None`: not reported).
    #[serde(default)]
    pub service_tier: Option<ServiceTier>,
}

impl Prices {
    /// Checks that every price is non-negative and precise enough to be stored exactly.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_rates("", self.per_mtok_fields())?;
        check_amount("per_request", self.per_request, MAX_FEE_SCALE)?;
        check_amount("per_image", self.per_image, MAX_FEE_SCALE)?;
        check_amount("per_web_search", self.per_web_search, MAX_FEE_SCALE)?;
        let mut last = None;
        for (i, tier) in self.tiers.iter().enumerate() {
            check_rates(&format!("tiers[{i}]."), tier.per_mtok_fields())?;
            if last.is_some_and(|l| tier.above_input_tokens <= l) {
                return Err(FieldError {
                    field: format!("tiers[{i}].above_input_tokens"),
                    message: "tiers must be sorted by strictly increasing above_input_tokens"
                        .into(),
                });
            }
            last = Some(tier.above_input_tokens);
        }
        self.validate_service_tiers()
    }

    fn validate_service_tiers(&self) -> Result<(), FieldError> {
        for (i, s) in self.service_tiers.iter().enumerate() {
            let problem = if !s.tier.has_own_prices() {
                Some("tier must be flex, priority or batch (standard is the version's own prices)")
            } else if self.service_tiers[..i].iter().any(|o| o.tier == s.tier) {
                Some("each service tier may appear once")
            } else {
                None
            };
            if let Some(message) = problem {
                return Err(FieldError {
                    field: format!("service_tiers[{i}].tier"),
                    message: message.into(),
                });
            }
            s.as_prices(self).validate().map_err(|e| FieldError {
                field: format!("service_tiers[{i}].{}", e.field),
                message: e.message,
            })?;
        }
        Ok(())
    }

    /// True when every price and fee is zero (a free model).
    pub fn is_free(&self) -> bool {
        let all_zero = |fields: [(&str, Option<Decimal>); RATE_FIELDS]| {
            fields.iter().filter_map(|f| f.1).all(|d| d.is_zero())
        };
        all_zero(self.per_mtok_fields())
            && self.per_request.is_zero()
            && self.per_image.is_zero()
            && self.per_web_search.is_zero()
            && self.tiers.iter().all(|t| all_zero(t.per_mtok_fields()))
            && self
                .service_tiers
                .iter()
                .all(|s| s.as_prices(self).is_free())
    }

    fn per_mtok_fields(&self) -> [(&'static str, Option<Decimal>); RATE_FIELDS] {
        rate_fields(self.optional_rates())
    }

    /// One figure for comparing models, per 1M tokens: the mean of the input and output
    /// prices, `(input + output) / 2` — the price of a million tokens split evenly between
    /// input and output (the "blended" price model lists show). Cache, reasoning and tier
    /// prices and fees are not in it, and no call is charged by it. Exact: a price has at most
    /// 6 decimal places, so the figure has at most 7.
    pub fn blended_per_mtok(&self) -> Decimal {
        (self.input_per_mtok + self.output_per_mtok) / Decimal::TWO
    }

    fn optional_rates(&self) -> OptionalRates {
        OptionalRates {
            input: self.input_per_mtok,
            output: self.output_per_mtok,
            cached: self.cached_input_per_mtok,
            write: self.cache_write_per_mtok,
            write_1h: self.cache_write_1h_per_mtok,
            reasoning: self.reasoning_per_mtok,
        }
    }

    /// The base rates, with the documented defaults filled in.
    pub fn base_rates(&self) -> TokenRates {
        TokenRates::with_defaults(self.optional_rates())
    }

    /// The rates that apply to a call with this many input tokens.
    pub fn rates_for(&self, input_tokens: u64) -> TokenRates {
        self.tiers
            .iter()
            .rev()
            .find(|t| input_tokens > t.above_input_tokens)
            .map_or_else(|| self.base_rates(), PriceTier::rates)
    }

    /// The prices a call served in `tier` is charged: the tier's own when this version has
    /// them and they are applied (flex, priority), the version's standard prices otherwise.
    pub fn in_tier(&self, tier: Option<ServiceTier>) -> std::borrow::Cow<'_, Prices> {
        match self
            .service_tiers
            .iter()
            .find(|s| Some(s.tier) == tier && s.tier.is_applied())
        {
            Some(s) => std::borrow::Cow::Owned(s.as_prices(self)),
            None => std::borrow::Cow::Borrowed(self),
        }
    }

    /// The exact cost of a call, at the prices of the service tier it was served in. Token
    /// subsets larger than their totals are clamped, so a malformed usage report can never
    /// produce a negative charge.
    pub fn cost(&self, usage: &Usage) -> Decimal {
        let p = self.in_tier(usage.service_tier);
        token_cost(&p.rates_for(usage.input_tokens), usage) + p.per_request + p.unit_fees(usage)
    }

    /// The fees charged per unit a call used: input images and web searches.
    fn unit_fees(&self, usage: &Usage) -> Decimal {
        Decimal::from(usage.images) * self.per_image
            + Decimal::from(usage.web_search_requests) * self.per_web_search
    }

    /// The exact cost of `requests` calls whose usage sums to `usage`. Only prices without
    /// tiers are linear in tokens; with long-context tiers, or service-tier prices that are
    /// applied (a sum does not say which tier each call was served in), this returns `None`
    /// (price each call instead).
    pub fn cost_of_sum(&self, usage: &Usage, requests: u64) -> Option<Decimal> {
        if !self.tiers.is_empty() || self.service_tiers.iter().any(|s| s.tier.is_applied()) {
            return None;
        }
        Some(
            token_cost(&self.base_rates(), usage)
                + self.per_request * Decimal::from(requests)
                + self.unit_fees(usage),
        )
    }
}

fn token_cost(rates: &TokenRates, usage: &Usage) -> Decimal {
    let cached = usage.cached_input_tokens.min(usage.input_tokens);
    let written = usage.cache_write_tokens.min(usage.input_tokens - cached);
    let written_1h = usage.cache_write_1h_tokens.min(written);
    let plain_input = usage.input_tokens - cached - written;
    let reasoning = usage.reasoning_tokens.min(usage.output_tokens);
    let plain_output = usage.output_tokens - reasoning;
    let per_mtok = [
        (plain_input, rates.input),
        (cached, rates.cached_input),
        (written - written_1h, rates.cache_write),
        (written_1h, rates.cache_write_1h),
        (plain_output, rates.output),
        (reasoning, rates.reasoning),
    ]
    .into_iter()
    .map(|(tokens, price)| Decimal::from(tokens) * price)
    .sum::<Decimal>();
    per_mtok / Decimal::from(MTOK)
}

impl ServicePrices {
    /// A version's prices in a tier, as charged in it: the tier's rates and long-context
    /// tiers with the version's fees.
    pub fn as_prices(&self, version: &Prices) -> Prices {
        Prices {
            input_per_mtok: self.input_per_mtok,
            output_per_mtok: self.output_per_mtok,
            cached_input_per_mtok: self.cached_input_per_mtok,
            cache_write_per_mtok: self.cache_write_per_mtok,
            cache_write_1h_per_mtok: self.cache_write_1h_per_mtok,
            reasoning_per_mtok: self.reasoning_per_mtok,
            per_request: version.per_request,
            per_image: version.per_image,
            per_web_search: version.per_web_search,
            tiers: self.tiers.clone(),
            service_tiers: vec![],
            effective_from: None,
        }
    }

    /// A tier's prices from a complete set of prices (whose fees are the version's).
    pub fn of(tier: ServiceTier, p: &Prices) -> Self {
        ServicePrices {
            tier,
            input_per_mtok: p.input_per_mtok,
            output_per_mtok: p.output_per_mtok,
            cached_input_per_mtok: p.cached_input_per_mtok,
            cache_write_per_mtok: p.cache_write_per_mtok,
            cache_write_1h_per_mtok: p.cache_write_1h_per_mtok,
            reasoning_per_mtok: p.reasoning_per_mtok,
            tiers: p.tiers.clone(),
        }
    }
}

impl PriceTier {
    fn per_mtok_fields(&self) -> [(&'static str, Option<Decimal>); RATE_FIELDS] {
        rate_fields(self.optional_rates())
    }

    fn rates(&self) -> TokenRates {
        TokenRates::with_defaults(self.optional_rates())
    }

    fn optional_rates(&self) -> OptionalRates {
        OptionalRates {
            input: self.input_per_mtok,
            output: self.output_per_mtok,
            cached: self.cached_input_per_mtok,
            write: self.cache_write_per_mtok,
            write_1h: self.cache_write_1h_per_mtok,
            reasoning: self.reasoning_per_mtok,
        }
    }
}

/// The per-token prices as a version or tier states them: input and output always, the others
/// when set.
#[derive(Clone, Copy)]
struct OptionalRates {
    input: Decimal,
    output: Decimal,
    cached: Option<Decimal>,
    write: Option<Decimal>,
    write_1h: Option<Decimal>,
    reasoning: Option<Decimal>,
}

/// How many per-token prices a version or tier has.
const RATE_FIELDS: usize = 6;

impl TokenRates {
    /// Cached and cache-write tokens default to the input price, reasoning to the output
    /// price: a provider that names no discount charges the plain rate. One-hour writes default
    /// to the (5-minute) cache-write price: a price list that does not tell the two apart
    /// charges every write alike.
    fn with_defaults(r: OptionalRates) -> Self {
        let cache_write = r.write.unwrap_or(r.input);
        TokenRates {
            input: r.input,
            output: r.output,
            cached_input: r.cached.unwrap_or(r.input),
            cache_write,
            cache_write_1h: r.write_1h.unwrap_or(cache_write),
            reasoning: r.reasoning.unwrap_or(r.output),
        }
    }
}

fn rate_fields(r: OptionalRates) -> [(&'static str, Option<Decimal>); RATE_FIELDS] {
    [
        ("input_per_mtok", Some(r.input)),
        ("output_per_mtok", Some(r.output)),
        ("cached_input_per_mtok", r.cached),
        ("cache_write_per_mtok", r.write),
        ("cache_write_1h_per_mtok", r.write_1h),
        ("reasoning_per_mtok", r.reasoning),
    ]
}

fn check_rates(
    prefix: &str,
    fields: [(&str, Option<Decimal>); RATE_FIELDS],
) -> Result<(), FieldError> {
    for (name, value) in fields {
        if let Some(v) = value {
            check_amount(&format!("{prefix}{name}"), v, MAX_PRICE_PER_MTOK_SCALE)?;
        }
    }
    Ok(())
}

fn check_amount(field: &str, value: Decimal, max_scale: u32) -> Result<(), FieldError> {
    let problem = if value.is_sign_negative() && !value.is_zero() {
        "must not be negative".to_string()
    } else if significant_scale(value) > max_scale {
        format!("has more than {max_scale} decimal places")
    } else if value > Decimal::from(1_000_000) {
        "is larger than 1000000".to_string()
    } else {
        return Ok(());
    };
    Err(FieldError {
        field: field.into(),
        message: format!("{field} {problem}"),
    })
}

/// A price per 1M tokens as a price per token, exactly (`3` → `0.000003`, `0.075` →
/// `0.000000075`), normalized (no trailing zeros; zero is `0`). Exact for every price the
/// catalog stores: their scale is at most 6, so the quotient's is at most 12.
pub fn per_token(per_mtok: Decimal) -> Decimal {
    (per_mtok / Decimal::from(MTOK)).normalize()
}

/// The version in effect at `at`: the latest whose `effective_from` is not after it.
/// `history` must be sorted by `effective_from` ascending.
pub fn version_at(history: &[PriceVersion], at: DateTime<Utc>) -> Option<&PriceVersion> {
    history.iter().rev().find(|v| v.effective_from <= at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::to_picos;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
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
    fn the_blended_price_is_the_mean_of_input_and_output() {
        assert_eq!(prices("2.00", "6.00").blended_per_mtok(), dec("4"));
        assert_eq!(prices("0.325", "1.95").blended_per_mtok(), dec("1.1375"));
        assert_eq!(
            prices("0.000001", "0").blended_per_mtok(),
            dec("0.0000005"),
            "exact below the price precision"
        );
        assert_eq!(prices("0", "0").blended_per_mtok(), Decimal::ZERO);
    }

    #[test]
    fn the_price_version_schema_lists_exactly_what_a_version_serializes() {
        use utoipa::PartialSchema;
        let version = PriceVersion {
            id: 1,
            model_id: "m".into(),
            effective_from: Utc::now(),
            source: None,
            prices: prices("1", "2"),
        };
        let serialized = serde_json::to_value(&version).unwrap();
        let mut fields: Vec<&String> = serialized.as_object().unwrap().keys().collect();
        let schema = serde_json::to_value(PriceVersion::schema()).unwrap();
        let mut documented: Vec<&String> =
            schema["properties"].as_object().unwrap().keys().collect();
        fields.sort();
        documented.sort();
        assert_eq!(fields, documented, "{schema}");
        assert!(schema.get("allOf").is_none() && schema.get("additionalProperties").is_none());
    }

    #[test]
    fn per_token_prices_are_exact_decimal_strings() {
        for (per_mtok, per_tok) in [
            ("3", "0.000003"),
            ("3.00", "0.000003"),
            ("15", "0.000015"),
            ("0.30", "0.0000003"),
            ("3.75", "0.00000375"),
            ("0.075", "0.000000075"),
            ("0.000001", "0.000000000001"),
            ("0", "0"),
            ("0.000", "0"),
            ("1000000", "1"),
            ("123456789.123456", "123.456789123456"),
            ("79228162514264.337593", "79228162.514264337593"),
        ] {
            assert_eq!(per_token(dec(per_mtok)).to_string(), per_tok, "{per_mtok}");
            assert_eq!(
                per_token(dec(per_mtok)) * Decimal::from(MTOK),
                dec(per_mtok),
                "{per_mtok}: exact"
            );
        }
    }

    fn tier(above: u64, input: &str, output: &str) -> PriceTier {
        PriceTier {
            above_input_tokens: above,
            input_per_mtok: dec(input),
            output_per_mtok: dec(output),
            cached_input_per_mtok: None,
            cache_write_per_mtok: None,
            cache_write_1h_per_mtok: None,
            reasoning_per_mtok: None,
        }
    }

    #[test]
    fn plain_input_and_output() {
        let u = Usage {
            input_tokens: 1000,
            output_tokens: 500,
            ..Default::default()
        };
        assert_eq!(prices("2.00", "6.00").cost(&u), dec("0.005"));
    }

    #[test]
    fn cached_and_cache_write_tokens_use_their_prices() {
        let mut p = prices("5", "25");
        p.cached_input_per_mtok = Some(dec("0.50"));
        p.cache_write_per_mtok = Some(dec("6.25"));
        let u = Usage {
            input_tokens: 10_000,
            cached_input_tokens: 6_000,
            cache_write_tokens: 2_000,
            output_tokens: 100,
            ..Default::default()
        };
        // 2000*5 + 6000*0.5 + 2000*6.25 + 100*25 = 10000+3000+12500+2500 = 28000 / 1M
        assert_eq!(p.cost(&u), dec("0.028"));
    }

    #[test]
    fn one_hour_cache_writes_use_their_price() {
        let mut p = prices("3", "15");
        p.cache_write_per_mtok = Some(dec("3.75"));
        p.cache_write_1h_per_mtok = Some(dec("6"));
        let u = Usage {
            input_tokens: 10_000,
            cache_write_tokens: 3_000,
            cache_write_1h_tokens: 1_000,
            output_tokens: 100,
            ..Default::default()
        };
        // 7000*3 + 2000*3.75 + 1000*6 + 100*15 = 21000+7500+6000+1500 = 36000 / 1M
        assert_eq!(p.cost(&u), dec("0.036"));
        p.tiers = vec![PriceTier {
            cache_write_1h_per_mtok: Some(dec("12")),
            ..tier(5_000, "6", "22.5")
        }];
        // The tier's rates, its own 5-minute write rate absent (its input rate):
        // 7000*6 + 2000*6 + 1000*12 + 100*22.5 = 42000+12000+12000+2250 = 68250 / 1M
        assert_eq!(p.cost(&u), dec("0.06825"));
    }

    #[test]
    fn one_hour_cache_writes_without_their_price_cost_the_cache_write_price() {
        let mut p = prices("3", "15");
        let u = Usage {
            input_tokens: 1_000,
            cache_write_tokens: 400,
            cache_write_1h_tokens: 400,
            ..Default::default()
        };
        p.cache_write_per_mtok = Some(dec("3.75"));
        // 600*3 + 400*3.75 = 1800+1500 = 3300 / 1M
        assert_eq!(p.cost(&u), dec("0.0033"));
        p.cache_write_per_mtok = None;
        assert_eq!(
            p.cost(&u),
            dec("0.003"),
            "and the input price without either"
        );
    }

    fn priority(input: &str, output: &str) -> ServicePrices {
        ServicePrices::of(ServiceTier::Priority, &prices(input, output))
    }

    #[test]
    fn a_served_tier_with_prices_is_charged_them_and_others_the_standard_prices() {
        let mut p = prices("2.5", "10");
        p.per_request = dec("0.001");
        p.service_tiers = vec![
            priority("4.25", "17"),
            ServicePrices::of(ServiceTier::Batch, &prices("1.25", "5")),
        ];
        let mut u = Usage {
            input_tokens: 1_000,
            output_tokens: 100,
            ..Default::default()
        };
        let standard = dec("0.0025") + dec("0.001") + dec("0.001");
        assert_eq!(p.cost(&u), standard, "no tier reported");
        u.service_tier = Some(ServiceTier::Priority);
        // 1000*4.25 + 100*17 = 5950 / 1M, plus the version's fee.
        assert_eq!(p.cost(&u), dec("0.00595") + dec("0.001"));
        for other in [
            ServiceTier::Standard,
            ServiceTier::Flex,
            ServiceTier::Scale,
            ServiceTier::Batch,
        ] {
            u.service_tier = Some(other);
            assert_eq!(
                p.cost(&u),
                standard,
                "{other:?}: batch prices are never applied"
            );
        }
        assert_eq!(p.cost_of_sum(&u, 1), None, "a sum hides each call's tier");
        p.service_tiers.remove(0);
        assert_eq!(p.cost_of_sum(&u, 1), Some(standard));
    }

    #[test]
    fn service_tiers_are_validated() {
        let mut p = prices("1", "1");
        p.service_tiers = vec![ServicePrices::of(ServiceTier::Standard, &prices("1", "1"))];
        assert_eq!(p.validate().unwrap_err().field, "service_tiers[0].tier");
        p.service_tiers = vec![priority("1", "1"), priority("2", "2")];
        assert_eq!(p.validate().unwrap_err().field, "service_tiers[1].tier");
        p.service_tiers = vec![priority("1", "-1")];
        assert_eq!(
            p.validate().unwrap_err().field,
            "service_tiers[0].output_per_mtok"
        );
        p.service_tiers = vec![priority("1", "1")];
        assert!(p.validate().is_ok());
        assert!(!p.is_free());
    }

    #[test]
    fn missing_cache_prices_default_to_input_price() {
        let u = Usage {
            input_tokens: 1000,
            cached_input_tokens: 400,
            cache_write_tokens: 100,
            ..Default::default()
        };
        assert_eq!(prices("3", "9").cost(&u), dec("0.003"));
    }

    #[test]
    fn reasoning_defaults_to_output_price() {
        let u = Usage {
            output_tokens: 1000,
            reasoning_tokens: 600,
            ..Default::default()
        };
        assert_eq!(prices("1", "4").cost(&u), dec("0.004"));
        let mut p = prices("1", "4");
        p.reasoning_per_mtok = Some(dec("8"));
        assert_eq!(p.cost(&u), dec("0.0064"));
    }

    #[test]
    fn tier_applies_to_whole_call_above_threshold() {
        let mut p = prices("0.325", "1.95");
        p.tiers = vec![tier(256_000, "1.30", "3.90")];
        let small = Usage {
            input_tokens: 256_000,
            output_tokens: 1000,
            ..Default::default()
        };
        let large = Usage {
            input_tokens: 256_001,
            output_tokens: 1000,
            ..Default::default()
        };
        assert_eq!(p.cost(&small), dec("0.0832") + dec("0.00195"));
        assert_eq!(p.cost(&large), dec("0.3328013") + dec("0.0039"));
    }

    #[test]
    fn web_searches_are_charged_per_search_in_every_tier() {
        let mut p = prices("3", "15");
        p.per_web_search = dec("0.01");
        p.service_tiers = vec![priority("6", "30")];
        let mut u = Usage {
            input_tokens: 1_000,
            web_search_requests: 3,
            ..Default::default()
        };
        assert_eq!(p.cost(&u), dec("0.003") + dec("0.03"));
        u.service_tier = Some(ServiceTier::Priority);
        assert_eq!(p.cost(&u), dec("0.006") + dec("0.03"), "the version's fee");
        p.service_tiers.clear();
        let sum = Usage {
            web_search_requests: 5,
            ..u
        };
        assert_eq!(
            p.cost_of_sum(&sum, 2),
            Some(dec("0.003") + dec("0.05")),
            "linear in searches"
        );
        p.per_web_search = dec("0.0000000000001");
        assert_eq!(p.validate().unwrap_err().field, "per_web_search");
    }

    #[test]
    fn fees_are_added() {
        let mut p = prices("3", "15");
        p.per_request = dec("0.018");
        p.per_image = dec("0.001");
        let u = Usage {
            images: 2,
            ..Default::default()
        };
        assert_eq!(p.cost(&u), dec("0.020"));
    }

    #[test]
    fn cost_of_sum_equals_sum_of_costs_without_tiers() {
        let mut p = prices("0.3", "1.2");
        p.per_request = dec("0.018");
        p.per_image = dec("0.002");
        let a = Usage {
            input_tokens: 100,
            output_tokens: 7,
            images: 1,
            ..Default::default()
        };
        let b = Usage {
            input_tokens: 900,
            cached_input_tokens: 50,
            output_tokens: 3,
            ..Default::default()
        };
        let sum = Usage {
            input_tokens: 1000,
            cached_input_tokens: 50,
            output_tokens: 10,
            images: 1,
            ..Default::default()
        };
        assert_eq!(p.cost_of_sum(&sum, 2).unwrap(), p.cost(&a) + p.cost(&b));
        p.tiers = vec![tier(500, "1", "1")];
        assert_eq!(p.cost_of_sum(&sum, 2), None);
    }

    #[test]
    fn oversized_subsets_are_clamped() {
        let u = Usage {
            input_tokens: 10,
            cached_input_tokens: 50,
            cache_write_tokens: 50,
            cache_write_1h_tokens: 70,
            output_tokens: 5,
            reasoning_tokens: 9,
            images: 0,
            web_search_requests: 0,
            service_tier: None,
        };
        assert_eq!(prices("1", "1").cost(&u), dec("0.000015"));
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(
            prices("1.1234567", "1").validate().unwrap_err().field,
            "input_per_mtok"
        );
        assert_eq!(
            prices("1", "-1").validate().unwrap_err().field,
            "output_per_mtok"
        );
        let mut p = prices("1", "1");
        p.tiers = vec![tier(10, "1", "1"), tier(10, "1", "1")];
        assert_eq!(
            p.validate().unwrap_err().field,
            "tiers[1].above_input_tokens"
        );
        p.tiers = vec![tier(10, "1", "0.0000001")];
        assert_eq!(p.validate().unwrap_err().field, "tiers[0].output_per_mtok");
    }

    #[test]
    fn free_means_every_price_zero() {
        assert!(prices("0", "0.000").is_free());
        let mut p = prices("0", "0");
        p.per_request = dec("0.01");
        assert!(!p.is_free());
    }

    #[test]
    fn version_at_picks_latest_effective() {
        let t0 = Utc::now();
        let v = |id, secs| PriceVersion {
            id,
            model_id: "m".into(),
            effective_from: t0 + chrono::Duration::seconds(secs),
            source: None,
            prices: prices("1", "1"),
        };
        let history = vec![v(1, 0), v(2, 100), v(3, 200)];
        assert_eq!(
            version_at(&history, t0 - chrono::Duration::seconds(1)),
            None
        );
        assert_eq!(version_at(&history, t0).unwrap().id, 1);
        assert_eq!(
            version_at(&history, t0 + chrono::Duration::seconds(150))
                .unwrap()
                .id,
            2
        );
        assert_eq!(
            version_at(&history, t0 + chrono::Duration::seconds(200))
                .unwrap()
                .id,
            3
        );
    }

    fn price() -> impl Strategy<Value = Decimal> {
        (0i64..=100_000_000_000).prop_map(|m| Decimal::new(m, 6))
    }

    proptest! {
        /// Any valid price and any token counts give a cost that is a whole number of
        /// picodollars, so it is stored with no rounding at all.
        #[test]
        fn every_cost_is_whole_picodollars(
            input in price(), output in price(), cached in price(), reasoning in price(),
            fee in (0i64..1_000_000_000_000).prop_map(|m| Decimal::new(m, 12)),
            tokens in proptest::array::uniform5(0u64..5_000_000), images in 0u64..100,
        ) {
            let mut p = prices("0", "0");
            p.input_per_mtok = input;
            p.output_per_mtok = output;
            p.cached_input_per_mtok = Some(cached);
            p.reasoning_per_mtok = Some(reasoning);
            p.per_request = fee;
            p.per_image = fee;
            p.per_web_search = fee;
            prop_assert!(p.validate().is_ok());
            let u = Usage { input_tokens: tokens[0], cached_input_tokens: tokens[1], cache_write_tokens: tokens[2], cache_write_1h_tokens: tokens[2] / 2, output_tokens: tokens[3], reasoning_tokens: tokens[4], images, web_search_requests: images, service_tier: None };
            let cost = p.cost(&u);
            prop_assert!(cost >= Decimal::ZERO);
            let picos = to_picos(cost);
            prop_assert!(picos.is_some() || cost > Decimal::from(9_000_000));
            if let Some(p) = picos {
                prop_assert_eq!(crate::money::from_picos(p), cost.normalize());
            }
        }

        /// Summing costs as picodollar integers gives exactly the Decimal sum.
        #[test]
        fn integer_sums_equal_decimal_sums(costs in proptest::collection::vec(0i64..1_000_000_000_000_000, 1..200)) {
            let decimal_sum: Decimal = costs.iter().map(|c| crate::money::from_picos(*c)).sum();
            let micros: i64 = costs.iter().map(|c| c / 1_000_000).sum();
            let rest: i64 = costs.iter().map(|c| c % 1_000_000).sum();
            prop_assert_eq!(crate::money::from_split_sum(micros, rest), decimal_sum.normalize());
        }
    }
}
