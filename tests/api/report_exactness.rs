//! Property: a report's total equals the sum of its records' costs to the last digit, for any
//! grouping and range, and its rows add up to its total; so do its counts of calls and of
//! failed calls (`errors`).

use std::str::FromStr;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use reqwest::Method;
use rust_decimal::Decimal;

use crate::helpers::spawn_app;
use crate::reports::{record, store_of};

const START: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
const SPAN: i64 = 5 * 86_400_000;

fn iso(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test]
async fn report_totals_equal_the_sum_of_their_records() {
    let app = spawn_app().await;
    let store = store_of(&app).await;
    let mut rng_records = Vec::new();
    let mut failed = Vec::new();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = proptest::collection::vec(
        (0..SPAN, 0usize..4, 0usize..3, 0i64..5_000_000_000_000),
        400,
    );
    let data = strategy.new_tree(&mut runner).unwrap().current();
    for (i, (offset, key, model, picos)) in data.iter().enumerate() {
        let cost = tollgate::money::from_picos(*picos).to_string();
        rng_records.push((
            START + offset,
            *key,
            *model,
            Decimal::from_str(&cost).unwrap(),
        ));
        let mut r = record(
            &format!("p{i}"),
            &format!("k{key}"),
            &format!("t{}", key % 2),
            &format!("m{model}"),
            &format!("p{}", model % 2),
            &iso(START + offset),
            100,
            10,
            &cost,
        );
        // About a third of the calls failed (whatever their cost: the counts are independent).
        if picos % 3 == 0 {
            r.status = tollgate::metering::CallStatus::UpstreamError;
            failed.push(START + offset);
        }
        store.write_usage_batch(&[], &[r]).await.unwrap();
    }
    let groupings = [
        "",
        "key",
        "model",
        "team,provider",
        "key,model,day",
        "hour",
        "week,team",
        "month,provider,key",
        "day",
        "model,day",
    ];
    let cases =
        proptest::collection::vec((0..SPAN, 0..SPAN, 0usize..groupings.len(), 0usize..3), 40);
    let queries = cases.new_tree(&mut runner).unwrap().current();
    for (a, b, g, tz) in queries {
        let (from, to) = (START + a.min(b), START + a.max(b) + 1);
        let tz = ["UTC", "Europe/Berlin", "Asia/Kolkata"][tz];
        let path = format!(
            "/admin/spend?from={}&to={}&group_by={}&tz={tz}",
            iso(from),
            iso(to),
            groupings[g]
        );
        let (s, v) = app.admin(Method::GET, &path, None).await;
        assert_eq!(s, 200, "{path}: {v}");
        let expected: Decimal = rng_records
            .iter()
            .filter(|(t, ..)| *t >= from && *t < to)
            .map(|r| r.3)
            .sum();
        let total = Decimal::from_str(v["total"]["cost_usd"].as_str().unwrap()).unwrap();
        assert_eq!(total, expected, "{path}");
        let rows: Decimal = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| Decimal::from_str(r["cost_usd"].as_str().unwrap()).unwrap())
            .sum();
        assert_eq!(rows, expected, "rows add up: {path}");
        let count = rng_records
            .iter()
            .filter(|(t, ..)| *t >= from && *t < to)
            .count() as i64;
        assert_eq!(v["total"]["requests"], count, "{path}");
        let errors = failed.iter().filter(|t| (from..to).contains(*t)).count() as i64;
        assert_eq!(v["total"]["errors"], errors, "{path}");
        let row_errors: i64 = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["errors"].as_i64().unwrap())
            .sum();
        assert_eq!(row_errors, errors, "rows' errors add up: {path}");
        let grain = groupings[g]
            .split(',')
            .find_map(tollgate::reports::Grain::parse);
        if let Some(grain) = grain {
            assert_buckets(&v, grain, tz, &rng_records, from, to, &path);
        }
    }
}

/// Each time bucket's cost equals the sum of the records whose UTC hour starts in it (in the
/// report's zone), whatever rollups answered it.
fn assert_buckets(
    v: &serde_json::Value,
    grain: tollgate::reports::Grain,
    tz: &str,
    records: &[(i64, usize, usize, Decimal)],
    from: i64,
    to: i64,
    path: &str,
) {
    let zone: chrono_tz::Tz = tz.parse().unwrap();
    let mut expected: std::collections::BTreeMap<String, Decimal> = Default::default();
    for (t, _, _, cost) in records.iter().filter(|(t, ..)| *t >= from && *t < to) {
        let hour = t - t.rem_euclid(3_600_000);
        *expected.entry(grain.label(hour, zone)).or_default() += cost;
    }
    let mut got: std::collections::BTreeMap<String, Decimal> = Default::default();
    for row in v["rows"].as_array().unwrap() {
        let label = row[grain.word()].as_str().unwrap().to_string();
        *got.entry(label).or_default() +=
            Decimal::from_str(row["cost_usd"].as_str().unwrap()).unwrap();
    }
    got.retain(|_, c| !c.is_zero());
    expected.retain(|_, c| !c.is_zero());
    assert_eq!(got, expected, "buckets: {path}");
}
