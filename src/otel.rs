//! Optional OpenTelemetry trace export over OTLP/HTTP (protobuf), off unless an endpoint is
//! configured (docs/operations.md, "OpenTelemetry traces").
//!
//! The `request` and `call` spans (and the events logged inside them) become OpenTelemetry spans
//! through a `tracing-opentelemetry` layer; a batch span processor sends them from a thread of
//! its own, through a bounded queue that drops spans rather than grow or wait, so a call never
//! waits on the collector. Off, nothing here runs: no layer, no exporter, no thread.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;

/// The path of traces under an OTLP/HTTP base URL.
const TRACES_PATH: &str = "/v1/traces";

/// The standard variables (read by [`resolve`]; the exporter reads the headers ones itself).
const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
const TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const TRACES_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION";
const COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

/// The export's default per-request timeout (the OTLP exporter specification's 10 s).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for the last batch to reach the collector.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// The largest collector answer read (an `ExportTraceServiceResponse` is a few bytes).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Whether spans are exported, so that [`adopt_remote_parent`] costs one load when they are not.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// The log line written when export starts (tests look for it).
pub const STARTED: &str = "exporting traces over OTLP/HTTP";

/// Where spans go, when they go anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The full traces URL (`…/v1/traces`).
    pub endpoint: String,
    /// The setting it came from, for messages.
    pub source: &'static str,
    pub timeout: Duration,
}

/// Whether and where to export, from `--otlp-endpoint` and the environment (`env` looks a
/// variable up; empty values count as unset, as the OpenTelemetry specification says):
/// off with `OTEL_SDK_DISABLED=true`; else `--otlp-endpoint`/`TOLLGATE_OTLP_ENDPOINT` (a base
/// URL; `/v1/traces` is appended unless it already ends so), else
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is), else `OTEL_EXPORTER_OTLP_ENDPOINT`
/// (a base URL); off when none is set. A set endpoint must be an `http` or `https` URL; a
/// protocol other than `http/protobuf` or a compression is refused.
pub fn resolve(
    setting: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<Export>> {
    let var = |name: &str| {
        env(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if var(SDK_DISABLED).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    let setting = setting.map(str::trim).filter(|s| !s.is_empty());
    let (endpoint, source, base) = if let Some(url) = setting {
        (url.to_string(), "TOLLGATE_OTLP_ENDPOINT", true)
    } else if let Some(url) = var(TRACES_ENDPOINT) {
        (url, TRACES_ENDPOINT, false)
    } else if let Some(url) = var(ENDPOINT) {
        (url, ENDPOINT, true)
    } else {
        return Ok(None);
    };
    let mut url = match reqwest::Url::parse(&endpoint) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => url,
        _ => anyhow::bail!("{source}: not an http(s) URL: {endpoint}"),
    };
    if base {
        let path = url.path().trim_end_matches('/');
        if !path.ends_with(TRACES_PATH) {
            url.set_path(&format!("{path}{TRACES_PATH}"));
        }
    }
    if let Some(protocol) = var(TRACES_PROTOCOL).or_else(|| var(PROTOCOL)) {
        if protocol != "http/protobuf" {
            anyhow::bail!(
                "OTEL_EXPORTER_OTLP_PROTOCOL: Tollgate exports http/protobuf only, not {protocol}"
            );
        }
    }
    if let Some(compression) = var(TRACES_COMPRESSION).or_else(|| var(COMPRESSION)) {
        if !compression.eq_ignore_ascii_case("none") {
            anyhow::bail!(
                "OTEL_EXPORTER_OTLP_COMPRESSION: Tollgate sends uncompressed bodies only, not {compression}"
            );
        }
    }
    let timeout = match var(TRACES_TIMEOUT).or_else(|| var(TIMEOUT)) {
        Some(ms) => match ms.parse::<u64>() {
            Ok(ms) if ms > 0 => Duration::from_millis(ms),
            _ => anyhow::bail!("OTEL_EXPORTER_OTLP_TIMEOUT: not a number of milliseconds: {ms}"),
        },
        None => DEFAULT_TIMEOUT,
    };
    Ok(Some(Export {
        endpoint: url.to_string(),
        source,
        timeout,
    }))
}

impl Export {
    /// The endpoint for messages: without credentials or query.
    pub fn shown(&self) -> String {
        match reqwest::Url::parse(&self.endpoint) {
            Ok(mut url) => {
                let _ = url.set_password(None);
                let _ = url.set_username("");
                url.set_query(None);
                url.to_string()
            }
            Err(_) => String::new(),
        }
    }
}

/// The service name: `OTEL_SERVICE_NAME`, else a `service.name` in `OTEL_RESOURCE_ATTRIBUTES`,
/// else `tollgate`.
fn resource() -> Resource {
    // The SDK's detectors read OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; their fallback
    // is `unknown_service:<executable>`.
    let detected = Resource::builder().build();
    let named = std::env::var(SERVICE_NAME).is_ok_and(|v| !v.trim().is_empty())
        || detected
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named {
        detected
    } else {
        Resource::builder().with_service_name("tollgate").build()
    }
}

/// The running export: shut it down at the end so the last batch is sent.
#[derive(Debug)]
pub struct Exporter {
    provider: SdkTracerProvider,
}

impl Exporter {
    /// Builds the exporter and its batch processor; the HTTP requests run on the current Tokio
    /// runtime (which must outlive the exporter until [`Exporter::shutdown`]).
    pub fn start(export: &Export) -> anyhow::Result<Self> {
        let client = RuntimeClient {
            client: reqwest::Client::builder()
                .timeout(export.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| anyhow::anyhow!("OTLP HTTP client: {e}"))?,
            runtime: tokio::runtime::Handle::try_current()
                .map_err(|_| anyhow::anyhow!("OTLP export needs a Tokio runtime"))?,
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(export.endpoint.clone())
            .with_timeout(export.timeout)
            .with_http_client(client)
            .build()
            .map_err(|e| anyhow::anyhow!("{}: {e}", export.source))?;
        // Bounded queue (OTEL_BSP_MAX_QUEUE_SIZE, 2,048 by default): a full queue drops spans.
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(BatchConfigBuilder::default().build())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource())
            .build();
        EXPORTING.store(true, Ordering::Relaxed);
        Ok(Exporter { provider })
    }

    /// The layer that turns `tollgate`'s spans into OpenTelemetry spans.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("tollgate"))
            // Attributes a span needs are its own fields (id, key, model, method, path); no
            // per-poll timing or context switching on the hot path.
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_target(false)
            .with_context_activation(false)
            // Tollgate's own spans and events only, at info and above, whatever TOLLGATE_LOG
            // says (the exporter's own logs stay out, so exporting never feeds itself).
            .with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("tollgate", tracing::Level::INFO),
            )
    }

    /// Sends what is queued and stops the processor's thread (waits at most 5 s). Runs the
    /// blocking wait off the async runtime, whose threads carry the last requests.
    pub async fn shutdown(self) {
        EXPORTING.store(false, Ordering::Relaxed);
        let provider = self.provider;
        let done =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_WAIT))
                .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "OTLP export: the last spans were not sent"),
            Err(e) => tracing::warn!(error = %e, "OTLP export: shutdown failed"),
        }
    }
}

