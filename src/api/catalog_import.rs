//! `POST /admin/catalog/import`: a price list (LiteLLM's or OpenRouter's) as the body; the
//! diff as the answer, applied unless `dry_run`.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::Json;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Limited};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Admin, ApiQuery};
use crate::catalog::import::run::{self, ImportError};
use crate::catalog::import::{Format, Plan};
use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// The largest price list accepted (LiteLLM's is about 1.5 MB).
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `litellm` or `openrouter`.
    pub format: String,
    /// Report what would change; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// When changed prices take effect (RFC 3339; now when omitted). Must be later than every
    /// existing version of a changed model: history is never rewritten.
    pub effective_from: Option<DateTime<Utc>>,
}

/// The import's diff, and whether it was applied.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub applied: bool,
    #[serde(flatten)]
    pub plan: Plan,
}

async fn read_body(req: Request) -> Result<String, ApiError> {
    let bytes = Limited::new(req.into_body(), MAX_IMPORT_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::new(
                    ErrorKind::PayloadTooLarge,
                    "payload_too_large",
                    format!("a price list may be at most {MAX_IMPORT_BYTES} bytes"),
                )
            } else {
                ApiError::bad_request("invalid_body", format!("failed to read the body: {e}"))
            }
        })?
        .to_bytes();
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::bad_request("invalid_body", "the price list is not UTF-8 text"))
}

/// Import a price list into the catalog.
#[utoipa::path(post, path = "/admin/catalog/import", tag = "admin", security(("admin" = [])),
    params(ImportParams), request_body(content = String, description = "The price list: LiteLLM's model_prices_and_context_window.json or OpenRouter's /api/v1/models answer", content_type = "application/json"),
    responses((status = 200, body = ImportResult, description = "What changed (or, with dry_run, would change)"),
        (status = 400, description = "Unknown format or unreadable price list"), (status = 401, description = "Missing or wrong admin token"),
        (status = 413, description = "Body too large"), (status = 422, description = "effective_from is not after an existing price version")))]
pub async fn import_catalog(
    _: Admin,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ImportParams>,
    req: Request,
) -> Result<Json<ImportResult>, ApiError> {
    let format = Format::parse(&params.format)
        .ok_or_else(|| ApiError::invalid_field("format", "format must be litellm or openrouter"))?;
    let text = read_body(req).await?;
    let effective_from = params.effective_from.unwrap_or_else(|| state.clock.now());
    let outcome = run::import(
        &state.store,
        format,
        text,
        BTreeMap::new(),
        effective_from,
        params.dry_run,
        state.budgets.webhook_url.clone(),
    )
    .await
    .map_err(|e| match e {
        ImportError::Parse(e) => ApiError::bad_request("invalid_price_list", e.0),
        ImportError::Store(e) => ApiError::from(e),
    })?;
    if outcome.applied {
        state.catalog.reload(&state.store).await?;
    }
    let (applied, plan) = (outcome.applied, outcome.plan);
    Ok(Json(ImportResult { applied, plan }))
}

/// A pinned model's source price beside the administrator's.
#[derive(Debug, Serialize, ToSchema)]
pub struct Drift {
    pub model: String,
    /// The price list (`litellm`, `openrouter`).
    pub source: String,
    #[schema(value_type = Object)]
    pub source_prices: serde_json::Value,
    #[schema(value_type = Object)]
    pub pinned_prices: serde_json::Value,
    /// When the import that found it ran.
    pub seen_at: DateTime<Utc>,
}

/// Prices an administrator pinned that the last import of a source would have changed.
#[utoipa::path(get, path = "/admin/catalog/drift", tag = "admin", security(("admin" = [])),
    responses((status = 200, body = Vec<Drift>), (status = 401, description = "Missing or wrong admin token")))]
pub async fn drift(_: Admin, State(state): State<AppState>) -> Result<Json<Vec<Drift>>, ApiError> {
    let rows = state.store.list_drift().await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| Drift {
                model: r.model_id,
                source: r.source,
                source_prices: serde_json::from_str(&r.source_prices).unwrap_or_default(),
                pinned_prices: serde_json::from_str(&r.pinned_prices).unwrap_or_default(),
                seen_at: DateTime::from_timestamp_millis(r.seen_at).unwrap_or_default(),
            })
            .collect(),
    ))
}
