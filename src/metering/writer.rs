//! The single writer task that batches usage records into transactions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{CallStart, UsageRecord};
use crate::store::Store;

/// Most records committed in one transaction.
const MAX_BATCH: usize = 512;
/// Queue length; senders wait (back-pressure) when the writer falls this far behind.
const QUEUE: usize = 8192;

enum Command {
    Start(CallStart),
    Record(Box<UsageRecord>, oneshot::Sender<Result<(), String>>),
    Shutdown,
}

/// Handle to the metering writer; cheap to clone.
#[derive(Clone)]
pub struct Meter {
    tx: mpsc::Sender<Command>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

/// Why a record could not be committed.
#[derive(Debug, thiserror::Error)]
#[error("usage record not committed: {0}")]
pub struct MeterError(pub String);

impl Meter {
    /// Starts the writer task.
    pub fn spawn(store: Store) -> Meter {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(store, rx));
        Meter {
            tx,
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Notes that a call was forwarded (not awaited: it only serves crash recovery).
    pub async fn started(&self, start: CallStart) {
        let _ = self.tx.send(Command::Start(start)).await;
    }

    /// Queues a record and waits until it is committed.
    pub async fn record(&self, record: UsageRecord) -> Result<(), MeterError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Command::Record(Box::new(record), ack))
            .await
            .map_err(|_| MeterError("metering writer has stopped".into()))?;
        done.await
            .map_err(|_| MeterError("metering writer has stopped".into()))?
            .map_err(MeterError)
    }

    /// Writes everything queued so far, then stops the writer.
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Command::Shutdown).await;
        let task = self.task.lock().expect("meter lock poisoned").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Command>) {
    let mut stopping = false;
    while !stopping {
        let Some(first) = rx.recv().await else { break };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let mut starts = Vec::new();
        let mut records = Vec::new();
        let mut acks = Vec::new();
        for command in batch {
            match command {
                Command::Start(s) => starts.push(s),
                Command::Record(r, ack) => {
                    records.push(*r);
                    acks.push(ack);
                }
                Command::Shutdown => stopping = true,
            }
        }
        let result = write_with_retry(&store, &starts, &records).await;
        for ack in acks {
            let _ = ack.send(result.clone());
        }
    }
}

/// Retries transient failures (a busy database) a few times before giving up on the batch.
async fn write_with_retry(
    store: &Store,
    starts: &[CallStart],
    records: &[UsageRecord],
) -> Result<(), String> {
    let mut delay = Duration::from_millis(10);
    for attempt in 0..5 {
        match store.write_usage_batch(starts, records).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 4 => {
                tracing::warn!(error = %e, attempt, "usage batch write failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            Err(e) => {
                tracing::error!(error = %e, records = records.len(), "usage batch write failed");
                return Err(e.to_string());
            }
        }
    }
    unreachable!("the last attempt returns")
}
