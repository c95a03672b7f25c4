//! Translating requests and whole responses between the OpenAI Chat Completions and the
//! Anthropic Messages formats, so either endpoint serves a model behind either kind of
//! provider. Streams are translated in [`super::stream`].

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::pricing::Usage;

use super::usage;

/// Anthropic requires `max_tokens`; used when an OpenAI request gives none and the model's
/// maximum output is unknown.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

// ---------- OpenAI request → Anthropic request ----------

/// An OpenAI image part as an Anthropic image block (data URLs become base64 sources).
fn image_block(url: &str) -> Value {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((meta, data)) = rest.split_once(",") {
            let media_type = meta.trim_end_matches(";base64");
            return json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}});
        }
    }
    json!({"type": "image", "source": {"type": "url", "url": url}})
}

fn openai_content_to_blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) if s.is_empty() => vec![],
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p.get("type").and_then(Value::as_str) {
                Some("text") => Some(
                    json!({"type": "text", "text": p.get("text").cloned().unwrap_or_default()}),
                ),
                Some("image_url") => {
                    let url = p
                        .pointer("/image_url/url")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    Some(image_block(url))
                }
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

/// Appends content to the last message when it has the same role (Anthropic wants turns to
/// alternate), else starts a new message.
fn push_turn(out: &mut Vec<Value>, role: &str, mut blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    if let Some(last) = out.last_mut() {
        if last["role"] == role {
            if let Some(existing) = last["content"].as_array_mut() {
                existing.append(&mut blocks);
                return;
            }
        }
    }
    out.push(json!({"role": role, "content": blocks}));
}

fn openai_tool_calls_to_blocks(calls: &Value) -> Vec<Value> {
    calls
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .map(|c| {
                    let args = c.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("{}");
                    let input: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
                    json!({"type": "tool_use", "id": c.get("id").cloned().unwrap_or_default(),
                           "name": c.pointer("/function/name").cloned().unwrap_or_default(), "input": input})
                })
                .collect()
        })
        .unwrap_or_default()
}

fn openai_tool_choice(choice: &Value) -> Option<Value> {
    match choice {
        Value::String(s) if s == "auto" => Some(json!({"type": "auto"})),
        Value::String(s) if s == "required" => Some(json!({"type": "any"})),
        Value::String(s) if s == "none" => Some(json!({"type": "none"})),
        Value::Object(_) => choice
            .pointer("/function/name")
            .map(|n| json!({"type": "tool", "name": n})),
        _ => None,
    }
}

/// A field of the caller's request that the target protocol cannot carry and that would change
/// the answer: refused with a 400 naming it, never dropped in silence.
fn untranslatable(field: &str, why: &str) -> ApiError {
    ApiError::invalid_field(
        field,
        format!("{field} cannot be sent to this model (its provider speaks another API): {why}"),
    )
}

/// OpenAI request fields an Anthropic-kind model cannot honour, refused.
fn refuse_for_anthropic(body: &Value) -> Result<(), ApiError> {
    if body.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err(untranslatable("n", "it answers one choice per request"));
    }
    let format = body
        .pointer("/response_format/type")
        .and_then(Value::as_str);
    if format.is_some_and(|f| f != "text") {
        return Err(untranslatable(
            "response_format",
            "structured output is not translated yet; ask for JSON in the prompt or use an OpenAI-kind model",
        ));
    }
    if body.get("logprobs").and_then(Value::as_bool) == Some(true) {
        return Err(untranslatable(
            "logprobs",
            "it returns no log probabilities",
        ));
    }
    if body
        .get("logit_bias")
        .and_then(Value::as_object)
        .is_some_and(|b| !b.is_empty())
    {
        return Err(untranslatable("logit_bias", "it takes no logit bias"));
    }
    let tools = body.get("tools").and_then(Value::as_array);
    if let Some(i) = tools.into_iter().flatten().position(|t| {
        t.get("type")
            .and_then(Value::as_str)
            .is_some_and(|k| k != "function")
    }) {
        return Err(untranslatable(
            &format!("tools[{i}]"),
            "only function tools are translated",
        ));
    }
    Ok(())
}

