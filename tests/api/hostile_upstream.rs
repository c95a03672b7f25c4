//! A broken or lying upstream cannot break the gateway's promises: absurd usage is counted
//! locally without costing another call its record, hard budgets hold (n, functions, `data:`
//! text, an upstream that ignores the output cap or bills unseen input), and the provider's
//! key never reaches a caller, a record or a redirect target.

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use axum::routing::any;
use axum::Router;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::gateway_support::{chat, gateway, message, request_id, sse_events, Gw};

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a decimal: {v}"))).unwrap()
}

async fn new_key(gw: &Gw, body: Value) -> String {
    let (s, k) = gw.app.admin(Method::POST, "/admin/keys", Some(body)).await;
    assert_eq!(s, 201, "{k}");
    k["key"].as_str().unwrap().to_string()
}

async fn post_as(gw: &Gw, secret: &str, path: &str, body: &Value) -> reqwest::Response {
    gw.app
        .client
        .post(gw.app.url(path))
        .bearer_auth(secret)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn generation_as(gw: &Gw, secret: &str, id: &str) -> Value {
    let r = gw
        .app
        .client
        .get(gw.app.url(&format!("/v1/generations/{id}")))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "generation {id}");
    r.json::<Value>().await.unwrap()["data"].clone()
}

async fn spent(gw: &Gw, secret: &str) -> Decimal {
    let r = gw
        .app
        .client
        .get(gw.app.url("/v1/key"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    let info: Value = r.json().await.unwrap();
    dec(&info["data"]["budgets"][0]["spent_usd"])
}

/// A key with a hard budget of `limit` USD.
async fn capped(gw: &Gw, limit: &str) -> String {
    new_key(
        gw,
        json!({"name": "capped", "budget": {"limit_usd": limit, "period": "monthly", "mode": "hard"}}),
    )
    .await
}

/// Fires `count` copies of `body` at once; returns how many got each status.
async fn burst(gw: &Gw, secret: &str, path: &str, body: Value, count: usize) -> Vec<u16> {
    let calls = (0..count).map(|_| post_as(gw, secret, path, &body));
    let mut statuses = Vec::new();
    for r in futures::future::join_all(calls).await {
        let status = r.status().as_u16();
        let _ = r.bytes().await;
        statuses.push(status);
    }
    statuses
}

#[tokio::test]
async fn absurd_usage_is_counted_locally_and_costs_no_other_call_its_record() {
    let gw = gateway().await;
    gw.mock.set(|s| {
        s.usage_override =
            Some(json!({"prompt_tokens": 1_000_000_000_000_000u64, "completion_tokens": u64::MAX}));
        s.override_model = Some("upstream-oa".into());
        s.delay_ms = 20;
    });
    let other = new_key(&gw, json!({"name": "innocent"})).await;
    let poisoned = (0..20).map(|_| gw.post("/v1/chat/completions", chat("oa-model")));
    let innocent_body = message("an-model");
    let innocent = (0..60).map(|_| post_as(&gw, &other, "/v1/messages", &innocent_body));
    let (poisoned, innocent) = futures::future::join(
        futures::future::join_all(poisoned),
        futures::future::join_all(innocent),
    )
    .await;
    for r in &innocent {
        assert_eq!(r.status(), 200, "an innocent call failed");
    }
    for r in innocent {
        let g = generation_as(&gw, &other, &request_id(&r)).await;
        assert_eq!(g["usage_source"], "upstream");
        assert_eq!(g["input_tokens"], 1000);
    }
    for r in poisoned {
        assert_eq!(r.status(), 200, "the poisoned call is answered");
        let id = request_id(&r);
        let body: Value = r.json().await.unwrap();
        assert!(
            body["usage"]["prompt_tokens"].as_u64().unwrap() < 1000,
            "{body}"
        );
        let g = gw.generation(&id).await;
        assert_eq!(g["usage_source"], "estimated", "{g}");
        assert!(g["input_tokens"].as_u64().unwrap() < 1000, "{g}");
        let note = g["usage_note"].as_str().unwrap();
        assert!(
            note.contains("usage.prompt_tokens") && note.contains("1000000000000000"),
            "{note}"
        );
    }
}

#[tokio::test]
async fn negative_fractional_and_text_counts_are_not_taken_as_zero() {
    let gw = gateway().await;
    for (bad, path, body) in [
        (
            json!({"prompt_tokens": -50, "completion_tokens": 10}),
            "/v1/chat/completions",
            chat("oa-model"),
        ),
        (
            json!({"prompt_tokens": 12.5, "completion_tokens": 10}),
            "/v1/chat/completions",
            chat("oa-model"),
        ),
        (
            json!({"input_tokens": "many", "output_tokens": 10}),
            "/v1/messages",
            message("an-model"),
        ),
    ] {
        gw.mock.set(|s| s.usage_override = Some(bad.clone()));
        let r = gw.post(path, body).await;
        assert_eq!(r.status(), 200);
        let g = gw.generation(&request_id(&r)).await;
        assert_eq!(g["usage_source"], "estimated", "{bad}: {g}");
        assert!(g["input_tokens"].as_u64().unwrap() > 0, "{bad}: {g}");
        assert!(dec(&g["cost_usd"]) > Decimal::ZERO, "{bad}: {g}");
        assert!(
            g["usage_note"].as_str().unwrap().contains("rejected"),
            "{g}"
        );
    }
}

#[tokio::test]
async fn n_answers_are_reserved_n_times() {
    let gw = gateway().await;
    // Eight answers of 100 tokens each: 800 output tokens, 0.0048 USD of output per call.
    gw.mock.set(|s| {
        s.input_tokens = 20;
        s.output_tokens = 800;
        s.delay_ms = 30;
    });
    let secret = capped(&gw, "0.01").await;
    let mut body = chat("oa-model");
    body["n"] = 8.into();
    let statuses = burst(&gw, &secret, "/v1/chat/completions", body, 200).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 402),
        "{statuses:?}"
    );
    let spent = spent(&gw, &secret).await;
    assert!(
        spent <= Decimal::from_str("0.01").unwrap(),
        "spent {spent} of 0.01"
    );
    let mut bad = chat("oa-model");
    bad["n"] = 1000.into();
    let r = post_as(&gw, &secret, "/v1/chat/completions", &bad).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], "n");
}

