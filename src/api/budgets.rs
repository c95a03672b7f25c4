//! Teams, prepaid credits, alerts, and `GET /v1/key`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::extract::{Admin, ApiJson, ApiQuery, Caller};
use super::status::{key_status, team_status};
use crate::budgets::{NewTeam, Team, TeamPatch};
use crate::error::{ApiError, ErrorKind};
use crate::money::{format_usd, from_picos, to_picos};
use crate::state::AppState;

fn team_not_found(id: &str) -> ApiError {
    ApiError::not_found("team_not_found", format!("team '{id}' does not exist"))
}

/// Create a team.
#[utoipa::path(post, path = "/admin/teams", tag = "budgets", security(("admin" = [])), request_body = NewTeam,
    responses((status = 201, description = "The team"), (status = 400, description = "Invalid field"), (status = 409, description = "Team exists")))]
pub async fn create_team(
    _: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewTeam>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let team = body.into_team()?;
    state.store.insert_team(&team).await?;
    state.teams.reload(&state.store).await?;
    Ok((StatusCode::CREATED, Json(team_status(&state, &team).await?)))
}

/// List teams.
#[utoipa::path(get, path = "/admin/teams", tag = "budgets", security(("admin" = [])), responses((status = 200, body = Vec<Team>)))]
pub async fn list_teams(_: Admin, State(state): State<AppState>) -> Json<Vec<Team>> {
    let mut teams: Vec<Team> = state.teams.all().values().cloned().collect();
    teams.sort_by(|a, b| a.id.cmp(&b.id));
    Json(teams)
}

/// One team with its budget status, balance and rate limits.
#[utoipa::path(get, path = "/admin/teams/{id}", tag = "budgets", security(("admin" = [])), params(("id" = String, Path, description = "Team id")),
    responses((status = 200, description = "The team"), (status = 404, description = "No such team")))]
pub async fn get_team(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let team = state.teams.get(&id).ok_or_else(|| team_not_found(&id))?;
    Ok(Json(team_status(&state, &team).await?))
}

/// Change a team.
#[utoipa::path(patch, path = "/admin/teams/{id}", tag = "budgets", security(("admin" = [])), request_body = TeamPatch, params(("id" = String, Path, description = "Team id")),
    responses((status = 200, description = "The team"), (status = 400, description = "Invalid field"), (status = 404, description = "No such team")))]
pub async fn update_team(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<TeamPatch>,
) -> Result<Json<Value>, ApiError> {
    patch.validate()?;
    let columns = patch.columns();
    if !columns.is_empty() {
        // Only the fields given, in the database; the in-memory copy is then reloaded from it.
        state
            .store
            .patch_team(&id, &columns)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::NotFound(_) => team_not_found(&id),
                other => other.into(),
            })?;
        state.teams.reload(&state.store).await?;
    }
    let team = state.teams.get(&id).ok_or_else(|| team_not_found(&id))?;
    Ok(Json(team_status(&state, &team).await?))
}

