//! The server against hostile connections and requests: slow request heads, idle and surplus
//! connections, huge unauthenticated bodies, wrong content types, tokenizer bombs, panics.
//! Every test talks to the real server over TCP; raw sockets where a client library would
//! hide what the attacker does.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gateway_support::{gateway_with, message, Gw};
use crate::helpers::{settings_in, spawn_with, TestApp};

async fn app_with(f: impl FnOnce(&mut tollgate::configuration::Settings)) -> TestApp {
    let dir = tempfile::TempDir::new().unwrap();
    let mut settings = settings_in(&dir);
    f(&mut settings);
    spawn_with(dir, settings).await
}

async fn gateway_where(f: impl FnOnce(&mut tollgate::configuration::Settings)) -> Gw {
    gateway_with(app_with(f).await).await
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Reads until the peer closes the connection (EOF or reset); false when it is still open
/// after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Reads one answer's status line and as much of the answer as arrives within `limit`.
async fn read_answer(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let _ = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got);
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= length {
                            return;
                        }
                    }
                }
            }
        }
    })
    .await;
    (!got.is_empty()).then(|| String::from_utf8_lossy(&got).into_owned())
}

fn body_json(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
}

/// Slowloris: 200 connections each sending a request head a byte at a time. The server closes
/// every one once the (here 1 s) header timeout passes, and answers `/healthz` meanwhile.
#[tokio::test]
async fn request_heads_sent_a_byte_at_a_time_are_cut_off() {
    let app = app_with(|s| s.header_read_timeout_ms = 1_000).await;
    let target = addr(&app);
    let mut dribblers = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&target).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        dribblers.push(tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let outcome = tokio::time::timeout(Duration::from_secs(30), async {
                loop {
                    tokio::select! {
                        read = stream.read(&mut buf) => match read {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        },
                        () = tokio::time::sleep(Duration::from_millis(100)) => {
                            if stream.write_all(b"x").await.is_err() {
                                return;
                            }
                        }
                    }
                }
            })
            .await;
            outcome.is_ok()
        }));
    }
    let health = tokio::time::timeout(Duration::from_secs(10), app.get("/healthz"))
        .await
        .expect("/healthz answers while 200 slow heads are open");
    assert_eq!(health.status(), 200);
    let mut closed = 0;
    for d in dribblers {
        if d.await.unwrap() {
            closed += 1;
        }
    }
    assert_eq!(closed, 200, "every slow request head is cut off");
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
}

/// A keep-alive connection outlives the request-head timeout between requests, and is closed
/// once idle for the idle timeout.
#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let app = app_with(|s| {
        s.header_read_timeout_ms = 500;
        s.idle_timeout_ms = 8_000;
    })
    .await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    stream.write_all(request).await.unwrap();
    let first = read_answer(&mut stream, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stream.write_all(request).await.unwrap();
    let second = read_answer(&mut stream, Duration::from_secs(10))
        .await
        .expect("a keep-alive connection is not cut by the request-head timeout");
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    assert!(
        closed_within(&mut stream, Duration::from_secs(40)).await,
        "an idle connection is closed"
    );
}

/// A connection that never sends a byte is closed after the request-head timeout.
#[tokio::test]
async fn silent_connections_are_closed() {
    let app = app_with(|s| s.header_read_timeout_ms = 500).await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    assert!(closed_within(&mut stream, Duration::from_secs(30)).await);
}

/// Beyond the connection limit, a new connection waits (in the backlog) until a slot frees.
#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let app = app_with(|s| {
        s.max_connections = Some(2);
        s.header_read_timeout_ms = 2_000;
    })
    .await;
    let target = addr(&app);
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(&target).await.unwrap());
    }
    // Give the server time to accept both.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::new();
    let url = app.url("/healthz");
    let pending = tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !pending.is_finished(),
        "a third connection is not served while two are open"
    );
    let status = tokio::time::timeout(Duration::from_secs(30), pending)
        .await
        .expect("served once the silent connections are closed")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    drop(held);
}

/// Writes a request head announcing a 15 MB body and a little of it, then stops: the answer
/// must come without the rest of the body.
async fn send_partial(app: &TestApp, path: &str, headers: &str) -> String {
    let mut stream = TcpStream::connect(addr(app)).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}Content-Length: 15000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut chunk = br#"{"model":"oa-model","messages":["#.to_vec();
    chunk.extend(std::iter::repeat_n(b' ', 128 * 1024));
    stream.write_all(&chunk).await.unwrap();
    read_answer(&mut stream, Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("no answer on {path} before the body was sent"))
}

