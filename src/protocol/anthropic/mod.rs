//! Anthropic Messages as a provider protocol: the canonical request encoded as a Messages
//! request, and Messages answers and events decoded into the canonical model.
//!
//! Structured output has no field of its own in Messages: it is carried as a tool whose input
//! schema is the answer's schema, forced with `tool_choice` (or offered beside the caller's
//! tools with `any`), and its input is unwrapped into the answer's text on the way back.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::canonical::{
    Answer, Event, Media, OutputFormat, Part, Request, Role, StopReason, ToolCall, ToolChoice,
};
use super::{untranslatable, Signal, StreamDecoder};
use crate::error::ApiError;

pub mod caller;

/// Anthropic requires `max_tokens`; used when a request gives none and the model's maximum
/// output is unknown.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;
/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u64 = 1024;

#[derive(Debug, Serialize)]
pub struct MessagesRequest {
    pub model: String,
    pub messages: Vec<Value>,
    pub max_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

/// The name of the tool that carries a structured answer, when the request asks for one: the
/// schema's name unless a caller's tool has it.
pub fn answer_tool(req: &Request) -> Option<String> {
    let wanted = match &req.output {
        OutputFormat::Text => return None,
        OutputFormat::JsonObject => "json_answer".to_string(),
        OutputFormat::JsonSchema { name, .. } => name.clone(),
    };
    let taken = |n: &str| req.tools.iter().any(|t| t.name == n);
    Some(if taken(&wanted) {
        "structured_answer".into()
    } else {
        wanted
    })
}

fn media_source(m: &Media) -> Value {
    match m {
        Media::Url(u) => json!({"type": "url", "url": u}),
        Media::Base64 { media_type, data } => {
            json!({"type": "base64", "media_type": media_type, "data": data})
        }
    }
}

fn block(p: &Part) -> Option<Value> {
    Some(match p {
        Part::Text(t) if t.is_empty() => return None,
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Image(m) => json!({"type": "image", "source": media_source(m)}),
        Part::Document(m) => json!({"type": "document", "source": media_source(m)}),
        Part::ToolCall(c) => {
            json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.input()})
        }
        Part::ToolResult(r) => {
            let content: Vec<Value> = r.content.iter().filter_map(block).collect();
            let mut b =
                json!({"type": "tool_result", "tool_use_id": r.call_id, "content": content});
            if r.is_error {
                b["is_error"] = true.into();
            }
            b
        }
        // Anthropic takes back only the thinking it signed.
        Part::Thinking {
            text,
            signature: Some(s),
        } => json!({"type": "thinking", "thinking": text, "signature": s}),
        Part::Thinking { .. } => return None,
    })
}

fn messages(req: &Request) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for m in &req.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut blocks: Vec<Value> = m.content.iter().filter_map(block).collect();
        if blocks.is_empty() {
            continue;
        }
        // Turns must alternate: same-role neighbours merge.
        match out.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(existing) = last["content"].as_array_mut() {
                    existing.append(&mut blocks);
                }
            }
            _ => out.push(json!({"role": role, "content": blocks})),
        }
    }
    out
}

fn thinking(req: &Request, max_tokens: u64) -> Result<Option<Value>, ApiError> {
    let Some(r) = &req.reasoning else {
        return Ok(None);
    };
    let wanted = r.budget_tokens.unwrap_or(match r.effort.as_deref() {
        Some("minimal") => MIN_THINKING_BUDGET,
        Some("low") => 2048,
        Some("high") => 16_384,
        _ => 8192,
    });
    let budget = wanted.min(max_tokens.saturating_sub(1));
    if budget < MIN_THINKING_BUDGET {
        return Err(untranslatable(
            "reasoning",
            "Anthropic-kind models think within max output tokens; ask for more than 1024 output tokens",
        ));
    }
    Ok(Some(json!({"type": "enabled", "budget_tokens": budget})))
}

