//! What a replica does beside serving when several share one PostgreSQL database:
//!
//! - **Liveness and recovery.** It heartbeats its instance row every third of the lease, and
//!   recovers what instances silent for longer than the lease left behind (their calls in
//!   flight closed out as `interrupted`, their reservations released) — so a killed replica's
//!   budget holds come back within about one lease, without a restart, and a live replica's
//!   calls and reservations are never touched.
//! - **Admin changes.** Admin writes bump `change_versions` and `NOTIFY tollgate_changes` in
//!   their own transaction (database triggers); every replica listens and reloads the cache that
//!   changed (keys, teams, catalog, prepaid owners) at once, and polls the versions every
//!   [`POLL`] in case a notification was lost with a dropped connection. So a key revoked on one
//!   replica is refused by every other within a second.
//!
//! On SQLite (one process) none of this runs.

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;
use crate::store::{Backend, StoreError};

/// How often the change versions are polled (the fallback to notifications).
pub const POLL: Duration = Duration::from_millis(500);

/// Starts the replica tasks on PostgreSQL; `None` on SQLite.
pub fn spawn(state: AppState, lease: Duration, stop: CancellationToken) -> Option<JoinHandle<()>> {
    if state.store.backend() != Backend::Postgres {
        return None;
    }
    Some(tokio::spawn(async move {
        tokio::join!(
            liveness(state.clone(), lease, stop.clone()),
            changes(state, stop)
        );
    }))
}

async fn liveness(state: AppState, lease: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval((lease / 3).max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let at = std::time::Instant::now();
        if let Err(e) = state.store.heartbeat().await {
            tracing::warn!(error = %e, "heartbeat failed");
            continue;
        }
        // Leases admit only while the other replicas cannot yet think this one dead.
        state.meter.leases().alive(at, lease / 2);
        let minute = chrono::Utc::now().timestamp() / 60;
        if let Err(e) = state.store.prune_rate_windows(minute - 2).await {
            tracing::warn!(error = %e, "pruning rate-limit windows failed");
        }
        match state.store.recover_dead_instances(lease).await {
            Ok(r) if r.instances + r.calls + r.reservations > 0 => tracing::warn!(
                instances = r.instances,
                calls = r.calls,
                reservations = r.reservations,
                "recovered what dead replicas left behind"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "recovery of dead replicas failed; retrying"),
        }
    }
}

async fn changes(state: AppState, stop: CancellationToken) {
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut listener = None;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if listener.is_none() {
            listener = state.store.change_listener().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot listen for admin changes; polling only");
                None
            });
        }
        let notified = async {
            match listener.as_mut() {
                Some(l) => l.recv().await.map(|n| n.payload().to_string()),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            n = notified => match n {
                Ok(what) => reload_logged(&state, &what).await,
                Err(e) => {
                    tracing::warn!(error = %e, "admin-change listener failed; reconnecting");
                    listener = None;
                }
            },
            _ = tick.tick() => poll(&state, &mut seen).await,
        }
    }
}

/// Reloads every cache whose version moved since the last poll.
async fn poll(state: &AppState, seen: &mut HashMap<String, i64>) {
    let versions = match state.store.change_versions().await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read change versions");
            return;
        }
    };
    for (what, version) in versions {
        let before = seen.insert(what.clone(), version);
        if before.is_some_and(|b| b != version) {
            reload_logged(state, &what).await;
        }
    }
}

async fn reload_logged(state: &AppState, what: &str) {
    if let Err(e) = reload(state, what).await {
        tracing::warn!(error = %e, what, "reloading after an admin change failed");
    }
}

/// Reloads one cache from the database.
pub async fn reload(state: &AppState, what: &str) -> Result<(), StoreError> {
    match what {
        "keys" => state.keys.reload(&state.store).await,
        "teams" => state.teams.reload(&state.store).await,
        "catalog" => state.catalog.reload(&state.store).await,
        "credits" => {
            state.credits.set(state.store.credit_owners().await?);
            Ok(())
        }
        _ => Ok(()),
    }
}