/// Delete a team no live key belongs to.
#[utoipa::path(delete, path = "/admin/teams/{id}", tag = "budgets", security(("admin" = [])), params(("id" = String, Path, description = "Team id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such team"), (status = 409, description = "Keys still belong to it")))]
pub async fn delete_team(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_team(&id).await?;
    state.teams.reload(&state.store).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/keys/{id}/credits` and `/admin/teams/{id}/credits`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredit {
    #[schema(value_type = String, example = "25.00")]
    pub amount_usd: rust_decimal::Decimal,
    /// `grant` (top-up, default) or `refund`.
    pub kind: Option<String>,
    pub note: Option<String>,
}

async fn grant(
    state: &AppState,
    owner: &str,
    id: &str,
    body: NewCredit,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let kind = body.kind.unwrap_or_else(|| "grant".into());
    if !matches!(kind.as_str(), "grant" | "refund") {
        return Err(ApiError::invalid_field("kind", "kind is grant or refund"));
    }
    let amount = to_picos(body.amount_usd)
        .filter(|a| *a > 0)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "amount_usd",
                "amount_usd must be positive, with at most 12 decimal places",
            )
        })?;
    let balance = state
        .store
        .grant_credit(owner, id, &kind, amount, body.note.as_deref())
        .await?;
    state.credits.add(owner, id);
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"owner": owner, "id": id, "kind": kind, "amount_usd": format_usd(from_picos(amount)), "balance_usd": format_usd(from_picos(balance))}),
        ),
    ))
}

/// Add prepaid credit to a key (append-only ledger).
#[utoipa::path(post, path = "/admin/keys/{id}/credits", tag = "budgets", security(("admin" = [])), request_body = NewCredit, params(("id" = String, Path, description = "Key id")),
    responses((status = 201, description = "The grant and the new balance"), (status = 404, description = "No such key")))]
pub async fn key_credits(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewCredit>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !state.keys.all().values().any(|k| k.id == id) {
        return Err(ApiError::not_found(
            "key_not_found",
            format!("key '{id}' does not exist"),
        ));
    }
    grant(&state, "key", &id, body).await
}

/// Add prepaid credit to a team.
#[utoipa::path(post, path = "/admin/teams/{id}/credits", tag = "budgets", security(("admin" = [])), request_body = NewCredit, params(("id" = String, Path, description = "Team id")),
    responses((status = 201, description = "The grant and the new balance"), (status = 404, description = "No such team")))]
pub async fn team_credits(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewCredit>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if state.teams.get(&id).is_none() {
        return Err(team_not_found(&id));
    }
    grant(&state, "team", &id, body).await
}

/// Query of a credit ledger.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerParams {
    /// Entries per page, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A prepaid account's balance and a page of its ledger, newest first.
async fn ledger(
    state: &AppState,
    owner: &str,
    id: &str,
    p: LedgerParams,
) -> Result<Json<Value>, ApiError> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "limit must be between 1 and 1000",
        ));
    }
    let before = match p.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            ApiError::invalid_field("cursor", "cursor is not one this API returned")
        })?),
    };
    let rows = state
        .store
        .credit_entries(owner, id, before, limit + 1)
        .await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    let rows = &rows[..rows.len().min(usize::try_from(limit).unwrap_or(usize::MAX))];
    let next = if more {
        rows.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    let (balance, reserved) = state.store.balance(owner, id).await?.unwrap_or((0, 0));
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"id": r.id, "kind": r.kind, "amount_usd": format_usd(from_picos(r.amount_picos)),
                "usage_id": r.usage_id, "note": r.note,
                "created_at": chrono::DateTime::<chrono::Utc>::from_timestamp_millis(r.created_at)})
        })
        .collect();
    Ok(Json(json!({
        "owner": owner, "id": id,
        "balance_usd": format_usd(from_picos(balance)), "reserved_usd": format_usd(from_picos(reserved)),
        "available_usd": format_usd(from_picos((balance - reserved).max(0))),
        "data": data, "next_cursor": next,
    })))
}

/// A key's prepaid balance and its credit ledger (grants, refunds, free tier, usage), newest
/// first, in cursor pages.
#[utoipa::path(get, path = "/admin/keys/{id}/credits", tag = "budgets", security(("admin" = [])), params(("id" = String, Path, description = "Key id"), LedgerParams),
    responses((status = 200, description = "{owner, id, balance_usd, reserved_usd, available_usd, data, next_cursor}"), (status = 404, description = "No such key")))]
pub async fn key_ledger(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<LedgerParams>,
) -> Result<Json<Value>, ApiError> {
    if !state.keys.all().values().any(|k| k.id == id) {
        return Err(ApiError::not_found(
            "key_not_found",
            format!("key '{id}' does not exist"),
        ));
    }
    ledger(&state, "key", &id, p).await
}

/// A team's prepaid balance and its credit ledger, newest first, in cursor pages.
#[utoipa::path(get, path = "/admin/teams/{id}/credits", tag = "budgets", security(("admin" = [])), params(("id" = String, Path, description = "Team id"), LedgerParams),
    responses((status = 200, description = "{owner, id, balance_usd, reserved_usd, available_usd, data, next_cursor}"), (status = 404, description = "No such team")))]
pub async fn team_ledger(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<LedgerParams>,
) -> Result<Json<Value>, ApiError> {
    if state.teams.get(&id).is_none() {
        return Err(team_not_found(&id));
    }
    ledger(&state, "team", &id, p).await
}

/// The caller's key's prepaid balance and credit ledger, newest first.
#[utoipa::path(get, path = "/v1/credits", tag = "budgets", params(LedgerParams),
    responses((status = 200, description = "As GET /admin/keys/{id}/credits, for the caller's key"), (status = 401, description = "Bad API key")))]
pub async fn own_ledger(
    Caller(key): Caller,
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<LedgerParams>,
) -> Result<Json<Value>, ApiError> {
    ledger(&state, "key", &key.id, p).await
}

/// The caller's key: budgets with spend this period, reserved, remaining and reset time;
/// balance; rate limits and what remains of them.
#[utoipa::path(get, path = "/v1/key", tag = "budgets", responses((status = 200, description = "{\"data\": {...}}"), (status = 401, description = "Bad API key")))]
pub async fn own_key(
    Caller(key): Caller,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let mut data = json!({"id": key.id, "name": key.name, "team": key.team, "key_prefix": key.key_prefix, "expires_at": key.expires_at});
    if let (Some(o), Some(s)) = (
        data.as_object_mut(),
        key_status(&state, &key).await?.as_object(),
    ) {
        o.extend(s.clone());
    }
    Ok(Json(json!({"data": data})))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertParams {
    /// Most alerts returned, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Alerts, newest first, with their delivery state.
#[utoipa::path(get, path = "/admin/alerts", tag = "budgets", security(("admin" = [])), params(AlertParams), responses((status = 200, description = "{\"data\": [...]}")))]
pub async fn alerts(
    _: Admin,
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<AlertParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "invalid_field",
            "limit must be between 1 and 1000",
        ));
    }
    let rows = state.store.list_alerts(limit).await?;
    let data: Vec<Value> = rows
        .into_iter()
        .map(|a| {
            let state_word = if a.delivered_at.is_some() { "delivered" } else if a.webhook_url.is_none() { "no_webhook" } else { "pending" };
            json!({"id": a.id, "type": a.kind, "scope": a.scope, "scope_id": a.scope_id,
                "payload": serde_json::from_str::<Value>(&a.payload).unwrap_or(Value::Null),
                "created_at": chrono::DateTime::<chrono::Utc>::from_timestamp_millis(a.created_at),
                "delivery": {"state": state_word, "webhook_url": a.webhook_url, "attempts": a.attempts,
                    "delivered_at": a.delivered_at.and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis),
                    "next_attempt_at": if a.delivered_at.is_none() && a.webhook_url.is_some() { json!(chrono::DateTime::<chrono::Utc>::from_timestamp_millis(a.next_attempt_at)) } else { Value::Null },
                    "last_error": a.last_error}})
        })
        .collect();
    Ok(Json(json!({"data": data})))
}
