//! Markdown pages of the catalog: one page per model and an `llms.txt` index, written for
//! people and for LLM agents that read documentation.
//!
//! A model page has, in order: a summary with links to `llms.txt` and the model's JSON, an
//! overview (id, aliases, creator, provider, mode, status), notes when the model cannot be
//! called (deprecated, not a chat model, unpriced, listing-only provider), pricing per 1M
//! tokens with the blended figure and how it is computed, the endpoints, copy-ready examples
//! (OpenAI SDK in Python and JavaScript, cURL, PHP, the ModelsLab body form, Responses,
//! Anthropic Messages, count_tokens, models), Claude Code, default parameters, key features,
//! technical specifications, related models with their prices, an FAQ, and links back.
//! Models that cannot be served (past their deprecation, or not chat models) get no call
//! examples. Pages depend only on the catalog, the time and [`Site`], so they are
//! deterministic.
//!
//! Ids may hold `/` (`gemini/gemini-2.5-pro`): in URL paths it is written `%2F`, which is what
//! the routes take. `llms.txt` is one pass over the catalog into one string, so it stays cheap
//! for catalogs of thousands of models.

use std::borrow::Cow;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{Entry, Provider, ProviderKind, Snapshot, CAPABILITIES};
use crate::pricing::{PriceVersion, Prices, Usage};

/// What pages show besides the catalog.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    /// The gateway's public base URL, without a trailing slash (`TOLLGATE_PUBLIC_URL`).
    pub base: &'a str,
    /// Credit granted to every new key (`TOLLGATE_FREE_TIER_USD`), when above zero.
    pub free_tier_usd: Option<Decimal>,
}

/// USD with at least two decimal places and no trailing zeros beyond them: `$2.00`, `$0.325`,
/// `$1.1375`.
fn usd(d: Decimal) -> String {
    let mut d = d.normalize();
    if d.scale() < 2 {
        d.rescale(2);
    }
    format!("${d}")
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
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
        |n| format!("{} {unit}", thousands(u64::from(n))),
    )
}

/// A model id as one URL path segment: `/` becomes `%2F` (the other characters ids may hold,
/// `. _ - : @ +`, are allowed in a path segment as they are).
pub fn path_segment(id: &str) -> Cow<'_, str> {
    if id.contains('/') {
        Cow::Owned(id.replace('/', "%2F"))
    } else {
        Cow::Borrowed(id)
    }
}

/// Text from the catalog (names, creators) made safe inside a line, a table cell or a link
/// text: line breaks become spaces, and `\ | [ ]` are escaped.
fn text(s: &str) -> Cow<'_, str> {
    if !s.contains(['\\', '|', '[', ']', '\n', '\r']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '|' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// An inline code span that holds `s` whatever backticks it contains.
fn code(s: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    if longest == 0 {
        format!("`{s}`")
    } else {
        let fence = "`".repeat(longest + 1);
        format!("{fence} {s} {fence}")
    }
}

fn price_summary(v: Option<&PriceVersion>) -> String {
    match v {
        Some(v) if v.prices.is_free() => "free".to_string(),
        Some(v) => format!(
            "{} input / {} output per 1M tokens (blended {})",
            usd(v.prices.input_per_mtok),
            usd(v.prices.output_per_mtok),
            usd(v.prices.blended_per_mtok())
        ),
        None => "price unknown".to_string(),
    }
}

/// What can be done with a model, judged once per page.
struct Facts<'a> {
    e: &'a Entry,
    provider: Option<&'a Provider>,
    price: Option<&'a PriceVersion>,
    /// Not deprecated, nor past its deprecation date.
    active: bool,
    /// A chat model: the only mode the gateway serves.
    servable: bool,
    /// The provider is listing-only: calls are refused until it is configured.
    listing_only: bool,
}

impl<'a> Facts<'a> {
    fn new(snapshot: &'a Snapshot, e: &'a Entry, now: DateTime<Utc>) -> Self {
        let provider = snapshot.provider(&e.model.provider);
        Facts {
            e,
            provider,
            price: e.price_at(now),
            active: e.model.is_active_on(now.date_naive()),
            servable: e.model.mode == "chat",
            listing_only: provider.is_some_and(|p| p.listing_only),
        }
    }

    fn provider_name(&self) -> &'a str {
        self.provider
            .map_or(self.e.model.provider.as_str(), |p| p.name.as_str())
    }

    /// Call examples make sense: the model is served (maybe after an administrator prices it
    /// or configures its provider).
    fn shows_examples(&self) -> bool {
        self.active && self.servable
    }

    /// A call would be admitted now (keys and budgets aside).
    fn callable(&self) -> bool {
        self.shows_examples() && self.price.is_some() && !self.listing_only
    }
}

fn creator(e: &Entry) -> Cow<'_, str> {
    if e.model.creator.is_empty() {
        Cow::Borrowed("unknown")
    } else {
        text(&e.model.creator)
    }
}

/// The model's page, as `GET /models/{id}.md` serves it.
pub fn model_page(snapshot: &Snapshot, e: &Entry, now: DateTime<Utc>, site: &Site) -> String {
    let f = Facts::new(snapshot, e, now);
    let mut s = String::with_capacity(24 * 1024);
    header(&mut s, &f, site);
    overview(&mut s, &f, now);
    pricing_section(&mut s, &f, now, site);
    endpoints_section(&mut s, &f, site.base);
    if f.shows_examples() {
        examples_section(&mut s, &f, site.base);
        claude_code_section(&mut s, &f, site.base);
    }
    default_params_section(&mut s, &f);
    features_section(&mut s, e);
    technical_specs(&mut s, &f);
    related_section(&mut s, snapshot, e, now, site.base);
    faq_section(&mut s, &f, site);
    footer(&mut s, e, site.base);
    s
}

