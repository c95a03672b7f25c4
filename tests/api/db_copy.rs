//! `tollgate db copy`: a SQLite database built through the HTTP app is copied into PostgreSQL
//! by the real binary, and the app started on the copy answers exactly as it did on SQLite.
//! Needs `TOLLGATE_TEST_POSTGRES_URL` (e.g. postgres://postgres@127.0.0.1:5432); skipped
//! without it.

use chrono::DurationRound;
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;
use tollgate::configuration::Settings;

use crate::gateway_support::{chat, gateway_with, message, request_id, Gw};
use crate::helpers::{seeds_dir, spawn_with, TestApp, ADMIN};

/// The PostgreSQL server of the tests, or `None` (and a SKIPPED line) without one.
fn postgres_server(test: &str) -> Option<String> {
    match std::env::var("TOLLGATE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("SKIPPED {test}: TOLLGATE_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A fresh, empty PostgreSQL database (dropped by the test script by its `tgtest_` prefix).
fn fresh_postgres(server: &str) -> String {
    let name = format!("tgtest_{}", uuid::Uuid::now_v7().simple());
    let created = std::process::Command::new("createdb")
        .args(["-h", "127.0.0.1", "-U", "postgres", &name])
        .status()
        .expect("createdb runs");
    assert!(created.success(), "createdb {name}");
    format!("{}/{name}", server.trim_end_matches('/'))
}

fn settings(url: &str) -> Settings {
    let mut s = Settings::with_database(url);
    s.admin_token = Some(ADMIN.into());
    s.seeds_dir = seeds_dir();
    s
}

fn sqlite_url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("tollgate.db").display())
}

