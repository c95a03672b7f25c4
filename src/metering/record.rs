//! The usage record of one call.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use crate::money::format_usd;
use crate::pricing::Usage;

/// The API format the caller used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    OpenaiChat,
    AnthropicMessages,
    OpenaiResponses,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::OpenaiChat => "openai_chat",
            Endpoint::AnthropicMessages => "anthropic_messages",
            Endpoint::OpenaiResponses => "openai_responses",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "openai_chat" => Some(Endpoint::OpenaiChat),
            "anthropic_messages" => Some(Endpoint::AnthropicMessages),
            "openai_responses" => Some(Endpoint::OpenaiResponses),
            _ => None,
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// The upstream answered and the whole answer reached the caller.
    Ok,
    /// The upstream answered with an error status.
    UpstreamError,
    /// The upstream did not answer in time.
    Timeout,
    /// The caller went away before the answer was complete.
    ClientCancelled,
    /// The upstream's stream broke off or was malformed.
    StreamError,
    /// The process stopped while the call was in flight (closed out at the next start).
    Interrupted,
    /// Tollgate refused the call before forwarding it (no price, model not allowed, ...).
    Rejected,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Ok => "ok",
            CallStatus::UpstreamError => "upstream_error",
            CallStatus::Timeout => "timeout",
            CallStatus::ClientCancelled => "client_cancelled",
            CallStatus::StreamError => "stream_error",
            CallStatus::Interrupted => "interrupted",
            CallStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            CallStatus::Ok,
            CallStatus::UpstreamError,
            CallStatus::Timeout,
            CallStatus::ClientCancelled,
            CallStatus::StreamError,
            CallStatus::Interrupted,
            CallStatus::Rejected,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Where the token counts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// Reported by the upstream.
    Upstream,
    /// Counted by Tollgate because the upstream reported none.
    Estimated,
    /// Nothing was processed (or nothing is known).
    None,
}

impl UsageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageSource::Upstream => "upstream",
            UsageSource::Estimated => "estimated",
            UsageSource::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "upstream" => Some(UsageSource::Upstream),
            "estimated" => Some(UsageSource::Estimated),
            "none" => Some(UsageSource::None),
            _ => None,
        }
    }
}

/// What is known of a call when it is forwarded.
#[derive(Debug, Clone)]
pub struct CallStart {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub key_id: Option<String>,
    pub team_id: Option<String>,
    pub model_id: String,
    /// The name the caller sent, when it is not `model_id` (an alias, or a name a pattern
    /// alias matched).
    pub requested_model: Option<String>,
    pub provider_id: Option<String>,
    pub upstream_model: Option<String>,
    pub endpoint: Endpoint,
    pub streamed: bool,
    pub price_version_id: Option<i64>,
}

/// One call in the usage ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRecord {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub key_id: Option<String>,
    pub team_id: Option<String>,
    pub model_id: String,
    /// The name the caller sent, when it is not `model_id` (an alias, or a name a pattern
    /// alias matched): kept beside the catalog id, since aliases move and the record must
    /// still say what was asked for.
    pub requested_model: Option<String>,
    pub provider_id: Option<String>,
    pub upstream_model: Option<String>,
    pub endpoint: Endpoint,
    pub streamed: bool,
    pub status: CallStatus,
    pub http_status: u16,
    pub upstream_status: Option<u16>,
    pub usage: Usage,
    pub usage_source: UsageSource,
    pub price_version_id: Option<i64>,
    pub cost: Decimal,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub error: Option<String>,
    /// Why the tokens are the gateway's own count (usage_source `estimated`) although the
    /// upstream answered: its report was invalid (kept here, raw), or the gateway cut the
    /// stream at the call's output cap.
    pub usage_note: Option<String>,
}

/// The JSON view of a record (`GET /v1/generations/{id}`), money as a decimal string.
#[derive(Debug, Serialize, ToSchema)]
pub struct GenerationView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The catalog id of the model called.
    pub model: String,
    /// The name the caller sent when it differs from `model` (an alias); `null` otherwise.
    pub requested_model: Option<String>,
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    pub key_id: Option<String>,
    pub team: Option<String>,
    pub endpoint: Endpoint,
    pub streamed: bool,
    pub status: CallStatus,
    pub http_status: u16,
    pub upstream_status: Option<u16>,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    /// Of the cache-write tokens, those written for one hour.
    pub cache_write_1h_tokens: u64,
    /// The service tier the upstream reported serving the call in (null: not reported).
    pub service_tier: Option<crate::service_tier::ServiceTier>,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub images: u64,
    /// Web searches the upstream reported for the call.
    pub web_search_requests: u64,
    pub usage_source: UsageSource,
    pub price_version_id: Option<i64>,
    /// USD, decimal string.
    pub cost_usd: String,
    pub latency_ms: u64,
    pub time_to_first_token_ms: Option<u64>,
    pub error: Option<String>,
    pub usage_note: Option<String>,
}

/// The answer of `GET /v1/generations/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Generation {
    pub data: GenerationView,
}

impl UsageRecord {
    /// A record for a call that started but was closed without an answer from the upstream.
    pub fn from_start(start: &CallStart, status: CallStatus, http_status: u16) -> Self {
        let now = Utc::now();
        UsageRecord {
            id: start.id.clone(),
            started_at: start.started_at,
            finished_at: now,
            key_id: start.key_id.clone(),
            team_id: start.team_id.clone(),
            model_id: start.model_id.clone(),
            requested_model: start.requested_model.clone(),
            provider_id: start.provider_id.clone(),
            upstream_model: start.upstream_model.clone(),
            endpoint: start.endpoint,
            streamed: start.streamed,
            status,
            http_status,
            upstream_status: None,
            usage: Usage::default(),
            usage_source: UsageSource::None,
            price_version_id: start.price_version_id,
            cost: Decimal::ZERO,
            latency_ms: u64::try_from((now - start.started_at).num_milliseconds()).unwrap_or(0),
            ttft_ms: None,
            error: None,
            usage_note: None,
        }
    }

    pub fn view(&self) -> GenerationView {
        GenerationView {
            id: self.id.clone(),
            created_at: self.started_at,
            finished_at: self.finished_at,
            model: self.model_id.clone(),
            requested_model: self.requested_model.clone(),
            provider: self.provider_id.clone(),
            upstream_model: self.upstream_model.clone(),
            key_id: self.key_id.clone(),
            team: self.team_id.clone(),
            endpoint: self.endpoint,
            streamed: self.streamed,
            status: self.status,
            http_status: self.http_status,
            upstream_status: self.upstream_status,
            input_tokens: self.usage.input_tokens,
            cached_input_tokens: self.usage.cached_input_tokens,
            cache_write_tokens: self.usage.cache_write_tokens,
            cache_write_1h_tokens: self.usage.cache_write_1h_tokens,
            service_tier: self.usage.service_tier,
            output_tokens: self.usage.output_tokens,
            reasoning_tokens: self.usage.reasoning_tokens,
            images: self.usage.images,
            web_search_requests: self.usage.web_search_requests,
            usage_source: self.usage_source,
            price_version_id: self.price_version_id,
            cost_usd: format_usd(self.cost),
            latency_ms: self.latency_ms,
            time_to_first_token_ms: self.ttft_ms,
            error: self.error.clone(),
            usage_note: self.usage_note.clone(),
        }
    }
}
