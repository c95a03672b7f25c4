//! Report endpoints: spend, the audit trail and its exports, adjustments, estimates, related
//! models and recommendations.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Admin, ApiJson, ApiQuery, Caller};
use super::models::model_not_found;
use crate::error::{ApiError, ErrorKind};
use crate::gateway::tokens;
use crate::money::{format_usd, from_picos, to_picos};
use crate::reports::advice;
use crate::reports::audit::{self, UsageQuery};
use crate::reports::{spend, Filters, SpendAnswer, SpendParams};
use crate::state::AppState;
use crate::store::reports::{AdjustmentRow, LEDGER_MAX_USD};
use crate::store::StoreError;

async fn spend_response(state: &AppState, params: SpendParams) -> Result<Response, ApiError> {
    let csv = params.wants_csv()?;
    let query = params.parse(Utc::now())?;
    let report = spend(&state.store, &state.catalog.snapshot(), query).await?;
    if csv {
        return Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            report.to_csv(),
        )
            .into_response());
    }
    Ok(Json(report.to_json()).into_response())
}

/// Spend grouped by any of key, team, model, provider and a time grain, with filters.
#[utoipa::path(get, path = "/admin/spend", tag = "reports", security(("admin" = [])), params(SpendParams),
    responses((status = 200, body = SpendAnswer, description = "The report (or CSV with format=csv): rows by group and the period's total, with calls, tokens, exact cost and errors"), (status = 400, description = "Invalid parameter"), (status = 401, description = "Missing or wrong admin token")))]
pub async fn admin_spend(
    _: Admin,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<SpendParams>,
) -> Result<Response, ApiError> {
    spend_response(&state, params).await
}

/// The caller's own spend (the `key` filter is always the caller's key).
#[utoipa::path(get, path = "/v1/spend", tag = "reports", params(SpendParams),
    responses((status = 200, body = SpendAnswer, description = "As GET /admin/spend, for the caller's key"), (status = 401, description = "Bad API key")))]
pub async fn own_spend(
    Caller(key): Caller,
    State(state): State<AppState>,
    ApiQuery(mut params): ApiQuery<SpendParams>,
) -> Result<Response, ApiError> {
    params.key = Some(key.id);
    params.team = None;
    spend_response(&state, params).await
}

/// Query parameters of the audit trail.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    pub key: Option<String>,
    pub team: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    /// ok, upstream_error, timeout, client_cancelled, stream_error, interrupted, rejected.
    pub status: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `json` (pages, default), or `csv` / `jsonl` (the whole selection, streamed).
    pub format: Option<String>,
}

impl UsageParams {
    pub fn query(&self) -> Result<UsageQuery, ApiError> {
        if let Some(s) = &self.status {
            if crate::metering::CallStatus::parse(s).is_none() {
                return Err(ApiError::invalid_field(
                    "status",
                    format!("unknown status '{s}'"),
                ));
            }
        }
        Ok(UsageQuery {
            filters: Filters {
                key: self.key.clone(),
                team: self.team.clone(),
                model: self.model.clone(),
                provider: self.provider.clone(),
            },
            status: self.status.clone(),
            from: self.from.map_or(0, |t| t.timestamp_millis()),
            to: self.to.map_or(i64::MAX, |t| t.timestamp_millis()),
        })
    }
}

fn export_response(state: AppState, q: UsageQuery, csv: bool) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    state.tasks.clone().spawn(async move {
        let sender = tx.clone();
        let emit = move |chunk: String| -> futures::future::BoxFuture<'static, bool> {
            let tx = sender.clone();
            Box::pin(async move { tx.send(Ok(chunk)).await.is_ok() })
        };
        if let Err(e) = audit::export(&state.store, &q, csv, emit).await {
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    let body =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let content_type = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response()
}

async fn usage_response(state: AppState, params: UsageParams) -> Result<Response, ApiError> {
    let q = params.query()?;
    match params.format.as_deref() {
        Some("csv") => return Ok(export_response(state, q, true)),
        Some("jsonl") => return Ok(export_response(state, q, false)),
        None | Some("json") => {}
        Some(other) => {
            return Err(ApiError::invalid_field(
                "format",
                format!("format '{other}' is not json, csv or jsonl"),
            ))
        }
    }
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "limit must be between 1 and 1000",
        ));
    }
    let before = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(audit::parse_cursor(c).ok_or_else(|| {
            ApiError::invalid_field("cursor", "cursor is not one this API returned")
        })?),
    };
    let (data, next) = audit::page(&state.store, &q, before, limit).await?;
    Ok(Json(json!({"data": data, "next_cursor": next.map(audit::cursor)})).into_response())
}

