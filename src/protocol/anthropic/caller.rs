//! Anthropic Messages on the caller's side: a Messages request decoded into the canonical
//! request, canonical answers and events encoded as a message and its events.

use bytes::Bytes;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::gateway::usage;
use crate::pricing::Usage;
use crate::protocol::canonical::{
    Answer, Event, Media, Message, OutputFormat, Part, Reasoning, Request, Role, StopReason, Tool,
    ToolCall, ToolChoice, ToolResult,
};
use crate::protocol::{named_event, untranslatable, StreamEncoder};

#[derive(Debug, Deserialize)]
struct MessagesIn {
    messages: Vec<MessageIn>,
    max_tokens: Option<u64>,
    system: Option<Content>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u64>,
    #[serde(default)]
    stop_sequences: Vec<String>,
    stream: Option<bool>,
    #[serde(default)]
    tools: Vec<Value>,
    tool_choice: Option<Value>,
    metadata: Option<Map<String, Value>>,
    thinking: Option<Value>,
    /// Anthropic's structured outputs (`{"type": "json_schema", "schema": …}`).
    output_format: Option<Value>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct MessageIn {
    role: String,
    content: Content,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Blocks(Vec<Value>),
}

/// Messages fields that change nothing another provider would answer: accepted, not forwarded.
/// (`context_management` only trims old context on Anthropic's side to save tokens.)
const IGNORED: &[&str] = &[
    "model",
    "service_tier",
    "cache_control",
    "context_management",
];

fn field_error(path: String, e: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_field(path.clone(), format!("{path}: {e}"))
}

/// The canonical request for a Messages request.
pub fn decode_request(body: &Value) -> Result<Request, ApiError> {
    let m: MessagesIn = serde_path_to_error::deserialize(body)
        .map_err(|e| field_error(e.path().to_string(), e.inner()))?;
    if let Some((field, _)) = m
        .extra
        .iter()
        .find(|(f, v)| !v.is_null() && !IGNORED.contains(&f.as_str()))
    {
        return Err(untranslatable(
            field,
            "the gateway does not translate this field and will not drop it silently",
        ));
    }
    let mut req = Request {
        max_output_tokens: m.max_tokens,
        temperature: m.temperature,
        top_p: m.top_p,
        top_k: m.top_k,
        stop: m.stop_sequences,
        stream: m.stream.unwrap_or(false),
        user: m
            .metadata
            .as_ref()
            .and_then(|md| md.get("user_id"))
            .and_then(Value::as_str)
            .map(str::to_string),
        reasoning: reasoning(m.thinking.as_ref()),
        ..Request::default()
    };
    if let Some(system) = m.system {
        let text: Vec<String> = blocks(system, "system")?
            .into_iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t),
                _ => None,
            })
            .collect();
        if !text.is_empty() {
            req.system.push(text.join("\n"));
        }
    }
    for (i, msg) in m.messages.into_iter().enumerate() {
        let role = match msg.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(ApiError::invalid_field(
                    format!("messages[{i}].role"),
                    format!("unknown role '{other}'"),
                ))
            }
        };
        let content = blocks(msg.content, &format!("messages[{i}].content"))?;
        if !content.is_empty() {
            req.messages.push(Message { role, content });
        }
    }
    for (i, t) in m.tools.iter().enumerate() {
        req.tools.push(tool(t, i)?);
    }
    if let Some(f) = m.output_format.as_ref().filter(|f| !f.is_null()) {
        req.output = output_format(f)?;
    }
    let choice = m.tool_choice.as_ref();
    req.tool_choice = choice.and_then(tool_choice);
    if choice.and_then(|c| c.get("disable_parallel_tool_use")) == Some(&Value::Bool(true)) {
        req.parallel_tool_calls = Some(false);
    }
    Ok(req)
}

/// `thinking: {"type": "enabled", "budget_tokens": N}` as a reasoning effort (for providers
/// that take one) and the budget itself.
fn reasoning(thinking: Option<&Value>) -> Option<Reasoning> {
    let t = thinking?;
    if t.get("type").and_then(Value::as_str) != Some("enabled") {
        return None;
    }
    let budget = t.get("budget_tokens").and_then(Value::as_u64);
    let effort = match budget.unwrap_or(8192) {
        0..=4095 => "low",
        4096..=16_383 => "medium",
        _ => "high",
    };
    Some(Reasoning {
        effort: Some(effort.into()),
        budget_tokens: budget,
    })
}

