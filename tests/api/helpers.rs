use std::path::PathBuf;

use reqwest::{Client, Response};
use serde_json::Value;
use tempfile::TempDir;
use tollgate::configuration::Settings;
use tollgate::startup::Application;

pub const ADMIN: &str = "test-admin-token";

/// A running server with its own database, stopped when dropped.
pub struct TestApp {
    pub base: String,
    /// The running app's state (its clock, store, ...).
    pub state: tollgate::state::AppState,
    pub client: Client,
    pub dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

pub fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds")
}

/// The test's database: a SQLite file in `dir`, or, when `TOLLGATE_TEST_BACKEND=postgres`, a
/// fresh database on the server `TOLLGATE_TEST_POSTGRES_URL` names (created here; the test
/// script drops them by their `tgtest_` prefix).
pub fn database_url(dir: &TempDir) -> String {
    let backend = std::env::var("TOLLGATE_TEST_BACKEND").unwrap_or_default();
    let server = std::env::var("TOLLGATE_TEST_POSTGRES_URL");
    match (backend.as_str(), server) {
        ("postgres", Ok(server)) => {
            // The same database for every start of the app in this directory (a restart).
            let remembered = dir.path().join("postgres-url");
            if let Ok(url) = std::fs::read_to_string(&remembered) {
                return url;
            }
            let name = format!("tgtest_{}", uuid::Uuid::now_v7().simple());
            let created = std::process::Command::new("createdb")
                .args(["-h", "127.0.0.1", "-U", "postgres", &name])
                .status()
                .expect("createdb runs");
            assert!(created.success(), "createdb {name}");
            let url = format!("{}/{name}", server.trim_end_matches('/'));
            std::fs::write(&remembered, &url).expect("the test directory is writable");
            url
        }
        _ => format!("sqlite://{}", dir.path().join("tollgate.db").display()),
    }
}

pub fn settings_in(dir: &TempDir) -> Settings {
    let mut s = Settings::with_database(&database_url(dir));
    s.admin_token = Some(ADMIN.into());
    s.seeds_dir = seeds_dir();
    s
}

pub async fn spawn_app() -> TestApp {
    let dir = TempDir::new().unwrap();
    let settings = settings_in(&dir);
    spawn_with(dir, settings).await
}

pub async fn spawn_with(dir: TempDir, settings: Settings) -> TestApp {
    let app = Application::build(settings).await.expect("app builds");
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = rx.await;
        })
        .await
        .expect("server runs");
    });
    TestApp {
        base,
        state,
        client: Client::new(),
        dir,
        stop: Some(tx),
        handle: Some(handle),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    pub async fn get_anthropic(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .header("anthropic-version", "2023-06-01")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
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

    /// Stops the server gracefully and waits for it, keeping the database directory.
    pub async fn stop(mut self) -> TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.handle.take().unwrap().await.unwrap();
        let dir = TempDir::new().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Ids of a model list, in order.
pub fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}
