//! Model pages (`GET /models/{id}.md`) and `llms.txt`: every section, examples that name this
//! gateway and this model and work as written, models that cannot be served, ids with `/`,
//! and an index of every model, imported ones included, that stays quick at thousands.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::gateway_support::gateway;
use crate::helpers::{settings_in, spawn_app, spawn_with, TestApp, ADMIN};

const LITELLM: &str = include_str!("../fixtures/litellm_sample.json");
const BASE: &str = "https://gw.example.test";
const PIXTRAL: &str = "mistralai-pixtral-large-2411";

/// An app whose pages show `BASE`, with a free tier when `free_tier` is not "0".
async fn app_with(free_tier: &str) -> TestApp {
    let dir = TempDir::new().unwrap();
    let mut settings = settings_in(&dir);
    settings.public_url = Some(format!("{BASE}/"));
    settings.free_tier_usd = free_tier.into();
    spawn_with(dir, settings).await
}

fn seg(id: &str) -> String {
    id.replace('/', "%2F")
}

async fn page(app: &TestApp, id: &str) -> String {
    let r = app.get(&format!("/models/{}.md", seg(id))).await;
    assert_eq!(r.status(), 200, "page of {id}");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/markdown"));
    r.text().await.unwrap()
}

async fn llms_txt(app: &TestApp) -> String {
    let r = app.get("/llms.txt").await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn import_litellm(app: &TestApp, body: &str) -> Value {
    let r = app
        .client
        .post(app.url("/admin/catalog/import?format=litellm"))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["applied"], true, "{report}");
    report
}

/// The page's `## ` headings, in order.
fn sections(page: &str) -> Vec<&str> {
    page.lines().filter(|l| l.starts_with("## ")).collect()
}

/// The page's fenced code blocks: (language, body).
fn code_blocks(page: &str) -> Vec<(&str, String)> {
    let mut out = Vec::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        if let Some(lang) = line.strip_prefix("```") {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            out.push((lang, body.join("\n")));
        }
    }
    out
}

/// Every link target of a Markdown text.
fn links(text: &str) -> Vec<&str> {
    text.match_indices("](")
        .filter_map(|(i, _)| {
            let rest = &text[i + 2..];
            rest.find(')').map(|end| &rest[..end])
        })
        .collect()
}

/// Lines of `text` between the heading `from` and the next `## ` heading.
fn section<'a>(text: &'a str, from: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| *l != from)
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .collect()
}

const SERVED_SECTIONS: &[&str] = &[
    "## Overview",
    "## Pricing",
    "## API Endpoints",
    "## Code Examples",
    "## Use with Claude Code",
    "## Default Parameters",
    "## Key Features",
    "## Technical Specifications",
    "## Related Models",
    "## FAQ",
];

