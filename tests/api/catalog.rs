use serde_json::Value;

use crate::helpers::{ids, spawn_app};

/// The seed table of the catalog issue: id, input, output, cached read (None = unknown price).
type SeedRow = (
    &'static str,
    Option<(&'static str, &'static str)>,
    Option<&'static str>,
);

const SEEDED: &[SeedRow] = &[
    (
        "mistralai-pixtral-large-2411",
        Some(("2.00", "6.00")),
        Some("0.20"),
    ),
    ("deepseek-ai-DeepSeek-R1-Distill-Qwen-1.5B", None, None),
    ("amazon-nova-pro-v1", Some(("0.80", "3.20")), None),
    ("Qwen-Qwen2.5-14B", None, None),
    ("nvidia-nemotron-nano-9b-v2", Some(("0.04", "0.16")), None),
    ("qwen-qwen3.5-35b-a3b", Some(("0.25", "1.25")), Some("0.25")),
    ("openai-gpt-4-turbo", Some(("10.00", "30.00")), None),
    (
        "anthropic-claude-opus-4.6",
        Some(("5.00", "25.00")),
        Some("0.50"),
    ),
    ("scb10x-scb10x-typhoon-2-1-gemma3-12b", None, None),
    ("baidu-cobuddy-free", Some(("0", "0")), None),
    ("nvidia-nemotron-nano-9b-v2-free", Some(("0", "0")), None),
    ("qwen-qwen3.6-plus", Some(("0.325", "1.95")), None),
    (
        "MiniMaxAI-MiniMax-M2.7",
        Some(("0.30", "1.20")),
        Some("0.06"),
    ),
    ("mistralai-Devstral-Small-2505", None, None),
    ("perplexity-sonar-pro-search", Some(("3.00", "15.00")), None),
    (
        "nvidia-Llama-3.1-Nemotron-70B-Instruct-HF",
        Some(("0.88", "0.88")),
        None,
    ),
    ("mistralai-Mistral-7B-Instruct-v0.3", None, None),
    (
        "cohere-command-r-plus-08-2024",
        Some(("2.50", "10.00")),
        None,
    ),
    ("sao10k-l3.1-euryale-70b", Some(("0.85", "0.85")), None),
];

fn find<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} missing"))
}

#[tokio::test]
async fn lists_the_seeded_catalog_with_its_prices() {
    let app = spawn_app().await;
    let (status, list) = app.get_json("/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"].as_array().unwrap().len(), 23);
    for (id, price, cached) in SEEDED {
        let m = find(&list, id);
        assert_eq!(m["object"], "model");
        assert!(m["created"].is_i64() && m["owned_by"].is_string());
        match price {
            None => assert!(m["pricing"].is_null(), "{id} should be unpriced"),
            Some((input, output)) => {
                assert_eq!(m["pricing"]["input_per_mtok"], *input, "{id}");
                assert_eq!(m["pricing"]["output_per_mtok"], *output, "{id}");
                assert_eq!(
                    m["pricing"]["cached_input_per_mtok"],
                    cached.map_or(Value::Null, |c| c.into()),
                    "{id}"
                );
            }
        }
    }
    let opus = find(&list, "anthropic-claude-opus-4.6");
    assert_eq!(opus["pricing"]["cache_write_per_mtok"], "6.25");
    assert_eq!(opus["context_length"], 1_000_000);
    assert_eq!(opus["max_output_tokens"], 128_000);
    let qwen = find(&list, "qwen-qwen3.6-plus");
    assert_eq!(qwen["pricing"]["cache_write_per_mtok"], "0.40625");
    assert_eq!(qwen["pricing"]["tiers"][0]["above_input_tokens"], 256_000);
    assert_eq!(qwen["pricing"]["tiers"][0]["input_per_mtok"], "1.30");
    assert_eq!(qwen["pricing"]["tiers"][0]["output_per_mtok"], "3.90");
    assert_eq!(
        find(&list, "perplexity-sonar-pro-search")["pricing"]["per_request"],
        "0.018"
    );
    let pixtral = find(&list, "mistralai-pixtral-large-2411");
    assert_eq!(pixtral["provider"], "modelslab");
    assert_eq!(
        pixtral["input_modalities"],
        serde_json::json!(["text", "image"])
    );
    assert_eq!(pixtral["default_parameters"]["temperature"], "0.7");
    assert_eq!(pixtral["default_parameters"]["max_tokens"], 1000);
    assert_eq!(pixtral["added_on"], "2026-02-20");
}

