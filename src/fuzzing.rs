//! Fuzzing entry points: one function per fuzz target, each taking arbitrary bytes and
//! asserting what must hold for ANY input — no panic, and output that is well formed.
//!
//! Why this lives in the library: the same checks run two ways. `fuzz/` (cargo-fuzz,
//! libFuzzer, nightly only) calls them for long coverage-guided runs; `tests/fuzz_smoke.rs`
//! calls them on stable in CI over the seed corpus and proptest-generated near-valid inputs.
//! Written once here, the invariants are compiled and linted by every build, so they cannot
//! drift from the code they check. Nothing in the server calls this module. See
//! `docs/fuzzing.md`.
//!
//! A failed assertion is a finding: it panics with the offending value in the message, which
//! libFuzzer turns into a crash file and proptest into a minimal failing case.

use std::sync::OnceLock;

use bytes::Bytes;
use eventsource_stream::{Event, Eventsource};
use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::budgets::enforce;
use crate::catalog::ProviderKind;
use crate::catalog::{check_price_version, seed, NewModel};
use crate::error::{ApiError, ErrorKind};
use crate::gateway::hub::HubStream;
use crate::gateway::stream::{AnthropicPassthrough, OpenAiPassthrough, Translate};
use crate::gateway::usage::{self, Reported, MAX_TOKENS_PER_CALL};
use crate::gateway::{tokens, upstream};
use crate::money;
use crate::pricing::{Prices, Usage};
use crate::protocol::canonical::Answer;
use crate::protocol::{anthropic, chat, responses};

/// The catalog id the translators rename every answer to.
const MODEL: &str = "fuzz-model";
/// The provider's own model name written into translated requests.
const UPSTREAM_MODEL: &str = "fuzz-upstream-model";
/// A provider key that must never reach the caller through an error event.
const SECRET: &str = "sk-fuzz-provider-secret-0123456789";

// ---------- SSE relay ----------

/// Bytes at the start of an `sse_relay` input that steer the run instead of being stream
/// text: one flags byte, then up to four chunk lengths.
pub const SSE_HEADER: usize = 5;

/// Which protocol the caller reads.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Client {
    OpenAi,
    Anthropic,
}

/// Costs handed to `finish`, picked by the flags byte (the largest `Decimal` included: the
/// usage chunk's `cost` number must still be valid JSON).
fn finish_cost(flags: u8) -> Decimal {
    match (flags >> 2) % 4 {
        0 => Decimal::ZERO,
        1 => Decimal::new(1, 12),
        2 => Decimal::new(123_456_789_012_345, 12),
        _ => Decimal::MAX,
    }
}

