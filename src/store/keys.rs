//! API key statements.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::tx::{on_tx, Tx};
use super::{from_millis, on_pool, parse_json, to_json, to_millis, Store, StoreError};
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
        on_pool!(self, |pool| sqlx::query_as::<_, KeyRow>(
            "SELECT id, name, team_id, key_hash, key_prefix, allowed_models, expires_at, disabled, \
             revoked_at, metadata, created_at, budget, rate_limits, webhook_url FROM api_keys ORDER BY created_at, id",
        )
        .fetch_all(pool)
        .await)?
        .into_iter()
        .map(KeyRow::into_key)
        .collect()
    }

    pub async fn insert_key(&self, k: &ApiKey) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
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
        .execute(pool)
        .await
        .map(drop)
        })?;
        Ok(())
    }

    /// Changes only the given columns of a key, in one statement (never a rewrite of the row
    /// from a copy, so concurrent changes of other fields — a revocation above all — are never
    /// undone). Revocation is final: re-enabling (`disabled = false`) a revoked key is a
    /// [`StoreError::Conflict`] and changes nothing.
    pub async fn patch_key(
        &self,
        id: &str,
        columns: &[(&'static str, Column)],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // Locked on PostgreSQL (`FOR UPDATE`): a revocation committed between this read and the
        // update below must not be missed (SQLite: `BEGIN IMMEDIATE` already serialises them).
        let sql = format!(
            "SELECT revoked_at FROM api_keys WHERE id = $1{}",
            tx.lock_rows()
        );
        let row: Option<(Option<i64>,)> = on_tx!(&mut tx, |conn| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(conn)
            .await)?;
        let Some((revoked_at,)) = row else {
            return Err(StoreError::NotFound(format!("key '{id}' not found")));
        };
        let re_enables = columns
            .iter()
            .any(|(c, v)| *c == "disabled" && matches!(v, Column::Bool(false)));
        if revoked_at.is_some() && re_enables {
            return Err(StoreError::Conflict(format!(
                "key '{id}' is revoked; revocation is final (create a new key)"
            )));
        }
        update_columns(&mut tx, "api_keys", id, columns).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes a key (the first revocation time stays). One statement; the rest of the row is
    /// untouched.
    pub async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let done = on_pool!(self, |pool| {
            sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2), updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(to_millis(at))
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
        })?;
        if done == 0 {
            return Err(StoreError::NotFound(format!("key '{id}' not found")));
        }
        Ok(())
    }
}

/// A column's new value in a field-level update.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
}

impl Column {
    /// A value stored as JSON text (`None` stores NULL).
    pub fn json<T: serde::Serialize>(value: Option<&T>) -> Self {
        Column::Text(value.map(to_json))
    }

    pub fn time(value: Option<DateTime<Utc>>) -> Self {
        Column::Int(value.map(to_millis))
    }
}

/// `UPDATE <table> SET <only these columns>, updated_at = now WHERE id = ?`; not found when no
/// row has the id. Column names come from the code, never from input.
pub(super) async fn update_columns(
    tx: &mut Tx,
    table: &'static str,
    id: &str,
    columns: &[(&'static str, Column)],
) -> Result<(), StoreError> {
    let mut sets: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{c} = ${}", i + 2))
        .collect();
    sets.push(format!("updated_at = ${}", columns.len() + 2));
    let sql = format!("UPDATE {table} SET {} WHERE id = $1", sets.join(", "));
    let now = to_millis(Utc::now());
    let done = on_tx!(tx, |conn| {
        let mut q = sqlx::query(&sql).bind(id);
        for (_, v) in columns {
            q = match v {
                Column::Text(t) => q.bind(t.clone()),
                Column::Int(n) => q.bind(*n),
                Column::Bool(b) => q.bind(*b),
            };
        }
        q.bind(now)
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
    })?;
    if done == 0 {
        return Err(StoreError::NotFound(format!("'{id}' not found in {table}")));
    }
    Ok(())
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
