//! The usage ledger on PostgreSQL: records and starts written by the metering writer's batch,
//! rollups kept by trigger, crash close-out. Runs when `TOLLGATE_TEST_POSTGRES_URL` names a
//! PostgreSQL server (CI sets it); otherwise each test says it is skipped.

use chrono::{TimeZone, Utc};
use tollgate::budgets::enforce::Line;
use tollgate::metering::{CallStart, CallStatus, Endpoint, Meter, UsageRecord, UsageSource};
use tollgate::pricing::Usage;
use tollgate::store::Store;

/// A fresh database on the test server, dropped by the returned guard's `drop_db`.
async fn fresh() -> Option<(Store, String, String)> {
    let Ok(server) = std::env::var("TOLLGATE_TEST_POSTGRES_URL") else {
        eprintln!(
            "SKIPPED: TOLLGATE_TEST_POSTGRES_URL is not set; PostgreSQL ledger tests not run"
        );
        return None;
    };
    let name = format!("tg_ledger_{}", uuid::Uuid::now_v7().simple());
    let admin = format!("{}/postgres", server.trim_end_matches('/'));
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("the PostgreSQL test server answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let url = format!("{}/{name}", server.trim_end_matches('/'));
    let store = Store::connect(&url).await.expect("migrates");
    Some((store, admin, name))
}

async fn drop_db(store: Store, admin: &str, name: &str) {
    store.close().await;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin)
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
}

fn record(id: &str, key: &str, hour: u32, cost: &str) -> UsageRecord {
    let start = CallStart {
        id: id.into(),
        started_at: Utc.with_ymd_and_hms(2026, 11, 20, hour, 5, 0).unwrap(),
        key_id: Some(key.into()),
        team_id: Some("team-a".into()),
        model_id: "m".into(),
        requested_model: None,
        provider_id: Some("p".into()),
        upstream_model: Some("u".into()),
        endpoint: Endpoint::OpenaiChat,
        streamed: hour.is_multiple_of(2),
        price_version_id: None,
    };
    let mut r = UsageRecord::from_start(&start, CallStatus::Ok, 200);
    r.usage = Usage {
        input_tokens: 1000,
        output_tokens: 500,
        ..Usage::default()
    };
    r.usage_source = UsageSource::Upstream;
    r.cost = cost.parse().unwrap();
    r.usage_note = Some("note".into());
    r
}

#[tokio::test]
async fn the_writer_commits_records_and_rollups_on_postgres() {
    let Some((store, admin, name)) = fresh().await else {
        return;
    };
    let meter = Meter::spawn(store.clone(), Default::default());
    let writes = (0..50u32).map(|i| {
        meter.record(record(
            &format!("gen_{i}"),
            if i.is_multiple_of(2) {
                "key_a"
            } else {
                "key_b"
            },
            10 + (i % 3),
            "0.005",
        ))
    });
    let results = futures::future::join_all(writes).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // Idempotent by id: the same record again keeps the first.
    meter
        .record(record("gen_0", "key_a", 10, "9"))
        .await
        .unwrap();
    let kept = store.usage_record("gen_0").await.unwrap().unwrap();
    assert_eq!(kept.cost.to_string(), "0.005");
    assert_eq!(kept.usage_note.as_deref(), Some("note"));
    assert!(kept.streamed);
    // A poisoned record is quarantined, the others kept.
    let mut poisoned = record("gen_poison", "key_a", 11, "0.005");
    poisoned.cost = "10000000".parse().unwrap();
    let (p, ok) = futures::future::join(
        meter.record(poisoned),
        meter.record(record("gen_ok", "key_a", 11, "0.005")),
    )
    .await;
    assert!(p.is_ok() && ok.is_ok());
    assert_eq!(
        store
            .usage_record("gen_poison")
            .await
            .unwrap()
            .unwrap()
            .cost
            .to_string(),
        "0"
    );
    meter.shutdown().await;
    // The rollups hold exactly the ledger's sums (51 calls of 0.005 USD, the quarantined one 0).
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&format!(
        "{}/{name}",
        admin.trim_end_matches("/postgres")
    ))
    .await
    .unwrap();
    for table in ["usage_rollups_hourly", "usage_rollups_daily"] {
        let (cost,): (i64,) = sqlx::query_as(&format!(
            "SELECT CAST(SUM(cost_picos) AS BIGINT) FROM {table}"
        ))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(cost, 51 * 5_000_000_000, "{table}");
    }
    drop(conn);
    drop_db(store, &admin, &name).await;
}

