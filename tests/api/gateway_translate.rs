//! Cross-format calls: each endpoint serves models behind the other kind of provider.

use serde_json::{json, Value};

use crate::gateway_support::{chat, gateway, message, request_id, sse_events};

fn tools_openai() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

fn tools_anthropic() -> Value {
    json!([{"name": "get_weather", "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

#[tokio::test]
async fn openai_request_to_an_anthropic_provider() {
    let gw = gateway().await;
    let mut req = chat("an-model");
    req["stop"] = "END".into();
    req["messages"].as_array_mut().unwrap().push(json!({"role": "user", "content": [
        {"type": "text", "text": "and this?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}));
    let r = gw.post("/v1/chat/completions", req).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-tollgate-cost"], "0.017500");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "an-model");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from the mock upstream"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 1000);
    assert_eq!(body["usage"]["completion_tokens"], 500);
    let seen = gw.mock.last();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.body["system"], "be brief");
    assert_eq!(seen.body["max_tokens"], 100);
    assert_eq!(seen.body["stop_sequences"], json!(["END"]));
    assert_eq!(
        seen.body["messages"].as_array().unwrap().len(),
        1,
        "consecutive user turns merge"
    );
    let blocks = seen.body["messages"][0]["content"].as_array().unwrap();
    assert_eq!(blocks.last().unwrap()["source"]["media_type"], "image/png");
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
}

#[tokio::test]
async fn openai_tool_call_through_an_anthropic_provider() {
    let gw = gateway().await;
    gw.mock
        .set(|s| s.tool_call = Some(("get_weather".into(), r#"{"city":"Paris"}"#.into())));
    let mut req = chat("an-model");
    req["tools"] = tools_openai();
    req["tool_choice"] = "auto".into();
    let r = gw.post("/v1/chat/completions", req.clone()).await;
    let body: Value = r.json().await.unwrap();
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(
        gw.mock.last().body["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );
    assert_eq!(gw.mock.last().body["tool_choice"], json!({"type": "auto"}));

    req["stream"] = true.into();
    req["stream_options"] = json!({"include_usage": true});
    let r = gw.post("/v1/chat/completions", req).await;
    let events = sse_events(&r.text().await.unwrap());
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls[0]["id"], "toolu_mock");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, r#"{"city":"Paris"}"#);
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["prompt_tokens"], 1000);
    assert_eq!(usage["cost"].as_f64().unwrap(), 0.0175);
}

#[tokio::test]
async fn anthropic_request_to_an_openai_provider() {
    let gw = gateway().await;
    let mut req = message("oa-model");
    req["stop_sequences"] = json!(["END"]);
    let r = gw.post("/v1/messages", req).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-tollgate-cost"], "0.005000");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "oa-model");
    assert_eq!(
        body["content"][0],
        json!({"type": "text", "text": "Hello from the mock upstream"})
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["usage"]["input_tokens"], 1000);
    assert_eq!(body["usage"]["output_tokens"], 500);
    let seen = gw.mock.last();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(
        seen.body["messages"][0],
        json!({"role": "system", "content": "be brief"})
    );
    assert_eq!(seen.body["stop"], json!(["END"]));
    assert_eq!(seen.body["model"], "upstream-oa");
}

#[tokio::test]
async fn anthropic_tool_use_through_an_openai_provider() {
    let gw = gateway().await;
    gw.mock
        .set(|s| s.tool_call = Some(("get_weather".into(), r#"{"city":"Oslo"}"#.into())));
    let mut req = message("oa-model");
    req["tools"] = tools_anthropic();
    req["messages"] = json!([
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}, {"type": "text", "text": "and Oslo?"}]}
    ]);
    let r = gw.post("/v1/messages", req.clone()).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["stop_reason"], "tool_use");
    assert_eq!(body["content"][0]["type"], "tool_use");
    assert_eq!(body["content"][0]["input"], json!({"city": "Oslo"}));
    let seen = gw.mock.last().body;
    assert_eq!(
        seen["tools"][0]["function"]["parameters"]["required"],
        json!(["city"])
    );
    assert_eq!(seen["messages"][0]["role"], "system");
    assert_eq!(seen["messages"][2]["tool_calls"][0]["id"], "toolu_1");
    assert_eq!(
        seen["messages"][3],
        json!({"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"})
    );
    assert_eq!(
        seen["messages"][4],
        json!({"role": "user", "content": "and Oslo?"})
    );

    req["stream"] = true.into();
    let r = gw.post("/v1/messages", req).await;
    let events = sse_events(&r.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names[0], "message_start");
    assert_eq!(
        &names[names.len() - 2..],
        &["message_delta", "message_stop"]
    );
    let start = events
        .iter()
        .find(|(e, _)| e == "content_block_start")
        .unwrap();
    let start: Value = serde_json::from_str(&start.1).unwrap();
    assert_eq!(start["content_block"]["type"], "tool_use");
    assert_eq!(start["content_block"]["name"], "get_weather");
    let json_parts: String = events
        .iter()
        .filter(|(e, _)| e == "content_block_delta")
        .map(|(_, d)| {
            serde_json::from_str::<Value>(d).unwrap()["delta"]["partial_json"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(json_parts, r#"{"city":"Oslo"}"#);
    let delta: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], 500);
    assert!(names.contains(&"content_block_stop"));
}

#[tokio::test]
async fn anthropic_text_stream_through_an_openai_provider() {
    let gw = gateway().await;
    let mut req = message("oa-model");
    req["stream"] = true.into();
    let r = gw.post("/v1/messages", req).await;
    let id = request_id(&r);
    let events = sse_events(&r.text().await.unwrap());
    let text: String = events
        .iter()
        .filter(|(e, _)| e == "content_block_delta")
        .map(|(_, d)| {
            serde_json::from_str::<Value>(d).unwrap()["delta"]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(text, "Hello from the mock upstream");
    let g = gw.generation(&id).await;
    assert_eq!(g["endpoint"], "anthropic_messages");
    assert_eq!(g["provider"], "mock-openai");
    assert_eq!(g["cost_usd"], "0.005000");
}

/// What cannot be carried to the other protocol is refused with a 400 naming the field (and
/// recorded, its reservation released), never dropped: `n > 1`, logprobs, penalties,
/// non-function tools and fields the gateway does not know to an Anthropic-kind model; server
/// tools to an OpenAI-kind one. What can be carried is: `temperature` clamped into
/// Anthropic's range, `parallel_tool_calls` both ways, and an empty tool list is never sent.
#[tokio::test]
async fn untranslatable_fields_are_refused_and_translatable_ones_carried() {
    let gw = gateway().await;
    let before = gw.mock.count();
    for (field, value) in [
        ("n", json!(2)),
        ("logprobs", json!(true)),
        ("frequency_penalty", json!(0.5)),
        ("prediction", json!({"type": "content", "content": "x"})),
        ("tools", json!([{"type": "web_search_preview"}])),
    ] {
        let mut body = chat("an-model");
        body[field] = value;
        let r = gw.post("/v1/chat/completions", body).await;
        assert_eq!(r.status(), 400, "{field}");
        let id = crate::gateway_support::request_id(&r);
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"]["param"].as_str().unwrap().starts_with(field),
            "{e}"
        );
        assert_eq!(gw.generation(&id).await["status"], "rejected");
    }
    let mut m = message("oa-model");
    m["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
    let r = gw.post("/v1/messages", m).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["type"], "error", "Anthropic shape: {e}");
    assert_eq!(
        gw.mock.count(),
        before,
        "nothing refused reached the upstream"
    );

    let mut body = chat("an-model");
    body["temperature"] = json!(1.6);
    body["tools"] =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    body["parallel_tool_calls"] = json!(false);
    assert_eq!(gw.post("/v1/chat/completions", body).await.status(), 200);
    let sent = gw.mock.last().body;
    assert_eq!(sent["temperature"].as_f64(), Some(1.0), "{sent}");
    assert_eq!(
        sent["tool_choice"]["disable_parallel_tool_use"], true,
        "{sent}"
    );

    let mut m = message("oa-model");
    m["tools"] = json!([]);
    assert_eq!(gw.post("/v1/messages", m).await.status(), 200);
    assert!(
        gw.mock.last().body.get("tools").is_none(),
        "no empty tools array"
    );
    let mut m = message("oa-model");
    m["tools"] = json!([{"name": "f", "input_schema": {"type": "object"}}]);
    m["tool_choice"] = json!({"type": "auto", "disable_parallel_tool_use": true});
    assert_eq!(gw.post("/v1/messages", m).await.status(), 200);
    assert_eq!(gw.mock.last().body["parallel_tool_calls"], false);
}

/// Structured output reaches an Anthropic-kind model as a forced tool whose input is the
/// answer, unwrapped into the message text, streamed or not.
#[tokio::test]
async fn structured_output_to_an_anthropic_provider() {
    let gw = gateway().await;
    gw.mock
        .set(|s| s.tool_call = Some(("Weather".into(), r#"{"city":"Paris"}"#.into())));
    let mut body = chat("an-model");
    body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "Weather", "strict": true,
        "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}});
    let r: Value = gw
        .post("/v1/chat/completions", body.clone())
        .await
        .json()
        .await
        .unwrap();
    let message = &r["choices"][0]["message"];
    assert_eq!(
        serde_json::from_str::<Value>(message["content"].as_str().unwrap()).unwrap(),
        json!({"city": "Paris"}),
        "{r}"
    );
    assert!(message.get("tool_calls").is_none(), "{r}");
    assert_eq!(r["choices"][0]["finish_reason"], "stop");
    let sent = gw.mock.last().body;
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "tool", "name": "Weather"})
    );
    assert_eq!(
        sent["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );

    body["stream"] = true.into();
    let r = gw.post("/v1/chat/completions", body).await;
    let events = sse_events(&r.text().await.unwrap());
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"city": "Paris"})
    );
    assert!(chunks
        .iter()
        .all(|c| c["choices"][0]["delta"].get("tool_calls").is_none()));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

/// An Anthropic caller's thinking request reaches an OpenAI-kind model as a reasoning effort,
/// and its reasoning comes back as thinking blocks; an OpenAI caller reads Anthropic thinking
/// as `reasoning_content`.
#[tokio::test]
async fn thinking_and_reasoning_cross_formats() {
    let gw = gateway().await;
    gw.mock.set(|s| s.thinking = Some("Let me think.".into()));
    let mut m = message("oa-model");
    m["max_tokens"] = 8000.into();
    m["thinking"] = json!({"type": "enabled", "budget_tokens": 2000});
    let r: Value = gw
        .post("/v1/messages", m.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(gw.mock.last().body["reasoning_effort"], "low");
    assert_eq!(r["content"][0]["type"], "thinking", "{r}");
    assert_eq!(r["content"][0]["thinking"], "Let me think.");
    assert_eq!(r["content"][1]["text"], "Hello from the mock upstream");

    m["stream"] = true.into();
    let events = sse_events(&gw.post("/v1/messages", m).await.text().await.unwrap());
    let thinking: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|d| d["delta"]["thinking"].as_str().map(str::to_string))
        .collect();
    assert_eq!(thinking, "Let me think.");

    let body = chat("an-model");
    let r: Value = gw
        .post("/v1/chat/completions", body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["choices"][0]["message"]["reasoning_content"],
        "Let me think."
    );
}

/// Images inside an Anthropic tool result reach an OpenAI-kind model (after the tool message,
/// as a user message); OpenAI image parts reach Anthropic tool results' neighbours intact.
#[tokio::test]
async fn images_in_tool_results_cross_formats() {
    let gw = gateway().await;
    let mut m = message("oa-model");
    m["messages"] = json!([
        {"role": "user", "content": "What does the chart show?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "chart", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": "the chart"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}]}
    ]);
    assert_eq!(gw.post("/v1/messages", m).await.status(), 200);
    let sent = gw.mock.last().body["messages"].clone();
    assert_eq!(sent[0]["role"], "system");
    assert_eq!(
        sent[3],
        json!({"role": "tool", "tool_call_id": "t1", "content": "the chart"})
    );
    assert_eq!(sent[4]["role"], "user");
    assert_eq!(
        sent[4]["content"][0]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );
}
