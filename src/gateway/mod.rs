//! The gateway: OpenAI- and Anthropic-compatible endpoints in front of every catalog model.
//!
//! A call is authenticated, resolved against the catalog (model, provider, price in effect),
//! translated when the caller's format differs from the provider's, forwarded, metered, and
//! answered. See [`call`] for the flow.

pub mod admit;
pub mod body;
pub mod call;
pub mod forward;
pub mod handlers;
pub mod hub;
pub mod relay;
pub mod settle;
pub mod stream;
pub mod tokens;
pub mod upstream;
pub mod usage;

/// The API format a caller speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAI Chat Completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Responses: always translated through [`crate::protocol`].
    Responses,
}

impl Format {
    pub fn endpoint(self) -> crate::metering::Endpoint {
        match self {
            Format::OpenAi => crate::metering::Endpoint::OpenaiChat,
            Format::Anthropic => crate::metering::Endpoint::AnthropicMessages,
            Format::Responses => crate::metering::Endpoint::OpenaiResponses,
        }
    }
}

/// A new call id, time-ordered, used as `x-request-id` and the usage record's id.
pub fn new_call_id() -> String {
    format!("gen_{}", uuid::Uuid::now_v7().simple())
}
