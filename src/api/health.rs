//! Probes (`/healthz`, `/livez`, `/readyz`), `GET /metrics` and `GET /openapi.json`.

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

/// Liveness: the process serves requests. Never touches the database, so a slow database does
/// not get a live process restarted.
#[utoipa::path(get, path = "/livez", tag = "system",
    responses((status = 200, description = "The process is up: {status: live}", body = Object)))]
pub async fn livez() -> Json<serde_json::Value> {
    Json(json!({"status": "live"}))
}

/// Readiness: the database answers, its schema is this build's, the metering writer runs and
/// the gateway is not shutting down. A load balancer sends calls only to a ready instance.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, description = "Ready: {status, checks}", body = Object),
        (status = 503, description = "Not ready: {status, checks} names what failed", body = Object)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let database = match state.store.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            "unreachable".to_string()
        }
    };
    let migrations = match state.store.migrations_pending().await {
        Ok(0) => "ok".to_string(),
        Ok(n) => format!("{n} pending"),
        Err(_) => "unknown".to_string(),
    };
    let writer = if state.meter.is_alive() {
        "ok"
    } else {
        "stopped"
    };
    let accepting = if state.stopping.is_cancelled() {
        "stopping"
    } else {
        "ok"
    };
    let ready = database == "ok" && migrations == "ok" && writer == "ok" && accepting == "ok";
    let body = json!({
        "status": if ready { "ready" } else { "unready" },
        "checks": {"database": database, "migrations": migrations, "metering_writer": writer, "shutdown": accepting},
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus metrics (OpenMetrics text): calls, latency, time to first token, tokens and cost
/// by model, provider and team, upstream errors, budget refusals, the metering writer's queue,
/// batches and commits, open streams. With `TOLLGATE_METRICS_TOKEN` set, a scrape must send it
/// as a bearer token.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Metrics in the OpenMetrics text format", content_type = "application/openmetrics-text"),
        (status = 401, description = "TOLLGATE_METRICS_TOKEN is set and the scrape did not send it")))]
pub async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(token) = state.config.metrics_token.as_deref() {
        let sent = crate::api::extract::secret_from_headers(&headers);
        let ok = sent
            .is_some_and(|s| subtle::ConstantTimeEq::ct_eq(s.as_bytes(), token.as_bytes()).into());
        if !ok {
            return crate::error::ApiError::unauthorized(
                "GET /metrics needs the metrics token as a bearer token",
            )
            .into_response();
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
