//! The admin CLI (`tollgate keys|teams|budgets|credits|models|alerts`) run as the real binary
//! against a running server: its output (JSON parsed, tables searched), its effects seen
//! through the API, and its exit codes (3 not found, 4 unauthorized, 5 invalid, 6 unreachable,
//! 2 usage).

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, ADMIN};

/// What one run of the CLI gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Standard output as JSON (the command succeeded).
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// Standard output of a command that succeeded.
    fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        &self.stdout
    }

    /// Asserts the exit code and that standard error gives the server's message.
    fn fails(&self, code: i32, message: &str) {
        assert_eq!(
            self.code, code,
            "stdout: {} stderr: {}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(message),
            "expected {message:?} in stderr: {}",
            self.stderr
        );
        assert!(self.stderr.starts_with("tollgate: ") || code == 2);
    }
}

/// Runs `tollgate <args>` against the app, with the admin token in the environment.
async fn tg(app: &TestApp, args: &[&str]) -> Run {
    tg_env(app, args, Some(ADMIN)).await
}

async fn tg_env(app: &TestApp, args: &[&str], token: Option<&str>) -> Run {
    run_cli(args, &app.base, token).await
}

async fn run_cli(args: &[&str], url: &str, token: Option<&str>) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.args(args)
        .env("TOLLGATE_URL", url)
        .env_remove("TOLLGATE_ADMIN_TOKEN")
        .env_remove("TOLLGATE_DATABASE_URL")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if let Some(t) = token {
        cmd.env("TOLLGATE_ADMIN_TOKEN", t);
    }
    let out = cmd.output().await.expect("tollgate runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn api(app: &TestApp, method: Method, path: &str) -> Value {
    let (status, body) = app.admin(method, path, None).await;
    assert!((200..300).contains(&status), "{path}: {status} {body}");
    body
}

/// The rows of a table (after its header) whose first column is `first`.
fn row<'a>(table: &'a str, first: &str) -> Vec<&'a str> {
    let line = table
        .lines()
        .skip(1)
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first} in:\n{table}"));
    line.split_whitespace().collect()
}

/// The value of a `field: value` line.
fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no field {name} in:\n{text}"))
}

