//! `tollgate dev generate-usage`: synthetic calls for benchmarks, written through the same
//! store path as real ones (records and rollups in the same transactions).

use chrono::{TimeDelta, Utc};
use clap::Args;
use rand::{Rng, SeedableRng};

use crate::catalog::seed::Seed;
use crate::keys::{generate_secret, new_key_id, ApiKey};
use crate::metering::{CallStatus, Endpoint, UsageRecord, UsageSource};
use crate::pricing::Usage;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub db: crate::cli::Database,
    /// How many calls.
    #[arg(long, default_value_t = 100_000)]
    pub calls: u64,
    /// Spread over this many days before now (1 to 10,000).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=10_000))]
    pub days: i64,
    /// How many keys (spread over 10 teams), at least one.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub keys: u64,
    /// Random seed, for repeatable data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub async fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let store = Store::connect(&args.db.database_url).await?;
    if store.catalog_is_empty().await? {
        store
            .load_seed(&Seed::load(std::path::Path::new("seeds"))?)
            .await?;
    }
    let catalog = store.load_catalog().await?;
    let now = Utc::now();
    let models: Vec<_> = catalog
        .entries
        .iter()
        .filter(|e| e.price_at(now).is_some())
        .collect();
    if models.is_empty() {
        anyhow::bail!("the catalog has no priced model to generate calls for");
    }
    let bar = progress_bar(args.keys, "keys created");
    let mut keys = Vec::new();
    for i in 0..args.keys {
        let (_, hash) = generate_secret();
        let key = ApiKey {
            id: new_key_id(),
            name: format!("synthetic-{i}"),
            team: Some(format!("team-{}", i % 10)),
            key_prefix: "tg-synth".into(),
            allowed_models: None,
            expires_at: None,
            disabled: false,
            revoked_at: None,
            metadata: serde_json::json!({"synthetic": true}),
            created_at: now,
            key_hash: hash,
            budget: None,
            rate_limits: None,
            webhook_url: None,
        };
        store.insert_key(&key).await?;
        keys.push(key);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let bar = progress_bar(args.calls, "calls written");
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let span_ms = args.days * 86_400_000;
    let start = now - TimeDelta::days(args.days);
    let batch = 5_000u64;
    let mut written = 0u64;
    while written < args.calls {
        let n = batch.min(args.calls - written);
        let mut records = Vec::with_capacity(n as usize);
        for i in 0..n {
            let key = &keys[rng.gen_range(0..keys.len())];
            let entry = models[rng.gen_range(0..models.len())];
            // Calls arrive in time order, as real traffic is recorded: evenly spread over the
            // span, with up to a second of jitter.
            let slot = (span_ms as u128 * u128::from(written + i) / u128::from(args.calls)) as i64;
            let started_at =
                start + TimeDelta::milliseconds(slot + rng.gen_range(0..1_000).min(span_ms - slot));
            let input = rng.gen_range(50..20_000u64);
            let usage = Usage {
                input_tokens: input,
                cached_input_tokens: if rng.gen_bool(0.3) {
                    rng.gen_range(0..input)
                } else {
                    0
                },
                cache_write_tokens: 0,
                cache_write_1h_tokens: 0,
                output_tokens: rng.gen_range(1..2_000),
                reasoning_tokens: 0,
                images: 0,
                web_search_requests: 0,
                service_tier: None,
            };
            let price = entry
                .price_at(started_at)
                .or_else(|| entry.prices.first())
                .expect("priced model");
            let streamed = rng.gen_bool(0.5);
            records.push(UsageRecord {
                id: crate::gateway::new_call_id(),
                started_at,
                finished_at: started_at + TimeDelta::milliseconds(800),
                key_id: Some(key.id.clone()),
                team_id: key.team.clone(),
                model_id: entry.model.id.clone(),
                requested_model: None,
                provider_id: Some(entry.model.provider.clone()),
                upstream_model: Some(entry.model.upstream_model.clone()),
                endpoint: if rng.gen_bool(0.7) {
                    Endpoint::OpenaiChat
                } else {
                    Endpoint::AnthropicMessages
                },
                streamed,
                status: CallStatus::Ok,
                http_status: 200,
                upstream_status: Some(200),
                usage,
                usage_source: UsageSource::Upstream,
                price_version_id: Some(price.id),
                cost: price.prices.cost(&usage),
                latency_ms: 800,
                ttft_ms: streamed.then_some(200),
                error: None,
                usage_note: None,
            });
        }
        // No call starts to remove: synthetic calls never had any.
        store.write_ledger_batch(&[], &records, &[], &[]).await?;
        written += n;
        bar.inc(n);
        // The bar is drawn on a terminal only; logs say how far it got elsewhere.
        if bar.is_hidden() && (written.is_multiple_of(500_000) || written == args.calls) {
            tracing::info!(written, "synthetic calls written");
        }
    }
    bar.finish();
    store.close().await;
    Ok(())
}

/// A progress bar on standard error, drawn only when it is a terminal.
fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} [{{bar:30}}] {{human_pos}}/{{human_len}} {what} ({{rate}}, eta {{eta}})"
        ))
        .expect("a valid template")
        .with_key(
            "rate",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", s.per_sec());
            },
        )
        .progress_chars("=> "),
    );
    bar
}