#[tokio::test]
async fn a_model_page_has_every_section() {
    let app = app_with("0.50").await;
    let p = page(&app, PIXTRAL).await;
    assert_eq!(sections(&p), SERVED_SECTIONS, "{p}");
    assert_eq!(p, page(&app, PIXTRAL).await, "pages are deterministic");
    let needles: &[&str] = &[
        "# Mistral: Pixtral Large 2411\n",
        // Links between the page, llms.txt and the JSON.
        &format!("[llms.txt (every model)]({BASE}/llms.txt)"),
        &format!("[This model as JSON]({BASE}/v1/models/{PIXTRAL})"),
        &format!("[This page]({BASE}/models/{PIXTRAL}.md)"),
        // Overview.
        &format!("**Model ID:** `{PIXTRAL}`"),
        "**Creator:** Mistral AI",
        "**Provider:** ModelsLab (`modelslab`)",
        "**Mode:** chat",
        "**Status:** active",
        "**Weights:** open",
        "**Added:** 2026-02-20",
        "124B-parameter open-weight multimodal model",
        // Pricing, the blended figure and its formula.
        "| Input | $2.00 / 1M tokens |",
        "| Output | $6.00 / 1M tokens |",
        "| Cached input (cache read) | $0.20 / 1M tokens |",
        "| Cache write | $2.00 / 1M tokens (the input price) |",
        "| Reasoning | $6.00 / 1M tokens (the output price) |",
        "| Blended | $4.00 / 1M tokens |",
        "**Blended price:** $4.00 per 1M tokens = (input + output) / 2 = ($2.00 + $6.00) / 2",
        "(blended $4.00)",
        "No per-request or per-image fees.",
        // Free tier.
        "Pay-per-use. Free tier: $0.50 of credit for every new API key.",
        "**Free tier:** every new API key starts with $0.50 of credit",
        "### Is there a free tier?",
        // Endpoints.
        &format!("| OpenAI-compatible Chat Completions | POST | `{BASE}/v1/chat/completions` |"),
        &format!("| OpenAI-compatible Responses | POST | `{BASE}/v1/responses` |"),
        &format!("| Anthropic-compatible Messages | POST | `{BASE}/v1/messages` |"),
        &format!("| Anthropic-compatible count_tokens | POST | `{BASE}/v1/messages/count_tokens` |"),
        &format!("| Models (list) | GET | `{BASE}/v1/models` |"),
        &format!("`{BASE}/api/v7/llm/chat/completions`"),
        // Examples in every language, for every endpoint.
        "### Chat Completions (OpenAI-compatible)",
        "#### Python",
        "#### JavaScript",
        "#### cURL",
        "#### PHP",
        "### ModelsLab body form",
        "### Responses (OpenAI-compatible)",
        "### Messages (Anthropic-compatible)",
        "### Count tokens (Anthropic-compatible)",
        "### Models",
        // Default parameters.
        "| temperature | 0.7 |",
        "| top_p | 0.9 |",
        "| max_tokens | 1000 |",
        "| frequency_penalty | 0 |",
        "| presence_penalty | 0 |",
        // Key features, from the capabilities' descriptions.
        "- Function calling and tool use",
        "- JSON mode and structured output",
        "- Image understanding",
        // Technical specifications.
        "| Context length | 131,072 tokens |",
        "| Input modalities | text, image |",
        "| Output modalities | text |",
        "| Weights | open |",
        "| Added on | 2026-02-20 |",
        // Related models with their prices.
        &format!("| [Amazon: Nova Pro 1.0]({BASE}/models/amazon-nova-pro-v1.md) | OpenRouter | $0.80 | $3.20 | $2.00 |"),
        &format!("| [Qwen: Qwen3.6 Plus]({BASE}/models/qwen-qwen3.6-plus.md) | OpenRouter | $0.325 | $1.95 | $1.1375 |"),
        &format!("| [Qwen2.5 14B]({BASE}/models/Qwen-Qwen2.5-14B.md) | Together AI | unknown | unknown | unknown |"),
        // FAQ, from the model's data.
        "### Can I call Mistral: Pixtral Large 2411 through Tollgate?",
        "### How is a call billed?",
        "a call with 1,000 input and 500 output tokens costs $0.005.",
        "### Where do I see what a call cost?",
        "`x-tollgate-cost`",
        &format!("`GET {BASE}/v1/generations/<x-request-id>`"),
        "### What happens when my budget or credit runs out?",
        "refused with 402",
        "### Does it support streaming?\n\nYes",
        "### Does it support tools (function calling)?\n\nYes",
        "### Which model names can I use?",
    ];
    for needle in needles {
        assert!(p.contains(needle), "page lacks {needle:?}:\n{p}");
    }
    assert!(p.ends_with(&format!(
        "[llms.txt: every model]({BASE}/llms.txt) · [This model as JSON]({BASE}/v1/models/{PIXTRAL}) · [All models as JSON]({BASE}/v1/models) · [OpenAPI]({BASE}/openapi.json)\n"
    )));

    // Tiers, fees, and a model without tools.
    let qwen = page(&app, "qwen-qwen3.6-plus").await;
    assert!(
        qwen.contains("| 256,000 | $1.30 | $3.90 | $1.30 | $1.30 | $3.90 |"),
        "{qwen}"
    );
    assert!(qwen.contains("| Cache write | $0.40625 / 1M tokens |"));
    assert!(qwen.contains(
        "Calls with more than 256,000 input tokens are charged at the long-context tier prices"
    ));
    let sonar = page(&app, "perplexity-sonar-pro-search").await;
    assert!(sonar.contains("| Per request | $0.018 |"), "{sonar}");
    assert!(sonar.contains(", plus $0.018 per request."));
    assert!(!sonar.contains("No per-request or per-image fees."));
    // Aliases: on the overview, for Claude Code and in the FAQ.
    let opus = page(&app, "anthropic-claude-opus-4.6").await;
    assert!(
        opus.contains("**Also called:** `anthropic/claude-*`, "),
        "{opus}"
    );
    assert!(opus.contains("Its aliases work as `--model` too: `anthropic/claude-*`"));
    assert!(opus.contains("or any of its aliases: `anthropic/claude-*`"));
    // Unpriced: no price, and why it cannot be called yet.
    let unpriced = page(&app, "Qwen-Qwen2.5-14B").await;
    assert_eq!(sections(&unpriced), SERVED_SECTIONS);
    assert!(unpriced.contains("No public price is known"));
    assert!(unpriced.contains("**Not callable until priced.**"));
    assert!(unpriced.contains("`model_not_priced`"));

    // Without a free tier, no free-tier text.
    let plain = app_with("0").await;
    let p = page(&plain, PIXTRAL).await;
    assert!(!p.to_lowercase().contains("free tier"), "{p}");
    assert!(p.contains("Pay-per-use."));
    assert!(!llms_txt(&plain).await.to_lowercase().contains("free tier"));
    assert!(llms_txt(&app)
        .await
        .contains("Free tier: $0.50 of credit for every new API key."));
}

