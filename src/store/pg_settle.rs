//! A PostgreSQL batch's settlement inside the batch's one statement (issue 14): the records'
//! insert hands the ids it added to `tollgate_settle` (migration 0018), which adds their costs
//! to their accounts in lock order and writes the credit entries, in the statement's own
//! transaction. A batch with budgeted calls then commits in one round trip, as a batch without
//! does, instead of `BEGIN`, the statement, an update per account and `COMMIT`.
//!
//! What a settlement's alerts need is each account's value after each call, known only in the
//! database. So the function is given each account's alert bounds
//! ([`crate::budgets::bounds`]) and, run with its guard, refuses (SQLSTATE `TG001`, the
//! statement rolled back whole) when one could be due; the batch then runs the same statement
//! without the guard in a transaction, and the alerts of the values it returns are decided and
//! written there ([`super::budgets::write_alerts_postgres`]). A batch whose calls carry alerts
//! already, or whose lines on one account disagree on its bounds, goes there directly.

use std::collections::BTreeMap;

use super::budgets::{lock_order, LockKey};
use super::pg_ledger::Q;
use crate::budgets::bounds::AlertBounds;
use crate::budgets::enforce::{Account, Settlement};
use crate::metering::UsageRecord;
use crate::money::to_picos;

/// The SQLSTATE `tollgate_settle` raises when the batch could raise an alert.
const MAY_ALERT: &str = "TG001";

/// Whether `error` is `tollgate_settle` sending the batch to the transaction path.
pub(super) fn may_alert(error: &super::StoreError) -> bool {
    matches!(error, super::StoreError::Database(sqlx::Error::Database(e)) if e.code().as_deref() == Some(MAY_ALERT))
}

/// How many parameters [`Settle::clause`] takes.
pub(super) const PARAMETERS: usize = 17;

/// The types of `tollgate_settle`'s parameters after the inserted ids, in order: the batch's
/// record count; the accounts' kind, owner, id, period start, limit, projection bound, low mark
/// and alert key; the threshold marks' account and value; the lines' call, account, cost and
/// credit entry; the time; the guard. [`Settle::bind`] binds them in this order.
const PARAMETER_TYPES: [&str; PARAMETERS] = [
    "int",
    "boolean[]",
    "text[]",
    "text[]",
    "bigint[]",
    "bigint[]",
    "bigint[]",
    "bigint[]",
    "text[]",
    "int[]",
    "bigint[]",
    "text[]",
    "int[]",
    "bigint[]",
    "text[]",
    "bigint",
    "boolean",
];

/// One account's part: its row, and its alert bounds.
struct AccountArgs<'a> {
    account: &'a Account,
    bounds: AlertBounds,
}

/// A batch's settlement as `tollgate_settle`'s arguments.
pub(super) struct Settle<'a> {
    accounts: Vec<AccountArgs<'a>>,
    /// Each line: its call's id, its account's number (from 1), its call's cost, and the id of
    /// the credit entry a charge to a balance writes.
    lines: Vec<(&'a str, i32, i64, Option<String>)>,
    /// Each account's place in the lock order, by number.
    keys: Vec<LockKey>,
    /// How many records the batch holds: when its insert added as many, every line settles.
    records: i32,
    now: i64,
    guardable: bool,
    /// Leased calls' uses ([`crate::budgets::leases`]): the record's id, the lease's id and
    /// the amount its row is lowered by once the record is in.
    leased: Vec<(&'a str, &'a str, i64)>,
}

