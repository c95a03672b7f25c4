//! `POST /admin/catalog/import`: LiteLLM's price map and OpenRouter's model list into the
//! catalog — dry runs, re-imports, new price versions that leave past calls at their price,
//! pinned admin prices, listing-only providers, ids with `/` and `:`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway_support::{chat, gateway, request_id, Gw};
use crate::helpers::ADMIN;

const LITELLM: &str = include_str!("../fixtures/litellm_sample.json");
const OPENROUTER: &str = include_str!("../fixtures/openrouter_sample.json");

async fn import(gw: &Gw, format: &str, body: &str, query: &str) -> (u16, Value) {
    let r = gw
        .app
        .client
        .post(
            gw.app
                .url(&format!("/admin/catalog/import?format={format}{query}")),
        )
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn model(gw: &Gw, id: &str) -> (u16, Value) {
    let path = format!("/v1/models/{}", id.replace('/', "%2F"));
    gw.app.admin(Method::GET, &path, None).await
}

#[tokio::test]
async fn a_dry_run_reports_and_changes_nothing_then_the_import_applies_once() {
    let gw = gateway().await;
    let (s, dry) = import(&gw, "litellm", LITELLM, "&dry_run=true").await;
    assert_eq!(s, 200, "{dry}");
    assert_eq!(dry["applied"], false);
    let added: Vec<&str> = dry["models_added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(added.len(), 6, "{added:?}");
    assert!(added.contains(&"bedrock/anthropic.claude-imported-v1:0"));
    let skipped: Vec<&str> = dry["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, ["broken-price", "no-provider"]);
    assert_eq!(
        dry["unknown_fields"],
        json!({"output_vector_size": 1, "tpm": 1})
    );
    assert_eq!(
        dry["unapplied_fields"].get("cache_creation_input_token_cost_above_1hr"),
        None,
        "the 1-hour cache-write rate is applied: {}",
        dry["unapplied_fields"]
    );
    assert_eq!(
        model(&gw, "mock-openai/gpt-imported").await.0,
        404,
        "a dry run changes nothing"
    );

    let (s, done) = import(&gw, "litellm", LITELLM, "").await;
    assert_eq!((s, &done["applied"]), (200, &json!(true)), "{done}");
    let providers: Vec<&str> = done["providers_added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        providers,
        ["bedrock_converse", "dashscope"],
        "existing providers are reused"
    );
    let (s, m) = model(&gw, "claude-imported-4-5@20250929").await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["pricing"]["cache_write_1h_per_mtok"], "6", "{m}");

    // The same file again changes nothing.
    let (_, again) = import(&gw, "litellm", LITELLM, "").await;
    assert_eq!(again["applied"], false);
    assert_eq!(again["unchanged"], 6);
    assert_eq!(again["prices_changed"], json!([]));
}

#[tokio::test]
async fn imported_prices_are_exact_and_a_change_is_a_new_version() {
    let gw = gateway().await;
    import(&gw, "litellm", LITELLM, "").await;
    // A call at the imported price: 1000 in, 500 out at 2.5 / 10 per 1M → 0.0075.
    let mut body = chat("mock-openai/gpt-imported");
    let r = gw.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(r.status(), 200);
    let before = request_id(&r);
    assert_eq!(
        gw.mock.last().body["model"],
        "gpt-imported",
        "the provider prefix is not the upstream name"
    );
    assert_eq!(gw.generation(&before).await["cost_usd"], "0.007500");

    // The source lowers the price: a new version; the earlier call keeps its price.
    let changed = LITELLM.replace(
        "\"input_cost_per_token\": 2.5e-06",
        "\"input_cost_per_token\": 2e-06",
    );
    let (_, plan) = import(&gw, "litellm", &changed, "").await;
    assert_eq!(
        plan["prices_changed"][0]["model"], "mock-openai/gpt-imported",
        "{plan}"
    );
    assert_eq!(plan["prices_changed"][0]["old"]["input_per_mtok"], "2.5");
    assert_eq!(plan["prices_changed"][0]["new"]["input_per_mtok"], "2");
    body["model"] = "mock-openai/gpt-imported".into();
    let after = request_id(&gw.post("/v1/chat/completions", body).await);
    assert_eq!(gw.generation(&after).await["cost_usd"], "0.007000");
    assert_eq!(
        gw.generation(&before).await["cost_usd"],
        "0.007500",
        "the past keeps its price"
    );

    // Tiers and cache writes arrive exactly.
    let (_, m) = model(&gw, "claude-imported-4-5@20250929").await;
    let text = m.to_string();
    assert!(text.contains("3.75"), "{m}");
}

#[tokio::test]
async fn an_admin_price_is_pinned_and_reported_as_drift() {
    let gw = gateway().await;
    import(&gw, "litellm", LITELLM, "").await;
    let (s, v) = gw
        .app
        .admin(
            Method::POST,
            "/admin/models/mock-openai%2Fgpt-imported/prices",
            Some(json!({"input_per_mtok": "1.00", "output_per_mtok": "4.00"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (_, plan) = import(&gw, "litellm", LITELLM, "").await;
    assert_eq!(plan["prices_changed"], json!([]));
    assert_eq!(
        plan["pinned"][0]["model"], "mock-openai/gpt-imported",
        "{plan}"
    );
    assert_eq!(plan["pinned"][0]["old"]["input_per_mtok"], "1.00");
    assert_eq!(plan["pinned"][0]["new"]["input_per_mtok"], "2.5");
    let r = gw
        .post("/v1/chat/completions", chat("mock-openai/gpt-imported"))
        .await;
    assert_eq!(
        gw.generation(&request_id(&r)).await["cost_usd"],
        "0.003000",
        "1000 × 1 + 500 × 4 per 1M"
    );
}

#[tokio::test]
async fn listing_only_and_non_chat_models_are_refused_clearly() {
    let gw = gateway().await;
    import(&gw, "litellm", LITELLM, "").await;
    for (id, code) in [
        (
            "bedrock/anthropic.claude-imported-v1:0",
            "provider_not_configured",
        ),
        ("text-embedding-imported", "model_not_servable"),
    ] {
        let r = gw.post("/v1/chat/completions", chat(id)).await;
        assert_eq!(r.status(), 400, "{id}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], code, "{e}");
    }
    // Listed and priced all the same.
    let (s, m) = model(&gw, "bedrock/anthropic.claude-imported-v1:0").await;
    assert_eq!(s, 200, "{m}");
}

#[tokio::test]
async fn an_openrouter_list_imports_with_its_ids() {
    let gw = gateway().await;
    let (s, plan) = import(&gw, "openrouter", OPENROUTER, "").await;
    assert_eq!(s, 200, "{plan}");
    assert_eq!(plan["models_added"].as_array().unwrap().len(), 4);
    assert_eq!(plan["unpriced"], json!(["openrouter/auto-imported"]));
    assert_eq!(
        plan["providers_added"],
        json!([]),
        "the seed's openrouter provider serves them"
    );
    let (s, m) = model(&gw, "meta-llama/llama-imported:free").await;
    assert_eq!(s, 200, "{m}");
    let (_, d) = model(&gw, "deepseek/deepseek-imported").await;
    assert!(d.to_string().contains("0.3"), "25% off 0.4 per 1M: {d}");
}

#[tokio::test]
async fn bad_imports_are_clear_errors() {
    let gw = gateway().await;
    assert_eq!(import(&gw, "yaml", LITELLM, "").await.0, 400);
    let (s, e) = import(&gw, "litellm", "[1, 2]", "").await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(import(&gw, "openrouter", LITELLM, "").await.0, 400);
    import(&gw, "litellm", LITELLM, "").await;
    let changed = LITELLM.replace("2.5e-06", "2e-06");
    let (s, e) = import(
        &gw,
        "litellm",
        &changed,
        "&effective_from=2020-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(s, 422, "history is never rewritten: {e}");
}

/// A price list served over HTTP, changeable while the test runs.
async fn serve_list(text: std::sync::Arc<std::sync::Mutex<String>>) -> String {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/prices.json",
        get(move || {
            let text = text.clone();
            async move { text.lock().unwrap().clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/prices.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// The sync re-imports its URL on schedule; an admin price survives it and its drift shows in
/// GET /admin/catalog/drift and as an alert.
#[tokio::test]
async fn the_scheduled_sync_keeps_pinned_prices_and_reports_drift() {
    // Empty until the test's providers exist (the first sync runs at start).
    let list = std::sync::Arc::new(std::sync::Mutex::new("{}".to_string()));
    let url = serve_list(list.clone()).await;
    let dir = tempfile::TempDir::new().unwrap();
    let mut settings = crate::helpers::settings_in(&dir);
    settings.catalog_sync_url = Some(url);
    settings.catalog_sync_interval_secs = 1;
    let gw =
        crate::gateway_support::gateway_with(crate::helpers::spawn_with(dir, settings).await).await;
    *list.lock().unwrap() = LITELLM.to_string();
    let appeared = async {
        while model(&gw, "mock-openai/gpt-imported").await.0 != 200 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), appeared)
        .await
        .expect("the first sync imports the list");
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            "/admin/models/mock-openai%2Fgpt-imported/prices",
            Some(json!({"input_per_mtok": "1.00", "output_per_mtok": "4.00"})),
        )
        .await;
    assert_eq!(s, 201);
    // The source changes its price; the next syncs keep the admin's and record the drift.
    *list.lock().unwrap() = LITELLM.replace(
        "\"input_cost_per_token\": 2.5e-06",
        "\"input_cost_per_token\": 2.2e-06",
    );
    let drifted = async {
        loop {
            let (_, d) = gw
                .app
                .admin(Method::GET, "/admin/catalog/drift", None)
                .await;
            if d.as_array().is_some_and(|a| !a.is_empty()) {
                return d;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let d = tokio::time::timeout(std::time::Duration::from_secs(10), drifted)
        .await
        .expect("a sync records the drift");
    assert_eq!(d[0]["model"], "mock-openai/gpt-imported");
    assert_eq!(d[0]["source"], "litellm");
    assert_eq!(d[0]["source_prices"]["input_per_mtok"], "2.2");
    assert_eq!(d[0]["pinned_prices"]["input_per_mtok"], "1.00");
    let r = gw
        .post("/v1/chat/completions", chat("mock-openai/gpt-imported"))
        .await;
    assert_eq!(
        gw.generation(&request_id(&r)).await["cost_usd"],
        "0.003000",
        "the pinned price holds"
    );
    // Another sync runs (every second) and finds the same drift.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, alerts) = gw.app.admin(Method::GET, "/admin/alerts", None).await;
    let kinds: Vec<&str> = alerts["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["type"].as_str())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "catalog.price_drift")
            .count(),
        1,
        "one alert per drift, not one per sync: {alerts}"
    );
}

/// Two imports at once: each is one transaction, so one applies and the other is either
/// applied after it (finding nothing left to do) or refused whole with a clear conflict —
/// never half-written; the catalog ends as one import leaves it.
#[tokio::test]
async fn concurrent_imports_never_half_apply() {
    let gw = gateway().await;
    let (a, b) = tokio::join!(
        import(&gw, "litellm", LITELLM, ""),
        import(&gw, "litellm", LITELLM, "")
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert!(
        statuses == [200, 200] || statuses == [200, 409],
        "{statuses:?}: {} / {}",
        a.1,
        b.1
    );
    let (_, again) = import(&gw, "litellm", LITELLM, "").await;
    assert_eq!(again["applied"], false, "{again}");
    assert_eq!(again["unchanged"], 6);
    let (_, list) = gw
        .app
        .admin(Method::GET, "/v1/models?status=all&q=imported", None)
        .await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 6, "{ids:?}");
}
