//! Service tiers: the processing tier an upstream says it served a call in, which some
//! providers price differently (OpenAI's `flex` and `priority`, Anthropic's `priority`).
//!
//! The tier a call is charged in is the one the upstream REPORTS (OpenAI's response
//! `service_tier`, Anthropic's `usage.service_tier`), never the one the caller asked for: a
//! request for `priority` may be served in `default`, and only the answer says which. Reported
//! names are matched against a closed set per protocol; anything else is not a tier (the call is
//! recorded with no tier and charged the standard rates), so an upstream cannot make the
//! gateway store or price an arbitrary string.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A tier, under Tollgate's one name for it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTier {
    /// OpenAI's `default`, Anthropic's `standard`.
    Standard,
    /// OpenAI's `flex`: slower, cheaper.
    Flex,
    /// OpenAI's and Anthropic's `priority`.
    Priority,
    /// OpenAI's `scale` (capacity bought ahead; its tokens are charged the standard rates).
    Scale,
    /// Anthropic's `batch` (the Message Batches API, which Tollgate does not serve).
    Batch,
}

impl ServiceTier {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceTier::Standard => "standard",
            ServiceTier::Flex => "flex",
            ServiceTier::Priority => "priority",
            ServiceTier::Scale => "scale",
            ServiceTier::Batch => "batch",
        }
    }

    /// A stored name back.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ServiceTier::Standard,
            ServiceTier::Flex,
            ServiceTier::Priority,
            ServiceTier::Scale,
            ServiceTier::Batch,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// The tier an OpenAI(-compatible) answer's `service_tier` names.
    pub fn from_openai(name: &str) -> Option<Self> {
        match name {
            "default" => Some(ServiceTier::Standard),
            "flex" => Some(ServiceTier::Flex),
            "priority" => Some(ServiceTier::Priority),
            "scale" => Some(ServiceTier::Scale),
            _ => None,
        }
    }

    /// The tier an Anthropic answer's `usage.service_tier` names.
    pub fn from_anthropic(name: &str) -> Option<Self> {
        match name {
            "standard" => Some(ServiceTier::Standard),
            "priority" => Some(ServiceTier::Priority),
            "batch" => Some(ServiceTier::Batch),
            _ => None,
        }
    }

    /// The name Anthropic's `usage.service_tier` gives this tier, if it has one.
    pub fn anthropic_name(self) -> Option<&'static str> {
        match self {
            ServiceTier::Standard => Some("standard"),
            ServiceTier::Priority => Some("priority"),
            ServiceTier::Batch => Some("batch"),
            ServiceTier::Flex | ServiceTier::Scale => None,
        }
    }

    /// Tiers a price version may carry its own prices for: flex and priority are charged at
    /// them; batch prices are listed but never applied (Tollgate serves no batch API).
    pub fn has_own_prices(self) -> bool {
        matches!(
            self,
            ServiceTier::Flex | ServiceTier::Priority | ServiceTier::Batch
        )
    }

    /// Whether a call served in this tier is charged the tier's own prices.
    pub fn is_applied(self) -> bool {
        matches!(self, ServiceTier::Flex | ServiceTier::Priority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_has_its_closed_set_of_names() {
        assert_eq!(
            ServiceTier::from_openai("default"),
            Some(ServiceTier::Standard)
        );
        assert_eq!(ServiceTier::from_openai("flex"), Some(ServiceTier::Flex));
        assert_eq!(ServiceTier::from_openai("scale"), Some(ServiceTier::Scale));
        assert_eq!(ServiceTier::from_openai("standard"), None);
        assert_eq!(ServiceTier::from_openai("auto"), None);
        assert_eq!(ServiceTier::from_openai("PRIORITY"), None);
        assert_eq!(
            ServiceTier::from_anthropic("standard"),
            Some(ServiceTier::Standard)
        );
        assert_eq!(
            ServiceTier::from_anthropic("batch"),
            Some(ServiceTier::Batch)
        );
        assert_eq!(ServiceTier::from_anthropic("flex"), None);
        assert_eq!(ServiceTier::from_anthropic("default"), None);
    }

    #[test]
    fn stored_names_round_trip() {
        for t in [
            ServiceTier::Standard,
            ServiceTier::Flex,
            ServiceTier::Priority,
            ServiceTier::Scale,
            ServiceTier::Batch,
        ] {
            assert_eq!(ServiceTier::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
            if let Some(name) = t.anthropic_name() {
                assert_eq!(ServiceTier::from_anthropic(name), Some(t));
            }
        }
        assert_eq!(ServiceTier::parse("default"), None);
    }
}
