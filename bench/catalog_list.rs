//! `GET /v1/models` on a catalog of about 3,000 models.
//!
//! ```text
//! cargo build --release --bin tollgate --examples
//! target/release/examples/catalog_list [models]        # default 3000
//! ```
//!
//! Generates a LiteLLM price map (two thirds of the models: 24 providers, most of them
//! listing-only, chat and embedding modes, cache prices, long-context tiers, deprecation dates)
//! and an OpenRouter model list (the rest, with descriptions of OpenRouter's length), starts the
//! release binary (`TOLLGATE_BIN` to use another) on a fresh SQLite file with the seed catalog,
//! imports both through `POST /admin/catalog/import` (timed), then times list requests over
//! HTTP: 20 runs each after one warm-up, median and slowest, with the answer's size.

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

const ADMIN: &str = "bench-admin";

const LITELLM_PROVIDERS: &[&str] = &[
    "openai",
    "anthropic",
    "bedrock",
    "bedrock_converse",
    "vertex_ai-language-models",
    "vertex_ai-anthropic_models",
    "azure",
    "azure_ai",
    "gemini",
    "mistral",
    "groq",
    "together_ai",
    "fireworks_ai",
    "deepinfra",
    "cohere_chat",
    "perplexity",
    "xai",
    "deepseek",
    "cerebras",
    "sambanova",
    "watsonx",
    "databricks",
    "sagemaker",
    "ollama",
];

const CREATORS: &[&str] = &[
    "anthropic",
    "openai",
    "google",
    "meta-llama",
    "mistralai",
    "qwen",
    "deepseek",
    "x-ai",
    "cohere",
    "nvidia",
    "microsoft",
    "amazon",
    "minimax",
    "moonshotai",
    "z-ai",
    "nousresearch",
];

const WORDS: &[&str] = &[
    "model",
    "reasoning",
    "coding",
    "agentic",
    "multimodal",
    "context",
    "tool",
    "use",
    "fast",
    "efficient",
    "instruction",
    "following",
    "benchmark",
    "long",
    "documents",
    "vision",
    "mixture-of-experts",
    "tuned",
    "open",
    "weights",
    "latency",
    "quality",
    "multilingual",
    "structured",
    "output",
    "function",
    "calling",
    "state-of-the-art",
    "chat",
    "assistant",
];

/// A per-token price written as LiteLLM writes it (`1.5e-06`), from a price per 1M tokens.
fn per_token_number(per_mtok: f64) -> String {
    format!("{per_mtok:.3}e-06")
}

fn per_mtok(rng: &mut StdRng) -> f64 {
    [
        0.02, 0.05, 0.1, 0.15, 0.25, 0.4, 0.6, 1.0, 1.25, 2.0, 2.5, 3.0, 5.0, 10.0, 15.0, 75.0,
    ][rng.gen_range(0..16)]
}

fn litellm(n: usize, rng: &mut StdRng) -> String {
    let mut map = Map::new();
    for i in 0..n {
        let provider = LITELLM_PROVIDERS[i % LITELLM_PROVIDERS.len()];
        let family = [
            "claude", "gpt", "gemini", "llama", "mistral", "qwen", "command",
        ][i % 7];
        let id = match i % 4 {
            0 => format!("{provider}/{family}-bench-{i}"),
            1 => format!("{family}-bench-{i}-20250929"),
            2 => format!("{provider}/{family}.bench-{i}-v1:0"),
            _ => format!("{provider}/{family}-bench-{i}@latest"),
        };
        let input = per_mtok(rng);
        let embedding = i % 10 == 9;
        let max_input = [8192, 32768, 128000, 200000, 1000000][i % 5];
        let max_output = [4096, 8192, 16384, 64000][i % 4];
        let mut e = json!({
            "litellm_provider": provider,
            "mode": if embedding { "embedding" } else { "chat" },
            "max_input_tokens": max_input,
            "max_output_tokens": max_output,
        });
        let o = e.as_object_mut().unwrap();
        let number = |s: String| Value::Number(s.parse().unwrap());
        o.insert(
            "input_cost_per_token".into(),
            number(per_token_number(input)),
        );
        if !embedding {
            o.insert(
                "output_cost_per_token".into(),
                number(per_token_number(input * 4.0)),
            );
            if rng.gen_bool(0.6) {
                o.insert(
                    "cache_read_input_token_cost".into(),
                    number(per_token_number(input / 10.0)),
                );
            }
            if rng.gen_bool(0.3) {
                o.insert(
                    "cache_creation_input_token_cost".into(),
                    number(per_token_number(input * 1.25)),
                );
            }
            if rng.gen_bool(0.1) {
                o.insert(
                    "input_cost_per_token_above_200k_tokens".into(),
                    number(per_token_number(input * 2.0)),
                );
                o.insert(
                    "output_cost_per_token_above_200k_tokens".into(),
                    number(per_token_number(input * 6.0)),
                );
            }
            for (flag, p) in [
                ("supports_function_calling", 0.7),
                ("supports_vision", 0.4),
                ("supports_response_schema", 0.5),
                ("supports_reasoning", 0.3),
                ("supports_system_messages", 0.8),
                ("supports_pdf_input", 0.2),
            ] {
                if rng.gen_bool(p) {
                    o.insert(flag.into(), Value::Bool(true));
                }
            }
        }
        if i % 20 == 7 {
            o.insert("deprecation_date".into(), json!("2025-06-30"));
        }
        map.insert(id, e);
    }
    serde_json::to_string(&Value::Object(map)).unwrap()
}

