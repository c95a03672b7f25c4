//! Reservations of several calls in one transaction (issue 14).
//!
//! The calls queued while the previous batch ran are reserved together: their accounts'
//! committed values and held amounts are read once, each call is checked in memory in arrival
//! order — all of its lines or none, refused with the account and remainder one call alone
//! would get ([`super::holds::take`]) — and the held amounts are recorded.
//!
//! On PostgreSQL (several replicas) a reservation is an insert-only row in
//! `budget_reservations`; no account row is written or locked to reserve. Batches that share an
//! account are serialised by a transaction-level advisory lock per account, which the ledger
//! never takes, and the check reads each account's spent (or balance) and the sum of its held
//! rows in one statement, hence one snapshot. The ledger batch that adds a call's cost to its
//! account deletes the call's rows in the same transaction, so a snapshot sees every settled
//! call either as held or as spent, never as neither: the check is exact. Settlement then
//! locks only the account rows it updates, which only ledger batches (one per replica) update:
//! before, each reservation locked them too, and both sides queued on each other's round
//! trips and WAL flushes (docs/budgets.md).
//!
//! The batch runs as one statement, a server-side function ([`super::pg_reserve`]); the
//! transaction below, statement by statement, serves a period's first call, whose counter it
//! creates from the ledger under the lock.
//!
//! On SQLite nothing is written: the reserved amounts are held in memory ([`super::holds`]).

use std::collections::HashMap;

use chrono::Utc;
use sqlx::{Connection, PgConnection, SqliteConnection};

use super::budgets::{lock_order, LockKey, Refused};
use super::holds::{take, Holds};
use super::{to_millis, StoreError};
use crate::budgets::enforce::{Account, Line};
use crate::budgets::leases::is_lease;

/// A call's reservation: its id and its lines.
pub type Ask = (String, Vec<Line>);

