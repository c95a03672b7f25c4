//! The metering writer's batch: every statement covers the whole batch (multi-row inserts), and
//! all of a batch's statements go to SQLite as one script, so a batch of any size costs one
//! round trip to the database thread when no budget settles with it. Rollups follow by trigger.

use std::collections::HashSet;

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::budgets::Targets;
use super::{to_millis, StoreError};
use crate::budgets::enforce::Settlement;
use crate::metering::{CallStart, UsageRecord};
use crate::money::to_picos;

/// Rows per multi-row statement (SQLite allows 32766 bound parameters per statement).
const CHUNK: usize = 400;

/// Batches of up to this many rows keep their prepared script in the statement cache: the
/// common small batches are prepared once, the rare large ones do not evict them.
const CACHED_ROWS: usize = 16;

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What a script's row-returning statements gave: one shape of row for all, `(tag, value,
/// granted seq, id)`, since one query decodes every statement's rows alike.
#[derive(Debug, Default)]
pub(super) struct Returned {
    /// The records that were new ([`Inserted::Ids`]).
    pub ids: HashSet<String>,
    /// How many records were new ([`Inserted::Count`]).
    pub inserted: i64,
    /// Each settlement update's tag (its place in the [`Targets`]), new value and grant
    /// sequence, in statement order.
    pub values: Vec<(i64, i64, i64)>,
}

/// What a records insert says of the records that were new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inserted {
    Nothing,
    /// How many: `changes()` after each insert. Cheap: SQLite collects a `RETURNING`
    /// statement's rows in a temporary b-tree first (opened, zeroed and dropped each time),
    /// which a budgeted call paid for twice (docs/benchmarks.md).
    Count,
    /// Which, by `RETURNING` (a retried batch, whose new records alone are to settle).
    Ids,
}

/// The statements of one ledger batch, bound in order (`?` placeholders, counted across
/// statements).
pub(super) struct Script<'a> {
    qb: QueryBuilder<'a, Sqlite>,
    rows: usize,
    /// The script opened its transaction with `BEGIN IMMEDIATE` (see [`Self::plain`]).
    begun: bool,
}

impl<'a> Script<'a> {
    /// Statements that open their own `BEGIN IMMEDIATE` transaction: [`Self::execute`] commits
    /// it; after [`Self::run`] it stays open for the caller's further statements and `COMMIT`.
    pub(super) fn transaction() -> Self {
        Script {
            qb: QueryBuilder::new("BEGIN IMMEDIATE; "),
            rows: 0,
            begun: true,
        }
    }

    /// The script of a batch with nothing to settle. A batch of records only (no starts to
    /// write or remove, one multi-row insert: nearly every batch) is that statement alone, its
    /// own transaction: SQLite commits a statement run outside `BEGIN` when it ends, all of it
    /// or none of it, its triggers included. Why not `BEGIN IMMEDIATE` and `COMMIT` around it:
    /// sqlx's SQLite thread sends the caller one message per statement of a script, and each
    /// can wake the writer's task on the runtime; one statement, one wake-up.
    pub(super) fn plain(starts: usize, records: usize, finished: usize) -> Self {
        if starts == 0 && finished == 0 && records <= CHUNK / 2 {
            Script {
                qb: QueryBuilder::new(""),
                rows: 0,
                begun: false,
            }
        } else {
            Self::transaction()
        }
    }

    pub(super) fn starts(&mut self, starts: &'a [CallStart]) -> &mut Self {
        for chunk in starts.chunks(CHUNK) {
            self.rows += chunk.len();
            self.qb.push(
                "INSERT INTO call_starts (id, started_at, key_id, team_id, model_id, provider_id, upstream_model, endpoint, \
                 streamed, price_version_id, input_tokens_estimate, requested_model) ",
            );
            self.qb.push_values(chunk, |mut b, s| {
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
                    .push_bind(0i64)
                    .push_bind(&s.requested_model);
            });
            self.qb.push(" ON CONFLICT (id) DO NOTHING; ");
        }
        self
    }

