//! Report statements: rollups, spend segments, the audit trail and adjustments.

use sqlx::FromRow;

use super::tx::{on_tx, Tx};
use super::{on_pool, Store, StoreError};
use crate::metering::UsageRecord;
use crate::pricing::Usage;
use crate::reports::{call_usage, Dim, Filters, Totals};
use crate::service_tier::ServiceTier;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// The largest amount the ledger holds in one place (a call's net cost, a rollup row, a budget
/// counter): `i64::MAX` picodollars, in USD.
pub const LEDGER_MAX_USD: &str = "9223372.036854775807";

/// Where a spend segment is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Individual usage records (for partial hours at the ends of a range).
    Records,
    Hourly,
    Daily,
}

/// One grouped row of a segment: its time bucket (start, ms; 0 when time is not grouped),
/// its dimension values in the order asked, and its totals.
#[derive(Debug, Clone)]
pub struct SegmentRow {
    pub bucket: i64,
    pub dims: Vec<Option<String>>,
    pub totals: Totals,
}

/// An adjustment entry.
#[derive(Debug, Clone, FromRow)]
pub struct AdjustmentRow {
    pub id: String,
    pub usage_id: String,
    pub created_at: i64,
    pub kind: String,
    pub reason: Option<String>,
    pub cost_delta_picos: i64,
    pub price_version_id: Option<i64>,
}

// Every sum is cast back to BIGINT: PostgreSQL widens SUM(bigint) to NUMERIC, which does not
// decode as an i64 (and a sum past an i64 then fails loudly in the cast, as SQLite's integer
// SUM does). On SQLite the cast of an integer is a no-op. In the order `segment_rows` reads them.
const MEASURES: [&str; 12] = [
    "CAST(SUM(requests) AS BIGINT)",
    "CAST(SUM(input_tokens) AS BIGINT)",
    "CAST(SUM(cached_input_tokens) AS BIGINT)",
    "CAST(SUM(cache_write_tokens) AS BIGINT)",
    "CAST(SUM(output_tokens) AS BIGINT)",
    "CAST(SUM(reasoning_tokens) AS BIGINT)",
    "CAST(SUM(images) AS BIGINT)",
    "CAST(SUM(cost_picos / 1000000) AS BIGINT)",
    "CAST(SUM(cost_picos % 1000000) AS BIGINT)",
    "CAST(SUM(errors) AS BIGINT)",
    "CAST(SUM(cache_write_1h_tokens) AS BIGINT)",
    "CAST(SUM(web_search_requests) AS BIGINT)",
];

const RECORD_MEASURES: [&str; 12] = [
    "COUNT(*)",
    "CAST(SUM(input_tokens) AS BIGINT)",
    "CAST(SUM(cached_input_tokens) AS BIGINT)",
    "CAST(SUM(cache_write_tokens) AS BIGINT)",
    "CAST(SUM(output_tokens) AS BIGINT)",
    "CAST(SUM(reasoning_tokens) AS BIGINT)",
    "CAST(SUM(images) AS BIGINT)",
    "CAST(SUM(net_picos / 1000000) AS BIGINT)",
    "CAST(SUM(net_picos % 1000000) AS BIGINT)",
    "CAST(SUM(CASE WHEN status = 'ok' THEN 0 ELSE 1 END) AS BIGINT)",
    "CAST(SUM(cache_write_1h_tokens) AS BIGINT)",
    "CAST(SUM(web_search_requests) AS BIGINT)",
];

/// A call's adjustments, summed: `COALESCE(…, 0)` of it plus `cost_picos` is its net cost. Cast
/// to BIGINT so that the net cost stays an integer on PostgreSQL (NUMERIC there, and `/` and `%`
/// on a NUMERIC are not the integer split the measures need).
const ADJUSTMENTS_OF_U: &str =
    "(SELECT CAST(SUM(a.cost_delta_picos) AS BIGINT) FROM usage_adjustments a WHERE a.usage_id = u.id)";

