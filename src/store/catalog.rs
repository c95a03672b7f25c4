//! Catalog statements: providers, models, price versions, related models, aliases.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::FromRow;

use super::tx::{on_tx, Tx};
use super::{from_millis, on_pool, parse_json, to_json, to_millis, Store, StoreError};
use crate::catalog::{
    Entry, Model, ModelParts, ModelStatus, Provider, ProviderKind, Snapshot, MAX_ALIASES_PER_MODEL,
};
use crate::pricing::{PriceVersion, Prices};

#[derive(FromRow)]
struct ProviderRow {
    id: String,
    kind: String,
    name: String,
    base_url: String,
    api_key_env: Option<String>,
    connect_timeout_ms: Option<i64>,
    first_byte_timeout_ms: Option<i64>,
    total_timeout_ms: Option<i64>,
    listing_only: bool,
}

#[derive(FromRow)]
struct ModelRow {
    id: String,
    name: String,
    creator: String,
    provider_id: String,
    upstream_model: String,
    description: String,
    context_length: Option<i64>,
    max_output_tokens: Option<i64>,
    input_modalities: String,
    capabilities: String,
    default_params: String,
    open_weights: bool,
    added_on: String,
    status: String,
    mode: String,
    deprecated_from: Option<String>,
}

#[derive(FromRow)]
struct PriceRow {
    id: i64,
    model_id: String,
    effective_from: i64,
    input_per_mtok: String,
    output_per_mtok: String,
    cached_input_per_mtok: Option<String>,
    cache_write_per_mtok: Option<String>,
    cache_write_1h_per_mtok: Option<String>,
    service_tiers: String,
    reasoning_per_mtok: Option<String>,
    per_request: String,
    per_image: String,
    per_web_search: String,
    tiers: String,
    source: Option<String>,
}

/// One recorded drift: a pinned model's source price beside the administrator's.
#[derive(Debug, FromRow)]
pub struct DriftRow {
    pub model_id: String,
    pub source: String,
    pub source_prices: String,
    pub pinned_prices: String,
    pub seen_at: i64,
}

#[derive(FromRow)]
struct RelatedRow {
    model_id: String,
    related_id: String,
}

#[derive(FromRow)]
struct AliasRow {
    alias: String,
    model_id: String,
}

const PRICE_COLUMNS: &str = "id, model_id, effective_from, input_per_mtok, output_per_mtok, \
     cached_input_per_mtok, cache_write_per_mtok, reasoning_per_mtok, per_request, per_image, tiers, \
     source, cache_write_1h_per_mtok, service_tiers, per_web_search";

/// Binds a model's columns in table order (`id` through `status`), shared by insert and update,
/// on a query of either backend.
macro_rules! bind_model {
    ($q:expr, $m:expr) => {{
        let m: &Model = $m;
        $q.bind(&m.id)
            .bind(&m.name)
            .bind(&m.creator)
            .bind(&m.provider)
            .bind(&m.upstream_model)
            .bind(&m.description)
            .bind(m.context_length.map(i64::from))
            .bind(m.max_output_tokens.map(i64::from))
            .bind(to_json(&m.input_modalities))
            .bind(to_json(&m.capabilities))
            .bind(to_json(&m.default_params))
            .bind(m.open_weights)
            .bind(m.added_on.to_string())
            .bind(m.status.as_str())
            .bind(&m.mode)
            .bind(m.deprecated_from.map(|d| d.to_string()))
    }};
}

const PROVIDER_EXISTS: &str = "SELECT id FROM providers WHERE id = $1";

