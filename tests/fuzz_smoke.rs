//! The short, stable-toolchain run of the fuzz targets that CI does (the long runs use
//! cargo-fuzz on nightly; see docs/fuzzing.md). Each entry point of `tollgate::fuzzing` runs
//! over its seed corpus (`fuzz/corpus/<target>/`, which also keeps every input that once
//! failed) and over a bounded number of proptest-generated inputs. Random bytes rarely get past
//! a JSON or SSE parser, so most generated inputs are near-valid: real protocol messages with
//! a few values swapped for hostile ones (wrong types, negative, huge, fractional numbers,
//! strings with line breaks, `[DONE]`, the provider key), rendered as SSE with every line
//! ending, multi-line `data:` fields and arbitrary chunk boundaries.

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Value};
use tollgate::fuzzing;

/// Generated cases per property; the whole file runs in a few seconds in a debug build.
/// `FUZZ_SMOKE_CASES=100000` runs longer, still on stable.
const CASES: u32 = 300;

fn config() -> Config {
    let cases = std::env::var("FUZZ_SMOKE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CASES);
    Config {
        cases,
        // Failures are kept by hand, as seed files, so there is no regression file to write.
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------- the seed corpus ----------

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("seed readable");
            (p, bytes)
        })
        .collect()
}

fn run_corpus(target: &str, f: fn(&[u8])) {
    let failed: Vec<String> = corpus(target)
        .into_iter()
        .filter(|(_, bytes)| std::panic::catch_unwind(|| f(bytes)).is_err())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target} failed on {failed:#?}");
}

#[test]
fn sse_relay_seed_corpus() {
    run_corpus("sse_relay", fuzzing::sse_relay);
}

#[test]
fn translate_seed_corpus() {
    run_corpus("translate", fuzzing::translate);
}

#[test]
fn usage_seed_corpus() {
    run_corpus("usage", fuzzing::usage);
}

#[test]
fn price_input_seed_corpus() {
    run_corpus("price_input", fuzzing::price_input);
}

// ---------- near-valid values ----------

/// Values a broken or hostile peer puts where a well-formed one belongs.
fn hostile_value() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        Just(""),
        Just("[DONE]"),
        Just("data: x"),
        Just("line\nbreak"),
        Just("cr\rlf\r\n"),
        Just("\n\n"),
        Just("message_start"),
        Just("message_stop"),
        Just("error"),
        Just("tool_use"),
        Just("text"),
        Just("image"),
        Just("image_url"),
        Just("assistant"),
        Just("user"),
        Just("length"),
        Just("é😀\u{0}"),
        Just("sk-fuzz-provider-secret-0123456789"),
        Just("data:image/png;base64,AAAA"),
        Just("{\"partial\": "),
        Just("1e400"),
        Just("-0.0000001"),
        Just("79228162514264337593543950336"),
    ]
    .prop_map(|s| Value::String(s.into()));
    let number = prop_oneof![
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!(1e20)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(100_000_000u64)),
        Just(json!(100_000_001u64)),
        any::<u32>().prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number,
        text,
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..3)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Keys the gateway reads, so generated objects reach its code paths.
fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "type",
        "role",
        "content",
        "text",
        "index",
        "delta",
        "choices",
        "message",
        "usage",
        "error",
        "model",
        "id",
        "tool_calls",
        "function",
        "arguments",
        "name",
        "input",
        "partial_json",
        "content_block",
        "stop_reason",
        "finish_reason",
        "prompt_tokens",
        "completion_tokens",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "messages",
        "system",
        "tools",
        "source",
        "image_url",
        "url",
        "input_per_mtok",
        "output_per_mtok",
        "tiers",
    ])
    .prop_map(String::from)
}

/// Every JSON pointer inside `v` (the root included).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(item, format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// A mutation: which place (an index into the value's pointers, taken modulo their count)
/// gets which value, or which place is removed.
type Mutation = (usize, Option<Value>);

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(
        (
            any::<usize>(),
            prop::option::weighted(0.85, hostile_value()),
        ),
        0..4,
    )
}

