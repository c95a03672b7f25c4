//! Calls whose caller and provider speak different protocols, through the canonical model:
//! the caller's request decoded and re-encoded for the provider, the provider's answer or
//! stream decoded and re-encoded for the caller (see [`crate::protocol`]).

use bytes::Bytes;
use rust_decimal::Decimal;
use serde_json::Value;

use super::call::Call;
use super::stream::{note_error, Progress, Translate};
use super::usage::{self, Reported};
use super::Format;
use crate::catalog::ProviderKind;
use crate::error::ApiError;
use crate::pricing::Usage;
use crate::protocol::canonical::{Answer, Event, Request};
use crate::protocol::{anthropic, chat, responses, Signal, StreamDecoder, StreamEncoder};

/// The caller's request in the canonical model.
pub fn decode_request(format: Format, body: &Value) -> Result<Request, ApiError> {
    match format {
        Format::OpenAi => chat::caller::decode_request(body),
        Format::Anthropic => anthropic::caller::decode_request(body),
        Format::Responses => responses::decode_request(body),
    }
}

/// The provider's request for a translated call, and the name of the tool that carries a
/// structured answer (Anthropic-kind providers), which the way back unwraps.
pub fn upstream_request(call: &Call) -> Result<(Value, Option<String>), ApiError> {
    let req = decode_request(call.format, &call.body)?;
    let model = call.model.upstream_model.as_str();
    match call.provider.kind {
        ProviderKind::Openai => {
            let reasoning = call.model.has_capability("reasoning");
            Ok((chat::encode_request(&req, model, reasoning), None))
        }
        ProviderKind::Anthropic => {
            let body = anthropic::encode_request(&req, model, call.model.max_output_tokens)?;
            Ok((body, anthropic::answer_tool(&req)))
        }
    }
}

/// The provider's whole answer, decoded.
pub fn decode_answer(kind: ProviderKind, upstream: &Value, answer_tool: Option<&str>) -> Answer {
    match kind {
        ProviderKind::Openai => chat::decode_answer(upstream),
        ProviderKind::Anthropic => anthropic::decode_answer(upstream, answer_tool),
    }
}

/// The caller's answer for a translated call. For chat callers `usage.cost` is added by the
/// caller of this function, as on the pass-through path.
pub fn client_answer(call: &Call, upstream: &Value, u: &Usage, cost: Decimal) -> Value {
    let answer = decode_answer(call.provider.kind, upstream, call.answer_tool.as_deref());
    match call.format {
        Format::OpenAi => chat::caller::encode_answer(&chat_context(call), &answer, u),
        Format::Anthropic => {
            anthropic::caller::encode_answer(&message_id(call), &call.model.id, &answer, u)
        }
        Format::Responses => responses::encode_answer(&responses_context(call), &answer, u, cost),
    }
}

fn chat_context(call: &Call) -> chat::caller::Context {
    chat::caller::Context {
        id: call.id.clone(),
        model: call.model.id.clone(),
        created: call.started_at.timestamp(),
    }
}

fn message_id(call: &Call) -> String {
    format!("msg_{}", call.id)
}

fn responses_context(call: &Call) -> responses::Context {
    responses::Context::new(
        &call.id,
        &call.model.id,
        call.started_at.timestamp(),
        &call.body,
    )
}

/// The stream translator of a translated call.
pub fn stream_for(call: &Call) -> HubStream {
    let encoder: Box<dyn StreamEncoder> = match call.format {
        Format::OpenAi => Box::new(chat::caller::ChatEncoder::new(
            chat_context(call),
            call.client_wants_usage,
        )),
        Format::Anthropic => Box::new(anthropic::caller::MessagesEncoder::new(
            &message_id(call),
            &call.model.id,
        )),
        Format::Responses => Box::new(responses::ResponsesEncoder::new(responses_context(call))),
    };
    HubStream::new(call.provider.kind, call.answer_tool.clone(), encoder)
}

/// A stream translated through the canonical model.
pub struct HubStream {
    kind: ProviderKind,
    decoder: Box<dyn StreamDecoder>,
    encoder: Box<dyn StreamEncoder>,
    progress: Progress,
    events: Vec<Event>,
}

impl HubStream {
    pub fn new(
        kind: ProviderKind,
        answer_tool: Option<String>,
        encoder: Box<dyn StreamEncoder>,
    ) -> Self {
        let decoder: Box<dyn StreamDecoder> = match kind {
            ProviderKind::Openai => Box::<chat::ChatDecoder>::default(),
            ProviderKind::Anthropic => Box::new(anthropic::AnthropicDecoder::new(answer_tool)),
        };
        HubStream {
            kind,
            decoder,
            encoder,
            progress: Progress::default(),
            events: Vec::new(),
        }
    }

    fn track(&mut self, e: &Event) {
        let text = match e {
            Event::Text(t) | Event::Thinking(t) => t,
            Event::ToolArguments { delta, .. } => delta,
            Event::ToolCall { .. } => {
                self.progress.has_content = true;
                return;
            }
            _ => return,
        };
        self.progress.text.push_str(text);
        self.progress.has_content = true;
    }
}

impl Translate for HubStream {
    fn on_event(&mut self, event: &str, data: &str) -> Vec<Bytes> {
        let mut events = std::mem::take(&mut self.events);
        match self.decoder.decode(event, data, &mut events) {
            Signal::Continue => {}
            Signal::Complete => self.progress.complete = true,
            Signal::Error(err) => note_error(&mut self.progress, &err),
        }
        let mut out = Vec::new();
        for e in events.drain(..) {
            self.track(&e);
            out.extend(self.encoder.encode(&e));
        }
        self.events = events;
        out
    }

    fn progress(&self) -> &Progress {
        &self.progress
    }

    fn usage(&self) -> Reported {
        match (self.kind, self.decoder.usage()) {
            (_, None) => Reported::Absent,
            (ProviderKind::Openai, Some(u)) => {
                usage::with_openai_tier(usage::from_openai(u), self.decoder.served_tier())
            }
            (ProviderKind::Anthropic, Some(u)) => usage::from_anthropic(u),
        }
    }

    fn truncate(&mut self) -> Vec<Bytes> {
        self.encoder.truncate()
    }

    fn finish(&mut self, usage: &Usage, cost: Decimal) -> Vec<Bytes> {
        self.encoder.finish(usage, cost)
    }

    fn error(&mut self, err: &ApiError) -> Bytes {
        self.encoder.error(err)
    }
}