#[tokio::test]
async fn calls_cut_short_are_closed_out_on_postgres() {
    let Some((store, admin, name)) = fresh().await else {
        return;
    };
    let start = CallStart {
        id: "gen_cut".into(),
        started_at: Utc::now(),
        key_id: Some("key_a".into()),
        team_id: None,
        model_id: "m".into(),
        requested_model: None,
        provider_id: None,
        upstream_model: None,
        endpoint: Endpoint::AnthropicMessages,
        streamed: true,
        price_version_id: None,
    };
    store.write_usage_batch(&[start], &[]).await.unwrap();
    assert_eq!(store.close_out_interrupted().await.unwrap(), 1);
    let r = store.usage_record("gen_cut").await.unwrap().unwrap();
    assert_eq!(r.status, CallStatus::Interrupted);
    assert_eq!(store.close_out_interrupted().await.unwrap(), 0);
    drop_db(store, &admin, &name).await;
}

/// A long call's start is written once it has waited its delay, and removed by the batch that
/// writes the call's record (the same statement), so a finished call leaves no start behind
/// for recovery to close out as `interrupted`.
#[tokio::test]
async fn a_long_calls_start_is_removed_with_its_record() {
    let Some((store, admin, name)) = fresh().await else {
        return;
    };
    let url = format!("{}/{name}", admin.trim_end_matches("/postgres"));
    let starts = || async {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM call_starts")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        n
    };
    let meter = Meter::spawn(store.clone(), Default::default());
    let long = record("gen_long", "key_a", 10, "0.005");
    meter.started(CallStart {
        id: long.id.clone(),
        started_at: long.started_at,
        key_id: long.key_id.clone(),
        team_id: long.team_id.clone(),
        model_id: long.model_id.clone(),
        requested_model: None,
        provider_id: long.provider_id.clone(),
        upstream_model: long.upstream_model.clone(),
        endpoint: long.endpoint,
        streamed: long.streamed,
        price_version_id: None,
    });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    // Any batch after the delay writes the ripe start.
    meter
        .record(record("gen_short", "key_a", 10, "0.005"))
        .await
        .unwrap();
    assert_eq!(starts().await, 1, "the long call's start is written");
    meter.record(long).await.unwrap();
    assert_eq!(starts().await, 0, "the finished call's start is removed");
    assert_eq!(store.close_out_interrupted().await.unwrap(), 0);
    let r = store.usage_record("gen_long").await.unwrap().unwrap();
    assert_eq!(r.status, CallStatus::Ok);
    meter.shutdown().await;
    drop_db(store, &admin, &name).await;
}

