//! Commit latency of the metering path alone: one usage record at a time through the
//! [`Meter`] (channel → writer task → one SQLite transaction with its rollup triggers → ack),
//! the wait a gateway response adds before it is released.
//!
//! ```text
//! cargo run --release --example metering_commit -- [records]
//! ```

use std::time::{Duration, Instant};

use tollgate::metering::{CallStart, CallStatus, Endpoint, Meter, UsageRecord};
use tollgate::store::Store;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let dir = tempfile::TempDir::new().unwrap();
    let store = Store::connect(&format!("sqlite://{}/commit.db", dir.path().display()))
        .await
        .unwrap();
    let meter = Meter::spawn(store.clone(), Default::default());
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let start = CallStart {
            id: format!("gen_bench_{i}"),
            started_at: chrono::Utc::now(),
            key_id: Some(format!("key_{}", i % 50)),
            team_id: Some(format!("team-{}", i % 10)),
            model_id: "bench-model".into(),
            requested_model: None,
            provider_id: Some("bench".into()),
            upstream_model: None,
            endpoint: Endpoint::OpenaiChat,
            streamed: false,
            price_version_id: None,
        };
        let record = UsageRecord::from_start(&start, CallStatus::Ok, 200);
        let t = Instant::now();
        meter.record(record).await.unwrap();
        times.push(t.elapsed());
    }
    meter.shutdown().await;
    times.sort();
    let at = |p: f64| times[((n - 1) as f64 * p) as usize];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{n} sequential records: p50={:.0} us  p90={:.0} us  p99={:.0} us  max={:.0} us",
        us(at(0.5)),
        us(at(0.9)),
        us(at(0.99)),
        us(at(1.0))
    );
}
