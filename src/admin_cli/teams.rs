//! `tollgate teams create|list|show|update|delete`.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::output::{self, budget_spec, cell, outln, rate_limits, Fields, Table};
use super::{metadata, object, BudgetFlags, Connection, RateFlags};

#[derive(Debug, Args)]
pub struct TeamsArgs {
    #[command(flatten)]
    pub conn: Connection,
    #[command(subcommand)]
    pub command: TeamsCommand,
}

#[derive(Debug, Subcommand)]
pub enum TeamsCommand {
    /// Create a team (keys join it with `keys create --team`).
    Create(CreateArgs),
    /// List teams.
    List,
    /// One team with its budget status, balance and rate limits.
    Show { id: String },
    /// Change a team's name, webhook, metadata or rate limits (budgets: `tollgate budgets`).
    Update(UpdateArgs),
    /// Delete a team no live key belongs to.
    Delete { id: String },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Its id: letters, digits, '.', '_', '-' or ':'.
    pub id: String,
    /// A display name (default: the id).
    #[arg(long)]
    pub name: Option<String>,
    /// Where its keys' alerts go (unless a key names its own).
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// A JSON object kept with the team.
    #[arg(long)]
    pub metadata: Option<String>,
    #[command(flatten)]
    pub budget: BudgetFlags,
    #[command(flatten)]
    pub rate: RateFlags,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    pub id: String,
    #[arg(long)]
    pub name: Option<String>,
    /// A new webhook URL; `none` removes it.
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// A JSON object replacing the team's metadata.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Replace the rate limits with these (the ones not given are lifted).
    #[command(flatten)]
    pub rate: RateFlags,
    /// Lift every rate limit.
    #[arg(long, conflicts_with_all = ["rpm", "tpm", "max_parallel"])]
    pub no_rate_limits: bool,
}

fn team_fields(t: &Value) -> Fields {
    let mut f = Fields::new();
    f.add("id", &t["id"])
        .add("name", &t["name"])
        .text("budget", budget_spec(&t["budget"]))
        .text("rate_limits", rate_limits(&t["rate_limits"]))
        .add("webhook_url", &t["webhook_url"])
        .add("metadata", &t["metadata"])
        .add("created_at", &t["created_at"]);
    f
}

/// A team with its budget status and balance, as `GET /admin/teams/{id}` gives it.
fn print_team_status(t: &Value) {
    let mut f = team_fields(t);
    let s = &t["budget_status"];
    if !s.is_null() {
        f.add("spent_usd", &s["spent_usd"])
            .add("reserved_usd", &s["reserved_usd"])
            .add("remaining_usd", &s["remaining_usd"])
            .add("period_start", &s["period_start"])
            .add("resets_at", &s["resets_at"]);
    }
    let b = &t["balance"];
    if !b.is_null() {
        f.add("balance_usd", &b["balance_usd"])
            .add("available_usd", &b["available_usd"]);
    }
    f.print();
}

pub async fn run(args: TeamsArgs) -> anyhow::Result<()> {
    let conn = &args.conn;
    let client = conn.client()?;
    let answer = match args.command {
        TeamsCommand::Create(c) => {
            let body = object(vec![
                ("id", Some(json!(c.id))),
                ("name", c.name.map(Value::from)),
                ("webhook_url", c.webhook_url.map(Value::from)),
                ("metadata", c.metadata.as_deref().map(metadata).transpose()?),
                ("budget", c.budget.to_json()),
                ("rate_limits", c.rate.to_json()),
            ]);
            client.post(&["admin", "teams"], &body).await?
        }
        TeamsCommand::List => {
            let answer = client.get(&["admin", "teams"]).await?;
            if conn.json() {
                output::print_json_text(&answer.text);
                return Ok(());
            }
            let mut t = Table::new(&[
                "id",
                "name",
                "budget",
                "rate_limits",
                "webhook_url",
                "created",
            ]);
            for team in answer.json.as_array().into_iter().flatten() {
                t.row(vec![
                    cell(&team["id"]),
                    cell(&team["name"]),
                    budget_spec(&team["budget"]),
                    rate_limits(&team["rate_limits"]),
                    cell(&team["webhook_url"]),
                    cell(&team["created_at"]),
                ]);
            }
            t.print("no teams");
            return Ok(());
        }
        TeamsCommand::Show { id } => client.get(&["admin", "teams", &id]).await?,
        TeamsCommand::Update(u) => {
            let webhook = u.webhook_url.map(|w| {
                if w == "none" {
                    Value::Null
                } else {
                    Value::from(w)
                }
            });
            let limits = if u.no_rate_limits {
                Some(Value::Null)
            } else {
                u.rate.to_json()
            };
            let body = object(vec![
                ("name", u.name.map(Value::from)),
                ("webhook_url", webhook),
                ("metadata", u.metadata.as_deref().map(metadata).transpose()?),
                ("rate_limits", limits),
            ]);
            if body.as_object().is_some_and(|o| o.is_empty()) {
                return Err(super::client::CliError::Usage(
                    "teams update: nothing to change (give --name, --webhook-url, --metadata or rate limits)"
                        .into(),
                )
                .into());
            }
            client.patch(&["admin", "teams", &u.id], &body).await?
        }
        TeamsCommand::Delete { id } => {
            let answer = client.delete(&["admin", "teams", &id]).await?;
            if conn.json() {
                // 204: no body; say what happened in JSON all the same.
                output::print_json(&json!({"id": id, "deleted": true}));
            } else {
                outln!("team {id} deleted");
            }
            debug_assert!(answer.status.is_success());
            return Ok(());
        }
    };
    if conn.json() {
        output::print_json_text(&answer.text);
    } else {
        print_team_status(&answer.json);
    }
    Ok(())
}
