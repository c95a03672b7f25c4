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
//!
//! **The committed values, remembered.** A reservation used to go through the writer's queue
//! and SQLite's thread for a `SELECT` of each account's committed value: a wait behind any
//! ledger batch being committed, and four thread wake-ups, on every budgeted call. The writer
//! knows these values anyway: a settling batch reads each account's new value for its alerts.
//! So this map also remembers the last committed value of each account, and a call whose every
//! account is remembered is decided here, on its own task ([`Holds::reserve_cached`]).
//! Exact for the same reason as before: a ledger batch that commits sets its accounts' new
//! values and lets go of its calls' holds in one step, under the lock a reservation decides
//! under, so a call's cost is always in one of the two. A value is only ever set by the
//! writer's task (a batch's new values, or values it read in turn with its batches). Anything
//! else that moves a counter or a balance (a credit grant, a usage adjustment) forgets every
//! value once it has committed ([`Holds::forget`]), and a value read before that is not
//! remembered: the writer notes the [`Holds::epoch`] before it reads or writes, and a value
//! read under an older epoch is dropped. Any doubt (a failed or retried batch) forgets too;
//! the next call then reads as before.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::budgets::{lock_order, LockKey, Refused};
use crate::budgets::enforce::{Account, Line};
use crate::budgets::Mode;

/// The amounts reserved on each account by the calls in flight, and the accounts' committed
/// values as the writer last saw them, by account.
#[derive(Debug, Default)]
pub struct Holds {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    held: HashMap<LockKey, i128>,
    /// Each account's committed value (spent of a counter, balance of a credit account).
    committed: HashMap<LockKey, i64>,
    /// Moves on every [`Holds::forget`].
    epoch: u64,
}

/// Values remembered at most; past this the map starts over (a counter per account and
/// period: a year of monthly budgets on thousands of keys stays far below it).
const MAX_REMEMBERED: usize = 100_000;

impl Holds {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is consistent after every statement: a panic elsewhere cannot tear it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn map(&self) -> HashMap<LockKey, i128> {
        self.lock().held.clone()
    }

    /// What calls in flight hold on `account`, at most `i64::MAX`.
    pub fn held(&self, key: &LockKey) -> i64 {
        let held = self.lock().held.get(key).copied().unwrap_or(0);
        i64::try_from(held).unwrap_or(i64::MAX)
    }

    /// The current epoch, noted by the writer before it reads or writes committed values.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Decides one call here when every account it touches has a remembered committed value;
    /// `None` sends it to the writer, which reads them.
    pub fn reserve_cached(&self, lines: &[Line]) -> Option<Result<(), Refused>> {
        if lines.is_empty() {
            return None;
        }
        // The accounts' keys are built before the lock is taken, once.
        let order = in_lock_order(lines);
        let mut state = self.lock();
        let State {
            held, committed, ..
        } = &mut *state;
        if !order.iter().all(|(key, _)| committed.contains_key(key)) {
            return None;
        }
        Some(take_in_order(lines, &order, committed, held))
    }

    /// Remembers committed values the writer read under `epoch`, unless something else moved
    /// a value since.
    pub fn remember(&self, values: &HashMap<LockKey, i64>, epoch: u64) {
        let mut state = self.lock();
        if state.epoch != epoch {
            return;
        }
        if state.committed.len() + values.len() > MAX_REMEMBERED {
            state.committed.clear();
        }
        state
            .committed
            .extend(values.iter().map(|(k, v)| (k.clone(), *v)));
    }

    /// Forgets every remembered value: a counter or a balance moved outside the writer's
    /// batches (or a batch failed). The next reservation on each account reads it again.
    pub fn forget(&self) {
        let mut state = self.lock();
        state.epoch = state.epoch.wrapping_add(1);
        state.committed.clear();
    }

    /// A committed ledger batch: its accounts' new values (`finals`, read in its transaction
    /// under `epoch`) remembered, and its calls' holds let go of, in one step. An account whose
    /// new value is not known is forgotten.
    pub fn settle<'a>(
        &self,
        lines: impl IntoIterator<Item = &'a Line>,
        finals: &HashMap<LockKey, i64>,
        epoch: u64,
    ) {
        let mut state = self.lock();
        let current = state.epoch == epoch;
        for line in lines {
            let key = lock_order(&line.account);
            match finals.get(&key) {
                Some(&value) if current => {
                    state.committed.insert(key.clone(), value);
                }
                _ => {
                    state.committed.remove(&key);
                }
            }
            release_one(&mut state.held, &key, line.amount_picos);
        }
    }

    /// Decides each call in order against `values` (spent of a budget, balance of a credit
    /// account, as committed; an absent credit account covers nothing) and what is held, and
    /// holds the lines of every call it lets through. A call takes all of its lines or none.
    pub fn reserve<'a>(
        &self,
        calls: impl IntoIterator<Item = &'a [Line]>,
        values: &HashMap<LockKey, i64>,
    ) -> Vec<Result<(), Refused>> {
        let mut state = self.lock();
        calls
            .into_iter()
            .map(|lines| take(lines, values, &mut state.held))
            .collect()
    }

    /// Lets go of settled calls' lines: their costs are committed.
    #[cfg(test)]
    pub fn release<'a>(&self, lines: impl IntoIterator<Item = &'a Line>) {
        let mut state = self.lock();
        for line in lines {
            release_one(
                &mut state.held,
                &lock_order(&line.account),
                line.amount_picos,
            );
        }
    }
}

