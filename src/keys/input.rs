//! Admin inputs for keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use crate::error::FieldError;

/// `POST /admin/keys`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    #[schema(example = "alice")]
    pub name: String,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[serde(default)]
    pub allowed_models: Option<Vec<String>>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub budget: Option<crate::budgets::Budget>,
    #[serde(default)]
    pub rate_limits: Option<crate::budgets::RateLimits>,
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// `PATCH /admin/keys/{id}`: only the fields given change; `null` clears a nullable one.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    pub name: Option<String>,
    pub disabled: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub team: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::budgets::Budget>)]
    pub budget: Option<Option<crate::budgets::Budget>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::budgets::RateLimits>)]
    pub rate_limits: Option<Option<crate::budgets::RateLimits>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Option<Option<String>>,
}

fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

pub fn check_key_name(name: &str) -> Result<(), FieldError> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(FieldError {
            field: "name".into(),
            message: "name must be 1-200 characters".into(),
        });
    }
    Ok(())
}

pub fn check_metadata(metadata: &serde_json::Value) -> Result<(), FieldError> {
    if metadata.is_object() {
        Ok(())
    } else {
        Err(FieldError {
            field: "metadata".into(),
            message: "metadata must be a JSON object".into(),
        })
    }
}