fn dim_column(d: Dim, records: bool) -> &'static str {
    match (d, records) {
        (Dim::Key, false) => "key_id",
        (Dim::Team, false) => "team_id",
        (Dim::Model, _) => "model_id",
        (Dim::Provider, false) => "provider_id",
        (Dim::Key, true) => "COALESCE(key_id, '')",
        (Dim::Team, true) => "COALESCE(team_id, '')",
        (Dim::Provider, true) => "COALESCE(provider_id, '')",
    }
}

/// `WHERE` clause and its bind values for a segment.
/// Where an audit page ends: the call's start time (ms) and its ledger position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditPosition {
    pub started_at: i64,
    pub seq: i64,
}

fn where_clause(
    source: Source,
    start: i64,
    end: i64,
    f: &Filters,
    first_param: usize,
) -> (String, Vec<String>) {
    let time = if source == Source::Records {
        "started_at"
    } else {
        "bucket"
    };
    let (mut sql, binds) = filter_clause(source, f, first_param);
    sql.insert_str(0, &format!("{time} >= {start} AND {time} < {end}"));
    (sql, binds)
}

/// ` AND column = $n` for each filter that is set, and the values to bind.
fn filter_clause(source: Source, f: &Filters, first_param: usize) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    let records = source == Source::Records;
    for (dim, value) in [
        (Dim::Key, &f.key),
        (Dim::Team, &f.team),
        (Dim::Model, &f.model),
        (Dim::Provider, &f.provider),
    ] {
        if let Some(v) = value {
            binds.push(v.clone());
            sql.push_str(&format!(
                " AND {} = ${}",
                dim_column(dim, records),
                first_param + binds.len() - 1
            ));
        }
    }
    (sql, binds)
}

/// Most bucket seeks a one-key rollup read makes (see [`Store::spend_segment`]); past this,
/// the key's index is read instead.
const MAX_KEY_SEEKS: i64 = 20_000;

fn none_if_empty(s: String) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

