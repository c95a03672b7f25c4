//! Budget and rate-limit specifications, and calendar periods.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::money::{to_picos, MAX_FEE_SCALE};

/// How a budget's spend is counted over time. Calendar periods roll over by themselves: the
/// current period is derived from the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
    Total,
}

/// `hard` refuses calls that could exceed the budget; `soft` only alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Hard,
    Soft,
}

/// A spend limit on a key, a team, or the whole gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    #[schema(value_type = String, example = "10.00")]
    pub limit_usd: Decimal,
    pub period: Period,
    #[serde(default)]
    pub mode: Mode,
    /// Fractions of the limit that raise an alert when spend crosses them (once per period).
    #[serde(default = "default_thresholds")]
    pub alert_thresholds: Vec<f64>,
}

fn default_thresholds() -> Vec<f64> {
    vec![0.5, 0.8, 1.0]
}

/// Request and token limits of a key or team.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u64>,
    pub max_parallel: Option<u32>,
}

impl Budget {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        let err = |f: &str, m: &str| {
            Err(FieldError {
                field: format!("{field}.{f}"),
                message: m.into(),
            })
        };
        if self.limit_usd.is_sign_negative()
            || crate::money::significant_scale(self.limit_usd) > MAX_FEE_SCALE
            || to_picos(self.limit_usd).is_none()
        {
            return err(
                "limit_usd",
                "limit_usd must be a non-negative amount of at most 12 decimal places",
            );
        }
        if self
            .alert_thresholds
            .iter()
            .any(|t| !(*t > 0.0 && *t <= 10.0))
        {
            return err(
                "alert_thresholds",
                "alert thresholds are fractions of the limit, above 0 and at most 10",
            );
        }
        Ok(())
    }

    pub fn limit_picos(&self) -> i64 {
        to_picos(self.limit_usd).unwrap_or(i64::MAX)
    }

    /// Thresholds as exact fractions (six decimal places).
    pub fn thresholds(&self) -> Vec<Decimal> {
        self.alert_thresholds
            .iter()
            .filter_map(|t| Decimal::from_f64_retain(*t))
            .map(|d| d.round_dp(6).normalize())
            .collect()
    }
}

impl RateLimits {
    pub fn is_empty(&self) -> bool {
        self.requests_per_minute.is_none()
            && self.tokens_per_minute.is_none()
            && self.max_parallel.is_none()
    }
}

/// The period holding `now`, in `tz`: its start and (except for `total`) its end.
pub fn period_bounds(
    period: Period,
    now: DateTime<Utc>,
    tz: Tz,
) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
    let local = now.with_timezone(&tz).date_naive();
    let start_date = match period {
        Period::Total => return (DateTime::<Utc>::UNIX_EPOCH, None),
        Period::Daily => local,
        Period::Weekly => local - Duration::days(i64::from(local.weekday().num_days_from_monday())),
        Period::Monthly => NaiveDate::from_ymd_opt(local.year(), local.month(), 1).unwrap_or(local),
    };
    let end_date = match period {
        Period::Daily => start_date + Duration::days(1),
        Period::Weekly => start_date + Duration::days(7),
        _ => {
            let (y, m) = if start_date.month() == 12 {
                (start_date.year() + 1, 1)
            } else {
                (start_date.year(), start_date.month() + 1)
            };
            NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(start_date)
        }
    };
    (midnight(start_date, tz), Some(midnight(end_date, tz)))
}

fn midnight(d: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let naive = d.and_hms_opt(0, 0, 0).expect("midnight exists");
    tz.from_local_datetime(&naive)
        .earliest()
        .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn calendar_periods() {
        let now = t("2026-11-25T15:00:00Z");
        assert_eq!(
            period_bounds(Period::Daily, now, Tz::UTC),
            (t("2026-11-25T00:00:00Z"), Some(t("2026-11-26T00:00:00Z")))
        );
        assert_eq!(
            period_bounds(Period::Weekly, now, Tz::UTC),
            (t("2026-11-23T00:00:00Z"), Some(t("2026-11-30T00:00:00Z")))
        );
        assert_eq!(
            period_bounds(Period::Monthly, now, Tz::UTC),
            (t("2026-11-01T00:00:00Z"), Some(t("2026-12-01T00:00:00Z")))
        );
        assert_eq!(
            period_bounds(Period::Monthly, t("2026-12-31T23:00:00Z"), Tz::UTC).1,
            Some(t("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            period_bounds(Period::Daily, now, Tz::Asia__Tokyo).0,
            t("2026-11-25T15:00:00Z")
        );
        assert_eq!(period_bounds(Period::Total, now, Tz::UTC).1, None);
    }
}
