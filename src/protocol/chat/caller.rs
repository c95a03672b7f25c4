//! OpenAI Chat Completions on the caller's side: a chat request decoded into the canonical
//! request, canonical answers and events encoded as a chat completion and its chunks.

use bytes::Bytes;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::gateway::stream::cost_number;
use crate::gateway::usage;
use crate::pricing::Usage;
use crate::protocol::canonical::{
    chat_tool_calls, texts, Answer, Event, Media, OutputFormat, Part, Reasoning, Request, Role,
    StopReason, Tool, ToolCall, ToolChoice, ToolResult,
};
use crate::protocol::{untranslatable, StreamEncoder};

#[derive(Debug, Deserialize)]
struct ChatIn {
    messages: Vec<MessageIn>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u64>,
    stop: Option<Stop>,
    seed: Option<i64>,
    user: Option<String>,
    safety_identifier: Option<String>,
    #[serde(default)]
    tools: Vec<Value>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<Value>,
    reasoning_effort: Option<String>,
    stream: Option<bool>,
    n: Option<u64>,
    logprobs: Option<bool>,
    logit_bias: Option<Map<String, Value>>,
    frequency_penalty: Option<f64>,
    presence_penalty: Option<f64>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct MessageIn {
    role: String,
    #[serde(default)]
    content: Value,
    #[serde(default)]
    tool_calls: Vec<ToolCallIn>,
    tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ToolCallIn {
    #[serde(default)]
    id: String,
    function: FunctionIn,
}

#[derive(Debug, Deserialize)]
struct FunctionIn {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// Chat fields that change nothing another provider would answer: accepted, not forwarded
/// (docs/gateway.md, "Fields across formats").
const IGNORED: &[&str] = &[
    "model",
    "store",
    "metadata",
    "service_tier",
    "stream_options",
    "prompt_cache_key",
    "verbosity",
    "top_logprobs",
];

fn refuse(c: &ChatIn) -> Result<(), ApiError> {
    if c.n.is_some_and(|n| n > 1) {
        return Err(untranslatable("n", "it answers one choice per request"));
    }
    if c.logprobs == Some(true) {
        return Err(untranslatable(
            "logprobs",
            "it returns no log probabilities",
        ));
    }
    if c.logit_bias.as_ref().is_some_and(|b| !b.is_empty()) {
        return Err(untranslatable("logit_bias", "it takes no logit bias"));
    }
    for (field, v) in [
        ("frequency_penalty", c.frequency_penalty),
        ("presence_penalty", c.presence_penalty),
    ] {
        if v.is_some_and(|v| v != 0.0) {
            return Err(untranslatable(field, "it has no such penalty"));
        }
    }
    for (field, v) in &c.extra {
        if v.is_null() || IGNORED.contains(&field.as_str()) {
            continue;
        }
        return Err(untranslatable(
            field,
            "the gateway does not translate this field and will not drop it silently",
        ));
    }
    Ok(())
}

fn field_error(path: String, e: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_field(path.clone(), format!("{path}: {e}"))
}

/// The canonical request for a chat request.
pub fn decode_request(body: &Value) -> Result<Request, ApiError> {
    let c: ChatIn = serde_path_to_error::deserialize(body)
        .map_err(|e| field_error(e.path().to_string(), e.inner()))?;
    refuse(&c)?;
    let mut req = Request {
        max_output_tokens: c.max_completion_tokens.or(c.max_tokens),
        temperature: c.temperature,
        top_p: c.top_p,
        top_k: c.top_k,
        seed: c.seed,
        user: c.user.or(c.safety_identifier),
        parallel_tool_calls: c.parallel_tool_calls,
        stream: c.stream.unwrap_or(false),
        stop: match c.stop {
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
            None => vec![],
        },
        reasoning: c.reasoning_effort.map(|e| Reasoning {
            effort: Some(e),
            budget_tokens: None,
        }),
        ..Request::default()
    };
    for (i, m) in c.messages.into_iter().enumerate() {
        message(m, i, &mut req)?;
    }
    for (i, t) in c.tools.iter().enumerate() {
        req.tools.push(tool(t, i)?);
    }
    req.tool_choice = c.tool_choice.as_ref().and_then(tool_choice);
    if let Some(f) = &c.response_format {
        req.output = output_format(f)?;
    }
    Ok(req)
}

fn message(m: MessageIn, i: usize, req: &mut Request) -> Result<(), ApiError> {
    let content = parts(&m.content, i)?;
    match m.role.as_str() {
        "system" | "developer" => {
            let text: Vec<&str> = texts(&content).collect();
            req.system.push(text.join("\n"));
        }
        "user" => req.push(Role::User, content),
        "assistant" => {
            let mut content = content;
            content.extend(m.tool_calls.into_iter().map(|c| {
                Part::ToolCall(ToolCall {
                    id: c.id,
                    name: c.function.name,
                    arguments: c.function.arguments,
                })
            }));
            req.push(Role::Assistant, content);
        }
        "tool" => {
            let result = ToolResult {
                call_id: m.tool_call_id.unwrap_or_default(),
                content,
                is_error: false,
            };
            req.push(Role::User, vec![Part::ToolResult(result)]);
        }
        other => {
            return Err(ApiError::invalid_field(
                format!("messages[{i}].role"),
                format!("unknown role '{other}'"),
            ))
        }
    }
    Ok(())
}

fn parts(content: &Value, i: usize) -> Result<Vec<Part>, ApiError> {
    let items = match content {
        Value::Null => return Ok(vec![]),
        Value::String(s) if s.is_empty() => return Ok(vec![]),
        Value::String(s) => return Ok(vec![Part::Text(s.clone())]),
        Value::Array(items) => items,
        _ => {
            return Err(ApiError::invalid_field(
                format!("messages[{i}].content"),
                "content must be a string or an array of parts",
            ))
        }
    };
    let mut out = Vec::new();
    for (j, p) in items.iter().enumerate() {
        let s = |ptr: &str| p.pointer(ptr).and_then(Value::as_str).unwrap_or("");
        match p.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => out.push(Part::Text(s("/text").into())),
            "refusal" => out.push(Part::Text(s("/refusal").into())),
            "image_url" => out.push(Part::Image(Media::from_url(s("/image_url/url")))),
            "file" if !s("/file/file_data").is_empty() => {
                out.push(Part::Document(Media::from_url(s("/file/file_data"))))
            }
            other => {
                return Err(untranslatable(
                    &format!("messages[{i}].content[{j}]"),
                    &format!(
                        "'{other}' parts are not translated (text, image_url and file data are)"
                    ),
                ))
            }
        }
    }
    Ok(out)
}

fn tool(t: &Value, i: usize) -> Result<Tool, ApiError> {
    let f = t
        .get("function")
        .filter(|_| t.get("type").and_then(Value::as_str) == Some("function"))
        .ok_or_else(|| {
            untranslatable(&format!("tools[{i}]"), "only function tools are translated")
        })?;
    Ok(Tool {
        name: f.get("name").and_then(Value::as_str).unwrap_or("").into(),
        description: f
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        parameters: f
            .get("parameters")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        strict: f.get("strict").and_then(Value::as_bool),
    })
}

fn tool_choice(v: &Value) -> Option<ToolChoice> {
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            _ => None,
        },
        Value::Object(_) => v
            .pointer("/function/name")
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Named(n.into())),
        _ => None,
    }
}

