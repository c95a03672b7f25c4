//! Importing the price lists the field keeps — LiteLLM's `model_prices_and_context_window.json`
//! and OpenRouter's `GET /api/v1/models` — into the catalog.
//!
//! A source is parsed into [`Source`] (prices read from the JSON text as exact decimals, never
//! through a float; every field counted, understood or not), compared with the catalog into a
//! [`Plan`] (what a dry run prints), and applied in one transaction: new providers and models,
//! and changed prices as new price versions effective at one instant, so history is never
//! rewritten and past calls keep their price. A price an administrator set is pinned: the
//! import leaves it and reports the drift. Importing the same file twice changes nothing.

pub mod cli;
pub mod litellm;
mod litellm_tiers;
pub mod openrouter;
pub mod plan;
pub mod providers;
pub mod report;
pub mod run;
pub mod sync;

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::{DefaultParams, Model, ModelStatus, Provider};
use crate::pricing::Prices;

pub use plan::{plan, Plan};

/// The price lists Tollgate imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Litellm,
    Openrouter,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Litellm => "litellm",
            Format::Openrouter => "openrouter",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "litellm" => Some(Format::Litellm),
            "openrouter" => Some(Format::Openrouter),
            _ => None,
        }
    }
}

/// A model as the source describes it: the catalog model it becomes (`model.provider` is
/// `provider.id`), its provider, and its price.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceModel {
    pub model: Model,
    pub provider: Provider,
    /// `None`: the source gives no usable price (the model is listed unpriced).
    pub prices: Option<Prices>,
}

/// A new catalog model with the catalog's defaults for what sources do not say.
pub(crate) fn model_defaults(id: &str, provider: &str, added_on: Option<NaiveDate>) -> Model {
    Model {
        id: id.to_string(),
        name: id.to_string(),
        creator: String::new(),
        provider: provider.to_string(),
        upstream_model: id.to_string(),
        description: String::new(),
        context_length: None,
        max_output_tokens: None,
        input_modalities: vec!["text".into()],
        capabilities: vec![],
        default_params: DefaultParams::default(),
        open_weights: false,
        added_on: added_on.unwrap_or_else(|| Utc::now().date_naive()),
        status: ModelStatus::Active,
        mode: "chat".into(),
        deprecated_from: None,
    }
}

/// Prices Tollgate can store exactly, or why not.
pub(crate) fn checked(p: Prices) -> Result<Option<Prices>, String> {
    p.validate().map_err(|e| {
        format!(
            "its prices cannot be stored exactly: {}: {}",
            e.field, e.message
        )
    })?;
    Ok(Some(p))
}

/// An entry the importer left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Skipped {
    pub key: String,
    pub reason: String,
}

/// A parsed source.
#[derive(Debug, Default)]
pub struct Source {
    pub models: Vec<SourceModel>,
    pub skipped: Vec<Skipped>,
    /// Fields the importer does not understand, with the number of entries carrying each.
    pub unknown_fields: BTreeMap<String, u64>,
    /// Price fields the importer understands but Tollgate does not charge yet (service tiers,
    /// one-hour cache writes, audio, search), with the number of entries carrying each.
    pub unapplied_fields: BTreeMap<String, u64>,
}

impl Source {
    fn count_unknown(&mut self, field: &str) {
        *self.unknown_fields.entry(field.to_string()).or_default() += 1;
    }

    fn count_unapplied(&mut self, field: &str) {
        *self.unapplied_fields.entry(field.to_string()).or_default() += 1;
    }
}

/// Why a source could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Parses a source file.
pub fn parse(
    format: Format,
    text: &str,
    provider_map: &BTreeMap<String, String>,
) -> Result<Source, ParseError> {
    match format {
        Format::Litellm => litellm::parse(text, provider_map),
        Format::Openrouter => openrouter::parse(text, provider_map),
    }
}

/// A price as exact decimal text (`3e-06`, `0.000003`, `"0.000003"`): never through a float.
pub fn exact(text: &str) -> Option<Decimal> {
    let t = text.trim().trim_matches('"');
    if t.contains(['e', 'E']) {
        Decimal::from_scientific(t).ok()
    } else {
        Decimal::from_str(t).ok()
    }
}

/// A per-token price as a per-million-token price, normalised (`3e-06` → `3`).
pub fn per_mtok(per_token: Decimal) -> Option<Decimal> {
    per_token
        .checked_mul(Decimal::from(1_000_000))
        .map(|d| d.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_read_exactly() {
        assert_eq!(exact("3e-06").unwrap().to_string(), "0.000003");
        assert_eq!(per_mtok(exact("3e-06").unwrap()).unwrap().to_string(), "3");
        assert_eq!(
            per_mtok(exact("1.25E-7").unwrap()).unwrap().to_string(),
            "0.125"
        );
        assert_eq!(
            per_mtok(exact("\"0.0000003\"").unwrap())
                .unwrap()
                .to_string(),
            "0.3"
        );
        // A value no f64 holds exactly stays exact.
        assert_eq!(
            per_mtok(exact("1.1e-06").unwrap()).unwrap().to_string(),
            "1.1"
        );
        assert!(exact("abc").is_none());
    }

    #[test]
    fn hostile_numbers_are_refused_not_wrapped() {
        for text in ["1e400", "NaN", "Infinity", "1e", "", "--1", "1.0.0", "0x10"] {
            let d = exact(text);
            assert!(
                d.is_none() || per_mtok(d.unwrap()).is_none(),
                "{text}: {d:?}"
            );
        }
        // Too small to store (below a picodollar per token) is parsed exactly; the importer's
        // price check then skips the entry with its reason (see litellm::tests).
        assert!(exact("1e-40").is_none_or(|d| d < Decimal::new(1, 12)));
        let huge = "9".repeat(40);
        assert!(exact(&huge).is_none_or(|d| per_mtok(d).is_none()));
    }
}
