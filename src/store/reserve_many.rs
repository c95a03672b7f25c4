//! Reservations of several calls in one transaction (issue 14).
//!
//! One reservation per transaction held its account's row lock for several round trips (on
//! PostgreSQL: `UPDATE`, `INSERT`, `COMMIT`), and every call on a hot budget queued on that
//! lock: about a thousand reservations a second on one row, whatever the hardware. Here the
//! calls queued while the previous batch ran are reserved together: their accounts' rows are
//! read (and on PostgreSQL locked, in the one fixed order every writer uses), each call is
//! checked in memory against those rows in arrival order — all of its lines or none, refused
//! with the same account and remainder the one-call path names — and one statement writes
//! every counter and every reservation row. A row lock is held for three round trips per
//! batch instead of three per call.
//!
//! On PostgreSQL, calls this path cannot decide exactly (an account without its row yet — a
//! period's first call —, an amount the counter could not add) are left to the one-call path
//! ([`super::budgets::reserve_postgres`]), after the batch. On SQLite nothing is written: the
//! reserved amounts are held in memory ([`super::holds`]).

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use sqlx::{Connection, PgConnection, SqliteConnection};

use super::budgets::{lock_order, LockKey, Refused};
use super::holds::Holds;
use super::{to_millis, StoreError};
use crate::budgets::enforce::{Account, Line};
use crate::budgets::Mode;

/// A call's reservation: its id and its lines.
pub type Ask = (String, Vec<Line>);

/// A counter's or balance's row as read: spent (budget) or balance (credit), and reserved.
#[derive(Debug, Clone, Copy)]
struct Row {
    value: i64,
    reserved: i64,
}

/// What the batch decided for one call.
#[derive(Debug)]
enum Verdict {
    Reserved,
    Refused(Refused),
    /// Left to the one-call path.
    Deferred,
}

/// The batch's decisions, and what to write: each row's added reservation, and each
/// reserved call's lines.
#[derive(Debug, Default)]
struct Plan {
    verdicts: Vec<Verdict>,
    added: BTreeMap<LockKey, i64>,
    reserved: Vec<(usize, usize)>,
}

/// Decides each ask in order against `rows`, which it updates as calls take their amounts.
fn plan(asks: &[Ask], rows: &mut HashMap<LockKey, Row>) -> Plan {
    let mut out = Plan::default();
    for (a, (_, lines)) in asks.iter().enumerate() {
        let verdict = decide(lines, rows);
        if matches!(verdict, Verdict::Reserved) {
            for (l, line) in lines.iter().enumerate() {
                let key = lock_order(&line.account);
                let row = rows.get_mut(&key).expect("decide checked every row");
                row.reserved += line.amount_picos;
                *out.added.entry(key).or_insert(0) += line.amount_picos;
                out.reserved.push((a, l));
            }
        }
        out.verdicts.push(verdict);
    }
    out
}

/// One call against the rows: its lines in lock order, refused at the first account that
/// cannot cover its line (what the one-call path names); deferred when a row is missing, an
/// account appears twice or a sum would not fit the counter.
fn decide(lines: &[Line], rows: &HashMap<LockKey, Row>) -> Verdict {
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by_key(|&i| lock_order(&lines[i].account));
    let keys: Vec<LockKey> = order
        .iter()
        .map(|&i| lock_order(&lines[i].account))
        .collect();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return Verdict::Deferred;
    }
    for (&i, key) in order.iter().zip(&keys) {
        let line = &lines[i];
        let Some(row) = rows.get(key) else {
            return Verdict::Deferred;
        };
        if row.reserved.checked_add(line.amount_picos).is_none() {
            return Verdict::Deferred;
        }
        let (value, amount) = (i128::from(row.value), i128::from(line.amount_picos));
        let reserved = i128::from(row.reserved);
        let remaining = match &line.account {
            Account::Budget { budget, .. } if budget.mode == Mode::Hard => {
                let limit = budget.limit_picos();
                (value + reserved + amount > i128::from(limit))
                    .then(|| limit.saturating_sub(row.value).saturating_sub(row.reserved))
            }
            Account::Budget { .. } => None,
            Account::Credit { .. } => {
                (value - reserved - amount < 0).then(|| row.value.saturating_sub(row.reserved))
            }
        };
        if let Some(remaining_picos) = remaining {
            return Verdict::Refused(Refused {
                line: i,
                remaining_picos,
            });
        }
    }
    Verdict::Reserved
}

