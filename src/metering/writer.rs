//! The single writer task that batches usage records into transactions.
//!
//! Call starts (used only to close out calls cut short by a crash) are held back for
//! [`START_DELAY`]: a call that finishes sooner never has its start written at all, which keeps
//! the common short call at one row per call. Starts of longer calls (streams) are written
//! within that delay, so a crash mid-stream is closed out at the next start. A call leaves its
//! start in a map the writer reads on its next turn rather than sending it: the writer is woken
//! once per record, not twice per call.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::reserver::{self, Answer};
use super::{CallStart, UsageRecord};
use crate::budgets::enforce::{Account, Line, Settlement};
use crate::budgets::leases::{self, Hold, Leases};
use crate::store::budgets::Refused;
use crate::store::reserve_many::Ask;
use crate::store::{LedgerConnection, Store};
use crate::telemetry::Metrics;

/// Most records committed in one transaction.
const MAX_BATCH: usize = 512;
/// Queue length; senders wait (back-pressure) when the writer falls this far behind.
const QUEUE: usize = 8192;
/// How long a call start waits before it is written.
const START_DELAY: Duration = Duration::from_millis(500);
/// How often the WAL is checkpointed beside the writer while the writer commits. Short, so each
/// checkpoint copies and syncs little: at 2,000 calls/s on two cores, every 50 ms instead of
/// 200 ms took the added p99 from +2.4–3.3 ms to +1.6–2.1 ms; every 2 s doubled it, and every
/// 20 ms cost budgeted calls more CPU and p99 than it saved (docs/benchmarks.md, "The WAL
/// checkpoint's interval").
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

enum Command {
    Record(
        Box<UsageRecord>,
        Option<Box<Settlement>>,
        oneshot::Sender<Result<(), String>>,
    ),
    Reserve(Ask, Answer),
    Shutdown,
}

/// Handle to the metering writer; cheap to clone.
#[derive(Clone)]
pub struct Meter {
    tx: mpsc::Sender<Command>,
    /// On PostgreSQL, the reservation batcher's queue (its own connection, so reservations
    /// never wait for the ledger's synchronous commits); on SQLite, reservations go to the
    /// writer, whose connection takes SQLite's one write lock in turn with its batches.
    reservations: Option<mpsc::Sender<(Ask, Answer)>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
    checkpoints: CancellationToken,
    pending: Pending,
    /// Budget leases (PostgreSQL, when enabled): calls admitted in memory.
    leases: Arc<Leases>,
    metrics: Arc<Metrics>,
    /// On SQLite, decides reservations in memory once the writer remembers their accounts.
    store: Store,
}

/// Starts not yet written, with when they arrived. Filled by the calls, drained by the writer:
/// on its next batch or its tick (every half [`START_DELAY`]), so a start is written between
/// `START_DELAY` and 1.5 × `START_DELAY` after its call began, unless its record came first.
type Pending = Arc<Mutex<HashMap<String, (Instant, CallStart)>>>;

/// Batches the writer has committed (the checkpoint task skips its turn when none was).
type Commits = Arc<AtomicU64>;

/// Why a record could not be committed.
#[derive(Debug, thiserror::Error)]
#[error("usage record not committed: {0}")]
pub struct MeterError(pub String);

