//! Same-format calls: OpenAI → OpenAI-kind provider, Anthropic → Anthropic-kind provider.

use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway_support::{chat, gateway, message, request_id, sse_events};

#[tokio::test]
async fn openai_call_is_forwarded_metered_and_priced() {
    let gw = gateway().await;
    gw.mock.set(|s| {
        s.cached_tokens = 400;
        s.reasoning_tokens = 100;
    });
    let r = gw.post("/v1/chat/completions", chat("oa-model")).await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    assert!(id.starts_with("gen_"));
    // (600×2 + 400×0.2 + 400×6 + 100×8) / 1M
    assert_eq!(r.headers()["x-tollgate-cost"], "0.004480");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["model"], "oa-model",
        "the catalog id, not the upstream's"
    );
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from the mock upstream"
    );
    assert_eq!(body["usage"]["prompt_tokens"], 1000);
    assert_eq!(body["usage"]["cost"].as_f64().unwrap(), 0.00448);
    let seen = gw.mock.last();
    assert_eq!(seen.body["model"], "upstream-oa");
    assert_eq!(
        seen.body["temperature"], 0.2,
        "sampling parameters pass through"
    );
    assert_eq!(
        seen.headers["authorization"], "Bearer upstream-secret",
        "upstream key from the provider's env var"
    );
    let g = gw.generation(&id).await;
    assert_eq!(g["status"], "ok");
    assert_eq!(g["model"], "oa-model");
    assert_eq!(g["provider"], "mock-openai");
    assert_eq!(g["upstream_model"], "upstream-oa");
    assert_eq!(g["endpoint"], "openai_chat");
    assert_eq!(g["streamed"], false);
    assert_eq!(g["input_tokens"], 1000);
    assert_eq!(g["cached_input_tokens"], 400);
    assert_eq!(g["output_tokens"], 500);
    assert_eq!(g["reasoning_tokens"], 100);
    assert_eq!(g["usage_source"], "upstream");
    assert_eq!(g["cost_usd"], "0.004480");
    assert_eq!(g["key_id"], gw.key_id);
    assert_eq!(g["team"], "research");
    assert!(g["price_version_id"].is_i64());
    assert!(g["latency_ms"].is_u64());
}

#[tokio::test]
async fn openai_stream_injects_and_strips_the_usage_chunk() {
    let gw = gateway().await;
    let mut req = chat("oa-model");
    req["stream"] = true.into();
    let r = gw.post("/v1/chat/completions", req.clone()).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let id = request_id(&r);
    let events = sse_events(&r.text().await.unwrap());
    assert_eq!(
        gw.mock.last().body["stream_options"]["include_usage"],
        true,
        "usage is always asked of the upstream"
    );
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "the client did not ask for usage"
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello from the mock upstream");
    assert!(chunks.iter().all(|c| c["model"] == "oa-model"));
    let g = gw.generation(&id).await;
    assert_eq!(g["streamed"], true);
    assert_eq!(g["cost_usd"], "0.005000");
    assert_eq!(g["usage_source"], "upstream");
    assert!(g["time_to_first_token_ms"].is_u64());

    req["stream_options"] = json!({"include_usage": true});
    let r = gw.post("/v1/chat/completions", req).await;
    let events = sse_events(&r.text().await.unwrap());
    let usage_chunk: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 500);
    assert_eq!(usage_chunk["usage"]["cost"].as_f64().unwrap(), 0.005);
}

