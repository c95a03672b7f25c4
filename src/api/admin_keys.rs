//! Admin API for callers' keys. The secret is returned once, by `POST /admin/keys`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{Admin, ApiJson};
use crate::error::{ApiError, ErrorKind};
use crate::keys::{
    check_key_name, check_metadata, generate_secret, new_key_id, ApiKey, KeyPatch, NewKey,
};
use crate::state::AppState;
use crate::store::keys::Column;
use crate::store::StoreError;

/// A new key with its secret (shown only here).
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The secret; store it now, it cannot be shown again.
    #[schema(example = "tg-…")]
    #[serde(rename = "key")]
    pub secret: String,
    /// Budgets with their spend this period, balance and rate limits.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub status: serde_json::Value,
}

fn check_team(state: &AppState, team: &Option<String>) -> Result<(), ApiError> {
    match team {
        Some(t) if state.teams.get(t).is_none() => Err(ApiError::new(
            crate::error::ErrorKind::Unprocessable,
            "unprocessable",
            format!("team '{t}' does not exist; create it with POST /admin/teams"),
        )),
        _ => Ok(()),
    }
}

fn key_not_found(id: &str) -> ApiError {
    ApiError::not_found("key_not_found", format!("key '{id}' does not exist"))
}

fn find(state: &AppState, id: &str) -> Result<ApiKey, ApiError> {
    state
        .keys
        .all()
        .values()
        .find(|k| k.id == id)
        .cloned()
        .ok_or_else(|| key_not_found(id))
}

/// Maps a store error of a key write: not found → 404 `key_not_found`, a conflict (re-enabling
/// a revoked key) → 409 `key_revoked`.
fn key_write_error(id: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(_) => key_not_found(id),
        StoreError::Conflict(m) => ApiError::new(ErrorKind::Conflict, "key_revoked", m),
        other => other.into(),
    }
}

fn check_models(state: &AppState, models: &Option<Vec<String>>) -> Result<(), ApiError> {
    let snapshot = state.catalog.snapshot();
    for (i, m) in models.iter().flatten().enumerate() {
        if snapshot.get(m).is_none() {
            // Allow-lists name catalog ids: they are checked against the model an alias
            // resolves to, so that moving an alias never widens what a key may call.
            let message = match snapshot.resolve(m) {
                Some(e) => format!(
                    "'{m}' is an alias of model '{}'; allowed_models lists catalog ids",
                    e.model.id
                ),
                None => format!("model '{m}' does not exist"),
            };
            return Err(ApiError::invalid_field(
                format!("allowed_models[{i}]"),
                message,
            ));
        }
    }
    Ok(())
}

/// Create a key.
#[utoipa::path(post, path = "/admin/keys", tag = "admin", security(("admin" = [])), request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 400, description = "Invalid field"), (status = 401, description = "Missing or wrong admin token"),
        (status = 422, description = "Unknown team")))]
pub async fn create_key(
    _: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    check_key_name(&body.name)?;
    let metadata = body.metadata.unwrap_or_else(|| serde_json::json!({}));
    check_metadata(&metadata)?;
    check_models(&state, &body.allowed_models)?;
    check_team(&state, &body.team)?;
    if let Some(b) = &body.budget {
        b.validate("budget")?;
    }
    crate::budgets::check_webhook(&body.webhook_url)?;
    let (secret, hash) = generate_secret();
    let key = ApiKey {
        id: new_key_id(),
        name: body.name,
        team: body.team,
        key_prefix: secret[..10].to_string(),
        allowed_models: body.allowed_models,
        expires_at: body.expires_at,
        disabled: false,
        revoked_at: None,
        metadata,
        created_at: Utc::now(),
        key_hash: hash,
        budget: body.budget,
        rate_limits: body.rate_limits,
        webhook_url: body.webhook_url,
    };
    state.store.insert_key(&key).await?;
    if state.budgets.free_tier_picos > 0 {
        state
            .store
            .grant_credit(
                "key",
                &key.id,
                "free_tier",
                state.budgets.free_tier_picos,
                Some("free tier"),
            )
            .await?;
        state.credits.add("key", &key.id);
    }
    state.keys.reload(&state.store).await?;
    let status = super::status::key_status(&state, &key).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key,
            secret,
            status,
        }),
    ))
}