/// The SSE relay as `gateway::relay` runs it, over upstream bytes chosen by the input.
///
/// Input layout: byte 0 is flags (bit 0: the client asked for usage; bit 1: the gateway cuts
/// the stream with `truncate`; bits 2-3: the cost passed to `finish`); bytes 1..5 are chunk
/// lengths (each `b + 1`, cycled) that split the rest — the upstream's SSE text — into the
/// chunks the network delivered. The text is parsed by `eventsource_stream` exactly as the
/// relay does (it stops at the first parse error, as the relay ends a broken stream), and every
/// event goes through all four translators until each sees its upstream's end or error.
///
/// Asserts, for every translator: every chunk it writes is one well-formed SSE frame (UTF-8,
/// no `\r`, ends with `"\n\n"` and has no blank line inside, `event: <name>` then one `data:`
/// line for Anthropic clients, one `data:` line for OpenAI clients, the data a JSON object or
/// OpenAI's `[DONE]`); OpenAI-client chunks carry the catalog model name and never relay an
/// upstream `error` object; Anthropic `message_start` carries the catalog model name; reported
/// usage, when valid, is within [`MAX_TOKENS_PER_CALL`]-derived bounds; `finish` ends with
/// `data: [DONE]` / `message_stop`; the error event is a frame of the client's protocol and
/// never contains the provider's key, whatever the upstream's error message said.
pub fn sse_relay(data: &[u8]) {
    let (header, body) = data.split_at(data.len().min(SSE_HEADER));
    let flags = header.first().copied().unwrap_or(0);
    let sizes = header.get(1..).unwrap_or(&[]);
    let events = parse_events(split_chunks(body, sizes));
    let wants_usage = flags & 1 != 0;
    let chat_ctx = chat::caller::Context {
        id: "gen_fuzz".into(),
        model: MODEL.into(),
        created: 1,
    };
    let to_chat = |kind| {
        let encoder = chat::caller::ChatEncoder::new(chat_ctx.clone(), wants_usage);
        HubStream::new(kind, None, Box::new(encoder))
    };
    let to_messages = |kind| {
        let encoder = anthropic::caller::MessagesEncoder::new("msg_gen_fuzz", MODEL);
        HubStream::new(kind, Some("fuzz_answer".into()), Box::new(encoder))
    };
    let translators: [(Box<dyn Translate>, Client); 4] = [
        (
            Box::new(OpenAiPassthrough::new(MODEL, wants_usage)),
            Client::OpenAi,
        ),
        (
            Box::new(AnthropicPassthrough::new(MODEL)),
            Client::Anthropic,
        ),
        (Box::new(to_chat(ProviderKind::Anthropic)), Client::OpenAi),
        (
            Box::new(to_messages(ProviderKind::Openai)),
            Client::Anthropic,
        ),
    ];
    for (translator, client) in translators {
        relay_one(translator, client, &events, flags);
    }
}

/// Splits `body` into network chunks of the lengths in `sizes` (cycled, each `b + 1`).
fn split_chunks<'a>(body: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    if sizes.is_empty() {
        return vec![body];
    }
    let mut out = Vec::new();
    let mut rest = body;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((usize::from(*size) + 1).min(rest.len()));
        out.push(chunk);
        rest = tail;
    }
    out
}

/// The events the relay would see: those before the first parse error.
fn parse_events(chunks: Vec<&[u8]>) -> Vec<Event> {
    let stream = futures::stream::iter(
        chunks
            .into_iter()
            .map(Ok::<&[u8], std::convert::Infallible>),
    )
    .eventsource()
    .take_while(|e| futures::future::ready(e.is_ok()))
    .filter_map(|e| futures::future::ready(e.ok()));
    futures::executor::block_on(stream.collect())
}

fn relay_one(mut t: Box<dyn Translate>, client: Client, events: &[Event], flags: u8) {
    for e in events {
        for frame in t.on_event(&e.event, &e.data) {
            check_frame(&frame, client, false);
        }
        let p = t.progress();
        if p.upstream_error.is_some() || p.complete {
            break;
        }
    }
    // The relay's output meter tokenizes the generated text.
    let _ = tokens::count_text(&t.progress().text);
    let reported = t.usage();
    if let Reported::Valid(u) = &reported {
        check_usage_bounds(u);
    }
    if flags & 2 != 0 {
        for frame in t.truncate() {
            check_frame(&frame, client, false);
        }
    }
    let u = reported.valid().unwrap_or(Usage {
        input_tokens: 12,
        output_tokens: 34,
        ..Usage::default()
    });
    let closing = t.finish(&u, finish_cost(flags));
    for frame in &closing {
        check_frame(frame, client, false);
    }
    let last = closing.last().expect("finish writes the closing event");
    match client {
        Client::OpenAi => assert_eq!(&last[..], b"data: [DONE]\n\n"),
        Client::Anthropic => assert!(
            last.starts_with(b"event: message_stop\n"),
            "finish did not end with message_stop: {last:?}"
        ),
    }
    // The relay's own upstream-error message (`Relay::upstream_error`), redacted the same way.
    let err = match &t.progress().upstream_error {
        Some((message, kind)) => {
            let message = upstream::redact(message, Some(SECRET));
            let message = match kind {
                Some(k) => format!("the upstream provider reported an error ({k}): {message}"),
                None => format!("the upstream provider reported an error: {message}"),
            };
            ApiError::new(ErrorKind::BadGateway, "upstream_error", message)
        }
        None => ApiError::new(
            ErrorKind::BadGateway,
            "upstream_stream_error",
            "the upstream stream broke off",
        ),
    };
    let frame = t.error(&err);
    check_frame(&frame, client, true);
    assert!(
        !String::from_utf8_lossy(&frame).contains(SECRET),
        "the provider key reached the caller: {frame:?}"
    );
}