impl Store {
    /// Sums of one segment `[start, end)` of time, grouped by the time bucket (when `by_time`)
    /// and `dims`. Adjustments are included: rollups carry them, and for records they are added
    /// from the adjustments of the records in the segment.
    ///
    /// On SQLite, one key's rollups (the `key` filter: a per-key dashboard, `/v1/spend`) are
    /// read by seeking `(bucket, key)` in the clustered rollup for each bucket of the range,
    /// which reads that key's rows of each bucket in one run; the key's index would find the
    /// same rows but then look each of them up in the rollup by its primary key.
    pub async fn spend_segment(
        &self,
        source: Source,
        start: i64,
        end: i64,
        dims: &[Dim],
        by_time: bool,
        f: &Filters,
    ) -> Result<Vec<SegmentRow>, StoreError> {
        let records = source == Source::Records;
        let size = if source == Source::Daily {
            DAY_MS
        } else {
            HOUR_MS
        };
        let seek_key = !records
            && f.key.is_some()
            && matches!(self.pool, super::Pool::Sqlite(_))
            && start % size == 0
            && (end - start) / size <= MAX_KEY_SEEKS;
        let table = match source {
            Source::Daily => "usage_rollups_daily",
            _ => "usage_rollups_hourly",
        };
        let (with, from, binds) = if records {
            let (filter, binds) = where_clause(source, start, end, f, 1);
            (
                String::new(),
                format!(
                    "(SELECT u.*, u.cost_picos + COALESCE({ADJUSTMENTS_OF_U}, 0) AS net_picos \
                     FROM usage_records u WHERE {filter}) r"
                ),
                binds,
            )
        } else if seek_key {
            let (filter, binds) = filter_clause(source, f, 1);
            (
                format!(
                    "WITH RECURSIVE b(x) AS (SELECT {start} UNION ALL SELECT x + {size} FROM b \
                     WHERE x + {size} < {end}) "
                ),
                format!("b CROSS JOIN {table} r ON r.bucket = b.x{filter}"),
                binds,
            )
        } else {
            let (filter, binds) = where_clause(source, start, end, f, 1);
            (String::new(), format!("{table} WHERE {filter}"), binds)
        };
        let mut groups: Vec<String> = Vec::new();
        if by_time {
            groups.push(if records {
                format!("started_at - started_at % {HOUR_MS}")
            } else {
                "bucket".into()
            });
        }
        groups.extend(dims.iter().map(|d| dim_column(*d, records).to_string()));
        let group_by = if groups.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", groups.join(", "))
        };
        let measures = if records { RECORD_MEASURES } else { MEASURES };
        let columns: Vec<&str> = groups
            .iter()
            .map(String::as_str)
            .chain(measures.iter().copied())
            .collect();
        let query = Grouped {
            with: &with,
            columns: &columns,
            rest: &format!("FROM {from}{group_by}"),
            binds: &binds,
            by_time,
            ndims: dims.len(),
        };
        self.grouped(&query).await
    }

    /// Sums of the given hourly buckets, grouped by bucket and `dims` (the hours a local-day
    /// report moves between days).
    pub async fn spend_hours(
        &self,
        hours: &[i64],
        dims: &[Dim],
        f: &Filters,
    ) -> Result<Vec<SegmentRow>, StoreError> {
        let (Some(first), Some(last)) = (hours.iter().min(), hours.iter().max()) else {
            return Ok(Vec::new());
        };
        let (filter, binds) = where_clause(Source::Hourly, *first, last + 1, f, 1);
        let list: Vec<String> = hours.iter().map(i64::to_string).collect();
        let mut groups = vec!["bucket"];
        groups.extend(dims.iter().map(|d| dim_column(*d, false)));
        let columns: Vec<&str> = groups.iter().copied().chain(MEASURES).collect();
        let query = Grouped {
            with: "",
            columns: &columns,
            rest: &format!(
                "FROM usage_rollups_hourly WHERE {filter} AND bucket IN ({}) GROUP BY {}",
                list.join(", "),
                groups.join(", ")
            ),
            binds: &binds,
            by_time: true,
            ndims: dims.len(),
        };
        self.grouped(&query).await
    }

    /// Runs a grouped sum (`WITH … SELECT columns FROM … GROUP BY …`), its columns the time
    /// bucket when `by_time`, then `ndims` dimensions, then the twelve measures.
    ///
    /// SQLite answers with the whole result as one JSON array in one row: the driver hands
    /// each row of a result from its worker thread to the caller on its own (a wake-up and a
    /// copy of every value), which cost more than the sum itself for results of thousands of
    /// rows. A result too large for one SQLite string (a billion bytes) is read row by row.
    async fn grouped(&self, q: &Grouped<'_>) -> Result<Vec<SegmentRow>, StoreError> {
        let plain = format!("{}SELECT {} {}", q.with, q.columns.join(", "), q.rest);
        match &self.pool {
            super::Pool::Sqlite(pool) => {
                let aliased: Vec<String> = q
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c} AS c{i}"))
                    .collect();
                let names: Vec<String> = (0..q.columns.len()).map(|i| format!("c{i}")).collect();
                let packed = format!(
                    "{}SELECT json_group_array(json_array({})) FROM (SELECT {} {})",
                    q.with,
                    names.join(", "),
                    aliased.join(", "),
                    q.rest
                );
                let mut query = sqlx::query_scalar::<_, String>(&packed);
                for b in q.binds {
                    query = query.bind(b);
                }
                match query.fetch_one(pool).await {
                    Ok(text) => packed_rows(&text, q.by_time, q.ndims),
                    Err(e) if is_too_big(&e) => {
                        let mut query = sqlx::query(&plain);
                        for b in q.binds {
                            query = query.bind(b);
                        }
                        segment_rows(&query.fetch_all(pool).await?, q.by_time, q.ndims)
                    }
                    Err(e) => Err(e.into()),
                }
            }
            super::Pool::Postgres(pool) => {
                let mut query = sqlx::query(&plain);
                for b in q.binds {
                    query = query.bind(b);
                }
                segment_rows(&query.fetch_all(pool).await?, q.by_time, q.ndims)
            }
        }
    }

    /// Usage records newest first, after the cursor (a `seq`), matching the filters.
    pub async fn list_usage(
        &self,
        f: &Filters,
        status: Option<&str>,
        from: i64,
        to: i64,
        before: Option<AuditPosition>,
        limit: i64,
    ) -> Result<Vec<(i64, UsageRecord)>, StoreError> {
        let (mut filter, mut binds) = where_clause(Source::Records, from, to, f, 1);
        if let Some(s) = status {
            binds.push(s.to_string());
            filter.push_str(&format!(" AND status = ${}", binds.len()));
        }
        if let Some(AuditPosition { started_at, seq }) = before {
            filter.push_str(&format!(" AND (started_at, seq) < ({started_at}, {seq})"));
        }
        // (started_at, seq) is the order of the time indexes ((started_at), (key_id,
        // started_at), (team_id, started_at), (model_id, started_at): SQLite appends the rowid
        // `seq`), so a page is an index range read backwards, never a sort of the range.
        let sql = format!(
            "SELECT seq, {} FROM usage_records WHERE {filter} ORDER BY started_at DESC, seq DESC LIMIT {limit}",
            super::usage::RECORD_COLUMNS
        );
        self.records_with_seq(&sql, &binds).await
    }

    /// Adjustments of these usage records, oldest first.
    pub async fn adjustments_for(
        &self,
        usage_ids: &[String],
    ) -> Result<Vec<AdjustmentRow>, StoreError> {
        if usage_ids.is_empty() {
            return Ok(vec![]);
        }
        const COLUMNS: &str =
            "SELECT id, usage_id, created_at, kind, reason, cost_delta_picos, price_version_id FROM usage_adjustments";
        Ok(match &self.pool {
            super::Pool::Sqlite(pool) => {
                let params: Vec<String> = (1..=usage_ids.len()).map(|i| format!("${i}")).collect();
                let sql = format!(
                    "{COLUMNS} WHERE usage_id IN ({}) ORDER BY seq",
                    params.join(", ")
                );
                let mut q = sqlx::query_as::<_, AdjustmentRow>(&sql);
                for id in usage_ids {
                    q = q.bind(id);
                }
                q.fetch_all(pool).await?
            }
            // PostgreSQL binds the ids as one array (SQLite has no arrays): one statement text
            // whatever the page size (prepared once, not once per length), and no limit on
            // the number of parameters.
            super::Pool::Postgres(pool) => {
                sqlx::query_as::<_, AdjustmentRow>(&format!(
                    "{COLUMNS} WHERE usage_id = ANY($1) ORDER BY seq"
                ))
                .bind(usage_ids)
                .fetch_all(pool)
                .await?
            }
        })
    }

    /// Appends an adjustment and applies its cost to the rollups of the original call's
    /// buckets and to its budget counters, in one transaction. The usage record itself is
    /// never changed.
    ///
    /// Compare-and-swap on the call's net cost: `expected_net` is the net cost (record plus
    /// adjustments, picodollars) the caller computed the adjustment from; if another adjustment
    /// landed meanwhile, nothing is written ([`StoreError::Conflict`]). Every sum the adjustment
    /// changes — the call's net cost, its hourly and daily rollup rows, its budget counters —
    /// is checked to stay within an `i64` of picodollars before anything is written
    /// ([`StoreError::Unprocessable`] on `cost_delta_usd` otherwise), so no sum ever overflows
    /// into SQLite's floating point.
    pub async fn insert_adjustment(
        &self,
        adj: &AdjustmentRow,
        record: &UsageRecord,
        expected_net: i64,
    ) -> Result<(), StoreError> {
        let written = self.write_adjustment(adj, record, expected_net).await;
        // The call's budget counters moved outside the metering writer's batches: the values
        // it remembers for reservations are forgotten, and read again ([`super::holds`]).
        self.holds.forget();
        written
    }

    async fn write_adjustment(
        &self,
        adj: &AdjustmentRow,
        record: &UsageRecord,
        expected_net: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let net: i64 = match &mut tx {
            // `BEGIN IMMEDIATE` holds the write lock: no other adjustment can land between
            // this read and the insert below.
            Tx::Sqlite(t) => {
                let (net,): (i64,) = sqlx::query_as(&format!(
                    "SELECT u.cost_picos + COALESCE({ADJUSTMENTS_OF_U}, 0) FROM usage_records u WHERE u.id = $1"
                ))
                .bind(&adj.usage_id)
                .fetch_one(&mut **t)
                .await?;
                net
            }
            // PostgreSQL: lock the call's record first (`FOR UPDATE`; records are never
            // updated, so this serialises only adjustments of the same call), then sum its
            // adjustments in a second statement. One statement would not do: in READ
            // COMMITTED, a statement that waited for the lock still reads the adjustments as
            // of its own start, missing the one committed by the transaction it waited for.
            Tx::Postgres(t) => {
                let (cost,): (i64,) =
                    sqlx::query_as("SELECT cost_picos FROM usage_records WHERE id = $1 FOR UPDATE")
                        .bind(&adj.usage_id)
                        .fetch_one(&mut **t)
                        .await?;
                let (adjusted,): (i64,) = sqlx::query_as(
                    "SELECT CAST(COALESCE(SUM(cost_delta_picos), 0) AS BIGINT) FROM usage_adjustments \
                     WHERE usage_id = $1",
                )
                .bind(&adj.usage_id)
                .fetch_one(&mut **t)
                .await?;
                cost.checked_add(adjusted).ok_or_else(|| {
                    StoreError::Corrupt(format!("net cost of call '{}' overflows", adj.usage_id))
                })?
            }
        };
        if net != expected_net {
            return Err(StoreError::Conflict(format!(
                "call '{}' was adjusted meanwhile; read it again and retry",
                adj.usage_id
            )));
        }
        let too_large = |what: &str| {
            StoreError::unprocessable(
                "cost_delta_usd",
                format!(
                    "the adjustment would take {what} past the ledger's maximum of \
                     ${LEDGER_MAX_USD} (an i64 of picodollars)"
                ),
            )
        };
        if net.checked_add(adj.cost_delta_picos).is_none() {
            return Err(too_large("the call's net cost"));
        }
        let at = super::to_millis(record.started_at);
        for (table, size) in [
            ("usage_rollups_hourly", HOUR_MS),
            ("usage_rollups_daily", DAY_MS),
        ] {
            let sql = format!(
                "SELECT cost_picos FROM {table} WHERE bucket = $1 AND key_id = $2 AND team_id = $3 \
                 AND model_id = $4 AND provider_id = $5"
            );
            let current: Option<(i64,)> = on_tx!(&mut tx, |conn| sqlx::query_as(&sql)
                .bind(at - at % size)
                .bind(record.key_id.as_deref().unwrap_or(""))
                .bind(record.team_id.as_deref().unwrap_or(""))
                .bind(&record.model_id)
                .bind(record.provider_id.as_deref().unwrap_or(""))
                .fetch_optional(conn)
                .await)?;
            if current
                .map_or(0, |c| c.0)
                .checked_add(adj.cost_delta_picos)
                .is_none()
            {
                return Err(too_large("the call's rollups"));
            }
        }
        let (low, high): (Option<i64>, Option<i64>) = on_tx!(&mut tx, |conn| {
            sqlx::query_as(
            "SELECT MIN(spent_picos), MAX(spent_picos) FROM budget_counters WHERE ((scope = 'key' AND scope_id = $1) OR \
             (scope = 'team' AND scope_id = $2) OR scope = 'global') AND period_start <= $3 AND (period_end IS NULL OR period_end > $3)",
        )
        .bind(record.key_id.as_deref().unwrap_or(""))
        .bind(record.team_id.as_deref().unwrap_or(""))
        .bind(at)
        .fetch_one(conn)
        .await
        })?;
        for spent in [low, high].into_iter().flatten() {
            if spent.checked_add(adj.cost_delta_picos).is_none() {
                return Err(too_large("a budget's spend"));
            }
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
            "INSERT INTO usage_adjustments (id, usage_id, created_at, kind, reason, cost_delta_picos, price_version_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&adj.id)
        .bind(&adj.usage_id)
        .bind(adj.created_at)
        .bind(&adj.kind)
        .bind(&adj.reason)
        .bind(adj.cost_delta_picos)
        .bind(adj.price_version_id)
        .execute(conn)
        .await
        .map(drop)
        })?;
        let delta = Totals {
            cost_picos: i128::from(adj.cost_delta_picos),
            ..Totals::default()
        };
        // Budget counters before rollups: the order every ledger batch locks them in.
        super::budgets::adjust_counters(&mut tx, record, adj.cost_delta_picos).await?;
        upsert_rollups(&mut tx, record, &delta).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The usage of each of one model's calls in a range (its counts and service tier), for
    /// exact re-pricing when the prices have long-context or service tiers (which apply per
    /// call, so sums cannot be used).
    pub async fn calls_of_model(
        &self,
        f: &Filters,
        model: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<Usage>, StoreError> {
        let mut filters = f.clone();
        filters.model = Some(model.to_string());
        let (filter, binds) = where_clause(Source::Records, from, to, &filters, 1);
        let sql = format!(
            "SELECT input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, \
             cache_write_1h_tokens, web_search_requests, service_tier FROM usage_records WHERE {filter}"
        );
        let rows = on_pool!(self, |pool| {
            type Row = (i64, i64, i64, i64, i64, i64, i64, i64, Option<String>);
            let mut q = sqlx::query_as::<_, Row>(&sql);
            for b in &binds {
                q = q.bind(b);
            }
            q.fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|r| Usage {
                service_tier: r.8.as_deref().and_then(ServiceTier::parse),
                ..call_usage(&[r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7])
            })
            .collect())
    }
}

