//! Budget statements: teams, reservations, settlement, prepaid credits and the alert outbox.

use chrono::Utc;
use sqlx::{FromRow, Sqlite};

use super::shared::for_each_backend;
use super::{from_millis, on_pool, parse_json, to_json, to_millis, Pool, Store, StoreError};
use crate::budgets::enforce::{budget_alerts, Account, Line, NewAlert, Settlement};
use crate::budgets::Team;
use crate::metering::UsageRecord;
use crate::money::{format_usd, from_picos, to_picos};

/// The account that refused a reservation, with what remained on it.
#[derive(Debug, Clone)]
pub struct Refused {
    pub line: usize,
    pub remaining_picos: i64,
}

#[derive(FromRow)]
struct TeamRow {
    id: String,
    name: String,
    budget: Option<String>,
    rate_limits: Option<String>,
    webhook_url: Option<String>,
    metadata: String,
    created_at: i64,
}

/// An alert as stored, with its delivery state.
#[derive(Debug, Clone, FromRow)]
pub struct AlertRow {
    pub id: String,
    pub kind: String,
    pub scope: String,
    pub scope_id: String,
    pub payload: String,
    pub created_at: i64,
    pub webhook_url: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub last_error: Option<String>,
}

/// One entry of a prepaid credit ledger.
#[derive(Debug, Clone, FromRow)]
pub struct CreditEntryRow {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub amount_picos: i64,
    pub usage_id: Option<String>,
    pub note: Option<String>,
    pub created_at: i64,
}

/// A budget's spend in a period, from the ledger (records plus adjustments), as an
/// overflow-safe split sum. Sums are cast back to `BIGINT`: PostgreSQL widens `SUM(bigint)` to
/// `NUMERIC`, whose division would not truncate.
fn ledger_sum_sql(scope: &str) -> &'static str {
    match scope {
        "key" => "SELECT CAST(COALESCE(SUM(net / 1000000), 0) AS BIGINT), CAST(COALESCE(SUM(net % 1000000), 0) AS BIGINT) FROM (SELECT u.cost_picos + COALESCE((SELECT CAST(SUM(a.cost_delta_picos) AS BIGINT) FROM usage_adjustments a WHERE a.usage_id = u.id), 0) AS net FROM usage_records u WHERE u.key_id = $1 AND u.started_at >= $2 AND u.started_at < $3) r",
        "team" => "SELECT CAST(COALESCE(SUM(net / 1000000), 0) AS BIGINT), CAST(COALESCE(SUM(net % 1000000), 0) AS BIGINT) FROM (SELECT u.cost_picos + COALESCE((SELECT CAST(SUM(a.cost_delta_picos) AS BIGINT) FROM usage_adjustments a WHERE a.usage_id = u.id), 0) AS net FROM usage_records u WHERE u.team_id = $1 AND u.started_at >= $2 AND u.started_at < $3) r",
        _ => "SELECT CAST(COALESCE(SUM(net / 1000000), 0) AS BIGINT), CAST(COALESCE(SUM(net % 1000000), 0) AS BIGINT) FROM (SELECT u.cost_picos + COALESCE((SELECT CAST(SUM(a.cost_delta_picos) AS BIGINT) FROM usage_adjustments a WHERE a.usage_id = u.id), 0) AS net FROM usage_records u WHERE ($1 = $1) AND u.started_at >= $2 AND u.started_at < $3) r",
    }
}

