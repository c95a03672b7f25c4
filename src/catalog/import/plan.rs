//! What an import would change: the diff between a parsed source and the catalog.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Format, Skipped, Source};
use crate::catalog::{Entry, Model, Provider, Snapshot};
use crate::pricing::Prices;

/// A price that differs between the catalog and the source.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceChange {
    pub model: String,
    /// The catalog's current price (`null`: the model had none).
    pub old: Option<Prices>,
    pub new: Prices,
}

/// The diff a dry run prints and an import applies.
#[derive(Debug, Serialize, ToSchema)]
pub struct Plan {
    pub format: Format,
    /// When the new price versions take effect.
    pub effective_from: DateTime<Utc>,
    /// Providers the import creates (listing-only ones are priced but not callable).
    pub providers_added: Vec<Provider>,
    pub models_added: Vec<String>,
    /// Existing models whose context sizes, capabilities, modalities, mode or deprecation date
    /// change (names, descriptions and routing are left as the catalog has them).
    pub models_updated: Vec<String>,
    /// New price versions.
    pub prices_changed: Vec<PriceChange>,
    /// Prices an administrator set, which the import leaves: the source's price beside them.
    pub pinned: Vec<PriceChange>,
    /// Models the source lists without a usable price (added unpriced: not callable).
    pub unpriced: Vec<String>,
    /// Models last priced by this source that it no longer lists (left as they are).
    pub gone: Vec<String>,
    pub unchanged: usize,
    pub skipped: Vec<Skipped>,
    /// Fields the importer does not understand, by the number of entries carrying them.
    pub unknown_fields: BTreeMap<String, u64>,
    /// Price fields understood but not charged by Tollgate yet, by the number of entries.
    pub unapplied_fields: BTreeMap<String, u64>,
    #[serde(skip)]
    pub work: Work,
}

/// The writes an import makes, in one transaction.
#[derive(Debug, Default)]
pub struct Work {
    pub providers: Vec<Provider>,
    pub models: Vec<Model>,
    pub updated: Vec<Model>,
    pub prices: Vec<(String, Prices)>,
}

impl Plan {
    /// True when applying would write nothing.
    pub fn is_empty(&self) -> bool {
        let w = &self.work;
        w.providers.is_empty() && w.models.is_empty() && w.updated.is_empty() && w.prices.is_empty()
    }
}

/// The existing model with the source's descriptive fields, when any differs.
fn updated(existing: &Model, m: &Model) -> Option<Model> {
    let mut u = existing.clone();
    u.context_length = m.context_length.or(u.context_length);
    u.max_output_tokens = m.max_output_tokens.or(u.max_output_tokens);
    u.capabilities = m.capabilities.clone();
    u.input_modalities = m.input_modalities.clone();
    u.mode = m.mode.clone();
    u.deprecated_from = m.deprecated_from;
    (u != *existing).then_some(u)
}

fn without_date(p: &Prices) -> Prices {
    Prices {
        effective_from: None,
        ..p.clone()
    }
}

/// Compares the source's price with the entry's latest version.
fn price_step(entry: &Entry, new: &Prices, plan: &mut Plan) -> bool {
    let Some(latest) = entry.prices.last() else {
        plan.prices_changed.push(PriceChange {
            model: entry.model.id.clone(),
            old: None,
            new: new.clone(),
        });
        plan.work.prices.push((entry.model.id.clone(), new.clone()));
        return true;
    };
    let old = without_date(&latest.prices);
    if old == *new {
        return false;
    }
    let change = PriceChange {
        model: entry.model.id.clone(),
        old: Some(old),
        new: new.clone(),
    };
    if latest.source.is_none() {
        plan.pinned.push(change);
        return false;
    }
    plan.prices_changed.push(change);
    plan.work.prices.push((entry.model.id.clone(), new.clone()));
    true
}

/// The plan for importing `source` into the catalog `snapshot`, prices effective at
/// `effective_from`.
pub fn plan(
    format: Format,
    source: Source,
    snapshot: &Snapshot,
    effective_from: DateTime<Utc>,
) -> Plan {
    let mut plan = Plan {
        format,
        effective_from,
        providers_added: vec![],
        models_added: vec![],
        models_updated: vec![],
        prices_changed: vec![],
        pinned: vec![],
        unpriced: vec![],
        gone: vec![],
        unchanged: 0,
        skipped: source.skipped,
        unknown_fields: source.unknown_fields,
        unapplied_fields: source.unapplied_fields,
        work: Work::default(),
    };
    let mut new_providers: BTreeSet<String> = BTreeSet::new();
    let listed: BTreeSet<&str> = source.models.iter().map(|m| m.model.id.as_str()).collect();
    for s in &source.models {
        let m = &s.model;
        if snapshot.provider(&s.provider.id).is_none()
            && new_providers.insert(s.provider.id.clone())
        {
            plan.providers_added.push(s.provider.clone());
            plan.work.providers.push(s.provider.clone());
        }
        if s.prices.is_none() {
            plan.unpriced.push(m.id.clone());
        }
        let Some(entry) = snapshot.get(&m.id) else {
            plan.models_added.push(m.id.clone());
            plan.work.models.push(m.clone());
            if let Some(p) = &s.prices {
                plan.work.prices.push((m.id.clone(), p.clone()));
            }
            continue;
        };
        let mut changed = false;
        if let Some(u) = updated(&entry.model, m) {
            plan.models_updated.push(m.id.clone());
            plan.work.updated.push(u);
            changed = true;
        }
        if let Some(p) = &s.prices {
            changed |= price_step(entry, p, &mut plan);
        }
        if !changed {
            plan.unchanged += 1;
        }
    }
    plan.gone = snapshot
        .entries
        .iter()
        .filter(|e| e.prices.last().and_then(|p| p.source.as_deref()) == Some(format.as_str()))
        .filter(|e| !listed.contains(e.model.id.as_str()))
        .map(|e| e.model.id.clone())
        .collect();
    plan
}