/// One client SSE frame is well formed for `client`'s protocol (see [`sse_relay`]).
fn check_frame(frame: &Bytes, client: Client, is_error: bool) {
    let text =
        std::str::from_utf8(frame).unwrap_or_else(|_| panic!("frame is not UTF-8: {frame:?}"));
    let body = text
        .strip_suffix("\n\n")
        .unwrap_or_else(|| panic!("frame does not end with a blank line: {text:?}"));
    assert!(
        !body.is_empty() && !body.contains('\r') && !body.contains("\n\n"),
        "frame has a stray line break: {text:?}"
    );
    let lines: Vec<&str> = body.split('\n').collect();
    let data = match (client, lines.as_slice()) {
        (Client::OpenAi, [data]) => *data,
        (Client::Anthropic, [event, data]) => {
            let name = event
                .strip_prefix("event: ")
                .unwrap_or_else(|| panic!("first line is not an event name: {text:?}"));
            assert!(
                !name.is_empty() && !name.contains(['\r', '\n']),
                "bad event name: {text:?}"
            );
            assert!(
                is_error || name != "error",
                "an upstream error event was relayed: {text:?}"
            );
            *data
        }
        _ => panic!("frame has the wrong lines for a {client:?} client: {text:?}"),
    };
    let data = data
        .strip_prefix("data: ")
        .unwrap_or_else(|| panic!("no data line: {text:?}"));
    if client == Client::OpenAi && data == "[DONE]" {
        return;
    }
    let v: Value =
        serde_json::from_str(data).unwrap_or_else(|e| panic!("data is not JSON ({e}): {text:?}"));
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("data is not a JSON object: {text:?}"));
    match client {
        Client::OpenAi if is_error => assert!(obj.contains_key("error"), "{text:?}"),
        Client::OpenAi => {
            assert!(
                !obj.contains_key("error"),
                "an upstream error was relayed: {text:?}"
            );
            assert_eq!(obj.get("model"), Some(&Value::from(MODEL)), "{text:?}");
        }
        Client::Anthropic => {
            if lines[0] == "event: message_start" {
                if let Some(m) = v.get("message").filter(|m| m.is_object()) {
                    assert_eq!(m.get("model"), Some(&Value::from(MODEL)), "{text:?}");
                }
            }
        }
    }
}

// ---------- translators ----------