/// List keys (never their secrets).
#[utoipa::path(get, path = "/admin/keys", tag = "admin", security(("admin" = [])),
    responses((status = 200, body = Vec<ApiKey>), (status = 401, description = "Missing or wrong admin token")))]
pub async fn list_keys(_: Admin, State(state): State<AppState>) -> Json<Vec<ApiKey>> {
    let mut keys: Vec<ApiKey> = state.keys.all().values().cloned().collect();
    keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Json(keys)
}

/// One key.
#[utoipa::path(get, path = "/admin/keys/{id}", tag = "admin", security(("admin" = [])), params(("id" = String, Path, description = "Key id")),
    responses((status = 200, description = "The key with its budgets, spend this period, balance and rate limits"), (status = 401, description = "Missing or wrong admin token"), (status = 404, description = "No such key")))]
pub async fn get_key(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = find(&state, &id)?;
    let mut out = serde_json::to_value(&key).unwrap_or_default();
    if let (Some(o), Some(status)) = (
        out.as_object_mut(),
        super::status::key_status(&state, &key).await?.as_object(),
    ) {
        o.extend(status.clone());
    }
    Ok(Json(out))
}

/// Change a key's name, disabled flag, allowed models, expiry, metadata or team.
#[utoipa::path(patch, path = "/admin/keys/{id}", tag = "admin", security(("admin" = [])), request_body = KeyPatch, params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = ApiKey), (status = 400, description = "Invalid field"), (status = 401, description = "Missing or wrong admin token"), (status = 404, description = "No such key"),
        (status = 409, description = "Re-enabling a revoked key (revocation is final)"), (status = 422, description = "Unknown team")))]
pub async fn update_key(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<KeyPatch>,
) -> Result<Json<ApiKey>, ApiError> {
    find(&state, &id)?;
    // Only the fields given are written, each as its own column: a PATCH never rewrites the
    // row from a copy, so it cannot undo a concurrent revocation or disabling.
    let mut columns = Vec::new();
    if let Some(name) = patch.name {
        check_key_name(&name)?;
        columns.push(("name", Column::Text(Some(name))));
    }
    if let Some(metadata) = patch.metadata {
        check_metadata(&metadata)?;
        columns.push(("metadata", Column::json(Some(&metadata))));
    }
    if let Some(models) = patch.allowed_models {
        check_models(&state, &models)?;
        columns.push(("allowed_models", Column::json(models.as_ref())));
    }
    if let Some(team) = patch.team {
        check_team(&state, &team)?;
        columns.push(("team_id", Column::Text(team)));
    }
    if let Some(budget) = patch.budget {
        if let Some(b) = &budget {
            b.validate("budget")?;
        }
        columns.push(("budget", Column::json(budget.as_ref())));
    }
    if let Some(limits) = patch.rate_limits {
        columns.push(("rate_limits", Column::json(limits.as_ref())));
    }
    if let Some(url) = patch.webhook_url {
        crate::budgets::check_webhook(&url)?;
        columns.push(("webhook_url", Column::Text(url)));
    }
    if let Some(disabled) = patch.disabled {
        columns.push(("disabled", Column::Bool(disabled)));
    }
    if let Some(expires_at) = patch.expires_at {
        columns.push(("expires_at", Column::time(expires_at)));
    }
    if !columns.is_empty() {
        state
            .store
            .patch_key(&id, &columns)
            .await
            .map_err(|e| key_write_error(&id, e))?;
        state.keys.reload(&state.store).await?;
    }
    Ok(Json(find(&state, &id)?))
}

/// Revoke a key: it stops working at once; its record and usage history stay. Revocation is
/// final: no PATCH undoes it, and re-enabling a revoked key (`disabled: false`) is a 409.
#[utoipa::path(delete, path = "/admin/keys/{id}", tag = "admin", security(("admin" = [])), params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = ApiKey), (status = 401, description = "Missing or wrong admin token"), (status = 404, description = "No such key")))]
pub async fn revoke_key(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    state
        .store
        .revoke_key(&id, Utc::now())
        .await
        .map_err(|e| key_write_error(&id, e))?;
    state.keys.reload(&state.store).await?;
    Ok(Json(find(&state, &id)?))
}
