//! OpenAI Chat Completions as a provider protocol: the canonical request encoded as a chat
//! request, and chat answers and chunks decoded into the canonical model.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::canonical::{
    chat_tool_calls, Answer, Event, Message, OutputFormat, Part, Request, Role, StopReason,
    ToolChoice,
};
use super::{Signal, StreamDecoder};

pub mod caller;

// ---------- requests ----------

#[derive(Debug, Serialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Not OpenAI's, but taken by the OpenAI-compatible servers that sample with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

fn part(p: &Part) -> Option<Value> {
    match p {
        Part::Text(t) => Some(json!({"type": "text", "text": t})),
        Part::Image(m) => Some(json!({"type": "image_url", "image_url": {"url": m.to_url()}})),
        Part::Document(m) => Some(json!({"type": "file", "file": {"file_data": m.to_url()}})),
        _ => None,
    }
}

/// Message content: a string when it is one text, else parts.
fn content(parts: &[&Part]) -> Value {
    match parts {
        [] => return Value::from(""),
        [Part::Text(t)] => return t.clone().into(),
        _ => {}
    }
    Value::Array(parts.iter().filter_map(|p| part(p)).collect())
}

fn user_messages(m: &Message, out: &mut Vec<Value>) {
    let mut pending: Vec<&Part> = Vec::new();
    for p in &m.content {
        match p {
            Part::ToolResult(r) => {
                // Chat tool messages hold text only: images and documents of a tool result
                // follow it as a user message (docs/gateway.md).
                let (text, media): (Vec<&Part>, Vec<&Part>) =
                    r.content.iter().partition(|p| matches!(p, Part::Text(_)));
                let text: Vec<&str> = text
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text(t) => Some(t.as_str()),
                        _ => None,
                    })
                    .collect();
                let mut body = text.join("\n");
                if r.is_error {
                    body = format!("Error: {body}");
                }
                out.push(json!({"role": "tool", "tool_call_id": r.call_id, "content": body}));
                pending.extend(media);
            }
            other => pending.push(other),
        }
    }
    if !pending.is_empty() {
        out.push(json!({"role": "user", "content": content(&pending)}));
    }
}

fn assistant_message(m: &Message) -> Option<Value> {
    let text: String = m
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let calls = chat_tool_calls(&m.content);
    if text.is_empty() && calls.is_empty() {
        return None;
    }
    let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { text.into() }});
    if !calls.is_empty() {
        msg["tool_calls"] = Value::Array(calls);
    }
    Some(msg)
}

fn response_format(f: &OutputFormat) -> Option<Value> {
    match f {
        OutputFormat::Text => None,
        OutputFormat::JsonObject => Some(json!({"type": "json_object"})),
        OutputFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        } => {
            let mut s = Map::new();
            s.insert("name".into(), name.clone().into());
            if let Some(d) = description {
                s.insert("description".into(), d.clone().into());
            }
            s.insert("schema".into(), schema.clone());
            if let Some(strict) = strict {
                s.insert("strict".into(), (*strict).into());
            }
            Some(json!({"type": "json_schema", "json_schema": s}))
        }
    }
}

/// The chat request for a canonical request. `reasoning_model`: the model takes
/// `max_completion_tokens` (OpenAI's reasoning models refuse `max_tokens`).
pub fn encode_request(req: &Request, model: &str, reasoning_model: bool) -> Value {
    let mut messages = Vec::new();
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system.join("\n\n")}));
    }
    for m in &req.messages {
        match m.role {
            Role::User => user_messages(m, &mut messages),
            Role::Assistant => messages.extend(assistant_message(m)),
        }
    }
    let tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| {
            let mut f = json!({"name": t.name, "parameters": t.parameters});
            if let Some(d) = &t.description {
                f["description"] = d.clone().into();
            }
            if let Some(s) = t.strict {
                f["strict"] = s.into();
            }
            json!({"type": "function", "function": f})
        })
        .collect();
    let has_tools = !tools.is_empty();
    let (max_tokens, max_completion_tokens) = if reasoning_model {
        (None, req.max_output_tokens)
    } else {
        (req.max_output_tokens, None)
    };
    let chat = ChatRequest {
        model: model.into(),
        messages,
        max_tokens,
        max_completion_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        stop: req.stop.clone(),
        seed: req.seed,
        user: req.user.clone(),
        tools,
        tool_choice: req
            .tool_choice
            .as_ref()
            .filter(|_| has_tools)
            .map(|c| match c {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Named(n) => json!({"type": "function", "function": {"name": n}}),
            }),
        parallel_tool_calls: req.parallel_tool_calls.filter(|_| has_tools),
        response_format: response_format(&req.output),
        reasoning_effort: req.reasoning.as_ref().and_then(|r| r.effort.clone()),
        stream: req.stream,
    };
    serde_json::to_value(chat).unwrap_or_default()
}

