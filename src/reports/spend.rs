//! `GET /admin/spend`: totals grouped by any dimensions and a time grain.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::buckets::is_utc;
use super::{Dim, Filters, Grain, Totals, TotalsView};
use crate::catalog::Snapshot;
use crate::error::ApiError;
use crate::money::to_picos;
use crate::store::reports::{Source, DAY_MS, HOUR_MS};
use crate::store::{Store, StoreError};

/// Query parameters of a spend report.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SpendParams {
    /// Start (RFC 3339, inclusive); 30 days before `to` when omitted.
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339, exclusive); now when omitted.
    pub to: Option<DateTime<Utc>>,
    /// Comma-separated: any of `key,team,model,provider` and at most one of `hour,day,week,month`.
    pub group_by: Option<String>,
    pub key: Option<String>,
    pub team: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    /// IANA time zone for time buckets (default UTC).
    pub tz: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// Re-price the period at the prices in effect at this time.
    pub price_at: Option<DateTime<Utc>>,
}

/// A validated spend report request.
#[derive(Debug, Clone)]
pub struct SpendQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub dims: Vec<Dim>,
    pub grain: Option<Grain>,
    pub filters: Filters,
    pub tz: Tz,
    pub price_at: Option<DateTime<Utc>>,
    /// When the report was asked for: no call has started after it, so a part of the range
    /// after it costs nothing to read (see [`plan`]).
    pub now: DateTime<Utc>,
}

/// One row: its dimension values, time bucket and totals.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendRow {
    pub dims: Vec<Option<String>>,
    pub time: Option<String>,
    pub totals: Totals,
}

/// A spend report.
#[derive(Debug, Clone)]
pub struct SpendReport {
    pub query: SpendQuery,
    pub rows: Vec<SpendRow>,
    pub total: Totals,
    /// Models that had no price at `price_at` (re-priced at zero).
    pub unpriced: Vec<String>,
}

/// The most time buckets a report may have (`group_by` with `hour`, `day`, `week` or `month`),
/// counted as the range divided by the bucket's size (a month counts as 28 days), rounded up.
pub const MAX_BUCKETS: i64 = 10_000;

/// The longest range a report may cover, in days (about 27 years).
pub const MAX_RANGE_DAYS: i64 = 10_000;

/// The earliest instant a report accepts (0001-01-01T00:00:00Z, RFC 3339's first
/// four-digit year).
pub fn earliest() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(-62_135_596_800_000).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The latest instant a report accepts (the last millisecond of year 9999).
pub fn latest() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(253_402_300_799_999).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Refuses an instant outside [`earliest`]..=[`latest`], naming its parameter.
pub fn check_instant(field: &str, t: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    if t < earliest() || t > latest() {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z"),
        ));
    }
    Ok(t)
}

fn range_too_large(field: &str, message: String) -> ApiError {
    ApiError {
        param: Some(field.into()),
        ..ApiError::bad_request("range_too_large", message)
    }
}

/// Refuses a range longer than [`MAX_RANGE_DAYS`] or holding more than [`MAX_BUCKETS`] buckets
/// of `grain`, before any work is done.
pub fn check_size(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    grain: Option<Grain>,
) -> Result<(), ApiError> {
    // Both ends are within years 1..=9999 and `from < to`, so this is positive and small.
    let ms = to
        .timestamp_millis()
        .saturating_sub(from.timestamp_millis())
        .max(0);
    let div_ceil = |a: i64, b: i64| a / b + i64::from(a % b != 0);
    if ms > MAX_RANGE_DAYS * DAY_MS {
        return Err(range_too_large(
            "from",
            format!(
                "a report covers at most {MAX_RANGE_DAYS} days; this range has {} (narrow from/to)",
                div_ceil(ms, DAY_MS)
            ),
        ));
    }
    if let Some(g) = grain {
        let size = match g {
            Grain::Hour => HOUR_MS,
            Grain::Day => DAY_MS,
            Grain::Week => 7 * DAY_MS,
            Grain::Month => 28 * DAY_MS,
        };
        let buckets = div_ceil(ms, size);
        if buckets > MAX_BUCKETS {
            return Err(range_too_large(
                "group_by",
                format!(
                    "a report has at most {MAX_BUCKETS} time buckets; this range by {} would have {buckets} (use a coarser grain or a shorter range)",
                    g.word()
                ),
            ));
        }
    }
    Ok(())
}

