//! One import, as the command line, the admin API and the scheduled sync run it: parse, compare
//! with the catalog as stored (not a replica's cached copy), apply, and record the drift of
//! pinned prices (with an alert per new drift).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::plan::{plan, Plan, PriceChange};
use super::{parse, Format, ParseError};
use crate::budgets::enforce::NewAlert;
use crate::store::{Store, StoreError};

/// What an import did.
pub struct Outcome {
    pub plan: Plan,
    pub applied: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One alert per model and source price: a drift already reported is not reported again.
fn drift_alerts(format: Format, drift: &[PriceChange], webhook: Option<&str>) -> Vec<NewAlert> {
    drift
        .iter()
        .map(|d| {
            let source = serde_json::to_string(&d.new).unwrap_or_default();
            let key = format!(
                "catalog.price_drift:{}:{}:{source}",
                format.as_str(),
                d.model
            );
            NewAlert::new(
                "catalog.price_drift",
                key,
                "model",
                &d.model,
                webhook.map(str::to_string),
                json!({"source": format.as_str(), "pinned_prices": d.old, "source_prices": d.new}),
            )
        })
        .collect()
}

/// Parses `text` and imports it (or, with `dry_run`, only plans it).
pub async fn import(
    store: &Store,
    format: Format,
    text: String,
    provider_map: BTreeMap<String, String>,
    effective_from: DateTime<Utc>,
    dry_run: bool,
    webhook: Option<String>,
) -> Result<Outcome, ImportError> {
    let source = tokio::task::spawn_blocking(move || parse(format, &text, &provider_map))
        .await
        .map_err(|e| ParseError(format!("the parser stopped: {e}")))??;
    let snapshot = store.load_catalog().await?;
    let plan = plan(format, source, &snapshot, effective_from);
    if dry_run {
        return Ok(Outcome {
            plan,
            applied: false,
        });
    }
    let applied = !plan.is_empty();
    if applied {
        store
            .apply_import(&plan.work, format.as_str(), effective_from)
            .await?;
    }
    store
        .record_drift(format.as_str(), &plan.pinned, effective_from)
        .await?;
    store
        .insert_alerts(&drift_alerts(format, &plan.pinned, webhook.as_deref()))
        .await?;
    Ok(Outcome { plan, applied })
}
