//! Streaming: reading the upstream's server-sent events and writing the client's.
//!
//! Each [`Translate`] turns upstream events into client events as they arrive. The last
//! client event (`data: [DONE]` or `message_stop`) is held back and produced by
//! [`Translate::finish`] only after the call's usage record has been committed.

use bytes::Bytes;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::usage::{self, Reported};
use crate::error::ApiError;
use crate::pricing::Usage;

pub fn openai_data(v: &Value) -> Bytes {
    crate::protocol::sse_frame(None, v)
}

pub fn anthropic_event(name: &str, v: &Value) -> Bytes {
    crate::protocol::sse_frame(Some(name), v)
}

/// The number for OpenAI's `usage.cost` (a JSON number, as OpenRouter sends it); the exact
/// decimal is in `x-tollgate-cost` and the generation record.
pub fn cost_number(cost: Decimal) -> Value {
    cost.normalize()
        .to_string()
        .parse::<serde_json::Number>()
        .map_or(Value::Null, Value::Number)
}

/// What every translator tracks about the stream.
#[derive(Default)]
pub struct Progress {
    /// The upstream's own terminal event arrived.
    pub complete: bool,
    /// A content token (text or tool arguments) has been seen.
    pub has_content: bool,
    /// The upstream reported an error inside the stream: its message and error `type`.
    pub upstream_error: Option<(String, Option<String>)>,
    /// Generated text, for estimating output tokens when no usage is reported.
    pub text: String,
}

/// Translates one upstream stream into the client's protocol.
pub trait Translate: Send {
    /// Client events for one upstream event.
    fn on_event(&mut self, event: &str, data: &str) -> Vec<Bytes>;
    fn progress(&self) -> &Progress;
    /// Usage the upstream reported, if any.
    fn usage(&self) -> Reported;
    /// Closing events for a stream the gateway ends itself because the output reached the
    /// call's cap (`finish_reason: "length"` / `stop_reason: "max_tokens"`), before
    /// [`Translate::finish`].
    fn truncate(&mut self) -> Vec<Bytes>;
    /// The held-back closing events, once the record is committed.
    fn finish(&mut self, usage: &Usage, cost: Decimal) -> Vec<Bytes>;
    /// An error event in the client's protocol, ending the stream. Upstream error events are
    /// never relayed as they came (they may echo credentials): translators note them in
    /// [`Progress::upstream_error`] and the relay sends this, sanitized, instead.
    fn error(&mut self, err: &ApiError) -> Bytes;
}

fn openai_error_event(err: &ApiError) -> Bytes {
    openai_data(&err.openai_body())
}

fn anthropic_error_event(err: &ApiError) -> Bytes {
    anthropic_event("error", &err.anthropic_body())
}

/// Notes an upstream error object (`{"message", "type"}`) in `p`.
pub(super) fn note_error(p: &mut Progress, err: &Value) {
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| err.as_str())
        .unwrap_or("upstream error")
        .to_string();
    // The `type` is shown to the caller beside the (redacted) message, so it is kept only when
    // it looks like an error type (`overloaded_error`): an upstream may echo anything there,
    // its key included.
    let kind = err
        .get("type")
        .and_then(Value::as_str)
        .filter(|k| {
            !k.is_empty() && k.len() <= 64 && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
        .map(str::to_string);
    p.upstream_error = Some((message, kind));
}

fn collect_openai_text(chunk: &Value, p: &mut Progress) {
    for choice in chunk
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let delta = &choice["delta"];
        for key in ["content", "reasoning_content", "reasoning"] {
            if let Some(t) = delta
                .get(key)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                p.text.push_str(t);
                p.has_content = true;
            }
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(a) = call
                .get("function")
                .and_then(|f| f.get("arguments"))
                .and_then(Value::as_str)
            {
                p.text.push_str(a);
            }
            p.has_content = true;
        }
    }
}

// ---------- OpenAI upstream → OpenAI client ----------

