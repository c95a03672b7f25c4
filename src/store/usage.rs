//! The usage ledger: call starts, usage records (append-only) and crash close-out.

use super::batch::{Inserted, Script};
use sqlx::{Connection, FromRow, Sqlite, SqliteConnection, Transaction};

use super::{from_millis, on_pool, pg_ledger, pg_settle, to_millis, Pool, Store, StoreError};
use std::collections::HashMap;

use super::budgets::{lock_order, LockKey, Targets};
use crate::budgets::enforce::{Line, Settlement};
use crate::budgets::leases::Release;
use crate::metering::{CallStart, CallStatus, Endpoint, UsageRecord, UsageSource};
use crate::money::{from_picos, to_picos};
use crate::pricing::Usage;
use crate::service_tier::ServiceTier;

pub(super) const RECORD_COLUMNS: &str = "id, started_at, finished_at, key_id, team_id, model_id, provider_id, \
    upstream_model, endpoint, streamed, status, http_status, upstream_status, input_tokens, \
    cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, usage_source, \
    price_version_id, cost_picos, latency_ms, ttft_ms, error, usage_note, requested_model, \
    cache_write_1h_tokens, service_tier, web_search_requests";

#[derive(FromRow)]
struct RecordRow {
    id: String,
    started_at: i64,
    finished_at: i64,
    key_id: Option<String>,
    team_id: Option<String>,
    model_id: String,
    provider_id: Option<String>,
    upstream_model: Option<String>,
    endpoint: String,
    streamed: bool,
    status: String,
    http_status: i64,
    upstream_status: Option<i64>,
    input_tokens: i64,
    cached_input_tokens: i64,
    cache_write_tokens: i64,
    output_tokens: i64,
    reasoning_tokens: i64,
    images: i64,
    usage_source: String,
    price_version_id: Option<i64>,
    cost_picos: i64,
    latency_ms: i64,
    ttft_ms: Option<i64>,
    error: Option<String>,
    usage_note: Option<String>,
    requested_model: Option<String>,
    cache_write_1h_tokens: i64,
    service_tier: Option<String>,
    web_search_requests: i64,
}

#[derive(FromRow)]
pub(super) struct StartRow {
    id: String,
    started_at: i64,
    key_id: Option<String>,
    team_id: Option<String>,
    model_id: String,
    provider_id: Option<String>,
    upstream_model: Option<String>,
    endpoint: String,
    streamed: bool,
    price_version_id: Option<i64>,
    requested_model: Option<String>,
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Writes call starts and finished records in one transaction. Records are idempotent by
    /// id: writing the same record twice keeps the first.
    pub async fn write_usage_batch(
        &self,
        starts: &[CallStart],
        records: &[UsageRecord],
    ) -> Result<(), StoreError> {
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        self.write_ledger_batch(starts, records, &[], &ids).await
    }

    /// The metering writer's transaction: new call starts, finished records (idempotent by
    /// id) with their rollups, the settlement of their budget reservations, and the removal of
    /// the starts of `finished_starts`.
    pub async fn write_ledger_batch(
        &self,
        starts: &[CallStart],
        records: &[UsageRecord],
        settlements: &[Option<Settlement>],
        finished_starts: &[String],
    ) -> Result<(), StoreError> {
        if let Pool::Postgres(pool) = &self.pool {
            let mut conn = pool.acquire().await?;
            let starts = (starts, self.instance_id());
            return pg_write_batch(&mut conn, starts, records, settlements, finished_starts).await;
        }
        let mut conn = self.sqlite()?.acquire().await?;
        let batch = (starts, records, settlements, finished_starts);
        let result = write_ledger_batch_on(&mut conn, &self.holds, batch).await;
        if result.is_err() {
            conn.close_on_drop();
        }
        result
    }

    /// The connection the metering writer keeps (see [`LedgerConnection`]).
    pub fn ledger_connection(&self) -> LedgerConnection {
        LedgerConnection {
            store: self.clone(),
            conn: None,
        }
    }

    /// One usage record by call id.
    pub async fn usage_record(&self, id: &str) -> Result<Option<UsageRecord>, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM usage_records WHERE id = $1");
        let row = on_pool!(self, |pool| sqlx::query_as::<_, RecordRow>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        row.map(RecordRow::into_record).transpose()
    }

