//! Reading token usage from the two wire formats into Tollgate's one convention
//! (`docs/pricing.md`): every token counted once.

use serde_json::Value;

use crate::pricing::Usage;

fn n(v: &Value, path: &[&str]) -> Option<u64> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_u64)
}

/// OpenAI `usage`: cached tokens are part of `prompt_tokens`, reasoning tokens part of
/// `completion_tokens`. Some OpenAI-compatible hosts also report cache writes.
pub fn from_openai(usage: &Value) -> Option<Usage> {
    if usage.get("prompt_tokens").is_none() && usage.get("completion_tokens").is_none() {
        return None;
    }
    Some(Usage {
        input_tokens: n(usage, &["prompt_tokens"]).unwrap_or(0),
        cached_input_tokens: n(usage, &["prompt_tokens_details", "cached_tokens"]).unwrap_or(0),
        cache_write_tokens: n(usage, &["prompt_tokens_details", "cache_write_tokens"])
            .or_else(|| n(usage, &["prompt_tokens_details", "cache_creation_tokens"]))
            .unwrap_or(0),
        output_tokens: n(usage, &["completion_tokens"]).unwrap_or(0),
        reasoning_tokens: n(usage, &["completion_tokens_details", "reasoning_tokens"]).unwrap_or(0),
        images: 0,
    })
}

/// Anthropic `usage`: `input_tokens` excludes cache reads and writes, which are reported apart.
pub fn from_anthropic(usage: &Value) -> Option<Usage> {
    if usage.get("input_tokens").is_none() && usage.get("output_tokens").is_none() {
        return None;
    }
    let read = n(usage, &["cache_read_input_tokens"]).unwrap_or(0);
    let write = n(usage, &["cache_creation_input_tokens"]).unwrap_or(0);
    Some(Usage {
        input_tokens: n(usage, &["input_tokens"]).unwrap_or(0) + read + write,
        cached_input_tokens: read,
        cache_write_tokens: write,
        output_tokens: n(usage, &["output_tokens"]).unwrap_or(0),
        reasoning_tokens: 0,
        images: 0,
    })
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

/// The Anthropic `usage` object for a normalised usage.
pub fn to_anthropic(u: &Usage) -> Value {
    let uncached = u
        .input_tokens
        .saturating_sub(u.cached_input_tokens + u.cache_write_tokens);
    serde_json::json!({
        "input_tokens": uncached,
        "output_tokens": u.output_tokens,
        "cache_read_input_tokens": u.cached_input_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_cached_tokens_are_part_of_prompt_tokens() {
        let u = from_openai(&json!({"prompt_tokens": 100, "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 40}, "completion_tokens_details": {"reasoning_tokens": 20}})).unwrap();
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
        let u = from_anthropic(&json!({"input_tokens": 10, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 5, "output_tokens": 7})).unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.cached_input_tokens,
                u.cache_write_tokens,
                u.output_tokens
            ),
            (45, 30, 5, 7)
        );
        assert_eq!(from_anthropic(&to_anthropic(&u)).unwrap(), u);
        assert_eq!(from_openai(&to_openai(&u)).unwrap(), u);
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