/// The Messages request for a canonical request. `max_output`: the model's own cap, used when
/// the request names none.
pub fn encode_request(
    req: &Request,
    model: &str,
    max_output: Option<u32>,
) -> Result<Value, ApiError> {
    let max_tokens = req
        .max_output_tokens
        .unwrap_or_else(|| max_output.map_or(DEFAULT_MAX_TOKENS, u64::from));
    let mut tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| {
            let mut v = json!({"name": t.name, "input_schema": t.parameters});
            if let Some(d) = &t.description {
                v["description"] = d.clone().into();
            }
            v
        })
        .collect();
    let mut choice = req.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => json!({"type": "auto"}),
        ToolChoice::None => json!({"type": "none"}),
        ToolChoice::Required => json!({"type": "any"}),
        ToolChoice::Named(n) => json!({"type": "tool", "name": n}),
    });
    let thinking = thinking(req, max_tokens)?;
    if let Some(name) = answer_tool(req) {
        if thinking.is_some() {
            return Err(untranslatable(
                "text.format",
                "an Anthropic-kind model cannot both reason and be forced to a structured answer",
            ));
        }
        let (schema, description) = match &req.output {
            OutputFormat::JsonSchema {
                schema,
                description,
                ..
            } => (schema.clone(), description.clone()),
            _ => (json!({"type": "object"}), None),
        };
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err(untranslatable(
                "response_format",
                "an Anthropic-kind model answers structured output as an object; give the schema an object root",
            ));
        }
        let description = description.unwrap_or_else(|| {
            "Give the final answer by calling this tool; its input is the answer.".into()
        });
        tools.push(json!({"name": name, "description": description, "input_schema": schema}));
        // Alone, the answer tool is forced; beside the caller's tools, some tool must be used:
        // one of theirs, or the answer.
        choice = Some(match (&choice, req.tools.is_empty()) {
            (Some(c), false) if c["type"] == "tool" => c.clone(),
            (_, false) => json!({"type": "any"}),
            (_, true) => json!({"type": "tool", "name": name}),
        });
    }
    if req.parallel_tool_calls == Some(false) && !tools.is_empty() {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if c["type"] != "none" {
            c["disable_parallel_tool_use"] = true.into();
        }
    }
    let mut metadata = Map::new();
    if let Some(u) = &req.user {
        metadata.insert("user_id".into(), u.clone().into());
    }
    let body = MessagesRequest {
        model: model.into(),
        messages: messages(req),
        max_tokens,
        system: (!req.system.is_empty()).then(|| req.system.join("\n\n")),
        // OpenAI's range is 0–2, Anthropic's 0–1: higher values are clamped (docs/gateway.md).
        temperature: req.temperature.map(|t| t.min(1.0)),
        top_p: req.top_p,
        top_k: req.top_k,
        stop_sequences: req.stop.clone(),
        tools: tools.clone(),
        tool_choice: choice.filter(|_| !tools.is_empty()),
        thinking,
        metadata: (!metadata.is_empty()).then_some(Value::Object(metadata)),
        stream: req.stream,
    };
    Ok(serde_json::to_value(body).unwrap_or_default())
}

// ---------- answers ----------

