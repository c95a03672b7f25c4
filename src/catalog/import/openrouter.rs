//! OpenRouter's model list (`GET https://openrouter.ai/api/v1/models`): `{"data": [model…]}`
//! with prices as decimal strings per token or per unit.
//!
//! Every model is served through the `openrouter` provider (OpenAI-compatible), which takes
//! the ids exactly as listed; the id's prefix (`anthropic/…`) is the model's creator. A
//! `--provider-map` entry for `openrouter` sends them to another provider instead.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::providers::provider_for;
use super::{checked, exact, model_defaults, per_mtok, ParseError, Skipped, Source, SourceModel};
use crate::catalog::Model;
use crate::pricing::Prices;

#[derive(Deserialize)]
struct List {
    data: Vec<Value>,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    name: Option<String>,
    created: Option<i64>,
    description: Option<String>,
    context_length: Option<u64>,
    #[serde(default)]
    architecture: Architecture,
    #[serde(default)]
    top_provider: TopProvider,
    #[serde(default)]
    supported_parameters: Vec<String>,
    /// `null` (as Tollgate's own list writes an unpriced model) is no prices.
    #[serde(default, deserialize_with = "null_as_empty")]
    pricing: BTreeMap<String, Value>,
    expiration_date: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Value>, D::Error> {
    Ok(Option::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize, Default)]
struct Architecture {
    #[serde(default)]
    input_modalities: Vec<String>,
}

#[derive(Deserialize, Default)]
struct TopProvider {
    max_completion_tokens: Option<u64>,
}

/// Top-level fields read for display or not needed to price and route a model.
const UNDERSTOOD: &[&str] = &[
    "canonical_slug",
    "hugging_face_id",
    "per_request_limits",
    "default_parameters",
];

/// Pricing keys Tollgate charges; any other key is counted as not applied.
const PRICED: &[&str] = &[
    "prompt",
    "completion",
    "internal_reasoning",
    "input_cache_read",
    "input_cache_write",
    "image",
    "request",
    "web_search",
    "discount",
];

pub fn parse(text: &str, provider_map: &BTreeMap<String, String>) -> Result<Source, ParseError> {
    let list: List = serde_json::from_str(text).map_err(|e| {
        ParseError(format!(
            "not an OpenRouter model list ({{\"data\": [...]}}): {e}"
        ))
    })?;
    let provider = provider_for("openrouter", provider_map);
    let mut source = Source::default();
    for (i, raw) in list.data.into_iter().enumerate() {
        let key = raw
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| format!("data[{i}]"), str::to_string);
        let entry: Entry = match serde_json::from_value(raw) {
            Ok(e) => e,
            Err(e) => {
                source.skipped.push(Skipped {
                    key,
                    reason: format!("unreadable entry: {e}"),
                });
                continue;
            }
        };
        for field in entry.extra.keys() {
            if !UNDERSTOOD.contains(&field.as_str()) {
                source.count_unknown(field);
            }
        }
        for (k, v) in &entry.pricing {
            if !PRICED.contains(&k.as_str()) && !is_zero(v) {
                source.count_unapplied(&format!("pricing.{k}"));
            }
        }
        match model(entry, &provider) {
            Ok(m) => source.models.push(m),
            Err(reason) => source.skipped.push(Skipped { key, reason }),
        }
    }
    Ok(source)
}

