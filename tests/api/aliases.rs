//! Model aliases through the real interface: exact aliases and `*` patterns resolved on both
//! call endpoints (the upstream gets the model's upstream name, the record keeps the name the
//! caller sent beside the catalog id), the admin API's rules, key allow-lists, the catalog
//! listings and the seeded names coding agents send.

use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway_support::{chat, gateway, message, request_id, sse_events, Gw};

async fn set_aliases(gw: &Gw, model: &str, aliases: Value) -> (u16, Value) {
    gw.app
        .admin(
            Method::PUT,
            &format!("/admin/models/{model}/aliases"),
            Some(json!({ "aliases": aliases })),
        )
        .await
}

async fn add_alias(gw: &Gw, alias: &str, model: &str) -> (u16, Value) {
    gw.app
        .admin(
            Method::POST,
            "/admin/aliases",
            Some(json!({"alias": alias, "model": model})),
        )
        .await
}

/// The entries of a `GET /admin/aliases` answer that belong to `model`, in order.
fn of_model(all: &Value, model: &str) -> Value {
    all.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["model"] == model)
        .cloned()
        .collect()
}

/// A call in the Anthropic format, as the Anthropic SDK (and Claude Code) sends it.
async fn anthropic_call(gw: &Gw, path: &str, body: Value) -> reqwest::Response {
    gw.app
        .client
        .post(gw.app.url(path))
        .header("x-api-key", &gw.key)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn aliases_and_patterns_call_their_model_on_both_endpoints_and_are_recorded() {
    let gw = gateway().await;
    let (s, v) = set_aliases(&gw, "oa-model", json!(["oa-latest", "oa-*"])).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"aliases": ["oa-*", "oa-latest"]}), "sorted");
    let (s, v) = add_alias(&gw, "an-*", "an-model").await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v, json!({"alias": "an-*", "model": "an-model"}));

    // An exact alias, OpenAI format, OpenAI-kind provider.
    let r = gw.post("/v1/chat/completions", chat("oa-latest")).await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["model"], "oa-model", "answers name the catalog id");
    let seen = gw.mock.last();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.body["model"], "upstream-oa");
    let g = gw.generation(&id).await;
    assert_eq!(g["model"], "oa-model");
    assert_eq!(g["requested_model"], "oa-latest");
    assert_eq!(g["upstream_model"], "upstream-oa");
    assert_eq!(g["cost_usd"], "0.005000", "priced as the catalog model");

    // A pattern, Anthropic format, Anthropic-kind provider.
    let r = anthropic_call(&gw, "/v1/messages", message("an-2026-preview")).await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["model"], "an-model");
    let seen = gw.mock.last();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.body["model"], "upstream-an");
    let g = gw.generation(&id).await;
    assert_eq!(g["model"], "an-model");
    assert_eq!(g["requested_model"], "an-2026-preview");
    assert_eq!(g["endpoint"], "anthropic_messages");

    // A pattern across formats, streamed: Anthropic caller, OpenAI-kind provider.
    let mut req = message("oa-anything");
    req["stream"] = true.into();
    let r = anthropic_call(&gw, "/v1/messages", req).await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let events = sse_events(&r.text().await.unwrap());
    assert_eq!(events.last().unwrap().0, "message_stop");
    let start: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(start["message"]["model"], "oa-model");
    assert_eq!(gw.mock.last().body["model"], "upstream-oa");
    let g = gw.generation(&id).await;
    assert_eq!(
        (g["streamed"].clone(), g["status"].clone()),
        (json!(true), json!("ok"))
    );
    assert_eq!(g["requested_model"], "oa-anything");

    // A pattern through the Responses API, Anthropic-kind provider.
    let r = gw
        .post(
            "/v1/responses",
            json!({"model": "an-via-responses", "input": "Say hello", "max_output_tokens": 100}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["model"], "an-model");
    assert_eq!(gw.mock.last().body["model"], "upstream-an");
    let g = gw.generation(&id).await;
    assert_eq!(g["requested_model"], "an-via-responses");

    // The catalog id itself: nothing to record beside it.
    let r = gw.post("/v1/chat/completions", chat("oa-model")).await;
    let g = gw.generation(&request_id(&r)).await;
    assert_eq!(g["model"], "oa-model");
    assert_eq!(g["requested_model"], Value::Null);

    // count_tokens and estimates take the names calls take.
    let r = anthropic_call(&gw, "/v1/messages/count_tokens", message("an-x")).await;
    assert_eq!(r.status(), 200);
    let r = gw
        .post(
            "/v1/estimate",
            json!({"model": "oa-latest", "input_tokens": 1000, "output_tokens": 500}),
        )
        .await;
    assert_eq!(r.status(), 200);

    // The audit trail and its CSV carry the requested name.
    let (s, page) = gw
        .app
        .admin(
            Method::GET,
            &format!("/admin/usage?key={}", gw.key_id),
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let requested: Vec<Value> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["requested_model"].clone())
        .collect();
    assert_eq!(
        requested,
        vec![
            Value::Null,
            json!("an-via-responses"),
            json!("oa-anything"),
            json!("an-2026-preview"),
            json!("oa-latest")
        ],
        "newest first"
    );
    let csv = gw
        .app
        .client
        .get(
            gw.app
                .url(&format!("/admin/usage?key={}&format=csv", gw.key_id)),
        )
        .bearer_auth(crate::helpers::ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(
        ",error,requested_model,cache_write_1h_tokens,service_tier,web_search_requests"
    ));
    assert!(csv.lines().any(|l| l.ends_with(",oa-latest,0,,0")), "{csv}");
}