/// Maps an Anthropic `stop_reason`.
pub fn stop_reason(stop: Option<&str>) -> StopReason {
    match stop {
        Some("max_tokens" | "model_context_window_exceeded") => StopReason::MaxTokens,
        Some("tool_use") => StopReason::ToolUse,
        Some("stop_sequence") => StopReason::StopSequence,
        Some("refusal") => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

/// The canonical answer of a Messages answer; a call of `answer_tool` becomes the answer's
/// text.
pub fn decode_answer(body: &Value, answer_tool: Option<&str>) -> Answer {
    let mut content = Vec::new();
    let mut real_calls = false;
    for b in body
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        match b.get("type").and_then(Value::as_str) {
            Some("text") => content.push(Part::Text(s("text"))),
            Some("thinking") => content.push(Part::Thinking {
                text: s("thinking"),
                signature: b
                    .get("signature")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }),
            Some("tool_use") => {
                let arguments = b.get("input").map_or_else(|| "{}".into(), Value::to_string);
                if answer_tool == Some(s("name").as_str()) {
                    content.push(Part::Text(arguments));
                } else {
                    real_calls = true;
                    content.push(Part::ToolCall(ToolCall {
                        id: s("id"),
                        name: s("name"),
                        arguments,
                    }));
                }
            }
            _ => {}
        }
    }
    let mut stop = stop_reason(body.get("stop_reason").and_then(Value::as_str));
    if stop == StopReason::ToolUse && !real_calls {
        stop = StopReason::EndTurn;
    }
    Answer { content, stop }
}

// ---------- streams ----------

#[derive(Clone, Copy, PartialEq)]
enum Block {
    Text,
    Thinking,
    Tool(usize),
    /// The structured answer's tool: its input is the answer's text.
    Answer,
    Other,
}

/// Reads Messages events into canonical events.
pub struct AnthropicDecoder {
    answer_tool: Option<String>,
    usage: Value,
    blocks: Vec<(u64, Block)>,
    calls: usize,
}

impl AnthropicDecoder {
    pub fn new(answer_tool: Option<String>) -> Self {
        AnthropicDecoder {
            answer_tool,
            usage: Value::Null,
            blocks: Vec::new(),
            calls: 0,
        }
    }

    fn block_start(&mut self, v: &Value, out: &mut Vec<Event>) {
        let index = v["index"].as_u64().unwrap_or(0);
        let b = &v["content_block"];
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let kind = match b["type"].as_str().unwrap_or("") {
            "text" => {
                if !s("text").is_empty() {
                    out.push(Event::Text(s("text")));
                }
                Block::Text
            }
            "thinking" => Block::Thinking,
            "tool_use" if self.answer_tool.as_deref() == Some(s("name").as_str()) => Block::Answer,
            "tool_use" => {
                let n = self.calls;
                self.calls += 1;
                out.push(Event::ToolCall {
                    index: n,
                    id: s("id"),
                    name: s("name"),
                });
                Block::Tool(n)
            }
            _ => Block::Other,
        };
        self.blocks.push((index, kind));
    }

    fn block_delta(&self, v: &Value, out: &mut Vec<Event>) {
        let index = v["index"].as_u64().unwrap_or(0);
        let kind = self
            .blocks
            .iter()
            .rev()
            .find(|(i, _)| *i == index)
            .map_or(Block::Other, |(_, k)| *k);
        let d = &v["delta"];
        let s = |k: &str| d.get(k).and_then(Value::as_str).map(str::to_string);
        match (d["type"].as_str().unwrap_or(""), kind) {
            ("text_delta", _) => out.extend(s("text").map(Event::Text)),
            ("thinking_delta", _) => out.extend(s("thinking").map(Event::Thinking)),
            ("signature_delta", _) => out.extend(s("signature").map(Event::ThinkingSignature)),
            ("input_json_delta", Block::Answer) => out.extend(s("partial_json").map(Event::Text)),
            ("input_json_delta", Block::Tool(n)) => {
                out.extend(s("partial_json").map(|delta| Event::ToolArguments { index: n, delta }))
            }
            _ => {}
        }
    }
}

impl StreamDecoder for AnthropicDecoder {
    fn decode(&mut self, event: &str, data: &str, out: &mut Vec<Event>) -> Signal {
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return Signal::Continue;
        };
        let kind = v.get("type").and_then(Value::as_str).unwrap_or(event);
        match kind {
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage") {
                    crate::gateway::usage::merge_anthropic(&mut self.usage, u);
                }
            }
            "content_block_start" => self.block_start(&v, out),
            "content_block_delta" => self.block_delta(&v, out),
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    crate::gateway::usage::merge_anthropic(&mut self.usage, u);
                }
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    let mut stop = stop_reason(Some(r));
                    if stop == StopReason::ToolUse && self.calls == 0 {
                        stop = StopReason::EndTurn;
                    }
                    out.push(Event::Stop(stop));
                }
            }
            "message_stop" => return Signal::Complete,
            "error" => return Signal::Error(v["error"].clone()),
            _ => {}
        }
        Signal::Continue
    }

    fn usage(&self) -> Option<&Value> {
        self.usage.is_object().then_some(&self.usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::canonical::{Message, Tool};

    fn structured() -> Request {
        Request {
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::Text("list".into())],
            }],
            output: OutputFormat::JsonSchema {
                name: "Answer".into(),
                description: None,
                schema: json!({"type": "object", "properties": {"x": {"type": "integer"}}}),
                strict: Some(true),
            },
            ..Request::default()
        }
    }

    #[test]
    fn structured_output_is_a_forced_tool_unwrapped_on_return() {
        let req = structured();
        let body = encode_request(&req, "claude", None).unwrap();
        assert_eq!(
            body["tool_choice"],
            json!({"type": "tool", "name": "Answer"})
        );
        assert_eq!(
            body["tools"][0]["input_schema"]["properties"]["x"]["type"],
            "integer"
        );
        let answer = decode_answer(
            &json!({"content": [{"type": "tool_use", "id": "t", "name": "Answer", "input": {"x": 1}}], "stop_reason": "tool_use"}),
            answer_tool(&req).as_deref(),
        );
        assert_eq!(answer.text(), "{\"x\":1}");
        assert_eq!(answer.stop, StopReason::EndTurn);
    }

    #[test]
    fn beside_caller_tools_the_answer_tool_is_offered_with_any() {
        let mut req = structured();
        req.tools.push(Tool {
            name: "Answer".into(),
            description: None,
            parameters: json!({"type": "object"}),
            strict: None,
        });
        let body = encode_request(&req, "claude", None).unwrap();
        assert_eq!(body["tool_choice"]["type"], "any");
        assert_eq!(body["tools"][1]["name"], "structured_answer");
    }

    #[test]
    fn streamed_answer_tool_input_is_text() {
        let mut d = AnthropicDecoder::new(Some("Answer".into()));
        let mut out = Vec::new();
        for data in [
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "Answer", "input": {}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"x\":"}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}}),
        ] {
            d.decode("", &data.to_string(), &mut out);
        }
        assert_eq!(
            out,
            vec![
                Event::Text("{\"x\":".into()),
                Event::Stop(StopReason::EndTurn)
            ]
        );
    }
}