/// Recovery on a shared database touches only instances whose lease expired: a live replica's
/// calls in flight are left alone.
#[tokio::test]
async fn recovery_is_scoped_to_dead_instances() {
    let Some((a, admin, name)) = fresh().await else {
        return;
    };
    let url = format!("{}/{name}", admin.trim_end_matches("/postgres"));
    let b = Store::connect(&url).await.unwrap();
    assert_ne!(a.instance_id(), b.instance_id());
    a.heartbeat().await.unwrap();
    b.heartbeat().await.unwrap();
    let start = |id: &str| CallStart {
        id: id.into(),
        started_at: Utc::now(),
        key_id: Some("key_a".into()),
        team_id: None,
        model_id: "m".into(),
        requested_model: None,
        provider_id: None,
        upstream_model: None,
        endpoint: Endpoint::OpenaiChat,
        streamed: true,
        price_version_id: None,
    };
    a.write_usage_batch(&[start("gen_on_a")], &[])
        .await
        .unwrap();
    b.write_usage_batch(&[start("gen_on_b")], &[])
        .await
        .unwrap();
    let lease = std::time::Duration::from_secs(2);
    // Both alive: nothing to recover.
    let none = b.recover_dead_instances(lease).await.unwrap();
    assert_eq!((none.instances, none.calls), (0, 0));
    // A falls silent (its heartbeat is three seconds old).
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("UPDATE instances SET heartbeat_at = heartbeat_at - 3000 WHERE id = $1")
        .bind(a.instance_id())
        .execute(&mut conn)
        .await
        .unwrap();
    let recovered = b.recover_dead_instances(lease).await.unwrap();
    assert_eq!((recovered.instances, recovered.calls), (1, 1));
    let closed = b.usage_record("gen_on_a").await.unwrap().unwrap();
    assert_eq!(closed.status, CallStatus::Interrupted);
    assert!(
        b.usage_record("gen_on_b").await.unwrap().is_none(),
        "B's call is still in flight"
    );
    // A dead instance is recovered once.
    let again = b.recover_dead_instances(lease).await.unwrap();
    assert_eq!((again.instances, again.calls), (0, 0));
    drop(conn);
    a.close().await;
    drop_db(b, &admin, &name).await;
}

/// A line of `amount` picodollars on key `key`'s hard $1 budget.
fn hard_line(key: &str, amount: i64) -> tollgate::budgets::enforce::Line {
    use tollgate::budgets::enforce::{Account, Line, Scope};
    use tollgate::budgets::{Budget, Mode, Period};
    Line {
        account: Account::Budget {
            scope: Scope::Key,
            id: key.into(),
            budget: Budget {
                limit_usd: "1".parse().unwrap(),
                period: Period::Total,
                mode: Mode::Hard,
                alert_thresholds: vec![],
            },
            period_start: 0,
            period_end: None,
            webhook: None,
        },
        amount_picos: amount,
    }
}

fn settled(line: tollgate::budgets::enforce::Line) -> tollgate::budgets::enforce::Settlement {
    tollgate::budgets::enforce::Settlement {
        lines: vec![line],
        ..Default::default()
    }
}

/// Reservations commit asynchronously on PostgreSQL: one lost with a database crash is simply
/// absent. Its call still settles its cost, nothing is held afterwards, and what was held
/// before was exactly the reservations that exist.
#[tokio::test]
async fn a_lost_reservation_settles_its_cost_and_holds_nothing() {
    let Some((store, admin, name)) = fresh().await else {
        return;
    };
    let line = |call: &str| hard_line("key_a", 100_000_000_000 + i64::from(call == "gen_lost"));
    let meter = Meter::spawn(store.clone(), Default::default());
    for call in ["gen_kept", "gen_lost"] {
        let got = meter.reserve(call, &[line(call)]).await.unwrap();
        assert!(got.is_ok(), "{got:?}");
    }
    let (_, held) = store.budget_status("key", "key_a", 0, None).await.unwrap();
    assert_eq!(held, 200_000_000_001, "both reservations are held");
    let url = format!("{}/{name}", admin.trim_end_matches("/postgres"));
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    // The crash: gen_lost's reservation row never reached the disk.
    sqlx::query("DELETE FROM budget_reservations WHERE call_id = 'gen_lost'")
        .execute(&mut conn)
        .await
        .unwrap();
    let (_, held) = store.budget_status("key", "key_a", 0, None).await.unwrap();
    assert_eq!(held, 100_000_000_000, "what is held is the rows that exist");
    for call in ["gen_kept", "gen_lost"] {
        meter
            .record_settled(
                record(call, "key_a", 10, "0.005"),
                Some(settled(line(call))),
            )
            .await
            .unwrap();
    }
    let (spent, held) = store.budget_status("key", "key_a", 0, None).await.unwrap();
    assert_eq!(held, 0, "nothing stays held");
    assert_eq!(spent, 2 * 5_000_000_000, "both calls' costs are settled");
    meter.shutdown().await;
    drop(conn);
    drop_db(store, &admin, &name).await;
}

