//! Admin API for the catalog: providers, models, prices, related lists and aliases.
//! Every write goes to the store first, then the in-memory catalog is rebuilt from it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;

use super::extract::{Admin, ApiJson};
use super::models::model_not_found;
use super::views::{details, openai_model, OpenAiModelDetail, RelatedModel};
use crate::catalog::{
    alias_problem, check_alias, check_aliases, check_price_version, AliasList, ModelAlias,
    ModelPatch, ModelStatus, NewModel, NewProvider, Provider, ProviderPatch, RelatedList,
};
use crate::error::ApiError;
use crate::pricing::{PriceVersion, Prices};
use crate::state::AppState;

type Created<T> = (StatusCode, Json<T>);

async fn reload(state: &AppState) -> Result<(), ApiError> {
    state
        .catalog
        .reload(&state.store)
        .await
        .map_err(ApiError::from)
}

fn detail_of(state: &AppState, id: &str) -> Result<OpenAiModelDetail, ApiError> {
    let snapshot = state.catalog.snapshot();
    let entry = snapshot.get(id).ok_or_else(|| model_not_found(id))?;
    let now = Utc::now();
    Ok(OpenAiModelDetail {
        model: openai_model(&snapshot, entry, now),
        details: details(&snapshot, entry, now),
    })
}

/// List providers.
#[utoipa::path(get, path = "/admin/providers", tag = "admin", security(("admin" = [])),
    responses((status = 200, body = Vec<Provider>), (status = 401, description = "Missing or wrong admin token")))]
pub async fn list_providers(_: Admin, State(state): State<AppState>) -> Json<Vec<Provider>> {
    Json(state.catalog.snapshot().providers.clone())
}

/// Add a provider.
#[utoipa::path(post, path = "/admin/providers", tag = "admin", security(("admin" = [])), request_body = NewProvider,
    responses((status = 201, body = Provider), (status = 400, description = "Invalid field"), (status = 401, description = "Missing or wrong admin token"), (status = 409, description = "Provider exists")))]
pub async fn create_provider(
    _: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewProvider>,
) -> Result<Created<Provider>, ApiError> {
    let provider = body.into_provider()?;
    state.store.insert_provider(&provider).await?;
    reload(&state).await?;
    Ok((StatusCode::CREATED, Json(provider)))
}

/// Change a provider.
#[utoipa::path(patch, path = "/admin/providers/{id}", tag = "admin", security(("admin" = [])), request_body = ProviderPatch,
    params(("id" = String, Path, description = "Provider id")),
    responses((status = 200, body = Provider), (status = 400, description = "Invalid field"), (status = 401, description = "Missing or wrong admin token"), (status = 404, description = "No such provider")))]
pub async fn update_provider(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ProviderPatch>,
) -> Result<Json<Provider>, ApiError> {
    let current = state
        .catalog
        .snapshot()
        .provider(&id)
        .cloned()
        .ok_or_else(|| {
            ApiError::not_found(
                "provider_not_found",
                format!("provider '{id}' does not exist"),
            )
        })?;
    let updated = patch.apply(current)?;
    state.store.update_provider(&updated).await?;
    reload(&state).await?;
    Ok(Json(updated))
}

/// Add a model, optionally with its first price (`price`) or a history (`prices`) and related list.
#[utoipa::path(post, path = "/admin/models", tag = "admin", security(("admin" = [])), request_body = NewModel,
    responses((status = 201, body = OpenAiModelDetail), (status = 400, description = "Invalid field"), (status = 401, description = "Missing or wrong admin token"),
        (status = 409, description = "Model exists"), (status = 422, description = "Unknown provider or related model")))]
pub async fn create_model(
    _: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewModel>,
) -> Result<Created<OpenAiModelDetail>, ApiError> {
    let parts = body.into_parts()?;
    let id = parts.model.id.clone();
    state.store.insert_model_parts(&parts).await?;
    reload(&state).await?;
    Ok((StatusCode::CREATED, Json(detail_of(&state, &id)?)))
}