/// Builds the Anthropic Messages request for an OpenAI Chat Completions request. Fields that
/// would change the answer and cannot be carried are refused ([`refuse_for_anthropic`]);
/// `temperature` is clamped into Anthropic's 0–1 (OpenAI's range is 0–2);
/// `parallel_tool_calls: false` becomes `disable_parallel_tool_use`.
pub fn openai_to_anthropic_request(
    body: &Value,
    upstream_model: &str,
    max_output: Option<u32>,
) -> Result<Value, ApiError> {
    refuse_for_anthropic(body)?;
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid_field("messages", "messages must be an array"))?;
    let mut system = Vec::new();
    let mut turns: Vec<Value> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).ok_or_else(|| {
            ApiError::invalid_field(format!("messages[{i}].role"), "each message needs a role")
        })?;
        let content = m.get("content").cloned().unwrap_or(Value::Null);
        match role {
            "system" | "developer" => system.push(text_of(&content)),
            "user" => push_turn(&mut turns, "user", openai_content_to_blocks(&content)),
            "assistant" => {
                let mut blocks = openai_content_to_blocks(&content);
                blocks.extend(openai_tool_calls_to_blocks(
                    m.get("tool_calls").unwrap_or(&Value::Null),
                ));
                push_turn(&mut turns, "assistant", blocks);
            }
            "tool" => {
                let block = json!({"type": "tool_result", "tool_use_id": m.get("tool_call_id").cloned().unwrap_or_default(),
                                   "content": text_of(&content)});
                push_turn(&mut turns, "user", vec![block]);
            }
            other => {
                return Err(ApiError::invalid_field(
                    format!("messages[{i}].role"),
                    format!("unknown role '{other}'"),
                ))
            }
        }
    }
    let max_tokens = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or_else(|| max_output.map_or(DEFAULT_MAX_TOKENS, u64::from));
    let mut out = Map::new();
    out.insert("model".into(), upstream_model.into());
    out.insert("messages".into(), Value::Array(turns));
    out.insert("max_tokens".into(), max_tokens.into());
    if !system.is_empty() {
        out.insert("system".into(), system.join("\n\n").into());
    }
    for key in ["temperature", "top_p", "top_k", "stream"] {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    if body
        .get("temperature")
        .and_then(Value::as_f64)
        .is_some_and(|t| t > 1.0)
    {
        out.insert("temperature".into(), json!(1));
    }
    match body.get("stop") {
        Some(Value::String(s)) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        Some(Value::Array(a)) => {
            out.insert("stop_sequences".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    if let Some(tools) = body.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.get("function"))
            .map(|f| json!({"name": f.get("name").cloned().unwrap_or_default(),
                            "description": f.get("description").cloned().unwrap_or_else(|| "".into()),
                            "input_schema": f.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object", "properties": {}}))}))
            .collect();
        if !tools.is_empty() {
            out.insert("tools".into(), Value::Array(tools));
        }
    }
    let mut choice = body.get("tool_choice").and_then(openai_tool_choice);
    if body.get("parallel_tool_calls") == Some(&Value::Bool(false)) && out.contains_key("tools") {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if c["type"] != "none" {
            c["disable_parallel_tool_use"] = true.into();
        }
    }
    if let Some(choice) = choice {
        out.insert("tool_choice".into(), choice);
    }
    if let Some(user) = body.get("user").and_then(Value::as_str) {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(Value::Object(out))
}

// ---------- Anthropic request → OpenAI request ----------

fn anthropic_block_to_part(block: &Value) -> Option<Value> {
    match block.get("type").and_then(Value::as_str)? {
        "text" => {
            Some(json!({"type": "text", "text": block.get("text").cloned().unwrap_or_default()}))
        }
        "image" => {
            let src = block.get("source")?;
            let url = match src.get("type").and_then(Value::as_str)? {
                "base64" => format!(
                    "data:{};base64,{}",
                    src.get("media_type")
                        .and_then(Value::as_str)
                        .unwrap_or("image/png"),
                    src.get("data").and_then(Value::as_str).unwrap_or("")
                ),
                _ => src
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            };
            Some(json!({"type": "image_url", "image_url": {"url": url}}))
        }
        _ => None,
    }
}

fn tool_result_text(block: &Value) -> String {
    let text = text_of(block.get("content").unwrap_or(&Value::Null));
    if block.get("is_error") == Some(&Value::Bool(true)) {
        format!("Error: {text}")
    } else {
        text
    }
}

fn anthropic_message_to_openai(m: &Value, out: &mut Vec<Value>) {
    let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
    let blocks = match m.get("content") {
        Some(Value::String(s)) => {
            out.push(json!({"role": role, "content": s}));
            return;
        }
        Some(Value::Array(b)) => b,
        _ => return,
    };
    let mut parts = Vec::new();
    let mut tool_calls = Vec::new();
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("tool_result") => out.push(json!({"role": "tool",
                "tool_call_id": b.get("tool_use_id").cloned().unwrap_or_default(), "content": tool_result_text(b)})),
            Some("tool_use") => tool_calls.push(json!({"id": b.get("id").cloned().unwrap_or_default(), "type": "function",
                "function": {"name": b.get("name").cloned().unwrap_or_default(),
                             "arguments": b.get("input").map_or_else(|| "{}".to_string(), Value::to_string)}})),
            _ => parts.extend(anthropic_block_to_part(b)),
        }
    }
    if role == "assistant" {
        let text: Vec<&str> = parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { text.join("").into() }});
        if !tool_calls.is_empty() {
            msg["tool_calls"] = Value::Array(tool_calls);
        }
        if !text.is_empty() || msg.get("tool_calls").is_some() {
            out.push(msg);
        }
    } else if !parts.is_empty() {
        let all_text = parts.iter().all(|p| p["type"] == "text");
        let content = if all_text {
            Value::String(text_of(&Value::Array(parts)))
        } else {
            Value::Array(parts)
        };
        out.push(json!({"role": role, "content": content}));
    }
}

fn anthropic_tool_choice(choice: &Value) -> Option<Value> {
    match choice.get("type").and_then(Value::as_str)? {
        "auto" => Some("auto".into()),
        "any" => Some("required".into()),
        "none" => Some("none".into()),
        "tool" => Some(
            json!({"type": "function", "function": {"name": choice.get("name").cloned().unwrap_or_default()}}),
        ),
        _ => None,
    }
}

/// Builds the OpenAI Chat Completions request for an Anthropic Messages request.
/// Builds the OpenAI Chat Completions request for an Anthropic Messages request. Server-side
/// tools (web search, code execution, …) cannot run on an OpenAI-kind model and are refused;
/// `disable_parallel_tool_use` becomes `parallel_tool_calls: false`.
pub fn anthropic_to_openai_request(body: &Value, upstream_model: &str) -> Result<Value, ApiError> {
    if let Some(i) = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .position(|t| {
            t.get("input_schema").is_none()
                || t.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k != "custom")
        })
    {
        return Err(untranslatable(
            &format!("tools[{i}]"),
            "server tools run only on Anthropic-kind models; client tools (with input_schema) are translated",
        ));
    }
    let mut messages = Vec::new();
    if let Some(system) = body.get("system") {
        let text = text_of(system);
        if !text.is_empty() {
            messages.push(json!({"role": "system", "content": text}));
        }
    }
    for m in body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        anthropic_message_to_openai(m, &mut messages);
    }
    let mut out = Map::new();
    out.insert("model".into(), upstream_model.into());
    out.insert("messages".into(), Value::Array(messages));
    for key in ["max_tokens", "temperature", "top_p", "top_k", "stream"] {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(stop) = body.get("stop_sequences").filter(|v| v.is_array()) {
        out.insert("stop".into(), stop.clone());
    }
    if let Some(tools) = body.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools
            .iter()
            .filter(|t| t.get("input_schema").is_some())
            .map(|t| json!({"type": "function", "function": {"name": t.get("name").cloned().unwrap_or_default(),
                "description": t.get("description").cloned().unwrap_or_else(|| "".into()),
                "parameters": t.get("input_schema").cloned().unwrap_or_default()}}))
            .collect();
        if !tools.is_empty() {
            out.insert("tools".into(), Value::Array(tools));
        }
    }
    if let Some(choice) = body.get("tool_choice").and_then(anthropic_tool_choice) {
        out.insert("tool_choice".into(), choice);
    }
    if body.pointer("/tool_choice/disable_parallel_tool_use") == Some(&Value::Bool(true))
        && out.contains_key("tools")
    {
        out.insert("parallel_tool_calls".into(), false.into());
    }
    if let Some(user) = body.pointer("/metadata/user_id").and_then(Value::as_str) {
        out.insert("user".into(), user.into());
    }
    Ok(Value::Object(out))
}

