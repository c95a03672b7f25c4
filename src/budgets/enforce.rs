//! Which budgets and balances a call draws on, its maximum cost, and the settlement that
//! travels with its usage record.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::{period_bounds, Budget, BudgetSettings, Mode, Team};
use crate::catalog::Model;
use crate::error::{ApiError, ErrorKind};
use crate::keys::ApiKey;
use crate::money::{format_usd, from_picos, to_picos};
use crate::pricing::Prices;

/// Whose budget or balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Key,
    Team,
    Global,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Key => "key",
            Scope::Team => "team",
            Scope::Global => "global",
        }
    }
}

/// A budget in its current period, or a prepaid balance.
#[derive(Debug, Clone)]
pub enum Account {
    Budget {
        scope: Scope,
        id: String,
        budget: Budget,
        period_start: i64,
        period_end: Option<i64>,
        webhook: Option<String>,
    },
    Credit {
        owner: Scope,
        id: String,
        webhook: Option<String>,
    },
}

impl Account {
    /// The reservation table's name for this account.
    pub fn kind(&self) -> String {
        match self {
            Account::Budget { scope, .. } => scope.as_str().to_string(),
            Account::Credit { owner, .. } => format!("{}_credit", owner.as_str()),
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Account::Budget { id, .. } | Account::Credit { id, .. } => id,
        }
    }

    pub fn period_start(&self) -> i64 {
        match self {
            Account::Budget { period_start, .. } => *period_start,
            Account::Credit { .. } => 0,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Account::Budget {
                scope: Scope::Global,
                budget,
                ..
            } => format!("the gateway's {} budget", period_word(budget)),
            Account::Budget {
                scope, id, budget, ..
            } => format!(
                "the {} budget of {} '{id}'",
                period_word(budget),
                scope.as_str()
            ),
            Account::Credit { owner, id, .. } => {
                format!("the prepaid balance of {} '{id}'", owner.as_str())
            }
        }
    }
}

fn period_word(b: &Budget) -> &'static str {
    match b.period {
        super::Period::Daily => "daily",
        super::Period::Weekly => "weekly",
        super::Period::Monthly => "monthly",
        super::Period::Total => "total",
    }
}

/// One account's part of a call: the amount reserved on it.
#[derive(Debug, Clone)]
pub struct Line {
    pub account: Account,
    pub amount_picos: i64,
}

/// An alert to write to the outbox.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub id: String,
    pub dedupe_key: String,
    pub kind: String,
    pub scope: String,
    pub scope_id: String,
    pub payload: Value,
    pub webhook_url: Option<String>,
}

impl NewAlert {
    pub fn new(
        kind: &str,
        dedupe_key: String,
        scope: &str,
        scope_id: &str,
        webhook: Option<String>,
        mut payload: Value,
    ) -> Self {
        let id = format!("alert_{}", uuid::Uuid::now_v7().simple());
        payload["id"] = id.clone().into();
        payload["type"] = kind.into();
        payload["scope"] = scope.into();
        payload["scope_id"] = scope_id.into();
        payload["created_at"] = json!(Utc::now());
        NewAlert {
            id,
            dedupe_key,
            kind: kind.into(),
            scope: scope.into(),
            scope_id: scope_id.into(),
            payload,
            webhook_url: webhook,
        }
    }
}

/// What settles with a call's usage record: its reservations, and alerts it caused.
#[derive(Debug, Clone, Default)]
pub struct Settlement {
    pub lines: Vec<Line>,
    pub alerts: Vec<NewAlert>,
    pub low_balance_picos: i64,
    /// When the call was admitted from leases (PostgreSQL, [`super::leases`]) rather than
    /// with reservation rows of its own: its uses, lowered from the leases' rows as it settles.
    pub lease: Option<std::sync::Arc<super::leases::Hold>>,
}

/// Owners (kind, id) that hold a prepaid balance.
#[derive(Clone, Default)]
pub struct CreditOwners {
    owners: Arc<RwLock<HashSet<(String, String)>>>,
}