/// The distinct rows the asks draw on, in lock order.
fn keys(asks: &[Ask]) -> Vec<LockKey> {
    let mut keys: Vec<LockKey> = asks
        .iter()
        .flat_map(|(_, lines)| lines.iter().map(|l| lock_order(&l.account)))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The answers, with deferred calls reserved one by one after the batch's commit.
async fn finish(
    conn: &mut PgConnection,
    instance: &str,
    asks: &[Ask],
    plan: Plan,
) -> Result<Vec<Result<(), Refused>>, StoreError> {
    let mut out = Vec::with_capacity(asks.len());
    for ((id, lines), verdict) in asks.iter().zip(plan.verdicts) {
        out.push(match verdict {
            Verdict::Reserved => Ok(()),
            Verdict::Refused(r) => Err(r),
            Verdict::Deferred => {
                super::budgets::reserve_postgres(conn, id, lines, instance).await?
            }
        });
    }
    Ok(out)
}

/// Reserves `asks` on PostgreSQL in one transaction (see the module's doc). Each answer is
/// the call's: reserved, or refused by an account.
pub(super) async fn reserve_many_postgres(
    conn: &mut PgConnection,
    asks: &[Ask],
    instance: &str,
) -> Result<Vec<Result<(), Refused>>, StoreError> {
    let keys = keys(asks);
    let mut tx = conn.begin().await?;
    // As for one call (see `reserve_postgres`): a reservation lost with a database crash is
    // harmless, and a flush under the row lock would cap the batches at one fsync each.
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    let mut rows = pg_lock_rows(&mut tx, &keys).await?;
    let plan = plan(asks, &mut rows);
    if !plan.reserved.is_empty() {
        pg_write(&mut tx, asks, &plan, instance).await?;
    }
    tx.commit().await?;
    finish(conn, instance, asks, plan).await
}

/// Reads and locks the rows, counters before balances, each in lock order (`COLLATE "C"`
/// sorts as Rust's strings do): the order settlement and recovery lock them in too. `FOR NO
/// KEY UPDATE` is the lock an `UPDATE` of these columns takes, no stronger.
async fn pg_lock_rows(
    tx: &mut PgConnection,
    keys: &[LockKey],
) -> Result<HashMap<LockKey, Row>, StoreError> {
    let mut rows = HashMap::new();
    let (budgets, credits): (Vec<&LockKey>, Vec<&LockKey>) = keys.iter().partition(|k| k.0 == 0);
    if !budgets.is_empty() {
        let found: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT b.scope, b.scope_id, b.period_start, b.spent_picos, b.reserved_picos FROM budget_counters b \
             JOIN UNNEST($1::text[], $2::text[], $3::bigint[]) AS k(scope, scope_id, period_start) \
             ON b.scope = k.scope AND b.scope_id = k.scope_id AND b.period_start = k.period_start \
             ORDER BY b.scope COLLATE \"C\", b.scope_id COLLATE \"C\", b.period_start FOR NO KEY UPDATE OF b",
        )
        .bind(budgets.iter().map(|k| k.1.clone()).collect::<Vec<_>>())
        .bind(budgets.iter().map(|k| k.2.clone()).collect::<Vec<_>>())
        .bind(budgets.iter().map(|k| k.3).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        for (scope, id, start, value, reserved) in found {
            rows.insert((0, scope, id, start), Row { value, reserved });
        }
    }
    if !credits.is_empty() {
        let found: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT c.owner_kind, c.owner_id, c.balance_picos, c.reserved_picos FROM credit_accounts c \
             JOIN UNNEST($1::text[], $2::text[]) AS k(owner_kind, owner_id) \
             ON c.owner_kind = k.owner_kind AND c.owner_id = k.owner_id \
             ORDER BY c.owner_kind COLLATE \"C\", c.owner_id COLLATE \"C\" FOR NO KEY UPDATE OF c",
        )
        .bind(credits.iter().map(|k| k.1.clone()).collect::<Vec<_>>())
        .bind(credits.iter().map(|k| k.2.clone()).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        for (owner, id, value, reserved) in found {
            rows.insert((1, owner, id, 0), Row { value, reserved });
        }
    }
    Ok(rows)
}

/// One statement: every counter's and balance's added reservation, and the reservation rows.
async fn pg_write(
    tx: &mut PgConnection,
    asks: &[Ask],
    plan: &Plan,
    instance: &str,
) -> Result<(), StoreError> {
    let (budgets, credits): (Vec<_>, Vec<_>) = plan.added.iter().partition(|(k, _)| k.0 == 0);
    let lines: Vec<(&str, &Line)> = plan
        .reserved
        .iter()
        .map(|&(a, l)| (asks[a].0.as_str(), &asks[a].1[l]))
        .collect();
    sqlx::query(
        "WITH b AS (UPDATE budget_counters c SET reserved_picos = c.reserved_picos + d.amount \
         FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS d(scope, scope_id, period_start, amount) \
         WHERE c.scope = d.scope AND c.scope_id = d.scope_id AND c.period_start = d.period_start), \
         a AS (UPDATE credit_accounts c SET reserved_picos = c.reserved_picos + d.amount \
         FROM UNNEST($5::text[], $6::text[], $7::bigint[]) AS d(owner_kind, owner_id, amount) \
         WHERE c.owner_kind = d.owner_kind AND c.owner_id = d.owner_id) \
         INSERT INTO budget_reservations (call_id, account, account_id, period_start, amount_picos, created_at, instance_id) \
         SELECT r.call_id, r.account, r.account_id, r.period_start, r.amount, $13, $14 \
         FROM UNNEST($8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[]) AS r(call_id, account, account_id, period_start, amount)",
    )
    .bind(budgets.iter().map(|(k, _)| k.1.clone()).collect::<Vec<_>>())
    .bind(budgets.iter().map(|(k, _)| k.2.clone()).collect::<Vec<_>>())
    .bind(budgets.iter().map(|(k, _)| k.3).collect::<Vec<_>>())
    .bind(budgets.iter().map(|(_, a)| **a).collect::<Vec<_>>())
    .bind(credits.iter().map(|(k, _)| k.1.clone()).collect::<Vec<_>>())
    .bind(credits.iter().map(|(k, _)| k.2.clone()).collect::<Vec<_>>())
    .bind(credits.iter().map(|(_, a)| **a).collect::<Vec<_>>())
    .bind(lines.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.account.kind()).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.account.id().to_string()).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.account.period_start()).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.amount_picos).collect::<Vec<_>>())
    .bind(to_millis(Utc::now()))
    .bind(instance)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Reserves `asks` on SQLite against the committed spent and balance values and what this
