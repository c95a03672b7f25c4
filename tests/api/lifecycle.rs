use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tollgate::startup::Application;

use crate::helpers::{settings_in, spawn_app, spawn_with};

#[tokio::test]
async fn health_and_openapi_cover_every_endpoint() {
    let app = spawn_app().await;
    let (status, h) = app.get_json("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["models"], 23);
    let (status, spec) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/models", "get"),
        ("/v1/models/{id}", "get"),
        ("/api/v7/llm/v1/models", "get"),
        ("/api/v7/llm/v1/models/{id}", "get"),
        ("/models/{file}", "get"),
        ("/llms.txt", "get"),
        ("/admin/providers", "get"),
        ("/admin/providers", "post"),
        ("/admin/providers/{id}", "patch"),
        ("/admin/models", "post"),
        ("/admin/models/{id}", "patch"),
        ("/admin/models/{id}", "delete"),
        ("/admin/models/{id}/prices", "post"),
        ("/admin/models/{id}/related", "put"),
        ("/admin/models/{id}/aliases", "get"),
        ("/admin/models/{id}/aliases", "put"),
        ("/admin/aliases", "get"),
        ("/admin/aliases", "post"),
        ("/admin/aliases/{alias}", "delete"),
        ("/healthz", "get"),
        ("/openapi.json", "get"),
        ("/v1/chat/completions", "post"),
        ("/v1/messages", "post"),
        ("/v1/messages/count_tokens", "post"),
        ("/v1/generations/{id}", "get"),
        ("/admin/keys", "post"),
        ("/admin/keys/{id}", "patch"),
        ("/admin/teams/{id}", "get"),
        ("/admin/keys/{id}/credits", "post"),
        ("/admin/keys/{id}/credits", "get"),
        ("/admin/teams/{id}/credits", "get"),
        ("/v1/credits", "get"),
        ("/v1/key", "get"),
        ("/admin/alerts", "get"),
        ("/admin/spend", "get"),
        ("/v1/spend", "get"),
        ("/admin/usage", "get"),
        ("/v1/usage", "get"),
        ("/admin/usage/{id}/adjustments", "post"),
        ("/v1/estimate", "post"),
        ("/v1/models/{id}/related", "get"),
        ("/admin/recommendations", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from OpenAPI"
        );
    }
}

#[tokio::test]
async fn a_restart_keeps_the_catalog_and_does_not_reseed() {
    let app = spawn_app().await;
    app.admin(
        Method::POST,
        "/admin/providers",
        Some(json!({"id":"mock","kind":"openai","base_url":"http://127.0.0.1:1/v1"})),
    )
    .await;
    app.admin(
        Method::POST,
        "/admin/models",
        Some(json!({"id":"kept","name":"Kept","provider":"mock"})),
    )
    .await;
    app.admin(Method::DELETE, "/admin/models/openai-gpt-4-turbo", None)
        .await;
    let dir = app.stop().await;
    let settings = settings_in(&dir);
    let again = spawn_with(dir, settings).await;
    let (_, all) = again.get_json("/v1/models?status=all").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 24);
    let (_, gpt) = again.get_json("/v1/models/openai-gpt-4-turbo").await;
    assert_eq!(
        gpt["status"], "deprecated",
        "seeds do not overwrite an existing catalog"
    );
}

#[tokio::test]
async fn missing_seeds_directory_falls_back_to_built_in_seeds() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut settings = settings_in(&dir);
    settings.seeds_dir = dir.path().join("no-such-dir");
    let app = Application::build(settings).await.unwrap();
    assert_eq!(app.state().catalog.snapshot().entries.len(), 23);
}

/// A SQLite database belongs to one process (its reservations are held in that process's
/// memory): a second server on the same file is refused with a clear error, and the file can
/// be served again once the first has stopped.
#[tokio::test]
async fn a_second_server_on_the_same_sqlite_file_is_refused() {
    let dir = tempfile::TempDir::new().unwrap();
    // SQLite whatever backend the suite runs on: this is SQLite's rule.
    let sqlite = || {
        let mut s = settings_in(&dir);
        s.database_url = format!("sqlite://{}", dir.path().join("owned.db").display());
        s
    };
    let first = Application::build(sqlite()).await.unwrap();
    let second = Application::build(sqlite()).await;
    let e = format!("{:#}", second.err().expect("the second server is refused"));
    assert!(e.contains("another Tollgate server is using"), "{e}");
    assert!(e.contains("PostgreSQL"), "{e}");
    drop(first);
    let again = Application::build(sqlite()).await;
    assert!(
        again.is_ok(),
        "the file is free once the first server stopped"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real binary: generates and prints an admin token when none is set, serves, and exits 0
/// after draining when sent SIGTERM.
#[tokio::test]
async fn binary_serves_and_shuts_down_cleanly_on_sigterm() {
    let dir = tempfile::TempDir::new().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("serve")
        .env_remove("TOLLGATE_ADMIN_TOKEN")
        .env("TOLLGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "TOLLGATE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .env("TOLLGATE_SEEDS_DIR", crate::helpers::seeds_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
        {
            up = r.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server did not come up");
    let list: Value = client
        .get(format!("http://127.0.0.1:{port}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 23);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let exit = exited.expect("server exits after SIGTERM");
    assert!(exit.success(), "exit status {exit:?}");
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    let token_line = out
        .lines()
        .find(|l| l.contains("admin token"))
        .expect("token is announced");
    let token = token_line.rsplit(' ').next().unwrap();
    assert!(
        token.starts_with("tga-") && token.len() > 20,
        "{token_line}"
    );
    assert_eq!(out.matches("tga-").count(), 1, "the token is printed once");
}

/// `tollgate spend` and `tollgate usage export` print from the same code as the API.
#[tokio::test]
async fn cli_prints_spend_and_exports_usage() {
    let app = spawn_app().await;
    crate::reports::store_of(&app)
        .await
        .write_usage_batch(&[], &crate::reports::known())
        .await
        .unwrap();
    let url = crate::helpers::database_url(&app.dir);
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(args)
            .args(["--database-url", &url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let table = run(&[
        "spend",
        "--by",
        "model,day",
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-11-04T00:00:00Z",
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("model") && lines[0].contains("cost_usd"),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("m1") && l.contains("2026-11-02") && l.ends_with("0.503000")),
        "{table}"
    );
    assert!(
        lines.last().unwrap().starts_with("TOTAL")
            && lines.last().unwrap().ends_with("1.533000000001"),
        "{table}"
    );
    let csv = run(&[
        "spend",
        "--by",
        "key",
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-11-04T00:00:00Z",
        "--format",
        "csv",
    ]);
    assert!(csv.contains("key_c,2,"), "{csv}");
    let export = run(&["usage", "export", "--key", "key_c", "--format", "csv"]);
    let rows: Vec<&str> = export.lines().collect();
    assert_eq!(rows.len(), 3, "{export}");
    assert!(rows[1].starts_with("r5,") && rows[2].starts_with("r4,"));
    let jsonl = run(&["usage", "export", "--key", "key_a", "--format", "jsonl"]);
    assert_eq!(jsonl.lines().count(), 2);
}
