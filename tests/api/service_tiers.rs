//! Service tiers: a call is charged the prices of the tier the upstream reports serving it in
//! (when the model has them), the tier is recorded and exported; a caller's requested tier is
//! forwarded; an unknown tier name is charged the standard rates and not stored.

use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway_support::{chat, gateway, message, request_id, Gw};
use crate::helpers::ADMIN;

async fn add_price(gw: &Gw, model: &str, price: Value) {
    let (s, v) = gw
        .app
        .admin(
            Method::POST,
            &format!("/admin/models/{model}/prices"),
            Some(price),
        )
        .await;
    assert_eq!(s, 201, "{v}");
}

/// `oa-model` at 2 / 6 per 1M tokens, 4 / 12 in priority, 1 / 3 in flex (and in batch, listed
/// only); `an-model` at 5 / 25, 10 / 50 in priority.
async fn tiered_gateway() -> Gw {
    let gw = gateway().await;
    add_price(
        &gw,
        "oa-model",
        json!({"input_per_mtok": "2", "output_per_mtok": "6",
        "service_tiers": [{"tier": "priority", "input_per_mtok": "4", "output_per_mtok": "12"},
                          {"tier": "flex", "input_per_mtok": "1", "output_per_mtok": "3"},
                          {"tier": "batch", "input_per_mtok": "1", "output_per_mtok": "3"}],
        "effective_from": "2026-02-01T00:00:00Z"}),
    )
    .await;
    add_price(
        &gw,
        "an-model",
        json!({"input_per_mtok": "5", "output_per_mtok": "25",
        "service_tiers": [{"tier": "priority", "input_per_mtok": "10", "output_per_mtok": "50"}],
        "effective_from": "2026-02-01T00:00:00Z"}),
    )
    .await;
    gw
}

/// One call served in `tier` (as the mock reports it); its cost header and record.
async fn call_in(gw: &Gw, path: &str, body: Value, tier: Option<Value>) -> (String, Value) {
    gw.mock.set(|s| s.service_tier = tier);
    let r = gw.post(path, body).await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let cost = r.headers()["x-tollgate-cost"].to_str().unwrap().to_string();
    (cost, gw.generation(&id).await)
}

