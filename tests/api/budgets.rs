//! Budgets, credits, rate limits and alerts through HTTP against the real server and the mock
//! upstream.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::gateway_support::{chat, gateway, message, Gw};
use crate::helpers::{settings_in, spawn_with};

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(
        v.as_str()
            .unwrap_or_else(|| panic!("not a decimal string: {v}")),
    )
    .unwrap()
}

async fn key_info(gw: &Gw, secret: &str) -> Value {
    let r = gw
        .app
        .client
        .get(gw.app.url("/v1/key"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["data"].clone()
}

async fn new_key(gw: &Gw, body: Value) -> (String, String) {
    let (s, k) = gw.app.admin(Method::POST, "/admin/keys", Some(body)).await;
    assert_eq!(s, 201, "{k}");
    (
        k["id"].as_str().unwrap().to_string(),
        k["key"].as_str().unwrap().to_string(),
    )
}

async fn call_with(gw: &Gw, secret: &str) -> reqwest::Response {
    gw.app
        .client
        .post(gw.app.url("/v1/chat/completions"))
        .bearer_auth(secret)
        .json(&chat("oa-model"))
        .send()
        .await
        .unwrap()
}

/// The mock reports 10 input and 100 output tokens (within what the request allows), so each
/// call costs (10 × 2 + 100 × 6) / 1M = 0.00062 USD.
fn modest(gw: &Gw) {
    gw.mock.set(|s| {
        s.input_tokens = 10;
        s.output_tokens = 100;
    });
}

/// A gateway whose mock answers [`modest`]ly, and a key with a hard monthly budget of
/// `limit_usd`.
async fn modest_gateway_with_hard_budget(name: &str, limit_usd: &str) -> (Gw, String) {
    let gw = gateway().await;
    modest(&gw);
    let (_, secret) = new_key(
        &gw,
        json!({"name": name, "budget": {"limit_usd": limit_usd, "period": "monthly", "mode": "hard"}}),
    )
    .await;
    (gw, secret)
}

#[tokio::test]
async fn concurrent_calls_never_overrun_a_hard_budget() {
    let gw = gateway().await;
    modest(&gw);
    gw.mock.set(|s| s.delay_ms = 30);
    let limit = Decimal::from_str("0.031").unwrap();
    let (_, secret) = new_key(
        &gw,
        json!({"name":"capped","budget":{"limit_usd":"0.031","period":"monthly","mode":"hard"}}),
    )
    .await;
    let calls = (0..200).map(|_| {
        let gw = &gw;
        let secret = secret.clone();
        async move { call_with(gw, &secret).await }
    });
    let responses = futures::future::join_all(calls).await;
    let mut ok = 0;
    let mut refused = 0;
    for r in responses {
        match r.status().as_u16() {
            200 => ok += 1,
            402 => {
                refused += 1;
                let e: Value = r.json().await.unwrap();
                assert_eq!(e["error"]["type"], "insufficient_quota");
                assert_eq!(e["error"]["code"], "budget_exceeded");
                assert!(
                    e["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("monthly budget of key"),
                    "{e}"
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok + refused, 200);
    assert!(refused > 0, "the budget ran out");
    // Each call reserves its worst case (every byte of the body an input token, the whole
    // output cap): with 0.00062 USD settled per call, 20 to 50 calls fit.
    assert!(
        (20..=50).contains(&ok),
        "{ok} calls fit a budget of about 50"
    );
    let info = key_info(&gw, &secret).await;
    let budget = &info["budgets"][0];
    assert!(
        dec(&budget["spent_usd"]) <= limit,
        "settled spend {} passed the budget",
        budget["spent_usd"]
    );
    assert_eq!(
        dec(&budget["spent_usd"]),
        Decimal::from_str("0.00062").unwrap() * Decimal::from(ok)
    );
    assert_eq!(
        dec(&budget["reserved_usd"]),
        Decimal::ZERO,
        "no reservation leaks"
    );
    assert_eq!(budget["period"], "monthly");
    assert!(budget["resets_at"].is_string());
}

#[tokio::test]
async fn key_and_team_budgets_both_apply() {
    let gw = gateway().await;
    modest(&gw);
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            "/admin/teams",
            Some(json!({"id":"small","budget":{"limit_usd":"0.0025","period":"daily"}})),
        )
        .await;
    assert_eq!(s, 201);
    let (_, secret) = new_key(
        &gw,
        json!({"name":"member","team":"small","budget":{"limit_usd":"100","period":"monthly"}}),
    )
    .await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(call_with(&gw, &secret).await);
    }
    let last = codes.pop().unwrap();
    assert_eq!(last.status(), 402);
    let e: Value = last.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("daily budget of team 'small'"),
        "{e}"
    );
    let info = key_info(&gw, &secret).await;
    assert_eq!(info["budgets"].as_array().unwrap().len(), 2);
    let (s, team) = gw.app.admin(Method::GET, "/admin/teams/small", None).await;
    assert_eq!(s, 200);
    assert!(dec(&team["budget_status"]["spent_usd"]) <= Decimal::from_str("0.0025").unwrap());
    let r = gw
        .app
        .client
        .post(gw.app.url("/v1/messages"))
        .header("x-api-key", &secret)
        .json(&message("an-model"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 402);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["type"], "error");
    assert_eq!(
        e["error"]["type"], "billing_error",
        "Anthropic callers get Anthropic's error shape"
    );
}

#[tokio::test]
async fn periods_roll_over_by_themselves() {
    let gw = gateway().await;
    modest(&gw);
    let (_, secret) = new_key(
        &gw,
        json!({"name":"daily","budget":{"limit_usd":"0.002","period":"daily"}}),
    )
    .await;
    let mut ok = 0;
    while call_with(&gw, &secret).await.status() == 200 {
        ok += 1;
        assert!(ok < 10);
    }
    assert!(ok >= 1);
    let before = key_info(&gw, &secret).await;
    gw.app.state.clock.advance(chrono::Duration::days(1));
    let r = call_with(&gw, &secret).await;
    assert_eq!(r.status(), 200, "a new day, a new budget");
    let after = key_info(&gw, &secret).await;
    assert_ne!(
        before["budgets"][0]["period_start"],
        after["budgets"][0]["period_start"]
    );
    assert_eq!(after["budgets"][0]["spent_usd"], "0.000620");
}

#[tokio::test]
async fn prepaid_credits_are_granted_drawn_and_exhausted() {
    let gw = gateway().await;
    modest(&gw);
    let (id, secret) = new_key(&gw, json!({"name":"prepaid"})).await;
    let (s, g) = gw
        .app
        .admin(
            Method::POST,
            &format!("/admin/keys/{id}/credits"),
            Some(json!({"amount_usd":"0.003","note":"top-up"})),
        )
        .await;
    assert_eq!(s, 201, "{g}");
    assert_eq!(g["balance_usd"], "0.003000");
    let mut ok = 0;
    loop {
        let r = call_with(&gw, &secret).await;
        if r.status() == 402 {
            let e: Value = r.json().await.unwrap();
            assert!(
                e["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("prepaid balance"),
                "{e}"
            );
            break;
        }
        assert_eq!(r.status(), 200);
        ok += 1;
    }
    assert!(ok >= 1);
    let info = key_info(&gw, &secret).await;
    let balance = dec(&info["balance"]["balance_usd"]);
    assert_eq!(
        balance,
        Decimal::from_str("0.003").unwrap()
            - Decimal::from_str("0.00062").unwrap() * Decimal::from(ok)
    );
    assert!(balance >= Decimal::ZERO, "a balance never goes below zero");
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            &format!("/admin/keys/{id}/credits"),
            Some(json!({"amount_usd":"-1"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, g) = gw
        .app
        .admin(
            Method::POST,
            &format!("/admin/keys/{id}/credits"),
            Some(json!({"amount_usd":"1","kind":"refund"})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(
        call_with(&gw, &secret).await.status(),
        200,
        "topped up: {g}"
    );
}

/// Many calls at once on a small prepaid balance while the admin tops it up at the same time:
/// the balance never goes below zero, every charged call is in it exactly, every top-up lands,
/// and nothing stays reserved (on SQLite the reservations are held in the gateway's memory
/// while grants write the balance on another connection).
#[tokio::test]
async fn concurrent_calls_and_top_ups_never_overdraw_a_balance() {
    let gw = gateway().await;
    modest(&gw);
    gw.mock.set(|s| s.delay_ms = 20);
    let (id, secret) = new_key(&gw, json!({"name":"prepaid-busy"})).await;
    let grant = |amount: &'static str| {
        let gw = &gw;
        let path = format!("/admin/keys/{id}/credits");
        async move {
            let (s, g) = gw
                .app
                .admin(Method::POST, &path, Some(json!({"amount_usd": amount})))
                .await;
            assert_eq!(s, 201, "{g}");
        }
    };
    grant("0.01").await;
    let calls = futures::future::join_all((0..150).map(|_| call_with(&gw, &secret)));
    let top_ups = async {
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(15)).await;
            grant("0.002").await;
        }
    };
    let (responses, ()) = tokio::join!(calls, top_ups);
    let mut ok = 0;
    for r in responses {
        match r.status().as_u16() {
            200 => ok += 1,
            402 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(ok > 0 && ok < 150, "{ok} calls went through");
    let info = key_info(&gw, &secret).await;
    let balance = dec(&info["balance"]["balance_usd"]);
    assert_eq!(
        balance,
        Decimal::from_str("0.02").unwrap()
            - Decimal::from_str("0.00062").unwrap() * Decimal::from(ok),
        "every top-up and every charged call is in the balance"
    );
    assert!(balance >= Decimal::ZERO, "a balance never goes below zero");
    assert_eq!(
        dec(&info["balance"]["reserved_usd"]),
        Decimal::ZERO,
        "no reservation leaks"
    );
}

/// `GET /admin/keys/{id}/credits`, `/admin/teams/{id}/credits` and `/v1/credits`: the balance
/// and the ledger, newest first, in cursor pages.
#[tokio::test]
async fn credit_ledgers_are_listed_newest_first_in_pages() {
    let gw = gateway().await;
    modest(&gw);
    let (id, secret) = new_key(&gw, json!({"name":"ledger"})).await;
    let path = format!("/admin/keys/{id}/credits");
    let (s, empty) = gw.app.admin(Method::GET, &path, None).await;
    assert_eq!(s, 200, "{empty}");
    assert_eq!(empty["data"], json!([]));
    assert_eq!(empty["balance_usd"], "0.000000");
    assert_eq!(empty["next_cursor"], Value::Null);
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            &path,
            Some(json!({"amount_usd":"0.01","note":"top-up"})),
        )
        .await;
    assert_eq!(s, 201);
    for _ in 0..3 {
        assert_eq!(call_with(&gw, &secret).await.status(), 200);
    }
    let (_, all) = gw.app.admin(Method::GET, &path, None).await;
    let entries = all["data"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "{all}");
    assert_eq!(entries[3]["kind"], "grant");
    assert_eq!(entries[3]["amount_usd"], "0.010000");
    assert_eq!(entries[3]["note"], "top-up");
    for e in &entries[..3] {
        assert_eq!(e["kind"], "usage");
        assert_eq!(e["amount_usd"], "-0.000620");
        assert!(e["usage_id"].as_str().is_some(), "{e}");
    }
    assert_eq!(all["balance_usd"], "0.008140");
    assert_eq!(all["available_usd"], "0.008140");
    // Pages of three, then the rest.
    let (_, first) = gw
        .app
        .admin(Method::GET, &format!("{path}?limit=3"), None)
        .await;
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let (_, second) = gw
        .app
        .admin(
            Method::GET,
            &format!("{path}?limit=3&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(second["data"], json!([entries[3]]));
    assert_eq!(second["next_cursor"], Value::Null);
    // The key holder's own view is the same.
    let own: Value = gw
        .app
        .client
        .get(gw.app.url("/v1/credits"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own, all);
    // Refusals.
    for bad in ["?limit=0", "?limit=1001", "?cursor=x", "?other=1"] {
        let (s, e) = gw
            .app
            .admin(Method::GET, &format!("{path}{bad}"), None)
            .await;
        assert_eq!(s, 400, "{bad}: {e}");
    }
    let (s, _) = gw
        .app
        .admin(Method::GET, "/admin/keys/key_nope/credits", None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = gw
        .app
        .admin(Method::GET, "/admin/teams/nope/credits", None)
        .await;
    assert_eq!(s, 404);
    let r = gw
        .app
        .client
        .get(gw.app.url("/v1/credits"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A team's ledger.
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            "/admin/teams",
            Some(json!({"id":"t1","name":"T1"})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            "/admin/teams/t1/credits",
            Some(json!({"amount_usd":"2.5"})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, team) = gw
        .app
        .admin(Method::GET, "/admin/teams/t1/credits", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(team["owner"], "team");
    assert_eq!(team["balance_usd"], "2.500000");
    assert_eq!(team["data"][0]["amount_usd"], "2.500000");
}

#[tokio::test]
async fn new_keys_get_the_free_tier() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut settings = settings_in(&dir);
    settings.free_tier_usd = "0.50".into();
    let app = spawn_with(dir, settings).await;
    let (_, k) = app
        .admin(Method::POST, "/admin/keys", Some(json!({"name":"newbie"})))
        .await;
    assert_eq!(k["balance"]["balance_usd"], "0.500000");
    let (_, again) = app
        .admin(
            Method::GET,
            &format!("/admin/keys/{}", k["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(again["balance"]["available_usd"], "0.500000");
}

/// A correction that raises a call's cost counts against the next call at once, and a refund
/// gives the room back: on SQLite the gateway decides budgeted calls against the committed
/// spend it remembers, which an adjustment (written beside the metering writer) must not
/// leave stale.
#[tokio::test]
async fn an_adjustment_counts_against_the_next_call_at_once() {
    let (gw, secret) = modest_gateway_with_hard_budget("adjusted", "0.031").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = call_with(&gw, &secret).await;
        assert_eq!(r.status(), 200);
        ids.push(r.headers()["x-request-id"].to_str().unwrap().to_string());
    }
    let (s, a) = gw
        .app
        .admin(
            Method::POST,
            &format!("/admin/usage/{}/adjustments", ids[0]),
            Some(json!({"kind":"correction","cost_delta_usd":"0.029","reason":"under-reported"})),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    let info = key_info(&gw, &secret).await;
    assert_eq!(
        dec(&info["budgets"][0]["spent_usd"]),
        Decimal::from_str("0.03086").unwrap()
    );
    let r = call_with(&gw, &secret).await;
    assert_eq!(
        r.status(),
        402,
        "the corrected spend leaves no room for a call: {}",
        r.text().await.unwrap()
    );
    let (s, a) = gw
        .app
        .admin(
            Method::POST,
            &format!("/admin/usage/{}/adjustments", ids[0]),
            Some(json!({"kind":"refund"})),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(
        call_with(&gw, &secret).await.status(),
        200,
        "the refund made room"
    );
    let info = key_info(&gw, &secret).await;
    assert_eq!(
        dec(&info["budgets"][0]["spent_usd"]),
        Decimal::from_str("0.00186").unwrap()
    );
    assert_eq!(info["budgets"][0]["reserved_usd"], "0.000000");
}

/// A gateway whose metering writer has stopped forwards no call, budgeted or not, not even a
/// budgeted one whose accounts' values it remembers (decided without the writer): it could not
/// record them. Each is refused with a 503 before it reaches the upstream.
#[tokio::test]
async fn no_call_is_forwarded_once_the_writer_has_stopped() {
    let (gw, secret) = modest_gateway_with_hard_budget("unrecorded", "1").await;
    assert_eq!(call_with(&gw, &secret).await.status(), 200);
    assert_eq!(call_with(&gw, &gw.key).await.status(), 200);
    let forwarded = gw.mock.count();
    gw.app.state.meter.shutdown().await;
    for secret in [&secret, &gw.key] {
        let r = call_with(&gw, secret).await;
        assert_eq!(r.status(), 503);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "metering_unavailable", "{e}");
    }
    assert_eq!(gw.mock.count(), forwarded, "no call was forwarded");
}

#[tokio::test]
async fn a_failed_call_releases_its_reservation() {
    let gw = gateway().await;
    let (_, secret) = new_key(
        &gw,
        json!({"name":"f","budget":{"limit_usd":"1","period":"total"}}),
    )
    .await;
    gw.mock.set(|s| s.status = Some(503));
    assert_eq!(call_with(&gw, &secret).await.status(), 502);
    let info = key_info(&gw, &secret).await;
    assert_eq!(info["budgets"][0]["reserved_usd"], "0.000000");
    assert_eq!(info["budgets"][0]["spent_usd"], "0.000000");
    assert_eq!(
        info["budgets"][0]["resets_at"],
        Value::Null,
        "a total budget never resets"
    );
}

#[tokio::test]
async fn rate_limits_answer_429_with_openai_headers() {
    let gw = gateway().await;
    let (_, secret) = new_key(
        &gw,
        json!({"name":"rl","rate_limits":{"requests_per_minute":3}}),
    )
    .await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = call_with(&gw, &secret).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ratelimit-limit-requests"], "3");
        remaining.push(
            r.headers()["x-ratelimit-remaining-requests"]
                .to_str()
                .unwrap()
                .to_string(),
        );
        assert!(r.headers()["x-ratelimit-reset-requests"]
            .to_str()
            .unwrap()
            .ends_with('s'));
    }
    assert_eq!(remaining, vec!["2", "1", "0"]);
    let r = call_with(&gw, &secret).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(r.headers()["x-ratelimit-remaining-requests"], "0");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "rate_limit_error");
    let info = key_info(&gw, &secret).await;
    assert_eq!(info["rate_limit_status"]["remaining_requests"], 0);

    let (_, parallel) = new_key(&gw, json!({"name":"p","rate_limits":{"max_parallel":1}})).await;
    gw.mock.set(|s| s.delay_ms = 300);
    let (a, b) = tokio::join!(call_with(&gw, &parallel), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        call_with(&gw, &parallel).await
    });
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 429);
    assert_eq!(
        call_with(&gw, &parallel).await.status(),
        200,
        "the slot is free again"
    );
    // One call after another: each answer arrives after its slot is free (on PostgreSQL the
    // release is a database write, done before the answer goes out).
    gw.mock.set(|s| s.delay_ms = 0);
    for i in 0..30 {
        let status = call_with(&gw, &parallel).await.status();
        assert_eq!(status, 200, "sequential call {i}");
    }
}

#[derive(Clone, Default)]
struct Receiver {
    events: Arc<Mutex<Vec<Value>>>,
    failures_left: Arc<Mutex<u32>>,
    bad_signatures: Arc<Mutex<u32>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let expected = tollgate::budgets::alerts::signature("whsec-test", &body);
    if headers
        .get("x-tollgate-signature")
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        *r.bad_signatures.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let mut left = r.failures_left.lock().unwrap();
    if *left > 0 {
        *left -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.events
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    StatusCode::OK
}

#[tokio::test]
async fn threshold_alerts_reach_the_webhook_once_despite_failures() {
    let receiver = Receiver {
        failures_left: Arc::new(Mutex::new(2)),
        ..Receiver::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::TempDir::new().unwrap();
    let mut settings = settings_in(&dir);
    settings.webhook_secret = "whsec-test".into();
    settings.alert_poll_ms = 100;
    let gw = crate::gateway_support::gateway_with(spawn_with(dir, settings).await).await;
    modest(&gw);
    // Each call costs 0.00062: thresholds of 0.0031 at 0.5, 0.8 and 1.0 are crossed by calls 3, 4 and 5.
    let (_, secret) = new_key(&gw, json!({"name":"alerted","webhook_url": hook,
        "budget":{"limit_usd":"0.0031","period":"monthly","mode":"soft","alert_thresholds":[0.5,0.8,1.0]}})).await;
    for _ in 0..8 {
        assert_eq!(
            call_with(&gw, &secret).await.status(),
            200,
            "a soft budget only alerts"
        );
    }
    for _ in 0..100 {
        let got = receiver.events.lock().unwrap().clone();
        let thresholds = got
            .iter()
            .filter(|e| e["type"] == "budget.threshold_crossed")
            .count();
        if thresholds >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate, were there one, time to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = receiver.events.lock().unwrap().clone();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for e in got
        .iter()
        .filter(|e| e["type"] == "budget.threshold_crossed")
    {
        *seen.entry(e["threshold"].to_string()).or_default() += 1;
    }
    assert_eq!(seen.len(), 3, "{got:?}");
    assert!(
        seen.values().all(|n| *n == 1),
        "each threshold once: {seen:?}"
    );
    let ids: std::collections::HashSet<&str> =
        got.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), got.len(), "no alert delivered twice");
    assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);
    let (_, alerts) = gw.app.admin(Method::GET, "/admin/alerts", None).await;
    let listed = alerts["data"].as_array().unwrap();
    assert!(listed
        .iter()
        .filter(|a| a["type"] == "budget.threshold_crossed")
        .all(|a| a["delivery"]["state"] == "delivered"));
    assert!(
        listed
            .iter()
            .any(|a| a["delivery"]["attempts"].as_i64().unwrap() >= 2),
        "the receiver's 500s were retried"
    );
}

#[tokio::test]
async fn a_hard_refusal_raises_one_alert_per_period() {
    let gw = gateway().await;
    modest(&gw);
    let (_, secret) = new_key(
        &gw,
        json!({"name":"refused","budget":{"limit_usd":"0.0001","period":"weekly"}}),
    )
    .await;
    assert_eq!(call_with(&gw, &secret).await.status(), 402);
    assert_eq!(call_with(&gw, &secret).await.status(), 402);
    let (_, alerts) = gw.app.admin(Method::GET, "/admin/alerts", None).await;
    let refusals: Vec<&Value> = alerts["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "budget.hard_refusal")
        .collect();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0]["delivery"]["state"], "no_webhook");
    assert_eq!(gw.mock.count(), 0, "refused calls never reach the upstream");
}

#[tokio::test]
async fn teams_are_managed() {
    let gw = gateway().await;
    let (s, t) = gw
        .app
        .admin(
            Method::POST,
            "/admin/teams",
            Some(json!({"id":"ops","name":"Operations","rate_limits":{"requests_per_minute":100}})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["name"], "Operations");
    let (s, _) = gw
        .app
        .admin(Method::POST, "/admin/teams", Some(json!({"id":"ops"})))
        .await;
    assert_eq!(s, 409);
    let (s, e) = gw
        .app
        .admin(
            Method::POST,
            "/admin/teams",
            Some(json!({"id":"bad","budget":{"limit_usd":"-1","period":"daily"}})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "budget.limit_usd");
    let (s, t) = gw
        .app
        .admin(
            Method::PATCH,
            "/admin/teams/ops",
            Some(json!({"budget":{"limit_usd":"5","period":"weekly"}})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(t["budget_status"]["limit_usd"], "5.000000");
    let (_, list) = gw.app.admin(Method::GET, "/admin/teams", None).await;
    assert!(list.as_array().unwrap().iter().any(|t| t["id"] == "ops"));
    let (id, _) = new_key(&gw, json!({"name":"in-ops","team":"ops"})).await;
    let (s, _) = gw.app.admin(Method::DELETE, "/admin/teams/ops", None).await;
    assert_eq!(s, 409, "keys still belong to it");
    gw.app
        .admin(Method::DELETE, &format!("/admin/keys/{id}"), None)
        .await;
    let (s, _) = gw.app.admin(Method::DELETE, "/admin/teams/ops", None).await;
    assert_eq!(s, 204);
    let (s, _) = gw.app.admin(Method::GET, "/admin/teams/ops", None).await;
    assert_eq!(s, 404);
    let (s, e) = gw
        .app
        .admin(
            Method::POST,
            "/admin/keys",
            Some(json!({"name":"x","team":"ghost"})),
        )
        .await;
    assert_eq!(s, 422, "{e}");
}

#[tokio::test]
async fn the_global_budget_and_low_balance_alerts() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut settings = settings_in(&dir);
    settings.global_budget = Some(r#"{"limit_usd":"0.0012","period":"monthly"}"#.into());
    settings.low_balance_usd = "0.001".into();
    let gw = crate::gateway_support::gateway_with(spawn_with(dir, settings).await).await;
    modest(&gw);
    let (id, secret) = new_key(&gw, json!({"name":"g"})).await;
    gw.app
        .admin(
            Method::POST,
            &format!("/admin/keys/{id}/credits"),
            Some(json!({"amount_usd":"0.0015"})),
        )
        .await;
    assert_eq!(call_with(&gw, &secret).await.status(), 200);
    let r = call_with(&gw, &secret).await;
    assert_eq!(r.status(), 402);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gateway's monthly budget"),
        "{e}"
    );
    let info = key_info(&gw, &secret).await;
    assert_eq!(info["budgets"][0]["scope"], "global");
    assert_eq!(info["balance"]["balance_usd"], "0.000880");
    let (_, alerts) = gw.app.admin(Method::GET, "/admin/alerts", None).await;
    let kinds: Vec<&str> = alerts["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"balance.low"), "{kinds:?}");
    assert!(kinds.contains(&"budget.threshold_crossed"), "{kinds:?}");
}

/// A balance granted below the low-balance mark (1 USD by default) alerts on its first charge,
/// once per grant.
#[tokio::test]
async fn a_balance_granted_below_the_mark_alerts_once() {
    let gw = gateway().await;
    modest(&gw);
    let (id, secret) = new_key(&gw, json!({"name":"small"})).await;
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            &format!("/admin/keys/{id}/credits"),
            Some(json!({"amount_usd":"0.50"})),
        )
        .await;
    assert_eq!(s, 201);
    for _ in 0..3 {
        assert_eq!(call_with(&gw, &secret).await.status(), 200);
    }
    let (_, alerts) = gw.app.admin(Method::GET, "/admin/alerts", None).await;
    let low = alerts["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "balance.low" && a["scope_id"] == id.as_str())
        .count();
    assert_eq!(low, 1, "{alerts}");
}
