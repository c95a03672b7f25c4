//! The HTTP API: a thin router over handlers grouped by resource.

mod admin_catalog;
mod admin_keys;
mod budgets;
mod catalog_import;
pub mod dashboard;
pub mod extract;
mod health;
pub mod models;
mod pages;
mod reports;
mod status;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::configuration::Settings;
use crate::error::{ApiError, ErrorBody, ErrorKind};
use crate::gateway::handlers as gateway;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Tollgate", description = "Self-hosted LLM gateway with a model catalog and exact cost accounting. Money is USD as decimal strings."),
    modifiers(&AdminSecurity),
    tags(
        (name = "catalog", description = "The public model catalog"),
        (name = "pages", description = "Markdown pages for people and agents"),
        (name = "gateway", description = "OpenAI- and Anthropic-compatible model calls (API key)"),
        (name = "reports", description = "Spend, audit trail, estimates and recommendations"),
        (name = "budgets", description = "Teams, budgets, prepaid credits, rate limits and alerts"),
        (name = "admin", description = "Administration (admin token)"),
        (name = "system", description = "Health and API description"),
    )
)]
struct ApiDoc;

struct AdminSecurity;

/// Paths an API key opens (as a bearer token or in `x-api-key`).
const KEY_PATHS: &[&str] = &[
    "/v1/chat/completions",
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/v1/responses",
    "/v1/generations/{id}",
    "/v1/key",
    "/v1/spend",
    "/v1/usage",
    "/api/v7/llm/chat/completions",
    "/api/v7/llm/v1/messages",
    "/api/v7/llm/v1/messages/count_tokens",
];

impl Modify for AdminSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The admin token (TOLLGATE_ADMIN_TOKEN)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key as a bearer token (OpenAI SDKs)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "x_api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "An API key in x-api-key (Anthropic SDKs)",
            ))),
        );
    }
}

/// Marks the operations an API key opens with both key schemes (run once the paths exist).
struct KeySecurity;

impl Modify for KeySecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::SecurityRequirement;
        for path in KEY_PATHS {
            let Some(item) = openapi.paths.paths.get_mut(*path) else {
                continue;
            };
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                op.security = Some(vec![
                    SecurityRequirement::new("api_key", Vec::<String>::new()),
                    SecurityRequirement::new("x_api_key", Vec::<String>::new()),
                ]);
                op.responses
                    .responses
                    .entry("401".to_string())
                    .or_insert_with(|| {
                        utoipa::openapi::ResponseBuilder::new()
                            .description("Missing, unknown, revoked, disabled or expired API key")
                            .into()
                    });
            }
        }
    }
}

/// Documents on every operation the answers its shared extractors give, so that no operation
/// can leave them out: the admin token ([`extract::Admin`], 401), a JSON body
/// ([`extract::ApiJson`] and the gateway's reader: 400 malformed or invalid field, 413 too
/// large, 415 not JSON) and query parameters ([`extract::ApiQuery`]: 400 unknown or malformed).
/// An answer an operation documents itself keeps its own description. Every 4xx and 5xx without
/// a body of its own gets [`ErrorBody`], which every [`ApiError`] is rendered as.
struct ExtractorAnswers;

impl Modify for ExtractorAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let admin = operation.security.iter().flatten().any(|requirement| {
                    serde_json::to_value(requirement).is_ok_and(|v| v.get("admin").is_some())
                });
                let query =
                    operation.parameters.iter().flatten().any(|p| {
                        matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)
                    });
                let body = operation.request_body.is_some();
                let mut answers = Vec::new();
                if admin {
                    answers.push(("401", "Missing or wrong admin token"));
                }
                if body {
                    answers.push((
                        "400",
                        "Malformed JSON or an invalid field (`param` names it)",
                    ));
                    answers.push(("413", "Body larger than the configured limit"));
                    answers.push(("415", "Content-Type is not JSON"));
                } else if query {
                    answers.push(("400", "Unknown or malformed query parameter"));
                }
                for (status, description) in answers {
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| {
                            utoipa::openapi::ResponseBuilder::new()
                                .description(description)
                                .into()
                        });
                }
                for (status, response) in operation.responses.responses.iter_mut() {
                    let error = status.starts_with('4') || status.starts_with('5');
                    if let (true, RefOr::T(response)) = (error, response) {
                        if response.content.is_empty() {
                            let schema = Ref::from_schema_name(ErrorBody::name());
                            response.content.insert(
                                "application/json".to_string(),
                                ContentBuilder::new().schema(Some(schema)).build(),
                            );
                        }
                    }
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut schemas = vec![(ErrorBody::name().into_owned(), ErrorBody::schema())];
        ErrorBody::schemas(&mut schemas);
        components.schemas.extend(schemas);
    }
}

