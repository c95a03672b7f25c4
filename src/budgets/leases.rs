//! Budget leases (PostgreSQL, opt-in with `TOLLGATE_BUDGET_LEASE_CALLS`): a replica reserves a
//! slice of an account's headroom once, as one reservation row of its own, and admits calls
//! against it in memory, so a budgeted call no longer waits for a database round trip before it
//! is forwarded (docs/budgets.md, "Budget leases").
//!
//! Why it stays exact: a lease is an ordinary reservation row, granted by the same check as a
//! call's (`tollgate_reserve`, under the account's advisory lock), so every replica's check
//! sees it as held. Calls admitted against it never take more than it holds. The ledger batch
//! that adds a leased call's cost to its account lowers the lease's row by the call's amount in
//! the same statement (only for records that were new), so the row holds what its unsettled
//! calls and its unused rest may still cost, as per-call rows would. A lease that is replaced,
//! idle or no longer matches its account's terms is retired: its row is deleted by the
//! metering writer after the batch that settles its last call (the writer applies settlements
//! in the order calls finished, so nothing it covered is ever neither held nor spent).
//!
//! What stays outside: a call that does not fit its replica's lease takes the path without
//! leases (a row of its own) and asks, in the background, for a new lease; a lease the database
//! refuses (the account is within a lease of its limit) is not asked for again for [`BACKOFF`],
//! so an account near its limit is checked call by call, exactly. A replica whose own heartbeat is
//! older than half its instance lease stops admitting from leases, since other replicas may
//! soon declare it dead and release its rows.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::enforce::{Account, Line};
use super::Mode;

/// How long an unused lease is kept before its rest goes back to its account.
pub const IDLE: Duration = Duration::from_secs(1);
/// How often the leases are looked over for idle ones.
const SCAN: Duration = Duration::from_millis(250);
/// How long an account whose lease was refused is checked call by call before a lease is
/// asked for again.
pub const BACKOFF: Duration = Duration::from_secs(1);

/// An account's identity: its reservation kind, id and period start.
pub type AccountKey = (String, String, i64);

/// A call's part of a lease: the lease's id (its reservation row's `call_id`) and the amount
/// the call was admitted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub lease: String,
    pub amount: i64,
    /// The lease's account, so its record finds the lease without a scan.
    account: AccountKey,
}

/// What may refuse against an account, and its limit: a lease is kept only while its account's
/// terms are those it was granted under (an admin may lower a limit at any time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Terms(i32, i64);

impl Terms {
    fn of(account: &Account) -> Terms {
        match account {
            Account::Budget { budget, .. } if budget.mode == Mode::Hard => {
                Terms(1, budget.limit_picos())
            }
            Account::Budget { budget, .. } => Terms(0, budget.limit_picos()),
            Account::Credit { .. } => Terms(2, 0),
        }
    }
}

fn key_of(account: &Account) -> AccountKey {
    (
        account.kind(),
        account.id().to_string(),
        account.period_start(),
    )
}

#[derive(Debug)]
struct Lease {
    id: String,
    terms: Terms,
    size: i64,
    /// What calls admitted against it have taken: their amounts, and what any cost above them.
    taken: i64,
    in_flight: u32,
    last: Instant,
}

#[derive(Debug, Default)]
struct State {
    /// Calls per lease: a lease asks for this many times the call's amount. Zero: off.
    calls: u32,
    /// Until when this replica's own heartbeat is fresh enough to admit from leases.
    fresh_until: Option<Instant>,
    current: HashMap<AccountKey, Lease>,
    /// Retired leases with calls still in flight, by id: how many.
    retired: HashMap<String, u32>,
    asking: HashSet<AccountKey>,
    backoff: HashMap<AccountKey, Instant>,
    /// Leases to release: the metering writer deletes their rows on its next turn, after the
    /// batch that settled their last calls.
    release: Vec<String>,
    /// When the leases were last looked over for idle ones (not on every writer turn: there
    /// may be one per account).
    scanned: Option<Instant>,
}

impl State {
    /// Retires the current lease of `key`: released at once when no call of it is in flight,
    /// else after its last one.
    fn retire(&mut self, key: &AccountKey) {
        if let Some(lease) = self.current.remove(key) {
            if lease.in_flight == 0 {
                self.release.push(lease.id);
            } else {
                self.retired.insert(lease.id, lease.in_flight);
            }
        }
    }