#[tokio::test]
async fn keys_are_created_listed_shown_disabled_enabled_and_revoked() {
    let app = spawn_app().await;
    tg(&app, &["teams", "create", "research"]).await.ok();

    // create: the secret once, in JSON as the API gave it, and it works.
    let created = tg(
        &app,
        &[
            "keys",
            "create",
            "--name",
            "alice",
            "--team",
            "research",
            "--metadata",
            r#"{"app":"cli"}"#,
            "--rpm",
            "60",
            "--output",
            "json",
        ],
    )
    .await;
    let k = created.json();
    assert!(
        created.stderr.contains("shown only this once"),
        "{}",
        created.stderr
    );
    let id = k["id"].as_str().unwrap().to_string();
    let secret = k["key"].as_str().unwrap().to_string();
    assert!(secret.starts_with("tg-"), "{k}");
    assert_eq!(k["team"], "research");
    assert_eq!(k["metadata"]["app"], "cli");
    assert_eq!(k["rate_limits"]["requests_per_minute"], 60);
    let own = app
        .client
        .get(app.url("/v1/key"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200, "the printed secret is the key's");

    // The table form prints the secret too, and says it once.
    let table = tg(&app, &["keys", "create", "--name", "bob"]).await;
    let bob_secret = field(table.ok(), "secret");
    assert!(bob_secret.starts_with("tg-"), "{}", table.stdout);
    assert!(table.stderr.contains("cannot be shown again"));
    let bob = field(&table.stdout, "id").to_string();

    // list: table and JSON.
    let list = tg(&app, &["keys", "list"]).await;
    let r = row(list.ok(), &id);
    let prefix = k["key_prefix"].as_str().unwrap();
    assert_eq!(&r[1..5], ["alice", "research", prefix, "active"]);
    assert!(!list.stdout.contains(&secret), "never a secret in a list");
    let listed = tg(&app, &["keys", "list", "--output", "json"]).await.json();
    assert_eq!(listed, api(&app, Method::GET, "/admin/keys").await);
    let team_only = tg(
        &app,
        &["keys", "list", "--team", "research", "--output", "json"],
    )
    .await
    .json();
    let ids: Vec<&str> = team_only
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);

    // show.
    let shown = tg(&app, &["keys", "show", &id]).await;
    assert_eq!(field(shown.ok(), "name"), "alice");
    assert_eq!(field(&shown.stdout, "rate_limits"), "60 rpm");
    let shown = tg(&app, &["keys", "show", &id, "--output", "json"])
        .await
        .json();
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["rate_limit_status"]["requests_per_minute"], 60);

    // disable / enable, seen through the API and by the key itself.
    let disabled = tg(&app, &["keys", "disable", &id]).await;
    assert_eq!(field(disabled.ok(), "state"), "disabled");
    assert_eq!(
        api(&app, Method::GET, &format!("/admin/keys/{id}")).await["disabled"],
        true
    );
    let refused = app
        .client
        .get(app.url("/v1/key"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let listed = tg(&app, &["keys", "list", "--active", "--output", "json"])
        .await
        .json();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["id"] != id.as_str()));
    let enabled = tg(&app, &["keys", "enable", &id, "--output", "json"])
        .await
        .json();
    assert_eq!(enabled["disabled"], false);

    // revoke: final; enabling it again is a conflict (5).
    let revoked = tg(&app, &["keys", "revoke", &bob, "--output", "json"])
        .await
        .json();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert!(api(&app, Method::GET, &format!("/admin/keys/{bob}")).await["revoked_at"].is_string());
    assert_eq!(
        row(tg(&app, &["keys", "list"]).await.ok(), &bob)[4],
        "revoked"
    );
    tg(&app, &["keys", "enable", &bob])
        .await
        .fails(5, "revocation is final");

    // Errors: unknown key 3, bad input 5, unknown team 5.
    tg(&app, &["keys", "show", "key_nope"])
        .await
        .fails(3, "key 'key_nope' does not exist");
    tg(&app, &["keys", "revoke", "key_nope"])
        .await
        .fails(3, "does not exist");
    tg(&app, &["keys", "disable", "key_nope"])
        .await
        .fails(3, "does not exist");
    tg(
        &app,
        &["keys", "create", "--name", "x", "--expires-at", "tomorrow"],
    )
    .await
    .fails(5, "HTTP 400");
    tg(&app, &["keys", "create", "--name", "x", "--team", "ghosts"])
        .await
        .fails(5, "team 'ghosts' does not exist");
    tg(
        &app,
        &["keys", "create", "--name", "x", "--metadata", "[1]"],
    )
    .await
    .fails(2, "expected a JSON object");
    let count = api(&app, Method::GET, "/admin/keys")
        .await
        .as_array()
        .unwrap()
        .len();
    assert_eq!(count, 2, "no failed create made a key");
}

