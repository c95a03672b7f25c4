//! The OpenAI Responses API request (`POST /v1/responses`) and its decoding into the canonical
//! request.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::protocol::canonical::{
    Media, Message, OutputFormat, Part, Reasoning, Request, Role, Tool, ToolCall, ToolChoice,
    ToolResult,
};

/// A Responses request. Fields the gateway does not model stay in `extra`, and
/// [`decode`] refuses those that would change the answer.
#[derive(Debug, Deserialize)]
pub struct ResponsesRequest {
    pub model: String,
    pub input: Input,
    pub instructions: Option<String>,
    pub tools: Option<Vec<ToolSpec>>,
    pub tool_choice: Option<Value>,
    pub parallel_tool_calls: Option<bool>,
    pub max_output_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stream: Option<bool>,
    pub store: Option<bool>,
    pub previous_response_id: Option<String>,
    pub text: Option<TextConfig>,
    pub reasoning: Option<ReasoningConfig>,
    pub user: Option<String>,
    pub safety_identifier: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Input {
    Text(String),
    Items(Vec<Value>),
}

#[derive(Debug, Deserialize)]
pub struct ToolSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub parameters: Option<Value>,
    pub strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct TextConfig {
    pub format: Option<FormatSpec>,
    /// A length hint (`low`/`medium`/`high`) for models that take one.
    pub verbosity: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct FormatSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub schema: Option<Value>,
    pub strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct ReasoningConfig {
    pub effort: Option<String>,
    /// Whether to return a summary of the reasoning; the gateway returns the reasoning text it
    /// gets whatever this says.
    pub summary: Option<String>,
}

/// A message item: `{"role", "content"}`, with or without `"type": "message"`.
#[derive(Debug, Deserialize)]
struct MessageItem {
    role: String,
    content: Content,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentPart {
    InputText {
        text: String,
    },
    OutputText {
        text: String,
    },
    Refusal {
        refusal: String,
    },
    InputImage {
        image_url: Option<String>,
    },
    InputFile {
        file_data: Option<String>,
        file_url: Option<String>,
        filename: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
struct FunctionCallItem {
    call_id: String,
    name: String,
    arguments: String,
}

#[derive(Debug, Deserialize)]
struct FunctionCallOutputItem {
    call_id: String,
    output: Content,
}

#[derive(Debug, Deserialize)]
struct ReasoningItem {
    #[serde(default)]
    summary: Vec<SummaryPart>,
    #[serde(default)]
    content: Vec<SummaryPart>,
    encrypted_content: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SummaryPart {
    text: String,
}

/// Fields a Responses request may carry that change nothing the gateway answers: accepted and
/// not forwarded (docs/gateway.md, "Fields across formats").
const IGNORED: &[&str] = &[
    "include",
    "prompt_cache_key",
    "prompt_cache_retention",
    "service_tier",
    "stream_options",
    "truncation",
    "background",
    "top_logprobs",
    "max_tool_calls",
    "conversation",
    "prompt",
];

/// Parses a Responses request body, reporting a wrong field by its path.
pub fn parse(body: &Value) -> Result<ResponsesRequest, ApiError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        ApiError::invalid_field(path.clone(), format!("{path}: {}", e.inner()))
    })
}

fn unsupported(field: &str, why: &str) -> ApiError {
    ApiError::invalid_field(
        field,
        format!("{field} is not supported by this gateway: {why}"),
    )
}

/// Refuses what the gateway cannot honour: stored conversations, background runs, prompt
/// templates, unknown fields that would change the answer.
fn refuse(r: &ResponsesRequest) -> Result<(), ApiError> {
    if r.previous_response_id.is_some() {
        return Err(unsupported(
            "previous_response_id",
            "the gateway does not store responses; send the whole conversation in `input`",
        ));
    }
    for (field, value) in &r.extra {
        if value.is_null() {
            continue;
        }
        match field.as_str() {
            "background" if value != &Value::Bool(false) => {
                return Err(unsupported(field, "background responses are not run"))
            }
            "conversation" | "prompt" => {
                return Err(unsupported(
                    field,
                    "stored conversations and prompt templates live on OpenAI's servers; send the whole input",
                ))
            }
            "top_logprobs" | "max_tool_calls" if value != &Value::from(0) => {
                return Err(unsupported(field, "it is not translated to every provider"))
            }
            f if IGNORED.contains(&f) => {}
            f => {
                return Err(unsupported(
                    f,
                    "the gateway does not know this field and will not drop it silently",
                ))
            }
        }
    }
    Ok(())
}

/// The canonical request for a Responses request.
pub fn decode(body: &Value) -> Result<Request, ApiError> {
    let r = parse(body)?;
    refuse(&r)?;
    let mut req = Request {
        max_output_tokens: r.max_output_tokens,
        temperature: r.temperature,
        top_p: r.top_p,
        parallel_tool_calls: r.parallel_tool_calls,
        stream: r.stream.unwrap_or(false),
        user: r.user.or(r.safety_identifier),
        metadata: r.metadata,
        ..Request::default()
    };
    if let Some(i) = r.instructions.filter(|i| !i.is_empty()) {
        req.system.push(i);
    }
    match r.input {
        Input::Text(t) => req.messages.push(Message {
            role: Role::User,
            content: vec![Part::Text(t)],
        }),
        Input::Items(items) => {
            for (i, item) in items.iter().enumerate() {
                decode_item(item, i, &mut req)?;
            }
        }
    }
    if req.messages.is_empty() {
        return Err(ApiError::invalid_field(
            "input",
            "input must hold at least one message",
        ));
    }
    for (i, t) in r.tools.into_iter().flatten().enumerate() {
        req.tools.push(tool(t, i)?);
    }
    req.tool_choice = r
        .tool_choice
        .as_ref()
        .map(tool_choice)
        .transpose()?
        .flatten();
    if let Some(format) = r.text.and_then(|t| t.format) {
        req.output = output_format(format)?;
    }
    if let Some(effort) = r.reasoning.and_then(|x| x.effort) {
        req.reasoning = Some(Reasoning {
            effort: Some(effort),
            budget_tokens: None,
        });
    }
    Ok(req)
}

fn item_error(i: usize, e: serde_json::Error) -> ApiError {
    ApiError::invalid_field(format!("input[{i}]"), format!("input[{i}]: {e}"))
}

fn decode_item(item: &Value, i: usize, req: &mut Request) -> Result<(), ApiError> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => {
            let m: MessageItem =
                serde_json::from_value(item.clone()).map_err(|e| item_error(i, e))?;
            let content = parts(m.content, i)?;
            match m.role.as_str() {
                "system" | "developer" => req.system.push(text_of(&content)),
                "user" => req.push(Role::User, content),
                "assistant" => req.push(Role::Assistant, content),
                other => {
                    return Err(ApiError::invalid_field(
                        format!("input[{i}].role"),
                        format!("unknown role '{other}'"),
                    ))
                }
            }
        }
        "function_call" => {
            let c: FunctionCallItem =
                serde_json::from_value(item.clone()).map_err(|e| item_error(i, e))?;
            let call = ToolCall {
                id: c.call_id,
                name: c.name,
                arguments: c.arguments,
            };
            req.push(Role::Assistant, vec![Part::ToolCall(call)]);
        }
        "function_call_output" => {
            let o: FunctionCallOutputItem =
                serde_json::from_value(item.clone()).map_err(|e| item_error(i, e))?;
            let result = ToolResult {
                call_id: o.call_id,
                content: parts(o.output, i)?,
                is_error: false,
            };
            req.push(Role::User, vec![Part::ToolResult(result)]);
        }
        "reasoning" => {
            let r: ReasoningItem =
                serde_json::from_value(item.clone()).map_err(|e| item_error(i, e))?;
            let text: String = r.content.iter().chain(&r.summary).map(|s| s.text.as_str()).collect();
            req.push(Role::Assistant,
                vec![Part::Thinking {
                    text,
                    signature: r.encrypted_content,
                }],
            );
        }
        "item_reference" => {
            return Err(unsupported(
                &format!("input[{i}]"),
                "item references need stored responses; send the item itself",
            ))
        }
        other => {
            return Err(ApiError::invalid_field(
                format!("input[{i}].type"),
                format!("input items of type '{other}' are not supported (message, function_call, function_call_output and reasoning are)"),
            ))
        }
    }
    Ok(())
}

fn text_of(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn parts(content: Content, i: usize) -> Result<Vec<Part>, ApiError> {
    let parts = match content {
        Content::Text(t) if t.is_empty() => return Ok(vec![]),
        Content::Text(t) => return Ok(vec![Part::Text(t)]),
        Content::Parts(p) => p,
    };
    let file_id = || {
        unsupported(
            &format!("input[{i}].content"),
            "file ids point at OpenAI's file store; send the image or file inline (URL or base64)",
        )
    };
    parts
        .into_iter()
        .map(|p| {
            Ok(match p {
                ContentPart::InputText { text } | ContentPart::OutputText { text } => {
                    Part::Text(text)
                }
                ContentPart::Refusal { refusal } => Part::Text(refusal),
                ContentPart::InputImage {
                    image_url: Some(url),
                    ..
                } => Part::Image(Media::from_url(&url)),
                ContentPart::InputImage { .. } => return Err(file_id()),
                ContentPart::InputFile {
                    file_data: Some(data),
                    filename,
                    ..
                } => Part::Document(file_media(&data, filename.as_deref())),
                ContentPart::InputFile {
                    file_url: Some(url),
                    ..
                } => Part::Document(Media::Url(url)),
                ContentPart::InputFile { .. } => return Err(file_id()),
            })
        })
        .collect()
}

/// `file_data` is a data URL, or bare base64 whose type the file name tells.
fn file_media(data: &str, filename: Option<&str>) -> Media {
    if data.starts_with("data:") {
        return Media::from_url(data);
    }
    let media_type = match filename.and_then(|f| f.rsplit_once('.')).map(|(_, e)| e) {
        Some("txt") => "text/plain",
        _ => "application/pdf",
    };
    Media::Base64 {
        media_type: media_type.into(),
        data: data.into(),
    }
}

fn tool(t: ToolSpec, i: usize) -> Result<Tool, ApiError> {
    if t.kind != "function" {
        return Err(crate::protocol::untranslatable(
            &format!("tools[{i}]"),
            &format!(
                "'{}' tools run on OpenAI's servers; only function tools are translated",
                t.kind
            ),
        ));
    }
    let name = t.name.filter(|n| !n.is_empty()).ok_or_else(|| {
        ApiError::invalid_field(format!("tools[{i}].name"), "a function tool needs a name")
    })?;
    Ok(Tool {
        name,
        description: t.description,
        parameters: t
            .parameters
            .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
        strict: t.strict,
    })
}

fn tool_choice(v: &Value) -> Result<Option<ToolChoice>, ApiError> {
    let bad = || {
        ApiError::invalid_field(
            "tool_choice",
            "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"name\": ...}",
        )
    };
    Ok(Some(match v {
        Value::Null => return Ok(None),
        Value::String(s) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => return Err(bad()),
        },
        Value::Object(o) if o.get("type") == Some(&Value::from("function")) => {
            let name = o.get("name").and_then(Value::as_str).ok_or_else(bad)?;
            ToolChoice::Named(name.to_string())
        }
        _ => return Err(bad()),
    }))
}

fn output_format(f: FormatSpec) -> Result<OutputFormat, ApiError> {
    Ok(match f.kind.as_str() {
        "text" => OutputFormat::Text,
        "json_object" => OutputFormat::JsonObject,
        "json_schema" => OutputFormat::JsonSchema {
            name: f.name.unwrap_or_else(|| "response".into()),
            description: f.description,
            schema: f.schema.ok_or_else(|| {
                ApiError::invalid_field("text.format.schema", "a json_schema format needs a schema")
            })?,
            strict: f.strict,
        },
        other => {
            return Err(ApiError::invalid_field(
                "text.format.type",
                format!("unknown format '{other}' (text, json_object and json_schema are)"),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_string_input_is_one_user_message() {
        let r = decode(&json!({"model": "m", "input": "hi", "instructions": "be brief"})).unwrap();
        assert_eq!(r.system, vec!["be brief"]);
        assert_eq!(r.messages[0].content, vec![Part::Text("hi".into())]);
    }

    #[test]
    fn function_calls_and_outputs_become_turns() {
        let r = decode(&json!({"model": "m", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"}
        ]}))
        .unwrap();
        assert_eq!(r.messages.len(), 3);
        assert_eq!(r.messages[1].role, Role::Assistant);
        assert!(matches!(&r.messages[2].content[0], Part::ToolResult(t) if t.call_id == "c1"));
    }

    #[test]
    fn refusals_name_the_field() {
        let e =
            decode(&json!({"model": "m", "input": "x", "previous_response_id": "r"})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("previous_response_id"));
        let e = decode(&json!({"model": "m", "input": "x", "frobnicate": 1})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("frobnicate"));
        let e = decode(&json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}))
            .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tools[0]"));
        let e = decode(&json!({"model": "m", "input": 5})).unwrap_err();
        assert!(e.message.contains("input"), "{}", e.message);
    }
}