    fn fresh(&self, now: Instant) -> bool {
        self.fresh_until.is_some_and(|t| now < t)
    }
}

/// A call's admission from leases.
#[derive(Debug, Default)]
pub struct Admission {
    /// Admitted: each line's use, in line order. `None`: the call takes a reservation row.
    pub uses: Option<Vec<Use>>,
    /// Lines whose accounts should be asked for a lease now (amount: the lease's size).
    pub ask: Vec<(usize, i64)>,
}

/// This replica's leases; shared by the calls and the metering writer.
#[derive(Debug, Default)]
pub struct Leases {
    state: Mutex<State>,
}

impl Leases {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Turns leases on: each asks for `calls` times the amount of the call that asked.
    pub fn enable(&self, calls: u32) {
        self.lock().calls = calls;
    }

    /// This replica's heartbeat committed at or after `at`: it may admit from leases until
    /// `at + within` (half its instance lease; other replicas release its rows after the whole).
    pub fn alive(&self, at: Instant, within: Duration) {
        let mut state = self.lock();
        if state.fresh_until.is_some_and(|t| t <= at) {
            // It was stale meanwhile (a paused process): other replicas may have released its
            // rows, so the leases it holds are not to be admitted from again.
            let keys: Vec<AccountKey> = state.current.keys().cloned().collect();
            for k in &keys {
                state.retire(k);
            }
        }
        let until = at + within;
        if state.fresh_until.is_none_or(|t| t < until) {
            state.fresh_until = Some(until);
        }
    }

    /// Admits a call's `lines` from the current leases when every line fits its account's,
    /// taking their amounts; otherwise says which accounts to ask a lease of.
    pub fn admit(&self, lines: &[Line], now: Instant) -> Admission {
        let mut state = self.lock();
        let mut out = Admission::default();
        if state.calls == 0 || !state.fresh(now) || lines.is_empty() {
            return out;
        }
        let keys: Vec<AccountKey> = lines.iter().map(|l| key_of(&l.account)).collect();
        let mut fits = true;
        for (i, (line, key)) in lines.iter().zip(&keys).enumerate() {
            let terms = Terms::of(&line.account);
            let ok = match state.current.get(key) {
                Some(l) if l.terms != terms => {
                    state.retire(key);
                    false
                }
                Some(l) => l.size - l.taken >= line.amount_picos,
                None => false,
            };
            if ok {
                continue;
            }
            fits = false;
            let calls = i64::from(state.calls);
            let backing_off = state.backoff.get(key).is_some_and(|t| now < *t);
            if !backing_off && !state.asking.contains(key) {
                if let Some(size) = line.amount_picos.checked_mul(calls).filter(|s| *s > 0) {
                    state.asking.insert(key.clone());
                    out.ask.push((i, size));
                }
            }
        }
        if !fits {
            return out;
        }
        let mut uses = Vec::with_capacity(lines.len());
        for (line, key) in lines.iter().zip(keys) {
            let lease = state
                .current
                .get_mut(&key)
                .expect("every line fits a current lease");
            lease.taken += line.amount_picos;
            lease.in_flight += 1;
            lease.last = now;
            uses.push(Use {
                lease: lease.id.clone(),
                amount: line.amount_picos,
                account: key,
            });
        }
        out.uses = Some(uses);
        out
    }

    /// A lease was granted for `account`: it becomes the current one; the one it replaces is
    /// retired.
    pub fn granted(&self, account: &Account, id: String, size: i64, now: Instant) {
        let key = key_of(account);
        let mut state = self.lock();
        state.asking.remove(&key);
        state.retire(&key);
        if state.calls == 0 || !state.fresh(now) {
            state.release.push(id);
            return;
        }
        let lease = Lease {
            id,
            terms: Terms::of(account),
            size,
            taken: 0,
            in_flight: 0,
            last: now,
        };
        state.current.insert(key, lease);
    }

    /// A lease for `account` was refused or could not be asked for: its calls take rows of
    /// their own for [`BACKOFF`].
    pub fn not_granted(&self, account: &Account, now: Instant) {
        let key = key_of(account);
        let mut state = self.lock();
        state.asking.remove(&key);
        state.backoff.insert(key, now + BACKOFF);
    }

