//! The store's catalog, key, team and report statements on PostgreSQL, compared with SQLite.
//!
//! Each test runs one scenario on a fresh SQLite file and on a fresh PostgreSQL database (a
//! random name, created for the test and dropped at its end, even when it fails) and checks
//! that both give the same results, besides checking the results themselves.
//!
//! The PostgreSQL half needs `TOLLGATE_TEST_POSTGRES_URL`, a server URL such as
//! `postgres://postgres@127.0.0.1:5432` (a user who may create databases). Without it every
//! test prints SKIPPED and passes.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use sqlx::{Connection, PgConnection};
use tollgate::catalog::seed::{Seed, BUILTIN};
use tollgate::catalog::{DefaultParams, Model, ModelStatus, Provider, ProviderKind};
use tollgate::keys::ApiKey;
use tollgate::metering::{CallStatus, Endpoint, UsageRecord, UsageSource};
use tollgate::pricing::{Prices, Usage};
use tollgate::reports::{Dim, Filters};
use tollgate::store::keys::Column;
use tollgate::store::reports::{AdjustmentRow, Source, DAY_MS, HOUR_MS};
use tollgate::store::{Backend, Store, StoreError};

const URL_VAR: &str = "TOLLGATE_TEST_POSTGRES_URL";

#[path = "support/pg_scratch.rs"]
mod pg_scratch;
use pg_scratch::DbGuard;

/// A SQLite store and a PostgreSQL store, both fresh. The PostgreSQL database is dropped when
/// this is dropped.
struct Pair {
    sqlite: Store,
    pg: Store,
    sqlite_url: String,
    pg_url: String,
    _dir: tempfile::TempDir,
    db: DbGuard,
}

impl Pair {
    /// `None` (after printing why) when no PostgreSQL server is configured.
    async fn new(test: &str) -> Option<Pair> {
        let Ok(url) = std::env::var(URL_VAR) else {
            // Straight to stderr, not through eprintln! (which the test harness captures and
            // shows only for failures): a skipped backend must be visible.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED pg_store::{test}: {URL_VAR} is not set (e.g. \
                 postgres://postgres@127.0.0.1:5432); the PostgreSQL store tests did not run"
            );
            return None;
        };
        let db = DbGuard::create(&url).await;
        let pg_url = db.url();
        let pg = Store::connect(&pg_url)
            .await
            .expect("connect to PostgreSQL");
        assert_eq!(pg.backend(), Backend::Postgres);
        let dir = tempfile::tempdir().unwrap();
        let sqlite_url = format!("sqlite://{}", dir.path().join("tollgate.db").display());
        let sqlite = Store::connect(&sqlite_url).await.unwrap();
        assert_eq!(sqlite.backend(), Backend::Sqlite);
        Some(Pair {
            sqlite,
            pg,
            sqlite_url,
            pg_url,
            _dir: dir,
            db,
        })
    }

    async fn finish(self) {
        self.sqlite.close().await;
        self.pg.close().await;
        drop(self.db);
    }

    /// Runs `sql` (with `$n` placeholders, the same on both) on both databases, binding the
    /// given values.
    async fn exec(&self, sql: &str, binds: &[Bind]) {
        let mut pg = PgConnection::connect(&self.pg_url).await.unwrap();
        let mut q = sqlx::query(sql);
        for b in binds {
            q = match b {
                Bind::Text(v) => q.bind(v.clone()),
                Bind::Int(v) => q.bind(*v),
                Bind::Bool(v) => q.bind(*v),
            };
        }
        q.execute(&mut pg).await.unwrap();
        let mut lite = sqlx::SqliteConnection::connect(&self.sqlite_url)
            .await
            .unwrap();
        let mut q = sqlx::query(sql);
        for b in binds {
            q = match b {
                Bind::Text(v) => q.bind(v.clone()),
                Bind::Int(v) => q.bind(*v),
                Bind::Bool(v) => q.bind(*v),
            };
        }
        q.execute(&mut lite).await.unwrap();
    }

    /// One row of text columns, read with the same SQL from both databases; asserts that they
    /// agree and returns it.
    async fn texts(&self, sql: &str) -> Vec<Option<String>> {
        use sqlx::Row;
        let mut pg = PgConnection::connect(&self.pg_url).await.unwrap();
        let row = sqlx::query(sql).fetch_one(&mut pg).await.unwrap();
        let a: Vec<Option<String>> = (0..row.len()).map(|i| row.get(i)).collect();
        let mut lite = sqlx::SqliteConnection::connect(&self.sqlite_url)
            .await
            .unwrap();
        let row = sqlx::query(sql).fetch_one(&mut lite).await.unwrap();
        let b: Vec<Option<String>> = (0..row.len()).map(|i| row.get(i)).collect();
        assert_eq!(a, b, "{sql}");
        a
    }
}

