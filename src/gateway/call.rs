//! One gateway call, from authentication to the committed usage record.

use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::time::Instant as TokioInstant;

use super::settle::{commit, fail, record_for};
use super::stream::cost_number;
use super::translate::{
    anthropic_to_openai_request, anthropic_to_openai_response, openai_to_anthropic_request,
    openai_to_anthropic_response,
};
use super::upstream::{self, error_message};
use super::usage::Reported;
use super::{new_call_id, relay, settle, tokens, usage, Format};
use crate::budgets::enforce::{self, Line, NewAlert, Settlement};
use crate::budgets::ratelimit::{self, Permit};
use crate::budgets::Team;
use crate::catalog::{Model, ModelStatus, Provider, ProviderKind};
use crate::error::{ApiError, ErrorKind};
use crate::keys::{forbidden_model, ApiKey};
use crate::metering::{CallStart, CallStatus, UsageRecord, UsageSource};
use crate::money::format_usd;
use crate::pricing::{PriceVersion, Usage};
use crate::state::AppState;

/// Everything known about a call once it is accepted.
pub struct Call {
    pub id: String,
    pub format: Format,
    pub started_at: DateTime<Utc>,
    pub started: Instant,
    pub key: ApiKey,
    pub model: Model,
    pub provider: Provider,
    pub price: PriceVersion,
    pub stream: bool,
    /// An OpenAI caller asked for the usage chunk (`stream_options.include_usage`).
    pub client_wants_usage: bool,
    /// The caller's body, gateway-only fields removed.
    pub body: Value,
    /// Budget and balance reservations, settled with the usage record.
    pub settlement: Option<Settlement>,
    /// The most output tokens the call may produce (the cap sent upstream times `n`): a
    /// stream that goes past it is ended by the gateway, whatever the upstream does.
    pub output_cap: u64,
    /// The rate-limit slot this call holds until it ends.
    pub permit: std::sync::Mutex<Option<Permit>>,
}

/// The caller's key: `Authorization: Bearer`, `x-api-key`, or (ModelsLab paths) `"key"` in
/// the body, which is removed before forwarding.
fn credential(headers: &HeaderMap, body: &mut Value, modelslab: bool) -> Option<String> {
    let body_key = if modelslab {
        body.as_object_mut().and_then(|o| o.remove("key"))
    } else {
        None
    };
    let header = crate::api::extract::secret_from_headers(headers);
    header.or_else(|| body_key.and_then(|k| k.as_str().map(str::to_string)))
}

fn model_field(body: &mut Value, modelslab: bool) -> Result<String, ApiError> {
    let obj = body.as_object_mut().ok_or_else(|| {
        ApiError::bad_request("invalid_body", "request body must be a JSON object")
    })?;
    let alias = if modelslab {
        obj.remove("model_id")
    } else {
        None
    };
    let model = obj.get("model").cloned().or(alias);
    match model {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(ApiError::invalid_field(
            "model",
            "model must be a non-empty string",
        )),
        None => Err(ApiError::invalid_field("model", "missing field `model`")),
    }
}

/// The largest output cap a request may name (no model writes more in one answer).
const MAX_OUTPUT_CAP: u64 = 10_000_000;
/// The most answers (`n`) one request may ask for, as in OpenAI's API.
const MAX_CHOICES: u64 = 128;