/// `template` with each mutation applied.
fn mutate(mut v: Value, muts: &[Mutation]) -> Value {
    for (at, replacement) in muts {
        let mut places = Vec::new();
        pointers(&v, String::new(), &mut places);
        let place = &places[at % places.len()];
        match replacement {
            Some(new) => {
                if let Some(slot) = v.pointer_mut(place) {
                    *slot = new.clone();
                }
            }
            None => {
                let (parent, last) = place.rsplit_once('/').unwrap_or(("", ""));
                match v.pointer_mut(parent) {
                    Some(Value::Object(m)) => {
                        m.remove(&last.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(i) = last.parse::<usize>() {
                            if i < a.len() {
                                a.remove(i);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    v
}

/// A template chosen from `templates`, mutated.
fn near(templates: Vec<Value>) -> impl Strategy<Value = Value> {
    (prop::sample::select(templates), mutations()).prop_map(|(t, m)| mutate(t, &m))
}

// ---------- SSE ----------

fn openai_chunk(delta: Value, finish: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn sse_templates() -> Vec<Value> {
    vec![
        openai_chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        openai_chunk(json!({"content": "Hello"}), Value::Null),
        openai_chunk(json!({"reasoning_content": "think"}), Value::Null),
        openai_chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "f", "arguments": ""}}]}),
            Value::Null,
        ),
        openai_chunk(
            json!({"tool_calls": [{"index": 1, "function": {"arguments": "{\"a\":1}"}}]}),
            Value::Null,
        ),
        openai_chunk(json!({}), json!("stop")),
        openai_chunk(json!({}), json!("tool_calls")),
        json!({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3,
            "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 1}}}),
        json!({"error": {"message": "boom sk-fuzz-provider-secret-0123456789", "type": "server_error"}}),
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "model": "claude", "content": [], "usage": {"input_tokens": 25, "cache_read_input_tokens": 10,
            "cache_creation_input_tokens": 5, "output_tokens": 1}}}),
        json!({"type": "ping"}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use",
            "id": "toolu_1", "name": "f", "input": {}}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta",
            "partial_json": "{\"x\": 1}"}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": 15}}),
        json!({"type": "message_stop"}),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ]
}

/// How one event is written on the wire.
#[derive(Debug, Clone)]
struct Wire {
    /// `event:` line: none, the data's own `type`, or another name.
    name: Option<Option<String>>,
    /// Pretty-printed JSON spread over several `data:` lines.
    multiline: bool,
    /// Raw `[DONE]` instead of the JSON.
    done: bool,
    /// A comment line before the event.
    comment: bool,
}

fn wire() -> impl Strategy<Value = Wire> {
    (
        prop::option::of(prop::option::of(prop::sample::select(vec![
            "message",
            "ping",
            "error",
            "message_start",
            "content_block_delta",
            "",
            "x y",
        ]))),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.08),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(name, multiline, done, comment)| Wire {
            name: name.map(|n| n.map(String::from)),
            multiline,
            done,
            comment,
        })
}

/// Upstream SSE text with an `sse_relay` header: near-valid events of both protocols in any
/// order, written with one of the three line endings, sometimes unterminated at the end.
fn sse_input() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<[u8; fuzzing::SSE_HEADER]>(),
        prop::collection::vec((near(sse_templates()), wire()), 0..10),
        prop::sample::select(vec!["\n", "\r\n", "\r"]),
        any::<bool>(),
    )
        .prop_map(|(header, events, eol, terminated)| {
            let mut text = String::new();
            for (v, w) in events {
                if w.comment {
                    text += &format!(": keep-alive{eol}");
                }
                match w.name {
                    None => {}
                    Some(None) => {
                        let name = v["type"].as_str().unwrap_or("message");
                        text += &format!("event: {name}{eol}");
                    }
                    Some(Some(n)) => text += &format!("event: {n}{eol}"),
                }
                let data = if w.done {
                    "[DONE]".to_string()
                } else if w.multiline {
                    serde_json::to_string_pretty(&v).expect("serializes")
                } else {
                    v.to_string()
                };
                for line in data.split('\n') {
                    text += &format!("data: {line}{eol}");
                }
                text += eol;
            }
            if !terminated {
                text.truncate(text.len().saturating_sub(eol.len()));
            }
            let mut bytes = header.to_vec();
            bytes.extend_from_slice(text.as_bytes());
            bytes
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sse_relay_on_near_valid_streams(input in sse_input()) {
        fuzzing::sse_relay(&input);
    }

    #[test]
    fn sse_relay_on_bytes(input in prop::collection::vec(any::<u8>(), 0..300)) {
        fuzzing::sse_relay(&input);
    }
}

// ---------- translators ----------

fn request_templates() -> Vec<Value> {
    vec![
        json!({"model": "m", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "f", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "user", "content": "thanks"}],
            "max_tokens": 100, "n": 2, "stop": "END", "stream": true,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "functions": [{"name": "legacy"}], "tool_choice": "required", "user": "u"}),
        json!({"model": "m", "max_tokens": 200, "system": [{"type": "text", "text": "sys"}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}}]},
                {"role": "assistant", "content": [{"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"x": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "42"}], "is_error": true}]}],
            "stop_sequences": ["S"], "tools": [{"name": "f", "input_schema": {"type": "object"}},
                {"type": "web_search_20250305", "name": "web_search"}],
            "tool_choice": {"type": "tool", "name": "f"}, "metadata": {"user_id": "u"}}),
        json!({"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "hello", "tool_calls": [{"id": "call_1",
            "type": "function", "function": {"name": "f", "arguments": "{\"a\":[1]}"}}]},
            "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}),
        json!({"id": "msg_1", "type": "message", "role": "assistant", "content": [
            {"type": "text", "text": "hi"}, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
            "stop_reason": "max_tokens", "usage": {"input_tokens": 3, "output_tokens": 4}}),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn translate_on_near_valid_json(v in near(request_templates())) {
        fuzzing::translate(v.to_string().as_bytes());
    }

    #[test]
    fn translate_on_generated_json(v in hostile_value()) {
        fuzzing::translate(v.to_string().as_bytes());
    }
}