fn media(source: &Value) -> Option<Media> {
    let s = |k: &str| {
        source
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    match source.get("type").and_then(Value::as_str)? {
        "base64" => Some(Media::Base64 {
            media_type: s("media_type"),
            data: s("data"),
        }),
        "url" => Some(Media::Url(s("url"))),
        _ => None,
    }
}

fn blocks(content: Content, path: &str) -> Result<Vec<Part>, ApiError> {
    let items = match content {
        Content::Text(t) if t.is_empty() => return Ok(vec![]),
        Content::Text(t) => return Ok(vec![Part::Text(t)]),
        Content::Blocks(b) => b,
    };
    let mut out = Vec::new();
    for (j, b) in items.iter().enumerate() {
        let at = format!("{path}[{j}]");
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
        let unsupported = || {
            untranslatable(
                &at,
                &format!("'{kind}' blocks are not translated (text, image, document, tool_use, tool_result and thinking are)"),
            )
        };
        match kind {
            "text" => out.push(Part::Text(s("text"))),
            "image" => out.push(Part::Image(media(&b["source"]).ok_or_else(unsupported)?)),
            "document" if b.pointer("/source/type") == Some(&Value::from("text")) => {
                out.push(Part::Text(
                    b.pointer("/source/data")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                ))
            }
            "document" => out.push(Part::Document(media(&b["source"]).ok_or_else(unsupported)?)),
            "tool_use" => out.push(Part::ToolCall(ToolCall {
                id: s("id"),
                name: s("name"),
                arguments: b.get("input").map_or_else(|| "{}".into(), Value::to_string),
            })),
            "tool_result" => {
                let content = match b.get("content") {
                    None | Some(Value::Null) => vec![],
                    Some(c) => blocks(
                        serde_json::from_value(c.clone())
                            .map_err(|e| field_error(format!("{at}.content"), e))?,
                        &format!("{at}.content"),
                    )?,
                };
                out.push(Part::ToolResult(ToolResult {
                    call_id: s("tool_use_id"),
                    content,
                    is_error: b.get("is_error") == Some(&Value::Bool(true)),
                }));
            }
            "thinking" => out.push(Part::Thinking {
                text: s("thinking"),
                signature: b
                    .get("signature")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }),
            // Encrypted reasoning only Anthropic can read; another provider would ignore it.
            "redacted_thinking" => {}
            _ => return Err(unsupported()),
        }
    }
    Ok(out)
}

fn output_format(f: &Value) -> Result<OutputFormat, ApiError> {
    match f.get("type").and_then(Value::as_str) {
        Some("json_schema") => Ok(OutputFormat::JsonSchema {
            name: "response".into(),
            description: None,
            schema: f.get("schema").cloned().ok_or_else(|| {
                ApiError::invalid_field(
                    "output_format.schema",
                    "a json_schema format needs a schema",
                )
            })?,
            strict: Some(true),
        }),
        _ => Err(ApiError::invalid_field(
            "output_format.type",
            "output_format.type must be json_schema",
        )),
    }
}

fn tool(t: &Value, i: usize) -> Result<Tool, ApiError> {
    let custom = t
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(|k| k == "custom");
    let schema = t.get("input_schema").filter(|_| custom).ok_or_else(|| {
        untranslatable(
            &format!("tools[{i}]"),
            "server tools run only on Anthropic-kind models; client tools (with input_schema) are translated",
        )
    })?;
    Ok(Tool {
        name: t.get("name").and_then(Value::as_str).unwrap_or("").into(),
        description: t
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        parameters: schema.clone(),
        strict: None,
    })
}

fn tool_choice(c: &Value) -> Option<ToolChoice> {
    match c.get("type").and_then(Value::as_str)? {
        "auto" => Some(ToolChoice::Auto),
        "any" => Some(ToolChoice::Required),
        "none" => Some(ToolChoice::None),
        "tool" => Some(ToolChoice::Named(
            c.get("name").and_then(Value::as_str)?.into(),
        )),
        _ => None,
    }
}

// ---------- answers ----------

/// The Messages `stop_reason` for a stop reason.
pub fn stop_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::ToolUse => "tool_use",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ContentFilter => "refusal",
    }
}

fn answer_block(p: &Part) -> Option<Value> {
    Some(match p {
        Part::Text(t) if t.is_empty() => return None,
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Thinking { text, signature } => {
            json!({"type": "thinking", "thinking": text, "signature": signature.clone().unwrap_or_default()})
        }
        Part::ToolCall(c) => {
            json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.input()})
        }
        _ => return None,
    })
}

