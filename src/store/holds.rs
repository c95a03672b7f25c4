//! SQLite's budget reservations, held in memory (issue 14).
//!
//! On SQLite one process owns the database, so a reservation — the most a call in flight may
//! still cost — lives exactly as long as that process's call. Written to the database it cost
//! a write transaction per batch on the one connection every usage record also waits for
//! (each account's counter updated on reserve and again on settle, a row per line inserted and
//! later deleted), and a crash had to release it at the next start anyway. Here it is a
//! number in memory: the accounts' spent and balance values stay in the database, where the
//! ledger batch that records a call's cost also adds it to them, and the reserved part is this
//! map's.
//!
//! Why it is exact: the metering writer's task runs both the reservation batches and the
//! ledger batches, one after the other. A reservation batch reads the committed values and adds
//! what is held; a ledger batch commits its costs and only then lets go of its calls' holds
//! ([`Holds::release`]). So a call's cost is counted by the database before its hold stops
//! being counted here, and no reservation ever sees neither. Calls on any other task (grants,
//! adjustments) only move a value while a batch is not reading it, or make it smaller to spend.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::budgets::{lock_order, LockKey, Refused};
use crate::budgets::enforce::{Account, Line};
use crate::budgets::Mode;

/// The amounts reserved on each account by the calls in flight, by account.
#[derive(Debug, Default)]
pub struct Holds {
    held: Mutex<HashMap<LockKey, i128>>,
}

impl Holds {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<LockKey, i128>> {
        // The map is consistent after every statement: a panic elsewhere cannot tear it.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What calls in flight hold on `account`, at most `i64::MAX`.
    pub fn held(&self, key: &LockKey) -> i64 {
        let held = self.map().get(key).copied().unwrap_or(0);
        i64::try_from(held).unwrap_or(i64::MAX)
    }

    /// Decides each call in order against `values` (spent of a budget, balance of a credit
    /// account, as committed; an absent credit account covers nothing) and what is held, and
    /// holds the lines of every call it lets through. A call takes all of its lines or none.
    pub fn reserve<'a>(
        &self,
        calls: impl IntoIterator<Item = &'a [Line]>,
        values: &HashMap<LockKey, i64>,
    ) -> Vec<Result<(), Refused>> {
        let mut held = self.map();
        calls
            .into_iter()
            .map(|lines| take(lines, values, &mut held))
            .collect()
    }

    /// Lets go of settled calls' lines: their costs are committed.
    pub fn release<'a>(&self, lines: impl IntoIterator<Item = &'a Line>) {
        let mut held = self.map();
        for line in lines {
            let key = lock_order(&line.account);
            if let Some(amount) = held.get_mut(&key) {
                *amount -= i128::from(line.amount_picos);
                if *amount == 0 {
                    held.remove(&key);
                }
            }
        }
    }
}

/// A call's lines in the order they are checked: each one's account and index, in lock order.
pub(super) fn in_lock_order(lines: &[Line]) -> Vec<(LockKey, usize)> {
    let mut order: Vec<(LockKey, usize)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (lock_order(&l.account), i))
        .collect();
    order.sort();
    order
}

