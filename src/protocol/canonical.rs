//! The canonical model every protocol decodes into and encodes from: one request, one answer,
//! one stream of events. A protocol adapter maps its wire types to these and back, so N
//! protocols need N adapters rather than N² translators.
//!
//! The model holds what changes an answer. A field a protocol carries that the canonical model
//! has no place for is refused by that protocol's decoder with a 400 naming it, never dropped.

use serde_json::{Map, Value};

/// A chat request, whatever protocol it came in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// System text: OpenAI `system`/`developer` messages, Anthropic `system`, Responses
    /// `instructions`, in order.
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)`: at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    pub max_output_tokens: Option<u64>,
    /// Sampling parameters are model hyper-parameters, not money: floats are their wire type.
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    /// The end user, for the provider's abuse monitoring.
    pub user: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    pub output: OutputFormat,
    pub reasoning: Option<Reasoning>,
    pub stream: bool,
}

impl Request {
    /// Appends content as a turn, joining the last turn when it has the same role (a function
    /// call after the text before it, tool results after each other): providers want turns
    /// to alternate.
    pub fn push(&mut self, role: Role, mut content: Vec<Part>) {
        if content.is_empty() {
            return;
        }
        match self.messages.last_mut() {
            Some(last) if last.role == role => last.content.append(&mut content),
            _ => self.messages.push(Message { role, content }),
        }
    }
}

/// The text parts among `parts`.
pub fn texts(parts: &[Part]) -> impl Iterator<Item = &str> {
    parts.iter().filter_map(|p| match p {
        Part::Text(t) => Some(t.as_str()),
        _ => None,
    })
}

/// The tool calls among `parts`, as chat `tool_calls` entries.
pub fn chat_tool_calls(parts: &[Part]) -> Vec<Value> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some(serde_json::json!({"id": c.id, "type": "function",
                "function": {"name": c.name, "arguments": c.arguments}})),
            _ => None,
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(Media),
    /// A document (PDF and the like) given inline.
    Document(Media),
    ToolCall(ToolCall),
    ToolResult(ToolResult),
    /// The model's visible reasoning, with the provider's signature when it gave one (Anthropic
    /// needs it back to continue a turn).
    Thinking {
        text: String,
        signature: Option<String>,
    },
}

/// An image or document: a URL, or base64 data with its media type.
#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    Url(String),
    Base64 { media_type: String, data: String },
}

impl Media {
    /// Parses `data:<type>;base64,<data>` URLs into base64 data; anything else stays a URL.
    pub fn from_url(url: &str) -> Media {
        if let Some((meta, data)) = url.strip_prefix("data:").and_then(|r| r.split_once(',')) {
            if let Some(media_type) = meta.strip_suffix(";base64") {
                return Media::Base64 {
                    media_type: media_type.to_string(),
                    data: data.to_string(),
                };
            }
        }
        Media::Url(url.to_string())
    }

    /// The media as a URL (`data:` for base64).
    pub fn to_url(&self) -> String {
        match self {
            Media::Url(u) => u.clone(),
            Media::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text, as the model wrote them.
    pub arguments: String,
}

impl ToolCall {
    /// The arguments as a JSON object (Anthropic's `input`); `{}` when the model wrote
    /// something else.
    pub fn input(&self) -> Value {
        serde_json::from_str(&self.arguments)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| serde_json::json!({}))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub call_id: String,
    /// Text, images and documents.
    pub content: Vec<Part>,
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    Named(String),
}

/// The shape the answer must have.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum OutputFormat {
    #[default]
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        description: Option<String>,
        schema: Value,
        strict: Option<bool>,
    },
}

/// How much the model should think before answering.
#[derive(Debug, Clone, PartialEq)]
pub struct Reasoning {
    /// `minimal`, `low`, `medium`, `high`.
    pub effort: Option<String>,
    /// A token budget (Anthropic's `thinking.budget_tokens`).
    pub budget_tokens: Option<u64>,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopReason {
    #[default]
    EndTurn,
    MaxTokens,
    ToolUse,
    StopSequence,
    ContentFilter,
}

/// A whole answer: its content in order, and why it ended. Usage is the gateway's business
/// (measured and priced apart) and goes to the encoder separately.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub content: Vec<Part>,
    pub stop: StopReason,
}

impl Answer {
    /// All the answer's text.
    pub fn text(&self) -> String {
        texts(&self.content).collect()
    }
}

/// One step of a streamed answer. Decoders emit these; encoders open and close their
/// protocol's items around them.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Text(String),
    Thinking(String),
    ThinkingSignature(String),
    /// A tool call begins; `index` numbers the answer's tool calls from 0.
    ToolCall {
        index: usize,
        id: String,
        name: String,
    },
    ToolArguments {
        index: usize,
        delta: String,
    },
    Stop(StopReason),
}
