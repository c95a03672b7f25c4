//! `tollgate models list|show|price add|related set`.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::client::CliError;
use super::output::{self, cell, outln, Fields, Table};
use super::Connection;

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    pub conn: Connection,
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List catalog models with their current prices (GET /v1/models).
    List(ListArgs),
    /// One model (by id or alias): prices, price history, related models.
    Show { id: String },
    /// Prices of a model.
    #[command(subcommand)]
    Price(PriceCommand),
    /// Related models of a model.
    #[command(subcommand)]
    Related(RelatedCommand),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only models served by this provider id.
    #[arg(long)]
    pub provider: Option<String>,
    /// Only models with every one of these capabilities (comma-separated, e.g. tools,vision).
    #[arg(long)]
    pub capability: Option<String>,
    /// Case-insensitive text search in id, name, creator, provider and description.
    #[arg(long)]
    pub search: Option<String>,
    /// active (default), deprecated or all.
    #[arg(long)]
    pub status: Option<String>,
    /// input_price, output_price, name or date_added (default).
    #[arg(long)]
    pub sort: Option<String>,
    /// asc or desc.
    #[arg(long)]
    pub order: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PriceCommand {
    /// Append a price version (USD per 1M tokens unless a fee), effective now or at
    /// --effective-from, which must be later than the latest version's.
    Add(PriceArgs),
}

