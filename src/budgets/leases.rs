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
//! Ahead of need: once less than half of a lease is left, the next one is asked for in the
//! background, and takes over when the current one cannot fit a call. Each call that missed
//! would wait for a reservation round trip (and the batch that grants a lease commits with its
//! WAL flushed), so a lease asked for only on a miss made every N-th call and those arriving
//! meanwhile slow: at N = 64 and 1,000 calls/s, 13–14 % of calls, the whole of the p99.
//!
//! What stays outside: a call that does not fit its replica's lease takes the path without
//! leases (a row of its own) and asks, in the background, for a new lease; a lease the database
//! refuses (the account is within a lease of its limit) is not asked for again for [`BACKOFF`],
//! so an account near its limit is checked call by call, exactly. A replica whose own heartbeat is
//! older than half its instance lease stops admitting from leases, since other replicas may
//! soon declare it dead and release its rows.
//!
//! And the database failing: a replica whose ledger batch or reservation failed stops admitting
//! from leases at once ([`Leases::suspend`]) until its next heartbeat commits, so calls are not
//! forwarded on headroom the ledger may never hear of; a leased call whose record could not be
//! written keeps its amount held in its lease's row (the lease is not released while the
//! replica lives). A grant answered after a stale spell or a suspension is released, not used.

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

/// The start of a lease's id (its reservation row's `call_id`); a call's id never has it.
pub const ID_PREFIX: &str = "lease_";

/// Whether a reservation's id is a lease's.
pub fn is_lease(id: &str) -> bool {
    id.starts_with(ID_PREFIX)
}

/// A lease to release: its id, and what its row is to go on holding — the amounts of its calls
/// whose records could not be written (their costs are in no account); 0: the row is deleted.
pub type Release = (String, i64);

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
    /// The amounts of its calls whose records could not be written.
    kept: i64,
    last: Instant,
}

#[derive(Debug, Default)]
struct State {
    /// Calls per lease: a lease asks for this many times the call's amount. Zero: off.
    calls: u32,
    /// Until when this replica's own heartbeat is fresh enough to admit from leases.
    fresh_until: Option<Instant>,
    current: HashMap<AccountKey, Lease>,
    /// Leases asked for ahead, while the current one still had room: each takes over when its
    /// account's current lease cannot fit a call, so calls do not wait for a grant.
    next: HashMap<AccountKey, Lease>,
    /// Retired leases with calls still in flight, by id: how many, and the amounts kept.
    retired: HashMap<String, (u32, i64)>,
    asking: HashSet<AccountKey>,
    backoff: HashMap<AccountKey, Instant>,
    /// Leases to release: the metering writer deletes their rows on its next turn, after the
    /// batch that settled their last calls.
    release: Vec<Release>,
    /// When the leases were last looked over for idle ones (not on every writer turn: there
    /// may be one per account).
    scanned: Option<Instant>,
    /// Raised whenever every lease is retired for staleness or a database failure: a grant
    /// asked for before is released when it is answered, not used.
    epoch: u64,
}

impl State {
    /// Retires the leases of `key`: the next one is released at once (no call used it), the
    /// current one at once when no call of it is in flight, else after its last one.
    fn retire(&mut self, key: &AccountKey) {
        if let Some(next) = self.next.remove(key) {
            self.release.push((next.id, 0));
        }
        self.retire_current(key);
    }

    fn retire_current(&mut self, key: &AccountKey) {
        if let Some(lease) = self.current.remove(key) {
            if lease.in_flight == 0 {
                self.release.push((lease.id, lease.kept));
            } else {
                self.retired.insert(lease.id, (lease.in_flight, lease.kept));
            }
        }
    }

    /// Makes the next lease of `key` the current one when it was granted under `terms` and
    /// fits `amount`; the current one is retired. A next lease under other terms is released.
    fn promote(&mut self, key: &AccountKey, terms: Terms, amount: i64) -> bool {
        match self.next.remove(key) {
            Some(next) if next.terms == terms && next.size >= amount => {
                self.retire_current(key);
                self.current.insert(key.clone(), next);
                true
            }
            Some(next) if next.terms != terms => {
                self.release.push((next.id, 0));
                false
            }
            Some(next) => {
                self.next.insert(key.clone(), next);
                false
            }
            None => false,
        }
    }