/// Every route with its OpenAPI description; the two cannot drift apart.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(models::list_models))
        .routes(routes!(models::list_models_modelslab))
        .routes(routes!(models::get_model))
        .routes(routes!(models::get_model_modelslab))
        .routes(routes!(pages::model_page))
        .routes(routes!(pages::llms_txt))
        .routes(routes!(
            admin_catalog::list_providers,
            admin_catalog::create_provider
        ))
        .routes(routes!(admin_catalog::update_provider))
        .routes(routes!(admin_catalog::create_model))
        .routes(routes!(
            admin_catalog::update_model,
            admin_catalog::deprecate_model
        ))
        .routes(routes!(admin_catalog::add_price))
        .routes(routes!(catalog_import::import_catalog))
        .routes(routes!(catalog_import::drift))
        .routes(routes!(health::livez))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(admin_catalog::set_related))
        .routes(routes!(
            admin_catalog::get_aliases,
            admin_catalog::set_aliases
        ))
        .routes(routes!(
            admin_catalog::list_aliases,
            admin_catalog::create_alias
        ))
        .routes(routes!(admin_catalog::delete_alias))
        .routes(routes!(admin_keys::create_key, admin_keys::list_keys))
        .routes(routes!(
            admin_keys::get_key,
            admin_keys::update_key,
            admin_keys::revoke_key
        ))
        .routes(routes!(gateway::chat_completions))
        .routes(routes!(gateway::chat_completions_modelslab))
        .routes(routes!(gateway::messages))
        .routes(routes!(gateway::responses))
        .routes(routes!(gateway::messages_modelslab))
        .routes(routes!(gateway::count_tokens))
        .routes(routes!(gateway::count_tokens_modelslab))
        .routes(routes!(gateway::generation))
        .routes(routes!(reports::admin_spend))
        .routes(routes!(reports::own_spend))
        .routes(routes!(reports::admin_usage))
        .routes(routes!(reports::own_usage))
        .routes(routes!(reports::adjust))
        .routes(routes!(reports::estimate))
        .routes(routes!(reports::related))
        .routes(routes!(reports::recommendations))
        .routes(routes!(budgets::create_team, budgets::list_teams))
        .routes(routes!(
            budgets::get_team,
            budgets::update_team,
            budgets::delete_team
        ))
        .routes(routes!(budgets::key_credits, budgets::key_ledger))
        .routes(routes!(budgets::team_credits, budgets::team_ledger))
        .routes(routes!(budgets::own_ledger))
        .routes(routes!(budgets::own_key))
        .routes(routes!(budgets::alerts))
        .routes(routes!(health::healthz))
        .routes(routes!(health::openapi_json))
}

/// The router and the OpenAPI document of every route.
fn split() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut spec) = routes().split_for_parts();
    // After the routes are in: `ApiDoc`'s own modifiers run before any path exists.
    KeySecurity.modify(&mut spec);
    ExtractorAnswers.modify(&mut spec);
    (router, spec)
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    split().1
}