enum Bind {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
}

fn text(s: &str) -> Bind {
    Bind::Text(Some(s.to_string()))
}

/// Describes a result for comparison across backends: the value's `Debug`, or the error's
/// kind and message (a database error's text differs between engines, so only its kind).
fn outcome<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(StoreError::Database(_)) => "Err(Database)".into(),
        Err(e) => format!("Err({e:?})"),
    }
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).unwrap()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn provider(id: &str) -> Provider {
    Provider {
        id: id.into(),
        kind: ProviderKind::parse("openai").unwrap(),
        name: format!("Provider {id}"),
        base_url: format!("https://{id}.example/v1"),
        api_key_env: Some(format!("{}_KEY", id.to_uppercase())),
        connect_timeout_ms: Some(1500),
        first_byte_timeout_ms: None,
        total_timeout_ms: Some(u64::MAX),
        listing_only: true,
    }
}

fn model(id: &str, provider: &str) -> Model {
    Model {
        id: id.into(),
        name: format!("Model {id}"),
        creator: "Tests".into(),
        provider: provider.into(),
        upstream_model: format!("{id}-upstream"),
        description: "A model; with 'quotes' and \"doubles\" and ünïcode".into(),
        context_length: Some(128_000),
        max_output_tokens: None,
        input_modalities: vec!["text".into(), "image".into()],
        capabilities: vec!["chat".into(), "streaming".into()],
        default_params: DefaultParams {
            temperature: Some(dec("0.7")),
            top_p: None,
            max_tokens: Some(512),
            frequency_penalty: None,
            presence_penalty: Some(dec("-0.5")),
        },
        open_weights: true,
        mode: "embedding".into(),
        deprecated_from: Some(chrono::NaiveDate::from_ymd_opt(2027, 3, 1).unwrap()),
        added_on: NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
        status: ModelStatus::Active,
    }
}