/// Two replicas reserve and settle on one hard budget at once, every call costing exactly
/// what it reserved, so each settlement turns a held amount into spent: a check that could
/// see a call as neither held nor spent, or two batches that read the same state, would admit
/// more than the limit holds, and a leaked hold fewer. Exactly limit / cost calls must get
/// through, whatever the interleaving; the race is run on eight budgets in turn, since an
/// unsafe interleaving only happens near the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_reservations_and_settlements_admit_exactly_what_the_limit_holds() {
    let Some((a, admin, name)) = fresh().await else {
        return;
    };
    let url = format!("{}/{name}", admin.trim_end_matches("/postgres"));
    let b = Store::connect(&url).await.unwrap();
    let meters = [
        Meter::spawn(a.clone(), Default::default()),
        Meter::spawn(b.clone(), Default::default()),
    ];
    for round in 0..8 {
        let key = format!("key_{round}");
        let admitted = race(&meters, &key).await;
        assert_eq!(admitted, 100, "{key}: 192 calls asked; exactly 100 fit");
        let (spent, held) = a.budget_status("key", &key, 0, None).await.unwrap();
        assert_eq!((spent, held), (100 * RACE_COST, 0), "{key}");
    }
    for m in meters {
        m.shutdown().await;
    }
    b.close().await;
    drop_db(a, &admin, &name).await;
}

/// $0.01 a call on a $1 budget: exactly 100 calls fit.
const RACE_COST: i64 = 10_000_000_000;

/// 16 workers, alternating between the two replicas' meters, each asking 12 times on `key`'s
/// budget and settling what it was granted at full cost; returns how many were granted.
async fn race(meters: &[Meter; 2], key: &str) -> u32 {
    let workers = (0..16).map(|w| {
        let meter = meters[w % 2].clone();
        let key = key.to_string();
        tokio::spawn(async move {
            let mut admitted = 0u32;
            for i in 0..12 {
                let call = format!("gen_{key}_{w}_{i}");
                let line = || hard_line(&key, RACE_COST);
                if meter.reserve(&call, &[line()]).await.unwrap().is_ok() {
                    admitted += 1;
                    let r = record(&call, &key, 10, "0.01");
                    meter
                        .record_settled(r, Some(settled(line())))
                        .await
                        .unwrap();
                }
            }
            admitted
        })
    });
    let mut admitted = 0;
    for w in futures::future::join_all(workers).await {
        admitted += w.unwrap();
    }
    admitted
}

/// Hostile bounds reach the reservation function unchanged: a maximum cost near `i64::MAX`
/// is refused by a hard budget with the whole limit named as remaining (no overflow in the
/// check), it holds nothing, and an ordinary call after it still fits.
#[tokio::test]
async fn a_bound_too_large_for_the_ledger_is_refused_and_holds_nothing() {
    let Some((store, admin, name)) = fresh().await else {
        return;
    };
    let meter = Meter::spawn(store.clone(), Default::default());
    // The first call creates the counter (the transaction path); the next ones take the
    // one-statement path.
    for (call, amount) in [("gen_first", 1), ("gen_huge", i64::MAX - 5)] {
        let got = meter
            .reserve(call, &[hard_line("key_h", amount)])
            .await
            .unwrap();
        if call == "gen_huge" {
            let refused = got.expect_err("a bound beyond the ledger is refused");
            assert_eq!(
                (refused.line, refused.remaining_picos),
                (0, 1_000_000_000_000 - 1)
            );
        } else {
            assert!(got.is_ok(), "{got:?}");
        }
    }
    let got = meter
        .reserve("gen_ok", &[hard_line("key_h", 10)])
        .await
        .unwrap();
    assert!(got.is_ok(), "{got:?}");
    let (_, held) = store.budget_status("key", "key_h", 0, None).await.unwrap();
    assert_eq!(held, 11, "only the calls let through are held");
    meter.shutdown().await;
    drop_db(store, &admin, &name).await;
}

