//! Property: a report's total equals the sum of its records' costs to the last digit, for any
//! grouping, range and key filter, and its rows add up to its total; so do its counts of calls
//! and of failed calls (`errors`); and each row (each group and time bucket) holds exactly
//! the calls and cost of its group's records, whichever rollups (added or taken away) the
//! report read.

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
            failed.push((START + offset, *key));
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
        "provider,hour",
    ];
    let cases = proptest::collection::vec(
        (
            0..SPAN,
            0..SPAN,
            0usize..groupings.len(),
            0usize..3,
            0usize..6,
        ),
        60,
    );
    let queries = cases.new_tree(&mut runner).unwrap().current();
    for (a, b, g, tz, key) in queries {
        let (from, to) = (START + a.min(b), START + a.max(b) + 1);
        let tz = ["UTC", "Europe/Berlin", "Asia/Kolkata"][tz];
        // One key's report (a per-key dashboard) in a third of the cases.
        let key = (key < 4 && key % 2 == 0).then_some(key);
        let filter = key.map_or(String::new(), |k| format!("&key=k{k}"));
        let path = format!(
            "/admin/spend?from={}&to={}&group_by={}&tz={tz}{filter}",
            iso(from),
            iso(to),
            groupings[g]
        );
        let (s, v) = app.admin(Method::GET, &path, None).await;
        assert_eq!(s, 200, "{path}: {v}");
        let rng_records: Vec<_> = rng_records
            .iter()
            .copied()
            .filter(|r| key.is_none_or(|k| r.1 == k))
            .collect();
        let failed: Vec<i64> = failed
            .iter()
            .filter(|f| key.is_none_or(|k| f.1 == k))
            .map(|f| f.0)
            .collect();
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
        assert_groups(&v, groupings[g], tz, &rng_records, from, to, &path);
    }
}

/// Each row holds exactly the calls and cost of the records of its group and time bucket,
/// and there is a row for each group that has records.
fn assert_groups(
    v: &serde_json::Value,
    grouping: &str,
    tz: &str,
    records: &[(i64, usize, usize, Decimal)],
    from: i64,
    to: i64,
    path: &str,
) {
    let zone: chrono_tz::Tz = tz.parse().unwrap();
    let words: Vec<&str> = grouping.split(',').filter(|w| !w.is_empty()).collect();
    let mut expected: std::collections::BTreeMap<Vec<String>, (i64, Decimal)> = Default::default();
    for (t, key, model, cost) in records.iter().filter(|(t, ..)| *t >= from && *t < to) {
        let hour = t - t.rem_euclid(3_600_000);
        let group = words
            .iter()
            .map(|w| match *w {
                "key" => format!("k{key}"),
                "team" => format!("t{}", key % 2),
                "model" => format!("m{model}"),
                "provider" => format!("p{}", model % 2),
                grain => tollgate::reports::Grain::parse(grain)
                    .unwrap()
                    .label(hour, zone),
            })
            .collect();
        let e = expected.entry(group).or_default();
        e.0 += 1;
        e.1 += cost;
    }
    let got: std::collections::BTreeMap<Vec<String>, (i64, Decimal)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let group = words
                .iter()
                .map(|w| r[*w].as_str().unwrap().to_string())
                .collect();
            let cost = Decimal::from_str(r["cost_usd"].as_str().unwrap()).unwrap();
            (group, (r["requests"].as_i64().unwrap(), cost))
        })
        .collect();
    if words.is_empty() {
        // The one row of an ungrouped report is its total, present even when empty.
        assert!(got.len() <= 1, "{path}");
        return;
    }
    assert_eq!(got, expected, "groups: {path}");
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

/// A report up to now reads its last hour and its last day as whole rollups minus what comes
/// after now (see `plan`): still exact to the call, also when a call is recorded with a start
/// after now (another instance's clock running ahead), which such a rollup holds and the
/// report must not count.
#[tokio::test]
async fn reports_up_to_now_are_exact() {
    const H: i64 = 3_600_000;
    const D: i64 = 24 * H;
    let app = spawn_app().await;
    let store = store_of(&app).await;
    let now = chrono::Utc::now().timestamp_millis();
    let offsets = [
        -29 * D + 60_000,
        -3 * D - 7 * H,
        -D - 1,
        -D + 1,
        -5 * H,
        -2 * H - 1,
        -H + 1,
        -10 * 60_000,
        -2_000,
        -1_000,
        // Started after now: not in a report that ends now.
        10 * 60_000,
        2 * H,
    ];
    let mut records = Vec::new();
    for (i, offset) in offsets.iter().enumerate() {
        let (key, model) = (i % 3, i % 2);
        let cost = format!("0.{:03}000000{}", i + 1, i % 7);
        records.push((now + offset, key, model, Decimal::from_str(&cost).unwrap()));
        let r = record(
            &format!("n{i}"),
            &format!("k{key}"),
            &format!("t{}", key % 2),
            &format!("m{model}"),
            &format!("p{}", model % 2),
            &iso(now + offset),
            100,
            10,
            &cost,
        );
        store.write_usage_batch(&[], &[r]).await.unwrap();
    }
    for (grouping, extra) in [
        ("", ""),
        ("key,model", ""),
        ("model,hour", ""),
        ("key,day", "&tz=Europe/Berlin"),
        ("team,week", "&tz=Asia/Kolkata"),
        ("provider,hour", "&key=k1"),
        ("model,day", "&key=k0"),
    ] {
        let path = format!("/admin/spend?group_by={grouping}{extra}");
        let (s, v) = app.admin(Method::GET, &path, None).await;
        assert_eq!(s, 200, "{path}: {v}");
        let key = extra
            .strip_prefix("&key=k")
            .map(|k| k.parse::<usize>().unwrap());
        let tz = extra.strip_prefix("&tz=").unwrap_or("UTC");
        let chosen: Vec<_> = records
            .iter()
            .copied()
            .filter(|r| key.is_none_or(|k| r.1 == k))
            .collect();
        // The report ends at the server's now (a little after `now`) and starts 30 days
        // before it; every record is well inside or well outside that.
        let (from, to) = (now - 30 * D + 30_000, now);
        let expected: Decimal = chosen
            .iter()
            .filter(|(t, ..)| *t >= from && *t < to)
            .map(|r| r.3)
            .sum();
        let total = Decimal::from_str(v["total"]["cost_usd"].as_str().unwrap()).unwrap();
        assert_eq!(total, expected, "{path}");
        assert_groups(&v, grouping, tz, &chosen, from, to, &path);
    }
}