/// Builds the application router.
///
/// The layers wrap the router as one service, once per request: `Router::layer` would wrap
/// every route's own service, cloned and polled per request (bench/callgrind.py measured the
/// difference, docs/benchmarks.md).
pub fn router(state: AppState, settings: &Settings) -> Router {
    let (router, spec) = split();
    let spec = Arc::new(spec.to_pretty_json().expect("OpenAPI document serializes"));
    let app = router
        .merge(dashboard::routes())
        .fallback(not_found)
        .with_state(state);
    let app = ServiceBuilder::new()
        .layer(Extension(health::OpenApiJson(spec)))
        .layer(Extension(gateway::Limits::new(settings)))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(RequestBodyTimeoutLayer::new(Duration::from_millis(
            settings.body_read_timeout_ms,
        )))
        .service(app);
    // Before routing: model ids written with a bare `/` on the catalog's read routes are
    // taken as if the `/` were `%2F`.
    protect(
        ServiceBuilder::new()
            .map_request(spell_out_model_path)
            .service(app),
    )
}

/// The read routes whose last segment is a model id (`/models/` is the Markdown page,
/// `{id}.md`).
const MODEL_PATHS: &[&str] = &["/v1/models/", "/api/v7/llm/v1/models/", "/models/"];

/// `GET /v1/models/gemini/gemini-2.5-pro` is `GET /v1/models/gemini%2Fgemini-2.5-pro`: on the
/// model read routes ([`MODEL_PATHS`]) every bare `/` after the prefix is taken as part of
/// the id, except a final `/related` on `/v1/models/`, which stays the related-models route
/// (an id that itself ends in `/related` is reached with its last `/` as `%2F`). Other routes
/// (`/admin/models/{id}`, ...) take `%2F` only. The rewritten path stays under its prefix: it
/// can only reach the route it was aimed at.
fn spell_out_model_path(mut req: Request) -> Request {
    if let Some(path) = spelled_out(req.uri().path()) {
        let target = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = target.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// The path with the model id's bare `/`s as `%2F`, or `None` when it needs no change.
fn spelled_out(path: &str) -> Option<String> {
    let prefix = MODEL_PATHS.iter().find(|p| path.starts_with(**p))?;
    let rest = &path[prefix.len()..];
    let (id, suffix) = match rest.strip_suffix("/related") {
        Some(id) if *prefix == "/v1/models/" && !id.is_empty() => (id, "/related"),
        _ => (rest, ""),
    };
    if !id.contains('/') {
        return None;
    }
    Some(format!("{prefix}{}{suffix}", id.replace('/', "%2F")))
}

/// The outer layers: a panic becomes a 500 in the caller's dialect (never a dropped
/// connection), every error is rendered in that dialect, every request is traced.
fn protect<S>(app: S) -> Router
where
    S: tower::Service<Request, Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    let app = ServiceBuilder::new()
        .layer(middleware::from_fn(assign_call_id))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(middleware::from_fn(dialect))
        .layer(CatchPanicLayer::custom(panic_response))
        .service(tower::ServiceExt::map_response(
            app,
            IntoResponse::into_response,
        ));
    Router::new().fallback_service(app)
}

/// The id of one request: a gateway call's id (its usage record's, `x-request-id`), given to
/// every request before it is traced, so every log line of it carries the id.
#[derive(Debug, Clone)]
pub struct CallId(pub String);

/// Gives the request its id and the answer its `x-request-id`.
async fn assign_call_id(mut req: Request, next: Next) -> Response {
    let id = crate::gateway::new_call_id();
    req.extensions_mut().insert(CallId(id.clone()));
    let mut response = next.run(req).await;
    if !response.headers().contains_key("x-request-id") {
        if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
            response.headers_mut().insert("x-request-id", v);
        }
    }
    response
}

/// The span of one request: its id, method and path; with OpenTelemetry export on, a child of
/// the caller's trace when the request carries a W3C `traceparent`.
fn request_span(req: &Request) -> tracing::Span {
    let id = req
        .extensions()
        .get::<CallId>()
        .map_or("", |c| c.0.as_str());
    let span =
        tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path());
    crate::otel::adopt_remote_parent(&span, req.headers());
    span
}

/// The answer to a request whose handler panicked: a logged 500 `internal_error`, re-rendered
/// by [`dialect`] in the caller's shape.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a request handler panicked");
    ApiError::internal().into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such endpoint")
}