/// The audit trail: call records newest first, with their adjustments; cursor pages that stay
/// stable while calls arrive; `format=csv|jsonl` streams the whole selection.
#[utoipa::path(get, path = "/admin/usage", tag = "reports", security(("admin" = [])), params(UsageParams),
    responses((status = 200, description = "{data, next_cursor}, or a CSV/JSONL export"), (status = 400, description = "Invalid parameter"), (status = 401, description = "Missing or wrong admin token")))]
pub async fn admin_usage(
    _: Admin,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<UsageParams>,
) -> Result<Response, ApiError> {
    usage_response(state, params).await
}

/// The caller's own call records.
#[utoipa::path(get, path = "/v1/usage", tag = "reports", params(UsageParams),
    responses((status = 200, description = "As GET /admin/usage, for the caller's key"), (status = 401, description = "Bad API key")))]
pub async fn own_usage(
    Caller(key): Caller,
    State(state): State<AppState>,
    ApiQuery(mut params): ApiQuery<UsageParams>,
) -> Result<Response, ApiError> {
    params.key = Some(key.id);
    params.team = None;
    usage_response(state, params).await
}

/// `POST /admin/usage/{id}/adjustments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdjustment {
    /// `refund` (the whole net cost back), `reprice` (to the prices in effect at `price_at`,
    /// default now) or `correction` (by `cost_delta_usd`).
    pub kind: String,
    pub reason: Option<String>,
    #[schema(value_type = Option<String>)]
    pub cost_delta_usd: Option<rust_decimal::Decimal>,
    pub price_at: Option<DateTime<Utc>>,
}

/// Append a correction to a call's cost; the record itself never changes.
#[utoipa::path(post, path = "/admin/usage/{id}/adjustments", tag = "reports", security(("admin" = [])), request_body = NewAdjustment,
    params(("id" = String, Path, description = "Call id")),
    responses((status = 201, description = "The adjustment, with the call's new net cost"), (status = 400, description = "Invalid field, or an amount beyond the ledger's maximum ($9,223,372.036854775807)"),
        (status = 404, description = "No such call"), (status = 409, description = "The call was adjusted concurrently; retry"), (status = 422, description = "The net cost would go below zero, or no price to re-price at")))]
