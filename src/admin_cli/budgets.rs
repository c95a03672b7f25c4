//! `tollgate budgets list|show|set|clear`: the budgets of keys and teams (`PATCH` of their
//! `budget`), and what is spent of them this period.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::output::{self, budget_spec, cell, outln, Table};
use super::{budget_json, Connection, Mode, Owner, Period};

#[derive(Debug, Args)]
pub struct BudgetsArgs {
    #[command(flatten)]
    pub conn: Connection,
    #[command(subcommand)]
    pub command: BudgetsCommand,
}

#[derive(Debug, Subcommand)]
pub enum BudgetsCommand {
    /// Every key and team that has a budget, with its limit, period and mode.
    List,
    /// The budgets that apply to a key (its own, its team's, the gateway's) or a team's, with
    /// spend and reservations this period and what remains.
    Show(Owner),
    /// Set (or replace) the budget of a key or a team.
    Set(SetArgs),
    /// Remove the budget of a key or a team.
    Clear(Owner),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub owner: Owner,
    /// The limit in USD (a decimal, e.g. 25.00).
    #[arg(long, allow_hyphen_values = true)]
    pub limit_usd: String,
    /// The period whose spend counts against the limit.
    #[arg(long, value_enum)]
    pub period: Period,
    /// hard refuses calls that could exceed it; soft only alerts (server default: hard).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Fractions of the limit whose crossing raises an alert, comma-separated (server default:
    /// 0.5,0.8,1).
    #[arg(long, value_delimiter = ',')]
    pub alert_thresholds: Option<Vec<f64>>,
}

/// A table of budget statuses, as `GET /admin/keys/{id}` (`budgets`) and `GET
/// /admin/teams/{id}` (`budget_status`) give them.
pub fn status_table(budgets: &[Value]) -> Table {
    let mut t = Table::new(&[
        "scope",
        "id",
        "limit_usd",
        "period",
        "mode",
        "spent_usd",
        "reserved_usd",
        "remaining_usd",
        "resets_at",
    ]);
    for b in budgets {
        t.row(vec![
            cell(&b["scope"]),
            cell(&b["id"]),
            cell(&b["limit_usd"]),
            cell(&b["period"]),
            cell(&b["mode"]),
            cell(&b["spent_usd"]),
            cell(&b["reserved_usd"]),
            cell(&b["remaining_usd"]),
            cell(&b["resets_at"]),
        ]);
    }
    t
}

pub async fn run(args: BudgetsArgs) -> anyhow::Result<()> {
    let conn = &args.conn;
    let client = conn.client()?;
    match args.command {
        BudgetsCommand::List => {
            let keys = client.get(&["admin", "keys"]).await?.json;
            let teams = client.get(&["admin", "teams"]).await?.json;
            let mut rows = Vec::new();
            for (scope, list) in [("key", &keys), ("team", &teams)] {
                for item in list.as_array().into_iter().flatten() {
                    if !item["budget"].is_null() {
                        rows.push(json!({"scope": scope, "id": item["id"], "name": item["name"], "budget": item["budget"]}));
                    }
                }
            }
            if conn.json() {
                output::print_json(&Value::Array(rows));
                return Ok(());
            }
            let mut t = Table::new(&["scope", "id", "name", "budget", "alert_thresholds"]);
            for r in &rows {
                t.row(vec![
                    cell(&r["scope"]),
                    cell(&r["id"]),
                    cell(&r["name"]),
                    budget_spec(&r["budget"]),
                    cell(&r["budget"]["alert_thresholds"]),
                ]);
            }
            t.print("no key or team has a budget");
        }
        BudgetsCommand::Show(owner) => {
            let (collection, id) = owner.path();
            let answer = client.get(&["admin", collection, id]).await?;
            let statuses: Vec<Value> = match collection {
                "keys" => answer.json["budgets"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
                _ => Some(answer.json["budget_status"].clone())
                    .filter(|b| !b.is_null())
                    .into_iter()
                    .collect(),
            };
            if conn.json() {
                output::print_json(&Value::Array(statuses));
            } else {
                status_table(&statuses)
                    .print(&format!("no budget applies to {} {id}", owner.kind()));
            }
        }
        BudgetsCommand::Set(s) => {
            let (collection, id) = s.owner.path();
            let budget = budget_json(
                &s.limit_usd,
                s.period,
                s.mode,
                s.alert_thresholds.as_deref(),
            );
            let answer = client
                .patch(&["admin", collection, id], &json!({ "budget": budget }))
                .await?;
            if conn.json() {
                output::print_json_text(&answer.text);
            } else {
                outln!(
                    "{} {id}: budget {} (alerts at {})",
                    s.owner.kind(),
                    budget_spec(&answer.json["budget"]),
                    cell(&answer.json["budget"]["alert_thresholds"])
                );
            }
        }
        BudgetsCommand::Clear(owner) => {
            let (collection, id) = owner.path();
            let answer = client
                .patch(&["admin", collection, id], &json!({ "budget": null }))
                .await?;
            if conn.json() {
                output::print_json_text(&answer.text);
            } else {
                outln!("{} {id}: no budget", owner.kind());
            }
        }
    }
    Ok(())
}
