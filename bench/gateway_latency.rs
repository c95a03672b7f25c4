//! Added latency of the gateway at a fixed request rate, every call metered.
//!
//! Runs an in-process mock upstream, starts the `tollgate` binary (release build) in front of
//! it on a fresh SQLite file, then sends the same open-loop load (a request every 1/rate s,
//! not waiting for answers) first straight to the upstream and then through the gateway, and
//! prints p50/p90/p99 of both and their difference. Finally it checks that every gateway call
//! has its usage record. With `budget`, the key has a hard monthly budget, so every call also
//! reserves its maximum cost before it is forwarded and settles it with its record.
//!
//! ```text
//! cargo build --release && cargo run --release --example gateway_latency -- [rate] [seconds] [budget]
//! ```
//!
//! With `BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432` the gateway runs on a fresh
//! PostgreSQL database on that server (created with `createdb`, dropped at the end) instead.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use sqlx::Connection;

const ADMIN: &str = "bench-admin";

async fn upstream(Json(body): Json<Value>) -> Json<Value> {
    Json(
        json!({"id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the benchmark upstream."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 25, "completion_tokens": 9, "total_tokens": 34, "prompt_tokens_details": {"cached_tokens": 0}}}),
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Open-loop load: one request every `1/rate` seconds for `secs` seconds.
async fn load(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    rate: u64,
    secs: u64,
) -> (Vec<Duration>, usize) {
    let body = Arc::new(
        json!({"model": "bench-model", "messages": [{"role": "user", "content": "Say hello in one short sentence."}]}),
    );
    let mut ticker = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut handles = Vec::new();
    for _ in 0..rate * secs {
        ticker.tick().await;
        let (client, url, body, key) = (
            client.clone(),
            url.to_string(),
            body.clone(),
            key.map(str::to_string),
        );
        handles.push(tokio::spawn(async move {
            let start = Instant::now();
            let mut req = client.post(url).json(&*body);
            if let Some(k) = key {
                req = req.bearer_auth(k);
            }
            let ok = match req.send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            (start.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (d, ok) = h.await.unwrap();
        if ok {
            latencies.push(d);
        } else {
            errors += 1;
        }
    }
    latencies.sort();
    (latencies, errors)
}

/// CPU time (user + system) the process has used, from /proc (Linux).
fn cpu_ms(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name;
    // the kernel counts them in clock ticks of 10 ms.
    (ticks(11) + ticks(12)) * 10
}

fn report(name: &str, l: &[Duration], errors: usize) {
    println!(
        "{name:<10} n={:<6} errors={errors:<4} p50={:>8.3} ms  p90={:>8.3} ms  p99={:>8.3} ms  max={:>8.3} ms",
        l.len(),
        percentile(l, 0.50).as_secs_f64() * 1e3,
        percentile(l, 0.90).as_secs_f64() * 1e3,
        percentile(l, 0.99).as_secs_f64() * 1e3,
        l.last().unwrap().as_secs_f64() * 1e3
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rate = args.first().copied().unwrap_or(2000);
    let secs = args.get(1).copied().unwrap_or(10);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            Router::new().route("/v1/chat/completions", post(upstream)),
        )
        .await
    });

    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("bench.db");
    let pg = std::env::var("BENCH_POSTGRES_URL").ok().map(|server| {
        let name = format!("tgbench_{}", std::process::id());
        let created = Command::new("createdb")
            .args(["-h", "127.0.0.1", "-U", "postgres", &name])
            .status()
            .expect("createdb runs");
        assert!(created.success(), "createdb {name}");
        (format!("{}/{name}", server.trim_end_matches('/')), name)
    });
    let database_url = pg.as_ref().map_or_else(
        || format!("sqlite://{}", db.display()),
        |(url, _)| url.clone(),
    );
    println!("database: {database_url}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = std::env::var("TOLLGATE_BIN").unwrap_or_else(|_| "target/release/tollgate".into());
    let mut child = Command::new(&binary)
        .args(["serve"])
        .env("TOLLGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("TOLLGATE_DATABASE_URL", &database_url)
        .env("TOLLGATE_ADMIN_TOKEN", ADMIN)
        .env(
            "TOLLGATE_LOG",
            std::env::var("BENCH_GATEWAY_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(std::fs::File::create("/tmp/gw.log").unwrap())
        .spawn()
        .expect("run cargo build --release first (or set TOLLGATE_BIN)");
    let gw = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .build()
        .unwrap();
    for _ in 0..100 {
        if client.get(format!("{gw}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admin = |path: &str, body: Value| {
        client
            .post(format!("{gw}{path}"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    admin(
        "/admin/providers",
        json!({"id": "bench", "kind": "openai", "base_url": format!("{upstream_url}/v1")}),
    )
    .await
    .unwrap();
    admin("/admin/models", json!({"id": "bench-model", "name": "Bench", "provider": "bench", "price": {"input_per_mtok": "2.00", "output_per_mtok": "6.00"}})).await.unwrap();
    let with_budget = std::env::args().any(|a| a == "budget");
    let key_body = if with_budget {
        json!({"name": "bench", "budget": {"limit_usd": "1000000", "period": "monthly", "mode": "hard"}})
    } else {
        json!({"name": "bench"})
    };
    let key: Value = admin("/admin/keys", key_body)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_string();

    println!(
        "rate {rate} req/s for {secs} s, open loop, non-streaming chat completions{}",
        if with_budget {
            ", key with a hard budget"
        } else {
            ""
        }
    );
    let _ = load(
        &client,
        &format!("{upstream_url}/v1/chat/completions"),
        None,
        rate,
        1,
    )
    .await; // warm-up
    let _ = load(
        &client,
        &format!("{gw}/v1/chat/completions"),
        Some(&key),
        rate,
        1,
    )
    .await;
    let (direct, e1) = load(
        &client,
        &format!("{upstream_url}/v1/chat/completions"),
        None,
        rate,
        secs,
    )
    .await;
    let cpu_before = cpu_ms(child.id());
    let (through, e2) = load(
        &client,
        &format!("{gw}/v1/chat/completions"),
        Some(&key),
        rate,
        secs,
    )
    .await;
    let cpu = cpu_ms(child.id()) - cpu_before;
    report("direct", &direct, e1);
    report("gateway", &through, e2);
    let diff =
        |p| (percentile(&through, p).as_secs_f64() - percentile(&direct, p).as_secs_f64()) * 1e3;
    println!(
        "added     p50={:.3} ms  p90={:.3} ms  p99={:.3} ms",
        diff(0.5),
        diff(0.9),
        diff(0.99)
    );

    println!(
        "gateway CPU: {cpu} ms for {} calls = {:.1} us per call",
        through.len() + e2,
        cpu as f64 * 1e3 / (through.len() + e2) as f64
    );

    let count = "SELECT COUNT(*) FROM usage_records WHERE status = 'ok'";
    let (records,): (i64,) = match &pg {
        Some((url, _)) => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_as(count).fetch_one(&mut conn).await.unwrap()
        }
        None => {
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
            sqlx::query_as(count).fetch_one(&mut conn).await.unwrap()
        }
    };
    let expected = (rate * (secs + 1)) as usize - e2;
    println!("usage records: {records} (successful gateway calls: {expected})");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    if let Some((_, name)) = pg {
        let _ = Command::new("dropdb")
            .args(["-h", "127.0.0.1", "-U", "postgres", "--force", &name])
            .status();
    }
}