fn header(s: &mut String, f: &Facts, site: &Site) {
    let m = &f.e.model;
    let base = site.base;
    let seg = path_segment(&m.id);
    let _ = writeln!(s, "# {}\n", text(&m.name));
    let _ = write!(
        s,
        "> {} by {}, served by {} through Tollgate. ",
        text(&m.name),
        creator(f.e),
        text(f.provider_name())
    );
    let _ = write!(s, "Pricing: {}. ", price_summary(f.price));
    if f.callable() {
        s.push_str(
            "Callable with OpenAI-compatible (Chat Completions, Responses) and Anthropic-compatible (Messages) APIs. ",
        );
    } else if !f.active {
        s.push_str("Deprecated: no longer callable. ");
    } else if !f.servable {
        let _ = write!(
            s,
            "Mode {}: listed and priced, not served by the gateway. ",
            code(&m.mode)
        );
    } else {
        s.push_str("Not callable until an administrator ");
        s.push_str(match (f.price.is_none(), f.listing_only) {
            (true, true) => "prices it and configures its provider. ",
            (true, false) => "prices it. ",
            _ => "configures its provider. ",
        });
    }
    if f.shows_examples() {
        s.push_str("Pay-per-use.");
        if let Some(credit) = site.free_tier_usd {
            let _ = write!(
                s,
                " Free tier: {} of credit for every new API key.",
                usd(credit)
            );
        }
    }
    if s.ends_with(' ') {
        s.pop();
    }
    let _ = writeln!(
        s,
        "\n\n[llms.txt (every model)]({base}/llms.txt) · [This model as JSON]({base}/v1/models/{seg}) · [This page]({base}/models/{seg}.md)\n"
    );
}

fn status_text(f: &Facts, now: DateTime<Utc>) -> String {
    let m = &f.e.model;
    let today = now.date_naive();
    match (f.active, m.deprecated_from) {
        (true, Some(d)) => format!("active; deprecated from {d} (scheduled)"),
        (true, None) => "active".to_string(),
        (false, Some(d)) if d <= today => format!("deprecated since {d}"),
        (false, _) => "deprecated".to_string(),
    }
}

fn provider_protocol(f: &Facts) -> &'static str {
    match f.provider {
        Some(p) if p.listing_only => "listing-only (not callable until configured)",
        Some(p) => match p.kind {
            ProviderKind::Openai => "OpenAI-compatible Chat Completions",
            ProviderKind::Anthropic => "Anthropic Messages",
        },
        None => "unknown",
    }
}

fn overview(s: &mut String, f: &Facts, now: DateTime<Utc>) {
    let m = &f.e.model;
    let _ = writeln!(s, "## Overview\n");
    let _ = writeln!(s, "**Model ID:** {}  ", code(&m.id));
    if !f.e.aliases.is_empty() {
        let names: Vec<String> = f.e.aliases.iter().map(|a| code(a)).collect();
        let _ = writeln!(s, "**Also called:** {}  ", names.join(", "));
    }
    let _ = writeln!(s, "**Creator:** {}  ", creator(f.e));
    let _ = writeln!(
        s,
        "**Provider:** {} ({})  ",
        text(f.provider_name()),
        code(&m.provider)
    );
    let _ = writeln!(s, "**Mode:** {}  ", text(&m.mode));
    let _ = writeln!(
        s,
        "**Weights:** {}  ",
        if m.open_weights { "open" } else { "closed" }
    );
    let _ = writeln!(s, "**Added:** {}  ", m.added_on);
    let _ = writeln!(s, "**Status:** {}\n", status_text(f, now));
    let description = m.description.trim();
    if !description.is_empty() {
        let _ = writeln!(s, "{description}\n");
    }
    availability_notes(s, f, now);
}

/// Why the model cannot be called, when it cannot.
fn availability_notes(s: &mut String, f: &Facts, now: DateTime<Utc>) {
    let m = &f.e.model;
    let seg = path_segment(&m.id);
    if !f.active {
        let since = m
            .deprecated_from
            .filter(|d| *d <= now.date_naive())
            .map_or_else(String::new, |d| format!(" since {d}"));
        let alternatives = if f.e.related.is_empty() {
            ""
        } else {
            "; see the related models below for alternatives"
        };
        let _ = writeln!(
            s,
            "> **Deprecated{since}.** Calls to this model are refused (404 `model_not_found`). It stays listed, with its prices, for past usage and reports{alternatives}.\n"
        );
        return;
    }
    if let Some(d) = m.deprecated_from {
        let _ = writeln!(
            s,
            "> **Deprecation scheduled.** From {d}, calls to this model are refused.\n"
        );
    }
    if !f.servable {
        let _ = writeln!(
            s,
            "> **Not served by the gateway.** Its mode is {}: Tollgate lists and prices it (estimates and re-pricing use its prices) but serves chat models only, so calls to it are refused with 400 `model_not_servable`. This page therefore shows no call examples.\n",
            code(&m.mode)
        );
        return;
    }
    if f.price.is_none() {
        let _ = writeln!(
            s,
            "> **Not callable until priced.** No price is known for this model: calls are refused with 400 `model_not_priced` until an administrator sets one (`POST /admin/models/{seg}/prices`). The examples below work from then on.\n"
        );
    }
    if f.listing_only {
        let _ = writeln!(
            s,
            "> **Not callable until configured.** Its provider, {} ({}), is listing-only: the model is listed and priced, and calls are refused with 400 `provider_not_configured` until an administrator points the provider at an endpoint the gateway can call (`PATCH /admin/providers/{}` with `kind`, `base_url`, `api_key_env` and `\"listing_only\": false`). The examples below work from then on.\n",
            text(f.provider_name()),
            code(&m.provider),
            path_segment(&m.provider)
        );
    }
}

fn rate_row(s: &mut String, item: &str, set: Option<Decimal>, effective: Decimal, default: &str) {
    match set {
        Some(p) => {
            let _ = writeln!(s, "| {item} | {} / 1M tokens |", usd(p));
        }
        None => {
            let _ = writeln!(
                s,
                "| {item} | {} / 1M tokens (the {default} price) |",
                usd(effective)
            );
        }
    }
}