#[tokio::test]
async fn legacy_functions_and_data_text_count_toward_the_reservation() {
    let gw = gateway().await;
    // The upstream honestly bills the ~10,000 tokens of the 40 KB it was sent.
    gw.mock.set(|s| {
        s.input_tokens = 10_000;
        s.output_tokens = 5;
        s.delay_ms = 30;
    });
    let mut functions = chat("oa-model");
    functions["max_tokens"] = 5.into();
    functions["functions"] = json!([{"name": "lookup", "description": "word ".repeat(8_000), "parameters": {"type": "object"}}]);
    let mut data_text = chat("oa-model");
    data_text["max_tokens"] = 5.into();
    data_text["messages"][1]["content"] = format!("data: {}", "word ".repeat(8_000)).into();
    for body in [functions, data_text] {
        let secret = capped(&gw, "0.05").await;
        let statuses = burst(&gw, &secret, "/v1/chat/completions", body, 50).await;
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 402),
            "{statuses:?}"
        );
        let spent = spent(&gw, &secret).await;
        assert!(
            spent <= Decimal::from_str("0.05").unwrap(),
            "spent {spent} of 0.05"
        );
    }
}

#[tokio::test]
async fn a_stream_past_its_output_cap_is_ended_by_the_gateway() {
    let gw = gateway().await;
    // The upstream ignores max_tokens: 2,000 words, and it reports all of them.
    gw.mock.set(|s| {
        s.text = "lorem ".repeat(2_000);
        s.output_tokens = 2_000;
        s.input_tokens = 20;
    });
    // Uncut, the first call alone would cost 0.012 USD.
    let secret = capped(&gw, "0.01").await;
    let mut body = chat("oa-model");
    body["stream"] = true.into();
    body["max_tokens"] = 50.into();
    body["stream_options"] = json!({"include_usage": true});
    let r = post_as(&gw, &secret, "/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let events = sse_events(&r.text().await.unwrap());
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let finish: Vec<&str> = events
        .iter()
        .filter(|(_, d)| d.contains("\"finish_reason\":\"length\""))
        .map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(finish.len(), 1, "one length finish");
    let g = generation_as(&gw, &secret, &id).await;
    assert!(g["output_tokens"].as_u64().unwrap() <= 51, "{g}");
    assert!(
        g["usage_note"].as_str().unwrap().contains("output cap"),
        "{g}"
    );
    // Anthropic callers get max_tokens as the stop reason, then message_stop.
    let mut m = message("an-model");
    m["stream"] = true.into();
    m["max_tokens"] = 40.into();
    let r = post_as(&gw, &secret, "/v1/messages", &m).await;
    let text = r.text().await.unwrap();
    let events = sse_events(&text);
    assert!(events.len() > 3, "{text}");
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"],
        "{names:?}"
    );
    assert!(events[events.len() - 2].1.contains("max_tokens"));
    assert!(spent(&gw, &secret).await <= Decimal::from_str("0.01").unwrap());
}

