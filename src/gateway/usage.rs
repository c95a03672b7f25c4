//! Reading token usage from the two wire formats into Tollgate's one convention
//! (`docs/pricing.md`): every token counted once.

use serde_json::Value;

use crate::pricing::Usage;
use crate::service_tier::ServiceTier;

/// The most tokens of one kind a single call may report. No model reads or writes more than a
/// few million tokens per call; anything above this is a broken or lying upstream, and taking it
/// at its word could overflow the ledger's sums.
pub const MAX_TOKENS_PER_CALL: u64 = 100_000_000;

/// What an upstream said about a call's usage.
#[derive(Debug, Clone, PartialEq)]
pub enum Reported {
    /// No usage object (the gateway counts the tokens itself).
    Absent,
    /// Every count is a non-negative integer within [`MAX_TOKENS_PER_CALL`].
    Valid(Usage),
    /// A count is negative, fractional, not a number or absurdly large: the gateway counts
    /// the tokens itself and keeps the raw report for inspection.
    Invalid { reason: String, raw: String },
}

impl Reported {
    /// The usage as reported, if it can be trusted.
    pub fn valid(&self) -> Option<Usage> {
        match self {
            Reported::Valid(u) => Some(*u),
            _ => None,
        }
    }
}

/// One count at `path`: absent or null is 0; anything but an integer in
/// `0..=MAX_TOKENS_PER_CALL` is an error naming the field.
fn n(v: &Value, path: &[&str]) -> Result<u64, String> {
    let Some(found) = path.iter().try_fold(v, |v, k| v.get(k)) else {
        return Ok(0);
    };
    match found {
        Value::Null => Ok(0),
        Value::Number(num) => match num.as_u64() {
            Some(x) if x <= MAX_TOKENS_PER_CALL => Ok(x),
            _ => Err(format!(
                "usage.{} is {num}, not a token count between 0 and {MAX_TOKENS_PER_CALL}",
                path.join(".")
            )),
        },
        other => Err(format!(
            "usage.{} is {}, not a number",
            path.join("."),
            truncate(&other.to_string(), 40)
        )),
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The raw usage object as kept beside an invalid report (at most 1 KiB).
fn raw(usage: &Value) -> String {
    truncate(&usage.to_string(), 1024)
}

fn judge(usage: &Value, parsed: Result<Usage, String>) -> Reported {
    match parsed {
        Ok(u) => Reported::Valid(u),
        Err(reason) => Reported::Invalid {
            reason,
            raw: raw(usage),
        },
    }
}

/// OpenAI `usage`: cached tokens are part of `prompt_tokens`, reasoning tokens part of
/// `completion_tokens`. Some OpenAI-compatible hosts also report cache writes.
pub fn from_openai(usage: &Value) -> Reported {
    if !usage.is_object() {
        return match usage {
            Value::Null => Reported::Absent,
            other => judge(other, Err("usage is not an object".into())),
        };
    }
    if usage.get("prompt_tokens").is_none() && usage.get("completion_tokens").is_none() {
        return Reported::Absent;
    }
    let parsed = (|| {
        let write = match n(usage, &["prompt_tokens_details", "cache_write_tokens"])? {
            0 => n(usage, &["prompt_tokens_details", "cache_creation_tokens"])?,
            w => w,
        };
        Ok(Usage {
            input_tokens: n(usage, &["prompt_tokens"])?,
            cached_input_tokens: n(usage, &["prompt_tokens_details", "cached_tokens"])?,
            cache_write_tokens: write,
            output_tokens: n(usage, &["completion_tokens"])?,
            reasoning_tokens: n(usage, &["completion_tokens_details", "reasoning_tokens"])?,
            images: 0,
            cache_write_1h_tokens: 0,
            // OpenAI's search models charge per call but report no count.
            web_search_requests: 0,
            service_tier: None,
        })
    })();
    judge(usage, parsed)
}

/// Anthropic `usage`: `input_tokens` excludes cache reads and writes, which are reported apart;
/// `cache_creation` splits the writes by lifetime (5 minutes, 1 hour).
pub fn from_anthropic(usage: &Value) -> Reported {
    if !usage.is_object() {
        return match usage {
            Value::Null => Reported::Absent,
            other => judge(other, Err("usage is not an object".into())),
        };
    }
    if usage.get("input_tokens").is_none() && usage.get("output_tokens").is_none() {
        return Reported::Absent;
    }
    let parsed = (|| {
        let read = n(usage, &["cache_read_input_tokens"])?;
        let write = n(usage, &["cache_creation_input_tokens"])?;
        let input = n(usage, &["input_tokens"])? + read + write;
        if input > MAX_TOKENS_PER_CALL {
            return Err(format!(
                "usage input_tokens + cache reads + cache writes is {input}, above {MAX_TOKENS_PER_CALL}"
            ));
        }
        Ok(Usage {
            input_tokens: input,
            cached_input_tokens: read,
            cache_write_tokens: write,
            output_tokens: n(usage, &["output_tokens"])?,
            reasoning_tokens: 0,
            images: 0,
            cache_write_1h_tokens: one_hour_writes(usage, write)?,
            web_search_requests: web_searches(usage)?,
            service_tier: reported_tier(usage.get("service_tier"), ServiceTier::from_anthropic),
        })
    })();
    judge(usage, parsed)
}

/// Of an Anthropic call's `write` cache-write tokens, those written for one hour
/// (`cache_creation.ephemeral_1h_input_tokens`). A split that adds up to more than the writes
/// reported is a lying report: it is refused like any other invalid count (the gateway then
/// counts the call itself), rather than trusted in one part or the other.
fn one_hour_writes(usage: &Value, write: u64) -> Result<u64, String> {
    let five_minutes = n(usage, &["cache_creation", "ephemeral_5m_input_tokens"])?;
    let one_hour = n(usage, &["cache_creation", "ephemeral_1h_input_tokens"])?;
    if five_minutes + one_hour > write {
        return Err(format!(
            "usage.cache_creation splits {} cache-write tokens ({five_minutes} for 5 minutes, \
             {one_hour} for 1 hour) but cache_creation_input_tokens is {write}",
            five_minutes + one_hour
        ));
    }
    Ok(one_hour)
}

/// The most web searches one call may report: Anthropic's search tool runs a handful per turn
/// (`max_uses` bounds it); a count above this is a lying report.
pub const MAX_WEB_SEARCHES_PER_CALL: u64 = 10_000;

/// Anthropic's `server_tool_use.web_search_requests`: the searches the call made, each billed.
fn web_searches(usage: &Value) -> Result<u64, String> {
    let searches = n(usage, &["server_tool_use", "web_search_requests"])?;
    if searches > MAX_WEB_SEARCHES_PER_CALL {
        return Err(format!(
            "usage.server_tool_use.web_search_requests is {searches}, above {MAX_WEB_SEARCHES_PER_CALL}"
        ));
    }
    Ok(searches)
}

/// The tier an upstream reports serving a call in, by the protocol's closed set of names. A
/// name outside it (or a value that is not a string) is no tier: the call is charged the
/// standard rates, and the name is logged, never stored.
fn reported_tier(v: Option<&Value>, names: fn(&str) -> Option<ServiceTier>) -> Option<ServiceTier> {
    let v = v.filter(|v| !v.is_null())?;
    let tier = v.as_str().and_then(names);
    if tier.is_none() {
        tracing::warn!(service_tier = %truncate(&v.to_string(), 40), "upstream reported an unknown service tier; charged the standard rates");
    }
    tier
}

/// An OpenAI(-compatible) usage report with the tier the answer (or stream chunk) names in its
/// top-level `service_tier` (OpenAI reports the tier beside `usage`, not in it).
pub fn with_openai_tier(reported: Reported, answer_tier: Option<&Value>) -> Reported {
    match reported {
        Reported::Valid(u) => Reported::Valid(Usage {
            service_tier: reported_tier(answer_tier, ServiceTier::from_openai),
            ..u
        }),
        other => other,
    }
}

/// Merges a later Anthropic stream usage report into an earlier one. `message_delta` carries
/// cumulative totals, so a field it reports replaces the earlier value (never summed).
pub fn merge_anthropic(current: &mut Value, update: &Value) {
    let (Some(cur), Some(upd)) = (current.as_object_mut(), update.as_object()) else {
        if update.is_object() {
            *current = update.clone();
        }
        return;
    };
    for (k, v) in upd {
        if !v.is_null() {
            cur.insert(k.clone(), v.clone());
        }
    }
}

/// The OpenAI `usage` object for a normalised usage.
pub fn to_openai(u: &Usage) -> Value {
    serde_json::json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens, "cache_write_tokens": u.cache_write_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    })
}

