//! A scriptable mock upstream speaking both OpenAI Chat Completions (`/v1/chat/completions`)
//! and Anthropic Messages (`/v1/messages`), streaming and not.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// What the mock answers with.
#[derive(Clone, Debug)]
pub struct Script {
    pub text: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub cache_write_tokens: u64,
    /// Of the cache writes, those for one hour (Anthropic: reported in `cache_creation` when
    /// not 0).
    pub cache_write_1h_tokens: u64,
    pub reasoning_tokens: u64,
    /// The service tier the answer reports serving the call in (OpenAI: top-level
    /// `service_tier` of the answer and of every chunk; Anthropic: `usage.service_tier`).
    pub service_tier: Option<Value>,
    /// Report no usage at all.
    pub no_usage: bool,
    /// Answer with this error status instead.
    pub status: Option<u16>,
    /// Wait this long before answering.
    pub delay_ms: u64,
    /// Wait this long between stream events.
    pub chunk_delay_ms: u64,
    /// Break the stream off after a few events, with no terminal event.
    pub truncate: bool,
    /// Answer with a tool call to this function (with these JSON arguments).
    pub tool_call: Option<(String, String)>,
    /// Report this usage object instead of the counts above (a lying upstream); only for
    /// requests naming `override_model` when that is set.
    pub usage_override: Option<Value>,
    pub override_model: Option<String>,
    /// With `status`: answer with this body instead of the mock's error.
    pub error_body: Option<Value>,
    /// With `status`: these headers on the error answer.
    pub error_headers: Vec<(&'static str, &'static str)>,
    /// Answer 307 to this location.
    pub redirect: Option<String>,
    /// Add a field of this many bytes to a non-streaming answer.
    pub pad_bytes: usize,
    /// Send an error event (with `error_body`'s message if set) after a few stream events.
    pub stream_error: bool,
    /// Reason first, with this text (Anthropic: a signed thinking block; OpenAI:
    /// `reasoning_content`).
    pub thinking: Option<String>,
    /// Answer a non-streaming call with exactly this text (`application/json`).
    pub raw_answer: Option<String>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            text: "Hello from the mock upstream".into(),
            input_tokens: 1000,
            output_tokens: 500,
            cached_tokens: 0,
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            reasoning_tokens: 0,
            service_tier: None,
            no_usage: false,
            status: None,
            delay_ms: 0,
            chunk_delay_ms: 0,
            truncate: false,
            tool_call: None,
            usage_override: None,
            override_model: None,
            error_body: None,
            error_headers: Vec::new(),
            redirect: None,
            pad_bytes: 0,
            stream_error: false,
            thinking: None,
            raw_answer: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body's bytes as they arrived.
    pub raw: axum::body::Bytes,
}

#[derive(Clone, Default)]
pub struct Mock {
    pub script: Arc<Mutex<Script>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub base: String,
    /// Requests inside their delay now, and the most there ever were at once.
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    peak: Arc<std::sync::atomic::AtomicUsize>,
}

