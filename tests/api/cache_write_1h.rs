//! One-hour cache writes: priced at their own rate, recorded apart, shown to every caller
//! format, summed by reports and used by re-pricing; a lying split is refused.

use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway_support::{chat, gateway, message, request_id, sse_events, Gw};

/// `an-model`'s prices with a 1-hour cache-write rate, from 2026-02-01 on.
async fn add_one_hour_price(gw: &Gw) {
    let (s, v) = gw
        .app
        .admin(
            Method::POST,
            "/admin/models/an-model/prices",
            Some(json!({"input_per_mtok":"5.00","output_per_mtok":"25.00","cached_input_per_mtok":"0.50",
                "cache_write_per_mtok":"6.25","cache_write_1h_per_mtok":"10","effective_from":"2026-02-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["cache_write_1h_per_mtok"], "10");
}

async fn anthropic_call(gw: &Gw, stream: bool) -> reqwest::Response {
    let mut req = message("an-model");
    if stream {
        req["stream"] = true.into();
    }
    let r = gw.post("/v1/messages", req).await;
    assert_eq!(r.status(), 200);
    r
}

#[tokio::test]
async fn one_hour_cache_writes_are_priced_recorded_and_reported() {
    let gw = gateway().await;
    // 1000 prompt tokens: 100 read from the cache, 300 written (200 of them for an hour).
    gw.mock.set(|s| {
        s.cached_tokens = 100;
        s.cache_write_tokens = 300;
        s.cache_write_1h_tokens = 200;
    });

    // Without a 1-hour price, every write costs the cache-write (5-minute) price:
    // 600×5 + 100×0.5 + 300×6.25 + 500×25 = 17425 / 1M.
    let r = anthropic_call(&gw, false).await;
    assert_eq!(r.headers()["x-tollgate-cost"], "0.017425");
    let before = request_id(&r);

    add_one_hour_price(&gw).await;
    // 600×5 + 100×0.5 + 100×6.25 + 200×10 + 500×25 = 18175 / 1M.
    let r = anthropic_call(&gw, false).await;
    assert_eq!(r.headers()["x-tollgate-cost"], "0.018175");
    let id = request_id(&r);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["usage"]["cache_creation_input_tokens"], 300);
    assert_eq!(
        body["usage"]["cache_creation"],
        json!({"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200})
    );
    let g = gw.generation(&id).await;
    assert_eq!(
        (
            g["input_tokens"].as_u64(),
            g["cache_write_tokens"].as_u64(),
            g["cache_write_1h_tokens"].as_u64()
        ),
        (Some(1000), Some(300), Some(200))
    );
    assert_eq!(g["cost_usd"], "0.018175");

    let r = anthropic_call(&gw, true).await;
    let id = request_id(&r);
    r.text().await.unwrap();
    let g = gw.generation(&id).await;
    assert_eq!(
        (g["cache_write_1h_tokens"].as_u64(), g["cost_usd"].as_str()),
        (Some(200), Some("0.018175")),
        "streamed: {g}"
    );

    // OpenAI and Responses callers see every cache write, whatever its lifetime.
    let r = gw.post("/v1/chat/completions", chat("an-model")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-tollgate-cost"], "0.018175");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["usage"]["prompt_tokens"], 1000);
    assert_eq!(
        body["usage"]["prompt_tokens_details"]["cache_write_tokens"],
        300
    );
    let mut req = chat("an-model");
    req["stream"] = true.into();
    req["stream_options"] = json!({"include_usage": true});
    let events = sse_events(
        &gw.post("/v1/chat/completions", req)
            .await
            .text()
            .await
            .unwrap(),
    );
    let usage: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
    assert_eq!(
        usage["usage"]["prompt_tokens_details"]["cache_write_tokens"],
        300
    );
    let r = gw
        .post(
            "/v1/responses",
            json!({"model": "an-model", "input": "Say hello", "max_output_tokens": 100}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["usage"]["input_tokens_details"]["cache_write_tokens"], 300,
        "{body}"
    );

    // Reports sum the 1-hour writes; five calls at the 1-hour price, one before it.
    let (s, v) = gw
        .app
        .admin(
            Method::GET,
            "/admin/spend?from=2026-01-01T00:00:00Z&to=2030-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["total"]["requests"], 6);
    assert_eq!(v["total"]["cache_write_tokens"], 1800);
    assert_eq!(v["total"]["cache_write_1h_tokens"], 1200);
    assert_eq!(v["total"]["cost_usd"], "0.108300");

    // Re-pricing the first call at today's prices charges its 1-hour writes at their rate.
    let (s, adj) = gw
        .app
        .admin(
            Method::POST,
            &format!("/admin/usage/{before}/adjustments"),
            Some(json!({"kind": "reprice"})),
        )
        .await;
    assert_eq!(s, 201, "{adj}");
    assert_eq!(adj["cost_delta_usd"], "0.000750");
    assert_eq!(adj["net_cost_usd"], "0.018175");
}

#[tokio::test]
async fn one_hour_prices_are_listed_and_on_the_model_page() {
    let gw = gateway().await;
    add_one_hour_price(&gw).await;
    let (s, m) = gw.app.get_json("/v1/models/an-model").await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["pricing"]["cache_write_1h_per_mtok"], "10", "{m}");
    assert_eq!(m["pricing"]["input_cache_write"], "0.00000625");
    let page = gw
        .app
        .get("/models/an-model.md")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("| Cache write (1 hour) | $10.00 / 1M tokens |"),
        "{page}"
    );
}

#[tokio::test]
async fn a_cache_write_split_above_the_total_is_counted_by_the_gateway() {
    let gw = gateway().await;
    add_one_hour_price(&gw).await;
    gw.mock.set(|s| {
        s.usage_override = Some(json!({"input_tokens": 10, "output_tokens": 5,
            "cache_creation_input_tokens": 300,
            "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 200}}));
    });
    for stream in [false, true] {
        let r = anthropic_call(&gw, stream).await;
        let id = request_id(&r);
        r.text().await.unwrap();
        let g = gw.generation(&id).await;
        assert_eq!(g["usage_source"], "estimated", "{g}");
        assert_eq!(g["cache_write_tokens"], 0, "{g}");
        assert_eq!(g["cache_write_1h_tokens"], 0, "{g}");
        let note = g["usage_note"].as_str().unwrap();
        assert!(note.contains("usage.cache_creation"), "{note}");
    }
}