// ---------- usage ----------

fn usage_templates() -> Vec<Value> {
    vec![
        json!({"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 10},
            "completion_tokens_details": {"reasoning_tokens": 20}}),
        json!({"prompt_tokens": 100, "completion_tokens": 50,
            "prompt_tokens_details": {"cache_creation_tokens": 7}}),
        json!({"input_tokens": 10, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 5,
            "output_tokens": 7}),
        json!({"input_tokens": 100_000_000, "cache_read_input_tokens": 100_000_000,
            "cache_creation_input_tokens": 100_000_000, "output_tokens": 100_000_000}),
        json!([{"input_tokens": 25, "output_tokens": 1}, {"output_tokens": 15, "input_tokens": null}]),
    ]
}

/// A token count anywhere in its range, near the per-call bound, or not a count at all.
fn count() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..=200_000_000).prop_map(|n| json!(n)),
        (99_999_990u64..=100_000_010).prop_map(|n| json!(n)),
        hostile_value(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn usage_on_near_valid_reports(v in near(usage_templates())) {
        fuzzing::usage(v.to_string().as_bytes());
    }

    #[test]
    fn usage_on_any_counts(
        fields in prop::collection::vec((prop::sample::select(vec![
            "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens",
            "cache_read_input_tokens", "cache_creation_input_tokens",
        ]), count()), 0..6),
        details in prop::collection::vec((prop::sample::select(vec![
            "cached_tokens", "cache_write_tokens", "cache_creation_tokens",
        ]), count()), 0..3),
        reasoning in prop::option::of(count()),
    ) {
        let mut v: serde_json::Map<String, Value> =
            fields.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
        v.insert("prompt_tokens_details".into(),
            Value::Object(details.into_iter().map(|(k, n)| (k.to_string(), n)).collect()));
        if let Some(r) = reasoning {
            v.insert("completion_tokens_details".into(), json!({"reasoning_tokens": r}));
        }
        fuzzing::usage(Value::Object(v).to_string().as_bytes());
    }
}

// ---------- catalog price input ----------

/// A price as an admin types it: valid decimals of every scale, at the bounds, and not.
fn price() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..=1_000_000, 0u32..=8).prop_map(|(n, scale)| {
            json!(rust_decimal::Decimal::new(n as i64, scale).to_string())
        }),
        (0u64..=1_000_000_000_000, 0u32..=14).prop_map(|(n, scale)| {
            json!(rust_decimal::Decimal::new(n as i64, scale).to_string())
        }),
        prop::sample::select(vec![
            "0",
            "-0",
            "1000000",
            "1000000.000000",
            "1000000.000001",
            "999999.999999",
            "0.000001",
            "0.0000001",
            "0.000000000001",
            "1.000000000000000000000000000",
            "-1",
            "1e3",
            "1E-6",
            " 1",
            "",
            "NaN",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "0.0000000000000000000000000001",
        ])
        .prop_map(|s| json!(s)),
        hostile_value(),
    ]
}

fn tier() -> impl Strategy<Value = Value> {
    (
        prop_oneof![0u64..=2_000_000, any::<u64>()],
        price(),
        price(),
        prop::option::of(price()),
    )
        .prop_map(|(above, i, o, c)| {
            let mut t =
                json!({"above_input_tokens": above, "input_per_mtok": i, "output_per_mtok": o});
            if let Some(c) = c {
                t["cached_input_per_mtok"] = c;
            }
            t
        })
}

fn prices() -> impl Strategy<Value = Value> {
    (
        price(),
        price(),
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "cached_input_per_mtok",
                    "cache_write_per_mtok",
                    "cache_write_1h_per_mtok",
                    "reasoning_per_mtok",
                    "per_request",
                    "per_image",
                ]),
                price(),
            ),
            0..4,
        ),
        prop::collection::vec(tier(), 0..3),
        prop::option::of(prop::sample::select(vec![
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00+14:00",
            "+262143-12-31T23:59:59Z",
            "1970-01-01T00:00:00.123456789Z",
            "not a date",
        ])),
    )
        .prop_map(|(i, o, extra, tiers, from)| {
            let mut p = json!({"input_per_mtok": i, "output_per_mtok": o});
            for (k, v) in extra {
                p[k] = v;
            }
            if !tiers.is_empty() {
                p["tiers"] = Value::Array(tiers);
            }
            if let Some(f) = from {
                p["effective_from"] = json!(f);
            }
            p
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn price_input_on_generated_prices(p in prices()) {
        fuzzing::price_input(p.to_string().as_bytes());
    }

    #[test]
    fn price_input_on_generated_models(ps in prop::collection::vec(prices(), 1..3), single in any::<bool>()) {
        let mut m = json!({"id": "acme-chat", "name": "Acme", "provider": "mock"});
        if single {
            m["price"] = ps[0].clone();
        } else {
            m["prices"] = Value::Array(ps);
        }
        fuzzing::price_input(m.to_string().as_bytes());
    }
}
