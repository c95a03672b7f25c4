//! LiteLLM's price map (`model_prices_and_context_window.json`): one object per model key,
//! prices per token (or per image / request), context sizes, `supports_*` flags.
//!
//! Rules taken from LiteLLM's documentation of its own file: `*_above_{N}k_tokens` rates apply
//! to the whole request when the prompt (cached tokens included) is above N thousand tokens;
//! `tiered_pricing` ranges pick one tier for the whole request from the prompt size. Tollgate's
//! tiers apply strictly above their threshold (docs/pricing.md).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::value::RawValue;
use serde_json::Value;

use super::providers::provider_for;
use super::{checked, exact, model_defaults, per_mtok, ParseError, Skipped, Source, SourceModel};
use crate::catalog::Model;
use crate::pricing::{PriceTier, Prices};

type Entry = BTreeMap<String, Box<RawValue>>;

/// The per-token rates Tollgate charges, by LiteLLM's field name.
#[derive(Clone, Copy, PartialEq)]
enum Rate {
    Input,
    Output,
    Reasoning,
    CacheRead,
    CacheWrite,
}

const RATES: &[(&str, Rate)] = &[
    ("input_cost_per_token", Rate::Input),
    ("output_cost_per_token", Rate::Output),
    ("output_cost_per_reasoning_token", Rate::Reasoning),
    ("cache_read_input_token_cost", Rate::CacheRead),
    ("cache_creation_input_token_cost", Rate::CacheWrite),
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
            || RATES.iter().any(|(name, _)| *name == f)
            || threshold(f).is_some();
        if understood {
            continue;
        }
        if f.contains("cost") || f.contains("price") {
            source.count_unapplied(f);
        } else {
            source.count_unknown(f);
        }
    }
}

/// `input_cost_per_token_above_200k_tokens` → (input, 200 000).
fn threshold(field: &str) -> Option<(Rate, u64)> {
    let (base, rest) = field.split_once("_above_")?;
    let thousands: u64 = rest.strip_suffix("k_tokens")?.parse().ok()?;
    let rate = RATES.iter().find(|(name, _)| *name == base)?.1;
    Some((rate, thousands.checked_mul(1000)?))
}

fn set(tier: &mut PriceTier, rate: Rate, d: Decimal) {
    match rate {
        Rate::Input => tier.input_per_mtok = d,
        Rate::Output => tier.output_per_mtok = d,
        Rate::Reasoning => tier.reasoning_per_mtok = Some(d),
        Rate::CacheRead => tier.cached_input_per_mtok = Some(d),
        Rate::CacheWrite => tier.cache_write_per_mtok = Some(d),
    }
}

fn empty_tier(above: u64, base: &Prices) -> PriceTier {
    PriceTier {
        above_input_tokens: above,
        input_per_mtok: base.input_per_mtok,
        output_per_mtok: base.output_per_mtok,
        cached_input_per_mtok: None,
        cache_write_per_mtok: None,
        reasoning_per_mtok: None,
    }
}

/// The tiers of `*_above_{N}k_tokens` fields, by threshold.
fn threshold_tiers(entry: &Entry, base: &Prices) -> Result<Vec<PriceTier>, String> {
    let mut tiers: BTreeMap<u64, PriceTier> = BTreeMap::new();
    for field in entry.keys() {
        let Some((r, above)) = threshold(field) else {
            continue;
        };
        if let Some(d) = rate(entry, field)? {
            set(
                tiers
                    .entry(above)
                    .or_insert_with(|| empty_tier(above, base)),
                r,
                d,
            );
        }
    }
    Ok(tiers.into_values().collect())
}

/// `tiered_pricing: [{"range": [lo, hi], "input_cost_per_token": …}, …]`: the tier whose range
/// starts at 0 gives the base rates, the others apply above their start.
fn ranged_tiers(entry: &Entry, base: &mut Prices) -> Result<Vec<PriceTier>, String> {
    let Some(raw) = entry.get("tiered_pricing") else {
        return Ok(vec![]);
    };
    let ranges: Vec<Entry> = serde_json::from_str(raw.get())
        .map_err(|_| "tiered_pricing is not a list of tiers".to_string())?;
    let mut tiers = Vec::new();
    for r in &ranges {
        let start = value(r, "range")
            .and_then(|v| v.get(0).and_then(Value::as_f64))
            .filter(|s| *s >= 0.0 && s.fract() == 0.0)
            .ok_or("a tiered_pricing range has no start")? as u64;
        let mut tier = empty_tier(start, base);
        for (name, rt) in RATES {
            if let Some(d) = rate(r, name)? {
                set(&mut tier, *rt, d);
            }
        }
        if start == 0 {
            base.input_per_mtok = tier.input_per_mtok;
            base.output_per_mtok = tier.output_per_mtok;
            base.cached_input_per_mtok = tier.cached_input_per_mtok.or(base.cached_input_per_mtok);
            base.cache_write_per_mtok = tier.cache_write_per_mtok.or(base.cache_write_per_mtok);
            base.reasoning_per_mtok = tier.reasoning_per_mtok.or(base.reasoning_per_mtok);
        } else {
            tiers.push(tier);
        }
    }
    Ok(tiers)
}

fn prices(entry: &Entry) -> Result<Option<Prices>, String> {
    let mut found = BTreeMap::new();
    for (name, r) in RATES {
        if let Some(d) = rate(entry, name)? {
            found.insert(*name, (*r, d));
        }
    }
    let per_image = price(entry, "input_cost_per_image")?;
    let per_request = match price(entry, "input_cost_per_request")? {
        Some(d) => Some(d),
        None => price(entry, "input_cost_per_query")?,
    };
    if found.is_empty()
        && per_image.is_none()
        && per_request.is_none()
        && !entry.contains_key("tiered_pricing")
    {
        return Ok(None);
    }
    let get = |r: Rate| found.values().find(|(k, _)| *k == r).map(|(_, d)| *d);
    let mut p = Prices {
        input_per_mtok: get(Rate::Input).unwrap_or_default(),
        output_per_mtok: get(Rate::Output).unwrap_or_default(),
        cached_input_per_mtok: get(Rate::CacheRead),
        cache_write_per_mtok: get(Rate::CacheWrite),
        reasoning_per_mtok: get(Rate::Reasoning),
        per_request: per_request.unwrap_or_default().normalize(),
        per_image: per_image.unwrap_or_default().normalize(),
        tiers: vec![],
        effective_from: None,
    };
    let mut tiers = ranged_tiers(entry, &mut p)?;
    tiers.extend(threshold_tiers(entry, &p)?);
    tiers.sort_by_key(|t| t.above_input_tokens);
    tiers.dedup_by_key(|t| t.above_input_tokens);
    p.tiers = tiers;
    checked(p)
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
        prices: prices(entry)?,
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
        assert_eq!(
            s.unapplied_fields["cache_creation_input_token_cost_above_1hr"],
            1
        );
        assert_eq!(s.unknown_fields["tpm"], 1);
        assert!(m.model.capabilities.contains(&"tools".to_string()));
        assert!(m.model.input_modalities.contains(&"image".to_string()));
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
}