#[tokio::test]
async fn wrong_or_missing_tokens_unreachable_servers_and_bad_usage_have_their_exit_codes() {
    let app = spawn_app().await;
    for args in [
        &["keys", "list"][..],
        &["teams", "list"],
        &["budgets", "list"],
        &["credits", "list", "--team", "t"],
        &["alerts", "list"],
        &[
            "models",
            "price",
            "add",
            "m",
            "--input-per-mtok",
            "1",
            "--output-per-mtok",
            "1",
        ],
    ] {
        tg_env(&app, args, Some("wrong"))
            .await
            .fails(4, "invalid admin token");
        tg_env(&app, args, None)
            .await
            .fails(4, "pass --admin-token or set TOLLGATE_ADMIN_TOKEN");
    }
    // --admin-token wins over the environment.
    let r = tg_env(
        &app,
        &["keys", "list", "--admin-token", ADMIN],
        Some("wrong"),
    )
    .await;
    r.ok();
    // The catalog is public: no token needed.
    tg_env(&app, &["models", "list"], None).await.ok();

    // Nothing listening there: 6.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    run_cli(
        &["keys", "list"],
        &format!("http://127.0.0.1:{port}"),
        Some(ADMIN),
    )
    .await
    .fails(6, "could not connect");
    // Usage errors: 2.
    tg(&app, &["keys", "list", "--url", "localhost:8080"])
        .await
        .fails(2, "expected the server's http(s) URL");
    tg(&app, &["keys", "create"]).await.fails(2, "--name");
    tg(&app, &["keys", "list", "--output", "yaml"])
        .await
        .fails(2, "yaml");
    tg(&app, &["credits", "grant", "--amount-usd", "1"])
        .await
        .fails(2, "--key");
    tg(
        &app,
        &[
            "budgets",
            "set",
            "--key",
            "k",
            "--team",
            "t",
            "--limit-usd",
            "1",
            "--period",
            "daily",
        ],
    )
    .await
    .fails(2, "cannot be used with");
    tg(&app, &["alerts", "list", "--limit", "0"])
        .await
        .fails(2, "0");
    // --help lists the exit codes.
    let help = tg(&app, &["keys", "--help"]).await;
    assert!(help.ok().contains("4  unauthorized"), "{}", help.stdout);
}

