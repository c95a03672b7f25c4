//! Time buckets in a time zone.

use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// The time grain of a spend report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Hour,
    Day,
    Week,
    Month,
}

impl Grain {
    pub fn word(self) -> &'static str {
        match self {
            Grain::Hour => "hour",
            Grain::Day => "day",
            Grain::Week => "week",
            Grain::Month => "month",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hour" => Some(Grain::Hour),
            "day" => Some(Grain::Day),
            "week" => Some(Grain::Week),
            "month" => Some(Grain::Month),
            _ => None,
        }
    }

    /// The label of the bucket holding the instant `ms` (an hour or day start, UTC), in `tz`:
    /// the UTC hour's start in local time, `2026-11-25T10:00:00+01:00` (hour; in zones offset
    /// by a fraction of an hour, buckets stay aligned to UTC hours), `2026-11-25` (day), the Monday of the week
    /// (`2026-11-23`), or `2026-11` (month).
    pub fn label(self, ms: i64, tz: Tz) -> String {
        let utc = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
        let local = tz.from_utc_datetime(&utc.naive_utc());
        match self {
            Grain::Hour => local.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            Grain::Day => local.format("%Y-%m-%d").to_string(),
            Grain::Week => {
                let date = local.date_naive();
                let monday = date
                    .checked_sub_signed(TimeDelta::days(i64::from(
                        local.weekday().num_days_from_monday(),
                    )))
                    .unwrap_or(date);
                monday.format("%Y-%m-%d").to_string()
            }
            Grain::Month => local.format("%Y-%m").to_string(),
        }
    }
}

/// True when the zone is UTC at every instant (so UTC day rollups are its days).
pub fn is_utc(tz: Tz) -> bool {
    matches!(
        tz,
        Tz::UTC
            | Tz::Etc__UTC
            | Tz::Etc__UCT
            | Tz::Etc__GMT
            | Tz::GMT
            | Tz::Etc__Zulu
            | Tz::Zulu
            | Tz::UCT
            | Tz::Universal
            | Tz::Etc__Universal
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_time_zone() {
        let ms = DateTime::parse_from_rfc3339("2026-11-29T23:30:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(Grain::Day.label(ms, Tz::UTC), "2026-11-29");
        assert_eq!(Grain::Day.label(ms, Tz::Europe__Berlin), "2026-11-30");
        assert_eq!(Grain::Week.label(ms, Tz::UTC), "2026-11-23");
        assert_eq!(Grain::Week.label(ms, Tz::Europe__Berlin), "2026-11-30");
        assert_eq!(Grain::Month.label(ms, Tz::Asia__Tokyo), "2026-11");
        let hour = ms - ms % 3_600_000;
        assert_eq!(
            Grain::Hour.label(hour, Tz::UTC),
            "2026-11-29T23:00:00+00:00"
        );
        assert_eq!(
            Grain::Hour.label(hour, Tz::Asia__Kolkata),
            "2026-11-30T04:30:00+05:30"
        );
    }
}
