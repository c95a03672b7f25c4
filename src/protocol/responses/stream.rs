//! The Responses API event stream, written from canonical events: `response.created`,
//! `response.in_progress`, output items opened and closed around their deltas, and
//! `response.completed` (held back until the call's record is committed) with usage.

use bytes::Bytes;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::response::{self, Context};
use crate::error::ApiError;
use crate::pricing::Usage;
use crate::protocol::canonical::{Event, StopReason};
use crate::protocol::{named_event, StreamEncoder};

/// The output item being written.
enum Open {
    Message {
        at: usize,
        id: String,
        text: String,
    },
    Reasoning {
        at: usize,
        id: String,
        text: String,
        signature: Option<String>,
    },
}

/// A function call item: open until the answer stops.
struct Call {
    index: usize,
    at: usize,
    id: String,
    call_id: String,
    name: String,
    arguments: String,
    done: bool,
}

pub struct ResponsesEncoder {
    ctx: Context,
    seq: u64,
    started: bool,
    /// Every output item so far, by output index (open ones as last written).
    items: Vec<Value>,
    open: Option<Open>,
    calls: Vec<Call>,
    stop: Option<StopReason>,
}

impl ResponsesEncoder {
    pub fn new(ctx: Context) -> Self {
        ResponsesEncoder {
            ctx,
            seq: 0,
            started: false,
            items: Vec::new(),
            open: None,
            calls: Vec::new(),
            stop: None,
        }
    }

    fn event(&mut self, name: &str, mut data: Value) -> Bytes {
        data["type"] = name.into();
        data["sequence_number"] = self.seq.into();
        self.seq += 1;
        named_event(name, &data)
    }

    fn start(&mut self, out: &mut Vec<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        let r = self.ctx.envelope("in_progress", vec![]);
        out.push(self.event("response.created", json!({"response": r})));
        out.push(self.event("response.in_progress", json!({"response": r})));
    }

    fn add_item(&mut self, item: Value, out: &mut Vec<Bytes>) -> usize {
        let at = self.items.len();
        self.items.push(item.clone());
        out.push(self.event(
            "response.output_item.added",
            json!({"output_index": at, "item": item}),
        ));
        at
    }

