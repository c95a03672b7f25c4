//! One gateway call, top to bottom: [`super::admit`] (key, request, model, rate limits,
//! budget reservation) → [`super::forward`] (the upstream request; a non-streaming answer) →
//! [`super::relay`] (a streamed answer) → [`super::settle`] (tokens, cost, the committed
//! record).

use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Format;
use crate::budgets::enforce::Settlement;
use crate::budgets::ratelimit::{self, Permit};
use crate::catalog::{Model, Provider};
use crate::keys::ApiKey;
use crate::metering::CallStart;
use crate::pricing::PriceVersion;
use crate::state::AppState;

use super::admit::{
    admit, check_body, model_field, output_cap, remove_body_key, reserve, resolve, Refusal,
};
use super::forward::forward;

/// Everything known about a call once it is accepted.
pub struct Call {
    pub id: String,
    pub format: Format,
    pub started_at: DateTime<Utc>,
    pub started: Instant,
    pub key: ApiKey,
    pub model: Model,
    /// The name the caller sent when it is not `model.id` (an alias), for the record.
    pub requested_model: Option<String>,
    pub provider: Provider,
    pub price: PriceVersion,
    pub stream: bool,
    /// An OpenAI caller asked for the usage chunk (`stream_options.include_usage`).
    pub client_wants_usage: bool,
    /// The caller's body, gateway-only fields removed.
    pub body: Value,
    /// The caller's body as sent: forwarded as it is, with the fields the gateway changes
    /// spliced in, when the provider speaks the caller's protocol ([`super::body::splice`]).
    pub raw: Bytes,
    /// Budget and balance reservations, settled with the usage record.
    pub settlement: Option<Settlement>,
    /// The most output tokens the call may produce (the cap sent upstream times `n`): a
    /// stream that goes past it is ended by the gateway, whatever the upstream does.
    pub output_cap: u64,
    /// The tool that carries a structured answer to an Anthropic-kind provider, set when the
    /// request is translated through the protocol hub; unwrapped on the way back.
    pub answer_tool: Option<String>,
    /// The rate-limit slot this call holds until it ends.
    pub permit: std::sync::Mutex<Option<Permit>>,
}

/// An authenticated request with its body read.
pub struct Admitted {
    pub headers: HeaderMap,
    /// The body as sent.
    pub raw: Bytes,
    /// The body parsed (no duplicate keys).
    pub body: Value,
    /// The key the request authenticated with, checked once at the gateway's clock.
    pub key: ApiKey,
}

/// Attaches the call id to a response: `x-request-id`, and `request-id`, where Anthropic's SDKs
/// read it (`message._request_id`).
fn with_id(mut response: Response, id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(id) {
        response.headers_mut().insert("request-id", v.clone());
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// Handles a chat call in either format for the `key` that authenticated it; every answer
/// carries `x-request-id`.
pub async fn handle(
    state: AppState,
    format: Format,
    modelslab: bool,
    admitted: Admitted,
    id: String,
) -> Response {
    let Admitted {
        headers,
        raw,
        mut body,
        key,
    } = admitted;
    let started = Instant::now();
    let now = state.clock.now();
    let mut limits = None;
    // One span per call: every log line of the call (and of its stream relay) carries its id,
    // key and model.
    let span = tracing::info_span!("call", id = %id, key = tracing::field::Empty, model = tracing::field::Empty);
    // Tracked, so that shutdown waits for the call to be recorded.
    // Boxed once here, so the wrappers (tracking, the span) move a pointer, not the state of
    // every stage.
    let call = state.tasks.clone().track_future(Box::pin(async {
        remove_body_key(&mut body, modelslab);
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
        let permit = match admit(&state, &id, &key, team.as_ref()).await {
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
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let requested_model = (model.id != model_id).then(|| model_id.clone());
        let call = Call {
            id: id.clone(),
            format,
            started_at: now,
            started,
            key,
            model,
            requested_model,
            provider,
            price,
            stream,
            client_wants_usage,
            body,
            raw,
            settlement,
            output_cap,
            answer_tool: None,
            permit: std::sync::Mutex::new(permit),
        };
        Box::pin(forward(&state, call, &headers))
            .await
            .map_err(IntoResponse::into_response)
    }));
    let result = tracing::Instrument::instrument(call, span).await;
    let mut response = with_id(result.unwrap_or_else(|r| r), &id);
    if let Some(r) = limits {
        response.headers_mut().extend(ratelimit::headers_for(&r));
    }
    response
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
            requested_model: self.requested_model.clone(),
            provider_id: Some(self.provider.id.clone()),
            upstream_model: Some(self.model.upstream_model.clone()),
            endpoint: self.format.endpoint(),
            streamed: self.stream,
            price_version_id: Some(self.price.id),
        }
    }
}
