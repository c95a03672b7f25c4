//! LiteLLM's real price map (the pinned litellm wheel's
//! `model_prices_and_context_window_backup.json`, brought by tests/litellm/fetch.sh) imported
//! through `POST /admin/catalog/import`, then real calls through the gateway to models of many
//! providers, whose usage the mock upstream reports exactly. Each recorded cost must equal the
//! cost LiteLLM's rules give for that usage, computed here from the raw JSON entry with exact
//! decimals (`litellm_cost`, written from LiteLLM's cost calculator, not from Tollgate's
//! pricing code).
//!
//! The file comes from `TOLLGATE_TEST_LITELLM_JSON` (tests/run.sh sets it) or the fetch script's
//! cache. Without it the test prints `SKIPPED: …` and passes, except in CI (`CI=true`), where it
//! fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::gateway_support::{gateway, request_id, Gw};
use crate::helpers::ADMIN;

/// The LiteLLM version tests/litellm/fetch.sh pins; the counts below hold for its file only.
const LITELLM_VERSION: &str = "1.110.2";

/// The (test clock's) day of the import and the calls.
const CALLS_ON: &str = "2026-09-01T00:00:00Z";

type Entry = BTreeMap<String, Box<RawValue>>;

fn price_map_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TOLLGATE_TEST_LITELLM_JSON") {
        return Some(PathBuf::from(p));
    }
    let cached = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
        "tests/.cache/litellm/model_prices_and_context_window-{LITELLM_VERSION}.json"
    ));
    cached.exists().then_some(cached)
}

