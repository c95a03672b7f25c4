//! `GET /healthz` and `GET /openapi.json`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use crate::state::AppState;

/// The rendered OpenAPI document, built once at start.
#[derive(Clone)]
pub struct OpenApiJson(pub Arc<String>);

/// Liveness and readiness: the database answers and the catalog is loaded.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, description = "Healthy: {status, database, models}", body = Object),
        (status = 503, description = "The database does not answer: {status, database}", body = Object)))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    let models = state.catalog.snapshot().entries.len();
    match state.store.ping().await {
        Ok(()) => Json(json!({"status": "ok", "database": "ok", "models": models})).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": "error"})),
            )
                .into_response()
        }
    }
}

/// This API's OpenAPI 3.1 description, generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json(Extension(spec): Extension<OpenApiJson>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        spec.0.as_str().to_owned(),
    )
        .into_response()
}