/// The request and whole-response translators, and the gateway's input estimates, on any JSON.
///
/// Asserts: no panic; an OpenAI request that translates gives an Anthropic request with the
/// upstream model, `max_tokens`, and non-empty `user`/`assistant` turns that alternate (as the
/// Anthropic API requires); an Anthropic request always gives an OpenAI request with the
/// upstream model and a role on every message; both response translators give a response
/// with the gateway's id, model and usage. `count_request` and `input_bound` must not panic
/// (neither bounds the other for every JSON value: `input_bound` skips image objects whose
/// text `count_request` still reads, and counts bytes where the tokenizer may count a
/// separator per string).
pub fn translate(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let u = Usage {
        input_tokens: 100,
        cached_input_tokens: 30,
        cache_write_tokens: 20,
        cache_write_1h_tokens: 5,
        output_tokens: 50,
        reasoning_tokens: 10,
        images: 0,
        web_search_requests: 0,
        service_tier: None,
    };

    let decoded = [
        chat::caller::decode_request(&body),
        anthropic::caller::decode_request(&body),
        responses::decode_request(&body),
    ];
    for req in decoded.into_iter().flatten() {
        if let Ok(a) = anthropic::encode_request(&req, UPSTREAM_MODEL, Some(1000)) {
            check_anthropic_request(&a);
            // The translated request is itself a valid input to the reverse direction.
            if let Ok(back) = anthropic::caller::decode_request(&a) {
                check_chat_request(&chat::encode_request(&back, MODEL, false));
            }
        }
        check_chat_request(&chat::encode_request(&req, UPSTREAM_MODEL, false));
    }

    for answer in [
        anthropic::decode_answer(&body, Some("fuzz_answer")),
        chat::decode_answer(&body),
    ] {
        check_answers(&answer, &u);
    }

    let _ = tokens::count_request(&body);
    let _ = tokens::count_images(&body);
    let _ = enforce::input_bound(&body);
    let _ = enforce::server_tools(&body);
    assert!(enforce::choices(&body) >= 1);
}

/// An Anthropic request as the API requires it: the upstream model, `max_tokens`, non-empty
/// `user`/`assistant` turns that alternate.
fn check_anthropic_request(a: &Value) {
    assert_eq!(a["model"], UPSTREAM_MODEL, "{a}");
    assert!(a["max_tokens"].is_u64(), "{a}");
    let turns = a["messages"].as_array().expect("messages is an array");
    let mut last_role = None;
    for t in turns {
        let role = t["role"].as_str().expect("every turn has a role");
        assert!(matches!(role, "user" | "assistant"), "{a}");
        assert_ne!(Some(role), last_role, "turns do not alternate: {a}");
        last_role = Some(role);
        assert!(
            t["content"].as_array().is_some_and(|c| !c.is_empty()),
            "empty turn: {a}"
        );
    }
    assert!(a
        .get("tools")
        .is_none_or(|t| t.as_array().is_some_and(|t| !t.is_empty())));
    let _ = tokens::count_request(a);
    let _ = enforce::input_bound(a);
}

/// A chat request: a role on every message, never an empty `tools`.
fn check_chat_request(o: &Value) {
    for m in o["messages"].as_array().expect("messages is an array") {
        assert!(m["role"].is_string(), "message without a role: {o}");
    }
    assert!(o
        .get("tools")
        .is_none_or(|t| t.as_array().is_some_and(|t| !t.is_empty())));
    let _ = tokens::count_request(o);
}

/// Every caller protocol's answer carries the gateway's id, model and usage.
fn check_answers(answer: &Answer, u: &Usage) {
    let ctx = chat::caller::Context {
        id: "gen_fuzz".into(),
        model: MODEL.into(),
        created: 1,
    };
    let r = chat::caller::encode_answer(&ctx, answer, u);
    assert_eq!(r["id"], "gen_fuzz");
    assert_eq!(r["model"], MODEL);
    assert_eq!(r["choices"][0]["message"]["role"], "assistant", "{r}");
    // OpenAI's usage has no cache-write lifetimes: every write is in `cache_write_tokens`.
    let without_lifetimes = Usage {
        cache_write_1h_tokens: 0,
        ..*u
    };
    assert_eq!(
        usage::from_openai(&r["usage"]),
        Reported::Valid(without_lifetimes)
    );

    let r = anthropic::caller::encode_answer("msg_fuzz", MODEL, answer, u);
    assert_eq!(r["type"], "message");
    assert_eq!(r["model"], MODEL);
    assert!(r["content"].is_array(), "{r}");
    // Anthropic's usage has no reasoning split: reasoning tokens are output tokens there.
    let without_reasoning = Usage {
        reasoning_tokens: 0,
        ..*u
    };
    assert_eq!(
        usage::from_anthropic(&r["usage"]),
        Reported::Valid(without_reasoning)
    );

    let ctx = responses::Context::new("gen_fuzz", MODEL, 1, &Value::Null);
    let r = responses::encode_answer(&ctx, answer, u, Decimal::ONE);
    assert_eq!(r["model"], MODEL);
    assert!(r["output"].as_array().is_some_and(|o| !o.is_empty()), "{r}");
}

