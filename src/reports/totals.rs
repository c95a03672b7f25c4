//! Summed usage: the measures every report row carries.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::money::{format_usd, from_split_sum};
use crate::pricing::Usage;

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The usage of one call from its stored counts (input, cached, cache write, output,
/// reasoning, images).
pub fn call_usage(c: &[i64; 6]) -> Usage {
    Usage {
        input_tokens: count(c[0]),
        cached_input_tokens: count(c[1]),
        cache_write_tokens: count(c[2]),
        output_tokens: count(c[3]),
        reasoning_tokens: count(c[4]),
        images: count(c[5]),
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
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub images: i64,
    pub cost_picos: i128,
}

impl Totals {
    pub fn add(&mut self, o: &Totals) {
        self.requests += o.requests;
        self.input_tokens += o.input_tokens;
        self.cached_input_tokens += o.cached_input_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.output_tokens += o.output_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
        self.images += o.images;
        self.cost_picos += o.cost_picos;
    }

    /// The cost from the two halves of an overflow-safe SQL sum.
    /// Takes `o` away (a rollup moved to another bucket; see the spend report's local days).
    pub fn sub(&mut self, o: &Totals) {
        self.requests -= o.requests;
        self.input_tokens -= o.input_tokens;
        self.cached_input_tokens -= o.cached_input_tokens;
        self.cache_write_tokens -= o.cache_write_tokens;
        self.output_tokens -= o.output_tokens;
        self.reasoning_tokens -= o.reasoning_tokens;
        self.images -= o.images;
        self.cost_picos -= o.cost_picos;
    }

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
        ])
    }

    pub fn cost(&self) -> Decimal {
        let micros = i64::try_from(self.cost_picos / 1_000_000).unwrap_or(i64::MAX);
        let rest = i64::try_from(self.cost_picos % 1_000_000).unwrap_or(0);
        from_split_sum(micros, rest)
    }

    pub fn view(&self) -> TotalsView {
        TotalsView {
            requests: self.requests,
            input_tokens: self.input_tokens,
            cached_input_tokens: self.cached_input_tokens,
            cache_write_tokens: self.cache_write_tokens,
            output_tokens: self.output_tokens,
            reasoning_tokens: self.reasoning_tokens,
            images: self.images,
            cost_usd: format_usd(self.cost()),
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
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub images: i64,
    pub cost_usd: String,
}