/// `an-model`'s audit trail, exported in `format`.
async fn export(gw: &Gw, format: &str) -> String {
    let url = gw
        .app
        .url(&format!("/admin/usage?format={format}&model=an-model"));
    let r = gw.app.client.get(url).bearer_auth(ADMIN).send().await;
    r.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn calls_are_charged_the_tier_the_upstream_reports() {
    let gw = tiered_gateway().await;
    let mut req = chat("oa-model");
    req["service_tier"] = "priority".into();
    // 1000 input and 500 output tokens per call.
    for (reported, cost, recorded) in [
        (None, "0.005000", Value::Null),
        (Some(json!("priority")), "0.010000", json!("priority")),
        (Some(json!("flex")), "0.002500", json!("flex")),
        (Some(json!("default")), "0.005000", json!("standard")),
        (Some(json!("scale")), "0.005000", json!("scale")),
        (Some(json!("ultra")), "0.005000", Value::Null),
        (Some(json!(["priority"])), "0.005000", Value::Null),
    ] {
        let (got, g) = call_in(&gw, "/v1/chat/completions", req.clone(), reported.clone()).await;
        assert_eq!(got, cost, "{reported:?}");
        assert_eq!(g["cost_usd"], cost);
        assert_eq!(g["service_tier"], recorded, "{reported:?}");
        assert_eq!(
            gw.mock.last().body["service_tier"],
            "priority",
            "the caller's requested tier is forwarded"
        );
    }

    // Streamed: the tier is read from the chunks.
    let mut streamed = req.clone();
    streamed["stream"] = true.into();
    gw.mock.set(|s| s.service_tier = Some(json!("priority")));
    let r = gw.post("/v1/chat/completions", streamed).await;
    let id = request_id(&r);
    r.text().await.unwrap();
    let g = gw.generation(&id).await;
    assert_eq!(
        (g["service_tier"].as_str(), g["cost_usd"].as_str()),
        (Some("priority"), Some("0.010000"))
    );

    // An Anthropic caller of an OpenAI model: the tier is read from the translated stream too.
    let mut msg = message("oa-model");
    msg["stream"] = true.into();
    let r = gw.post("/v1/messages", msg).await;
    let id = request_id(&r);
    r.text().await.unwrap();
    let g = gw.generation(&id).await;
    assert_eq!(
        (g["service_tier"].as_str(), g["cost_usd"].as_str()),
        (Some("priority"), Some("0.010000"))
    );

    // Anthropic reports the tier in its usage; batch prices are never applied.
    for (reported, cost, recorded) in [
        (Some(json!("priority")), "0.035000", json!("priority")),
        (Some(json!("standard")), "0.017500", json!("standard")),
        (Some(json!("batch")), "0.017500", json!("batch")),
        (Some(json!("flex")), "0.017500", Value::Null),
    ] {
        let (got, g) = call_in(&gw, "/v1/messages", message("an-model"), reported.clone()).await;
        assert_eq!(got, cost, "{reported:?}");
        assert_eq!(g["service_tier"], recorded, "{reported:?}");
    }

    // Re-pricing a priority call at the prices before the tiers existed.
    let (_, g) = call_in(&gw, "/v1/chat/completions", req, Some(json!("priority"))).await;
    let (s, adj) = gw
        .app
        .admin(
            Method::POST,
            &format!("/admin/usage/{}/adjustments", g["id"].as_str().unwrap()),
            Some(json!({"kind": "reprice", "price_at": "2026-01-15T00:00:00Z"})),
        )
        .await;
    assert_eq!(s, 201, "{adj}");
    // The version then had no tier prices: 1000×2 + 500×6 = 5000 / 1M.
    assert_eq!(adj["net_cost_usd"], "0.005000");

    // The audit exports carry the tier.
    let csv = export(&gw, "csv").await;
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let at = header.iter().position(|c| *c == "service_tier").unwrap();
    let tiers: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(at).unwrap().to_string())
        .collect();
    assert_eq!(
        tiers,
        ["", "batch", "standard", "priority"],
        "newest first: {csv}"
    );
    let jsonl = export(&gw, "jsonl").await;
    let first: Value = serde_json::from_str(jsonl.lines().last().unwrap()).unwrap();
    assert_eq!(first["service_tier"], "priority", "{jsonl}");
}

#[tokio::test]
async fn tier_prices_are_listed_and_on_the_model_page() {
    let gw = tiered_gateway().await;
    let (s, m) = gw.app.get_json("/v1/models/oa-model").await;
    assert_eq!(s, 200, "{m}");
    let tiers = &m["pricing"]["service_tiers"];
    assert_eq!(tiers[0]["tier"], "priority", "{m}");
    assert_eq!(tiers[0]["input_per_mtok"], "4");
    assert_eq!(tiers[2]["tier"], "batch");
    let page = gw
        .app
        .get("/models/oa-model.md")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("| priority | $4.00 | $12.00 | $4.00 | $4.00 | $12.00 | yes |"),
        "{page}"
    );
    assert!(
        page.contains("| batch | $1.00 | $3.00 | $1.00 | $1.00 | $3.00 | no |"),
        "{page}"
    );

    let (s, e) = gw
        .app
        .admin(
            Method::POST,
            "/admin/models/oa-model/prices",
            Some(json!({"input_per_mtok": "2", "output_per_mtok": "6",
                "service_tiers": [{"tier": "standard", "input_per_mtok": "4", "output_per_mtok": "12"}]})),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(e.to_string().contains("service_tiers[0].tier"), "{e}");
}