/// The distinct accounts the asks draw on, in lock order.
fn keys(asks: &[Ask]) -> Vec<LockKey> {
    let mut keys: Vec<LockKey> = asks
        .iter()
        .flat_map(|(_, lines)| lines.iter().map(|l| lock_order(&l.account)))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The `account` column of an account's reservation rows: the scope of a budget, the owner
/// kind and `_credit` of a balance ([`Account::kind`]).
pub(super) fn account_column(key: &LockKey) -> String {
    if key.0 == 0 {
        key.1.clone()
    } else {
        format!("{}_credit", key.1)
    }
}

/// The advisory lock of an account: a 64-bit FNV-1a hash of its key, stable across builds and
/// replicas (the standard library's hasher is not). Two accounts that collide only share a
/// lock, which costs waiting, never exactness.
pub(super) fn advisory_key(key: &LockKey) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let period = key.3.to_string();
    let parts = [
        b"tollgate-budget".as_slice(),
        &[key.0],
        key.1.as_bytes(),
        key.2.as_bytes(),
        period.as_bytes(),
    ];
    for part in parts {
        for &byte in part.iter().chain(&[0x1f]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Reserves `asks` on PostgreSQL (see the module's doc): in one statement
/// ([`super::pg_reserve`]), or, when a budget's period has no counter yet, in a transaction
/// that creates it; a batch with a budget lease commits durably ([`reserve_durably`]). Each
/// answer is the call's: reserved, or refused by an account.
pub(super) async fn reserve_many_postgres(
    conn: &mut PgConnection,
    asks: &[Ask],
    instance: &str,
) -> Result<Vec<Result<(), Refused>>, StoreError> {
    let keys = keys(asks);
    if keys.is_empty() {
        return Ok(vec![Ok(()); asks.len()]);
    }
    if asks.iter().any(|(id, _)| is_lease(id)) {
        return reserve_durably(conn, asks, &keys, instance).await;
    }
    if let Some(answers) = super::pg_reserve::reserve(conn, asks, &keys, instance).await? {
        return Ok(answers);
    }
    reserve_in_transaction(conn, asks, &keys, instance, false).await
}

/// A batch that grants budget leases commits with the WAL flushed: a call's row lost with a
/// database crash is harmless (the call settles its real cost; the row it would have deleted
/// is simply absent), a lease's is not, since its replica would go on admitting calls against
/// headroom no other replica sees held. The one statement runs in a transaction whose commit
/// waits for the flush (the statement turns the wait off for itself; this turns it back on).
async fn reserve_durably(
    conn: &mut PgConnection,
    asks: &[Ask],
    keys: &[LockKey],
    instance: &str,
) -> Result<Vec<Result<(), Refused>>, StoreError> {
    let mut tx = conn.begin().await?;
    match super::pg_reserve::reserve(&mut tx, asks, keys, instance).await? {
        Some(answers) => {
            durable_commit(&mut tx).await?;
            tx.commit().await?;
            Ok(answers)
        }
        None => {
            tx.rollback().await?;
            reserve_in_transaction(conn, asks, keys, instance, true).await
        }
    }
}

/// Makes the transaction's commit wait for its WAL flush, whatever a statement in it set.
async fn durable_commit(tx: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SET LOCAL synchronous_commit TO on")
        .execute(tx)
        .await?;
    Ok(())
}

/// The batch statement by statement: a budget's period without its counter yet creates it from
/// the ledger under the lock first.
async fn reserve_in_transaction(
    conn: &mut PgConnection,
    asks: &[Ask],
    keys: &[LockKey],
    instance: &str,
    durable: bool,
) -> Result<Vec<Result<(), Refused>>, StoreError> {
    let mut tx = conn.begin().await?;
    pg_lock_accounts(&mut tx, keys).await?;
    let (mut values, mut held) = pg_read(&mut tx, keys).await?;
    let missing = missing_counters(asks, &values);
    if !missing.is_empty() {
        for account in missing {
            super::budgets::ensure_counter::postgres::run(&mut tx, account).await?;
        }
        (values, held) = pg_read(&mut tx, keys).await?;
    }
    let answers: Vec<Result<(), Refused>> = asks
        .iter()
        .map(|(_, lines)| take(lines, &values, &mut held))
        .collect();
    let taken: Vec<(&str, &Line)> = asks
        .iter()
        .zip(&answers)
        .filter(|(_, answer)| answer.is_ok())
        .flat_map(|((id, lines), _)| lines.iter().map(move |l| (id.as_str(), l)))
        .collect();
    if !taken.is_empty() {
        pg_insert(&mut tx, &taken, instance).await?;
    }
    if durable {
        durable_commit(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(answers)
}

/// Takes the accounts' advisory locks in one statement, in the order of their lock keys (the
/// array's order: `UNNEST` yields it, and each row's lock is taken as the row is produced), so
/// two batches never wait for each other in a cycle. The same statement turns off the wait for
/// the WAL flush at commit: a reservation lost with a database crash is harmless (its call
/// settles its real cost; the row it would have deleted is simply absent), and a flush per
/// batch under the locks would cap an account at one fsync per batch. (A lease's row is not
/// harmless to lose: a batch with one turns the wait back on, [`reserve_durably`].)
async fn pg_lock_accounts(tx: &mut PgConnection, keys: &[LockKey]) -> Result<(), StoreError> {
    let mut locks: Vec<i64> = keys.iter().map(advisory_key).collect();
    locks.sort_unstable();
    locks.dedup();
    sqlx::query(
        "SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock(k) \
         FROM UNNEST($1::bigint[]) AS k",
    )
    .bind(locks)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Each account's committed value (a counter's spent, a balance; absent when the row does not
/// exist) and the sum of its held reservation rows, in one statement: one snapshot, taken after
/// the locks are held (see the module's doc; a statement's snapshot is taken when it starts,
/// which is why the locks are a statement of their own).
async fn pg_read(
    tx: &mut PgConnection,
    keys: &[LockKey],
) -> Result<(HashMap<LockKey, i64>, HashMap<LockKey, i128>), StoreError> {
    let rows: Vec<(i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT k.i, CASE WHEN k.credit THEN \
           (SELECT c.balance_picos FROM credit_accounts c WHERE c.owner_kind = k.owner AND c.owner_id = k.id) \
         ELSE (SELECT b.spent_picos FROM budget_counters b \
           WHERE b.scope = k.owner AND b.scope_id = k.id AND b.period_start = k.start) END, \
         CAST(LEAST(COALESCE((SELECT SUM(r.amount_picos) FROM budget_reservations r \
           WHERE r.account = k.account AND r.account_id = k.id AND r.period_start = k.start), 0), \
           9223372036854775807) AS BIGINT) \
         FROM UNNEST($1::boolean[], $2::text[], $3::text[], $4::bigint[], $5::text[]) \
           WITH ORDINALITY AS k(credit, owner, id, start, account, i)",
    )
    .bind(keys.iter().map(|k| k.0 == 1).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1.clone()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.2.clone()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.3).collect::<Vec<_>>())
    .bind(keys.iter().map(account_column).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    let (mut values, mut held) = (HashMap::new(), HashMap::new());
    for (i, value, sum) in rows {
        let Some(key) = usize::try_from(i - 1).ok().and_then(|i| keys.get(i)) else {
            continue;
        };
        if let Some(value) = value {
            values.insert(key.clone(), value);
        }
        if sum != 0 {
            held.insert(key.clone(), i128::from(sum));
        }
    }
    Ok((values, held))
}

/// The reservation rows of the calls a batch let through, in one statement.
async fn pg_insert(
    tx: &mut PgConnection,
    taken: &[(&str, &Line)],
    instance: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO budget_reservations (call_id, account, account_id, period_start, amount_picos, created_at, instance_id) \
         SELECT r.call_id, r.account, r.account_id, r.period_start, r.amount, $6, $7 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS r(call_id, account, account_id, period_start, amount)",
    )
    .bind(taken.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>())
    .bind(taken.iter().map(|(_, l)| l.account.kind()).collect::<Vec<_>>())
    .bind(taken.iter().map(|(_, l)| l.account.id().to_string()).collect::<Vec<_>>())
    .bind(taken.iter().map(|(_, l)| l.account.period_start()).collect::<Vec<_>>())
    .bind(taken.iter().map(|(_, l)| l.amount_picos).collect::<Vec<_>>())
    .bind(to_millis(Utc::now()))
    .bind(instance)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Reserves `asks` on SQLite against the committed spent and balance values and what this
/// process's calls in flight hold ([`super::holds`]): reads only, on the metering writer's
/// connection, in turn with its ledger batches (which is what makes the holds exact), and the
/// values read are remembered for the next calls. A period's first call creates its counter
/// from the ledger first, in a write transaction.
pub(super) async fn reserve_many_sqlite(
    conn: &mut SqliteConnection,
    holds: &Holds,
    asks: &[Ask],
) -> Result<Vec<Result<(), Refused>>, StoreError> {
    let keys = keys(asks);
    let epoch = holds.epoch();
    let mut values = sqlite_values(conn, &keys).await?;
    let missing: Vec<&Account> = missing_counters(asks, &values);
    if !missing.is_empty() {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        for account in missing {
            super::budgets::ensure_counter::sqlite::run(&mut tx, account).await?;
        }
        tx.commit().await?;
        values = sqlite_values(conn, &keys).await?;
    }
    holds.remember(&values, epoch);
    Ok(holds.reserve(asks.iter().map(|(_, lines)| lines.as_slice()), &values))
}

/// The budget accounts of `asks` whose period has no counter yet, each once.
fn missing_counters<'a>(asks: &'a [Ask], values: &HashMap<LockKey, i64>) -> Vec<&'a Account> {
    let mut seen = std::collections::HashSet::new();
    asks.iter()
        .flat_map(|(_, lines)| lines.iter().map(|l| &l.account))
        .filter(|a| matches!(a, Account::Budget { .. }))
        .filter(|a| {
            let key = lock_order(a);
            !values.contains_key(&key) && seen.insert(key)
        })
        .collect()
}

/// The committed value of each row of `keys` that exists: a counter's spent, a balance.
async fn sqlite_values(
    conn: &mut SqliteConnection,
    keys: &[LockKey],
) -> Result<HashMap<LockKey, i64>, StoreError> {
    let mut values = HashMap::with_capacity(keys.len());
    for key in keys {
        let value: Option<(i64,)> = if key.0 == 0 {
            sqlx::query_as("SELECT spent_picos FROM budget_counters WHERE scope = $1 AND scope_id = $2 AND period_start = $3")
                .bind(&key.1)
                .bind(&key.2)
                .bind(key.3)
                .fetch_optional(&mut *conn)
                .await?
        } else {
            sqlx::query_as(
                "SELECT balance_picos FROM credit_accounts WHERE owner_kind = $1 AND owner_id = $2",
            )
            .bind(&key.1)
            .bind(&key.2)
            .fetch_optional(&mut *conn)
            .await?
        };
        if let Some((value,)) = value {
            values.insert(key.clone(), value);
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budgets::enforce::Scope;
    use crate::budgets::Mode;
    use crate::store::holds::tests::{budget, credit};

    /// FNV-1a 64 of "tollgate-budget", 0, "key", "k", "0", each followed by 0x1f (computed
    /// with a few lines of Python).
    const FNV_OF_KEY_K: i64 = -4_708_261_405_931_860_066;

    #[test]
    fn advisory_keys_are_stable_and_tell_accounts_apart() {
        // Fixed, computed apart from this code: replicas built by different toolchains must
        // agree on every account's lock.
        let key: LockKey = (0, "key".into(), "k".into(), 0);
        assert_eq!(advisory_key(&key), FNV_OF_KEY_K);
        let team: LockKey = (0, "team".into(), "k".into(), 0);
        let balance: LockKey = (1, "key".into(), "k".into(), 0);
        let other_period = (0, key.1.clone(), key.2.clone(), key.3 + 1);
        let all = [&key, &team, &balance, &other_period].map(advisory_key);
        let distinct: std::collections::HashSet<i64> = all.iter().copied().collect();
        assert_eq!(distinct.len(), 4);
    }

    #[test]
    fn reservation_rows_name_accounts_as_settlement_deletes_them() {
        for line in [budget(Scope::Team, "t", 1, Mode::Hard, 1), credit("k", 1)] {
            assert_eq!(
                account_column(&lock_order(&line.account)),
                line.account.kind()
            );
        }
    }
}