    /// A lease for `key` is being asked for, of [`State::calls`] times `amount`: line `line`'s
    /// ask, unless that overflows.
    fn asked(&mut self, key: &AccountKey, line: usize, amount: i64) -> Option<(usize, i64)> {
        let size = amount
            .checked_mul(i64::from(self.calls))
            .filter(|s| *s > 0)?;
        self.asking.insert(key.clone());
        Some((line, size))
    }

    /// Whether a lease may be asked for `key` now: none is being asked for, and the account's
    /// last refusal is older than [`BACKOFF`].
    fn may_ask(&self, key: &AccountKey, now: Instant) -> bool {
        !self.asking.contains(key) && self.backoff.get(key).is_none_or(|t| now >= *t)
    }

    fn fresh(&self, now: Instant) -> bool {
        self.fresh_until.is_some_and(|t| now < t)
    }

    /// Retires every current lease, and makes grants still being asked for stale.
    fn retire_all(&mut self) {
        let keys: Vec<AccountKey> = self.current.keys().cloned().collect();
        for k in &keys {
            self.retire(k);
        }
        self.epoch += 1;
    }
}

/// A call's admission from leases.
#[derive(Debug, Default)]
pub struct Admission {
    /// Admitted: each line's use, in line order. `None`: the call takes a reservation row.
    pub uses: Option<Vec<Use>>,
    /// Lines whose accounts should be asked for a lease now (amount: the lease's size).
    pub ask: Vec<(usize, i64)>,
    /// What to hand back with a grant ([`Leases::granted`]).
    pub epoch: u64,
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
            state.retire_all();
        }
        let until = at + within;
        if state.fresh_until.is_none_or(|t| t < until) {
            state.fresh_until = Some(until);
        }
    }

    /// The database failed this replica (a ledger batch or a reservation): no call is admitted
    /// from leases until its next heartbeat commits ([`Leases::alive`]), and the current
    /// leases are retired. Their rows stay held until released as usual.
    pub fn suspend(&self) {
        let mut state = self.lock();
        if state.calls == 0 {
            return;
        }
        state.retire_all();
        state.fresh_until = None;
    }

    /// Admits a call's `lines` from the current leases when every line fits its account's,
    /// taking their amounts; otherwise says which accounts to ask a lease of. A lease less than
    /// half of which is left is asked to be followed by a next one ahead of need
    /// ([`State::next`]).
    pub fn admit(&self, lines: &[Line], now: Instant) -> Admission {
        self.take(lines, now, true)
    }

    /// Admits a call's `lines` from the current leases if they fit, asking for none: for a call
    /// the database refused, which a lease granted meanwhile (in the same batch, say) may cover.
    pub fn retry(&self, lines: &[Line], now: Instant) -> Option<Vec<Use>> {
        self.take(lines, now, false).uses
    }

    fn take(&self, lines: &[Line], now: Instant, ask: bool) -> Admission {
        let mut state = self.lock();
        let mut out = Admission {
            epoch: state.epoch,
            ..Admission::default()
        };
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
                Some(l) if l.size - l.taken >= line.amount_picos => true,
                _ => state.promote(key, terms, line.amount_picos),
            };
            if ok {
                continue;
            }
            fits = false;
            if ask && state.may_ask(key, now) {
                out.ask.extend(state.asked(key, i, line.amount_picos));
            }
        }
        if !fits {
            return out;
        }
        let mut uses = Vec::with_capacity(lines.len());
        for (i, (line, key)) in lines.iter().zip(keys).enumerate() {
            let lease = state
                .current
                .get_mut(&key)
                .expect("every line fits a current lease");
            lease.taken += line.amount_picos;
            lease.in_flight += 1;
            lease.last = now;
            let low = lease.size - lease.taken < lease.size / 2;
            uses.push(Use {
                lease: lease.id.clone(),
                amount: line.amount_picos,
                account: key.clone(),
            });
            if ask && low && !state.next.contains_key(&key) && state.may_ask(&key, now) {
                out.ask.extend(state.asked(&key, i, line.amount_picos));
            }
        }
        out.uses = Some(uses);
        out
    }

    /// A lease asked for at `epoch` was granted for `account`: it becomes the current one (the
    /// one it replaces is retired), or the next one when the current one is under the same
    /// terms. Released at once instead when this replica went stale or was suspended since it
    /// asked (the row may be gone, or the database failing).
    pub fn granted(&self, account: &Account, id: String, size: i64, epoch: u64, now: Instant) {
        let key = key_of(account);
        let mut state = self.lock();
        state.asking.remove(&key);
        if state.calls == 0 || !state.fresh(now) || epoch != state.epoch {
            state.release.push((id, 0));
            return;
        }
        let lease = Lease {
            id,
            terms: Terms::of(account),
            size,
            taken: 0,
            in_flight: 0,
            kept: 0,
            last: now,
        };
        match state.current.get(&key) {
            // Asked for ahead (or by a call too large for the current one): it waits its turn.
            Some(current) if current.terms == lease.terms => {
                if let Some(old) = state.next.insert(key, lease) {
                    state.release.push((old.id, 0));
                }
            }
            _ => {
                state.retire(&key);
                state.current.insert(key, lease);
            }
        }
    }

    /// A lease for `account` was refused: its calls take rows of their own for [`BACKOFF`].
    /// `lost`: the database failed to answer, so the row `id` may exist all the same; it is
    /// released (deleting a row that is not there is harmless).
    pub fn not_granted(&self, account: &Account, id: &str, lost: bool, now: Instant) {
        let key = key_of(account);
        let mut state = self.lock();
        state.asking.remove(&key);
        state.backoff.insert(key, now + BACKOFF);
        if lost {
            state.release.push((id.to_string(), 0));
        }
    }

    /// A leased call that cost `cost` picodollars reached the metering writer: a call that cost
    /// more than it was admitted for (an upstream past its cap) takes the difference from its
    /// current lease too, as it does from a row's account, before its record is written.
    fn charged(&self, uses: &[Use], cost: i64) {
        let over = uses
            .iter()
            .map(|u| cost.saturating_sub(u.amount))
            .any(|o| o > 0);
        if !over {
            return;
        }
        let mut state = self.lock();
        for u in uses {
            let current = state.current.get_mut(&u.account);
            if let Some(lease) = current.filter(|l| l.id == u.lease) {
                lease.taken = lease
                    .taken
                    .saturating_add(cost.saturating_sub(u.amount).max(0));
            }
        }
    }

    /// A leased call's record was written (or the call ended without one): its uses leave
    /// their leases, and a retired lease whose last call this was is released after the batch.
    /// `lost`: the record could not be written, so the lease's row goes on holding the call's
    /// amount when the lease is released.
    fn finished(&self, uses: &[Use], lost: bool) {
        let mut state = self.lock();
        for u in uses {
            let kept = if lost { u.amount } else { 0 };
            let current = state.current.get_mut(&u.account);
            if let Some(lease) = current.filter(|l| l.id == u.lease) {
                lease.in_flight = lease.in_flight.saturating_sub(1);
                lease.kept = lease.kept.saturating_add(kept);
            } else if let Some((n, k)) = state.retired.get_mut(&u.lease) {
                *n = n.saturating_sub(1);
                *k = k.saturating_add(kept);
                if *n == 0 {
                    let k = *k;
                    state.retired.remove(&u.lease);
                    state.release.push((u.lease.clone(), k));
                }
            }
        }
    }

    /// What the metering writer releases on its turn at `now`: the leases retired since its
    /// last turn and, looked over every [`SCAN`], those unused for [`IDLE`], and all of them
    /// once this replica's heartbeat is stale. Called after the writer took the turn's records, so every call these leases
    /// covered is settled in this turn's batch or an earlier one.
    pub fn to_release(&self, now: Instant) -> Vec<Release> {
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
    pub fn all(&self) -> Vec<Release> {
        let mut state = self.lock();
        let mut ids: Vec<Release> = std::mem::take(&mut state.release);
        ids.extend(state.current.drain().map(|(_, l)| (l.id, l.kept)));
        ids.extend(state.next.drain().map(|(_, l)| (l.id, 0)));
        ids.extend(state.retired.drain().map(|(id, (_, kept))| (id, kept)));
        ids
    }
}