#[tokio::test]
async fn a_call_that_costs_more_than_reserved_is_recorded_alerted_and_stops_the_key() {
    let gw = gateway().await;
    // Server-side tools add input the gateway cannot see: 2 million tokens, 4 USD.
    gw.mock.set(|s| {
        s.input_tokens = 2_000_000;
        s.output_tokens = 10;
    });
    let secret = capped(&gw, "1").await;
    let r = post_as(&gw, &secret, "/v1/chat/completions", &chat("oa-model")).await;
    assert_eq!(r.status(), 200);
    let g = generation_as(&gw, &secret, &request_id(&r)).await;
    assert_eq!(g["usage_source"], "upstream");
    assert_eq!(g["input_tokens"], 2_000_000, "the real cost is recorded");
    assert!(
        g["usage_note"].as_str().unwrap().contains("exceeded"),
        "{g}"
    );
    let r = post_as(&gw, &secret, "/v1/chat/completions", &chat("oa-model")).await;
    assert_eq!(r.status(), 402, "refused until back under the limit");
    let (_, alerts) = gw.app.admin(Method::GET, "/admin/alerts", None).await;
    let overruns: Vec<&Value> = alerts["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "budget.overrun")
        .collect();
    assert_eq!(overruns.len(), 1, "{alerts}");
    assert_eq!(overruns[0]["payload"]["cost_usd"], "4.000060");
}

#[tokio::test]
async fn the_providers_key_never_reaches_the_caller_or_the_record() {
    let gw = gateway().await;
    gw.mock.set(|s| {
        s.status = Some(401);
        s.error_body = Some(json!({"error": {"message": "Incorrect API key provided: upstream-secret. Bearer upstream-secret", "type": "invalid_request_error"}}));
    });
    let r = gw.post("/v1/chat/completions", chat("oa-model")).await;
    assert_eq!(r.status(), 401);
    let id = request_id(&r);
    let text = r.text().await.unwrap();
    assert!(!text.contains("upstream-secret"), "{text}");
    assert!(text.contains("Incorrect API key provided"), "{text}");
    let g = gw.generation(&id).await;
    assert!(!g.to_string().contains("upstream-secret"), "{g}");
    // The same in a stream's error event, on every format pair.
    gw.mock.set(|s| {
        s.status = None;
        s.stream_error = true;
    });
    for (path, model) in [
        ("/v1/chat/completions", "oa-model"),
        ("/v1/chat/completions", "an-model"),
        ("/v1/messages", "oa-model"),
        ("/v1/messages", "an-model"),
    ] {
        let mut body = if path.contains("messages") {
            message(model)
        } else {
            chat(model)
        };
        body["stream"] = true.into();
        let r = gw.post(path, body).await;
        let id = request_id(&r);
        let text = r.text().await.unwrap();
        if model == "oa-model" {
            // The provider behind oa-model holds the key the upstream echoes.
            assert!(!text.contains("upstream-secret"), "{path} {model}: {text}");
        }
        let events = sse_events(&text);
        let (event, data) = events.last().unwrap();
        if path.contains("messages") {
            assert_eq!(event, "error", "{path} {model}: {text}");
            assert_eq!(
                serde_json::from_str::<Value>(data).unwrap()["type"],
                "error"
            );
        } else {
            let v: Value =
                serde_json::from_str(data).unwrap_or_else(|_| panic!("{path} {model}: {text}"));
            assert!(
                v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("overloaded"),
                "{v}"
            );
        }
        let g = gw.generation(&id).await;
        assert_eq!(g["status"], "upstream_error", "{path} {model}: {g}");
    }
}

#[tokio::test]
async fn an_upstream_redirect_is_not_followed_with_the_key() {
    let gw = gateway().await;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let capture = {
        let seen = seen.clone();
        Router::new().fallback(any(move |headers: axum::http::HeaderMap| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(format!("{headers:?}"));
                "captured"
            }
        }))
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/steal", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, capture).await.unwrap() });
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            "/admin/providers",
            Some(json!({"id": "keyed-anthropic", "kind": "anthropic",
        "base_url": gw.mock.base, "api_key_env": "TOLLGATE_TEST_UPSTREAM_KEY"})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = gw.app.admin(Method::POST, "/admin/models", Some(json!({"id": "keyed-model", "name": "K", "provider": "keyed-anthropic",
        "upstream_model": "k", "capabilities": ["chat"], "prices": [{"input_per_mtok": "1", "output_per_mtok": "1", "effective_from": "2026-01-01T00:00:00Z"}]}))).await;
    assert_eq!(s, 201);
    gw.mock.set(|s| s.redirect = Some(target.clone()));
    let r = gw.post("/v1/messages", message("keyed-model")).await;
    assert_eq!(r.status(), 502);
    assert!(
        seen.lock().unwrap().is_empty(),
        "the redirect was followed: {:?}",
        seen.lock().unwrap()
    );
}

#[tokio::test]
async fn unreachable_upstreams_and_missing_keys_are_explained_without_internals() {
    let gw = gateway().await;
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            "/admin/providers",
            Some(json!({"id": "gone", "kind": "openai",
        "base_url": "http://127.0.0.1:9/internal-only"})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            "/admin/providers",
            Some(json!({"id": "keyless", "kind": "openai",
        "base_url": format!("{}/v1", gw.mock.base), "api_key_env": "TOLLGATE_TEST_KEY_NOT_SET"})),
        )
        .await;
    assert_eq!(s, 201);
    for (id, provider) in [("gone-model", "gone"), ("keyless-model", "keyless")] {
        let (s, _) = gw.app.admin(Method::POST, "/admin/models", Some(json!({"id": id, "name": id, "provider": provider,
            "upstream_model": "x", "capabilities": ["chat"], "prices": [{"input_per_mtok": "1", "output_per_mtok": "1", "effective_from": "2026-01-01T00:00:00Z"}]}))).await;
        assert_eq!(s, 201);
    }
    let r = gw.post("/v1/chat/completions", chat("gone-model")).await;
    assert_eq!(r.status(), 502);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("127.0.0.1") && !text.contains("internal-only"),
        "{text}"
    );
    let before = gw.mock.count();
    let r = gw.post("/v1/chat/completions", chat("keyless-model")).await;
    assert_eq!(r.status(), 502);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "provider_not_configured", "{e}");
    assert_eq!(gw.mock.count(), before, "no call without credentials");
}

