//! `tollgate alerts list`: the alert outbox, newest first, with each alert's delivery state.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::output::{self, cell, Table};
use super::Connection;

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub conn: Connection,
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Alerts, newest first: budget thresholds, refusals, overruns, low balances, price drift.
    List {
        /// Most alerts shown (1 to 1000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
    },
}

/// What an alert says, in a few words, from its payload.
fn summary(a: &Value) -> String {
    let p = &a["payload"];
    let message = cell(&p["message"]);
    match a["type"].as_str().unwrap_or_default() {
        "budget.hard_refusal" => format!(
            "{message}: a call needed {} USD, {} USD left",
            cell(&p["needed_usd"]),
            cell(&p["remaining_usd"])
        ),
        "budget.overrun" => format!(
            "{message}: call {} cost {} USD, {} USD reserved",
            cell(&p["call_id"]),
            cell(&p["cost_usd"]),
            cell(&p["reserved_usd"])
        ),
        "balance.low" => format!(
            "balance {} USD, below {} USD",
            cell(&p["balance_usd"]),
            cell(&p["low_balance_usd"])
        ),
        "budget.threshold_crossed" => format!(
            "{} of the limit crossed: {} of {} USD spent",
            cell(&p["threshold"]),
            cell(&p["spent_usd"]),
            cell(&p["limit_usd"])
        ),
        "budget.projected_exhaustion" => format!(
            "projected {} USD of a {} USD limit ({} spent)",
            cell(&p["projected_usd"]),
            cell(&p["limit_usd"]),
            cell(&p["spent_usd"])
        ),
        "catalog.price_drift" => {
            format!("{} prices differ from the pinned ones", cell(&p["source"]))
        }
        _ if p["message"].is_string() => message,
        _ => {
            let text = cell(p);
            match text.char_indices().nth(100) {
                Some((i, _)) => format!("{}…", &text[..i]),
                None => text,
            }
        }
    }
}

pub async fn run(args: AlertsArgs) -> anyhow::Result<()> {
    let conn = &args.conn;
    let client = conn.client()?;
    let AlertsCommand::List { limit } = args.command;
    let answer = client
        .get_query(&["admin", "alerts"], &[("limit", limit.to_string())])
        .await?;
    if conn.json() {
        output::print_json_text(&answer.text);
        return Ok(());
    }
    let mut t = Table::new(&[
        "created_at",
        "type",
        "scope",
        "scope_id",
        "delivery",
        "attempts",
        "summary",
    ]);
    for a in answer.json["data"].as_array().into_iter().flatten() {
        t.row(vec![
            cell(&a["created_at"]),
            cell(&a["type"]),
            cell(&a["scope"]),
            cell(&a["scope_id"]),
            cell(&a["delivery"]["state"]),
            cell(&a["delivery"]["attempts"]),
            summary(a),
        ]);
    }
    t.print("no alerts");
    Ok(())
}