// ---------- answers ----------

#[derive(Debug, Deserialize, Default)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Debug, Deserialize, Default)]
struct Choice {
    #[serde(default)]
    message: ChatMessage,
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct ChatMessage {
    content: Option<Value>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Debug, Deserialize, Default)]
struct WireToolCall {
    #[serde(default)]
    id: String,
    #[serde(default)]
    function: WireFunction,
}

#[derive(Debug, Deserialize, Default)]
struct WireFunction {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: String,
}

/// Maps a chat `finish_reason`.
pub fn stop_reason(finish: Option<&str>) -> StopReason {
    match finish {
        Some("length") => StopReason::MaxTokens,
        Some("tool_calls" | "function_call") => StopReason::ToolUse,
        Some("content_filter") => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// The canonical answer of a chat completion (its first choice).
pub fn decode_answer(body: &Value) -> Answer {
    let c: Completion = serde_json::from_value(body.clone()).unwrap_or_default();
    let Some(choice) = c.choices.into_iter().next() else {
        return Answer::default();
    };
    let m = choice.message;
    let mut content = Vec::new();
    if let Some(t) = m
        .reasoning_content
        .or(m.reasoning)
        .filter(|t| !t.is_empty())
    {
        content.push(Part::Thinking {
            text: t,
            signature: None,
        });
    }
    let text = m.content.as_ref().map(text_of).unwrap_or_default();
    let text = if text.is_empty() {
        m.refusal.unwrap_or_default()
    } else {
        text
    };
    if !text.is_empty() {
        content.push(Part::Text(text));
    }
    for call in m.tool_calls {
        content.push(Part::ToolCall(super::canonical::ToolCall {
            id: call.id,
            name: call.function.name,
            arguments: call.function.arguments,
        }));
    }
    Answer {
        content,
        stop: stop_reason(choice.finish_reason.as_deref()),
    }
}

// ---------- streams ----------

/// Reads chat chunks: text, reasoning (`reasoning_content`/`reasoning`), tool calls (numbered by
/// their first appearance), the finish reason and the usage chunk.
#[derive(Default)]
pub struct ChatDecoder {
    usage: Option<Value>,
    served_tier: Option<Value>,
    /// The upstream's tool call index → the canonical one.
    tools: Vec<u64>,
}

impl StreamDecoder for ChatDecoder {
    fn decode(&mut self, _event: &str, data: &str, out: &mut Vec<Event>) -> Signal {
        let data = data.trim();
        if data == "[DONE]" {
            return Signal::Complete;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            return Signal::Continue;
        };
        if let Some(err) = chunk.get("error") {
            return Signal::Error(err.clone());
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
        }
        if let Some(t) = chunk.get("service_tier").filter(|t| !t.is_null()) {
            self.served_tier = Some(t.clone());
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            return Signal::Continue;
        };
        let delta = &choice["delta"];
        for key in ["reasoning_content", "reasoning"] {
            if let Some(t) = delta
                .get(key)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                out.push(Event::Thinking(t.into()));
            }
        }
        if let Some(t) = delta
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            out.push(Event::Text(t.into()));
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.tool_call(call, out);
        }
        if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
            out.push(Event::Stop(stop_reason(Some(f))));
        }
        Signal::Continue
    }

    fn usage(&self) -> Option<&Value> {
        self.usage.as_ref()
    }

    fn served_tier(&self) -> Option<&Value> {
        self.served_tier.as_ref()
    }
}

impl ChatDecoder {
    fn tool_call(&mut self, call: &Value, out: &mut Vec<Event>) {
        let upstream = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        let index = match self.tools.iter().position(|t| *t == upstream) {
            Some(i) => i,
            None => {
                self.tools.push(upstream);
                let name = call
                    .pointer("/function/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let id = call.get("id").and_then(Value::as_str).unwrap_or("");
                out.push(Event::ToolCall {
                    index: self.tools.len() - 1,
                    id: id.into(),
                    name: name.into(),
                });
                self.tools.len() - 1
            }
        };
        if let Some(a) = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            out.push(Event::ToolArguments {
                index,
                delta: a.into(),
            });
        }
    }
}