impl CreditOwners {
    pub fn set(&self, owners: impl IntoIterator<Item = (String, String)>) {
        *self.owners.write().expect("credit lock poisoned") = owners.into_iter().collect();
    }

    pub fn add(&self, kind: &str, id: &str) {
        self.owners
            .write()
            .expect("credit lock poisoned")
            .insert((kind.into(), id.into()));
    }

    pub fn has(&self, kind: &str, id: &str) -> bool {
        self.owners
            .read()
            .expect("credit lock poisoned")
            .contains(&(kind.to_string(), id.to_string()))
    }
}

fn webhook(key: &ApiKey, team: Option<&Team>, settings: &BudgetSettings) -> Option<String> {
    key.webhook_url
        .clone()
        .or_else(|| team.and_then(|t| t.webhook_url.clone()))
        .or_else(|| settings.webhook_url.clone())
}

/// Every budget and balance a call by `key` draws on, at `now`.
pub fn accounts_for(
    key: &ApiKey,
    team: Option<&Team>,
    settings: &BudgetSettings,
    credits: &CreditOwners,
    now: DateTime<Utc>,
) -> Vec<Account> {
    let hook = webhook(key, team, settings);
    let team_hook = team
        .and_then(|t| t.webhook_url.clone())
        .or_else(|| settings.webhook_url.clone());
    let budget = |scope: Scope, id: &str, b: &Budget, hook: Option<String>| {
        let (start, end) = period_bounds(b.period, now, settings.tz);
        Account::Budget {
            scope,
            id: id.to_string(),
            budget: b.clone(),
            period_start: start.timestamp_millis(),
            period_end: end.map(|e| e.timestamp_millis()),
            webhook: hook,
        }
    };
    let mut out = Vec::new();
    if let Some(b) = &key.budget {
        out.push(budget(Scope::Key, &key.id, b, hook.clone()));
    }
    if let Some(t) = team {
        if let Some(b) = &t.budget {
            out.push(budget(Scope::Team, &t.id, b, team_hook.clone()));
        }
    }
    if let Some(b) = &settings.global {
        out.push(budget(
            Scope::Global,
            "global",
            b,
            settings.webhook_url.clone(),
        ));
    }
    if credits.has("key", &key.id) {
        out.push(Account::Credit {
            owner: Scope::Key,
            id: key.id.clone(),
            webhook: hook,
        });
    }
    if let Some(t) = team.filter(|t| credits.has("team", &t.id)) {
        out.push(Account::Credit {
            owner: Scope::Team,
            id: t.id.clone(),
            webhook: team_hook,
        });
    }
    out
}

/// Tokens that bound an image's input cost (no provider charges more for one image).
const IMAGE_TOKENS: u64 = 8_000;

/// Input tokens reserved for each server-side tool a request names (web search, code
/// execution, ...): the provider adds their results to the prompt, which no local count can
/// see. A call that uses more is recorded at its real cost and raises `budget.overrun`.
pub const SERVER_TOOL_TOKENS: u64 = 50_000;

/// An upper bound on a request's input tokens without running a tokenizer: every token of a
/// byte-level BPE is at least one byte, so the UTF-8 bytes of every string the body holds (in
/// any field: messages, system, tools, legacy `functions`, ...) plus framing can only
/// overestimate. An image block counts a fixed bound instead of its bytes; a server-side tool
/// counts [`SERVER_TOOL_TOKENS`].
pub fn input_bound(body: &Value) -> u64 {
    fn walk(v: &Value, images: &mut u64) -> u64 {
        match v {
            Value::String(s) => s.len() as u64,
            Value::Array(items) => items.iter().map(|i| walk(i, images)).sum(),
            Value::Object(map) => {
                if matches!(
                    map.get("type").and_then(Value::as_str),
                    Some("image" | "image_url" | "input_image")
                ) {
                    *images += 1;
                    return 0;
                }
                map.iter()
                    .map(|(k, v)| k.len() as u64 + walk(v, images))
                    .sum()
            }
            _ => 8,
        }
    }
    let mut images = 0;
    let total = 16 + walk(body, &mut images);
    let messages = body
        .get("messages")
        .or_else(|| body.get("input"))
        .and_then(Value::as_array)
        .map_or(0, Vec::len) as u64;
    total + messages * 8 + images * IMAGE_TOKENS + server_tools(body) * SERVER_TOOL_TOKENS
}