    /// Inserts records, idempotent by id, saying which were new as `returning` asks (in the
    /// shape of the settlement updates' rows, see [`Returned`]).
    pub(super) fn records(
        &mut self,
        records: &'a [UsageRecord],
        returning: Inserted,
    ) -> Result<&mut Self, StoreError> {
        for chunk in records.chunks(CHUNK / 2) {
            self.rows += chunk.len();
            let costs = chunk
                .iter()
                .map(|r| {
                    to_picos(r.cost).ok_or_else(|| {
                        StoreError::Corrupt(format!("cost {} is not whole picodollars", r.cost))
                    })
                })
                .collect::<Result<Vec<i64>, _>>()?;
            self.qb.push(
                "INSERT INTO usage_records (id, started_at, finished_at, key_id, team_id, model_id, provider_id, upstream_model, \
                 endpoint, streamed, status, http_status, upstream_status, input_tokens, cached_input_tokens, cache_write_tokens, \
                 output_tokens, reasoning_tokens, images, usage_source, price_version_id, cost_picos, latency_ms, ttft_ms, error, \
                 usage_note, requested_model, cache_write_1h_tokens, service_tier, web_search_requests) ",
            );
            self.qb
                .push_values(chunk.iter().zip(costs), |mut b, (r, cost)| {
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
                        .push_bind(&r.error)
                        .push_bind(&r.usage_note)
                        .push_bind(&r.requested_model)
                        .push_bind(int(r.usage.cache_write_1h_tokens))
                        .push_bind(r.usage.service_tier.map(|t| t.as_str()))
                        .push_bind(int(r.usage.web_search_requests));
                });
            self.qb.push(match returning {
                Inserted::Nothing => " ON CONFLICT (id) DO NOTHING; ",
                Inserted::Count => " ON CONFLICT (id) DO NOTHING; SELECT -1, changes(), 0, NULL; ",
                Inserted::Ids => " ON CONFLICT (id) DO NOTHING RETURNING -1, 1, 0, id; ",
            });
        }
        Ok(self)
    }

    /// Removes the start rows of finished calls.
    pub(super) fn delete_starts(&mut self, ids: &'a [String]) -> &mut Self {
        for chunk in ids.chunks(CHUNK) {
            self.rows += chunk.len();
            self.qb.push("DELETE FROM call_starts WHERE id IN (");
            let mut list = self.qb.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            self.qb.push("); ");
        }
        self
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends the settlement of `items` (their budgets' and balances' updates, each returning
    /// its tag and new value, and their credit entries), assuming every record is new: the
    /// caller checks that against [`Returned::ids`] before it commits.
    pub(super) fn settlements(
        &mut self,
        items: &[(&'a UsageRecord, &'a Settlement)],
        now: i64,
    ) -> Targets<'a> {
        let targets = super::budgets::push_settlements(&mut self.qb, items, now);
        self.rows += targets.len();
        targets
    }

    /// Runs the script; returns the rows its statements gave.
    pub(super) async fn run(mut self, conn: &mut SqliteConnection) -> Result<Returned, StoreError> {
        let mut out = Returned::default();
        if self.is_empty() {
            return Ok(out);
        }
        let rows: Vec<(i64, i64, i64, Option<String>)> = self
            .qb
            .build_query_as()
            .persistent(self.rows <= CACHED_ROWS)
            .fetch_all(conn)
            .await?;
        for (tag, value, seq, id) in rows {
            match id {
                Some(id) => {
                    out.ids.insert(id);
                }
                None if tag == -1 => out.inserted += value,
                None => out.values.push((tag, value, seq)),
            }
        }
        Ok(out)
    }

    /// Runs the script, which holds no `RETURNING`, and commits, as one round trip. A script
    /// that fails part-way leaves its transaction open: the caller closes the connection, which
    /// rolls it back. (A single statement from [`Self::plain`] needs no `COMMIT`: it is its own transaction.)
    pub(super) async fn execute(mut self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        if self.is_empty() {
            return Ok(());
        }
        if self.begun {
            self.qb.push("COMMIT;");
        }
        self.qb
            .build()
            .persistent(self.rows <= CACHED_ROWS)
            .execute(conn)
            .await?;
        Ok(())
    }
}
