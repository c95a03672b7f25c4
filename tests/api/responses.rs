//! `POST /v1/responses`: the OpenAI Responses API for models behind either kind of provider,
//! translated through the protocol hub, metered like every other call.

use serde_json::{json, Value};

use crate::gateway_support::{gateway, request_id, sse_events, Gw};

const MODELS: [(&str, &str, &str); 2] = [
    ("oa-model", "/v1/chat/completions", "0.005000"),
    ("an-model", "/v1/messages", "0.017500"),
];

fn ask(model: &str) -> Value {
    json!({"model": model, "instructions": "be brief", "input": "Say hello", "max_output_tokens": 100})
}

fn weather_tool() -> Value {
    json!([{"type": "function", "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

/// The stream's events as (name, data) with the data parsed; checks every event's `type` and
/// that sequence numbers count up from 0.
async fn stream(gw: &Gw, body: Value) -> (String, Vec<(String, Value)>) {
    let r = gw.post("/v1/responses", body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let id = request_id(&r);
    let events: Vec<(String, Value)> = sse_events(&r.text().await.unwrap())
        .into_iter()
        .map(|(name, data)| (name, serde_json::from_str(&data).unwrap()))
        .collect();
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(&data["type"], name);
        assert_eq!(data["sequence_number"], i as u64, "{name}");
    }
    (id, events)
}

async fn answer(gw: &Gw, body: Value) -> Value {
    let r = gw.post("/v1/responses", body).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The concatenated `field` of every `name` event.
fn joined(events: &[(String, Value)], name: &str, field: &str) -> String {
    events
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, d)| d[field].as_str().unwrap())
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test]
async fn a_plain_answer_from_either_kind_of_provider() {
    let gw = gateway().await;
    for (model, path, cost) in MODELS {
        let r = gw.post("/v1/responses", ask(model)).await;
        assert_eq!(r.status(), 200, "{model}");
        assert_eq!(r.headers()["x-tollgate-cost"], cost);
        let id = request_id(&r);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["object"], "response");
        assert_eq!(body["status"], "completed");
        assert_eq!(body["model"], model);
        assert!(body["id"].as_str().unwrap().starts_with("resp_"));
        assert_eq!(body["output"].as_array().unwrap().len(), 1);
        let message = &body["output"][0];
        assert_eq!(message["type"], "message");
        assert_eq!(message["role"], "assistant");
        assert_eq!(message["content"][0]["type"], "output_text");
        assert_eq!(
            message["content"][0]["text"],
            "Hello from the mock upstream"
        );
        assert_eq!(body["usage"]["input_tokens"], 1000);
        assert_eq!(body["usage"]["output_tokens"], 500);
        assert_eq!(body["usage"]["total_tokens"], 1500);
        assert_eq!(body["instructions"], "be brief");
        assert_eq!(body["max_output_tokens"], 100);
        let seen = gw.mock.last();
        assert_eq!(seen.path, path);
        assert_eq!(
            seen.body["model"],
            if model == "oa-model" {
                "upstream-oa"
            } else {
                "upstream-an"
            }
        );
        if model == "oa-model" {
            assert_eq!(
                seen.body["messages"][0],
                json!({"role": "system", "content": "be brief"})
            );
            assert_eq!(
                seen.body["messages"][1],
                json!({"role": "user", "content": "Say hello"})
            );
            assert_eq!(seen.body["max_tokens"], 100);
        } else {
            assert_eq!(seen.body["system"], "be brief");
            assert_eq!(seen.body["max_tokens"], 100);
        }
        let g = gw.generation(&id).await;
        assert_eq!(g["endpoint"], "openai_responses");
        assert_eq!(g["status"], "ok");
        assert_eq!(g["cost_usd"], cost);
        assert_eq!(g["input_tokens"], 1000);
    }
}

#[tokio::test]
async fn a_streamed_answer_has_the_full_event_sequence() {
    let gw = gateway().await;
    for (model, _, cost) in MODELS {
        let mut req = ask(model);
        req["stream"] = true.into();
        let (id, events) = stream(&gw, req).await;
        let n = names(&events);
        assert_eq!(
            &n[..4],
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added"
            ],
            "{model}"
        );
        assert_eq!(
            &n[n.len() - 4..],
            [
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let text: String = joined(&events, "response.output_text.delta", "delta");
        assert_eq!(text, "Hello from the mock upstream");
        let done = &events[n.len() - 4].1;
        assert_eq!(done["text"], text);
        let completed = &events.last().unwrap().1["response"];
        assert_eq!(completed["status"], "completed");
        assert_eq!(completed["output"][0]["content"][0]["text"], text);
        assert_eq!(completed["usage"]["input_tokens"], 1000);
        assert_eq!(completed["usage"]["output_tokens"], 500);
        assert_eq!(events[0].1["response"]["status"], "in_progress");
        let g = gw.generation(&id).await;
        assert_eq!(g["endpoint"], "openai_responses");
        assert_eq!(g["streamed"], true);
        assert_eq!(g["cost_usd"], cost);
    }
}

#[tokio::test]
async fn function_tools_across_two_turns() {
    let gw = gateway().await;
    gw.mock
        .set(|s| s.tool_call = Some(("get_weather".into(), r#"{"city":"Paris"}"#.into())));
    for (model, _, _) in MODELS {
        let mut req = ask(model);
        req["tools"] = weather_tool();
        req["tool_choice"] = "required".into();
        req["parallel_tool_calls"] = false.into();
        let body = answer(&gw, req.clone()).await;
        let call = &body["output"][0];
        assert_eq!(call["type"], "function_call", "{body}");
        assert_eq!(call["name"], "get_weather");
        assert_eq!(
            serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).unwrap(),
            json!({"city": "Paris"})
        );
        let seen = gw.mock.last().body;
        if model == "oa-model" {
            assert_eq!(seen["tools"][0]["function"]["name"], "get_weather");
            assert_eq!(seen["tool_choice"], "required");
            assert_eq!(seen["parallel_tool_calls"], false);
        } else {
            assert_eq!(
                seen["tools"][0]["input_schema"]["required"],
                json!(["city"])
            );
            assert_eq!(
                seen["tool_choice"],
                json!({"type": "any", "disable_parallel_tool_use": true})
            );
        }

        // Streamed, the call's arguments arrive as deltas.
        req["stream"] = true.into();
        let (_, events) = stream(&gw, req.clone()).await;
        let args: String = joined(&events, "response.function_call_arguments.delta", "delta");
        assert_eq!(args, r#"{"city":"Paris"}"#);
        let done = events
            .iter()
            .find(|(n, _)| n == "response.function_call_arguments.done")
            .unwrap();
        assert_eq!(done.1["arguments"], args);
        let completed = &events.last().unwrap().1["response"];
        assert_eq!(completed["output"][0]["call_id"], call["call_id"]);

        // The second turn carries the call and its output back.
        req["stream"] = false.into();
        req["input"] = json!([
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {"type": "function_call", "call_id": call["call_id"], "name": "get_weather", "arguments": call["arguments"]},
            {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
        ]);
        req["tool_choice"] = "auto".into();
        let r = gw.post("/v1/responses", req).await;
        assert_eq!(r.status(), 200);
        let seen = gw.mock.last().body;
        let messages = seen["messages"].as_array().unwrap();
        if model == "oa-model" {
            assert_eq!(messages[2]["tool_calls"][0]["id"], call["call_id"]);
            assert_eq!(
                messages[3],
                json!({"role": "tool", "tool_call_id": call["call_id"], "content": "sunny"})
            );
        } else {
            assert_eq!(messages[1]["content"][0]["type"], "tool_use");
            assert_eq!(messages[1]["content"][0]["input"], json!({"city": "Paris"}));
            assert_eq!(messages[2]["content"][0]["type"], "tool_result");
            assert_eq!(messages[2]["content"][0]["tool_use_id"], call["call_id"]);
        }
    }
}

#[tokio::test]
async fn structured_output_reaches_both_kinds_of_provider() {
    let gw = gateway().await;
    let format = json!({"format": {"type": "json_schema", "name": "Weather", "strict": true,
        "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}});
    let mut req = ask("oa-model");
    req["text"] = format.clone();
    gw.mock.set(|s| s.text = r#"{"city":"Paris"}"#.into());
    let body = answer(&gw, req).await;
    assert_eq!(
        body["output"][0]["content"][0]["text"],
        r#"{"city":"Paris"}"#
    );
    let seen = gw.mock.last().body;
    assert_eq!(seen["response_format"]["type"], "json_schema");
    assert_eq!(seen["response_format"]["json_schema"]["name"], "Weather");
    assert_eq!(seen["response_format"]["json_schema"]["strict"], true);

    // An Anthropic-kind model answers through a forced tool, unwrapped into the text.
    gw.mock
        .set(|s| s.tool_call = Some(("Weather".into(), r#"{"city":"Paris"}"#.into())));
    let mut req = ask("an-model");
    req["text"] = format;
    let body = answer(&gw, req.clone()).await;
    assert_eq!(body["status"], "completed");
    assert_eq!(body["output"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(body["output"][0]["content"][0]["text"].as_str().unwrap())
            .unwrap(),
        json!({"city": "Paris"})
    );
    let seen = gw.mock.last().body;
    assert_eq!(
        seen["tool_choice"],
        json!({"type": "tool", "name": "Weather"})
    );
    assert_eq!(
        seen["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );

    req["stream"] = true.into();
    let (_, events) = stream(&gw, req).await;
    let text: String = joined(&events, "response.output_text.delta", "delta");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"city": "Paris"})
    );
    assert!(!names(&events).contains(&"response.function_call_arguments.delta"));
}

#[tokio::test]
async fn reasoning_is_carried_both_ways() {
    let gw = gateway().await;
    gw.mock.set(|s| s.thinking = Some("Let me think.".into()));
    let mut req = ask("an-model");
    req["max_output_tokens"] = 4000.into();
    req["reasoning"] = json!({"effort": "low"});
    let body = answer(&gw, req.clone()).await;
    assert_eq!(
        gw.mock.last().body["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    let reasoning = &body["output"][0];
    assert_eq!(reasoning["type"], "reasoning", "{body}");
    assert_eq!(reasoning["summary"][0]["text"], "Let me think.");
    assert_eq!(reasoning["encrypted_content"], "sig_mock");
    assert_eq!(body["output"][1]["type"], "message");

    // Sent back, the reasoning item is the signed thinking block Anthropic needs.
    req["input"] = json!([{"role": "user", "content": "Say hello"}, reasoning, body["output"][1], {"role": "user", "content": "again"}]);
    assert_eq!(gw.post("/v1/responses", req.clone()).await.status(), 200);
    let seen = gw.mock.last().body;
    assert_eq!(
        seen["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": "Let me think.", "signature": "sig_mock"})
    );

    req["stream"] = true.into();
    let (_, events) = stream(&gw, req).await;
    let n = names(&events);
    assert!(
        n.contains(&"response.reasoning_summary_text.delta"),
        "{n:?}"
    );
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["output"][0]["encrypted_content"], "sig_mock");
    assert_eq!(
        completed["output"][1]["content"][0]["text"],
        "Hello from the mock upstream"
    );

    // An OpenAI-kind model's reasoning_content is a reasoning item too; effort is forwarded.
    let mut req = ask("oa-model");
    req["reasoning"] = json!({"effort": "high"});
    let body = answer(&gw, req).await;
    assert_eq!(gw.mock.last().body["reasoning_effort"], "high");
    assert_eq!(body["output"][0]["summary"][0]["text"], "Let me think.");
}

#[tokio::test]
async fn images_in_tool_results_reach_the_provider() {
    let gw = gateway().await;
    let input = json!([
        {"role": "user", "content": "What does the chart show?"},
        {"type": "function_call", "call_id": "c1", "name": "chart", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": [
            {"type": "input_text", "text": "the chart"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]}
    ]);
    let mut req = ask("an-model");
    req["input"] = input.clone();
    assert_eq!(gw.post("/v1/responses", req).await.status(), 200);
    let result = &gw.mock.last().body["messages"][2]["content"][0];
    assert_eq!(result["type"], "tool_result");
    assert_eq!(
        result["content"][0],
        json!({"type": "text", "text": "the chart"})
    );
    assert_eq!(result["content"][1]["source"]["media_type"], "image/png");

    let mut req = ask("oa-model");
    req["input"] = input;
    assert_eq!(gw.post("/v1/responses", req).await.status(), 200);
    let messages = gw.mock.last().body["messages"].clone();
    assert_eq!(
        messages[3],
        json!({"role": "tool", "tool_call_id": "c1", "content": "the chart"})
    );
    assert_eq!(messages[4]["role"], "user");
    assert_eq!(
        messages[4]["content"][0]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );
}

#[tokio::test]
async fn what_cannot_be_honoured_is_refused_by_name() {
    let gw = gateway().await;
    let cases = [
        ("previous_response_id", json!("resp_1")),
        ("tools", json!([{"type": "web_search"}])),
        ("conversation", json!("conv_1")),
        ("frobnicate", json!(true)),
    ];
    for (field, value) in cases {
        let mut req = ask("an-model");
        req[field] = value;
        let r = gw.post("/v1/responses", req).await;
        assert_eq!(r.status(), 400, "{field}");
        let id = request_id(&r);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(
            body["error"]["param"].as_str().unwrap().starts_with(field),
            "{body}"
        );
        assert_eq!(gw.generation(&id).await["status"], "rejected");
    }
    let r = gw
        .post("/v1/responses", json!({"model": "an-model", "input": 7}))
        .await;
    assert_eq!(r.status(), 400);
    // Accepted and not forwarded: settings that change nothing in the answer.
    let mut req = ask("oa-model");
    req["store"] = false.into();
    req["include"] = json!(["reasoning.encrypted_content"]);
    req["truncation"] = "disabled".into();
    assert_eq!(gw.post("/v1/responses", req).await.status(), 200);
    assert!(gw.mock.last().body.get("include").is_none());
}

#[tokio::test]
async fn a_mid_stream_error_fails_the_response() {
    let gw = gateway().await;
    gw.mock.set(|s| s.stream_error = true);
    for (model, _, _) in MODELS {
        let mut req = ask(model);
        req["stream"] = true.into();
        let (id, events) = stream(&gw, req).await;
        let n = names(&events);
        assert_eq!(&n[n.len() - 2..], ["error", "response.failed"], "{model}");
        assert!(!n.contains(&"response.completed"));
        let failed = &events.last().unwrap().1["response"];
        assert_eq!(failed["status"], "failed");
        assert_eq!(failed["error"]["code"], "upstream_error");
        assert_eq!(gw.generation(&id).await["status"], "upstream_error");
    }
}

/// Malformed Responses bodies get a 400 naming the field, never a 500; an upstream that lies
/// about usage on a Responses call is metered by the gateway's own count.
#[tokio::test]
async fn hostile_responses_requests_and_upstreams() {
    let gw = gateway().await;
    let deep = (0..200).fold(json!("x"), |v, _| json!([v]));
    for (body, param) in [
        (
            json!({"model": "oa-model", "input": "x", "max_output_tokens": -1}),
            "max_output_tokens",
        ),
        (
            json!({"model": "oa-model", "input": "x", "temperature": "hot"}),
            "temperature",
        ),
        (
            json!({"model": "oa-model", "input": [{"type": "function_call", "name": "f"}]}),
            "input[0]",
        ),
        (
            json!({"model": "oa-model", "input": [{"type": "telepathy"}]}),
            "input[0].type",
        ),
        (json!({"model": "oa-model", "input": []}), "input"),
        (
            json!({"model": "oa-model", "input": "x", "text": {"format": {"type": "json_schema"}}}),
            "text.format.schema",
        ),
        (
            json!({"model": "oa-model", "input": "x", "tool_choice": {"type": "function"}}),
            "tool_choice",
        ),
    ] {
        let r = gw.post("/v1/responses", body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"]["param"]
                .as_str()
                .is_some_and(|p| p.starts_with(param)),
            "{param}: {e}"
        );
    }
    // Nesting deeper than the JSON reader's limit is malformed JSON, refused before anything.
    let r = gw
        .post("/v1/responses", json!({"model": "oa-model", "input": deep}))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_json"
    );
    gw.mock
        .set(|s| s.usage_override = Some(json!({"prompt_tokens": -5, "completion_tokens": 1e12})));
    let r = gw.post("/v1/responses", ask("oa-model")).await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let g = gw.generation(&id).await;
    assert_eq!(g["usage_source"], "estimated", "{g}");
    assert!(g["output_tokens"].as_u64().unwrap() < 1000);
}
