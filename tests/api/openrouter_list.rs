//! `GET /v1/models` read as OpenRouter's model list: the listing parses into types that mirror
//! OpenRouter's documented model object (`GET https://openrouter.ai/api/v1/models`: `id`,
//! `canonical_slug`, `name`, `created`, `description`, `context_length`, `architecture`,
//! `pricing` as per-token decimal strings, `top_provider`, `per_request_limits`,
//! `supported_parameters`), with exact prices — for admin prices with cache reads and writes,
//! and for an imported OpenRouter list, whose strings come back as the source wrote them.

use std::collections::BTreeMap;
use std::str::FromStr;

use reqwest::Method;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use crate::gateway_support::gateway;
use crate::helpers::{spawn_app, TestApp, ADMIN};

const OPENROUTER: &str = include_str!("../fixtures/openrouter_sample.json");

/// OpenRouter's list, as its API documents it. Unknown fields (Tollgate's own) are ignored, as
/// OpenRouter's readers ignore them.
#[derive(Debug, Deserialize)]
struct OrList {
    data: Vec<OrModel>,
}

#[derive(Debug, Deserialize)]
struct OrModel {
    id: String,
    canonical_slug: String,
    name: String,
    created: i64,
    description: String,
    /// A number on OpenRouter; Tollgate writes `null` when it does not know the context size.
    context_length: Option<u64>,
    architecture: OrArchitecture,
    /// Always an object on OpenRouter; Tollgate writes `null` for a model without a price.
    pricing: Option<OrPricing>,
    top_provider: OrTopProvider,
    per_request_limits: Option<Value>,
    supported_parameters: Vec<String>,
    #[serde(default)]
    expiration_date: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OrArchitecture {
    modality: String,
    input_modalities: Vec<String>,
    output_modalities: Vec<String>,
    #[serde(default)]
    tokenizer: Option<String>,
    #[serde(default)]
    instruct_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OrPricing {
    prompt: String,
    completion: String,
    #[serde(default)]
    request: Option<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    internal_reasoning: Option<String>,
    #[serde(default)]
    input_cache_read: Option<String>,
    #[serde(default)]
    input_cache_write: Option<String>,
    #[serde(default)]
    web_search: Option<String>,
}

impl OrPricing {
    fn keys(&self) -> BTreeMap<&'static str, &str> {
        [
            ("prompt", Some(&self.prompt)),
            ("completion", Some(&self.completion)),
            ("request", self.request.as_ref()),
            ("image", self.image.as_ref()),
            ("internal_reasoning", self.internal_reasoning.as_ref()),
            ("input_cache_read", self.input_cache_read.as_ref()),
            ("input_cache_write", self.input_cache_write.as_ref()),
            ("web_search", self.web_search.as_ref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v.as_str())))
        .collect()
    }
}

#[derive(Debug, Deserialize)]
struct OrTopProvider {
    context_length: Option<u64>,
    max_completion_tokens: Option<u64>,
    is_moderated: bool,
}

async fn openrouter_list(app: &TestApp, query: &str) -> OrList {
    let r = app.get(&format!("/v1/models{query}")).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn find<'a>(list: &'a OrList, id: &str) -> &'a OrModel {
    list.data
        .iter()
        .find(|m| m.id == id)
        .unwrap_or_else(|| panic!("{id} is listed"))
}

