//! Web-search fees: Anthropic reports the searches a call made; each is charged the model's
//! per-search price, recorded, summed by reports and listed; a lying count is refused.

use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway_support::{chat, gateway, message, request_id, Gw};

/// `an-model` at 5 / 25 per 1M tokens and 0.01 per web search, from 2026-02-01 on.
async fn searchable_gateway() -> Gw {
    let gw = gateway().await;
    let (s, v) = gw
        .app
        .admin(
            Method::POST,
            "/admin/models/an-model/prices",
            Some(
                json!({"input_per_mtok": "5", "output_per_mtok": "25", "per_web_search": "0.01",
                "effective_from": "2026-02-01T00:00:00Z"}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["per_web_search"], "0.01");
    gw
}

fn searched(n: Value) -> Value {
    json!({"input_tokens": 1000, "output_tokens": 500, "server_tool_use": {"web_search_requests": n}})
}

#[tokio::test]
async fn reported_web_searches_are_charged_recorded_and_reported() {
    let gw = searchable_gateway().await;
    gw.mock.set(|s| s.usage_override = Some(searched(json!(3))));
    // 1000×5 + 500×25 = 17500 / 1M, plus 3 × 0.01.
    for stream in [false, true] {
        let mut req = message("an-model");
        req["stream"] = stream.into();
        let r = gw.post("/v1/messages", req).await;
        assert_eq!(r.status(), 200);
        let id = request_id(&r);
        r.text().await.unwrap();
        let g = gw.generation(&id).await;
        assert_eq!(g["web_search_requests"], 3, "{g}");
        assert_eq!(g["cost_usd"], "0.047500", "stream {stream}");
    }
    // An OpenAI caller of the same model is charged the same.
    let r = gw.post("/v1/chat/completions", chat("an-model")).await;
    assert_eq!(r.headers()["x-tollgate-cost"], "0.047500");

    let (s, v) = gw
        .app
        .admin(
            Method::GET,
            "/admin/spend?from=2026-01-01T00:00:00Z&to=2030-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["total"]["web_search_requests"], 9);
    assert_eq!(v["total"]["cost_usd"], "0.142500");
    let (s, r) = gw
        .app
        .admin(
            Method::GET,
            "/admin/recommendations?from=2026-01-01T00:00:00Z&to=2030-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(s, 200, "{r}");
}

#[tokio::test]
async fn an_absurd_search_count_is_refused() {
    let gw = searchable_gateway().await;
    for bad in [json!(-2), json!(1_000_000), json!("3")] {
        gw.mock
            .set(|s| s.usage_override = Some(searched(bad.clone())));
        let r = gw.post("/v1/messages", message("an-model")).await;
        assert_eq!(r.status(), 200);
        let g = gw.generation(&request_id(&r)).await;
        assert_eq!(g["usage_source"], "estimated", "{bad}: {g}");
        assert_eq!(g["web_search_requests"], 0);
        let note = g["usage_note"].as_str().unwrap();
        assert!(note.contains("web_search_requests"), "{note}");
    }
}

#[tokio::test]
async fn the_search_price_is_listed_and_on_the_model_page() {
    let gw = searchable_gateway().await;
    let (s, m) = gw.app.get_json("/v1/models/an-model").await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["pricing"]["web_search"], "0.01", "{m}");
    assert_eq!(m["pricing"]["per_web_search"], "0.01");
    let page = gw
        .app
        .get("/models/an-model.md")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("| Per web search | $0.01 |"), "{page}");
}
