//! One gateway call, from authentication to the committed usage record.

use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;

use super::stream::{
    cost_number, AnthropicPassthrough, AnthropicToOpenAi, OpenAiPassthrough, OpenAiToAnthropic,
    Translate,
};
use super::translate::{
    anthropic_to_openai_request, anthropic_to_openai_response, openai_to_anthropic_request,
    openai_to_anthropic_response,
};
use super::upstream::error_message;
use super::{new_call_id, tokens, usage, Format};
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
    let result = async {
        let secret = credential(&headers, &mut body, modelslab);
        let key = state
            .keys
            .authenticate(secret.as_deref(), now)
            .map_err(IntoResponse::into_response)?;
        let model_id = model_field(&mut body, modelslab).map_err(IntoResponse::into_response)?;
        let accepted =
            check_body(format, &body).and_then(|()| resolve(&state, &key, &model_id, now));
        let (model, provider, price) = match accepted {
            Ok(r) => r,
            Err(e) => {
                record_rejection(&state, &id, format, &key, &model_id, now, &e, vec![]).await;
                return Err(e.into_response());
            }
        };
        let team = key.team.as_deref().and_then(|t| state.teams.get(t));
        let permit = match admit(&state, &key, team.as_ref()) {
            Ok(p) => p,
            Err(refused) => {
                let (e, extra) = *refused;
                record_rejection(&state, &id, format, &key, &model_id, now, &e, vec![]).await;
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
                record_rejection(
                    &state,
                    &id,
                    format,
                    &key,
                    &model_id,
                    now,
                    &e,
                    alert.into_iter().collect(),
                )
                .await;
                return Err(e.into_response());
            }
        };
        let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
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
            permit: std::sync::Mutex::new(permit),
        };
        forward(&state, call, &headers)
            .await
            .map_err(IntoResponse::into_response)
    }
    .await;
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
        body["max_tokens"] = output.into();
    }
    let amount = enforce::max_cost(
        &price.prices,
        enforce::input_bound(body),
        output,
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

#[allow(clippy::too_many_arguments)]
async fn record_rejection(
    state: &AppState,
    id: &str,
    format: Format,
    key: &ApiKey,
    model_id: &str,
    now: DateTime<Utc>,
    e: &ApiError,
    alerts: Vec<NewAlert>,
) {
    let start = CallStart {
        id: id.to_string(),
        started_at: now,
        key_id: Some(key.id.clone()),
        team_id: key.team.clone(),
        model_id: model_id.chars().take(200).collect(),
        provider_id: None,
        upstream_model: None,
        endpoint: format.endpoint(),
        streamed: false,
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

fn call_start(call: &Call) -> CallStart {
    CallStart {
        id: call.id.clone(),
        started_at: call.started_at,
        key_id: Some(call.key.id.clone()),
        team_id: call.key.team.clone(),
        model_id: call.model.id.clone(),
        provider_id: Some(call.provider.id.clone()),
        upstream_model: Some(call.model.upstream_model.clone()),
        endpoint: call.format.endpoint(),
        streamed: call.stream,
        price_version_id: Some(call.price.id),
    }
}

/// A finished call's record.
fn record_for(
    call: &Call,
    status: CallStatus,
    http_status: u16,
    upstream_status: Option<u16>,
    usage: Option<(Usage, UsageSource)>,
) -> UsageRecord {
    let mut r = UsageRecord::from_start(&call_start(call), status, http_status);
    r.upstream_status = upstream_status;
    if let Some((u, source)) = usage {
        let u = Usage {
            images: tokens::count_images(&call.body),
            ..u
        };
        r.cost = call.price.prices.cost(&u);
        r.usage = u;
        r.usage_source = source;
    }
    r.latency_ms = call.started.elapsed().as_millis() as u64;
    r
}

/// Tokens counted locally when the upstream reported none.
fn estimate(call: &Call, output_text: &str) -> (Usage, UsageSource) {
    let u = Usage {
        input_tokens: tokens::count_request(&call.body),
        output_tokens: tokens::count_text(output_text),
        ..Usage::default()
    };
    (u, UsageSource::Estimated)
}

/// Commits a call's record with the settlement of its reservations, and frees its rate-limit
/// slot (counting its tokens).
async fn commit(state: &AppState, call: &Call, record: UsageRecord) -> Result<(), ApiError> {
    let tokens = record.usage.input_tokens + record.usage.output_tokens;
    if let Some(permit) = call.permit.lock().expect("permit lock poisoned").take() {
        permit.finish(tokens);
    }
    state
        .meter
        .record_settled(record, call.settlement.clone())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "usage record not committed");
            ApiError::internal()
        })
}