async fn import(app: &TestApp, format: &str, body: &str) -> Value {
    let r = app
        .client
        .post(app.url(&format!("/admin/catalog/import?format={format}")))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_listing_parses_with_openrouters_field_names_and_exact_per_token_prices() {
    let gw = gateway().await;
    let list = openrouter_list(&gw.app, "?status=all").await;
    assert!(list.data.len() > 19, "seeds and the two test models");
    for m in &list.data {
        assert_eq!(m.canonical_slug, m.id);
        assert!(!m.name.is_empty() && m.created > 0, "{m:?}");
        assert!(!m.top_provider.is_moderated);
        assert_eq!(m.top_provider.context_length, m.context_length);
        assert!(m.per_request_limits.is_none());
        assert_eq!(m.architecture.output_modalities, ["text"]);
        assert_eq!(
            m.architecture.modality,
            format!("{}->text", m.architecture.input_modalities.join("+"))
        );
        assert!(m.architecture.tokenizer.is_none() && m.architecture.instruct_type.is_none());
        for p in ["max_tokens", "temperature", "top_p", "stop"] {
            assert!(m.supported_parameters.iter().any(|s| s == p), "{m:?}");
        }
        let _ = &m.description;
    }

    // 5 / 25 per 1M, cache reads 0.50, writes 6.25, on an Anthropic-kind provider.
    let an = find(&list, "an-model");
    let p = an.pricing.as_ref().unwrap().keys();
    assert_eq!(
        p,
        BTreeMap::from([
            ("prompt", "0.000005"),
            ("completion", "0.000025"),
            ("input_cache_read", "0.0000005"),
            ("input_cache_write", "0.00000625"),
            ("image", "0"),
            ("request", "0"),
            ("web_search", "0"),
        ]),
        "no internal_reasoning: reasoning costs the completion price"
    );
    assert_eq!(an.top_provider.max_completion_tokens, Some(2048));
    assert!(an.supported_parameters.iter().any(|p| p == "top_k"));
    for p in ["tools", "tool_choice"] {
        assert!(an.supported_parameters.iter().any(|s| s == p), "{p}");
    }
    assert!(!an
        .supported_parameters
        .iter()
        .any(|p| p == "frequency_penalty"));
    // 2 / 6, cache reads 0.20, reasoning 8, on an OpenAI-kind provider.
    let oa = find(&list, "oa-model");
    let p = oa.pricing.as_ref().unwrap().keys();
    assert_eq!(p["prompt"], "0.000002");
    assert_eq!(p["completion"], "0.000006");
    assert_eq!(p["input_cache_read"], "0.0000002");
    assert_eq!(p["internal_reasoning"], "0.000008");
    assert!(!p.contains_key("input_cache_write"));
    assert!(oa.supported_parameters.iter().any(|p| p == "seed"));

    // Tollgate's own fields stay beside them, in the same objects.
    let (_, raw) = gw.app.get_json("/v1/models/an-model").await;
    assert_eq!(raw["pricing"]["input_per_mtok"], "5.00");
    assert_eq!(raw["pricing"]["cache_write_per_mtok"], "6.25");
    assert_eq!(raw["pricing"]["prompt"], "0.000005");
    assert_eq!(raw["pricing"]["input_cache_write"], "0.00000625");
    assert_eq!(raw["canonical_slug"], "an-model");
    assert_eq!(raw["top_provider"]["max_completion_tokens"], 2048);
    assert_eq!(raw["max_output_tokens"], 2048);
    assert!(
        raw["price_history"].is_array(),
        "the detail's own fields too"
    );
    let one: OrModel = serde_json::from_value(raw).unwrap();
    assert_eq!(
        one.pricing.unwrap().keys(),
        an.pricing.as_ref().unwrap().keys()
    );

    // A per-request fee and a per-image fee are per unit, as they are.
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            "/admin/models/oa-model/prices",
            Some(
                serde_json::json!({"input_per_mtok": "0.075", "output_per_mtok": "0.30",
                "per_request": "0.005", "per_image": "0.0012"}),
            ),
        )
        .await;
    assert_eq!(s, 201);
    let list = openrouter_list(&gw.app, "?provider=mock-openai").await;
    let p = find(&list, "oa-model").pricing.as_ref().unwrap().keys();
    assert_eq!(
        p,
        BTreeMap::from([
            ("prompt", "0.000000075"),
            ("completion", "0.0000003"),
            ("image", "0.0012"),
            ("request", "0.005"),
            ("web_search", "0"),
        ])
    );
}

/// `price × (1 − discount)`, normalized, as a string: what OpenRouter charges.
fn discounted(price: &str, discount: Decimal) -> String {
    (Decimal::from_str(price).unwrap() * (Decimal::ONE - discount))
        .normalize()
        .to_string()
}