/// A line of `amount` picodollars on key `key`'s hard $1 budget with alert `thresholds`, in
/// the period `start..end` (milliseconds).
fn alerting_line(
    key: &str,
    amount: i64,
    thresholds: &[f64],
    (start, end): (i64, Option<i64>),
) -> Line {
    use tollgate::budgets::enforce::Account;
    let mut line = hard_line(key, amount);
    if let Account::Budget {
        budget,
        period_start,
        period_end,
        ..
    } = &mut line.account
    {
        budget.alert_thresholds = thresholds.to_vec();
        *period_start = start;
        *period_end = end;
    }
    line
}

/// Reserves and settles one call of `usd` (its reservation exactly its cost) on key `key`'s
/// account as `line` makes it for an amount, as the gateway does.
async fn spend(meter: &Meter, call: &str, key: &str, usd: &str, line: &dyn Fn(i64) -> Line) {
    let picos = tollgate::money::to_picos(usd.parse().unwrap()).unwrap();
    let got = meter.reserve(call, &[line(picos)]).await.unwrap();
    assert!(got.is_ok(), "{call}: {got:?}");
    meter
        .record_settled(record(call, key, 10, usd), Some(settled(line(picos))))
        .await
        .unwrap();
}

async fn alert_keys(conn: &mut sqlx::PgConnection) -> Vec<String> {
    sqlx::query_scalar("SELECT dedupe_key FROM alerts ORDER BY seq")
        .fetch_all(conn)
        .await
        .unwrap()
}

/// Settlements on PostgreSQL go in the batch's one statement unless an alert could be due:
/// each threshold crossed and a projected overrun are still raised exactly once, at the call
/// that crossed it, and what was spent is exact on either path.
#[tokio::test]
async fn settlements_raise_each_alert_once_on_postgres() {
    let Some((store, admin, name)) = fresh().await else {
        return;
    };
    let url = format!("{}/{name}", admin.trim_end_matches("/postgres"));
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let meter = Meter::spawn(store.clone(), Default::default());
    let usd = 1_000_000_000_000i64;
    // Thresholds at 50% and 80% of $1, no period end (no projection).
    let t = |amount| alerting_line("key_t", amount, &[0.5, 0.8], (0, None));
    spend(&meter, "gen_t1", "key_t", "0.4", &t).await;
    let none: Vec<String> = vec![];
    assert_eq!(alert_keys(&mut conn).await, none, "40% crosses nothing");
    spend(&meter, "gen_t2", "key_t", "0.2", &t).await;
    spend(&meter, "gen_t3", "key_t", "0.1", &t).await;
    assert_eq!(
        alert_keys(&mut conn).await,
        ["threshold:key:key_t:0:0.5"],
        "60% crossed 50%; 70% crossed nothing more"
    );
    spend(&meter, "gen_t4", "key_t", "0.25", &t).await;
    assert_eq!(
        alert_keys(&mut conn).await,
        ["threshold:key:key_t:0:0.5", "threshold:key:key_t:0:0.8"]
    );
    let (spent, held) = store.budget_status("key", "key_t", 0, None).await.unwrap();
    assert_eq!((spent, held), (95 * usd / 100, 0));
    // A record written again (a batch retried after its commit's answer was lost), beside a
    // new one, likely in one batch: only the new one settles.
    let new = t(usd / 100);
    assert!(meter.reserve("gen_t5", &[new]).await.unwrap().is_ok());
    let (again, fresh) = tokio::join!(
        meter.record_settled(
            record("gen_t1", "key_t", 10, "0.4"),
            Some(settled(t(usd / 2)))
        ),
        meter.record_settled(
            record("gen_t5", "key_t", 10, "0.01"),
            Some(settled(t(usd / 100)))
        ),
    );
    again.unwrap();
    fresh.unwrap();
    let (spent, held) = store.budget_status("key", "key_t", 0, None).await.unwrap();
    assert_eq!((spent, held), (96 * usd / 100, 0), "gen_t1 settled once");
    assert_eq!(alert_keys(&mut conn).await.len(), 2);
    // Half of a two-hour period gone: the projection doubles the spend.
    let now = chrono::Utc::now().timestamp_millis();
    let period = (now - 3_600_000, Some(now + 3_600_000));
    let p = |amount| alerting_line("key_p", amount, &[], period);
    spend(&meter, "gen_p1", "key_p", "0.3", &p).await;
    spend(&meter, "gen_p2", "key_p", "0.15", &p).await;
    assert_eq!(alert_keys(&mut conn).await.len(), 2, "0.9 of 1 projected");
    spend(&meter, "gen_p3", "key_p", "0.1", &p).await;
    spend(&meter, "gen_p4", "key_p", "0.1", &p).await;
    let keys = alert_keys(&mut conn).await;
    assert_eq!(
        keys[2..],
        [format!("projected:key:key_p:{}", period.0)],
        "1.1 of 1 projected raised the alert once; 1.3 raised nothing more"
    );
    let (spent, held) = store
        .budget_status("key", "key_p", period.0, period.1)
        .await
        .unwrap();
    assert_eq!((spent, held), (65 * usd / 100, 0));
    meter.shutdown().await;
    drop(conn);
    drop_db(store, &admin, &name).await;
}

