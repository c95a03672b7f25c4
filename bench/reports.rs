//! Report latency on a large usage ledger.
//!
//! ```text
//! cargo build --release
//! target/release/tollgate dev generate-usage --calls 10000000 --database-url sqlite:///tmp/bench.db
//! cargo run --release --example reports -- sqlite:///tmp/bench.db
//! ```
//!
//! Starts the release binary on the database and times each report over HTTP (20 runs each,
//! after one warm-up), printing the median and the slowest.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const ADMIN: &str = "bench-admin";

#[tokio::main]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite:///tmp/bench.db".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = std::env::var("TOLLGATE_BIN").unwrap_or_else(|_| "target/release/tollgate".into());
    let mut child = Command::new(binary)
        .arg("serve")
        .env("TOLLGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("TOLLGATE_DATABASE_URL", &url)
        .env("TOLLGATE_ADMIN_TOKEN", ADMIN)
        .env("TOLLGATE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let get = |path: String| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(ADMIN)
            .send()
    };
    let first: Value = get("/admin/usage?limit=1".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = first["data"][0]["key_id"]
        .as_str()
        .unwrap_or("none")
        .to_string();
    let summary: Value = get("/admin/spend?group_by=".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!(
        "ledger: {} calls in the last 30 days, total {} USD",
        summary["total"]["requests"], summary["total"]["cost_usd"]
    );
    let page2: Value = get("/admin/usage?limit=100".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = page2["next_cursor"].as_str().unwrap_or("").to_string();
    let now = chrono::Utc::now();
    let odd_from = (now - chrono::Duration::days(20) + chrono::Duration::minutes(17))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let cases = vec![
        (
            "spend, 30 days, total".to_string(),
            "/admin/spend".to_string(),
        ),
        (
            "spend by model".into(),
            "/admin/spend?group_by=model".into(),
        ),
        (
            "spend by key,model".into(),
            "/admin/spend?group_by=key,model".into(),
        ),
        (
            "spend by team,day".into(),
            "/admin/spend?group_by=team,day".into(),
        ),
        (
            "spend by model,day, tz Europe/Berlin".into(),
            "/admin/spend?group_by=model,day&tz=Europe/Berlin".into(),
        ),
        (
            "spend by provider,hour, one key".into(),
            format!("/admin/spend?group_by=provider,hour&key={key}"),
        ),
        (
            "spend by model, unaligned range".into(),
            format!("/admin/spend?group_by=model&from={odd_from}"),
        ),
        (
            "audit page (100 newest)".into(),
            "/admin/usage?limit=100".into(),
        ),
        (
            "audit page, one key".into(),
            format!("/admin/usage?limit=100&key={key}"),
        ),
        (
            "audit page 2 (cursor)".into(),
            format!("/admin/usage?limit=100&cursor={cursor}"),
        ),
    ];
    for (name, path) in cases {
        let _ = get(path.clone()).await.unwrap().bytes().await.unwrap();
        let mut times = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let r = get(path.clone()).await.unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
            let _ = r.bytes().await.unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{name:<40} median {:>8.2} ms   max {:>8.2} ms",
            times[10].as_secs_f64() * 1e3,
            times[19].as_secs_f64() * 1e3
        );
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
