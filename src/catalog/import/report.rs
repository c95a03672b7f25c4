//! The import's diff as text, for the command line.

use std::fmt::Write;

use super::plan::{Plan, PriceChange};
use crate::pricing::Prices;

/// How many entries of each list the text shows (the JSON output has them all).
const SHOWN: usize = 20;

fn rates(p: &Prices) -> String {
    let mut s = format!("in {} / out {}", p.input_per_mtok, p.output_per_mtok);
    if let Some(c) = p.cached_input_per_mtok {
        let _ = write!(s, " / cache read {c}");
    }
    if let Some(c) = p.cache_write_per_mtok {
        let _ = write!(s, " / cache write {c}");
    }
    if let Some(c) = p.cache_write_1h_per_mtok {
        let _ = write!(s, " / 1h cache write {c}");
    }
    if !p.tiers.is_empty() {
        let _ = write!(s, " / {} tier(s)", p.tiers.len());
    }
    s
}

fn change_lines(out: &mut String, changes: &[PriceChange]) {
    for c in changes.iter().take(SHOWN) {
        let old = c.old.as_ref().map_or_else(|| "unpriced".to_string(), rates);
        let _ = writeln!(
            out,
            "    {}: {old} → {} (USD per 1M tokens)",
            c.model,
            rates(&c.new)
        );
    }
    more(out, changes.len());
}

fn more(out: &mut String, n: usize) {
    if n > SHOWN {
        let _ = writeln!(
            out,
            "    … and {} more (--output json lists them all)",
            n - SHOWN
        );
    }
}

fn list(out: &mut String, title: &str, items: &[String]) {
    let _ = writeln!(out, "  {title}: {}", items.len());
    for i in items.iter().take(SHOWN) {
        let _ = writeln!(out, "    {i}");
    }
    more(out, items.len());
}

/// The diff as text.
pub fn text(plan: &Plan, dry_run: bool) -> String {
    let mut out = String::new();
    let what = match (dry_run, plan.is_empty()) {
        (true, _) => "dry run: nothing changed",
        (false, true) => "nothing to change",
        (false, false) => "applied",
    };
    let _ = writeln!(
        out,
        "{} import ({what}); new prices effective {}",
        plan.format.as_str(),
        plan.effective_from.to_rfc3339()
    );
    let listing = plan
        .providers_added
        .iter()
        .filter(|p| p.listing_only)
        .count();
    let _ = writeln!(
        out,
        "  providers added: {} ({listing} listing-only: priced, not callable until configured)",
        plan.providers_added.len()
    );
    for p in plan.providers_added.iter().take(SHOWN) {
        let how = if p.listing_only {
            "listing-only".to_string()
        } else {
            format!(
                "{} at {}, key in ${}",
                p.kind.as_str(),
                p.base_url,
                p.api_key_env.as_deref().unwrap_or("-")
            )
        };
        let _ = writeln!(out, "    {}: {how}", p.id);
    }
    more(&mut out, plan.providers_added.len());
    let _ = writeln!(
        out,
        "  models added: {} ({} without a price)",
        plan.models_added.len(),
        plan.unpriced.len()
    );
    list(
        &mut out,
        "models updated (context, capabilities, mode, deprecation)",
        &plan.models_updated,
    );
    let _ = writeln!(
        out,
        "  prices changed (new versions): {}",
        plan.prices_changed.len()
    );
    change_lines(&mut out, &plan.prices_changed);
    let _ = writeln!(
        out,
        "  pinned (set by an administrator, kept; the source differs): {}",
        plan.pinned.len()
    );
    change_lines(&mut out, &plan.pinned);
    list(
        &mut out,
        "gone from the source (left as they are)",
        &plan.gone,
    );
    let _ = writeln!(out, "  unchanged: {}", plan.unchanged);
    let _ = writeln!(out, "  skipped: {}", plan.skipped.len());
    for s in plan.skipped.iter().take(SHOWN) {
        let _ = writeln!(out, "    {}: {}", s.key, s.reason);
    }
    more(&mut out, plan.skipped.len());
    for (title, fields) in [
        (
            "fields not understood (entries carrying them)",
            &plan.unknown_fields,
        ),
        (
            "price fields not charged yet (entries carrying them)",
            &plan.unapplied_fields,
        ),
    ] {
        let _ = writeln!(out, "  {title}: {}", fields.len());
        for (f, n) in fields {
            let _ = writeln!(out, "    {f}: {n}");
        }
    }
    out
}