fn prices(input: &str, from_ms: i64) -> Prices {
    Prices {
        input_per_mtok: dec(input),
        output_per_mtok: dec("6.000001"),
        cached_input_per_mtok: Some(dec("0.2")),
        cache_write_per_mtok: None,
        cache_write_1h_per_mtok: None,
        reasoning_per_mtok: None,
        per_request: dec("0"),
        per_image: dec("0.001"),
        per_web_search: Decimal::ZERO,
        tiers: vec![],
        service_tiers: vec![],
        effective_from: Some(at(from_ms)),
    }
}

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// Catalog statements; returns a log of every result.
async fn catalog_scenario(store: &Store) -> Vec<String> {
    let mut log = Vec::new();
    log.push(outcome(&store.catalog_is_empty().await));
    let mut seed = Seed::default();
    seed.add("builtin", BUILTIN).unwrap();
    for m in &mut seed.models {
        for p in &mut m.prices {
            p.effective_from.get_or_insert(at(T0));
        }
    }
    log.push(outcome(&store.load_seed(&seed).await));
    log.push(outcome(&store.catalog_is_empty().await));
    // The seed again: its first provider is a conflict, and nothing of it is written.
    log.push(outcome(&store.load_seed(&seed).await));

    log.push(outcome(&store.insert_provider(&provider("zz-prov")).await));
    log.push(outcome(&store.insert_provider(&provider("zz-prov")).await));
    let mut p = provider("zz-prov");
    p.name = "Renamed".into();
    p.api_key_env = None;
    p.first_byte_timeout_ms = Some(42);
    log.push(outcome(&store.update_provider(&p).await));
    log.push(outcome(&store.update_provider(&provider("absent")).await));

    let related_to = seed.models[0].model.id.clone();
    log.push(outcome(
        &store
            .insert_model(
                &model("zz-a", "zz-prov"),
                &[prices("1.5", T0), prices("1.25", T0 + 1000)],
                std::slice::from_ref(&related_to),
            )
            .await,
    ));
    log.push(outcome(
        &store
            .insert_model(&model("zz-b", "zz-prov"), &[], &[])
            .await,
    ));
    log.push(outcome(
        &store
            .insert_model(&model("zz-b", "zz-prov"), &[], &[])
            .await,
    ));
    // Unknown provider; a price list out of order (the model is not kept: all or nothing).
    log.push(outcome(
        &store.insert_model(&model("zz-c", "nobody"), &[], &[]).await,
    ));
    log.push(outcome(
        &store
            .insert_model(
                &model("zz-d", "zz-prov"),
                &[prices("1", T0 + 5), prices("1", T0)],
                &[],
            )
            .await,
    ));
    let mut m = model("zz-b", "zz-prov");
    m.open_weights = false;
    m.status = ModelStatus::Deprecated;
    m.context_length = None;
    log.push(outcome(&store.update_model(&m).await));
    log.push(outcome(
        &store.update_model(&model("zz-x", "zz-prov")).await,
    ));
    log.push(outcome(&store.update_model(&model("zz-b", "nobody")).await));

    log.push(outcome(
        &store
            .insert_price("zz-b", &prices("3", T0), at(T0 + 10))
            .await
            .map(|v| (v.model_id, v.effective_from, v.prices)),
    ));
    log.push(outcome(
        &store
            .insert_price("zz-b", &prices("3", T0), at(T0 + 10))
            .await
            .map(drop),
    ));
    log.push(outcome(
        &store
            .insert_price("zz-x", &prices("3", T0), at(T0 + 10))
            .await
            .map(drop),
    ));

    log.push(outcome(
        &store
            .set_related("zz-b", &["zz-a".into(), related_to.clone()])
            .await,
    ));
    log.push(outcome(
        &store
            .set_related("zz-a", &["zz-b".into(), "zz-b".into()])
            .await,
    ));
    log.push(outcome(&store.set_related("zz-a", &["zz-a".into()]).await));
    log.push(outcome(&store.set_related("zz-a", &["zz-x".into()]).await));
    log.push(outcome(&store.set_related("zz-x", &[]).await));
    log.push(outcome(&store.set_related("zz-a", &[]).await));

    let snapshot = store.load_catalog().await.unwrap();
    log.push(format!("{:?}", snapshot.providers));
    for e in &snapshot.entries {
        log.push(format!("{:?}", e.model));
        log.push(format!("{:?}", e.related));
        // Price ids are compared by order only: a PostgreSQL identity never hands out a value
        // twice, so an insert rolled back leaves a gap that SQLite's rowid fills.
        for pair in e.prices.windows(2) {
            assert!(pair[0].id < pair[1].id, "{pair:?}");
        }
        for v in &e.prices {
            log.push(format!(
                "{} {} {:?}",
                v.model_id,
                v.effective_from.timestamp_millis(),
                v.prices
            ));
        }
    }
    log
}

#[tokio::test]
async fn catalog_statements_agree() {
    let Some(pair) = Pair::new("catalog_statements_agree").await else {
        return;
    };
    let lite = catalog_scenario(&pair.sqlite).await;
    let pg = catalog_scenario(&pair.pg).await;
    assert_eq!(lite.len(), pg.len());
    for (a, b) in lite.iter().zip(&pg) {
        assert_eq!(a, b);
    }
    // A few of the results themselves.
    assert_eq!(lite[0], "Ok(true)");
    assert_eq!(lite[1], "Ok(())");
    assert_eq!(lite[2], "Ok(false)");
    assert!(lite[3].starts_with("Err(Conflict("), "{}", lite[3]);
    assert!(lite[5].starts_with("Err(Conflict("), "{}", lite[5]);
    assert!(lite[7].starts_with("Err(NotFound("), "{}", lite[7]);
    assert!(lite[10].starts_with("Err(Conflict("), "{}", lite[10]);
    assert!(lite[11].starts_with("Err(Unprocessable"), "{}", lite[11]);
    assert!(lite[12].starts_with("Err(Unprocessable"), "{}", lite[12]);
    assert!(lite[17].starts_with("Err(Unprocessable"), "{}", lite[17]);
    assert!(lite[18].starts_with("Err(NotFound("), "{}", lite[18]);
    let snapshot = pair.pg.load_catalog().await.unwrap();
    assert!(snapshot.get("zz-d").is_none());
    let b = snapshot.get("zz-b").unwrap();
    assert!(!b.model.open_weights);
    assert_eq!(b.related.len(), 2);
    assert_eq!(b.prices.len(), 1);
    assert_eq!(snapshot.get("zz-a").unwrap().prices.len(), 2);
    assert!(snapshot.get("zz-a").unwrap().related.is_empty());
    let p = snapshot.provider("zz-prov").unwrap();
    assert_eq!(p.total_timeout_ms, Some(i64::MAX as u64));
    assert_eq!(p.first_byte_timeout_ms, Some(42));
    pair.finish().await;
}

