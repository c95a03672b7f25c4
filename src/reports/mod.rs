//! Reports: spend by any dimension and time, the audit trail, estimates, cheaper related
//! models and re-pricing.
//!
//! Spend is read from rollups (per UTC hour and per UTC day × key × team × model × provider)
//! that the metering writer updates in the same transaction as each usage record; only the
//! partial hours at the ends of a range are read from the records themselves. Every sum is
//! exact: see [`Totals`].

pub mod advice;
pub mod audit;
mod buckets;
pub mod generate;
mod spend;
mod totals;

pub use buckets::Grain;
pub use spend::*;
pub use totals::*;

use serde::Serialize;

/// A dimension a spend report can group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Dim {
    Key,
    Team,
    Model,
    Provider,
}

impl Dim {
    pub fn word(self) -> &'static str {
        match self {
            Dim::Key => "key",
            Dim::Team => "team",
            Dim::Model => "model",
            Dim::Provider => "provider",
        }
    }
}

/// Filters every report accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub key: Option<String>,
    pub team: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
}