/// A grouped sum to run (see [`Store::grouped`]).
struct Grouped<'a> {
    /// A `WITH` clause (with its trailing space), or empty.
    with: &'a str,
    columns: &'a [&'a str],
    /// `FROM … WHERE … GROUP BY …`.
    rest: &'a str,
    binds: &'a [String],
    by_time: bool,
    ndims: usize,
}

/// SQLite's "string or blob too big" (`SQLITE_TOOBIG`).
fn is_too_big(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "18")
}

/// Reads the JSON array of a packed grouped query (see [`Store::grouped`]): one array per
/// row, `[bucket?, dims…, measures…]`.
fn packed_rows(text: &str, by_time: bool, ndims: usize) -> Result<Vec<SegmentRow>, StoreError> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let rows = PackedRows { by_time, ndims }
        .deserialize(&mut de)
        .and_then(|rows| de.end().map(|()| rows))
        .map_err(|e| StoreError::Corrupt(format!("grouped sums: {e}")))?;
    Ok(rows)
}

#[derive(Clone, Copy)]
struct PackedRows {
    by_time: bool,
    ndims: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for PackedRows {
    type Value = Vec<SegmentRow>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for PackedRows {
    type Value = Vec<SegmentRow>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of grouped sums")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(row) = seq.next_element_seed(PackedRow(self))? {
            out.push(row);
        }
        Ok(out)
    }
}