/// Server-side tools in a request: tools whose `type` is neither a function nor a custom tool.
pub fn server_tools(body: &Value) -> u64 {
    body.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| {
            t.get("type")
                .and_then(Value::as_str)
                .is_some_and(|k| !matches!(k, "function" | "custom"))
        })
        .count() as u64
}

/// How many answers the call asks for (OpenAI's `n`; validated to `1..=128` on admission).
pub fn choices(body: &Value) -> u64 {
    body.get("n").and_then(Value::as_u64).unwrap_or(1).max(1)
}

/// The most output one answer can have, and whether the gateway must set the cap itself to
/// make that bound hold (an OpenAI request that names none). When a request names both
/// `max_tokens` and `max_completion_tokens`, the larger bounds it (an upstream honours one).
pub fn output_bound(body: &Value, model: &Model) -> (u64, bool) {
    let asked = ["max_completion_tokens", "max_tokens", "max_output_tokens"]
        .iter()
        .filter_map(|f| body.get(*f).and_then(Value::as_u64))
        .max();
    match asked {
        Some(n) => (n, false),
        None => (
            model
                .max_output_tokens
                .map_or(crate::protocol::anthropic::DEFAULT_MAX_TOKENS, u64::from),
            true,
        ),
    }
}

/// The largest cost a call with these bounds can have under `prices`: every input token at the
/// dearest input-side rate and every output token at the dearest output-side rate, over the
/// base rates and every tier, plus fees.
pub fn max_cost(prices: &Prices, input: u64, output: u64, images: u64) -> i64 {
    // The tier a call is served in is known only from its answer: bound it by every tier
    // whose prices could be charged.
    let in_tiers = prices.service_tiers.iter().filter(|s| s.tier.is_applied());
    in_tiers
        .map(|s| max_cost_in(&s.as_prices(prices), input, output, images))
        .fold(max_cost_in(prices, input, output, images), i64::max)
}

fn max_cost_in(prices: &Prices, input: u64, output: u64, images: u64) -> i64 {
    let mut rates = vec![prices.base_rates()];
    rates.extend(prices.tiers.iter().map(|t| {
        let mut p = prices.clone();
        p.tiers = vec![];
        p.input_per_mtok = t.input_per_mtok;
        p.output_per_mtok = t.output_per_mtok;
        p.cached_input_per_mtok = t.cached_input_per_mtok;
        p.cache_write_per_mtok = t.cache_write_per_mtok;
        p.cache_write_1h_per_mtok = t.cache_write_1h_per_mtok;
        p.reasoning_per_mtok = t.reasoning_per_mtok;
        p.base_rates()
    }));
    let worst = rates
        .iter()
        .map(|r| {
            let input_rate = r
                .input
                .max(r.cached_input)
                .max(r.cache_write)
                .max(r.cache_write_1h);
            let output_rate = r.output.max(r.reasoning);
            (rust_decimal::Decimal::from(input) * input_rate
                + rust_decimal::Decimal::from(output) * output_rate)
                / rust_decimal::Decimal::from(1_000_000)
        })
        .max()
        .unwrap_or_default();
    let total = worst + prices.per_request + rust_decimal::Decimal::from(images) * prices.per_image;
    // A bound too large for the ledger is refused by every budget (it exceeds any limit).
    to_picos(total.round_dp(12)).unwrap_or(i64::MAX)
}

/// 402 in the endpoint's format, naming the budget and what remains of it.
pub fn refusal(account: &Account, remaining_picos: i64, needed_picos: i64) -> ApiError {
    ApiError::new(
        ErrorKind::PaymentRequired,
        "budget_exceeded",
        format!(
            "{} does not cover this call: {} USD remains, and the call may cost up to {} USD",
            account.describe(),
            format_usd(from_picos(remaining_picos.max(0))),
            format_usd(from_picos(needed_picos))
        ),
    )
}

