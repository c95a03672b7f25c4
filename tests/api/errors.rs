use serde_json::{json, Value};

use crate::helpers::{settings_in, spawn_app, spawn_with, ADMIN};

#[tokio::test]
async fn malformed_json_is_a_400_in_the_stable_shape() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/admin/models"))
        .bearer_auth(ADMIN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert_eq!(e["error"]["code"], "invalid_json");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("malformed JSON"));
    let r = app
        .client
        .post(app.url("/admin/models"))
        .bearer_auth(ADMIN)
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = app
        .client
        .post(app.url("/admin/providers"))
        .bearer_auth(ADMIN)
        .json(&json!({"id":"x","kind":"openai"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "base_url", "a missing field is named");
    let r = app
        .client
        .post(app.url("/admin/models"))
        .bearer_auth(ADMIN)
        .json(&json!({"id":"x","name":"X","provider":"openrouter","context_length":"big"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        e["error"]["param"], "context_length",
        "a wrong type is named"
    );
}

#[tokio::test]
async fn oversized_bodies_are_a_413() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut settings = settings_in(&dir);
    settings.max_body_bytes = 1024;
    let app = spawn_with(dir, settings).await;
    let big = json!({"id":"x","name":"x".repeat(4096),"provider":"openrouter"});
    let r = app
        .client
        .post(app.url("/admin/models"))
        .bearer_auth(ADMIN)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let r = app.get("/v2/nothing").await;
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "not_found_error");
    let r = app
        .client
        .delete(app.url("/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "method_not_allowed");
    let r = app
        .client
        .delete(app.url("/v1/models"))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        e["type"], "error",
        "Anthropic callers get the Anthropic shape"
    );
}

#[tokio::test]
async fn unknown_query_parameters_are_refused() {
    let app = spawn_app().await;
    let (status, e) = app.get_json("/v1/models?max_input_price=cheap").await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["param"], "max_input_price");
    let (status, _) = app.get_json("/v1/models?colour=red").await;
    assert_eq!(status, 400);
    let (status, _) = app.get_anthropic("/v1/models?limit=0").await;
    assert_eq!(status, 400);
}
