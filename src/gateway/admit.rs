//! Admission: who is calling, what they ask for, whether the catalog, their limits and their
//! budgets let the call through. Everything here happens before a byte goes upstream; a refusal
//! after authentication is recorded.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{tokens, Format};
use crate::budgets::enforce::{self, Line, NewAlert, Settlement};
use crate::budgets::ratelimit::Permit;
use crate::budgets::Team;
use crate::catalog::{Model, Provider};
use crate::error::{ApiError, ErrorKind};
use crate::keys::{forbidden_model, ApiKey};
use crate::metering::{CallStart, CallStatus, UsageRecord};
use crate::pricing::PriceVersion;
use crate::state::AppState;

/// ModelsLab callers may send their key as `"key"` in the body (checked by the handler's
/// early gate); it is removed before forwarding.
pub(super) fn remove_body_key(body: &mut Value, modelslab: bool) {
    if modelslab {
        if let Some(o) = body.as_object_mut() {
            o.remove("key");
        }
    }
}

pub(super) fn model_field(body: &mut Value, modelslab: bool) -> Result<String, ApiError> {
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
pub(super) const MAX_OUTPUT_CAP: u64 = 10_000_000;
/// The most answers (`n`) one request may ask for, as in OpenAI's API.
pub(super) const MAX_CHOICES: u64 = 128;

pub(super) fn check_body(format: Format, body: &Value) -> Result<(), ApiError> {
    if format == Format::Responses {
        // Parsed whole (the caller's field errors by path), then checked like the others'
        // bounds below.
        crate::protocol::responses::decode_request(body)?;
        return check_bounds(format, body);
    }
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
    check_bounds(format, body)
}

/// Output caps, `n` and `stream` within their ranges.
fn check_bounds(format: Format, body: &Value) -> Result<(), ApiError> {
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

/// The model, provider and price for a call, or why it is refused. `name` is what the caller
/// sent: a model id or an alias (see [`crate::catalog::Snapshot::resolve`]); everything after
/// resolution — status, the key's allow-list, the price — is about the catalog model, so an
/// alias never lets a key reach a model its allow-list does not name.
pub(super) fn resolve(
    state: &AppState,
    key: &ApiKey,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(Model, Provider, PriceVersion), ApiError> {
    let snapshot = state.catalog.snapshot();
    let entry = snapshot.resolve(name).ok_or_else(|| {
        ApiError::not_found(
            "model_not_found",
            format!("model '{name}' does not exist or is deprecated"),
        )
    })?;
    let model_id = entry.model.id.as_str();
    // How the messages below name the model: the catalog id, and the caller's name if other.
    let named = if model_id == name {
        format!("'{model_id}'")
    } else {
        format!("'{model_id}' (asked for as '{name}')")
    };
    if !entry.model.is_active_on(now.date_naive()) {
        return Err(ApiError::not_found(
            "model_not_found",
            format!("model {named} does not exist or is deprecated"),
        ));
    }
    if !key.allows(model_id) {
        let mut e = forbidden_model(model_id);
        e.message = format!("this API key may not call model {named}");
        return Err(e);
    }
    let price = entry.price_at(now).cloned().ok_or_else(|| {
        ApiError::bad_request("model_not_priced", format!("model {named} has no price yet; an administrator must set one before it can be called"))
    })?;
    let provider = snapshot
        .provider(&entry.model.provider)
        .cloned()
        .ok_or_else(|| {
            tracing::error!(model = model_id, "model's provider is missing");
            ApiError::internal()
        })?;
    if entry.model.mode != "chat" {
        return Err(ApiError::bad_request(
            "model_not_servable",
            format!(
                "model {named} is a {} model: it is listed and priced, but the gateway serves chat models only",
                entry.model.mode
            ),
        ));
    }
    if provider.listing_only {
        return Err(ApiError::bad_request(
            "provider_not_configured",
            format!(
                "model {named} is listed for its prices only: its provider '{}' is not configured to be called on this gateway; ask its administrator",
                provider.id
            ),
        ));
    }
    Ok((entry.model.clone(), provider, price))
}

/// Admits the call while the metering writer runs (a call it could not record is never
/// forwarded), under the key's and the team's rate limits.
pub(super) async fn admit(
    state: &AppState,
    call_id: &str,
    key: &ApiKey,
    team: Option<&Team>,
) -> Result<Option<Permit>, Box<(ApiError, HeaderMap)>> {
    if !state.meter.accepting() {
        let e = ApiError::new(
            ErrorKind::Unavailable,
            "metering_unavailable",
            "the gateway cannot record calls right now, so it takes none; try again shortly",
        );
        return Err(Box::new((e, HeaderMap::new())));
    }
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
    state.limiter.admit(call_id, &subjects).await.map(Some)
}

/// Reserves the call's maximum cost on every budget and balance it draws on. An OpenAI
/// request without `max_tokens` gets one, so the bound the reservation assumed holds upstream.
#[allow(clippy::too_many_arguments)]
pub(super) async fn reserve(
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
    if inject && format == Format::Responses {
        body["max_output_tokens"] = output.into();
    } else if inject && format == Format::OpenAi {
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
    match state.meter.admit(id, &lines).await {
        Ok(Ok(lease)) => Ok(Some(Settlement {
            lines,
            alerts: vec![],
            low_balance_picos: state.budgets.low_balance_picos,
            lease,
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
pub(super) fn output_cap(body: &Value, model: &Model) -> u64 {
    match enforce::output_bound(body, model) {
        (per_answer, false) => per_answer.saturating_mul(enforce::choices(body)),
        (_, true) => u64::MAX,
    }
}

/// What a refused call's record needs: refusals after authentication are recorded too.
pub(super) struct Refusal<'a> {
    pub(super) id: &'a str,
    pub(super) format: Format,
    pub(super) key: &'a ApiKey,
    pub(super) streamed: bool,
    pub(super) now: DateTime<Utc>,
}

impl Refusal<'_> {
    /// Records the refusal of a call that asked for `name` (as sent). A name that resolves is
    /// recorded as its catalog id with the name beside it (`requested_model`), as a call that
    /// went through would be; any other name is recorded as sent, cut to 200 characters.
    pub(super) async fn record(
        &self,
        state: &AppState,
        name: &str,
        e: &ApiError,
        alerts: Vec<NewAlert>,
    ) {
        let bounded = || name.chars().take(200).collect::<String>();
        let (model_id, requested_model) = match state.catalog.snapshot().resolve(name) {
            Some(entry) if entry.model.id != name => (entry.model.id.clone(), Some(bounded())),
            _ => (bounded(), None),
        };
        let start = CallStart {
            id: self.id.to_string(),
            started_at: self.now,
            key_id: Some(self.key.id.clone()),
            team_id: self.key.team.clone(),
            model_id,
            requested_model,
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