impl SpendParams {
    pub fn parse(&self, now: DateTime<Utc>) -> Result<SpendQuery, ApiError> {
        let to = check_instant("to", self.to.unwrap_or(now))?;
        let from = match self.from {
            Some(t) => check_instant("from", t)?,
            None => to
                .checked_sub_signed(TimeDelta::days(30))
                .map_or(earliest(), |t| t.max(earliest())),
        };
        if let Some(at) = self.price_at {
            check_instant("price_at", at)?;
        }
        if from >= to {
            return Err(ApiError::invalid_field("from", "from must be before to"));
        }
        let mut dims = Vec::new();
        let mut grain = None;
        for word in self
            .group_by
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            let dim = match word {
                "key" => Some(Dim::Key),
                "team" => Some(Dim::Team),
                "model" => Some(Dim::Model),
                "provider" => Some(Dim::Provider),
                _ => None,
            };
            match (dim, Grain::parse(word)) {
                (Some(d), _) if !dims.contains(&d) => dims.push(d),
                (None, Some(g)) if grain.is_none() => grain = Some(g),
                (None, Some(_)) => return Err(ApiError::invalid_field("group_by", "group_by takes at most one of hour, day, week, month")),
                _ => return Err(ApiError::invalid_field("group_by", format!("group_by word '{word}' is unknown or repeated; use key, team, model, provider, hour, day, week, month"))),
            }
        }
        let tz = match self.tz.as_deref() {
            None | Some("") => Tz::UTC,
            Some(name) => Tz::from_str(name).map_err(|_| {
                ApiError::invalid_field("tz", format!("unknown time zone '{name}'"))
            })?,
        };
        check_size(from, to, grain)?;
        let filters = Filters {
            key: self.key.clone(),
            team: self.team.clone(),
            model: self.model.clone(),
            provider: self.provider.clone(),
        };
        Ok(SpendQuery {
            from,
            to,
            dims,
            grain,
            filters,
            tz,
            price_at: self.price_at,
            now,
        })
    }

    pub fn wants_csv(&self) -> Result<bool, ApiError> {
        match self.format.as_deref() {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(other) => Err(ApiError::invalid_field(
                "format",
                format!("format '{other}' is not json or csv"),
            )),
        }
    }
}

fn floor(ms: i64, size: i64) -> i64 {
    ms - ms.rem_euclid(size)
}

fn ceil(ms: i64, size: i64) -> i64 {
    let f = floor(ms, size);
    if f == ms {
        ms
    } else {
        f + size
    }
}

/// Sums of `source` over `[start, end)`, added to a report or, when `minus`, taken away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub source: Source,
    pub start: i64,
    pub end: i64,
    pub minus: bool,
}

impl Part {
    fn plus(source: Source, start: i64, end: i64) -> Self {
        Part {
            source,
            start,
            end,
            minus: false,
        }
    }

    fn minus(source: Source, start: i64, end: i64) -> Self {
        Part {
            source,
            start,
            end,
            minus: true,
        }
    }

    /// A rollup part of two buckets or more as two parts split at a bucket's start; any
    /// other part as it is.
    fn halves(self) -> Vec<Part> {
        let size = match self.source {
            Source::Records => return vec![self],
            Source::Hourly => HOUR_MS,
            Source::Daily => DAY_MS,
        };
        let buckets = (self.end - self.start) / size;
        if buckets < 2 {
            return vec![self];
        }
        let middle = self.start + buckets / 2 * size;
        vec![
            Part {
                end: middle,
                ..self
            },
            Part {
                start: middle,
                ..self
            },
        ]
    }
}