fn output_format(f: &Value) -> Result<OutputFormat, ApiError> {
    Ok(
        match f.get("type").and_then(Value::as_str).unwrap_or("text") {
            "text" => OutputFormat::Text,
            "json_object" => OutputFormat::JsonObject,
            "json_schema" => {
                let s = &f["json_schema"];
                OutputFormat::JsonSchema {
                    name: s
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("response")
                        .into(),
                    description: s
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    schema: s.get("schema").cloned().ok_or_else(|| {
                        ApiError::invalid_field(
                            "response_format.json_schema.schema",
                            "a json_schema format needs a schema",
                        )
                    })?,
                    strict: s.get("strict").and_then(Value::as_bool),
                }
            }
            other => {
                return Err(ApiError::invalid_field(
                    "response_format.type",
                    format!("unknown response format '{other}'"),
                ))
            }
        },
    )
}

// ---------- answers ----------

/// A call's identity on the caller's side.
#[derive(Debug, Clone)]
pub struct Context {
    pub id: String,
    pub model: String,
    pub created: i64,
}

/// The chat `finish_reason` for a stop reason.
pub fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter => "content_filter",
        StopReason::EndTurn | StopReason::StopSequence => "stop",
    }
}

/// A chat completion for a canonical answer, with the gateway's usage (cost added by the
/// caller of this function).
pub fn encode_answer(ctx: &Context, answer: &Answer, u: &Usage) -> Value {
    let text = answer.text();
    let calls = chat_tool_calls(&answer.content);
    let reasoning: String = answer
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Thinking { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let content = if text.is_empty() && !calls.is_empty() {
        Value::Null
    } else {
        text.into()
    };
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = reasoning.into();
    }
    json!({
        "id": ctx.id, "object": "chat.completion", "created": ctx.created, "model": ctx.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(answer.stop), "logprobs": null}],
        "usage": usage::to_openai(u),
    })
}

// ---------- streams ----------

/// Writes canonical events as chat chunks; the usage chunk (when asked) and `[DONE]` are held
/// back for [`StreamEncoder::finish`].
pub struct ChatEncoder {
    ctx: Context,
    client_wants_usage: bool,
    started: bool,
}

impl ChatEncoder {
    pub fn new(ctx: Context, client_wants_usage: bool) -> Self {
        ChatEncoder {
            ctx,
            client_wants_usage,
            started: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Bytes {
        data(
            &json!({"id": self.ctx.id, "object": "chat.completion.chunk", "created": self.ctx.created,
            "model": self.ctx.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}]}),
        )
    }
}

fn data(v: &Value) -> Bytes {
    crate::protocol::sse_frame(None, v)
}

impl StreamEncoder for ChatEncoder {
    fn encode(&mut self, event: &Event) -> Vec<Bytes> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
        }
        let chunk = match event {
            Event::Text(t) => self.chunk(json!({"content": t}), None),
            Event::Thinking(t) => self.chunk(json!({"reasoning_content": t}), None),
            Event::ThinkingSignature(_) => return out,
            Event::ToolCall { index, id, name } => self.chunk(
                json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                None,
            ),
            Event::ToolArguments { index, delta } => self.chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": delta}}]}),
                None,
            ),
            Event::Stop(r) => self.chunk(json!({}), Some(finish_reason(*r))),
        };
        out.push(chunk);
        out
    }

    fn truncate(&mut self) -> Vec<Bytes> {
        vec![self.chunk(json!({}), Some("length"))]
    }

    fn finish(&mut self, u: &Usage, cost: Decimal) -> Vec<Bytes> {
        let mut out = Vec::new();
        if self.client_wants_usage {
            let mut usage_obj = usage::to_openai(u);
            usage_obj["cost"] = cost_number(cost);
            out.push(data(&json!({"id": self.ctx.id, "object": "chat.completion.chunk",
                "created": self.ctx.created, "model": self.ctx.model, "choices": [], "usage": usage_obj})));
        }
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        out
    }

    fn error(&mut self, err: &ApiError) -> Bytes {
        data(&err.openai_body())
    }
}