struct PackedRow(PackedRows);

impl<'de> serde::de::DeserializeSeed<'de> for PackedRow {
    type Value = SegmentRow;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for PackedRow {
    type Value = SegmentRow;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a row of grouped sums")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let PackedRows { by_time, ndims } = self.0;
        let width = usize::from(by_time) + ndims + MEASURES.len();
        let missing = |i: usize| serde::de::Error::invalid_length(i, &"a full row of grouped sums");
        let mut i = 0;
        let bucket = if by_time {
            i += 1;
            seq.next_element::<Option<i64>>()?
                .ok_or_else(|| missing(0))?
                .unwrap_or(0)
        } else {
            0
        };
        let mut dims = Vec::with_capacity(ndims);
        for _ in 0..ndims {
            let v = seq
                .next_element::<Option<String>>()?
                .ok_or_else(|| missing(i))?;
            dims.push(v.and_then(none_if_empty));
            i += 1;
        }
        let mut m = [0i64; 12];
        for v in &mut m {
            *v = seq
                .next_element::<Option<i64>>()?
                .ok_or_else(|| missing(i))?
                .unwrap_or(0);
            i += 1;
        }
        if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
            return Err(serde::de::Error::invalid_length(
                width + 1,
                &"a full row of grouped sums",
            ));
        }
        Ok(SegmentRow {
            bucket,
            dims,
            totals: totals_of(&m),
        })
    }
}