fn key(id: &str, created_ms: i64) -> ApiKey {
    ApiKey {
        id: id.into(),
        name: format!("key {id}"),
        team: (id != "k3").then(|| "team-a".to_string()),
        key_prefix: format!("tg-{id}"),
        allowed_models: (id == "k2").then(|| vec!["m1".to_string()]),
        expires_at: Some(at(T0 + 86_400_000)),
        disabled: id == "k2",
        revoked_at: None,
        metadata: serde_json::json!({"owner": id, "n": 1}),
        created_at: at(created_ms),
        budget: None,
        rate_limits: None,
        webhook_url: None,
        key_hash: format!("hash-{id}"),
    }
}

async fn keys_scenario(store: &Store) -> Vec<String> {
    let mut log = Vec::new();
    // Inserted out of order: load_keys orders by creation time, then id.
    for (id, ms) in [("k3", T0 + 5), ("k1", T0), ("k2", T0)] {
        log.push(outcome(&store.insert_key(&key(id, ms)).await));
    }
    // Same id: a database error (primary key).
    log.push(outcome(&store.insert_key(&key("k1", T0)).await));
    log.push(outcome(
        &store
            .patch_key(
                "k1",
                &[
                    ("name", Column::Text(Some("renamed".into()))),
                    ("disabled", Column::Bool(true)),
                    ("expires_at", Column::time(None)),
                    ("allowed_models", Column::json(Some(&vec!["a", "b"]))),
                    (
                        "webhook_url",
                        Column::Text(Some("https://hook.example".into())),
                    ),
                ],
            )
            .await,
    ));
    log.push(outcome(
        &store
            .patch_key("k2", &[("disabled", Column::Bool(false))])
            .await,
    ));
    log.push(outcome(
        &store
            .patch_key("nope", &[("disabled", Column::Bool(false))])
            .await,
    ));
    log.push(outcome(&store.revoke_key("k3", at(T0 + 100)).await));
    log.push(outcome(&store.revoke_key("k3", at(T0 + 200)).await));
    log.push(outcome(&store.revoke_key("nope", at(T0)).await));
    // Revocation is final: re-enabling is refused, other fields may change.
    log.push(outcome(
        &store
            .patch_key("k3", &[("disabled", Column::Bool(false))])
            .await,
    ));
    log.push(outcome(
        &store
            .patch_key("k3", &[("name", Column::Text(Some("old".into())))])
            .await,
    ));
    for k in store.load_keys().await.unwrap() {
        log.push(format!("{k:?}"));
    }
    log
}

#[tokio::test]
async fn key_statements_agree() {
    let Some(pair) = Pair::new("key_statements_agree").await else {
        return;
    };
    let lite = keys_scenario(&pair.sqlite).await;
    let pg = keys_scenario(&pair.pg).await;
    assert_eq!(lite, pg);
    assert_eq!(lite[3], "Err(Database)");
    assert_eq!(lite[4], "Ok(())");
    assert_eq!(lite[5], "Ok(())");
    assert!(lite[6].starts_with("Err(NotFound("), "{}", lite[6]);
    assert!(lite[9].starts_with("Err(NotFound("), "{}", lite[9]);
    assert!(lite[10].starts_with("Err(Conflict("), "{}", lite[10]);
    assert_eq!(lite[11], "Ok(())");
    let keys = pair.pg.load_keys().await.unwrap();
    let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["k1", "k2", "k3"]);
    assert!(keys[0].disabled && keys[0].expires_at.is_none());
    assert_eq!(keys[0].allowed_models, Some(vec!["a".into(), "b".into()]));
    assert!(!keys[1].disabled);
    assert_eq!(keys[2].revoked_at, Some(at(T0 + 100)));
    assert_eq!(keys[2].name, "old");
    pair.finish().await;
}

