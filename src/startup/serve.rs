//! The accept loop: hyper's HTTP/1.1 and HTTP/2 server over a bounded number of connections,
//! each with a request-head deadline and an idle deadline, drained gracefully on shutdown.
//!
//! `axum::serve` has neither timeouts nor a connection limit, and ends on an accept error it
//! cannot classify; this loop keeps serving whatever the clients do.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

/// The limits of client connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time to receive a request head, from the connection's start or the head's first byte.
    pub header_read_timeout: Duration,
    /// Time a connection may stay open with no request in progress.
    pub idle_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets every
/// connection finish its requests in progress and resolves when all are closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Request heads are timed by the connection's watchdog, which, unlike hyper's own
    // `header_read_timeout`, does not also close keep-alive connections idle for that long.
    builder.http1().keep_alive(true).header_read_timeout(None);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let service = {
            let activity = activity.clone();
            let app = app.clone();
            hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let guard = activity.begin();
                let app = app.clone();
                async move {
                    let response = app.oneshot(req.map(Body::new)).await;
                    response.map(|r| guard_body(r, guard))
                }
            })
        };
        let connection = graceful.watch(builder.serve_connection(io, service).into_owned());
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                reason = activity.expired(limits) => {
                    tracing::debug!(%peer, reason, "closed a connection");
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Logs an accept error and, unless it concerns only the one connection, pauses before the
/// next accept (out of file descriptors, memory, ...): the loop never ends on an error.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying shortly");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// What a connection is doing, for its deadlines. Times are milliseconds since `start`, plus
/// one (0 means unset).
struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    head_started: AtomicU64,
    idle_since: AtomicU64,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            // A new connection is expected to send its first request head promptly.
            head_started: AtomicU64::new(1),
            idle_since: AtomicU64::new(1),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn at(&self, stamp: u64, after: Duration) -> Instant {
        self.start + Duration::from_millis(stamp - 1) + after
    }

    /// Bytes arrived: when no request is in progress, they start the next request head.
    fn read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .head_started
                .compare_exchange(0, self.now(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    /// A request head was read: the request is in progress until its response body ends.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    /// Resolves when the connection has waited too long for a request head, or has been idle
    /// too long.
    async fn expired(&self, limits: ConnectionLimits) -> &'static str {
        loop {
            let changed = self.changed.notified();
            let deadline = if self.in_flight.load(Ordering::Acquire) > 0 {
                None
            } else {
                let idle = (
                    self.at(self.idle_since.load(Ordering::Acquire), limits.idle_timeout),
                    "idle timeout",
                );
                match self.head_started.load(Ordering::Acquire) {
                    0 => Some(idle),
                    head => {
                        let head = (
                            self.at(head, limits.header_read_timeout),
                            "request head timeout",
                        );
                        Some(if head.0 <= idle.0 { head } else { idle })
                    }
                }
            };
            match deadline {
                Some((at, reason)) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {
                        if self.in_flight.load(Ordering::Acquire) == 0 {
                            return reason;
                        }
                    }
                    () = changed => {}
                },
                None => changed.await,
            }
        }
    }
}

/// A request in progress on a connection; dropped when its response body ends (or is dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since.store(activity.now(), Ordering::Release);
        if activity.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            activity.changed.notify_one();
        }
    }
}

fn guard_body(response: Response, guard: InFlight) -> Response {
    response.map(|body| {
        Body::new(Guarded {
            inner: body,
            _guard: guard,
        })
    })
}

/// A response body that keeps its request counted as in progress until it ends.
struct Guarded {
    inner: Body,
    _guard: InFlight,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A socket that reports the bytes it reads to its connection's [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