for_each_backend! {
/// Appends a grant to a prepaid ledger and adds it to the balance; returns the new balance.
fn grant(
    tx: &mut sqlx::Transaction<'_, Db>,
    (kind, id, entry_kind, amount_picos, note): (&str, &str, &str, i64, Option<&str>),
) -> Result<i64, StoreError> {
    let (seq,): (i64,) = sqlx::query_as(
        "INSERT INTO credit_entries (id, owner_kind, owner_id, kind, amount_picos, usage_id, note, created_at) \
         VALUES ($1, $2, $3, $4, $5, NULL, $6, $7) RETURNING seq",
    )
    .bind(format!("cred_{}", uuid::Uuid::now_v7().simple()))
    .bind(kind)
    .bind(id)
    .bind(entry_kind)
    .bind(amount_picos)
    .bind(note)
    .bind(to_millis(Utc::now()))
    .fetch_one(&mut **tx)
    .await?;
    let (balance,): (i64,) = sqlx::query_as(
        "INSERT INTO credit_accounts (owner_kind, owner_id, balance_picos, reserved_picos, granted_seq) VALUES ($1, $2, $3, 0, $4) \
         ON CONFLICT (owner_kind, owner_id) DO UPDATE SET balance_picos = credit_accounts.balance_picos + excluded.balance_picos, \
         granted_seq = excluded.granted_seq RETURNING balance_picos",
    )
    .bind(kind)
    .bind(id)
    .bind(amount_picos)
    .bind(seq)
    .fetch_one(&mut **tx)
    .await?;
    Ok(balance)
}
}