/// Change a model's descriptive fields.
#[utoipa::path(patch, path = "/admin/models/{id}", tag = "admin", security(("admin" = [])), request_body = ModelPatch,
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, body = OpenAiModelDetail), (status = 400, description = "Invalid field"), (status = 401, description = "Missing or wrong admin token"),
        (status = 404, description = "No such model"), (status = 422, description = "Unknown provider")))]
pub async fn update_model(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ModelPatch>,
) -> Result<Json<OpenAiModelDetail>, ApiError> {
    let current = state
        .catalog
        .snapshot()
        .get(&id)
        .map(|e| e.model.clone())
        .ok_or_else(|| model_not_found(&id))?;
    let updated = patch.apply(current)?;
    state.store.update_model(&updated).await?;
    reload(&state).await?;
    Ok(Json(detail_of(&state, &id)?))
}

/// Deprecate a model: it leaves the default list and cannot be called; its history stays.
#[utoipa::path(delete, path = "/admin/models/{id}", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, body = OpenAiModelDetail), (status = 401, description = "Missing or wrong admin token"), (status = 404, description = "No such model")))]
pub async fn deprecate_model(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OpenAiModelDetail>, ApiError> {
    let mut model = state
        .catalog
        .snapshot()
        .get(&id)
        .map(|e| e.model.clone())
        .ok_or_else(|| model_not_found(&id))?;
    model.status = ModelStatus::Deprecated;
    state.store.update_model(&model).await?;
    reload(&state).await?;
    Ok(Json(detail_of(&state, &id)?))
}

/// Append a price version, effective now unless `effective_from` is given (it must be later
/// than the latest version's).
#[utoipa::path(post, path = "/admin/models/{id}/prices", tag = "admin", security(("admin" = [])), request_body = Prices,
    params(("id" = String, Path, description = "Model id")),
    responses((status = 201, body = PriceVersion), (status = 400, description = "Invalid price"), (status = 401, description = "Missing or wrong admin token"),
        (status = 404, description = "No such model"), (status = 422, description = "effective_from not after the latest version")))]
pub async fn add_price(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(prices): ApiJson<Prices>,
) -> Result<Created<PriceVersion>, ApiError> {
    check_price_version(&prices)?;
    let from = prices.effective_from.unwrap_or_else(Utc::now);
    let version = state
        .store
        .insert_price(&id, &prices, from)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound(_) => model_not_found(&id),
            other => other.into(),
        })?;
    reload(&state).await?;
    Ok((StatusCode::CREATED, Json(version)))
}

/// Replace a model's related list (order is display order).
#[utoipa::path(put, path = "/admin/models/{id}/related", tag = "admin", security(("admin" = [])), request_body = RelatedList,
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, body = Vec<RelatedModel>), (status = 400, description = "Invalid body"), (status = 401, description = "Missing or wrong admin token"),
        (status = 404, description = "No such model"), (status = 422, description = "Unknown, repeated or self reference")))]
pub async fn set_related(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RelatedList>,
) -> Result<Json<Vec<RelatedModel>>, ApiError> {
    state
        .store
        .set_related(&id, &body.related)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound(_) => model_not_found(&id),
            other => other.into(),
        })?;
    reload(&state).await?;
    Ok(Json(detail_of(&state, &id)?.details.related))
}

fn alias_not_found(alias: &str) -> ApiError {
    ApiError::not_found("alias_not_found", format!("alias '{alias}' does not exist"))
}

/// A model's aliases as the catalog holds them now, or 404.
fn aliases_of(state: &AppState, id: &str) -> Result<AliasList, ApiError> {
    let snapshot = state.catalog.snapshot();
    let entry = snapshot.get(id).ok_or_else(|| model_not_found(id))?;
    Ok(AliasList {
        aliases: entry.aliases.clone(),
    })
}

/// List every alias with the model it stands for, by alias.
#[utoipa::path(get, path = "/admin/aliases", tag = "admin", security(("admin" = [])),
    responses((status = 200, body = Vec<ModelAlias>), (status = 401, description = "Missing or wrong admin token")))]