/// Splits `[from, to)` into parts each answered by the coarsest source that fits: records
/// for partial hours, hourly rollups for partial days, daily rollups in between (when
/// `daily`).
///
/// With `now` (ms), a partial hour may instead be read as its whole hourly rollup minus the
/// records of the rest of the hour, and a partial day as its daily rollup minus the hourly
/// rollups of the rest of the day, whichever reads less: the rest is taken when less of it
/// lies before `now` than of the part itself (no call starts after `now`, so a report up to
/// now reads its last hour and its last day from one rollup bucket each, and the rest is
/// empty). Both ways are exact: an hour's rollup is the sum of its records, a day's the sum
/// of its hours.
pub fn plan(from: i64, to: i64, daily: bool, now: Option<i64>) -> Vec<Part> {
    // How much time of [a, b) can hold calls; the rest is taken when it holds less.
    let held = |(a, b): (i64, i64)| match now {
        Some(n) => (b.min(n) - a).max(0),
        None => b - a,
    };
    let rest_is_cheaper = |part: (i64, i64), rest: &[(i64, i64)]| {
        now.is_some() && rest.iter().map(|r| held(*r)).sum::<i64>() < held(part)
    };
    let mut parts = Vec::new();
    let (h0, h1) = (ceil(from, HOUR_MS), floor(to, HOUR_MS));
    // [hs, he): the hours read from rollups.
    let (hs, he) = if h0 > h1 {
        // Inside one hour.
        let (a, b) = (floor(from, HOUR_MS), ceil(to, HOUR_MS));
        if !rest_is_cheaper((from, to), &[(a, from), (to, b)]) {
            return vec![Part::plus(Source::Records, from, to)];
        }
        parts.push(Part::minus(Source::Records, a, from));
        parts.push(Part::minus(Source::Records, to, b));
        (a, b)
    } else {
        let hs = if from == h0 {
            h0
        } else if rest_is_cheaper((from, h0), &[(h0 - HOUR_MS, from)]) {
            parts.push(Part::minus(Source::Records, h0 - HOUR_MS, from));
            h0 - HOUR_MS
        } else {
            parts.push(Part::plus(Source::Records, from, h0));
            h0
        };
        let he = if to == h1 {
            h1
        } else if rest_is_cheaper((h1, to), &[(to, h1 + HOUR_MS)]) {
            parts.push(Part::minus(Source::Records, to, h1 + HOUR_MS));
            h1 + HOUR_MS
        } else {
            parts.push(Part::plus(Source::Records, h1, to));
            h1
        };
        (hs, he)
    };
    if hs >= he {
        return parts;
    }
    let (d0, d1) = (ceil(hs, DAY_MS), floor(he, DAY_MS));
    if !daily {
        parts.push(Part::plus(Source::Hourly, hs, he));
    } else if d0 > d1 {
        // Inside one day.
        let (a, b) = (floor(hs, DAY_MS), ceil(he, DAY_MS));
        if rest_is_cheaper((hs, he), &[(a, hs), (he, b)]) {
            parts.push(Part::plus(Source::Daily, a, b));
            parts.push(Part::minus(Source::Hourly, a, hs));
            parts.push(Part::minus(Source::Hourly, he, b));
        } else {
            parts.push(Part::plus(Source::Hourly, hs, he));
        }
    } else {
        let ds = if hs == d0 {
            d0
        } else if rest_is_cheaper((hs, d0), &[(d0 - DAY_MS, hs)]) {
            parts.push(Part::minus(Source::Hourly, d0 - DAY_MS, hs));
            d0 - DAY_MS
        } else {
            parts.push(Part::plus(Source::Hourly, hs, d0));
            d0
        };
        let de = if he == d1 {
            d1
        } else if rest_is_cheaper((d1, he), &[(he, d1 + DAY_MS)]) {
            parts.push(Part::minus(Source::Hourly, he, d1 + DAY_MS));
            d1 + DAY_MS
        } else {
            parts.push(Part::plus(Source::Hourly, d1, he));
            d1
        };
        if ds < de {
            parts.push(Part::plus(Source::Daily, ds, de));
        }
    }
    parts
}