impl Mock {
    pub async fn start() -> Mock {
        let mut mock = Mock::default();
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .with_state(mock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        mock.base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        mock
    }

    pub fn set(&self, f: impl FnOnce(&mut Script)) {
        f(&mut self.script.lock().unwrap());
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the mock saw a request")
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The most requests the mock was working on at once (during their `delay_ms`).
    pub fn peak_in_flight(&self) -> usize {
        self.peak.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn raw_json(text: &str) -> Response {
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(text.to_string()))
        .unwrap()
}

fn words(text: &str) -> Vec<String> {
    let parts: Vec<&str> = text.split(' ').collect();
    parts
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i + 1 < parts.len() {
                format!("{w} ")
            } else {
                w.to_string()
            }
        })
        .collect()
}

fn sse(events: Vec<String>, s: &Script) -> Response {
    let delay = s.chunk_delay_ms;
    let stream = futures::stream::unfold(events.into_iter(), move |mut it| async move {
        let next = it.next()?;
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        Some((Ok::<_, Infallible>(next), it))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

async fn prelude(
    mock: &Mock,
    path: &str,
    headers: HeaderMap,
    raw: &axum::body::Bytes,
    body: &Value,
) -> Result<Script, Response> {
    mock.seen.lock().unwrap().push(Seen {
        path: path.into(),
        headers,
        body: body.clone(),
        raw: raw.clone(),
    });
    let mut s = mock.script.lock().unwrap().clone();
    if s.override_model
        .as_ref()
        .is_some_and(|m| body["model"] != m.as_str())
    {
        s.usage_override = None;
    }
    if s.delay_ms > 0 {
        use std::sync::atomic::Ordering::SeqCst;
        let now = mock.in_flight.fetch_add(1, SeqCst) + 1;
        mock.peak.fetch_max(now, SeqCst);
        tokio::time::sleep(Duration::from_millis(s.delay_ms)).await;
        mock.in_flight.fetch_sub(1, SeqCst);
    }
    if let Some(to) = &s.redirect {
        return Err(Response::builder()
            .status(307)
            .header("location", to)
            .body(Body::empty())
            .unwrap());
    }
    if let Some(code) = s.status {
        if let Some(body) = &s.error_body {
            let mut r = (StatusCode::from_u16(code).unwrap(), Json(body.clone())).into_response();
            for (k, v) in &s.error_headers {
                r.headers_mut().insert(*k, v.parse().unwrap());
            }
            return Err(r);
        }
        let body = if path.contains("messages") {
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": format!("mock failure {code}")}})
        } else {
            json!({"error": {"message": format!("mock failure {code}"), "type": "invalid_request_error", "param": null, "code": null}})
        };
        return Err((StatusCode::from_u16(code).unwrap(), Json(body)).into_response());
    }
    Ok(s)
}

async fn openai(State(mock): State<Mock>, headers: HeaderMap, raw: axum::body::Bytes) -> Response {
    let body: Value = serde_json::from_slice(&raw).expect("the gateway sends JSON");
    let s = match prelude(&mock, "/v1/chat/completions", headers, &raw, &body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let (Some(text), false) = (&s.raw_answer, body["stream"] == true) {
        return raw_json(text);
    }
    let model = body["model"].clone();
    let usage = s.usage_override.clone().unwrap_or_else(|| {
        json!({"prompt_tokens": s.input_tokens, "completion_tokens": s.output_tokens,
        "total_tokens": s.input_tokens + s.output_tokens,
        "prompt_tokens_details": {"cached_tokens": s.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": s.reasoning_tokens}})
    });
    let finish = if s.tool_call.is_some() {
        "tool_calls"
    } else {
        "stop"
    };
    if body["stream"] != true {
        let mut message = json!({"role": "assistant", "content": s.text});
        if let Some((name, args)) = &s.tool_call {
            message = json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_mock", "type": "function", "function": {"name": name, "arguments": args}}]});
        }
        if let Some(t) = &s.thinking {
            message["reasoning_content"] = t.clone().into();
        }
        let mut resp = json!({"id": "chatcmpl-mock", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage});
        if s.no_usage {
            resp.as_object_mut().unwrap().remove("usage");
        }
        if let Some(t) = &s.service_tier {
            resp["service_tier"] = t.clone();
        }
        if s.pad_bytes > 0 {
            resp["padding"] = "x".repeat(s.pad_bytes).into();
        }
        return Json(resp).into_response();
    }
    let tiered = |mut c: Value| {
        if let Some(t) = &s.service_tier {
            c["service_tier"] = t.clone();
        }
        c
    };
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            tiered(
                json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            )
        )
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    if let Some(t) = &s.thinking {
        events.push(chunk(json!({"reasoning_content": t}), Value::Null));
    }
    if let Some((name, args)) = &s.tool_call {
        events.push(chunk(json!({"tool_calls": [{"index": 0, "id": "call_mock", "type": "function", "function": {"name": name, "arguments": ""}}]}), Value::Null));
        let mid = args.len() / 2;
        for part in [&args[..mid], &args[mid..]] {
            events.push(chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}),
                Value::Null,
            ));
        }
    } else {
        for w in words(&s.text) {
            events.push(chunk(json!({"content": w}), Value::Null));
        }
    }
    if s.truncate {
        events.truncate(3);
        return sse(events, &s);
    }
    if s.stream_error {
        events.truncate(3);
        events.push(format!("data: {}\n\n", json!({"error": stream_error(&s)})));
        return sse(events, &s);
    }
    events.push(chunk(json!({}), finish.into()));
    if !s.no_usage && body["stream_options"]["include_usage"] == true {
        events.push(format!("data: {}\n\n", tiered(json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [], "usage": usage}))));
    }
    events.push("data: [DONE]\n\n".into());
    sse(events, &s)
}

async fn anthropic(
    State(mock): State<Mock>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&raw).expect("the gateway sends JSON");
    let s = match prelude(&mock, "/v1/messages", headers, &raw, &body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let (Some(text), false) = (&s.raw_answer, body["stream"] == true) {
        return raw_json(text);
    }
    let model = body["model"].clone();
    let uncached = s.input_tokens - s.cached_tokens - s.cache_write_tokens;
    let usage = s.usage_override.clone().unwrap_or_else(|| {
        with_lifetimes(&s, json!({"input_tokens": uncached, "output_tokens": s.output_tokens,
            "cache_read_input_tokens": s.cached_tokens, "cache_creation_input_tokens": s.cache_write_tokens}))
    });
    let stop = if s.tool_call.is_some() {
        "tool_use"
    } else {
        "end_turn"
    };
    if body["stream"] != true {
        let content = match &s.tool_call {
            Some((name, args)) => {
                json!([{"type": "tool_use", "id": "toolu_mock", "name": name, "input": serde_json::from_str::<Value>(args).unwrap()}])
            }
            None => json!([{"type": "text", "text": s.text}]),
        };
        let content = match &s.thinking {
            Some(t) => {
                let mut c =
                    vec![json!({"type": "thinking", "thinking": t, "signature": "sig_mock"})];
                c.extend(content.as_array().unwrap().iter().cloned());
                Value::Array(c)
            }
            None => content,
        };
        let mut resp = json!({"id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop, "stop_sequence": null, "usage": usage});
        if s.no_usage {
            resp.as_object_mut().unwrap().remove("usage");
        }
        if s.pad_bytes > 0 {
            resp["padding"] = "x".repeat(s.pad_bytes).into();
        }
        return Json(resp).into_response();
    }
    let ev = |name: &str, v: Value| format!("event: {name}\ndata: {v}\n\n");
    let start_usage = with_lifetimes(
        &s,
        json!({"input_tokens": uncached, "output_tokens": 1, "cache_read_input_tokens": s.cached_tokens, "cache_creation_input_tokens": s.cache_write_tokens}),
    );
    let mut events = vec![ev(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": if s.no_usage { Value::Null } else { start_usage }}}),
    )];
    let ti = u64::from(s.thinking.is_some());
    if let Some(t) = &s.thinking {
        events.push(ev("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}})));
        events.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": t}})));
        events.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig_mock"}})));
        events.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
    }
    match &s.tool_call {
        Some((name, args)) => {
            events.push(ev("content_block_start", json!({"type": "content_block_start", "index": ti, "content_block": {"type": "tool_use", "id": "toolu_mock", "name": name, "input": {}}})));
            let mid = args.len() / 2;
            for part in [&args[..mid], &args[mid..]] {
                events.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": ti, "delta": {"type": "input_json_delta", "partial_json": part}})));
            }
        }
        None => {
            events.push(ev("content_block_start", json!({"type": "content_block_start", "index": ti, "content_block": {"type": "text", "text": ""}})));
            events.push(ev("ping", json!({"type": "ping"})));
            for w in words(&s.text) {
                events.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": ti, "delta": {"type": "text_delta", "text": w}})));
            }
        }
    }
    if s.truncate {
        events.truncate(3);
        return sse(events, &s);
    }
    if s.stream_error {
        events.truncate(4);
        events.push(ev(
            "error",
            json!({"type": "error", "error": stream_error(&s)}),
        ));
        return sse(events, &s);
    }
    events.push(ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": ti}),
    ));
    let mut delta_usage = json!({"output_tokens": s.output_tokens / 2});
    let half = ev(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": null, "stop_sequence": null}, "usage": delta_usage}),
    );
    if !s.no_usage {
        events.push(half);
    }
    delta_usage = s
        .usage_override
        .clone()
        .unwrap_or_else(|| json!({"output_tokens": s.output_tokens}));
    let end_usage = if s.no_usage { json!({}) } else { delta_usage };
    events.push(ev("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": end_usage})));
    events.push(ev("message_stop", json!({"type": "message_stop"})));
    sse(events, &s)
}

/// The error object of a mid-stream failure.
fn stream_error(s: &Script) -> Value {
    let message = s
        .error_body
        .as_ref()
        .and_then(|b| b.pointer("/error/message").cloned())
        .unwrap_or_else(|| "Overloaded".into());
    json!({"type": "overloaded_error", "message": message})
}

/// Anthropic's split of the cache writes by lifetime, added when the script has 1-hour writes,
/// and the service tier when the script names one.
fn with_lifetimes(s: &Script, mut usage: Value) -> Value {
    if let Some(t) = &s.service_tier {
        usage["service_tier"] = t.clone();
    }
    if s.cache_write_1h_tokens > 0 {
        usage["cache_creation"] = json!({
            "ephemeral_5m_input_tokens": s.cache_write_tokens - s.cache_write_1h_tokens,
            "ephemeral_1h_input_tokens": s.cache_write_1h_tokens,
        });
    }
    usage
}
