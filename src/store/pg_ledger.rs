//! The usage ledger on PostgreSQL: a batch of call starts and records in one statement, covering
//! the whole batch through `UNNEST` of one array per column (one round trip whatever the batch
//! size, and no statement text that grows with it).

use sqlx::{PgConnection, Postgres};

use super::pg_settle::Settle;
use super::{to_millis, StoreError};
use crate::metering::{CallStart, UsageRecord};
use crate::money::to_picos;

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The starts of calls that began (idempotent by id), as a `WITH` clause ahead of the records'
/// insert. Its parameters follow the records' 30.
const STARTS_CLAUSE: &str = "s AS (INSERT INTO call_starts (id, started_at, key_id, team_id, model_id, provider_id, \
     upstream_model, endpoint, streamed, price_version_id, input_tokens_estimate, instance_id, requested_model) \
     SELECT id, started_at, key_id, team_id, model_id, provider_id, upstream_model, endpoint, streamed, \
     price_version_id, 0, $41, requested_model FROM UNNEST($31::text[], $32::bigint[], $33::text[], $34::text[], \
     $35::text[], $36::text[], $37::text[], $38::text[], $39::boolean[], $40::bigint[], $42::text[]) \
     AS s(id, started_at, key_id, team_id, model_id, provider_id, upstream_model, endpoint, streamed, price_version_id, \
     requested_model) \
     ON CONFLICT (id) DO NOTHING)";

/// A ledger batch in one statement, so one round trip: its records' insert, with `WITH`
/// clauses for what else the batch has — the starts of calls that began ([`STARTS_CLAUSE`]),
/// the starts of calls that finished, the reservation rows of calls whose records settle in
/// this batch (their settlement goes in the same statement: [`write_settling_statement`]).
/// Only the clauses the batch needs are sent: PostgreSQL initializes every node of a plan at
/// each execution, empty or not. Returns the ids of the records that were new. Rollups follow
/// by trigger in the same statement.
///
/// Run outside a transaction the statement is one by itself, committed in that one round trip
/// instead of three (`BEGIN`, the statement, `COMMIT`). A start is never both written and
/// removed in one batch (the writer removes only starts an earlier batch wrote), so the
/// clauses touch disjoint rows. A reservation row goes in the transaction
/// that adds its call's cost to its account: a reservation's check sees each call either held
/// or spent, never neither ([`super::reserve_many`]); a row lost with a database crash
/// (reservations commit asynchronously) is simply not there to remove.
pub(super) async fn write_batch_statement(
    conn: &mut PgConnection,
    batch: &Batch<'_>,
) -> Result<Vec<String>, StoreError> {
    let (clauses, _) = batch.clauses();
    let sql = if clauses.is_empty() {
        RECORDS_INSERT.to_string()
    } else {
        format!("WITH {} {RECORDS_INSERT}", clauses.join(", "))
    };
    let ids: Vec<(String,)> = batch.bind(sqlx::query_as(&sql))?.fetch_all(conn).await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// [`write_batch_statement`] with the batch's settlement in the statement ([`Settle`]; with
/// `guard`, refused when an alert could be due). Returns the ids of the records that were new
/// and each settled account's number in `settle`, value after the batch and grant sequence.
pub(super) async fn write_settling_statement(
    conn: &mut PgConnection,
    batch: &Batch<'_>,
    settle: &Settle<'_>,
    guard: bool,
) -> Result<(Vec<String>, Vec<(i32, i64, i64)>), StoreError> {
    let (mut clauses, next) = batch.clauses();
    clauses.push(format!("ins AS ({RECORDS_INSERT})"));
    clauses.push(Settle::clause(next));
    clauses.extend(settle.lease_clause(next + super::pg_settle::PARAMETERS));
    let sql = format!(
        "WITH {} SELECT ins.id, NULL::int, NULL::bigint, NULL::bigint FROM ins \
         UNION ALL SELECT NULL, st.account_no, st.after_value, st.grant_seq FROM st",
        clauses.join(", ")
    );
    let query = settle.bind_leases(settle.bind(batch.bind(sqlx::query_as(&sql))?, guard));
    let rows: Vec<SettlingRow> = query.fetch_all(conn).await?;
    let mut ids = Vec::new();
    let mut values = Vec::new();
    for row in rows {
        match row {
            (Some(id), ..) => ids.push(id),
            (None, Some(n), Some(value), Some(granted)) => values.push((n, value, granted)),
            _ => {}
        }
    }
    Ok((ids, values))
}

/// A row of [`write_settling_statement`]: a new record's id, or a settled account's values.
type SettlingRow = (Option<String>, Option<i32>, Option<i64>, Option<i64>);

/// A ledger batch's rows, as the batch statement takes them.
pub(super) struct Batch<'a> {
    pub starts: &'a [CallStart],
    pub instance: &'a str,
    pub records: &'a [UsageRecord],
    pub finished_starts: &'a [String],
    /// The calls whose reservation rows the batch removes.
    pub settling: &'a [String],
}