#[tokio::test]
async fn examples_name_this_gateway_and_this_model() {
    let app = app_with("0").await;
    let p = page(&app, PIXTRAL).await;
    let blocks = code_blocks(&p);
    let languages: Vec<&str> = blocks.iter().map(|b| b.0).collect();
    for lang in ["python", "javascript", "bash", "php"] {
        assert!(
            languages.contains(&lang),
            "no {lang} example: {languages:?}"
        );
    }
    for (lang, body) in &blocks {
        assert!(
            body.contains(BASE),
            "a {lang} example without the base URL:\n{body}"
        );
        assert!(
            body.contains(PIXTRAL),
            "a {lang} example without the model id:\n{body}"
        );
    }
    assert!(!p.contains("127.0.0.1") && !p.contains("localhost"));
    let needles: &[&str] = &[
        &format!("OpenAI(base_url=\"{BASE}/v1\", api_key=os.environ[\"TOLLGATE_API_KEY\"])"),
        &format!("new OpenAI({{ baseURL: \"{BASE}/v1\", apiKey: process.env.TOLLGATE_API_KEY }})"),
        &format!("Anthropic(base_url=\"{BASE}\", api_key=os.environ[\"TOLLGATE_API_KEY\"])"),
        &format!("new Anthropic({{ baseURL: \"{BASE}\", apiKey: process.env.TOLLGATE_API_KEY }})"),
        &format!("model=\"{PIXTRAL}\""),
        &format!("model: \"{PIXTRAL}\""),
        "client.responses.create(",
        "client.messages.count_tokens(",
        &format!("curl_init('{BASE}/v1/chat/completions')"),
        &format!("'model' => '{PIXTRAL}'"),
        &format!("curl_init('{BASE}/api/v7/llm/chat/completions')"),
        &format!("'model_id' => '{PIXTRAL}',\n        'key' => getenv('TOLLGATE_API_KEY'),"),
        &format!("-d '{{\"model_id\": \"{PIXTRAL}\", \"key\": \"'\"$TOLLGATE_API_KEY\"'\", \"messages\":"),
        // Anthropic's max_tokens is the model's default.
        "max_tokens=1000,",
        &format!("ANTHROPIC_BASE_URL={BASE} ANTHROPIC_AUTH_TOKEN=$TOLLGATE_API_KEY claude --model {PIXTRAL}\n"),
    ];
    for needle in needles {
        assert!(p.contains(needle), "page lacks {needle:?}:\n{p}");
    }
}