#[derive(Debug, Args)]
pub struct PriceArgs {
    /// The model id.
    pub id: String,
    /// Input tokens, USD per 1M.
    #[arg(long, allow_hyphen_values = true)]
    pub input_per_mtok: String,
    /// Output tokens, USD per 1M.
    #[arg(long, allow_hyphen_values = true)]
    pub output_per_mtok: String,
    /// Cache reads, USD per 1M (default: the input price).
    #[arg(long, allow_hyphen_values = true)]
    pub cached_input_per_mtok: Option<String>,
    /// Cache writes, USD per 1M (default: the input price).
    #[arg(long, allow_hyphen_values = true)]
    pub cache_write_per_mtok: Option<String>,
    /// One-hour cache writes, USD per 1M (default: the cache-write price).
    #[arg(long = "cache-write-1h-per-mtok", allow_hyphen_values = true)]
    pub cache_write_1h_per_mtok: Option<String>,
    /// Reasoning tokens, USD per 1M (default: the output price).
    #[arg(long, allow_hyphen_values = true)]
    pub reasoning_per_mtok: Option<String>,
    /// Flat fee per call, USD.
    #[arg(long, allow_hyphen_values = true)]
    pub per_request: Option<String>,
    /// Fee per input image, USD.
    #[arg(long, allow_hyphen_values = true)]
    pub per_image: Option<String>,
    /// Long-context tiers, as the API's JSON list:
    /// '[{"above_input_tokens":200000,"input_per_mtok":"4","output_per_mtok":"18"}]'.
    #[arg(long)]
    pub tiers: Option<String>,
    /// When it takes effect (RFC 3339; default now).
    #[arg(long)]
    pub effective_from: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RelatedCommand {
    /// Replace a model's related list with the ids given, in display order (none: clear it).
    Set {
        /// The model id.
        id: String,
        /// Related model ids.
        related: Vec<String>,
    },
}

/// A price as `input / output` per 1M tokens, or `-` when unpriced.
fn price(p: &Value) -> (String, String) {
    if p.is_null() {
        ("-".into(), "-".into())
    } else {
        (cell(&p["input_per_mtok"]), cell(&p["output_per_mtok"]))
    }
}

fn price_table(prices: &[Value]) -> Table {
    let mut t = Table::new(&[
        "id",
        "effective_from",
        "input",
        "output",
        "cached_input",
        "cache_write",
        "reasoning",
        "per_request",
        "per_image",
        "tiers",
        "source",
    ]);
    for p in prices {
        t.row(vec![
            cell(&p["id"]),
            cell(&p["effective_from"]),
            cell(&p["input_per_mtok"]),
            cell(&p["output_per_mtok"]),
            cell(&p["cached_input_per_mtok"]),
            cell(&p["cache_write_per_mtok"]),
            cell(&p["reasoning_per_mtok"]),
            cell(&p["per_request"]),
            cell(&p["per_image"]),
            p["tiers"].as_array().map_or(0, Vec::len).to_string(),
            cell(&p["source"]),
        ]);
    }
    t
}

fn related_table(related: &[Value]) -> Table {
    let mut t = Table::new(&["id", "name", "provider", "input", "output"]);
    for r in related {
        let (input, output) = price(&r["pricing"]);
        t.row(vec![
            cell(&r["id"]),
            cell(&r["name"]),
            cell(&r["provider"]),
            input,
            output,
        ]);
    }
    t
}

pub async fn run(args: ModelsArgs) -> anyhow::Result<()> {
    let conn = &args.conn;
    let client = conn.client()?;
    match args.command {
        ModelsCommand::List(l) => {
            let query: Vec<(&str, String)> = [
                ("provider", l.provider),
                ("capability", l.capability),
                ("q", l.search),
                ("status", l.status),
                ("sort", l.sort),
                ("order", l.order),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            let answer = client.get_query(&["v1", "models"], &query).await?;
            if conn.json() {
                output::print_json_text(&answer.text);
                return Ok(());
            }
            let mut t = Table::new(&[
                "id",
                "provider",
                "context",
                "input_per_mtok",
                "output_per_mtok",
                "status",
            ]);
            for m in answer.json["data"].as_array().into_iter().flatten() {
                let (input, output) = price(&m["pricing"]);
                t.row(vec![
                    cell(&m["id"]),
                    cell(&m["provider"]),
                    cell(&m["context_length"]),
                    input,
                    output,
                    cell(&m["status"]),
                ]);
            }
            t.print("no models");
        }
        ModelsCommand::Show { id } => {
            let answer = client.get(&["v1", "models", &id]).await?;
            if conn.json() {
                output::print_json_text(&answer.text);
                return Ok(());
            }
            let m = &answer.json;
            let (input, output) = price(&m["pricing"]);
            let mut f = Fields::new();
            f.add("id", &m["id"])
                .add("name", &m["name"])
                .add("provider", &m["provider"])
                .add("creator", &m["creator"])
                .add("status", &m["status"])
                .add("aliases", &m["aliases"])
                .add("context_length", &m["context_length"])
                .add("max_output_tokens", &m["max_output_tokens"])
                .add("capabilities", &m["capabilities"])
                .add("input_modalities", &m["input_modalities"])
                .text("input_per_mtok", input)
                .text("output_per_mtok", output)
                .add("added_on", &m["added_on"])
                .add("description", &m["description"]);
            f.print();
            outln!("\nprice history (oldest first):");
            price_table(
                m["price_history"]
                    .as_array()
                    .map_or(&[][..], |p| p.as_slice()),
            )
            .print("(no price)");
            outln!("\nrelated models:");
            related_table(m["related"].as_array().map_or(&[][..], |r| r.as_slice()))
                .print("(none)");
        }
        ModelsCommand::Price(PriceCommand::Add(p)) => {
            let tiers = match p.tiers.as_deref() {
                None => None,
                Some(text) => match serde_json::from_str::<Value>(text) {
                    Ok(v @ Value::Array(_)) => Some(v),
                    _ => {
                        return Err(CliError::Usage(format!(
                            "--tiers {text}: expected a JSON list of tiers"
                        ))
                        .into())
                    }
                },
            };
            let body = super::object(vec![
                ("input_per_mtok", Some(json!(p.input_per_mtok))),
                ("output_per_mtok", Some(json!(p.output_per_mtok))),
                (
                    "cached_input_per_mtok",
                    p.cached_input_per_mtok.map(Value::from),
                ),
                (
                    "cache_write_per_mtok",
                    p.cache_write_per_mtok.map(Value::from),
                ),
                (
                    "cache_write_1h_per_mtok",
                    p.cache_write_1h_per_mtok.map(Value::from),
                ),
                ("reasoning_per_mtok", p.reasoning_per_mtok.map(Value::from)),
                ("per_request", p.per_request.map(Value::from)),
                ("per_image", p.per_image.map(Value::from)),
                ("tiers", tiers),
                ("effective_from", p.effective_from.map(Value::from)),
            ]);
            let answer = client
                .post(&["admin", "models", &p.id, "prices"], &body)
                .await?;
            if conn.json() {
                output::print_json_text(&answer.text);
            } else {
                price_table(std::slice::from_ref(&answer.json)).print("");
            }
        }
        ModelsCommand::Related(RelatedCommand::Set { id, related }) => {
            let answer = client
                .put(
                    &["admin", "models", &id, "related"],
                    &json!({ "related": related }),
                )
                .await?;
            if conn.json() {
                output::print_json_text(&answer.text);
            } else {
                related_table(answer.json.as_array().map_or(&[][..], |r| r.as_slice()))
                    .print(&format!("{id} has no related models"));
            }
        }
    }
    Ok(())
}