fn pricing_section(s: &mut String, f: &Facts, now: DateTime<Utc>, site: &Site) {
    let _ = writeln!(s, "## Pricing\n");
    let Some(v) = f.price else {
        let _ = writeln!(s, "No public price is known for this model. Calls to it are refused until an administrator sets a price.\n");
        price_history(s, f.e, now);
        return;
    };
    let p = &v.prices;
    let rates = p.base_rates();
    let _ = writeln!(
        s,
        "Pay-per-use, in USD per 1M tokens, effective from {}. Each call is charged for the tokens it used at the prices in effect when it started.\n",
        v.effective_from.format("%Y-%m-%d")
    );
    let _ = writeln!(s, "| Item | Price |\n|---|---|");
    let _ = writeln!(s, "| Input | {} / 1M tokens |", usd(p.input_per_mtok));
    let _ = writeln!(s, "| Output | {} / 1M tokens |", usd(p.output_per_mtok));
    rate_row(
        s,
        "Cached input (cache read)",
        p.cached_input_per_mtok,
        rates.cached_input,
        "input",
    );
    rate_row(
        s,
        "Cache write",
        p.cache_write_per_mtok,
        rates.cache_write,
        "input",
    );
    if let Some(one_hour) = p.cache_write_1h_per_mtok {
        let _ = writeln!(
            s,
            "| Cache write (1 hour) | {} / 1M tokens |",
            usd(one_hour)
        );
    }
    rate_row(
        s,
        "Reasoning",
        p.reasoning_per_mtok,
        rates.reasoning,
        "output",
    );
    if !p.per_request.is_zero() {
        let _ = writeln!(s, "| Per request | {} |", usd(p.per_request));
    }
    if !p.per_image.is_zero() {
        let _ = writeln!(s, "| Per image | {} |", usd(p.per_image));
    }
    if !p.per_web_search.is_zero() {
        let _ = writeln!(s, "| Per web search | {} |", usd(p.per_web_search));
    }
    let blended = p.blended_per_mtok();
    let _ = writeln!(s, "| Blended | {} / 1M tokens |\n", usd(blended));
    let _ = writeln!(
        s,
        "**Blended price:** {} per 1M tokens = (input + output) / 2 = ({} + {}) / 2, the price of a million tokens split evenly between input and output. It is one figure for comparing models; calls are charged by the itemised prices (cache, reasoning and tier prices and fees are not in it).\n",
        usd(blended),
        usd(p.input_per_mtok),
        usd(p.output_per_mtok)
    );
    if p.per_request.is_zero() && p.per_image.is_zero() {
        let _ = writeln!(s, "No per-request or per-image fees.\n");
    }
    if !p.tiers.is_empty() {
        let _ = writeln!(s, "**Long-context tiers.** When a call's input tokens are above a threshold, the whole call is charged at that tier's prices (per 1M tokens):\n");
        let _ = writeln!(
            s,
            "| Input tokens above | Input | Output | Cache read | Cache write | Reasoning |\n|---|---|---|---|---|---|"
        );
        for t in &p.tiers {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                thousands(t.above_input_tokens),
                usd(t.input_per_mtok),
                usd(t.output_per_mtok),
                usd(t.cached_input_per_mtok.unwrap_or(t.input_per_mtok)),
                usd(t.cache_write_per_mtok.unwrap_or(t.input_per_mtok)),
                usd(t.reasoning_per_mtok.unwrap_or(t.output_per_mtok)),
            );
        }
        s.push('\n');
    }
    service_tier_table(s, p);
    if let (Some(credit), true) = (site.free_tier_usd, f.shows_examples()) {
        let _ = writeln!(
            s,
            "**Free tier:** every new API key starts with {} of credit, which calls draw down at these prices. When it cannot cover a call, the call is refused with 402 until more credit is granted.\n",
            usd(credit)
        );
    }
    price_history(s, f.e, now);
}

/// The version's prices in other service tiers, and when each is charged.
fn service_tier_table(s: &mut String, p: &Prices) {
    if p.service_tiers.is_empty() {
        return;
    }
    let _ = writeln!(s, "**Service tiers.** A call the provider reports serving in one of these tiers is charged its prices (per 1M tokens; fees as above); batch prices are listed only, as the gateway serves no batch API:\n");
    let _ = writeln!(
        s,
        "| Tier | Input | Output | Cache read | Cache write | Reasoning | Charged |\n|---|---|---|---|---|---|---|"
    );
    for t in &p.service_tiers {
        let r = t.as_prices(p).base_rates();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            t.tier.as_str(),
            usd(r.input),
            usd(r.output),
            usd(r.cached_input),
            usd(r.cache_write),
            usd(r.reasoning),
            if t.tier.is_applied() { "yes" } else { "no" },
        );
    }
    s.push('\n');
}

fn price_history(s: &mut String, e: &Entry, now: DateTime<Utc>) {
    if e.prices.len() < 2 {
        return;
    }
    let _ = writeln!(s, "Price history:\n");
    for h in &e.prices {
        let _ = writeln!(
            s,
            "- from {}{}: {}",
            h.effective_from.format("%Y-%m-%d"),
            if h.effective_from > now {
                " (scheduled)"
            } else {
                ""
            },
            price_summary(Some(h))
        );
    }
    s.push('\n');
}