impl SpendQuery {
    /// UTC day rollups answer day, week and month buckets only when the zone is UTC.
    fn daily_allowed(&self) -> bool {
        match self.grain {
            None => true,
            Some(Grain::Hour) => false,
            Some(_) => is_utc(self.tz),
        }
    }

    /// Local day, week or month buckets served from UTC day rollups (see [`LocalDays`]).
    fn local_buckets(&self) -> bool {
        self.grain.is_some_and(|g| g != Grain::Hour) && !is_utc(self.tz)
    }

    fn label(&self, bucket: i64) -> Option<String> {
        self.grain.map(|g| g.label(bucket, self.tz))
    }

    /// Groups labelled rows, subtracting those marked so. A group that subtraction left empty
    /// (every call of it moved to another bucket) is dropped.
    fn fold_signed(&self, rows: Vec<LabelledRow>) -> (Vec<SpendRow>, Totals) {
        let mut groups: BTreeMap<(Option<String>, Vec<Option<String>>), Totals> = BTreeMap::new();
        let mut total = Totals::default();
        let mut subtracted = false;
        for (time, dims, t, minus) in rows {
            let group = groups.entry((time, dims)).or_default();
            if minus {
                group.sub(&t);
                total.sub(&t);
                subtracted = true;
            } else {
                group.add(&t);
                total.add(&t);
            }
        }
        let rows = groups
            .into_iter()
            .filter(|(_, t)| !subtracted || *t != Totals::default())
            .map(|((time, dims), totals)| SpendRow { dims, time, totals })
            .collect();
        (rows, total)
    }

    fn fold(
        &self,
        rows: impl IntoIterator<Item = (i64, Vec<Option<String>>, Totals)>,
    ) -> (Vec<SpendRow>, Totals) {
        let mut groups: BTreeMap<(Option<String>, Vec<Option<String>>), Totals> = BTreeMap::new();
        let mut total = Totals::default();
        for (bucket, dims, t) in rows {
            let time = self.grain.map(|g| g.label(bucket, self.tz));
            groups.entry((time, dims)).or_default().add(&t);
            total.add(&t);
        }
        let rows = groups
            .into_iter()
            .map(|((time, dims), totals)| SpendRow { dims, time, totals })
            .collect();
        (rows, total)
    }
}

/// Runs a spend report (re-priced when `price_at` is set).
pub async fn spend(
    store: &Store,
    catalog: &Snapshot,
    q: SpendQuery,
) -> Result<SpendReport, StoreError> {
    if let Some(at) = q.price_at {
        return repriced(store, catalog, q, at).await;
    }
    let (from, to) = (q.from.timestamp_millis(), q.to.timestamp_millis());
    let local = q.local_buckets();
    // Each rollup part in two halves, and the moved hours in two: a report is then at least
    // four reads of similar size at once, where one read of most of its rows would leave the
    // other core idle for most of the report.
    let parts: Vec<Part> = plan(
        from,
        to,
        q.daily_allowed() || local,
        Some(q.now.timestamp_millis()),
    )
    .into_iter()
    .flat_map(Part::halves)
    .collect();
    let days = if local {
        LocalDays::of(&q, &parts)
    } else {
        LocalDays::default()
    };
    // The parts, and the hours that local days move, are independent reads: run them at
    // once, each on its own connection.
    let reads = parts.iter().map(|p| {
        store.spend_segment(
            p.source,
            p.start,
            p.end,
            &q.dims,
            q.grain.is_some(),
            &q.filters,
        )
    });
    let hours: Vec<i64> = days.moved.keys().copied().collect();
    let (early, late) = hours.split_at(hours.len() / 2);
    let (results, moved) = futures::future::try_join(
        futures::future::try_join_all(reads),
        futures::future::try_join(
            store.spend_hours(early, &q.dims, &q.filters),
            store.spend_hours(late, &q.dims, &q.filters),
        ),
    )
    .await?;
    let moved = moved.0.into_iter().chain(moved.1);
    let mut all: Vec<LabelledRow> = Vec::new();
    for (part, rows) in parts.iter().zip(results) {
        for r in rows {
            // A day's rollup goes to its local day; every other row (an hour, or records
            // grouped by hour) to the bucket of its own hour.
            let label = if local && part.source == Source::Daily {
                days.label.get(&r.bucket).cloned()
            } else {
                q.label(r.bucket)
            };
            all.push((label, r.dims, r.totals, part.minus));
        }
    }
    for r in moved {
        if let Some((own, main)) = days.moved.get(&r.bucket) {
            all.push((Some(main.clone()), r.dims.clone(), r.totals, true));
            all.push((Some(own.clone()), r.dims, r.totals, false));
        }
    }
    let (rows, total) = q.fold_signed(all);
    Ok(SpendReport {
        query: q,
        rows,
        total,
        unpriced: vec![],
    })
}