/// Totals from the twelve measures in the order of [`MEASURES`].
fn totals_of(m: &[i64; 12]) -> Totals {
    Totals {
        requests: m[0],
        input_tokens: m[1],
        cached_input_tokens: m[2],
        cache_write_tokens: m[3],
        output_tokens: m[4],
        reasoning_tokens: m[5],
        images: m[6],
        cost_picos: 0,
        errors: m[9],
        cache_write_1h_tokens: m[10],
        web_search_requests: m[11],
    }
    .with_split_cost(m[7], m[8])
}

/// Reads the rows of a grouped segment query (see [`Store::spend_segment`]), of either backend.
fn segment_rows<R>(rows: &[R], by_time: bool, ndims: usize) -> Result<Vec<SegmentRow>, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut i = 0;
        let bucket = if by_time {
            i += 1;
            row.try_get::<i64, _>(0)?
        } else {
            0
        };
        let mut dims = Vec::with_capacity(ndims);
        for _ in 0..ndims {
            dims.push(row.try_get::<Option<String>, _>(i)?.and_then(none_if_empty));
            i += 1;
        }
        let mut m = [0i64; 12];
        for (j, v) in m.iter_mut().enumerate() {
            *v = row.try_get::<Option<i64>, _>(i + j)?.unwrap_or(0);
        }
        let totals = totals_of(&m);
        out.push(SegmentRow {
            bucket,
            dims,
            totals,
        });
    }
    Ok(out)
}

