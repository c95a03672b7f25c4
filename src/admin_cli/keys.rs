//! `tollgate keys create|list|show|disable|enable|revoke`.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::output::{self, budget_spec, cell, outln, rate_limits, Fields, Table};
use super::{metadata, object, BudgetFlags, Connection, RateFlags};

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub conn: Connection,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its secret (shown this once only).
    Create(CreateArgs),
    /// List keys (never their secrets), oldest first.
    List(ListArgs),
    /// One key with its budgets, spend this period, balance and rate limits.
    Show { id: String },
    /// Disable a key: its calls are refused until it is enabled again.
    Disable { id: String },
    /// Enable a disabled key (a revoked key cannot be).
    Enable { id: String },
    /// Revoke a key for good: it stops working at once; its history stays.
    Revoke { id: String },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A name to recognise the key by.
    #[arg(long)]
    pub name: String,
    /// The team it belongs to (created with `tollgate teams create`).
    #[arg(long)]
    pub team: Option<String>,
    /// Models it may call (catalog ids, comma-separated); every model when omitted.
    #[arg(long, value_delimiter = ',')]
    pub allowed_models: Option<Vec<String>>,
    /// When it stops working (RFC 3339, e.g. 2026-12-31T23:59:59Z).
    #[arg(long)]
    pub expires_at: Option<String>,
    /// A JSON object kept with the key.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Where its alerts go (else its team's, else the gateway's webhook).
    #[arg(long)]
    pub webhook_url: Option<String>,
    #[command(flatten)]
    pub budget: BudgetFlags,
    #[command(flatten)]
    pub rate: RateFlags,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the keys of this team.
    #[arg(long)]
    pub team: Option<String>,
    /// Only keys that work now (not disabled, revoked or expired).
    #[arg(long)]
    pub active: bool,
}

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let conn = &args.conn;
    let client = conn.client()?;
    match args.command {
        KeysCommand::Create(c) => {
            let body = object(vec![
                ("name", Some(json!(c.name))),
                ("team", c.team.map(Value::from)),
                ("allowed_models", c.allowed_models.map(|m| json!(m))),
                ("expires_at", c.expires_at.map(Value::from)),
                ("metadata", c.metadata.as_deref().map(metadata).transpose()?),
                ("webhook_url", c.webhook_url.map(Value::from)),
                ("budget", c.budget.to_json()),
                ("rate_limits", c.rate.to_json()),
            ]);
            let answer = client.post(&["admin", "keys"], &body).await?;
            if conn.json() {
                output::print_json_text(&answer.text);
            } else {
                let k = &answer.json;
                let mut f = key_fields(k);
                f.text("secret", cell(&k["key"]));
                f.print();
            }
            eprintln!(
                "The secret (\"key\") is shown only this once: store it now, it cannot be shown again."
            );
        }
        KeysCommand::List(l) => {
            let answer = client.get(&["admin", "keys"]).await?;
            let all = answer.json.as_array().cloned().unwrap_or_default();
            let now = chrono::Utc::now();
            let filtered = l.team.is_some() || l.active;
            let keys: Vec<Value> = all
                .into_iter()
                .filter(|k| l.team.as_deref().is_none_or(|t| k["team"] == t))
                .filter(|k| !l.active || state(k, now) == "active")
                .collect();
            if conn.json() {
                if filtered {
                    output::print_json(&Value::Array(keys));
                } else {
                    output::print_json_text(&answer.text);
                }
                return Ok(());
            }
            let mut t = Table::new(&[
                "id", "name", "team", "prefix", "state", "budget", "expires", "created",
            ]);
            for k in &keys {
                t.row(vec![
                    cell(&k["id"]),
                    cell(&k["name"]),
                    cell(&k["team"]),
                    cell(&k["key_prefix"]),
                    state(k, now).into(),
                    budget_spec(&k["budget"]),
                    cell(&k["expires_at"]),
                    cell(&k["created_at"]),
                ]);
            }
            t.print("no keys");
        }
        KeysCommand::Show { id } => {
            let answer = client.get(&["admin", "keys", &id]).await?;
            if conn.json() {
                output::print_json_text(&answer.text);
            } else {
                print_key_status(&answer.json);
            }
        }
        KeysCommand::Disable { id } => {
            let answer = client
                .patch(&["admin", "keys", &id], &json!({"disabled": true}))
                .await?;
            print_changed(conn.json(), &answer, "disabled");
        }
        KeysCommand::Enable { id } => {
            let answer = client
                .patch(&["admin", "keys", &id], &json!({"disabled": false}))
                .await?;
            print_changed(conn.json(), &answer, "enabled");
        }
        KeysCommand::Revoke { id } => {
            let answer = client.delete(&["admin", "keys", &id]).await?;
            print_changed(conn.json(), &answer, "revoked");
        }
    }
    Ok(())
}

/// What a key is now: `active`, `disabled`, `revoked` or `expired`.
pub fn state(k: &Value, now: chrono::DateTime<chrono::Utc>) -> &'static str {
    let expired = k["expires_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| t <= now);
    if !k["revoked_at"].is_null() {
        "revoked"
    } else if k["disabled"] == true {
        "disabled"
    } else if expired {
        "expired"
    } else {
        "active"
    }
}

/// A key's own fields (as `GET /admin/keys` lists them).
fn key_fields(k: &Value) -> Fields {
    let mut f = Fields::new();
    f.add("id", &k["id"])
        .add("name", &k["name"])
        .add("team", &k["team"])
        .add("key_prefix", &k["key_prefix"])
        .text("state", state(k, chrono::Utc::now()))
        .add("allowed_models", &k["allowed_models"])
        .add("expires_at", &k["expires_at"])
        .add("revoked_at", &k["revoked_at"])
        .text("budget", budget_spec(&k["budget"]))
        .text("rate_limits", rate_limits(&k["rate_limits"]))
        .add("webhook_url", &k["webhook_url"])
        .add("metadata", &k["metadata"])
        .add("created_at", &k["created_at"]);
    f
}

/// A key after a change.
fn print_changed(json: bool, answer: &super::client::Answer, what: &str) {
    if json {
        output::print_json_text(&answer.text);
    } else {
        key_fields(&answer.json).print();
        eprintln!("key {} {what}", cell(&answer.json["id"]));
    }
}

/// A key with its budgets (its own, its team's, the gateway's), balance and rate limits.
fn print_key_status(k: &Value) {
    key_fields(k).print();
    let mut balances = Table::new(&[
        "owner",
        "id",
        "balance_usd",
        "reserved_usd",
        "available_usd",
    ]);
    for b in k["balances"].as_array().into_iter().flatten() {
        balances.row(vec![
            cell(&b["owner"]),
            cell(&b["id"]),
            cell(&b["balance_usd"]),
            cell(&b["reserved_usd"]),
            cell(&b["available_usd"]),
        ]);
    }
    outln!();
    super::budgets::status_table(k["budgets"].as_array().map_or(&[][..], |b| b.as_slice()))
        .print("budgets: none");
    outln!();
    balances.print("prepaid balance: none");
    let limits = &k["rate_limit_status"];
    if !limits.is_null() {
        outln!();
        let mut f = Fields::new();
        f.add("requests_per_minute", &limits["requests_per_minute"])
            .add("remaining_requests", &limits["remaining_requests"])
            .add("tokens_per_minute", &limits["tokens_per_minute"])
            .add("remaining_tokens", &limits["remaining_tokens"])
            .add("max_parallel", &limits["max_parallel"])
            .add("in_flight", &limits["in_flight"]);
        f.print();
    }
}