for_each_backend! {
/// Deletes a team no live key belongs to; `lock` is the row-lock clause of the backend.
fn delete_team(tx: &mut sqlx::Transaction<'_, Db>, id: &str, lock: &str) -> Result<(), StoreError> {
    let found: Option<(String,)> = sqlx::query_as(&format!("SELECT id FROM teams WHERE id = $1{lock}"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    if found.is_none() {
        return Err(StoreError::NotFound(format!("team '{id}' not found")));
    }
    let (keys,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM api_keys WHERE team_id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    if keys > 0 {
        return Err(StoreError::Conflict(format!(
            "team '{id}' still has {keys} key(s); move or revoke them first"
        )));
    }
    sqlx::query("DELETE FROM teams WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
}

impl Store {
    pub async fn load_teams(&self) -> Result<Vec<Team>, StoreError> {
        let rows = on_pool!(self, |pool| {
            sqlx::query_as::<_, TeamRow>("SELECT id, name, budget, rate_limits, webhook_url, metadata, created_at FROM teams ORDER BY id")
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|r| {
                Ok(Team {
                    budget: r
                        .budget
                        .as_deref()
                        .map(|b| parse_json("budget", b))
                        .transpose()?,
                    rate_limits: r
                        .rate_limits
                        .as_deref()
                        .map(|b| parse_json("rate_limits", b))
                        .transpose()?,
                    metadata: parse_json("metadata", &r.metadata)?,
                    created_at: from_millis(r.created_at)?,
                    id: r.id,
                    name: r.name,
                    webhook_url: r.webhook_url,
                })
            })
            .collect()
    }

    pub async fn insert_team(&self, t: &Team) -> Result<(), StoreError> {
        let affected = on_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO teams (id, name, budget, rate_limits, webhook_url, metadata, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&t.id)
        .bind(&t.name)
        .bind(t.budget.as_ref().map(to_json))
        .bind(t.rate_limits.as_ref().map(to_json))
        .bind(&t.webhook_url)
        .bind(to_json(&t.metadata))
        .bind(to_millis(t.created_at))
        .execute(pool)
        .await
        .map(|d| d.rows_affected())
        })?;
        if affected == 0 {
            return Err(StoreError::Conflict(format!(
                "team '{}' already exists",
                t.id
            )));
        }
        Ok(())
    }

    /// Deletes a team that no live key belongs to (its usage history keeps its id).
    pub async fn delete_team(&self, id: &str) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                delete_team::sqlite::run(&mut tx, id, "").await?;
                tx.commit().await?;
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // The team's row is locked first, so a key moved into the team meanwhile
                // (which checks the team exists under the same lock) cannot slip past the count.
                delete_team::postgres::run(&mut tx, id, " FOR UPDATE").await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Releases reservations left by calls that were in flight when the process stopped.
    /// On SQLite one process owns the database and holds its reservations in memory
    /// ([`super::holds`]), so whatever the database still says is reserved belongs to no call
    /// any more. On PostgreSQL this releases live replicas' reservations too: a replica's
    /// start recovers only what dead instances left ([`Store::recover_dead_instances`]); this
    /// is for a database no replica runs on.
    pub async fn release_orphan_reservations(&self) -> Result<usize, StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let n = release_all::sqlite::run(&mut tx).await?;
                tx.commit().await?;
                Ok(n)
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let n = release_all::postgres::run(&mut tx).await?;
                tx.commit().await?;
                Ok(n)
            }
        }
    }

    /// Current (spent, reserved) of a budget period, from its counter or, before the period's
    /// first reservation, from the ledger.
    pub async fn budget_status(
        &self,
        scope: &str,
        id: &str,
        start: i64,
        end: Option<i64>,
    ) -> Result<(i64, i64), StoreError> {
        let row: Option<(i64,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT spent_picos FROM budget_counters WHERE scope = $1 AND scope_id = $2 AND period_start = $3")
            .bind(scope)
            .bind(id)
            .bind(start)
            .fetch_optional(pool)
            .await
        })?;
        let held = self
            .reserved(&(0, scope.to_string(), id.to_string(), start))
            .await?;
        if let Some((spent,)) = row {
            return Ok((spent, held));
        }
        let (micros, rest): (i64, i64) =
            on_pool!(self, |pool| sqlx::query_as(ledger_sum_sql(scope))
                .bind(id)
                .bind(start)
                .bind(end.unwrap_or(i64::MAX))
                .fetch_one(pool)
                .await)?;
        Ok((
            i64::try_from(i128::from(micros) * 1_000_000 + i128::from(rest)).unwrap_or(i64::MAX),
            held,
        ))
    }

    /// SQLite: decides a call's reservation at once, in memory, when the metering writer
    /// remembers the committed value of every account it touches ([`super::holds`]); `None`
    /// when the writer is to read them (and always on PostgreSQL).
    pub fn reserve_remembered(&self, lines: &[Line]) -> Option<Result<(), Refused>> {
        match &self.pool {
            Pool::Sqlite(_) => self.holds.reserve_cached(lines),
            Pool::Postgres(_) => None,
        }
    }

    /// What the calls in flight hold on an account, at most `i64::MAX`: this process's, in
    /// memory, on SQLite ([`super::holds`]); every replica's reservation rows on PostgreSQL
    /// ([`super::reserve_many`]). (The accounts' `reserved_picos` columns are no longer kept.)
    async fn reserved(&self, key: &LockKey) -> Result<i64, StoreError> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(self.holds.held(key)),
            Pool::Postgres(pool) => {
                let account = super::reserve_many::account_column(key);
                let (sum,): (i64,) = sqlx::query_as(
                    "SELECT CAST(LEAST(COALESCE(SUM(amount_picos), 0), 9223372036854775807) AS BIGINT) \
                     FROM budget_reservations WHERE account = $1 AND account_id = $2 AND period_start = $3",
                )
                .bind(account)
                .bind(&key.2)
                .bind(key.3)
                .fetch_one(pool)
                .await?;
                Ok(sum)
            }
        }
    }

    /// (balance, reserved) of a prepaid account.
    pub async fn balance(&self, kind: &str, id: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let row: Option<(i64,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT balance_picos FROM credit_accounts WHERE owner_kind = $1 AND owner_id = $2",
            )
            .bind(kind)
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        let Some((balance,)) = row else {
            return Ok(None);
        };
        let held = self
            .reserved(&(1, kind.to_string(), id.to_string(), 0))
            .await?;
        Ok(Some((balance, held)))
    }

    /// A prepaid ledger's entries, newest first: up to `limit` below `before_seq`.
    pub async fn credit_entries(
        &self,
        kind: &str,
        id: &str,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<CreditEntryRow>, StoreError> {
        Ok(on_pool!(self, |pool| sqlx::query_as::<_, CreditEntryRow>(
            "SELECT seq, id, kind, amount_picos, usage_id, note, created_at FROM credit_entries \
             WHERE owner_kind = $1 AND owner_id = $2 AND seq < $3 ORDER BY seq DESC LIMIT $4"
        )
        .bind(kind)
        .bind(id)
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    pub async fn credit_owners(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(on_pool!(self, |pool| sqlx::query_as(
            "SELECT owner_kind, owner_id FROM credit_accounts"
        )
        .fetch_all(pool)
        .await)?)
    }

    /// Appends a grant (top-up, refund, free tier) to a prepaid ledger; returns the new balance.
    pub async fn grant_credit(
        &self,
        kind: &str,
        id: &str,
        entry_kind: &str,
        amount_picos: i64,
        note: Option<&str>,
    ) -> Result<i64, StoreError> {
        let entry = (kind, id, entry_kind, amount_picos, note);
        match &self.pool {
            Pool::Sqlite(_) => {
                let granted = async {
                    let mut tx = self.write_tx().await?;
                    let balance = grant::sqlite::run(&mut tx, entry).await?;
                    tx.commit().await?;
                    Ok(balance)
                }
                .await;
                // The balance moved outside the metering writer's batches (a refund or a
                // correction may lower it): the values it remembers are read again.
                self.holds.forget();
                granted
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let balance = grant::postgres::run(&mut tx, entry).await?;
                tx.commit().await?;
                Ok(balance)
            }
        }
    }

    /// Alerts newest first.
    pub async fn list_alerts(&self, limit: i64) -> Result<Vec<AlertRow>, StoreError> {
        let sql = format!(
            "SELECT id, kind, scope, scope_id, payload, created_at, webhook_url, attempts, next_attempt_at, delivered_at, last_error \
             FROM alerts ORDER BY seq DESC LIMIT {limit}"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as::<_, AlertRow>(&sql)
            .fetch_all(pool)
            .await)?)
    }

    /// Claims up to `limit` alerts due at `now` for delivery by this process: their next
    /// attempt moves to `until`, so no other replica takes them meanwhile (on PostgreSQL the
    /// rows are claimed with `FOR UPDATE SKIP LOCKED`: concurrent claimers skip each other's
    /// rows instead of waiting). A claimer that dies leaves its claims to be taken again at
    /// `until`; a delivered alert is marked so, a failed one gets its backoff.
    pub async fn claim_due_alerts(
        &self,
        now: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<AlertRow>, StoreError> {
        let lock = match self.pool {
            Pool::Sqlite(_) => "",
            Pool::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE alerts SET next_attempt_at = $2 WHERE id IN (SELECT id FROM alerts \
             WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY seq LIMIT {limit}{lock}) \
             RETURNING id, kind, scope, scope_id, payload, created_at, webhook_url, attempts, next_attempt_at, \
             delivered_at, last_error"
        );
        let mut claimed = on_pool!(self, |pool| sqlx::query_as::<_, AlertRow>(&sql)
            .bind(now)
            .bind(until)
            .fetch_all(pool)
            .await)?;
        claimed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(claimed)
    }

    pub async fn alert_delivered(&self, id: &str, at: i64) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE alerts SET delivered_at = $2, attempts = attempts + 1, last_error = NULL WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    pub async fn alert_failed(
        &self,
        id: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE alerts SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 WHERE id = $1")
            .bind(id)
            .bind(next_attempt_at)
            .bind(error)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// Writes alerts outside a call (not caused by a usage record).
    pub async fn insert_alerts(&self, alerts: &[NewAlert]) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(_) => {
                let mut tx = self.write_tx().await?;
                insert_alerts::sqlite::run(&mut tx, alerts).await?;
                tx.commit().await?;
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                insert_alerts::postgres::run(&mut tx, alerts).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

for_each_backend! {
/// Releases every reservation: deletes the rows (on PostgreSQL an account's reserved amount
/// is the sum of its rows; SQLite keeps none) and clears the `reserved_picos` columns that
/// earlier versions kept.
fn release_all(tx: &mut sqlx::Transaction<'_, Db>) -> Result<usize, StoreError> {
    let n = sqlx::query("DELETE FROM budget_reservations")
        .execute(&mut **tx)
        .await?
        .rows_affected();
    for table in ["budget_counters", "credit_accounts"] {
        sqlx::query(&format!(
            "UPDATE {table} SET reserved_picos = 0 WHERE reserved_picos <> 0"
        ))
        .execute(&mut **tx)
        .await?;
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}
}

for_each_backend! {
/// Writes alerts to the outbox, once per dedupe key.
fn insert_alerts(
    conn: &mut <Db as sqlx::Database>::Connection,
    alerts: &[NewAlert],
) -> Result<(), StoreError> {
    let now = to_millis(Utc::now());
    for a in alerts {
        let next = if a.webhook_url.is_some() {
            now
        } else {
            i64::MAX
        };
        sqlx::query(
            "INSERT INTO alerts (id, dedupe_key, kind, scope, scope_id, payload, created_at, webhook_url, attempts, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9) ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(&a.id)
        .bind(&a.dedupe_key)
        .bind(&a.kind)
        .bind(&a.scope)
        .bind(&a.scope_id)
        .bind(a.payload.to_string())
        .bind(now)
        .bind(&a.webhook_url)
        .bind(next)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
}

/// What each SQLite settlement update settles, by its position (returned as its first
/// column): the line, its call's cost, and its settlement.
pub(super) type Targets<'a> = Vec<(&'a Line, i64, &'a Settlement)>;

/// Settles the reservations of a batch's new records to their actual costs, in the batch's
/// transaction, and writes the alerts that raises: every counter and balance update and every
/// credit entry as one script, one round trip for the whole batch. (The metering writer
/// usually folds these statements into its batch's own script instead: `Script::settlements`.)
/// The calls' reservations are held in memory ([`super::holds`]); the caller releases them
/// after the commit.
pub(super) async fn settle_batch(
    conn: &mut sqlx::SqliteConnection,
    items: &[(&UsageRecord, &Settlement)],
) -> Result<(), StoreError> {
    let now = to_millis(Utc::now());
    let mut qb = sqlx::QueryBuilder::<Sqlite>::new("");
    let targets = push_settlements(&mut qb, items, now);
    let mut values = Vec::new();
    if !targets.is_empty() {
        let rows: Vec<(i64, i64, i64, Option<String>)> = qb
            .build_query_as()
            .persistent(targets.len() <= 4)
            .fetch_all(&mut *conn)
            .await?;
        values = rows.into_iter().map(|(t, v, s, _)| (t, v, s)).collect();
    }
    write_settled_alerts(conn, items, &targets, &values, now).await
}

/// Pushes a batch's settlement statements onto `qb`: each line's update of its counter or
/// balance, then a read of its row giving `(tag, new value, granted seq, NULL)`, and each
/// charge's credit entry. SQLite runs the statements in order, so each read sees the value
/// right after its own record, as the alerts need.
pub(super) fn push_settlements<'a>(
    qb: &mut sqlx::QueryBuilder<'a, Sqlite>,
    items: &[(&'a UsageRecord, &'a Settlement)],
    now: i64,
) -> Targets<'a> {
    let mut targets: Targets<'a> = Vec::new();
    for (record, s) in items {
        let cost = to_picos(record.cost).unwrap_or(0);
        for line in &s.lines {
            let tag = i64::try_from(targets.len()).unwrap_or(i64::MAX);
            targets.push((line, cost, s));
            // Spent grows on a budget; a balance shrinks. (The reservation is held in memory:
            // the caller lets go of it once this commits.) The new value is read by a SELECT of
            // the row after its update, not by `RETURNING`, which SQLite collects in a temporary
            // b-tree first, opened and dropped every time (docs/benchmarks.md).
            let (update, read) = match line.account {
                Account::Budget { .. } => (
                    "UPDATE budget_counters SET spent_picos = spent_picos + ",
                    ", spent_picos, 0, NULL FROM budget_counters",
                ),
                Account::Credit { .. } => (
                    "UPDATE credit_accounts SET balance_picos = balance_picos - ",
                    ", balance_picos, granted_seq, NULL FROM credit_accounts",
                ),
            };
            qb.push(update).push_bind(cost);
            push_account_row(qb, &line.account);
            qb.push("; SELECT ").push_bind(tag).push(read);
            push_account_row(qb, &line.account);
            qb.push("; ");
            if let Account::Credit { owner, id, .. } = &line.account {
                if cost > 0 {
                    qb.push(
                        "INSERT INTO credit_entries (id, owner_kind, owner_id, kind, amount_picos, usage_id, note, created_at) VALUES (",
                    );
                    let mut values = qb.separated(", ");
                    values
                        .push_bind(format!("cred_{}", uuid::Uuid::now_v7().simple()))
                        .push_bind(owner.as_str())
                        .push_bind(id.as_str())
                        .push_bind("usage")
                        .push_bind(-cost)
                        .push_bind(record.id.as_str())
                        .push_bind(None::<String>)
                        .push_bind(now);
                    qb.push("); ");
                }
            }
        }
    }
    targets
}

/// Writes a settled batch's alerts: those its calls carried, and those each update's new value
/// raises (`values`: the updates' tags, values and grant sequences).
pub(super) async fn write_settled_alerts(
    conn: &mut sqlx::SqliteConnection,
    items: &[(&UsageRecord, &Settlement)],
    targets: &Targets<'_>,
    values: &[(i64, i64, i64)],
    now: i64,
) -> Result<(), StoreError> {
    let mut alerts: Vec<NewAlert> = items
        .iter()
        .flat_map(|(_, s)| s.alerts.iter().cloned())
        .collect();
    for &(tag, value, granted_seq) in values {
        if let Some((line, cost, s)) = usize::try_from(tag).ok().and_then(|t| targets.get(t)) {
            alerts.extend(settlement_alerts(line, *cost, value, granted_seq, s, now));
        }
    }
    if alerts.is_empty() {
        return Ok(());
    }
    insert_alerts::sqlite::run(conn, &alerts).await
}

/// One line's part in a PostgreSQL settlement: the line, its call's cost, and its settlement.
type Settling<'a> = (&'a Line, i64, &'a Settlement);

/// Writes a PostgreSQL batch's alerts, in the transaction whose batch statement settled it
/// (`tollgate_settle` without its guard, `pg_settle`): those its calls carried, and those the
/// value after each call raises. `values` are the settled accounts' final values and grant
/// sequences, by their place in the lock order; an account without one has no row (nothing
/// was settled there). The value right after each call is the final one with the later
/// calls' costs taken back out: the row is locked from its update on.
pub(super) async fn write_alerts_postgres(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    items: &[(&UsageRecord, &Settlement)],
    values: &std::collections::HashMap<&LockKey, (i64, i64)>,
    now: i64,
) -> Result<(), StoreError> {
    let mut alerts: Vec<NewAlert> = items
        .iter()
        .flat_map(|(_, s)| s.alerts.iter().cloned())
        .collect();
    let mut accounts: std::collections::BTreeMap<LockKey, Vec<Settling<'_>>> =
        std::collections::BTreeMap::new();
    for (record, s) in items {
        let cost = to_picos(record.cost).unwrap_or(0);
        for line in &s.lines {
            accounts
                .entry(lock_order(&line.account))
                .or_default()
                .push((line, cost, s));
        }
    }
    for (key, settling) in &accounts {
        let Some(&(value, granted_seq)) = values.get(key) else {
            continue;
        };
        let credit = matches!(settling[0].0.account, Account::Credit { .. });
        let mut after = vec![value; settling.len()];
        for i in (0..settling.len().saturating_sub(1)).rev() {
            let later = settling[i + 1].1;
            after[i] = if credit {
                after[i + 1].saturating_add(later)
            } else {
                after[i + 1].saturating_sub(later)
            };
        }
        for ((line, cost, s), after) in settling.iter().zip(after) {
            alerts.extend(settlement_alerts(line, *cost, after, granted_seq, s, now));
        }
    }
    insert_alerts::postgres::run(tx, &alerts).await
}

/// The ` WHERE` clause that picks an account's row: its budget period's counter or its balance.
fn push_account_row<'a>(qb: &mut sqlx::QueryBuilder<'a, Sqlite>, account: &'a Account) {
    match account {
        Account::Budget {
            scope,
            id,
            period_start,
            ..
        } => {
            qb.push(" WHERE scope = ")
                .push_bind(scope.as_str())
                .push(" AND scope_id = ")
                .push_bind(id.as_str())
                .push(" AND period_start = ")
                .push_bind(*period_start);
        }
        Account::Credit { owner, id, .. } => {
            qb.push(" WHERE owner_kind = ")
                .push_bind(owner.as_str())
                .push(" AND owner_id = ")
                .push_bind(id.as_str());
        }
    }
}

/// The alerts one line's settlement raises: budget thresholds crossed (from `after - cost` to
/// `after` spent), or a balance falling below the low-balance mark.
fn settlement_alerts(
    line: &Line,
    cost: i64,
    after: i64,
    granted_seq: i64,
    s: &Settlement,
    now: i64,
) -> Vec<NewAlert> {
    match &line.account {
        Account::Budget { .. } => {
            budget_alerts(&line.account, after.saturating_sub(cost), after, now)
        }
        Account::Credit { owner, id, webhook } => {
            // Below the mark after a charge: once per grant (the dedupe key), also when the
            // balance was granted below the mark to begin with.
            if cost > 0 && after < s.low_balance_picos {
                vec![NewAlert::new(
                    "balance.low",
                    format!(
                        "{}{granted_seq}",
                        crate::budgets::bounds::low_balance_key_prefix(owner, id)
                    ),
                    &format!("{}_credit", owner.as_str()),
                    id,
                    webhook.clone(),
                    serde_json::json!({"balance_usd": format_usd(from_picos(after)), "low_balance_usd": format_usd(from_picos(s.low_balance_picos))}),
                )]
            } else {
                Vec::new()
            }
        }
    }
}

/// Applies an adjustment's cost to every budget counter whose period holds the call.
pub(super) async fn adjust_counters(
    tx: &mut super::tx::Tx,
    record: &UsageRecord,
    delta: i64,
) -> Result<(), StoreError> {
    let at = to_millis(record.started_at);
    super::tx::on_tx!(tx, |conn| {
        sqlx::query(
        "UPDATE budget_counters SET spent_picos = spent_picos + $1 WHERE ((scope = 'key' AND scope_id = $2) OR \
         (scope = 'team' AND scope_id = $3) OR scope = 'global') AND period_start <= $4 AND (period_end IS NULL OR period_end > $4)",
    )
    .bind(delta)
    .bind(record.key_id.as_deref().unwrap_or(""))
    .bind(record.team_id.as_deref().unwrap_or(""))
    .bind(at)
    .execute(conn)
    .await
    .map(drop)
    })?;
    Ok(())
}

/// An account's place in the lock order: counters (0) by scope, id and period start, then
/// balances (1) by owner kind and id.
pub(super) type LockKey = (u8, String, String, i64);

/// The order accounts' rows are locked in.
pub(super) fn lock_order(account: &Account) -> LockKey {
    match account {
        Account::Budget {
            scope,
            id,
            period_start,
            ..
        } => (0, scope.as_str().to_string(), id.clone(), *period_start),
        Account::Credit { owner, id, .. } => (1, owner.as_str().to_string(), id.clone(), 0),
    }
}

for_each_backend! {
/// Creates a budget period's counter from the ledger when it does not exist yet (a period's
/// first reservation), in the caller's transaction: on SQLite a write transaction, on
/// PostgreSQL a reservation batch's, under the account's advisory lock (so two replicas never
/// both count the ledger for it). A balance needs nothing.
fn ensure_counter(
    tx: &mut sqlx::Transaction<'_, Db>,
    account: &Account,
) -> Result<(), StoreError> {
    let Account::Budget { scope, id, period_start: start, period_end: end, .. } = account else {
        return Ok(());
    };
    let (scope, start, end) = (scope.as_str(), *start, *end);
    let exists: Option<(i64,)> = sqlx::query_as("SELECT spent_picos FROM budget_counters WHERE scope = $1 AND scope_id = $2 AND period_start = $3")
        .bind(scope)
        .bind(id)
        .bind(start)
        .fetch_optional(&mut **tx)
        .await?;
    if exists.is_some() {
        return Ok(());
    }
    let (micros, rest): (i64, i64) = sqlx::query_as(ledger_sum_sql(scope))
        .bind(id)
        .bind(start)
        .bind(end.unwrap_or(i64::MAX))
        .fetch_one(&mut **tx)
        .await?;
    let spent =
        i64::try_from(i128::from(micros) * 1_000_000 + i128::from(rest)).unwrap_or(i64::MAX);
    sqlx::query("INSERT INTO budget_counters (scope, scope_id, period_start, period_end, spent_picos, reserved_picos) VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT DO NOTHING")
        .bind(scope)
        .bind(id)
        .bind(start)
        .bind(end)
        .bind(spent)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
}
