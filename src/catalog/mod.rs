//! The model catalog: providers, models, their price histories and related models.
//!
//! The gateway reads the catalog on every call, so it is held in memory as an immutable
//! [`Snapshot`] that is rebuilt from the store after each admin change and swapped in whole.

mod domain;
pub mod import;
mod input;
pub mod markdown;
pub mod query;
pub mod seed;

pub use domain::*;
pub use input::*;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use crate::pricing::{version_at, PriceVersion};
use crate::store::{Store, StoreError};

/// A model with everything the API shows about it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub model: Model,
    /// Price versions, oldest first.
    pub prices: Vec<PriceVersion>,
    /// Related model ids, in their display order.
    pub related: Vec<String>,
}

impl Entry {
    /// The price version in effect at `at`; `None` when the model has no known price then.
    pub fn price_at(&self, at: DateTime<Utc>) -> Option<&PriceVersion> {
        version_at(&self.prices, at)
    }
}

/// An immutable view of the whole catalog.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub providers: Vec<Provider>,
    pub entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl Snapshot {
    pub fn new(providers: Vec<Provider>, entries: Vec<Entry>) -> Self {
        let index = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.model.id.clone(), i))
            .collect();
        Snapshot {
            providers,
            entries,
            index,
        }
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.index.get(id).map(|&i| &self.entries[i])
    }

    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }
}

/// The shared, swappable catalog.
#[derive(Clone, Default)]
pub struct Catalog {
    current: Arc<RwLock<Arc<Snapshot>>>,
}

impl Catalog {
    /// The catalog as it is now; cheap (one `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().expect("catalog lock poisoned").clone()
    }

    /// Rebuilds the snapshot from the store; called at start and after every admin write.
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let snapshot = Arc::new(store.load_catalog().await?);
        *self.current.write().expect("catalog lock poisoned") = snapshot;
        Ok(())
    }
}
