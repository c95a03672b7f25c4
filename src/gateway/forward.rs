//! Forwarding: the upstream request, its failures, and a non-streaming answer read, metered and
//! translated for the caller (streams go to [`super::relay`]).

use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::time::Instant as TokioInstant;

use super::body::Members;
use super::settle::{commit, fail, record_for};
use super::stream::cost_number;
use super::upstream::{self, error_message};
use super::usage::Reported;
use super::{hub, relay, settle, usage, Format};
use crate::catalog::ProviderKind;
use crate::error::{ApiError, ErrorKind};
use crate::metering::{CallStatus, UsageSource};
use crate::money::format_usd;
use crate::pricing::Usage;
use crate::state::AppState;

use super::call::Call;

/// Top-level fields the gateway may change in a body it forwards in the caller's own protocol:
/// the model (renamed), ModelsLab's `key` and `model_id` (removed), the output caps (set by a
/// budget reservation) and `stream_options` (usage always requested of OpenAI streams).
const EDITED: [&str; 7] = [
    "model",
    "key",
    "model_id",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "stream_options",
];

/// The body to send upstream: translated when the formats differ, the model renamed, and for
/// OpenAI streams usage always requested.
/// The second value names the tool that carries a structured answer (see
/// [`crate::protocol::anthropic`]).
pub(super) fn upstream_body(call: &Call) -> Result<(Vec<u8>, Option<String>), ApiError> {
    let upstream_model = Value::from(call.model.upstream_model.as_str());
    let usage = serde_json::json!({"include_usage": true});
    let wants_usage = call.stream && call.provider.kind == ProviderKind::Openai;
    let edit = |field: &str| match field {
        "model" => Some(&upstream_model),
        "stream_options" if wants_usage => Some(&usage),
        _ => call.body.get(field),
    };
    if !native(call) {
        let (mut body, tool) = hub::upstream_request(call)?;
        if wants_usage {
            body["stream_options"] = usage;
        }
        let bytes = serde_json::to_vec(&body).expect("JSON values serialize");
        return Ok((bytes, tool));
    }
    // The caller's bytes, with the gateway's edits spliced in: no re-serialization of the
    // whole body (bench/callgrind.py), and numbers and key order kept as sent. `call.body`
    // already holds the other edits; the raw body is always an object once admitted, the
    // fallback is for completeness.
    let edits = EDITED.map(|f| (f, edit(f)));
    let bytes = super::body::splice(&call.raw, &edits).unwrap_or_else(|| {
        let mut b = call.body.clone();
        b["model"] = upstream_model.clone();
        if wants_usage {
            b["stream_options"] = usage.clone();
        }
        serde_json::to_vec(&b).expect("JSON values serialize")
    });
    Ok((bytes, None))
}

/// The caller's error for a failed upstream exchange. The transport error itself (which names
/// the provider's internal URL) goes to the log, not to the caller.
pub(super) fn upstream_failure(call: &Call, e: &reqwest::Error) -> (CallStatus, ApiError) {
    if e.is_timeout() {
        return timeout_error();
    }
    tracing::warn!(call = %call.id, provider = %call.provider.id, error = %e, "upstream exchange failed");
    let what = if e.is_connect() {
        "could not connect to the upstream provider"
    } else {
        "the exchange with the upstream provider failed"
    };
    (
        CallStatus::UpstreamError,
        ApiError::new(
            ErrorKind::BadGateway,
            "upstream_unreachable",
            format!("{what} (provider '{}')", call.provider.id),
        ),
    )
}

/// A call still in flight when the shutdown grace period ends.
pub(super) fn interrupted_error() -> (CallStatus, ApiError) {
    (
        CallStatus::Interrupted,
        ApiError::new(
            ErrorKind::Unavailable,
            "gateway_stopping",
            "the gateway is shutting down and ended this call before the upstream finished",
        ),
    )
}

pub(super) fn timeout_error() -> (CallStatus, ApiError) {
    (
        CallStatus::Timeout,
        ApiError::new(
            ErrorKind::GatewayTimeout,
            "upstream_timeout",
            "the upstream provider did not answer in time",
        ),
    )
}

