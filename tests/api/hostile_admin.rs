//! Hostile and careless traffic against reports and admin writes (issue 9): dates at the ends
//! of chrono's range, reports sized to stall the server, revocations raced by PATCHes,
//! deprecated models offered as suggestions, a mistyped CLI database path, corrections beyond
//! what the ledger can hold.

use std::process::Command;
use std::time::Duration;

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, ADMIN};
use crate::reports::{known, record, store_of};

/// A new key's id and secret.
async fn new_key(app: &TestApp, name: &str) -> (String, String) {
    let (s, k) = app
        .admin(Method::POST, "/admin/keys", Some(json!({ "name": name })))
        .await;
    assert_eq!(s, 201, "{k}");
    (
        k["id"].as_str().unwrap().to_string(),
        k["key"].as_str().unwrap().to_string(),
    )
}

/// GET with a bearer token, within `secs`; the status and JSON body, or a description of
/// what went wrong (a dropped connection, a timeout) as status 0.
async fn get_as(app: &TestApp, path: &str, token: &str, secs: u64) -> (u16, Value) {
    let send = app.client.get(app.url(path)).bearer_auth(token).send();
    match tokio::time::timeout(Duration::from_secs(secs), send).await {
        Err(_) => (0, json!(format!("{path}: no answer in {secs} s"))),
        Ok(Err(e)) => (0, json!(format!("{path}: {e}"))),
        Ok(Ok(r)) => {
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
    }
}

/// Dates at the edges of what chrono can hold used to panic in the report's date arithmetic
/// (`DateTime - TimeDelta overflowed`) and drop the connection.
#[tokio::test]
async fn report_dates_out_of_range_are_a_400_naming_the_parameter() {
    let app = spawn_app().await;
    let (_, secret) = new_key(&app, "caller").await;
    let cases = [
        (
            "/v1/spend?to=-262143-01-05T00:00:00Z",
            secret.as_str(),
            "to",
        ),
        ("/admin/spend?to=-262143-01-05T00:00:00Z", ADMIN, "to"),
        (
            "/admin/spend?to=-262143-01-05T00:00:00Z&group_by=week&tz=Pacific/Kiritimati",
            ADMIN,
            "to",
        ),
        (
            "/admin/recommendations?to=-262143-01-05T00:00:00Z",
            ADMIN,
            "to",
        ),
        (
            "/admin/spend?from=-262143-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            ADMIN,
            "from",
        ),
        (
            "/admin/spend?from=2026-01-01T00:00:00Z&to=%2B262142-12-31T00:00:00Z&group_by=week",
            ADMIN,
            "to",
        ),
    ];
    for (path, token, param) in cases {
        let (s, v) = get_as(&app, path, token, 20).await;
        assert_eq!(s, 400, "{path}: {v}");
        assert_eq!(v["error"]["param"], param, "{path}: {v}");
        assert_eq!(v["error"]["code"], "invalid_field", "{path}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("0001-01-01"),
            "the message states the accepted range: {v}"
        );
    }
    let (s, _) = app.get_json("/healthz").await;
    assert_eq!(s, 200, "the server is still up");
}

/// A report's size is bounded before any work is done: at most 10,000 time buckets and a range
/// of at most 10,000 days. The request (46 s of CPU and 2-3 GB per call) is refused at
/// once; a report at the limit still runs.
#[tokio::test]
async fn report_size_is_bounded_before_any_work() {
    let app = spawn_app().await;
    let (_, secret) = new_key(&app, "caller").await;
    let started = std::time::Instant::now();
    let (s, v) = get_as(
        &app,
        "/v1/spend?from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z&group_by=day&tz=Europe/Berlin",
        &secret,
        20,
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "range_too_large", "{v}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused before any work"
    );
    // Two years of hours: 17,520 buckets.
    let (s, v) = get_as(
        &app,
        "/admin/spend?from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&group_by=hour",
        ADMIN,
        20,
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "range_too_large", "{v}");
    assert_eq!(v["error"]["param"], "group_by", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("10000"),
        "the message names the limit: {v}"
    );
    // No grain: the range itself is bounded (10,000 days).
    for path in [
        "/admin/spend?from=1990-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "/admin/recommendations?from=1990-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
    ] {
        let (s, v) = get_as(&app, path, ADMIN, 20).await;
        assert_eq!(s, 400, "{path}: {v}");
        assert_eq!(v["error"]["code"], "range_too_large", "{path}: {v}");
        assert_eq!(v["error"]["param"], "from", "{path}: {v}");
    }
    // Exactly 10,000 hours, and 10,000 days by month in a zone: allowed.
    for path in [
        "/admin/spend?from=2025-01-01T00:00:00Z&to=2026-02-21T16:00:00Z&group_by=hour",
        "/admin/spend?from=2000-01-01T00:00:00Z&to=2027-05-19T00:00:00Z&group_by=month&tz=Europe/Berlin",
    ] {
        let (s, v) = get_as(&app, path, ADMIN, 60).await;
        assert_eq!(s, 200, "{path}: {v}");
    }
    // Token profiles of estimates and related models are bounded too.
    let (s, v) = app
        .get_json("/v1/models/openai-gpt-4-turbo/related?input_tokens=18446744073709551615")
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["param"], "input_tokens", "{v}");
    let r = app
        .client
        .post(app.url("/v1/estimate"))
        .bearer_auth(&secret)
        .json(&json!({"model": "openai-gpt-4-turbo", "input_tokens": 1000, "max_tokens": 10_000_000_000u64}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "max_tokens", "{v}");
}

/// Revoking (or disabling) a key while PATCHes of its other fields run used to bring it back:
/// each PATCH rewrote the whole row from the in-memory copy it had read before the revocation.
#[tokio::test]
async fn revocation_and_disabling_survive_concurrent_patches() {
    let app = spawn_app().await;
    let mut keys = Vec::new();
    for i in 0..30 {
        keys.push(new_key(&app, &format!("k{i}")).await);
    }
    let mut work = Vec::new();
    let app = &app;
    for (i, (id, _)) in keys.iter().enumerate() {
        let path = format!("/admin/keys/{id}");
        for j in 0..6 {
            let p = path.clone();
            work.push(Box::pin(async move {
                let body = match j % 3 {
                    0 => json!({"name": format!("renamed-{i}-{j}")}),
                    1 => json!({"metadata": {"round": j}}),
                    _ => json!({"allowed_models": null}),
                };
                let (s, v) = app.admin(Method::PATCH, &p, Some(body)).await;
                assert_eq!(s, 200, "{v}");
            }) as futures::future::BoxFuture<'_, ()>);
            if j == 2 {
                let path = path.clone();
                work.push(Box::pin(async move {
                    let (s, v) = if i % 2 == 0 {
                        app.admin(Method::DELETE, &path, None).await
                    } else {
                        app.admin(Method::PATCH, &path, Some(json!({"disabled": true})))
                            .await
                    };
                    assert_eq!(s, 200, "{v}");
                }));
            }
        }
    }
    join_all(work).await;
    let mut working = Vec::new();
    for (i, (id, secret)) in keys.iter().enumerate() {
        let (_, k) = app
            .admin(Method::GET, &format!("/admin/keys/{id}"), None)
            .await;
        let (s, _) = get_as(app, "/v1/key", secret, 20).await;
        let stopped = if i % 2 == 0 {
            k["revoked_at"].is_string()
        } else {
            k["disabled"] == true
        };
        if !stopped || s != 401 {
            working.push(format!(
                "{id} (revoked_at {}, disabled {}, /v1/key {s})",
                k["revoked_at"], k["disabled"]
            ));
        }
    }
    assert!(
        working.is_empty(),
        "{} of 30 keys work again: {working:?}",
        working.len()
    );
    // Every PATCH landed too: field-level updates lose nothing.
    let (_, k) = app
        .admin(Method::GET, &format!("/admin/keys/{}", keys[0].0), None)
        .await;
    assert!(k["name"].as_str().unwrap().starts_with("renamed-0-"), "{k}");
    assert!(k["metadata"]["round"].is_number(), "{k}");
}

/// Revocation is final: a revoked key cannot be re-enabled (409), and stays unusable.
#[tokio::test]
async fn a_revoked_key_cannot_be_re_enabled() {
    let app = spawn_app().await;
    let (id, secret) = new_key(&app, "gone").await;
    let path = format!("/admin/keys/{id}");
    let (s, v) = app.admin(Method::DELETE, &path, None).await;
    assert_eq!(s, 200, "{v}");
    let revoked_at = v["revoked_at"].clone();
    assert!(revoked_at.is_string(), "{v}");
    let (s, v) = app
        .admin(Method::PATCH, &path, Some(json!({"disabled": false})))
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "key_revoked", "{v}");
    let (s, v) = app
        .admin(Method::PATCH, &path, Some(json!({"name": "still-gone"})))
        .await;
    assert_eq!(s, 200, "other fields of a revoked key may change: {v}");
    assert_eq!(v["revoked_at"], revoked_at, "{v}");
    let (s, v) = app.admin(Method::DELETE, &path, None).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["revoked_at"], revoked_at,
        "revoking twice keeps the first time"
    );
    let (s, _) = get_as(&app, "/v1/key", &secret, 20).await;
    assert_eq!(s, 401);
}