impl<'a> Batch<'a> {
    /// The `WITH` clauses the batch needs, and the number of the next free parameter.
    fn clauses(&self) -> (Vec<String>, usize) {
        let mut clauses: Vec<String> = Vec::new();
        let mut next = 31;
        if !self.starts.is_empty() {
            clauses.push(STARTS_CLAUSE.to_string());
            next = 43;
        }
        if !self.finished_starts.is_empty() {
            clauses.push(format!(
                "f AS (DELETE FROM call_starts WHERE id = ANY(${next}::text[]))"
            ));
            next += 1;
        }
        if !self.settling.is_empty() {
            clauses.push(format!(
                "r AS (DELETE FROM budget_reservations WHERE call_id = ANY(${next}::text[]))"
            ));
            next += 1;
        }
        (clauses, next)
    }

    /// Binds the parameters of the records and of [`Batch::clauses`].
    fn bind<'q, O>(&self, query: Q<'q, O>) -> Result<Q<'q, O>, StoreError>
    where
        'a: 'q,
    {
        let mut query = bind_records(query, self.records)?;
        if !self.starts.is_empty() {
            query = bind_starts(query, self.starts, self.instance);
        }
        if !self.finished_starts.is_empty() {
            query = query.bind(self.finished_starts);
        }
        if !self.settling.is_empty() {
            query = query.bind(self.settling);
        }
        Ok(query)
    }
}