/// Sends the call upstream and answers the caller.
pub(super) async fn forward(
    state: &AppState,
    mut call: Call,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    // A request the target cannot carry is refused here, after admission: its record (and
    // the release of its reservation) is written like any other failure's.
    let body = match upstream_body(&call) {
        Ok((b, answer_tool)) => {
            call.answer_tool = answer_tool;
            b
        }
        Err(e) => return Err(fail(state, &call, CallStatus::Rejected, None, e).await),
    };
    let secret = match upstream::secret(&call.provider) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(call = %call.id, error = %e, "refusing a call to a provider without its key");
            let err = ApiError::new(
                ErrorKind::BadGateway,
                "provider_not_configured",
                format!(
                    "provider '{}' has no API key configured on this gateway; ask its administrator",
                    call.provider.id
                ),
            );
            return Err(fail(state, &call, CallStatus::UpstreamError, None, err).await);
        }
    };
    state.meter.started(call.start());
    let timeouts = state.upstream.timeouts(&call.provider);
    let deadline = TokioInstant::now() + timeouts.total;
    let first_byte = if call.stream {
        timeouts.first_byte.min(timeouts.total)
    } else {
        timeouts.total
    };
    let request = state
        .upstream
        .request(&call.provider, secret.clone(), body, headers);
    let sent = tokio::select! {
        sent = tokio::time::timeout(first_byte, request.send()) => sent,
        () = state.stopping.cancelled() => {
            let (status, err) = interrupted_error();
            return Err(fail(state, &call, status, None, err).await);
        }
    };
    let response = match sent {
        Err(_) => {
            let (status, err) = timeout_error();
            return Err(fail(state, &call, status, None, err).await);
        }
        Ok(Err(e)) => {
            let (status, err) = upstream_failure(&call, &e);
            return Err(fail(state, &call, status, None, err).await);
        }
        Ok(Ok(r)) => r,
    };
    let upstream_status = response.status();
    if !upstream_status.is_success() {
        let err = upstream_error(response, deadline, secret.as_deref()).await;
        return Err(fail(
            state,
            &call,
            CallStatus::UpstreamError,
            Some(upstream_status.as_u16()),
            err,
        )
        .await);
    }
    if call.stream {
        Ok(relay::start(state, call, response, deadline, secret).await)
    } else {
        complete(state, call, response, deadline).await
    }
}

/// The caller's error for an upstream's error answer: its message, with credentials removed.
/// A redirect is not followed (it would carry the provider's key elsewhere).
pub(super) async fn upstream_error(
    response: reqwest::Response,
    deadline: TokioInstant,
    secret: Option<&str>,
) -> ApiError {
    let status = response.status();
    let passed_on = upstream::passed_on_headers(response.headers());
    let (message, overloaded) = if status.is_redirection() {
        (
            "a redirect, which the gateway does not follow".to_string(),
            false,
        )
    } else {
        let bytes = tokio::time::timeout_at(
            deadline,
            upstream::read_capped(response, upstream::MAX_ERROR_BODY),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
        let overloaded = upstream::is_overloaded(&bytes);
        (upstream::redact(&error_message(&bytes), secret), overloaded)
    };
    let message = format!("upstream provider answered {}: {message}", status.as_u16());
    let kind = if overloaded || status.as_u16() == 529 {
        ErrorKind::Overloaded
    } else if status.is_server_error() || status.is_redirection() {
        ErrorKind::BadGateway
    } else {
        ErrorKind::UpstreamClient(status.as_u16())
    };
    ApiError {
        headers: passed_on,
        ..ApiError::new(kind, "upstream_error", message)
    }
}

/// A non-streaming answer: read (up to the size limit), meter, translate, commit, respond.
pub(super) async fn complete(
    state: &AppState,
    call: Call,
    response: reqwest::Response,
    deadline: TokioInstant,
) -> Result<Response, ApiError> {
    let read = upstream::read_capped(response, upstream::MAX_ANSWER_BODY);
    let read = tokio::select! {
        read = tokio::time::timeout_at(deadline, read) => read,
        () = state.stopping.cancelled() => {
            let (status, err) = interrupted_error();
            return Err(fail(state, &call, status, Some(200), err).await);
        }
    };
    let bytes = match read {
        Err(_) => {
            let (status, err) = timeout_error();
            return Err(fail(state, &call, status, Some(200), err).await);
        }
        Ok(Err(upstream::ReadError::TooLarge(limit))) => {
            let err = ApiError::new(
                ErrorKind::BadGateway,
                "upstream_too_large",
                format!("the upstream provider's answer is larger than the gateway's limit of {limit} bytes"),
            );
            return Err(fail(state, &call, CallStatus::UpstreamError, Some(200), err).await);
        }
        Ok(Err(upstream::ReadError::Transport(e))) => {
            let (status, err) = upstream_failure(&call, &e);
            return Err(fail(state, &call, status, Some(200), err).await);
        }
        Ok(Ok(b)) => b,
    };
    let Some(mut answer) = Answer::parse(&call, &bytes) else {
        let err = ApiError::new(
            ErrorKind::BadGateway,
            "upstream_invalid",
            "the upstream provider answered with invalid JSON, or not with one JSON object",
        );
        return Err(fail(state, &call, CallStatus::UpstreamError, Some(200), err).await);
    };
    let measured = settle::measure(&call, answer.reported(&call), || answer.output_text());
    let trusted = measured.source == UsageSource::Upstream;
    let record = record_for(&call, CallStatus::Ok, 200, Some(200), Some(measured));
    let cost = record.cost;
    let body = answer.client_body(&call, &record.usage, cost, trusted);
    commit(state, &call, record).await?;
    let mut response = (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format_usd(cost)) {
        response.headers_mut().insert("x-tollgate-cost", v);
    }
    Ok(response)
}

/// An upstream's non-streaming answer, read for metering and the caller's answer.
enum Answer<'a> {
    /// The caller's own protocol: the answer's members kept raw, so the caller gets the
    /// upstream's bytes with only `model` and `usage` spliced (no `Value` of the whole answer).
    Native {
        members: Members<'a>,
        /// `usage`, parsed strictly: a duplicate key inside it is a report the gateway cannot
        /// read one way only, so it is rejected and the tokens counted locally.
        usage: Result<Option<Value>, String>,
    },
    /// Another protocol: parsed whole and translated through the hub.
    Translated(Value),
}