fn endpoints_section(s: &mut String, f: &Facts, base: &str) {
    let m = &f.e.model;
    let seg = path_segment(&m.id);
    let _ = writeln!(s, "## API Endpoints\n");
    if !f.shows_examples() {
        let _ = writeln!(
            s,
            "This model is not served (see above); its catalog entry is available as JSON.\n"
        );
        let _ = writeln!(s, "| Endpoint | Method | URL |\n|---|---|---|");
        let _ = writeln!(s, "| This model (JSON) | GET | `{base}/v1/models/{seg}` |");
        let _ = writeln!(s, "| Models (list) | GET | `{base}/v1/models` |\n");
        return;
    }
    let _ = writeln!(
        s,
        "Base URL: `{base}`. Send `\"model\": \"{}\"`. Authenticate with `Authorization: Bearer <key>` or `x-api-key: <key>` (on the ModelsLab-style paths, `\"key\"` in the JSON body works too).\n",
        m.id
    );
    let _ = writeln!(s, "| Endpoint | Method | URL |\n|---|---|---|");
    for (name, method, path) in [
        (
            "OpenAI-compatible Chat Completions",
            "POST",
            "/v1/chat/completions",
        ),
        ("OpenAI-compatible Responses", "POST", "/v1/responses"),
        ("Anthropic-compatible Messages", "POST", "/v1/messages"),
        (
            "Anthropic-compatible count_tokens",
            "POST",
            "/v1/messages/count_tokens",
        ),
        ("Models (list)", "GET", "/v1/models"),
    ] {
        let _ = writeln!(s, "| {name} | {method} | `{base}{path}` |");
    }
    let _ = writeln!(s, "| This model (JSON) | GET | `{base}/v1/models/{seg}` |");
    for (name, method, path) in [
        (
            "ModelsLab-style Chat Completions (`model_id`, `key`)",
            "POST",
            "/api/v7/llm/chat/completions",
        ),
        (
            "ModelsLab-style Messages",
            "POST",
            "/api/v7/llm/v1/messages",
        ),
        (
            "ModelsLab-style count_tokens",
            "POST",
            "/api/v7/llm/v1/messages/count_tokens",
        ),
        ("ModelsLab-style Models", "GET", "/api/v7/llm/v1/models"),
    ] {
        let _ = writeln!(s, "| {name} | {method} | `{base}{path}` |");
    }
    s.push('\n');
}