/// Concurrent PATCHes of different fields of a team all land (no whole-row rewrite from a copy).
#[tokio::test]
async fn concurrent_team_patches_lose_no_field() {
    let app = spawn_app().await;
    let mut work = Vec::new();
    for i in 0..20 {
        let id = format!("team{i}");
        let (s, v) = app
            .admin(Method::POST, "/admin/teams", Some(json!({ "id": id })))
            .await;
        assert_eq!(s, 201, "{v}");
        let path = format!("/admin/teams/{id}");
        for body in [
            json!({"name": format!("Team {i}")}),
            json!({"budget": {"limit_usd": "5", "period": "monthly"}}),
            json!({"webhook_url": "https://example.com/hook"}),
            json!({"metadata": {"cost_center": i}}),
        ] {
            let (app, path) = (&app, path.clone());
            work.push(async move {
                let (s, v) = app.admin(Method::PATCH, &path, Some(body)).await;
                assert_eq!(s, 200, "{v}");
            });
        }
    }
    join_all(work).await;
    let mut lost = Vec::new();
    for i in 0..20 {
        let (_, t) = app
            .admin(Method::GET, &format!("/admin/teams/team{i}"), None)
            .await;
        if t["name"] != format!("Team {i}")
            || t["budget"]["limit_usd"] != "5"
            || t["webhook_url"] != "https://example.com/hook"
            || t["metadata"]["cost_center"] != i
        {
            lost.push(t);
        }
    }
    assert!(
        lost.is_empty(),
        "{} teams lost a field: {lost:?}",
        lost.len()
    );
}