fn check_body(format: Format, body: &Value) -> Result<(), ApiError> {
    let messages = body.get("messages").and_then(Value::as_array);
    match messages {
        None => {
            return Err(ApiError::invalid_field(
                "messages",
                "messages must be an array of messages",
            ))
        }
        Some(m) if m.is_empty() => {
            return Err(ApiError::invalid_field(
                "messages",
                "messages must not be empty",
            ))
        }
        Some(m) => {
            if let Some(i) = m
                .iter()
                .position(|msg| msg.get("role").and_then(Value::as_str).is_none())
            {
                return Err(ApiError::invalid_field(
                    format!("messages[{i}].role"),
                    "each message needs a role",
                ));
            }
        }
    }
    for field in ["max_tokens", "max_completion_tokens", "max_output_tokens"] {
        let v = body.get(field).filter(|v| !v.is_null());
        if v.is_some_and(|v| v.as_u64().is_none_or(|n| n == 0 || n > MAX_OUTPUT_CAP)) {
            return Err(ApiError::invalid_field(
                field,
                format!("{field} must be a positive integer of at most {MAX_OUTPUT_CAP}"),
            ));
        }
    }
    if body
        .get("n")
        .filter(|v| !v.is_null())
        .is_some_and(|v| v.as_u64().is_none_or(|n| n == 0 || n > MAX_CHOICES))
    {
        return Err(ApiError::invalid_field(
            "n",
            format!("n must be an integer between 1 and {MAX_CHOICES}"),
        ));
    }
    let max_tokens = body.get("max_tokens").and_then(Value::as_u64).unwrap_or(0);
    if format == Format::Anthropic && max_tokens == 0 {
        return Err(ApiError::invalid_field(
            "max_tokens",
            "max_tokens is required and must be a positive integer",
        ));
    }
    if body
        .get("stream")
        .is_some_and(|s| !s.is_boolean() && !s.is_null())
    {
        return Err(ApiError::invalid_field(
            "stream",
            "stream must be a boolean",
        ));
    }
    Ok(())
}

/// The model, provider and price for a call, or why it is refused.
fn resolve(
    state: &AppState,
    key: &ApiKey,
    model_id: &str,
    now: DateTime<Utc>,
) -> Result<(Model, Provider, PriceVersion), ApiError> {
    let snapshot = state.catalog.snapshot();
    let entry = snapshot
        .get(model_id)
        .filter(|e| e.model.status == ModelStatus::Active)
        .ok_or_else(|| {
            ApiError::not_found(
                "model_not_found",
                format!("model '{model_id}' does not exist or is deprecated"),
            )
        })?;
    if !key.allows(model_id) {
        return Err(forbidden_model(model_id));
    }
    let price = entry.price_at(now).cloned().ok_or_else(|| {
        ApiError::bad_request("model_not_priced", format!("model '{model_id}' has no price yet; an administrator must set one before it can be called"))
    })?;
    let provider = snapshot
        .provider(&entry.model.provider)
        .cloned()
        .ok_or_else(|| {
            tracing::error!(model = model_id, "model's provider is missing");
            ApiError::internal()
        })?;
    Ok((entry.model.clone(), provider, price))
}