#[tokio::test]
async fn team_statements_agree() {
    let Some(pair) = Pair::new("team_statements_agree").await else {
        return;
    };
    // Teams are inserted and read with SQL here: their other statements are not in this file.
    pair.exec(
        "INSERT INTO teams (id, name, budget, rate_limits, webhook_url, metadata, created_at, updated_at) \
         VALUES ($1, $2, NULL, NULL, $3, $4, $5, $5)",
        &[
            text("team-a"),
            text("Team A"),
            text("https://a.example"),
            text("{}"),
            Bind::Int(Some(T0)),
        ],
    )
    .await;
    let columns = [
        ("name", Column::Text(Some("Team Ä".into()))),
        ("webhook_url", Column::Text(None)),
        (
            "budget",
            Column::json(Some(&serde_json::json!({"limit_usd": "5"}))),
        ),
    ];
    for store in [&pair.sqlite, &pair.pg] {
        store.patch_team("team-a", &columns).await.unwrap();
        let missing = store.patch_team("nope", &columns).await.unwrap_err();
        assert!(
            matches!(&missing, StoreError::NotFound(m) if m.contains("team 'nope'")),
            "{missing:?}"
        );
    }
    let row = pair
        .texts("SELECT name, webhook_url, budget, metadata FROM teams WHERE id = 'team-a'")
        .await;
    assert_eq!(
        row,
        [
            Some("Team Ä".into()),
            None,
            Some(r#"{"limit_usd":"5"}"#.into()),
            Some("{}".into())
        ]
    );
    pair.finish().await;
}

/// A usage record for the reports (written with SQL: the ledger writer is in another file).
struct Rec {
    id: &'static str,
    at: i64,
    key: Option<&'static str>,
    team: Option<&'static str>,
    model: &'static str,
    provider: Option<&'static str>,
    status: &'static str,
    tokens: [i64; 6],
    cost: i64,
}

fn records() -> Vec<Rec> {
    let r = |id, at, key, team, model, provider, cost| Rec {
        id,
        at,
        key,
        team,
        model,
        provider,
        status: "ok",
        tokens: [100, 10, 5, 50, 7, 1],
        cost,
    };
    let mut v = vec![
        r(
            "u01",
            T0 + 1,
            Some("k1"),
            Some("team-a"),
            "m1",
            Some("p1"),
            1_234_567_890,
        ),
        r(
            "u02",
            T0 + 2,
            Some("k1"),
            Some("team-a"),
            "m1",
            Some("p1"),
            999_999,
        ),
        r(
            "u03",
            T0 + HOUR_MS + 3,
            Some("k2"),
            Some("team-a"),
            "m2",
            Some("p1"),
            1_000_000,
        ),
        r("u04", T0 + HOUR_MS + 4, None, None, "m2", None, 5),
        r(
            "u05",
            T0 + 2 * HOUR_MS,
            Some("k3"),
            None,
            "m1",
            Some("p2"),
            4_000_000_000_000_000_000,
        ),
        r(
            "u06",
            T0 + DAY_MS - 1,
            Some("k3"),
            None,
            "m1",
            Some("p2"),
            3_000_000_000_000_000_001,
        ),
        r(
            "u07",
            T0 + DAY_MS,
            Some("k1"),
            Some("team-a"),
            "m1",
            Some("p1"),
            0,
        ),
        r(
            "u08",
            T0 + DAY_MS + 30 * 60_000,
            Some("k2"),
            Some("team-a"),
            "m2",
            Some("p1"),
            777,
        ),
        r(
            "u09",
            T0 + 2 * DAY_MS + 5,
            Some("k1"),
            Some("team-a"),
            "m1",
            Some("p1"),
            123,
        ),
        // Same start as u09: the audit order falls back to the ledger position.
        r(
            "u10",
            T0 + 2 * DAY_MS + 5,
            Some("k2"),
            None,
            "m1",
            Some("p1"),
            456,
        ),
    ];
    v[3].status = "upstream_error";
    v[3].tokens = [0; 6];
    v[7].tokens = [1_000_000_000, 0, 0, 1, 0, 0];
    v
}

async fn insert_records(pair: &Pair) {
    for r in records() {
        let opt = |s: Option<&str>| Bind::Text(s.map(str::to_string));
        pair.exec(
            "INSERT INTO usage_records (id, started_at, finished_at, key_id, team_id, model_id, provider_id, \
             upstream_model, endpoint, streamed, status, http_status, upstream_status, input_tokens, \
             cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, usage_source, \
             price_version_id, cost_picos, latency_ms, ttft_ms, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
             $20, $21, $22, $23, $24, $25)",
            &[
                text(r.id),
                Bind::Int(Some(r.at)),
                Bind::Int(Some(r.at + 900)),
                opt(r.key),
                opt(r.team),
                text(r.model),
                opt(r.provider),
                text("upstream-x"),
                text("openai_chat"),
                Bind::Bool(r.id.ends_with('2')),
                text(r.status),
                Bind::Int(Some(200)),
                Bind::Int(None),
                Bind::Int(Some(r.tokens[0])),
                Bind::Int(Some(r.tokens[1])),
                Bind::Int(Some(r.tokens[2])),
                Bind::Int(Some(r.tokens[3])),
                Bind::Int(Some(r.tokens[4])),
                Bind::Int(Some(r.tokens[5])),
                text("upstream"),
                Bind::Int(Some(1)),
                Bind::Int(Some(r.cost)),
                Bind::Int(Some(900)),
                Bind::Int(None),
                Bind::Text(None),
            ],
        )
        .await;
    }
    for (id, usage, delta) in [("a1", "u02", -999_999), ("a2", "u01", 10), ("a3", "u02", 5)] {
        pair.exec(
            "INSERT INTO usage_adjustments (id, usage_id, created_at, kind, reason, cost_delta_picos, price_version_id) \
             VALUES ($1, $2, $3, 'refund', NULL, $4, NULL)",
            &[text(id), text(usage), Bind::Int(Some(T0 + 10)), Bind::Int(Some(delta))],
        )
        .await;
    }
}

