//! Bad input, bad keys and upstream faults.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway_support::{chat, gateway, message, request_id, sse_events};

#[tokio::test]
async fn bad_input_gets_errors_in_the_callers_format() {
    let gw = gateway().await;
    let r = gw
        .app
        .client
        .post(gw.app.url("/v1/messages"))
        .bearer_auth(&gw.key)
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("gen_"),
        "every answer has an id"
    );
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"]["type"], "invalid_request_error");
    let r = gw
        .app
        .client
        .post(gw.app.url("/v1/chat/completions"))
        .bearer_auth(&gw.key)
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "invalid_json");
    let mut no_max = message("an-model");
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let r = gw.post("/v1/messages", no_max).await;
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_tokens"));
    let r = gw
        .post("/v1/chat/completions", json!({"model": "oa-model"}))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["param"],
        "messages"
    );
    let r = gw
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = gw.post("/v1/chat/completions", chat("ghost-model")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "model_not_found"
    );
    let r = gw.post("/v1/messages", message("ghost-model")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "not_found_error"
    );
    assert_eq!(gw.mock.count(), 0, "nothing bad reaches the upstream");
}

#[tokio::test]
async fn unpriced_models_are_refused_before_any_upstream_call() {
    let gw = gateway().await;
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            "/admin/models",
            Some(json!({"id":"free-lunch","name":"Unpriced","provider":"mock-openai"})),
        )
        .await;
    assert_eq!(s, 201);
    let r = gw.post("/v1/chat/completions", chat("free-lunch")).await;
    assert_eq!(r.status(), 400);
    let id = request_id(&r);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "model_not_priced");
    assert!(e["error"]["message"].as_str().unwrap().contains("no price"));
    let r = gw.post("/v1/messages", message("free-lunch")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["type"], "error");
    assert_eq!(gw.mock.count(), 0);
    let g = gw.generation(&id).await;
    assert_eq!(g["status"], "rejected", "refusals are in the audit trail");
    assert_eq!(g["cost_usd"], "0.000000");
}

#[tokio::test]
async fn upstream_errors_are_mapped_and_recorded() {
    let gw = gateway().await;
    gw.mock.set(|s| s.status = Some(500));
    let r = gw.post("/v1/chat/completions", chat("oa-model")).await;
    assert_eq!(r.status(), 502);
    let id = request_id(&r);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("mock failure 500"));
    let g = gw.generation(&id).await;
    assert_eq!(g["status"], "upstream_error");
    assert_eq!(g["upstream_status"], 500);
    assert_eq!(g["cost_usd"], "0.000000");
    gw.mock.set(|s| s.status = Some(429));
    let r = gw.post("/v1/messages", message("oa-model")).await;
    assert_eq!(r.status(), 429, "upstream 4xx passes through");
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        e["error"]["type"], "rate_limit_error",
        "in the caller's (Anthropic) format"
    );
    gw.mock.set(|s| s.status = Some(400));
    let r = gw.post("/v1/messages", message("an-model")).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn upstream_timeouts_are_504() {
    let gw = gateway().await;
    let (s, _) = gw
        .app
        .admin(
            Method::PATCH,
            "/admin/providers/mock-openai",
            Some(json!({"total_timeout_ms": 300, "first_byte_timeout_ms": 300})),
        )
        .await;
    assert_eq!(s, 200);
    gw.mock.set(|s| s.delay_ms = 2000);
    let r = gw.post("/v1/chat/completions", chat("oa-model")).await;
    assert_eq!(r.status(), 504);
    let id = request_id(&r);
    assert_eq!(gw.generation(&id).await["status"], "timeout");
    let r = gw.post("/v1/messages", message("oa-model")).await;
    assert_eq!(r.status(), 504);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "timeout_error"
    );
}

#[tokio::test]
async fn a_broken_stream_ends_with_an_error_event_and_an_estimate() {
    let gw = gateway().await;
    gw.mock.set(|s| s.truncate = true);
    let mut req = chat("oa-model");
    req["stream"] = true.into();
    let r = gw.post("/v1/chat/completions", req).await;
    let id = request_id(&r);
    let events = sse_events(&r.text().await.unwrap());
    let last: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(last["error"]["code"], "upstream_stream_error");
    assert!(!events.iter().any(|(_, d)| d == "[DONE]"));
    let g = gw.generation(&id).await;
    assert_eq!(g["status"], "stream_error");
    assert_eq!(g["usage_source"], "estimated");
    assert!(g["input_tokens"].as_u64().unwrap() > 0);

    let mut req = message("an-model");
    req["stream"] = true.into();
    let r = gw.post("/v1/messages", req).await;
    let events = sse_events(&r.text().await.unwrap());
    assert_eq!(events.last().unwrap().0, "error");
    assert!(!events.iter().any(|(e, _)| e == "message_stop"));
}