    /// Records with their `seq`, for a query selecting `seq, RECORD_COLUMNS`.
    pub(super) async fn records_with_seq(
        &self,
        sql: &str,
        binds: &[String],
    ) -> Result<Vec<(i64, UsageRecord)>, StoreError> {
        #[derive(FromRow)]
        struct WithSeq {
            seq: i64,
            #[sqlx(flatten)]
            record: RecordRow,
        }
        let rows = on_pool!(self, |pool| {
            let mut q = sqlx::query_as::<_, WithSeq>(sql);
            for b in binds {
                q = q.bind(b);
            }
            q.fetch_all(pool).await
        })?;
        rows.into_iter()
            .map(|row| Ok((row.seq, row.record.into_record()?)))
            .collect()
    }

    /// Closes out calls that were in flight when the process stopped: each gets a usage
    /// record with status `interrupted` and no charge (the upstream reported nothing).
    pub async fn close_out_interrupted(&self) -> Result<usize, StoreError> {
        let sql = "SELECT s.id, s.started_at, s.key_id, s.team_id, s.model_id, s.provider_id, \
             s.upstream_model, s.endpoint, s.streamed, s.price_version_id, s.requested_model \
             FROM call_starts s \
             LEFT JOIN usage_records u ON u.id = s.id WHERE u.id IS NULL";
        let starts = on_pool!(self, |pool| sqlx::query_as::<_, StartRow>(sql)
            .fetch_all(pool)
            .await)?;
        if let Pool::Postgres(pool) = &self.pool {
            let records = starts
                .iter()
                .map(|row| interrupted(&row.to_start()?))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut tx = pool.begin().await?;
            pg_ledger::insert_records(&mut tx, &records).await?;
            let ids: Vec<String> = starts.iter().map(|s| s.id.clone()).collect();
            pg_ledger::delete_starts(&mut tx, &ids).await?;
            tx.commit().await?;
            return Ok(starts.len());
        }
        let mut tx = self.write_tx().await?;
        for row in &starts {
            insert_record(&mut tx, &interrupted(&row.to_start()?)?).await?;
        }
        sqlx::query("DELETE FROM call_starts")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(starts.len())
    }
}

/// The records of a batch that were new (`inserted`) with their settlements: a record already
/// on the ledger (a retried batch) settles nothing twice.
fn newly_settled<'a>(
    records: &'a [UsageRecord],
    settlements: &'a [Option<Settlement>],
    inserted: &std::collections::HashSet<String>,
) -> Vec<(&'a UsageRecord, &'a Settlement)> {
    records
        .iter()
        .zip(settlements)
        .filter(|(r, _)| inserted.contains(&r.id))
        .filter_map(|(r, s)| s.as_ref().map(|s| (r, s)))
        .collect()
}

/// The record closing out a call whose process stopped before it completed.
fn interrupted(start: &CallStart) -> Result<UsageRecord, StoreError> {
    let mut record = UsageRecord::from_start(start, CallStatus::Interrupted, 0);
    record.error = Some("the gateway stopped before this call completed".into());
    Ok(record)
}