/// Alerts a settlement of `cost` on a budget raises: thresholds crossed (once per threshold per
/// period, by the outbox's dedupe key) and a projected overrun.
pub fn budget_alerts(account: &Account, before: i64, after: i64, now: i64) -> Vec<NewAlert> {
    let Account::Budget {
        scope,
        id,
        budget,
        period_start,
        period_end,
        webhook,
    } = account
    else {
        return vec![];
    };
    let limit = budget.limit_picos();
    let mut out = Vec::new();
    let base = |extra: Value| {
        let mut v = json!({"budget": budget, "period_start": DateTime::<Utc>::from_timestamp_millis(*period_start),
            "period_end": period_end.and_then(DateTime::<Utc>::from_timestamp_millis),
            "limit_usd": format_usd(from_picos(limit)), "spent_usd": format_usd(from_picos(after))});
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        v
    };
    for t in budget.thresholds() {
        let mark = (rust_decimal::Decimal::from(limit) * t).ceil();
        let crossed = rust_decimal::Decimal::from(before) < mark
            && rust_decimal::Decimal::from(after) >= mark;
        if crossed {
            out.push(NewAlert::new(
                "budget.threshold_crossed",
                format!("threshold:{}:{id}:{period_start}:{t}", scope.as_str()),
                scope.as_str(),
                id,
                webhook.clone(),
                base(json!({"threshold": t})),
            ));
        }
    }
    if let Some(end) = period_end {
        let elapsed = now - period_start;
        let length = end - period_start;
        if elapsed * 10 >= length && after < limit && elapsed > 0 {
            let projected = i128::from(after) * i128::from(length) / i128::from(elapsed);
            if projected > i128::from(limit) {
                let p = i64::try_from(projected).unwrap_or(i64::MAX);
                out.push(NewAlert::new(
                    "budget.projected_exhaustion",
                    super::bounds::projection_key(scope, id, *period_start),
                    scope.as_str(),
                    id,
                    webhook.clone(),
                    base(json!({"projected_usd": format_usd(from_picos(p))})),
                ));
            }
        }
    }
    out
}

/// Whom an alert about `account` concerns: its scope (`key`, `team`, `global`, `key_credit`,
/// …), id and webhook.
fn alert_target(account: &Account) -> (String, String, Option<String>) {
    match account {
        Account::Budget {
            scope, id, webhook, ..
        } => (scope.as_str().to_string(), id.clone(), webhook.clone()),
        Account::Credit { owner, id, webhook } => (
            format!("{}_credit", owner.as_str()),
            id.clone(),
            webhook.clone(),
        ),
    }
}

/// The alert for a call that cost more than it reserved (an upstream that ignored the output
/// cap, or billed input the gateway could not see): once per call and account. The account
/// is over its limit until spend falls back under it, so further calls are refused.
pub fn overrun_alert(account: &Account, call_id: &str, reserved: i64, cost: i64) -> NewAlert {
    let (scope, id, hook) = alert_target(account);
    NewAlert::new(
        "budget.overrun",
        format!("overrun:{scope}:{id}:{call_id}"),
        &scope,
        &id,
        hook,
        json!({"message": account.describe(), "call_id": call_id,
            "reserved_usd": format_usd(from_picos(reserved)),
            "cost_usd": format_usd(from_picos(cost))}),
    )
}