impl Store {
    /// Reads the whole catalog into an immutable snapshot.
    pub async fn load_catalog(&self) -> Result<Snapshot, StoreError> {
        let providers = on_pool!(self, |pool| sqlx::query_as::<_, ProviderRow>(
            "SELECT id, kind, name, base_url, api_key_env, connect_timeout_ms, first_byte_timeout_ms, \
             total_timeout_ms, listing_only FROM providers ORDER BY id",
        )
        .fetch_all(pool)
        .await)?
        .into_iter()
        .map(ProviderRow::into_provider)
        .collect::<Result<Vec<_>, _>>()?;
        let models = on_pool!(self, |pool| {
            sqlx::query_as::<_, ModelRow>(
            "SELECT id, name, creator, provider_id, upstream_model, description, context_length, \
             max_output_tokens, input_modalities, capabilities, default_params, open_weights, \
             added_on, status, mode, deprecated_from FROM models ORDER BY id",
        )
        .fetch_all(pool)
        .await
        })?;
        let mut prices: HashMap<String, Vec<PriceVersion>> = HashMap::new();
        let sql =
            format!("SELECT {PRICE_COLUMNS} FROM model_prices ORDER BY model_id, effective_from");
        for row in on_pool!(self, |pool| sqlx::query_as::<_, PriceRow>(&sql)
            .fetch_all(pool)
            .await)?
        {
            let version = row.into_version()?;
            prices
                .entry(version.model_id.clone())
                .or_default()
                .push(version);
        }
        let mut related: HashMap<String, Vec<String>> = HashMap::new();
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, RelatedRow>(
            "SELECT model_id, related_id FROM related_models ORDER BY model_id, position",
        )
        .fetch_all(pool)
        .await)?;
        for row in rows {
            related
                .entry(row.model_id)
                .or_default()
                .push(row.related_id);
        }
        let mut aliases: HashMap<String, Vec<String>> = HashMap::new();
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, AliasRow>(
            "SELECT alias, model_id FROM model_aliases ORDER BY model_id, alias",
        )
        .fetch_all(pool)
        .await)?;
        for row in rows {
            aliases.entry(row.model_id).or_default().push(row.alias);
        }
        let entries = models
            .into_iter()
            .map(|row| {
                let model = row.into_model()?;
                Ok(Entry {
                    prices: prices.remove(&model.id).unwrap_or_default(),
                    related: related.remove(&model.id).unwrap_or_default(),
                    aliases: aliases.remove(&model.id).unwrap_or_default(),
                    model,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Snapshot::new(providers, entries))
    }

    /// True when no model has been stored yet (the seeds are loaded then).
    pub async fn catalog_is_empty(&self) -> Result<bool, StoreError> {
        let (n,): (i64,) = on_pool!(self, |pool| sqlx::query_as("SELECT COUNT(*) FROM models")
            .fetch_one(pool)
            .await)?;
        Ok(n == 0)
    }

    /// Adds a provider; a provider with the same id is a conflict.
    pub async fn insert_provider(&self, p: &Provider) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_provider(&mut tx, p).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a provider's fields.
    pub async fn update_provider(&self, p: &Provider) -> Result<(), StoreError> {
        let now = to_millis(Utc::now());
        let done = on_pool!(self, |pool| sqlx::query(
            "UPDATE providers SET kind = $2, name = $3, base_url = $4, api_key_env = $5, \
             updated_at = $6, connect_timeout_ms = $7, first_byte_timeout_ms = $8, \
             total_timeout_ms = $9, listing_only = $10 WHERE id = $1",
        )
        .bind(&p.id)
        .bind(p.kind.as_str())
        .bind(&p.name)
        .bind(&p.base_url)
        .bind(&p.api_key_env)
        .bind(now)
        .bind(p.connect_timeout_ms.map(ms))
        .bind(p.first_byte_timeout_ms.map(ms))
        .bind(p.total_timeout_ms.map(ms))
        .bind(p.listing_only)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::NotFound(format!(
                "provider '{}' not found",
                p.id
            )));
        }
        Ok(())
    }

    /// Adds a model with its price versions (each effective at its `effective_from`, or now)
    /// and related list, atomically.
    pub async fn insert_model(
        &self,
        model: &Model,
        prices: &[Prices],
        related: &[String],
    ) -> Result<(), StoreError> {
        self.insert_model_parts(&ModelParts {
            model: model.clone(),
            prices: prices.to_vec(),
            related: related.to_vec(),
            aliases: vec![],
        })
        .await
    }

    /// Adds a model with its price versions, related list and aliases, atomically.
    pub async fn insert_model_parts(&self, parts: &ModelParts) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_model(&mut tx, &parts.model).await?;
        insert_prices(&mut tx, &parts.model.id, &parts.prices, None).await?;
        set_related(&mut tx, &parts.model.id, &parts.related).await?;
        set_aliases(&mut tx, &parts.model.id, &parts.aliases).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a model's aliases with `aliases` (syntax already checked, see
    /// [`crate::catalog::check_aliases`]): an alias of another model, or one that is a model
    /// id, is a conflict and nothing changes. Aliases the model keeps keep their `created_at`.
    pub async fn set_aliases(&self, model_id: &str, aliases: &[String]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        set_aliases(&mut tx, model_id, aliases).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives `alias` (syntax already checked) to a model; true when it is new. The same alias
    /// on the same model is a no-op (false); on another model, or equal to a model id, a
    /// conflict.
    pub async fn add_alias(&self, alias: &str, model_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        lock_names(&mut tx).await?;
        if !model_exists(&mut tx, model_id, false).await? {
            return Err(StoreError::NotFound(format!(
                "model '{model_id}' not found"
            )));
        }
        let created = insert_alias(&mut tx, alias, model_id).await?;
        let (n,): (i64,) = on_tx!(&mut tx, |conn| sqlx::query_as(
            "SELECT COUNT(*) FROM model_aliases WHERE model_id = $1"
        )
        .bind(model_id)
        .fetch_one(conn)
        .await)?;
        if usize::try_from(n).unwrap_or(usize::MAX) > MAX_ALIASES_PER_MODEL {
            return Err(StoreError::unprocessable(
                "alias",
                format!("model '{model_id}' has {MAX_ALIASES_PER_MODEL} aliases, the most a model may have"),
            ));
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Removes an alias; returns the model it belonged to.
    pub async fn remove_alias(&self, alias: &str) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        // So that an alias write that found this alias taken reads its owner before it goes.
        lock_names(&mut tx).await?;
        let removed: Option<(String,)> = on_tx!(&mut tx, |conn| sqlx::query_as(
            "DELETE FROM model_aliases WHERE alias = $1 RETURNING model_id"
        )
        .bind(alias)
        .fetch_optional(conn)
        .await)?;
        tx.commit().await?;
        removed
            .map(|(model,)| model)
            .ok_or_else(|| StoreError::NotFound(format!("alias '{alias}' not found")))
    }

    /// Replaces a model's descriptive fields (prices and related models have their own calls).
    pub async fn update_model(&self, m: &Model) -> Result<(), StoreError> {
        let provider: Option<(String,)> = on_pool!(self, |pool| sqlx::query_as(PROVIDER_EXISTS)
            .bind(&m.provider)
            .fetch_optional(pool)
            .await)?;
        if provider.is_none() {
            return Err(no_such_provider(&m.provider));
        }
        let now = to_millis(Utc::now());
        let done = on_pool!(self, |pool| bind_model!(
            sqlx::query(
                "UPDATE models SET name = $2, creator = $3, provider_id = $4, upstream_model = $5, \
                 description = $6, context_length = $7, max_output_tokens = $8, \
                 input_modalities = $9, capabilities = $10, default_params = $11, \
                 open_weights = $12, added_on = $13, status = $14, mode = $15, \
                 deprecated_from = $16, updated_at = $17 WHERE id = $1",
            ),
            m
        )
        .bind(now)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::NotFound(format!("model '{}' not found", m.id)));
        }
        Ok(())
    }

    /// Appends a price version effective at `effective_from`, which must be later than every
    /// existing version's, so history is only ever extended.
    pub async fn insert_price(
        &self,
        model_id: &str,
        prices: &Prices,
        effective_from: DateTime<Utc>,
    ) -> Result<PriceVersion, StoreError> {
        let mut tx = self.begin_write().await?;
        let version = insert_price(&mut tx, model_id, prices, effective_from, None).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Replaces a model's related list.
    pub async fn set_related(&self, model_id: &str, related: &[String]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        set_related(&mut tx, model_id, related).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies a catalog import in one transaction: all of it or nothing. Prices become new
    /// versions effective at `effective_from`, marked with the `source` they came from.
    pub async fn apply_import(
        &self,
        work: &crate::catalog::import::plan::Work,
        source: &str,
        effective_from: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for p in &work.providers {
            insert_provider(&mut tx, p).await?;
        }
        for m in &work.models {
            release_alias(&mut tx, &m.id).await?;
            insert_model(&mut tx, m).await?;
        }
        let now = to_millis(Utc::now());
        for m in &work.updated {
            on_tx!(&mut tx, |conn| bind_model!(
                sqlx::query(
                    "UPDATE models SET name = $2, creator = $3, provider_id = $4, \
                     upstream_model = $5, description = $6, context_length = $7, \
                     max_output_tokens = $8, input_modalities = $9, capabilities = $10, \
                     default_params = $11, open_weights = $12, added_on = $13, status = $14, \
                     mode = $15, deprecated_from = $16, updated_at = $17 WHERE id = $1",
                ),
                m
            )
            .bind(now)
            .execute(conn)
            .await
            .map(|done| done.rows_affected()))?;
        }
        for (model_id, prices) in &work.prices {
            insert_price(&mut tx, model_id, prices, effective_from, Some(source)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the drift an import of `source` found: pinned models whose source price differs.
    pub async fn record_drift(
        &self,
        source: &str,
        drift: &[crate::catalog::import::plan::PriceChange],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| sqlx::query(
            "DELETE FROM catalog_drift WHERE source = $1"
        )
        .bind(source)
        .execute(conn)
        .await
        .map(|done| done.rows_affected()))?;
        for d in drift {
            on_tx!(&mut tx, |conn| {
                sqlx::query(
                "INSERT INTO catalog_drift (model_id, source, source_prices, pinned_prices, seen_at) \
                 VALUES ($1, $2, $3, $4, $5)"
            )
            .bind(&d.model)
            .bind(source)
            .bind(to_json(&d.new))
            .bind(to_json(&d.old))
            .bind(to_millis(at))
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
            })?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every recorded drift, by model.
    pub async fn list_drift(&self) -> Result<Vec<DriftRow>, StoreError> {
        Ok(on_pool!(self, |pool| sqlx::query_as::<_, DriftRow>(
            "SELECT model_id, source, source_prices, pinned_prices, seen_at FROM catalog_drift \
             ORDER BY model_id, source"
        )
        .fetch_all(pool)
        .await)?)
    }

    /// Loads a whole catalog (the seeds) in one transaction: all of it or nothing.
    pub async fn load_seed(&self, seed: &crate::catalog::seed::Seed) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for p in &seed.providers {
            insert_provider(&mut tx, p).await?;
        }
        for m in &seed.models {
            insert_model(&mut tx, &m.model).await?;
        }
        // After every model: an alias is checked against every model id of the seed.
        for m in &seed.models {
            insert_prices(&mut tx, &m.model.id, &m.prices, Some("seed")).await?;
            set_related(&mut tx, &m.model.id, &m.related).await?;
            set_aliases(&mut tx, &m.model.id, &m.aliases).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn no_such_provider(id: &str) -> StoreError {
    StoreError::unprocessable("provider", format!("provider '{id}' does not exist"))
}

/// True when the model exists. With `lock`, the model's row is also locked until the
/// transaction ends, on PostgreSQL (`FOR UPDATE`), so that a read-then-write on the model's
/// prices or related list is serialised with any other one, as SQLite's `BEGIN IMMEDIATE`
/// serialises every write transaction (there, the lock is already held and nothing is added).
async fn model_exists(tx: &mut Tx, id: &str, lock: bool) -> Result<bool, StoreError> {
    let sql = if lock {
        format!("SELECT id FROM models WHERE id = $1{}", tx.lock_rows())
    } else {
        "SELECT id FROM models WHERE id = $1".to_string()
    };
    let found: Option<(String,)> = on_tx!(tx, |conn| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(conn)
        .await)?;
    Ok(found.is_some())
}

async fn insert_provider(tx: &mut Tx, p: &Provider) -> Result<(), StoreError> {
    let now = to_millis(Utc::now());
    let done = on_tx!(tx, |conn| {
        sqlx::query(
        "INSERT INTO providers (id, kind, name, base_url, api_key_env, created_at, updated_at, \
         connect_timeout_ms, first_byte_timeout_ms, total_timeout_ms, listing_only) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&p.id)
    .bind(p.kind.as_str())
    .bind(&p.name)
    .bind(&p.base_url)
    .bind(&p.api_key_env)
    .bind(now)
    .bind(p.connect_timeout_ms.map(ms))
    .bind(p.first_byte_timeout_ms.map(ms))
    .bind(p.total_timeout_ms.map(ms))
    .bind(p.listing_only)
    .execute(conn)
    .await
    .map(|done| done.rows_affected())
    })?;
    if done == 0 {
        return Err(StoreError::Conflict(format!(
            "provider '{}' already exists",
            p.id
        )));
    }
    Ok(())
}

async fn insert_model(tx: &mut Tx, m: &Model) -> Result<(), StoreError> {
    // A model id and an alias share one namespace (a caller's name means one model).
    lock_names(tx).await?;
    let alias: Option<(String,)> = on_tx!(tx, |conn| sqlx::query_as(
        "SELECT model_id FROM model_aliases WHERE alias = $1"
    )
    .bind(&m.id)
    .fetch_optional(conn)
    .await)?;
    if let Some((owner,)) = alias {
        return Err(StoreError::Conflict(format!(
            "'{}' is an alias of model '{owner}'; a model id cannot equal an alias",
            m.id
        )));
    }
    let provider: Option<(String,)> = on_tx!(tx, |conn| sqlx::query_as(PROVIDER_EXISTS)
        .bind(&m.provider)
        .fetch_optional(conn)
        .await)?;
    if provider.is_none() {
        return Err(no_such_provider(&m.provider));
    }
    let now = to_millis(Utc::now());
    let done = on_tx!(tx, |conn| bind_model!(
        sqlx::query(
            "INSERT INTO models (id, name, creator, provider_id, upstream_model, description, \
             context_length, max_output_tokens, input_modalities, capabilities, default_params, \
             open_weights, added_on, status, mode, deprecated_from, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $17) \
             ON CONFLICT (id) DO NOTHING",
        ),
        m
    )
    .bind(now)
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    if done == 0 {
        return Err(StoreError::Conflict(format!(
            "model '{}' already exists",
            m.id
        )));
    }
    Ok(())
}

async fn insert_prices(
    tx: &mut Tx,
    model_id: &str,
    prices: &[Prices],
    source: Option<&str>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    for p in prices {
        insert_price(tx, model_id, p, p.effective_from.unwrap_or(now), source).await?;
    }
    Ok(())
}

pub(super) async fn insert_price(
    tx: &mut Tx,
    model_id: &str,
    p: &Prices,
    effective_from: DateTime<Utc>,
    source: Option<&str>,
) -> Result<PriceVersion, StoreError> {
    // Locked: the check below that the new version is the latest must hold until it is written.
    if !model_exists(tx, model_id, true).await? {
        return Err(StoreError::NotFound(format!(
            "model '{model_id}' not found"
        )));
    }
    let (latest,): (Option<i64>,) = on_tx!(tx, |conn| sqlx::query_as(
        "SELECT MAX(effective_from) FROM model_prices WHERE model_id = $1"
    )
    .bind(model_id)
    .fetch_one(conn)
    .await)?;
    let from = to_millis(effective_from);
    if let Some(latest) = latest.filter(|l| *l >= from) {
        return Err(StoreError::unprocessable(
            "effective_from",
            format!(
                "effective_from must be later than the latest price version ({}); \
                 price history is append-only",
                from_millis(latest)?.to_rfc3339()
            ),
        ));
    }
    let dec = |d: Option<Decimal>| d.map(|d| d.to_string());
    let created_at = to_millis(Utc::now());
    let (id,): (i64,) = on_tx!(tx, |conn| {
        sqlx::query_as(
        "INSERT INTO model_prices (model_id, effective_from, input_per_mtok, output_per_mtok, \
         cached_input_per_mtok, cache_write_per_mtok, reasoning_per_mtok, per_request, \
         per_image, tiers, created_at, source, cache_write_1h_per_mtok, service_tiers, per_web_search) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
    )
    .bind(model_id)
    .bind(from)
    .bind(p.input_per_mtok.to_string())
    .bind(p.output_per_mtok.to_string())
    .bind(dec(p.cached_input_per_mtok))
    .bind(dec(p.cache_write_per_mtok))
    .bind(dec(p.reasoning_per_mtok))
    .bind(p.per_request.to_string())
    .bind(p.per_image.to_string())
    .bind(to_json(&p.tiers))
    .bind(created_at)
    .bind(source)
    .bind(dec(p.cache_write_1h_per_mtok))
    .bind(to_json(&p.service_tiers))
    .bind(p.per_web_search.to_string())
    .fetch_one(conn)
    .await
    })?;
    let mut prices = p.clone();
    prices.effective_from = None;
    Ok(PriceVersion {
        id,
        model_id: model_id.to_string(),
        effective_from: from_millis(from)?,
        source: source.map(str::to_string),
        prices,
    })
}

async fn set_related(tx: &mut Tx, model_id: &str, related: &[String]) -> Result<(), StoreError> {
    // Locked: two replacements of one model's list must not interleave their delete and inserts.
    if !model_exists(tx, model_id, true).await? {
        return Err(StoreError::NotFound(format!(
            "model '{model_id}' not found"
        )));
    }
    for (i, id) in related.iter().enumerate() {
        if id == model_id {
            return Err(StoreError::unprocessable(
                &format!("related[{i}]"),
                "a model cannot be related to itself",
            ));
        }
        if related[..i].contains(id) {
            return Err(StoreError::unprocessable(
                &format!("related[{i}]"),
                format!("'{id}' is listed twice"),
            ));
        }
        if !model_exists(tx, id, false).await? {
            return Err(StoreError::unprocessable(
                &format!("related[{i}]"),
                format!("model '{id}' does not exist"),
            ));
        }
    }
    on_tx!(tx, |conn| sqlx::query(
        "DELETE FROM related_models WHERE model_id = $1"
    )
    .bind(model_id)
    .execute(conn)
    .await
    .map(drop))?;
    for (i, id) in related.iter().enumerate() {
        on_tx!(tx, |conn| sqlx::query(
            "INSERT INTO related_models (model_id, related_id, position) VALUES ($1, $2, $3)",
        )
        .bind(model_id)
        .bind(id)
        .bind(i as i64)
        .execute(conn)
        .await
        .map(drop))?;
    }
    Ok(())
}

/// Serialises the writes that must see every model id and every alias at once (a new model's
/// id against the aliases, a new alias against the model ids): on PostgreSQL a
/// transaction-level advisory lock, held until commit, since READ COMMITTED would let two such
/// writes each miss the other's uncommitted row; on SQLite nothing (`BEGIN IMMEDIATE` already
/// serialises every write).
async fn lock_names(tx: &mut Tx) -> Result<(), StoreError> {
    /// An arbitrary key, the same in every replica: ASCII "tgnames".
    const NAMES_LOCK: i64 = 0x0074_676e_616d_6573;
    if let Tx::Postgres(t) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(NAMES_LOCK)
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

/// Removes the exact alias equal to `id`, for an imported model of that id: an import takes
/// the name (a price list's id is what callers of that model send), where an admin's new model
/// is refused (409). The id resolves before any alias anyway, so the alias would only be dead,
/// and listed under the wrong model.
async fn release_alias(tx: &mut Tx, id: &str) -> Result<(), StoreError> {
    lock_names(tx).await?;
    let removed: Option<(String,)> = on_tx!(tx, |conn| sqlx::query_as(
        "DELETE FROM model_aliases WHERE alias = $1 RETURNING model_id"
    )
    .bind(id)
    .fetch_optional(conn)
    .await)?;
    if let Some((owner,)) = removed {
        tracing::info!(
            alias = id,
            model = owner,
            "an imported model takes the name of an alias; the alias is removed"
        );
    }
    Ok(())
}

/// Inserts one alias of `model_id` (which exists), refusing a model id and another model's
/// alias; true when the alias is new, false when the model had it already.
async fn insert_alias(tx: &mut Tx, alias: &str, model_id: &str) -> Result<bool, StoreError> {
    if model_exists(tx, alias, false).await? {
        return Err(StoreError::Conflict(format!(
            "alias '{alias}' is the id of a model; an alias cannot equal a model id"
        )));
    }
    let now = to_millis(Utc::now());
    let done = on_tx!(tx, |conn| sqlx::query(
        "INSERT INTO model_aliases (alias, model_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (alias) DO NOTHING",
    )
    .bind(alias)
    .bind(model_id)
    .bind(now)
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    if done == 1 {
        return Ok(true);
    }
    let (owner,): (String,) = on_tx!(tx, |conn| sqlx::query_as(
        "SELECT model_id FROM model_aliases WHERE alias = $1"
    )
    .bind(alias)
    .fetch_one(conn)
    .await)?;
    if owner == model_id {
        Ok(false)
    } else {
        Err(StoreError::Conflict(format!(
            "alias '{alias}' already belongs to model '{owner}'"
        )))
    }
}

async fn set_aliases(tx: &mut Tx, model_id: &str, aliases: &[String]) -> Result<(), StoreError> {
    lock_names(tx).await?;
    // Locked: two replacements of one model's set must not interleave.
    if !model_exists(tx, model_id, true).await? {
        return Err(StoreError::NotFound(format!(
            "model '{model_id}' not found"
        )));
    }
    let current: Vec<(String,)> = on_tx!(tx, |conn| sqlx::query_as(
        "SELECT alias FROM model_aliases WHERE model_id = $1"
    )
    .bind(model_id)
    .fetch_all(conn)
    .await)?;
    for (old,) in current {
        if !aliases.contains(&old) {
            on_tx!(tx, |conn| sqlx::query(
                "DELETE FROM model_aliases WHERE alias = $1"
            )
            .bind(&old)
            .execute(conn)
            .await
            .map(drop))?;
        }
    }
    for alias in aliases {
        insert_alias(tx, alias, model_id).await?;
    }
    Ok(())
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl ProviderRow {
    fn into_provider(self) -> Result<Provider, StoreError> {
        let kind = ProviderKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("provider kind '{}'", self.kind)))?;
        Ok(Provider {
            id: self.id,
            kind,
            name: self.name,
            base_url: self.base_url,
            api_key_env: self.api_key_env,
            connect_timeout_ms: self.connect_timeout_ms.and_then(|v| u64::try_from(v).ok()),
            first_byte_timeout_ms: self
                .first_byte_timeout_ms
                .and_then(|v| u64::try_from(v).ok()),
            total_timeout_ms: self.total_timeout_ms.and_then(|v| u64::try_from(v).ok()),
            listing_only: self.listing_only,
        })
    }
}

impl ModelRow {
    fn into_model(self) -> Result<Model, StoreError> {
        let status = ModelStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Corrupt(format!("model status '{}'", self.status)))?;
        let added_on = NaiveDate::from_str(&self.added_on)
            .map_err(|e| StoreError::Corrupt(format!("added_on '{}': {e}", self.added_on)))?;
        let count = |v: Option<i64>| v.and_then(|n| u32::try_from(n).ok());
        let deprecated_from = self
            .deprecated_from
            .as_deref()
            .map(|d| {
                NaiveDate::from_str(d)
                    .map_err(|e| StoreError::Corrupt(format!("deprecated_from '{d}': {e}")))
            })
            .transpose()?;
        Ok(Model {
            mode: self.mode,
            deprecated_from,
            input_modalities: parse_json("input_modalities", &self.input_modalities)?,
            capabilities: parse_json("capabilities", &self.capabilities)?,
            default_params: parse_json("default_params", &self.default_params)?,
            context_length: count(self.context_length),
            max_output_tokens: count(self.max_output_tokens),
            id: self.id,
            name: self.name,
            creator: self.creator,
            provider: self.provider_id,
            upstream_model: self.upstream_model,
            description: self.description,
            open_weights: self.open_weights,
            added_on,
            status,
        })
    }
}

impl PriceRow {
    fn into_version(self) -> Result<PriceVersion, StoreError> {
        let dec = |s: &str| {
            Decimal::from_str(s).map_err(|e| StoreError::Corrupt(format!("price '{s}': {e}")))
        };
        let opt = |s: &Option<String>| s.as_deref().map(dec).transpose();
        Ok(PriceVersion {
            id: self.id,
            effective_from: from_millis(self.effective_from)?,
            source: self.source.clone(),
            prices: Prices {
                input_per_mtok: dec(&self.input_per_mtok)?,
                output_per_mtok: dec(&self.output_per_mtok)?,
                cached_input_per_mtok: opt(&self.cached_input_per_mtok)?,
                cache_write_per_mtok: opt(&self.cache_write_per_mtok)?,
                cache_write_1h_per_mtok: opt(&self.cache_write_1h_per_mtok)?,
                reasoning_per_mtok: opt(&self.reasoning_per_mtok)?,
                per_request: dec(&self.per_request)?,
                per_image: dec(&self.per_image)?,
                per_web_search: dec(&self.per_web_search)?,
                tiers: parse_json("tiers", &self.tiers)?,
                service_tiers: parse_json("service_tiers", &self.service_tiers)?,
                effective_from: None,
            },
            model_id: self.model_id,
        })
    }
}