fn release_one(held: &mut HashMap<LockKey, i128>, key: &LockKey, amount: i64) {
    if let Some(left) = held.get_mut(key) {
        *left -= i128::from(amount);
        if *left == 0 {
            held.remove(key);
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
    take_in_order(lines, &in_lock_order(lines), values, held)
}

/// [`take`], with the call's lines already in lock order.
fn take_in_order(
    lines: &[Line],
    order: &[(LockKey, usize)],
    values: &HashMap<LockKey, i64>,
    held: &mut HashMap<LockKey, i128>,
) -> Result<(), Refused> {
    // Amounts this call takes, by account (one account may appear on two lines).
    let mut taking: Vec<(&LockKey, i128)> = Vec::with_capacity(order.len());
    for (key, i) in order {
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
    fn remembered_values_decide_calls_and_settle_with_their_holds_in_one_step() {
        let holds = Holds::default();
        let line = budget(Scope::Key, "k", 100, Mode::Hard, 40);
        let call = std::slice::from_ref(&line);
        assert!(
            holds.reserve_cached(call).is_none(),
            "nothing remembered yet"
        );
        assert!(
            holds.reserve_cached(&[]).is_none(),
            "a call without lines goes the usual way"
        );
        let epoch = holds.epoch();
        let read = values(&[(&line, 10)]);
        holds.remember(&read, epoch);
        assert_eq!(outcomes(&holds.reserve(vec![call], &read)), ["held"]);
        // 10 spent, 40 held: one more fits, a third does not.
        assert_eq!(outcomes(&[holds.reserve_cached(call).unwrap()]), ["held"]);
        assert_eq!(
            outcomes(&[holds.reserve_cached(call).unwrap()]),
            ["refused line 0 with 10 left"]
        );
        // The first call settles at a cost of 40: spent 50, 40 still held, 10 left.
        holds.settle([&line], &values(&[(&line, 50)]), holds.epoch());
        assert_eq!(holds.held(&lock_order(&line.account)), 40);
        assert_eq!(
            outcomes(&[holds.reserve_cached(call).unwrap()]),
            ["refused line 0 with 10 left"]
        );
        // It cost 5 instead: spent 15, 45 left.
        holds.settle([&line], &values(&[(&line, 15)]), holds.epoch());
        assert_eq!(outcomes(&[holds.reserve_cached(call).unwrap()]), ["held"]);
    }

    #[test]
    fn a_value_moved_elsewhere_is_forgotten_and_an_older_read_not_remembered() {
        let holds = Holds::default();
        let line = budget(Scope::Key, "k", 100, Mode::Hard, 40);
        let other = credit("k", 5);
        let call = std::slice::from_ref(&line);
        let before = holds.epoch();
        holds.remember(&values(&[(&line, 0), (&other, 50)]), before);
        assert!(holds.reserve_cached(call).is_some());
        // An adjustment commits: every value is forgotten, and the writer's read from before
        // it is not remembered, nor are a batch's values read under the old epoch.
        holds.forget();
        assert!(holds.reserve_cached(call).is_none());
        assert!(holds.reserve_cached(std::slice::from_ref(&other)).is_none());
        holds.remember(&values(&[(&line, 0)]), before);
        assert!(
            holds.reserve_cached(call).is_none(),
            "a stale read is dropped"
        );
        holds.settle([&line], &values(&[(&line, 40)]), before);
        assert!(
            holds.reserve_cached(call).is_none(),
            "a stale batch's value too"
        );
        // A batch whose account's new value is unknown forgets that account alone.
        let now = holds.epoch();
        holds.remember(&values(&[(&line, 40), (&other, 50)]), now);
        holds.settle([&line], &HashMap::new(), now);
        assert!(holds.reserve_cached(call).is_none());
        assert!(holds.reserve_cached(std::slice::from_ref(&other)).is_some());
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