    /// A leased call's record is being written (called by the metering writer, in the order
    /// records reach it), having cost `cost` picodollars: its uses leave their leases, and a
    /// retired lease whose last call this was is released after the batch.
    fn settled(&self, uses: &[Use], cost: i64) {
        let mut state = self.lock();
        for u in uses {
            let current = state.current.get_mut(&u.account);
            if let Some(lease) = current.filter(|l| l.id == u.lease) {
                lease.in_flight = lease.in_flight.saturating_sub(1);
                // A call that cost more than it was admitted for (an upstream past its cap)
                // takes the difference from the lease too, as it does from a row's account.
                lease.taken = lease
                    .taken
                    .saturating_add(cost.saturating_sub(u.amount).max(0));
            } else if let Some(n) = state.retired.get_mut(&u.lease) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    state.retired.remove(&u.lease);
                    state.release.push(u.lease.clone());
                }
            }
        }
    }

    /// What the metering writer releases on its turn at `now`: the leases retired since its
    /// last turn and, looked over every [`SCAN`], those unused for [`IDLE`], and all of them
    /// once this replica's heartbeat is stale. Called after the writer took the turn's records, so every call these leases
    /// covered is settled in this turn's batch or an earlier one.
    pub fn to_release(&self, now: Instant) -> Vec<String> {
        let mut state = self.lock();
        if state.calls == 0 && state.release.is_empty() {
            return Vec::new();
        }
        if state.scanned.is_none_or(|t| now.duration_since(t) >= SCAN) {
            state.scanned = Some(now);
            let stale = !state.fresh(now);
            let keys: Vec<AccountKey> = state
                .current
                .iter()
                .filter(|(_, l)| stale || (l.in_flight == 0 && now.duration_since(l.last) >= IDLE))
                .map(|(k, _)| k.clone())
                .collect();
            state.backoff.retain(|_, t| now < *t);
            for k in &keys {
                state.retire(k);
            }
        }
        std::mem::take(&mut state.release)
    }

    /// Every lease, to release at a clean stop (after the last call's record).
    pub fn all(&self) -> Vec<String> {
        let mut state = self.lock();
        let mut ids: Vec<String> = std::mem::take(&mut state.release);
        ids.extend(state.current.drain().map(|(_, l)| l.id));
        ids.extend(state.retired.drain().map(|(id, _)| id));
        ids
    }
}

/// A call's uses of leases, from its admission to its record: settled by the metering writer
/// with the call's cost, or, should the call end without a record (its future dropped), given
/// back as settled at no cost, so its leases can still be released.
#[derive(Debug)]
pub struct Hold {
    leases: Arc<Leases>,
    uses: Vec<Use>,
    done: AtomicBool,
}

impl Hold {
    pub fn new(leases: Arc<Leases>, uses: Vec<Use>) -> Hold {
        Hold {
            leases,
            uses,
            done: AtomicBool::new(false),
        }
    }

    pub fn uses(&self) -> &[Use] {
        &self.uses
    }