fn sorted<T: std::fmt::Debug>(rows: Vec<T>) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(|r| format!("{r:?}")).collect();
    v.sort();
    v
}

async fn reports_scenario(store: &Store) -> Vec<String> {
    let mut log = Vec::new();
    let all = Filters::default();
    let key1 = Filters {
        key: Some("k1".into()),
        ..Filters::default()
    };
    let no_team = Filters {
        team: Some(String::new()),
        ..Filters::default()
    };
    let dims_sets: [&[Dim]; 4] = [
        &[],
        &[Dim::Model],
        &[Dim::Key, Dim::Team],
        &[Dim::Provider, Dim::Model, Dim::Team, Dim::Key],
    ];
    let (start, end) = (T0, T0 + 3 * DAY_MS);
    for source in [Source::Records, Source::Hourly, Source::Daily] {
        for dims in dims_sets {
            for by_time in [false, true] {
                for f in [&all, &key1, &no_team] {
                    let rows = store
                        .spend_segment(source, start, end, dims, by_time, f)
                        .await
                        .unwrap();
                    log.push(format!("{source:?} {dims:?} {by_time} {f:?}"));
                    log.extend(sorted(rows));
                }
            }
        }
    }
    // A partial range, where the bounds fall inside buckets.
    let rows = store
        .spend_segment(
            Source::Records,
            T0 + 2,
            T0 + DAY_MS,
            &[Dim::Key],
            true,
            &all,
        )
        .await
        .unwrap();
    log.extend(sorted(rows));
    let hours = [T0, T0 + HOUR_MS, T0 + 2 * HOUR_MS, T0 + DAY_MS];
    for dims in dims_sets {
        let rows = store.spend_hours(&hours, dims, &all).await.unwrap();
        log.extend(sorted(rows));
    }
    log.push(format!(
        "{:?}",
        store.spend_hours(&[], &[Dim::Key], &all).await.unwrap()
    ));
    let calls = store.calls_of_model(&all, "m1", start, end).await.unwrap();
    log.extend(sorted(calls));
    let calls = store.calls_of_model(&key1, "m2", start, end).await.unwrap();
    log.extend(sorted(calls));
    let ids: Vec<String> = ["u01", "u02", "u03", "nope"].map(String::from).to_vec();
    for a in store.adjustments_for(&ids).await.unwrap() {
        log.push(format!("{a:?}"));
    }
    log.push(format!("{:?}", store.adjustments_for(&[]).await.unwrap()));
    log
}