/// Day, week or month buckets of a zone other than UTC, from UTC day rollups: each UTC day's
/// rollup goes to the local bucket that most of its hours belong to, and each hour that
/// belongs to another (one or two hours a day in most zones, only on boundary days for weeks
/// and months) is moved with its hourly rollup: subtracted from the day's bucket, added to its
/// own. Exactly what summing every hourly rollup would give, from a fraction of the rows.
#[derive(Debug, Default)]
struct LocalDays {
    /// The local bucket of each UTC day.
    label: BTreeMap<i64, String>,
    /// Each hour to move: its own local bucket and its day's.
    moved: BTreeMap<i64, (String, String)>,
}

impl LocalDays {
    /// The days of the daily rollup parts of a plan.
    fn of(q: &SpendQuery, parts: &[Part]) -> Self {
        let mut out = LocalDays::default();
        for p in parts.iter().filter(|p| p.source == Source::Daily) {
            for day in (p.start..p.end).step_by(DAY_MS as usize) {
                let hours: Vec<String> = (0..24)
                    .map(|h| q.label(day + h * HOUR_MS).unwrap_or_default())
                    .collect();
                let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
                for l in &hours {
                    *counts.entry(l).or_default() += 1;
                }
                let main = counts
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map(|(l, _)| (*l).clone())
                    .unwrap_or_default();
                for (h, l) in (0i64..).zip(&hours) {
                    if *l != main {
                        out.moved
                            .insert(day + h * HOUR_MS, (l.clone(), main.clone()));
                    }
                }
                out.label.insert(day, main);
            }
        }
        out
    }
}

/// A row on its way into a report: its time label, dimension values, totals, and whether it
/// is subtracted.
type LabelledRow = (Option<String>, Vec<Option<String>>, Totals, bool);

/// What the period would have cost at the prices in effect at `at`: usage is summed per model
/// (and group) from the rollups and priced per model; a model whose prices at `at` have tiers
/// is priced call by call from its records, since tiers apply per call. Adjustments are not
/// included: they corrected the actual charges, not the prices.
async fn repriced(
    store: &Store,
    catalog: &Snapshot,
    q: SpendQuery,
    at: DateTime<Utc>,
) -> Result<SpendReport, StoreError> {
    let (from, to) = (q.from.timestamp_millis(), q.to.timestamp_millis());
    let mut dims = q.dims.clone();
    let model_pos = match dims.iter().position(|d| *d == Dim::Model) {
        Some(p) => p,
        None => {
            dims.push(Dim::Model);
            dims.len() - 1
        }
    };
    let mut all = Vec::new();
    let mut unpriced = Vec::new();
    for Part {
        source, start, end, ..
    } in plan(from, to, q.daily_allowed(), None)
    {
        for row in store
            .spend_segment(source, start, end, &dims, q.grain.is_some(), &q.filters)
            .await?
        {
            let model = row.dims[model_pos].clone().unwrap_or_default();
            let price = catalog
                .get(&model)
                .and_then(|e| e.price_at(at))
                .map(|v| v.prices.clone());
            let mut totals = row.totals;
            totals.cost_picos = match &price {
                None => {
                    if !unpriced.contains(&model) {
                        unpriced.push(model.clone());
                    }
                    0
                }
                Some(p) => match p
                    .cost_of_sum(&totals.usage(), u64::try_from(totals.requests).unwrap_or(0))
                {
                    Some(cost) => i128::from(to_picos(cost).unwrap_or(0)),
                    None => {
                        // Tiers: price the calls of this group one by one.
                        let mut f = q.filters.clone();
                        for (d, v) in dims.iter().zip(&row.dims) {
                            set_filter(&mut f, *d, v.clone());
                        }
                        let (s, e) = if q.grain.is_some() {
                            bucket_range(source, row.bucket, start, end)
                        } else {
                            (start, end)
                        };
                        let calls = store.calls_of_model(&f, &model, s, e).await?;
                        calls
                            .iter()
                            .map(|c| i128::from(to_picos(p.cost(c)).unwrap_or(0)))
                            .sum()
                    }
                },
            };
            let mut group = row.dims;
            if !q.dims.contains(&Dim::Model) {
                group.remove(model_pos);
            }
            all.push((row.bucket, group, totals));
        }
    }
    let (rows, total) = q.fold(all);
    Ok(SpendReport {
        query: q,
        rows,
        total,
        unpriced,
    })
}

