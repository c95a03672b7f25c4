//! A bare proxy hop built from the crates Tollgate is built from, doing nothing else: axum
//! (hyper) takes the request, reqwest posts its body to the upstream on a keep-alive pool, the
//! answer's bytes stream back. No parsing, no catalog, no metering.
//!
//! `bench/compare` measures it beside the bare nginx hop: the difference between the two is
//! what the Rust HTTP stack itself costs on this machine, and the difference between it and
//! Tollgate is Tollgate's own work (docs/benchmarks.md).
//!
//! ```text
//! cargo run --release --example rust_hop -- 127.0.0.1:8081 http://127.0.0.1:8080
//! cargo run --release --example rust_hop -- 127.0.0.1:8081 http://127.0.0.1:8080 commit=task
//! ```
//!
//! An experiment, not a baseline: with `commit=task` or `commit=thread` every call also waits,
//! after its answer is read, for a simulated commit of its record before it answers (16 page
//! writes of 4 KB to a temp file per batch, on a thread of its own, no fsync), to measure what
//! the shape of the hand-off costs in thread switches (`bench/switches hop-task|hop-thread`):
//! - `task`: Tollgate's shape with sqlx's SQLite driver: the call hands its record to a writer
//!   task, which batches and hands the batch to the database thread, waits for it, and acks the
//!   calls;
//! - `thread`: the call hands its record straight to the database thread, which batches,
//!   writes and acks the calls itself (a writer that owned its SQLite connection);
//! - `lead`: no writer task: the call queues its record, and whichever call holds the
//!   writer's lock takes the queue, hands it to the database thread as one batch, waits for it
//!   and acks the calls in it (group commit led by the calls themselves);
//! - `inline`: as `lead`, but the lock's holder writes the batch itself, on its runtime worker,
//!   synchronously (no database thread: what a synchronous SQLite API would allow);
//! - `meter`: not simulated: Tollgate's own metering path (its store on a fresh SQLite file in
//!   the temp dir, its migrations, its writer, its rollup triggers) commits a usage record like
//!   a gateway call's before each answer. The hop then does what any gateway must to keep
//!   Tollgate's promise (every answered call on disk first), and nothing of the gateway's own
//!   work (no parsing, keys, catalog, prices or splicing): the floor of a metered hop.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone)]
struct Hop {
    client: reqwest::Client,
    upstream: String,
    commit: Option<Commit>,
}

/// Where a call sends its record and waits for the commit (see the module's doc).
#[derive(Clone)]
enum Commit {
    Task(tokio::sync::mpsc::Sender<Ack>),
    Thread(std::sync::mpsc::Sender<Ack>),
    Lead(std::sync::Arc<Leader>),
    Meter(tollgate::metering::Meter),
}

/// `commit=lead` and `commit=inline`: the queue of records and the lock whose holder writes it.
struct Leader {
    queue: std::sync::Mutex<Vec<Ack>>,
    disk: tokio::sync::Mutex<Disk>,
}

/// How the holder of [`Leader`]'s lock writes a batch.
enum Disk {
    /// Hands it to the database thread and waits (`commit=lead`).
    Thread(std::sync::mpsc::Sender<Ack>),
    /// Writes it itself, on its runtime worker (`commit=inline`).
    Inline(Pages),
}

type Ack = tokio::sync::oneshot::Sender<()>;

impl Commit {
    async fn start(kind: &str) -> Commit {
        if kind == "commit=meter" {
            return Commit::Meter(meter().await);
        }
        let lead = |disk| {
            Commit::Lead(std::sync::Arc::new(Leader {
                queue: std::sync::Mutex::new(Vec::new()),
                disk: tokio::sync::Mutex::new(disk),
            }))
        };
        if kind == "commit=inline" {
            return lead(Disk::Inline(Pages::new()));
        }
        let (to_disk, from_calls) = std::sync::mpsc::channel::<Ack>();
        std::thread::spawn(move || database_thread(from_calls));
        match kind {
            "commit=thread" => Commit::Thread(to_disk),
            "commit=lead" => lead(Disk::Thread(to_disk)),
            "commit=task" => {
                let (tx, rx) = tokio::sync::mpsc::channel(8192);
                tokio::spawn(writer_task(rx, to_disk));
                Commit::Task(tx)
            }
            other => {
                eprintln!("unknown mode {other}: commit=task, commit=thread, commit=lead, commit=inline or commit=meter");
                std::process::exit(2);
            }
        }
    }