/// A cURL example as a request: method, path, headers and body, with the shell's
/// `$TOLLGATE_API_KEY` (and the ModelsLab body's `'"$TOLLGATE_API_KEY"'` splice) replaced by
/// `key`, as bash would.
struct Curl {
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

fn curl_requests(page: &str, base: &str, key: &str) -> Vec<Curl> {
    let mut out = Vec::new();
    for (lang, block) in code_blocks(page) {
        if lang != "bash" {
            continue;
        }
        let mut current: Option<Curl> = None;
        for line in block.lines() {
            let line = line.trim().trim_end_matches('\\').trim();
            if let Some(url) = line.strip_prefix("curl ") {
                out.extend(current.take());
                let path = url.strip_prefix(base).expect("examples use the base URL");
                current = Some(Curl {
                    path: path.to_string(),
                    headers: vec![],
                    body: None,
                });
            } else if let Some(h) = line.strip_prefix("-H \"") {
                let h = h.trim_end_matches('"').replace("$TOLLGATE_API_KEY", key);
                let (name, value) = h.split_once(": ").unwrap();
                let c = current.as_mut().unwrap();
                c.headers.push((name.to_string(), value.to_string()));
            } else if let Some(b) = line.strip_prefix("-d '") {
                let b = b
                    .strip_suffix('\'')
                    .unwrap()
                    .replace("'\"$TOLLGATE_API_KEY\"'", key);
                current.as_mut().unwrap().body = Some(b);
            }
        }
        out.extend(current.take());
    }
    out
}

#[tokio::test]
async fn the_curl_examples_work_as_written() {
    let gw = gateway().await;
    import_litellm(&gw.app, LITELLM).await;
    // An OpenAI-kind model, an Anthropic-kind one, and an imported id with `/` and `.`.
    for id in ["oa-model", "an-model", "mock-openai/gpt-imported"] {
        let p = page(&gw.app, id).await;
        let requests = curl_requests(&p, &gw.app.base, &gw.key);
        let paths: Vec<&str> = requests.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/v1/chat/completions".to_string(),
                "/api/v7/llm/chat/completions".into(),
                "/v1/responses".into(),
                "/v1/messages".into(),
                "/v1/messages/count_tokens".into(),
                format!("/v1/models/{}", seg(id)),
                "/v1/models".into(),
            ],
            "{p}"
        );
        for c in requests {
            let url = gw.app.url(&c.path);
            let mut req = match &c.body {
                Some(b) => gw.app.client.post(url).body(b.clone()),
                None => gw.app.client.get(url),
            };
            for (name, value) in &c.headers {
                req = req.header(name, value);
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let answer: Value = r.json().await.unwrap();
            assert_eq!(status, 200, "{id} {}: {answer}", c.path);
            if c.path.starts_with("/v1/models/") {
                assert_eq!(answer["id"], id);
            } else if c.path.ends_with("count_tokens") {
                assert!(answer["input_tokens"].as_u64().unwrap() > 0);
            } else if c.path != "/v1/models" {
                assert_eq!(answer["model"], id, "{}: {answer}", c.path);
            }
        }
    }
}

