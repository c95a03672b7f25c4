//! API keys of gateway callers.
//!
//! A key's secret (`tg-…`) is shown once, at creation, and stored only as its SHA-256. Keys are
//! held in memory (a [`KeyRing`] rebuilt from the database after every admin change) so
//! authenticating a call costs one hash and one map lookup, not a database query. Admin writes
//! go to the database as field-level updates and never from the in-memory copy; revocation is
//! final.

mod input;

pub use input::*;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorKind};
use crate::store::{Store, StoreError};

/// A caller's key, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub team: Option<String>,
    /// The first characters of the secret, to recognise it by.
    pub key_prefix: String,
    /// Models this key may call; `null` = every model.
    pub allowed_models: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub disabled: bool,
    pub revoked_at: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub budget: Option<crate::budgets::Budget>,
    pub rate_limits: Option<crate::budgets::RateLimits>,
    /// Where this key's alerts go (else its team's, else the gateway's).
    pub webhook_url: Option<String>,
    #[serde(skip)]
    pub key_hash: String,
}

impl ApiKey {
    /// Why this key cannot be used now, if it cannot.
    pub fn refusal(&self, now: DateTime<Utc>) -> Option<&'static str> {
        if self.revoked_at.is_some() {
            Some("this API key has been revoked")
        } else if self.disabled {
            Some("this API key is disabled")
        } else if self.expires_at.is_some_and(|t| t <= now) {
            Some("this API key has expired")
        } else {
            None
        }
    }

    /// Whether the key may call `model_id`.
    pub fn allows(&self, model_id: &str) -> bool {
        self.allowed_models
            .as_ref()
            .is_none_or(|list| list.iter().any(|m| m == model_id))
    }
}

/// A new secret and the hash that is stored for it.
pub fn generate_secret() -> (String, String) {
    let bytes: [u8; 24] = rand::random();
    let secret = format!("tg-{}", hex::encode(bytes));
    let hash = hash_secret(&secret);
    (secret, hash)
}

/// The hex SHA-256 of a key's secret, as stored. Encoded into a buffer, not char by char: it runs
/// on every call.
pub fn hash_secret(secret: &str) -> String {
    let mut out = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(secret.as_bytes()), &mut out)
        .expect("32 bytes are 64 hex digits");
    String::from_utf8(out.to_vec()).expect("hex digits are ASCII")
}

/// A new key id.
pub fn new_key_id() -> String {
    format!("key_{}", uuid::Uuid::now_v7().simple())
}

/// All keys, indexed by the hash of their secret: a read-only copy of the database, rebuilt
/// from it after every admin write and never written back.
#[derive(Clone, Default)]
pub struct KeyRing {
    by_hash: Arc<RwLock<Loaded<HashMap<String, ApiKey>>>>,
    loads: Arc<AtomicU64>,
}

/// A map loaded from the database, with the number of the load that read it.
#[derive(Default)]
pub struct Loaded<T> {
    generation: u64,
    map: Arc<T>,
}

impl<T> Loaded<T> {
    /// Installs `map` read by load `generation` unless a later load is already installed.
    /// Loads are numbered before they read, so a later number read a database at least as new
    /// as every write that committed before it started: two concurrent reloads can never put
    /// back a copy older than the last write (a revocation stays visible).
    pub fn install(&mut self, generation: u64, map: T) {
        if generation > self.generation {
            *self = Loaded {
                generation,
                map: Arc::new(map),
            };
        }
    }

    pub fn map(&self) -> Arc<T> {
        self.map.clone()
    }
}

impl KeyRing {
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let generation = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
        let keys = store.load_keys().await?;
        let map = keys.into_iter().map(|k| (k.key_hash.clone(), k)).collect();
        self.by_hash
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .install(generation, map);
        Ok(())
    }

    pub fn all(&self) -> Arc<HashMap<String, ApiKey>> {
        self.by_hash
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map()
    }

    /// The usable key whose secret this is; 401 when missing, unknown, revoked, disabled or
    /// expired.
    pub fn authenticate(
        &self,
        secret: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, ApiError> {
        let secret = secret.ok_or_else(|| {
            ApiError::unauthorized("missing API key: send Authorization: Bearer <key> or x-api-key")
        })?;
        let hash = hash_secret(secret);
        let keys = self.all();
        let key = keys
            .get(&hash)
            .filter(|k| bool::from(k.key_hash.as_bytes().ct_eq(hash.as_bytes())))
            .ok_or_else(|| ApiError::unauthorized("invalid API key"))?;
        if let Some(why) = key.refusal(now) {
            return Err(ApiError::unauthorized(why));
        }
        Ok(key.clone())
    }
}

/// 403 for a model outside the key's allowed list.
pub fn forbidden_model(model: &str) -> ApiError {
    ApiError::new(
        ErrorKind::Forbidden,
        "model_not_allowed",
        format!("this API key may not call model '{model}'"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored keys are found by this hash, so its text must never change: lowercase hex of
    /// SHA-256 (FIPS 180-2's "abc" vector), or every key already issued stops authenticating.
    #[test]
    fn a_secrets_hash_is_the_lowercase_hex_sha256_keys_were_stored_with() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (secret, hash) = generate_secret();
        assert_eq!(hash, hex::encode(Sha256::digest(secret.as_bytes())));
    }
}
