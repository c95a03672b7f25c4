//! Cost estimates and cheaper related models, from a token profile or from real usage.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};

use crate::catalog::{Entry, Snapshot};
use crate::money::format_usd;
use crate::pricing::{Prices, Usage};

/// What a candidate model supports of what the original does.
#[derive(Debug, Clone, Serialize)]
pub struct Supports {
    pub tools: bool,
    pub vision: bool,
    pub json_mode: bool,
    /// The candidate's context is at least the original's (or the original's is unknown).
    pub context_length: bool,
    /// Every capability and input modality of the original.
    pub all: bool,
}

pub fn supports(original: &Entry, candidate: &Entry) -> Supports {
    let (o, c) = (&original.model, &candidate.model);
    let cap = |name: &str| !o.has_capability(name) || c.has_capability(name);
    let context_length = match (o.context_length, c.context_length) {
        (Some(need), Some(have)) => have >= need,
        (Some(_), None) => false,
        (None, _) => true,
    };
    let all = o.capabilities.iter().all(|x| c.has_capability(x))
        && o.input_modalities
            .iter()
            .all(|m| c.input_modalities.contains(m))
        && context_length;
    Supports {
        tools: cap("tools"),
        vision: cap("vision"),
        json_mode: cap("json_mode"),
        context_length,
        all,
    }
}

/// The most tokens a token profile (an estimate, a related-models query) may name in any one
/// field: far above any model's context, far below what could overflow a price computation.
pub const MAX_PROFILE_TOKENS: u64 = 1_000_000_000;

/// Refuses a token count above [`MAX_PROFILE_TOKENS`], naming its field.
pub fn check_tokens(field: &str, n: Option<u64>) -> Result<(), crate::error::FieldError> {
    match n {
        Some(n) if n > MAX_PROFILE_TOKENS => Err(crate::error::FieldError {
            field: field.into(),
            message: format!("{field} must be at most {MAX_PROFILE_TOKENS}"),
        }),
        _ => Ok(()),
    }
}

/// The models a suggestion may point to: `entry`'s related models that exist and are active
/// (a deprecated model is never offered as a target; it cannot be called).
pub fn suggestion_targets<'a>(
    snapshot: &'a Snapshot,
    entry: &'a Entry,
) -> impl Iterator<Item = &'a Entry> + 'a {
    entry
        .related
        .iter()
        .filter_map(|id| snapshot.get(id))
        .filter(|e| e.model.status == crate::catalog::ModelStatus::Active)
}

/// The cost of one call with this profile, or `None` without a price.
pub fn call_cost(prices: Option<&Prices>, input: u64, output: u64) -> Option<Decimal> {
    prices.map(|p| {
        p.cost(&Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        })
    })
}

fn usd(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, |d| format_usd(d).into())
}

/// `GET /v1/models/{id}/related?input_tokens&output_tokens`: each related model's estimated
/// cost for the profile, its saving against the original, and what it supports.
pub fn related_for_profile(
    snapshot: &Snapshot,
    entry: &Entry,
    input: u64,
    output: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    let base = call_cost(entry.price_at(now).map(|v| &v.prices), input, output);
    let mut rows: Vec<(Option<Decimal>, Value)> = suggestion_targets(snapshot, entry)
        .map(|r| {
            let cost = call_cost(r.price_at(now).map(|v| &v.prices), input, output);
            let saving = match (base, cost) {
                (Some(b), Some(c)) => Some(b - c),
                _ => None,
            };
            (cost, json!({"id": r.model.id, "name": r.model.name, "provider": r.model.provider,
                "estimated_cost_usd": usd(cost), "saving_usd": usd(saving), "supports": supports(entry, r)}))
        })
        .collect();
    sort_cheapest_first(&mut rows);
    json!({"model": entry.model.id, "input_tokens": input, "output_tokens": output, "estimated_cost_usd": usd(base),
        "related": rows.into_iter().map(|(_, v)| v).collect::<Vec<_>>()})
}

/// Cheapest first; models without a price last.
pub fn sort_cheapest_first(rows: &mut [(Option<Decimal>, Value)]) {
    rows.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
}

/// `POST /v1/estimate`: the cost of a call (a range from no output to `max_tokens` when the
/// output is not known), and the same for every related model, cheapest first.
pub fn estimate(
    snapshot: &Snapshot,
    entry: &Entry,
    input: u64,
    output: Option<u64>,
    max_output: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    let range = |prices: Option<&Prices>| -> (Option<Decimal>, Option<Decimal>) {
        match output {
            Some(o) => {
                let c = call_cost(prices, input, o);
                (c, c)
            }
            None => (
                call_cost(prices, input, 0),
                call_cost(prices, input, max_output),
            ),
        }
    };
    let price = |e: &Entry| e.price_at(now).map(|v| v.prices.clone());
    let (min, max) = range(price(entry).as_ref());
    let mut rows: Vec<(Option<Decimal>, Value)> = suggestion_targets(snapshot, entry)
        .map(|r| {
            let (rmin, rmax) = range(price(r).as_ref());
            let saving = match (max, rmax) {
                (Some(a), Some(b)) => Some(a - b),
                _ => None,
            };
            (rmax, json!({"model": r.model.id, "name": r.model.name, "min_cost_usd": usd(rmin), "max_cost_usd": usd(rmax),
                "saving_usd": usd(saving), "supports": supports(entry, r)}))
        })
        .collect();
    sort_cheapest_first(&mut rows);
    let mut out = json!({"model": entry.model.id, "input_tokens": input, "priced": min.is_some(),
        "min_cost_usd": usd(min), "max_cost_usd": usd(max),
        "related": rows.into_iter().map(|(_, v)| v).collect::<Vec<_>>()});
    match output {
        Some(o) => {
            out["output_tokens"] = o.into();
            out["cost_usd"] = usd(min);
        }
        None => out["max_output_tokens"] = max_output.into(),
    }
    out
}
