//! API key statements.

use chrono::Utc;
use sqlx::FromRow;

use super::{from_millis, parse_json, to_json, to_millis, Store, StoreError};
use crate::keys::ApiKey;

#[derive(FromRow)]
struct KeyRow {
    id: String,
    name: String,
    team_id: Option<String>,
    key_hash: String,
    key_prefix: String,
    allowed_models: Option<String>,
    expires_at: Option<i64>,
    disabled: bool,
    revoked_at: Option<i64>,
    metadata: String,
    created_at: i64,
    budget: Option<String>,
    rate_limits: Option<String>,
    webhook_url: Option<String>,
}

impl Store {
    pub async fn load_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        sqlx::query_as::<_, KeyRow>(
            "SELECT id, name, team_id, key_hash, key_prefix, allowed_models, expires_at, disabled, \
             revoked_at, metadata, created_at, budget, rate_limits, webhook_url FROM api_keys ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(KeyRow::into_key)
        .collect()
    }

    pub async fn insert_key(&self, k: &ApiKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, team_id, key_hash, key_prefix, allowed_models, \
             expires_at, disabled, revoked_at, metadata, created_at, updated_at, budget, rate_limits, \
             webhook_url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14)",
        )
        .bind(&k.id)
        .bind(&k.name)
        .bind(&k.team)
        .bind(&k.key_hash)
        .bind(&k.key_prefix)
        .bind(k.allowed_models.as_ref().map(to_json))
        .bind(k.expires_at.map(to_millis))
        .bind(k.disabled)
        .bind(k.revoked_at.map(to_millis))
        .bind(to_json(&k.metadata))
        .bind(to_millis(k.created_at))
        .bind(k.budget.as_ref().map(to_json))
        .bind(k.rate_limits.as_ref().map(to_json))
        .bind(&k.webhook_url)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replaces a key's mutable fields (its secret hash never changes).
    pub async fn update_key(&self, k: &ApiKey) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET name = $2, team_id = $3, allowed_models = $4, expires_at = $5, \
             disabled = $6, revoked_at = $7, metadata = $8, updated_at = $9, budget = $10, \
             rate_limits = $11, webhook_url = $12 WHERE id = $1",
        )
        .bind(&k.id)
        .bind(&k.name)
        .bind(&k.team)
        .bind(k.allowed_models.as_ref().map(to_json))
        .bind(k.expires_at.map(to_millis))
        .bind(k.disabled)
        .bind(k.revoked_at.map(to_millis))
        .bind(to_json(&k.metadata))
        .bind(to_millis(Utc::now()))
        .bind(k.budget.as_ref().map(to_json))
        .bind(k.rate_limits.as_ref().map(to_json))
        .bind(&k.webhook_url)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("key '{}' not found", k.id)));
        }
        Ok(())
    }
}

impl KeyRow {
    fn into_key(self) -> Result<ApiKey, StoreError> {
        Ok(ApiKey {
            allowed_models: self
                .allowed_models
                .as_deref()
                .map(|s| parse_json("allowed_models", s))
                .transpose()?,
            expires_at: self.expires_at.map(from_millis).transpose()?,
            revoked_at: self.revoked_at.map(from_millis).transpose()?,
            metadata: parse_json("metadata", &self.metadata)?,
            budget: self
                .budget
                .as_deref()
                .map(|b| parse_json("budget", b))
                .transpose()?,
            rate_limits: self
                .rate_limits
                .as_deref()
                .map(|b| parse_json("rate_limits", b))
                .transpose()?,
            webhook_url: self.webhook_url,
            created_at: from_millis(self.created_at)?,
            id: self.id,
            name: self.name,
            team: self.team_id,
            key_hash: self.key_hash,
            key_prefix: self.key_prefix,
            disabled: self.disabled,
        })
    }
}
