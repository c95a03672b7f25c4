//! Settling a call: its tokens (the upstream's report when it can be trusted, the gateway's
//! own count otherwise), its cost, its record, and the budgets it drew on.

use super::call::Call;
use super::tokens;
use super::usage::Reported;
use crate::budgets::enforce;
use crate::error::ApiError;
use crate::metering::{CallStatus, UsageRecord, UsageSource};
use crate::money::{format_usd, from_picos, to_picos};
use crate::pricing::Usage;
use crate::state::AppState;

/// A finished call's tokens and where they came from.
#[derive(Debug, Clone)]
pub struct Measured {
    pub usage: Usage,
    pub source: UsageSource,
    /// Why the gateway counted itself although the upstream answered.
    pub note: Option<String>,
}

impl Measured {
    fn upstream(usage: Usage) -> Self {
        Measured {
            usage,
            source: UsageSource::Upstream,
            note: None,
        }
    }
}

/// The tokens of a call the upstream answered: its report when valid; the gateway's count of
/// the request and of the answer's text (`output_text`, gathered only then) when it reported
/// none, or an invalid one (whose reason and raw text are kept in the note).
pub fn measure(call: &Call, reported: Reported, output_text: impl FnOnce() -> String) -> Measured {
    match reported {
        Reported::Valid(u) => Measured::upstream(u),
        Reported::Absent => estimate(call, &output_text(), None),
        Reported::Invalid { reason, raw } => {
            tracing::warn!(call = %call.id, %reason, "upstream usage rejected; counting locally");
            estimate(
                call,
                &output_text(),
                Some(format!(
                    "upstream usage rejected ({reason}); as reported: {raw}"
                )),
            )
        }
    }
}

/// Tokens counted locally.
pub fn estimate(call: &Call, output_text: &str, note: Option<String>) -> Measured {
    Measured {
        usage: Usage {
            input_tokens: tokens::count_request(&call.body),
            output_tokens: tokens::count_text(output_text),
            ..Usage::default()
        },
        source: UsageSource::Estimated,
        note,
    }
}

/// A finished call's record. A cost too large for the ledger (over about 9.2 million USD for
/// one call: only an absurd report can do that) falls back to the local count, and to zero
/// with a note if even that does not fit, so the record is always written.
pub fn record_for(
    call: &Call,
    status: CallStatus,
    http_status: u16,
    upstream_status: Option<u16>,
    measured: Option<Measured>,
) -> UsageRecord {
    let mut r = UsageRecord::from_start(&call.start(), status, http_status);
    r.upstream_status = upstream_status;
    if let Some(m) = measured {
        let (m, cost) = fits_the_ledger(call, m);
        r.cost = cost;
        r.usage = m.usage;
        r.usage_source = m.source;
        r.usage_note = m.note;
        if to_picos(r.cost).is_none() {
            r.usage_note = Some(format!(
                "cost {} USD exceeds the ledger's maximum per call; recorded as 0",
                r.cost
            ));
            r.cost = rust_decimal::Decimal::ZERO;
        }
    }
    r.latency_ms = call.started.elapsed().as_millis() as u64;
    r
}

fn with_images(call: &Call, u: Usage) -> Usage {
    Usage {
        images: tokens::count_images(&call.body),
        ..u
    }
}

/// The measured usage (with the request's images) and its cost, priced once.
fn fits_the_ledger(call: &Call, m: Measured) -> (Measured, rust_decimal::Decimal) {
    let u = with_images(call, m.usage);
    let cost = call.price.prices.cost(&u);
    if to_picos(cost).is_some() || m.source != UsageSource::Upstream {
        return (Measured { usage: u, ..m }, cost);
    }
    let local = estimate(
        call,
        "",
        Some(format!(
            "upstream usage rejected (its cost exceeds the ledger's maximum per call); as reported: {u:?}"
        )),
    );
    let usage = Usage {
        images: u.images,
        ..local.usage
    };
    (Measured { usage, ..local }, call.price.prices.cost(&usage))
}

/// Commits a call's record with the settlement of its reservations, and frees its rate-limit
/// slot (counting its tokens). A cost above what was reserved is recorded as it is (never
/// hidden) and raises `budget.overrun` on every account the call drew on.
pub async fn commit(
    state: &AppState,
    call: &Call,
    mut record: UsageRecord,
) -> Result<(), ApiError> {
    let tokens = record.usage.input_tokens + record.usage.output_tokens;
    let permit = call.permit.lock().expect("permit lock poisoned").take();
    let mut settlement = call.settlement.clone();
    if let Some(s) = settlement.as_mut() {
        let cost = to_picos(record.cost).unwrap_or(i64::MAX);
        let reserved = s.lines.iter().map(|l| l.amount_picos).max().unwrap_or(0);
        if cost > reserved {
            tracing::warn!(call = %call.id, cost = %record.cost, reserved = %from_picos(reserved), "call cost more than its reservation");
            let note = format!(
                "cost {} USD exceeded the {} USD reserved for this call",
                format_usd(record.cost),
                format_usd(from_picos(reserved))
            );
            record.usage_note = Some(match record.usage_note.take() {
                Some(n) => format!("{n}; {note}"),
                None => note,
            });
            for line in &s.lines {
                s.alerts.push(enforce::overrun_alert(
                    &line.account,
                    &record.id,
                    line.amount_picos,
                    cost,
                ));
            }
        }
    }
    // The slot is free before the answer goes out (as the record is committed), both at once.
    let release = async {
        if let Some(permit) = permit {
            permit.finish(tokens).await;
        }
    };
    let (_, recorded) = tokio::join!(release, state.meter.record_settled(record, settlement));
    recorded.map_err(|e| {
        tracing::error!(error = %e, "usage record not committed");
        ApiError::internal()
    })
}

/// Records a call that failed before an answer (nothing is charged), and returns the caller's
/// error.
pub async fn fail(
    state: &AppState,
    call: &Call,
    status: CallStatus,
    upstream_status: Option<u16>,
    err: ApiError,
) -> ApiError {
    tracing::info!(
        status = status.as_str(),
        http_status = err.status().as_u16(),
        upstream_status,
        code = err.code,
        "call failed"
    );
    let mut record = record_for(call, status, err.status().as_u16(), upstream_status, None);
    record.error = Some(err.message.clone());
    match commit(state, call, record).await {
        Ok(()) => err,
        Err(internal) => internal,
    }
}
