//! The state every handler receives, passed explicitly through axum's `State`.

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::store::Store;

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub catalog: Catalog,
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
