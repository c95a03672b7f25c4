//! LiteLLM's price map (`model_prices_and_context_window.json`): one object per model key,
//! prices per token (or per image / request), context sizes, `supports_*` flags.
//!
//! Rules are LiteLLM's own (its cost calculator, `generic_cost_per_token`; docs/pricing.md
//! lists which are applied): `*_above_{N}k_tokens` rates apply to the whole request when the
//! prompt (cached tokens included) is above N tokens (at or above, for xAI), each rate a
//! threshold names replacing the one below it; `tiered_pricing` ranges pick one tier for the
//! whole request from the prompt size; an absent cache rate is the input rate in force (half
//! of it for Fireworks AI reads). Tollgate's tiers apply strictly above their threshold and
//! carry every rate, so each LiteLLM rule becomes a tier.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::value::RawValue;
use serde_json::Value;

use super::litellm_tiers;
use super::providers::provider_for;
use super::{checked, exact, model_defaults, per_mtok, ParseError, Skipped, Source, SourceModel};
use crate::catalog::Model;
use crate::pricing::{PriceTier, Prices};

pub(super) type Entry = BTreeMap<String, Box<RawValue>>;

/// The per-token rates Tollgate charges, by LiteLLM's field name.
#[derive(Clone, Copy, PartialEq)]
enum Rate {
    Input,
    Output,
    Reasoning,
    CacheRead,
    CacheWrite,
    CacheWrite1h,
}

const RATES: &[(&str, Rate)] = &[
    ("input_cost_per_token", Rate::Input),
    ("output_cost_per_token", Rate::Output),
    ("output_cost_per_reasoning_token", Rate::Reasoning),
    ("cache_read_input_token_cost", Rate::CacheRead),
    ("cache_creation_input_token_cost", Rate::CacheWrite),
    (
        "cache_creation_input_token_cost_above_1hr",
        Rate::CacheWrite1h,
    ),
];

/// Descriptive fields the importer reads (the `supports_*` flags too).
const UNDERSTOOD: &[&str] = &[
    "litellm_provider",
    "mode",
    "max_input_tokens",
    "max_output_tokens",
    "max_tokens",
    "deprecation_date",
    "source",
    "supported_modalities",
    "supported_output_modalities",
    "supported_endpoints",
    "input_cost_per_image",
    "input_cost_per_request",
    "input_cost_per_query",
    "tiered_pricing",
    "search_context_cost_per_query",
];

/// Parses the whole file. `sample_spec` (LiteLLM's documentation entry) is skipped.
pub fn parse(text: &str, provider_map: &BTreeMap<String, String>) -> Result<Source, ParseError> {
    let entries: BTreeMap<String, Box<RawValue>> = serde_json::from_str(text).map_err(|e| {
        ParseError(format!(
            "not a LiteLLM price map (a JSON object of models): {e}"
        ))
    })?;
    let mut source = Source::default();
    for (key, raw) in entries {
        if key == "sample_spec" {
            continue;
        }
        let Ok(entry) = serde_json::from_str::<Entry>(raw.get()) else {
            source
                .skipped
                .push(skip(&key, "the entry is not a JSON object"));
            continue;
        };
        match model(&key, &entry, &mut source, provider_map) {
            Ok(m) => source.models.push(m),
            Err(reason) => source.skipped.push(skip(&key, &reason)),
        }
    }
    Ok(source)
}

