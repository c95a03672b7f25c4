//! Spend reports, the audit trail, adjustments, estimates and recommendations, on known data.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tollgate::metering::{CallStatus, Endpoint, UsageRecord, UsageSource};
use tollgate::pricing::Usage;
use tollgate::store::Store;

use crate::helpers::{spawn_app, TestApp};

/// A usage record with the given identity, time, tokens and recorded cost (a test fixture;
/// the arguments mirror the columns of a row).
#[allow(clippy::too_many_arguments)]
pub fn record(
    id: &str,
    key: &str,
    team: &str,
    model: &str,
    provider: &str,
    at: &str,
    input: u64,
    output: u64,
    cost: &str,
) -> UsageRecord {
    let t = DateTime::parse_from_rfc3339(at)
        .unwrap()
        .with_timezone(&Utc);
    UsageRecord {
        id: id.into(),
        started_at: t,
        finished_at: t,
        key_id: Some(key.into()),
        team_id: Some(team.into()),
        model_id: model.into(),
        requested_model: None,
        provider_id: Some(provider.into()),
        upstream_model: Some(model.into()),
        endpoint: Endpoint::OpenaiChat,
        streamed: false,
        status: CallStatus::Ok,
        http_status: 200,
        upstream_status: Some(200),
        usage: Usage {
            input_tokens: input,
            output_tokens: output,
            cached_input_tokens: input / 10,
            ..Usage::default()
        },
        usage_source: UsageSource::Upstream,
        price_version_id: None,
        cost: Decimal::from_str(cost).unwrap(),
        latency_ms: 100,
        ttft_ms: None,
        error: None,
        usage_note: None,
    }
}

pub async fn store_of(app: &TestApp) -> Store {
    Store::connect(&crate::helpers::database_url(&app.dir))
        .await
        .unwrap()
}

pub fn known() -> Vec<UsageRecord> {
    vec![
        record(
            "r1",
            "key_a",
            "t1",
            "m1",
            "p1",
            "2026-11-01T10:15:00Z",
            1000,
            100,
            "0.010",
        ),
        record(
            "r2",
            "key_a",
            "t1",
            "m2",
            "p2",
            "2026-11-01T23:30:00Z",
            2000,
            200,
            "0.020",
        ),
        record(
            "r3",
            "key_b",
            "t1",
            "m1",
            "p1",
            "2026-11-02T00:30:00Z",
            300,
            30,
            "0.003",
        ),
        record(
            "r4",
            "key_c",
            "t2",
            "m1",
            "p1",
            "2026-11-02T12:00:00Z",
            5000,
            500,
            "0.5",
        ),
        record(
            "r5",
            "key_c",
            "t2",
            "m2",
            "p2",
            "2026-11-03T05:59:59.999Z",
            10,
            1,
            "1.000000000001",
        ),
    ]
}

async fn with_known() -> TestApp {
    let app = spawn_app().await;
    store_of(&app)
        .await
        .write_usage_batch(&[], &known())
        .await
        .unwrap();
    app
}

const RANGE: &str = "from=2026-11-01T00:00:00Z&to=2026-11-04T00:00:00Z";

pub async fn spend(app: &TestApp, query: &str) -> Value {
    let (s, v) = app
        .admin(Method::GET, &format!("/admin/spend?{query}"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

fn row_summary(v: &Value, words: &[&str]) -> Vec<String> {
    row_values(v, words, &["requests", "cost_usd"])
}

/// Each row as "<group values> <measures>", its values in the order asked ("-" for none).
pub fn row_values(v: &Value, words: &[&str], measures: &[&str]) -> Vec<String> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let text = |x: &Value| x.as_str().map_or_else(|| x.to_string(), String::from);
            let mut parts: Vec<String> = words
                .iter()
                .map(|w| r[*w].as_str().unwrap_or("-").to_string())
                .collect();
            parts.extend(measures.iter().map(|m| text(&r[*m])));
            parts.join(" ")
        })
        .collect()
}