#[tokio::test]
async fn a_model_that_is_not_served_shows_no_call_examples() {
    let app = spawn_app().await;
    import_litellm(&app, LITELLM).await;
    let p = page(&app, "text-embedding-imported").await;
    assert_eq!(
        sections(&p),
        [
            "## Overview",
            "## Pricing",
            "## API Endpoints",
            "## Default Parameters",
            "## Key Features",
            "## Technical Specifications",
            "## Related Models",
            "## FAQ",
        ],
        "{p}"
    );
    assert!(!p.contains("```"), "no code at all:\n{p}");
    for needle in [
        "**Mode:** embedding",
        "> **Not served by the gateway.** Its mode is `embedding`",
        "`model_not_servable`",
        "This page therefore shows no call examples.",
        "| Output modalities | embeddings (vectors) |",
        "| Input | $0.02 / 1M tokens |",
        "### What are its prices for?",
    ] {
        assert!(p.contains(needle), "page lacks {needle:?}:\n{p}");
    }
    for absent in [
        "/v1/chat/completions",
        "ANTHROPIC_BASE_URL",
        "### How is a call billed?",
        "Does it support streaming",
    ] {
        assert!(!p.contains(absent), "page has {absent:?}:\n{p}");
    }

    // A deprecated model: no examples either, and it says since when.
    let (s, _) = app
        .admin(
            Method::DELETE,
            "/admin/models/sao10k-l3.1-euryale-70b",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let p = page(&app, "sao10k-l3.1-euryale-70b").await;
    assert!(!p.contains("```"), "{p}");
    assert!(p.contains("**Status:** deprecated"));
    assert!(p.contains("> **Deprecated.** Calls to this model are refused (404 `model_not_found`)"));
    // A scheduled deprecation is announced, and the examples stay.
    let p = page(&app, "claude-imported-4-5@20250929").await;
    assert!(
        p.contains("**Status:** active; deprecated from 2099-09-29 (scheduled)"),
        "{p}"
    );
    assert!(p.contains("> **Deprecation scheduled.** From 2099-09-29"));
    assert!(p.contains("## Code Examples"));
}

#[tokio::test]
async fn ids_with_a_slash_link_with_percent_2f() {
    let app = spawn_app().await;
    import_litellm(&app, LITELLM).await;
    let id = "mock-openai/gpt-imported";
    let p = page(&app, id).await;
    let base = &app.base;
    for needle in [
        format!("[This page]({base}/models/mock-openai%2Fgpt-imported.md)"),
        format!("[This model as JSON]({base}/v1/models/mock-openai%2Fgpt-imported)"),
        format!("`{base}/v1/models/mock-openai%2Fgpt-imported`"),
        format!("curl {base}/v1/models/mock-openai%2Fgpt-imported\n"),
        format!("**Model ID:** `{id}`"),
        // In bodies the id is written as it is.
        format!("\"model\": \"{id}\""),
        format!("--model {id}\n"),
    ] {
        assert!(p.contains(&needle), "page lacks {needle:?}:\n{p}");
    }
    assert!(!p.contains("/models/mock-openai/gpt-imported"), "{p}");
    // Its provider was not configured by the import: listing-only.
    assert!(p.contains("> **Not callable until configured.**"));
    assert!(p.contains("`provider_not_configured`"));
    assert!(p.contains("`PATCH /admin/providers/mock-openai`"));

    // A related model with `/` in its id, linked from another page.
    let (s, v) = app
        .admin(
            Method::PUT,
            &format!("/admin/models/{PIXTRAL}/related"),
            Some(json!({"related": [id, "bedrock/anthropic.claude-imported-v1:0"]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let pixtral = page(&app, PIXTRAL).await;
    assert!(pixtral.contains(&format!(
        "| [mock-openai/gpt-imported]({base}/models/mock-openai%2Fgpt-imported.md) | mock-openai | $2.50 | $10.00 | $6.25 |"
    )), "{pixtral}");
    assert!(pixtral.contains(&format!(
        "({base}/models/bedrock%2Fanthropic.claude-imported-v1:0.md)"
    )));
    // Every link of both pages that points at the gateway answers.
    for text in [&p, &pixtral] {
        for link in links(text)
            .into_iter()
            .filter(|l| l.starts_with(base.as_str()))
        {
            let r = app.client.get(link).send().await.unwrap();
            assert_eq!(r.status(), 200, "{link}");
        }
    }
}

#[tokio::test]
async fn llms_txt_lists_every_model_including_imported_ones() {
    let app = spawn_app().await;
    let report = import_litellm(&app, LITELLM).await;
    let (s, _) = app
        .admin(
            Method::DELETE,
            "/admin/models/sao10k-l3.1-euryale-70b",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let text = llms_txt(&app).await;
    let base = &app.base;
    assert!(text.starts_with("# Tollgate model catalog\n\n> "));
    let (_, all) = app.get_json("/v1/models?status=all").await;
    let ids = crate::helpers::ids(&all);
    assert!(ids.len() >= 24, "{ids:?}");
    for added in report["models_added"].as_array().unwrap() {
        assert!(ids.iter().any(|i| i == added.as_str().unwrap()));
    }
    let models = section(&text, "## Models");
    let not_served = section(&text, "## Listed, not served");
    let deprecated = section(&text, "## Deprecated");
    for id in &ids {
        let link = format!("]({base}/models/{}.md)", seg(id));
        assert_eq!(
            text.matches(&link).count(),
            1,
            "{id} once in llms.txt:\n{text}"
        );
        let listed_in = |lines: &[&str]| lines.iter().any(|l| l.contains(&link));
        let expected = match id.as_str() {
            "sao10k-l3.1-euryale-70b" => &deprecated,
            "text-embedding-imported" => &not_served,
            _ => &models,
        };
        assert!(listed_in(expected), "{id} in its section:\n{text}");
    }
    for needle in [
        format!("- [Mistral: Pixtral Large 2411]({base}/models/{PIXTRAL}.md): `{PIXTRAL}`, by Mistral AI via ModelsLab; $2.00 input / $6.00 output per 1M tokens (blended $4.00); context 131,072 tokens\n"),
        format!("({base}/models/mock-openai%2Fgpt-imported.md): `mock-openai/gpt-imported`, "),
        "; not callable until its provider is configured".to_string(),
        "; embedding model, not served\n".to_string(),
        "; deprecated from 2099-09-29\n".to_string(),
        "blended = (input + output) / 2".to_string(),
        format!("- [Model list as JSON]({base}/v1/models)"),
        format!("- [OpenAPI description]({base}/openapi.json)"),
    ] {
        assert!(text.contains(&needle), "llms.txt lacks {needle:?}:\n{text}");
    }
    // Every model link answers with that model's page.
    for link in links(&text).into_iter().filter(|l| l.ends_with(".md")) {
        let r = app.client.get(link).send().await.unwrap();
        assert_eq!(r.status(), 200, "{link}");
    }
}

#[tokio::test]
async fn llms_txt_of_thousands_of_models_is_quick() {
    let app = spawn_app().await;
    let (_, seeded) = app.get_json("/v1/models?status=all").await;
    let seeded = crate::helpers::ids(&seeded).len();
    let mut list = serde_json::Map::new();
    for i in 0..3000 {
        list.insert(
            format!("bulk/model-{i:04}"),
            json!({"litellm_provider": "openai", "mode": if i % 10 == 0 { "embedding" } else { "chat" },
                   "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "max_input_tokens": 128000}),
        );
    }
    import_litellm(&app, &Value::Object(list).to_string()).await;
    let started = Instant::now();
    let text = llms_txt(&app).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "llms.txt of {} models took {took:?}",
        seeded + 3000
    );
    for i in [0, 1, 1234, 2999] {
        assert!(
            text.contains(&format!("/models/bulk%2Fmodel-{i:04}.md)")),
            "model-{i:04}"
        );
    }
    assert_eq!(
        text.matches("](").count(),
        seeded + 3000 + 2,
        "every model once, and the two optional links"
    );
    let started = Instant::now();
    page(&app, "bulk/model-0001").await;
    assert!(started.elapsed() < Duration::from_secs(1));
}
