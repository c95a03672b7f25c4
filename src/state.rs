//! The state every handler receives, passed explicitly through axum's `State`.

use std::sync::Arc;

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};
use tokio_util::task::TaskTracker;

use crate::budgets::enforce::CreditOwners;
use crate::budgets::ratelimit::RateLimiter;
use crate::budgets::{BudgetSettings, TeamRing};
use crate::catalog::Catalog;
use crate::gateway::upstream::Upstream;
use crate::keys::KeyRing;
use crate::metering::Meter;
use crate::store::Store;

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub catalog: Catalog,
    pub keys: KeyRing,
    pub teams: TeamRing,
    pub credits: CreditOwners,
    pub budgets: Arc<BudgetSettings>,
    pub limiter: RateLimiter,
    pub clock: Clock,
    pub meter: Meter,
    pub upstream: Arc<Upstream>,
    /// Work that shutdown waits for: gateway calls in flight and stream relays.
    pub tasks: TaskTracker,
    /// Cancelled when the shutdown grace period is over: calls still in flight end at once,
    /// recorded as `interrupted` with what the upstream had reported, before the ledger's last
    /// write.
    pub stopping: tokio_util::sync::CancellationToken,
    pub config: Arc<RuntimeConfig>,
    /// What `GET /metrics` serves.
    pub metrics: Arc<crate::telemetry::Metrics>,
}

/// Settings handlers need at run time.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Bearer token of the admin API.
    pub admin_token: String,
    /// When set, `GET /metrics` requires it as a bearer token.
    pub metrics_token: Option<String>,
    /// Base URL that pages and examples show for this gateway (no trailing slash).
    pub public_url: String,
}

/// The time budgets and calls are judged by: the system clock, plus an offset that tests can
/// advance to cross period boundaries.
#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock forward (tests only use this).
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}