#[tokio::test]
async fn teams_are_created_listed_shown_updated_and_deleted() {
    let app = spawn_app().await;
    let created = tg(
        &app,
        &[
            "teams",
            "create",
            "ml",
            "--name",
            "Machine learning",
            "--webhook-url",
            "https://hooks.example/ml",
            "--budget-usd",
            "100.50",
            "--budget-period",
            "monthly",
            "--budget-mode",
            "soft",
            "--tpm",
            "100000",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(created["name"], "Machine learning");
    assert_eq!(created["budget"]["limit_usd"], "100.50");
    assert_eq!(created["budget"]["mode"], "soft");
    assert_eq!(created["rate_limits"]["tokens_per_minute"], 100000);
    assert_eq!(created["budget_status"]["remaining_usd"], "100.500000");
    let seen = api(&app, Method::GET, "/admin/teams/ml").await;
    assert_eq!(seen["webhook_url"], "https://hooks.example/ml");
    tg(&app, &["teams", "create", "ops"]).await.ok();

    let list = tg(&app, &["teams", "list"]).await;
    let r = row(list.ok(), "ml");
    assert_eq!(&r[1..3], ["Machine", "learning"]);
    assert!(
        list.stdout.contains("100.50 USD monthly soft"),
        "{}",
        list.stdout
    );
    assert!(list.stdout.contains("100000 tpm"));
    row(&list.stdout, "ops");
    assert_eq!(
        tg(&app, &["teams", "list", "--output", "json"])
            .await
            .json(),
        api(&app, Method::GET, "/admin/teams").await
    );

    let shown = tg(&app, &["teams", "show", "ml"]).await;
    assert_eq!(field(shown.ok(), "remaining_usd"), "100.500000");
    assert_eq!(
        field(&shown.stdout, "webhook_url"),
        "https://hooks.example/ml"
    );
    assert_eq!(
        tg(&app, &["teams", "show", "ml", "--output", "json"])
            .await
            .json()["id"],
        "ml"
    );

    let updated = tg(
        &app,
        &[
            "teams",
            "update",
            "ml",
            "--name",
            "ML",
            "--webhook-url",
            "none",
            "--no-rate-limits",
            "--metadata",
            r#"{"cost_center":"42"}"#,
        ],
    )
    .await;
    assert_eq!(field(updated.ok(), "name"), "ML");
    let seen = api(&app, Method::GET, "/admin/teams/ml").await;
    assert_eq!(seen["name"], "ML");
    assert!(seen["webhook_url"].is_null(), "{seen}");
    assert!(seen["rate_limits"].is_null(), "{seen}");
    assert_eq!(seen["metadata"]["cost_center"], "42");
    assert_eq!(
        seen["budget"]["limit_usd"], "100.50",
        "the budget is left alone"
    );

    // A team a key belongs to cannot be deleted (409: 5); an empty one can.
    tg(&app, &["keys", "create", "--name", "k", "--team", "ops"])
        .await
        .ok();
    tg(&app, &["teams", "delete", "ops"])
        .await
        .fails(5, "HTTP 409");
    let deleted = tg(&app, &["teams", "delete", "ml", "--output", "json"])
        .await
        .json();
    assert_eq!(deleted, json!({"id": "ml", "deleted": true}));
    let (status, _) = app.admin(Method::GET, "/admin/teams/ml", None).await;
    assert_eq!(status, 404);

    tg(&app, &["teams", "show", "ml"])
        .await
        .fails(3, "team 'ml' does not exist");
    tg(&app, &["teams", "delete", "ml"])
        .await
        .fails(3, "team 'ml'");
    tg(&app, &["teams", "update", "ml", "--name", "x"])
        .await
        .fails(3, "team 'ml'");
    tg(&app, &["teams", "create", "ops"])
        .await
        .fails(5, "HTTP 409");
    tg(&app, &["teams", "create", "bad id!"])
        .await
        .fails(5, "field id");
    tg(&app, &["teams", "update", "ops"])
        .await
        .fails(2, "nothing to change");
    tg(&app, &["teams", "create", "x", "--budget-usd", "5"])
        .await
        .fails(2, "--budget-period");
}

#[tokio::test]
async fn budgets_are_set_listed_shown_and_cleared_on_keys_and_teams() {
    let app = spawn_app().await;
    tg(&app, &["teams", "create", "research"]).await.ok();
    let k = tg(
        &app,
        &[
            "keys", "create", "--name", "alice", "--team", "research", "--output", "json",
        ],
    )
    .await
    .json();
    let id = k["id"].as_str().unwrap();

    let set = tg(
        &app,
        &[
            "budgets",
            "set",
            "--key",
            id,
            "--limit-usd",
            "5.50",
            "--period",
            "daily",
            "--mode",
            "soft",
            "--alert-thresholds",
            "0.5,0.9",
        ],
    )
    .await;
    assert!(set.ok().contains("5.50 USD daily soft"), "{}", set.stdout);
    let seen = api(&app, Method::GET, &format!("/admin/keys/{id}")).await;
    assert_eq!(
        seen["budget"],
        json!({"limit_usd": "5.50", "period": "daily", "mode": "soft", "alert_thresholds": [0.5, 0.9]})
    );
    let team = tg(
        &app,
        &[
            "budgets",
            "set",
            "--team",
            "research",
            "--limit-usd",
            "1000",
            "--period",
            "monthly",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(team["budget"]["mode"], "hard", "the server's default mode");
    assert_eq!(
        api(&app, Method::GET, "/admin/teams/research").await["budget"]["limit_usd"],
        "1000"
    );

    let list = tg(&app, &["budgets", "list"]).await;
    assert_eq!(row(list.ok(), "key")[1], id);
    assert!(
        list.stdout.contains("5.50 USD daily soft"),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout.contains("1000 USD monthly hard"),
        "{}",
        list.stdout
    );
    let listed = tg(&app, &["budgets", "list", "--output", "json"])
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");

    // show: the key's own budget and its team's, with what is spent and left.
    let shown = tg(&app, &["budgets", "show", "--key", id]).await;
    let r = row(shown.ok(), "key");
    assert_eq!(&r[1..6], [id, "5.500000", "daily", "soft", "0.000000"]);
    let r = row(&shown.stdout, "team");
    assert_eq!(&r[1..4], ["research", "1000.000000", "monthly"]);
    let json = tg(&app, &["budgets", "show", "--key", id, "--output", "json"])
        .await
        .json();
    let seen = api(&app, Method::GET, &format!("/admin/keys/{id}")).await;
    assert_eq!(json, seen["budgets"]);
    assert_eq!(json.as_array().unwrap().len(), 2, "{json}");
    let json = tg(
        &app,
        &["budgets", "show", "--team", "research", "--output", "json"],
    )
    .await
    .json();
    assert_eq!(json[0]["remaining_usd"], "1000.000000");

    let cleared = tg(&app, &["budgets", "clear", "--key", id]).await;
    assert!(cleared.ok().contains("no budget"));
    assert!(api(&app, Method::GET, &format!("/admin/keys/{id}")).await["budget"].is_null());
    tg(&app, &["budgets", "clear", "--team", "research"])
        .await
        .ok();
    let none = tg(&app, &["budgets", "show", "--team", "research"]).await;
    assert!(none.ok().contains("no budget applies"), "{}", none.stdout);
    assert!(tg(&app, &["budgets", "list"])
        .await
        .ok()
        .contains("no key or team has a budget"));

    tg(
        &app,
        &[
            "budgets",
            "set",
            "--key",
            id,
            "--limit-usd",
            "-1",
            "--period",
            "daily",
        ],
    )
    .await
    .fails(5, "limit_usd");
    tg(
        &app,
        &[
            "budgets",
            "set",
            "--key",
            id,
            "--limit-usd",
            "ten",
            "--period",
            "daily",
        ],
    )
    .await
    .fails(5, "HTTP 400");
    tg(
        &app,
        &[
            "budgets",
            "set",
            "--key",
            "key_nope",
            "--limit-usd",
            "1",
            "--period",
            "daily",
        ],
    )
    .await
    .fails(3, "does not exist");
    tg(&app, &["budgets", "show", "--team", "nope"])
        .await
        .fails(3, "does not exist");
    tg(
        &app,
        &[
            "budgets",
            "set",
            "--key",
            id,
            "--limit-usd",
            "1",
            "--period",
            "yearly",
        ],
    )
    .await
    .fails(2, "yearly");
}

#[tokio::test]
async fn credits_are_granted_and_listed_exactly() {
    let app = spawn_app().await;
    tg(&app, &["teams", "create", "research"]).await.ok();
    let k = tg(
        &app,
        &["keys", "create", "--name", "alice", "--output", "json"],
    )
    .await
    .json();
    let id = k["id"].as_str().unwrap();

    let granted = tg(
        &app,
        &[
            "credits",
            "grant",
            "--key",
            id,
            "--amount-usd",
            "25.000000000001",
            "--note",
            "top-up",
            "--output",
            "json",
        ],
    )
    .await;
    let g = granted.json();
    assert_eq!(g["amount_usd"], "25.000000000001", "money stays exact");
    assert_eq!(g["balance_usd"], "25.000000000001");
    assert!(
        granted
            .stdout
            .contains(r#""balance_usd":"25.000000000001""#),
        "the API's JSON unchanged: {}",
        granted.stdout
    );
    let refund = tg(
        &app,
        &[
            "credits",
            "grant",
            "--key",
            id,
            "--amount-usd",
            "0.5",
            "--refund",
        ],
    )
    .await;
    assert_eq!(field(refund.ok(), "kind"), "refund");
    assert_eq!(field(&refund.stdout, "balance_usd"), "25.500000000001");
    let seen = api(&app, Method::GET, &format!("/admin/keys/{id}")).await;
    assert_eq!(seen["balance"]["balance_usd"], "25.500000000001");
    let team = tg(
        &app,
        &[
            "credits",
            "grant",
            "--team",
            "research",
            "--amount-usd",
            "10",
        ],
    )
    .await;
    assert_eq!(field(team.ok(), "owner"), "team");
    assert_eq!(
        api(&app, Method::GET, "/admin/teams/research").await["balance"]["balance_usd"],
        "10.000000"
    );

    let list = tg(&app, &["credits", "list", "--key", id]).await;
    assert_eq!(field(list.ok(), "balance_usd"), "25.500000000001");
    assert_eq!(field(&list.stdout, "available_usd"), "25.500000000001");
    let json = tg(&app, &["credits", "list", "--key", id, "--output", "json"])
        .await
        .json();
    assert_eq!(json["balance_usd"], "25.500000000001");
    // The ledger, newest first.
    let kinds: Vec<&str> = json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["refund", "grant"], "{json}");
    assert_eq!(row(&list.stdout, "CREATED_AT").len(), 6, "{}", list.stdout);
    assert!(list.stdout.contains("top-up"), "{}", list.stdout);
    let team = tg(
        &app,
        &["credits", "list", "--team", "research", "--output", "json"],
    )
    .await
    .json();
    assert_eq!(team["balance_usd"], "10.000000");
    // Paging: one entry a page, the next page by its cursor.
    let first = tg(&app, &["credits", "list", "--key", id, "--limit", "1"]).await;
    assert!(first.ok().contains("refund") && !first.stdout.contains("top-up"));
    let hint = first.stderr.trim();
    let cursor = hint
        .strip_prefix("(more entries: --cursor ")
        .and_then(|c| c.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{hint}"));
    let second = tg(
        &app,
        &[
            "credits", "list", "--key", id, "--limit", "1", "--cursor", cursor, "--output", "json",
        ],
    )
    .await
    .json();
    assert_eq!(second["data"][0]["kind"], "grant", "{second}");
    assert_eq!(second["data"][0]["note"], "top-up");
    assert!(second["next_cursor"].is_null());

    tg(
        &app,
        &["credits", "grant", "--key", id, "--amount-usd", "-1"],
    )
    .await
    .fails(5, "amount_usd must be positive");
    tg(
        &app,
        &[
            "credits",
            "grant",
            "--key",
            id,
            "--amount-usd",
            "0.0000000000001",
        ],
    )
    .await
    .fails(5, "field amount_usd");
    tg(
        &app,
        &["credits", "grant", "--team", "nope", "--amount-usd", "1"],
    )
    .await
    .fails(3, "team 'nope' does not exist");
    tg(&app, &["credits", "list", "--key", "key_nope"])
        .await
        .fails(3, "does not exist");
    assert_eq!(
        api(&app, Method::GET, &format!("/admin/keys/{id}")).await["balance"]["balance_usd"],
        "25.500000000001",
        "no failed grant changed the balance"
    );
}

#[tokio::test]
async fn models_are_listed_shown_priced_and_related_ids_with_a_slash_included() {
    let app = spawn_app().await;
    let (s, p) = app
        .admin(
            Method::POST,
            "/admin/providers",
            Some(json!({"id":"acme","kind":"openai","base_url":"http://127.0.0.1:9/v1"})),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    for id in ["acme/chat-1", "acme/chat-2", "acme/mini"] {
        let (s, m) = app.admin(Method::POST, "/admin/models", Some(json!({"id": id, "name": id, "provider": "acme",
            "context_length": 32000, "price": {"input_per_mtok": "1.00", "output_per_mtok": "2.00", "effective_from": "2026-01-01T00:00:00Z"}}))).await;
        assert_eq!(s, 201, "{m}");
    }

    let list = tg(&app, &["models", "list", "--provider", "acme"]).await;
    let r = row(list.ok(), "acme/chat-1");
    assert_eq!(&r[1..], ["acme", "32000", "1.00", "2.00", "active"]);
    assert_eq!(list.stdout.lines().count(), 4, "{}", list.stdout);
    let all = tg(&app, &["models", "list", "--output", "json"])
        .await
        .json();
    let (_, api_list) = app.get_json("/v1/models").await;
    assert_eq!(all, api_list);
    let found = tg(
        &app,
        &["models", "list", "--search", "mini", "--output", "json"],
    )
    .await
    .json();
    assert!(found["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "acme/mini"));

    let shown = tg(&app, &["models", "show", "acme/chat-1"]).await;
    assert_eq!(field(shown.ok(), "id"), "acme/chat-1");
    assert_eq!(field(&shown.stdout, "input_per_mtok"), "1.00");
    assert!(
        shown.stdout.contains("2026-01-01T00:00:00Z"),
        "{}",
        shown.stdout
    );

    // price add: a new version, seen through the API.
    let added = tg(
        &app,
        &[
            "models",
            "price",
            "add",
            "acme/chat-1",
            "--input-per-mtok",
            "0.000001",
            "--output-per-mtok",
            "3.5",
            "--cached-input-per-mtok",
            "0.1",
            "--per-request",
            "0.001",
            "--tiers",
            r#"[{"above_input_tokens":16000,"input_per_mtok":"2","output_per_mtok":"7"}]"#,
            "--effective-from",
            "2026-02-01T00:00:00Z",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(added["input_per_mtok"], "0.000001");
    assert_eq!(added["model_id"], "acme/chat-1");
    let (_, m) = app.get_json("/v1/models/acme%2Fchat-1").await;
    let history = m["price_history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["output_per_mtok"], "3.5");
    assert_eq!(history[1]["tiers"][0]["above_input_tokens"], 16000);
    let table = tg(
        &app,
        &[
            "models",
            "price",
            "add",
            "acme/mini",
            "--input-per-mtok",
            "0.5",
            "--output-per-mtok",
            "1",
        ],
    )
    .await;
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{}", table.stdout);
    assert!(
        lines[0].starts_with("ID") && lines[1].contains(" 0.5 "),
        "{}",
        table.stdout
    );

    // related set: replaces the list; none clears it.
    let related = tg(
        &app,
        &[
            "models",
            "related",
            "set",
            "acme/chat-1",
            "acme/mini",
            "acme/chat-2",
        ],
    )
    .await;
    assert_eq!(&row(related.ok(), "acme/mini")[1..3], ["acme/mini", "acme"]);
    let (_, m) = app.get_json("/v1/models/acme%2Fchat-1").await;
    let ids: Vec<&str> = m["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme/mini", "acme/chat-2"]);
    let shown = tg(&app, &["models", "show", "acme/chat-1"]).await;
    row(shown.ok(), "acme/chat-2");
    let cleared = tg(
        &app,
        &[
            "models",
            "related",
            "set",
            "acme/chat-1",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(cleared, json!([]));

    tg(&app, &["models", "show", "acme/nope"])
        .await
        .fails(3, "model 'acme/nope' does not exist");
    tg(
        &app,
        &[
            "models",
            "price",
            "add",
            "acme/nope",
            "--input-per-mtok",
            "1",
            "--output-per-mtok",
            "1",
        ],
    )
    .await
    .fails(3, "does not exist");
    tg(
        &app,
        &[
            "models",
            "price",
            "add",
            "acme/mini",
            "--input-per-mtok",
            "-1",
            "--output-per-mtok",
            "1",
        ],
    )
    .await
    .fails(5, "input_per_mtok");
    tg(
        &app,
        &[
            "models",
            "price",
            "add",
            "acme/chat-1",
            "--input-per-mtok",
            "1",
            "--output-per-mtok",
            "1",
            "--effective-from",
            "2026-01-15T00:00:00Z",
        ],
    )
    .await
    .fails(5, "HTTP 422");
    tg(
        &app,
        &[
            "models",
            "price",
            "add",
            "acme/mini",
            "--input-per-mtok",
            "1",
            "--output-per-mtok",
            "1",
            "--tiers",
            "{",
        ],
    )
    .await
    .fails(2, "--tiers");
    tg(
        &app,
        &["models", "related", "set", "acme/chat-1", "acme/ghost"],
    )
    .await
    .fails(5, "HTTP 422");
    tg(
        &app,
        &["models", "related", "set", "acme/ghost", "acme/mini"],
    )
    .await
    .fails(3, "does not exist");
    tg(&app, &["models", "list", "--status", "bogus"])
        .await
        .fails(5, "HTTP 400");
}

#[tokio::test]
async fn alerts_are_listed_with_their_delivery_state() {
    let gw = crate::gateway_support::gateway().await;
    let app = &gw.app;
    assert!(tg(app, &["alerts", "list"])
        .await
        .ok()
        .contains("no alerts"));
    // A key whose budget cannot pay for one call: the refusal raises an alert.
    let k = tg(
        app,
        &[
            "keys",
            "create",
            "--name",
            "poor",
            "--budget-usd",
            "0.0000001",
            "--budget-period",
            "weekly",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    let id = k["id"].as_str().unwrap();
    let r = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(k["key"].as_str().unwrap())
        .json(&crate::gateway_support::chat("oa-model"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 402);

    let list = tg(app, &["alerts", "list"]).await;
    let line = list
        .ok()
        .lines()
        .find(|l| l.contains("budget.hard_refusal"))
        .unwrap_or_else(|| panic!("{}", list.stdout));
    assert!(line.contains(id) && line.contains("no_webhook"), "{line}");
    assert!(
        line.contains("USD left"),
        "a summary from the payload: {line}"
    );
    let json = tg(app, &["alerts", "list", "--limit", "5", "--output", "json"])
        .await
        .json();
    assert_eq!(json, api(app, Method::GET, "/admin/alerts?limit=5").await);
    assert!(json["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["type"] == "budget.hard_refusal" && a["scope_id"] == id));
}

#[tokio::test]
async fn usage_export_and_generate_usage_draw_no_bar_off_a_terminal() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("synthetic.db").display());
    let run = |args: Vec<String>| async move {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(&args)
            .env_remove("TOLLGATE_DATABASE_URL")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let args = |a: &[&str]| {
        a.iter()
            .map(|s| s.to_string())
            .chain(["--database-url".into(), url.clone()])
            .collect::<Vec<_>>()
    };
    let (_, err) = run(args(&[
        "dev",
        "generate-usage",
        "--calls",
        "2500",
        "--keys",
        "3",
    ]))
    .await;
    assert!(
        !err.contains("calls written ("),
        "no bar drawn off a terminal: {err}"
    );
    assert!(
        err.contains("synthetic calls written"),
        "the log says it instead: {err}"
    );
    let (csv, err) = run(args(&["usage", "export"])).await;
    assert_eq!(csv.lines().count(), 2501, "a header and every call");
    assert!(err.is_empty(), "no bar drawn off a terminal: {err:?}");
}

/// A stand-in server answering what a real one would not: an older server without the credit
/// ledger endpoint, errors in Anthropic's shape, a 500, an answer that is not JSON.
async fn fake_server() -> String {
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use axum::Json;
    let anthropic = |status: StatusCode, kind: &str, message: &str| {
        (
            status,
            Json(json!({"type": "error", "error": {"type": kind, "message": message}})),
        )
    };
    let router = axum::Router::new()
        .route(
            "/admin/keys/k/credits",
            post(|| async { StatusCode::CREATED }),
        )
        .route(
            "/admin/keys/k",
            get(|| async {
                Json(
                    json!({"id": "k", "balance": {"owner": "key", "id": "k", "balance_usd": "1.50",
                    "reserved_usd": "0.000000", "available_usd": "1.50"}}),
                )
            }),
        )
        .route(
            "/admin/keys",
            get(move || async move {
                anthropic(
                    StatusCode::UNAUTHORIZED,
                    "authentication_error",
                    "who are you",
                )
            }),
        )
        .route(
            "/admin/teams",
            get(move || async move {
                anthropic(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "boom")
            }),
        )
        .route(
            "/admin/alerts",
            get(|| async { "<html>a proxy page</html>" }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn older_servers_other_error_shapes_and_server_errors() {
    let url = fake_server().await;
    // No ledger endpoint (405): the balance alone, and a note saying so.
    let r = run_cli(&["credits", "list", "--key", "k"], &url, Some(ADMIN)).await;
    assert_eq!(field(r.ok(), "balance_usd"), "1.50");
    assert!(r.stderr.contains("the balance only"), "{}", r.stderr);
    let r = run_cli(
        &["credits", "list", "--key", "k", "--output", "json"],
        &url,
        Some(ADMIN),
    )
    .await;
    assert_eq!(r.json()["available_usd"], "1.50");
    // Anthropic's error shape: its message and type.
    run_cli(&["keys", "list"], &url, Some(ADMIN))
        .await
        .fails(4, "who are you (authentication_error, HTTP 401)");
    // A server error: 1.
    run_cli(&["teams", "list"], &url, Some(ADMIN))
        .await
        .fails(1, "boom (api_error, HTTP 500)");
    // Not the API's JSON: 1, saying so.
    run_cli(&["alerts", "list"], &url, Some(ADMIN))
        .await
        .fails(1, "is not JSON");
}
