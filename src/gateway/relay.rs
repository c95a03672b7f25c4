//! Relaying a streamed answer: upstream events in, the caller's events out, until the upstream
//! ends, breaks, goes past the call's output cap, or the gateway shuts down; then the record
//! is committed, and only then the closing events are sent.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;

use super::call::Call;
use super::forward::{interrupted_error, timeout_error};
use super::hub;
use super::settle::{commit, estimate, measure, record_for, Measured};
use super::stream::{AnthropicPassthrough, OpenAiPassthrough, Translate};
use super::usage::Reported;
use super::{tokens, upstream, Format};
use crate::catalog::ProviderKind;
use crate::error::{ApiError, ErrorKind};
use crate::metering::CallStatus;
use crate::state::AppState;

fn translator(call: &Call) -> Box<dyn Translate> {
    match (call.format, call.provider.kind) {
        (Format::OpenAi, ProviderKind::Openai) => Box::new(OpenAiPassthrough::new(
            &call.model.id,
            call.client_wants_usage,
        )),
        (Format::Anthropic, ProviderKind::Anthropic) => {
            Box::new(AnthropicPassthrough::new(&call.model.id))
        }
        _ => Box::new(hub::stream_for(call)),
    }
}

/// Starts relaying a stream; the relay runs as a tracked task so shutdown waits for it.
///
/// The relay is first run inline, until it first waits: what the upstream has already sent
/// (usually its first events, which come with its headers) is then queued before the response
/// is returned, and hyper writes it right after the headers, where a relay that started as its
/// own task reached the caller only once a worker had picked that task up (on two cores, often
/// the other worker, after a wake-up: about 0.1 ms of time to first token). The task then
/// carries on from where the inline run stopped.
pub async fn start(
    state: &AppState,
    call: Call,
    response: reqwest::Response,
    deadline: TokioInstant,
    secret: Option<String>,
) -> Response {
    let (tx, rx) = mpsc::channel::<bytes::Bytes>(64);
    let tr = translator(&call);
    let relay = Relay {
        state: state.clone(),
        call,
        tx,
        deadline,
        secret,
    };
    // Boxed: the relay's future is large, and spawning it unboxed copied it a dozen times
    // (~32,000 instructions per stream, bench/callgrind.py).
    let mut run = tracing::Instrument::in_current_span(Box::pin(relay.run(response, tr)));
    if futures::poll!(&mut run).is_pending() {
        state.tasks.spawn(run);
    }
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    response
}

/// Counts a stream's output against the call's cap without tokenizing every chunk: a token is
/// at least one byte, so the cap cannot be passed before `next_check` bytes have arrived.
struct OutputMeter {
    cap: u64,
    next_check: usize,
}

impl OutputMeter {
    fn new(cap: u64) -> Self {
        OutputMeter {
            cap,
            next_check: usize::try_from(cap).unwrap_or(usize::MAX).saturating_add(1),
        }
    }

    /// True once `text` (all output so far) holds more tokens than the cap.
    fn over(&mut self, text: &str) -> bool {
        if text.len() < self.next_check {
            return false;
        }
        let counted = tokens::count_text(text);
        if counted > self.cap {
            return true;
        }
        let room = usize::try_from(self.cap - counted).unwrap_or(usize::MAX);
        self.next_check = text.len().saturating_add(room).saturating_add(1);
        false
    }
}

/// How the relay loop ended.
enum End {
    /// The upstream sent its terminal event.
    Complete,
    /// The output reached the call's cap; the gateway ended the stream.
    Cut,
    /// The upstream reported an error inside the stream.
    UpstreamError(ApiError),
    /// The stream broke, timed out or ended early.
    Failed(CallStatus, ApiError),
}

/// Counts a stream in `tollgate_open_streams` while it is relayed.
struct OpenStream(std::sync::Arc<crate::telemetry::Metrics>);

impl OpenStream {
    fn new(metrics: &std::sync::Arc<crate::telemetry::Metrics>) -> Self {
        metrics.open_streams.inc();
        OpenStream(metrics.clone())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open_streams.dec();
    }
}

struct Relay {
    state: AppState,
    call: Call,
    tx: mpsc::Sender<bytes::Bytes>,
    deadline: TokioInstant,
    secret: Option<String>,
}