/// Passes OpenAI chunks through, with the model renamed to the catalog id. The gateway always
/// asks the upstream for usage; the usage-only chunk reaches the client (with `cost`) only if
/// the client asked for it.
pub struct OpenAiPassthrough {
    model: String,
    client_wants_usage: bool,
    usage: Option<Value>,
    /// The latest `service_tier` a chunk named (the tier the upstream served the call in).
    served_tier: Option<Value>,
    /// The upstream's chunk id and `created`, repeated on the chunks the gateway writes.
    id: Value,
    created: Value,
    /// Choice indexes seen, to close each one when the gateway cuts the stream.
    choices: std::collections::BTreeSet<u64>,
    progress: Progress,
}

impl OpenAiPassthrough {
    pub fn new(model: &str, client_wants_usage: bool) -> Self {
        OpenAiPassthrough {
            model: model.into(),
            client_wants_usage,
            usage: None,
            served_tier: None,
            id: Value::Null,
            created: Value::Null,
            choices: std::collections::BTreeSet::new(),
            progress: Progress::default(),
        }
    }
}

impl Translate for OpenAiPassthrough {
    fn on_event(&mut self, _event: &str, data: &str) -> Vec<Bytes> {
        let data = data.trim();
        if data == "[DONE]" {
            self.progress.complete = true;
            return vec![];
        }
        let Ok(mut chunk) = serde_json::from_str::<Value>(data) else {
            return vec![];
        };
        if let Some(err) = chunk.get("error") {
            note_error(&mut self.progress, err);
            return vec![];
        }
        if self.id.is_null() {
            self.id = chunk.get("id").cloned().unwrap_or(Value::Null);
            self.created = chunk.get("created").cloned().unwrap_or(Value::Null);
        }
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            if let Some(i) = choice.get("index").and_then(Value::as_u64) {
                self.choices.insert(i);
            }
        }
        collect_openai_text(&chunk, &mut self.progress);
        if let Some(t) = chunk.get("service_tier").filter(|t| !t.is_null()) {
            self.served_tier = Some(t.clone());
        }
        if let Some(u) = chunk
            .get_mut("usage")
            .map(Value::take)
            .filter(Value::is_object)
        {
            self.usage = Some(u);
        }
        if let Some(obj) = chunk.as_object_mut() {
            obj.remove("usage");
        }
        let choices_empty = chunk
            .get("choices")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if choices_empty {
            return vec![];
        }
        chunk["model"] = self.model.clone().into();
        vec![openai_data(&chunk)]
    }

    fn progress(&self) -> &Progress {
        &self.progress
    }

    fn usage(&self) -> Reported {
        let reported = self
            .usage
            .as_ref()
            .map_or(Reported::Absent, usage::from_openai);
        usage::with_openai_tier(reported, self.served_tier.as_ref())
    }

    fn truncate(&mut self) -> Vec<Bytes> {
        let indexes: Vec<u64> = if self.choices.is_empty() {
            vec![0]
        } else {
            self.choices.iter().copied().collect()
        };
        let choices: Vec<Value> = indexes
            .into_iter()
            .map(|i| json!({"index": i, "delta": {}, "finish_reason": "length", "logprobs": null}))
            .collect();
        vec![openai_data(
            &json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": choices}),
        )]
    }

    fn finish(&mut self, u: &Usage, cost: Decimal) -> Vec<Bytes> {
        let mut out = Vec::new();
        if self.client_wants_usage {
            // The upstream's own usage object (it may carry extra detail) when it was valid;
            // the gateway's figures otherwise.
            let mut usage_obj = match self.usage() {
                Reported::Valid(_) => self.usage.clone().unwrap_or_else(|| usage::to_openai(u)),
                _ => usage::to_openai(u),
            };
            usage_obj["cost"] = cost_number(cost);
            out.push(openai_data(&json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model, "choices": [], "usage": usage_obj})));
        }
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        out
    }

    fn error(&mut self, err: &ApiError) -> Bytes {
        openai_error_event(err)
    }
}