impl Meter {
    /// Starts the writer task.
    pub fn spawn(store: Store, metrics: Arc<Metrics>) -> Meter {
        let (tx, rx) = mpsc::channel(QUEUE);
        let checkpoints = CancellationToken::new();
        let commits = Commits::default();
        tokio::spawn(checkpoint(
            store.clone(),
            commits.clone(),
            checkpoints.clone(),
        ));
        let reservations = (store.backend() == crate::store::Backend::Postgres).then(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(reserver::run(store.ledger_connection(), rx));
            tx
        });
        let pending = Pending::default();
        let leases = Arc::new(Leases::default());
        let writer = Writer::new(
            store.clone(),
            metrics.clone(),
            commits,
            pending.clone(),
            leases.clone(),
        );
        let task = tokio::spawn(writer.run(rx));
        Meter {
            tx,
            reservations,
            task: Arc::new(Mutex::new(Some(task))),
            checkpoints,
            pending,
            leases,
            metrics,
            store,
        }
    }

    /// This replica's budget leases ([`crate::budgets::leases`]; off unless enabled).
    pub fn leases(&self) -> &Arc<Leases> {
        &self.leases
    }

    /// Notes that a call was forwarded. Nothing is awaited and the writer is not woken: the
    /// start only serves crash recovery, and only once the call has lasted [`START_DELAY`].
    pub fn started(&self, start: CallStart) {
        lock(&self.pending).insert(start.id.clone(), (Instant::now(), start));
    }

    /// Queues a record and waits until it is committed.
    pub async fn record(&self, record: UsageRecord) -> Result<(), MeterError> {
        self.record_settled(record, None).await
    }

    /// Queues a record with the settlement of its budget reservations (applied in the same
    /// transaction) and waits until it is committed.
    pub async fn record_settled(
        &self,
        record: UsageRecord,
        settlement: Option<Settlement>,
    ) -> Result<(), MeterError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Command::Record(
                Box::new(record),
                settlement.map(Box::new),
                ack,
            ))
            .await
            .map_err(|_| MeterError("metering writer has stopped".into()))?;
        done.await
            .map_err(|_| MeterError("metering writer has stopped".into()))?
            .map_err(MeterError)
    }

    /// Reserves a call's budget and balance lines, batched with the other calls reserving at
    /// the same time (see [`crate::store::LedgerConnection::reserve_many`]).
    pub async fn reserve(
        &self,
        call_id: &str,
        lines: &[Line],
    ) -> Result<Result<(), Refused>, MeterError> {
        // SQLite: no trip through the writer's queue when it remembers every account's value.
        // (A stopped writer's calls were refused at admission: `Meter::accepting`.)
        if let Some(decided) = self.store.reserve_remembered(lines) {
            return Ok(decided);
        }
        let (ack, done) = oneshot::channel();
        let ask = (call_id.to_string(), lines.to_vec());
        let sent = match &self.reservations {
            Some(batcher) => batcher.send((ask, ack)).await.is_ok(),
            None => self.tx.send(Command::Reserve(ask, ack)).await.is_ok(),
        };
        if !sent {
            return Err(MeterError("metering writer has stopped".into()));
        }
        done.await
            .map_err(|_| MeterError("metering writer has stopped".into()))?
            .map_err(MeterError)
    }

    /// Admits a call's budget and balance lines: from this replica's leases when they cover
    /// every line (no database round trip), otherwise as [`Meter::reserve`] does. A miss also
    /// asks, in the background, for leases on the accounts that lacked room. `Some` hold when
    /// the call was admitted from leases.
    pub async fn admit(
        &self,
        call_id: &str,
        lines: &[Line],
    ) -> Result<Result<Option<Arc<Hold>>, Refused>, MeterError> {
        if self.reservations.is_none() {
            return Ok(self.reserve(call_id, lines).await?.map(|()| None));
        }
        // One look at the leases (off, they answer at once): no separate check first.
        let admission = self.leases.admit(lines, Instant::now());
        for (i, size) in admission.ask {
            self.ask_lease(&lines[i].account, size, admission.epoch);
        }
        if let Some(uses) = admission.uses {
            return Ok(Ok(Some(self.leased(uses))));
        }
        match self.reserve(call_id, lines).await {
            Err(e) => {
                // The database failed: no call is forwarded on a lease until it answers again.
                self.leases.suspend();
                Err(e)
            }
            Ok(Ok(())) => Ok(Ok(None)),
            // A lease granted meanwhile (asked for by this very call, in the same batch) may
            // cover what the account's check refused: the rest was in the lease's row.
            Ok(Err(refused)) => match self.leases.retry(lines, Instant::now()) {
                Some(uses) => Ok(Ok(Some(self.leased(uses)))),
                None => Ok(Err(refused)),
            },
        }
    }

    /// A call admitted from leases: counted, and held until its record is written.
    fn leased(&self, uses: Vec<crate::budgets::leases::Use>) -> Arc<Hold> {
        self.metrics.budget_lease_admissions.inc();
        Arc::new(Hold::new(self.leases.clone(), uses))
    }

    /// Asks for a lease of `size` on `account` through the reservation batcher, in the
    /// background: the same check and row as a call's reservation, under its own id. A
    /// database error suspends the leases and releases the row, should it have been written.
    fn ask_lease(&self, account: &Account, size: i64, epoch: u64) {
        let Some(batcher) = self.reservations.clone() else {
            return;
        };
        let leases = self.leases.clone();
        let metrics = self.metrics.clone();
        let account = account.clone();
        tokio::spawn(async move {
            let id = format!("{}{}", leases::ID_PREFIX, uuid::Uuid::now_v7().simple());
            let line = Line {
                account: account.clone(),
                amount_picos: size,
            };
            let (ack, done) = oneshot::channel();
            let answer = match batcher.send(((id.clone(), vec![line]), ack)).await {
                Ok(()) => done.await.ok(),
                Err(_) => None,
            };
            let now = Instant::now();
            match answer {
                Some(Ok(Ok(()))) => {
                    metrics.budget_leases_granted.inc();
                    leases.granted(&account, id, size, epoch, now);
                }
                Some(Ok(Err(_))) => {
                    metrics.budget_leases_refused.inc();
                    leases.not_granted(&account, &id, false, now);
                }
                // The database's error, or the batcher gone: the grant may have committed.
                failed => {
                    let error = failed.and_then(Result::err);
                    let error = error
                        .as_deref()
                        .unwrap_or("the reservation batcher stopped");
                    tracing::warn!(error, "budget lease not granted: database error");
                    metrics.budget_leases_refused.inc();
                    leases.suspend();
                    leases.not_granted(&account, &id, true, now);
                }
            }
        });
    }

    /// False once the writer task has ended: calls are then refused before they are forwarded
    /// (an atomic load, checked on every call).
    pub fn accepting(&self) -> bool {
        !self.tx.is_closed()
    }

    /// True while the writer task runs (readiness: a gateway whose writer stopped cannot record
    /// calls, so it must not take them).
    pub fn is_alive(&self) -> bool {
        !self.tx.is_closed()
            && self
                .task
                .lock()
                .expect("meter lock poisoned")
                .as_ref()
                .is_some_and(|t| !t.is_finished())
    }

    /// Writes everything queued so far, then stops the writer.
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Command::Shutdown).await;
        let task = self.task.lock().expect("meter lock poisoned").take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.checkpoints.cancel();
    }
}