impl Relay {
    /// Reads the upstream stream to its end, relaying translated events while the caller
    /// listens (a caller that leaves is still charged for everything the upstream produced),
    /// then commits the record and only then sends the closing events.
    async fn run(self, response: reqwest::Response, mut tr: Box<dyn Translate>) {
        let _open = OpenStream::new(&self.state.metrics);
        let mut client_gone = false;
        let mut ttft = None;
        let mut meter = OutputMeter::new(self.call.output_cap);
        let mut events = upstream::bounded_events(response).eventsource();
        let end = loop {
            let next = tokio::select! {
                next = tokio::time::timeout_at(self.deadline, events.next()) => next,
                () = self.state.stopping.cancelled() => {
                    let (status, err) = interrupted_error();
                    break End::Failed(status, err);
                }
            };
            let event = match next {
                Err(_) => {
                    let (status, err) = timeout_error();
                    break End::Failed(status, err);
                }
                Ok(None) => break self.early_end(),
                Ok(Some(Err(e))) => break self.broken(&e.to_string()),
                Ok(Some(Ok(event))) => event,
            };
            let out = tr.on_event(&event.event, &event.data);
            if ttft.is_none() && tr.progress().has_content {
                ttft = Some(self.call.started.elapsed().as_millis() as u64);
            }
            client_gone = self.send(out, client_gone).await;
            if let Some((message, kind)) = tr.progress().upstream_error.clone() {
                break End::UpstreamError(self.upstream_error(&message, kind.as_deref()));
            }
            if tr.progress().complete {
                break End::Complete;
            }
            if meter.over(&tr.progress().text) {
                client_gone = self.send(tr.truncate(), client_gone).await;
                break End::Cut;
            }
        };
        self.settle(tr, end, client_gone, ttft).await;
    }

    async fn send(&self, chunks: Vec<bytes::Bytes>, mut client_gone: bool) -> bool {
        for chunk in chunks {
            if !client_gone && self.tx.send(chunk).await.is_err() {
                client_gone = true;
            }
        }
        client_gone
    }

    fn early_end(&self) -> End {
        End::Failed(
            CallStatus::StreamError,
            ApiError::new(
                ErrorKind::BadGateway,
                "upstream_stream_error",
                "the upstream stream ended before it was complete",
            ),
        )
    }

    fn broken(&self, detail: &str) -> End {
        tracing::warn!(call = %self.call.id, error = %detail, "upstream stream broke");
        End::Failed(
            CallStatus::StreamError,
            ApiError::new(
                ErrorKind::BadGateway,
                "upstream_stream_error",
                "the upstream stream broke off",
            ),
        )
    }

    /// An upstream's in-stream error, credentials removed, for the caller's protocol.
    fn upstream_error(&self, message: &str, kind: Option<&str>) -> ApiError {
        let message = upstream::redact(message, self.secret.as_deref());
        let kind = kind.map(|k| upstream::redact(k, self.secret.as_deref()));
        let overloaded = kind.as_deref() == Some("overloaded_error");
        let message = match kind {
            Some(k) => format!("the upstream provider reported an error ({k}): {message}"),
            None => format!("the upstream provider reported an error: {message}"),
        };
        let kind = if overloaded {
            ErrorKind::Overloaded
        } else {
            ErrorKind::BadGateway
        };
        ApiError::new(kind, "upstream_error", message)
    }

    /// The call's tokens. A stream that ended in an error before any output, with no usage
    /// reported, is free (as a call the upstream refused); otherwise the caller pays for what
    /// the upstream reported, or the gateway's count of the request and the output delivered.
    fn measured(&self, tr: &dyn Translate, end: &End) -> Option<Measured> {
        let reported = tr.usage();
        let text = &tr.progress().text;
        match end {
            End::Cut => Some(estimate(
                &self.call,
                text,
                Some(format!(
                    "the upstream went past the call's output cap of {} tokens; the gateway ended the stream there and counted the tokens itself",
                    self.call.output_cap
                )),
            )),
            End::UpstreamError(_) | End::Failed(..)
                if reported == Reported::Absent && !tr.progress().has_content =>
            {
                None
            }
            _ => Some(measure(&self.call, reported, || text.to_string())),
        }
    }

    async fn settle(
        self,
        mut tr: Box<dyn Translate>,
        end: End,
        client_gone: bool,
        ttft: Option<u64>,
    ) {
        let measured = self.measured(tr.as_ref(), &end);
        let (status, failure) = match (&end, client_gone) {
            (_, true) => (CallStatus::ClientCancelled, None),
            (End::Complete | End::Cut, false) => (CallStatus::Ok, None),
            (End::UpstreamError(e), false) => (CallStatus::UpstreamError, Some(e.clone())),
            (End::Failed(s, e), false) => (*s, Some(e.clone())),
        };
        let mut record = record_for(&self.call, status, 200, Some(200), measured);
        record.ttft_ms = ttft;
        record.error = match &end {
            End::UpstreamError(e) | End::Failed(_, e) => Some(e.message.clone()),
            _ => None,
        };
        let (usage, cost) = (record.usage, record.cost);
        let committed = commit(&self.state, &self.call, record).await;
        if client_gone {
            return;
        }
        let closing = match (failure, committed) {
            (None, Ok(())) => tr.finish(&usage, cost),
            (Some(err), _) | (None, Err(err)) => vec![tr.error(&err)],
        };
        self.send(closing, false).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meter_counts_only_once_the_cap_could_be_passed() {
        let mut m = OutputMeter::new(10);
        assert!(!m.over("short"));
        assert!(!m.over("hello world")); // 11 bytes, 2 tokens
        assert!(m.next_check > 11);
        let long = "word ".repeat(20);
        assert!(m.over(&long));
        let mut unbounded = OutputMeter::new(u64::MAX);
        assert!(!unbounded.over(&"x".repeat(100_000)));
    }
}
