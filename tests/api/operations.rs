//! The operations surface: `/metrics` (Prometheus text whose cost counters agree with the
//! ledger), `/livez`, `/readyz` (unready when the writer stops or the database goes), JSON logs
//! that carry the call id.

use std::collections::HashMap;
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway_support::{chat, gateway, message, request_id};

/// Parses OpenMetrics text into (series with labels → value); checks every line's shape.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    assert!(
        text.trim_end().ends_with("# EOF"),
        "OpenMetrics text ends with # EOF"
    );
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            assert!(
                line.is_empty()
                    || line.starts_with("# HELP ")
                    || line.starts_with("# TYPE ")
                    || line.starts_with("# UNIT ")
                    || line == "# EOF",
                "{line}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        out.insert(series.to_string(), v);
    }
    out
}

/// The gateway's `/metrics` text.
async fn scrape(gw: &crate::gateway_support::Gw) -> String {
    let r = gw.app.client.get(gw.app.url("/metrics")).send().await;
    r.unwrap().text().await.unwrap()
}

fn sum(series: &HashMap<String, f64>, name: &str, label: Option<&str>) -> f64 {
    series
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{name}{{")) || k.as_str() == name)
        .filter(|(k, _)| label.is_none_or(|l| k.contains(l)))
        .map(|(_, v)| *v)
        .sum()
}

#[tokio::test]
async fn metrics_agree_with_the_ledger() {
    let gw = gateway().await;
    for _ in 0..3 {
        assert_eq!(
            gw.post("/v1/chat/completions", chat("oa-model"))
                .await
                .status(),
            200
        );
    }
    let mut streamed = message("an-model");
    streamed["stream"] = true.into();
    let r = gw.post("/v1/messages", streamed).await;
    let _ = r.text().await.unwrap();
    assert_eq!(
        gw.post("/v1/chat/completions", chat("no-such-model"))
            .await
            .status(),
        404
    );

    let r = gw
        .app
        .client
        .get(gw.app.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    assert!(
        text.contains(
            "# HELP tollgate_cost_usd Cost of committed calls in USD, as a float: approximate"
        ),
        "{text}"
    );
    assert!(!text.contains("key=\""), "keys are not labels");
    let m = parse(&text);

    let (_, spend) = gw
        .app
        .admin(Method::GET, "/admin/spend?group_by=model", None)
        .await;
    let exact: f64 = spend["total"]["cost_usd"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let counted = sum(&m, "tollgate_cost_usd_total", None);
    assert!(exact > 0.0);
    assert!(
        (counted - exact).abs() <= exact * 1e-12,
        "metrics {counted} vs ledger {exact}"
    );
    let input = spend["total"]["input_tokens"].as_u64().unwrap() as f64;
    assert_eq!(
        sum(&m, "tollgate_tokens_total", Some("kind=\"input\"")),
        input
    );
    assert_eq!(
        sum(&m, "tollgate_requests_total", Some("status=\"ok\"")),
        4.0
    );
    assert_eq!(
        sum(&m, "tollgate_requests_total", Some("status=\"rejected\"")),
        1.0
    );
    assert_eq!(
        sum(
            &m,
            "tollgate_requests_total",
            Some("endpoint=\"anthropic_messages\"")
        ),
        1.0
    );
    assert_eq!(
        sum(&m, "tollgate_request_duration_seconds_count", None),
        5.0
    );
    assert_eq!(
        sum(&m, "tollgate_time_to_first_token_seconds_count", None),
        1.0
    );
    assert_eq!(sum(&m, "tollgate_open_streams", None), 0.0);
    assert!(sum(&m, "tollgate_metering_batch_size_count", None) >= 1.0);
    assert!(m.contains_key("tollgate_metering_queue_depth"));
}

/// A refused call is recorded under the model name its caller sent; as a label, every new name
/// would add series to `/metrics` for as long as the process lives.
#[tokio::test]
async fn model_names_a_caller_invents_add_no_series() {
    let gw = gateway().await;
    for i in 0..40 {
        let status = gw
            .post("/v1/chat/completions", chat(&format!("invented-{i}")))
            .await
            .status();
        assert_eq!(status, 404);
    }
    assert_eq!(
        gw.post("/v1/chat/completions", chat("oa-model"))
            .await
            .status(),
        200
    );
    let text = scrape(&gw).await;
    assert!(!text.contains("invented-"), "{text}");
    let m = parse(&text);
    assert_eq!(
        sum(
            &m,
            "tollgate_requests_total",
            Some("model=\"(not in catalog)\"")
        ),
        40.0
    );
    assert_eq!(
        sum(&m, "tollgate_requests_total", Some("model=\"oa-model\"")),
        1.0
    );
    let (_, audit) = gw
        .app
        .admin(Method::GET, "/admin/spend?group_by=model", None)
        .await;
    assert!(
        audit.to_string().contains("invented-39"),
        "the ledger keeps the name: {audit}"
    );
}

#[tokio::test]
async fn upstream_errors_and_budget_refusals_are_counted() {
    let gw = gateway().await;
    gw.mock.set(|s| s.status = Some(500));
    assert_eq!(
        gw.post("/v1/chat/completions", chat("oa-model"))
            .await
            .status(),
        502
    );
    gw.mock.set(|s| s.status = None);
    let (s, _) = gw
        .app
        .admin(
            Method::PATCH,
            &format!("/admin/keys/{}", gw.key_id),
            Some(json!({"budget": {"limit_usd": "0.000001", "period": "monthly"}})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        gw.post("/v1/chat/completions", chat("oa-model"))
            .await
            .status(),
        402
    );
    let text = scrape(&gw).await;
    let m = parse(&text);
    assert_eq!(
        sum(
            &m,
            "tollgate_upstream_errors_total",
            Some("provider=\"mock-openai\"")
        ),
        1.0
    );
    assert_eq!(sum(&m, "tollgate_budget_refusals_total", None), 1.0);
}

#[tokio::test]
async fn probes_say_live_and_ready_and_unready_when_the_writer_or_database_is_gone() {
    let gw = gateway().await;
    let get = |path: &'static str| {
        let c = gw.app.client.clone();
        let url = gw.app.url(path);
        async move {
            let r = c.get(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(get("/livez").await, (200, json!({"status": "live"})));
    let (s, ready) = get("/readyz").await;
    assert_eq!(s, 200, "{ready}");
    assert_eq!(ready["checks"]["migrations"], "ok");

    gw.app.state.meter.shutdown().await;
    let (s, ready) = get("/readyz").await;
    assert_eq!(s, 503);
    assert_eq!(ready["checks"]["metering_writer"], "stopped");

    gw.app.state.store.close().await;
    let (s, ready) = get("/readyz").await;
    assert_eq!(s, 503);
    assert_eq!(ready["checks"]["database"], "unreachable");
    assert_eq!(
        get("/livez").await.0,
        200,
        "still live: a restart would not fix the database"
    );
}

#[tokio::test]
async fn a_metrics_token_guards_the_scrape() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut settings = crate::helpers::settings_in(&dir);
    settings.metrics_token = Some("scrape-secret".into());
    let app = crate::helpers::spawn_with(dir, settings).await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// With TOLLGATE_LOG_FORMAT=json every line is a JSON object, and a call's lines carry its id.
#[tokio::test]
async fn json_logs_carry_the_call_id() {
    let mock = crate::mock::Mock::start().await;
    mock.set(|s| s.status = Some(500));
    let dir = tempfile::TempDir::new().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("serve")
        .env("TOLLGATE_ADMIN_TOKEN", "logs-admin")
        .env("TOLLGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "TOLLGATE_DATABASE_URL",
            format!("sqlite://{}/logs.db", dir.path().display()),
        )
        .env("TOLLGATE_SEEDS_DIR", crate::helpers::seeds_dir())
        .env("TOLLGATE_LOG", "info")
        .env("TOLLGATE_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{base}/livez")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let admin = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth("logs-admin")
            .json(&body)
            .send()
    };
    admin(
        "/admin/providers",
        json!({"id": "mock", "kind": "openai", "base_url": format!("{}/v1", mock.base)}),
    )
    .await
    .unwrap();
    admin("/admin/models", json!({"id": "m", "name": "M", "provider": "mock", "price": {"input_per_mtok": "1", "output_per_mtok": "2"}})).await.unwrap();
    let key: Value = admin("/admin/keys", json!({"name": "logs"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key["key"].as_str().unwrap())
        .json(&chat("m"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let id = request_id(&r);
    unsafe { libc_kill(child.id()) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    // The line's innermost span is the request's or the call's; both carry the id.
    let of_call: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["id"] == id.as_str())
        .collect();
    assert!(
        of_call.len() >= 2,
        "the call's lines carry its id: {stderr}"
    );
    assert!(
        of_call
            .iter()
            .any(|l| l["span"]["model"] == "m" && l["span"]["key"].is_string()),
        "{of_call:?}"
    );
}

/// SIGTERM, so the server shuts down and flushes its logs.
unsafe fn libc_kill(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}
