//! Markdown pages of the catalog: one page per model and an `llms.txt` index, written for
//! people and for LLM agents that read documentation.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{Entry, Snapshot, CAPABILITIES};
use crate::pricing::PriceVersion;

fn usd(d: Decimal) -> String {
    format!("${d}")
}

fn thousands(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn or_unknown(v: Option<u32>, unit: &str) -> String {
    v.map_or_else(
        || "unknown".to_string(),
        |n| format!("{} {unit}", thousands(n)),
    )
}

fn price_summary(v: Option<&PriceVersion>) -> String {
    match v {
        Some(v) if v.prices.is_free() => "free".to_string(),
        Some(v) => format!(
            "{} input / {} output per 1M tokens",
            usd(v.prices.input_per_mtok),
            usd(v.prices.output_per_mtok)
        ),
        None => "price unknown".to_string(),
    }
}

/// The model's page, as `GET /models/{id}.md` serves it.
pub fn model_page(snapshot: &Snapshot, e: &Entry, now: DateTime<Utc>, base: &str) -> String {
    let m = &e.model;
    let provider = snapshot
        .provider(&m.provider)
        .map_or(m.provider.as_str(), |p| p.name.as_str());
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", m.name);
    let _ = writeln!(s, "**Model ID:** `{}`  ", m.id);
    if !e.aliases.is_empty() {
        let names: Vec<String> = e.aliases.iter().map(|a| format!("`{a}`")).collect();
        let _ = writeln!(s, "**Also called:** {}  ", names.join(", "));
    }
    let _ = writeln!(
        s,
        "**Creator:** {}  ",
        if m.creator.is_empty() {
            "unknown"
        } else {
            &m.creator
        }
    );
    let _ = writeln!(s, "**Provider:** {provider}  ");
    let _ = writeln!(s, "**Added:** {}  ", m.added_on);
    let _ = writeln!(s, "**Status:** {}\n", m.status.as_str());
    if !m.description.is_empty() {
        let _ = writeln!(s, "{}\n", m.description);
    }
    technical_specs(&mut s, e);
    pricing_section(&mut s, e, now);
    endpoints_section(&mut s, base);
    quick_start(&mut s, &m.id, base);
    features_section(&mut s, e);
    related_section(&mut s, snapshot, e, now, base);
    s
}

fn technical_specs(s: &mut String, e: &Entry) {
    let m = &e.model;
    let p = &m.default_params;
    let show = |d: Option<Decimal>| d.map_or_else(|| "—".to_string(), |d| d.to_string());
    let _ = writeln!(s, "## Technical Specifications\n");
    let _ = writeln!(s, "| Specification | Value |\n|---|---|");
    let _ = writeln!(
        s,
        "| Context length | {} |",
        or_unknown(m.context_length, "tokens")
    );
    let _ = writeln!(
        s,
        "| Max output tokens | {} |",
        or_unknown(m.max_output_tokens, "tokens")
    );
    let _ = writeln!(
        s,
        "| Input modalities | {} |",
        m.input_modalities.join(", ")
    );
    let _ = writeln!(s, "| Output modalities | text |");
    let _ = writeln!(s, "| Capabilities | {} |", m.capabilities.join(", "));
    let _ = writeln!(
        s,
        "| Weights | {} |",
        if m.open_weights { "open" } else { "closed" }
    );
    let _ = writeln!(s, "| Upstream model | `{}` |", m.upstream_model);
    let _ = writeln!(s, "\n**Default parameters:** temperature {}, top_p {}, max_tokens {}, frequency_penalty {}, presence_penalty {}\n",
        show(p.temperature), show(p.top_p), p.max_tokens.map_or_else(|| "—".into(), |n| n.to_string()),
        show(p.frequency_penalty), show(p.presence_penalty));
}

fn pricing_section(s: &mut String, e: &Entry, now: DateTime<Utc>) {
    let _ = writeln!(s, "## Pricing\n");
    let Some(v) = e.price_at(now) else {
        let _ = writeln!(s, "No public price is known for this model. Calls to it are refused until an administrator sets a price.\n");
        return;
    };
    let p = &v.prices;
    let rates = p.base_rates();
    let _ = writeln!(
        s,
        "Prices in USD, effective from {}.\n",
        v.effective_from.format("%Y-%m-%d")
    );
    let _ = writeln!(s, "| Item | Price |\n|---|---|");
    let _ = writeln!(s, "| Input | {} / 1M tokens |", usd(p.input_per_mtok));
    let _ = writeln!(s, "| Output | {} / 1M tokens |", usd(p.output_per_mtok));
    if let Some(c) = p.cached_input_per_mtok {
        let _ = writeln!(s, "| Cached input (cache read) | {} / 1M tokens |", usd(c));
    }
    if let Some(c) = p.cache_write_per_mtok {
        let _ = writeln!(s, "| Cache write | {} / 1M tokens |", usd(c));
    }
    if p.reasoning_per_mtok.is_some() || e.model.has_capability("reasoning") {
        let _ = writeln!(s, "| Reasoning | {} / 1M tokens |", usd(rates.reasoning));
    }
    if !p.per_request.is_zero() {
        let _ = writeln!(s, "| Per request | {} |", usd(p.per_request));
    }
    if !p.per_image.is_zero() {
        let _ = writeln!(s, "| Per image | {} |", usd(p.per_image));
    }
    for t in &p.tiers {
        let _ = writeln!(
            s,
            "| Above {} input tokens | {} input / {} output per 1M tokens |",
            thousands(u32::try_from(t.above_input_tokens).unwrap_or(u32::MAX)),
            usd(t.input_per_mtok),
            usd(t.output_per_mtok)
        );
    }
    if e.prices.len() > 1 {
        let _ = writeln!(s, "\nPrice history:\n");
        for h in &e.prices {
            let _ = writeln!(
                s,
                "- from {}: {}",
                h.effective_from.format("%Y-%m-%d"),
                price_summary(Some(h))
            );
        }
    }
    s.push('\n');
}

fn endpoints_section(s: &mut String, base: &str) {
    let _ = writeln!(s, "## API Endpoints\n");
    let _ = writeln!(s, "| Format | Method | URL |\n|---|---|---|");
    let _ = writeln!(
        s,
        "| OpenAI Chat Completions | POST | `{base}/v1/chat/completions` |"
    );
    let _ = writeln!(s, "| Anthropic Messages | POST | `{base}/v1/messages` |");
    let _ = writeln!(
        s,
        "| ModelsLab | POST | `{base}/api/v7/llm/chat/completions` |"
    );
    let _ = writeln!(s, "| Model list | GET | `{base}/v1/models` |\n");
}

fn quick_start(s: &mut String, id: &str, base: &str) {
    let _ = writeln!(s, "## Quick Start\n\n### curl\n");
    let _ = writeln!(s, "```bash\ncurl {base}/v1/chat/completions \\\n  -H \"Authorization: Bearer $TOLLGATE_API_KEY\" \\\n  -H \"Content-Type: application/json\" \\\n  -d '{{\"model\": \"{id}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello!\"}}]}}'\n```\n");
    let _ = writeln!(s, "### Python\n");
    let _ = writeln!(s, "```python\nfrom openai import OpenAI\n\nclient = OpenAI(base_url=\"{base}/v1\", api_key=\"YOUR_TOLLGATE_KEY\")\nresponse = client.chat.completions.create(\n    model=\"{id}\",\n    messages=[{{\"role\": \"user\", \"content\": \"Hello!\"}}],\n)\nprint(response.choices[0].message.content)\n```\n");
}

fn features_section(s: &mut String, e: &Entry) {
    let _ = writeln!(s, "## Key Features\n");
    for (cap, text) in CAPABILITIES {
        if e.model.has_capability(cap) {
            let _ = writeln!(s, "- {text}");
        }
    }
    s.push('\n');
}

fn related_section(s: &mut String, snapshot: &Snapshot, e: &Entry, now: DateTime<Utc>, base: &str) {
    if e.related.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Related Models\n");
    let _ = writeln!(s, "| Model | Provider | Pricing |\n|---|---|---|");
    for r in e.related.iter().filter_map(|id| snapshot.get(id)) {
        let provider = snapshot
            .provider(&r.model.provider)
            .map_or(r.model.provider.as_str(), |p| p.name.as_str());
        let _ = writeln!(
            s,
            "| [{}]({base}/models/{}.md) | {provider} | {} |",
            r.model.name,
            r.model.id,
            price_summary(r.price_at(now))
        );
    }
}

/// The `llms.txt` index of the catalog.
pub fn llms_txt(snapshot: &Snapshot, now: DateTime<Utc>, base: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Tollgate model catalog\n");
    let _ = writeln!(s, "> {} models behind one OpenAI- and Anthropic-compatible endpoint ({base}/v1), with exact per-token prices.\n", snapshot.entries.len());
    let _ = writeln!(s, "Call any model with the OpenAI SDK (`base_url=\"{base}/v1\"`) or the Anthropic SDK (`base_url=\"{base}\"`). The machine-readable list is at {base}/v1/models and the API description at {base}/openapi.json.\n");
    let _ = writeln!(s, "## Models\n");
    for e in snapshot
        .entries
        .iter()
        .filter(|e| e.model.is_active_on(now.date_naive()))
    {
        let provider = snapshot
            .provider(&e.model.provider)
            .map_or(e.model.provider.as_str(), |p| p.name.as_str());
        let _ = writeln!(
            s,
            "- [{}]({base}/models/{}.md): {} via {provider}; {}; context {}",
            e.model.name,
            e.model.id,
            e.model.creator,
            price_summary(e.price_at(now)),
            or_unknown(e.model.context_length, "tokens")
        );
    }
    let deprecated: Vec<_> = snapshot
        .entries
        .iter()
        .filter(|e| !e.model.is_active_on(now.date_naive()))
        .collect();
    if !deprecated.is_empty() {
        let _ = writeln!(s, "\n## Optional\n");
        for e in deprecated {
            let _ = writeln!(
                s,
                "- [{}]({base}/models/{}.md): deprecated",
                e.model.name, e.model.id
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(131072), "131,072");
        assert_eq!(thousands(1000000), "1,000,000");
        assert_eq!(thousands(999), "999");
    }
}