/// The starts map, whatever a panicking holder left in it (each entry is whole).
fn lock(pending: &Pending) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, CallStart)>> {
    pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Writer {
    ledger: LedgerConnection,
    /// Starts not yet written (shared with the calls).
    pending: Pending,
    /// Ids of starts that were written and whose records have not come yet.
    written: HashSet<String>,
    metrics: Arc<Metrics>,
    commits: Commits,
    leases: Arc<Leases>,
    /// Leases whose release failed, tried again on the next turn.
    unreleased: Vec<leases::Release>,
}

impl Writer {
    fn new(
        store: Store,
        metrics: Arc<Metrics>,
        commits: Commits,
        pending: Pending,
        leases: Arc<Leases>,
    ) -> Self {
        Writer {
            ledger: store.ledger_connection(),
            pending,
            written: HashSet::new(),
            metrics,
            commits,
            leases,
            unreleased: Vec::new(),
        }
    }

    /// Releases the leases retired or idle by now, after this turn's batch: every call they
    /// covered has been settled in it or before ([`crate::budgets::leases`]); at a stop, all
    /// of them.
    async fn release_leases(&mut self, stopping: bool) {
        let mut ids = std::mem::take(&mut self.unreleased);
        if stopping {
            ids.extend(self.leases.all());
        } else {
            ids.extend(self.leases.to_release(Instant::now()));
        }
        if let Err(e) = self.ledger.release_leases(&ids, stopping).await {
            tracing::warn!(error = %e, leases = ids.len(), "budget leases not released; retrying");
            self.unreleased = ids;
        }
    }

    /// Leased calls leave their leases in the order their records came, once written. A
    /// record that could not be written keeps its call's amount held in its leases' rows, and
    /// the leases are suspended: the database is failing.
    fn leave_leases(&self, holds: &[Option<Arc<Hold>>], results: &[Result<(), String>]) {
        for (hold, result) in holds.iter().zip(results) {
            match (hold, result) {
                (Some(hold), Ok(())) => hold.settle(),
                (Some(hold), Err(_)) => hold.keep(),
                (None, _) => {}
            }
        }
        if results.iter().any(Result::is_err) {
            self.leases.suspend();
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(START_DELAY / 2);
        let mut stopping = false;
        while !stopping {
            let first = tokio::select! {
                c = rx.recv() => match c {
                    Some(c) => Some(c),
                    None => break,
                },
                _ = tick.tick() => None,
            };
            self.metrics.queue_depth.set(rx.len() as i64);
            let mut batch: Vec<Command> = first.into_iter().collect();
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            let mut records = Vec::new();
            let mut settlements = Vec::new();
            let mut acks = Vec::new();
            let mut reservations = Vec::new();
            for command in batch {
                match command {
                    Command::Record(r, settlement, ack) => {
                        records.push(*r);
                        settlements.push(settlement.map(|s| *s));
                        acks.push(ack);
                    }
                    Command::Reserve(ask, ack) => reservations.push((ask, ack)),
                    Command::Shutdown => stopping = true,
                }
            }
            // Before the batch: a reserving call waits for its answer before it is forwarded,
            // while the records' calls have had their answers.
            reserver::answer(&mut self.ledger, reservations).await;
            // A leased call's cost above what it was admitted for is taken from its lease
            // before its record is written; it leaves the lease once the record is.
            let holds: Vec<Option<Arc<Hold>>> = settlements
                .iter()
                .map(|s| s.as_ref().and_then(|s| s.lease.clone()))
                .collect();
            for (r, hold) in records.iter().zip(&holds) {
                if let Some(hold) = hold {
                    hold.charge(crate::money::to_picos(r.cost).unwrap_or(0));
                }
            }
            let starts = self.ripe_starts(&records, stopping);
            if starts.is_empty() && records.is_empty() {
                self.release_leases(stopping).await;
                continue;
            }
            let had_start: Vec<bool> = records.iter().map(|r| self.written.remove(&r.id)).collect();
            let finished: Vec<&UsageRecord> = records
                .iter()
                .zip(&had_start)
                .filter(|(_, h)| **h)
                .map(|(r, _)| r)
                .collect();
            let finished_ids: HashSet<String> = finished.iter().map(|r| r.id.clone()).collect();
            let t0 = Instant::now();
            let outcome = write_isolating(
                &mut self.ledger,
                &starts,
                &mut records,
                settlements,
                &finished_ids,
            )
            .await;
            self.commits.fetch_add(1, Ordering::Relaxed);
            if !records.is_empty() {
                self.metrics.batch_size.observe(records.len() as f64);
                self.metrics
                    .commit_seconds
                    .observe(t0.elapsed().as_secs_f64());
            }
            // Counted once committed, as committed (a quarantined record without its
            // tokens), so the metrics agree with the ledger.
            for (r, result) in records.iter().zip(&outcome.records) {
                if result.is_ok() {
                    self.metrics.record(r);
                }
            }
            tracing::debug!(
                starts = starts.len(),
                records = outcome.records.len(),
                micros = t0.elapsed().as_micros() as u64,
                "usage batch committed"
            );
            if outcome.starts_written {
                self.written.extend(starts.into_iter().map(|s| s.id));
            }
            self.leave_leases(&holds, &outcome.records);
            for (ack, result) in acks.into_iter().zip(outcome.records) {
                let _ = ack.send(result);
            }
            self.release_leases(stopping).await;
        }
        self.ledger.close().await;
    }

    /// Takes the starts to write now out of the map: those that waited [`START_DELAY`] (all
    /// of them when stopping), after dropping those of the calls whose records came.
    fn ripe_starts(&self, records: &[UsageRecord], stopping: bool) -> Vec<CallStart> {
        let mut pending = lock(&self.pending);
        for r in records {
            pending.remove(&r.id);
        }
        let due = Instant::now() - START_DELAY;
        let ripe: Vec<String> = pending
            .iter()
            .filter(|(_, (at, _))| stopping || *at <= due)
            .map(|(id, _)| id.clone())
            .collect();
        ripe.iter()
            .filter_map(|id| pending.remove(id))
            .map(|(_, s)| s)
            .collect()
    }
}

/// Checkpoints the WAL on its own connection, so the writer's commits never wait for the
/// fsync of a checkpoint (the writer's connection does not checkpoint). An idle gateway is
/// not woken for it: a turn with no commit since a checkpoint that copied everything is
/// skipped.
async fn checkpoint(store: Store, commits: Commits, stop: CancellationToken) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = u64::MAX;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let now = commits.load(Ordering::Relaxed);
        if now == seen {
            continue;
        }
        match store.checkpoint().await {
            // Frames left (a reader held them): the next turn tries again.
            Ok(left) => seen = if left == 0 { now } else { u64::MAX },
            Err(e) => {
                seen = u64::MAX;
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying later");
            }
        }
    }
}

