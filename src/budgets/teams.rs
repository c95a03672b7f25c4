//! Teams: groups of keys with a shared budget, balance, rate limits and alert webhook.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::{Budget, RateLimits};
use crate::error::FieldError;
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
    pub fn apply(self, mut t: Team) -> Result<Team, FieldError> {
        if let Some(Some(b)) = &self.budget {
            b.validate("budget")?;
        }
        if let Some(url) = &self.webhook_url {
            check_webhook(url)?;
        }
        t.name = self.name.unwrap_or(t.name);
        t.budget = self.budget.unwrap_or(t.budget);
        t.rate_limits = self.rate_limits.unwrap_or(t.rate_limits);
        t.webhook_url = self.webhook_url.unwrap_or(t.webhook_url);
        t.metadata = self.metadata.unwrap_or(t.metadata);
        Ok(t)
    }
}

/// All teams in memory, rebuilt after each admin change.
#[derive(Clone, Default)]
pub struct TeamRing {
    teams: Arc<RwLock<Arc<HashMap<String, Team>>>>,
}

impl TeamRing {
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let map = store
            .load_teams()
            .await?
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        *self.teams.write().expect("team lock poisoned") = Arc::new(map);
        Ok(())
    }

    pub fn all(&self) -> Arc<HashMap<String, Team>> {
        self.teams.read().expect("team lock poisoned").clone()
    }

    pub fn get(&self, id: &str) -> Option<Team> {
        self.all().get(id).cloned()
    }
}
