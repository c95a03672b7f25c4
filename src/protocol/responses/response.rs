//! The Responses API answer object, built from a canonical answer.

use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use crate::pricing::Usage;
use crate::protocol::canonical::{Answer, Part, StopReason};

/// What every Responses answer echoes: its id, the catalog model, when it was made, and the
/// request's settings.
#[derive(Debug, Clone)]
pub struct Context {
    /// `resp_…`, derived from the call id.
    pub id: String,
    pub model: String,
    pub created_at: i64,
    /// Settings from the request, echoed as OpenAI does.
    pub echo: Map<String, Value>,
}

/// A request setting echoed in the answer, and its default when the request leaves it out.
type Echoed = (&'static str, fn() -> Value);

const ECHOED: &[Echoed] = &[
    ("instructions", || Value::Null),
    ("max_output_tokens", || Value::Null),
    ("temperature", || json!(1.0)),
    ("top_p", || json!(1.0)),
    ("tools", || json!([])),
    ("tool_choice", || json!("auto")),
    ("parallel_tool_calls", || json!(true)),
    ("text", || json!({"format": {"type": "text"}})),
    ("reasoning", || json!({"effort": null, "summary": null})),
    ("metadata", || json!({})),
    ("user", || Value::Null),
    ("truncation", || json!("disabled")),
    ("service_tier", || json!("default")),
];

impl Context {
    pub fn new(call_id: &str, model: &str, created_at: i64, request: &Value) -> Self {
        let mut echo = Map::new();
        for (field, default) in ECHOED {
            let v = request
                .get(*field)
                .filter(|v| !v.is_null())
                .cloned()
                .unwrap_or_else(default);
            echo.insert((*field).into(), v);
        }
        Context {
            id: format!("resp_{}", call_id.trim_start_matches("gen_")),
            model: model.into(),
            created_at,
            echo,
        }
    }

    /// The response object in a given status, with its output so far.
    pub fn envelope(&self, status: &str, output: Vec<Value>) -> Value {
        let mut r = Map::new();
        r.insert("id".into(), self.id.clone().into());
        r.insert("object".into(), "response".into());
        r.insert("created_at".into(), self.created_at.into());
        r.insert("status".into(), status.into());
        r.insert("error".into(), Value::Null);
        r.insert("incomplete_details".into(), Value::Null);
        r.insert("model".into(), self.model.clone().into());
        r.insert("output".into(), Value::Array(output));
        r.insert("previous_response_id".into(), Value::Null);
        r.insert("store".into(), false.into());
        r.insert("usage".into(), Value::Null);
        r.extend(self.echo.clone());
        Value::Object(r)
    }

    pub fn item_id(&self, prefix: &str, n: usize) -> String {
        let base = self.id.trim_start_matches("resp_");
        format!("{prefix}_{base}_{n}")
    }
}

/// The Responses `usage` object, with the call's exact cost beside the tokens.
pub fn usage(u: &Usage, cost: Decimal) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_input_tokens, "cache_write_tokens": u.cache_write_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.input_tokens.saturating_add(u.output_tokens),
        "cost": crate::gateway::stream::cost_number(cost),
    })
}

pub fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

pub fn function_call_item(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name,
        "arguments": arguments, "status": status})
}

/// A reasoning item. The provider's signature (Anthropic's) travels as `encrypted_content`, so
/// a client that sends the item back continues the same reasoning.
pub fn reasoning_item(id: &str, text: &str, signature: Option<&str>) -> Value {
    let mut item = json!({"type": "reasoning", "id": id,
        "summary": [{"type": "summary_text", "text": text}]});
    if let Some(s) = signature {
        item["encrypted_content"] = s.into();
    }
    item
}

/// The final status of an answer that stopped for `stop`, and why it is incomplete.
pub fn status(stop: StopReason) -> (&'static str, Value) {
    match stop {
        StopReason::MaxTokens => ("incomplete", json!({"reason": "max_output_tokens"})),
        StopReason::ContentFilter => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// A whole Responses answer.
pub fn encode(ctx: &Context, answer: &Answer, u: &Usage, cost: Decimal) -> Value {
    let mut output = Vec::new();
    let text = answer.text();
    let mut n = 0;
    for part in &answer.content {
        match part {
            Part::Thinking { text, signature } => {
                output.push(reasoning_item(
                    &ctx.item_id("rs", n),
                    text,
                    signature.as_deref(),
                ));
                n += 1;
            }
            Part::ToolCall(c) => {
                output.push(function_call_item(
                    &ctx.item_id("fc", n),
                    &c.id,
                    &c.name,
                    &c.arguments,
                    "completed",
                ));
                n += 1;
            }
            _ => {}
        }
    }
    if !text.is_empty() || output.is_empty() {
        // The message first, as OpenAI orders reasoning → message → calls.
        let at = output
            .iter()
            .position(|i| i["type"] != "reasoning")
            .unwrap_or(output.len());
        output.insert(at, message_item(&ctx.item_id("msg", n), &text, "completed"));
    }
    let (status, incomplete) = status(answer.stop);
    let mut r = ctx.envelope(status, output);
    r["incomplete_details"] = incomplete;
    r["usage"] = usage(u, cost);
    r
}