fn is_gateway_path(path: &str) -> bool {
    matches!(
        path,
        "/v1/chat/completions" | "/v1/messages" | "/v1/messages/count_tokens"
    ) || path.starts_with("/api/v7/llm/chat/completions")
        || path.starts_with("/api/v7/llm/v1/messages")
}

/// Which error shape a caller expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
}

impl Dialect {
    pub fn of(req: &Request) -> Self {
        let path = req.uri().path();
        let anthropic_path =
            path.starts_with("/v1/messages") || path.starts_with("/api/v7/llm/v1/messages");
        if anthropic_path || req.headers().contains_key("anthropic-version") {
            Dialect::Anthropic
        } else {
            Dialect::OpenAi
        }
    }
}

/// Renders every error in the caller's dialect, including the ones axum produces itself, and
/// gives every gateway answer an `x-request-id` (the gateway's handlers set the call's own id;
/// answers refused before a handler ran, such as malformed JSON, get a fresh one).
async fn dialect(req: Request, next: Next) -> Response {
    let dialect = Dialect::of(&req);
    let gateway = is_gateway_path(req.uri().path());
    let mut response = next.run(req).await;
    if gateway && !response.headers().contains_key("x-request-id") {
        if let Ok(v) = axum::http::HeaderValue::from_str(&crate::gateway::new_call_id()) {
            response.headers_mut().insert("x-request-id", v);
        }
    }
    let error = match response.extensions().get::<ApiError>().cloned() {
        Some(_) if dialect == Dialect::OpenAi => return response,
        Some(e) => e,
        None if response.status() == StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            ErrorKind::MethodNotAllowed,
            "method_not_allowed",
            "method not allowed on this endpoint",
        ),
        None if is_bare_error(&response) => {
            let status = response.status();
            let (parts, body) = response.into_parts();
            let text = axum::body::to_bytes(body, 4096)
                .await
                .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                .unwrap_or_default();
            response = Response::from_parts(parts, axum::body::Body::empty());
            rejection(status, text)
        }
        None => return response,
    };
    let (mut parts, _) = response.into_parts();
    let body = match dialect {
        Dialect::OpenAi => error.openai_body(),
        Dialect::Anthropic => error.anthropic_body(),
    };
    let status = match dialect {
        Dialect::OpenAi => error.status(),
        Dialect::Anthropic => error.anthropic_status(),
    };
    let mut fresh = (status, Json(body)).into_response();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    for (k, v) in fresh
        .headers_mut()
        .drain()
        .filter_map(|(k, v)| k.map(|k| (k, v)))
    {
        parts.headers.insert(k, v);
    }
    parts.status = status;
    Response::from_parts(parts, fresh.into_body())
}

/// An error answer that is not an [`ApiError`] and not JSON: one of axum's own rejections,
/// such as a path segment that is not UTF-8 (plain text).
fn is_bare_error(response: &Response) -> bool {
    let status = response.status();
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    (status.is_client_error() || status.is_server_error()) && !json
}