/// Deprecated models are never offered as targets of suggestions (related models, estimates,
/// recommendations); a deprecated model can still be estimated itself.
#[tokio::test]
async fn deprecated_models_are_not_suggested() {
    let app = spawn_app().await;
    let (_, secret) = new_key(&app, "dev").await;
    for id in ["amazon-nova-pro-v1", "qwen-qwen3.6-plus"] {
        let (s, v) = app
            .admin(Method::DELETE, &format!("/admin/models/{id}"), None)
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, rel) = app
        .get_json("/v1/models/mistralai-pixtral-large-2411/related")
        .await;
    assert_eq!(s, 200, "{rel}");
    let ids: Vec<&str> = rel["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(!ids.is_empty());
    assert!(!ids.contains(&"amazon-nova-pro-v1"), "{ids:?}");
    let v: Value = app
        .client
        .post(app.url("/v1/estimate"))
        .bearer_auth(&secret)
        .json(&json!({"model": "mistralai-pixtral-large-2411", "input_tokens": 1000, "output_tokens": 500}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let models: Vec<&str> = v["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].as_str().unwrap())
        .collect();
    assert!(!models.is_empty());
    assert!(!models.contains(&"amazon-nova-pro-v1"), "{models:?}");
    let r = app
        .client
        .post(app.url("/v1/estimate"))
        .bearer_auth(&secret)
        .json(&json!({"model": "amazon-nova-pro-v1", "input_tokens": 1000, "output_tokens": 500}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a deprecated model can still be estimated");

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
    a.usage.cached_input_tokens = 0;
    store_of(&app)
        .await
        .write_usage_batch(&[], &[a])
        .await
        .unwrap();
    let (s, v) = app
        .admin(
            Method::GET,
            "/admin/recommendations?key=key_r&from=2026-11-01T00:00:00Z&to=2026-11-04T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let alts: Vec<&str> = v["models"][0]["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["model"].as_str().unwrap())
        .collect();
    assert_eq!(
        alts,
        vec!["anthropic-claude-opus-4.6"],
        "the deprecated Qwen is no longer recommended"
    );
}

/// Read-only CLI commands open an existing Tollgate database only: a mistyped path is an error
/// (non-zero exit, a clear message), never a new empty database and a zero report.
#[tokio::test]
async fn cli_read_commands_never_create_a_database() {
    let dir = tempfile::TempDir::new().unwrap();
    let missing = dir.path().join("mistyped.db");
    let url = format!("sqlite://{}", missing.display());
    for args in [vec!["spend"], vec!["usage", "export", "--format", "csv"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(&args)
            .args(["--database-url", &url])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("does not exist") && stderr.contains("mistyped.db"),
            "{args:?}: {stderr}"
        );
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
    // A file that is not a Tollgate database is refused too, and left as it was.
    let other = dir.path().join("other.db");
    std::fs::write(&other, b"").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "spend",
            "--database-url",
            &format!("sqlite://{}", other.display()),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("not a Tollgate database"), "{stderr}");
    assert_eq!(std::fs::metadata(&other).unwrap().len(), 0);

    // The CLI applies the same report limits as the API.
    let app = spawn_app().await;
    let url = crate::helpers::database_url(&app.dir);
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["spend", "--database-url", &url, "--by", "day"])
        .args([
            "--from",
            "0001-01-01T00:00:00Z",
            "--to",
            "9999-12-31T00:00:00Z",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("10000"), "{stderr}");
}

/// A correction beyond what an i64 of picodollars can hold (about $9,223,372) is refused with
/// a 400 that says so; the sum of a call's adjustments is checked too, and a refused
/// correction leaves reports as they were.
#[tokio::test]
async fn huge_corrections_are_refused_with_the_ledger_maximum() {
    let app = spawn_app().await;
    store_of(&app)
        .await
        .write_usage_batch(&[], &known())
        .await
        .unwrap();
    let adjust = |amount: &str| {
        app.admin(
            Method::POST,
            "/admin/usage/r1/adjustments",
            Some(json!({"kind": "correction", "cost_delta_usd": amount})),
        )
    };
    for amount in ["9300000", "-9300000", "92233720.36854775807"] {
        let (s, v) = adjust(amount).await;
        assert_eq!(s, 400, "{amount}: {v}");
        assert_eq!(v["error"]["code"], "amount_too_large", "{amount}: {v}");
        assert_eq!(v["error"]["param"], "cost_delta_usd", "{amount}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("9223372"),
            "{amount}: {v}"
        );
    }
    // $9,000,000 fits once; the net cost of the call would overflow on the second.
    let (s, v) = adjust("9000000").await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = adjust("9000000").await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "amount_too_large", "{v}");
    // Another call of the same key, model and hour: its own net cost fits, but the rollup row
    // it shares with r1 would pass the maximum.
    store_of(&app)
        .await
        .write_usage_batch(
            &[],
            &[record(
                "r6",
                "key_a",
                "t1",
                "m1",
                "p1",
                "2026-11-01T10:45:00Z",
                10,
                1,
                "0.001",
            )],
        )
        .await
        .unwrap();
    let (s, v) = app
        .admin(
            Method::POST,
            "/admin/usage/r6/adjustments",
            Some(json!({"kind": "correction", "cost_delta_usd": "9000000"})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "amount_too_large", "{v}");
    // Another model: another rollup row.
    let (s, v) = app
        .admin(
            Method::POST,
            "/admin/usage/r2/adjustments",
            Some(json!({"kind": "correction", "cost_delta_usd": "9000000"})),
        )
        .await;
    assert_eq!(s, 201, "another rollup row: {v}");
    let (s, v) = app
        .admin(
            Method::GET,
            "/admin/spend?from=2026-11-01T00:00:00Z&to=2026-11-04T00:00:00Z&group_by=key",
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["total"]["cost_usd"], "18000001.534000000001", "{v}");
}