fn examples_section(s: &mut String, f: &Facts, base: &str) {
    let id = f.e.model.id.as_str();
    let seg = path_segment(id);
    let max_tokens = f.e.model.default_params.max_tokens.unwrap_or(1024);
    let _ = writeln!(s, "## Code Examples\n");
    let _ = writeln!(s, "Set `TOLLGATE_API_KEY` to your Tollgate API key; the base URL and model id below are this gateway's.\n");

    let _ = writeln!(s, "### Chat Completions (OpenAI-compatible)\n");
    let _ = writeln!(s, "#### Python\n");
    let _ = writeln!(s, "```python\nimport os\n\nfrom openai import OpenAI\n\nclient = OpenAI(base_url=\"{base}/v1\", api_key=os.environ[\"TOLLGATE_API_KEY\"])\nresponse = client.chat.completions.create(\n    model=\"{id}\",\n    messages=[{{\"role\": \"user\", \"content\": \"Hello!\"}}],\n)\nprint(response.choices[0].message.content)\n```\n");
    let _ = writeln!(s, "#### JavaScript\n");
    let _ = writeln!(s, "```javascript\nimport OpenAI from \"openai\";\n\nconst client = new OpenAI({{ baseURL: \"{base}/v1\", apiKey: process.env.TOLLGATE_API_KEY }});\nconst completion = await client.chat.completions.create({{\n  model: \"{id}\",\n  messages: [{{ role: \"user\", content: \"Hello!\" }}],\n}});\nconsole.log(completion.choices[0].message.content);\n```\n");
    let _ = writeln!(s, "#### cURL\n");
    let _ = writeln!(s, "```bash\ncurl {base}/v1/chat/completions \\\n  -H \"Authorization: Bearer $TOLLGATE_API_KEY\" \\\n  -H \"Content-Type: application/json\" \\\n  -d '{{\"model\": \"{id}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello!\"}}]}}'\n```\n");
    let _ = writeln!(s, "#### PHP\n");
    let _ = writeln!(s, "```php\n<?php\n$ch = curl_init('{base}/v1/chat/completions');\ncurl_setopt_array($ch, [\n    CURLOPT_POST => true,\n    CURLOPT_RETURNTRANSFER => true,\n    CURLOPT_HTTPHEADER => [\n        'Authorization: Bearer ' . getenv('TOLLGATE_API_KEY'),\n        'Content-Type: application/json',\n    ],\n    CURLOPT_POSTFIELDS => json_encode([\n        'model' => '{id}',\n        'messages' => [['role' => 'user', 'content' => 'Hello!']],\n    ]),\n]);\n$response = json_decode(curl_exec($ch), true);\necho $response['choices'][0]['message']['content'], PHP_EOL;\n```\n");

    let _ = writeln!(s, "### ModelsLab body form\n");
    let _ = writeln!(s, "The ModelsLab-style path also takes the model as `model_id` and the key as `key` in the body (no key header needed):\n");
    let _ = writeln!(s, "```bash\ncurl {base}/api/v7/llm/chat/completions \\\n  -H \"Content-Type: application/json\" \\\n  -d '{{\"model_id\": \"{id}\", \"key\": \"'\"$TOLLGATE_API_KEY\"'\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello!\"}}]}}'\n```\n");
    let _ = writeln!(s, "```php\n<?php\n$ch = curl_init('{base}/api/v7/llm/chat/completions');\ncurl_setopt_array($ch, [\n    CURLOPT_POST => true,\n    CURLOPT_RETURNTRANSFER => true,\n    CURLOPT_HTTPHEADER => ['Content-Type: application/json'],\n    CURLOPT_POSTFIELDS => json_encode([\n        'model_id' => '{id}',\n        'key' => getenv('TOLLGATE_API_KEY'),\n        'messages' => [['role' => 'user', 'content' => 'Hello!']],\n    ]),\n]);\n$response = json_decode(curl_exec($ch), true);\necho $response['choices'][0]['message']['content'], PHP_EOL;\n```\n");

    let _ = writeln!(s, "### Responses (OpenAI-compatible)\n");
    let _ = writeln!(s, "#### Python\n");
    let _ = writeln!(s, "```python\nimport os\n\nfrom openai import OpenAI\n\nclient = OpenAI(base_url=\"{base}/v1\", api_key=os.environ[\"TOLLGATE_API_KEY\"])\nresponse = client.responses.create(model=\"{id}\", input=\"Hello!\")\nprint(response.output_text)\n```\n");
    let _ = writeln!(s, "#### JavaScript\n");
    let _ = writeln!(s, "```javascript\nimport OpenAI from \"openai\";\n\nconst client = new OpenAI({{ baseURL: \"{base}/v1\", apiKey: process.env.TOLLGATE_API_KEY }});\nconst response = await client.responses.create({{ model: \"{id}\", input: \"Hello!\" }});\nconsole.log(response.output_text);\n```\n");
    let _ = writeln!(s, "#### cURL\n");
    let _ = writeln!(s, "```bash\ncurl {base}/v1/responses \\\n  -H \"Authorization: Bearer $TOLLGATE_API_KEY\" \\\n  -H \"Content-Type: application/json\" \\\n  -d '{{\"model\": \"{id}\", \"input\": \"Hello!\"}}'\n```\n");

    let _ = writeln!(s, "### Messages (Anthropic-compatible)\n");
    let _ = writeln!(s, "#### Python\n");
    let _ = writeln!(s, "```python\nimport os\n\nfrom anthropic import Anthropic\n\nclient = Anthropic(base_url=\"{base}\", api_key=os.environ[\"TOLLGATE_API_KEY\"])\nmessage = client.messages.create(\n    model=\"{id}\",\n    max_tokens={max_tokens},\n    messages=[{{\"role\": \"user\", \"content\": \"Hello!\"}}],\n)\nprint(message.content[0].text)\n```\n");
    let _ = writeln!(s, "#### JavaScript\n");
    let _ = writeln!(s, "```javascript\nimport Anthropic from \"@anthropic-ai/sdk\";\n\nconst client = new Anthropic({{ baseURL: \"{base}\", apiKey: process.env.TOLLGATE_API_KEY }});\nconst message = await client.messages.create({{\n  model: \"{id}\",\n  max_tokens: {max_tokens},\n  messages: [{{ role: \"user\", content: \"Hello!\" }}],\n}});\nconsole.log(message.content[0].text);\n```\n");
    let _ = writeln!(s, "#### cURL\n");
    let _ = writeln!(s, "```bash\ncurl {base}/v1/messages \\\n  -H \"x-api-key: $TOLLGATE_API_KEY\" \\\n  -H \"anthropic-version: 2023-06-01\" \\\n  -H \"Content-Type: application/json\" \\\n  -d '{{\"model\": \"{id}\", \"max_tokens\": {max_tokens}, \"messages\": [{{\"role\": \"user\", \"content\": \"Hello!\"}}]}}'\n```\n");

    let _ = writeln!(s, "### Count tokens (Anthropic-compatible)\n");
    let _ = writeln!(s, "Counted by the gateway with the `o200k_base` tokenizer (exact for recent OpenAI models, an estimate for other families); free, and not recorded as a call.\n");
    let _ = writeln!(s, "```python\nimport os\n\nfrom anthropic import Anthropic\n\nclient = Anthropic(base_url=\"{base}\", api_key=os.environ[\"TOLLGATE_API_KEY\"])\ncount = client.messages.count_tokens(\n    model=\"{id}\",\n    messages=[{{\"role\": \"user\", \"content\": \"Hello!\"}}],\n)\nprint(count.input_tokens)\n```\n");
    let _ = writeln!(s, "```bash\ncurl {base}/v1/messages/count_tokens \\\n  -H \"x-api-key: $TOLLGATE_API_KEY\" \\\n  -H \"anthropic-version: 2023-06-01\" \\\n  -H \"Content-Type: application/json\" \\\n  -d '{{\"model\": \"{id}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello!\"}}]}}'\n```\n");

    let _ = writeln!(s, "### Models\n");
    let _ = writeln!(
        s,
        "```bash\ncurl {base}/v1/models/{seg}\ncurl {base}/v1/models\n```\n"
    );
}

fn claude_code_section(s: &mut String, f: &Facts, base: &str) {
    let m = &f.e.model;
    let _ = writeln!(s, "## Use with Claude Code\n");
    let _ = writeln!(s, "Claude Code speaks the Anthropic Messages API, so it runs on this model through Tollgate:\n");
    let _ = writeln!(
        s,
        "```bash\nANTHROPIC_BASE_URL={base} ANTHROPIC_AUTH_TOKEN=$TOLLGATE_API_KEY claude --model {}\n```\n",
        m.id
    );
    if !f.e.aliases.is_empty() {
        let names: Vec<String> = f.e.aliases.iter().map(|a| code(a)).collect();
        let _ = writeln!(
            s,
            "Its aliases work as `--model` too: {} (an alias ending in `*` covers every name it starts).\n",
            names.join(", ")
        );
    }
    let _ = writeln!(s, "Without `--model`, Claude Code asks for its own default model names (`claude-sonnet-…`, `claude-haiku-…`), which reach whichever model has an alias covering them.\n");
    if !m.has_capability("tools") {
        let _ = writeln!(s, "Claude Code depends on tool use, which the catalog does not list for this model: expect it to work poorly, if at all.\n");
    }
}