// ---------- whole responses ----------

/// Maps an Anthropic `stop_reason` to an OpenAI `finish_reason`.
pub fn finish_reason_from_anthropic(stop: Option<&str>) -> &'static str {
    match stop {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// Maps an OpenAI `finish_reason` to an Anthropic `stop_reason`.
pub fn stop_reason_from_openai(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls") | Some("function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// An Anthropic Messages response as an OpenAI chat completion.
pub fn anthropic_to_openai_response(
    resp: &Value,
    id: &str,
    model: &str,
    created: i64,
    usage: &Usage,
) -> Value {
    let blocks = resp
        .get("content")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let text: String = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect();
    let tool_calls: Vec<Value> = blocks
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| json!({"id": b["id"], "type": "function",
            "function": {"name": b["name"], "arguments": b.get("input").map_or_else(|| "{}".to_string(), Value::to_string)}}))
        .collect();
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { text.into() }});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    let finish = finish_reason_from_anthropic(resp.get("stop_reason").and_then(Value::as_str));
    json!({
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": usage::to_openai(usage),
    })
}

/// An OpenAI chat completion as an Anthropic Messages response.
pub fn openai_to_anthropic_response(resp: &Value, id: &str, model: &str, usage: &Usage) -> Value {
    let message = resp
        .pointer("/choices/0/message")
        .cloned()
        .unwrap_or_default();
    let mut content = Vec::new();
    let text = text_of(message.get("content").unwrap_or(&Value::Null));
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let args = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or("{}");
        content.push(json!({"type": "tool_use", "id": call["id"], "name": call.pointer("/function/name").cloned().unwrap_or_default(),
            "input": serde_json::from_str::<Value>(args).unwrap_or_else(|_| json!({}))}));
    }
    let finish = resp
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str);
    json!({
        "id": id, "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop_reason_from_openai(finish), "stop_sequence": null,
        "usage": usage::to_anthropic(usage),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_request_with_tools_becomes_anthropic() {
        let body = json!({"model": "m", "max_tokens": 100, "stop": "END", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "weather?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
        ], "tools": [{"type": "function", "function": {"name": "get_weather", "description": "d", "parameters": {"type": "object"}}}],
           "tool_choice": "required"});
        let a = openai_to_anthropic_request(&body, "claude-x", None).unwrap();
        assert_eq!(a["system"], "be brief");
        assert_eq!(a["max_tokens"], 100);
        assert_eq!(a["stop_sequences"], json!(["END"]));
        assert_eq!(
            a["messages"][0]["content"][1]["source"]["media_type"],
            "image/png"
        );
        assert_eq!(a["messages"][1]["content"][0]["type"], "tool_use");
        assert_eq!(a["messages"][1]["content"][0]["input"]["city"], "Paris");
        assert_eq!(a["messages"][2]["content"][0]["type"], "tool_result");
        assert_eq!(a["tools"][0]["input_schema"]["type"], "object");
        assert_eq!(a["tool_choice"]["type"], "any");
    }

    #[test]
    fn anthropic_request_with_tools_becomes_openai() {
        let body = json!({"model": "m", "max_tokens": 50, "system": [{"type": "text", "text": "sys"}], "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "calling"}, {"type": "tool_use", "id": "tu_1", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": [{"type": "text", "text": "42"}]}]}
        ], "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}], "tool_choice": {"type": "tool", "name": "f"}});
        let o = anthropic_to_openai_request(&body, "gpt-x").unwrap();
        assert_eq!(
            o["messages"][0],
            json!({"role": "system", "content": "sys"})
        );
        assert_eq!(
            o["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":1}"
        );
        assert_eq!(
            o["messages"][3],
            json!({"role": "tool", "tool_call_id": "tu_1", "content": "42"})
        );
        assert_eq!(o["tools"][0]["function"]["parameters"]["type"], "object");
        assert_eq!(o["tool_choice"]["function"]["name"], "f");
    }

    #[test]
    fn responses_translate_both_ways() {
        let u = Usage {
            input_tokens: 10,
            output_tokens: 5,
            ..Default::default()
        };
        let anth = json!({"content": [{"type": "text", "text": "hi"}, {"type": "tool_use", "id": "t", "name": "f", "input": {"x": 1}}], "stop_reason": "tool_use"});
        let o = anthropic_to_openai_response(&anth, "gen_1", "m", 0, &u);
        assert_eq!(o["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            o["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"x\":1}"
        );
        let back = openai_to_anthropic_response(&o, "msg_1", "m", &u);
        assert_eq!(back["stop_reason"], "tool_use");
        assert_eq!(back["content"][1]["input"]["x"], 1);
        assert_eq!(back["usage"]["input_tokens"], 10);
    }
}
