//! Summed usage: the measures every report row carries.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::money::format_usd;
use crate::pricing::Usage;

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// How many counts a stored call (or a sum of calls) has.
pub const COUNTS: usize = 8;

/// The usage of one call from its stored counts (input, cached, cache write, output,
/// reasoning, images, one-hour cache write, web searches: the last ones added last).
pub fn call_usage(c: &[i64; COUNTS]) -> Usage {
    Usage {
        input_tokens: count(c[0]),
        cached_input_tokens: count(c[1]),
        cache_write_tokens: count(c[2]),
        output_tokens: count(c[3]),
        reasoning_tokens: count(c[4]),
        images: count(c[5]),
        cache_write_1h_tokens: count(c[6]),
        web_search_requests: count(c[7]),
        service_tier: None,
    }
}

/// Sums of calls. Cost is held as picodollars in an `i128`, so adding any number of rows is
/// exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: i64,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub images: i64,
    pub web_search_requests: i64,
    pub cost_picos: i128,
    /// Calls whose status is not `ok` (upstream errors, timeouts, cancellations, refusals…).
    pub errors: i64,
}

impl Totals {
    /// Adds `o`. The cost is an `i128` of picodollars (rows hold `i64`s, so no number of rows
    /// can overflow it); token counts saturate at `i64::MAX` instead of wrapping or panicking.
    pub fn add(&mut self, o: &Totals) {
        self.requests = self.requests.saturating_add(o.requests);
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(o.cached_input_tokens);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(o.cache_write_tokens);
        self.cache_write_1h_tokens = self
            .cache_write_1h_tokens
            .saturating_add(o.cache_write_1h_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(o.reasoning_tokens);
        self.images = self.images.saturating_add(o.images);
        self.web_search_requests = self
            .web_search_requests
            .saturating_add(o.web_search_requests);
        self.cost_picos = self.cost_picos.saturating_add(o.cost_picos);
        self.errors = self.errors.saturating_add(o.errors);
    }

    /// Takes `o` away (a rollup moved to another bucket; see the spend report's local days).
    pub fn sub(&mut self, o: &Totals) {
        self.requests = self.requests.saturating_sub(o.requests);
        self.input_tokens = self.input_tokens.saturating_sub(o.input_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_sub(o.cached_input_tokens);
        self.cache_write_tokens = self.cache_write_tokens.saturating_sub(o.cache_write_tokens);
        self.cache_write_1h_tokens = self
            .cache_write_1h_tokens
            .saturating_sub(o.cache_write_1h_tokens);
        self.output_tokens = self.output_tokens.saturating_sub(o.output_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_sub(o.reasoning_tokens);
        self.images = self.images.saturating_sub(o.images);
        self.web_search_requests = self
            .web_search_requests
            .saturating_sub(o.web_search_requests);
        self.cost_picos = self.cost_picos.saturating_sub(o.cost_picos);
        self.errors = self.errors.saturating_sub(o.errors);
    }

    /// The cost from the two halves of an overflow-safe SQL sum.
    pub fn with_split_cost(mut self, micros: i64, rest: i64) -> Self {
        self.cost_picos = i128::from(micros) * 1_000_000 + i128::from(rest);
        self
    }

    /// The summed tokens as one usage (for pricing the sum).
    pub fn usage(&self) -> Usage {
        call_usage(&[
            self.input_tokens,
            self.cached_input_tokens,
            self.cache_write_tokens,
            self.output_tokens,
            self.reasoning_tokens,
            self.images,
            self.cache_write_1h_tokens,
            self.web_search_requests,
        ])
    }

    /// The cost in USD. A `Decimal` holds 28 digits, about 7.9e16 USD: more than 8 billion rows
    /// each at the ledger's maximum; beyond that the cost reads as `Decimal::MAX` (and is
    /// logged), never wraps.
    pub fn cost(&self) -> Decimal {
        match Decimal::try_from_i128_with_scale(self.cost_picos, 12) {
            Ok(d) => d.normalize(),
            Err(_) => {
                tracing::error!(cost_picos = %self.cost_picos, "report total exceeds a Decimal");
                if self.cost_picos < 0 {
                    Decimal::MIN
                } else {
                    Decimal::MAX
                }
            }
        }
    }

    pub fn view(&self) -> TotalsView {
        TotalsView {
            requests: self.requests,
            input_tokens: self.input_tokens,
            cached_input_tokens: self.cached_input_tokens,
            cache_write_tokens: self.cache_write_tokens,
            cache_write_1h_tokens: self.cache_write_1h_tokens,
            output_tokens: self.output_tokens,
            reasoning_tokens: self.reasoning_tokens,
            images: self.images,
            web_search_requests: self.web_search_requests,
            cost_usd: format_usd(self.cost()),
            errors: self.errors,
        }
    }
}

/// Totals as JSON (cost as a decimal string).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TotalsView {
    pub requests: i64,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub images: i64,
    pub web_search_requests: i64,
    pub cost_usd: String,
    /// Calls whose status is not `ok` (exact, from the rollups like every measure here): the
    /// error rate of the group is `errors / requests`.
    pub errors: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_added_moved_and_shown_like_every_measure() {
        let a = Totals {
            requests: 3,
            errors: 2,
            cost_picos: 5,
            ..Totals::default()
        };
        let mut sum = a;
        sum.add(&a);
        assert_eq!((sum.requests, sum.errors), (6, 4));
        sum.sub(&a);
        assert_eq!(sum, a);
        let view = a.view();
        assert_eq!((view.requests, view.errors), (3, 2));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["errors"], 2);
    }
}