/// The Anthropic `usage` object for a normalised usage, with the cache writes split by
/// lifetime as Anthropic reports them.
pub fn to_anthropic(u: &Usage) -> Value {
    let uncached = u
        .input_tokens
        .saturating_sub(u.cached_input_tokens + u.cache_write_tokens);
    let one_hour = u.cache_write_1h_tokens.min(u.cache_write_tokens);
    let mut usage = serde_json::json!({
        "input_tokens": uncached,
        "output_tokens": u.output_tokens,
        "cache_read_input_tokens": u.cached_input_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": u.cache_write_tokens - one_hour,
            "ephemeral_1h_input_tokens": one_hour,
        },
    });
    if let Some(name) = u.service_tier.and_then(ServiceTier::anthropic_name) {
        usage["service_tier"] = name.into();
    }
    if u.web_search_requests > 0 {
        usage["server_tool_use"] =
            serde_json::json!({"web_search_requests": u.web_search_requests});
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_cached_tokens_are_part_of_prompt_tokens() {
        let u = from_openai(&json!({"prompt_tokens": 100, "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 40}, "completion_tokens_details": {"reasoning_tokens": 20}})).valid().unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.cached_input_tokens,
                u.output_tokens,
                u.reasoning_tokens
            ),
            (100, 40, 50, 20)
        );
    }

    #[test]
    fn anthropic_cache_tokens_are_added_to_input() {
        let u = from_anthropic(&json!({"input_tokens": 10, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 5, "output_tokens": 7})).valid().unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.cached_input_tokens,
                u.cache_write_tokens,
                u.output_tokens
            ),
            (45, 30, 5, 7)
        );
        assert_eq!(from_anthropic(&to_anthropic(&u)), Reported::Valid(u));
        assert_eq!(from_openai(&to_openai(&u)), Reported::Valid(u));
    }

    #[test]
    fn absurd_negative_fractional_or_text_counts_are_invalid() {
        for bad in [
            json!({"prompt_tokens": 1_000_000_000_000_000u64, "completion_tokens": 1}),
            json!({"prompt_tokens": u64::MAX, "completion_tokens": 1}),
            json!({"prompt_tokens": -5, "completion_tokens": 1}),
            json!({"prompt_tokens": 1.5, "completion_tokens": 1}),
            json!({"prompt_tokens": "12", "completion_tokens": 1}),
            json!({"prompt_tokens": 1, "completion_tokens": 1, "completion_tokens_details": {"reasoning_tokens": -1}}),
        ] {
            assert!(
                matches!(from_openai(&bad), Reported::Invalid { .. }),
                "{bad} was accepted"
            );
        }
        let bad = json!({"input_tokens": 3, "output_tokens": 1e20});
        let Reported::Invalid { reason, raw } = from_anthropic(&bad) else {
            panic!("accepted")
        };
        assert!(reason.contains("usage.output_tokens"), "{reason}");
        assert!(raw.contains("output_tokens"));
        assert_eq!(
            from_openai(&json!("lots")),
            Reported::Invalid {
                reason: "usage is not an object".into(),
                raw: "\"lots\"".into()
            }
        );
        assert_eq!(from_openai(&json!({"total_tokens": 3})), Reported::Absent);
    }

    #[test]
    fn anthropic_one_hour_writes_are_read_from_the_split() {
        let u = from_anthropic(
            &json!({"input_tokens": 10, "cache_creation_input_tokens": 50,
            "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 30},
            "output_tokens": 7}),
        )
        .valid()
        .unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.cache_write_tokens,
                u.cache_write_1h_tokens
            ),
            (60, 50, 30)
        );
        assert_eq!(from_anthropic(&to_anthropic(&u)), Reported::Valid(u));
        assert_eq!(
            to_openai(&u)["prompt_tokens_details"]["cache_write_tokens"],
            50,
            "OpenAI callers see every cache write"
        );
        let without_split =
            json!({"input_tokens": 1, "cache_creation_input_tokens": 5, "output_tokens": 1});
        assert_eq!(
            from_anthropic(&without_split)
                .valid()
                .unwrap()
                .cache_write_1h_tokens,
            0
        );
    }

    #[test]
    fn a_cache_write_split_above_the_total_is_invalid() {
        for split in [
            json!({"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 30}),
            json!({"ephemeral_1h_input_tokens": 51}),
            json!({"ephemeral_1h_input_tokens": -1}),
            json!({"ephemeral_1h_input_tokens": "9"}),
        ] {
            let report = json!({"input_tokens": 10, "cache_creation_input_tokens": 50,
                "cache_creation": split, "output_tokens": 7});
            let Reported::Invalid { reason, .. } = from_anthropic(&report) else {
                panic!("{report} was accepted")
            };
            assert!(reason.contains("cache_creation"), "{reason}");
        }
    }

    #[test]
    fn anthropic_web_searches_are_counted_and_bounded() {
        let report = |n: Value| {
            from_anthropic(&json!({"input_tokens": 10, "output_tokens": 7,
                "server_tool_use": {"web_search_requests": n}}))
        };
        let u = report(json!(3)).valid().unwrap();
        assert_eq!(u.web_search_requests, 3);
        assert_eq!(from_anthropic(&to_anthropic(&u)), Reported::Valid(u));
        for bad in [json!(-1), json!(1.5), json!("3"), json!(10_001)] {
            let Reported::Invalid { reason, .. } = report(bad.clone()) else {
                panic!("{bad} was accepted")
            };
            assert!(reason.contains("web_search_requests"), "{reason}");
        }
    }

    #[test]
    fn the_served_tier_is_read_from_a_closed_set() {
        let base = json!({"input_tokens": 10, "output_tokens": 7});
        let tier = |t: Value| {
            let mut u = base.clone();
            u["service_tier"] = t;
            from_anthropic(&u).valid().unwrap().service_tier
        };
        assert_eq!(tier(json!("priority")), Some(ServiceTier::Priority));
        assert_eq!(tier(json!("standard")), Some(ServiceTier::Standard));
        assert_eq!(tier(json!("flex")), None, "not an Anthropic tier");
        assert_eq!(tier(json!(7)), None);
        let u = from_anthropic(
            &json!({"input_tokens": 1, "output_tokens": 1, "service_tier": "batch"}),
        )
        .valid()
        .unwrap();
        assert_eq!(from_anthropic(&to_anthropic(&u)), Reported::Valid(u));
        let openai = from_openai(&json!({"prompt_tokens": 3, "completion_tokens": 1}));
        let served = |t: Value| match with_openai_tier(openai.clone(), Some(&t)) {
            Reported::Valid(u) => u.service_tier,
            _ => panic!("valid"),
        };
        assert_eq!(served(json!("flex")), Some(ServiceTier::Flex));
        assert_eq!(served(json!("default")), Some(ServiceTier::Standard));
        assert_eq!(served(json!("standard")), None, "not an OpenAI name");
        assert_eq!(served(json!({"tier": "priority"})), None);
        assert_eq!(
            with_openai_tier(Reported::Absent, Some(&json!("flex"))),
            Reported::Absent
        );
    }

    #[test]
    fn stream_usage_takes_the_latest_totals() {
        let mut cur = json!({"input_tokens": 10, "output_tokens": 1});
        merge_anthropic(&mut cur, &json!({"output_tokens": 15}));
        merge_anthropic(
            &mut cur,
            &json!({"output_tokens": 30, "input_tokens": null}),
        );
        assert_eq!(cur, json!({"input_tokens": 10, "output_tokens": 30}));
    }
}