/// An unauthenticated caller is refused before its body is read: the 401 arrives although the
/// client never finishes sending the 15 MB it announced.
#[tokio::test]
async fn unauthenticated_bodies_are_refused_before_they_are_read() {
    let gw = gateway_where(|_| {}).await;
    let answer = send_partial(&gw.app, "/v1/chat/completions", "").await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_eq!(body_json(&answer)["error"]["type"], "authentication_error");
    let answer = send_partial(
        &gw.app,
        "/v1/messages",
        "Authorization: Bearer tg-not-a-key\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let e = body_json(&answer);
    assert_eq!(e["type"], "error", "Anthropic shape: {e}");
    assert_eq!(e["error"]["type"], "authentication_error");
    let answer = send_partial(&gw.app, "/v1/messages/count_tokens", "x-api-key: nope\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // ModelsLab callers may put the key in the body, so a little of it is read: not 15 MB.
    let answer = send_partial(&gw.app, "/api/v7/llm/chat/completions", "").await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        body_json(&answer)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization"),
        "{answer}"
    );
    // A small ModelsLab request with its key in the body still works.
    let mut body = crate::gateway_support::chat("oa-model");
    body["key"] = json!(gw.key);
    let r = gw
        .app
        .client
        .post(gw.app.url("/api/v7/llm/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = message("an-model");
    body["key"] = json!("tg-wrong");
    let r = gw
        .app
        .client
        .post(gw.app.url("/api/v7/llm/v1/messages"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// A JSON endpoint refuses a body declared as text or a form with a 415 in the caller's
/// dialect; a request with no Content-Type is read as JSON.
#[tokio::test]
async fn non_json_content_types_are_refused_with_415() {
    let gw = gateway_where(|_| {}).await;
    let send = |path: &'static str, content_type: Option<&'static str>, body: Value| {
        let mut req = gw
            .app
            .client
            .post(gw.app.url(path))
            .bearer_auth(&gw.key)
            .body(body.to_string());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let chat = crate::gateway_support::chat("oa-model");
    let r = send("/v1/chat/completions", Some("text/plain"), chat.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    assert_eq!(e["error"]["code"], "unsupported_media_type");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("application/json"));
    let r = send(
        "/v1/messages",
        Some("application/x-www-form-urlencoded"),
        message("an-model"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 415);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["type"], "error", "Anthropic shape: {e}");
    assert_eq!(e["error"]["type"], "invalid_request_error");
    let r = send("/v1/chat/completions", None, chat.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "no Content-Type is read as JSON");
    let r = send(
        "/v1/chat/completions",
        Some("application/json; charset=utf-8"),
        chat,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = gw
        .app
        .client
        .post(gw.app.url("/admin/teams"))
        .bearer_auth(crate::helpers::ADMIN)
        .header("content-type", "text/plain")
        .body(json!({"id": "t"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "admin endpoints too");
}

fn one_word(bytes: usize) -> Value {
    json!({"model": "an-model", "messages": [{"role": "user", "content": "a".repeat(bytes)}]})
}

/// count_tokens refuses more text than its limit with a 413 that says so; below it, it counts.
#[tokio::test]
async fn count_tokens_input_is_bounded() {
    let gw = gateway_where(|s| s.count_tokens_max_bytes = 10_000).await;
    let r = gw.post("/v1/messages/count_tokens", one_word(20_000)).await;
    assert_eq!(r.status(), 413);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "request_too_large", "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("10000"),
        "{e}"
    );
    let r = gw.post("/v1/messages/count_tokens", one_word(5_000)).await;
    assert_eq!(r.status(), 200);
    // Images do not count towards the limit: the tokenizer skips them.
    let mut with_image = message("an-model");
    with_image["messages"][0]["content"] = json!([
        {"type": "text", "text": "what is this"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A".repeat(50_000)}}
    ]);
    let r = gw.post("/v1/messages/count_tokens", with_image).await;
    assert_eq!(r.status(), 200);
}

/// Tokenizing a huge single word runs off the async runtime: `/healthz` answers while it
/// runs (the test runtime has one thread, shared with the server).
#[tokio::test]
async fn tokenizing_does_not_block_the_server() {
    let gw = gateway_where(|s| s.count_tokens_max_bytes = 16 * 1024 * 1024).await;
    let client = gw.app.client.clone();
    let url = gw.app.url("/v1/messages/count_tokens");
    let key = gw.key.clone();
    let counting = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(key)
            .json(&one_word(8_000_000))
            .send()
            .await
            .map(|r| r.status())
    });
    // Time for the body to arrive and the tokenizer to start (seconds of work).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let health = tokio::time::timeout(Duration::from_secs(60), gw.app.get("/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        !counting.is_finished(),
        "/healthz answered while the tokenizer was still running"
    );
    let status = tokio::time::timeout(Duration::from_secs(300), counting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
}

/// ModelsLab's `model_id` stands for `model` on its count_tokens path, as on its chat paths.
#[tokio::test]
async fn modelslab_count_tokens_accepts_model_id() {
    let gw = gateway_where(|_| {}).await;
    let mut body = message("an-model");
    let model = body.as_object_mut().unwrap().remove("model").unwrap();
    body["model_id"] = model;
    let r = gw.post("/api/v7/llm/v1/messages/count_tokens", body).await;
    assert_eq!(r.status(), 200);
    let n = r.json::<Value>().await.unwrap()["input_tokens"]
        .as_u64()
        .unwrap();
    assert!(n > 0);
}

/// Input that makes a handler fail inside (a date range at the edge of chrono's calendar)
/// gets a JSON answer in the caller's dialect, never a dropped connection.
#[tokio::test]
async fn a_failing_handler_still_answers_in_the_callers_dialect() {
    let gw = gateway_where(|_| {}).await;
    let path = "/v1/spend?to=-262143-01-05T00:00:00Z";
    let r = gw
        .app
        .client
        .get(gw.app.url(path))
        .bearer_auth(&gw.key)
        .send()
        .await
        .expect("an answer, not a dropped connection");
    assert!(matches!(r.status().as_u16(), 400 | 500), "{}", r.status());
    let e: Value = r.json().await.unwrap();
    assert!(e["error"]["message"].is_string(), "{e}");
    let r = gw
        .app
        .client
        .get(gw.app.url(path))
        .bearer_auth(&gw.key)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .expect("an answer, not a dropped connection");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["type"], "error", "Anthropic shape: {e}");
}