/// What became of a batch: whether its starts were written, and each record's result.
struct Outcome {
    starts_written: bool,
    records: Vec<Result<(), String>>,
}

/// Attempts at one write while the database reports itself busy.
const ATTEMPTS: u32 = 5;

/// Writes a batch so that no record can cost another its place in the ledger: a batch that
/// fails for any reason but a busy database is split in halves, down to single records. A
/// single record the database still refuses (a value it cannot store, a sum that would
/// overflow) is written in its quarantined form — no tokens, no cost, its reservations
/// released, the refusal and the figures as reported in its usage note — so the call is still
/// on the ledger. If even that fails the database itself is broken, and the rest of the batch
/// is failed without further attempts.
async fn write_isolating(
    ledger: &mut LedgerConnection,
    starts: &[CallStart],
    records: &mut [UsageRecord],
    settlements: Vec<Option<Settlement>>,
    finished: &HashSet<String>,
) -> Outcome {
    let n = records.len();
    let mut results: Vec<Option<Result<(), String>>> = vec![None; n];
    let mut starts_written = false;
    let mut broken: Option<String> = None;
    // Ranges of `records` still to write; the first carries the batch's starts.
    let mut todo = vec![(0, n, true)];
    while let Some((lo, hi, with_starts)) = todo.pop() {
        let these_starts = if with_starts { starts } else { &[] };
        if let Some(e) = &broken {
            results[lo..hi].fill(Some(Err(e.clone())));
            continue;
        }
        let done: Vec<String> = records[lo..hi]
            .iter()
            .filter(|r| finished.contains(&r.id))
            .map(|r| r.id.clone())
            .collect();
        let written = write_with_retry(
            ledger,
            these_starts,
            &records[lo..hi],
            &settlements[lo..hi],
            &done,
        )
        .await;
        match written {
            Ok(()) => {
                results[lo..hi].fill(Some(Ok(())));
                starts_written |= with_starts;
            }
            Err(_) if hi - lo > 1 => {
                let mid = lo + (hi - lo) / 2;
                todo.push((mid, hi, false));
                todo.push((lo, mid, with_starts));
            }
            Err(e) if hi - lo == 1 => {
                tracing::error!(error = %e, call = %records[lo].id, "the ledger refused a record; writing it quarantined");
                records[lo] = quarantined(&records[lo], &e);
                let retried = write_with_retry(
                    ledger,
                    these_starts,
                    &records[lo..hi],
                    &settlements[lo..hi],
                    &done,
                )
                .await;
                if let Err(e) = &retried {
                    broken = Some(e.clone());
                }
                starts_written |= with_starts && retried.is_ok();
                results[lo] = Some(retried);
            }
            Err(e) => {
                // Starts alone (no records) could not be written: they only serve crash
                // close-out, and are tried again with the next batch's.
                tracing::warn!(error = %e, "call starts not written");
            }
        }
    }
    Outcome {
        starts_written,
        records: results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err("not written".into())))
            .collect(),
    }
}