/// process's calls in flight hold ([`super::holds`]): reads only, on the metering writer's
/// connection, in turn with its ledger batches (which is what makes the holds exact). A
/// period's first call creates its counter from the ledger first, in a write transaction.
pub(super) async fn reserve_many_sqlite(
    conn: &mut SqliteConnection,
    holds: &Holds,
    asks: &[Ask],
) -> Result<Vec<Result<(), Refused>>, StoreError> {
    let keys = keys(asks);
    let mut values = sqlite_values(conn, &keys).await?;
    let missing: Vec<&Account> = missing_counters(asks, &values);
    if !missing.is_empty() {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        for account in missing {
            super::budgets::ensure_counter_sqlite(&mut tx, account).await?;
        }
        tx.commit().await?;
        values = sqlite_values(conn, &keys).await?;
    }
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
    use crate::store::holds::tests::{budget, credit};

    fn rows(entries: &[(&Line, i64, i64)]) -> HashMap<LockKey, Row> {
        entries
            .iter()
            .map(|(l, value, reserved)| {
                let row = Row {
                    value: *value,
                    reserved: *reserved,
                };
                (lock_order(&l.account), row)
            })
            .collect()
    }

    fn outcome(v: &Verdict) -> String {
        match v {
            Verdict::Reserved => "reserved".into(),
            Verdict::Refused(r) => format!("refused {} {}", r.line, r.remaining_picos),
            Verdict::Deferred => "deferred".into(),
        }
    }

    #[test]
    fn calls_take_a_hard_budget_in_order_until_it_is_used_up() {
        let line = budget(Scope::Key, "k", 100, Mode::Hard, 30);
        let mut rows = rows(&[(&line, 20, 10)]);
        let asks: Vec<Ask> = (0..4)
            .map(|i| (format!("c{i}"), vec![line.clone()]))
            .collect();
        let plan = plan(&asks, &mut rows);
        let got: Vec<String> = plan.verdicts.iter().map(outcome).collect();
        // 20 spent + 10 reserved leaves 70: two calls of 30, then 10 remains.
        assert_eq!(
            got,
            ["reserved", "reserved", "refused 0 10", "refused 0 10"]
        );
        assert_eq!(plan.added.values().copied().collect::<Vec<_>>(), [60]);
        assert_eq!(plan.reserved, [(0, 0), (1, 0)]);
        assert_eq!(rows[&lock_order(&line.account)].reserved, 70);
    }

    #[test]
    fn a_refused_call_reserves_none_of_its_lines() {
        let key = budget(Scope::Key, "k", 1_000, Mode::Hard, 50);
        let team = budget(Scope::Team, "t", 60, Mode::Hard, 50);
        let small = budget(Scope::Team, "t", 60, Mode::Hard, 10);
        let mut rows = rows(&[(&key, 0, 0), (&team, 0, 0)]);
        let asks: Vec<Ask> = vec![
            ("a".into(), vec![key.clone(), team.clone()]),
            // The team's budget refuses the second call (line 1): its key line is not taken.
            ("b".into(), vec![key.clone(), team.clone()]),
            ("c".into(), vec![key.clone(), small]),
        ];
        let plan = plan(&asks, &mut rows);
        let got: Vec<String> = plan.verdicts.iter().map(outcome).collect();
        assert_eq!(got, ["reserved", "refused 1 10", "reserved"]);
        assert_eq!(rows[&lock_order(&key.account)].reserved, 100);
        assert_eq!(rows[&lock_order(&team.account)].reserved, 60);
        assert_eq!(plan.reserved, [(0, 0), (0, 1), (2, 0), (2, 1)]);
    }

    #[test]
    fn balances_and_soft_budgets() {
        let soft = budget(Scope::Global, "global", 10, Mode::Soft, 40);
        let balance = credit("k", 40);
        let mut rows = rows(&[(&soft, 100, 0), (&balance, 100, 30)]);
        let asks: Vec<Ask> = (0..2)
            .map(|i| (format!("c{i}"), vec![soft.clone(), balance.clone()]))
            .collect();
        let plan = plan(&asks, &mut rows);
        let got: Vec<String> = plan.verdicts.iter().map(outcome).collect();
        // A soft budget over its limit still takes; the balance has 70 available, then 30.
        assert_eq!(got, ["reserved", "refused 1 30"]);
    }

    #[test]
    fn missing_rows_and_overflowing_sums_go_to_the_one_call_path() {
        let known = budget(Scope::Key, "k", i64::MAX, Mode::Soft, i64::MAX);
        let unknown = budget(Scope::Team, "new", 100, Mode::Hard, 1);
        let mut rows = rows(&[(&known, 0, 1)]);
        let asks: Vec<Ask> = vec![
            ("a".into(), vec![known.clone()]),
            ("b".into(), vec![unknown]),
        ];
        let plan = plan(&asks, &mut rows);
        let got: Vec<String> = plan.verdicts.iter().map(outcome).collect();
        assert_eq!(got, ["deferred", "deferred"]);
        assert!(plan.added.is_empty() && plan.reserved.is_empty());
    }

    #[test]
    fn a_bound_too_large_for_the_ledger_is_refused_by_a_hard_budget() {
        let line = budget(Scope::Key, "k", 100, Mode::Hard, i64::MAX - 5);
        let mut rows = rows(&[(&line, 50, 0)]);
        let plan = plan(&[("a".into(), vec![line])], &mut rows);
        assert_eq!(outcome(&plan.verdicts[0]), "refused 0 50");
    }
}
