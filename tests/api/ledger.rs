//! The usage ledger at the store, on a real SQLite file: a batch is all or nothing, a failed
//! batch leaves the metering writer's connection usable, and the ledgers refuse updates and
//! deletes whatever code runs against the database.

use sqlx::Connection;
use tollgate::metering::{CallStart, Endpoint, UsageRecord};
use tollgate::store::Store;

use crate::reports::record;

fn call(id: &str, model: &str) -> UsageRecord {
    record(
        id,
        "key_a",
        "team-a",
        model,
        "mock",
        "2026-11-20T10:00:00Z",
        1000,
        500,
        "0.005",
    )
}

async fn fresh() -> (tempfile::TempDir, String, Store) {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let store = Store::connect(&url).await.unwrap();
    (dir, url, store)
}

async fn records(url: &str) -> i64 {
    let mut raw = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM usage_records")
        .fetch_one(&mut raw)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_failed_batch_writes_nothing_and_the_writer_carries_on() {
    let (_dir, url, store) = fresh().await;
    // Make one record fail inside the batch's transaction, after another was inserted.
    let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER fail_boom BEFORE INSERT ON usage_records WHEN NEW.model_id = 'boom' \
         BEGIN SELECT RAISE(ABORT, 'boom'); END",
    )
    .execute(&mut raw)
    .await
    .unwrap();

    // The batch's first statement (a call start) succeeds before its records fail.
    let start = CallStart {
        id: "gen_s".into(),
        started_at: chrono::Utc::now(),
        key_id: None,
        team_id: None,
        model_id: "m".into(),
        requested_model: None,
        provider_id: None,
        upstream_model: None,
        endpoint: Endpoint::OpenaiChat,
        streamed: true,
        price_version_id: None,
    };
    let mut ledger = store.ledger_connection();
    let failed = ledger
        .write_batch(
            &[start],
            &[call("gen_a", "m"), call("gen_b", "boom")],
            &[],
            &[],
        )
        .await;
    assert!(failed.is_err(), "the batch fails");
    assert!(
        store.usage_record("gen_a").await.unwrap().is_none(),
        "nothing of a failed batch is kept"
    );
    let starts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM call_starts")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(starts, 0, "the failed batch's start was rolled back");

    ledger
        .write_batch(&[], &[call("gen_c", "m")], &[], &[])
        .await
        .expect("the next batch commits");
    assert!(store.usage_record("gen_c").await.unwrap().is_some());

    // The pooled path (used outside the writer) rolls back and carries on the same way.
    assert!(store
        .write_usage_batch(&[], &[call("gen_d", "m"), call("gen_e", "boom")])
        .await
        .is_err());
    store
        .write_usage_batch(&[], &[call("gen_f", "m")])
        .await
        .unwrap();
    assert!(store.usage_record("gen_d").await.unwrap().is_none());
    assert_eq!(records(&url).await, 2, "gen_c and gen_f only");
}

#[tokio::test]
async fn the_ledgers_refuse_updates_and_deletes() {
    let (_dir, url, store) = fresh().await;
    store
        .write_usage_batch(&[], &[call("gen_kept", "m")])
        .await
        .unwrap();
    let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for sql in [
        "UPDATE usage_records SET cost_picos = 0 WHERE id = 'gen_kept'",
        "DELETE FROM usage_records WHERE id = 'gen_kept'",
    ] {
        let err = sqlx::query(sql).execute(&mut raw).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let kept = store.usage_record("gen_kept").await.unwrap().unwrap();
    assert_eq!(kept.cost.to_string(), "0.005");
    sqlx::query(
        "INSERT INTO usage_adjustments (id, usage_id, created_at, kind, cost_delta_picos) \
         VALUES ('adj_1', 'gen_kept', 0, 'refund', -5000000000)",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO credit_entries (id, owner_kind, owner_id, kind, amount_picos, created_at) \
         VALUES ('cred_1', 'key', 'key_a', 'grant', 1000, 0)",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    for sql in [
        "UPDATE usage_adjustments SET cost_delta_picos = 0",
        "DELETE FROM usage_adjustments",
        "UPDATE credit_entries SET amount_picos = 0",
        "DELETE FROM credit_entries",
    ] {
        let err = sqlx::query(sql).execute(&mut raw).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

/// A record the database refuses (here a cost beyond what a 64-bit picodollar column holds)
/// is written in its quarantined form, and the records batched with it are all kept.
#[tokio::test]
async fn a_poisoned_record_costs_no_other_record_its_place() {
    let (_dir, url, store) = fresh().await;
    let meter = tollgate::metering::Meter::spawn(store.clone(), Default::default());
    let mut poisoned = call("gen_poison", "m");
    poisoned.cost = "10000000".parse().unwrap();
    let mut writes = vec![meter.record(poisoned)];
    for i in 0..100 {
        writes.push(meter.record(call(&format!("gen_ok_{i}"), "m")));
    }
    let results = futures::future::join_all(writes).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(records(&url).await, 101);
    let kept = store.usage_record("gen_poison").await.unwrap().unwrap();
    assert_eq!(kept.cost.to_string(), "0");
    let note = kept.usage_note.unwrap();
    assert!(
        note.contains("refused") && note.contains("10000000"),
        "{note}"
    );
    let ok = store.usage_record("gen_ok_42").await.unwrap().unwrap();
    assert_eq!(ok.cost.to_string(), "0.005");
    meter.shutdown().await;
}