#[tokio::test]
async fn the_longest_pattern_wins_and_exact_names_beat_patterns() {
    let gw = gateway().await;
    let (s, v) = set_aliases(&gw, "oa-model", json!(["fam-*", "fam-an-exact"])).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = set_aliases(&gw, "an-model", json!(["fam-an-*"])).await;
    assert_eq!(s, 200, "{v}");
    for (name, upstream) in [
        ("fam-x", "upstream-oa"),
        ("fam-an", "upstream-oa"),
        ("fam-an-1", "upstream-an"),
        ("fam-an-exact", "upstream-oa"),
    ] {
        let r = gw.post("/v1/chat/completions", chat(name)).await;
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(gw.mock.last().body["model"], upstream, "{name}");
    }
    for unknown in ["fam", "Fam-x", "other"] {
        let r = gw.post("/v1/chat/completions", chat(unknown)).await;
        assert_eq!(r.status(), 404, "{unknown}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "model_not_found");
    }
    // Removing the longer pattern hands its names back to the shorter one.
    let (s, v) = gw
        .app
        .admin(Method::DELETE, "/admin/aliases/fam-an-*", None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"alias": "fam-an-*", "model": "an-model"}));
    gw.post("/v1/chat/completions", chat("fam-an-1")).await;
    assert_eq!(gw.mock.last().body["model"], "upstream-oa");
}

