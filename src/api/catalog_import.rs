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
use crate::catalog::import::{self, Format, Plan};
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
    let source =
        tokio::task::spawn_blocking(move || import::parse(format, &text, &BTreeMap::new()))
            .await
            .map_err(|_| ApiError::internal())?
            .map_err(|e| ApiError::bad_request("invalid_price_list", e.0))?;
    let effective_from = params.effective_from.unwrap_or_else(|| state.clock.now());
    let plan = import::plan(format, source, &state.catalog.snapshot(), effective_from);
    let applied = !params.dry_run && !plan.is_empty();
    if applied {
        state
            .store
            .apply_import(&plan.work, format.as_str(), effective_from)
            .await?;
        state.catalog.reload(&state.store).await?;
    }
    Ok(Json(ImportResult { applied, plan }))
}