fn bucket_range(source: Source, bucket: i64, start: i64, end: i64) -> (i64, i64) {
    let size = if source == Source::Daily {
        DAY_MS
    } else {
        HOUR_MS
    };
    (bucket.max(start), (bucket + size).min(end))
}

fn set_filter(f: &mut Filters, d: Dim, v: Option<String>) {
    let v = Some(v.unwrap_or_default());
    match d {
        Dim::Key => f.key = v,
        Dim::Team => f.team = v,
        Dim::Model => f.model = v,
        Dim::Provider => f.provider = v,
    }
}

/// The JSON answer of a spend report, as [`SpendReport::to_json`] writes it; described here for
/// the OpenAPI document (the answer itself is built as JSON, its rows keyed by `group_by`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SpendAnswer {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The `group_by` words, dimensions first, then the time grain.
    pub group_by: Vec<String>,
    /// The time zone of the time buckets.
    pub tz: String,
    /// One row per group: each `group_by` word with its value (`null` for none: no key, no
    /// team), and the measures of `total` for that group.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Value>,
    /// The whole period: calls, tokens by kind, cost and `errors` (calls whose status is not
    /// `ok`; the error rate is `errors / requests`), all exact.
    pub total: TotalsView,
    /// With `price_at`: the instant whose prices re-priced the period.
    pub price_at: Option<DateTime<Utc>>,
    /// With `price_at`: models that had no price then (re-priced at zero).
    pub unpriced_models: Option<Vec<String>>,
}

/// The JSON shape of a report row: each dimension under its `group_by` word.
#[derive(Serialize)]
pub struct RowView {
    #[serde(flatten)]
    pub group: serde_json::Map<String, serde_json::Value>,
    #[serde(flatten)]
    pub totals: TotalsView,
}