/// Adds a record (or an adjustment's delta) to its hourly and daily rollups.
pub(super) async fn upsert_rollups(
    tx: &mut Tx,
    r: &UsageRecord,
    t: &Totals,
) -> Result<(), StoreError> {
    let at = super::to_millis(r.started_at);
    let cost = i64::try_from(t.cost_picos)
        .map_err(|_| StoreError::Corrupt("rollup cost overflow".into()))?;
    for (table, size) in [
        ("usage_rollups_hourly", HOUR_MS),
        ("usage_rollups_daily", DAY_MS),
    ] {
        let sql = format!(
            "INSERT INTO {table} (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens, \
             cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos, \
             cache_write_1h_tokens, web_search_requests) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (bucket, key_id, team_id, model_id, provider_id) DO UPDATE SET \
             requests = {table}.requests + excluded.requests, input_tokens = {table}.input_tokens + excluded.input_tokens, \
             cached_input_tokens = {table}.cached_input_tokens + excluded.cached_input_tokens, \
             cache_write_tokens = {table}.cache_write_tokens + excluded.cache_write_tokens, \
             cache_write_1h_tokens = {table}.cache_write_1h_tokens + excluded.cache_write_1h_tokens, \
             web_search_requests = {table}.web_search_requests + excluded.web_search_requests, \
             output_tokens = {table}.output_tokens + excluded.output_tokens, \
             reasoning_tokens = {table}.reasoning_tokens + excluded.reasoning_tokens, \
             images = {table}.images + excluded.images, cost_picos = {table}.cost_picos + excluded.cost_picos"
        );
        on_tx!(tx, |conn| sqlx::query(&sql)
            .bind(at - at % size)
            .bind(r.key_id.as_deref().unwrap_or(""))
            .bind(r.team_id.as_deref().unwrap_or(""))
            .bind(&r.model_id)
            .bind(r.provider_id.as_deref().unwrap_or(""))
            .bind(t.requests)
            .bind(t.input_tokens)
            .bind(t.cached_input_tokens)
            .bind(t.cache_write_tokens)
            .bind(t.output_tokens)
            .bind(t.reasoning_tokens)
            .bind(t.images)
            .bind(cost)
            .bind(t.cache_write_1h_tokens)
            .bind(t.web_search_requests)
            .execute(conn)
            .await
            .map(drop))?;
    }
    Ok(())
}