    async fn record(&self) {
        let (ack, done) = tokio::sync::oneshot::channel();
        match self {
            Commit::Task(tx) => drop(tx.send(ack).await),
            Commit::Thread(tx) => drop(tx.send(ack)),
            Commit::Lead(leader) => return leader.record(ack, done).await,
            Commit::Meter(meter) => {
                if let Err(e) = meter.record(usage_record()).await {
                    eprintln!("record not committed: {e}");
                }
                return;
            }
        }
        let _ = done.await;
    }
}

impl Leader {
    /// Queues the call's ack, then waits for it, or for the lock: its holder writes whatever
    /// is queued (its own record among them, unless an earlier holder took it) as one batch.
    async fn record(&self, ack: Ack, mut done: tokio::sync::oneshot::Receiver<()>) {
        self.queue.lock().expect("queue").push(ack);
        loop {
            tokio::select! {
                biased;
                _ = &mut done => return,
                mut disk = self.disk.lock() => {
                    if done.try_recv().is_ok() {
                        return;
                    }
                    let acks = std::mem::take(&mut *self.queue.lock().expect("queue"));
                    disk.write_batch().await;
                    for ack in acks {
                        let _ = ack.send(());
                    }
                }
            }
        }
    }
}

impl Disk {
    async fn write_batch(&mut self) {
        match self {
            Disk::Thread(disk) => {
                let (batch_done, committed) = tokio::sync::oneshot::channel();
                if disk.send(batch_done).is_ok() {
                    let _ = committed.await;
                }
            }
            Disk::Inline(pages) => pages.write_batch(),
        }
    }
}