pub async fn list_aliases(_: Admin, State(state): State<AppState>) -> Json<Vec<ModelAlias>> {
    let snapshot = state.catalog.snapshot();
    let mut all: Vec<ModelAlias> = snapshot
        .entries
        .iter()
        .flat_map(|e| {
            e.aliases.iter().map(|a| ModelAlias {
                alias: a.clone(),
                model: e.model.id.clone(),
            })
        })
        .collect();
    all.sort_by(|a, b| a.alias.cmp(&b.alias));
    Json(all)
}

/// Give a model one more alias: an exact name, or a pattern ending with `*` that maps every
/// name it starts (the longest matching pattern wins). 200 when the model had it already.
#[utoipa::path(post, path = "/admin/aliases", tag = "admin", security(("admin" = [])), request_body = ModelAlias,
    responses((status = 201, body = ModelAlias), (status = 200, body = ModelAlias, description = "The model had this alias already"),
        (status = 400, description = "Invalid alias"), (status = 401, description = "Missing or wrong admin token"), (status = 404, description = "No such model"),
        (status = 409, description = "The alias belongs to another model, or is a model id"), (status = 422, description = "The model has the most aliases it may have")))]
pub async fn create_alias(
    _: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ModelAlias>,
) -> Result<(StatusCode, Json<ModelAlias>), ApiError> {
    check_alias("alias", &body.alias)?;
    // The catalog in memory answers for unknown models (as for the other model writes), so a
    // name the database could not even take (a NUL on PostgreSQL) never reaches it.
    if state.catalog.snapshot().get(&body.model).is_none() {
        return Err(model_not_found(&body.model));
    }
    let created = state
        .store
        .add_alias(&body.alias, &body.model)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound(_) => model_not_found(&body.model),
            other => other.into(),
        })?;
    reload(&state).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)))
}

/// Remove an alias (a pattern by its full text, `*` included; URL-encode `/` as `%2F`).
#[utoipa::path(delete, path = "/admin/aliases/{alias}", tag = "admin", security(("admin" = [])),
    params(("alias" = String, Path, description = "The alias")),
    responses((status = 200, body = ModelAlias), (status = 401, description = "Missing or wrong admin token"), (status = 404, description = "No such alias")))]
pub async fn delete_alias(
    _: Admin,
    State(state): State<AppState>,
    Path(alias): Path<String>,
) -> Result<Json<ModelAlias>, ApiError> {
    if alias_problem(&alias).is_some() {
        return Err(alias_not_found(&alias));
    }
    let model = state
        .store
        .remove_alias(&alias)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound(_) => alias_not_found(&alias),
            other => other.into(),
        })?;
    reload(&state).await?;
    Ok(Json(ModelAlias { alias, model }))
}

/// A model's aliases, sorted.
#[utoipa::path(get, path = "/admin/models/{id}/aliases", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, body = AliasList), (status = 401, description = "Missing or wrong admin token"), (status = 404, description = "No such model")))]
pub async fn get_aliases(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AliasList>, ApiError> {
    Ok(Json(aliases_of(&state, &id)?))
}

/// Replace a model's aliases with the set given (`[]` removes them all). All or nothing: an
/// alias of another model, or one that is a model id, is a 409 and nothing changes.
#[utoipa::path(put, path = "/admin/models/{id}/aliases", tag = "admin", security(("admin" = [])), request_body = AliasList,
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, body = AliasList), (status = 400, description = "Invalid, repeated or too many aliases"), (status = 401, description = "Missing or wrong admin token"),
        (status = 404, description = "No such model"), (status = 409, description = "An alias belongs to another model, or is a model id")))]
pub async fn set_aliases(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AliasList>,
) -> Result<Json<AliasList>, ApiError> {
    let aliases = check_aliases("aliases", body.aliases)?;
    // An unknown model is a 404 from the catalog in memory (see `create_alias`).
    aliases_of(&state, &id)?;
    state
        .store
        .set_aliases(&id, &aliases)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound(_) => model_not_found(&id),
            other => other.into(),
        })?;
    reload(&state).await?;
    Ok(Json(aliases_of(&state, &id)?))
}
