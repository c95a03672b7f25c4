//! Wire protocols and the canonical model between them.
//!
//! Each protocol module holds serde types for its requests, answers and stream events, a
//! decoder into [`canonical`] and an encoder out of it. A call whose caller and provider speak
//! the same protocol never comes here (its body passes through with only the model renamed);
//! every other pair is one decoder composed with one encoder. Adding a protocol (Gemini's
//! `generateContent`, say) means one new module implementing the same functions and
//! [`StreamDecoder`]/[`StreamEncoder`]; see docs/gateway.md ("The protocol hub").

pub mod anthropic;
pub mod canonical;
pub mod chat;
pub mod responses;

use bytes::Bytes;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::error::ApiError;
use crate::pricing::Usage;
use canonical::Event;

/// What one upstream stream event meant, beside the canonical events it carried.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// More to come.
    Continue,
    /// The upstream's own terminal event.
    Complete,
    /// The upstream reported an error inside the stream (its error object).
    Error(Value),
}

/// Reads a provider's stream into canonical events.
pub trait StreamDecoder: Send {
    /// Canonical events for one server-sent event (`event` is its name, may be empty).
    fn decode(&mut self, event: &str, data: &str, out: &mut Vec<Event>) -> Signal;
    /// The usage object the upstream reported so far, in its own protocol.
    fn usage(&self) -> Option<&Value>;
    /// The service tier the upstream named beside its usage (OpenAI's chunk-level
    /// `service_tier`; Anthropic reports it inside `usage`).
    fn served_tier(&self) -> Option<&Value> {
        None
    }
}

/// Writes canonical events as a caller's stream. The closing events are held back until
/// [`StreamEncoder::finish`], which runs once the call's record is committed.
pub trait StreamEncoder: Send {
    fn encode(&mut self, event: &Event) -> Vec<Bytes>;
    /// Closes what is open because the gateway ended the stream at the call's output cap.
    fn truncate(&mut self) -> Vec<Bytes>;
    /// The held-back closing events, with the call's usage and cost.
    fn finish(&mut self, usage: &Usage, cost: Decimal) -> Vec<Bytes>;
    /// An error event ending the stream.
    fn error(&mut self, err: &ApiError) -> Bytes;
}

/// A field the target protocol cannot carry and that would change the answer: refused with a
/// 400 naming it, never dropped in silence.
pub fn untranslatable(field: &str, why: &str) -> ApiError {
    ApiError::invalid_field(
        field,
        format!("{field} cannot be sent to this model (its provider speaks another API): {why}"),
    )
}

/// An SSE event with a name.
pub fn named_event(name: &str, data: &Value) -> Bytes {
    sse_frame(Some(name), data)
}

/// One SSE frame, the JSON written straight into the buffer (through `Display` it went
/// through the formatter piece by piece: ~6,600 instructions per chunk, bench/callgrind.py).
pub fn sse_frame(event: Option<&str>, v: &Value) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    if let Some(name) = event {
        buf.extend_from_slice(b"event: ");
        buf.extend_from_slice(name.as_bytes());
        buf.push(b'\n');
    }
    buf.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut buf, v).expect("a JSON value serializes");
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}