/// The price map's text, or `None` (after saying why) when the test is to be skipped.
fn price_map() -> Option<String> {
    let Some(path) = price_map_path() else {
        let why = "LiteLLM's price map is not here: set TOLLGATE_TEST_LITELLM_JSON or run \
                   tests/litellm/fetch.sh (tests/run.sh does both)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        // Straight to the process's stderr: the test harness would hide an eprintln! of a
        // passing test.
        let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
        return None;
    };
    Some(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

// ---- LiteLLM's rules, from the raw entry, in exact decimals -------------------------------

/// A price as the JSON text writes it (`3e-06`, `0.0`), never through a float.
fn dec(raw: &RawValue) -> Option<Decimal> {
    let t = raw.get().trim().trim_matches('"');
    if t == "null" {
        return None;
    }
    if t.contains(['e', 'E']) {
        Decimal::from_scientific(t).ok()
    } else {
        Decimal::from_str(t).ok()
    }
}

fn get(e: &Entry, key: &str) -> Option<Decimal> {
    e.get(key).and_then(|r| dec(r))
}

/// One call's usage in LiteLLM's terms: `prompt` counts every prompt token (cache reads and
/// writes included), `written_1h` is the part of `written` cached for an hour, `reasoning` is
/// part of `completion`.
#[derive(Debug, Clone, Copy, Default)]
struct Tokens {
    prompt: u64,
    cached: u64,
    written: u64,
    written_1h: u64,
    completion: u64,
    reasoning: u64,
    images: u64,
}

/// USD per token.
#[derive(Debug)]
struct Rates {
    input: Decimal,
    output: Decimal,
    read: Decimal,
    write: Decimal,
    write_1h: Decimal,
    reasoning: Decimal,
}

/// LiteLLM's `tiered_pricing` (`select_tier_for_input`, `_get_tiered_base_costs`): the range
/// with `start < prompt <= end` (above every range: the last) prices the whole call; a range
/// without an input rate leaves the call to the flat rates.
fn tiered_rates(e: &Entry, prompt: u64) -> Option<Rates> {
    let tiers: Vec<Entry> = serde_json::from_str(e.get("tiered_pricing")?.get()).ok()?;
    if prompt == 0 {
        return None;
    }
    let mut ranged: Vec<(f64, f64, &Entry)> = tiers
        .iter()
        .filter_map(|t| {
            let r: Vec<f64> = serde_json::from_str(t.get("range")?.get()).ok()?;
            Some((r[0], r[1], t))
        })
        .collect();
    ranged.sort_by(|a, b| a.0.total_cmp(&b.0));
    let p = prompt as f64;
    let tier = ranged
        .iter()
        .find(|(start, end, _)| *start < p && p <= *end)
        .or(ranged.last())?
        .2;
    let input = get(tier, "input_cost_per_token")?;
    let output = get(tier, "output_cost_per_token")
        .or_else(|| get(e, "output_cost_per_token"))
        .unwrap_or_default();
    let write = get(tier, "cache_creation_input_token_cost").unwrap_or(input);
    let reasoning = get(tier, "output_cost_per_reasoning_token")
        .or_else(|| get(tier, "output_cost_per_token"))
        .or_else(|| get(e, "output_cost_per_reasoning_token"))
        .unwrap_or(output);
    Some(Rates {
        input,
        output,
        read: get(tier, "cache_read_input_token_cost").unwrap_or(input),
        write,
        write_1h: write,
        reasoning,
    })
}

const TIERED_PREFIXES: [&str; 4] = [
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
];
const NON_STANDARD_SUFFIXES: [&str; 7] = [
    "_auto",
    "_flex",
    "_balanced",
    "_priority",
    "_fast",
    "_ultrafast",
    "_batches",
];

/// `200k` → 200 000, `128` → 128 (LiteLLM's `_parse_token_threshold`).
fn threshold_tokens(t: &str) -> Option<u64> {
    match t.strip_suffix('k') {
        Some(k) => k.parse::<u64>().ok().map(|k| k * 1000),
        None => t.parse().ok(),
    }
}

/// LiteLLM's `_get_token_base_cost` for an entry without `tiered_pricing`: every threshold key
/// the prompt exceeds (`>` ; `>=` for xAI) is applied in increasing order, each
/// `*_above_{T}_tokens` rate replacing the rate in force; then absent cache rates are the input
/// rate, an absent one-hour write rate the write rate. Fireworks AI's absent cache-read rate is
/// half its input rate (`with_default_cache_read_rate`).
fn standard_rates(provider: &str, e: &Entry, prompt: u64) -> Rates {
    let mut input = get(e, "input_cost_per_token").unwrap_or_default();
    let mut output = get(e, "output_cost_per_token").unwrap_or_default();
    let mut read = get(e, "cache_read_input_token_cost");
    let mut write = get(e, "cache_creation_input_token_cost");
    if provider == "fireworks_ai" && read.is_none() && get(e, "input_cost_per_token").is_some() {
        read = Some(input * Decimal::from_str("0.5").unwrap());
    }
    let mut write_1h_key = "cache_creation_input_token_cost_above_1hr".to_string();
    let mut thresholds: Vec<(u64, String)> = e
        .keys()
        .filter(|k| {
            TIERED_PREFIXES
                .iter()
                .any(|p| k.starts_with(&format!("{p}_above_")))
                && k.contains("_tokens")
                && !NON_STANDARD_SUFFIXES.iter().any(|s| k.ends_with(s))
                && get(e, k).is_some()
        })
        .filter_map(|k| {
            let t = k.rsplit_once("_above_")?.1.split("_tokens").next()?;
            Some((threshold_tokens(t)?, t.to_string()))
        })
        .collect();
    thresholds.sort();
    let inclusive = provider == "xai";
    for (n, t) in thresholds {
        if prompt > n || (inclusive && prompt == n) {
            let at = |base: &str| get(e, &format!("{base}_above_{t}_tokens"));
            input = at("input_cost_per_token").unwrap_or(input);
            output = at("output_cost_per_token").unwrap_or(output);
            write = at("cache_creation_input_token_cost").or(write);
            read = at("cache_read_input_token_cost").or(read);
            let k1h = format!("cache_creation_input_token_cost_above_1hr_above_{t}_tokens");
            if get(e, &k1h).is_some() {
                write_1h_key = k1h;
            }
        }
    }
    let write = write.unwrap_or(input);
    Rates {
        input,
        output,
        read: read.unwrap_or(input),
        write,
        write_1h: get(e, &write_1h_key).unwrap_or(write),
        // xAI bills reasoning as completion tokens (xai/cost_calculator.py).
        reasoning: if provider == "xai" {
            output
        } else {
            get(e, "output_cost_per_reasoning_token").unwrap_or(output)
        },
    }
}

/// The cost LiteLLM's rules give (`generic_cost_per_token` and the per-provider calculators
/// named above): text, cached, five-minute and one-hour written prompt tokens, text and
/// reasoning completion tokens, each at its rate; plus `input_cost_per_image` per input image
/// and `input_cost_per_request` per call, as the price map documents them.
fn litellm_cost(provider: &str, e: &Entry, t: Tokens) -> Decimal {
    let r = tiered_rates(e, t.prompt).unwrap_or_else(|| standard_rates(provider, e, t.prompt));
    let d = Decimal::from;
    let text = t.prompt - t.cached - t.written;
    d(text) * r.input
        + d(t.cached) * r.read
        + d(t.written - t.written_1h) * r.write
        + d(t.written_1h) * r.write_1h
        + d(t.completion - t.reasoning) * r.output
        + d(t.reasoning) * r.reasoning
        + d(t.images) * get(e, "input_cost_per_image").unwrap_or_default()
        + get(e, "input_cost_per_request").unwrap_or_default()
}

// ---- the gateway side ---------------------------------------------------------------------

async fn import(gw: &Gw, body: &str, query: &str) -> Value {
    let r = gw
        .app
        .client
        .post(
            gw.app
                .url(&format!("/admin/catalog/import?format=litellm{query}")),
        )
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

fn len(v: &Value) -> usize {
    v.as_array().unwrap().len()
}

/// How the mock upstream reports a call's usage, by provider kind.
fn usage_object(anthropic: bool, t: Tokens) -> Value {
    if anthropic {
        json!({"input_tokens": t.prompt - t.cached - t.written, "output_tokens": t.completion,
            "cache_read_input_tokens": t.cached, "cache_creation_input_tokens": t.written,
            "cache_creation": {"ephemeral_5m_input_tokens": t.written - t.written_1h,
                "ephemeral_1h_input_tokens": t.written_1h}})
    } else {
        json!({"prompt_tokens": t.prompt, "completion_tokens": t.completion,
            "total_tokens": t.prompt + t.completion,
            "prompt_tokens_details": {"cached_tokens": t.cached, "cache_write_tokens": t.written},
            "completion_tokens_details": {"reasoning_tokens": t.reasoning}})
    }
}

/// Providers whose models the test calls, routed to the mock: Anthropic-kind or OpenAI-kind.
const ANTHROPIC_KIND: &[&str] = &[
    "anthropic",
    "vertex_ai-anthropic_models",
    "bedrock_converse",
];

struct Case {
    key: &'static str,
    tokens: Tokens,
    /// Call through `/v1/messages` (else `/v1/chat/completions`).
    messages: bool,
    stream: bool,
    /// What the case shows.
    what: &'static str,
}

fn t(prompt: u64, cached: u64, written: u64, completion: u64, reasoning: u64) -> Tokens {
    Tokens {
        prompt,
        cached,
        written,
        completion,
        reasoning,
        ..Tokens::default()
    }
}

impl Case {
    fn new(key: &'static str, tokens: Tokens, what: &'static str) -> Case {
        Case {
            key,
            tokens,
            messages: false,
            stream: false,
            what,
        }
    }
}

fn cases() -> Vec<Case> {
    let c = Case::new;
    vec![
        Case {
            messages: true,
            ..c(
                "claude-sonnet-4-5",
                t(35_200, 30_000, 4_000, 800, 0),
                "Claude: cache reads and 5-minute cache writes",
            )
        },
        Case {
            messages: true,
            stream: true,
            ..c(
                "claude-haiku-4-5",
                t(9_000, 6_000, 2_500, 1_200, 0),
                "Claude, streamed: cache reads and writes",
            )
        },
        c(
            "claude-opus-4-5",
            t(52_000, 40_000, 10_000, 3_000, 0),
            "Claude through the chat protocol: cache writes",
        ),
        Case {
            messages: true,
            ..c(
                "vertex_ai/claude-sonnet-4-5",
                t(210_000, 40_000, 20_000, 3_000, 0),
                "Claude above 200k: every rate at the above-200k tier, cache writes included",
            )
        },
        Case {
            messages: true,
            ..c(
                "vertex_ai/claude-sonnet-4-5",
                t(200_000, 40_000, 20_000, 3_000, 0),
                "Claude at exactly 200k: not above, base rates",
            )
        },
        Case {
            messages: true,
            ..c(
                "anthropic.claude-sonnet-4-5-20250929-v1:0",
                t(260_000, 100_000, 50_000, 4_000, 0),
                "Claude on Bedrock above 200k",
            )
        },
        c(
            "gpt-4o",
            t(12_000, 8_000, 0, 900, 0),
            "GPT-4o: cached input at the cache-read rate",
        ),
        Case {
            stream: true,
            ..c(
                "o3",
                t(5_000, 1_024, 0, 6_000, 4_500),
                "o3, streamed: reasoning tokens at the output rate",
            )
        },
        c(
            "gemini/gemini-2.5-pro",
            t(250_000, 100_000, 0, 5_000, 3_000),
            "Gemini 2.5 Pro above 200k: input, cache read and output at the above-200k rates",
        ),
        c(
            "gemini/gemini-2.5-pro",
            t(180_000, 50_000, 0, 5_000, 3_000),
            "Gemini 2.5 Pro below 200k",
        ),
        c(
            "xai/grok-4.3",
            t(200_000, 20_000, 0, 2_000, 500),
            "Grok at exactly 200k: xAI's threshold is inclusive",
        ),
        c(
            "xai/grok-4.3",
            t(199_999, 20_000, 0, 2_000, 500),
            "Grok one token below 200k",
        ),
        c(
            "dashscope/qwen3-coder-plus",
            t(100_000, 30_000, 0, 2_000, 0),
            "tiered_pricing: the 32k-128k range with its own cache-read rate",
        ),
        c(
            "dashscope/qwen-plus-2025-09-11",
            t(300_000, 0, 0, 4_000, 2_500),
            "tiered_pricing: the top range's reasoning rate",
        ),
        c(
            "dashscope/qwen3-max",
            t(20_000, 5_000, 0, 1_000, 0),
            "tiered_pricing: a range without a cache rate bills cached tokens at its input rate",
        ),
        c(
            "volcengine/doubao-seed-2-0-pro-260215",
            t(128_000, 0, 0, 1_500, 0),
            "tiered_pricing at a range's end: the lower range",
        ),
        c(
            "kyma/qwen3.7-flash",
            t(100_000, 60_000, 0, 1_000, 0),
            "above 32k: cache reads keep the flat cache-read rate",
        ),
        c(
            "kyma/qwen3.7-flash",
            t(300_000, 100_000, 0, 1_000, 0),
            "above 256k, after 32k",
        ),
        c(
            "deepseek/deepseek-v4-pro",
            t(40_000, 32_000, 0, 700, 0),
            "DeepSeek: cache hits",
        ),
        c(
            "fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct",
            t(3_000, 2_048, 0, 300, 0),
            "Fireworks: cache reads at half the input rate when none is listed",
        ),
        c(
            "perplexity/sonar-small-online",
            t(700, 0, 0, 400, 0),
            "a per-request fee",
        ),
        c(
            "gemini/deep-research-pro-preview-12-2025",
            Tokens {
                images: 2,
                ..t(1_500, 0, 0, 900, 0)
            },
            "a per-image fee",
        ),
        c(
            "mistral/mistral-large-latest",
            t(8_000, 4_000, 0, 600, 0),
            "Mistral",
        ),
        c(
            "groq/openai/gpt-oss-120b",
            t(6_000, 2_000, 0, 3_000, 1_000),
            "Groq",
        ),
        c(
            "together_ai/MiniMaxAI/MiniMax-M3",
            t(9_000, 3_000, 0, 800, 0),
            "Together AI",
        ),
        c(
            "moonshot/kimi-k3",
            t(20_000, 12_000, 4_000, 2_000, 0),
            "Moonshot: cache writes from an OpenAI-compatible host",
        ),
        c(
            "minimax/MiniMax-M2.1",
            t(30_000, 10_000, 5_000, 1_000, 0),
            "MiniMax: cache writes reported by an OpenAI-compatible host",
        ),
        c(
            "zai/glm-5",
            t(30_000, 10_000, 5_000, 1_000, 0),
            "Z.ai: cache writes priced 0",
        ),
        c(
            "dashscope/qwen-turbo",
            t(4_000, 0, 0, 3_000, 2_000),
            "a reasoning rate above the output rate",
        ),
        c("cerebras/llama-3.1-8b", t(2_000, 0, 0, 500, 0), "Cerebras"),
    ]
}

fn tiny_png() -> Value {
    json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}})
}