/// Records a call that failed before an answer, and returns the caller's error.
async fn fail(
    state: &AppState,
    call: &Call,
    status: CallStatus,
    upstream_status: Option<u16>,
    err: ApiError,
) -> ApiError {
    let mut record = record_for(call, status, err.status().as_u16(), upstream_status, None);
    record.error = Some(err.message.clone());
    match commit(state, call, record).await {
        Ok(()) => err,
        Err(internal) => internal,
    }
}

fn upstream_failure(e: &reqwest::Error) -> (CallStatus, ApiError) {
    if e.is_timeout() {
        (
            CallStatus::Timeout,
            ApiError::new(
                ErrorKind::GatewayTimeout,
                "upstream_timeout",
                "the upstream provider did not answer in time",
            ),
        )
    } else {
        (
            CallStatus::UpstreamError,
            ApiError::new(
                ErrorKind::BadGateway,
                "upstream_unreachable",
                format!("could not reach the upstream provider: {e}"),
            ),
        )
    }
}

fn timeout_error() -> (CallStatus, ApiError) {
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
    state.meter.started(call_start(&call)).await;
    let timeouts = state.upstream.timeouts(&call.provider);
    let deadline = TokioInstant::now() + timeouts.total;
    let first_byte = if call.stream {
        timeouts.first_byte.min(timeouts.total)
    } else {
        timeouts.total
    };
    let request = state.upstream.request(&call.provider, &body, headers);
    let response = match tokio::time::timeout(first_byte, request.send()).await {
        Err(_) => {
            let (status, err) = timeout_error();
            return Err(fail(state, &call, status, None, err).await);
        }
        Ok(Err(e)) => {
            let (status, err) = upstream_failure(&e);
            return Err(fail(state, &call, status, None, err).await);
        }
        Ok(Ok(r)) => r,
    };
    let upstream_status = response.status();
    if !upstream_status.is_success() {
        let bytes = tokio::time::timeout_at(deadline, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let message = format!(
            "upstream provider answered {}: {}",
            upstream_status.as_u16(),
            error_message(&bytes)
        );
        let kind = if upstream_status.is_server_error() {
            ErrorKind::BadGateway
        } else {
            ErrorKind::UpstreamClient(upstream_status.as_u16())
        };
        let err = ApiError::new(kind, "upstream_error", message);
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
        Ok(start_stream(state, call, response, deadline))
    } else {
        complete(state, call, response, deadline).await
    }
}

/// A non-streaming answer: read, meter, translate, commit, respond.
async fn complete(
    state: &AppState,
    call: Call,
    response: reqwest::Response,
    deadline: TokioInstant,
) -> Result<Response, ApiError> {
    let bytes = match tokio::time::timeout_at(deadline, response.bytes()).await {
        Err(_) => {
            let (status, err) = timeout_error();
            return Err(fail(state, &call, status, Some(200), err).await);
        }
        Ok(Err(e)) => {
            let (status, err) = upstream_failure(&e);
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
    let reported = match call.provider.kind {
        ProviderKind::Openai => upstream.get("usage").and_then(usage::from_openai),
        ProviderKind::Anthropic => upstream.get("usage").and_then(usage::from_anthropic),
    };
    let measured = reported
        .map(|u| (u, UsageSource::Upstream))
        .unwrap_or_else(|| estimate(&call, &output_text(&upstream)));
    let record = record_for(&call, CallStatus::Ok, 200, Some(200), Some(measured));
    let cost = record.cost;
    let body = client_body(&call, &mut upstream, &record.usage, cost);
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
/// id and (OpenAI format) `usage.cost`.
fn client_body(call: &Call, upstream: &mut Value, u: &Usage, cost: Decimal) -> Value {
    let created = call.started_at.timestamp();
    match (call.format, call.provider.kind) {
        (Format::OpenAi, kind) => {
            let mut body = if kind == ProviderKind::Anthropic {
                anthropic_to_openai_response(upstream, &call.id, &call.model.id, created, u)
            } else {
                let mut b = upstream.take();
                b["model"] = call.model.id.clone().into();
                if !b.get("usage").is_some_and(Value::is_object) {
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
            b
        }
        (Format::Anthropic, ProviderKind::Openai) => {
            openai_to_anthropic_response(upstream, &format!("msg_{}", call.id), &call.model.id, u)
        }
    }
}

fn translator(call: &Call) -> Box<dyn Translate> {
    let created = call.started_at.timestamp();
    match (call.format, call.provider.kind) {
        (Format::OpenAi, ProviderKind::Openai) => Box::new(OpenAiPassthrough::new(
            &call.model.id,
            call.client_wants_usage,
        )),
        (Format::OpenAi, ProviderKind::Anthropic) => Box::new(AnthropicToOpenAi::new(
            &call.id,
            &call.model.id,
            created,
            call.client_wants_usage,
        )),
        (Format::Anthropic, ProviderKind::Anthropic) => {
            Box::new(AnthropicPassthrough::new(&call.model.id))
        }
        (Format::Anthropic, ProviderKind::Openai) => Box::new(OpenAiToAnthropic::new(
            &format!("msg_{}", call.id),
            &call.model.id,
        )),
    }
}

/// Starts relaying a stream; the relay runs as a tracked task so shutdown waits for it.
fn start_stream(
    state: &AppState,
    call: Call,
    response: reqwest::Response,
    deadline: TokioInstant,
) -> Response {
    let (tx, rx) = mpsc::channel::<bytes::Bytes>(64);
    let tr = translator(&call);
    state
        .tasks
        .spawn(relay(state.clone(), call, response, tr, tx, deadline));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    response
}

/// Reads the upstream stream to its end, relaying translated events while the caller listens
/// (a caller that leaves is still charged for everything the upstream produced), then commits
/// the record and only then sends the closing events.
async fn relay(
    state: AppState,
    call: Call,
    response: reqwest::Response,
    mut tr: Box<dyn Translate>,
    tx: mpsc::Sender<bytes::Bytes>,
    deadline: TokioInstant,
) {
    let mut events = response.bytes_stream().eventsource();
    let mut client_gone = false;
    let mut failure: Option<(CallStatus, ApiError)> = None;
    let mut ttft = None;
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Err(_) => {
                failure = Some(timeout_error());
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                failure = Some((
                    CallStatus::StreamError,
                    ApiError::new(
                        ErrorKind::BadGateway,
                        "upstream_stream_error",
                        format!("the upstream stream broke: {e}"),
                    ),
                ));
                break;
            }
            Ok(Some(Ok(event))) => {
                let out = tr.on_event(&event.event, &event.data);
                if ttft.is_none() && tr.progress().has_content {
                    ttft = Some(call.started.elapsed().as_millis() as u64);
                }
                for chunk in out {
                    if !client_gone && tx.send(chunk).await.is_err() {
                        client_gone = true;
                    }
                }
                if tr.progress().complete {
                    break;
                }
            }
        }
    }
    if failure.is_none() && !tr.progress().complete && tr.progress().upstream_error.is_none() {
        failure = Some((
            CallStatus::StreamError,
            ApiError::new(
                ErrorKind::BadGateway,
                "upstream_stream_error",
                "the upstream stream ended before it was complete",
            ),
        ));
    }
    let upstream_error = tr.progress().upstream_error.clone();
    let measured = tr
        .usage()
        .map(|u| (u, UsageSource::Upstream))
        .unwrap_or_else(|| estimate(&call, &tr.progress().text));
    let status = match (&upstream_error, &failure) {
        _ if client_gone => CallStatus::ClientCancelled,
        (Some(_), _) => CallStatus::UpstreamError,
        (None, Some((s, _))) => *s,
        (None, None) => CallStatus::Ok,
    };
    let mut record = record_for(&call, status, 200, Some(200), Some(measured));
    record.ttft_ms = ttft;
    record.error = upstream_error
        .clone()
        .or_else(|| failure.as_ref().map(|(_, e)| e.message.clone()));
    let (usage, cost) = (record.usage, record.cost);
    let committed = commit(&state, &call, record).await;
    if client_gone || upstream_error.is_some() {
        return;
    }
    let closing = match (failure, committed) {
        (None, Ok(())) => tr.finish(&usage, cost),
        (Some((_, err)), _) | (None, Err(err)) => vec![tr.error(&err)],
    };
    for chunk in closing {
        if tx.send(chunk).await.is_err() {
            break;
        }
    }
}