#[tokio::test]
async fn an_imported_openrouter_list_is_listed_with_the_sources_prices() {
    let app = spawn_app().await;
    import(&app, "openrouter", OPENROUTER).await;
    let ours = openrouter_list(&app, "?provider=openrouter&status=all").await;
    let source: Value = serde_json::from_str(OPENROUTER).unwrap();
    let mut compared = 0;
    for s in source["data"].as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        let m = find(&ours, id);
        assert_eq!(m.canonical_slug, id);
        assert_eq!(m.name, s["name"].as_str().unwrap());
        let created = s["created"].as_i64().unwrap();
        assert_eq!(
            m.created,
            created - created % 86_400,
            "the day it was added"
        );
        assert_eq!(m.context_length, s["context_length"].as_u64());
        assert_eq!(
            m.top_provider.max_completion_tokens,
            s["top_provider"]["max_completion_tokens"].as_u64()
        );
        assert_eq!(
            m.architecture.input_modalities,
            s["architecture"]["input_modalities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect::<Vec<_>>()
        );
        assert_eq!(m.expiration_date.as_deref(), s["expiration_date"].as_str());
        for p in s["supported_parameters"].as_array().unwrap() {
            let p = p.as_str().unwrap();
            if !matches!(p, "max_tokens" | "stop" | "temperature" | "top_p") {
                assert!(m.supported_parameters.iter().any(|x| x == p), "{id}: {p}");
            }
        }
        let pricing = &s["pricing"];
        if pricing["prompt"] == "-1" {
            assert!(m.pricing.is_none(), "{id}: a variable price is no price");
            continue;
        }
        let discount = pricing["discount"].as_f64().map_or(Decimal::ZERO, |d| {
            Decimal::from_str(&d.to_string()).unwrap()
        });
        let listed = m.pricing.as_ref().unwrap().keys();
        for (key, value) in pricing.as_object().unwrap() {
            let value = value.as_str().unwrap_or_default();
            match key.as_str() {
                "discount" => {}
                // OpenRouter's 0: reasoning billed as completion — no price of its own.
                "internal_reasoning" if value == "0" => {
                    assert!(!listed.contains_key("internal_reasoning"), "{id}")
                }
                key => {
                    assert_eq!(listed[key], discounted(value, discount), "{id}: {key}");
                    compared += 1;
                }
            }
        }
        // Every key Tollgate lists is one the source gave, or a zero fee.
        for (key, value) in &listed {
            assert!(
                pricing.get(*key).is_some()
                    || (*value == "0" && ["image", "request", "web_search"].contains(key)),
                "{id}: {key}"
            );
        }
    }
    assert_eq!(compared, 7 + 2 + 2, "the prices the source gave");
    let deepseek = find(&ours, "deepseek/deepseek-imported")
        .pricing
        .as_ref()
        .unwrap();
    assert_eq!(
        (deepseek.prompt.as_str(), deepseek.completion.as_str()),
        ("0.0000003", "0.0000012"),
        "25% off 0.0000004 and 0.0000016"
    );
}

/// Tollgate's own listing imported as an OpenRouter list into another Tollgate: the same prices.
#[tokio::test]
async fn one_tollgates_listing_imports_into_another_with_the_same_prices() {
    let a = gateway().await;
    import(&a.app, "openrouter", OPENROUTER).await;
    let text = a
        .app
        .get("/v1/models?status=all")
        .await
        .text()
        .await
        .unwrap();
    let b = spawn_app().await;
    let plan = import(&b, "openrouter", &text).await;
    assert_eq!(plan["skipped"], serde_json::json!([]), "{plan}");
    let from_a = openrouter_list(&a.app, "?status=all").await;
    let in_b = openrouter_list(&b, "?status=all").await;
    assert_eq!(in_b.data.len(), from_a.data.len());
    for m in &from_a.data {
        let other = find(&in_b, &m.id);
        assert_eq!(
            other.pricing.as_ref().map(OrPricing::keys),
            m.pricing.as_ref().map(OrPricing::keys),
            "{}",
            m.id
        );
    }
}

/// The list is rendered once per model and catalog snapshot: it still follows the price in
/// effect as time passes (a future-dated version taking effect) and every catalog change.
#[tokio::test]
async fn the_listed_price_follows_the_version_in_effect_and_catalog_changes() {
    let gw = gateway().await;
    let prompt = |list: &OrList| {
        find(list, "oa-model")
            .pricing
            .as_ref()
            .unwrap()
            .prompt
            .clone()
    };
    let list = openrouter_list(&gw.app, "").await;
    assert_eq!(prompt(&list), "0.000002");
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (s, v) = gw
        .app
        .admin(
            Method::POST,
            "/admin/models/oa-model/prices",
            Some(
                serde_json::json!({"input_per_mtok": "4", "output_per_mtok": "6",
                "effective_from": soon.to_rfc3339()}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let list = openrouter_list(&gw.app, "").await;
    assert_eq!(prompt(&list), "0.000002", "not in effect yet");
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    let list = openrouter_list(&gw.app, "").await;
    assert_eq!(prompt(&list), "0.000004", "in effect now");
    let (s, _) = gw
        .app
        .admin(
            Method::PATCH,
            "/admin/models/oa-model",
            Some(serde_json::json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(s, 200);
    let list = openrouter_list(&gw.app, "").await;
    assert_eq!(find(&list, "oa-model").name, "Renamed");

    // The list's bytes are each model's JSON, exactly as the model's own route renders it.
    let (_, whole) = gw.app.get_json("/v1/models?status=all").await;
    assert_eq!(whole["object"], "list");
    for m in whole["data"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap().replace('/', "%2F");
        let (_, one) = gw.app.get_json(&format!("/v1/models/{id}")).await;
        for (k, v) in m.as_object().unwrap() {
            assert_eq!(&one[k], v, "{id}: {k}");
        }
    }
}
