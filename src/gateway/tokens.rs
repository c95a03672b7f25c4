//! Local token counting, for `count_tokens`, estimates, and calls whose upstream reported no
//! usage. Uses OpenAI's `o200k_base` BPE (exact for recent OpenAI models, a documented estimate
//! for every other family), plus OpenAI's per-message framing overhead.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

/// Tokens OpenAI's chat format adds per message and per reply.
const PER_MESSAGE: u64 = 3;
const PER_REPLY: u64 = 3;

static BPE: OnceLock<CoreBPE> = OnceLock::new();

fn bpe() -> &'static CoreBPE {
    BPE.get_or_init(|| tiktoken_rs::o200k_base().expect("bundled o200k_base vocabulary loads"))
}

/// Loads the vocabulary ahead of the first call that needs it (`TOLLGATE_TOKENIZER_PRELOAD`).
pub fn warm_up() {
    let _ = bpe();
}

/// True on a multi-threaded async runtime, where a long computation can be moved off the
/// runtime with `block_in_place`.
fn on_multi_thread_runtime() -> bool {
    use tokio::runtime::{Handle, RuntimeFlavor};
    Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
}

/// The vocabulary is loaded on first use (it is most of the process's memory and most calls
/// never need it); that first load, about 0.2 s, runs with the runtime told that this thread
/// blocks, so other calls are not held up behind it.
fn ensure_loaded() {
    if BPE.get().is_some() {
        return;
    }
    if on_multi_thread_runtime() {
        tokio::task::block_in_place(warm_up);
    } else {
        warm_up();
    }
}

/// Longest piece of text tokenized at once. BPE merging is quadratic in the length of one
/// pre-tokenized word, so one 19 MB "word" took 35 s; counting in pieces of at most this many
/// bytes makes the cost linear in the text, and moves the count by at most one token per piece
/// boundary (pieces are cut after whitespace where there is any).
const PIECE: usize = 8 * 1024;

/// Texts longer than this are counted with the async runtime told that this thread blocks.
const OFFLOAD: usize = 64 * 1024;

/// Tokens in a piece of text, in time linear in its length. A long text on a multi-threaded
/// runtime is counted inside `block_in_place`, so the runtime moves its other tasks off this
/// thread meanwhile (a 20 MB request takes about a second).
pub fn count_text(text: &str) -> u64 {
    ensure_loaded();
    if text.len() > OFFLOAD && on_multi_thread_runtime() {
        tokio::task::block_in_place(|| count_pieces(text))
    } else {
        count_pieces(text)
    }
}

fn count_pieces(text: &str) -> u64 {
    let mut total = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let cut = piece_end(rest);
        total += bpe().encode_ordinary(&rest[..cut]).len() as u64;
        rest = &rest[cut..];
    }
    total
}

/// Where the next piece of `text` ends: all of it when short, else after the last whitespace
/// within [`PIECE`] bytes, else at the last character boundary within it.
fn piece_end(text: &str) -> usize {
    if text.len() <= PIECE {
        return text.len();
    }
    let mut limit = PIECE;
    while !text.is_char_boundary(limit) {
        limit -= 1;
    }
    match text[..limit].rfind(char::is_whitespace) {
        Some(i) if i > 0 => i,
        _ => limit,
    }
}

/// Collects every string that a model reads from a JSON value (message text, tool schemas).
fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(s);
        }
        Value::Array(items) => items.iter().for_each(|i| collect_text(i, out)),
        Value::Object(map) => {
            for (k, v) in map {
                if matches!(
                    k.as_str(),
                    "type"
                        | "role"
                        | "tool_call_id"
                        | "tool_use_id"
                        | "id"
                        | "cache_control"
                        | "media_type"
                        | "source"
                        | "image_url"
                        | "call_id"
                ) {
                    continue;
                }
                collect_text(v, out);
            }
        }
        _ => {}
    }
}

/// Estimated input tokens of a chat request in either format (messages, system, tools and
/// legacy functions; image data is left out, images are priced apart).
pub fn count_request(body: &Value) -> u64 {
    let messages = body
        .get("messages")
        .or_else(|| body.get("input"))
        .and_then(Value::as_array)
        .map_or(1, Vec::len) as u64;
    let mut text = String::new();
    for field in [
        "system",
        "instructions",
        "messages",
        "input",
        "tools",
        "functions",
    ] {
        if let Some(v) = body.get(field) {
            collect_text(v, &mut text);
        }
    }
    count_text(&text) + messages * PER_MESSAGE + PER_REPLY
}

/// Images in a request, for per-image fees.
pub fn count_images(body: &Value) -> u64 {
    let Some(messages) = body
        .get("messages")
        .or_else(|| body.get("input"))
        .and_then(Value::as_array)
    else {
        return 0;
    };
    messages
        .iter()
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten()
        .filter(|part| {
            matches!(
                part.get("type").and_then(Value::as_str),
                Some("image_url" | "image" | "input_image")
            )
        })
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_text_and_framing() {
        assert_eq!(count_text("hello world"), 2);
        let body = json!({"messages": [{"role": "user", "content": "hello world"}]});
        assert_eq!(count_request(&body), 2 + PER_MESSAGE + PER_REPLY);
    }

    #[test]
    fn long_text_counts_in_linear_time_and_about_the_same() {
        let prose = "The quick brown fox jumps over the lazy dog. ".repeat(2_000);
        let whole = bpe().encode_ordinary(&prose).len() as u64;
        let pieced = count_text(&prose);
        assert!(whole.abs_diff(pieced) <= prose.len() as u64 / PIECE as u64 + 1);
        // One 4 MB word with multi-byte characters: pieces never split a character.
        let word = "é".repeat(2_000_000);
        assert!(count_text(&word) > 0);
    }

    #[test]
    fn counts_images_in_both_formats() {
        let body = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
        ]}]});
        assert_eq!(count_images(&body), 2);
    }
}
