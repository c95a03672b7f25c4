//! Budget reservations in batches: the calls that asked while the previous batch ran are
//! reserved together in one transaction (see [`crate::store::reserve_many`]). On PostgreSQL a
//! task of its own runs the batches on its own connection; on SQLite the metering writer runs
//! them on its connection, in turn with the ledger's batches.

use tokio::sync::{mpsc, oneshot};

use crate::budgets::leases;
use crate::store::budgets::Refused;
use crate::store::reserve_many::Ask;
use crate::store::LedgerConnection;

/// Most calls reserved in one transaction.
pub(super) const MAX_RESERVATIONS: usize = 256;

/// Where a call's answer goes: reserved, refused, or the database's error.
pub(super) type Answer = oneshot::Sender<Result<Result<(), Refused>, String>>;

/// The PostgreSQL batcher: takes every queued reservation, reserves them in one transaction,
/// answers each; ends when every sender is gone.
pub(super) async fn run(mut ledger: LedgerConnection, mut rx: mpsc::Receiver<(Ask, Answer)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_RESERVATIONS {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        answer(&mut ledger, batch).await;
    }
    ledger.close().await;
}

/// Reserves a batch on `ledger` and answers each of its calls. Budget leases go after the
/// calls (in order otherwise): a call is never refused for a lease its own miss asked for in
/// the same batch.
pub(super) async fn answer(ledger: &mut LedgerConnection, mut batch: Vec<(Ask, Answer)>) {
    if batch.is_empty() {
        return;
    }
    batch.sort_by_key(|((id, _), _)| leases::is_lease(id));
    let (asks, acks): (Vec<Ask>, Vec<Answer>) = batch.into_iter().unzip();
    match ledger.reserve_many(&asks).await {
        Ok(results) => {
            for (ack, result) in acks.into_iter().zip(results) {
                let _ = ack.send(Ok(result));
            }
        }
        Err(e) => {
            let e = e.to_string();
            for ack in acks {
                let _ = ack.send(Err(e.clone()));
            }
        }
    }
}