fn default_params_section(s: &mut String, f: &Facts) {
    let p = &f.e.model.default_params;
    let show = |d: Option<Decimal>| d.map_or_else(|| "not set".to_string(), |d| d.to_string());
    let _ = writeln!(s, "## Default Parameters\n");
    let _ = writeln!(s, "The sampling parameters recommended for this model. The gateway does not add them to a request: send the ones you want (the provider's defaults apply to the others).\n");
    let _ = writeln!(s, "| Parameter | Value |\n|---|---|");
    let _ = writeln!(s, "| temperature | {} |", show(p.temperature));
    let _ = writeln!(s, "| top_p | {} |", show(p.top_p));
    let _ = writeln!(
        s,
        "| max_tokens | {} |",
        p.max_tokens
            .map_or_else(|| "not set".to_string(), |n| n.to_string())
    );
    let _ = writeln!(s, "| frequency_penalty | {} |", show(p.frequency_penalty));
    let _ = writeln!(s, "| presence_penalty | {} |\n", show(p.presence_penalty));
}

fn features_section(s: &mut String, e: &Entry) {
    let _ = writeln!(s, "## Key Features\n");
    let mut any = false;
    for (cap, description) in CAPABILITIES {
        if e.model.has_capability(cap) {
            let _ = writeln!(s, "- {description}");
            any = true;
        }
    }
    if !any {
        let _ = writeln!(s, "No capabilities are recorded for this model.");
    }
    s.push('\n');
}

/// What a model of this mode produces.
fn output_modalities(mode: &str) -> &'static str {
    match mode {
        "chat" | "completion" | "responses" | "audio_transcription" => "text",
        "embedding" => "embeddings (vectors)",
        "image_generation" => "image",
        "audio_speech" => "audio",
        "rerank" => "relevance scores",
        "moderation" => "moderation labels",
        _ => "not recorded",
    }
}

fn technical_specs(s: &mut String, f: &Facts) {
    let m = &f.e.model;
    let _ = writeln!(s, "## Technical Specifications\n");
    let _ = writeln!(s, "| Specification | Value |\n|---|---|");
    let _ = writeln!(s, "| Model ID | {} |", code(&m.id));
    let _ = writeln!(s, "| Mode | {} |", text(&m.mode));
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
        text(&m.input_modalities.join(", "))
    );
    let _ = writeln!(s, "| Output modalities | {} |", output_modalities(&m.mode));
    let capabilities = if m.capabilities.is_empty() {
        "none recorded".to_string()
    } else {
        text(&m.capabilities.join(", ")).into_owned()
    };
    let _ = writeln!(s, "| Capabilities | {capabilities} |");
    let _ = writeln!(
        s,
        "| Weights | {} |",
        if m.open_weights { "open" } else { "closed" }
    );
    let _ = writeln!(s, "| Provider protocol | {} |", provider_protocol(f));
    let _ = writeln!(s, "| Upstream model | {} |", code(&m.upstream_model));
    let _ = writeln!(s, "| Added on | {} |", m.added_on);
    if let Some(d) = m.deprecated_from {
        let _ = writeln!(s, "| Deprecated from | {d} |");
    }
    s.push('\n');
}

fn related_section(s: &mut String, snapshot: &Snapshot, e: &Entry, now: DateTime<Utc>, base: &str) {
    let _ = writeln!(s, "## Related Models\n");
    let related: Vec<&Entry> = e.related.iter().filter_map(|id| snapshot.get(id)).collect();
    if related.is_empty() {
        let _ = writeln!(s, "No related models are listed.\n");
        return;
    }
    let _ = writeln!(
        s,
        "Prices in USD per 1M tokens; blended = (input + output) / 2.\n"
    );
    let _ = writeln!(
        s,
        "| Model | Provider | Input | Output | Blended |\n|---|---|---|---|---|"
    );
    let today = now.date_naive();
    for r in related {
        let provider = snapshot
            .provider(&r.model.provider)
            .map_or(r.model.provider.as_str(), |p| p.name.as_str());
        let deprecated = if r.model.is_active_on(today) {
            ""
        } else {
            " (deprecated)"
        };
        let (input, output, blended) = match r.price_at(now) {
            Some(v) => (
                usd(v.prices.input_per_mtok),
                usd(v.prices.output_per_mtok),
                usd(v.prices.blended_per_mtok()),
            ),
            None => ("unknown".into(), "unknown".into(), "unknown".into()),
        };
        let _ = writeln!(
            s,
            "| [{}]({base}/models/{}.md){deprecated} | {} | {input} | {output} | {blended} |",
            text(&r.model.name),
            path_segment(&r.model.id),
            text(provider),
        );
    }
    s.push('\n');
}

/// The exact cost of a call of 1,000 input and 500 output tokens (fees included).
fn example_cost(p: &Prices) -> Decimal {
    p.cost(&Usage {
        input_tokens: 1000,
        output_tokens: 500,
        ..Usage::default()
    })
}

fn faq_section(s: &mut String, f: &Facts, site: &Site) {
    let m = &f.e.model;
    let name = text(&m.name);
    let base = site.base;
    let _ = writeln!(s, "## FAQ\n");

    let _ = writeln!(s, "### Can I call {name} through Tollgate?\n");
    if f.callable() {
        let _ = writeln!(s, "Yes, with any Tollgate API key allowed to use it, through the OpenAI-compatible Chat Completions and Responses endpoints and the Anthropic-compatible Messages endpoint, whatever protocol its provider speaks: requests and answers are translated by the gateway.\n");
    } else if !f.active {
        let _ = writeln!(s, "No: it is deprecated, and calls are refused with 404. Its page and prices stay for past usage and reports.\n");
    } else if !f.servable {
        let _ = writeln!(
            s,
            "No: its mode is {}, and the gateway serves chat models only (calls get 400 `model_not_servable`). It is listed so that its prices are known.\n",
            code(&m.mode)
        );
    } else {
        let _ = writeln!(s, "Not yet: see the note at the top of this page. Once an administrator has done what it says, the examples on this page work as they are.\n");
    }

    if f.shows_examples() {
        billing_answer(s, f);
        costs_and_limits_answers(s, f, base);
    } else {
        let _ = writeln!(s, "### What are its prices for?\n");
        let _ = writeln!(s, "Reports, estimates and re-pricing: they price usage recorded for this model and answer `POST {base}/v1/estimate`. No call to it is charged now, since none is served.\n");
    }
    names_answer(s, f);
    if let (Some(credit), true) = (site.free_tier_usd, f.shows_examples()) {
        let _ = writeln!(s, "### Is there a free tier?\n");
        let _ = writeln!(s, "Yes: every new API key starts with {} of credit, which calls to any model draw down at their prices. When the remaining credit cannot cover a call's maximum cost, the call is refused with 402 until more credit is granted.\n", usd(credit));
    }
}