fn is_zero(v: &Value) -> bool {
    text_of(v)
        .and_then(|t| exact(&t))
        .is_some_and(|d| d.is_zero())
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A price: `Ok(None)` when absent, `Err` for OpenRouter's `"-1"` (variable price: the model
/// is unpriced) or anything that is not a non-negative decimal.
fn price(pricing: &BTreeMap<String, Value>, key: &str) -> Result<Option<Decimal>, Option<String>> {
    let Some(v) = pricing.get(key).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let d = text_of(v)
        .and_then(|t| exact(&t))
        .ok_or_else(|| Some(format!("pricing.{key} is {v}, not a price")))?;
    if d == Decimal::NEGATIVE_ONE {
        return Err(None);
    }
    if d < Decimal::ZERO {
        return Err(Some(format!("pricing.{key} is negative")));
    }
    Ok(Some(d))
}

fn prices(pricing: &BTreeMap<String, Value>) -> Result<Option<Prices>, String> {
    let read = |k| price(pricing, k);
    let all = (|| {
        Ok::<_, Option<String>>((
            read("prompt")?,
            read("completion")?,
            read("internal_reasoning")?,
            read("input_cache_read")?,
            read("input_cache_write")?,
            read("image")?,
            read("request")?,
            read("web_search")?,
        ))
    })();
    let (prompt, completion, reasoning, cache_read, cache_write, image, request, search) = match all
    {
        Ok(v) => v,
        Err(None) => return Ok(None),
        Err(Some(e)) => return Err(e),
    };
    if prompt.is_none() && completion.is_none() {
        return Ok(None);
    }
    // `discount` (a fraction) lowers every price.
    let discount = pricing
        .get("discount")
        .and_then(text_of)
        .and_then(|t| exact(&t))
        .filter(|d| *d > Decimal::ZERO && *d < Decimal::ONE)
        .unwrap_or_default();
    let factor = Decimal::ONE - discount;
    let rate = |d: Option<Decimal>| d.and_then(|d| per_mtok(d * factor));
    let fee = |d: Option<Decimal>| d.map(|d| (d * factor).normalize()).unwrap_or_default();
    let p = Prices {
        input_per_mtok: rate(prompt).unwrap_or_default(),
        output_per_mtok: rate(completion).unwrap_or_default(),
        cached_input_per_mtok: rate(cache_read),
        cache_write_per_mtok: rate(cache_write),
        // OpenRouter lists one cache-write price: 1-hour writes are charged at it.
        cache_write_1h_per_mtok: None,
        // OpenRouter lists 0 when reasoning is billed as completion tokens.
        reasoning_per_mtok: rate(reasoning).filter(|r| !r.is_zero()),
        per_request: fee(request),
        per_image: fee(image),
        per_web_search: fee(search),
        tiers: vec![],
        service_tiers: vec![],
        effective_from: None,
    };
    checked(p)
}

fn capabilities(params: &[String], modalities: &[String]) -> Vec<String> {
    let has = |p: &str| params.iter().any(|x| x == p);
    let mut caps = vec!["chat", "streaming", "system_prompt"];
    if has("tools") {
        caps.push("tools");
    }
    if has("response_format") || has("structured_outputs") {
        caps.push("json_mode");
    }
    if has("reasoning") || has("include_reasoning") {
        caps.push("reasoning");
    }
    if modalities.iter().any(|m| m == "image") {
        caps.push("vision");
    }
    caps.into_iter().map(str::to_string).collect()
}

fn model(e: Entry, provider: &crate::catalog::Provider) -> Result<SourceModel, String> {
    if !crate::catalog::is_valid_id(&e.id) {
        return Err("the id is not a valid model id".into());
    }
    let creator = e.id.split_once('/').map_or("", |(c, _)| c).to_string();
    let modalities: Vec<String> = e
        .architecture
        .input_modalities
        .iter()
        .filter(|m| crate::catalog::MODALITIES.contains(&m.as_str()))
        .cloned()
        .collect();
    let capabilities = capabilities(&e.supported_parameters, &modalities);
    let added_on = e
        .created
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .map(|t| t.date_naive());
    let model = Model {
        name: e.name.unwrap_or_else(|| e.id.clone()),
        creator,
        description: e.description.unwrap_or_default(),
        context_length: e.context_length.and_then(|n| u32::try_from(n).ok()),
        max_output_tokens: e
            .top_provider
            .max_completion_tokens
            .and_then(|n| u32::try_from(n).ok()),
        input_modalities: if modalities.is_empty() {
            vec!["text".into()]
        } else {
            modalities
        },
        capabilities,
        deprecated_from: e
            .expiration_date
            .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
        ..model_defaults(&e.id, &provider.id, added_on)
    };
    Ok(SourceModel {
        model,
        provider: provider.clone(),
        prices: prices(&e.pricing)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_openrouter_list_with_discount_and_variable_prices() {
        let s = parse(
            r#"{"data": [
              {"id": "anthropic/claude-sonnet-4.5", "name": "Anthropic: Claude Sonnet 4.5", "created": 1759161676,
               "context_length": 1000000, "architecture": {"input_modalities": ["text", "image", "file"]},
               "top_provider": {"max_completion_tokens": 64000}, "supported_parameters": ["tools", "reasoning"],
               "pricing": {"prompt": "0.000003", "completion": "0.000015", "input_cache_read": "0.0000003",
                           "input_cache_write": "0.00000375", "image": "0.0048", "request": "0", "web_search": "0.01",
                           "internal_reasoning": "0"}, "canonical_slug": "x", "new_field": 1},
              {"id": "openrouter/auto", "pricing": {"prompt": "-1", "completion": "-1"}},
              {"id": "tollgate/unpriced", "pricing": null},
              {"id": "cheap/model:free", "pricing": {"prompt": "0.000001", "completion": "0.000002", "discount": 0.5}}
            ]}"#,
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(s.models.len(), 4);
        let c = &s.models[0];
        assert_eq!(c.model.creator, "anthropic");
        assert_eq!(c.model.upstream_model, "anthropic/claude-sonnet-4.5");
        assert_eq!(c.provider.id, "openrouter");
        let p = c.prices.as_ref().unwrap();
        assert_eq!(p.input_per_mtok.to_string(), "3");
        assert_eq!(p.cache_write_per_mtok.unwrap().to_string(), "3.75");
        assert_eq!(p.per_image.to_string(), "0.0048");
        assert_eq!(p.reasoning_per_mtok, None);
        assert!(s.models[1].prices.is_none(), "variable price: unpriced");
        assert!(s.models[2].prices.is_none(), "null pricing: unpriced");
        let cheap = s.models[3].prices.as_ref().unwrap();
        assert_eq!(cheap.input_per_mtok.to_string(), "0.5");
        assert_eq!(p.per_web_search.to_string(), "0.01");
        assert!(s.unapplied_fields.is_empty(), "{:?}", s.unapplied_fields);
        assert_eq!(s.unknown_fields["new_field"], 1);
        assert!(!s.unknown_fields.contains_key("canonical_slug"));
    }
}