#[tokio::test]
async fn missing_upstream_usage_is_estimated() {
    let gw = gateway().await;
    gw.mock.set(|s| s.no_usage = true);
    let r = gw.post("/v1/messages", message("an-model")).await;
    assert_eq!(r.status(), 200);
    let g = gw.generation(&request_id(&r)).await;
    assert_eq!(g["usage_source"], "estimated");
    assert_eq!(
        g["output_tokens"], 5,
        "'Hello from the mock upstream' is 5 o200k tokens"
    );
    let mut req = chat("oa-model");
    req["stream"] = true.into();
    let r = gw.post("/v1/chat/completions", req).await;
    let id = request_id(&r);
    let _ = r.text().await.unwrap();
    let g = gw.generation(&id).await;
    assert_eq!(g["status"], "ok");
    assert_eq!(g["usage_source"], "estimated");
    assert_eq!(g["output_tokens"], 5);
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_charged_for_what_the_upstream_produced() {
    let gw = gateway().await;
    gw.mock.set(|s| {
        s.text = "one two three four five six seven eight nine ten".into();
        s.chunk_delay_ms = 40;
    });
    let mut req = chat("oa-model");
    req["stream"] = true.into();
    let mut r = gw.post("/v1/chat/completions", req).await;
    let id = request_id(&r);
    let first = r.chunk().await.unwrap();
    assert!(first.is_some());
    drop(r);
    let mut record = Value::Null;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let resp = gw
            .app
            .client
            .get(gw.app.url(&format!("/v1/generations/{id}")))
            .bearer_auth(&gw.key)
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            record = resp.json::<Value>().await.unwrap()["data"].clone();
            break;
        }
    }
    assert_eq!(record["status"], "client_cancelled");
    assert_eq!(
        record["usage_source"], "upstream",
        "the relay read the upstream to its end"
    );
    assert_eq!(record["output_tokens"], 500);
    assert_eq!(record["cost_usd"], "0.005000");
}

#[tokio::test]
async fn keys_are_checked() {
    let gw = gateway().await;
    let post = |auth: Option<(&'static str, String)>| {
        let mut req = gw
            .app
            .client
            .post(gw.app.url("/v1/chat/completions"))
            .json(&chat("oa-model"));
        if let Some((h, v)) = auth {
            req = req.header(h, v);
        }
        req.send()
    };
    let r = post(None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "authentication_error"
    );
    assert_eq!(
        post(Some(("authorization", "Bearer tg-nope".into())))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        post(Some(("x-api-key", gw.key.clone())))
            .await
            .unwrap()
            .status(),
        200
    );
    let r = gw
        .app
        .client
        .post(gw.app.url("/v1/messages"))
        .json(&message("an-model"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "authentication_error"
    );

    let path = format!("/admin/keys/{}", gw.key_id);
    gw.app
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"allowed_models": ["an-model"]})),
        )
        .await;
    let r = gw.post("/v1/chat/completions", chat("oa-model")).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        gw.post("/v1/messages", message("an-model")).await.status(),
        200
    );
    gw.app
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"allowed_models": null, "disabled": true})),
        )
        .await;
    assert_eq!(
        gw.post("/v1/chat/completions", chat("oa-model"))
            .await
            .status(),
        401
    );
    gw.app
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"disabled": false, "expires_at": "2020-01-01T00:00:00Z"})),
        )
        .await;
    let r = gw.post("/v1/chat/completions", chat("oa-model")).await;
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    gw.app
        .admin(Method::PATCH, &path, Some(json!({"expires_at": null})))
        .await;
    assert_eq!(
        gw.post("/v1/chat/completions", chat("oa-model"))
            .await
            .status(),
        200
    );
    gw.app.admin(Method::DELETE, &path, None).await;
    let r = gw.post("/v1/chat/completions", chat("oa-model")).await;
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
}

#[tokio::test]
async fn request_bodies_over_the_limit_are_413() {
    let gw = gateway().await;
    let big = "x".repeat(21 * 1024 * 1024);
    let r = gw.post("/v1/messages", json!({"model": "an-model", "max_tokens": 10, "messages": [{"role": "user", "content": big}]})).await;
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "request_too_large"
    );
}
