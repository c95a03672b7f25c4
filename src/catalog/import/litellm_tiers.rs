//! LiteLLM's service-tier prices: `*_flex`, `*_priority` and `*_batches` variants of the
//! per-token rates and of their `*_above_{N}k_tokens` thresholds
//! (`input_cost_per_token_priority`, `output_cost_per_token_above_272k_tokens_flex`).
//!
//! LiteLLM prices a call in a tier by looking each rate up under the tier's suffix first and
//! under the standard name when the tier does not name it. So a tier's prices are the entry's
//! own rules (thresholds, defaults) applied to the entry with the tier's fields put in place of
//! the standard ones; they are resolved here once, at import, into a complete set of rates.

use super::litellm::{is_rate_field, prices, Entry};
use crate::pricing::ServicePrices;
use crate::service_tier::ServiceTier;

/// LiteLLM's suffix for each tier with prices of its own.
const SUFFIXES: [(&str, ServiceTier); 3] = [
    ("_flex", ServiceTier::Flex),
    ("_priority", ServiceTier::Priority),
    ("_batches", ServiceTier::Batch),
];

/// Whether `field` is a service-tier variant of a rate the importer applies.
pub fn is_tier_rate_field(field: &str) -> bool {
    SUFFIXES
        .iter()
        .any(|(suffix, _)| field.strip_suffix(suffix).is_some_and(is_rate_field))
}

/// The entry as LiteLLM prices a call in the tier of `suffix`: each rate field the tier names
/// in place of the standard one. `None` when the tier names no rate.
fn tier_entry(entry: &Entry, suffix: &str) -> Option<Entry> {
    let mut tiered = entry.clone();
    let mut named = false;
    for (field, value) in entry {
        if let Some(base) = field.strip_suffix(suffix).filter(|b| is_rate_field(b)) {
            tiered.insert(base.to_string(), value.clone());
            named = true;
        }
    }
    named.then_some(tiered)
}

/// The entry's prices in each tier it names rates for, in tier order, by the tier's suffix
/// (an `Err` for a tier whose prices cannot be stored).
pub fn service_tiers(
    entry: &Entry,
    provider: &str,
) -> Vec<(&'static str, Result<ServicePrices, String>)> {
    let mut out = Vec::new();
    for (suffix, tier) in SUFFIXES {
        let Some(tiered) = tier_entry(entry, suffix) else {
            continue;
        };
        match prices(&tiered, provider) {
            Ok(Some(p)) => out.push((suffix, Ok(ServicePrices::of(tier, &p)))),
            Ok(None) => {}
            Err(e) => out.push((suffix, Err(e))),
        }
    }
    out.sort_by_key(|(_, s)| s.as_ref().map(|s| s.tier).ok());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn entry(json: &str) -> Entry {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_tier_replaces_the_rates_it_names_and_keeps_the_others() {
        let e = entry(
            r#"{"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
            "cache_read_input_token_cost": 1.25e-06,
            "input_cost_per_token_priority": 4.25e-06, "output_cost_per_token_priority": 1.7e-05,
            "input_cost_per_token_batches": 1.25e-06, "output_cost_per_token_batches": 5e-06,
            "input_cost_per_token_above_272k_tokens": 5e-06,
            "input_cost_per_token_above_272k_tokens_priority": 8.5e-06,
            "cache_read_input_audio_token_cost_priority": 1e-06}"#,
        );
        let tiers: Vec<ServicePrices> = service_tiers(&e, "openai")
            .into_iter()
            .map(|(_, s)| s.unwrap())
            .collect();
        let by: BTreeMap<_, _> = tiers.iter().map(|s| (s.tier, s)).collect();
        assert_eq!(by.len(), 2, "no flex rate is named");
        let p = by[&ServiceTier::Priority];
        assert_eq!(p.input_per_mtok.to_string(), "4.25");
        assert_eq!(p.output_per_mtok.to_string(), "17");
        assert_eq!(
            p.cached_input_per_mtok.unwrap().to_string(),
            "1.25",
            "an unnamed rate is the standard one"
        );
        assert_eq!(p.tiers[0].above_input_tokens, 272_000);
        assert_eq!(p.tiers[0].input_per_mtok.to_string(), "8.5");
        let b = by[&ServiceTier::Batch];
        assert_eq!(b.input_per_mtok.to_string(), "1.25");
        assert_eq!(
            b.tiers[0].input_per_mtok.to_string(),
            "5",
            "the standard threshold rate when the tier names none"
        );
        assert!(is_tier_rate_field("input_cost_per_token_flex"));
        assert!(is_tier_rate_field(
            "cache_read_input_token_cost_above_200k_tokens_priority"
        ));
        assert!(!is_tier_rate_field(
            "cache_read_input_audio_token_cost_priority"
        ));
        assert!(!is_tier_rate_field("ocr_cost_per_page_batches"));
    }
}