#[tokio::test]
async fn the_admin_api_refuses_clashes_bad_aliases_and_unknown_models() {
    let gw = gateway().await;
    let app = &gw.app;
    let (s, v) = set_aliases(&gw, "oa-model", json!(["shared", "fam-*"])).await;
    assert_eq!(s, 200, "{v}");

    // Unique across the catalog: another model's alias, or a model id, is a 409.
    let (s, v) = set_aliases(&gw, "an-model", json!(["mine", "shared"])).await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("oa-model"),
        "{v}"
    );
    let (s, v) = add_alias(&gw, "fam-*", "an-model").await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = add_alias(&gw, "oa-model", "an-model").await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = set_aliases(&gw, "an-model", json!(["an-model"])).await;
    assert_eq!(s, 409, "an alias cannot be its own model's id: {v}");
    let (s, v) = app
        .admin(
            Method::POST,
            "/admin/models",
            Some(json!({"id": "shared", "name": "S", "provider": "mock-openai"})),
        )
        .await;
    assert_eq!(s, 409, "a new model's id cannot be an alias: {v}");
    let (s, v) = app
        .admin(
            Method::POST,
            "/admin/models",
            Some(json!({"id": "new-model", "name": "N", "provider": "mock-openai", "aliases": ["shared"]})),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(
        app.get("/v1/models/new-model").await.status(),
        404,
        "all or nothing"
    );
    let (_, v) = app
        .admin(Method::GET, "/admin/models/an-model/aliases", None)
        .await;
    assert_eq!(v, json!({"aliases": []}), "a refused PUT changes nothing");

    // Syntax: 400 naming the field.
    for (bad, param) in [
        (json!(["ok", "two words"]), "aliases[1]"),
        (json!(["fam-*-x"]), "aliases[0]"),
        (json!(["*"]), "aliases[0]"),
        (json!([""]), "aliases[0]"),
        (json!(["tab\there"]), "aliases[0]"),
        (json!(["naïve"]), "aliases[0]"),
        (json!(["x".repeat(201)]), "aliases[0]"),
        (json!(["a", "b", "a"]), "aliases[2]"),
        (json!([1]), "aliases[0]"),
        (json!("a"), "aliases"),
    ] {
        let (s, v) = set_aliases(&gw, "an-model", bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert_eq!(v["error"]["param"], param, "{bad}: {v}");
    }
    let many: Vec<String> = (0..257).map(|i| format!("m{i}")).collect();
    let (s, v) = set_aliases(&gw, "an-model", json!(many)).await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = add_alias(&gw, "bad alias", "an-model").await;
    assert_eq!(
        (s, v["error"]["param"].clone()),
        (400, json!("alias")),
        "{v}"
    );
    let (s, v) = app
        .admin(
            Method::POST,
            "/admin/aliases",
            Some(json!({"alias": "x", "model": "an-model", "extra": 1})),
        )
        .await;
    assert_eq!(s, 400, "{v}");

    // Unknown models and aliases: 404.
    let (s, v) = add_alias(&gw, "ghost-alias", "no-such-model").await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (404, json!("model_not_found")),
        "{v}"
    );
    let (s, _) = set_aliases(&gw, "no-such-model", json!(["x"])).await;
    assert_eq!(s, 404);
    let (s, _) = app
        .admin(Method::GET, "/admin/models/no-such-model/aliases", None)
        .await;
    assert_eq!(s, 404);
    let (s, v) = app
        .admin(Method::DELETE, "/admin/aliases/never", None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (404, json!("alias_not_found")),
        "{v}"
    );
    // Names no database column can take (a NUL on PostgreSQL) are 404s, never 500s.
    let (s, v) = add_alias(&gw, "fine", "a\u{0}b").await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = app
        .admin(
            Method::PUT,
            "/admin/models/a%00b/aliases",
            Some(json!({"aliases": ["x"]})),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = app
        .admin(Method::DELETE, "/admin/aliases/a%00b", None)
        .await;
    assert_eq!(s, 404, "{v}");

    // Idempotent add; names with '/' are deleted URL-encoded; the whole list.
    let (s, _) = add_alias(&gw, "shared", "oa-model").await;
    assert_eq!(s, 200, "the model had it already");
    let (s, v) = add_alias(&gw, "vendor/oa-model", "oa-model").await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = app.admin(Method::GET, "/admin/aliases", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        of_model(&v, "oa-model"),
        json!([{"alias": "fam-*", "model": "oa-model"}, {"alias": "shared", "model": "oa-model"},
            {"alias": "vendor/oa-model", "model": "oa-model"}]),
        "by alias"
    );
    let seeded = of_model(&v, "anthropic-claude-opus-4.6");
    assert!(seeded
        .as_array()
        .unwrap()
        .contains(&json!({"alias": "claude-opus-*", "model": "anthropic-claude-opus-4.6"})));
    let r = gw
        .post("/v1/chat/completions", chat("vendor/oa-model"))
        .await;
    assert_eq!(r.status(), 200);
    let (s, v) = app
        .admin(Method::DELETE, "/admin/aliases/vendor%2Foa-model", None)
        .await;
    assert_eq!(s, 200, "{v}");
    let r = gw
        .post("/v1/chat/completions", chat("vendor/oa-model"))
        .await;
    assert_eq!(r.status(), 404, "a removed alias no longer resolves");

    // Replacing keeps what stays, removes what goes; [] removes all.
    let (s, v) = set_aliases(&gw, "oa-model", json!(["shared", "new-name"])).await;
    assert_eq!((s, v), (200, json!({"aliases": ["new-name", "shared"]})));
    assert_eq!(
        gw.post("/v1/chat/completions", chat("fam-1"))
            .await
            .status(),
        404
    );
    let (s, v) = set_aliases(&gw, "oa-model", json!([])).await;
    assert_eq!((s, v), (200, json!({"aliases": []})));
    let (_, v) = app.admin(Method::GET, "/admin/aliases", None).await;
    assert_eq!(of_model(&v, "oa-model"), json!([]));

    // Without the admin token: 401.
    let r = app
        .client
        .post(app.url("/admin/aliases"))
        .json(&json!({"alias": "x", "model": "oa-model"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_keys_allow_list_applies_to_the_model_an_alias_resolves_to() {
    let gw = gateway().await;
    set_aliases(&gw, "oa-model", json!(["oa-alias"])).await;
    set_aliases(&gw, "an-model", json!(["an-*"])).await;
    let (s, v) = gw
        .app
        .admin(
            Method::PATCH,
            &format!("/admin/keys/{}", gw.key_id),
            Some(json!({"allowed_models": ["oa-model"]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let r = gw.post("/v1/chat/completions", chat("oa-alias")).await;
    assert_eq!(r.status(), 200, "the alias of an allowed model");
    let r = gw.post("/v1/chat/completions", chat("an-other")).await;
    assert_eq!(r.status(), 403);
    let id = request_id(&r);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "model_not_allowed");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("an-model") && message.contains("an-other"),
        "{message}"
    );
    let g = gw.generation(&id).await;
    assert_eq!(g["status"], "rejected");
    assert_eq!(g["model"], "an-model", "refusals name the catalog id too");
    assert_eq!(g["requested_model"], "an-other");
    // Allow-lists name catalog ids, not aliases.
    let (s, v) = gw
        .app
        .admin(
            Method::PATCH,
            &format!("/admin/keys/{}", gw.key_id),
            Some(json!({"allowed_models": ["an-model", "oa-alias"]})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["param"], "allowed_models[1]");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("alias of model 'oa-model'"));
}

#[tokio::test]
async fn an_alias_of_a_deprecated_model_is_refused_like_the_model() {
    let gw = gateway().await;
    set_aliases(&gw, "an-model", json!(["an-old"])).await;
    let (s, _) = gw
        .app
        .admin(Method::DELETE, "/admin/models/an-model", None)
        .await;
    assert_eq!(s, 200);
    let r = gw.post("/v1/chat/completions", chat("an-old")).await;
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deprecated"),
        "{e}"
    );
}

#[tokio::test]
async fn the_catalog_lists_aliases_and_finds_models_by_them() {
    let gw = gateway().await;
    set_aliases(&gw, "oa-model", json!(["oa-latest", "oa-*"])).await;
    let (s, list) = gw.app.get_json("/v1/models?status=all").await;
    assert_eq!(s, 200);
    for m in list["data"].as_array().unwrap() {
        assert!(
            m["aliases"].is_array(),
            "every model lists its aliases: {m}"
        );
    }
    let oa = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "oa-model")
        .unwrap();
    assert_eq!(oa["aliases"], json!(["oa-*", "oa-latest"]));
    let opus = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "anthropic-claude-opus-4.6")
        .unwrap();
    assert!(opus["aliases"]
        .as_array()
        .unwrap()
        .contains(&json!("claude-opus-*")));

    // One model by an alias, in both shapes: the catalog model.
    let (s, m) = gw.app.get_json("/v1/models/oa-latest").await;
    assert_eq!((s, m["id"].clone()), (200, json!("oa-model")));
    let (s, m) = gw.app.get_anthropic("/v1/models/claude-sonnet-5").await;
    assert_eq!(
        (s, m["id"].clone()),
        (200, json!("anthropic-claude-sonnet-4.5"))
    );
    let (s, _) = gw.app.get_json("/v1/models/no-such-name").await;
    assert_eq!(s, 404);

    // Search finds a model by an alias; the page names them.
    let (_, found) = gw.app.get_json("/v1/models?q=oa-latest").await;
    assert_eq!(crate::helpers::ids(&found), vec!["oa-model"]);
    let page = gw
        .app
        .get("/models/oa-model.md")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("**Also called:** `oa-*`, `oa-latest`"),
        "{page}"
    );
}

/// The names Claude Code sends without `--model` reach the seeded Claude model: the seeded
/// OpenRouter provider is pointed at the mock upstream.
#[tokio::test]
async fn seeded_aliases_take_the_names_coding_agents_send() {
    let gw = gateway().await;
    let (s, v) = gw
        .app
        .admin(
            Method::PATCH,
            "/admin/providers/openrouter",
            Some(json!({"base_url": format!("{}/v1", gw.mock.base), "api_key_env": "TOLLGATE_TEST_UPSTREAM_KEY"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    for (name, model) in [
        ("claude-opus-4-8", "anthropic-claude-opus-4.6"),
        ("claude-sonnet-5", "anthropic-claude-sonnet-4.5"),
        ("claude-sonnet-4-5-20250929", "anthropic-claude-sonnet-4.5"),
        ("claude-haiku-4-5-20251001", "anthropic-claude-haiku-4.5"),
    ] {
        let r = anthropic_call(&gw, "/v1/messages", message(name)).await;
        assert_eq!(r.status(), 200, "{name}");
        let id = request_id(&r);
        let upstream = model.replacen("anthropic-", "anthropic/", 1);
        assert_eq!(gw.mock.last().body["model"], upstream.as_str());
        let g = gw.generation(&id).await;
        assert_eq!(g["model"], model);
        assert_eq!(g["requested_model"], name);
        let r = anthropic_call(&gw, "/v1/messages/count_tokens", message(name)).await;
        assert_eq!(r.status(), 200, "count_tokens {name}");
    }
    for (name, upstream) in [
        ("gpt-4o-mini", "openai/gpt-4o-mini"),
        ("gpt-4o", "openai/gpt-4o"),
        ("gpt-5", "openai/gpt-4-turbo"),
        ("o3", "openai/gpt-4-turbo"),
    ] {
        let r = gw.post("/v1/chat/completions", chat(name)).await;
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(gw.mock.last().body["model"], upstream);
    }
}

/// On PostgreSQL an alias change bumps the catalog's change version in its own transaction,
/// which is what other replicas reload on (see also the replica test).
#[tokio::test]
async fn alias_changes_bump_the_catalog_version_on_postgres() {
    let gw = gateway().await;
    let store = &gw.app.state.store;
    if store.backend() != tollgate::store::Backend::Postgres {
        return;
    }
    let version = |v: Vec<(String, i64)>| v.into_iter().find(|(w, _)| w == "catalog").unwrap().1;
    let before = version(store.change_versions().await.unwrap());
    add_alias(&gw, "oa-new", "oa-model").await;
    let added = version(store.change_versions().await.unwrap());
    assert!(added > before);
    gw.app
        .admin(Method::DELETE, "/admin/aliases/oa-new", None)
        .await;
    assert!(version(store.change_versions().await.unwrap()) > added);
}

/// A catalog import whose model id is an existing alias takes the name (the alias goes), rather
/// than failing the whole import as an admin's new model of that id would (409).
#[tokio::test]
async fn an_imported_model_takes_the_name_of_an_alias() {
    let gw = gateway().await;
    let (s, v) = set_aliases(&gw, "an-model", json!(["mock-openai/gpt-imported", "an-*"])).await;
    assert_eq!(s, 200, "{v}");
    let r = gw
        .app
        .client
        .post(gw.app.url("/admin/catalog/import?format=litellm"))
        .bearer_auth(crate::helpers::ADMIN)
        .header("content-type", "application/json")
        .body(include_str!("../fixtures/litellm_sample.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, v) = gw
        .app
        .admin(Method::GET, "/admin/models/an-model/aliases", None)
        .await;
    assert_eq!(v, json!({"aliases": ["an-*"]}));
    let (s, m) = gw
        .app
        .get_json("/v1/models/mock-openai%2Fgpt-imported")
        .await;
    assert_eq!(
        (s, m["id"].clone()),
        (200, json!("mock-openai/gpt-imported"))
    );
}