fn skip(key: &str, reason: &str) -> Skipped {
    Skipped {
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

fn value(entry: &Entry, field: &str) -> Option<Value> {
    entry
        .get(field)
        .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
        .filter(|v| !v.is_null())
}

fn text(entry: &Entry, field: &str) -> Option<String> {
    value(entry, field).and_then(|v| v.as_str().map(str::to_string))
}

fn count(entry: &Entry, field: &str) -> Option<u32> {
    value(entry, field)
        .and_then(|v| v.as_u64())
        .and_then(|n| u32::try_from(n).ok())
}

fn flag(entry: &Entry, field: &str) -> bool {
    value(entry, field).and_then(|v| v.as_bool()) == Some(true)
}

/// A price field's exact value; `Err` when it is there but not a non-negative number.
fn price(entry: &Entry, field: &str) -> Result<Option<Decimal>, String> {
    let Some(raw) = entry.get(field) else {
        return Ok(None);
    };
    if raw.get() == "null" {
        return Ok(None);
    }
    match exact(raw.get()) {
        Some(d) if d >= Decimal::ZERO => Ok(Some(d)),
        _ => Err(format!(
            "{field} is {}, not a non-negative price",
            raw.get()
        )),
    }
}

fn rate(entry: &Entry, field: &str) -> Result<Option<Decimal>, String> {
    price(entry, field)?
        .map(|d| per_mtok(d).ok_or_else(|| format!("{field} is too large")))
        .transpose()
}

/// Classifies every field of an entry into the source's counts.
fn count_fields(entry: &Entry, source: &mut Source) {
    for field in entry.keys() {
        let f = field.as_str();
        let understood = UNDERSTOOD.contains(&f)
            || f.starts_with("supports_")
            || is_rate_field(f)
            || litellm_tiers::is_tier_rate_field(f);
        if understood {
            continue;
        }
        if f.contains("cost") || f.contains("pric") || f.contains("multiplier") {
            source.count_unapplied(f);
        } else {
            source.count_unknown(f);
        }
    }
}

/// A per-token rate the importer applies, or one of its thresholds.
pub(super) fn is_rate_field(field: &str) -> bool {
    RATES.iter().any(|(name, _)| *name == field) || threshold(field).is_some()
}

/// `input_cost_per_token_above_200k_tokens` → (input, 200 000);
/// `input_cost_per_token_above_128_tokens` → (input, 128);
/// `cache_creation_input_token_cost_above_1hr_above_200k_tokens` → (1-hour write, 200 000).
/// Only the rates LiteLLM tiers (input, output, cache read, cache writes); a reasoning rate is
/// never tiered.
fn threshold(field: &str) -> Option<(Rate, u64)> {
    let (base, rest) = field.rsplit_once("_above_")?;
    let count = rest.strip_suffix("_tokens")?;
    let tokens = match count.strip_suffix('k') {
        Some(thousands) => thousands.parse::<u64>().ok()?.checked_mul(1000)?,
        None => count.parse::<u64>().ok()?,
    };
    let rate = RATES.iter().find(|(name, _)| *name == base)?.1;
    (rate != Rate::Reasoning).then_some((rate, tokens))
}

/// The per-token rates (USD per 1M tokens) of one price level: the flat rates, one
/// `tiered_pricing` range, or the rates in force above one threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Level {
    input: Decimal,
    output: Decimal,
    cached: Option<Decimal>,
    write: Option<Decimal>,
    write_1h: Option<Decimal>,
    reasoning: Option<Decimal>,
}

impl Level {
    fn set(&mut self, rate: Rate, d: Decimal) {
        match rate {
            Rate::Input => self.input = d,
            Rate::Output => self.output = d,
            Rate::Reasoning => self.reasoning = Some(d),
            Rate::CacheRead => self.cached = Some(d),
            Rate::CacheWrite => self.write = Some(d),
            Rate::CacheWrite1h => self.write_1h = Some(d),
        }
    }

    /// The rates an entry (or a range of its `tiered_pricing`) declares.
    fn read(entry: &Entry) -> Result<(Self, BTreeMap<&'static str, Decimal>), String> {
        let mut level = Level::default();
        let mut found = BTreeMap::new();
        for (name, r) in RATES {
            if let Some(d) = rate(entry, name)? {
                level.set(*r, d);
                found.insert(*name, d);
            }
        }
        Ok((level, found))
    }

    fn tier(&self, above_input_tokens: u64) -> PriceTier {
        PriceTier {
            above_input_tokens,
            input_per_mtok: self.input,
            output_per_mtok: self.output,
            cached_input_per_mtok: self.cached,
            cache_write_per_mtok: self.write,
            cache_write_1h_per_mtok: self.write_1h,
            reasoning_per_mtok: self.reasoning,
        }
    }
}

/// Providers whose `*_above_{N}k_tokens` rates apply from N tokens on, not above N: LiteLLM
/// compares `>=` for them (xAI bills the higher rate once the prompt reaches the threshold).
const INCLUSIVE_THRESHOLDS: &[&str] = &["xai"];

/// The tiers of `*_above_{N}k_tokens` fields, as LiteLLM applies them: every threshold the
/// prompt exceeds is applied in increasing order, each rate it names replacing the one in force
/// (so a rate a threshold does not name stays at the rate below it, cache reads and writes
/// included); the reasoning rate is never tiered.
fn threshold_tiers(entry: &Entry, flat: &Level, provider: &str) -> Result<Vec<PriceTier>, String> {
    let mut by_threshold: BTreeMap<u64, Vec<(Rate, Decimal)>> = BTreeMap::new();
    for field in entry.keys() {
        let Some((r, above)) = threshold(field) else {
            continue;
        };
        if let Some(d) = rate(entry, field)? {
            by_threshold.entry(above).or_default().push((r, d));
        }
    }
    let inclusive = INCLUSIVE_THRESHOLDS.contains(&provider);
    let mut level = *flat;
    let mut tiers = Vec::new();
    for (above, rates) in by_threshold {
        for (r, d) in rates {
            level.set(r, d);
        }
        // Token counts are whole: "at least N" is "above N - 1".
        let above = if inclusive {
            above.saturating_sub(1)
        } else {
            above
        };
        tiers.push(level.tier(above));
    }
    Ok(tiers)
}

/// `tiered_pricing: [{"range": [lo, hi], "input_cost_per_token": …}, …]`, as LiteLLM applies
/// it: the range the prompt falls in (`lo < prompt <= hi`) prices the whole call. A range's
/// cache reads and writes default to its own input rate (not the entry's flat cache rates), its
/// output to the entry's flat output rate, its reasoning to its output rate when it names one;
/// a range without an input rate leaves the call at the flat rates. Returns the base level
/// (the range starting at 0, else the flat rates) and the tiers above it.
fn ranged_tiers(entry: &Entry, flat: &Level) -> Result<Option<(Level, Vec<PriceTier>)>, String> {
    let Some(raw) = entry.get("tiered_pricing") else {
        return Ok(None);
    };
    let ranges: Vec<Entry> = serde_json::from_str(raw.get())
        .map_err(|_| "tiered_pricing is not a list of tiers".to_string())?;
    let mut base = *flat;
    let mut tiers = Vec::new();
    for r in &ranges {
        let Some(start) = value(r, "range").and_then(|v| v.get(0).and_then(Value::as_f64)) else {
            if r.contains_key("max_results_range") {
                return Err(
                    "its tiered_pricing prices searches by the number of results (a per-query \
                     fee Tollgate does not charge)"
                        .into(),
                );
            }
            return Err("a tiered_pricing range has no start".into());
        };
        if start < 0.0 || start.fract() != 0.0 {
            return Err(format!(
                "a tiered_pricing range starts at {start}, not a token count"
            ));
        }
        let start = start as u64;
        let (own, found) = Level::read(r)?;
        let level = if found.contains_key("input_cost_per_token") {
            let has_output = found.contains_key("output_cost_per_token");
            Level {
                input: own.input,
                output: if has_output { own.output } else { flat.output },
                cached: own.cached,
                write: own.write,
                write_1h: own.write_1h,
                reasoning: match (own.reasoning, has_output) {
                    (Some(d), _) => Some(d),
                    (None, true) => None,
                    (None, false) => flat.reasoning,
                },
            }
        } else {
            *flat
        };
        if start == 0 {
            base = level;
        } else {
            tiers.push(level.tier(start));
        }
    }
    Ok(Some((base, tiers)))
}

/// `search_context_cost_per_query`: USD per web search, a number or an object by the
/// request's `search_context_size`; the `medium` size is taken (OpenAI's default size; every
/// entry of the pinned file but four Perplexity ones prices the sizes alike).
fn web_search_fee(entry: &Entry) -> Result<Option<Decimal>, String> {
    const FIELD: &str = "search_context_cost_per_query";
    let Some(raw) = entry.get(FIELD) else {
        return Ok(None);
    };
    if raw.get().trim_start().starts_with('{') {
        let sizes: Entry = serde_json::from_str(raw.get())
            .map_err(|_| format!("{FIELD} is not an object of prices"))?;
        return price(&sizes, "search_context_size_medium").map_err(|e| format!("{FIELD}.{e}"));
    }
    price(entry, FIELD)
}

/// LiteLLM prices Fireworks AI's cache reads at half the input rate when the entry names none.
fn provider_defaults(provider: &str, flat: &mut Level, found: &BTreeMap<&str, Decimal>) {
    if provider == "fireworks_ai"
        && flat.cached.is_none()
        && found.contains_key("input_cost_per_token")
    {
        let half = (flat.input / Decimal::TWO).normalize();
        if half.scale() <= crate::money::MAX_PRICE_PER_MTOK_SCALE {
            flat.cached = Some(half);
        }
    }
}

pub(super) fn prices(entry: &Entry, provider: &str) -> Result<Option<Prices>, String> {
    let (mut flat, found) = Level::read(entry)?;
    let per_image = price(entry, "input_cost_per_image")?;
    let per_search = web_search_fee(entry)?;
    let per_request = match price(entry, "input_cost_per_request")? {
        Some(d) => Some(d),
        None => price(entry, "input_cost_per_query")?,
    };
    if found.is_empty()
        && per_image.is_none()
        && per_request.is_none()
        && per_search.is_none()
        && !entry.contains_key("tiered_pricing")
    {
        return Ok(None);
    }
    if provider == "xai" {
        // LiteLLM bills xAI's reasoning tokens as output tokens, whatever the entry says.
        flat.reasoning = None;
    }
    provider_defaults(provider, &mut flat, &found);
    let (base, mut tiers) = match ranged_tiers(entry, &flat)? {
        // LiteLLM ignores *_above_{N}k_tokens rates when a tiered_pricing range applies.
        Some(ranged) => ranged,
        None => (flat, threshold_tiers(entry, &flat, provider)?),
    };
    tiers.sort_by_key(|t| t.above_input_tokens);
    tiers.dedup_by_key(|t| t.above_input_tokens);
    checked(Prices {
        input_per_mtok: base.input,
        output_per_mtok: base.output,
        cached_input_per_mtok: base.cached,
        cache_write_per_mtok: base.write,
        cache_write_1h_per_mtok: base.write_1h,
        reasoning_per_mtok: base.reasoning,
        per_request: per_request.unwrap_or_default().normalize(),
        per_image: per_image.unwrap_or_default().normalize(),
        per_web_search: web_search_fee(entry)?.unwrap_or_default().normalize(),
        tiers,
        service_tiers: vec![],
        effective_from: None,
    })
}

/// The entry's prices with its service tiers' (see [`litellm_tiers`]). A tier whose prices
/// cannot be stored exactly is left out and counted as not applied; the standard prices stand.
fn prices_with_tiers(
    entry: &Entry,
    provider: &str,
    source: &mut Source,
) -> Result<Option<Prices>, String> {
    let Some(mut p) = prices(entry, provider)? else {
        return Ok(None);
    };
    for (suffix, tier) in litellm_tiers::service_tiers(entry, provider) {
        match tier {
            Ok(s) => p.service_tiers.push(s),
            Err(_) => {
                source.count_unapplied(&format!("*{suffix} rates (not exact to a picodollar)"))
            }
        }
    }
    Ok(Some(p))
}

fn capabilities(entry: &Entry, mode: &str) -> Vec<String> {
    let mut caps = Vec::new();
    if mode == "chat" {
        caps.extend(["chat", "streaming"]);
        if value(entry, "supports_system_messages").and_then(|v| v.as_bool()) != Some(false) {
            caps.push("system_prompt");
        }
    }
    for (flag_name, cap) in [
        ("supports_function_calling", "tools"),
        ("supports_response_schema", "json_mode"),
        ("supports_vision", "vision"),
        ("supports_reasoning", "reasoning"),
        ("supports_web_search", "web_search"),
    ] {
        if flag(entry, flag_name) {
            caps.push(cap);
        }
    }
    caps.into_iter().map(str::to_string).collect()
}

fn modalities(entry: &Entry) -> Vec<String> {
    let mut m = vec!["text"];
    for (flag_name, modality) in [
        ("supports_vision", "image"),
        ("supports_pdf_input", "file"),
        ("supports_audio_input", "audio"),
        ("supports_video_input", "video"),
    ] {
        if flag(entry, flag_name) {
            m.push(modality);
        }
    }
    m.into_iter().map(str::to_string).collect()
}

fn model(
    key: &str,
    entry: &Entry,
    source: &mut Source,
    provider_map: &BTreeMap<String, String>,
) -> Result<SourceModel, String> {
    if !crate::catalog::is_valid_id(key) {
        return Err(
            "the key is not a valid model id (letters, digits and . _ - : / @ +, at most 200)"
                .into(),
        );
    }
    if let (Some(target), None) = (text(entry, "alias_of"), entry.get("litellm_provider")) {
        return Err(format!(
            "an alias of {target} (LiteLLM serves it as that entry; imported under that key)"
        ));
    }
    let provider_name = text(entry, "litellm_provider").ok_or("it has no litellm_provider")?;
    count_fields(entry, source);
    let provider = provider_for(&provider_name, provider_map);
    let mode = text(entry, "mode").unwrap_or_else(|| "chat".into());
    let upstream = key
        .strip_prefix(&format!("{provider_name}/"))
        .unwrap_or(key)
        .to_string();
    let deprecated_from = match text(entry, "deprecation_date") {
        Some(d) => match NaiveDate::parse_from_str(&d, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                source.count_unknown("deprecation_date (not YYYY-MM-DD)");
                None
            }
        },
        None => None,
    };
    let model = Model {
        creator: provider_name.clone(),
        upstream_model: upstream,
        context_length: count(entry, "max_input_tokens"),
        max_output_tokens: count(entry, "max_output_tokens").or_else(|| count(entry, "max_tokens")),
        input_modalities: modalities(entry),
        capabilities: capabilities(entry, &mode),
        mode,
        deprecated_from,
        ..model_defaults(key, &provider.id, None)
    };
    Ok(SourceModel {
        model,
        provider,
        prices: prices_with_tiers(entry, &provider_name, source)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> Source {
        parse(json, &BTreeMap::new()).unwrap()
    }

    #[test]
    fn a_claude_entry_with_cache_writes_and_a_200k_tier() {
        let s = one(
            r#"{"sample_spec": {"x": 1}, "claude-sonnet-4-5": {"litellm_provider": "anthropic", "mode": "chat",
            "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
            "cache_read_input_token_cost": 3e-07, "cache_creation_input_token_cost": 3.75e-06,
            "cache_creation_input_token_cost_above_1hr": 6e-06,
            "input_cost_per_token_above_200k_tokens": 6e-06, "output_cost_per_token_above_200k_tokens": 2.25e-05,
            "cache_read_input_token_cost_above_200k_tokens": 6e-07,
            "max_input_tokens": 200000, "max_output_tokens": 64000, "supports_vision": true,
            "supports_function_calling": true, "tpm": 100}}"#,
        );
        assert_eq!(s.models.len(), 1);
        let m = &s.models[0];
        assert_eq!(
            (m.provider.id.as_str(), m.provider.listing_only),
            ("anthropic", false)
        );
        let p = m.prices.as_ref().unwrap();
        assert_eq!(p.input_per_mtok.to_string(), "3");
        assert_eq!(p.output_per_mtok.to_string(), "15");
        assert_eq!(p.cached_input_per_mtok.unwrap().to_string(), "0.3");
        assert_eq!(p.cache_write_per_mtok.unwrap().to_string(), "3.75");
        assert_eq!(p.tiers.len(), 1);
        assert_eq!(p.tiers[0].above_input_tokens, 200_000);
        assert_eq!(p.tiers[0].output_per_mtok.to_string(), "22.5");
        assert_eq!(p.tiers[0].cached_input_per_mtok.unwrap().to_string(), "0.6");
        assert_eq!(p.cache_write_1h_per_mtok.unwrap().to_string(), "6");
        assert_eq!(
            p.tiers[0].cache_write_1h_per_mtok.unwrap().to_string(),
            "6",
            "a threshold that names no 1-hour rate keeps the one below it"
        );
        assert!(s.unapplied_fields.is_empty(), "{:?}", s.unapplied_fields);
        assert_eq!(s.unknown_fields["tpm"], 1);
        assert!(m.model.capabilities.contains(&"tools".to_string()));
        assert!(m.model.input_modalities.contains(&"image".to_string()));
    }

    #[test]
    fn one_hour_cache_writes_have_their_own_threshold_rates() {
        let s = one(
            r#"{"claude-opus": {"litellm_provider": "anthropic", "mode": "chat",
            "input_cost_per_token": 5e-06, "output_cost_per_token": 2.5e-05,
            "cache_creation_input_token_cost": 6.25e-06, "cache_creation_input_token_cost_above_1hr": 1e-05,
            "input_cost_per_token_above_200k_tokens": 1e-05,
            "cache_creation_input_token_cost_above_1hr_above_200k_tokens": 2e-05}}"#,
        );
        let p = prices_of(&s, "claude-opus");
        assert_eq!(p.cache_write_1h_per_mtok.unwrap().to_string(), "10");
        assert_eq!(p.tiers[0].above_input_tokens, 200_000);
        assert_eq!(
            p.tiers[0].cache_write_1h_per_mtok.unwrap().to_string(),
            "20"
        );
        assert_eq!(p.tiers[0].cache_write_per_mtok.unwrap().to_string(), "6.25");
        assert!(s.unapplied_fields.is_empty(), "{:?}", s.unapplied_fields);
    }

    #[test]
    fn tiered_pricing_ranges_and_fees() {
        let s = one(
            r#"{"qwen-plus": {"litellm_provider": "dashscope", "mode": "chat",
            "tiered_pricing": [{"range": [0, 256000], "input_cost_per_token": 4e-07, "output_cost_per_token": 1.2e-06},
                               {"range": [256000, 1000000], "input_cost_per_token": 1.2e-06, "output_cost_per_token": 3.6e-06}]},
            "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_image": 0.04},
            "bad": {"litellm_provider": "openai", "input_cost_per_token": -1},
            "noprov": {"input_cost_per_token": 1e-06}}"#,
        );
        let q = s.models.iter().find(|m| m.model.id == "qwen-plus").unwrap();
        let p = q.prices.as_ref().unwrap();
        assert_eq!(p.input_per_mtok.to_string(), "0.4");
        assert_eq!(p.tiers[0].above_input_tokens, 256_000);
        assert_eq!(p.tiers[0].output_per_mtok.to_string(), "3.6");
        let d = s.models.iter().find(|m| m.model.id == "dall-e-3").unwrap();
        assert_eq!(d.model.mode, "image_generation");
        assert_eq!(d.prices.as_ref().unwrap().per_image.to_string(), "0.04");
        assert_eq!(s.skipped.len(), 2);
    }

    fn prices_of(s: &Source, id: &str) -> Prices {
        s.models
            .iter()
            .find(|m| m.model.id == id)
            .and_then(|m| m.prices.clone())
            .unwrap()
    }

    #[test]
    fn a_threshold_keeps_the_rates_it_does_not_name_at_the_rate_below() {
        // LiteLLM: above a threshold, a cache rate the threshold does not name stays at the
        // flat cache rate (not the higher input rate); a second threshold starts from the
        // first; the reasoning rate is never tiered.
        let s = one(
            r#"{"kyma/q": {"litellm_provider": "kyma", "input_cost_per_token": 4.35e-08,
            "cache_read_input_token_cost": 8.1e-09, "cache_creation_input_token_cost": 5e-08,
            "output_cost_per_token": 1.886e-07, "output_cost_per_reasoning_token": 3e-07,
            "input_cost_per_token_above_32k_tokens": 1.35e-07, "output_cost_per_token_above_32k_tokens": 5.4e-07,
            "cache_read_input_token_cost_above_32k_tokens": 2e-08,
            "input_cost_per_token_above_256k_tokens": 2.7e-07}}"#,
        );
        let p = prices_of(&s, "kyma/q");
        assert_eq!(p.tiers.len(), 2);
        let (t32, t256) = (&p.tiers[0], &p.tiers[1]);
        assert_eq!(t32.above_input_tokens, 32_000);
        assert_eq!(t32.cached_input_per_mtok.unwrap().to_string(), "0.02");
        assert_eq!(t32.cache_write_per_mtok.unwrap().to_string(), "0.05");
        assert_eq!(t32.reasoning_per_mtok.unwrap().to_string(), "0.3");
        assert_eq!(t256.input_per_mtok.to_string(), "0.27");
        assert_eq!(
            t256.output_per_mtok.to_string(),
            "0.54",
            "from the 32k threshold"
        );
        assert_eq!(t256.cached_input_per_mtok.unwrap().to_string(), "0.02");
        // A cache rate named nowhere stays absent: the input rate in force.
        let s = one(
            r#"{"m": {"litellm_provider": "kyma", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
            "input_cost_per_token_above_128k_tokens": 2e-06}}"#,
        );
        assert_eq!(prices_of(&s, "m").tiers[0].cached_input_per_mtok, None);
    }

    #[test]
    fn xai_thresholds_apply_from_the_threshold_on() {
        let s = one(
            r#"{"xai/grok": {"litellm_provider": "xai", "input_cost_per_token": 1.25e-06, "output_cost_per_token": 2.5e-06,
            "output_cost_per_reasoning_token": 9e-06,
            "input_cost_per_token_above_200k_tokens": 2.5e-06},
            "other/grok": {"litellm_provider": "other", "input_cost_per_token": 1.25e-06,
            "input_cost_per_token_above_200k_tokens": 2.5e-06}}"#,
        );
        let x = prices_of(&s, "xai/grok");
        assert_eq!(x.tiers[0].above_input_tokens, 199_999);
        assert_eq!(
            x.reasoning_per_mtok, None,
            "xAI reasoning is billed as output"
        );
        assert_eq!(
            prices_of(&s, "other/grok").tiers[0].above_input_tokens,
            200_000
        );
    }

    #[test]
    fn a_tiered_range_defaults_its_cache_rates_to_its_own_input() {
        let s = one(
            r#"{"q": {"litellm_provider": "dashscope", "cache_read_input_token_cost": 1e-08, "output_cost_per_token": 9e-06,
            "tiered_pricing": [
              {"range": [0, 32000], "input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06, "output_cost_per_reasoning_token": 8e-06},
              {"range": [32000, 128000], "input_cost_per_token": 2e-06},
              {"range": [128000, 256000], "output_cost_per_token": 7e-06}]}}"#,
        );
        let p = prices_of(&s, "q");
        assert_eq!(p.input_per_mtok.to_string(), "1");
        assert_eq!(
            p.cached_input_per_mtok, None,
            "the range's input, not the flat 0.01"
        );
        assert_eq!(p.reasoning_per_mtok.unwrap().to_string(), "8");
        let mid = &p.tiers[0];
        assert_eq!(mid.input_per_mtok.to_string(), "2");
        assert_eq!(mid.output_per_mtok.to_string(), "9", "the flat output rate");
        assert_eq!(mid.cached_input_per_mtok, None);
        // A range without an input rate leaves the call at the flat rates.
        let top = &p.tiers[1];
        assert_eq!(top.input_per_mtok.to_string(), "0");
        assert_eq!(top.cached_input_per_mtok.unwrap().to_string(), "0.01");
    }

    #[test]
    fn fireworks_cache_reads_default_to_half_the_input_rate_and_aliases_are_named() {
        let s = one(
            r#"{"fireworks_ai/m": {"litellm_provider": "fireworks_ai", "input_cost_per_token": 9e-07, "output_cost_per_token": 9e-07},
            "fireworks_ai/n": {"litellm_provider": "fireworks_ai", "input_cost_per_token": 9e-07, "cache_read_input_token_cost": 1e-07},
            "x/latest": {"alias_of": "x/model-1"}}"#,
        );
        assert_eq!(
            prices_of(&s, "fireworks_ai/m")
                .cached_input_per_mtok
                .unwrap()
                .to_string(),
            "0.45"
        );
        assert_eq!(
            prices_of(&s, "fireworks_ai/n")
                .cached_input_per_mtok
                .unwrap()
                .to_string(),
            "0.1"
        );
        assert!(
            s.skipped[0].reason.starts_with("an alias of x/model-1"),
            "{:?}",
            s.skipped
        );
    }
}