// ---------- upstream usage ----------

/// Every count of a usage the gateway accepted is within the per-call bound (Anthropic's
/// `input_tokens`, the sum of three reported fields, included).
fn check_usage_bounds(u: &Usage) {
    let max = MAX_TOKENS_PER_CALL;
    assert!(u.input_tokens <= max, "{u:?}");
    for n in [
        u.cached_input_tokens,
        u.cache_write_tokens,
        u.output_tokens,
        u.reasoning_tokens,
    ] {
        assert!(n <= max, "{u:?}");
    }
    assert!(u.cache_write_1h_tokens <= u.cache_write_tokens, "{u:?}");
    assert!(
        u.web_search_requests <= usage::MAX_WEB_SEARCHES_PER_CALL,
        "{u:?}"
    );
    assert_eq!(u.images, 0, "usage reports never carry images: {u:?}");
}

/// The seed catalog's price versions (the prices a fresh install charges).
fn seed_prices() -> &'static [Prices] {
    static PRICES: OnceLock<Vec<Prices>> = OnceLock::new();
    PRICES.get_or_init(|| {
        let mut s = seed::Seed::default();
        s.add("built-in catalog.toml", seed::BUILTIN)
            .expect("the built-in seeds are valid");
        s.models.into_iter().flat_map(|m| m.prices).collect()
    })
}

/// The most expensive prices that validate (every rate and fee at its maximum).
fn max_prices() -> Prices {
    let top = Decimal::from(1_000_000);
    Prices {
        input_per_mtok: top,
        output_per_mtok: top,
        cached_input_per_mtok: Some(top),
        cache_write_per_mtok: Some(top),
        cache_write_1h_per_mtok: Some(top),
        reasoning_per_mtok: Some(top),
        per_request: top,
        per_image: top,
        per_web_search: top,
        tiers: vec![],
        service_tiers: vec![],
        effective_from: None,
    }
}

/// Upstream usage objects, as either protocol reports them.
///
/// Asserts: no panic; a `Valid` usage is within [`MAX_TOKENS_PER_CALL`]-derived bounds,
/// survives the gateway's own rendering (`to_openai`/`to_anthropic` then parsing again gives
/// the same usage), costs whole picodollars at every seed catalog price (`to_picos`
/// succeeds and round-trips), and even at the largest valid prices `Prices::cost` does not
/// overflow; an `Invalid` report keeps at most 1 KiB of the raw object. A JSON array is
/// also merged element by element as Anthropic stream usage (`merge_anthropic`).
pub fn usage(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let openai = usage::from_openai(&v);
    let anthropic = usage::from_anthropic(&v);
    if let Reported::Valid(u) = &openai {
        assert_eq!(usage::from_openai(&usage::to_openai(u)), openai);
    }
    if let Reported::Valid(u) = &anthropic {
        assert_eq!(usage::from_anthropic(&usage::to_anthropic(u)), anthropic);
    }
    let mut merged = Value::Null;
    for part in v.as_array().into_iter().flatten() {
        usage::merge_anthropic(&mut merged, part);
    }
    for reported in [openai, anthropic, usage::from_anthropic(&merged)] {
        match reported {
            Reported::Valid(u) => check_usage_cost(&u),
            Reported::Invalid { raw, .. } => {
                assert!(raw.chars().count() <= 1025, "raw report kept whole")
            }
            Reported::Absent => {}
        }
    }
}

