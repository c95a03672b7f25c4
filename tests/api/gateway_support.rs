//! Sets up a gateway test: a mock upstream behind one provider of each kind, a priced model
//! on each, and a caller key.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::mock::Mock;

pub struct Gw {
    pub app: TestApp,
    pub mock: Mock,
    pub key: String,
    pub key_id: String,
}

/// `oa-model` is behind an OpenAI-kind provider, `an-model` behind an Anthropic-kind one.
pub async fn gateway() -> Gw {
    gateway_with(spawn_app().await).await
}

/// The same set-up on an app started with its own settings.
pub async fn gateway_with(app: TestApp) -> Gw {
    std::env::set_var("TOLLGATE_TEST_UPSTREAM_KEY", "upstream-secret");
    let mock = Mock::start().await;
    let (s, _) = app.admin(Method::POST, "/admin/providers", Some(json!({"id":"mock-openai","kind":"openai","base_url": format!("{}/v1", mock.base),"api_key_env":"TOLLGATE_TEST_UPSTREAM_KEY"}))).await;
    assert_eq!(s, 201);
    let (s, _) = app
        .admin(
            Method::POST,
            "/admin/providers",
            Some(json!({"id":"mock-anthropic","kind":"anthropic","base_url": mock.base})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, m) = app.admin(Method::POST, "/admin/models", Some(json!({"id":"oa-model","name":"OA","provider":"mock-openai","upstream_model":"upstream-oa",
        "capabilities":["chat","streaming","tools"],
        "prices":[{"input_per_mtok":"2.00","output_per_mtok":"6.00","cached_input_per_mtok":"0.20","reasoning_per_mtok":"8","effective_from":"2026-01-01T00:00:00Z"}]}))).await;
    assert_eq!(s, 201, "{m}");
    let (s, _) = app.admin(Method::POST, "/admin/models", Some(json!({"id":"an-model","name":"AN","provider":"mock-anthropic","upstream_model":"upstream-an","max_output_tokens":2048,
        "capabilities":["chat","streaming","tools"],
        "prices":[{"input_per_mtok":"5.00","output_per_mtok":"25.00","cached_input_per_mtok":"0.50","cache_write_per_mtok":"6.25","effective_from":"2026-01-01T00:00:00Z"}]}))).await;
    assert_eq!(s, 201);
    let (s, _) = app
        .admin(Method::POST, "/admin/teams", Some(json!({"id":"research"})))
        .await;
    assert_eq!(s, 201);
    let (s, k) = app
        .admin(
            Method::POST,
            "/admin/keys",
            Some(json!({"name":"alice","team":"research","metadata":{"app":"tests"}})),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    Gw {
        key: k["key"].as_str().unwrap().to_string(),
        key_id: k["id"].as_str().unwrap().to_string(),
        app,
        mock,
    }
}

impl Gw {
    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url(path))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The caller's record of a call, by its `x-request-id`.
    pub async fn generation(&self, id: &str) -> Value {
        let r = self
            .app
            .client
            .get(self.app.url(&format!("/v1/generations/{id}")))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "generation {id}");
        r.json::<Value>().await.unwrap()["data"].clone()
    }
}

pub fn request_id(r: &reqwest::Response) -> String {
    r.headers()["x-request-id"].to_str().unwrap().to_string()
}

pub fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Say hello"}], "max_tokens": 100, "temperature": 0.2})
}

pub fn message(model: &str) -> Value {
    json!({"model": model, "max_tokens": 100, "system": "be brief", "messages": [{"role": "user", "content": "Say hello"}]})
}

/// Parses an SSE body into (event name, data) pairs.
pub fn sse_events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut event = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (event, data)
        })
        .collect()
}