impl<'a> Settle<'a> {
    /// The settlement of `items` (a batch's records with their settlements; the batch holds
    /// `records` records in all) at `now`.
    pub(super) fn of(
        items: &[(&'a UsageRecord, &'a Settlement)],
        records: usize,
        now: i64,
    ) -> Self {
        let mut by_key: BTreeMap<LockKey, (usize, AccountArgs<'a>)> = BTreeMap::new();
        let mut lines = Vec::new();
        let mut guardable = true;
        let mut leased = Vec::new();
        for (record, s) in items {
            if let Some(hold) = &s.lease {
                leased.extend(
                    hold.uses()
                        .iter()
                        .map(|u| (record.id.as_str(), u.lease.as_str(), u.amount)),
                );
            }
            guardable &= s.alerts.is_empty();
            let cost = to_picos(record.cost).unwrap_or(0);
            guardable &= cost >= 0;
            for line in &s.lines {
                let bounds = AlertBounds::of(&line.account, s.low_balance_picos, now);
                let key = lock_order(&line.account);
                let next = by_key.len();
                let (at, known) = by_key.entry(key).or_insert_with(|| {
                    let account = &line.account;
                    (
                        next,
                        AccountArgs {
                            account,
                            bounds: bounds.clone(),
                        },
                    )
                });
                guardable &= known.bounds == bounds;
                let entry = (matches!(line.account, Account::Credit { .. }) && cost > 0)
                    .then(|| format!("cred_{}", uuid::Uuid::now_v7().simple()));
                lines.push((record.id.as_str(), *at, cost, entry));
            }
        }
        // Number the accounts in lock order, from 1.
        let mut number = vec![0i32; by_key.len()];
        let mut accounts = Vec::with_capacity(by_key.len());
        let mut keys = Vec::with_capacity(by_key.len());
        for ((key, (at, args)), n) in by_key.into_iter().zip(1..) {
            number[at] = n;
            accounts.push(args);
            keys.push(key);
        }
        let lines = lines
            .into_iter()
            .map(|(call, at, cost, entry)| (call, number[at], cost, entry))
            .collect();
        Settle {
            accounts,
            keys,
            lines,
            records: i32::try_from(records).unwrap_or(i32::MAX),
            now,
            guardable,
            leased,
        }
    }

    /// The `WITH` clause that lowers the leases' rows by what the leased calls among the
    /// records the clause `ins` inserted were admitted for (a retried batch lowers nothing
    /// twice), its three parameters numbered from `first`; `None` without leased calls.
    pub(super) fn lease_clause(&self, first: usize) -> Option<String> {
        let (a, b, c) = (first, first + 1, first + 2);
        (!self.leased.is_empty()).then(|| {
            format!(
                "lz AS (UPDATE budget_reservations b SET amount_picos = b.amount_picos - t.amount \
                 FROM (SELECT d.lease, SUM(d.amount)::bigint AS amount \
                 FROM UNNEST(${a}::text[], ${b}::text[], ${c}::bigint[]) AS d(rec, lease, amount) \
                 JOIN ins ON ins.id = d.rec GROUP BY d.lease) t WHERE b.call_id = t.lease)"
            )
        })
    }

    /// Binds the parameters of [`Settle::lease_clause`], when it has one.
    pub(super) fn bind_leases<'q, O>(&self, query: Q<'q, O>) -> Q<'q, O> {
        if self.leased.is_empty() {
            return query;
        }
        query
            .bind(
                self.leased
                    .iter()
                    .map(|l| l.0.to_string())
                    .collect::<Vec<_>>(),
            )
            .bind(
                self.leased
                    .iter()
                    .map(|l| l.1.to_string())
                    .collect::<Vec<_>>(),
            )
            .bind(self.leased.iter().map(|l| l.2).collect::<Vec<_>>())
    }

    /// Whether the bounds can stand for the alerts: no call carries alerts of its own, no cost
    /// is negative, and the lines on each account agree on its bounds. Otherwise the batch
    /// settles in a transaction at once.
    pub(super) fn guardable(&self) -> bool {
        self.guardable
    }

    /// The account numbered `n` (from 1), by its place in the lock order.
    pub(super) fn key(&self, n: i32) -> Option<&LockKey> {
        usize::try_from(n - 1).ok().and_then(|i| self.keys.get(i))
    }

    /// The `WITH` clause that settles what the clause `ins` inserted, its parameters numbered
    /// from `first`; a `MATERIALIZED` clause runs once, however often it is read.
    pub(super) fn clause(first: usize) -> String {
        let params: Vec<String> = PARAMETER_TYPES
            .iter()
            .zip(first..)
            .map(|(t, n)| format!("${n}::{t}"))
            .collect();
        format!(
            "st AS MATERIALIZED (SELECT * FROM tollgate_settle(ARRAY(SELECT id FROM ins), {}))",
            params.join(", ")
        )
    }

    /// Binds the 17 parameters of [`Settle::clause`]; `guard`: refuse when an alert could be
    /// due.
    pub(super) fn bind<'q, O>(&self, query: Q<'q, O>, guard: bool) -> Q<'q, O> {
        let accounts = &self.accounts;
        let column = |f: fn(&AccountArgs) -> Option<i64>| -> Vec<Option<i64>> {
            accounts.iter().map(f).collect()
        };
        let (mut m_acct, mut m_mark) = (Vec::new(), Vec::new());
        for (a, n) in accounts.iter().zip(1i32..) {
            if let AlertBounds::Budget { marks, .. } = &a.bounds {
                m_acct.extend(marks.iter().map(|_| n));
                m_mark.extend(marks.iter().copied());
            }
        }
        query
            .bind(self.records)
            .bind(
                accounts
                    .iter()
                    .map(|a| matches!(a.account, Account::Credit { .. }))
                    .collect::<Vec<_>>(),
            )
            .bind(
                accounts
                    .iter()
                    .map(|a| owner(a.account))
                    .collect::<Vec<_>>(),
            )
            .bind(
                accounts
                    .iter()
                    .map(|a| a.account.id().to_string())
                    .collect::<Vec<_>>(),
            )
            .bind(column(|a| match a.account {
                Account::Budget { period_start, .. } => Some(*period_start),
                Account::Credit { .. } => Some(0),
            }))
            .bind(column(|a| match &a.bounds {
                AlertBounds::Budget { limit, .. } => Some(*limit),
                AlertBounds::Credit { .. } => None,
            }))
            .bind(column(|a| match &a.bounds {
                AlertBounds::Budget { projected_from, .. } => *projected_from,
                AlertBounds::Credit { .. } => None,
            }))
            .bind(column(|a| match &a.bounds {
                AlertBounds::Credit { low, .. } => Some(*low),
                AlertBounds::Budget { .. } => None,
            }))
            .bind(
                accounts
                    .iter()
                    .map(|a| match &a.bounds {
                        AlertBounds::Budget { projection_key, .. } => projection_key.clone(),
                        AlertBounds::Credit { key_prefix, .. } => key_prefix.clone(),
                    })
                    .collect::<Vec<_>>(),
            )
            .bind(m_acct)
            .bind(m_mark)
            .bind(
                self.lines
                    .iter()
                    .map(|l| l.0.to_string())
                    .collect::<Vec<_>>(),
            )
            .bind(self.lines.iter().map(|l| l.1).collect::<Vec<_>>())
            .bind(self.lines.iter().map(|l| l.2).collect::<Vec<_>>())
            .bind(self.lines.iter().map(|l| l.3.clone()).collect::<Vec<_>>())
            .bind(self.now)
            .bind(guard)
    }
}

/// The owner column of an account's row: a budget's scope, a balance's owner kind.
fn owner(account: &Account) -> &'static str {
    match account {
        Account::Budget { scope, .. } | Account::Credit { owner: scope, .. } => scope.as_str(),
    }
}