/// Binds the starts' 12 parameters, as [`STARTS_CLAUSE`] numbers them.
fn bind_starts<'q, O>(query: Q<'q, O>, starts: &[CallStart], instance: &str) -> Q<'q, O> {
    query
        .bind(starts.iter().map(|s| s.id.clone()).collect::<Vec<_>>())
        .bind(
            starts
                .iter()
                .map(|s| to_millis(s.started_at))
                .collect::<Vec<_>>(),
        )
        .bind(starts.iter().map(|s| s.key_id.clone()).collect::<Vec<_>>())
        .bind(starts.iter().map(|s| s.team_id.clone()).collect::<Vec<_>>())
        .bind(
            starts
                .iter()
                .map(|s| s.model_id.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            starts
                .iter()
                .map(|s| s.provider_id.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            starts
                .iter()
                .map(|s| s.upstream_model.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            starts
                .iter()
                .map(|s| s.endpoint.as_str().to_string())
                .collect::<Vec<_>>(),
        )
        .bind(starts.iter().map(|s| s.streamed).collect::<Vec<_>>())
        .bind(
            starts
                .iter()
                .map(|s| s.price_version_id)
                .collect::<Vec<_>>(),
        )
        .bind(instance.to_string())
        .bind(
            starts
                .iter()
                .map(|s| s.requested_model.clone())
                .collect::<Vec<_>>(),
        )
}

/// The records' insert (idempotent by id), returning the ids that were new.
const RECORDS_INSERT: &str = "INSERT INTO usage_records (id, started_at, finished_at, key_id, team_id, model_id, provider_id, \
     upstream_model, endpoint, streamed, status, http_status, upstream_status, input_tokens, \
     cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, usage_source, \
     price_version_id, cost_picos, latency_ms, ttft_ms, error, usage_note, requested_model, \
     cache_write_1h_tokens, service_tier, web_search_requests) \
     SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
     $7::text[], $8::text[], $9::text[], $10::boolean[], $11::text[], $12::bigint[], $13::bigint[], \
     $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[], \
     $20::text[], $21::bigint[], $22::bigint[], $23::bigint[], $24::bigint[], $25::text[], $26::text[], \
     $27::text[], $28::bigint[], $29::text[], $30::bigint[]) \
     ON CONFLICT (id) DO NOTHING RETURNING id";

/// A query of the batch statement, whatever rows it returns.
pub(super) type Q<'q, O> = sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments>;

/// Binds the records' 30 columns, one array each, as [`RECORDS_INSERT`] numbers them.
fn bind_records<'q, O>(query: Q<'q, O>, records: &[UsageRecord]) -> Result<Q<'q, O>, StoreError> {
    let costs = records
        .iter()
        .map(|r| {
            to_picos(r.cost).ok_or_else(|| {
                StoreError::Corrupt(format!("cost {} is not whole picodollars", r.cost))
            })
        })
        .collect::<Result<Vec<i64>, _>>()?;
    let col = |f: fn(&UsageRecord) -> i64| records.iter().map(f).collect::<Vec<i64>>();
    let text = |f: fn(&UsageRecord) -> Option<String>| {
        records.iter().map(f).collect::<Vec<Option<String>>>()
    };
    Ok(query
        .bind(records.iter().map(|r| r.id.clone()).collect::<Vec<_>>())
        .bind(col(|r| to_millis(r.started_at)))
        .bind(col(|r| to_millis(r.finished_at)))
        .bind(text(|r| r.key_id.clone()))
        .bind(text(|r| r.team_id.clone()))
        .bind(
            records
                .iter()
                .map(|r| r.model_id.clone())
                .collect::<Vec<_>>(),
        )
        .bind(text(|r| r.provider_id.clone()))
        .bind(text(|r| r.upstream_model.clone()))
        .bind(
            records
                .iter()
                .map(|r| r.endpoint.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(records.iter().map(|r| r.streamed).collect::<Vec<_>>())
        .bind(
            records
                .iter()
                .map(|r| r.status.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(col(|r| i64::from(r.http_status)))
        .bind(
            records
                .iter()
                .map(|r| r.upstream_status.map(i64::from))
                .collect::<Vec<_>>(),
        )
        .bind(col(|r| int(r.usage.input_tokens)))
        .bind(col(|r| int(r.usage.cached_input_tokens)))
        .bind(col(|r| int(r.usage.cache_write_tokens)))
        .bind(col(|r| int(r.usage.output_tokens)))
        .bind(col(|r| int(r.usage.reasoning_tokens)))
        .bind(col(|r| int(r.usage.images)))
        .bind(
            records
                .iter()
                .map(|r| r.usage_source.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            records
                .iter()
                .map(|r| r.price_version_id)
                .collect::<Vec<_>>(),
        )
        .bind(costs)
        .bind(col(|r| int(r.latency_ms)))
        .bind(
            records
                .iter()
                .map(|r| r.ttft_ms.map(int))
                .collect::<Vec<_>>(),
        )
        .bind(text(|r| r.error.clone()))
        .bind(text(|r| r.usage_note.clone()))
        .bind(text(|r| r.requested_model.clone()))
        .bind(col(|r| int(r.usage.cache_write_1h_tokens)))
        .bind(
            records
                .iter()
                .map(|r| r.usage.service_tier.map(|t| t.as_str()))
                .collect::<Vec<_>>(),
        )
        .bind(col(|r| int(r.usage.web_search_requests))))
}

/// Inserts records (idempotent by id); returns the ids that were new. Rollups follow by trigger
/// in the same transaction.
pub(super) async fn insert_records(
    tx: &mut PgConnection,
    records: &[UsageRecord],
) -> Result<Vec<String>, StoreError> {
    if records.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<(String,)> = bind_records(sqlx::query_as(RECORDS_INSERT), records)?
        .fetch_all(tx)
        .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Removes the start rows of finished calls.
pub(super) async fn delete_starts(tx: &mut PgConnection, ids: &[String]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM call_starts WHERE id = ANY($1)")
        .bind(ids)
        .execute(tx)
        .await?;
    Ok(())
}
