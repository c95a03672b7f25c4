//! The audit trail: call records newest first, with their adjustments, in pages or exports.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{csv_cell, Filters};
use crate::metering::UsageRecord;
use crate::money::{format_usd, from_picos};
use crate::store::reports::{AdjustmentRow, AuditPosition};
use crate::store::{Store, StoreError};

/// Which records to list.
#[derive(Debug, Clone, Default)]
pub struct UsageQuery {
    pub filters: Filters,
    pub status: Option<String>,
    pub from: i64,
    pub to: i64,
}

pub fn record_json(r: &UsageRecord, adjustments: &[&AdjustmentRow]) -> Value {
    let delta: i64 = adjustments.iter().map(|a| a.cost_delta_picos).sum();
    let mut v = serde_json::to_value(r.view()).unwrap_or_default();
    v["adjustments"] = adjustments.iter().map(|a| adjustment_json(a)).collect();
    v["net_cost_usd"] = format_usd(r.cost + from_picos(delta)).into();
    v
}

pub fn adjustment_json(a: &AdjustmentRow) -> Value {
    json!({"id": a.id, "usage_id": a.usage_id, "kind": a.kind, "reason": a.reason,
        "cost_delta_usd": format_usd(from_picos(a.cost_delta_picos)), "price_version_id": a.price_version_id,
        "created_at": DateTime::<Utc>::from_timestamp_millis(a.created_at)})
}

/// The opaque cursor of an audit page: where the page ended, as `<started_at ms>_<seq>`.
pub fn cursor(p: AuditPosition) -> String {
    format!("{}_{}", p.started_at, p.seq)
}

/// Reads a cursor that [`cursor`] made.
pub fn parse_cursor(s: &str) -> Option<AuditPosition> {
    let (t, seq) = s.split_once('_')?;
    Some(AuditPosition {
        started_at: t.parse().ok()?,
        seq: seq.parse().ok()?,
    })
}

/// One page, newest call first (by start time, then ledger position), below the cursor; the
/// next cursor when the page was full. Calls recorded while a client pages land above its
/// cursor or below it, never shifting the rows it has not read yet.
pub async fn page(
    store: &Store,
    q: &UsageQuery,
    before: Option<AuditPosition>,
    limit: i64,
) -> Result<(Vec<Value>, Option<AuditPosition>), StoreError> {
    let rows = store
        .list_usage(&q.filters, q.status.as_deref(), q.from, q.to, before, limit)
        .await?;
    let ids: Vec<String> = rows.iter().map(|(_, r)| r.id.clone()).collect();
    let adjustments = store.adjustments_for(&ids).await?;
    let next = if rows.len() as i64 == limit {
        rows.last().map(|(seq, r)| AuditPosition {
            started_at: r.started_at.timestamp_millis(),
            seq: *seq,
        })
    } else {
        None
    };
    let data = rows
        .iter()
        .map(|(_, r)| {
            record_json(
                r,
                &adjustments
                    .iter()
                    .filter(|a| a.usage_id == r.id)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    Ok((data, next))
}

pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "created_at",
    "finished_at",
    "key_id",
    "team",
    "model",
    "provider",
    "upstream_model",
    "endpoint",
    "streamed",
    "status",
    "http_status",
    "upstream_status",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "images",
    "usage_source",
    "price_version_id",
    "cost_usd",
    "net_cost_usd",
    "latency_ms",
    "time_to_first_token_ms",
    "error",
    // Last, so that readers of the earlier columns by position are not disturbed.
    "requested_model",
    "cache_write_1h_tokens",
    "service_tier",
    "web_search_requests",
];

pub fn csv_header() -> String {
    CSV_COLUMNS.join(",") + "\n"
}

pub fn csv_line(v: &Value) -> String {
    let cells: Vec<String> = CSV_COLUMNS
        .iter()
        .map(|c| match &v[*c] {
            Value::Null => String::new(),
            Value::String(s) => csv_cell(s),
            other => csv_cell(&other.to_string()),
        })
        .collect();
    cells.join(",") + "\n"
}

/// Calls `emit` with the export's text, page by page (1000 records at a time), so an export of
/// any size never sits in memory. Stops early when `emit` returns false.
pub async fn export(
    store: &Store,
    q: &UsageQuery,
    csv: bool,
    emit: impl FnMut(String) -> futures::future::BoxFuture<'static, bool>,
) -> Result<(), StoreError> {
    export_counted(store, q, csv, emit, |_| {}).await
}

/// As [`export`], telling `progress` how many records each emitted page held (for a progress
/// bar).
pub async fn export_counted(
    store: &Store,
    q: &UsageQuery,
    csv: bool,
    mut emit: impl FnMut(String) -> futures::future::BoxFuture<'static, bool>,
    mut progress: impl FnMut(u64),
) -> Result<(), StoreError> {
    if csv && !emit(csv_header()).await {
        return Ok(());
    }
    let mut before = None;
    loop {
        let (rows, next) = page(store, q, before, 1000).await?;
        let chunk: String = rows
            .iter()
            .map(|v| if csv { csv_line(v) } else { format!("{v}\n") })
            .collect();
        if !emit(chunk).await {
            return Ok(());
        }
        progress(rows.len() as u64);
        match next {
            Some(position) => before = Some(position),
            None => return Ok(()),
        }
    }
}