/// The totals of every record, adjustments included, for checking the reports' sums.
fn expected_total() -> (i64, i128) {
    let recs = records();
    let cost: i128 = recs.iter().map(|r| i128::from(r.cost)).sum::<i128>() + (-999_999 + 10 + 5);
    (recs.len() as i64, cost)
}

#[tokio::test]
async fn report_statements_agree() {
    let Some(pair) = Pair::new("report_statements_agree").await else {
        return;
    };
    insert_records(&pair).await;
    let lite = reports_scenario(&pair.sqlite).await;
    let pg = reports_scenario(&pair.pg).await;
    assert_eq!(lite.len(), pg.len());
    for (a, b) in lite.iter().zip(&pg) {
        assert_eq!(a, b);
    }
    // The ungrouped totals equal the records' exact sums, on both, from records and rollups.
    let (requests, cost) = expected_total();
    for store in [&pair.sqlite, &pair.pg] {
        for source in [Source::Records, Source::Hourly, Source::Daily] {
            let rows = store
                .spend_segment(source, T0, T0 + 3 * DAY_MS, &[], false, &Filters::default())
                .await
                .unwrap();
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].totals.requests, requests);
            // Rollups carry adjustments only when written through insert_adjustment; these
            // were inserted with SQL, so only the records' sums include them.
            let adjustments = if source == Source::Records {
                0
            } else {
                -999_999 + 10 + 5
            };
            assert_eq!(rows[0].totals.cost_picos + adjustments, cost, "{source:?}");
        }
    }
    pair.finish().await;
}

/// Audit pages (cursor paging by start time and ledger position) agree on both backends.
#[tokio::test]
async fn audit_pages_agree() {
    let Some(pair) = Pair::new("audit_pages_agree").await else {
        return;
    };
    insert_records(&pair).await;
    let filters = [
        Filters::default(),
        Filters {
            key: Some("k1".into()),
            ..Filters::default()
        },
    ];
    for f in &filters {
        for status in [None, Some("ok")] {
            let mut before = None;
            loop {
                let lite = pair
                    .sqlite
                    .list_usage(f, status, T0, T0 + 3 * DAY_MS, before, 3)
                    .await
                    .unwrap();
                let pg = pair
                    .pg
                    .list_usage(f, status, T0, T0 + 3 * DAY_MS, before, 3)
                    .await
                    .unwrap();
                assert_eq!(
                    lite.iter().map(|(_, r)| &r.id).collect::<Vec<_>>(),
                    pg.iter().map(|(_, r)| &r.id).collect::<Vec<_>>()
                );
                let Some((seq, r)) = lite.last() else { break };
                before = Some(tollgate::store::reports::AuditPosition {
                    started_at: r.started_at.timestamp_millis(),
                    seq: *seq,
                });
            }
        }
    }
    pair.finish().await;
}

fn usage_record(id: &str, started_ms: i64) -> UsageRecord {
    UsageRecord {
        id: id.into(),
        started_at: at(started_ms),
        finished_at: at(started_ms + 900),
        key_id: Some("k1".into()),
        team_id: Some("team-a".into()),
        model_id: "m1".into(),
        requested_model: None,
        provider_id: Some("p1".into()),
        upstream_model: Some("upstream-x".into()),
        endpoint: Endpoint::OpenaiChat,
        streamed: false,
        status: CallStatus::Ok,
        http_status: 200,
        upstream_status: None,
        usage: Usage::default(),
        usage_source: UsageSource::Upstream,
        price_version_id: Some(1),
        cost: Decimal::ZERO,
        latency_ms: 900,
        ttft_ms: None,
        error: None,
        usage_note: None,
    }
}

