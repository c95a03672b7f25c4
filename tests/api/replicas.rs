//! Several `tollgate serve` processes on one PostgreSQL database, with the mock upstream: budgets
//! and credits hold across replicas, admin changes reach every replica, a killed replica's calls
//! are closed out by the survivors, alerts are delivered once, and reports read through any
//! replica are exact.
//!
//! They run when `TOLLGATE_TEST_POSTGRES_URL` names a server (e.g.
//! `postgres://postgres@127.0.0.1:5432`, trust auth), whatever `TOLLGATE_TEST_BACKEND` says, each
//! on a fresh `tgtest_` database (dropped when the test passes); otherwise each prints one
//! `SKIPPED:` line and passes. The replicas are the real binary: `TOLLGATE_REPLICA_BIN` when set
//! (a copy that other builds sharing the target directory cannot overwrite), else Cargo's.
//! They run one at a time: three debug replicas and their pools (17 connections each) would
//! otherwise crowd a 2-core machine and PostgreSQL's 100 connections.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use reqwest::{Client, Method};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::mock::Mock;

const ADMIN: &str = "replica-admin-token";
const WEBHOOK_SECRET: &str = "whsec-replicas";

/// One replica test at a time (see the module comment).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fresh database on the test server, or `None` (after one `SKIPPED:` line) when there is no
/// server to use.
fn fresh_database(test: &str) -> Option<Database> {
    let server = match std::env::var("TOLLGATE_TEST_POSTGRES_URL") {
        Ok(s) if !s.trim().is_empty() => s,
        _ => {
            println!(
                "SKIPPED: {test}: multi-replica tests need PostgreSQL; set TOLLGATE_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432)"
            );
            return None;
        }
    };
    let name = format!("tgtest_{}", uuid::Uuid::now_v7().simple());
    let created = Command::new("createdb")
        .args(["-h", "127.0.0.1", "-U", "postgres", &name])
        .status()
        .expect("createdb runs");
    assert!(created.success(), "createdb {name}");
    Some(Database {
        url: format!("{}/{name}", server.trim_end_matches('/')),
        name,
    })
}

/// A test's database, dropped when the test passes (kept for inspection when it fails).
struct Database {
    url: String,
    name: String,
}

