//! Builds the application from settings and runs it until a shutdown signal.

mod serve;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::catalog::seed::Seed;
use tokio_util::task::TaskTracker;

use crate::budgets::enforce::CreditOwners;
use crate::budgets::ratelimit::RateLimiter;
use crate::budgets::TeamRing;
use crate::catalog::Catalog;
use crate::configuration::Settings;
use crate::gateway::upstream::{Timeouts, Upstream};
use crate::keys::KeyRing;
use crate::metering::Meter;
use crate::state::{AppState, Clock, RuntimeConfig};
use crate::store::Store;

/// A built, bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    settings: Settings,
    /// The lock that makes this process the SQLite database's one owner, held until the
    /// server stops ([`Store::claim_sqlite_file`]).
    _owner: Option<std::fs::File>,
}

impl Application {
    /// Opens the database (migrating it), seeds an empty catalog, binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database_url)
            .await
            .with_context(|| format!("opening database {}", settings.database_url))?;
        let owner = store.claim_sqlite_file()?;
        if store.catalog_is_empty().await? {
            let seed = Seed::load(&settings.seeds_dir)?;
            store.load_seed(&seed).await.context("loading seeds")?;
            tracing::info!(
                models = seed.models.len(),
                providers = seed.providers.len(),
                "seeded the empty catalog"
            );
        }
        let catalog = Catalog::default();
        catalog.reload(&store).await?;
        crate::gateway::upstream::warn_missing_keys(&catalog.snapshot().providers);
        let keys = KeyRing::default();
        keys.reload(&store).await?;
        let budgets = Arc::new(settings.budget_settings()?);
        let teams = TeamRing::default();
        teams.reload(&store).await?;
        let credits = CreditOwners::default();
        credits.set(store.credit_owners().await?);
        recover(&store, Duration::from_secs(settings.instance_lease_secs)).await?;
        if settings.tokenizer_preload {
            tokio::task::spawn_blocking(crate::gateway::tokens::warm_up);
        }
        let upstream = Arc::new(Upstream::new(Timeouts {
            connect: Duration::from_millis(settings.upstream_connect_timeout_ms),
            first_byte: Duration::from_millis(settings.upstream_first_byte_timeout_ms),
            total: Duration::from_millis(settings.upstream_total_timeout_ms),
        }));
        let metrics = Arc::new(crate::telemetry::Metrics::for_catalog(catalog.clone()));
        let meter = Meter::spawn(store.clone(), metrics.clone());
        if store.backend() == crate::store::Backend::Postgres {
            meter.leases().enable(settings.budget_lease_calls);
        }
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let admin_token = settings
            .admin_token
            .clone()
            .unwrap_or_else(generate_admin_token);
        if settings.admin_token.is_none() {
            println!("TOLLGATE_ADMIN_TOKEN is not set; this run's admin token (shown once): {admin_token}");
            tracing::warn!(
                "TOLLGATE_ADMIN_TOKEN is not set; generated an admin token for this run"
            );
        }
        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_string();
        let config = Arc::new(RuntimeConfig {
            admin_token,
            metrics_token: settings.metrics_token.clone().filter(|t| !t.is_empty()),
            public_url,
        });
        // Replicas on PostgreSQL count rate limits in the database, so they hold across all
        // of them; one SQLite process counts in memory.
        let limiter = if store.backend() == crate::store::Backend::Postgres {
            RateLimiter::shared(store.clone())
        } else {
            RateLimiter::default()
        };
        let state = AppState {
            store,
            catalog,
            keys,
            teams,
            credits,
            budgets,
            limiter,
            clock: Clock::default(),
            meter,
            upstream,
            tasks: TaskTracker::new(),
            stopping: tokio_util::sync::CancellationToken::new(),
            config,
            metrics,
        };
        Ok(Application {
            listener,
            state,
            settings,
            _owner: owner,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The state handlers share (tests inspect it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, drains in-flight requests
    /// (up to the grace period) and closes the database.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        let app = crate::api::router(self.state.clone(), &self.settings);
        tracing::info!(%addr, "tollgate listening");
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight requests");
            let _ = stopping_tx.send(());
        };
        let stop_alerts = tokio_util::sync::CancellationToken::new();
        let replica = crate::cluster::spawn(
            self.state.clone(),
            Duration::from_secs(self.settings.instance_lease_secs),
            stop_alerts.clone(),
        );
        let sync = self.settings.catalog_sync()?.map(|s| {
            crate::catalog::import::sync::spawn(self.state.clone(), s, stop_alerts.clone())
        });
        let alerts = tokio::spawn(crate::budgets::alerts::deliver(
            self.state.store.clone(),
            self.state.budgets.webhook_secret.clone(),
            Duration::from_millis(self.settings.alert_poll_ms),
            stop_alerts.clone(),
        ));
        let limits = serve::ConnectionLimits {
            header_read_timeout: Duration::from_millis(self.settings.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.settings.idle_timeout_ms),
            max_connections: self.settings.effective_max_connections(),
        };
        tracing::info!(max_connections = limits.max_connections, "connection limit");
        let server = serve::serve(self.listener, app, limits, signal);
        let grace = Duration::from_secs(self.settings.shutdown_grace_secs);
        let server = tokio::spawn(server);
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => result?,
            _ = async { let _ = stopping_rx.await; tokio::time::sleep(grace).await } => {
                tracing::warn!("grace period over; ending calls still in flight");
            }
        }
        // Calls still in flight (and stream relays) end now and record themselves as
        // `interrupted`; the writer's last flush waits for those records.
        self.state.stopping.cancel();
        self.state.tasks.close();
        if tokio::time::timeout(END_WAIT, self.state.tasks.wait())
            .await
            .is_err()
        {
            tracing::error!("calls ended at shutdown did not record in time");
        }
        self.state.meter.shutdown().await;
        stop_alerts.cancel();
        let _ = alerts.await;
        if let Some(sync) = sync {
            let _ = sync.await;
        }
        if let Some(replica) = replica {
            let _ = replica.await;
        }
        if let Err(e) = self.state.store.leave().await {
            tracing::warn!(error = %e, "could not remove this instance's row");
        }
        self.state.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// What the last stop left behind. On SQLite (one process) every reservation and call start is
/// the last process's: all are released and closed out. On PostgreSQL other replicas may be
/// serving: this instance announces itself and recovers only instances whose lease expired.
async fn recover(store: &Store, lease: Duration) -> anyhow::Result<()> {
    if store.backend() == crate::store::Backend::Postgres {
        store.heartbeat().await?;
        let r = store.recover_dead_instances(lease).await?;
        if r.instances + r.calls + r.reservations > 0 {
            tracing::warn!(
                instances = r.instances,
                calls = r.calls,
                reservations = r.reservations,
                "recovered what dead replicas left behind"
            );
        }
        return Ok(());
    }
    let released = store.release_orphan_reservations().await?;
    if released > 0 {
        tracing::warn!(
            reservations = released,
            "released budget reservations of calls cut short by the last stop"
        );
    }
    let interrupted = store.close_out_interrupted().await?;
    if interrupted > 0 {
        tracing::warn!(
            calls = interrupted,
            "closed out calls that were in flight when the gateway last stopped"
        );
    }
    Ok(())
}

/// How long calls ended at shutdown get to write their records before the writer's last flush.
const END_WAIT: Duration = Duration::from_secs(5);

fn generate_admin_token() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("tga-{}", hex::encode(bytes))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