/// `insert_adjustment` adds to the rollups (and budget counters) and checks the net cost it was
/// computed from, the same on both backends.
#[tokio::test]
async fn adjustments_agree() {
    let Some(pair) = Pair::new("adjustments_agree").await else {
        return;
    };
    insert_records(&pair).await;
    let record = usage_record("u01", T0 + 1);
    let adj = AdjustmentRow {
        id: "a9".into(),
        usage_id: "u01".into(),
        created_at: T0 + 20,
        kind: "refund".into(),
        reason: Some("test".into()),
        cost_delta_picos: -1_000,
        price_version_id: None,
    };
    let net = 1_234_567_890 + 10;
    let stale = pair
        .sqlite
        .insert_adjustment(&adj, &record, net - 1)
        .await
        .unwrap_err();
    assert!(matches!(stale, StoreError::Conflict(_)), "{stale:?}");
    pair.sqlite
        .insert_adjustment(&adj, &record, net)
        .await
        .unwrap();
    let rollup = |store: Store| async move {
        store
            .spend_segment(
                Source::Hourly,
                T0,
                T0 + HOUR_MS,
                &[],
                false,
                &Filters::default(),
            )
            .await
            .unwrap()[0]
            .totals
            .cost_picos
    };
    let lite_hour = rollup(pair.sqlite.clone()).await;
    match pair.pg.insert_adjustment(&adj, &record, net - 1).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("stale net cost on PostgreSQL: {other:?}"),
    }
    pair.pg.insert_adjustment(&adj, &record, net).await.unwrap();
    assert_eq!(rollup(pair.pg.clone()).await, lite_hour);
    let ids = ["u01".to_string()];
    assert_eq!(
        pair.pg.adjustments_for(&ids).await.unwrap().len(),
        pair.sqlite.adjustments_for(&ids).await.unwrap().len()
    );
    pair.finish().await;
}

/// On PostgreSQL the price append and the related-list replacement lock the model's row
/// (SQLite's `BEGIN IMMEDIATE` serialises them by itself): concurrent appends keep the history
/// in order of insertion, and concurrent replacements never collide.
#[tokio::test]
async fn concurrent_catalog_writes_are_serialised() {
    let Some(pair) = Pair::new("concurrent_catalog_writes_are_serialised").await else {
        return;
    };
    for store in [&pair.sqlite, &pair.pg] {
        store.insert_provider(&provider("p")).await.unwrap();
        for id in ["m", "r1", "r2", "r3"] {
            store.insert_model(&model(id, "p"), &[], &[]).await.unwrap();
        }
        // Effective times in an order that differs from any likely completion order.
        let appends = (0..24i64).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let from = T0 + (i * 7919) % 24;
                store
                    .insert_price("m", &prices("1", T0), at(from))
                    .await
                    .map(|v| (v.id, v.effective_from))
            })
        });
        let replaces = (0..24usize).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut list = vec!["r1".to_string(), "r2".to_string(), "r3".to_string()];
                list.rotate_left(i % 3);
                list.truncate(1 + i % 3);
                store.set_related("m", &list).await
            })
        });
        let (appends, replaces) = tokio::join!(
            futures::future::join_all(appends),
            futures::future::join_all(replaces)
        );
        let mut written = Vec::new();
        for r in appends {
            match r.unwrap() {
                Ok(v) => written.push(v),
                Err(StoreError::Unprocessable { .. }) => {}
                Err(e) => panic!("{:?}: {e}", store.backend()),
            }
        }
        for r in replaces {
            r.unwrap().unwrap();
        }
        // In the order they were written (id), every version is later than the one before.
        written.sort();
        assert!(!written.is_empty());
        for w in written.windows(2) {
            assert!(w[0].1 < w[1].1, "{:?}: {written:?}", store.backend());
        }
        let catalog = store.load_catalog().await.unwrap();
        let entry = catalog.get("m").unwrap();
        assert_eq!(entry.prices.len(), written.len());
        assert!((1..=3).contains(&entry.related.len()));
    }
    pair.finish().await;
}