#[tokio::test]
async fn spend_by_model_and_by_key_and_day() {
    let app = with_known().await;
    let v = spend(&app, &format!("{RANGE}&group_by=model")).await;
    assert_eq!(
        row_summary(&v, &["model"]),
        vec!["m1 3 0.513000", "m2 2 1.020000000001"]
    );
    assert_eq!(v["total"]["cost_usd"], "1.533000000001");
    assert_eq!(v["total"]["requests"], 5);
    assert_eq!(v["total"]["input_tokens"], 8310);
    assert_eq!(v["total"]["cached_input_tokens"], 831);
    assert_eq!(v["group_by"], json!(["model"]));
    let v = spend(&app, &format!("{RANGE}&group_by=key,day")).await;
    assert_eq!(
        row_summary(&v, &["key", "day"]),
        vec![
            "key_a 2026-11-01 2 0.030000",
            "key_b 2026-11-02 1 0.003000",
            "key_c 2026-11-02 1 0.500000",
            "key_c 2026-11-03 1 1.000000000001"
        ]
    );
    let v = spend(&app, &format!("{RANGE}&group_by=team,provider")).await;
    assert_eq!(
        row_summary(&v, &["team", "provider"]),
        vec![
            "t1 p1 2 0.013000",
            "t1 p2 1 0.020000",
            "t2 p1 1 0.500000",
            "t2 p2 1 1.000000000001"
        ]
    );
    let v = spend(&app, &format!("{RANGE}&group_by=hour&model=m1")).await;
    assert_eq!(
        row_summary(&v, &["hour"]),
        vec![
            "2026-11-01T10:00:00+00:00 1 0.010000",
            "2026-11-02T00:00:00+00:00 1 0.003000",
            "2026-11-02T12:00:00+00:00 1 0.500000"
        ]
    );
    let v = spend(&app, RANGE).await;
    assert_eq!(
        v["rows"].as_array().unwrap().len(),
        1,
        "no grouping: one row"
    );
    assert_eq!(v["rows"][0]["cost_usd"], "1.533000000001");
}

#[tokio::test]
async fn time_buckets_honour_the_time_zone() {
    let app = with_known().await;
    let v = spend(&app, &format!("{RANGE}&group_by=day&tz=Asia/Tokyo")).await;
    assert_eq!(
        row_summary(&v, &["day"]),
        vec![
            "2026-11-01 1 0.010000",
            "2026-11-02 3 0.523000",
            "2026-11-03 1 1.000000000001"
        ]
    );
    let v = spend(&app, &format!("{RANGE}&group_by=week")).await;
    // 2026-11-01 is a Sunday: its calls belong to the week of Monday 2026-10-26.
    assert_eq!(
        row_summary(&v, &["week"]),
        vec!["2026-10-26 2 0.030000", "2026-11-02 3 1.503000000001"]
    );
    let v = spend(
        &app,
        &format!("{RANGE}&group_by=month,model&tz=America/New_York"),
    )
    .await;
    assert_eq!(
        row_summary(&v, &["model", "month"]),
        vec!["m1 2026-11 3 0.513000", "m2 2026-11 2 1.020000000001"]
    );
    let (s, e) = app
        .admin(
            Method::GET,
            &format!("/admin/spend?{RANGE}&tz=Mars/Olympus"),
            None,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "tz");
}

