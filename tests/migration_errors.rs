//! Migration 0015 (rollups count failed calls): on a database with records written before it,
//! the existing rollups get their `errors` from the records, and records written after it are
//! counted by the re-created triggers (SQLite) or the replaced trigger function (PostgreSQL).
//!
//! The PostgreSQL half needs `TOLLGATE_TEST_POSTGRES_URL` (a server URL such as
//! `postgres://postgres@127.0.0.1:5432`, a user who may create databases); without it, it
//! prints SKIPPED and passes.

use std::borrow::Cow;
use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::Executor;

#[path = "support/pg_scratch.rs"]
mod pg_scratch;
use pg_scratch::DbGuard;

/// Calls before the migration: two in the first UTC hour of key k1 (one failed), a timeout and
/// a refusal (of a team, no key) in the second hour.
const BEFORE: &str = "INSERT INTO usage_records (id, started_at, finished_at, key_id, team_id, model_id, provider_id, \
    endpoint, streamed, status, http_status, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, \
    reasoning_tokens, images, usage_source, cost_picos, latency_ms) VALUES \
    ('a', 1000, 1000, 'k1', NULL, 'm1', 'p', 'openai_chat', FALSE, 'ok', 200, 1, 0, 0, 1, 0, 0, 'upstream', 5, 1), \
    ('b', 2000, 2000, 'k1', NULL, 'm1', 'p', 'openai_chat', FALSE, 'upstream_error', 502, 0, 0, 0, 0, 0, 0, 'upstream', 0, 1), \
    ('c', 3700000, 3700000, 'k1', NULL, 'm1', 'p', 'openai_chat', FALSE, 'timeout', 504, 0, 0, 0, 0, 0, 0, 'upstream', 0, 1), \
    ('d', 3800000, 3800000, NULL, 't', 'm2', NULL, 'openai_chat', FALSE, 'rejected', 402, 0, 0, 0, 0, 0, 0, 'upstream', 0, 1)";

/// Calls after it: a broken stream and a success in k1's first hour.
const AFTER: &str = "INSERT INTO usage_records (id, started_at, finished_at, key_id, team_id, model_id, provider_id, \
    endpoint, streamed, status, http_status, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, \
    reasoning_tokens, images, usage_source, cost_picos, latency_ms) VALUES \
    ('e', 4000, 4000, 'k1', NULL, 'm1', 'p', 'openai_chat', FALSE, 'stream_error', 200, 0, 0, 0, 0, 0, 0, 'upstream', 0, 1), \
    ('f', 5000, 5000, 'k1', NULL, 'm1', 'p', 'openai_chat', FALSE, 'ok', 200, 0, 0, 0, 0, 0, 0, 'upstream', 0, 1)";

const HOURLY: &str =
    "SELECT bucket, key_id, team_id, model_id, requests, errors FROM usage_rollups_hourly \
    ORDER BY bucket, key_id, team_id, model_id";
const DAILY: &str =
    "SELECT bucket, key_id, team_id, model_id, requests, errors FROM usage_rollups_daily \
    ORDER BY bucket, key_id, team_id, model_id";

type Row = (i64, String, String, String, i64, i64);

fn row(bucket: i64, key: &str, team: &str, model: &str, requests: i64, errors: i64) -> Row {
    (
        bucket,
        key.into(),
        team.into(),
        model.into(),
        requests,
        errors,
    )
}

/// Only the migrations before 0015 of `m`.
fn before_0015(mut m: Migrator) -> Migrator {
    m.migrations = Cow::Owned(
        m.migrations
            .iter()
            .filter(|x| x.version < 15)
            .cloned()
            .collect(),
    );
    m
}

fn expected_backfill() -> Vec<Row> {
    vec![
        row(0, "k1", "", "m1", 2, 1),
        row(3_600_000, "", "t", "m2", 1, 1),
        row(3_600_000, "k1", "", "m1", 1, 1),
    ]
}

fn expected_daily_after() -> Vec<Row> {
    vec![row(0, "", "t", "m2", 1, 1), row(0, "k1", "", "m1", 5, 3)]
}

/// Migrates `$pool` to just before 0015, writes [`BEFORE`], migrates to the end, checks the
/// backfilled hourly rollups, writes [`AFTER`] and checks the daily rollups the triggers kept.
/// (A macro: `sqlx::migrate!` takes its directory as a literal, and the pools differ in type.)
macro_rules! migrate_and_check {
    ($pool:expr, $dir:literal) => {{
        let pool = $pool;
        before_0015(sqlx::migrate!($dir)).run(&pool).await.unwrap();
        pool.execute(BEFORE).await.unwrap();
        sqlx::migrate!($dir).run(&pool).await.unwrap();
        let hourly: Vec<Row> = sqlx::query_as(HOURLY).fetch_all(&pool).await.unwrap();
        assert_eq!(hourly, expected_backfill(), "{}", $dir);
        pool.execute(AFTER).await.unwrap();
        let daily: Vec<Row> = sqlx::query_as(DAILY).fetch_all(&pool).await.unwrap();
        assert_eq!(daily, expected_daily_after(), "{}", $dir);
        pool.close().await;
    }};
}

#[tokio::test]
async fn sqlite_rollups_count_the_failures_of_earlier_and_later_records() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}/m.db", dir.path().display());
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    migrate_and_check!(pool, "./migrations/sqlite");
}

#[tokio::test]
async fn postgres_rollups_count_the_failures_of_earlier_and_later_records() {
    let Ok(server) = std::env::var("TOLLGATE_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED: TOLLGATE_TEST_POSTGRES_URL is not set");
        return;
    };
    let scratch = DbGuard::create(&server).await;
    let pool = sqlx::PgPool::connect(&scratch.url()).await.unwrap();
    migrate_and_check!(pool, "./migrations/postgres");
    drop(scratch);
}