/// Budget leases: a call admitted from a lease holds nothing of its own. Its record lowers the
/// lease's row by what it was admitted for, in the record's own statement, so what is held
/// stays exact; a record written twice lowers nothing twice; a clean stop releases the lease.
#[tokio::test]
async fn a_lease_is_lowered_as_its_calls_settle_and_released_at_a_stop() {
    use std::time::{Duration, Instant};
    let Some((store, admin, name)) = fresh().await else {
        return;
    };
    const A: i64 = 100_000_000_000;
    let held = || async { store.budget_status("key", "key_a", 0, None).await.unwrap() };
    let meter = Meter::spawn(store.clone(), Default::default());
    meter.leases().enable(4);
    meter
        .leases()
        .alive(Instant::now(), Duration::from_secs(60));
    let line = || hard_line("key_a", A);
    let first = meter.admit("gen_1", &[line()]).await.unwrap().unwrap();
    assert!(first.is_none(), "the first call reserves a row of its own");
    // ... and asks for a lease of four calls' worth, granted in the background.
    let deadline = Instant::now() + Duration::from_secs(10);
    while held().await.1 != 5 * A {
        assert!(Instant::now() < deadline, "no lease: {:?}", held().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut holds = Vec::new();
    for call in ["gen_2", "gen_3"] {
        let hold = meter.admit(call, &[line()]).await.unwrap().unwrap();
        holds.push(hold.expect("admitted from the lease"));
    }
    assert_eq!(held().await, (0, 5 * A), "leased calls hold nothing more");
    let leased = |hold: &std::sync::Arc<tollgate::budgets::leases::Hold>| {
        Some(tollgate::budgets::enforce::Settlement {
            lease: Some(hold.clone()),
            ..settled(line())
        })
    };
    let five_cents = 50_000_000_000;
    meter
        .record_settled(record("gen_2", "key_a", 10, "0.05"), leased(&holds[0]))
        .await
        .unwrap();
    assert_eq!(
        held().await,
        (five_cents, 4 * A),
        "the lease's row is lowered by A"
    );
    meter
        .record_settled(record("gen_2", "key_a", 10, "0.05"), leased(&holds[0]))
        .await
        .unwrap();
    assert_eq!(
        held().await,
        (five_cents, 4 * A),
        "a record written twice lowers once"
    );
    meter
        .record_settled(record("gen_1", "key_a", 10, "0.05"), Some(settled(line())))
        .await
        .unwrap();
    meter
        .record_settled(record("gen_3", "key_a", 10, "0.05"), leased(&holds[1]))
        .await
        .unwrap();
    assert_eq!(
        held().await,
        (3 * five_cents, 2 * A),
        "two calls' worth of the lease is left"
    );
    meter.shutdown().await;
    assert_eq!(
        held().await,
        (3 * five_cents, 0),
        "a clean stop releases the lease"
    );
    drop_db(store, &admin, &name).await;
}
