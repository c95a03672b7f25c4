//! A PostgreSQL reservation batch in one statement (issue 14): `tollgate_reserve` (migration
//! 0017) takes the accounts' advisory locks, reads their values and held rows in one snapshot,
//! decides each call in order and inserts the rows of those it lets through, all in the
//! calling statement's transaction.
//!
//! Why: the batch as a transaction from here was five round trips (`BEGIN`, locks, read,
//! insert, `COMMIT`), and on a loaded machine each is a wake-up of the gateway and of a
//! database backend: measured, that — not waiting on locks — was what a budgeted call added
//! on PostgreSQL. The decision is the one [`super::holds::take`] makes in Rust (SQLite's and
//! the transaction path's): a call's lines in lock order, refused at the first account that
//! cannot cover its line, with what remained there; all of its lines or none. A period's
//! first call (a budget without its counter yet) is left to the transaction path
//! ([`super::reserve_many`]), which creates the counter from the ledger.

use std::collections::HashMap;

use chrono::Utc;
use sqlx::PgConnection;

use super::budgets::{LockKey, Refused};
use super::holds::in_lock_order;
use super::reserve_many::{account_column, advisory_key, Ask};
use super::{to_millis, StoreError};
use crate::budgets::enforce::Account;
use crate::budgets::Mode;

/// A line's rule in the statement: what may refuse it.
fn rule(account: &Account) -> i32 {
    match account {
        Account::Budget { budget, .. } if budget.mode == Mode::Hard => 1,
        Account::Budget { .. } => 0,
        Account::Credit { .. } => 2,
    }
}

/// A line's limit (a hard budget's; unused otherwise).
fn limit(account: &Account) -> i64 {
    match account {
        Account::Budget { budget, .. } => budget.limit_picos(),
        Account::Credit { .. } => 0,
    }
}

/// Reserves `asks`, whose distinct accounts are `keys` (in lock order), in one statement. Each
/// answer is the call's; `None` when an account needs its counter created first (nothing was
/// written).
pub(super) async fn reserve(
    conn: &mut PgConnection,
    asks: &[Ask],
    keys: &[LockKey],
    instance: &str,
) -> Result<Option<Vec<Result<(), Refused>>>, StoreError> {
    let place: HashMap<&LockKey, i32> = keys.iter().zip(1..).collect();
    let mut locks: Vec<i64> = keys.iter().map(advisory_key).collect();
    locks.sort_unstable();
    locks.dedup();
    // Each call's lines in lock order, as (call number from 1, line index, account number).
    let mut lines: Vec<(i32, i32, i32, &Account, i64)> = Vec::new();
    for ((_, ask), call) in asks.iter().zip(1..) {
        for (key, i) in in_lock_order(ask) {
            let line = &ask[i];
            let index = i32::try_from(i).unwrap_or(i32::MAX);
            lines.push((call, index, place[&key], &line.account, line.amount_picos));
        }
    }
    let rows: Vec<(i32, i32, Option<i64>)> = sqlx::query_as(
        "SELECT call_no, line_no, remaining FROM tollgate_reserve($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(locks)
    .bind(keys.iter().map(|k| k.0 == 1).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.2.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.3).collect::<Vec<_>>())
    .bind(keys.iter().map(account_column).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.0).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.1).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.2).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| rule(l.3)).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| limit(l.3)).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.4).collect::<Vec<_>>())
    .bind(asks.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>())
    .bind(to_millis(Utc::now()))
    .bind(instance)
    .fetch_all(conn)
    .await?;
    if rows.iter().any(|r| r.0 == -1) {
        return Ok(None);
    }
    let mut answers: Vec<Result<(), Refused>> = vec![Ok(()); asks.len()];
    for (call, line, remaining) in rows {
        let refused = Refused {
            line: usize::try_from(line).unwrap_or(0),
            remaining_picos: remaining.unwrap_or(0),
        };
        if let Some(answer) = usize::try_from(call - 1)
            .ok()
            .and_then(|c| answers.get_mut(c))
        {
            *answer = Err(refused);
        }
    }
    Ok(Some(answers))
}
