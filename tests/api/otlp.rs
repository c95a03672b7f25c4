//! OpenTelemetry export over OTLP/HTTP: the real binary, pointed at a collector stub that decodes
//! the protobuf it is sent, exports its `request` and `call` spans (call id, key, model) — and,
//! when export is off, starts no exporter and sends nothing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Value};

use crate::gateway_support::{chat, request_id};

/// One export the stub received.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: ExportTraceServiceRequest,
}

/// An OTLP/HTTP collector: `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`.
#[derive(Clone, Default)]
struct Collector {
    received: Arc<Mutex<Vec<Received>>>,
    /// Requests of any other shape (each one fails the test).
    malformed: Arc<Mutex<Vec<String>>>,
    base: String,
}

async fn traces(State(c): State<Collector>, headers: HeaderMap, body: Bytes) -> Vec<u8> {
    match ExportTraceServiceRequest::decode(body) {
        Ok(body) => c.received.lock().unwrap().push(Received { headers, body }),
        Err(e) => c.malformed.lock().unwrap().push(e.to_string()),
    }
    ExportTraceServiceResponse::default().encode_to_vec()
}

impl Collector {
    async fn start() -> Collector {
        let mut c = Collector::default();
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .fallback({
                let c = c.clone();
                move |uri: axum::http::Uri| async move {
                    c.malformed
                        .lock()
                        .unwrap()
                        .push(format!("request to {uri}"));
                    axum::http::StatusCode::NOT_FOUND
                }
            })
            .with_state(c.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        c.base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        c
    }

    fn received(&self) -> Vec<Received> {
        assert_eq!(*self.malformed.lock().unwrap(), Vec::<String>::new());
        self.received.lock().unwrap().clone()
    }

    /// Every span received, with its resource's `service.name`.
    fn spans(&self) -> Vec<(String, Span)> {
        let mut out = vec![];
        for r in self.received() {
            for rs in r.body.resource_spans {
                let service = rs
                    .resource
                    .as_ref()
                    .and_then(|r| text(&r.attributes, "service.name"))
                    .unwrap_or_default();
                for ss in rs.scope_spans {
                    out.extend(ss.spans.into_iter().map(|s| (service.clone(), s)));
                }
            }
        }
        out
    }
}

/// A string attribute.
fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .and_then(|v| match v {
            Any::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

/// The real `tollgate serve` on a free port, its JSON log lines collected as they come.
struct Gateway {
    child: Child,
    base: String,
    logs: Arc<Mutex<Vec<Value>>>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Gateway {
    async fn start(env: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::TempDir::new().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        command
            .arg("serve")
            .env("TOLLGATE_ADMIN_TOKEN", "otlp-admin")
            .env("TOLLGATE_LISTEN", "127.0.0.1:0")
            .env(
                "TOLLGATE_DATABASE_URL",
                format!("sqlite://{}/otlp.db", dir.path().display()),
            )
            .env("TOLLGATE_SEEDS_DIR", crate::helpers::seeds_dir())
            .env("TOLLGATE_LOG", "info")
            .env("TOLLGATE_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // Whatever the environment running the tests says about OpenTelemetry is not this test's.
        for (name, _) in std::env::vars() {
            if name.starts_with("OTEL_") || name == "TOLLGATE_OTLP_ENDPOINT" {
                command.env_remove(name);
            }
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let lines = logs.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                lines.lock().unwrap().push(v);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            let found = logs
                .lock()
                .unwrap()
                .iter()
                .find(|l| l["message"] == "tollgate listening")
                .map(|l| l["addr"].as_str().unwrap().to_string());
            if let Some(addr) = found {
                break addr;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not start: {:?}",
                logs.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Gateway {
            child,
            base: format!("http://{addr}"),
            logs,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// A provider at the mock upstream, a model `m` on it, and a key: (key id, secret).
    async fn setup(&self, upstream: &str) -> (String, String) {
        let admin = |path: &str, body: Value| {
            self.client
                .post(format!("{}{path}", self.base))
                .bearer_auth("otlp-admin")
                .json(&body)
                .send()
        };
        let r = admin(
            "/admin/providers",
            json!({"id": "mock", "kind": "openai", "base_url": format!("{upstream}/v1")}),
        )
        .await
        .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text().await);
        let r = admin("/admin/models", json!({"id": "m", "name": "M", "provider": "mock", "price": {"input_per_mtok": "1", "output_per_mtok": "2"}})).await.unwrap();
        assert!(r.status().is_success(), "{:?}", r.text().await);
        let key: Value = admin("/admin/keys", json!({"name": "otlp"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            key["id"].as_str().unwrap().to_string(),
            key["key"].as_str().unwrap().to_string(),
        )
    }

    /// The names of the process's threads (Linux).
    fn threads(&self) -> Vec<String> {
        let tasks = format!("/proc/{}/task", self.child.id());
        std::fs::read_dir(tasks)
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|n| n.trim().to_string())
            .collect()
    }

    fn logged(&self, message: &str) -> bool {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .any(|l| l["message"] == message)
    }

    /// SIGTERM, and the wait for a graceful exit.
    async fn stop(mut self) -> Vec<Value> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = tokio::task::spawn_blocking(move || {
            let status = self.child.wait().unwrap();
            (status, self.logs)
        })
        .await
        .unwrap();
        let logs = status.1.lock().unwrap().clone();
        assert!(status.0.success(), "exit {:?}: {logs:?}", status.0);
        logs
    }
}

/// The batch processor's thread ("OpenTelemetry.Traces.BatchProcessor", cut to 15 bytes).
const EXPORT_THREAD: &str = "OpenTelemetry.T";

/// Export on, through the standard variables: the call's span arrives with its id, key and
/// model, in the caller's trace, sent by the flush at shutdown (the batch delay is far longer
/// than the test), though the log filter leaves those spans out of the logs.
#[tokio::test]
async fn spans_of_a_call_reach_the_collector() {
    let mock = crate::mock::Mock::start().await;
    let collector = Collector::start().await;
    let gw = Gateway::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.base.as_str()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-token=s3cret"),
        ("OTEL_SERVICE_NAME", "tollgate-under-test"),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        // The spans are exported whatever the log filter says of them.
        (
            "TOLLGATE_LOG",
            "info,tollgate::api=warn,tollgate::gateway=warn",
        ),
    ])
    .await;
    assert!(gw.logged(tollgate::otel::STARTED), "{:?}", gw.logs);
    assert!(gw.threads().iter().any(|t| t == EXPORT_THREAD));
    let (key_id, secret) = gw.setup(&mock.base).await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.base))
        .bearer_auth(&secret)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&chat("m"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let mut streamed = chat("m");
    streamed["stream"] = json!(true);
    let r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.base))
        .bearer_auth(&secret)
        .json(&streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let streamed_id = request_id(&r);
    assert!(r.text().await.unwrap().contains("[DONE]"));
    gw.stop().await;

    // The exporter sent its last batch before the process ended; the wait is only a bound.
    let deadline = Instant::now() + Duration::from_secs(30);
    let call_span = |id: &str| {
        collector
            .spans()
            .into_iter()
            .find(|(_, s)| s.name == "call" && text(&s.attributes, "id").as_deref() == Some(id))
    };
    while call_span(&streamed_id).is_none() || call_span(&id).is_none() {
        assert!(
            Instant::now() < deadline,
            "no call span arrived: {:?}",
            collector.spans()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (service, call) = call_span(&id).unwrap();
    assert_eq!(service, "tollgate-under-test");
    assert_eq!(text(&call.attributes, "key"), Some(key_id.clone()));
    assert_eq!(text(&call.attributes, "model").as_deref(), Some("m"));
    let (_, stream_call) = call_span(&streamed_id).unwrap();
    assert_eq!(text(&stream_call.attributes, "key"), Some(key_id));
    assert_eq!(text(&stream_call.attributes, "model").as_deref(), Some("m"));
    assert!(stream_call.end_time_unix_nano >= stream_call.start_time_unix_nano);

    // The call runs inside its request's span, which continues the caller's trace.
    let (_, request) = collector
        .spans()
        .into_iter()
        .find(|(_, s)| s.name == "request" && text(&s.attributes, "id").as_deref() == Some(&id))
        .expect("the request span");
    assert_eq!(call.parent_span_id, request.span_id);
    assert_eq!(call.trace_id, request.trace_id);
    assert_eq!(hex::encode(&request.trace_id), trace_id);
    assert_eq!(hex::encode(&request.parent_span_id), caller_span);
    assert_eq!(
        text(&request.attributes, "path").as_deref(),
        Some("/v1/chat/completions")
    );
    // Without a traceparent the call starts a trace of its own.
    assert_ne!(hex::encode(&stream_call.trace_id), trace_id);

    let first = &collector.received()[0];
    assert_eq!(first.headers["x-collector-token"], "s3cret");
    assert_eq!(first.headers["content-type"], "application/x-protobuf");
}

/// Export off: with no endpoint set nothing starts; with `OTEL_SDK_DISABLED=true` a live
/// collector at the configured endpoint receives nothing, even after calls and a graceful
/// shutdown (which is when an exporter would flush).
#[tokio::test]
async fn nothing_is_exported_when_off() {
    let mock = crate::mock::Mock::start().await;
    let collector = Collector::start().await;
    for env in [
        vec![],
        vec![
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.base.as_str()),
            ("TOLLGATE_OTLP_ENDPOINT", collector.base.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "1"),
        ],
    ] {
        let gw = Gateway::start(&env).await;
        assert!(!gw.threads().iter().any(|t| t == EXPORT_THREAD), "{env:?}");
        let (_, secret) = gw.setup(&mock.base).await;
        let r = gw
            .client
            .post(format!("{}/v1/chat/completions", gw.base))
            .bearer_auth(&secret)
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .json(&chat("m"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(!gw.threads().iter().any(|t| t == EXPORT_THREAD), "{env:?}");
        let logs = gw.stop().await;
        assert!(
            !logs.iter().any(|l| l["message"] == tollgate::otel::STARTED),
            "{env:?}: {logs:?}"
        );
    }
    assert_eq!(collector.received().len(), 0);
}

/// A bad endpoint stops the start with a message naming the variable.
#[tokio::test]
async fn a_bad_endpoint_is_refused_at_start() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command
        .arg("serve")
        .env("TOLLGATE_LISTEN", "127.0.0.1:0")
        .env(
            "TOLLGATE_DATABASE_URL",
            format!("sqlite://{}/bad.db", dir.path().display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("OTEL_") || name == "TOLLGATE_OTLP_ENDPOINT" {
            command.env_remove(name);
        }
    }
    command.env("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318");
    let mut child = command.spawn().unwrap();
    // A start that went on would serve until stopped: bounded wait, then kill.
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the gateway started with a bad OTLP endpoint");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_ENDPOINT: not an http(s) URL"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("bad.db").exists(),
        "refused before the database opened"
    );
}