/// Tollgate's metering writer on a fresh SQLite file in the temp dir (`commit=meter`).
async fn meter() -> tollgate::metering::Meter {
    let path = std::env::temp_dir().join(format!("rust_hop_meter.{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let store = tollgate::store::Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    drop_for_experiment(&path).await;
    let metrics = std::sync::Arc::new(tollgate::telemetry::Metrics::new());
    tollgate::metering::Meter::spawn(store, metrics)
}

/// `METER_DROP=name,…`: indexes or triggers to drop from the fresh database before the load,
/// to measure what each page a record touches costs its commit (an experiment: the reports
/// and audit pages need them all).
async fn drop_for_experiment(path: &std::path::Path) {
    use sqlx::Connection;
    let Ok(names) = std::env::var("METER_DROP") else {
        return;
    };
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("the meter's database opens");
    for name in names.split(',').filter(|n| !n.is_empty()) {
        let kind = if name.starts_with("usage_records_hourly")
            || name.starts_with("usage_records_daily")
        {
            "TRIGGER"
        } else {
            "INDEX"
        };
        sqlx::query(&format!("DROP {kind} {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("DROP {kind} {name}: {e}"));
        eprintln!("dropped {kind} {name}");
    }
    let _ = conn.close().await;
}

/// A record shaped like a plain non-streaming gateway call's.
fn usage_record() -> tollgate::metering::UsageRecord {
    use tollgate::metering::{CallStatus, Endpoint, UsageRecord, UsageSource};
    let now = chrono::Utc::now();
    UsageRecord {
        id: format!("gen_{}", uuid::Uuid::now_v7().simple()),
        started_at: now,
        finished_at: now,
        key_id: Some("key_hop".into()),
        team_id: None,
        model_id: "gpt-4o-mini".into(),
        requested_model: None,
        provider_id: Some("upstream".into()),
        upstream_model: Some("gpt-4o-mini".into()),
        endpoint: Endpoint::OpenaiChat,
        streamed: false,
        status: CallStatus::Ok,
        http_status: 200,
        upstream_status: Some(200),
        usage: tollgate::pricing::Usage {
            input_tokens: 13,
            output_tokens: 9,
            ..Default::default()
        },
        usage_source: UsageSource::Upstream,
        price_version_id: None,
        cost: rust_decimal::Decimal::new(735, 8),
        latency_ms: 1,
        ttft_ms: None,
        error: None,
        usage_note: None,
    }
}

/// The simulated database file: 16 pages of 4 KB written per batch, no fsync.
struct Pages {
    file: std::fs::File,
    offset: u64,
}

impl Pages {
    fn new() -> Pages {
        Pages {
            file: tempfile_in_tmp(),
            offset: 0,
        }
    }

    fn write_batch(&mut self) {
        use std::os::unix::fs::FileExt;
        let page = [7u8; 4096];
        for _ in 0..16 {
            let _ = self.file.write_at(&page, self.offset);
            self.offset = (self.offset + 4096) % (64 << 20);
        }
    }
}

/// The database thread: takes what is queued, writes one batch, acks it. With `commit=task`
/// each item is a whole batch's ack from the writer task; with `commit=thread`, a call's.
fn database_thread(from: std::sync::mpsc::Receiver<Ack>) {
    let mut pages = Pages::new();
    while let Ok(first) = from.recv() {
        let mut acks = vec![first];
        acks.extend(from.try_iter().take(511));
        pages.write_batch();
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

fn tempfile_in_tmp() -> std::fs::File {
    let path = std::env::temp_dir().join(format!("rust_hop_commit.{}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .expect("a temp file");
    let _ = std::fs::remove_file(&path);
    file
}

/// Tollgate's shape: batch the calls' acks, hand the batch to the database thread, wait for
/// it, ack the calls.
async fn writer_task(mut rx: tokio::sync::mpsc::Receiver<Ack>, disk: std::sync::mpsc::Sender<Ack>) {
    while let Some(first) = rx.recv().await {
        let mut acks = vec![first];
        while acks.len() < 512 {
            match rx.try_recv() {
                Ok(a) => acks.push(a),
                Err(_) => break,
            }
        }
        let (done, committed) = tokio::sync::oneshot::channel();
        if disk.send(done).is_err() {
            return;
        }
        let _ = committed.await;
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: rust_hop LISTEN_ADDR UPSTREAM_BASE_URL");
        std::process::exit(2);
    };
    let hop = Hop {
        client: reqwest::Client::new(),
        upstream: upstream.trim_end_matches('/').to_string(),
        commit: match args.next() {
            Some(kind) => Some(Commit::start(&kind).await),
            None => None,
        },
    };
    let app = Router::new().fallback(forward).with_state(hop);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {listen}: {e}"));
    axum::serve(listener, app).await.expect("the server runs");
}

async fn forward(State(hop): State<Hop>, req: Request) -> Response {
    let target = format!(
        "{}{}",
        hop.upstream,
        req.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let Ok(body) = axum::body::to_bytes(req.into_body(), 1 << 24).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let sent = hop
        .client
        .post(target)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    match sent {
        Ok(answer) if hop.commit.is_some() => {
            let status = answer.status();
            let kind = answer.headers().get(header::CONTENT_TYPE).cloned();
            let Ok(bytes) = answer.bytes().await else {
                return StatusCode::BAD_GATEWAY.into_response();
            };
            if let Some(commit) = &hop.commit {
                commit.record().await;
            }
            let mut response = Response::builder().status(status);
            if let Some(kind) = kind {
                response = response.header(header::CONTENT_TYPE, kind);
            }
            response
                .body(Body::from(bytes))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status());
            if let Some(kind) = answer.headers().get(header::CONTENT_TYPE) {
                response = response.header(header::CONTENT_TYPE, kind.clone());
            }
            response
                .body(Body::from_stream(answer.bytes_stream()))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
