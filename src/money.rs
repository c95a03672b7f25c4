//! USD amounts: exact in Rust ([`Decimal`]) and exact in SQL (integer picodollars).
//!
//! SQLite has no decimal type and `SUM` over TEXT is floating point, so every stored amount
//! that may be summed is an `INTEGER` count of picodollars (10^-12 USD). Prices are accepted
//! with at most 6 decimal places per million tokens, which makes the cost of any whole number
//! of tokens an exact whole number of picodollars: no rounding ever happens.
//!
//! Sums over many rows are split into whole micro-dollars and a picodollar remainder (see
//! [`crate::store`]), so they cannot overflow a 64-bit integer however many rows are summed.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// Picodollars per US dollar.
pub const PICOS_PER_USD: i64 = 1_000_000_000_000;

/// Decimal places allowed in a per-million-token price (one picodollar per token).
pub const MAX_PRICE_PER_MTOK_SCALE: u32 = 6;

/// Decimal places allowed in a flat fee (one picodollar).
pub const MAX_FEE_SCALE: u32 = 12;

/// Converts an exact USD amount to picodollars; `None` when it has sub-picodollar digits or
/// does not fit in an `i64` (about 9.2 million USD for a single amount).
pub fn to_picos(usd: Decimal) -> Option<i64> {
    let scaled = usd.checked_mul(Decimal::from(PICOS_PER_USD))?;
    if scaled.fract() != Decimal::ZERO {
        return None;
    }
    scaled.to_i64()
}

/// Converts picodollars back to an exact USD amount.
pub fn from_picos(picos: i64) -> Decimal {
    Decimal::new(picos, 12).normalize()
}

/// Joins the two halves of an overflow-safe SQL sum (`SUM(x / 1000000)`, `SUM(x % 1000000)`).
pub fn from_split_sum(micros: i64, rest_picos: i64) -> Decimal {
    Decimal::from_i128_with_scale(i128::from(micros) * 1_000_000 + i128::from(rest_picos), 12)
        .normalize()
}

/// Formats USD for JSON: a decimal string with at least 6 decimal places and no trailing
/// zeros beyond that (`0.0005` → `"0.000500"`, `1.2345678` → `"1.2345678"`).
pub fn format_usd(usd: Decimal) -> String {
    let mut d = usd.normalize();
    if d.scale() < 6 {
        d.rescale(6);
    }
    d.to_string()
}

/// Number of significant decimal places of `d` (trailing zeros ignored).
pub fn significant_scale(d: Decimal) -> u32 {
    d.normalize().scale()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn picos_round_trip() {
        for s in ["0", "0.000000000001", "2.5", "9000000", "-1.25", "0.40625"] {
            let p = to_picos(dec(s)).unwrap();
            assert_eq!(from_picos(p), dec(s).normalize());
        }
        assert_eq!(to_picos(dec("1")), Some(PICOS_PER_USD));
    }

    #[test]
    fn sub_picodollar_amounts_are_refused() {
        assert_eq!(to_picos(dec("0.0000000000001")), None);
    }

    #[test]
    fn amounts_too_large_are_refused() {
        assert_eq!(to_picos(dec("10000000")), None);
    }

    #[test]
    fn format_keeps_six_places_at_least() {
        assert_eq!(format_usd(dec("0.0005")), "0.000500");
        assert_eq!(format_usd(dec("1.2345678")), "1.2345678");
        assert_eq!(format_usd(dec("0")), "0.000000");
        assert_eq!(format_usd(dec("12.50")), "12.500000");
    }

    #[test]
    fn split_sum_joins_exactly() {
        let v = 123_456_789_012_345i64;
        assert_eq!(from_split_sum(v / 1_000_000, v % 1_000_000), from_picos(v));
        let n = -7_654_321i64;
        assert_eq!(from_split_sum(n / 1_000_000, n % 1_000_000), from_picos(n));
    }
}