pub async fn adjust(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewAdjustment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let record = state
        .store
        .usage_record(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("usage_not_found", format!("no call '{id}'")))?;
    // Sums in i128, so no sum of stored amounts can overflow here; the results are checked
    // against what the ledger holds (an i64 of picodollars) before anything is written.
    let previous: i128 = state
        .store
        .adjustments_for(std::slice::from_ref(&id))
        .await?
        .iter()
        .map(|a| i128::from(a.cost_delta_picos))
        .sum();
    let recorded = to_picos(record.cost).ok_or_else(ApiError::internal)?;
    let net = i128::from(recorded) + previous;
    let unprocessable = |m: String| ApiError::new(ErrorKind::Unprocessable, "unprocessable", m);
    let (delta, version): (i128, _) = match body.kind.as_str() {
        "refund" => (-net, None),
        "correction" => {
            let d = body.cost_delta_usd.ok_or_else(|| {
                ApiError::invalid_field("cost_delta_usd", "a correction needs cost_delta_usd")
            })?;
            if d.normalize().scale() > 12 {
                return Err(ApiError::invalid_field(
                    "cost_delta_usd",
                    "cost_delta_usd has more than 12 decimal places",
                ));
            }
            let picos = to_picos(d).ok_or_else(|| {
                amount_too_large(format!("cost_delta_usd {d} exceeds the ledger's maximum"))
            })?;
            (i128::from(picos), None)
        }
        "reprice" => {
            let at = body.price_at.unwrap_or_else(Utc::now);
            let snapshot = state.catalog.snapshot();
            let v = snapshot
                .get(&record.model_id)
                .and_then(|e| e.price_at(at))
                .ok_or_else(|| {
                    unprocessable(format!("model '{}' had no price at {at}", record.model_id))
                })?;
            let repriced = to_picos(v.prices.cost(&record.usage)).ok_or_else(|| {
                amount_too_large(
                    "the re-priced cost of the call exceeds the ledger's maximum".into(),
                )
            })?;
            (i128::from(repriced) - net, Some(v.id))
        }
        other => {
            return Err(ApiError::invalid_field(
                "kind",
                format!("kind '{other}' is not refund, reprice or correction"),
            ))
        }
    };
    let after = net + delta;
    if after < 0 {
        return Err(unprocessable(
            "the adjustment would make the call's net cost negative".into(),
        ));
    }
    let (Ok(delta), Ok(after), Ok(net)) = (
        i64::try_from(delta),
        i64::try_from(after),
        i64::try_from(net),
    ) else {
        return Err(amount_too_large(
            "the call's net cost after this adjustment exceeds the ledger's maximum".into(),
        ));
    };
    let adj = AdjustmentRow {
        id: format!("adj_{}", uuid::Uuid::now_v7().simple()),
        usage_id: id,
        created_at: Utc::now().timestamp_millis(),
        kind: body.kind,
        reason: body.reason,
        cost_delta_picos: delta,
        price_version_id: version,
    };
    state
        .store
        .insert_adjustment(&adj, &record, net)
        .await
        .map_err(|e| match e {
            StoreError::Unprocessable { field, message } if field == "cost_delta_usd" => ApiError {
                param: Some(field),
                ..ApiError::bad_request("amount_too_large", message)
            },
            other => other.into(),
        })?;
    let mut out = audit::adjustment_json(&adj);
    out["net_cost_usd"] = format_usd(from_picos(after)).into();
    Ok((StatusCode::CREATED, Json(out)))
}

/// 400 `amount_too_large` on `cost_delta_usd`, stating the ledger's maximum.
fn amount_too_large(what: String) -> ApiError {
    ApiError {
        param: Some("cost_delta_usd".into()),
        ..ApiError::bad_request(
            "amount_too_large",
            format!(
                "{what}: the ledger holds at most ${LEDGER_MAX_USD} in one amount (an i64 of picodollars)"
            ),
        )
    }
}

/// `POST /v1/estimate`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EstimateRequest {
    pub model: String,
    /// Chat messages (either format) to count; or give `input_tokens`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub messages: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub system: Option<Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Value>,
    pub input_tokens: Option<u64>,
    /// Known output size; without it the estimate is a range up to `max_tokens`.
    pub output_tokens: Option<u64>,
    pub max_tokens: Option<u64>,
}

/// The cost of a call on a model and on each of its related models, cheapest first.
#[utoipa::path(post, path = "/v1/estimate", tag = "reports", request_body = EstimateRequest,
    responses((status = 200, description = "Estimate with related models"), (status = 400, description = "Invalid body"), (status = 401, description = "Bad API key"), (status = 404, description = "Unknown model")))]
pub async fn estimate(
    _: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EstimateRequest>,
) -> Result<Json<Value>, ApiError> {
    advice::check_tokens("input_tokens", body.input_tokens)?;
    advice::check_tokens("output_tokens", body.output_tokens)?;
    advice::check_tokens("max_tokens", body.max_tokens)?;
    let snapshot = state.catalog.snapshot();
    // The name a call would send: an alias prices its model.
    let entry = snapshot
        .resolve(&body.model)
        .ok_or_else(|| model_not_found(&body.model))?;
    let input = match (body.input_tokens, &body.messages) {
        (Some(n), _) => n,
        (None, Some(messages)) => {
            let doc = json!({"messages": messages, "system": body.system, "tools": body.tools});
            tokens::count_request(&doc)
        }
        (None, None) => {
            return Err(ApiError::invalid_field(
                "messages",
                "give messages or input_tokens",
            ))
        }
    };
    let max_output = body
        .max_tokens
        .or(entry.model.max_output_tokens.map(u64::from))
        .or(entry.model.default_params.max_tokens.map(u64::from))
        .unwrap_or(crate::protocol::anthropic::DEFAULT_MAX_TOKENS);
    Ok(Json(advice::estimate(
        &snapshot,
        entry,
        input,
        body.output_tokens,
        max_output,
        Utc::now(),
    )))
}

