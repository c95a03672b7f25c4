//! Budgets that never overrun: teams, spend limits per key, team and gateway, prepaid credits,
//! rate limits and budget alerts.
//!
//! Before a call is forwarded, its maximum cost is reserved against every budget and balance
//! that applies, in one transaction whose conditional updates refuse the call when
//! `spent + reserved + maximum` would pass a hard limit. When the call ends, the reservation is
//! settled to the actual cost in the same transaction that writes its usage record. So no
//! interleaving of concurrent calls can make settled spend pass a hard budget.

pub mod alerts;
pub mod bounds;
pub mod enforce;
pub mod leases;
pub mod ratelimit;
mod spec;
mod teams;

pub use spec::*;
pub use teams::*;

use chrono_tz::Tz;

/// Gateway-wide budget settings.
#[derive(Debug, Clone)]
pub struct BudgetSettings {
    /// A budget on all calls through the gateway.
    pub global: Option<Budget>,
    /// Time zone of daily, weekly and monthly periods.
    pub tz: Tz,
    /// Credit granted to every new key, USD (zero: none).
    pub free_tier_picos: i64,
    /// Alert when a prepaid balance falls below this, USD picodollars.
    pub low_balance_picos: i64,
    /// Where alerts go when neither the key nor its team names a webhook.
    pub webhook_url: Option<String>,
    /// HMAC-SHA256 key of `x-tollgate-signature`.
    pub webhook_secret: String,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        BudgetSettings {
            global: None,
            tz: Tz::UTC,
            free_tier_picos: 0,
            low_balance_picos: 1_000_000_000_000,
            webhook_url: None,
            webhook_secret: String::new(),
        }
    }
}