/// Attaches the call id to a response.
fn with_id(mut response: Response, id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// Handles a chat call in either format; every answer carries `x-request-id`.
pub async fn handle(
    state: AppState,
    format: Format,
    modelslab: bool,
    headers: HeaderMap,
    mut body: Value,
) -> Response {
    let id = new_call_id();
    let started = Instant::now();
    let now = state.clock.now();
    let mut limits = None;
    // One span per call: every log line of the call (and of its stream relay) carries its id,
    // key and model.
    let span = tracing::info_span!("call", id = %id, key = tracing::field::Empty, model = tracing::field::Empty);
    // Tracked, so that shutdown waits for the call to be recorded.
    let call = state.tasks.clone().track_future(async {
        let secret = credential(&headers, &mut body, modelslab);
        let key = state
            .keys
            .authenticate(secret.as_deref(), now)
            .map_err(IntoResponse::into_response)?;
        tracing::Span::current().record("key", key.id.as_str());
        let streamed = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
        let refused = Refusal {
            id: &id,
            format,
            key: &key,
            streamed,
            now,
        };
        let model_id = match model_field(&mut body, modelslab) {
            Ok(m) => m,
            Err(e) => {
                let named = body.get("model").and_then(Value::as_str).unwrap_or("");
                refused.record(&state, named, &e, vec![]).await;
                return Err(e.into_response());
            }
        };
        let accepted =
            check_body(format, &body).and_then(|()| resolve(&state, &key, &model_id, now));
        tracing::Span::current().record("model", model_id.as_str());
        let (model, provider, price) = match accepted {
            Ok(r) => r,
            Err(e) => {
                refused.record(&state, &model_id, &e, vec![]).await;
                return Err(e.into_response());
            }
        };
        let team = key.team.as_deref().and_then(|t| state.teams.get(t));
        let permit = match admit(&state, &key, team.as_ref()) {
            Ok(p) => p,
            Err(limited) => {
                let (e, extra) = *limited;
                refused.record(&state, &model_id, &e, vec![]).await;
                let mut response = e.into_response();
                response.headers_mut().extend(extra);
                return Err(response);
            }
        };
        limits = permit.as_ref().and_then(|p| p.remaining);
        let settlement = match reserve(
            &state,
            &id,
            format,
            &key,
            team.as_ref(),
            &model,
            &price,
            &mut body,
            now,
        )
        .await
        {
            Ok(s) => s,
            Err((e, alert)) => {
                refused
                    .record(&state, &model_id, &e, alert.into_iter().collect())
                    .await;
                return Err(e.into_response());
            }
        };
        let output_cap = output_cap(&body, &model);
        let stream = streamed;
        let client_wants_usage = body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let call = Call {
            id: id.clone(),
            format,
            started_at: now,
            started,
            key,
            model,
            provider,
            price,
            stream,
            client_wants_usage,
            body,
            settlement,
            output_cap,
            permit: std::sync::Mutex::new(permit),
        };
        forward(&state, call, &headers)
            .await
            .map_err(IntoResponse::into_response)
    });
    let result = tracing::Instrument::instrument(call, span).await;
    let mut response = with_id(result.unwrap_or_else(|r| r), &id);
    if let Some(r) = limits {
        response.headers_mut().extend(ratelimit::headers_for(&r));
    }
    response
}

/// Admits the call under the key's and the team's rate limits.
fn admit(
    state: &AppState,
    key: &ApiKey,
    team: Option<&Team>,
) -> Result<Option<Permit>, Box<(ApiError, HeaderMap)>> {
    let mut subjects = Vec::new();
    if let Some(l) = key.rate_limits.as_ref().filter(|l| !l.is_empty()) {
        subjects.push((format!("key:{}", key.id), l));
    }
    if let Some((t, l)) = team.and_then(|t| {
        t.rate_limits
            .as_ref()
            .filter(|l| !l.is_empty())
            .map(|l| (t, l))
    }) {
        subjects.push((format!("team:{}", t.id), l));
    }
    if subjects.is_empty() {
        return Ok(None);
    }
    state.limiter.admit(&subjects).map(Some)
}

/// Reserves the call's maximum cost on every budget and balance it draws on. An OpenAI
/// request without `max_tokens` gets one, so the bound the reservation assumed holds upstream.
#[allow(clippy::too_many_arguments)]
async fn reserve(
    state: &AppState,
    id: &str,
    format: Format,
    key: &ApiKey,
    team: Option<&Team>,
    model: &Model,
    price: &PriceVersion,
    body: &mut Value,
    now: DateTime<Utc>,
) -> Result<Option<Settlement>, (ApiError, Option<NewAlert>)> {
    let accounts = enforce::accounts_for(key, team, &state.budgets, &state.credits, now);
    if accounts.is_empty() {
        return Ok(None);
    }
    let (output, inject) = enforce::output_bound(body, model);
    if inject && format == Format::OpenAi {
        // OpenAI's reasoning models take only `max_completion_tokens`.
        let field = if model.has_capability("reasoning") {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[field] = output.into();
    }
    let amount = enforce::max_cost(
        &price.prices,
        enforce::input_bound(body),
        output.saturating_mul(enforce::choices(body)),
        tokens::count_images(body),
    );
    let lines: Vec<Line> = accounts
        .into_iter()
        .map(|account| Line {
            account,
            amount_picos: amount,
        })
        .collect();
    match state.meter.reserve(id, &lines).await {
        Ok(Ok(())) => Ok(Some(Settlement {
            lines,
            alerts: vec![],
            low_balance_picos: state.budgets.low_balance_picos,
        })),
        Ok(Err(refused)) => {
            let account = &lines[refused.line].account;
            let alert = enforce::refusal_alert(account, refused.remaining_picos, amount);
            Err((
                enforce::refusal(account, refused.remaining_picos, amount),
                Some(alert),
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "budget reservation failed");
            Err((ApiError::internal(), None))
        }
    }
}

/// The output tokens a call may produce when the request caps them (the caller's cap, or the
/// one the reservation injected), times `n`; unbounded otherwise.
fn output_cap(body: &Value, model: &Model) -> u64 {
    match enforce::output_bound(body, model) {
        (per_answer, false) => per_answer.saturating_mul(enforce::choices(body)),
        (_, true) => u64::MAX,
    }
}

/// What a refused call's record needs: refusals after authentication are recorded too.
struct Refusal<'a> {
    id: &'a str,
    format: Format,
    key: &'a ApiKey,
    streamed: bool,
    now: DateTime<Utc>,
}

impl Refusal<'_> {
    async fn record(&self, state: &AppState, model_id: &str, e: &ApiError, alerts: Vec<NewAlert>) {
        let start = CallStart {
            id: self.id.to_string(),
            started_at: self.now,
            key_id: Some(self.key.id.clone()),
            team_id: self.key.team.clone(),
            model_id: model_id.chars().take(200).collect(),
            provider_id: None,
            upstream_model: None,
            endpoint: self.format.endpoint(),
            streamed: self.streamed,
            price_version_id: None,
        };
        let mut record = UsageRecord::from_start(&start, CallStatus::Rejected, e.status().as_u16());
        record.error = Some(e.message.clone());
        let settlement = (!alerts.is_empty()).then(|| Settlement {
            alerts,
            ..Settlement::default()
        });
        if let Err(err) = state.meter.record_settled(record, settlement).await {
            tracing::error!(error = %err, "could not record a rejected call");
        }
    }
}

/// The body to send upstream: translated when the formats differ, the model renamed, and for
/// OpenAI streams usage always requested.
fn upstream_body(call: &Call) -> Result<Value, ApiError> {
    let upstream_model = call.model.upstream_model.as_str();
    let mut body = match (call.format, call.provider.kind) {
        (Format::OpenAi, ProviderKind::Openai) | (Format::Anthropic, ProviderKind::Anthropic) => {
            let mut b = call.body.clone();
            b["model"] = upstream_model.into();
            b
        }
        (Format::OpenAi, ProviderKind::Anthropic) => {
            openai_to_anthropic_request(&call.body, upstream_model, call.model.max_output_tokens)?
        }
        (Format::Anthropic, ProviderKind::Openai) => {
            anthropic_to_openai_request(&call.body, upstream_model)
        }
    };
    if call.stream && call.provider.kind == ProviderKind::Openai {
        body["stream_options"] = serde_json::json!({"include_usage": true});
    }
    Ok(body)
}

impl Call {
    /// What the ledger knows of the call once it is forwarded.
    pub fn start(&self) -> CallStart {
        CallStart {
            id: self.id.clone(),
            started_at: self.started_at,
            key_id: Some(self.key.id.clone()),
            team_id: self.key.team.clone(),
            model_id: self.model.id.clone(),
            provider_id: Some(self.provider.id.clone()),
            upstream_model: Some(self.model.upstream_model.clone()),
            endpoint: self.format.endpoint(),
            streamed: self.stream,
            price_version_id: Some(self.price.id),
        }
    }
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
async fn forward(state: &AppState, call: Call, headers: &HeaderMap) -> Result<Response, ApiError> {
    let body = upstream_body(&call)?;
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
    state.meter.started(call.start()).await;
    let timeouts = state.upstream.timeouts(&call.provider);
    let deadline = TokioInstant::now() + timeouts.total;
    let first_byte = if call.stream {
        timeouts.first_byte.min(timeouts.total)
    } else {
        timeouts.total
    };
    let request = state
        .upstream
        .request(&call.provider, secret.clone(), &body, headers);
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
        Ok(relay::start(state, call, response, deadline, secret))
    } else {
        complete(state, call, response, deadline).await
    }
}

/// The caller's error for an upstream's error answer: its message, with credentials removed.
/// A redirect is not followed (it would carry the provider's key elsewhere).
async fn upstream_error(
    response: reqwest::Response,
    deadline: TokioInstant,
    secret: Option<&str>,
) -> ApiError {
    let status = response.status();
    let message = if status.is_redirection() {
        "a redirect, which the gateway does not follow".to_string()
    } else {
        let bytes = tokio::time::timeout_at(
            deadline,
            upstream::read_capped(response, upstream::MAX_ERROR_BODY),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
        upstream::redact(&error_message(&bytes), secret)
    };
    let message = format!("upstream provider answered {}: {message}", status.as_u16());
    let kind = if status.is_server_error() || status.is_redirection() {
        ErrorKind::BadGateway
    } else {
        ErrorKind::UpstreamClient(status.as_u16())
    };
    ApiError::new(kind, "upstream_error", message)
}

/// A non-streaming answer: read (up to the size limit), meter, translate, commit, respond.
async fn complete(
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
    let Ok(mut upstream) = serde_json::from_slice::<Value>(&bytes) else {
        let err = ApiError::new(
            ErrorKind::BadGateway,
            "upstream_invalid",
            "the upstream provider answered with invalid JSON",
        );
        return Err(fail(state, &call, CallStatus::UpstreamError, Some(200), err).await);
    };
    let reported = match (call.provider.kind, upstream.get("usage")) {
        (_, None) => Reported::Absent,
        (ProviderKind::Openai, Some(u)) => usage::from_openai(u),
        (ProviderKind::Anthropic, Some(u)) => usage::from_anthropic(u),
    };
    let measured = settle::measure(&call, reported, &output_text(&upstream));
    let trusted = measured.source == UsageSource::Upstream;
    let record = record_for(&call, CallStatus::Ok, 200, Some(200), Some(measured));
    let cost = record.cost;
    let body = client_body(&call, &mut upstream, &record.usage, cost, trusted);
    commit(state, &call, record).await?;
    let mut response = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format_usd(cost)) {
        response.headers_mut().insert("x-tollgate-cost", v);
    }
    Ok(response)
}

fn output_text(upstream: &Value) -> String {
    let mut text = String::new();
    if let Some(s) = upstream
        .pointer("/choices/0/message/content")
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

/// The caller's body for an upstream answer, in the caller's format, with the catalog model
/// id and (OpenAI format) `usage.cost`. The upstream's usage object is kept only when it was
/// `trusted`; otherwise the gateway's figures replace it.
fn client_body(
    call: &Call,
    upstream: &mut Value,
    u: &Usage,
    cost: Decimal,
    trusted: bool,
) -> Value {
    let created = call.started_at.timestamp();
    match (call.format, call.provider.kind) {
        (Format::OpenAi, kind) => {
            let mut body = if kind == ProviderKind::Anthropic {
                anthropic_to_openai_response(upstream, &call.id, &call.model.id, created, u)
            } else {
                let mut b = upstream.take();
                b["model"] = call.model.id.clone().into();
                if !trusted || !b.get("usage").is_some_and(Value::is_object) {
                    b["usage"] = usage::to_openai(u);
                }
                b
            };
            body["usage"]["cost"] = cost_number(cost);
            body
        }
        (Format::Anthropic, ProviderKind::Anthropic) => {
            let mut b = upstream.take();
            b["model"] = call.model.id.clone().into();
            if !trusted {
                b["usage"] = usage::to_anthropic(u);
            }
            b
        }
        (Format::Anthropic, ProviderKind::Openai) => {
            openai_to_anthropic_response(upstream, &format!("msg_{}", call.id), &call.model.id, u)
        }
    }
}
