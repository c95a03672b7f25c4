//! `tollgate catalog import`: reads a price list from a file, standard input or a URL, prints
//! the diff, and applies it to the database unless `--dry-run`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Args;

use super::{report, run, Format};
use crate::store::Store;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub db: crate::cli::Database,
    /// litellm (model_prices_and_context_window.json) or openrouter (GET /api/v1/models).
    #[arg(long)]
    pub format: String,
    /// The file to import; `-` for standard input.
    #[arg(required_unless_present = "url")]
    pub file: Option<String>,
    /// Fetch the price list from this URL instead.
    #[arg(long, conflicts_with = "file")]
    pub url: Option<String>,
    /// Print the diff; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// When changed prices take effect (RFC 3339; default now).
    #[arg(long)]
    pub effective_from: Option<DateTime<Utc>>,
    /// A JSON object mapping the source's provider names to Tollgate provider ids
    /// (`{"gemini": "google"}`), for providers you already configured.
    #[arg(long)]
    pub provider_map: Option<PathBuf>,
    /// table (a readable summary) or json (every change).
    #[arg(long, default_value = "table")]
    pub output: String,
}

async fn read_source(args: &ImportArgs) -> anyhow::Result<String> {
    if let Some(url) = &args.url {
        let response = reqwest::get(url)
            .await
            .with_context(|| format!("fetching {url}"))?;
        if !response.status().is_success() {
            bail!("fetching {url}: the server answered {}", response.status());
        }
        return Ok(response.text().await?);
    }
    match args.file.as_deref() {
        Some("-") | None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading standard input")?;
            Ok(s)
        }
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}")),
    }
}

fn provider_map(path: Option<&PathBuf>) -> anyhow::Result<BTreeMap<String, String>> {
    let Some(path) = path else {
        return Ok(BTreeMap::new());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected a JSON object of provider names to provider ids",
            path.display()
        )
    })
}

fn bar() -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(Some(4), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{bar:20}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let format = Format::parse(&args.format)
        .with_context(|| format!("--format {}: expected litellm or openrouter", args.format))?;
    if !matches!(args.output.as_str(), "table" | "json") {
        bail!("--output {}: expected table or json", args.output);
    }
    let map = provider_map(args.provider_map.as_ref())?;
    let bar = bar();
    bar.set_message("reading the price list");
    let text = read_source(&args).await?;
    bar.inc(1);
    bar.set_message(format!(
        "parsing {} bytes and comparing with the catalog",
        text.len()
    ));
    let store = Store::connect(&args.db.database_url)
        .await
        .context("opening the database")?;
    bar.inc(1);
    let effective_from = args.effective_from.unwrap_or_else(Utc::now);
    let outcome = run::import(
        &store,
        format,
        text,
        map,
        effective_from,
        args.dry_run,
        None,
    )
    .await
    .context("importing (nothing was changed)")?;
    bar.inc(2);
    let (plan, apply) = (outcome.plan, outcome.applied);
    bar.finish_and_clear();
    store.close().await;
    match args.output.as_str() {
        "json" => {
            let mut v = serde_json::to_value(&plan)?;
            v["applied"] = apply.into();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        _ => print!("{}", report::text(&plan, args.dry_run)),
    }
    Ok(())
}
