//! The spend reports count failed calls (`errors`: status other than `ok`) exactly, from every
//! source a report reads: records for partial hours, hourly and daily rollups, and UTC days
//! moved into another zone's days.

use serde_json::Value;
use tollgate::metering::{CallStatus, UsageRecord};

use crate::helpers::spawn_app;
use crate::reports::{record, row_values, spend, store_of};

fn call(id: &str, key: &str, model: &str, at: &str, status: CallStatus) -> UsageRecord {
    let mut r = record(id, key, "t1", model, "p1", at, 100, 10, "0.001");
    r.status = status;
    r
}

/// Seven calls over three UTC days, five of them failed in five different ways; e7 falls on
/// the next day in Tokyo.
fn calls() -> Vec<UsageRecord> {
    use CallStatus::*;
    vec![
        call("e1", "key_a", "m1", "2026-11-01T10:15:00Z", Ok),
        call("e2", "key_a", "m1", "2026-11-01T10:45:00Z", UpstreamError),
        call("e3", "key_b", "m2", "2026-11-02T00:30:00Z", Timeout),
        call("e4", "key_b", "m2", "2026-11-02T12:00:00Z", Rejected),
        call("e5", "key_a", "m2", "2026-11-03T05:30:00Z", Ok),
        call("e6", "key_a", "m1", "2026-11-03T05:40:00Z", StreamError),
        call("e7", "key_b", "m1", "2026-11-01T20:00:00Z", ClientCancelled),
    ]
}

/// "<group values> <requests> <errors>" of each row.
fn rows(v: &Value, words: &[&str]) -> Vec<String> {
    row_values(v, words, &["requests", "errors"])
}

fn total(v: &Value) -> (i64, i64) {
    (
        v["total"]["requests"].as_i64().unwrap(),
        v["total"]["errors"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn spend_reports_count_failed_calls_from_every_source() {
    let app = spawn_app().await;
    store_of(&app)
        .await
        .write_usage_batch(&[], &calls())
        .await
        .unwrap();
    // Whole UTC days: the daily rollups.
    let days = "from=2026-11-01T00:00:00Z&to=2026-11-04T00:00:00Z";
    assert_eq!(total(&spend(&app, days).await), (7, 5));
    let by_model = spend(&app, &format!("{days}&group_by=model")).await;
    assert_eq!(rows(&by_model, &["model"]), ["m1 4 3", "m2 3 2"]);
    assert_eq!(total(&by_model), (7, 5));
    let by_key = spend(&app, &format!("{days}&group_by=key&model=m2")).await;
    assert_eq!(rows(&by_key, &["key"]), ["key_a 1 0", "key_b 2 2"]);
    // Partial hours at both ends (records), hourly rollups around the days in between.
    let partial = "from=2026-11-01T10:30:00Z&to=2026-11-03T05:35:00Z";
    assert_eq!(total(&spend(&app, partial).await), (5, 4));
    let hourly = spend(&app, &format!("{partial}&group_by=hour")).await;
    assert_eq!(
        rows(&hourly, &["hour"]),
        [
            "2026-11-01T10:00:00+00:00 1 1",
            "2026-11-01T20:00:00+00:00 1 1",
            "2026-11-02T00:00:00+00:00 1 1",
            "2026-11-02T12:00:00+00:00 1 1",
            "2026-11-03T05:00:00+00:00 1 0",
        ]
    );
    // Another zone's days from UTC day rollups, hours moved between them (Tokyo is UTC+9).
    let tokyo = spend(&app, &format!("{days}&group_by=day&tz=Asia/Tokyo")).await;
    assert_eq!(
        rows(&tokyo, &["day"]),
        ["2026-11-01 2 1", "2026-11-02 3 3", "2026-11-03 2 1"]
    );
    assert_eq!(total(&tokyo), (7, 5));
}

#[tokio::test]
async fn the_spend_answer_and_its_errors_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let (status, spec) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    for path in ["/admin/spend", "/v1/spend"] {
        assert_eq!(
            spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
                ["$ref"],
            "#/components/schemas/SpendAnswer",
            "{path}"
        );
    }
    let schemas = &spec["components"]["schemas"];
    assert_eq!(
        schemas["SpendAnswer"]["properties"]["total"]["$ref"],
        "#/components/schemas/TotalsView"
    );
    assert_eq!(
        schemas["TotalsView"]["properties"]["errors"]["type"],
        "integer"
    );
    assert!(schemas["TotalsView"]["required"]
        .as_array()
        .unwrap()
        .contains(&"errors".into()));
}