    /// The call's record reached the metering writer, having cost `cost` picodollars.
    pub fn settle(&self, cost: i64) {
        if !self.done.swap(true, Ordering::SeqCst) {
            self.leases.settled(&self.uses, cost);
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if !self.done.swap(true, Ordering::SeqCst) {
            // No cost is known: what the call was admitted for stays taken, and stays in the
            // lease's row until the lease is released.
            self.leases.settled(&self.uses, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(limit: &str) -> Account {
        crate::budgets::bounds::tests::account(limit, vec![], Some(1000))
    }

    fn line(limit: &str, amount: i64) -> Vec<Line> {
        vec![Line {
            account: account(limit),
            amount_picos: amount,
        }]
    }

    fn on(calls: u32, now: Instant) -> Leases {
        let leases = Leases::default();
        leases.enable(calls);
        leases.alive(now, Duration::from_secs(5));
        leases
    }

    #[test]
    fn a_call_that_does_not_fit_asks_once_and_calls_then_fit_until_the_lease_is_used() {
        let now = Instant::now();
        let leases = on(3, now);
        let first = leases.admit(&line("1", 10), now);
        assert!(first.uses.is_none());
        assert_eq!(first.ask, vec![(0, 30)]);
        // A second miss while the first ask is out does not ask again.
        assert!(leases.admit(&line("1", 10), now).ask.is_empty());
        leases.granted(&account("1"), "lease_a".into(), 30, now);
        for _ in 0..3 {
            let a = leases.admit(&line("1", 10), now);
            assert_eq!(
                a.uses,
                Some(vec![Use {
                    lease: "lease_a".into(),
                    amount: 10,
                    account: key_of(&account("1")),
                }])
            );
        }
        let full = leases.admit(&line("1", 10), now);
        assert!(full.uses.is_none(), "30 of 30 taken");
        assert_eq!(full.ask, vec![(0, 30)]);
        assert!(leases.to_release(now).is_empty());
    }

    #[test]
    fn a_replaced_lease_is_released_after_its_last_call_settles() {
        let now = Instant::now();
        let leases = Arc::new(on(2, now));
        leases.admit(&line("1", 10), now);
        leases.granted(&account("1"), "lease_a".into(), 20, now);
        let one = Hold::new(
            leases.clone(),
            leases.admit(&line("1", 10), now).uses.unwrap(),
        );
        let two = Hold::new(
            leases.clone(),
            leases.admit(&line("1", 10), now).uses.unwrap(),
        );
        assert!(leases.admit(&line("1", 10), now).uses.is_none());
        // Replaced while two calls are in flight: nothing to release yet.
        leases.granted(&account("1"), "lease_b".into(), 20, now);
        assert!(leases.to_release(now).is_empty());
        one.settle(10);
        drop(one);
        assert!(leases.to_release(now).is_empty());
        // The last call ends without a record: the lease is released all the same.
        drop(two);
        assert_eq!(leases.to_release(now), vec!["lease_a".to_string()]);
    }

    #[test]
    fn a_changed_limit_retires_the_lease_and_a_refusal_backs_off() {
        let now = Instant::now();
        let leases = on(2, now);
        leases.admit(&line("1", 10), now);
        leases.granted(&account("1"), "lease_a".into(), 20, now);
        let other = leases.admit(&line("0.5", 10), now);
        assert!(other.uses.is_none());
        assert_eq!(other.ask, vec![(0, 20)]);
        assert_eq!(leases.to_release(now), vec!["lease_a".to_string()]);
        leases.not_granted(&account("0.5"), now);
        assert!(leases.admit(&line("0.5", 10), now).ask.is_empty());
        let later = now + BACKOFF;
        leases.alive(later, Duration::from_secs(5));
        assert_eq!(leases.admit(&line("0.5", 10), later).ask, vec![(0, 20)]);
    }

    #[test]
    fn an_overrun_takes_from_the_lease_and_an_idle_or_stale_lease_is_released() {
        let now = Instant::now();
        let leases = on(4, now);
        leases.admit(&line("1", 10), now);
        leases.granted(&account("1"), "lease_a".into(), 40, now);
        let u = leases.admit(&line("1", 10), now).uses.unwrap();
        // Cost 35 against 10 admitted: 35 of 40 taken, so the next call of 10 does not fit.
        leases.settled(&u, 35);
        assert!(leases.admit(&line("1", 10), now).uses.is_none());
        assert!(leases.to_release(now).is_empty(), "used just now");
        assert_eq!(leases.to_release(now + IDLE), vec!["lease_a".to_string()]);

        let leases = on(4, now);
        leases.admit(&line("1", 10), now);
        leases.granted(&account("1"), "lease_a".into(), 40, now);
        let stale = now + Duration::from_secs(6);
        assert!(leases.admit(&line("1", 10), stale).uses.is_none());
        assert_eq!(leases.to_release(stale), vec!["lease_a".to_string()]);

        // A heartbeat after a stale spell: the old lease is not used again, even before the
        // writer's turn.
        let leases = on(4, now);
        leases.admit(&line("1", 10), now);
        leases.granted(&account("1"), "lease_a".into(), 40, now);
        leases.alive(stale, Duration::from_secs(5));
        assert!(leases.admit(&line("1", 10), stale).uses.is_none());
        assert_eq!(leases.to_release(stale), vec!["lease_a".to_string()]);
    }

    #[test]
    fn off_or_before_the_first_heartbeat_nothing_is_leased() {
        let now = Instant::now();
        let off = Leases::default();
        off.alive(now, Duration::from_secs(5));
        assert!(off.admit(&line("1", 10), now).ask.is_empty());
        let unheard = Leases::default();
        unheard.enable(4);
        assert!(unheard.admit(&line("1", 10), now).ask.is_empty());
        // A lease granted to a replica that went stale meanwhile is released at once.
        unheard.granted(&account("1"), "lease_a".into(), 40, now);
        assert_eq!(unheard.to_release(now), vec!["lease_a".to_string()]);
    }
}
