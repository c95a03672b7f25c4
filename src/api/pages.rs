//! Markdown pages: `GET /models/{id}.md` and `GET /llms.txt`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::models::model_not_found;
use crate::catalog::markdown::{self, Site};
use crate::error::ApiError;
use crate::money::from_picos;
use crate::state::AppState;

const MARKDOWN: &str = "text/markdown; charset=utf-8";

/// What the pages show besides the catalog: the public base URL and the free tier.
fn site(state: &AppState) -> Site<'_> {
    let credit = state.budgets.free_tier_picos;
    Site {
        base: &state.config.public_url,
        free_tier_usd: (credit > 0).then(|| from_picos(credit)),
    }
}

/// A model's page as Markdown. The path segment is the model id followed by `.md` (`/` in an
/// id written `%2F`).
#[utoipa::path(
    get, path = "/models/{file}", tag = "pages",
    params(("file" = String, Path, description = "`<model id>.md`, e.g. `mistralai-pixtral-large-2411.md` or `gemini%2Fgemini-2.5-pro.md`")),
    responses((status = 200, description = "The model page", content_type = "text/markdown"), (status = 404, description = "No such model"))
)]
pub async fn model_page(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let id = file.strip_suffix(".md").ok_or_else(|| {
        ApiError::not_found("not_found", "model pages are at /models/<model id>.md")
    })?;
    let snapshot = state.catalog.snapshot();
    let entry = snapshot.get(id).ok_or_else(|| model_not_found(id))?;
    let page = markdown::model_page(&snapshot, entry, Utc::now(), &site(&state));
    Ok(([(header::CONTENT_TYPE, MARKDOWN)], page).into_response())
}

/// The catalog index in the llms.txt format.
#[utoipa::path(
    get, path = "/llms.txt", tag = "pages",
    responses((status = 200, description = "The llms.txt index", content_type = "text/plain"))
)]
pub async fn llms_txt(State(state): State<AppState>) -> Response {
    let snapshot = state.catalog.snapshot();
    let text = markdown::llms_txt(&snapshot, Utc::now(), &site(&state));
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}