/// A batch on PostgreSQL: starts, records (rollups by trigger), finished starts and settled
/// reservations removed, in one statement ([`pg_ledger::write_batch_statement`]), which is the
/// batch's transaction, committed in its one round trip. A batch that settles budget
/// reservations settles in that statement too ([`pg_settle`]) when no alert can be due;
/// otherwise the statement runs in a transaction that also writes the alerts. Only the records
/// that were new settle (so a retried batch never settles twice).
async fn pg_write_batch(
    conn: &mut sqlx::PgConnection,
    (starts, instance): (&[CallStart], &str),
    records: &[UsageRecord],
    settlements: &[Option<Settlement>],
    finished_starts: &[String],
) -> Result<(), StoreError> {
    let settling: Vec<String> = records
        .iter()
        .zip(settlements)
        .filter(|(_, s)| s.is_some())
        .map(|(r, _)| r.id.clone())
        .collect();
    let batch = pg_ledger::Batch {
        starts,
        instance,
        records,
        finished_starts,
        settling: &settling,
    };
    if settling.is_empty() {
        pg_ledger::write_batch_statement(conn, &batch).await?;
        return Ok(());
    }
    let all: Vec<(&UsageRecord, &Settlement)> = records
        .iter()
        .zip(settlements)
        .filter_map(|(r, s)| s.as_ref().map(|s| (r, s)))
        .collect();
    let now = to_millis(chrono::Utc::now());
    let settle = pg_settle::Settle::of(&all, records.len(), now);
    if settle.guardable() {
        match pg_ledger::write_settling_statement(conn, &batch, &settle, true).await {
            Err(e) if pg_settle::may_alert(&e) => {}
            done => return done.map(drop),
        }
    }
    let mut tx = conn.begin().await?;
    let (inserted, values) =
        pg_ledger::write_settling_statement(&mut tx, &batch, &settle, false).await?;
    let inserted: std::collections::HashSet<String> = inserted.into_iter().collect();
    let values = values
        .iter()
        .filter_map(|&(n, value, granted)| Some((settle.key(n)?, (value, granted))))
        .collect();
    let settled = newly_settled(records, settlements, &inserted);
    super::budgets::write_alerts_postgres(&mut tx, &settled, &values, now).await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_record(
    tx: &mut Transaction<'_, Sqlite>,
    r: &UsageRecord,
) -> Result<(), StoreError> {
    let cost = to_picos(r.cost)
        .ok_or_else(|| StoreError::Corrupt(format!("cost {} is not whole picodollars", r.cost)))?;
    sqlx::query(
        "INSERT INTO usage_records (id, started_at, finished_at, key_id, team_id, model_id, \
         provider_id, upstream_model, endpoint, streamed, status, http_status, upstream_status, \
         input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, \
         images, usage_source, price_version_id, cost_picos, latency_ms, ttft_ms, error, usage_note, \
         requested_model, cache_write_1h_tokens, service_tier, web_search_requests) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&r.id)
    .bind(to_millis(r.started_at))
    .bind(to_millis(r.finished_at))
    .bind(&r.key_id)
    .bind(&r.team_id)
    .bind(&r.model_id)
    .bind(&r.provider_id)
    .bind(&r.upstream_model)
    .bind(r.endpoint.as_str())
    .bind(r.streamed)
    .bind(r.status.as_str())
    .bind(i64::from(r.http_status))
    .bind(r.upstream_status.map(i64::from))
    .bind(int(r.usage.input_tokens))
    .bind(int(r.usage.cached_input_tokens))
    .bind(int(r.usage.cache_write_tokens))
    .bind(int(r.usage.output_tokens))
    .bind(int(r.usage.reasoning_tokens))
    .bind(int(r.usage.images))
    .bind(r.usage_source.as_str())
    .bind(r.price_version_id)
    .bind(cost)
    .bind(int(r.latency_ms))
    .bind(r.ttft_ms.map(int))
    .bind(&r.error)
    .bind(&r.usage_note)
    .bind(&r.requested_model)
    .bind(int(r.usage.cache_write_1h_tokens))
    .bind(r.usage.service_tier.map(ServiceTier::as_str))
    .bind(int(r.usage.web_search_requests))
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM call_starts WHERE id = $1")
        .bind(&r.id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl StartRow {
    pub(super) fn to_start(&self) -> Result<CallStart, StoreError> {
        Ok(CallStart {
            id: self.id.clone(),
            started_at: from_millis(self.started_at)?,
            key_id: self.key_id.clone(),
            team_id: self.team_id.clone(),
            model_id: self.model_id.clone(),
            requested_model: self.requested_model.clone(),
            provider_id: self.provider_id.clone(),
            upstream_model: self.upstream_model.clone(),
            endpoint: Endpoint::parse(&self.endpoint).unwrap_or(Endpoint::OpenaiChat),
            streamed: self.streamed,
            price_version_id: self.price_version_id,
        })
    }
}

impl RecordRow {
    fn into_record(self) -> Result<UsageRecord, StoreError> {
        let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("{what} '{v}'"));
        Ok(UsageRecord {
            endpoint: Endpoint::parse(&self.endpoint)
                .ok_or_else(|| corrupt("endpoint", &self.endpoint))?,
            status: CallStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status", &self.status))?,
            usage_source: UsageSource::parse(&self.usage_source)
                .ok_or_else(|| corrupt("usage_source", &self.usage_source))?,
            started_at: from_millis(self.started_at)?,
            finished_at: from_millis(self.finished_at)?,
            usage: Usage {
                input_tokens: count(self.input_tokens),
                cached_input_tokens: count(self.cached_input_tokens),
                cache_write_tokens: count(self.cache_write_tokens),
                cache_write_1h_tokens: count(self.cache_write_1h_tokens),
                service_tier: self.service_tier.as_deref().and_then(ServiceTier::parse),
                web_search_requests: count(self.web_search_requests),
                output_tokens: count(self.output_tokens),
                reasoning_tokens: count(self.reasoning_tokens),
                images: count(self.images),
            },
            cost: from_picos(self.cost_picos),
            http_status: u16::try_from(self.http_status).unwrap_or(0),
            upstream_status: self.upstream_status.and_then(|s| u16::try_from(s).ok()),
            latency_ms: count(self.latency_ms),
            ttft_ms: self.ttft_ms.map(count),
            id: self.id,
            key_id: self.key_id,
            team_id: self.team_id,
            model_id: self.model_id,
            provider_id: self.provider_id,
            upstream_model: self.upstream_model,
            streamed: self.streamed,
            price_version_id: self.price_version_id,
            error: self.error,
            usage_note: self.usage_note,
            requested_model: self.requested_model,
        })
    }
}

/// The one connection the metering writer writes through, outside the pool. Kept for the
/// writer's life, so SQLite's page cache of the ledger's tables and indexes stays warm between
/// batches (every batch through a different pooled connection would reread the pages another
/// one changed). It never checkpoints the WAL itself (`wal_autocheckpoint=0`): the fsync of a
/// checkpoint would stall the commit that triggered it, and with it every caller waiting for
/// its record; [`Store::checkpoint`] runs beside it instead. After a failed batch the
/// connection is closed and the next batch opens a fresh one.
pub struct LedgerConnection {
    store: Store,
    conn: Option<LedgerConn>,
}

/// The writer's own connection, on either backend.
enum LedgerConn {
    Sqlite(SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl LedgerConnection {
    /// See [`Store::write_ledger_batch`].
    pub async fn write_batch(
        &mut self,
        starts: &[CallStart],
        records: &[UsageRecord],
        settlements: &[Option<Settlement>],
        finished_starts: &[String],
    ) -> Result<(), StoreError> {
        let instance = self.store.instance.clone();
        let holds = self.store.holds.clone();
        let result = match self.connection().await? {
            LedgerConn::Sqlite(conn) => {
                let batch = (starts, records, settlements, finished_starts);
                write_ledger_batch_on(conn, &holds, batch).await
            }
            LedgerConn::Postgres(conn) => {
                let starts = (starts, &*instance);
                pg_write_batch(conn, starts, records, settlements, finished_starts).await
            }
        };
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    /// Reserves several calls' budget and balance lines in one transaction on this connection
    /// (see [`super::reserve_many`]); one answer per call. On SQLite this is the metering
    /// writer's connection, so reservations and the ledger's batches take turns on it instead
    /// of fighting over SQLite's write lock (whose busy wait sleeps in milliseconds); on
    /// PostgreSQL the reservation batcher's own.
    pub async fn reserve_many(
        &mut self,
        asks: &[super::reserve_many::Ask],
    ) -> Result<Vec<Result<(), super::budgets::Refused>>, StoreError> {
        let instance = self.store.instance.clone();
        let holds = self.store.holds.clone();
        let result = match self.connection().await? {
            LedgerConn::Sqlite(conn) => {
                super::reserve_many::reserve_many_sqlite(conn, &holds, asks).await
            }
            LedgerConn::Postgres(conn) => {
                super::reserve_many::reserve_many_postgres(conn, asks, &instance).await
            }
        };
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    /// Releases budget leases ([`crate::budgets::leases`]) once the batches that settled their
    /// calls have committed: deletes each lease's row, or lowers it to what it is to go on
    /// holding (the amounts of its calls whose records could not be written, never more than
    /// it holds); with `all_of_mine`, deletes every lease row of this instance (a clean stop:
    /// a lease whose grant was never heard of included). Leases exist on PostgreSQL only.
    pub async fn release_leases(
        &mut self,
        leases: &[Release],
        all_of_mine: bool,
    ) -> Result<(), StoreError> {
        if leases.is_empty() && !all_of_mine {
            return Ok(());
        }
        let instance = self.store.instance.clone();
        let result = match self.connection().await? {
            LedgerConn::Sqlite(_) => Ok(()),
            LedgerConn::Postgres(conn) => {
                // Deleted by `= ANY`, which the primary key serves (an `IN` over the unnested
                // pairs, with the stop's `OR`, was a sequential scan per release).
                let (kept, deleted): (Vec<&Release>, Vec<&Release>) =
                    leases.iter().partition(|l| l.1 > 0 && !all_of_mine);
                sqlx::query(
                    "WITH k AS (UPDATE budget_reservations b SET amount_picos = LEAST(b.amount_picos, r.keep) \
                       FROM UNNEST($1::text[], $2::bigint[]) AS r(id, keep) WHERE b.call_id = r.id) \
                     DELETE FROM budget_reservations WHERE call_id = ANY($3) \
                     OR ($4 AND instance_id = $5 AND call_id LIKE 'lease\\_%')",
                )
                .bind(kept.iter().map(|l| l.0.as_str()).collect::<Vec<_>>())
                .bind(kept.iter().map(|l| l.1).collect::<Vec<_>>())
                .bind(deleted.iter().map(|l| l.0.as_str()).collect::<Vec<_>>())
                .bind(all_of_mine)
                .bind(&*instance)
                .execute(conn)
                .await
                .map(drop)
                .map_err(StoreError::from)
            }
        };
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    /// Closes the connection (at shutdown, after the last batch).
    pub async fn close(&mut self) {
        match self.conn.take() {
            Some(LedgerConn::Sqlite(conn)) => {
                let _ = conn.close().await;
            }
            Some(LedgerConn::Postgres(conn)) => {
                let _ = conn.close().await;
            }
            None => {}
        }
    }

    async fn connection(&mut self) -> Result<&mut LedgerConn, StoreError> {
        if self.conn.is_none() {
            self.conn = Some(self.open().await?);
        }
        Ok(self.conn.as_mut().expect("the connection was just opened"))
    }

    async fn open(&self) -> Result<LedgerConn, StoreError> {
        let pool = match &self.store.pool {
            Pool::Postgres(pool) => {
                let mut conn = sqlx::PgConnection::connect_with(&pool.connect_options()).await?;
                // Every statement on this connection (the ledger's batches, the reservation
                // function, the rollup triggers) finds its rows by an index, whatever its
                // parameters. So plans are made once, generic, and never with a sequential
                // scan. Measured under load: re-planning per call was about 14 % of the
                // database's CPU; and a plan made while `call_starts` or `budget_reservations`
                // held one page (a sequential scan) stays cached while their insert-then-delete
                // churn grows them to hundreds of pages of dead rows until autovacuum — 12 %.
                for setting in [
                    "SET enable_seqscan = off",
                    "SET plan_cache_mode = force_generic_plan",
                ] {
                    sqlx::query(setting).execute(&mut conn).await?;
                }
                return Ok(LedgerConn::Postgres(conn));
            }
            Pool::Sqlite(pool) => pool,
        };
        let mut conn = SqliteConnection::connect_with(&pool.connect_options()).await?;
        sqlx::query("PRAGMA wal_autocheckpoint = 0")
            .execute(&mut conn)
            .await?;
        Ok(LedgerConn::Sqlite(conn))
    }
}

/// A SQLite ledger batch: its starts, records, settlements (one per record) and the starts of
/// finished calls to remove.
type SqliteBatch<'a> = (
    &'a [CallStart],
    &'a [UsageRecord],
    &'a [Option<Settlement>],
    &'a [String],
);

/// Writes a batch; once it has committed, lets go of the reservations its records settled and
/// remembers their accounts' new values ([`super::holds`]).
///
/// The batch's settlements go in the same script as its records, assuming every record is new
/// (a record is written twice only when a batch is retried): one round trip to the database
/// thread, then `COMMIT` (and the alerts between, when a threshold was crossed). When the
/// records' insert counts fewer new ones than the batch holds, a settlement must not be
/// applied again: the script is rolled back and the batch settles its new records alone.
async fn write_ledger_batch_on(
    conn: &mut SqliteConnection,
    holds: &super::holds::Holds,
    (starts, records, settlements, finished_starts): SqliteBatch<'_>,
) -> Result<(), StoreError> {
    if settlements.iter().all(Option::is_none) {
        return write_plain_batch(conn, starts, records, finished_starts).await;
    }
    let epoch = holds.epoch();
    let settled = write_settling_batch(conn, (starts, records, settlements, finished_starts)).await;
    match settled {
        Ok((lines, finals)) => {
            holds.settle(lines, &finals.unwrap_or_default(), epoch);
            Ok(())
        }
        Err(e) => {
            // It may have committed after all (an error answering `COMMIT`): forget the values.
            holds.forget();
            Err(e)
        }
    }
}

/// The lines a settling batch settled, and their accounts' new values when every record was
/// new (`None` after a retry: the values are then not remembered).
type SettledLines<'a> = (Vec<&'a Line>, Option<HashMap<LockKey, i64>>);

/// [`write_ledger_batch_on`]'s transaction, for a batch with settlements.
async fn write_settling_batch<'a>(
    conn: &mut SqliteConnection,
    (starts, records, settlements, finished_starts): SqliteBatch<'a>,
) -> Result<SettledLines<'a>, StoreError> {
    let now = to_millis(chrono::Utc::now());
    let all: Vec<(&UsageRecord, &Settlement)> = records
        .iter()
        .zip(settlements)
        .filter_map(|(r, s)| s.as_ref().map(|s| (r, s)))
        .collect();
    // `BEGIN` goes with the script; a statement that fails leaves the transaction open, and
    // both callers then close the connection, which rolls it back.
    let mut script = records_script(starts, records, finished_starts, Inserted::Count)?;
    let targets = script.settlements(&all, now);
    let returned = script.run(conn).await?;
    let (settled, finals) = if usize::try_from(returned.inserted) == Ok(records.len()) {
        super::budgets::write_settled_alerts(conn, &all, &targets, &returned.values, now).await?;
        (all, Some(final_values(&targets, &returned.values)))
    } else {
        sqlx::query("ROLLBACK").execute(&mut *conn).await?;
        let inserted = records_script(starts, records, finished_starts, Inserted::Ids)?
            .run(conn)
            .await?
            .ids;
        let settled = newly_settled(records, settlements, &inserted);
        super::budgets::settle_batch(conn, &settled).await?;
        (settled, None)
    };
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    let lines = settled.iter().flat_map(|(_, s)| &s.lines).collect();
    Ok((lines, finals))
}

/// Each settled account's value after the batch: its last update's (the script runs them in
/// order). An account whose row no update found has none, and is forgotten.
fn final_values(targets: &Targets<'_>, values: &[(i64, i64, i64)]) -> HashMap<LockKey, i64> {
    let mut finals = HashMap::new();
    for &(tag, value, _) in values {
        if let Some((line, _, _)) = usize::try_from(tag).ok().and_then(|t| targets.get(t)) {
            finals.insert(lock_order(&line.account), value);
        }
    }
    finals
}

/// A settling batch's transaction up to its settlement: `BEGIN IMMEDIATE`, its starts, its
/// records (saying which were new as `inserted` asks), the finished calls' starts removed.
fn records_script<'a>(
    starts: &'a [CallStart],
    records: &'a [UsageRecord],
    finished_starts: &'a [String],
    inserted: Inserted,
) -> Result<Script<'a>, StoreError> {
    let mut script = Script::transaction();
    script
        .starts(starts)
        .records(records, inserted)?
        .delete_starts(finished_starts);
    Ok(script)
}

/// A batch with nothing to settle: the whole transaction is one script, one round trip to the
/// database thread (the metering hot path); a batch of records only is one statement, its own
/// transaction ([`Script::plain`]). A script that fails part-way leaves its transaction
/// open: both callers then close the connection, which rolls it back.
async fn write_plain_batch(
    conn: &mut SqliteConnection,
    starts: &[CallStart],
    records: &[UsageRecord],
    finished_starts: &[String],
) -> Result<(), StoreError> {
    let mut script = Script::plain(starts.len(), records.len(), finished_starts.len());
    script
        .starts(starts)
        .records(records, Inserted::Nothing)?
        .delete_starts(finished_starts);
    script.execute(conn).await
}
