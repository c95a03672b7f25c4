//! The metering writer's batch: every statement covers the whole batch (multi-row inserts), so
//! a batch of any size costs a handful of round trips to SQLite. Rollups follow by trigger.

use std::collections::HashSet;

use sqlx::{QueryBuilder, Sqlite, Transaction};

use super::{to_millis, StoreError};
use crate::metering::{CallStart, UsageRecord};
use crate::money::to_picos;

/// Rows per multi-row statement (SQLite allows 32766 bound parameters).
const CHUNK: usize = 400;

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) async fn insert_starts(
    tx: &mut Transaction<'_, Sqlite>,
    starts: &[CallStart],
) -> Result<(), StoreError> {
    for chunk in starts.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO call_starts (id, started_at, key_id, team_id, model_id, provider_id, upstream_model, endpoint, \
             streamed, price_version_id, input_tokens_estimate) ",
        );
        qb.push_values(chunk, |mut b, s| {
            b.push_bind(&s.id)
                .push_bind(to_millis(s.started_at))
                .push_bind(&s.key_id)
                .push_bind(&s.team_id)
                .push_bind(&s.model_id)
                .push_bind(&s.provider_id)
                .push_bind(&s.upstream_model)
                .push_bind(s.endpoint.as_str())
                .push_bind(s.streamed)
                .push_bind(s.price_version_id)
                .push_bind(0i64);
        });
        qb.push(" ON CONFLICT (id) DO NOTHING");
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Inserts records (idempotent by id) and returns the ids that were new.
pub(super) async fn insert_records(
    tx: &mut Transaction<'_, Sqlite>,
    records: &[UsageRecord],
) -> Result<HashSet<String>, StoreError> {
    let mut inserted = HashSet::new();
    for chunk in records.chunks(CHUNK / 2) {
        let mut costs = Vec::with_capacity(chunk.len());
        for r in chunk {
            costs.push(to_picos(r.cost).ok_or_else(|| {
                StoreError::Corrupt(format!("cost {} is not whole picodollars", r.cost))
            })?);
        }
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO usage_records (id, started_at, finished_at, key_id, team_id, model_id, provider_id, upstream_model, \
             endpoint, streamed, status, http_status, upstream_status, input_tokens, cached_input_tokens, cache_write_tokens, \
             output_tokens, reasoning_tokens, images, usage_source, price_version_id, cost_picos, latency_ms, ttft_ms, error) ",
        );
        qb.push_values(chunk.iter().zip(costs), |mut b, (r, cost)| {
            b.push_bind(&r.id)
                .push_bind(to_millis(r.started_at))
                .push_bind(to_millis(r.finished_at))
                .push_bind(&r.key_id)
                .push_bind(&r.team_id)
                .push_bind(&r.model_id)
                .push_bind(&r.provider_id)
                .push_bind(&r.upstream_model)
                .push_bind(r.endpoint.as_str())
                .push_bind(r.streamed)
                .push_bind(r.status.as_str())
                .push_bind(i64::from(r.http_status))
                .push_bind(r.upstream_status.map(i64::from))
                .push_bind(int(r.usage.input_tokens))
                .push_bind(int(r.usage.cached_input_tokens))
                .push_bind(int(r.usage.cache_write_tokens))
                .push_bind(int(r.usage.output_tokens))
                .push_bind(int(r.usage.reasoning_tokens))
                .push_bind(int(r.usage.images))
                .push_bind(r.usage_source.as_str())
                .push_bind(r.price_version_id)
                .push_bind(cost)
                .push_bind(int(r.latency_ms))
                .push_bind(r.ttft_ms.map(int))
                .push_bind(&r.error);
        });
        qb.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
        let ids: Vec<(String,)> = qb.build_query_as().fetch_all(&mut **tx).await?;
        inserted.extend(ids.into_iter().map(|(id,)| id));
    }
    Ok(inserted)
}

/// Removes the start rows of finished calls.
pub(super) async fn delete_starts(
    tx: &mut Transaction<'_, Sqlite>,
    ids: &[String],
) -> Result<(), StoreError> {
    for chunk in ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new("DELETE FROM call_starts WHERE id IN (");
        let mut list = qb.separated(", ");
        for id in chunk {
            list.push_bind(id);
        }
        qb.push(")");
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}
