//! The scheduled catalog sync: `TOLLGATE_CATALOG_SYNC_URL` re-imported every
//! `TOLLGATE_CATALOG_SYNC_INTERVAL_SECS` (and once at start), as `POST /admin/catalog/import`
//! would. Pinned (admin) prices are never overwritten; their drift is recorded and alerted.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{run, Format};
use crate::state::AppState;

/// The largest price list a sync downloads.
const MAX_BYTES: usize = 64 * 1024 * 1024;
/// How long one download may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub url: String,
    pub format: Format,
    pub interval: Duration,
}

async fn fetch(url: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("the server answered {}", response.status()));
    }
    let bytes = crate::gateway::upstream::read_capped(response, MAX_BYTES)
        .await
        .map_err(|_| format!("unreadable or larger than {MAX_BYTES} bytes"))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| "not UTF-8 text".into())
}

/// One sync: download, import, reload the catalog.
pub async fn once(state: &AppState, s: &SyncSettings) {
    let text = match fetch(&s.url).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(url = %s.url, error = %e, "catalog sync: download failed; the catalog is unchanged");
            return;
        }
    };
    let webhook = state.budgets.webhook_url.clone();
    match run::import(
        &state.store,
        s.format,
        text,
        BTreeMap::new(),
        Utc::now(),
        false,
        webhook,
    )
    .await
    {
        Ok(outcome) => {
            let p = &outcome.plan;
            tracing::info!(
                format = s.format.as_str(),
                added = p.models_added.len(),
                prices_changed = p.prices_changed.len(),
                pinned = p.pinned.len(),
                skipped = p.skipped.len(),
                "catalog sync"
            );
            if outcome.applied {
                if let Err(e) = state.catalog.reload(&state.store).await {
                    tracing::error!(error = %e, "catalog sync: reload failed");
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "catalog sync failed; the catalog is unchanged")
        }
    }
}

/// Runs the sync until `stop`.
pub fn spawn(state: AppState, s: SyncSettings, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            once(&state, &s).await;
            tokio::select! {
                () = tokio::time::sleep(s.interval) => {}
                () = stop.cancelled() => break,
            }
        }
    })
}
