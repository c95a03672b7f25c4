//! The admin commands (`tollgate keys|teams|budgets|credits|models|alerts …`): clients of the
//! HTTP admin API, so they work against any replica, local or remote, and never open the
//! database. Every command takes `--url`, `--admin-token` and `--output table|json`; failures
//! print the server's message to standard error and end with an exit code that says what went
//! wrong (see [`client::CliError::exit_code`] and docs/cli.md).

pub mod alerts;
pub mod budgets;
pub mod client;
pub mod credits;
pub mod keys;
pub mod models;
pub mod output;
pub mod teams;

use clap::Args;
use serde_json::{json, Map, Value};

use client::{CliError, Client};
use output::Output;

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES: &str = "\
Exit codes of the admin commands (keys, teams, budgets, credits, models, alerts):
  0  success
  1  other error (server error, unexpected answer)
  2  usage error (bad arguments)
  3  not found (no such key, team, model, ...)
  4  unauthorized (missing or wrong admin token)
  5  invalid or conflicting request, refused by the server
  6  server unreachable (connection refused, timeout)";

/// Where the admin API is, how to sign in, how to print.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The Tollgate server (any replica).
    #[arg(
        long,
        global = true,
        env = "TOLLGATE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// The admin token (the server's TOLLGATE_ADMIN_TOKEN).
    #[arg(
        long,
        global = true,
        env = "TOLLGATE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// `table` for people, `json` for the API's answer unchanged.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

impl Connection {
    pub fn client(&self) -> Result<Client, CliError> {
        Client::new(&self.url, self.admin_token.clone())
    }

    pub fn json(&self) -> bool {
        self.output == Output::Json
    }
}

/// A key or a team (exactly one), whose budget or credit a command works on.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct Owner {
    /// A key id.
    #[arg(long)]
    pub key: Option<String>,
    /// A team id.
    #[arg(long)]
    pub team: Option<String>,
}

impl Owner {
    /// `("keys", id)` or `("teams", id)`: the admin API's collection and the id.
    pub fn path(&self) -> (&'static str, &str) {
        match (&self.key, &self.team) {
            (Some(k), _) => ("keys", k),
            (None, Some(t)) => ("teams", t),
            (None, None) => unreachable!("clap requires --key or --team"),
        }
    }

    /// `key` or `team`.
    pub fn kind(&self) -> &'static str {
        if self.key.is_some() {
            "key"
        } else {
            "team"
        }
    }
}

/// Budget options of `keys create` and `teams create`.
#[derive(Debug, Clone, Args)]
pub struct BudgetFlags {
    /// A budget: its limit in USD (a decimal, e.g. 25.00).
    #[arg(long, requires = "budget_period", allow_hyphen_values = true)]
    pub budget_usd: Option<String>,
    /// The budget's period.
    #[arg(long, value_enum, requires = "budget_usd")]
    pub budget_period: Option<Period>,
    /// hard refuses calls that could exceed it; soft only alerts (default hard).
    #[arg(long, value_enum, requires = "budget_usd")]
    pub budget_mode: Option<Mode>,
}

impl BudgetFlags {
    pub fn to_json(&self) -> Option<Value> {
        let limit = self.budget_usd.as_ref()?;
        let period = self.budget_period?;
        Some(budget_json(limit, period, self.budget_mode, None))
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
    Total,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Total => "total",
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Mode {
    Hard,
    Soft,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Hard => "hard",
            Mode::Soft => "soft",
        }
    }
}

/// The API's budget object; the limit is sent as the decimal string given (the server checks
/// it), thresholds are left to the server's default when not given.
pub fn budget_json(
    limit_usd: &str,
    period: Period,
    mode: Option<Mode>,
    thresholds: Option<&[f64]>,
) -> Value {
    let mut b = json!({"limit_usd": limit_usd, "period": period.as_str()});
    if let Some(m) = mode {
        b["mode"] = m.as_str().into();
    }
    if let Some(t) = thresholds {
        b["alert_thresholds"] = json!(t);
    }
    b
}

/// Rate-limit options of `keys create` and `teams create|update`.
#[derive(Debug, Clone, Args)]
pub struct RateFlags {
    /// Requests per minute.
    #[arg(long)]
    pub rpm: Option<u32>,
    /// Tokens per minute.
    #[arg(long)]
    pub tpm: Option<u64>,
    /// Calls in flight at once.
    #[arg(long)]
    pub max_parallel: Option<u32>,
}

impl RateFlags {
    pub fn to_json(&self) -> Option<Value> {
        if self.rpm.is_none() && self.tpm.is_none() && self.max_parallel.is_none() {
            return None;
        }
        Some(json!({
            "requests_per_minute": self.rpm,
            "tokens_per_minute": self.tpm,
            "max_parallel": self.max_parallel,
        }))
    }
}

/// `--metadata`: a JSON object.
pub fn metadata(text: &str) -> Result<Value, CliError> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(CliError::Usage(format!(
            "--metadata {text}: expected a JSON object, e.g. '{{\"owner\":\"ml\"}}'"
        ))),
    }
}

/// A JSON object of the fields that are set.
pub fn object(fields: Vec<(&str, Option<Value>)>) -> Value {
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use crate::cli::{Cli, Command};

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn connection_options_go_before_or_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "tollgate",
            "keys",
            "--url",
            "http://h:1",
            "list",
            "--output",
            "json",
            "--admin-token",
            "t",
        ])
        .unwrap();
        let Command::Keys(k) = cli.command else {
            panic!("keys")
        };
        assert_eq!(k.conn.url, "http://h:1");
        assert_eq!(k.conn.admin_token.as_deref(), Some("t"));
        assert!(k.conn.json());
        // --key and --team: exactly one.
        for args in [
            &["tollgate", "credits", "grant", "--amount-usd", "1"][..],
            &[
                "tollgate",
                "credits",
                "grant",
                "--amount-usd",
                "1",
                "--key",
                "k",
                "--team",
                "t",
            ],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }
}
