//! The state every handler receives, passed explicitly through axum's `State`.

use std::sync::Arc;

use tokio_util::task::TaskTracker;

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
    pub meter: Meter,
    pub upstream: Arc<Upstream>,
    /// Background work (stream relays) that shutdown waits for.
    pub tasks: TaskTracker,
    pub config: Arc<RuntimeConfig>,
}

/// Settings handlers need at run time.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Bearer token of the admin API.
    pub admin_token: String,
    /// Base URL that pages and examples show for this gateway (no trailing slash).
    pub public_url: String,
}