fn request(case: &Case) -> Value {
    let text = json!({"type": "text", "text": "Say hello"});
    if case.messages {
        json!({"model": case.key, "max_tokens": 100, "stream": case.stream,
            "messages": [{"role": "user", "content": "Say hello"}]})
    } else {
        let content = if case.tokens.images > 0 {
            let mut parts = vec![text];
            parts.extend((0..case.tokens.images).map(|_| tiny_png()));
            Value::Array(parts)
        } else {
            "Say hello".into()
        };
        let mut body = json!({"model": case.key, "max_tokens": 100,
            "messages": [{"role": "user", "content": content}]});
        if case.stream {
            body["stream"] = true.into();
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }
}

/// Makes one call whose upstream reports `tokens`, and returns its recorded cost.
async fn call(gw: &Gw, case: &Case, anthropic: bool) -> Decimal {
    let usage = usage_object(anthropic, case.tokens);
    gw.mock.set(|s| {
        s.usage_override = Some(usage);
        s.override_model = None;
    });
    let path = if case.messages {
        "/v1/messages"
    } else {
        "/v1/chat/completions"
    };
    let r = gw.post(path, request(case)).await;
    let id = request_id(&r);
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{}: {body}", case.key);
    let g = gw.generation(&id).await;
    Decimal::from_str(g["cost_usd"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn the_real_litellm_price_map_imports_and_calls_cost_what_litellm_says() {
    let Some(text) = price_map() else { return };
    let map: BTreeMap<String, Box<RawValue>> = serde_json::from_str(&text).unwrap();
    let gw = gateway().await;
    // The calls run on a fixed day, before any called model's deprecation date in this file
    // (the gateway refuses deprecated models), whatever day the test runs.
    let day: chrono::DateTime<chrono::Utc> = CALLS_ON.parse().unwrap();
    gw.app.state.clock.advance(day - gw.app.state.clock.now());

    // ---- the import -----------------------------------------------------------------------
    let started = std::time::Instant::now();
    let plan = import(&gw, &text, "").await;
    eprintln!(
        "LiteLLM {LITELLM_VERSION}: {} entries imported over HTTP in {:?} (debug build)",
        map.len(),
        started.elapsed()
    );
    assert_eq!(plan["applied"], true);
    let counts = json!({
        "models_added": len(&plan["models_added"]),
        "unpriced": len(&plan["unpriced"]),
        "skipped": len(&plan["skipped"]),
        "providers_added": len(&plan["providers_added"]),
        "prices_changed": len(&plan["prices_changed"]),
        "models_updated": len(&plan["models_updated"]),
        "unchanged": plan["unchanged"],
    });
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for s in plan["skipped"].as_array().unwrap() {
        let r = s["reason"].as_str().unwrap();
        let category = if r.starts_with("an alias of ") {
            "alias"
        } else if r.contains("cannot be stored exactly") {
            "price finer than a picodollar per token"
        } else if r.starts_with("the key is not a valid model id") {
            "key not a model id"
        } else if r.contains("by the number of results") {
            "search priced by results"
        } else if r == "it has no litellm_provider" {
            "no provider"
        } else {
            panic!("an unexpected reason to skip {}: {r}", s["key"])
        };
        *reasons.entry(category).or_default() += 1;
    }
    eprintln!("{counts}; skipped by reason {reasons:?}");
    assert_eq!(
        counts,
        json!({"models_added": 4735, "unpriced": 689, "skipped": 142,
            // Of 151 providers, the seed catalog has `anthropic`.
            "providers_added": 150,
            "prices_changed": 0, "models_updated": 0, "unchanged": 0})
    );
    assert_eq!(
        reasons,
        BTreeMap::from([
            ("alias", 98),
            ("price finer than a picodollar per token", 37),
            ("key not a model id", 4),
            ("search priced by results", 2),
            ("no provider", 1),
        ])
    );
    // Rules Tollgate does not charge yet are reported, by the number of entries carrying them.
    let unapplied = &plan["unapplied_fields"];
    for field in [
        "cache_creation_input_token_cost_above_1hr",
        "cache_creation_input_token_cost_above_1hr_above_100k_tokens",
        "cache_creation_input_token_cost_above_1hr_above_200k_tokens",
        "input_cost_per_token_batches",
        "output_cost_per_token_batches",
        "input_cost_per_token_priority",
        "output_cost_per_token_priority",
        "cache_read_input_token_cost_priority",
        "input_cost_per_token_flex",
        "input_cost_per_token_above_272k_tokens_priority",
        "search_context_cost_per_query",
    ] {
        assert!(
            unapplied.get(field).is_none(),
            "{field} is applied: {unapplied}"
        );
    }
    for (field, n) in [
        ("input_cost_per_audio_token", 134),
        ("input_cost_per_image_token", 127),
        ("off_peak_pricing", 10),
    ] {
        assert_eq!(unapplied[field], n, "{field}: {unapplied}");
    }
    for (key, fields) in [
        (
            "claude-sonnet-4-5",
            &[
                "cache_creation_input_token_cost_above_1hr",
                "search_context_cost_per_query",
            ][..],
        ),
        (
            "gpt-4o",
            &[
                "input_cost_per_token_batches",
                "output_cost_per_token_batches",
                "input_cost_per_token_priority",
                "output_cost_per_token_priority",
                "cache_read_input_token_cost_priority",
            ][..],
        ),
        (
            "vertex_ai/claude-sonnet-4-5",
            &["cache_creation_input_token_cost_above_1hr_above_200k_tokens"][..],
        ),
    ] {
        let e: Entry = serde_json::from_str(map[key].get()).unwrap();
        for f in fields {
            assert!(e.contains_key(*f), "{key} has no {f}");
        }
    }
    // Every entry but LiteLLM's own documentation entry is imported or skipped.
    assert_eq!(
        len(&plan["models_added"]) + len(&plan["skipped"]),
        map.len() - 1
    );

    // The same file again changes nothing.
    let again = import(&gw, &text, "").await;
    assert_eq!(again["applied"], false, "{}", again["prices_changed"]);
    assert_eq!(len(&again["models_added"]), 0);
    assert_eq!(len(&again["prices_changed"]), 0);
    assert_eq!(len(&again["models_updated"]), 0);
    assert_eq!(again["unchanged"], len(&plan["models_added"]));

    // ---- calls ----------------------------------------------------------------------------
    let cases = cases();
    let mut providers: BTreeMap<String, bool> = BTreeMap::new();
    for case in &cases {
        let e: Entry = serde_json::from_str(map[case.key].get()).unwrap();
        let p: String = serde_json::from_str(e["litellm_provider"].get()).unwrap();
        let anthropic = ANTHROPIC_KIND.contains(&p.as_str());
        providers.insert(p, anthropic);
    }
    for (p, anthropic) in &providers {
        let base = if *anthropic {
            gw.mock.base.clone()
        } else {
            format!("{}/v1", gw.mock.base)
        };
        let kind = if *anthropic { "anthropic" } else { "openai" };
        let (s, v) = gw
            .app
            .admin(
                Method::PATCH,
                &format!("/admin/providers/{p}"),
                Some(
                    json!({"kind": kind, "base_url": base, "listing_only": false,
                    "api_key_env": "TOLLGATE_TEST_UPSTREAM_KEY"}),
                ),
            )
            .await;
        assert_eq!(s, 200, "{p}: {v}");
    }
    let mut wrong = Vec::new();
    for case in &cases {
        let e: Entry = serde_json::from_str(map[case.key].get()).unwrap();
        let p: String = serde_json::from_str(e["litellm_provider"].get()).unwrap();
        let expected = litellm_cost(&p, &e, case.tokens);
        let got = call(&gw, case, providers[&p]).await;
        if got != expected {
            wrong.push(format!(
                "{} ({}): {:?}: Tollgate recorded {got}, LiteLLM's rules give {expected}",
                case.key, case.what, case.tokens
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // One-hour cache writes are charged their own rate, above the five-minute one, below and
    // above a threshold (Vertex AI's Claude has a 1-hour rate above 200k tokens).
    for one_hour in [
        Case {
            messages: true,
            ..Case::new(
                "claude-sonnet-4-5",
                Tokens {
                    written_1h: 3_000,
                    ..t(35_200, 30_000, 4_000, 800, 0)
                },
                "one-hour cache writes",
            )
        },
        Case {
            messages: true,
            stream: true,
            ..Case::new(
                "vertex_ai/claude-sonnet-4-5",
                Tokens {
                    written_1h: 10_000,
                    ..t(250_000, 100_000, 20_000, 900, 0)
                },
                "one-hour cache writes above 200k",
            )
        },
    ] {
        let e: Entry = serde_json::from_str(map[one_hour.key].get()).unwrap();
        let p: String = serde_json::from_str(e["litellm_provider"].get()).unwrap();
        let got = call(&gw, &one_hour, true).await;
        assert_eq!(
            got,
            litellm_cost(&p, &e, one_hour.tokens),
            "{}",
            one_hour.what
        );
        let at_five_minutes = litellm_cost(
            &p,
            &e,
            Tokens {
                written_1h: 0,
                ..one_hour.tokens
            },
        );
        assert!(got > at_five_minutes, "{}", one_hour.what);
    }

    // Web searches Anthropic reports cost `search_context_cost_per_query` each (every size is
    // priced alike for Anthropic in this file; Tollgate takes the medium one).
    let e: Entry = serde_json::from_str(map["claude-sonnet-4-5"].get()).unwrap();
    let sizes: Entry = serde_json::from_str(e["search_context_cost_per_query"].get()).unwrap();
    let per_search = get(&sizes, "search_context_size_medium").unwrap();
    let tokens = t(12_000, 0, 0, 700, 0);
    let mut usage = usage_object(true, tokens);
    usage["server_tool_use"] = json!({"web_search_requests": 4});
    gw.mock.set(|s| s.usage_override = Some(usage));
    let r = gw
        .post(
            "/v1/messages",
            request(&Case {
                messages: true,
                ..Case::new("claude-sonnet-4-5", tokens, "web searches")
            }),
        )
        .await;
    let g = gw.generation(&request_id(&r)).await;
    assert_eq!(
        Decimal::from_str(g["cost_usd"].as_str().unwrap()).unwrap(),
        litellm_cost("anthropic", &e, tokens) + Decimal::from(4) * per_search
    );

    // Service tiers: a call the upstream reports serving in a tier costs what LiteLLM's rules
    // give with the tier's rates (each `*_{tier}` field in place of the standard one).
    for (key, reported, suffix) in [
        ("gpt-4o", "priority", "_priority"),
        ("gpt-5", "flex", "_flex"),
        ("gpt-5", "priority", "_priority"),
    ] {
        let e: Entry = serde_json::from_str(map[key].get()).unwrap();
        let mut tiered = e.clone();
        for (k, v) in &e {
            if let Some(base) = k.strip_suffix(suffix) {
                tiered.insert(base.to_string(), v.clone());
            }
        }
        let case = Case::new(key, t(300_000, 100_000, 0, 900, 200), "a service tier");
        gw.mock.set(|s| s.service_tier = Some(json!(reported)));
        let got = call(&gw, &case, false).await;
        gw.mock.set(|s| s.service_tier = None);
        assert_eq!(
            got,
            litellm_cost("openai", &tiered, case.tokens),
            "{key} in {reported}"
        );
        assert_ne!(
            got,
            litellm_cost("openai", &e, case.tokens),
            "{key} in {reported}"
        );
    }

    let models: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.key).collect();
    eprintln!(
        "{} calls to {} models of {} providers cost what LiteLLM's rules give",
        cases.len(),
        models.len(),
        providers.len()
    );
}
