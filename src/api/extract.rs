//! Extractors whose rejections are [`ApiError`]s, so bad input always gets a JSON answer that
//! names the offending field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// A JSON body. A `Content-Type` other than JSON is a 415; malformed JSON is a 400
/// `invalid_json`; a wrong or missing field is a 400 `invalid_field` whose `param` is the
/// field's path; a body over the limit is a 413.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        parse_json(&json_bytes(req).await?).map(ApiJson)
    }
}

/// The bytes of a JSON body, unparsed: a `Content-Type` other than JSON is a 415, a body over
/// the limit a 413.
pub async fn json_bytes(req: Request) -> Result<Bytes, ApiError> {
    json_content_type(req.headers())?;
    Bytes::from_request(req, &()).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorKind::PayloadTooLarge,
                "payload_too_large",
                "request body is larger than the configured limit",
            )
        } else {
            ApiError::bad_request("invalid_body", e.body_text())
        }
    })
}

/// Refuses a body declared as anything but JSON (`application/json`, or any `+json` type) with a
/// 415. A request with no `Content-Type` is read as JSON: several SDKs and `curl --data-raw`
/// scripts omit it, and a body that is not JSON still gets a 400 `invalid_json`.
pub fn json_content_type(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let is_json = essence.as_deref().is_some_and(|mime| {
        mime.split_once('/').is_some_and(|(kind, sub)| {
            kind == "application" && (sub == "json" || sub.ends_with("+json"))
        })
    });
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::UnsupportedMediaType,
            "unsupported_media_type",
            format!(
                "unsupported Content-Type '{}': send the body as JSON with Content-Type: application/json (curl: --json)",
                String::from_utf8_lossy(value.as_bytes())
            ),
        ))
    }
}

/// Parses a JSON document, naming the failing field on error.
///
/// A document that parses is read once, without tracking where the parser is (which costs on
/// every member of every gateway request); only one that fails is read again with the path
/// tracked, to name the field. Parsing is deterministic, so the second reading fails the same way.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "request body is empty; expected JSON",
        ));
    }
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    de.end()
        .map_err(|e| ApiError::bad_request("invalid_json", format!("malformed JSON: {e}")))?;
    Ok(value)
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::bad_request("invalid_json", format!("malformed JSON: {inner}"));
    }
    let message = inner.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    let field = match missing_field(&message).or_else(|| duplicate_key(&message)) {
        Some(name) if path == "." => name.to_string(),
        Some(name) => format!("{path}.{name}"),
        None => path,
    };
    ApiError::invalid_field(field.clone(), format!("invalid field '{field}': {message}"))
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// The key a strict gateway body names twice (see `crate::gateway::body`).
fn duplicate_key(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("duplicate key `")?;
    rest.split('`').next()
}

/// Query parameters, with unknown or malformed ones refused as 400.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                ApiError {
                    param: Some(path),
                    ..ApiError::bad_request("invalid_query", format!("invalid query: {message}"))
                }
            })
    }
}

/// Proof that the request carries the admin token (`Authorization: Bearer <token>`).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized("missing admin token: send Authorization: Bearer <admin token>")
        })?;
        let expected = state.config.admin_token.as_bytes();
        if bool::from(token.as_bytes().ct_eq(expected)) {
            Ok(Admin)
        } else {
            Err(ApiError::unauthorized("invalid admin token"))
        }
    }
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A caller's key from `Authorization: Bearer` or `x-api-key`.
pub fn secret_from_headers(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, t)| scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty())
        .map(|(_, t)| t.trim().to_string())
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
}

/// The authenticated caller of a `/v1` endpoint (Bearer or `x-api-key`).
pub struct Caller(pub crate::keys::ApiKey);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let secret = secret_from_headers(&parts.headers);
        state
            .keys
            .authenticate(secret.as_deref(), chrono::Utc::now())
            .map(Caller)
    }
}
