//! One error type for the whole HTTP API, rendered in the caller's dialect.
//!
//! Handlers return [`ApiError`]; its response carries the error as an extension so that the
//! [`crate::api::dialect`] middleware can re-render it in the Anthropic shape for Anthropic
//! callers. The default body is the OpenAI shape:
//! `{"error":{"message","type","param","code"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::store::StoreError;

/// A field that failed a check, named by its JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// What went wrong, which fixes the status code and the error `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    RateLimited,
    PaymentRequired,
    /// Any other 4xx: an upstream's, passed through, or one axum answered itself.
    UpstreamClient(u16),
    Internal,
    BadGateway,
    GatewayTimeout,
    /// The gateway is shutting down (503).
    Unavailable,
    /// The upstream is overloaded (its 529 or `overloaded_error`): 529 `overloaded_error` to
    /// Anthropic callers, 503 to OpenAI callers (OpenAI's own status for it).
    Overloaded,
}

/// The body of every error answer, in the caller's dialect: Anthropic's on the Messages paths
/// and whenever the request has `anthropic-version`, OpenAI's otherwise.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ErrorBody {
    OpenAi(OpenAiError),
    Anthropic(AnthropicError),
}

/// `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiError {
    pub error: OpenAiErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiErrorDetail {
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`,
    /// `rate_limit_error`, `insufficient_quota` or `api_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The offending field, as a JSON path.
    pub param: Option<String>,
    /// A stable machine-readable code (`invalid_json`, `model_not_found`, ...).
    pub code: &'static str,
}

/// `{"type": "error", "error": {"type", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnthropicError {
    /// Always `error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub error: AnthropicErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnthropicErrorDetail {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: String,
}

/// An error answer of the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// The offending field, as a JSON path (`price.input_per_mtok`).
    pub param: Option<String>,
    /// A stable machine-readable code (`invalid_json`, `model_not_found`, ...).
    pub code: &'static str,
    /// Headers the answer carries: an upstream's `retry-after` and rate-limit headers, passed on.
    pub headers: Vec<(axum::http::HeaderName, axum::http::HeaderValue)>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            param: None,
            code,
            headers: Vec::new(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, code, message)
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            param: Some(field.into()),
            ..Self::new(ErrorKind::BadRequest, "invalid_field", message)
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, "invalid_api_key", message)
    }

    pub fn internal() -> Self {
        Self::new(
            ErrorKind::Internal,
            "internal_error",
            "internal error; see the server log",
        )
    }

    /// The status for an Anthropic caller: as [`ApiError::status`], except 529 for an
    /// overloaded upstream (Anthropic's own status for it).
    pub fn anthropic_status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::Overloaded => StatusCode::from_u16(529).expect("529 is a valid status"),
            _ => self.status(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
            ErrorKind::UpstreamClient(code) => {
                StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
            }
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::BadGateway => StatusCode::BAD_GATEWAY,
            ErrorKind::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::Unavailable | ErrorKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The OpenAI error `type`.
    pub fn openai_type(&self) -> &'static str {
        match self.kind {
            ErrorKind::Unauthorized => "authentication_error",
            ErrorKind::Forbidden => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::PaymentRequired => "insufficient_quota",
            ErrorKind::Internal
            | ErrorKind::BadGateway
            | ErrorKind::GatewayTimeout
            | ErrorKind::Unavailable
            | ErrorKind::Overloaded => "api_error",
            ErrorKind::UpstreamClient(429) => "rate_limit_error",
            ErrorKind::UpstreamClient(401) => "authentication_error",
            ErrorKind::UpstreamClient(403) => "permission_error",
            ErrorKind::UpstreamClient(404) => "not_found_error",
            _ => "invalid_request_error",
        }
    }

    /// The Anthropic error `type`.
    pub fn anthropic_type(&self) -> &'static str {
        match self.kind {
            ErrorKind::Unauthorized => "authentication_error",
            ErrorKind::Forbidden => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::PayloadTooLarge => "request_too_large",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::PaymentRequired => "billing_error",
            ErrorKind::GatewayTimeout => "timeout_error",
            ErrorKind::Internal | ErrorKind::BadGateway => "api_error",
            ErrorKind::Unavailable | ErrorKind::Overloaded => "overloaded_error",
            ErrorKind::UpstreamClient(401) => "authentication_error",
            ErrorKind::UpstreamClient(402) => "billing_error",
            ErrorKind::UpstreamClient(403) => "permission_error",
            ErrorKind::UpstreamClient(404) => "not_found_error",
            ErrorKind::UpstreamClient(413) => "request_too_large",
            ErrorKind::UpstreamClient(429) => "rate_limit_error",
            _ => "invalid_request_error",
        }
    }

    pub fn openai_body(&self) -> serde_json::Value {
        json!(ErrorBody::OpenAi(OpenAiError {
            error: OpenAiErrorDetail {
                message: self.message.clone(),
                kind: self.openai_type(),
                param: self.param.clone(),
                code: self.code,
            },
        }))
    }

    pub fn anthropic_body(&self) -> serde_json::Value {
        json!(ErrorBody::Anthropic(AnthropicError {
            kind: "error",
            error: AnthropicErrorDetail {
                kind: self.anthropic_type(),
                message: self.message.clone(),
            },
        }))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.openai_body())).into_response();
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::invalid_field(e.field, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::not_found("not_found", m),
            StoreError::Conflict(m) => ApiError::new(ErrorKind::Conflict, "conflict", m),
            StoreError::Unprocessable { field, message } => ApiError {
                param: Some(field),
                ..ApiError::new(ErrorKind::Unprocessable, "unprocessable", message)
            },
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}
