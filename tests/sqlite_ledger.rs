//! The metering writer's settling batches on a real SQLite file: a batch's budget and balance
//! settlements go in the same script as its records, and a record already in the ledger must
//! not be charged again (the script is rolled back and only the new records settle).

use chrono::{TimeZone, Utc};
use tollgate::budgets::enforce::{Account, Line, Scope, Settlement};
use tollgate::budgets::{Budget, Mode, Period};
use tollgate::metering::{CallStart, CallStatus, Endpoint, Meter, UsageRecord};
use tollgate::store::Store;

/// A store on a fresh SQLite file (kept alive by the returned directory).
async fn fresh() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    (Store::connect(&url).await.expect("migrates"), dir)
}

/// A finished call of key `key_a` costing `cost` USD.
fn record(id: &str, cost: &str) -> UsageRecord {
    let start = CallStart {
        id: id.into(),
        started_at: Utc.with_ymd_and_hms(2026, 11, 20, 10, 5, 0).unwrap(),
        key_id: Some("key_a".into()),
        team_id: None,
        model_id: "m".into(),
        requested_model: None,
        provider_id: Some("p".into()),
        upstream_model: Some("u".into()),
        endpoint: Endpoint::OpenaiChat,
        streamed: false,
        price_version_id: None,
    };
    let mut r = UsageRecord::from_start(&start, CallStatus::Ok, 200);
    r.cost = cost.parse().unwrap();
    r
}

/// A hard $1 key budget that alerts at half, and key `key_a`'s prepaid balance.
fn lines(amount: i64) -> Vec<Line> {
    let budget = Budget {
        limit_usd: "1".parse().unwrap(),
        period: Period::Total,
        mode: Mode::Hard,
        alert_thresholds: vec!["0.5".parse().unwrap()],
    };
    vec![
        Line {
            account: Account::Budget {
                scope: Scope::Key,
                id: "key_a".into(),
                budget,
                period_start: 0,
                period_end: None,
                webhook: None,
            },
            amount_picos: amount,
        },
        Line {
            account: Account::Credit {
                owner: Scope::Key,
                id: "key_a".into(),
                webhook: None,
            },
            amount_picos: amount,
        },
    ]
}

fn settlement(amount: i64) -> Option<Settlement> {
    Some(Settlement {
        lines: lines(amount),
        ..Settlement::default()
    })
}

const DOLLAR: i64 = 1_000_000_000_000;

#[tokio::test]
async fn a_batch_settles_its_records_once_even_when_one_is_written_again() {
    let (store, _dir) = fresh().await;
    store
        .grant_credit("key", "key_a", "grant", 10 * DOLLAR, None)
        .await
        .unwrap();
    let meter = Meter::spawn(store.clone(), Default::default());
    // Two calls of $0.30 each: spend crosses the budget's half on the second.
    for call in ["gen_1", "gen_2"] {
        let got = meter.reserve(call, &lines(DOLLAR / 2)).await.unwrap();
        assert!(got.is_ok(), "{got:?}");
    }
    for call in ["gen_1", "gen_2"] {
        meter
            .record_settled(record(call, "0.3"), settlement(DOLLAR / 2))
            .await
            .unwrap();
    }
    let (spent, held) = store.budget_status("key", "key_a", 0, None).await.unwrap();
    assert_eq!((spent, held), (6 * DOLLAR / 10, 0));
    let alerts = store.list_alerts(10).await.unwrap();
    assert_eq!(
        alerts.len(),
        1,
        "the half-way threshold alerts once: {alerts:?}"
    );
    assert_eq!(alerts[0].scope_id, "key_a");

    // gen_2 written again (a retried batch) beside a new call, gen_3: the ledger keeps one
    // gen_2, and only gen_3 is charged, to the budget and to the balance.
    assert!(meter
        .reserve("gen_3", &lines(DOLLAR / 10))
        .await
        .unwrap()
        .is_ok());
    let again = meter.record_settled(record("gen_2", "0.3"), settlement(DOLLAR / 2));
    let third = meter.record_settled(record("gen_3", "0.1"), settlement(DOLLAR / 10));
    let (again, third) = tokio::join!(again, third);
    again.unwrap();
    third.unwrap();
    let (spent, held) = store.budget_status("key", "key_a", 0, None).await.unwrap();
    assert_eq!(spent, 7 * DOLLAR / 10, "gen_2 is not charged twice");
    assert_eq!(held, 0, "nothing stays held");
    let (balance, held) = store.balance("key", "key_a").await.unwrap().unwrap();
    assert_eq!((balance, held), (10 * DOLLAR - 7 * DOLLAR / 10, 0));
    let entries = store
        .credit_entries("key", "key_a", None, 10)
        .await
        .unwrap();
    assert_eq!(entries.len(), 4, "the grant and one charge per call");
    assert_eq!(store.list_alerts(10).await.unwrap().len(), 1);

    // gen_3 written again on its own: a batch whose only record is in the ledger already
    // settles nothing (its insert adds no row, so the batch does not count as new).
    meter
        .record_settled(record("gen_3", "0.1"), settlement(DOLLAR / 10))
        .await
        .unwrap();
    let (spent, _) = store.budget_status("key", "key_a", 0, None).await.unwrap();
    assert_eq!(spent, 7 * DOLLAR / 10, "gen_3 is not charged twice");
    let (balance, _) = store.balance("key", "key_a").await.unwrap().unwrap();
    assert_eq!(balance, 10 * DOLLAR - 7 * DOLLAR / 10);
    meter.shutdown().await;
}