fn billing_answer(s: &mut String, f: &Facts) {
    let _ = writeln!(s, "### How is a call billed?\n");
    match f.price {
        None => {
            let _ = writeln!(s, "No price is known for this model yet, so calls to it are refused (400 `model_not_priced`) rather than charged at a guess.\n");
        }
        Some(v) if v.prices.is_free() => {
            let _ = writeln!(s, "This model is free: its calls cost $0.00. They are still recorded, with their tokens, like any other call.\n");
        }
        Some(v) => {
            let p = &v.prices;
            let rates = p.base_rates();
            let _ = write!(
                s,
                "Pay-per-use: each call is charged for its tokens at the prices in effect when it started, per 1M tokens: input {}, cached input {}, cache write {}, output {}, reasoning {}",
                usd(rates.input),
                usd(rates.cached_input),
                usd(rates.cache_write),
                usd(rates.output),
                usd(rates.reasoning)
            );
            if p.cache_write_1h_per_mtok.is_some() {
                let _ = write!(s, ", 1-hour cache write {}", usd(rates.cache_write_1h));
            }
            if !p.per_request.is_zero() {
                let _ = write!(s, ", plus {} per request", usd(p.per_request));
            }
            if !p.per_web_search.is_zero() {
                let _ = write!(s, ", plus {} per web search", usd(p.per_web_search));
            }
            if !p.per_image.is_zero() {
                let _ = write!(s, ", plus {} per input image", usd(p.per_image));
            }
            let _ = write!(
                s,
                ". For example, a call with 1,000 input and 500 output tokens costs {}.",
                usd(example_cost(p))
            );
            if let Some(t) = p.tiers.first() {
                let _ = write!(
                    s,
                    " Calls with more than {} input tokens are charged at the long-context tier prices, in full.",
                    thousands(t.above_input_tokens)
                );
            }
            let _ = writeln!(s, " A call the upstream refused or never answered costs nothing. Costs are exact decimals, never rounded.\n");
        }
    }
}

fn costs_and_limits_answers(s: &mut String, f: &Facts, base: &str) {
    let m = &f.e.model;
    let _ = writeln!(s, "### Where do I see what a call cost?\n");
    let _ = writeln!(s, "Every answer carries an `x-request-id` header, and non-streaming answers an `x-tollgate-cost` header (USD, an exact decimal string). OpenAI-format answers also carry `usage.cost` as a JSON number (in a chat stream, in the final usage chunk when you send `stream_options.include_usage`; in a Responses stream, in `response.completed`). The full record of a call (tokens of each kind, cost, price version) is at `GET {base}/v1/generations/<x-request-id>`, and your key's spend, budgets and balance at `GET {base}/v1/key`.\n");

    let _ = writeln!(s, "### What happens when my budget or credit runs out?\n");
    let cap = match m.max_output_tokens {
        Some(n) => format!(
            "this model's maximum output, {} tokens",
            thousands(u64::from(n))
        ),
        None => "4,096 tokens".to_string(),
    };
    let _ = writeln!(s, "Before a call is forwarded, its maximum possible cost (the request's input and its output cap, at the dearest rate that could apply) is reserved against every hard budget and prepaid balance that applies to your key (the key's, its team's, the gateway's). If one cannot cover it, the call is refused with 402 (`insufficient_quota` in OpenAI format, `billing_error` in Anthropic format) and nothing is sent upstream, so spend never passes a hard limit. When the call ends, only its real cost is kept. Soft budgets only send alerts. A request without an output cap (`max_tokens`, `max_completion_tokens`, `max_output_tokens`) is given {cap}, so a smaller cap lowers the reservation.\n");

    let _ = writeln!(s, "### Does it support streaming?\n");
    if m.has_capability("streaming") {
        let _ = writeln!(s, "Yes: set `\"stream\": true` on any of the three endpoints to get Server-Sent Events in that endpoint's own format. A streamed call is recorded and charged like any other; its cost is not in a header (headers go out before it is known) but in the call's record, and in OpenAI format in the final usage event.\n");
    } else {
        let _ = writeln!(s, "The catalog does not list streaming for this model. The gateway forwards `\"stream\": true` all the same; the provider may refuse it.\n");
    }

    let _ = writeln!(s, "### Does it support tools (function calling)?\n");
    if m.has_capability("tools") {
        let _ = writeln!(s, "Yes: send OpenAI `tools`, Anthropic `tools` or Responses function tools; the gateway translates tool calls and results between formats whatever protocol the provider speaks.\n");
    } else {
        let _ = writeln!(s, "The catalog does not list tool use for this model. A request with tools is forwarded as it is; the provider may refuse or ignore them.\n");
    }
}

fn names_answer(s: &mut String, f: &Facts) {
    let m = &f.e.model;
    let _ = writeln!(s, "### Which model names can I use?\n");
    if f.e.aliases.is_empty() {
        let _ = writeln!(s, "Its id, {}.\n", code(&m.id));
    } else {
        let names: Vec<String> = f.e.aliases.iter().map(|a| code(a)).collect();
        let _ = writeln!(
            s,
            "Its id, {}, or any of its aliases: {} (a name ending in `*` stands for every name it starts). The answer's `model` is always the id.\n",
            code(&m.id),
            names.join(", ")
        );
    }
}

