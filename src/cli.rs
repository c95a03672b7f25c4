//! The `tollgate` command line.

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::configuration::Settings;
use crate::reports::audit::{self, UsageQuery};
use crate::reports::{spend, Filters, SpendParams};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "Self-hosted LLM gateway with a model catalog and exact cost accounting",
    after_help = crate::admin_cli::EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(Box<Settings>),
    /// Print a spend report (the same code and limits as GET /admin/spend).
    Spend(SpendArgs),
    /// The audit trail.
    #[command(subcommand)]
    Usage(UsageCommand),
    /// Database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
    /// The model catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Developer tools.
    #[command(subcommand)]
    Dev(DevCommand),
    /// Print the OpenAPI document.
    Openapi,
    /// API keys, over the admin API of a running server (--url, --admin-token).
    #[command(after_help = crate::admin_cli::EXIT_CODES)]
    Keys(crate::admin_cli::keys::KeysArgs),
    /// Teams, over the admin API.
    #[command(after_help = crate::admin_cli::EXIT_CODES)]
    Teams(crate::admin_cli::teams::TeamsArgs),
    /// Budgets of keys and teams, over the admin API.
    #[command(after_help = crate::admin_cli::EXIT_CODES)]
    Budgets(crate::admin_cli::budgets::BudgetsArgs),
    /// Prepaid credit of keys and teams, over the admin API.
    #[command(after_help = crate::admin_cli::EXIT_CODES)]
    Credits(crate::admin_cli::credits::CreditsArgs),
    /// The model catalog (list, show, prices, related models), over the HTTP API.
    #[command(after_help = crate::admin_cli::EXIT_CODES)]
    Models(crate::admin_cli::models::ModelsArgs),
    /// Budget, balance and price-drift alerts, over the admin API.
    #[command(after_help = crate::admin_cli::EXIT_CODES)]
    Alerts(crate::admin_cli::alerts::AlertsArgs),
}

#[derive(Debug, Args)]
pub struct Database {
    /// Database URL. `spend` and `usage export` open an existing database only (a missing file
    /// is an error, never a new empty database).
    #[arg(
        long,
        env = "TOLLGATE_DATABASE_URL",
        default_value = "sqlite://tollgate.db"
    )]
    pub database_url: String,
}

#[derive(Debug, Args)]
pub struct SpendArgs {
    #[command(flatten)]
    pub db: Database,
    /// Group by (comma-separated): key, team, model, provider and one of hour, day, week, month.
    #[arg(long, default_value = "model")]
    pub by: String,
    /// Start, RFC 3339 (default: 30 days before --to).
    #[arg(long)]
    pub from: Option<DateTime<Utc>>,
    /// End, RFC 3339, exclusive (default: now).
    #[arg(long)]
    pub to: Option<DateTime<Utc>>,
    #[arg(long)]
    pub key: Option<String>,
    #[arg(long)]
    pub team: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    /// IANA time zone for time buckets.
    #[arg(long)]
    pub tz: Option<String>,
    /// Re-price at the prices in effect at this time.
    #[arg(long)]
    pub price_at: Option<DateTime<Utc>>,
    /// table, csv or json.
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(Debug, Subcommand)]
pub enum UsageCommand {
    /// Export call records (newest first) to standard output.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub db: Database,
    #[arg(long)]
    pub key: Option<String>,
    #[arg(long)]
    pub team: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub from: Option<DateTime<Utc>>,
    #[arg(long)]
    pub to: Option<DateTime<Utc>>,
    /// csv or jsonl.
    #[arg(long, default_value = "csv")]
    pub format: String,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy a whole Tollgate database into a new, empty one (e.g. SQLite to PostgreSQL), with
    /// the gateway stopped; checked by totals before it commits.
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The database to copy (opened read-only; never created or migrated).
    #[arg(long)]
    pub from: String,
    /// The database to fill: migrated if new, refused unless empty.
    #[arg(long)]
    pub to: String,
    /// Rows written per statement.
    #[arg(long, default_value_t = 10_000)]
    pub batch: usize,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Import a price list (LiteLLM's price map or OpenRouter's model list): new models and
    /// providers, changed prices as new versions; `--dry-run` prints the diff only.
    Import(crate::catalog::import::cli::ImportArgs),
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Fill a database with realistic synthetic calls (for benchmarks).
    GenerateUsage(crate::reports::generate::GenerateArgs),
}

/// The exit code of a failed command (see [`crate::admin_cli::EXIT_CODES`]).
pub fn exit_code(error: &anyhow::Error) -> u8 {
    crate::admin_cli::client::exit_code(error)
}