/// A Messages answer for a canonical answer, with the gateway's usage.
pub fn encode_answer(id: &str, model: &str, answer: &Answer, u: &Usage) -> Value {
    let content: Vec<Value> = answer.content.iter().filter_map(answer_block).collect();
    json!({
        "id": id, "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop_reason(answer.stop), "stop_sequence": null,
        "usage": usage::to_anthropic(u),
    })
}

// ---------- streams ----------

#[derive(Clone, Copy, PartialEq)]
enum Open {
    None,
    Text(usize),
    Thinking(usize),
    Tool(usize),
}

/// Writes canonical events as Messages events: `message_start`, content blocks opened and
/// closed around their deltas, and (held back for [`StreamEncoder::finish`]) `message_delta`
/// with the stop reason and usage, then `message_stop`.
pub struct MessagesEncoder {
    id: String,
    model: String,
    started: bool,
    open: Open,
    next_block: usize,
    /// Canonical tool call index → its block index.
    tools: Vec<(usize, usize)>,
    stop: Option<StopReason>,
}

impl MessagesEncoder {
    pub fn new(id: &str, model: &str) -> Self {
        MessagesEncoder {
            id: id.into(),
            model: model.into(),
            started: false,
            open: Open::None,
            next_block: 0,
            tools: Vec::new(),
            stop: None,
        }
    }

    fn start(&mut self, out: &mut Vec<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(named_event("message_start", &json!({"type": "message_start", "message": {
            "id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0}}})));
        out.push(named_event("ping", &json!({"type": "ping"})));
    }

    fn close(&mut self, out: &mut Vec<Bytes>) {
        let index = match self.open {
            Open::None => return,
            Open::Text(i) | Open::Thinking(i) | Open::Tool(i) => i,
        };
        out.push(named_event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
        self.open = Open::None;
    }

    fn open_block(&mut self, block: Value, out: &mut Vec<Bytes>) -> usize {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        out.push(named_event(
            "content_block_start",
            &json!({"type": "content_block_start",
            "index": index, "content_block": block}),
        ));
        index
    }

    fn delta(index: usize, delta: Value) -> Bytes {
        named_event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    }
}

impl StreamEncoder for MessagesEncoder {
    fn encode(&mut self, event: &Event) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.start(&mut out);
        match event {
            Event::Text(t) => {
                let i = match self.open {
                    Open::Text(i) => i,
                    _ => {
                        let i = self.open_block(json!({"type": "text", "text": ""}), &mut out);
                        self.open = Open::Text(i);
                        i
                    }
                };
                out.push(Self::delta(i, json!({"type": "text_delta", "text": t})));
            }
            Event::Thinking(t) => {
                let i = match self.open {
                    Open::Thinking(i) => i,
                    _ => {
                        let block = json!({"type": "thinking", "thinking": "", "signature": ""});
                        let i = self.open_block(block, &mut out);
                        self.open = Open::Thinking(i);
                        i
                    }
                };
                out.push(Self::delta(
                    i,
                    json!({"type": "thinking_delta", "thinking": t}),
                ));
            }
            Event::ThinkingSignature(s) => {
                if let Open::Thinking(i) = self.open {
                    out.push(Self::delta(
                        i,
                        json!({"type": "signature_delta", "signature": s}),
                    ));
                }
            }
            Event::ToolCall { index, id, name } => {
                let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                let b = self.open_block(block, &mut out);
                self.open = Open::Tool(b);
                self.tools.push((*index, b));
            }
            Event::ToolArguments { index, delta } => {
                if let Some((_, b)) = self.tools.iter().find(|(t, _)| t == index) {
                    out.push(Self::delta(
                        *b,
                        json!({"type": "input_json_delta", "partial_json": delta}),
                    ));
                }
            }
            Event::Stop(r) => {
                self.stop = Some(*r);
                self.close(&mut out);
            }
        }
        out
    }

    fn truncate(&mut self) -> Vec<Bytes> {
        self.stop = Some(StopReason::MaxTokens);
        vec![]
    }

    fn finish(&mut self, u: &Usage, _cost: Decimal) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.start(&mut out);
        self.close(&mut out);
        let stop = stop_reason(self.stop.unwrap_or_default());
        out.push(named_event("message_delta", &json!({"type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": usage::to_anthropic(u)})));
        out.push(named_event(
            "message_stop",
            &json!({"type": "message_stop"}),
        ));
        out
    }

    fn error(&mut self, err: &ApiError) -> Bytes {
        named_event("error", &err.anthropic_body())
    }
}
