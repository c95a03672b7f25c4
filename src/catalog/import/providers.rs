//! Which Tollgate provider serves a source's models: the well-known hosts that speak one of
//! the gateway's protocols get their kind, base URL and key variable; every other provider is
//! created listing-only (its models are priced and listed; calls are refused until an
//! administrator configures it).

use std::collections::BTreeMap;

use crate::catalog::{is_valid_id, Provider, ProviderKind};

/// Hosts that speak OpenAI Chat Completions or Anthropic Messages, by the provider names
/// LiteLLM uses.
const KNOWN: &[(&str, ProviderKind, &str)] = &[
    (
        "anthropic",
        ProviderKind::Anthropic,
        "https://api.anthropic.com",
    ),
    ("openai", ProviderKind::Openai, "https://api.openai.com/v1"),
    (
        "text-completion-openai",
        ProviderKind::Openai,
        "https://api.openai.com/v1",
    ),
    (
        "deepseek",
        ProviderKind::Openai,
        "https://api.deepseek.com/v1",
    ),
    (
        "groq",
        ProviderKind::Openai,
        "https://api.groq.com/openai/v1",
    ),
    ("mistral", ProviderKind::Openai, "https://api.mistral.ai/v1"),
    (
        "codestral",
        ProviderKind::Openai,
        "https://codestral.mistral.ai/v1",
    ),
    ("xai", ProviderKind::Openai, "https://api.x.ai/v1"),
    (
        "together_ai",
        ProviderKind::Openai,
        "https://api.together.xyz/v1",
    ),
    (
        "fireworks_ai",
        ProviderKind::Openai,
        "https://api.fireworks.ai/inference/v1",
    ),
    (
        "openrouter",
        ProviderKind::Openai,
        "https://openrouter.ai/api/v1",
    ),
    (
        "perplexity",
        ProviderKind::Openai,
        "https://api.perplexity.ai",
    ),
    (
        "deepinfra",
        ProviderKind::Openai,
        "https://api.deepinfra.com/v1/openai",
    ),
    (
        "cerebras",
        ProviderKind::Openai,
        "https://api.cerebras.ai/v1",
    ),
    (
        "gemini",
        ProviderKind::Openai,
        "https://generativelanguage.googleapis.com/v1beta/openai",
    ),
    (
        "moonshot",
        ProviderKind::Openai,
        "https://api.moonshot.ai/v1",
    ),
    (
        "dashscope",
        ProviderKind::Openai,
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
    ),
    (
        "sambanova",
        ProviderKind::Openai,
        "https://api.sambanova.ai/v1",
    ),
    (
        "hyperbolic",
        ProviderKind::Openai,
        "https://api.hyperbolic.xyz/v1",
    ),
    (
        "novita",
        ProviderKind::Openai,
        "https://api.novita.ai/v3/openai",
    ),
    (
        "nebius",
        ProviderKind::Openai,
        "https://api.studio.nebius.com/v1",
    ),
    ("zai", ProviderKind::Openai, "https://api.z.ai/api/paas/v4"),
    ("minimax", ProviderKind::Openai, "https://api.minimax.io/v1"),
];

/// The environment variable named after a provider: `DEEPSEEK_API_KEY`.
pub fn key_env(id: &str) -> String {
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}_API_KEY")
}

/// A provider id from a source's provider name (`vertex_ai-language-models` stays as it is;
/// characters an id cannot hold become `-`).
pub fn provider_id(source: &str) -> String {
    let id: String = source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if is_valid_id(&id) {
        id
    } else {
        "unknown".into()
    }
}

/// The provider a source provider name maps to: an administrator's mapping first
/// (`--provider-map`), then the well-known hosts, else a listing-only provider.
pub fn provider_for(source: &str, map: &BTreeMap<String, String>) -> Provider {
    let id = map
        .get(source)
        .cloned()
        .unwrap_or_else(|| provider_id(source));
    let known = KNOWN.iter().find(|(name, _, _)| *name == source);
    Provider {
        name: id.clone(),
        kind: known.map_or(ProviderKind::Openai, |k| k.1),
        base_url: known.map_or(String::new(), |k| k.2.to_string()),
        api_key_env: Some(key_env(&id)),
        connect_timeout_ms: None,
        first_byte_timeout_ms: None,
        total_timeout_ms: None,
        listing_only: known.is_none(),
        id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_are_callable_and_others_listed() {
        let map = BTreeMap::new();
        let d = provider_for("deepseek", &map);
        assert_eq!((d.kind, d.listing_only), (ProviderKind::Openai, false));
        assert_eq!(d.api_key_env.as_deref(), Some("DEEPSEEK_API_KEY"));
        let a = provider_for("anthropic", &map);
        assert_eq!(a.kind, ProviderKind::Anthropic);
        let b = provider_for("bedrock_converse", &map);
        assert!(b.listing_only);
        assert_eq!(b.api_key_env.as_deref(), Some("BEDROCK_CONVERSE_API_KEY"));
        let mapped = provider_for(
            "gemini",
            &BTreeMap::from([("gemini".into(), "google".into())]),
        );
        assert_eq!(mapped.id, "google");
    }
}