// ---------- Anthropic upstream → Anthropic client ----------

/// Passes Anthropic events through untouched except the model name in `message_start`;
/// tracks usage (`message_delta` totals replace `message_start`'s) and holds `message_stop`.
pub struct AnthropicPassthrough {
    model: String,
    usage: Value,
    /// The content block started and not yet stopped.
    open_block: Option<Value>,
    /// The gateway cut the stream: `finish` writes the `message_delta` the upstream never sent.
    truncated: bool,
    progress: Progress,
}

impl AnthropicPassthrough {
    pub fn new(model: &str) -> Self {
        AnthropicPassthrough {
            model: model.into(),
            usage: Value::Null,
            open_block: None,
            truncated: false,
            progress: Progress::default(),
        }
    }
}

impl Translate for AnthropicPassthrough {
    fn on_event(&mut self, event: &str, data: &str) -> Vec<Bytes> {
        // Every Anthropic event is a JSON object; anything else is not relayed (and indexing
        // into it below would panic).
        let Ok(mut v) = serde_json::from_str::<Value>(data) else {
            return vec![];
        };
        if !v.is_object() {
            return vec![];
        }
        let kind = if event.is_empty() || event == "message" {
            v["type"].as_str().unwrap_or("").to_string()
        } else {
            event.to_string()
        };
        // A nameless event, or a `type` with a line break, cannot be written as one
        // `event:` line.
        if kind.is_empty() || kind.contains(['\n', '\r']) {
            return vec![];
        }
        match kind.as_str() {
            "message_start" => {
                if let Some(u) = v.get("message").and_then(|m| m.get("usage")) {
                    usage::merge_anthropic(&mut self.usage, u);
                }
                if let Some(message) = v.get_mut("message").and_then(Value::as_object_mut) {
                    message.insert("model".into(), self.model.clone().into());
                }
                return vec![anthropic_event(&kind, &v)];
            }
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    usage::merge_anthropic(&mut self.usage, u);
                }
            }
            "content_block_delta" => {
                let d = &v["delta"];
                for key in ["text", "partial_json", "thinking"] {
                    if let Some(t) = d.get(key).and_then(Value::as_str) {
                        self.progress.text.push_str(t);
                        self.progress.has_content = true;
                    }
                }
            }
            "content_block_start" => self.open_block = Some(v["index"].clone()),
            "content_block_stop" => self.open_block = None,
            "message_stop" => {
                self.progress.complete = true;
                return vec![];
            }
            "error" => {
                note_error(&mut self.progress, &v["error"]);
                return vec![];
            }
            _ => {}
        }
        if data.contains(['\n', '\r']) {
            // JSON spread over several `data:` lines: one compact line for the client.
            return vec![anthropic_event(&kind, &v)];
        }
        vec![Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))]
    }

    fn progress(&self) -> &Progress {
        &self.progress
    }

    fn usage(&self) -> Reported {
        usage::from_anthropic(&self.usage)
    }

    fn truncate(&mut self) -> Vec<Bytes> {
        self.truncated = true;
        match self.open_block.take() {
            Some(index) => vec![anthropic_event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            )],
            None => vec![],
        }
    }

    fn finish(&mut self, u: &Usage, _cost: Decimal) -> Vec<Bytes> {
        let mut out = Vec::new();
        if self.truncated {
            out.push(anthropic_event("message_delta", &json!({"type": "message_delta",
                "delta": {"stop_reason": "max_tokens", "stop_sequence": null}, "usage": usage::to_anthropic(u)})));
        }
        out.push(anthropic_event(
            "message_stop",
            &json!({"type": "message_stop"}),
        ));
        out
    }

    fn error(&mut self, err: &ApiError) -> Bytes {
        anthropic_error_event(err)
    }
}