/// The [`ApiError`] for a bare error answer, keeping its status and its text.
fn rejection(status: StatusCode, text: String) -> ApiError {
    let kind = match status.as_u16() {
        400 => ErrorKind::BadRequest,
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        413 => ErrorKind::PayloadTooLarge,
        415 => ErrorKind::UnsupportedMediaType,
        422 => ErrorKind::Unprocessable,
        429 => ErrorKind::RateLimited,
        code @ 400..=499 => ErrorKind::UpstreamClient(code),
        502 => ErrorKind::BadGateway,
        503 => ErrorKind::Unavailable,
        504 => ErrorKind::GatewayTimeout,
        _ => ErrorKind::Internal,
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    let code = if status.is_client_error() {
        "invalid_request"
    } else {
        "internal_error"
    };
    ApiError::new(kind, code, message)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::post;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn panicking(path: &str, anthropic_header: bool) -> (StatusCode, serde_json::Value) {
        async fn boom() -> &'static str {
            panic!("boom")
        }
        let app = protect(
            Router::new()
                .route("/v1/chat/completions", post(boom))
                .route("/v1/messages", post(boom)),
        );
        let mut req = Request::post(path);
        if anthropic_header {
            req = req.header("anthropic-version", "2023-06-01");
        }
        let response = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_panic_is_a_500_in_the_callers_dialect() {
        let (status, body) = panicking("/v1/chat/completions", false).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["type"], "api_error", "{body}");
        assert_eq!(body["error"]["code"], "internal_error");
        let (status, body) = panicking("/v1/messages", false).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["type"], "error", "{body}");
        assert_eq!(body["error"]["type"], "api_error");
        let (_, body) = panicking("/v1/chat/completions", true).await;
        assert_eq!(
            body["type"], "error",
            "anthropic-version asks for Anthropic: {body}"
        );
    }

    #[tokio::test]
    async fn axums_own_rejections_are_answered_in_the_callers_dialect() {
        async fn one(axum::extract::Path(id): axum::extract::Path<String>) -> String {
            id
        }
        let app = protect(
            Router::new()
                .route("/v1/models/{id}", axum::routing::get(one))
                .route("/v1/messages/{id}", axum::routing::get(one)),
        );
        for (path, anthropic) in [("/v1/models/%FF", false), ("/v1/messages/%FF", true)] {
            let req = Request::get(path).body(Body::empty()).unwrap();
            let response = app.clone().oneshot(req).await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            assert_eq!(
                response.headers()[axum::http::header::CONTENT_TYPE],
                "application/json"
            );
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            if anthropic {
                assert_eq!(body["type"], "error", "{body}");
                assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
            } else {
                assert_eq!(body["error"]["code"], "invalid_request", "{body}");
                assert!(!body["error"]["message"].as_str().unwrap().is_empty());
            }
        }
    }

    #[test]
    fn bare_slashes_in_model_ids_are_spelled_out_on_the_model_read_routes() {
        for (path, expected) in [
            (
                "/v1/models/gemini/gemini-2.5-pro",
                Some("/v1/models/gemini%2Fgemini-2.5-pro"),
            ),
            ("/v1/models/a/b:c@d+e", Some("/v1/models/a%2Fb:c@d+e")),
            (
                "/v1/models/a/b/c/related",
                Some("/v1/models/a%2Fb%2Fc/related"),
            ),
            ("/v1/models/a/related", None),
            ("/v1/models/a%2Frelated", None),
            (
                "/v1/models/a/b%2Frelated",
                Some("/v1/models/a%2Fb%2Frelated"),
            ),
            ("/v1/models/related", None),
            ("/v1/models/plain", None),
            ("/v1/models", None),
            ("/v1/models/", None),
            ("/v1/models/a/", Some("/v1/models/a%2F")),
            (
                "/v1/models/../../admin/models",
                Some("/v1/models/..%2F..%2Fadmin%2Fmodels"),
            ),
            (
                "/api/v7/llm/v1/models/x/y",
                Some("/api/v7/llm/v1/models/x%2Fy"),
            ),
            (
                "/api/v7/llm/v1/models/x/related",
                Some("/api/v7/llm/v1/models/x%2Frelated"),
            ),
            ("/models/x/y.md", Some("/models/x%2Fy.md")),
            ("/admin/models/x/y", None),
            ("/admin/models/x/prices", None),
            ("/v1/chat/completions", None),
        ] {
            assert_eq!(spelled_out(path).as_deref(), expected, "{path}");
        }
        let req = Request::get("/v1/models/a/b/related?input_tokens=5")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            spell_out_model_path(req).uri(),
            "/v1/models/a%2Fb/related?input_tokens=5"
        );
    }

    #[test]
    fn the_panic_handler_answers_whatever_the_payload() {
        for payload in [
            Box::new("static") as Box<dyn std::any::Any + Send>,
            Box::new(String::from("owned")),
            Box::new(42_u8),
        ] {
            let response = panic_response(payload);
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert!(response.extensions().get::<ApiError>().is_some());
        }
    }
}