fn check_usage_cost(u: &Usage) {
    check_usage_bounds(u);
    let _ = max_prices().cost(u);
    for p in seed_prices() {
        let cost = p.cost(u);
        let picos =
            money::to_picos(cost).unwrap_or_else(|| panic!("cost {cost} of {u:?} is not storable"));
        assert_eq!(money::from_picos(picos), cost.normalize());
    }
}

// ---------- catalog price input ----------

/// Admin price input: a price version (`POST /admin/models/{id}/prices`) and a whole new
/// model (`POST /admin/models`), parsed exactly as the admin API parses bodies.
///
/// Asserts: parsing and validation never panic; a price that validates costs an exact whole
/// number of picodollars (`to_picos` succeeds and `from_picos` gives the cost back) for
/// token counts up to a million of each kind plus each tier's threshold, never a negative
/// amount, prices without tiers are linear (two calls cost what their summed usage costs),
/// and the price survives its own JSON rendering unchanged.
pub fn price_input(data: &[u8]) {
    if let Ok(p) = crate::api::extract::parse_json::<Prices>(data) {
        if check_price_version(&p).is_ok() {
            check_exact(&p);
        }
    }
    if let Ok(m) = crate::api::extract::parse_json::<NewModel>(data) {
        if let Ok(parts) = m.into_parts() {
            for p in &parts.prices {
                check_exact(p);
            }
        }
    }
}

fn usage_of(input: u64, cached: u64, write: u64, output: u64, reasoning: u64) -> Usage {
    Usage {
        input_tokens: input,
        cached_input_tokens: cached,
        cache_write_tokens: write,
        // A third of the writes for one hour.
        cache_write_1h_tokens: write / 3,
        output_tokens: output,
        reasoning_tokens: reasoning,
        images: 1,
        web_search_requests: 2,
        service_tier: None,
    }
}

fn check_exact(p: &Prices) {
    let mut samples = vec![
        Usage::default(),
        usage_of(1, 0, 0, 1, 0),
        usage_of(1, 1, 0, 1, 1),
        usage_of(7, 3, 4, 5, 5),
        usage_of(1000, 300, 200, 500, 100),
        usage_of(999_999, 333_333, 1, 999_999, 7),
        usage_of(1_000_000, 0, 0, 1_000_000, 1_000_000),
        usage_of(1_000_000, 400_000, 600_000, 1_000_000, 0),
    ];
    for t in &p.tiers {
        if let Some(n) = t
            .above_input_tokens
            .checked_add(1)
            .filter(|n| *n <= 1_000_000)
        {
            samples.push(usage_of(n, n / 3, n / 5, 10, 5));
        }
    }
    for u in &samples {
        let cost = p.cost(u);
        assert!(!cost.is_sign_negative() || cost.is_zero(), "{cost} < 0");
        let picos = money::to_picos(cost)
            .unwrap_or_else(|| panic!("cost {cost} of {u:?} at {p:?} is not whole picodollars"));
        assert_eq!(money::from_picos(picos), cost.normalize(), "{p:?}");
    }
    if p.tiers.is_empty() {
        let (a, b) = (samples[3], samples[4]);
        let sum = Usage {
            input_tokens: a.input_tokens + b.input_tokens,
            cached_input_tokens: a.cached_input_tokens + b.cached_input_tokens,
            cache_write_tokens: a.cache_write_tokens + b.cache_write_tokens,
            cache_write_1h_tokens: a.cache_write_1h_tokens + b.cache_write_1h_tokens,
            output_tokens: a.output_tokens + b.output_tokens,
            reasoning_tokens: a.reasoning_tokens + b.reasoning_tokens,
            images: a.images + b.images,
            web_search_requests: a.web_search_requests + b.web_search_requests,
            service_tier: None,
        };
        assert_eq!(p.cost_of_sum(&sum, 2), Some(p.cost(&a) + p.cost(&b)));
    }
    let again: Prices = serde_json::from_value(serde_json::to_value(p).expect("prices serialize"))
        .expect("rendered prices parse");
    assert_eq!(&again, p);
}