#[tokio::test]
async fn a_huge_upstream_answer_is_refused_not_held() {
    let gw = gateway().await;
    gw.mock.set(|s| s.pad_bytes = 40 * 1024 * 1024);
    let r = gw.post("/v1/chat/completions", chat("oa-model")).await;
    assert_eq!(r.status(), 502);
    let id = request_id(&r);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "upstream_too_large", "{e}");
    assert_eq!(gw.generation(&id).await["status"], "upstream_error");
}

#[tokio::test]
async fn refusals_are_recorded_as_asked() {
    let gw = gateway().await;
    let mut body = chat("no-such-model");
    body["stream"] = true.into();
    let r = gw.post("/v1/chat/completions", body).await;
    assert_eq!(r.status(), 404);
    let g = gw.generation(&request_id(&r)).await;
    assert_eq!(
        (g["status"].as_str(), g["streamed"].as_bool()),
        (Some("rejected"), Some(true))
    );
    let r = gw
        .post(
            "/v1/chat/completions",
            json!({"model": "", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let g = gw.generation(&request_id(&r)).await;
    assert_eq!(g["status"], "rejected");
}

/// At the end of the shutdown grace period, calls still in flight are ended by the gateway and
/// recorded as `interrupted` before the ledger's last write.
#[tokio::test]
async fn shutdown_ends_and_records_calls_it_cannot_finish() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut settings = crate::helpers::settings_in(&dir);
    settings.shutdown_grace_secs = 1;
    let gw =
        crate::gateway_support::gateway_with(crate::helpers::spawn_with(dir, settings).await).await;
    gw.mock.set(|s| {
        s.text = "slow ".repeat(40);
        s.chunk_delay_ms = 300;
    });
    let mut body = chat("oa-model");
    body["stream"] = true.into();
    let mut stream = gw.post("/v1/chat/completions", body).await;
    let stream_id = request_id(&stream);
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("data:"));
    let reader = tokio::spawn(async move {
        let mut rest = Vec::new();
        while let Ok(Some(c)) = stream.chunk().await {
            rest.extend_from_slice(&c);
        }
        String::from_utf8(rest).unwrap()
    });
    gw.mock.set(|s| s.delay_ms = 30_000);
    let (client, url, key) = (
        gw.app.client.clone(),
        gw.app.url("/v1/messages"),
        gw.key.clone(),
    );
    let plain = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(key)
            .json(&message("an-model"))
            .send()
            .await
            .unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let crate::gateway_support::Gw { app, .. } = gw;
    let dir = app.stop().await;
    let rest = reader.await.unwrap();
    let last = sse_events(&rest)
        .pop()
        .expect("the stream got a closing event");
    assert!(last.1.contains("shutting down"), "{rest}");
    let plain = plain.await.unwrap();
    assert_eq!(plain.status(), 503);
    let plain_id = request_id(&plain);
    assert_eq!(
        plain.json::<Value>().await.unwrap()["error"]["type"],
        "overloaded_error"
    );
    let store = tollgate::store::Store::connect(&crate::helpers::database_url(&dir))
        .await
        .unwrap();
    let streamed = store
        .usage_record(&stream_id)
        .await
        .unwrap()
        .expect("the stream's record");
    assert_eq!(streamed.status.as_str(), "interrupted");
    assert!(
        streamed.usage.output_tokens > 0,
        "charged for what was delivered"
    );
    let plain = store
        .usage_record(&plain_id)
        .await
        .unwrap()
        .expect("the plain call's record");
    assert_eq!(plain.status.as_str(), "interrupted");
}

/// Non-streaming calls to an upstream that ignores the cap (1,000 output tokens for a cap of
/// 100): settled spend stays within the bound docs/budgets.md states — the limit, plus the
/// overrun of the calls admitted before the first overrun settled, whose reservations all fit
/// the limit — and the key is refused afterwards.
#[tokio::test]
async fn settled_spend_with_a_lying_upstream_stays_within_the_documented_bound() {
    let gw = gateway().await;
    gw.mock.set(|s| {
        s.input_tokens = 20;
        s.output_tokens = 1_000;
        s.delay_ms = 50;
    });
    let limit = Decimal::from_str("0.01").unwrap();
    let secret = capped(&gw, "0.01").await;
    let body = chat("oa-model");
    // The reservation as the gateway computes it: every input byte at 2 USD/Mtok, the 100-token
    // cap at the dearest output rate (reasoning, 8 USD/Mtok).
    let input = tollgate::budgets::enforce::input_bound(&body);
    let reserved = (Decimal::from(input) * Decimal::from(2) + Decimal::from(100 * 8))
        / Decimal::from(1_000_000);
    let real = (Decimal::from(20 * 2) + Decimal::from(1_000 * 6)) / Decimal::from(1_000_000);
    let statuses = burst(&gw, &secret, "/v1/chat/completions", body.clone(), 100).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!(ok > 0 && statuses.iter().all(|s| *s == 200 || *s == 402));
    assert!(
        Decimal::from(ok as u64) * reserved <= limit,
        "{ok} calls admitted, their reservations pass the limit"
    );
    let spent = spent(&gw, &secret).await;
    let bound = limit + Decimal::from(ok as u64) * (real - reserved);
    assert_eq!(
        spent,
        Decimal::from(ok as u64) * real,
        "every admitted call's real cost is recorded"
    );
    assert!(spent <= bound, "spent {spent} above the bound {bound}");
    let r = post_as(&gw, &secret, "/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 402, "refused while over the limit");
}

/// An upstream's 429 reaches the caller as a rate-limit error with its `retry-after` and
/// rate-limit headers; an overloaded upstream is 529 `overloaded_error` for Anthropic callers
/// and 503 for OpenAI callers.
#[tokio::test]
async fn upstream_rate_limits_and_overload_are_passed_on() {
    let gw = gateway().await;
    gw.mock.set(|s| {
        s.status = Some(429);
        s.error_body = Some(json!({"error": {"message": "slow down", "type": "rate_limit_error"}}));
        s.error_headers = vec![
            ("retry-after", "7"),
            ("x-ratelimit-remaining-requests", "0"),
        ];
    });
    let r = gw.post("/v1/chat/completions", chat("oa-model")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(r.headers()["x-ratelimit-remaining-requests"], "0");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "rate_limit_error", "{e}");
    let r = gw.post("/v1/messages", message("an-model")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "rate_limit_error"
    );

    gw.mock.set(|s| {
        s.status = Some(529);
        s.error_body = Some(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
        s.error_headers = vec![];
    });
    let r = gw.post("/v1/messages", message("an-model")).await;
    assert_eq!(r.status(), 529);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "overloaded_error", "{e}");
    let r = gw.post("/v1/chat/completions", chat("an-model")).await;
    assert_eq!(r.status(), 503);
    // In a stream the same error arrives as the caller's error event.
    gw.mock.set(|s| {
        s.status = None;
        s.stream_error = true;
        s.error_body = None;
    });
    let mut m = message("an-model");
    m["stream"] = true.into();
    let text = gw.post("/v1/messages", m).await.text().await.unwrap();
    let (event, data) = sse_events(&text).pop().unwrap();
    assert_eq!(event, "error");
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap()["error"]["type"],
        "overloaded_error"
    );
}

/// The usage chunk the gateway writes on an OpenAI stream carries the stream's id and
/// `created` like every other chunk (openai-node's `finalChatCompletion()` drops it otherwise).
#[tokio::test]
async fn the_usage_chunk_carries_the_streams_id_and_created() {
    let gw = gateway().await;
    for model in ["oa-model", "an-model"] {
        let mut body = chat(model);
        body["stream"] = true.into();
        body["stream_options"] = json!({"include_usage": true});
        let text = gw
            .post("/v1/chat/completions", body)
            .await
            .text()
            .await
            .unwrap();
        let chunks: Vec<Value> = sse_events(&text)
            .into_iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(_, d)| serde_json::from_str(&d).unwrap())
            .collect();
        let usage = chunks
            .iter()
            .find(|c| c["usage"].is_object())
            .expect("a usage chunk");
        assert_eq!(usage["id"], chunks[0]["id"], "{model}: {text}");
        assert_eq!(usage["created"], chunks[0]["created"], "{model}");
        assert!(usage["id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(usage["created"].as_i64().is_some_and(|c| c > 0));
    }
}