impl Database {
    /// Starts or ends an outage of this database: while it lasts no new connection is allowed,
    /// and the open ones are closed (`psql` as the server's superuser, on another database).
    fn outage(&self, on: bool) {
        let allow = if on { "false" } else { "true" };
        let mut sql = format!("ALTER DATABASE {} ALLOW_CONNECTIONS {allow};", self.name);
        if on {
            sql.push_str(&format!(
                " SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}';",
                self.name
            ));
        }
        let done = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-q",
                "-c",
                &sql,
            ])
            .stdout(Stdio::null())
            .status()
            .expect("psql runs");
        assert!(done.success(), "{sql}");
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = Command::new("dropdb")
                .args(["-h", "127.0.0.1", "-U", "postgres", "--force", &self.name])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn binary() -> String {
    std::env::var("TOLLGATE_REPLICA_BIN")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_tollgate").to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A `tollgate serve` process, SIGKILLed when dropped. Its log goes to a file whose end is
/// printed when the test fails.
struct Replica {
    name: &'static str,
    base: String,
    child: Child,
    log: tempfile::NamedTempFile,
    client: Client,
}

impl Replica {
    async fn start(name: &'static str, db: &Database, env: &[(&str, String)]) -> Replica {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .env("TOLLGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("TOLLGATE_DATABASE_URL", &db.url)
            .env("TOLLGATE_ADMIN_TOKEN", ADMIN)
            .env("TOLLGATE_SEEDS_DIR", crate::helpers::seeds_dir())
            .env("TOLLGATE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap());
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("the tollgate binary starts");
        let mut replica = Replica {
            name,
            base: format!("http://127.0.0.1:{port}"),
            child,
            log,
            client: client(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = replica.client.get(replica.url("/healthz")).send().await {
                if r.status().is_success() {
                    return replica;
                }
            }
            if let Ok(Some(status)) = replica.child.try_wait() {
                panic!("replica {name} exited with {status} at start");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("replica {name} did not answer /healthz within 20 s");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// SIGKILL, and reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(ADMIN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// An admin read that must succeed.
    async fn admin_get(&self, path: &str) -> Value {
        let (s, v) = self.admin(Method::GET, path, None).await;
        assert_eq!(s, 200, "{} GET {path}: {v}", self.name);
        v
    }

    /// A read as a caller that must succeed.
    async fn caller_get(&self, secret: &str, path: &str) -> Value {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{} GET {path}: {v}", self.name);
        v
    }

    async fn chat(&self, secret: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(secret)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn messages(&self, secret: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/messages"))
            .header("x-api-key", secret)
            .header("anthropic-version", "2023-06-01")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// The record of call `id` (read with its key), or `None` while there is none.
    async fn generation(&self, secret: &str, id: &str) -> Option<Value> {
        let r = self
            .client
            .get(self.url(&format!("/v1/generations/{id}")))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => Some(r.json::<Value>().await.unwrap()["data"].clone()),
            404 => None,
            other => panic!("{} generation {id}: {other}", self.name),
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let mut text = String::new();
            let mut file = self.log.reopen().unwrap();
            let len = file.seek(SeekFrom::End(0)).unwrap_or(0);
            let _ = file.seek(SeekFrom::Start(len.saturating_sub(4000)));
            let _ = file.read_to_string(&mut text);
            eprintln!("--- end of replica {}'s log ---\n{text}", self.name);
        }
    }
}

fn usd(v: &Value) -> Decimal {
    Decimal::from_str(
        v.as_str()
            .unwrap_or_else(|| panic!("not a decimal string: {v}")),
    )
    .unwrap()
}

fn dollars(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// Cost of a call: token counts times per-million prices.
fn cost(input: i64, input_per_mtok: &str, output: i64, output_per_mtok: &str) -> Decimal {
    (Decimal::from(input) * dollars(input_per_mtok)
        + Decimal::from(output) * dollars(output_per_mtok))
        / Decimal::from(1_000_000)
}

fn request_id(r: &reqwest::Response) -> String {
    r.headers()["x-request-id"].to_str().unwrap().to_string()
}

/// A provider of `kind` in front of `mock` with one priced model on it.
async fn provider_with_model(
    a: &Replica,
    provider: &str,
    kind: &str,
    mock: &Mock,
    model: &str,
    input_per_mtok: &str,
    output_per_mtok: &str,
) {
    let base_url = if kind == "openai" {
        format!("{}/v1", mock.base)
    } else {
        mock.base.clone()
    };
    let (s, v) = a
        .admin(
            Method::POST,
            "/admin/providers",
            Some(json!({"id": provider, "kind": kind, "base_url": base_url})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = a
        .admin(
            Method::POST,
            "/admin/models",
            Some(json!({"id": model, "name": model, "provider": provider,
                "upstream_model": format!("upstream-{model}"),
                "capabilities": ["chat", "streaming"],
                "prices": [{"input_per_mtok": input_per_mtok, "output_per_mtok": output_per_mtok,
                    "effective_from": "2026-01-01T00:00:00Z"}]})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
}

/// `oa-model` (2 / 6 USD per million tokens) behind an OpenAI-kind provider and `an-model`
/// (5 / 25) behind an Anthropic-kind one, both on `mock`.
async fn catalog(a: &Replica, mock: &Mock) {
    provider_with_model(a, "mock-openai", "openai", mock, "oa-model", "2", "6").await;
    provider_with_model(
        a,
        "mock-anthropic",
        "anthropic",
        mock,
        "an-model",
        "5",
        "25",
    )
    .await;
}

/// A new key: (id, secret).
async fn new_key(a: &Replica, body: Value) -> (String, String) {
    let (s, k) = a.admin(Method::POST, "/admin/keys", Some(body)).await;
    assert_eq!(s, 201, "{k}");
    (
        k["id"].as_str().unwrap().to_string(),
        k["key"].as_str().unwrap().to_string(),
    )
}

fn chat_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "max_tokens": 200,
        "messages": [{"role": "user", "content": "Say hello"}]})
}

fn messages_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "max_tokens": 200,
        "messages": [{"role": "user", "content": "Say hello"}]})
}

/// The budget of `scope` among a `/v1/key` answer's budgets.
fn budget_of<'a>(key: &'a Value, scope: &str) -> &'a Value {
    key["data"]["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["scope"] == scope)
        .unwrap_or_else(|| panic!("no {scope} budget in {key}"))
}

// ---------------------------------------------------------------------------------------------
// 1. Budgets and credits across three replicas.
// ---------------------------------------------------------------------------------------------

/// 300 concurrent calls spread over three replicas: 100 against a hard key budget, 100 against
/// a hard team budget (two member keys), 100 against a prepaid balance, each limit fitting
/// about 40 calls. Every call is served or refused with 402; settled spend stays within every
/// limit and equals what the served calls cost; nothing stays reserved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_and_credits_hold_across_three_replicas() {
    hold_across_three_replicas("budgets_and_credits_hold_across_three_replicas", &[]).await;
}

/// The same with budget leases (`TOLLGATE_BUDGET_LEASE_CALLS=4`): each replica takes four
/// calls' worth of an account's headroom at a time and admits calls against it in memory, and
/// near the limit checks them one by one. Every limit still holds, spend is exact, calls were
/// admitted from leases (the replicas' metrics say how many), and once the replicas are idle
/// their leases are released, leaving nothing reserved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_and_credits_hold_across_three_replicas_with_leases() {
    let env = [("TOLLGATE_BUDGET_LEASE_CALLS", "4".to_string())];
    hold_across_three_replicas("budgets_and_credits_hold_with_leases", &env).await;
}

/// A counter of `replica`'s `/metrics`.
async fn counter(replica: &Replica, name: &str) -> u64 {
    let text = replica
        .client
        .get(replica.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{} /metrics has no {name}:\n{text}", replica.name))
}

async fn hold_across_three_replicas(test: &str, env: &[(&str, String)]) {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(db) = fresh_database(test) else {
        return;
    };
    let leased = !env.is_empty();
    let mock = Mock::start().await;
    // 10 input and 100 output tokens: 0.00062 USD a call on oa-model.
    mock.set(|s| {
        s.input_tokens = 10;
        s.output_tokens = 100;
        s.delay_ms = 30;
    });
    let per_call = cost(10, "2", 100, "6");
    let limit = dollars("0.031");

    let a = Replica::start("A", &db, env).await;
    catalog(&a, &mock).await;
    let (s, v) = a
        .admin(
            Method::POST,
            "/admin/teams",
            Some(json!({"id": "squad", "budget": {"limit_usd": "0.031", "period": "monthly", "mode": "hard"}})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (_, capped) = new_key(
        &a,
        json!({"name": "capped", "budget": {"limit_usd": "0.031", "period": "monthly", "mode": "hard"}}),
    )
    .await;
    let (_, member1) = new_key(&a, json!({"name": "member1", "team": "squad"})).await;
    let (_, member2) = new_key(&a, json!({"name": "member2", "team": "squad"})).await;
    let (prepaid_id, prepaid) = new_key(&a, json!({"name": "prepaid"})).await;
    let (s, v) = a
        .admin(
            Method::POST,
            &format!("/admin/keys/{prepaid_id}/credits"),
            Some(json!({"amount_usd": "0.031"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    // B and C start after the set-up, so they read it at start whether or not admin changes
    // propagate: this test is about the shared ledger alone.
    let b = Replica::start("B", &db, env).await;
    let c = Replica::start("C", &db, env).await;
    let replicas = [&a, &b, &c];

    const GROUPS: [&str; 3] = ["key budget", "team budget", "prepaid balance"];
    let body = chat_body("oa-model", false);
    let call = |group: usize, turn: usize, on: usize| {
        let replica = replicas[on];
        let secret = match group {
            0 => &capped,
            1 if turn.is_multiple_of(2) => &member1,
            1 => &member2,
            _ => &prepaid,
        };
        let body = &body;
        async move {
            let r = replica.chat(secret, body).await;
            let status = r.status().as_u16();
            let cost = r
                .headers()
                .get("x-tollgate-cost")
                .map(|v| dollars(v.to_str().unwrap()));
            let answer: Value = r.json().await.unwrap();
            (group, replica.name, status, cost, answer)
        }
    };
    // With leases, two calls per replica and account first, one after the other: the first
    // asks for a lease, the second finds it. (In a burst alone every call could miss before
    // the first grant, and the race would not exercise leases.)
    let warm = if leased { 2 } else { 0 };
    let mut results = Vec::new();
    for on in 0..3 {
        for group in 0..3 {
            for turn in 0..warm {
                results.push(call(group, turn, on).await);
            }
        }
    }
    let burst = (0..300 - 9 * warm).map(|i| {
        let turn = i / 3;
        call(i % 3, turn, turn % 3)
    });
    results.extend(futures::future::join_all(burst).await);

    let mut served = [0i64; 3];
    let mut refused = [0i64; 3];
    let mut charged = [Decimal::ZERO; 3];
    let mut by_replica: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (group, replica, status, cost, answer) in results {
        match status {
            200 => {
                served[group] += 1;
                let cost = cost.expect("a served call's cost header");
                assert_eq!(cost, per_call, "{answer}");
                charged[group] += cost;
                by_replica.entry(replica).or_default().0 += 1;
            }
            402 => {
                refused[group] += 1;
                assert_eq!(answer["error"]["type"], "insufficient_quota", "{answer}");
                by_replica.entry(replica).or_default().1 += 1;
            }
            other => panic!("{} call on {replica}: {other} {answer}", GROUPS[group]),
        }
    }
    println!(
        "served {served:?} refused {refused:?} (key budget, team budget, prepaid); by replica (served, refused): {by_replica:?}"
    );
    for g in 0..3 {
        assert_eq!(served[g] + refused[g], 100, "{}", GROUPS[g]);
        assert!(served[g] > 0, "{}: some calls fit", GROUPS[g]);
        assert!(refused[g] > 0, "{}: the limit was reached", GROUPS[g]);
        assert!(charged[g] <= limit, "{}: {} charged", GROUPS[g], charged[g]);
    }

    if leased {
        let mut admitted = 0;
        for r in replicas {
            admitted += counter(r, "tollgate_budget_lease_admissions_total").await;
        }
        println!("admitted from leases: {admitted} calls");
        assert!(admitted > 0, "some calls were admitted from leases");
        // Idle leases go back to their accounts after about a second.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let key = a.caller_get(&capped, "/v1/key").await;
            let team = a.admin_get("/admin/teams/squad").await;
            let balance = a.caller_get(&prepaid, "/v1/key").await;
            let held = [
                usd(&budget_of(&key, "key")["reserved_usd"]),
                usd(&team["budget_status"]["reserved_usd"]),
                usd(&balance["data"]["balance"]["reserved_usd"]),
            ];
            if held.iter().all(|h| h.is_zero()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "leases still held after 10 s: {held:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Settled spend, read through every replica, equals what the served calls cost and stays
    // within each limit; no reservation is left behind.
    for r in replicas {
        let key = r.caller_get(&capped, "/v1/key").await;
        let budget = budget_of(&key, "key");
        assert_eq!(
            usd(&budget["spent_usd"]),
            charged[0],
            "{} key budget",
            r.name
        );
        assert!(usd(&budget["spent_usd"]) <= limit);
        assert_eq!(usd(&budget["reserved_usd"]), Decimal::ZERO, "{}", r.name);

        let team = r.admin_get("/admin/teams/squad").await;
        let status = &team["budget_status"];
        assert_eq!(
            usd(&status["spent_usd"]),
            charged[1],
            "{} team budget",
            r.name
        );
        assert!(usd(&status["spent_usd"]) <= limit);
        assert_eq!(usd(&status["reserved_usd"]), Decimal::ZERO, "{}", r.name);

        let key = r.caller_get(&prepaid, "/v1/key").await;
        let balance = &key["data"]["balance"];
        assert_eq!(
            usd(&balance["balance_usd"]),
            limit - charged[2],
            "{} prepaid balance",
            r.name
        );
        assert!(usd(&balance["balance_usd"]) >= Decimal::ZERO);
        assert_eq!(usd(&balance["reserved_usd"]), Decimal::ZERO, "{}", r.name);
    }
    // And the ledger agrees: the records of the three groups add up to the same amounts.
    let report = a.admin_get("/admin/spend?group_by=key").await;
    assert_eq!(
        usd(&report["total"]["cost_usd"]),
        charged.iter().copied().sum::<Decimal>(),
        "{report}"
    );
    assert_eq!(
        report["total"]["requests"].as_i64().unwrap(),
        served.iter().sum::<i64>() + refused.iter().sum::<i64>(),
        "one record per call, served or refused: {report}"
    );
}

/// Replica A on `db` with budget leases of `calls` calls, its catalog's model served by a mock
/// that answers 10 input and 100 output tokens.
async fn leased_replica(db: &Database, calls: u32) -> (Mock, Replica) {
    let mock = Mock::start().await;
    mock.set(|s| {
        s.input_tokens = 10;
        s.output_tokens = 100;
    });
    let env = [("TOLLGATE_BUDGET_LEASE_CALLS", calls.to_string())];
    let a = Replica::start("A", db, &env).await;
    catalog(&a, &mock).await;
    (mock, a)
}

/// A key with a hard $10 monthly budget on `replica`, after one of its calls was admitted from
/// a budget lease; its secret.
async fn leased_key(replica: &Replica) -> String {
    let limit = json!({"limit_usd": "10", "period": "monthly", "mode": "hard"});
    let (_, secret) = new_key(replica, json!({"name": "leased", "budget": limit})).await;
    until_leased(replica, &secret, 1).await;
    secret
}

/// Calls on `replica` with `secret` until `n` of them were admitted from its budget leases
/// (the first call of an account asks for a lease; calls after the grant use it).
async fn until_leased(replica: &Replica, secret: &str, n: u64) {
    let body = chat_body("oa-model", false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter(replica, "tollgate_budget_lease_admissions_total").await < n {
        let r = replica.chat(secret, &body).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        assert!(Instant::now() < deadline, "no lease granted within 10 s");
    }
}

/// With budget leases, a key's limit lowered through the admin API binds the very next call:
/// the replica's lease, granted under the old limit, is retired, not spent. (Without that check
/// the next call would be admitted from the lease's rest, over the new limit.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_limit_is_not_outrun_by_a_lease() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(db) = fresh_database("a_lowered_limit_is_not_outrun_by_a_lease") else {
        return;
    };
    let (_mock, a) = leased_replica(&db, 8).await;
    let budget = |limit: &str| json!({"limit_usd": limit, "period": "monthly", "mode": "hard"});
    let (id, secret) = new_key(&a, json!({"name": "leased", "budget": budget("1")})).await;
    until_leased(&a, &secret, 2).await;

    let key = a.caller_get(&secret, "/v1/key").await;
    let spent = usd(&budget_of(&key, "key")["spent_usd"]);
    assert!(spent > Decimal::ZERO);
    let (s, v) = a
        .admin(
            Method::PATCH,
            &format!("/admin/keys/{id}"),
            Some(json!({"budget": budget(&spent.to_string())})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let r = a.chat(&secret, &chat_body("oa-model", false)).await;
    let status = r.status().as_u16();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        status, 402,
        "the lowered limit refuses the next call: {answer}"
    );
    let key = a.caller_get(&secret, "/v1/key").await;
    assert_eq!(usd(&budget_of(&key, "key")["spent_usd"]), spent);
}

/// With budget leases, calls at a steady pace do not miss: the next lease is asked for once
/// less than half of the current one is left, and takes over when it is used up. 64 calls one
/// after the other on leases of 16 calls: all but at most one are admitted from a lease
/// (asking only when a call missed, every 16th call and those arriving before its grant would
/// wait for a reservation). Once idle, both the current and the next lease are released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_calls_are_admitted_from_leases_asked_for_ahead() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(db) = fresh_database("steady_calls_are_admitted_from_leases_asked_for_ahead") else {
        return;
    };
    let (_mock, a) = leased_replica(&db, 16).await;
    let secret = leased_key(&a).await;
    let before = counter(&a, "tollgate_budget_lease_admissions_total").await;
    let granted = counter(&a, "tollgate_budget_leases_granted_total").await;
    let body = chat_body("oa-model", false);
    for _ in 0..64 {
        let r = a.chat(&secret, &body).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let leased = counter(&a, "tollgate_budget_lease_admissions_total").await - before;
    let grants = counter(&a, "tollgate_budget_leases_granted_total").await - granted;
    assert!(
        leased >= 63,
        "{leased} of 64 steady calls were admitted from a lease ({grants} leases granted)"
    );
    assert!(grants >= 4, "64 calls on leases of 16: {grants} grants");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reserved(&a, &secret).await.is_zero() {
        assert!(
            Instant::now() < deadline,
            "leases still held after 10 s: {}",
            reserved(&a, &secret).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A replica SIGKILLed while it holds a budget lease: the survivor releases the lease's row
/// once the dead replica's instance lease expires, so its headroom comes back to the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_budget_lease_is_released_by_the_survivor() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(db) = fresh_database("a_killed_replicas_budget_lease_is_released") else {
        return;
    };
    let mock = Mock::start().await;
    mock.set(|s| {
        s.input_tokens = 10;
        s.output_tokens = 100;
    });
    let env = [
        ("TOLLGATE_INSTANCE_LEASE_SECS", "2".to_string()),
        ("TOLLGATE_BUDGET_LEASE_CALLS", "8".to_string()),
    ];
    let a = Replica::start("A", &db, &env).await;
    catalog(&a, &mock).await;
    let limit = json!({"limit_usd": "1", "period": "monthly", "mode": "hard"});
    let (_, secret) = new_key(&a, json!({"name": "leased", "budget": limit})).await;
    let mut b = Replica::start("B", &db, &env).await;
    until_leased(&b, &secret, 1).await;
    // Killed at once: well within the second after which an idle lease is given back.
    b.kill();
    let held = reserved(&a, &secret).await;
    assert!(held > Decimal::ZERO, "B's lease is held");
    let deadline = Instant::now() + Duration::from_secs(15);
    while reserved(&a, &secret).await > Decimal::ZERO {
        assert!(
            Instant::now() < deadline,
            "the dead replica's lease is still held after 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The database failing while a replica holds a budget lease: the first call whose record
/// cannot be written suspends the replica's leases, so no further call is forwarded on them
/// (each is refused before its upstream, as a call without leases is when it cannot reserve);
/// that call's amount stays held in its lease's row (its cost is in no account); and once the
/// database is back, calls are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_stops_calls_on_budget_leases() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(db) = fresh_database("a_database_outage_stops_calls_on_budget_leases") else {
        return;
    };
    let (mock, a) = leased_replica(&db, 64).await;
    let secret = leased_key(&a).await;
    let leased = reserved(&a, &secret).await;

    db.outage(true);
    let forwarded = mock.count();
    let body = chat_body("oa-model", false);
    for i in 0..5 {
        let r = a.chat(&secret, &body).await;
        let status = r.status().as_u16();
        assert_ne!(
            status,
            200,
            "call {i} during the outage: {}",
            r.text().await.unwrap()
        );
    }
    assert!(
        mock.count() - forwarded <= 1,
        "{} of 5 calls were forwarded during the outage",
        mock.count() - forwarded
    );

    db.outage(false);
    // The call whose record was lost keeps its amount held, and only that: after more than a
    // lease's idle second (and no call since), the lease's row holds one call's amount, not
    // the lease's rest (about 62 calls' worth before the outage).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let held = reserved(&a, &secret).await;
    assert!(
        held > Decimal::ZERO && held * Decimal::from(16) < leased,
        "the lost call's amount alone is held: {held} (the lease held {leased})"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = a.chat(&secret, &body).await;
        if r.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not served 15 s after the outage"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Revocation reaches the other replica.
// ---------------------------------------------------------------------------------------------

/// A key revoked through replica A is refused by replica B within 1 s (asserted with 0.5 s of
/// slack for scheduling on a busy machine; the measured time is printed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_through_one_replica_is_refused_by_another_within_a_second() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(db) =
        fresh_database("a_key_revoked_through_one_replica_is_refused_by_another_within_a_second")
    else {
        return;
    };
    let mock = Mock::start().await;
    let a = Replica::start("A", &db, &[]).await;
    catalog(&a, &mock).await;
    let (id, secret) = new_key(&a, json!({"name": "doomed"})).await;
    let b = Replica::start("B", &db, &[]).await;
    let body = chat_body("oa-model", false);
    assert_eq!(
        b.chat(&secret, &body).await.status(),
        200,
        "B serves the key"
    );
    assert_eq!(
        a.chat(&secret, &body).await.status(),
        200,
        "A serves the key"
    );

    let (s, v) = a
        .admin(Method::DELETE, &format!("/admin/keys/{id}"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    let revoked = Instant::now();
    let r = a.chat(&secret, &body).await;
    assert_eq!(r.status(), 401, "A refuses its own revocation at once");

    let bound = Duration::from_millis(1500);
    let give_up = Duration::from_secs(3);
    let refused_after = loop {
        let r = b.chat(&secret, &body).await;
        let status = r.status().as_u16();
        if status == 401 {
            let e: Value = r.json().await.unwrap();
            assert!(
                e["error"]["message"].as_str().unwrap().contains("revoked"),
                "{e}"
            );
            break Some(revoked.elapsed());
        }
        assert_eq!(status, 200, "B either serves or refuses the key");
        if revoked.elapsed() > give_up {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    match refused_after {
        Some(t) => {
            println!("replica B refused the key revoked through A after {t:?}");
            assert!(t <= bound, "B refused the revoked key only after {t:?}");
        }
        None => panic!(
            "replica B still served a key revoked through A {give_up:?} earlier (bound: 1 s)"
        ),
    }
}

/// An alias added through replica A resolves on replica B within 1 s, and one removed through A
/// stops resolving on B as soon (model aliases are catalog changes like any other).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_changed_through_one_replica_reaches_another_within_a_second() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(db) =
        fresh_database("an_alias_changed_through_one_replica_reaches_another_within_a_second")
    else {
        return;
    };
    let mock = Mock::start().await;
    let a = Replica::start("A", &db, &[]).await;
    catalog(&a, &mock).await;
    let (_, secret) = new_key(&a, json!({"name": "agent"})).await;
    let b = Replica::start("B", &db, &[]).await;
    let body = chat_body("agent-model-2026", false);
    assert_eq!(b.chat(&secret, &body).await.status(), 404);

    /// How long B takes to answer `body` with `want` (polling every 50 ms, up to 3 s).
    async fn until(b: &Replica, secret: &str, body: &Value, want: u16) -> Option<Duration> {
        let since = Instant::now();
        while since.elapsed() < Duration::from_secs(3) {
            if b.chat(secret, body).await.status().as_u16() == want {
                return Some(since.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    let (s, v) = a
        .admin(
            Method::POST,
            "/admin/aliases",
            Some(json!({"alias": "agent-model-*", "model": "oa-model"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let added = until(&b, &secret, &body, 200).await;
    println!("replica B resolved the alias added through A after {added:?}");
    assert!(
        added.is_some_and(|t| t <= Duration::from_millis(1500)),
        "B resolved the alias after {added:?} (bound: 1 s)"
    );
    assert_eq!(mock.last().body["model"], "upstream-oa-model");

    let (s, v) = a
        .admin(Method::DELETE, "/admin/aliases/agent-model-*", None)
        .await;
    assert_eq!(s, 200, "{v}");
    let removed = until(&b, &secret, &body, 404).await;
    println!("replica B dropped the alias removed through A after {removed:?}");
    assert!(
        removed.is_some_and(|t| t <= Duration::from_millis(1500)),
        "B still resolved the removed alias after {removed:?} (bound: 1 s)"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. SIGKILL one replica under load.
// ---------------------------------------------------------------------------------------------

const LEASE_SECS: u64 = 2;

/// Fast calls (half of them streamed) to `base` with `secret`, one after another, until `stop`
/// is set or the replica stops answering; returns the ids of the calls whose whole response
/// arrived.
async fn fast_load(
    client: Client,
    base: String,
    secret: String,
    stop: Arc<AtomicBool>,
    seed: usize,
) -> Vec<String> {
    let mut completed = Vec::new();
    let mut i = seed;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let stream = i.is_multiple_of(2);
        let sent = client
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(&secret)
            .json(&chat_body("fast-model", stream))
            .send()
            .await;
        let Ok(r) = sent else { break };
        if r.status() != 200 {
            break;
        }
        let id = request_id(&r);
        let Ok(text) = r.text().await else { break };
        if stream && !text.ends_with("data: [DONE]\n\n") {
            break;
        }
        completed.push(id);
    }
    completed
}

/// Spawns `n` fast loads on `replica`.
fn spawn_fast_loads(
    replica: &Replica,
    secret: &str,
    stop: &Arc<AtomicBool>,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    (0..n)
        .map(|seed| {
            tokio::spawn(fast_load(
                replica.client.clone(),
                replica.base.clone(),
                secret.to_string(),
                stop.clone(),
                seed,
            ))
        })
        .collect()
}

async fn joined(loads: Vec<tokio::task::JoinHandle<Vec<String>>>) -> Vec<String> {
    futures::future::join_all(loads)
        .await
        .into_iter()
        .flat_map(|ids| ids.expect("a load task"))
        .collect()
}

/// A slow streamed call: its id and its response, once the first chunk has arrived.
async fn slow_call(replica: &Replica, secret: &str) -> (String, reqwest::Response) {
    let mut r = replica
        .client
        .post(replica.url("/v1/chat/completions"))
        .bearer_auth(secret)
        .json(&chat_body("slow-model", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "slow call on {}", replica.name);
    let id = request_id(&r);
    let first = r.chunk().await.unwrap();
    assert!(first.is_some(), "the first chunk of {id}");
    (id, r)
}

/// What a key's `key` budget reserves now, read through `replica`.
async fn reserved(replica: &Replica, secret: &str) -> Decimal {
    let key = replica.caller_get(secret, "/v1/key").await;
    usd(&budget_of(&key, "key")["reserved_usd"])
}

/// libfaketime's library, to give a replica a skewed wall clock (`TOLLGATE_TEST_FAKETIME`, set
/// by tests/run.sh); `None` (after one `SKIPPED:` line) when it is not installed, outside CI.
fn faketime_library(test: &str) -> Option<String> {
    match std::env::var("TOLLGATE_TEST_FAKETIME") {
        Ok(lib) if std::path::Path::new(&lib).exists() => Some(lib),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: CI runs this test; tests/run.sh installs faketime")
        }
        _ => {
            println!(
                "SKIPPED: {test}: needs libfaketime (apt-get install faketime), named by TOLLGATE_TEST_FAKETIME"
            );
            None
        }
    }
}

/// A replica whose wall clock runs a minute behind the others' (libfaketime; its monotonic
/// clock untouched) is not taken for dead: heartbeats and the cutoff that declares a replica
/// dead both read the database's clock. Before they did, the other replica read B's heartbeat
/// as a minute old, closed out B's call in flight as `interrupted` and released its
/// reservation while B was still serving it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_clock_is_behind_is_not_taken_for_dead() {
    let test = "a_replica_whose_clock_is_behind_is_not_taken_for_dead";
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(faketime) = faketime_library(test) else {
        return;
    };
    let Some(db) = fresh_database(test) else {
        return;
    };
    let slow = Mock::start().await;
    // Seven events a second apart: about 7 s, past two of A's looks at B's lease.
    slow.set(|s| {
        s.input_tokens = 10;
        s.output_tokens = 100;
        s.text = "slow slow slow".into();
        s.chunk_delay_ms = 1000;
    });
    let lease = ("TOLLGATE_INSTANCE_LEASE_SECS", LEASE_SECS.to_string());
    let a = Replica::start("A", &db, std::slice::from_ref(&lease)).await;
    provider_with_model(&a, "slow", "openai", &slow, "slow-model", "2", "6").await;
    let budget = json!({"limit_usd": "100", "period": "total", "mode": "hard"});
    let (_, secret) = new_key(&a, json!({"name": "on-b", "budget": budget})).await;
    let skewed = [
        lease,
        ("LD_PRELOAD", faketime),
        ("FAKETIME", "-60s".to_string()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_string()),
    ];
    let b = Replica::start("B", &db, &skewed).await;
    let (id, mut r) = slow_call(&b, &secret).await;

    tokio::time::sleep(Duration::from_secs(2 * LEASE_SECS + 1)).await;
    assert!(
        reserved(&a, &secret).await > Decimal::ZERO,
        "B's call in flight keeps its reservation"
    );
    assert!(
        a.generation(&secret, &id).await.is_none(),
        "B's call in flight was closed out by A"
    );
    while r.chunk().await.unwrap().is_some() {}
    let deadline = Instant::now() + Duration::from_secs(5);
    let g = loop {
        if let Some(g) = a.generation(&secret, &id).await {
            break g;
        }
        assert!(Instant::now() < deadline, "no record for B's call");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(g["status"], "ok", "{g}");
}

/// With replicas A and B under load (fast calls on both, three slow streams on each), A is
/// SIGKILLed. Every call a client saw complete has its record; B's calls in flight keep their
/// reservations and get no record until they finish, then an `ok` one; after A's lease
/// (`TOLLGATE_INSTANCE_LEASE_SECS=2`) expires, B closes out A's calls in flight as
/// `interrupted` and releases their reservations, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_calls_are_closed_out_by_the_survivor_after_its_lease() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(db) =
        fresh_database("a_killed_replicas_calls_are_closed_out_by_the_survivor_after_its_lease")
    else {
        return;
    };
    let fast = Mock::start().await;
    fast.set(|s| {
        s.input_tokens = 10;
        s.output_tokens = 100;
        s.delay_ms = 20;
    });
    let slow = Mock::start().await;
    // Nine events a second apart (role, five words, finish, usage, [DONE]): about 9 s a
    // stream, well past the kill, A's lease and the survivor's close-out of A's calls.
    slow.set(|s| {
        s.input_tokens = 10;
        s.output_tokens = 100;
        s.text = "slow slow slow slow slow".into();
        s.chunk_delay_ms = 1000;
    });
    let per_call = cost(10, "2", 100, "6");
    let lease = [("TOLLGATE_INSTANCE_LEASE_SECS", LEASE_SECS.to_string())];
    let mut a = Replica::start("A", &db, &lease).await;
    provider_with_model(&a, "fast", "openai", &fast, "fast-model", "2", "6").await;
    provider_with_model(&a, "slow", "openai", &slow, "slow-model", "2", "6").await;
    let budget = json!({"limit_usd": "100", "period": "total", "mode": "hard"});
    let (key_a_id, key_a) = new_key(&a, json!({"name": "on-a", "budget": budget})).await;
    let (_, key_b_slow) = new_key(&a, json!({"name": "slow-on-b", "budget": budget})).await;
    let (_, key_b_fast) = new_key(&a, json!({"name": "fast-on-b", "budget": budget})).await;
    let b = Replica::start("B", &db, &lease).await;

    let stop_a = Arc::new(AtomicBool::new(false));
    let stop_b = Arc::new(AtomicBool::new(false));
    let loads_a = spawn_fast_loads(&a, &key_a, &stop_a, 3);
    let loads_b = spawn_fast_loads(&b, &key_b_fast, &stop_b, 3);
    let (slow_a, slow_b) = tokio::join!(
        futures::future::join_all((0..3).map(|_| slow_call(&a, &key_a))),
        futures::future::join_all((0..3).map(|_| slow_call(&b, &key_b_slow))),
    );
    // Starts are written once a call has been in flight for half a second.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let reserved_b = reserved(&b, &key_b_slow).await;
    assert!(
        reserved_b > Decimal::ZERO,
        "B's slow calls hold reservations"
    );
    assert!(
        reserved(&b, &key_a).await > Decimal::ZERO,
        "A's calls hold reservations"
    );

    a.kill(); // SIGKILL
    let killed = Instant::now();
    stop_a.store(true, Ordering::SeqCst);
    let ids_a: Vec<String> = slow_a.into_iter().map(|(id, _)| id).collect();
    let fast_a = joined(loads_a).await;
    assert!(!fast_a.is_empty(), "A served calls before it was killed");

    // Every response a client saw complete on A has its record, read through the survivor.
    for id in &fast_a {
        let g = b.generation(&key_a, id).await;
        let g = g.unwrap_or_else(|| panic!("A's completed call {id} has no record"));
        assert_eq!(g["status"], "ok", "{g}");
    }

    // Wait (bounded) for B to close out A's calls in flight once A's lease has expired.
    let deadline = killed + Duration::from_secs(LEASE_SECS + 3);
    let closed_after = loop {
        let mut open = Vec::new();
        for id in &ids_a {
            if b.generation(&key_a, id).await.is_none() {
                open.push(id.clone());
            }
        }
        let held = reserved(&b, &key_a).await;
        if held == Decimal::ZERO && open.is_empty() {
            break Ok(killed.elapsed());
        }
        if Instant::now() > deadline {
            break Err((held, open));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Whatever became of A's calls, B's own calls in flight are untouched: still streaming,
    // no record (least of all an `interrupted` one), their reservations whole.
    for (id, _) in &slow_b {
        assert!(
            b.generation(&key_b_slow, id).await.is_none(),
            "B's call {id}, still in flight, already has a record"
        );
    }
    assert_eq!(
        reserved(&b, &key_b_slow).await,
        reserved_b,
        "B's reservations are untouched by A's death"
    );

    match closed_after {
        Ok(t) => println!("B closed out A's calls {t:?} after the kill (lease {LEASE_SECS} s)"),
        Err((held, open)) => panic!(
            "{} s after A was killed (lease {LEASE_SECS} s), B has not closed out A's calls in \
             flight: A's key still reserves {held} USD; slow calls of A without a record: {open:?}",
            LEASE_SECS + 3
        ),
    }
    for id in &ids_a {
        let g = b.generation(&key_a, id).await.unwrap();
        assert_eq!(g["status"], "interrupted", "{g}");
        assert_eq!(g["cost_usd"], "0.000000", "{g}");
    }

    // B's slow calls finish normally, each with one `ok` record at full cost.
    let mut slow_b_ids = Vec::new();
    for (id, r) in slow_b {
        let text = r.text().await.unwrap();
        assert!(
            text.ends_with("data: [DONE]\n\n"),
            "B's stream {id} completed"
        );
        slow_b_ids.push(id);
    }
    stop_b.store(true, Ordering::SeqCst);
    let fast_b = joined(loads_b).await;
    println!(
        "completed fast calls: {} on A before the kill, {} on B",
        fast_a.len(),
        fast_b.len()
    );
    for id in &fast_b {
        let g = b.generation(&key_b_fast, id).await;
        let g = g.unwrap_or_else(|| panic!("B's completed call {id} has no record"));
        assert_eq!(g["status"], "ok", "{g}");
    }
    for id in &slow_b_ids {
        let g = b.generation(&key_b_slow, id).await;
        let g = g.unwrap_or_else(|| panic!("B's finished call {id} has no record"));
        assert_eq!(g["status"], "ok", "{g}");
        assert_eq!(usd(&g["cost_usd"]), per_call, "{g}");
    }
    let key = b.caller_get(&key_b_slow, "/v1/key").await;
    let budget = budget_of(&key, "key");
    assert_eq!(usd(&budget["reserved_usd"]), Decimal::ZERO);
    assert_eq!(
        usd(&budget["spent_usd"]),
        per_call * Decimal::from(slow_b_ids.len() as i64)
    );
    // A's key is charged exactly its records (a call can commit just before the kill without
    // its client seeing the end), and nothing stays reserved.
    let records = audit_all(&b, &format!("key={key_a_id}")).await;
    let recorded: Decimal = records.iter().map(|r| usd(&r["cost_usd"])).sum();
    let key = b.caller_get(&key_a, "/v1/key").await;
    let budget = budget_of(&key, "key");
    assert_eq!(usd(&budget["spent_usd"]), recorded);
    assert_eq!(usd(&budget["reserved_usd"]), Decimal::ZERO);
}

// ---------------------------------------------------------------------------------------------
// 4. Alerts delivered once.
// ---------------------------------------------------------------------------------------------

/// Counts webhook deliveries by alert id; answers after a pause, as a real receiver might, so
/// two replicas polling the outbox would both see an alert still pending.
#[derive(Clone, Default)]
struct Receiver {
    deliveries: Arc<Mutex<Vec<Value>>>,
    bad_signatures: Arc<Mutex<u32>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let expected = tollgate::budgets::alerts::signature(WEBHOOK_SECRET, &body);
    if headers
        .get("x-tollgate-signature")
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        *r.bad_signatures.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    r.deliveries
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    StatusCode::OK
}

/// A soft budget's thresholds (50 %, 80 %, 100 %) crossed by calls alternating between two
/// replicas, both delivering the outbox every 100 ms to a receiver that takes 300 ms to
/// answer: each alert reaches the webhook exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_crossed_on_two_replicas_is_delivered_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(db) = fresh_database("a_threshold_crossed_on_two_replicas_is_delivered_once") else {
        return;
    };
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mock = Mock::start().await;
    mock.set(|s| {
        s.input_tokens = 10;
        s.output_tokens = 100;
    });
    let env = [
        ("TOLLGATE_ALERT_WEBHOOK_URL", hook.clone()),
        ("TOLLGATE_WEBHOOK_SECRET", WEBHOOK_SECRET.to_string()),
        ("TOLLGATE_ALERT_POLL_MS", "100".to_string()),
    ];
    let a = Replica::start("A", &db, &env).await;
    catalog(&a, &mock).await;
    // 0.00062 USD a call: calls 3 (on A), 4 (on B) and 5 (on A) cross 50 %, 80 % and 100 % of
    // 0.0031.
    let (key_id, secret) = new_key(
        &a,
        json!({"name": "alerted", "webhook_url": hook,
            "budget": {"limit_usd": "0.0031", "period": "monthly", "mode": "soft",
                "alert_thresholds": [0.5, 0.8, 1.0]}}),
    )
    .await;
    let b = Replica::start("B", &db, &env).await;
    let body = chat_body("oa-model", false);
    for i in 0..8u32 {
        let replica = if i.is_multiple_of(2) { &a } else { &b };
        let r = replica.chat(&secret, &body).await;
        assert_eq!(
            r.status(),
            200,
            "call {i} on {}: a soft budget only alerts",
            replica.name
        );
    }

    let thresholds = |got: &[Value]| -> usize {
        got.iter()
            .filter(|e| e["type"] == "budget.threshold_crossed")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while thresholds(&receiver.deliveries.lock().unwrap()) < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate, were there one, time to arrive: several polls and answers.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let got = receiver.deliveries.lock().unwrap().clone();
    let mut by_id: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut by_threshold: BTreeMap<String, usize> = BTreeMap::new();
    for e in &got {
        let entry = by_id
            .entry(e["id"].as_str().unwrap().to_string())
            .or_insert_with(|| (e["type"].as_str().unwrap().to_string(), 0));
        entry.1 += 1;
        if e["type"] == "budget.threshold_crossed" {
            *by_threshold.entry(e["threshold"].to_string()).or_default() += 1;
        }
    }
    println!("deliveries by alert id: {by_id:?}");
    assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);
    assert_eq!(
        by_threshold.len(),
        3,
        "every threshold crossed was delivered: {got:?}"
    );
    let repeated: Vec<_> = by_id.iter().filter(|(_, (_, n))| *n > 1).collect();
    assert!(
        repeated.is_empty(),
        "alerts delivered more than once (id: (type, deliveries)): {repeated:?}"
    );
    assert!(
        by_threshold.values().all(|n| *n == 1),
        "each threshold once: {by_threshold:?}"
    );
    // Both replicas list the same alerts, each delivered.
    for r in [&a, &b] {
        let alerts = r.admin_get("/admin/alerts").await;
        let listed: Vec<&Value> = alerts["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["type"] == "budget.threshold_crossed" && a["scope_id"] == key_id.as_str())
            .collect();
        assert_eq!(listed.len(), 3, "{} lists {alerts}", r.name);
        assert!(
            listed.iter().all(|a| a["delivery"]["state"] == "delivered"),
            "{} lists {alerts}",
            r.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Reports through either replica.
// ---------------------------------------------------------------------------------------------

/// Every audit record `query` selects, read through `replica` in pages of 7.
async fn audit_all(replica: &Replica, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/admin/usage?limit=7&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = replica.admin_get(&path).await;
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
        assert!(out.len() < 10_000, "audit pages end");
    }
}

/// One call the test made: where, with which key and model, and what it should cost.
struct Made {
    id: String,
    replica: &'static str,
    key: usize,
    model: &'static str,
    expected: Decimal,
}

/// 64 calls over two replicas (two keys, one in a team; OpenAI and Anthropic endpoints;
/// streamed and not; four rounds of different token counts). Through either replica: each
/// call's record costs what its tokens cost; the audit pages list exactly those calls and add
/// up to their sum; spend reports (total, by key and model, by team, provider and day in
/// another time zone, the caller's own) equal the exact sums of the records, and both replicas
/// answer identically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_and_audit_pages_through_either_replica_are_exact() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(db) = fresh_database("reports_and_audit_pages_through_either_replica_are_exact")
    else {
        return;
    };
    let started = chrono::Utc::now() - chrono::Duration::minutes(1);
    let mock = Mock::start().await;
    let a = Replica::start("A", &db, &[]).await;
    catalog(&a, &mock).await;
    let (s, v) = a
        .admin(
            Method::POST,
            "/admin/teams",
            Some(json!({"id": "research"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let k0 = new_key(&a, json!({"name": "in-team", "team": "research"})).await;
    let k1 = new_key(&a, json!({"name": "solo"})).await;
    let keys = [&k0, &k1];
    let b = Replica::start("B", &db, &[]).await;
    let replicas = [&a, &b];

    let mut made: Vec<Made> = Vec::new();
    for round in 0..4i64 {
        let (input, output) = (10 + 7 * round, 100 + 13 * round);
        mock.set(|s| {
            s.input_tokens = input as u64;
            s.output_tokens = output as u64;
        });
        let calls = (0..16usize).map(|j| {
            let replica = replicas[j % 2];
            let key = (j / 2) % 2;
            let kind = (j / 4) % 4;
            let secret = &keys[key].1;
            async move {
                let (r, model, expected) = match kind {
                    0 | 1 => (
                        replica
                            .chat(secret, &chat_body("oa-model", kind == 1))
                            .await,
                        "oa-model",
                        cost(input, "2", output, "6"),
                    ),
                    _ => (
                        replica
                            .messages(secret, &messages_body("an-model", kind == 3))
                            .await,
                        "an-model",
                        cost(input, "5", output, "25"),
                    ),
                };
                assert_eq!(r.status(), 200, "call {j} of round {round}");
                let id = request_id(&r);
                let text = r.text().await.unwrap();
                assert!(!text.is_empty());
                Made {
                    id,
                    replica: replica.name,
                    key,
                    model,
                    expected,
                }
            }
        });
        made.extend(futures::future::join_all(calls).await);
    }
    let total: Decimal = made.iter().map(|m| m.expected).sum();
    let ended = chrono::Utc::now() + chrono::Duration::minutes(1);
    let range = format!(
        "from={}&to={}",
        started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ended.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );

    // The records: each call's, read through the replica that did not serve it.
    for m in &made {
        let other = if m.replica == "A" { &b } else { &a };
        let g = other
            .generation(&keys[m.key].1, &m.id)
            .await
            .unwrap_or_else(|| panic!("call {} has no record", m.id));
        assert_eq!(g["status"], "ok", "{g}");
        assert_eq!(usd(&g["cost_usd"]), m.expected, "{g}");
        assert_eq!(g["model"], m.model);
    }

    let mut answers: Vec<Vec<Value>> = Vec::new();
    for r in replicas {
        let mut seen = Vec::new();
        // Audit pages: exactly the calls made, each once, adding up to their sum.
        let records = audit_all(r, &range).await;
        let ids: HashSet<&str> = records.iter().map(|x| x["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids.len(),
            records.len(),
            "{}: no record listed twice",
            r.name
        );
        let made_ids: HashSet<&str> = made.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids, made_ids,
            "{}: the audit pages list exactly the calls",
            r.name
        );
        let expected_by_id: HashMap<&str, Decimal> =
            made.iter().map(|m| (m.id.as_str(), m.expected)).collect();
        for x in &records {
            assert_eq!(
                usd(&x["cost_usd"]),
                expected_by_id[x["id"].as_str().unwrap()]
            );
            assert_eq!(usd(&x["net_cost_usd"]), usd(&x["cost_usd"]));
        }
        let listed: Decimal = records.iter().map(|x| usd(&x["cost_usd"])).sum();
        assert_eq!(listed, total, "{}: audit pages", r.name);

        // The whole selection, exported.
        let export = r
            .client
            .get(r.url(&format!("/admin/usage?format=jsonl&{range}")))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(export.status(), 200);
        let lines: Vec<Value> = export
            .text()
            .await
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), made.len(), "{}: export", r.name);
        let exported: Decimal = lines.iter().map(|x| usd(&x["cost_usd"])).sum();
        assert_eq!(exported, total, "{}: export", r.name);

        // Spend: the total, by key and model, by team, provider and day in another zone.
        let report = r.admin_get(&format!("/admin/spend?{range}")).await;
        assert_eq!(
            usd(&report["total"]["cost_usd"]),
            total,
            "{}: {report}",
            r.name
        );
        assert_eq!(report["total"]["requests"], made.len() as i64);
        seen.push(report);

        let report = r
            .admin_get(&format!("/admin/spend?{range}&group_by=key,model"))
            .await;
        let mut expected: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        for m in &made {
            *expected
                .entry((keys[m.key].0.clone(), m.model.to_string()))
                .or_default() += m.expected;
        }
        let mut got: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        for row in report["rows"].as_array().unwrap() {
            let k = (
                row["key"].as_str().unwrap().to_string(),
                row["model"].as_str().unwrap().to_string(),
            );
            *got.entry(k).or_default() += usd(&row["cost_usd"]);
        }
        assert_eq!(got, expected, "{}: by key and model", r.name);
        assert_eq!(usd(&report["total"]["cost_usd"]), total);
        seen.push(report);

        let report = r
            .admin_get(&format!(
                "/admin/spend?{range}&group_by=team,provider,day&tz=Asia/Kolkata"
            ))
            .await;
        let rows: Decimal = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| usd(&row["cost_usd"]))
            .sum();
        assert_eq!(rows, total, "{}: rows add up", r.name);
        let team: Decimal = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row["team"] == "research")
            .map(|row| usd(&row["cost_usd"]))
            .sum();
        let in_team: Decimal = made.iter().filter(|m| m.key == 0).map(|m| m.expected).sum();
        assert_eq!(team, in_team, "{}: the team's spend", r.name);
        seen.push(report);

        // Each caller's own spend and records.
        for (k, (_, secret)) in keys.iter().enumerate() {
            let own: Decimal = made.iter().filter(|m| m.key == k).map(|m| m.expected).sum();
            let report = r.caller_get(secret, &format!("/v1/spend?{range}")).await;
            assert_eq!(
                usd(&report["total"]["cost_usd"]),
                own,
                "{}: /v1/spend",
                r.name
            );
            let usage = r
                .caller_get(secret, &format!("/v1/usage?limit=1000&{range}"))
                .await;
            let listed: Decimal = usage["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| usd(&x["cost_usd"]))
                .sum();
            assert_eq!(listed, own, "{}: /v1/usage", r.name);
            seen.push(report);
        }
        answers.push(seen);
    }
    assert_eq!(
        answers[0], answers[1],
        "both replicas answer the same reports"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Rate limits hold across replicas.
// ---------------------------------------------------------------------------------------------

/// A key limited to 10 requests a minute and 2 calls in parallel, called 40 times at once
/// through two replicas: at most 10 are served in all (not 10 per replica), never more than 2
/// at a time, the rest refused with 429 and `retry-after`.
#[tokio::test]
async fn rate_limits_hold_across_replicas() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(db) = fresh_database("rate_limits_hold_across_replicas") else {
        return;
    };
    let mock = Mock::start().await;
    mock.set(|s| s.delay_ms = 150);
    let a = Replica::start("A", &db, &[]).await;
    catalog(&a, &mock).await;
    let (_, secret) = new_key(
        &a,
        json!({"name": "limited", "rate_limits": {"requests_per_minute": 10, "max_parallel": 2}}),
    )
    .await;
    let b = Replica::start("B", &db, &[]).await;
    let body = chat_body("oa-model", false);
    let calls = (0..40).map(|i| {
        let (replica, secret, body) = (if i % 2 == 0 { &a } else { &b }, &secret, &body);
        async move {
            let r = replica.chat(secret, body).await;
            let status = r.status().as_u16();
            let retry = r.headers().contains_key("retry-after");
            (status, retry)
        }
    });
    let results = futures::future::join_all(calls).await;
    let served = results.iter().filter(|(s, _)| *s == 200).count();
    let refused = results
        .iter()
        .filter(|(s, retry)| *s == 429 && *retry)
        .count();
    assert_eq!(served + refused, 40, "{results:?}");
    assert!(
        (1..=10).contains(&served),
        "{served} served under a limit of 10 a minute"
    );
    // The parallel limit: with 150 ms per call and 40 calls at once, only 2 run at a time.
    let in_flight_peak = mock.peak_in_flight();
    assert!(
        in_flight_peak <= 2,
        "{in_flight_peak} calls in parallel under a limit of 2"
    );
}