/// Runs `tollgate db copy`; returns (success, stdout, stderr).
fn db_copy(from: &str, to: &str, batch: &str) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["db", "copy", "--from", from, "--to", to, "--batch", batch])
        .output()
        .expect("tollgate runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn with_key(app: &TestApp, secret: &str, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Everything the copy must carry over, as the app answers it: reports (several groupings, a
/// time zone, re-priced), the keys' budgets and balances, audit pages (with their cursors, which
/// carry seq), generations with their adjustments, the catalog, keys, teams and alerts.
async fn snapshot(
    app: &TestApp,
    secrets: &[&str],
    calls: &[String],
    hours: &(String, String),
) -> Vec<(String, u16, Value)> {
    let (day_before, day_after) = hours;
    let range = "from=2026-01-01T00:00:00Z&to=2030-01-01T00:00:00Z";
    let mut out = Vec::new();
    let mut admin_paths = vec![
        format!("/admin/spend?{range}&group_by=key,team,model,provider"),
        format!("/admin/spend?{range}&group_by=model,day&tz=Europe/Paris"),
        format!("/admin/spend?from={day_before}&to={day_after}&group_by=team,hour"),
        format!("/admin/spend?{range}&group_by=model&price_at=2026-06-01T00:00:00Z"),
        "/admin/keys".to_string(),
        "/admin/teams".to_string(),
        "/admin/alerts".to_string(),
        "/v1/models".to_string(),
        "/v1/models/oa-model".to_string(),
        "/v1/models/an-model".to_string(),
        "/admin/usage?format=jsonl".to_string(),
    ];
    // Audit pages, three calls each, following the cursors.
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/admin/usage?limit=3&cursor={c}"),
            None => "/admin/usage?limit=3".to_string(),
        };
        let (s, page) = app.admin(Method::GET, &path, None).await;
        assert_eq!(s, 200, "{page}");
        out.push((path, s, page.clone()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    for path in admin_paths.drain(..) {
        let (s, v) = app.admin(Method::GET, &path, None).await;
        assert_eq!(s, 200, "{path}: {v}");
        out.push((path, s, v));
    }
    for secret in secrets {
        for path in ["/v1/key", "/v1/usage?limit=100"] {
            let (s, v) = with_key(app, secret, path).await;
            assert_eq!(s, 200, "{path}: {v}");
            out.push((format!("{path} as {}", &secret[..12]), s, v));
        }
        let (s, v) = with_key(app, secret, &format!("/v1/spend?{range}&group_by=model")).await;
        out.push((format!("/v1/spend as {}", &secret[..12]), s, v));
    }
    for id in calls {
        let (s, v) = with_key(app, secrets[0], &format!("/v1/generations/{id}")).await;
        out.push((format!("/v1/generations/{id}"), s, v));
    }
    out
}

async fn call(gw: &Gw, secret: &str, body: Value, path: &str) -> String {
    let r = gw
        .app
        .client
        .post(gw.app.url(path))
        .bearer_auth(secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let _ = r.bytes().await.unwrap();
    id
}

#[tokio::test]
async fn a_sqlite_database_copied_to_postgres_answers_the_same() {
    let Some(server) =
        postgres_server("db_copy::a_sqlite_database_copied_to_postgres_answers_the_same")
    else {
        return;
    };
    // The source: SQLite, whatever backend the suite runs on.
    let dir = TempDir::new().unwrap();
    let source = sqlite_url(&dir);
    let gw = gateway_with(spawn_with(dir, settings(&source)).await).await;
    gw.mock.set(|s| {
        s.input_tokens = 1234;
        s.output_tokens = 567;
    });
    let (s, team) = gw
        .app
        .admin(
            Method::POST,
            "/admin/teams",
            Some(json!({"id":"ops","budget":{"limit_usd":"5","period":"monthly"}})),
        )
        .await;
    assert_eq!(s, 201, "{team}");
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            "/admin/teams/ops/credits",
            Some(json!({"amount_usd":"3","note":"team top-up"})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, k) = gw
        .app
        .admin(
            Method::POST,
            "/admin/keys",
            Some(json!({"name":"capped","team":"ops",
                "budget":{"limit_usd":"2","period":"monthly","mode":"hard"}})),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let capped = k["key"].as_str().unwrap().to_string();
    let capped_id = k["id"].as_str().unwrap().to_string();
    let (s, _) = gw
        .app
        .admin(
            Method::POST,
            &format!("/admin/keys/{capped_id}/credits"),
            Some(json!({"amount_usd":"1.5","note":"top-up"})),
        )
        .await;
    assert_eq!(s, 201);

    let mut calls = Vec::new();
    for _ in 0..3 {
        calls.push(call(&gw, &gw.key, chat("oa-model"), "/v1/chat/completions").await);
        calls.push(call(&gw, &capped, chat("oa-model"), "/v1/chat/completions").await);
    }
    calls.push(call(&gw, &gw.key, message("an-model"), "/v1/messages").await);
    let mut streamed = chat("an-model");
    streamed["stream"] = json!(true);
    calls.push(call(&gw, &capped, streamed, "/v1/chat/completions").await);
    // A price change, and calls at the new price.
    let (s, p) = gw
        .app
        .admin(
            Method::POST,
            "/admin/models/oa-model/prices",
            Some(json!({"input_per_mtok":"3.10","output_per_mtok":"9.30","cached_input_per_mtok":"0.31"})),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    calls.push(call(&gw, &capped, chat("oa-model"), "/v1/chat/completions").await);
    calls.push(call(&gw, &gw.key, chat("oa-model"), "/v1/chat/completions").await);
    // Adjustments: a refund and a correction.
    let (s, a) = gw
        .app
        .admin(
            Method::POST,
            &format!("/admin/usage/{}/adjustments", calls[1]),
            Some(json!({"kind":"refund","reason":"outage"})),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    let (s, a) = gw
        .app
        .admin(
            Method::POST,
            &format!("/admin/usage/{}/adjustments", calls[0]),
            Some(json!({"kind":"correction","cost_delta_usd":"-0.000123456789"})),
        )
        .await;
    assert_eq!(s, 201, "{a}");

    let secrets = [gw.key.as_str(), capped.as_str()];
    let hour = |h: i64| {
        (chrono::Utc::now()
            .duration_trunc(chrono::TimeDelta::hours(1))
            .unwrap()
            + chrono::TimeDelta::hours(h))
        .format("%Y-%m-%dT%H:00:00Z")
        .to_string()
    };
    // A fixed range of hours around the calls, the same for both snapshots.
    let hours = (hour(-24), hour(24));
    let before = snapshot(&gw.app, &secrets, &calls, &hours).await;
    let spend = &before
        .iter()
        .find(|(p, _, _)| p.contains("group_by=key,team"))
        .unwrap()
        .2;
    assert_eq!(spend["total"]["requests"], 10, "{spend}");
    let Gw { app, mock, key, .. } = gw;
    let _dir = app.stop().await;

    // The copy, by the real binary, in small batches so that batching is exercised.
    let target = fresh_postgres(&server);
    let (ok, stdout, stderr) = db_copy(&source, &target, "3");
    assert!(ok, "db copy failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("equal on both sides"), "{stdout}");
    assert!(stdout.contains("usage_records"), "{stdout}");

    // The app on the copy answers exactly the same.
    let app = spawn_with(TempDir::new().unwrap(), settings(&target)).await;
    assert_eq!(
        app.state.store.backend(),
        tollgate::store::Backend::Postgres
    );
    let after = snapshot(&app, &[key.as_str(), capped.as_str()], &calls, &hours).await;
    assert_eq!(before.len(), after.len());
    for ((path, s1, v1), (_, s2, v2)) in before.iter().zip(&after) {
        assert_eq!(s1, s2, "{path}");
        assert_eq!(v1, v2, "{path} differs after the copy");
    }

    // And it goes on: a new call is metered after the copied ones (sequences continue).
    let gw = Gw {
        app,
        mock,
        key: key.clone(),
        key_id: String::new(),
    };
    let id = call(&gw, &capped, chat("oa-model"), "/v1/chat/completions").await;
    let (s, page) = gw
        .app
        .admin(Method::GET, "/admin/usage?limit=1", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(page["data"][0]["id"], id, "the new call is the newest");
    let (_, info) = with_key(&gw.app, &capped, "/v1/key").await;
    let (_, old) = &before
        .iter()
        .find(|(p, _, _)| p == &format!("/v1/key as {}", &capped[..12]))
        .map(|(_, s, v)| (s, v))
        .unwrap();
    assert_ne!(
        info["data"]["balance"], old["data"]["balance"],
        "the new call draws on the copied balance"
    );
    let target_again = target.clone();
    drop(gw);

    // A target that holds data is refused, and left as it was.
    let (ok, _, stderr) = db_copy(&source, &target_again, "10000");
    assert!(!ok, "a non-empty target must be refused");
    assert!(stderr.contains("not empty"), "{stderr}");
}

#[tokio::test]
async fn a_source_with_calls_in_flight_is_refused() {
    let Some(server) = postgres_server("db_copy::a_source_with_calls_in_flight_is_refused") else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let source = sqlite_url(&dir);
    let app = spawn_with(dir, settings(&source)).await;
    let dir = app.stop().await;
    // A call the gateway was still forwarding when the copy was started.
    let pool = sqlx::SqlitePool::connect(&source).await.unwrap();
    sqlx::query(
        "INSERT INTO call_starts (id, started_at, key_id, team_id, model_id, provider_id, upstream_model, \
         endpoint, streamed, price_version_id, input_tokens_estimate) \
         VALUES ('in-flight', 1, NULL, NULL, 'm', NULL, NULL, 'openai_chat', 0, NULL, 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let target = fresh_postgres(&server);
    let (ok, _, stderr) = db_copy(&source, &target, "10000");
    assert!(!ok, "a source with calls in flight must be refused");
    assert!(stderr.contains("stop"), "{stderr}");
    assert!(stderr.contains("call_starts"), "{stderr}");
    // Nothing was copied: once the gateway has closed the call out, the copy goes through.
    let app = spawn_with(dir, settings(&source)).await;
    let _dir = app.stop().await;
    let (ok, stdout, stderr) = db_copy(&source, &target, "10000");
    assert!(ok, "{stdout}\n{stderr}");
}