fn footer(s: &mut String, e: &Entry, base: &str) {
    let _ = writeln!(
        s,
        "---\n\n[llms.txt: every model]({base}/llms.txt) · [This model as JSON]({base}/v1/models/{}) · [All models as JSON]({base}/v1/models) · [OpenAPI]({base}/openapi.json)",
        path_segment(&e.model.id)
    );
}

/// One model's line in `llms.txt`.
fn index_line(s: &mut String, snapshot: &Snapshot, e: &Entry, now: DateTime<Utc>, base: &str) {
    let m = &e.model;
    let provider = snapshot.provider(&m.provider);
    let provider_name = provider.map_or(m.provider.as_str(), |p| p.name.as_str());
    let _ = write!(
        s,
        "- [{}]({base}/models/{}.md): {}, by {} via {}; {}; context {}",
        text(&m.name),
        path_segment(&m.id),
        code(&m.id),
        creator(e),
        text(provider_name),
        price_summary(e.price_at(now)),
        or_unknown(m.context_length, "tokens")
    );
    if m.mode != "chat" {
        let _ = write!(s, "; {} model, not served", text(&m.mode));
    } else if provider.is_some_and(|p| p.listing_only) {
        s.push_str("; not callable until its provider is configured");
    }
    if let Some(d) = m.deprecated_from {
        let _ = write!(s, "; deprecated from {d}");
    }
    s.push('\n');
}

/// The `llms.txt` index of the catalog: every model, linked to its page. Chat models come
/// first, then models the gateway lists but does not serve, then deprecated models.
pub fn llms_txt(snapshot: &Snapshot, now: DateTime<Utc>, site: &Site) -> String {
    let base = site.base;
    let today = now.date_naive();
    let mut chat = String::with_capacity(snapshot.entries.len() * 200);
    let mut other = String::new();
    let mut deprecated = String::new();
    let (mut n_chat, mut n_other, mut n_deprecated) = (0usize, 0usize, 0usize);
    for e in &snapshot.entries {
        if !e.model.is_active_on(today) {
            n_deprecated += 1;
            index_line(&mut deprecated, snapshot, e, now, base);
        } else if e.model.mode == "chat" {
            n_chat += 1;
            index_line(&mut chat, snapshot, e, now, base);
        } else {
            n_other += 1;
            index_line(&mut other, snapshot, e, now, base);
        }
    }
    let mut s = String::with_capacity(chat.len() + other.len() + deprecated.len() + 2048);
    let _ = writeln!(s, "# Tollgate model catalog\n");
    let _ = write!(
        s,
        "> {} models behind one OpenAI- and Anthropic-compatible endpoint ({base}/v1), with exact per-token prices. Pay-per-use.",
        snapshot.entries.len()
    );
    if let Some(credit) = site.free_tier_usd {
        let _ = write!(
            s,
            " Free tier: {} of credit for every new API key.",
            usd(credit)
        );
    }
    s.push_str("\n\n");
    let _ = writeln!(s, "Call any chat model with the OpenAI SDK (`base_url=\"{base}/v1\"`: `/v1/chat/completions`, `/v1/responses`), the Anthropic SDK (`base_url=\"{base}\"`: `/v1/messages`, `/v1/messages/count_tokens`) or Claude Code (`ANTHROPIC_BASE_URL={base} ANTHROPIC_AUTH_TOKEN=<key> claude --model <id>`), with a Tollgate API key. Each model's page has its prices, copy-ready examples, parameters and an FAQ. Prices are USD per 1M tokens; blended = (input + output) / 2.\n");
    let _ = writeln!(s, "## Models\n");
    if n_chat == 0 {
        s.push_str("No chat models.\n");
    }
    s.push_str(&chat);
    if n_other > 0 {
        let _ = writeln!(
            s,
            "\n## Listed, not served\n\nModels that are not chat models (embeddings, image generation, ...): listed and priced, not callable through the gateway.\n"
        );
        s.push_str(&other);
    }
    if n_deprecated > 0 {
        let _ = writeln!(
            s,
            "\n## Deprecated\n\nNo longer callable; listed for their prices and history.\n"
        );
        s.push_str(&deprecated);
    }
    let _ = writeln!(s, "\n## Optional\n");
    let _ = writeln!(
        s,
        "- [Model list as JSON]({base}/v1/models): every model with its prices, capabilities and aliases"
    );
    let _ = writeln!(
        s,
        "- [OpenAPI description]({base}/openapi.json): every endpoint of the gateway"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(131072), "131,072");
        assert_eq!(thousands(1000000), "1,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(0), "0");
    }

    #[test]
    fn usd_keeps_two_places_at_least() {
        use std::str::FromStr;
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(usd(d("2")), "$2.00");
        assert_eq!(usd(d("2.000000")), "$2.00");
        assert_eq!(usd(d("0.325")), "$0.325");
        assert_eq!(usd(d("1.1375")), "$1.1375");
        assert_eq!(usd(Decimal::ZERO), "$0.00");
    }

    #[test]
    fn ids_with_a_slash_are_one_path_segment() {
        assert_eq!(
            path_segment("gemini/gemini-2.5-pro"),
            "gemini%2Fgemini-2.5-pro"
        );
        assert_eq!(
            path_segment("bedrock/anthropic.claude-v1:0"),
            "bedrock%2Fanthropic.claude-v1:0"
        );
        assert_eq!(path_segment("plain-id@v1+x"), "plain-id@v1+x");
    }

    #[test]
    fn catalog_text_cannot_break_the_markdown() {
        assert_eq!(text("Plain: name 2.5"), "Plain: name 2.5");
        assert_eq!(text("a|b [c]\nd"), "a\\|b \\[c\\] d");
        assert_eq!(code("claude-*"), "`claude-*`");
        assert_eq!(code("a`b"), "`` a`b ``");
    }
}
