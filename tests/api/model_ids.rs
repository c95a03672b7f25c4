//! Model ids in the forms price lists write them — with `/`, `:`, `@` and `+`
//! (`gemini/gemini-2.5-pro`, `claude-sonnet-4-5-20250929-v1:0`) — on every route that takes a
//! model id: in a path segment percent-encoded (`%2F`, and `%3A %40 %2B` as
//! `encodeURIComponent` writes them, or those three as they are), in a query string, in a body.

use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway_support::{chat, gateway, request_id, Gw};
use crate::helpers::ADMIN;

/// Every character an id may hold beyond letters, digits, `.`, `_` and `-`.
const ID: &str = "vendor/model-x.1:v1@2025+beta";
const OTHER: &str = "other/model:free";

/// `/` as `%2F`, the rest as they are.
fn slash_encoded(id: &str) -> String {
    id.replace('/', "%2F")
}

/// As JavaScript's `encodeURIComponent` writes it.
fn fully_encoded(id: &str) -> String {
    id.replace('/', "%2F")
        .replace(':', "%3A")
        .replace('@', "%40")
        .replace('+', "%2B")
}

/// A query-string value (`+` would be a space there).
fn query_value(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

async fn with_models() -> Gw {
    let gw = gateway().await;
    for (id, input) in [(ID, "3"), (OTHER, "0.5")] {
        let (s, m) = gw
            .app
            .admin(
                Method::POST,
                "/admin/models",
                Some(json!({"id": id, "name": id, "provider": "mock-openai",
                    "upstream_model": "upstream-oa", "capabilities": ["chat", "streaming"],
                    "price": {"input_per_mtok": input, "output_per_mtok": "15"}})),
            )
            .await;
        assert_eq!(s, 201, "{m}");
        assert_eq!(m["id"], id);
    }
    gw
}

async fn send(gw: &Gw, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    gw.app.admin(method, path, body).await
}

#[tokio::test]
async fn ids_with_slash_colon_at_and_plus_work_on_every_catalog_route() {
    let gw = with_models().await;
    for enc in [slash_encoded(ID), fully_encoded(ID)] {
        for path in [
            format!("/v1/models/{enc}"),
            format!("/api/v7/llm/v1/models/{enc}"),
        ] {
            let (s, m) = gw.app.get_json(&path).await;
            assert_eq!((s, m["id"].as_str()), (200, Some(ID)), "{path}: {m}");
            let (s, m) = gw.app.get_anthropic(&path).await;
            assert_eq!((s, m["id"].as_str()), (200, Some(ID)), "{path}: {m}");
        }

        let path = format!("/admin/models/{enc}/related");
        let (s, r) = send(&gw, Method::PUT, &path, Some(json!({"related": [OTHER]}))).await;
        assert_eq!(s, 200, "{path}: {r}");
        assert_eq!(r[0]["id"], OTHER);
        let (s, r) = gw.app.get_json(&format!("/v1/models/{enc}/related")).await;
        assert_eq!(s, 200, "{r}");
        assert!(r.to_string().contains(OTHER), "{r}");

        let path = format!("/admin/models/{enc}");
        let (s, m) = send(&gw, Method::PATCH, &path, Some(json!({"description": enc}))).await;
        assert_eq!(
            (s, m["description"].as_str()),
            (200, Some(enc.as_str())),
            "{m}"
        );

        let path = format!("/admin/models/{enc}/aliases");
        let (s, a) = send(
            &gw,
            Method::PUT,
            &path,
            Some(json!({"aliases": ["vendor/alias:x@1+y"]})),
        )
        .await;
        assert_eq!(s, 200, "{path}: {a}");
        let (s, a) = send(&gw, Method::GET, &path, None).await;
        assert_eq!(
            (s, &a["aliases"]),
            (200, &json!(["vendor/alias:x@1+y"])),
            "{a}"
        );
        let alias = format!("/admin/aliases/{}", fully_encoded("vendor/alias:x@1+y"));
        let (s, a) = send(&gw, Method::DELETE, &alias, None).await;
        assert_eq!(s, 200, "{alias}: {a}");

        let r = gw.app.get(&format!("/models/{enc}.md")).await;
        assert_eq!(r.status(), 200, "/models/{enc}.md");
        assert!(r.text().await.unwrap().contains(ID));
    }

    let (s, v) = send(
        &gw,
        Method::POST,
        &format!("/admin/models/{}/prices", fully_encoded(ID)),
        Some(json!({"input_per_mtok": "2.5", "output_per_mtok": "10"})),
    )
    .await;
    assert_eq!((s, v["model_id"].as_str()), (201, Some(ID)), "{v}");

    let (s, m) = send(
        &gw,
        Method::DELETE,
        &format!("/admin/models/{}", slash_encoded(ID)),
        None,
    )
    .await;
    assert_eq!((s, m["status"].as_str()), (200, Some("deprecated")), "{m}");
    let (s, m) = send(
        &gw,
        Method::DELETE,
        &format!("/admin/models/{}", fully_encoded(OTHER)),
        None,
    )
    .await;
    assert_eq!((s, m["status"].as_str()), (200, Some("deprecated")), "{m}");
}

#[tokio::test]
async fn ids_with_slash_colon_at_and_plus_are_called_estimated_and_reported() {
    let gw = with_models().await;
    let r = gw.post("/v1/chat/completions", chat(ID)).await;
    assert_eq!(r.status(), 200);
    let call = request_id(&r);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["model"], ID);
    assert_eq!(gw.generation(&call).await["model"], ID);

    let r = gw
        .post(
            "/v1/estimate",
            json!({"model": ID, "input_tokens": 1000, "output_tokens": 100}),
        )
        .await;
    assert_eq!(r.status(), 200);

    let model = query_value(ID);
    assert!(model.contains("%2B"), "{model}");
    for path in [
        format!("/admin/usage?model={model}"),
        format!(
            "/admin/usage?model={}",
            slash_encoded(ID).replace('+', "%2B")
        ),
    ] {
        let (s, v) = send(&gw, Method::GET, &path, None).await;
        assert_eq!(s, 200, "{v}");
        let rows = v["data"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{path}: {v}");
        assert_eq!(rows[0]["model"], ID, "{v}");
    }
    let r = gw
        .app
        .client
        .get(gw.app.url(&format!("/v1/usage?model={model}")))
        .bearer_auth(&gw.key)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");

    let (s, v) = send(
        &gw,
        Method::GET,
        &format!("/admin/spend?model={model}&group_by=model"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["rows"][0]["model"], ID, "{v}");
    assert_eq!(v["total"]["requests"], 1);

    let r = gw
        .app
        .client
        .get(
            gw.app
                .url(&format!("/admin/usage?model={model}&format=csv")),
        )
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(ID), "{csv}");
}

/// The catalog's read routes also take an id with its `/` as it is: everything after
/// `/v1/models/` is the id, except a final `/related`.
#[tokio::test]
async fn the_read_routes_take_a_bare_slash() {
    let gw = with_models().await;
    let (s, _) = send(
        &gw,
        Method::PUT,
        &format!("/admin/models/{}/related", slash_encoded(ID)),
        Some(json!({"related": [OTHER]})),
    )
    .await;
    assert_eq!(s, 200);
    for path in [
        format!("/v1/models/{ID}"),
        format!("/api/v7/llm/v1/models/{ID}"),
        format!("/v1/models/{}", fully_encoded(ID).replace("%2F", "/")),
    ] {
        let (s, m) = gw.app.get_json(&path).await;
        assert_eq!((s, m["id"].as_str()), (200, Some(ID)), "{path}: {m}");
        let (s, m) = gw.app.get_anthropic(&path).await;
        assert_eq!((s, m["id"].as_str()), (200, Some(ID)), "{path}: {m}");
    }
    let (s, r) = gw
        .app
        .get_json(&format!(
            "/v1/models/{ID}/related?input_tokens=1000000&output_tokens=0"
        ))
        .await;
    assert_eq!(s, 200, "{r}");
    assert!(r.to_string().contains(OTHER), "{r}");
    assert!(
        r.to_string().contains("0.500000"),
        "1M input tokens at 0.5: {r}"
    );
    let (s, e) = gw
        .app
        .get_json(&format!("/v1/models/{ID}/related?colour=red"))
        .await;
    assert_eq!(s, 400, "the query is still checked: {e}");

    let r = gw.app.get(&format!("/models/{ID}.md")).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(ID));

    // An id ending in `/related` is reached with that `/` encoded; bare, it is the route.
    let tail = "vendor/related";
    let (s, m) = send(
        &gw,
        Method::POST,
        "/admin/models",
        Some(json!({"id": tail, "name": tail, "provider": "mock-openai", "related": [OTHER]})),
    )
    .await;
    assert_eq!(s, 201, "{m}");
    let (s, m) = gw.app.get_json("/v1/models/vendor%2Frelated").await;
    assert_eq!((s, m["id"].as_str()), (200, Some(tail)), "{m}");
    let (s, m) = gw.app.get_json("/v1/models/vendor/related").await;
    assert_eq!(s, 404, "the related models of `vendor`: {m}");
    assert_eq!(m["error"]["code"], "model_not_found", "{m}");

    // Unknown ids and admin routes with a bare `/` are 404s, as before.
    let (s, _) = gw.app.get_json("/v1/models/vendor/nothing-here").await;
    assert_eq!(s, 404);
    let (s, _) = send(
        &gw,
        Method::PATCH,
        &format!("/admin/models/{ID}"),
        Some(json!({"description": "x"})),
    )
    .await;
    assert_eq!(s, 404, "admin routes take %2F only");
}