impl SpendReport {
    fn group_words(&self) -> Vec<&'static str> {
        let mut words: Vec<&'static str> = self.query.dims.iter().map(|d| d.word()).collect();
        if let Some(g) = self.query.grain {
            words.push(g.word());
        }
        words
    }

    fn group_values(&self, row: &SpendRow) -> Vec<Option<String>> {
        let mut values = row.dims.clone();
        if self.query.grain.is_some() {
            values.push(row.time.clone());
        }
        values
    }

    pub fn to_json(&self) -> serde_json::Value {
        let words = self.group_words();
        let rows: Vec<RowView> = self
            .rows
            .iter()
            .map(|r| RowView {
                group: words
                    .iter()
                    .zip(self.group_values(r))
                    .map(|(w, v)| (w.to_string(), v.map_or(serde_json::Value::Null, Into::into)))
                    .collect(),
                totals: r.totals.view(),
            })
            .collect();
        let mut out = serde_json::json!({
            "from": self.query.from, "to": self.query.to, "group_by": words, "tz": self.query.tz.name(),
            "rows": rows, "total": self.total.view(),
        });
        if let Some(at) = self.query.price_at {
            out["price_at"] = serde_json::json!(at);
            out["unpriced_models"] = serde_json::json!(self.unpriced);
        }
        out
    }

    pub fn to_csv(&self) -> String {
        let words = self.group_words();
        let measures = [
            "requests",
            "input_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "output_tokens",
            "reasoning_tokens",
            "images",
            "cost_usd",
            // Added later, so last: readers of the earlier columns by position are undisturbed.
            "cache_write_1h_tokens",
            "web_search_requests",
        ];
        let mut out = words
            .iter()
            .chain(measures.iter())
            .copied()
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for r in &self.rows {
            let mut cells: Vec<String> = self
                .group_values(r)
                .into_iter()
                .map(|v| csv_cell(&v.unwrap_or_default()))
                .collect();
            cells.extend(measure_cells(&r.totals));
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }

    /// A plain-text table (the CLI's output).
    pub fn to_table(&self) -> String {
        let words = self.group_words();
        let mut header: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        header.extend(
            [
                "requests",
                "input",
                "cached",
                "output",
                "reasoning",
                "cost_usd",
            ]
            .map(String::from),
        );
        let mut lines = vec![header];
        for r in self.rows.iter() {
            let mut cells: Vec<String> = self
                .group_values(r)
                .into_iter()
                .map(|v| v.unwrap_or_else(|| "-".into()))
                .collect();
            let t = r.totals.view();
            cells.extend([
                t.requests.to_string(),
                t.input_tokens.to_string(),
                t.cached_input_tokens.to_string(),
                t.output_tokens.to_string(),
                t.reasoning_tokens.to_string(),
                t.cost_usd,
            ]);
            lines.push(cells);
        }
        let t = self.total.view();
        let mut total: Vec<String> = words
            .iter()
            .enumerate()
            .map(|(i, _)| {
                if i == 0 {
                    "TOTAL".into()
                } else {
                    String::new()
                }
            })
            .collect();
        if total.is_empty() {
            total.push("TOTAL".into());
            lines[0].insert(0, String::new());
            for l in lines.iter_mut().skip(1) {
                l.insert(0, String::new());
            }
        }
        total.extend([
            t.requests.to_string(),
            t.input_tokens.to_string(),
            t.cached_input_tokens.to_string(),
            t.output_tokens.to_string(),
            t.reasoning_tokens.to_string(),
            t.cost_usd,
        ]);
        lines.push(total);
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
            .collect();
        lines
            .iter()
            .map(|l| {
                l.iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }
}

fn measure_cells(t: &Totals) -> Vec<String> {
    let v = t.view();
    vec![
        v.requests.to_string(),
        v.input_tokens.to_string(),
        v.cached_input_tokens.to_string(),
        v.cache_write_tokens.to_string(),
        v.output_tokens.to_string(),
        v.reasoning_tokens.to_string(),
        v.images.to_string(),
        v.cost_usd,
        v.cache_write_1h_tokens.to_string(),
        v.web_search_requests.to_string(),
    ]
}

/// Quotes a CSV cell when it needs it (RFC 4180).
pub fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_uses_the_coarsest_source() {
        let h = HOUR_MS;
        let d = DAY_MS;
        let plus = Part::plus;
        assert_eq!(
            plan(10, 20, true, None),
            vec![plus(Source::Records, 10, 20)]
        );
        assert_eq!(
            plan(d + 5, 3 * d + h + 7, true, None),
            vec![
                plus(Source::Records, d + 5, d + h),
                plus(Source::Records, 3 * d + h, 3 * d + h + 7),
                plus(Source::Hourly, d + h, 2 * d),
                plus(Source::Hourly, 3 * d, 3 * d + h),
                plus(Source::Daily, 2 * d, 3 * d),
            ]
        );
        assert_eq!(
            plan(0, 2 * d, false, None),
            vec![plus(Source::Hourly, 0, 2 * d)]
        );
        assert_eq!(
            plan(0, 2 * d, true, None),
            vec![plus(Source::Daily, 0, 2 * d)]
        );
    }

    #[test]
    fn plan_takes_the_rest_of_an_hour_or_day_away_when_that_reads_less() {
        let h = HOUR_MS;
        let d = DAY_MS;
        let (plus, minus) = (Part::plus, Part::minus);
        // Up to now (mid-hour, mid-day): the last hour and day are whole rollups, minus what
        // comes after now (nothing yet). The first partial hour (45 of its 60 minutes) is its
        // rollup minus its first 15 minutes; the first partial day (10 of 24 hours) is hours.
        let (from, now) = (d + 14 * h + h / 4, 5 * d + 14 * h + h / 4);
        assert_eq!(
            plan(from, now, true, Some(now)),
            vec![
                minus(Source::Records, d + 14 * h, from),
                minus(Source::Records, now, 5 * d + 15 * h),
                plus(Source::Hourly, d + 14 * h, 2 * d),
                minus(Source::Hourly, 5 * d + 15 * h, 6 * d),
                plus(Source::Daily, 2 * d, 6 * d),
            ]
        );
        // Long before now: whichever side of each edge is shorter.
        let now = 100 * d;
        assert_eq!(
            plan(d + 20 * h + 3 * h / 4, 3 * d + 2 * h + 10, true, Some(now)),
            vec![
                plus(Source::Records, d + 20 * h + 3 * h / 4, d + 21 * h),
                plus(Source::Records, 3 * d + 2 * h, 3 * d + 2 * h + 10),
                plus(Source::Hourly, d + 21 * h, 2 * d),
                plus(Source::Hourly, 3 * d, 3 * d + 2 * h),
                plus(Source::Daily, 2 * d, 3 * d),
            ]
        );
        assert_eq!(
            plan(d + 2 * h, 3 * d + 20 * h, true, Some(now)),
            vec![
                minus(Source::Hourly, d, d + 2 * h),
                minus(Source::Hourly, 3 * d + 20 * h, 4 * d),
                plus(Source::Daily, d, 4 * d),
            ]
        );
        // Inside one hour, and inside one day.
        assert_eq!(
            plan(h + 5, 2 * h - 5, true, Some(now)),
            vec![
                minus(Source::Records, h, h + 5),
                minus(Source::Records, 2 * h - 5, 2 * h),
                plus(Source::Hourly, h, 2 * h),
            ]
        );
        assert_eq!(
            plan(h + 5, h + 50, true, Some(now)),
            vec![plus(Source::Records, h + 5, h + 50)]
        );
        assert_eq!(
            plan(d + h, d + 23 * h, true, Some(now)),
            vec![
                plus(Source::Daily, d, 2 * d),
                minus(Source::Hourly, d, d + h),
                minus(Source::Hourly, d + 23 * h, 2 * d),
            ]
        );
        // Hourly buckets only: no day is read.
        assert_eq!(
            plan(d + h, d + 23 * h, false, Some(now)),
            vec![plus(Source::Hourly, d + h, d + 23 * h)]
        );
    }

    #[test]
    fn rollup_parts_are_read_in_halves() {
        let (h, d) = (HOUR_MS, DAY_MS);
        assert_eq!(
            Part::plus(Source::Daily, 2 * d, 7 * d).halves(),
            vec![
                Part::plus(Source::Daily, 2 * d, 4 * d),
                Part::plus(Source::Daily, 4 * d, 7 * d)
            ]
        );
        assert_eq!(
            Part::minus(Source::Hourly, h, 3 * h).halves(),
            vec![
                Part::minus(Source::Hourly, h, 2 * h),
                Part::minus(Source::Hourly, 2 * h, 3 * h)
            ]
        );
        let one = Part::plus(Source::Daily, d, 2 * d);
        assert_eq!(one.halves(), vec![one]);
        let records = Part::plus(Source::Records, 5, 3 * h);
        assert_eq!(records.halves(), vec![records]);
    }

    #[test]
    fn csv_cells_are_quoted() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("plain"), "plain");
    }
}
