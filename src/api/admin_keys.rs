//! Admin API for callers' keys. The secret is returned once, by `POST /admin/keys`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{Admin, ApiJson};
use crate::error::ApiError;
use crate::keys::{
    check_key_name, check_metadata, generate_secret, new_key_id, ApiKey, KeyPatch, NewKey,
};
use crate::state::AppState;

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

async fn save(state: &AppState, key: &ApiKey) -> Result<(), ApiError> {
    state.store.update_key(key).await?;
    state.keys.reload(&state.store).await?;
    Ok(())
}

fn check_models(state: &AppState, models: &Option<Vec<String>>) -> Result<(), ApiError> {
    let snapshot = state.catalog.snapshot();
    for (i, m) in models.iter().flatten().enumerate() {
        if snapshot.get(m).is_none() {
            return Err(ApiError::invalid_field(
                format!("allowed_models[{i}]"),
                format!("model '{m}' does not exist"),
            ));
        }
    }
    Ok(())
}

/// Create a key.
#[utoipa::path(post, path = "/admin/keys", tag = "admin", security(("admin" = [])), request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 400, description = "Invalid field"), (status = 401, description = "Missing or wrong admin token")))]
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
    responses((status = 200, body = ApiKey), (status = 400, description = "Invalid field"), (status = 401, description = "Missing or wrong admin token"), (status = 404, description = "No such key")))]
pub async fn update_key(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<KeyPatch>,
) -> Result<Json<ApiKey>, ApiError> {
    let mut key = find(&state, &id)?;
    if let Some(name) = patch.name {
        check_key_name(&name)?;
        key.name = name;
    }
    if let Some(metadata) = patch.metadata {
        check_metadata(&metadata)?;
        key.metadata = metadata;
    }
    if let Some(models) = patch.allowed_models {
        check_models(&state, &models)?;
        key.allowed_models = models;
    }
    if let Some(team) = &patch.team {
        check_team(&state, team)?;
    }
    if let Some(Some(b)) = &patch.budget {
        b.validate("budget")?;
    }
    if let Some(url) = &patch.webhook_url {
        crate::budgets::check_webhook(url)?;
    }
    key.budget = patch.budget.unwrap_or(key.budget);
    key.rate_limits = patch.rate_limits.unwrap_or(key.rate_limits);
    key.webhook_url = patch.webhook_url.unwrap_or(key.webhook_url);
    key.disabled = patch.disabled.unwrap_or(key.disabled);
    key.expires_at = patch.expires_at.unwrap_or(key.expires_at);
    key.team = patch.team.unwrap_or(key.team);
    save(&state, &key).await?;
    Ok(Json(key))
}

/// Revoke a key: it stops working at once; its record and usage history stay.
#[utoipa::path(delete, path = "/admin/keys/{id}", tag = "admin", security(("admin" = [])), params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = ApiKey), (status = 401, description = "Missing or wrong admin token"), (status = 404, description = "No such key")))]
pub async fn revoke_key(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    let mut key = find(&state, &id)?;
    if key.revoked_at.is_none() {
        key.revoked_at = Some(Utc::now());
        save(&state, &key).await?;
    }
    Ok(Json(key))
}
