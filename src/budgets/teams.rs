//! Teams: groups of keys with a shared budget, balance, rate limits and alert webhook.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::{Budget, RateLimits};
use crate::error::FieldError;
use crate::store::keys::Column;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub budget: Option<Budget>,
    pub rate_limits: Option<RateLimits>,
    pub webhook_url: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// `POST /admin/teams`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    pub id: String,
    pub name: Option<String>,
    pub budget: Option<Budget>,
    pub rate_limits: Option<RateLimits>,
    pub webhook_url: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// `PATCH /admin/teams/{id}`; `null` clears a nullable field.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Budget>)]
    pub budget: Option<Option<Budget>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<RateLimits>)]
    pub rate_limits: Option<Option<RateLimits>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

pub fn check_webhook(url: &Option<String>) -> Result<(), FieldError> {
    match url {
        Some(u) if !matches!(reqwest::Url::parse(u), Ok(p) if matches!(p.scheme(), "http" | "https")) => {
            Err(FieldError {
                field: "webhook_url".into(),
                message: "webhook_url must be an absolute http(s) URL".into(),
            })
        }
        _ => Ok(()),
    }
}

impl NewTeam {
    pub fn into_team(self) -> Result<Team, FieldError> {
        if !crate::catalog::is_valid_id(&self.id) {
            return Err(FieldError {
                field: "id".into(),
                message: "id must be 1-128 characters of letters, digits, '.', '_', '-' or ':'"
                    .into(),
            });
        }
        if let Some(b) = &self.budget {
            b.validate("budget")?;
        }
        check_webhook(&self.webhook_url)?;
        Ok(Team {
            name: self.name.unwrap_or_else(|| self.id.clone()),
            id: self.id,
            budget: self.budget,
            rate_limits: self.rate_limits,
            webhook_url: self.webhook_url,
            metadata: self.metadata.unwrap_or_else(|| serde_json::json!({})),
            created_at: Utc::now(),
        })
    }
}

impl TeamPatch {
    /// Checks the fields given.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(Some(b)) = &self.budget {
            b.validate("budget")?;
        }
        if let Some(url) = &self.webhook_url {
            check_webhook(url)?;
        }
        Ok(())
    }

    /// The columns this patch changes, and nothing else (for a field-level update).
    pub fn columns(self) -> Vec<(&'static str, Column)> {
        let mut out = Vec::new();
        if let Some(name) = self.name {
            out.push(("name", Column::Text(Some(name))));
        }
        if let Some(b) = self.budget {
            out.push(("budget", Column::json(b.as_ref())));
        }
        if let Some(r) = self.rate_limits {
            out.push(("rate_limits", Column::json(r.as_ref())));
        }
        if let Some(url) = self.webhook_url {
            out.push(("webhook_url", Column::Text(url)));
        }
        if let Some(m) = self.metadata {
            out.push(("metadata", Column::json(Some(&m))));
        }
        out
    }
}

/// All teams in memory: a read-only copy of the database, rebuilt from it after each admin
/// write (see [`crate::keys::Loaded`] for why concurrent reloads cannot go back in time).
#[derive(Clone, Default)]
pub struct TeamRing {
    teams: Arc<RwLock<crate::keys::Loaded<HashMap<String, Team>>>>,
    loads: Arc<AtomicU64>,
}

impl TeamRing {
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let generation = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
        let map = store
            .load_teams()
            .await?
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        self.teams
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .install(generation, map);
        Ok(())
    }

    pub fn all(&self) -> Arc<HashMap<String, Team>> {
        self.teams
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map()
    }

    pub fn get(&self, id: &str) -> Option<Team> {
        self.all().get(id).cloned()
    }
}