/// A record the ledger refused, in the form it can always take.
fn quarantined(r: &UsageRecord, error: &str) -> UsageRecord {
    let note = format!(
        "the ledger refused this record as reported ({error}); recorded without tokens or cost. As reported: \
         {} input, {} cached, {} cache-write, {} output, {} reasoning tokens, {} images, cost {} USD, source {}",
        r.usage.input_tokens,
        r.usage.cached_input_tokens,
        r.usage.cache_write_tokens,
        r.usage.output_tokens,
        r.usage.reasoning_tokens,
        r.usage.images,
        r.cost,
        r.usage_source.as_str()
    );
    UsageRecord {
        usage: crate::pricing::Usage::default(),
        usage_source: super::UsageSource::None,
        cost: rust_decimal::Decimal::ZERO,
        usage_note: Some(note),
        ..r.clone()
    }
}

/// True for errors that pass by themselves: another connection holds SQLite's write lock, or
/// PostgreSQL broke a deadlock by failing this batch's statement (rolled back whole, so the
/// batch is simply written again; splitting it would quarantine a record that did nothing
/// wrong).
fn transient(e: &str) -> bool {
    let e = e.to_ascii_lowercase();
    e.contains("database is locked") || e.contains("busy") || e.contains("deadlock detected")
}

/// Retries a busy database a few times before giving up on the write; other errors return at
/// once (the caller isolates the record that caused them).
async fn write_with_retry(
    ledger: &mut LedgerConnection,
    starts: &[CallStart],
    records: &[UsageRecord],
    settlements: &[Option<Settlement>],
    finished_starts: &[String],
) -> Result<(), String> {
    let mut delay = Duration::from_millis(10);
    let mut attempt = 1;
    loop {
        let result = ledger
            .write_batch(starts, records, settlements, finished_starts)
            .await
            .map_err(|e| e.to_string());
        match result {
            Err(e) if attempt < ATTEMPTS && transient(&e) => {
                tracing::warn!(error = %e, attempt, "usage batch write failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
                attempt += 1;
            }
            Err(e) => {
                tracing::warn!(error = %e, records = records.len(), "usage batch write failed");
                return Err(e);
            }
            Ok(()) => return Ok(()),
        }
    }
}