fn description(rng: &mut StdRng) -> String {
    let mut d = String::new();
    while d.len() < 600 {
        let w = WORDS[rng.gen_range(0..WORDS.len())];
        let _ = write!(d, "{w} ");
    }
    d.trim_end().to_string() + "."
}

fn openrouter(n: usize, rng: &mut StdRng) -> String {
    let mut data = Vec::new();
    for i in 0..n {
        let creator = CREATORS[i % CREATORS.len()];
        let free = i % 12 == 0;
        let id = format!(
            "{creator}/bench-{i}-{}{}",
            ["instruct", "chat", "thinking", "preview"][i % 4],
            if free { ":free" } else { "" }
        );
        let input = if free { 0.0 } else { per_mtok(rng) };
        let s = |per_mtok: f64| {
            format!("{:.12}", per_mtok / 1e6)
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        };
        let mut pricing =
            json!({"prompt": s(input), "completion": s(input * 4.0), "request": "0", "image": "0"});
        if rng.gen_bool(0.5) {
            pricing["input_cache_read"] = s(input / 10.0).into();
        }
        let image = rng.gen_bool(0.4);
        let mut params = vec!["max_tokens", "temperature", "top_p", "stop"];
        if rng.gen_bool(0.7) {
            params.extend(["tools", "tool_choice"]);
        }
        if rng.gen_bool(0.4) {
            params.extend(["reasoning", "include_reasoning"]);
        }
        if rng.gen_bool(0.5) {
            params.push("response_format");
        }
        let context = [32768, 131072, 200000, 1048576][i % 4];
        data.push(json!({
            "id": id,
            "canonical_slug": id,
            "name": format!("{creator}: Bench {i}"),
            "created": 1_700_000_000 + (i as i64) * 7_919,
            "description": description(rng),
            "context_length": context,
            "architecture": {"modality": if image { "text+image->text" } else { "text->text" },
                "input_modalities": if image { json!(["text", "image"]) } else { json!(["text"]) },
                "output_modalities": ["text"], "tokenizer": "Other", "instruct_type": null},
            "pricing": pricing,
            "top_provider": {"context_length": 131072, "max_completion_tokens": 16384, "is_moderated": false},
            "per_request_limits": null,
            "supported_parameters": params,
        }));
    }
    serde_json::to_string(&json!({"data": data})).unwrap()
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(3000, |s| s.parse().expect("a number of models"));
    let mut rng = StdRng::seed_from_u64(12);
    let from_litellm = n * 2 / 3;
    let litellm = litellm(from_litellm, &mut rng);
    let openrouter = openrouter(n - from_litellm, &mut rng);

    let dir = tempfile::TempDir::new().unwrap();
    let db = format!("sqlite://{}", dir.path().join("bench.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = std::env::var("TOLLGATE_BIN").unwrap_or_else(|_| "target/release/tollgate".into());
    let mut child = Command::new(binary)
        .arg("serve")
        .env("TOLLGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("TOLLGATE_DATABASE_URL", &db)
        .env("TOLLGATE_ADMIN_TOKEN", ADMIN)
        .env("TOLLGATE_SEEDS_DIR", "seeds")
        .env("TOLLGATE_MAX_BODY_BYTES", (64 << 20).to_string())
        .env("TOLLGATE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for (format, body) in [("litellm", litellm), ("openrouter", openrouter)] {
        let t = Instant::now();
        let r = client
            .post(format!("{base}/admin/catalog/import?format={format}"))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "import {format}: {}", r.status());
        let plan: Value = r.json().await.unwrap();
        println!(
            "import {format:<10} {:>5} models added, {:>3} skipped, {:>6.1} MB in {:>7.0} ms",
            plan["models_added"].as_array().map_or(0, Vec::len),
            plan["skipped"].as_array().map_or(0, Vec::len),
            body.len() as f64 / 1e6,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    let health: Value = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!("catalog: {} models", health["models"]);

    // A model deep in the name order, for the Anthropic shape's cursor.
    let by_name: Value = client
        .get(format!("{base}/v1/models?sort=name&limit=1000"))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let deep = by_name["last_id"].as_str().unwrap().to_string();
    let deep_encoded: String = form_urlencoded::byte_serialize(deep.as_bytes()).collect();

    let openai = [
        ("whole list (active)", "/v1/models".to_string()),
        (
            "whole list, status=all, sort=name",
            "/v1/models?status=all&sort=name".into(),
        ),
        (
            "provider=openrouter",
            "/v1/models?provider=openrouter".into(),
        ),
        (
            "capability=tools,vision, sort=input_price",
            "/v1/models?capability=tools,vision&sort=input_price".into(),
        ),
        (
            "max_input_price=1, sort=output_price desc",
            "/v1/models?max_input_price=1&sort=output_price&order=desc".into(),
        ),
        (
            "q=claude, sort=name",
            "/v1/models?q=claude&sort=name".into(),
        ),
        ("q=agentic (descriptions)", "/v1/models?q=agentic".into()),
        ("free=true", "/v1/models?free=true".into()),
        (
            "one model",
            "/v1/models/anthropic%2Fbench-0-instruct:free".into(),
        ),
        (
            "one model, bare /",
            "/v1/models/anthropic/bench-0-instruct:free".into(),
        ),
    ];
    let anthropic = [
        ("page of 20", "/v1/models?limit=20".to_string()),
        (
            "page of 20, sort=name",
            "/v1/models?limit=20&sort=name".into(),
        ),
        (
            "page of 20 after the 1000th by name",
            format!("/v1/models?limit=20&sort=name&after_id={deep_encoded}"),
        ),
        (
            "page of 100, capability=tools, sort=input_price",
            "/v1/models?limit=100&capability=tools&sort=input_price".into(),
        ),
        ("page of 1000", "/v1/models?limit=1000".into()),
    ];
    let cases = openai
        .into_iter()
        .map(|(n, p)| (format!("OpenAI  {n}"), p, false))
        .chain(
            anthropic
                .into_iter()
                .map(|(n, p)| (format!("Anthropic {n}"), p, true)),
        );
    for (name, path, anthropic) in cases {
        let get = || {
            let req = client.get(format!("{base}{path}"));
            if anthropic {
                req.header("anthropic-version", "2023-06-01")
            } else {
                req
            }
        };
        let first = get().send().await.unwrap();
        assert!(first.status().is_success(), "{path}: {}", first.status());
        let body: Value = first.json().await.unwrap();
        let count = body["data"].as_array().map_or(1, Vec::len);
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..20 {
            let t = Instant::now();
            let r = get().send().await.unwrap();
            bytes = r.bytes().await.unwrap().len();
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{name:<58} {count:>5} models {:>8.0} KB   median {:>7.2} ms   max {:>7.2} ms",
            bytes as f64 / 1024.0,
            times[10].as_secs_f64() * 1e3,
            times[19].as_secs_f64() * 1e3
        );
    }
    // The first list after a catalog change renders every model again (the rendering is kept
    // per catalog snapshot): a model's description changed before each request.
    let mut times = Vec::new();
    for n in 0..10 {
        let r = client
            .patch(format!("{base}/admin/models/openai%2Fclaude-bench-0"))
            .bearer_auth(ADMIN)
            .json(&json!({"description": format!("changed {n}")}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "patch: {}", r.status());
        let t = Instant::now();
        let r = client
            .get(format!("{base}/v1/models"))
            .send()
            .await
            .unwrap();
        let _ = r.bytes().await.unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{:<58} {:>5}        {:>8}      median {:>7.2} ms   max {:>7.2} ms",
        "OpenAI  whole list, first after a catalog change",
        "",
        "",
        times[5].as_secs_f64() * 1e3,
        times[9].as_secs_f64() * 1e3
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