impl<'a> Answer<'a> {
    /// `None` when the answer is not JSON, not one object, or (native) names a key twice.
    fn parse(call: &Call, bytes: &'a [u8]) -> Option<Self> {
        if !native(call) {
            return serde_json::from_slice::<Value>(bytes)
                .ok()
                .filter(Value::is_object)
                .map(Answer::Translated);
        }
        let members = Members::parse(bytes).ok()?;
        let usage = members.value("usage").map_err(|e| e.to_string());
        Some(Answer::Native { members, usage })
    }

    /// The usage the upstream reported (with the served tier, for OpenAI).
    fn reported(&self, call: &Call) -> Reported {
        let tier;
        let usage = match self {
            Answer::Native { members, usage } => match usage {
                Err(reason) => {
                    return Reported::Invalid {
                        reason: format!("usage is not one JSON reading: {reason}"),
                        raw: members
                            .get("usage")
                            .map_or("", |r| r.get())
                            .chars()
                            .take(1000)
                            .collect(),
                    }
                }
                Ok(u) => {
                    tier = members.value("service_tier").ok().flatten();
                    u.as_ref()
                }
            },
            Answer::Translated(v) => {
                tier = v.get("service_tier").cloned();
                v.get("usage")
            }
        };
        match (call.provider.kind, usage) {
            (_, None) => Reported::Absent,
            (ProviderKind::Openai, Some(u)) => {
                usage::with_openai_tier(usage::from_openai(u), tier.as_ref())
            }
            (ProviderKind::Anthropic, Some(u)) => usage::from_anthropic(u),
        }
    }

    /// The answer's text, for a local count (read only when the upstream reported no usable
    /// usage).
    fn output_text(&self) -> String {
        match self {
            Answer::Translated(v) => output_text(v),
            Answer::Native { members, .. } => {
                let part = |name| {
                    members
                        .get(name)
                        .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
                        .unwrap_or(Value::Null)
                };
                output_text(
                    &serde_json::json!({"choices": part("choices"), "content": part("content")}),
                )
            }
        }
    }

    /// The caller's body: the catalog model id and, for OpenAI callers, `usage.cost`; the
    /// upstream's usage object kept only when it was `trusted`.
    fn client_body(&mut self, call: &Call, u: &Usage, cost: Decimal, trusted: bool) -> Vec<u8> {
        let (members, usage) = match self {
            Answer::Translated(v) => {
                let body = translated_body(call, v, u, cost);
                return serde_json::to_vec(&body).expect("JSON values serialize");
            }
            Answer::Native { members, usage } => (members, usage),
        };
        let model = Value::from(call.model.id.as_str());
        // Taken, not cloned: the caller's body is the answer's last use.
        let reported = usage.as_mut().ok().and_then(Option::take);
        let usage = match call.format {
            Format::OpenAi => {
                let mut usage = match reported {
                    Some(r) if trusted && r.is_object() => r,
                    _ => usage::to_openai(u),
                };
                usage["cost"] = cost_number(cost);
                Some(usage)
            }
            _ if trusted => None,
            _ => Some(usage::to_anthropic(u)),
        };
        match &usage {
            Some(usage) => members.splice(&[("model", Some(&model)), ("usage", Some(usage))]),
            None => members.splice(&[("model", Some(&model))]),
        }
    }
}

/// The caller speaks the provider's protocol (no translation).
fn native(call: &Call) -> bool {
    matches!(
        (call.format, call.provider.kind),
        (Format::OpenAi, ProviderKind::Openai) | (Format::Anthropic, ProviderKind::Anthropic)
    )
}

pub(super) fn output_text(upstream: &Value) -> String {
    let mut text = String::new();
    // `get` chains, not `pointer`: a pointer allocates two strings per path segment.
    if let Some(s) = upstream
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("message"))
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
    {
        text.push_str(s);
    }
    for block in upstream
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(s) = block.get("text").and_then(Value::as_str) {
            text.push_str(s);
        }
    }
    text
}

/// The caller's body for an upstream answer in another protocol, translated through the hub,
/// with (OpenAI format) `usage.cost`.
fn translated_body(call: &Call, upstream: &mut Value, u: &Usage, cost: Decimal) -> Value {
    let mut b = hub::client_answer(call, upstream, u, cost);
    if call.format == Format::OpenAi {
        b["usage"]["cost"] = cost_number(cost);
    }
    b
}