/// One call: its lines in lock order, refused at the first account that cannot cover its
/// line (with what remains there); added to `held` when all can. PostgreSQL's batches decide
/// with it too, against the held amounts they read from the reservation rows
/// ([`super::reserve_many`]).
pub(super) fn take(
    lines: &[Line],
    values: &HashMap<LockKey, i64>,
    held: &mut HashMap<LockKey, i128>,
) -> Result<(), Refused> {
    let order = in_lock_order(lines);
    // Amounts this call takes, by account (one account may appear on two lines).
    let mut taking: Vec<(&LockKey, i128)> = Vec::with_capacity(order.len());
    for (key, i) in &order {
        let line = &lines[*i];
        let value = values.get(key).copied();
        let before: i128 = taking
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, a)| a)
            .sum();
        let reserved = held.get(key).copied().unwrap_or(0) + before;
        let amount = i128::from(line.amount_picos);
        let remaining = match &line.account {
            Account::Budget { budget, .. } if budget.mode == Mode::Hard => {
                let limit = i128::from(budget.limit_picos());
                let spent = i128::from(value.unwrap_or(0));
                (spent + reserved + amount > limit).then(|| limit - spent - reserved)
            }
            Account::Budget { .. } => None,
            Account::Credit { .. } => match value {
                Some(balance) => {
                    let free = i128::from(balance) - reserved;
                    (free - amount < 0).then_some(free)
                }
                None => Some(0),
            },
        };
        if let Some(remaining) = remaining {
            let remaining_picos = i64::try_from(remaining.clamp(i64::MIN.into(), i64::MAX.into()))
                .unwrap_or_default();
            return Err(Refused {
                line: *i,
                remaining_picos,
            });
        }
        taking.push((key, amount));
    }
    for (key, amount) in taking {
        *held.entry(key.clone()).or_insert(0) += amount;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::budgets::enforce::Scope;
    use crate::budgets::{Budget, Period};

    /// A hard (or soft) budget line of `amount` picodollars on `scope` `id`.
    pub(crate) fn budget(scope: Scope, id: &str, limit: i64, mode: Mode, amount: i64) -> Line {
        let budget = Budget {
            limit_usd: crate::money::from_picos(limit),
            period: Period::Monthly,
            mode,
            alert_thresholds: vec![],
        };
        Line {
            account: Account::Budget {
                scope,
                id: id.into(),
                budget,
                period_start: 0,
                period_end: None,
                webhook: None,
            },
            amount_picos: amount,
        }
    }

    pub(crate) fn credit(id: &str, amount: i64) -> Line {
        Line {
            account: Account::Credit {
                owner: Scope::Key,
                id: id.into(),
                webhook: None,
            },
            amount_picos: amount,
        }
    }

    fn values(entries: &[(&Line, i64)]) -> HashMap<LockKey, i64> {
        entries
            .iter()
            .map(|(l, v)| (lock_order(&l.account), *v))
            .collect()
    }

    fn outcomes(r: &[Result<(), Refused>]) -> Vec<String> {
        r.iter()
            .map(|r| match r {
                Ok(()) => "held".into(),
                Err(e) => format!("refused line {} with {} left", e.line, e.remaining_picos),
            })
            .collect()
    }

    #[test]
    fn holds_count_until_released_and_a_hard_budget_is_never_passed() {
        let holds = Holds::default();
        let line = budget(Scope::Key, "k", 100, Mode::Hard, 40);
        let vals = values(&[(&line, 10)]);
        let calls = vec![std::slice::from_ref(&line); 3];
        let got = holds.reserve(calls.clone(), &vals);
        assert_eq!(
            outcomes(&got),
            ["held", "held", "refused line 0 with 10 left"]
        );
        assert_eq!(holds.held(&lock_order(&line.account)), 80);
        // The first call settles: its cost (say 40) is now in the committed value.
        holds.release([&line]);
        let got = holds.reserve(calls[..1].to_vec(), &values(&[(&line, 50)]));
        assert_eq!(outcomes(&got), ["refused line 0 with 10 left"]);
        let got = holds.reserve(calls[..1].to_vec(), &values(&[(&line, 10)]));
        assert_eq!(outcomes(&got), ["held"]);
        holds.release([&line, &line]);
        assert_eq!(holds.held(&lock_order(&line.account)), 0);
        assert!(holds.map().is_empty(), "released accounts leave the map");
    }

    #[test]
    fn a_refused_call_holds_none_of_its_lines_and_balances_refuse_when_short() {
        let holds = Holds::default();
        let soft = budget(Scope::Key, "k", 1, Mode::Soft, 500);
        let wallet = credit("k", 60);
        let vals = values(&[(&soft, 0), (&wallet, 100)]);
        let call = vec![soft.clone(), wallet.clone()];
        let got = holds.reserve([call.as_slice(), call.as_slice()], &vals);
        assert_eq!(outcomes(&got), ["held", "refused line 1 with 40 left"]);
        assert_eq!(holds.held(&lock_order(&soft.account)), 500);
        assert_eq!(holds.held(&lock_order(&wallet.account)), 60);
    }

    #[test]
    fn an_account_on_two_lines_counts_both_and_a_missing_balance_covers_nothing() {
        let holds = Holds::default();
        let a = budget(Scope::Key, "k", 100, Mode::Hard, 60);
        let call = vec![a.clone(), a.clone()];
        let got = holds.reserve([call.as_slice()], &values(&[(&a, 0)]));
        assert_eq!(outcomes(&got), ["refused line 1 with 40 left"]);
        let free = credit("nobody", 0);
        let got = holds.reserve([std::slice::from_ref(&free)], &HashMap::new());
        assert_eq!(outcomes(&got), ["refused line 0 with 0 left"]);
    }

    #[test]
    fn amounts_beyond_the_ledger_do_not_overflow() {
        let holds = Holds::default();
        let soft = budget(Scope::Key, "k", 1, Mode::Soft, i64::MAX);
        let calls = vec![std::slice::from_ref(&soft); 3];
        let got = holds.reserve(calls, &values(&[(&soft, i64::MAX)]));
        assert_eq!(outcomes(&got), ["held", "held", "held"]);
        assert_eq!(holds.held(&lock_order(&soft.account)), i64::MAX);
        let hard = budget(Scope::Key, "h", i64::MAX, Mode::Hard, i64::MAX);
        let got = holds.reserve([std::slice::from_ref(&hard)], &values(&[(&hard, 1)]));
        assert_eq!(
            outcomes(&got),
            ["refused line 0 with 9223372036854775806 left"]
        );
    }
}
