//! What a key or team has left: budgets with their spend this period, balance, rate limits.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::budgets::enforce::{accounts_for, Account, Scope};
use crate::budgets::{period_bounds, Team};
use crate::error::ApiError;
use crate::keys::ApiKey;
use crate::money::{format_usd, from_picos};
use crate::state::AppState;

async fn account_json(state: &AppState, account: &Account) -> Result<Value, ApiError> {
    Ok(match account {
        Account::Budget {
            scope,
            id,
            budget,
            period_start,
            period_end,
            ..
        } => {
            let (spent, reserved) = state
                .store
                .budget_status(scope.as_str(), id, *period_start, *period_end)
                .await?;
            let limit = budget.limit_picos();
            json!({
                "scope": scope, "id": id, "limit_usd": format_usd(from_picos(limit)), "period": budget.period, "mode": budget.mode,
                "alert_thresholds": budget.alert_thresholds,
                "period_start": DateTime::<Utc>::from_timestamp_millis(*period_start),
                "resets_at": period_end.and_then(DateTime::<Utc>::from_timestamp_millis),
                "spent_usd": format_usd(from_picos(spent)), "reserved_usd": format_usd(from_picos(reserved)),
                "remaining_usd": format_usd(from_picos((limit - spent - reserved).max(0))),
            })
        }
        Account::Credit { owner, id, .. } => {
            let (balance, reserved) = state
                .store
                .balance(owner.as_str(), id)
                .await?
                .unwrap_or((0, 0));
            json!({"owner": owner, "id": id, "balance_usd": format_usd(from_picos(balance)), "reserved_usd": format_usd(from_picos(reserved)),
                "available_usd": format_usd(from_picos((balance - reserved).max(0)))})
        }
    })
}

async fn limits_json(
    state: &AppState,
    name: &str,
    limits: &Option<crate::budgets::RateLimits>,
) -> Value {
    let Some(l) = limits.as_ref().filter(|l| !l.is_empty()) else {
        return Value::Null;
    };
    let (r, in_flight) = state.limiter.remaining(name, l).await;
    json!({
        "requests_per_minute": l.requests_per_minute, "remaining_requests": l.requests_per_minute.map(|_| r.remaining_requests),
        "tokens_per_minute": l.tokens_per_minute, "remaining_tokens": l.tokens_per_minute.map(|_| r.remaining_tokens),
        "max_parallel": l.max_parallel, "in_flight": in_flight, "resets_in_seconds": r.reset_secs,
    })
}

/// `budgets`, `balance` and `rate_limit_status` of a key (its team's and the gateway's budgets
/// included, since they apply to its calls).
pub async fn key_status(state: &AppState, key: &ApiKey) -> Result<Value, ApiError> {
    let team = key.team.as_deref().and_then(|t| state.teams.get(t));
    let mut budgets = Vec::new();
    let mut balances = Vec::new();
    for account in accounts_for(
        key,
        team.as_ref(),
        &state.budgets,
        &state.credits,
        state.clock.now(),
    ) {
        let v = account_json(state, &account).await?;
        match account {
            Account::Budget { .. } => budgets.push(v),
            Account::Credit { .. } => balances.push(v),
        }
    }
    Ok(json!({
        "budgets": budgets,
        "balance": balances.iter().find(|b| b["owner"] == "key").cloned(),
        "balances": balances,
        "rate_limit_status": limits_json(state, &format!("key:{}", key.id), &key.rate_limits).await,
    }))
}

/// A team's budget, balance and rate limits.
pub async fn team_status(state: &AppState, team: &Team) -> Result<Value, ApiError> {
    let mut out = serde_json::to_value(team).unwrap_or_default();
    let now = state.clock.now();
    let budget = match &team.budget {
        Some(b) => {
            let (start, end) = period_bounds(b.period, now, state.budgets.tz);
            let account = Account::Budget {
                scope: Scope::Team,
                id: team.id.clone(),
                budget: b.clone(),
                period_start: start.timestamp_millis(),
                period_end: end.map(|e| e.timestamp_millis()),
                webhook: None,
            };
            account_json(state, &account).await?
        }
        None => Value::Null,
    };
    let balance = if state.credits.has("team", &team.id) {
        account_json(
            state,
            &Account::Credit {
                owner: Scope::Team,
                id: team.id.clone(),
                webhook: None,
            },
        )
        .await?
    } else {
        Value::Null
    };
    out["budget_status"] = budget;
    out["balance"] = balance;
    out["rate_limit_status"] =
        limits_json(state, &format!("team:{}", team.id), &team.rate_limits).await;
    Ok(out)
}