/// Runs the parsed command; the process exit code follows the result.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(settings) => {
            let export = crate::otel::resolve(settings.otlp_endpoint.as_deref(), |name| {
                std::env::var(name).ok()
            })?;
            let exporter = export
                .as_ref()
                .map(crate::otel::Exporter::start)
                .transpose()?;
            init_tracing(&settings.log, &settings.log_format, exporter.as_ref());
            if let Some(export) = &export {
                tracing::info!(
                    endpoint = %export.shown(),
                    from = export.source,
                    "{}",
                    crate::otel::STARTED
                );
            }
            let served = async {
                let app = crate::startup::Application::build(*settings).await?;
                app.run_until_stopped(crate::startup::shutdown_signal())
                    .await
            }
            .await;
            // After the drain: the spans of the last calls are sent before the process ends.
            if let Some(exporter) = exporter {
                exporter.shutdown().await;
            }
            served
        }
        Command::Spend(args) => print_spend(args).await,
        Command::Usage(UsageCommand::Export(args)) => export_usage(args).await,
        Command::Db(DbCommand::Copy(args)) => copy_database(args).await,
        Command::Catalog(CatalogCommand::Import(args)) => {
            crate::catalog::import::cli::run(args).await
        }
        Command::Dev(DevCommand::GenerateUsage(args)) => {
            init_tracing("info", "text", None);
            crate::reports::generate::run(args).await
        }
        Command::Openapi => {
            println!("{}", crate::api::openapi().to_pretty_json()?);
            Ok(())
        }
        Command::Keys(args) => crate::admin_cli::keys::run(args).await,
        Command::Teams(args) => crate::admin_cli::teams::run(args).await,
        Command::Budgets(args) => crate::admin_cli::budgets::run(args).await,
        Command::Credits(args) => crate::admin_cli::credits::run(args).await,
        Command::Models(args) => crate::admin_cli::models::run(args).await,
        Command::Alerts(args) => crate::admin_cli::alerts::run(args).await,
    }
}

async fn print_spend(args: SpendArgs) -> anyhow::Result<()> {
    let store = Store::open_existing(&args.db.database_url).await?;
    let catalog = store.load_catalog().await?;
    let params = SpendParams {
        from: args.from,
        to: args.to,
        group_by: Some(args.by),
        key: args.key,
        team: args.team,
        model: args.model,
        provider: args.provider,
        tz: args.tz,
        format: None,
        price_at: args.price_at,
    };
    let query = params
        .parse(Utc::now())
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let report = spend(&store, &catalog, query).await?;
    let text = match args.format.as_str() {
        "csv" => report.to_csv(),
        "json" => serde_json::to_string_pretty(&report.to_json())? + "\n",
        "table" => report.to_table(),
        other => anyhow::bail!("--format {other}: expected table, csv or json"),
    };
    print!("{text}");
    Ok(())
}

async fn export_usage(args: ExportArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let csv = match args.format.as_str() {
        "csv" => true,
        "jsonl" => false,
        other => anyhow::bail!("--format {other}: expected csv or jsonl"),
    };
    let store = Store::open_existing(&args.db.database_url).await?;
    let q = UsageQuery {
        filters: Filters {
            key: args.key,
            team: args.team,
            model: args.model,
            provider: None,
        },
        status: args.status,
        from: args.from.map_or(0, |t| t.timestamp_millis()),
        to: args.to.map_or(i64::MAX, |t| t.timestamp_millis()),
    };
    let emit = |chunk: String| -> futures::future::BoxFuture<'static, bool> {
        Box::pin(async move {
            let mut out = std::io::stdout().lock();
            out.write_all(chunk.as_bytes()).is_ok()
        })
    };
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {human_pos} records exported ({rate}, {elapsed})",
        )
        .expect("a valid template")
        .with_key(
            "rate",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", s.per_sec());
            },
        ),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let result = audit::export_counted(&store, &q, csv, emit, |n| bar.inc(n)).await;
    bar.finish();
    store.close().await;
    result?;
    Ok(())
}

/// A progress bar on standard error (drawn only when it is a terminal).
struct Bar(indicatif::ProgressBar);

impl crate::store::copy::CopyProgress for Bar {
    fn start(&self, rows: u64) {
        self.0.set_length(rows);
    }
    fn table(&self, name: &str, rows: u64) {
        self.0.set_message(format!("{name} ({rows} rows)"));
    }
    fn advance(&self, rows: u64) {
        self.0.inc(rows);
    }
    fn checking(&self) {
        self.0.set_message("checking totals");
    }
}

async fn copy_database(args: CopyArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let started = std::time::Instant::now();
    let source = Store::open_existing(&args.from)
        .await
        .with_context(|| format!("opening the source {}", redact(&args.from)))?;
    let target = Store::connect(&args.to)
        .await
        .with_context(|| format!("opening the target {}", redact(&args.to)))?;
    let bar =
        indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg:32} [{bar:30}] {human_pos}/{human_len} rows {per_sec} eta {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let result = source
        .copy_into(&target, args.batch, &Bar(bar.clone()))
        .await;
    bar.finish_and_clear();
    source.close().await;
    target.close().await;
    let report = result?;
    for (table, rows) in &report.tables {
        println!("{table:24} {rows:>12} rows");
    }
    println!(
        "copied in {:.1} s; {} totals (rows, identities, sums of money and tokens) equal on both sides",
        started.elapsed().as_secs_f64(),
        report.totals.len()
    );
    Ok(())
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Logs to standard error: text, or with `TOLLGATE_LOG_FORMAT=json` one JSON object per line
/// carrying the enclosing spans' fields (a call's `id`, `key` and `model`), so every line of a
/// call can be found by its `x-request-id`. With an OTLP `exporter`, the spans (and the events
/// inside them) are also exported as OpenTelemetry traces, whatever the log filter.
fn init_tracing(filter: &str, format: &str, exporter: Option<&crate::otel::Exporter>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let registry = tracing_subscriber::registry();
    let _ = match exporter {
        // The filter applies to everything: spans and events it rejects cost nothing.
        None => registry.with(filter).with(log_layer(format)).try_init(),
        // The filter applies to the logs only; the exporter's layer has its own.
        Some(exporter) => registry
            .with(log_layer(format).with_filter(filter))
            .with(exporter.layer())
            .try_init(),
    };
}

/// The log lines, in `format`.
fn log_layer<S>(format: &str) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    let logs = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(std::io::stderr);
    if format == "json" {
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .boxed()
    } else {
        logs.boxed()
    }
}
