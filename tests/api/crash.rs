//! Durability: completed calls survive SIGKILL; calls in flight are closed out at restart.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::mock::Mock;

const ADMIN: &str = "crash-admin";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(db: &std::path::Path, port: u16) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("serve")
        .env("TOLLGATE_ADMIN_TOKEN", ADMIN)
        .env("TOLLGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "TOLLGATE_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("TOLLGATE_SEEDS_DIR", crate::helpers::seeds_dir())
        .env("TOLLGATE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start");
}

#[tokio::test]
async fn completed_calls_survive_sigkill_and_in_flight_calls_are_closed_out() {
    let mock = Mock::start().await;
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("crash.db");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start(&db, port).await;
    let client = reqwest::Client::new();
    let admin = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    admin(
        "/admin/providers",
        json!({"id":"mock","kind":"openai","base_url": format!("{}/v1", mock.base)}),
    )
    .await
    .unwrap();
    admin("/admin/models", json!({"id":"m","name":"M","provider":"mock","price":{"input_per_mtok":"1","output_per_mtok":"2"}})).await.unwrap();
    let key: Value = admin("/admin/keys", json!({"name":"crash"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_string();

    let mut ids = Vec::new();
    for i in 0..30 {
        let stream = i % 2 == 1;
        let body = json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": format!("call {i}")}]});
        let r = client
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        ids.push(r.headers()["x-request-id"].to_str().unwrap().to_string());
        let text = r.text().await.unwrap();
        if stream {
            assert!(text.ends_with("data: [DONE]\n\n"), "the stream completed");
        }
    }

    mock.set(|s| {
        s.chunk_delay_ms = 2000;
        s.text = "slow slow slow slow slow".into();
    });
    let body = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "in flight"}]});
    let mut in_flight = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let in_flight_id = in_flight.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = in_flight.chunk().await;
    // Starts are written once a call has been in flight for half a second.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(in_flight);

    let mut child = start(&db, port).await;
    for id in &ids {
        let r = client
            .get(format!("{base}/v1/generations/{id}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "record of completed call {id} is on disk");
        let g: Value = r.json().await.unwrap();
        assert_eq!(g["data"]["status"], "ok");
        assert_eq!(g["data"]["cost_usd"], "0.002000");
    }
    let r = client
        .get(format!("{base}/v1/generations/{in_flight_id}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the call in flight was closed out");
    let g: Value = r.json().await.unwrap();
    assert_eq!(g["data"]["status"], "interrupted");
    assert_eq!(g["data"]["cost_usd"], "0.000000");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn reservations_of_calls_cut_short_by_sigkill_are_released_at_restart() {
    let mock = Mock::start().await;
    mock.set(|s| s.chunk_delay_ms = 2000);
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("reserve.db");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start(&db, port).await;
    let client = reqwest::Client::new();
    let admin = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    admin(
        "/admin/providers",
        json!({"id":"mock","kind":"openai","base_url": format!("{}/v1", mock.base)}),
    )
    .await
    .unwrap();
    admin("/admin/models", json!({"id":"m","name":"M","provider":"mock","price":{"input_per_mtok":"1","output_per_mtok":"2"}})).await.unwrap();
    let key: Value = admin(
        "/admin/keys",
        json!({"name":"budgeted","budget":{"limit_usd":"1","period":"total"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    let info = |client: reqwest::Client, base: String, key: String| async move {
        let v: Value = client
            .get(format!("{base}/v1/key"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["data"]["budgets"][0].clone()
    };
    // A call that completes first: settling it must remove its reservation, or the restart
    // would release it a second time.
    let done = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "m", "max_tokens": 1000, "messages": [{"role": "user", "content": "done"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let cost = done.headers()["x-tollgate-cost"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(cost, "0.000000");
    let body = json!({"model": "m", "stream": true, "max_tokens": 1000, "messages": [{"role": "user", "content": "in flight"}]});
    let mut in_flight = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let _ = in_flight.chunk().await;
    let during = info(client.clone(), base.clone(), key.clone()).await;
    assert_ne!(
        during["reserved_usd"], "0.000000",
        "the call in flight holds a reservation"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    drop(in_flight);

    let mut child = start(&db, port).await;
    let after = info(client.clone(), base.clone(), key.clone()).await;
    assert_eq!(
        after["reserved_usd"], "0.000000",
        "no budget stays locked by a dead call"
    );
    assert_eq!(
        after["spent_usd"], cost,
        "only the completed call is charged"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
