use reqwest::Method;
use serde_json::json;

use crate::helpers::{ids, spawn_app};

fn mock_provider() -> serde_json::Value {
    json!({"id":"mock","kind":"openai","base_url":"http://127.0.0.1:18999/v1","api_key_env":"MOCK_API_KEY"})
}

fn acme() -> serde_json::Value {
    json!({"id":"acme-chat","name":"Acme Chat","provider":"mock","upstream_model":"acme-chat-v1","context_length":128000,
           "capabilities":["chat","streaming","tools"],
           "price":{"input_per_mtok":"2.00","output_per_mtok":"6.00","cached_input_per_mtok":"0.20"}})
}

#[tokio::test]
async fn admin_requires_the_token() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/admin/providers"))
        .json(&mock_provider())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");
    let r = app
        .client
        .post(app.url("/admin/providers"))
        .bearer_auth("wrong")
        .json(&mock_provider())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .get(app.url("/admin/providers"))
        .bearer_auth(crate::helpers::ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn providers_are_created_and_patched() {
    let app = spawn_app().await;
    let (status, p) = app
        .admin(Method::POST, "/admin/providers", Some(mock_provider()))
        .await;
    assert_eq!(status, 201, "{p}");
    assert_eq!(p["kind"], "openai");
    assert_eq!(p["api_key_env"], "MOCK_API_KEY");
    let (status, e) = app
        .admin(Method::POST, "/admin/providers", Some(mock_provider()))
        .await;
    assert_eq!(status, 409, "{e}");
    let (status, e) = app
        .admin(
            Method::POST,
            "/admin/providers",
            Some(json!({"id":"x","kind":"openai","base_url":"not a url"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["param"], "base_url");
    let (status, e) = app
        .admin(
            Method::POST,
            "/admin/providers",
            Some(json!({"id":"x","kind":"grpc","base_url":"http://a"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["param"], "kind");
    let (status, e) = app
        .admin(
            Method::POST,
            "/admin/providers",
            Some(
                json!({"id":"x","kind":"openai","base_url":"http://a","api_key_env":"sk-live-123"}),
            ),
        )
        .await;
    assert_eq!(
        status, 400,
        "a secret is refused where an env var name belongs"
    );
    assert_eq!(e["error"]["param"], "api_key_env");
    let (status, p) = app
        .admin(
            Method::PATCH,
            "/admin/providers/mock",
            Some(json!({"name":"Mock Upstream","kind":"anthropic"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(p["name"], "Mock Upstream");
    assert_eq!(p["kind"], "anthropic");
    assert_eq!(p["base_url"], "http://127.0.0.1:18999/v1");
    let (status, _) = app
        .admin(
            Method::PATCH,
            "/admin/providers/ghost",
            Some(json!({"name":"x"})),
        )
        .await;
    assert_eq!(status, 404);
    let (_, list) = app.admin(Method::GET, "/admin/providers", None).await;
    assert_eq!(list.as_array().unwrap().len(), 5);
    assert!(!list.to_string().contains("sk-"), "no secrets are returned");
}

#[tokio::test]
async fn models_are_created_with_an_inline_price_and_listed() {
    let app = spawn_app().await;
    app.admin(Method::POST, "/admin/providers", Some(mock_provider()))
        .await;
    let (status, m) = app.admin(Method::POST, "/admin/models", Some(acme())).await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["pricing"]["input_per_mtok"], "2.00");
    assert_eq!(m["pricing"]["cached_input_per_mtok"], "0.20");
    assert_eq!(
        m["upstream_model"],
        serde_json::Value::Null,
        "upstream model is not part of the public shape"
    );
    let (_, list) = app.get_json("/v1/models?provider=mock").await;
    assert_eq!(ids(&list), vec!["acme-chat"]);
    let (status, _) = app.admin(Method::POST, "/admin/models", Some(acme())).await;
    assert_eq!(status, 409);
    let mut orphan = acme();
    orphan["id"] = "orphan".into();
    orphan["provider"] = "nowhere".into();
    let (status, e) = app.admin(Method::POST, "/admin/models", Some(orphan)).await;
    assert_eq!(status, 422);
    assert_eq!(e["error"]["param"], "provider");
    let mut precise = acme();
    precise["id"] = "precise".into();
    precise["price"]["input_per_mtok"] = "0.0000001".into();
    let (status, e) = app
        .admin(Method::POST, "/admin/models", Some(precise))
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["param"], "prices[0].input_per_mtok");
    let mut unpriced = acme();
    unpriced["id"] = "acme-unpriced".into();
    unpriced.as_object_mut().unwrap().remove("price");
    let (status, m) = app
        .admin(Method::POST, "/admin/models", Some(unpriced))
        .await;
    assert_eq!(status, 201);
    assert!(m["pricing"].is_null());
}

#[tokio::test]
async fn models_are_patched_and_deprecated_without_losing_history() {
    let app = spawn_app().await;
    app.admin(Method::POST, "/admin/providers", Some(mock_provider()))
        .await;
    app.admin(Method::POST, "/admin/models", Some(acme())).await;
    let (status, m) = app.admin(Method::PATCH, "/admin/models/acme-chat", Some(json!({"description":"Now with more acme","max_output_tokens":4096,"capabilities":["chat","vision"]}))).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["description"], "Now with more acme");
    assert_eq!(m["max_output_tokens"], 4096);
    assert_eq!(m["context_length"], 128000, "untouched fields stay");
    let (status, m) = app
        .admin(
            Method::PATCH,
            "/admin/models/acme-chat",
            Some(json!({"max_output_tokens":null})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        m["max_output_tokens"].is_null(),
        "null clears a nullable field"
    );
    let (status, e) = app
        .admin(
            Method::PATCH,
            "/admin/models/acme-chat",
            Some(json!({"capabilities":["flying"]})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["param"], "capabilities[0]");
    let (status, e) = app
        .admin(
            Method::PATCH,
            "/admin/models/acme-chat",
            Some(json!({"colour":"red"})),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused: {e}");
    let (status, m) = app
        .admin(Method::DELETE, "/admin/models/acme-chat", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(m["status"], "deprecated");
    let (_, list) = app.get_json("/v1/models").await;
    assert!(!ids(&list).contains(&"acme-chat".to_string()));
    let (_, all) = app.get_json("/v1/models?status=all").await;
    assert!(ids(&all).contains(&"acme-chat".to_string()));
    let (_, dep) = app.get_json("/v1/models?status=deprecated").await;
    assert_eq!(ids(&dep), vec!["acme-chat"]);
    let (status, detail) = app.get_json("/v1/models/acme-chat").await;
    assert_eq!(status, 200);
    assert_eq!(
        detail["price_history"].as_array().unwrap().len(),
        1,
        "history stays"
    );
    let (status, _) = app.admin(Method::DELETE, "/admin/models/ghost", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn price_versions_are_appended_never_overwritten() {
    let app = spawn_app().await;
    app.admin(Method::POST, "/admin/providers", Some(mock_provider()))
        .await;
    app.admin(Method::POST, "/admin/models", Some(acme())).await;
    let (status, v) = app
        .admin(Method::POST, "/admin/models/acme-chat/prices", Some(json!({"input_per_mtok":"1.50","output_per_mtok":"5","tiers":[{"above_input_tokens":100000,"input_per_mtok":"3","output_per_mtok":"10"}]})))
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["input_per_mtok"], "1.50");
    let (_, m) = app.get_json("/v1/models/acme-chat").await;
    assert_eq!(m["pricing"]["id"], v["id"]);
    assert_eq!(m["price_history"].as_array().unwrap().len(), 2);
    assert_eq!(m["price_history"][0]["input_per_mtok"], "2.00");
    let (status, future) = app
        .admin(Method::POST, "/admin/models/acme-chat/prices", Some(json!({"input_per_mtok":"9","output_per_mtok":"9","effective_from":"2099-01-01T00:00:00Z"})))
        .await;
    assert_eq!(status, 201);
    let (_, m) = app.get_json("/v1/models/acme-chat").await;
    assert_eq!(
        m["pricing"]["id"], v["id"],
        "a future version is not in effect yet"
    );
    assert_eq!(m["price_history"][2]["id"], future["id"]);
    let (status, e) = app
        .admin(Method::POST, "/admin/models/acme-chat/prices", Some(json!({"input_per_mtok":"1","output_per_mtok":"1","effective_from":"2030-01-01T00:00:00Z"})))
        .await;
    assert_eq!(status, 422, "history is append-only: {e}");
    assert_eq!(e["error"]["param"], "effective_from");
    let (status, e) = app.admin(Method::POST, "/admin/models/acme-chat/prices", Some(json!({"input_per_mtok":"-1","output_per_mtok":"1","effective_from":"2100-01-01T00:00:00Z"}))).await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["param"], "input_per_mtok");
    let (status, _) = app
        .admin(
            Method::POST,
            "/admin/models/ghost/prices",
            Some(json!({"input_per_mtok":"1","output_per_mtok":"1"})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn related_lists_are_replaced_in_order() {
    let app = spawn_app().await;
    let path = "/admin/models/openai-gpt-4-turbo/related";
    let (status, r) = app
        .admin(
            Method::PUT,
            path,
            Some(json!({"related":["sao10k-l3.1-euryale-70b","amazon-nova-pro-v1"]})),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r[0]["id"], "sao10k-l3.1-euryale-70b");
    assert_eq!(r[1]["pricing"]["input_per_mtok"], "0.80");
    let (_, m) = app.get_json("/v1/models/openai-gpt-4-turbo").await;
    let related: Vec<&str> = m["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        related,
        vec!["sao10k-l3.1-euryale-70b", "amazon-nova-pro-v1"]
    );
    let (status, e) = app
        .admin(
            Method::PUT,
            path,
            Some(json!({"related":["amazon-nova-pro-v1","ghost"]})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(e["error"]["param"], "related[1]");
    let (status, _) = app
        .admin(
            Method::PUT,
            path,
            Some(json!({"related":["openai-gpt-4-turbo"]})),
        )
        .await;
    assert_eq!(status, 422, "not related to itself");
    let (status, _) = app
        .admin(
            Method::PUT,
            path,
            Some(json!({"related":["amazon-nova-pro-v1","amazon-nova-pro-v1"]})),
        )
        .await;
    assert_eq!(status, 422, "no duplicates");
    let (_, m) = app.get_json("/v1/models/openai-gpt-4-turbo").await;
    assert_eq!(
        m["related"].as_array().unwrap().len(),
        2,
        "a refused change leaves the list as it was"
    );
    let (status, _) = app
        .admin(
            Method::PUT,
            "/admin/models/ghost/related",
            Some(json!({"related":[]})),
        )
        .await;
    assert_eq!(status, 404);
}