#[tokio::test]
async fn modelslab_path_serves_the_same_list() {
    let app = spawn_app().await;
    let (_, a) = app.get_json("/v1/models").await;
    let (status, b) = app.get_json("/api/v7/llm/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&a), ids(&b));
}

#[tokio::test]
async fn anthropic_shape_pages_through_the_list() {
    let app = spawn_app().await;
    let (status, first) = app.get_anthropic("/v1/models?limit=5").await;
    assert_eq!(status, 200);
    let data = first["data"].as_array().unwrap();
    assert_eq!(data.len(), 5);
    assert_eq!(data[0]["type"], "model");
    assert!(data[0]["display_name"].is_string());
    assert!(chrono::DateTime::parse_from_rfc3339(data[0]["created_at"].as_str().unwrap()).is_ok());
    assert_eq!(first["has_more"], true);
    assert_eq!(first["first_id"], data[0]["id"]);
    assert_eq!(first["last_id"], data[4]["id"]);
    let mut seen = ids(&first);
    let mut after = first["last_id"].as_str().unwrap().to_string();
    loop {
        let (_, page) = app
            .get_anthropic(&format!("/v1/models?limit=5&after_id={after}"))
            .await;
        seen.extend(ids(&page));
        if page["has_more"] == false {
            break;
        }
        after = page["last_id"].as_str().unwrap().to_string();
    }
    assert_eq!(seen.len(), 23);
    let (_, all) = app.get_json("/v1/models").await;
    assert_eq!(seen, ids(&all), "anthropic paging walks the same order");
    let (_, before) = app
        .get_anthropic(&format!("/v1/models?limit=3&before_id={}", seen[5]))
        .await;
    assert_eq!(ids(&before), seen[2..5].to_vec());
    assert_eq!(before["has_more"], true);
    let (status, bad) = app.get_anthropic("/v1/models?after_id=nope").await;
    assert_eq!(status, 400);
    assert_eq!(bad["type"], "error");
    assert_eq!(bad["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let app = spawn_app().await;
    let count = |v: &Value| v["data"].as_array().unwrap().len();
    let (_, together) = app.get_json("/v1/models?provider=together").await;
    assert_eq!(count(&together), 4);
    let (_, vision) = app.get_json("/v1/models?capability=vision,tools").await;
    assert!(ids(&vision).contains(&"mistralai-pixtral-large-2411".to_string()));
    assert!(vision["data"].as_array().unwrap().iter().all(|m| {
        let caps = m["capabilities"].as_array().unwrap();
        caps.contains(&"vision".into()) && caps.contains(&"tools".into())
    }));
    let (_, video) = app.get_json("/v1/models?modality=video").await;
    let mut v = ids(&video);
    v.sort();
    assert_eq!(v, vec!["qwen-qwen3.5-35b-a3b", "qwen-qwen3.6-plus"]);
    let (_, cheap) = app
        .get_json("/v1/models?max_input_price=0.30&max_output_price=1.25")
        .await;
    let mut c = ids(&cheap);
    c.sort();
    assert_eq!(
        c,
        vec![
            "MiniMaxAI-MiniMax-M2.7",
            "baidu-cobuddy-free",
            "nvidia-nemotron-nano-9b-v2",
            "nvidia-nemotron-nano-9b-v2-free",
            "openai-gpt-4o-mini",
            "qwen-qwen3.5-35b-a3b"
        ]
    );
    let (_, free) = app.get_json("/v1/models?free=true").await;
    let mut f = ids(&free);
    f.sort();
    assert_eq!(
        f,
        vec!["baidu-cobuddy-free", "nvidia-nemotron-nano-9b-v2-free"]
    );
    let (_, search) = app.get_json("/v1/models?q=PIXTRAL").await;
    assert_eq!(ids(&search), vec!["mistralai-pixtral-large-2411"]);
    let (_, search) = app.get_json("/v1/models?q=charts").await;
    assert_eq!(
        ids(&search),
        vec!["mistralai-pixtral-large-2411"],
        "searches descriptions"
    );
}

#[tokio::test]
async fn sorts_by_price_name_and_date() {
    let app = spawn_app().await;
    let (_, by_input) = app.get_json("/v1/models?sort=input_price").await;
    let prices: Vec<Option<f64>> = by_input["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["pricing"]["input_per_mtok"]
                .as_str()
                .map(|s| s.parse().unwrap())
        })
        .collect();
    let known: Vec<f64> = prices.iter().flatten().copied().collect();
    assert!(known.windows(2).all(|w| w[0] <= w[1]), "{known:?}");
    assert!(
        prices[known.len()..].iter().all(Option::is_none),
        "unpriced models sort last"
    );
    let (_, desc) = app
        .get_json("/v1/models?sort=output_price&order=desc")
        .await;
    assert_eq!(ids(&desc)[0], "openai-gpt-4-turbo");
    let (_, by_name) = app.get_json("/v1/models?sort=name").await;
    let names: Vec<String> = by_name["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]));
    let (_, by_date) = app.get_json("/v1/models?sort=date_added&order=asc").await;
    assert_eq!(
        ids(&by_date)[0],
        "mistralai-pixtral-large-2411",
        "added first, on 2026-02-20"
    );
    let (status, bad) = app.get_json("/v1/models?sort=popularity").await;
    assert_eq!(status, 400);
    assert_eq!(bad["error"]["param"], "sort");
}

#[tokio::test]
async fn model_detail_has_history_and_related_models() {
    let app = spawn_app().await;
    let (status, pixtral) = app
        .get_json("/v1/models/mistralai-pixtral-large-2411")
        .await;
    assert_eq!(status, 200);
    let related: Vec<&str> = pixtral["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = SEEDED.iter().skip(1).map(|s| s.0).collect();
    assert_eq!(
        related, expected,
        "the other 18, in the catalog page's order"
    );
    assert_eq!(pixtral["related"][1]["pricing"]["input_per_mtok"], "0.80");
    assert!(pixtral["related"][0]["pricing"].is_null());
    let (_, qwen) = app.get_json("/v1/models/qwen-qwen3.5-35b-a3b").await;
    let history = qwen["price_history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["input_per_mtok"], "0.14");
    assert_eq!(history[0]["output_per_mtok"], "1.00");
    assert_eq!(history[0]["cached_input_per_mtok"], "0.05");
    assert_eq!(
        qwen["pricing"]["id"], history[1]["id"],
        "current price is the latest version"
    );
    let (status, anth) = app.get_anthropic("/v1/models/qwen-qwen3.5-35b-a3b").await;
    assert_eq!(status, 200);
    assert_eq!(anth["type"], "model");
    assert_eq!(anth["display_name"], "Qwen: Qwen3.5-35B-A3B");
    assert_eq!(anth["pricing"]["input_per_mtok"], "0.25");
    assert_eq!(anth["price_history"].as_array().unwrap().len(), 2);
    let (status, missing) = app.get_json("/v1/models/no-such-model").await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], "model_not_found");
    let (status, missing) = app.get_anthropic("/v1/models/no-such-model").await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn markdown_page_reads_like_the_catalog_page() {
    let app = spawn_app().await;
    let r = app.get("/models/mistralai-pixtral-large-2411.md").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/markdown"));
    let page = r.text().await.unwrap();
    for needle in [
        "# Mistral: Pixtral Large 2411",
        "**Creator:** Mistral AI",
        "**Provider:** ModelsLab",
        "124B-parameter open-weight multimodal model",
        "## Technical Specifications",
        "131,072 tokens",
        "text, image",
        "| temperature | 0.7 |",
        "| max_tokens | 1000 |",
        "| Blended | $4.00 / 1M tokens |",
        "| Input | $2.00 / 1M tokens |",
        "| Output | $6.00 / 1M tokens |",
        "| Cached input (cache read) | $0.20 / 1M tokens |",
        "/v1/chat/completions",
        "/v1/messages",
        "```bash\ncurl ",
        "from openai import OpenAI",
        "- Function calling and tool use",
        "- JSON mode and structured output",
        "## Related Models",
        "[Sao10K: Llama 3.1 Euryale 70B v2.2]",
    ] {
        assert!(page.contains(needle), "page lacks {needle:?}:\n{page}");
    }
    let unpriced = app
        .get("/models/Qwen-Qwen2.5-14B.md")
        .await
        .text()
        .await
        .unwrap();
    assert!(unpriced.contains("No public price is known"));
    assert_eq!(app.get("/models/nope.md").await.status(), 404);
    assert_eq!(
        app.get("/models/mistralai-pixtral-large-2411")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn llms_txt_indexes_every_model() {
    let app = spawn_app().await;
    let text = app.get("/llms.txt").await.text().await.unwrap();
    assert!(text.starts_with("# Tollgate model catalog"));
    for (id, _, _) in SEEDED {
        assert!(
            text.contains(&format!("/models/{id}.md)")),
            "{id} missing from llms.txt"
        );
    }
}