    fn close_open(&mut self, out: &mut Vec<Bytes>) {
        match self.open.take() {
            None => {}
            Some(Open::Message { at, id, text }) => {
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                out.push(self.event(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": at,
                    "content_index": 0, "text": text, "logprobs": []}),
                ));
                out.push(self.event(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": at,
                    "content_index": 0, "part": part}),
                ));
                let item = response::message_item(&id, &text, "completed");
                self.items[at] = item.clone();
                out.push(self.event(
                    "response.output_item.done",
                    json!({"output_index": at, "item": item}),
                ));
            }
            Some(Open::Reasoning {
                at,
                id,
                text,
                signature,
            }) => {
                let part = json!({"type": "summary_text", "text": text});
                out.push(self.event(
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id,
                    "output_index": at, "summary_index": 0, "text": text}),
                ));
                out.push(self.event(
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id,
                    "output_index": at, "summary_index": 0, "part": part}),
                ));
                let item = response::reasoning_item(&id, &text, signature.as_deref());
                self.items[at] = item.clone();
                out.push(self.event(
                    "response.output_item.done",
                    json!({"output_index": at, "item": item}),
                ));
            }
        }
    }

    fn close_calls(&mut self, out: &mut Vec<Bytes>) {
        for i in 0..self.calls.len() {
            if self.calls[i].done {
                continue;
            }
            self.calls[i].done = true;
            let c = &self.calls[i];
            let item =
                response::function_call_item(&c.id, &c.call_id, &c.name, &c.arguments, "completed");
            let (at, id, args) = (c.at, c.id.clone(), c.arguments.clone());
            self.items[at] = item.clone();
            out.push(self.event(
                "response.function_call_arguments.done",
                json!({"item_id": id,
                "output_index": at, "arguments": args}),
            ));
            out.push(self.event(
                "response.output_item.done",
                json!({"output_index": at, "item": item}),
            ));
        }
    }

    fn on_text(&mut self, delta: &str, out: &mut Vec<Bytes>) {
        if !matches!(self.open, Some(Open::Message { .. })) {
            self.close_open(out);
            let id = self.ctx.item_id("msg", self.items.len());
            let item = json!({"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []});
            let at = self.add_item(item, out);
            out.push(self.event("response.content_part.added", json!({"item_id": id, "output_index": at,
                "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}})));
            self.open = Some(Open::Message {
                at,
                id,
                text: String::new(),
            });
        }
        if let Some(Open::Message { at, id, text }) = &mut self.open {
            text.push_str(delta);
            let data = json!({"item_id": id, "output_index": at, "content_index": 0, "delta": delta, "logprobs": []});
            out.push(self.event("response.output_text.delta", data));
        }
    }

    fn on_thinking(&mut self, delta: &str, out: &mut Vec<Bytes>) {
        if !matches!(self.open, Some(Open::Reasoning { .. })) {
            self.close_open(out);
            let id = self.ctx.item_id("rs", self.items.len());
            let at = self.add_item(json!({"type": "reasoning", "id": id, "summary": []}), out);
            out.push(self.event("response.reasoning_summary_part.added", json!({"item_id": id,
                "output_index": at, "summary_index": 0, "part": {"type": "summary_text", "text": ""}})));
            self.open = Some(Open::Reasoning {
                at,
                id,
                text: String::new(),
                signature: None,
            });
        }
        if let Some(Open::Reasoning { at, id, text, .. }) = &mut self.open {
            text.push_str(delta);
            let data =
                json!({"item_id": id, "output_index": at, "summary_index": 0, "delta": delta});
            out.push(self.event("response.reasoning_summary_text.delta", data));
        }
    }

    fn on_call(&mut self, index: usize, call_id: &str, name: &str, out: &mut Vec<Bytes>) {
        self.close_open(out);
        let id = self.ctx.item_id("fc", self.items.len());
        let item = response::function_call_item(&id, call_id, name, "", "in_progress");
        let at = self.add_item(item, out);
        self.calls.push(Call {
            index,
            at,
            id,
            call_id: call_id.into(),
            name: name.into(),
            arguments: String::new(),
            done: false,
        });
    }

    fn on_arguments(&mut self, index: usize, delta: &str, out: &mut Vec<Bytes>) {
        let Some(c) = self.calls.iter_mut().find(|c| c.index == index && !c.done) else {
            return;
        };
        c.arguments.push_str(delta);
        let data = json!({"item_id": c.id, "output_index": c.at, "delta": delta});
        out.push(self.event("response.function_call_arguments.delta", data));
    }

    fn close_all(&mut self, out: &mut Vec<Bytes>) {
        self.close_open(out);
        self.close_calls(out);
    }
}

impl StreamEncoder for ResponsesEncoder {
    fn encode(&mut self, event: &Event) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.start(&mut out);
        match event {
            Event::Text(t) => self.on_text(t, &mut out),
            Event::Thinking(t) => self.on_thinking(t, &mut out),
            Event::ThinkingSignature(s) => {
                if let Some(Open::Reasoning { signature, .. }) = &mut self.open {
                    signature.get_or_insert_with(String::new).push_str(s);
                }
            }
            Event::ToolCall { index, id, name } => self.on_call(*index, id, name, &mut out),
            Event::ToolArguments { index, delta } => self.on_arguments(*index, delta, &mut out),
            Event::Stop(reason) => {
                self.stop = Some(*reason);
                self.close_all(&mut out);
            }
        }
        out
    }

    fn truncate(&mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.stop = Some(StopReason::MaxTokens);
        self.close_all(&mut out);
        out
    }

    fn finish(&mut self, u: &Usage, cost: Decimal) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.start(&mut out);
        self.close_all(&mut out);
        let (status, incomplete) = response::status(self.stop.unwrap_or_default());
        let mut r = self.ctx.envelope(status, self.items.clone());
        r["incomplete_details"] = incomplete;
        r["usage"] = response::usage(u, cost);
        let name = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        out.push(self.event(name, json!({"response": r})));
        out
    }

    fn error(&mut self, err: &ApiError) -> Bytes {
        let mut out = Vec::new();
        self.start(&mut out);
        out.push(self.event(
            "error",
            json!({"code": err.code, "message": err.message, "param": err.param}),
        ));
        let mut r = self.ctx.envelope("failed", self.items.clone());
        r["error"] = json!({"code": err.code, "message": err.message});
        out.push(self.event("response.failed", json!({"response": r})));
        Bytes::from(out.concat())
    }
}