#[tokio::test]
async fn partial_hours_and_filters() {
    let app = with_known().await;
    let v = spend(
        &app,
        "from=2026-11-01T10:30:00Z&to=2026-11-02T12:00:00Z&group_by=key",
    )
    .await;
    assert_eq!(
        row_summary(&v, &["key"]),
        vec!["key_a 1 0.020000", "key_b 1 0.003000"],
        "edges are exact to the millisecond"
    );
    let v = spend(&app, &format!("{RANGE}&team=t2")).await;
    assert_eq!(v["total"]["cost_usd"], "1.500000000001");
    let v = spend(&app, &format!("{RANGE}&provider=p2&key=key_a")).await;
    assert_eq!(v["total"]["cost_usd"], "0.020000");
    let v = spend(&app, &format!("{RANGE}&model=none")).await;
    assert_eq!(v["total"]["requests"], 0);
    let (s, e) = app
        .admin(Method::GET, "/admin/spend?group_by=colour", None)
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "group_by");
    let (s, _) = app
        .admin(Method::GET, "/admin/spend?group_by=day,month", None)
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .admin(
            Method::GET,
            "/admin/spend?from=2026-11-05T00:00:00Z&to=2026-11-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(s, 400);
    let r = app
        .client
        .get(app.url("/admin/spend"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn spend_as_csv() {
    let app = with_known().await;
    let r = app
        .client
        .get(app.url(&format!(
            "/admin/spend?{RANGE}&group_by=model,day&format=csv"
        )))
        .bearer_auth(crate::helpers::ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "model,day,requests,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens,reasoning_tokens,images,cost_usd,cache_write_1h_tokens,web_search_requests");
    assert_eq!(lines[1], "m1,2026-11-01,1,1000,100,0,100,0,0,0.010000,0,0");
    assert_eq!(lines.len(), 5);
}

#[tokio::test]
async fn adjustments_are_appended_and_reported() {
    let app = with_known().await;
    let (s, adj) = app
        .admin(
            Method::POST,
            "/admin/usage/r4/adjustments",
            Some(json!({"kind":"refund","reason":"outage"})),
        )
        .await;
    assert_eq!(s, 201, "{adj}");
    assert_eq!(adj["cost_delta_usd"], "-0.500000");
    assert_eq!(adj["net_cost_usd"], "0.000000");
    let (s, _) = app
        .admin(
            Method::POST,
            "/admin/usage/r1/adjustments",
            Some(json!({"kind":"correction","cost_delta_usd":"-0.004"})),
        )
        .await;
    assert_eq!(s, 201);
    let v = spend(&app, &format!("{RANGE}&group_by=key")).await;
    assert_eq!(
        row_summary(&v, &["key"]),
        vec![
            "key_a 2 0.026000",
            "key_b 1 0.003000",
            "key_c 2 1.000000000001"
        ]
    );
    let v = spend(&app, "from=2026-11-02T11:30:00Z&to=2026-11-02T12:30:00Z").await;
    assert_eq!(
        v["total"]["cost_usd"], "0.000000",
        "adjustments count on partial-hour edges too"
    );
    assert_eq!(v["total"]["requests"], 1);
    let (s, e) = app
        .admin(
            Method::POST,
            "/admin/usage/r4/adjustments",
            Some(json!({"kind":"correction","cost_delta_usd":"-0.1"})),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    let (s, _) = app
        .admin(
            Method::POST,
            "/admin/usage/nope/adjustments",
            Some(json!({"kind":"refund"})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .admin(
            Method::POST,
            "/admin/usage/r1/adjustments",
            Some(json!({"kind":"gift"})),
        )
        .await;
    assert_eq!(s, 400);
    let (_, page) = app.admin(Method::GET, "/admin/usage?key=key_c", None).await;
    let r4 = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "r4")
        .unwrap();
    assert_eq!(
        r4["cost_usd"], "0.500000",
        "the record itself never changes"
    );
    assert_eq!(r4["net_cost_usd"], "0.000000");
    assert_eq!(r4["adjustments"][0]["kind"], "refund");
}

#[tokio::test]
async fn audit_pages_are_newest_first_and_stable_while_calls_arrive() {
    let app = with_known().await;
    let store = store_of(&app).await;
    let (s, first) = app.admin(Method::GET, "/admin/usage?limit=2", None).await;
    assert_eq!(s, 200);
    let ids = |p: &Value| {
        p["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), vec!["r5", "r4"]);
    store
        .write_usage_batch(
            &[],
            &[record(
                "r6",
                "key_a",
                "t1",
                "m1",
                "p1",
                "2026-11-03T10:00:00Z",
                1,
                1,
                "0.1",
            )],
        )
        .await
        .unwrap();
    let mut seen = ids(&first);
    let mut cursor = first["next_cursor"].as_str().unwrap().to_string();
    loop {
        let (_, page) = app
            .admin(
                Method::GET,
                &format!("/admin/usage?limit=2&cursor={cursor}"),
                None,
            )
            .await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec!["r5", "r4", "r3", "r2", "r1"],
        "a call arriving mid-way does not shift the pages"
    );
    let (_, fresh) = app.admin(Method::GET, "/admin/usage?limit=1", None).await;
    assert_eq!(ids(&fresh), vec!["r6"]);
    let (_, filtered) = app
        .admin(Method::GET, "/admin/usage?team=t2&model=m1", None)
        .await;
    assert_eq!(ids(&filtered), vec!["r4"]);
    assert!(filtered["next_cursor"].is_null());
    let (_, ranged) = app
        .admin(
            Method::GET,
            "/admin/usage?from=2026-11-02T00:00:00Z&to=2026-11-03T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(ids(&ranged), vec!["r4", "r3"]);
    let (s, _) = app
        .admin(Method::GET, "/admin/usage?cursor=abc", None)
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .admin(Method::GET, "/admin/usage?status=weird", None)
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn exports_stream_every_record() {
    let app = spawn_app().await;
    let store = store_of(&app).await;
    let many: Vec<UsageRecord> = (0..2500)
        .map(|i| {
            record(
                &format!("x{i:05}"),
                "key_x",
                "t",
                "m1",
                "p1",
                "2026-11-01T10:00:00Z",
                10,
                1,
                "0.000001",
            )
        })
        .collect();
    store.write_usage_batch(&[], &many).await.unwrap();
    let r = app
        .client
        .get(app.url("/admin/usage?format=csv&key=key_x"))
        .bearer_auth(crate::helpers::ADMIN)
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2501);
    assert!(lines[0].starts_with("id,created_at,finished_at,key_id"));
    assert!(lines[1].starts_with("x02499,"));
    let total: Decimal = lines[1..]
        .iter()
        .map(|l| Decimal::from_str(l.split(',').nth(22).unwrap()).unwrap())
        .sum();
    assert_eq!(
        total,
        Decimal::from_str("0.0025").unwrap(),
        "the export reconciles to the cent (and below)"
    );
    let r = app
        .client
        .get(app.url("/admin/usage?format=jsonl&key=key_x"))
        .bearer_auth(crate::helpers::ADMIN)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert_eq!(text.lines().count(), 2500);
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "x02499");
}

#[tokio::test]
async fn callers_see_only_their_own_spend_and_usage() {
    let app = spawn_app().await;
    app.admin(Method::POST, "/admin/teams", Some(json!({"id":"t1"})))
        .await;
    let (_, k) = app
        .admin(
            Method::POST,
            "/admin/keys",
            Some(json!({"name":"me","team":"t1"})),
        )
        .await;
    let key_id = k["id"].as_str().unwrap();
    let secret = k["key"].as_str().unwrap();
    let store = store_of(&app).await;
    store
        .write_usage_batch(
            &[],
            &[
                record(
                    "mine",
                    key_id,
                    "t1",
                    "m1",
                    "p1",
                    "2026-11-01T10:00:00Z",
                    1,
                    1,
                    "0.25",
                ),
                record(
                    "theirs",
                    "key_other",
                    "t1",
                    "m1",
                    "p1",
                    "2026-11-01T10:00:00Z",
                    1,
                    1,
                    "0.75",
                ),
            ],
        )
        .await
        .unwrap();
    let get = |path: String| app.client.get(app.url(&path)).bearer_auth(secret).send();
    let v: Value = get(format!("/v1/spend?{RANGE}&key=key_other&team=t1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["total"]["cost_usd"], "0.250000");
    let v: Value = get("/v1/usage".into()).await.unwrap().json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["id"], "mine");
    let r = app.client.get(app.url("/v1/usage")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn estimates_and_related_models_use_current_prices() {
    let app = spawn_app().await;
    let (_, k) = app
        .admin(Method::POST, "/admin/keys", Some(json!({"name":"dev"})))
        .await;
    let secret = k["key"].as_str().unwrap();
    let post = |body: Value| {
        app.client
            .post(app.url("/v1/estimate"))
            .bearer_auth(secret)
            .json(&body)
            .send()
    };
    let v: Value = post(
        json!({"model":"mistralai-pixtral-large-2411","input_tokens":1000,"output_tokens":500}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(v["cost_usd"], "0.005000");
    let related = v["related"].as_array().unwrap();
    assert_eq!(related.len(), 18);
    let costs: Vec<Option<Decimal>> = related
        .iter()
        .map(|r| {
            r["max_cost_usd"]
                .as_str()
                .map(|s| Decimal::from_str(s).unwrap())
        })
        .collect();
    let known: Vec<Decimal> = costs.iter().flatten().copied().collect();
    assert!(known.windows(2).all(|w| w[0] <= w[1]), "cheapest first");
    assert!(
        costs[known.len()..].iter().all(Option::is_none),
        "unpriced last"
    );
    let nova = related
        .iter()
        .find(|r| r["model"] == "amazon-nova-pro-v1")
        .unwrap();
    assert_eq!(nova["max_cost_usd"], "0.002400");
    assert_eq!(nova["saving_usd"], "0.002600");
    assert_eq!(nova["supports"]["vision"], true);
    let v: Value = post(json!({"model":"openai-gpt-4-turbo","messages":[{"role":"user","content":"hello world"}],"max_tokens":100})).await.unwrap().json().await.unwrap();
    let input = v["input_tokens"].as_u64().unwrap();
    assert!(input > 0);
    assert_eq!(
        v["min_cost_usd"].as_str().unwrap(),
        tollgate::money::format_usd(
            Decimal::from(input) * Decimal::from(10) / Decimal::from(1_000_000)
        )
    );
    assert_eq!(v["max_output_tokens"], 100);
    let r = post(json!({"model":"ghost","input_tokens":1}))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = post(json!({"model":"openai-gpt-4-turbo"})).await.unwrap();
    assert_eq!(r.status(), 400);

    let (s, rel) = app
        .get_json(
            "/v1/models/mistralai-pixtral-large-2411/related?input_tokens=1000&output_tokens=1000",
        )
        .await;
    assert_eq!(s, 200);
    let first = &rel["related"][0];
    assert_eq!(first["estimated_cost_usd"], "0.000000", "free models first");
    assert_eq!(rel["estimated_cost_usd"], "0.008000");
    let sonar = rel["related"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "perplexity-sonar-pro-search")
        .unwrap();
    assert_eq!(
        sonar["estimated_cost_usd"], "0.036000",
        "3 + 15 per 1M, plus the 0.018 request fee"
    );
    assert_eq!(
        sonar["supports"]["tools"], false,
        "Pixtral has tools, Sonar does not"
    );
    let (s, _) = app.get_json("/v1/models/ghost/related").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn recommendations_reprice_real_usage_on_capable_related_models() {
    let app = spawn_app().await;
    let store = store_of(&app).await;
    let mut a = record(
        "n1",
        "key_r",
        "t",
        "amazon-nova-pro-v1",
        "openrouter",
        "2026-11-01T10:00:00Z",
        10_000,
        1_000,
        "0.0112",
    );
    let mut b = record(
        "n2",
        "key_r",
        "t",
        "amazon-nova-pro-v1",
        "openrouter",
        "2026-11-01T11:00:00Z",
        10_000,
        1_000,
        "0.0112",
    );
    a.usage.cached_input_tokens = 0;
    b.usage.cached_input_tokens = 0;
    store.write_usage_batch(&[], &[a, b]).await.unwrap();
    let (s, v) = app
        .admin(
            Method::GET,
            &format!("/admin/recommendations?key=key_r&{RANGE}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let nova = &v["models"][0];
    assert_eq!(nova["model"], "amazon-nova-pro-v1");
    assert_eq!(nova["cost_usd"], "0.022400");
    let alts: Vec<(String, String, String)> = nova["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["model"].as_str().unwrap().into(),
                a["cost_usd"].as_str().unwrap().into(),
                a["saving_usd"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        alts,
        vec![
            (
                "qwen-qwen3.6-plus".to_string(),
                "0.010400".to_string(),
                "0.012000".to_string()
            ),
            (
                "anthropic-claude-opus-4.6".to_string(),
                "0.150000".to_string(),
                "-0.127600".to_string()
            ),
        ],
        "only related models with every capability, modality and enough context"
    );
}

#[tokio::test]
async fn reports_can_reprice_at_an_earlier_price() {
    let app = spawn_app().await;
    let store = store_of(&app).await;
    let mut r1 = record(
        "q1",
        "key_q",
        "t",
        "qwen-qwen3.5-35b-a3b",
        "openrouter",
        "2026-11-01T10:00:00Z",
        1000,
        1000,
        "0.0015",
    );
    r1.usage.cached_input_tokens = 0;
    let mut r2 = r1.clone();
    r2.id = "q2".into();
    store.write_usage_batch(&[], &[r1, r2]).await.unwrap();
    let v = spend(&app, &format!("{RANGE}&group_by=model")).await;
    assert_eq!(v["total"]["cost_usd"], "0.003000");
    let v = spend(
        &app,
        &format!("{RANGE}&group_by=model&price_at=2026-06-01T00:00:00Z"),
    )
    .await;
    assert_eq!(
        v["total"]["cost_usd"], "0.002280",
        "2 × (1000 × 0.14 + 1000 × 1.00) / 1M"
    );
    assert_eq!(v["rows"][0]["model"], "qwen-qwen3.5-35b-a3b");
    let v = spend(&app, &format!("{RANGE}&price_at=2025-01-01T00:00:00Z")).await;
    assert_eq!(v["total"]["cost_usd"], "0.000000");
    assert_eq!(v["unpriced_models"], json!(["qwen-qwen3.5-35b-a3b"]));
}