/// A call's uses of leases, from its admission to its record: charged and settled by the
/// metering writer around the record's write (kept held if the write fails), or, should the
/// call end without a record (its future dropped), given back at no cost, so its leases can
/// still be released.
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

    /// The call's record reached the metering writer, having cost `cost` picodollars: any cost
    /// above its admitted amount is taken from its leases now, before the record is written.
    pub fn charge(&self, cost: i64) {
        self.leases.charged(&self.uses, cost);
    }

    /// The call's record was written: the call leaves its leases.
    pub fn settle(&self) {
        if !self.done.swap(true, Ordering::SeqCst) {
            self.leases.finished(&self.uses, false);
        }
    }

    /// The call's record could not be written (the database failed): its cost is in no
    /// account, so its leases' rows go on holding its amount when they are released (until
    /// this replica stops, or the survivors' recovery after its death).
    pub fn keep(&self) {
        if !self.done.swap(true, Ordering::SeqCst) {
            self.leases.finished(&self.uses, true);
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if !self.done.swap(true, Ordering::SeqCst) {
            // No cost is known: what the call was admitted for stays taken, and stays in the
            // lease's row until the lease is released.
            self.leases.finished(&self.uses, false);
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

    /// A call of 10 on account "1" admitted from the current lease, held as the gateway holds it.
    fn held(leases: &Arc<Leases>, now: Instant) -> Hold {
        let uses = leases.admit(&line("1", 10), now).uses;
        Hold::new(leases.clone(), uses.expect("admitted from the lease"))
    }

    fn on(calls: u32, now: Instant) -> Leases {
        let leases = Leases::default();
        leases.enable(calls);
        leases.alive(now, Duration::from_secs(5));
        leases
    }

    #[test]
    fn a_miss_asks_once_and_the_next_lease_is_asked_ahead_and_takes_over_without_a_miss() {
        let now = Instant::now();
        let leases = on(4, now);
        let first = leases.admit(&line("1", 10), now);
        assert!(first.uses.is_none());
        assert_eq!(first.ask, vec![(0, 40)]);
        // A second miss while the first ask is out does not ask again.
        assert!(leases.admit(&line("1", 10), now).ask.is_empty());
        leases.granted(&account("1"), "lease_a".into(), 40, 0, now);
        // 10, then 20 of 40 taken: half is left, nothing is asked.
        for _ in 0..2 {
            let a = leases.admit(&line("1", 10), now);
            assert_eq!(
                a.uses,
                Some(vec![Use {
                    lease: "lease_a".into(),
                    amount: 10,
                    account: key_of(&account("1")),
                }])
            );
            assert!(a.ask.is_empty());
        }
        // 30 of 40: less than half is left, so the next lease is asked for, once.
        let third = leases.admit(&line("1", 10), now);
        assert!(third.uses.is_some());
        assert_eq!(third.ask, vec![(0, 40)]);
        let fourth = leases.admit(&line("1", 10), now);
        assert!(fourth.uses.is_some() && fourth.ask.is_empty());
        leases.granted(&account("1"), "lease_b".into(), 40, 0, now);
        // 40 of 40 taken from lease_a: the next call is admitted from lease_b, no miss.
        let fifth = leases.admit(&line("1", 10), now);
        assert_eq!(
            fifth.uses.map(|u| u[0].lease.clone()),
            Some("lease_b".to_string())
        );
        assert!(
            leases.to_release(now).is_empty(),
            "lease_a's four calls are in flight"
        );
    }

    /// Leases of two calls on account "1": lease_a current with both of its calls held (the
    /// second one asked ahead), and lease_b granted as the next one.
    fn with_next(now: Instant) -> (Arc<Leases>, Hold, Hold) {
        let leases = Arc::new(on(2, now));
        leases.admit(&line("1", 10), now);
        leases.granted(&account("1"), "lease_a".into(), 20, 0, now);
        let one = held(&leases, now);
        let asks = leases.admit(&line("1", 10), now);
        assert_eq!(
            asks.ask,
            vec![(0, 20)],
            "20 of 20 taken: less than half left"
        );
        let two = Hold::new(leases.clone(), asks.uses.expect("admitted"));
        leases.granted(&account("1"), "lease_b".into(), 20, 0, now);
        (leases, one, two)
    }

    #[test]
    fn a_next_lease_waits_its_turn_and_is_released_with_its_account() {
        let now = Instant::now();
        let (leases, one, two) = with_next(now);
        assert!(leases.to_release(now).is_empty(), "lease_b waits its turn");
        one.settle();
        two.settle();
        // Idle: both go back to the account, the one no call used as well.
        assert_eq!(
            leases.to_release(now + IDLE),
            vec![("lease_b".to_string(), 0), ("lease_a".to_string(), 0)]
        );

        // At a clean stop, a next lease is released with the rest.
        let (leases, _one, _two) = with_next(now);
        let mut all = leases.all();
        all.sort();
        assert_eq!(
            all,
            vec![("lease_a".to_string(), 0), ("lease_b".to_string(), 0)]
        );
    }

    #[test]
    fn a_replaced_lease_is_released_after_its_last_call_settles() {
        let now = Instant::now();
        let leases = Arc::new(on(2, now));
        leases.admit(&line("1", 10), now);
        leases.granted(&account("1"), "lease_a".into(), 20, 0, now);
        let one = held(&leases, now);
        let two = held(&leases, now);
        assert!(leases.admit(&line("1", 10), now).uses.is_none());
        // Replaced while two calls are in flight (the next call takes lease_b): nothing to
        // release yet.
        leases.granted(&account("1"), "lease_b".into(), 20, 0, now);
        let three = leases.admit(&line("1", 10), now).uses;
        assert_eq!(three.map(|u| u[0].lease.clone()), Some("lease_b".into()));
        assert!(leases.to_release(now).is_empty());
        one.charge(10);
        one.settle();
        drop(one);
        assert!(leases.to_release(now).is_empty());
        // The last call ends without a record: the lease is released all the same.
        drop(two);
        assert_eq!(leases.to_release(now), vec![("lease_a".to_string(), 0)]);
    }

    #[test]
    fn a_changed_limit_retires_the_lease_and_a_refusal_backs_off() {
        let now = Instant::now();
        let leases = on(2, now);
        leases.admit(&line("1", 10), now);
        leases.granted(&account("1"), "lease_a".into(), 20, 0, now);
        let other = leases.admit(&line("0.5", 10), now);
        assert!(other.uses.is_none());
        assert_eq!(other.ask, vec![(0, 20)]);
        assert_eq!(leases.to_release(now), vec![("lease_a".to_string(), 0)]);
        leases.not_granted(&account("0.5"), "lease_x", false, now);
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
        leases.granted(&account("1"), "lease_a".into(), 40, 0, now);
        let u = leases.admit(&line("1", 10), now).uses.unwrap();
        // Cost 35 against 10 admitted: 35 of 40 taken, so the next call of 10 does not fit.
        leases.charged(&u, 35);
        leases.finished(&u, false);
        assert!(leases.admit(&line("1", 10), now).uses.is_none());
        assert!(leases.to_release(now).is_empty(), "used just now");
        assert_eq!(
            leases.to_release(now + IDLE),
            vec![("lease_a".to_string(), 0)]
        );

        let leases = on(4, now);
        leases.admit(&line("1", 10), now);
        leases.granted(&account("1"), "lease_a".into(), 40, 0, now);
        let stale = now + Duration::from_secs(6);
        assert!(leases.admit(&line("1", 10), stale).uses.is_none());
        assert_eq!(leases.to_release(stale), vec![("lease_a".to_string(), 0)]);

        // A heartbeat after a stale spell: the old lease is not used again, even before the
        // writer's turn.
        let leases = on(4, now);
        leases.admit(&line("1", 10), now);
        leases.granted(&account("1"), "lease_a".into(), 40, 0, now);
        leases.alive(stale, Duration::from_secs(5));
        assert!(leases.admit(&line("1", 10), stale).uses.is_none());
        assert_eq!(leases.to_release(stale), vec![("lease_a".to_string(), 0)]);
    }

    #[test]
    fn a_failing_database_suspends_leases_and_a_lost_records_amount_stays_held() {
        let now = Instant::now();
        let leases = Arc::new(on(4, now));
        let asked = leases.admit(&line("1", 10), now);
        leases.granted(&account("1"), "lease_a".into(), 40, asked.epoch, now);
        let lost = held(&leases, now);
        let written = held(&leases, now);
        // A grant asked for before the failure is answered after it.
        let late = leases.admit(&line("2", 10), now);
        assert_eq!(late.ask, vec![(0, 40)]);
        leases.suspend();
        assert!(
            leases.admit(&line("1", 10), now).uses.is_none(),
            "suspended"
        );
        assert!(leases.retry(&line("1", 10), now).is_none(), "suspended");
        leases.granted(&account("2"), "lease_b".into(), 40, late.epoch, now);
        assert_eq!(leases.to_release(now), vec![("lease_b".to_string(), 0)]);
        lost.charge(10);
        lost.keep();
        written.charge(10);
        written.settle();
        // Released after its last call, holding the lost call's amount.
        assert_eq!(leases.to_release(now), vec![("lease_a".to_string(), 10)]);
        // Until the next heartbeat: then leases are asked for and used again.
        leases.alive(now, Duration::from_secs(5));
        let again = leases.admit(&line("1", 10), now);
        assert_eq!(again.ask, vec![(0, 40)]);
        leases.granted(&account("1"), "lease_c".into(), 40, again.epoch, now);
        assert!(leases.admit(&line("1", 10), now).uses.is_some());
    }

    #[test]
    fn a_grant_whose_answer_was_lost_is_released_and_a_refused_call_may_use_a_new_lease() {
        let now = Instant::now();
        let leases = on(4, now);
        leases.admit(&line("1", 10), now);
        leases.not_granted(&account("1"), "lease_a", true, now);
        assert_eq!(leases.to_release(now), vec![("lease_a".to_string(), 0)]);
        // A call refused by the database while its own miss's lease was granted.
        let later = now + BACKOFF;
        leases.alive(later, Duration::from_secs(5));
        let miss = leases.admit(&line("1", 10), later);
        assert!(miss.uses.is_none());
        assert!(
            leases.retry(&line("1", 10), later).is_none(),
            "nothing granted yet"
        );
        leases.granted(&account("1"), "lease_b".into(), 40, miss.epoch, later);
        assert_eq!(
            leases
                .retry(&line("1", 10), later)
                .map(|u| u[0].lease.clone()),
            Some("lease_b".to_string())
        );
        // A retry asks for nothing, not even with less than half left (30 of 40 taken): the
        // next admission still asks ahead.
        for _ in 0..2 {
            assert!(leases.retry(&line("1", 10), later).is_some());
        }
        let last = leases.admit(&line("1", 10), later);
        assert!(last.uses.is_some());
        assert_eq!(last.ask, vec![(0, 40)]);
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
        unheard.granted(&account("1"), "lease_a".into(), 40, 0, now);
        assert_eq!(unheard.to_release(now), vec![("lease_a".to_string(), 0)]);
    }
}
