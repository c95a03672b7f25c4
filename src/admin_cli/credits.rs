//! `tollgate credits grant|list`: prepaid credit of keys and teams.

use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::client::{CliError, Client};
use super::output::{self, cell, outln, Fields, Table};
use super::{Connection, Owner};

#[derive(Debug, Args)]
pub struct CreditsArgs {
    #[command(flatten)]
    pub conn: Connection,
    #[command(subcommand)]
    pub command: CreditsCommand,
}

#[derive(Debug, Subcommand)]
pub enum CreditsCommand {
    /// Add prepaid credit to a key or a team (an append-only ledger entry).
    Grant(GrantArgs),
    /// A key's or team's balance and its credit ledger, newest first.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct GrantArgs {
    #[command(flatten)]
    pub owner: Owner,
    /// The amount in USD (a positive decimal, at most 12 decimal places).
    #[arg(long, allow_hyphen_values = true)]
    pub amount_usd: String,
    /// Record it as a refund rather than a top-up.
    #[arg(long)]
    pub refund: bool,
    /// A note kept with the entry.
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub owner: Owner,
    /// Most ledger entries shown (1 to 1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub limit: i64,
    /// The page after this one: `next_cursor` of the previous page.
    #[arg(long)]
    pub cursor: Option<String>,
}

pub async fn run(args: CreditsArgs) -> anyhow::Result<()> {
    let conn = &args.conn;
    let client = conn.client()?;
    match args.command {
        CreditsCommand::Grant(g) => {
            let (collection, id) = g.owner.path();
            let mut body = json!({"amount_usd": g.amount_usd});
            if g.refund {
                body["kind"] = "refund".into();
            }
            if let Some(note) = g.note {
                body["note"] = note.into();
            }
            let answer = client
                .post(&["admin", collection, id, "credits"], &body)
                .await?;
            if conn.json() {
                output::print_json_text(&answer.text);
            } else {
                let a = &answer.json;
                let mut f = Fields::new();
                f.add("owner", &a["owner"])
                    .add("id", &a["id"])
                    .add("kind", &a["kind"])
                    .add("amount_usd", &a["amount_usd"])
                    .add("balance_usd", &a["balance_usd"]);
                f.print();
            }
        }
        CreditsCommand::List(l) => list(conn, &client, &l).await?,
    }
    Ok(())
}

/// `GET /admin/{keys|teams}/{id}/credits` (the balance and the ledger). A server without that
/// endpoint (it answers 405: only `POST` grants are routed there) gives the balance alone,
/// from the key's or team's status.
async fn list(conn: &Connection, client: &Client, l: &ListArgs) -> Result<(), CliError> {
    let (collection, id) = l.owner.path();
    let segments = ["admin", collection, id, "credits"];
    let mut query = vec![("limit", l.limit.to_string())];
    if let Some(c) = &l.cursor {
        query.push(("cursor", c.clone()));
    }
    let (status, text) = client
        .send_raw(Method::GET, &segments, &query, None)
        .await?;
    if status == StatusCode::METHOD_NOT_ALLOWED {
        return balance_only(conn, client, &l.owner).await;
    }
    let answer = client.answer(&Method::GET, &segments, status, text)?;
    if conn.json() {
        output::print_json_text(&answer.text);
        return Ok(());
    }
    let a = &answer.json;
    balance_fields(a).print();
    outln!();
    let mut t = Table::new(&["created_at", "kind", "amount_usd", "usage_id", "note", "id"]);
    for e in a["data"].as_array().into_iter().flatten() {
        t.row(vec![
            cell(&e["created_at"]),
            cell(&e["kind"]),
            cell(&e["amount_usd"]),
            cell(&e["usage_id"]),
            cell(&e["note"]),
            cell(&e["id"]),
        ]);
    }
    t.print("no ledger entries");
    if let Some(next) = a["next_cursor"].as_str() {
        eprintln!("(more entries: --cursor {next})");
    }
    Ok(())
}

fn balance_fields(a: &Value) -> Fields {
    let mut f = Fields::new();
    f.add("owner", &a["owner"])
        .add("id", &a["id"])
        .add("balance_usd", &a["balance_usd"])
        .add("reserved_usd", &a["reserved_usd"])
        .add("available_usd", &a["available_usd"]);
    f
}

/// The balance from `GET /admin/keys/{id}` (`balance`) or `/admin/teams/{id}` (`balance`).
async fn balance_only(conn: &Connection, client: &Client, owner: &Owner) -> Result<(), CliError> {
    let (collection, id) = owner.path();
    let answer = client.get(&["admin", collection, id]).await?;
    let balance = answer.json["balance"].clone();
    if conn.json() {
        output::print_json(&balance);
        return Ok(());
    }
    if balance.is_null() {
        outln!("{} {id} has no prepaid balance", owner.kind());
    } else {
        balance_fields(&balance).print();
    }
    eprintln!("(this server does not list credit ledgers; the balance only)");
    Ok(())
}