/// Makes `span` a child of the caller's trace when the request carries a valid W3C
/// `traceparent` (and only while spans are exported; otherwise one atomic load).
pub fn adopt_remote_parent(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    if !EXPORTING.load(Ordering::Relaxed) || !headers.contains_key("traceparent") {
        return;
    }
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let cx = TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// The exporter's HTTP client: the reqwest 0.12 the gateway already uses. The batch processor
/// exports from a plain thread (no Tokio reactor there), so each request is spawned onto the
/// gateway's runtime and awaited from that thread.
#[derive(Debug)]
struct RuntimeClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl HttpClient for RuntimeClient {
    fn send_bytes<'a, 'b>(
        &'a self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let request = reqwest::Request::try_from(request)?;
            let mut answer = client.execute(request).await?;
            let mut response = Response::builder().status(answer.status());
            if let Some(headers) = response.headers_mut() {
                *headers = std::mem::take(answer.headers_mut());
            }
            let mut body = Vec::new();
            while let Some(chunk) = answer.chunk().await? {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err::<_, HttpError>("the collector's answer is too large".into());
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, HttpError>(response.body(Bytes::from(body))?)
        });
        Box::pin(async move { sent.await.map_err(|e| Box::new(e) as HttpError)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn endpoint(setting: Option<&str>, vars: &[(&str, &str)]) -> Option<String> {
        resolve(setting, env(vars)).unwrap().map(|e| e.endpoint)
    }

    #[test]
    fn off_unless_an_endpoint_is_set() {
        assert_eq!(endpoint(None, &[]), None);
        assert_eq!(
            endpoint(Some(""), &[(ENDPOINT, " "), (TRACES_ENDPOINT, "")]),
            None
        );
        assert_eq!(
            endpoint(
                Some("http://c:4318"),
                &[(SDK_DISABLED, "TRUE"), (ENDPOINT, "http://c:4318")]
            ),
            None
        );
    }

    #[test]
    fn the_setting_then_the_traces_endpoint_then_the_base_endpoint() {
        let all = [
            (TRACES_ENDPOINT, "http://traces:1/custom"),
            (ENDPOINT, "http://base:4318/"),
        ];
        assert_eq!(
            endpoint(Some("http://setting:4318/"), &all).as_deref(),
            Some("http://setting:4318/v1/traces")
        );
        assert_eq!(
            endpoint(Some("https://setting/v1/traces"), &all).as_deref(),
            Some("https://setting/v1/traces")
        );
        assert_eq!(
            endpoint(None, &all).as_deref(),
            Some("http://traces:1/custom")
        );
        assert_eq!(
            endpoint(None, &all[1..]).as_deref(),
            Some("http://base:4318/v1/traces")
        );
        assert_eq!(
            endpoint(None, &[(SDK_DISABLED, "false"), (ENDPOINT, "http://b")]).as_deref(),
            Some("http://b/v1/traces")
        );
        // The path goes before a query.
        assert_eq!(
            endpoint(None, &[(ENDPOINT, "https://b/otlp/?tenant=a")]).as_deref(),
            Some("https://b/otlp/v1/traces?tenant=a")
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        for vars in [
            vec![(ENDPOINT, "collector:4318")],
            vec![(ENDPOINT, "ftp://collector")],
            vec![(ENDPOINT, "http://c"), (PROTOCOL, "grpc")],
            vec![(ENDPOINT, "http://c"), (TRACES_PROTOCOL, "http/json")],
            vec![(ENDPOINT, "http://c"), (TIMEOUT, "soon")],
            vec![(ENDPOINT, "http://c"), (TRACES_TIMEOUT, "0")],
            vec![(ENDPOINT, "http://c"), (COMPRESSION, "gzip")],
            vec![(ENDPOINT, "http://c"), (TRACES_COMPRESSION, "zstd")],
        ] {
            assert!(resolve(None, env(&vars)).is_err(), "{vars:?}");
        }
        let ok = resolve(
            None,
            env(&[
                (ENDPOINT, "http://c"),
                (PROTOCOL, "http/protobuf"),
                (COMPRESSION, "none"),
                (TIMEOUT, "2500"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(ok.timeout, Duration::from_millis(2500));
        assert_eq!(ok.source, ENDPOINT);
    }
}
