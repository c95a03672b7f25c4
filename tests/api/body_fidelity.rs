//! A body the provider speaks natively goes upstream as the caller's bytes, with only the
//! fields the gateway changes spliced in; a body with a duplicate key is refused, so the
//! gateway and the upstream always read the same request.

use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway_support::{gateway, Gw};

async fn post_text(gw: &Gw, path: &str, secret: &str, text: &str) -> reqwest::Response {
    gw.app
        .client
        .post(gw.app.url(path))
        .bearer_auth(secret)
        .header("content-type", "application/json")
        .body(text.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_native_call_forwards_the_callers_bytes_with_the_model_renamed() {
    let gw = gateway().await;
    // Key order, a number no f64 holds, escapes and spacing inside values: all kept.
    let text = r#"{"zeta": {"b": 1, "a": 2}, "model": "oa-model", "temperature": 0.30000000000000000001, "messages": [{"role": "user", "content": "h\u00e9llo \"you\""}]}"#;
    let r = post_text(&gw, "/v1/chat/completions", &gw.key, text).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let seen = gw.mock.last();
    assert_eq!(
        std::str::from_utf8(&seen.raw).unwrap(),
        r#"{"zeta":{"b": 1, "a": 2},"model":"upstream-oa","temperature":0.30000000000000000001,"messages":[{"role": "user", "content": "h\u00e9llo \"you\""}]}"#
    );

    // An Anthropic caller to an Anthropic-kind provider: the same.
    let text = r#"{"model":"an-model","max_tokens":64,"system":[{"type":"text","text":"be brief"}],"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"u1"}}"#;
    let r = post_text(&gw, "/v1/messages", &gw.key, text).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        std::str::from_utf8(&gw.mock.last().raw).unwrap(),
        r#"{"model":"upstream-an","max_tokens":64,"system":[{"type":"text","text":"be brief"}],"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"u1"}}"#
    );
}

#[tokio::test]
async fn the_gateways_edits_are_spliced_into_the_forwarded_bytes() {
    let gw = gateway().await;
    // A budgeted key: the reservation injects the output cap the call is reserved for.
    let (s, k) = gw
        .app
        .admin(
            Method::POST,
            "/admin/keys",
            Some(json!({"name":"capped","budget":{"limit_usd":"100","period":"monthly","mode":"hard"}})),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let secret = k["key"].as_str().unwrap();
    let text = r#"{"model":"oa-model","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"hi"}]}"#;
    let r = post_text(&gw, "/v1/chat/completions", secret, text).await;
    assert_eq!(r.status(), 200);
    let _ = r.text().await.unwrap();
    let seen = gw.mock.last();
    let sent: Value = serde_json::from_slice(&seen.raw).unwrap();
    assert_eq!(sent["model"], "upstream-oa");
    assert_eq!(
        sent["stream_options"],
        json!({"include_usage": true}),
        "usage is always asked of an OpenAI stream"
    );
    assert!(
        sent["max_tokens"].as_u64().is_some_and(|n| n > 0),
        "the reserved output cap goes upstream: {sent}"
    );
    let text = std::str::from_utf8(&seen.raw).unwrap();
    assert_eq!(text.matches("\"stream_options\"").count(), 1, "{text}");
    assert_eq!(text.matches("\"model\"").count(), 1, "{text}");
    assert!(
        text.starts_with(r#"{"model":"upstream-oa","stream":true,"stream_options":{"include_usage":true},"messages":"#),
        "edits in place, in the caller's order: {text}"
    );

    // ModelsLab's body key and model_id never reach the provider.
    let text = format!(
        r#"{{"key":"{}","model_id":"oa-model","messages":[{{"role":"user","content":"hi"}}]}}"#,
        gw.key
    );
    let r = gw
        .app
        .client
        .post(gw.app.url("/api/v7/llm/chat/completions"))
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        std::str::from_utf8(&gw.mock.last().raw).unwrap(),
        r#"{"messages":[{"role":"user","content":"hi"}],"model":"upstream-oa"}"#
    );
}

#[tokio::test]
async fn a_duplicate_key_at_any_depth_is_a_400_in_the_callers_format_and_nothing_is_forwarded() {
    let gw = gateway().await;
    let cases = [
        (
            "/v1/chat/completions",
            r#"{"model":"oa-model","max_tokens":1,"messages":[{"role":"user","content":"hi"}],"max_tokens":100000}"#,
            "max_tokens",
            "max_tokens",
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"oa-model","messages":[{"role":"user","content":"short","content":"long"}]}"#,
            "content",
            "messages[0].content",
        ),
        (
            "/v1/messages",
            r#"{"model":"an-model","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"model":"oa-model"}"#,
            "model",
            "model",
        ),
        (
            "/v1/responses",
            r#"{"model":"oa-model","input":"hi","max_output_tokens":16,"max_output_tokens":17}"#,
            "max_output_tokens",
            "max_output_tokens",
        ),
    ];
    for (path, text, key, param) in cases {
        let r = post_text(&gw, path, &gw.key, text).await;
        assert_eq!(r.status(), 400, "{path} {text}");
        let e: Value = r.json().await.unwrap();
        let message = e["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("duplicate key `{key}`")),
            "{path}: {e}"
        );
        if path == "/v1/messages" {
            assert_eq!(e["type"], "error", "{e}");
            assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
        } else {
            assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
            assert_eq!(e["error"]["code"], "invalid_field", "{e}");
            assert_eq!(e["error"]["param"], param, "{e}");
        }
    }
    assert_eq!(gw.mock.count(), 0, "no refused body reaches the upstream");
}

/// A native answer reaches the caller as the upstream's bytes, with `model` (the catalog id)
/// and `usage` (with `cost`, OpenAI) spliced in place.
#[tokio::test]
async fn a_native_answer_is_the_upstreams_bytes_with_model_and_usage_spliced() {
    let gw = gateway().await;
    gw.mock.set(|s| {
        s.raw_answer = Some(
            r#"{"zz":1.10000000000000000001,"id":"chatcmpl-raw","model":"upstream-oa","choices":[{"index":0,"message":{"role":"assistant","content":"h\u00e9"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500},"object":"chat.completion"}"#
                .into(),
        )
    });
    let r = gw
        .post(
            "/v1/chat/completions",
            json!({"model":"oa-model","messages":[{"role":"user","content":"hi"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["x-tollgate-cost"], "0.005000");
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"zz":1.10000000000000000001,"id":"chatcmpl-raw","model":"oa-model","choices":[{"index":0,"message":{"role":"assistant","content":"h\u00e9"},"finish_reason":"stop"}],"usage":{"completion_tokens":500,"cost":0.005,"prompt_tokens":1000,"total_tokens":1500},"object":"chat.completion"}"#
    );

    gw.mock.set(|s| {
        s.raw_answer = Some(
            r#"{"type":"message","id":"msg_raw","role":"assistant","model":"upstream-an","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"output_tokens":20,"input_tokens":100}}"#
                .into(),
        )
    });
    let r = gw
        .post(
            "/v1/messages",
            json!({"model":"an-model","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"type":"message","id":"msg_raw","role":"assistant","model":"an-model","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"output_tokens":20,"input_tokens":100}}"#,
        "a trusted Anthropic usage object reaches the caller as the upstream wrote it"
    );
}

/// An answer that is not one JSON object with unique keys is a 502 `upstream_invalid`,
/// recorded; a usage object that names a count twice is not trusted: the gateway counts.
#[tokio::test]
async fn an_ambiguous_or_malformed_answer_is_refused_or_counted_locally() {
    let gw = gateway().await;
    let call = json!({"model":"oa-model","messages":[{"role":"user","content":"hi"}]});
    for answer in [
        r#"[{"usage":{"prompt_tokens":1}}]"#,
        r#"{"id":"a","usage":{"prompt_tokens":1,"completion_tokens":1},"usage":{"prompt_tokens":9,"completion_tokens":9}}"#,
        r#"{"id":"a","choices":[]"#,
        r#"{"id":"a"} {"id":"b"}"#,
    ] {
        gw.mock.set(|s| s.raw_answer = Some(answer.into()));
        let r = gw.post("/v1/chat/completions", call.clone()).await;
        assert_eq!(r.status(), 502, "{answer}");
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "upstream_invalid", "{answer}: {e}");
        let g = gw.generation(&id).await;
        assert_eq!(g["status"], "upstream_error", "{answer}: {g}");
    }
    gw.mock.set(|s| {
        s.raw_answer = Some(
            r#"{"id":"a","choices":[{"index":0,"message":{"role":"assistant","content":"four words of text"}}],"usage":{"prompt_tokens":1,"prompt_tokens":900000,"completion_tokens":1}}"#
                .into(),
        )
    });
    let r = gw.post("/v1/chat/completions", call).await;
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    let g = gw.generation(&id).await;
    assert_eq!(g["usage_source"], "estimated", "{g}");
    assert!(
        g["input_tokens"].as_u64().unwrap() < 100,
        "counted locally, not either reported figure: {g}"
    );
    assert_eq!(body["usage"]["prompt_tokens"], g["input_tokens"], "{body}");
}
