//! Admin API for keys.

use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn keys_are_created_shown_once_and_revoked() {
    let app = spawn_app().await;
    app.admin(Method::POST, "/admin/teams", Some(json!({"id":"t1"})))
        .await;
    let (s, k) = app
        .admin(
            Method::POST,
            "/admin/keys",
            Some(json!({"name":"alice","team":"t1","metadata":{"env":"prod"}})),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let secret = k["key"].as_str().unwrap();
    assert!(secret.starts_with("tg-") && secret.len() > 40);
    assert!(k["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(k["team"], "t1");
    assert_eq!(k["metadata"]["env"], "prod");
    let id = k["id"].as_str().unwrap();
    let (s, one) = app
        .admin(Method::GET, &format!("/admin/keys/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert!(
        one.get("key").is_none(),
        "the secret is shown only at creation"
    );
    assert!(!one.to_string().contains(secret));
    assert_eq!(one["key_prefix"], &secret[..10]);
    let (_, list) = app.admin(Method::GET, "/admin/keys", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(secret));
    let (s, patched) = app
        .admin(
            Method::PATCH,
            &format!("/admin/keys/{id}"),
            Some(json!({"name":"alice-2","allowed_models":["openai-gpt-4-turbo"]})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(patched["name"], "alice-2");
    let (s, e) = app
        .admin(
            Method::PATCH,
            &format!("/admin/keys/{id}"),
            Some(json!({"allowed_models":["ghost"]})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "allowed_models[0]");
    let (s, revoked) = app
        .admin(Method::DELETE, &format!("/admin/keys/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert!(revoked["revoked_at"].is_string());
    let (s, still) = app
        .admin(Method::GET, &format!("/admin/keys/{id}"), None)
        .await;
    assert_eq!(s, 200, "a revoked key's record stays");
    assert!(still["revoked_at"].is_string());
    let (s, _) = app.admin(Method::GET, "/admin/keys/key_nope", None).await;
    assert_eq!(s, 404);
    let (s, e) = app
        .admin(Method::POST, "/admin/keys", Some(json!({"name":""})))
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "name");
}