/// The alert for a refused call (once per budget per period).
pub fn refusal_alert(account: &Account, remaining: i64, needed: i64) -> NewAlert {
    let (scope, id, hook) = alert_target(account);
    let mode = match account {
        Account::Budget { budget, .. } => budget.mode,
        Account::Credit { .. } => Mode::Hard,
    };
    NewAlert::new(
        "budget.hard_refusal",
        format!("refusal:{scope}:{id}:{}", account.period_start()),
        &scope,
        &id,
        hook,
        json!({"message": account.describe(), "mode": mode, "remaining_usd": format_usd(from_picos(remaining.max(0))), "needed_usd": format_usd(from_picos(needed))}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budgets::Period;
    use std::str::FromStr;

    fn account(limit: &str) -> Account {
        let budget = Budget {
            limit_usd: rust_decimal::Decimal::from_str(limit).unwrap(),
            period: Period::Daily,
            mode: Mode::Hard,
            alert_thresholds: vec![0.5, 0.8, 1.0],
        };
        Account::Budget {
            scope: Scope::Key,
            id: "k".into(),
            budget,
            period_start: 0,
            period_end: Some(1000),
            webhook: None,
        }
    }

    fn kinds(alerts: &[NewAlert]) -> Vec<String> {
        alerts.iter().map(|a| a.dedupe_key.clone()).collect()
    }

    #[test]
    fn thresholds_fire_when_crossed_not_when_above() {
        let a = account("0.000000000100"); // 100 picodollars
        assert_eq!(
            kinds(&budget_alerts(&a, 40, 60, 1)),
            vec!["threshold:key:k:0:0.5"]
        );
        assert!(budget_alerts(&a, 60, 70, 1).is_empty());
        assert_eq!(
            kinds(&budget_alerts(&a, 70, 100, 1)),
            vec!["threshold:key:k:0:0.8", "threshold:key:k:0:1"]
        );
    }

    #[test]
    fn a_fast_burn_projects_exhaustion() {
        let a = account("0.000000000100");
        // 30 of 100 spent after 20 % of the period: on course for 150.
        assert_eq!(
            kinds(&budget_alerts(&a, 25, 30, 200)),
            vec!["projected:key:k:0"]
        );
        // The same spend after 60 % of the period is on course for 50: no alert.
        assert!(budget_alerts(&a, 25, 30, 600).is_empty());
        // Too early in the period to judge (under 10 %).
        assert!(budget_alerts(&a, 25, 30, 50).is_empty());
    }

    #[test]
    fn max_cost_takes_the_dearest_rates() {
        let p = Prices {
            input_per_mtok: "1".parse().unwrap(),
            output_per_mtok: "2".parse().unwrap(),
            cached_input_per_mtok: None,
            cache_write_per_mtok: Some("3".parse().unwrap()),
            cache_write_1h_per_mtok: None,
            reasoning_per_mtok: Some("5".parse().unwrap()),
            per_request: "0.01".parse().unwrap(),
            per_image: "0".parse().unwrap(),
            per_web_search: "0".parse().unwrap(),
            tiers: vec![],
            service_tiers: vec![],
            effective_from: None,
        };
        // 1000 × 3 + 1000 × 5 = 8000 / 1M = 0.008, plus the 0.01 fee.
        assert_eq!(
            max_cost(&p, 1000, 1000, 0),
            to_picos("0.018".parse().unwrap()).unwrap()
        );
        // A dearer 1-hour write rate bounds every input token: 1000 × 4 + 1000 × 5.
        let p = Prices {
            cache_write_1h_per_mtok: Some("4".parse().unwrap()),
            ..p
        };
        assert_eq!(
            max_cost(&p, 1000, 1000, 0),
            to_picos("0.019".parse().unwrap()).unwrap()
        );
    }

    #[test]
    fn input_bound_counts_every_field_and_data_text() {
        let text = "data: ".to_string() + &"word ".repeat(2000);
        let functions = json!({"messages": [{"role": "user", "content": "hi"}],
            "functions": [{"name": "f", "description": "x".repeat(40_000), "parameters": {}}]});
        assert!(input_bound(&functions) > 40_000);
        let data_text = json!({"messages": [{"role": "user", "content": text}]});
        assert!(input_bound(&data_text) >= crate::gateway::tokens::count_request(&data_text));
        assert!(input_bound(&data_text) > 10_000);
        let server = json!({"messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "web_search_20250305", "name": "web_search"}]});
        assert!(input_bound(&server) >= SERVER_TOOL_TOKENS);
    }

    #[test]
    fn input_bound_is_at_least_the_tokens() {
        let body = json!({"messages": [{"role": "user", "content": "hello world, this is a test of the bound"}]});
        assert!(input_bound(&body) >= crate::gateway::tokens::count_request(&body));
        let with_image = json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]});
        assert!(input_bound(&with_image) >= IMAGE_TOKENS);
    }
}