#[tokio::test]
async fn anthropic_call_counts_cache_tokens_once() {
    let gw = gateway().await;
    gw.mock.set(|s| {
        s.cached_tokens = 300;
        s.cache_write_tokens = 200;
    });
    let r = gw
        .app
        .client
        .post(gw.app.url("/v1/messages"))
        .header("x-api-key", &gw.key)
        .header("anthropic-version", "2023-06-01")
        .json(&message("an-model"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // 500×5 + 300×0.5 + 200×6.25 + 500×25 = 16400 / 1M
    assert_eq!(r.headers()["x-tollgate-cost"], "0.016400");
    let id = request_id(&r);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["model"], "an-model");
    assert_eq!(body["usage"]["input_tokens"], 500);
    assert_eq!(body["usage"]["cache_read_input_tokens"], 300);
    let seen = gw.mock.last();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert_eq!(seen.body["model"], "upstream-an");
    let g = gw.generation(&id).await;
    assert_eq!(
        (
            g["input_tokens"].as_u64(),
            g["cached_input_tokens"].as_u64(),
            g["cache_write_tokens"].as_u64()
        ),
        (Some(1000), Some(300), Some(200))
    );
    assert_eq!(g["endpoint"], "anthropic_messages");
    assert_eq!(g["cost_usd"], "0.016400");
}

#[tokio::test]
async fn anthropic_stream_keeps_event_order_and_takes_latest_usage() {
    let gw = gateway().await;
    let mut req = message("an-model");
    req["stream"] = true.into();
    let r = gw.post("/v1/messages", req).await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let events = sse_events(&r.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names[0], "message_start");
    assert_eq!(names[1], "content_block_start");
    assert!(names.contains(&"ping"));
    assert_eq!(
        &names[names.len() - 3..],
        &["message_delta", "message_delta", "message_stop"]
    );
    let start: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(start["message"]["model"], "an-model");
    let g = gw.generation(&id).await;
    assert_eq!(
        g["output_tokens"], 500,
        "message_delta totals are cumulative: the latest, not the sum"
    );
    assert_eq!(g["input_tokens"], 1000);
    assert_eq!(g["cost_usd"], "0.017500");
}

#[tokio::test]
async fn a_price_change_applies_to_the_next_call_only() {
    let gw = gateway().await;
    let first = gw.post("/v1/chat/completions", chat("oa-model")).await;
    let first_id = request_id(&first);
    assert_eq!(first.headers()["x-tollgate-cost"], "0.005000");
    let (s, v) = gw
        .app
        .admin(
            Method::POST,
            "/admin/models/oa-model/prices",
            Some(json!({"input_per_mtok":"1","output_per_mtok":"3"})),
        )
        .await;
    assert_eq!(s, 201);
    let second = gw.post("/v1/chat/completions", chat("oa-model")).await;
    assert_eq!(second.headers()["x-tollgate-cost"], "0.002500");
    let g1 = gw.generation(&first_id).await;
    let g2 = gw.generation(&request_id(&second)).await;
    assert_eq!(g1["cost_usd"], "0.005000", "a recorded cost never changes");
    assert_eq!(g2["price_version_id"], v["id"]);
    assert_ne!(g1["price_version_id"], g2["price_version_id"]);
}

#[tokio::test]
async fn modelslab_form_takes_the_key_and_model_id_from_the_body() {
    let gw = gateway().await;
    let body = json!({"key": gw.key, "model_id": "oa-model", "messages": [{"role": "user", "content": "hi"}]});
    let r = gw
        .app
        .client
        .post(gw.app.url("/api/v7/llm/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = gw.mock.last();
    assert!(
        seen.body.get("key").is_none(),
        "the caller's key is not forwarded"
    );
    assert!(seen.body.get("model_id").is_none());
    assert_eq!(seen.body["model"], "upstream-oa");
    let body = json!({"key": gw.key, "model": "an-model", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let r = gw
        .app
        .client
        .post(gw.app.url("/api/v7/llm/v1/messages"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = json!({"key": gw.key, "model_id": "oa-model", "messages": [{"role": "user", "content": "hi"}]});
    let r = gw
        .app
        .client
        .post(gw.app.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "the body key is only accepted on the ModelsLab paths"
    );
}

#[tokio::test]
async fn count_tokens_counts_locally() {
    let gw = gateway().await;
    let r = gw
        .post("/v1/messages/count_tokens", message("an-model"))
        .await;
    assert_eq!(r.status(), 200);
    let n = r.json::<Value>().await.unwrap()["input_tokens"]
        .as_u64()
        .unwrap();
    assert!((5..50).contains(&n), "{n}");
    assert_eq!(gw.mock.count(), 0, "no upstream call");
    let r = gw
        .post("/api/v7/llm/v1/messages/count_tokens", message("an-model"))
        .await;
    assert_eq!(r.status(), 200);
    let r = gw.post("/v1/messages/count_tokens", message("ghost")).await;
    assert_eq!(r.status(), 404);
    let r = gw
        .app
        .client
        .post(gw.app.url("/v1/messages/count_tokens"))
        .json(&message("an-model"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn generations_are_private_to_their_key() {
    let gw = gateway().await;
    let r = gw.post("/v1/chat/completions", chat("oa-model")).await;
    let id = request_id(&r);
    let (_, other) = gw
        .app
        .admin(Method::POST, "/admin/keys", Some(json!({"name":"bob"})))
        .await;
    let r = gw
        .app
        .client
        .get(gw.app.url(&format!("/v1/generations/{id}")))
        .bearer_auth(other["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = gw
        .app
        .client
        .get(gw.app.url("/v1/generations/gen_nope"))
        .bearer_auth(&gw.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