/// Token profile of `GET /v1/models/{id}/related`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProfileParams {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// A model's related models with their estimated cost for a token profile (default 1000 in,
/// 1000 out) and what each supports of the original.
#[utoipa::path(get, path = "/v1/models/{id}/related", tag = "catalog", params(("id" = String, Path, description = "Model id, or an alias"), ProfileParams),
    responses((status = 200, description = "Related models, cheapest first"), (status = 404, description = "Unknown model")))]
pub async fn related(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<ProfileParams>,
) -> Result<Json<Value>, ApiError> {
    advice::check_tokens("input_tokens", p.input_tokens)?;
    advice::check_tokens("output_tokens", p.output_tokens)?;
    let snapshot = state.catalog.snapshot();
    let entry = snapshot.resolve(&id).ok_or_else(|| model_not_found(&id))?;
    Ok(Json(advice::related_for_profile(
        &snapshot,
        entry,
        p.input_tokens.unwrap_or(1000),
        p.output_tokens.unwrap_or(1000),
        Utc::now(),
    )))
}

/// Query of `GET /admin/recommendations`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecommendationParams {
    pub key: Option<String>,
    pub team: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// For each model used in the period, what that exact usage would have cost on each related
/// model that supports the same capabilities, and the saving.
#[utoipa::path(get, path = "/admin/recommendations", tag = "reports", security(("admin" = [])), params(RecommendationParams),
    responses((status = 200, description = "Per model used: alternatives, cheapest first"), (status = 401, description = "Missing or wrong admin token")))]
pub async fn recommendations(
    _: Admin,
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<RecommendationParams>,
) -> Result<Json<Value>, ApiError> {
    let params = SpendParams {
        from: p.from,
        to: p.to,
        key: p.key.clone(),
        team: p.team.clone(),
        group_by: Some("model".into()),
        ..SpendParams::default()
    };
    let query = params.parse(Utc::now())?;
    let (from, to) = (query.from, query.to);
    let report = spend(&state.store, &state.catalog.snapshot(), query).await?;
    let snapshot = state.catalog.snapshot();
    let filters = Filters {
        key: p.key,
        team: p.team,
        ..Filters::default()
    };
    let mut models = Vec::new();
    for row in &report.rows {
        let model_id = row.dims.first().cloned().flatten().unwrap_or_default();
        let Some(entry) = snapshot.get(&model_id) else {
            continue;
        };
        let t = &row.totals;
        let usage = t.usage();
        let mut alternatives = Vec::new();
        // The model's calls, read once (only if a candidate's prices have tiers).
        let mut calls: Option<Vec<crate::pricing::Usage>> = None;
        for candidate in advice::suggestion_targets(&snapshot, entry) {
            let supports = advice::supports(entry, candidate);
            if !supports.all {
                continue;
            }
            let Some(prices) = candidate.price_at(Utc::now()).map(|v| v.prices.clone()) else {
                continue;
            };
            let cost = match prices.cost_of_sum(&usage, u64::try_from(t.requests).unwrap_or(0)) {
                Some(c) => c,
                None => {
                    if calls.is_none() {
                        calls = Some(
                            state
                                .store
                                .calls_of_model(
                                    &filters,
                                    &model_id,
                                    from.timestamp_millis(),
                                    to.timestamp_millis(),
                                )
                                .await?,
                        );
                    }
                    calls.iter().flatten().map(|u| prices.cost(u)).sum()
                }
            };
            alternatives.push((Some(cost), json!({"model": candidate.model.id, "name": candidate.model.name, "cost_usd": format_usd(cost),
                "saving_usd": format_usd(t.cost() - cost)})));
        }
        advice::sort_cheapest_first(&mut alternatives);
        models.push(
            json!({"model": model_id, "usage": t.view(), "cost_usd": format_usd(t.cost()),
            "alternatives": alternatives.into_iter().map(|(_, v)| v).collect::<Vec<_>>()}),
        );
    }
    Ok(Json(json!({"from": from, "to": to, "models": models})))
}
