//! Calls whose caller and provider speak different protocols, through the canonical model:
//! the caller's request decoded and re-encoded for the provider, the provider's answer or
//! stream decoded and re-encoded for the caller (see [`crate::protocol`]).

use bytes::Bytes;
use rust_decimal::Decimal;
use serde_json::Value;

use super::call::Call;
use super::stream::{note_error, Progress, Translate};
use super::usage::{self, Reported};
use crate::catalog::ProviderKind;
use crate::error::ApiError;
use crate::pricing::Usage;
use crate::protocol::canonical::{Answer, Event};
use crate::protocol::{anthropic, chat, responses, Signal, StreamDecoder, StreamEncoder};

/// The provider's request for a Responses call, and the name of the tool that carries a
/// structured answer (Anthropic-kind providers), which the way back unwraps.
pub fn responses_upstream(call: &Call) -> Result<(Value, Option<String>), ApiError> {
    let req = responses::decode_request(&call.body)?;
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

pub fn responses_context(call: &Call) -> responses::Context {
    responses::Context::new(
        &call.id,
        &call.model.id,
        call.started_at.timestamp(),
        &call.body,
    )
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
            (ProviderKind::Openai, Some(u)) => usage::from_openai(u),
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
