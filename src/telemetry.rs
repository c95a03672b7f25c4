//! Operational metrics, served as Prometheus text at `GET /metrics`.
//!
//! Counters are fed from committed usage records (in the metering writer, after the commit), so
//! they agree with the ledger; the cost counter is a float and therefore approximate — the
//! ledger (integer picodollars) stays the exact source. Keys are never labels (one series per
//! key would not scale); models, providers and teams are.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::catalog::Catalog;
use crate::metering::{CallStatus, UsageRecord};

// Labels from closed sets (endpoint, status, token kind) are static strings: a record's
// metrics allocate only the labels that name models, providers and teams.

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub endpoint: &'static str,
    pub model: String,
    pub provider: String,
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub endpoint: &'static str,
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub model: String,
    pub provider: String,
    pub team: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CostLabels {
    pub model: String,
    pub provider: String,
    pub team: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub provider: String,
    pub status: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    ])
}

/// Every metric the gateway keeps.
pub struct Metrics {
    registry: Registry,
    requests: Family<CallLabels, Counter>,
    latency: Histograms<LatencyLabels>,
    ttft: Histograms<LatencyLabels>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<CostLabels, Counter<f64, AtomicU64>>,
    upstream_errors: Family<UpstreamLabels, Counter>,
    budget_refusals: Counter,
    /// Budgeted calls admitted from this replica's budget leases (PostgreSQL).
    pub budget_lease_admissions: Counter,
    /// Budget leases the database granted, and refused (the account within a lease of its
    /// limit).
    pub budget_leases_granted: Counter,
    pub budget_leases_refused: Counter,
    /// Commands waiting for the metering writer.
    pub queue_depth: Gauge,
    /// Records per committed batch.
    pub batch_size: Histogram,
    /// Seconds per batch commit.
    pub commit_seconds: Histogram,
    /// Streams being relayed now.
    pub open_streams: Gauge,
    /// The catalog whose model ids may be labels; see [`Metrics::model_label`].
    catalog: Option<Catalog>,
}

/// The model label of a record whose model is not in the catalog.
pub const UNKNOWN_MODEL: &str = "(not in catalog)";

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tollgate");
        let m = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            ttft: Family::new_with_constructor(latency_histogram),
            tokens: Family::default(),
            cost: Family::default(),
            upstream_errors: Family::default(),
            budget_refusals: Counter::default(),
            budget_lease_admissions: Counter::default(),
            budget_leases_granted: Counter::default(),
            budget_leases_refused: Counter::default(),
            queue_depth: Gauge::default(),
            batch_size: Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]),
            commit_seconds: Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            open_streams: Gauge::default(),
            registry: Registry::default(),
            catalog: None,
        };
        registry.register(
            "requests",
            "Gateway calls recorded, by endpoint format, catalog model, provider and call status",
            m.requests.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Gateway call duration, from the request to the committed record",
            Unit::Seconds,
            m.latency.clone(),
        );
        registry.register_with_unit(
            "time_to_first_token",
            "Time to the first streamed token",
            Unit::Seconds,
            m.ttft.clone(),
        );
        registry.register(
            "tokens",
            "Tokens of committed calls by kind (input includes cached and cache-write tokens)",
            m.tokens.clone(),
        );
        registry.register(
            "cost_usd",
            "Cost of committed calls in USD, as a float: approximate. The ledger (GET /admin/spend) is the exact source",
            m.cost.clone(),
        );
        registry.register(
            "upstream_errors",
            "Calls the upstream failed (error status, timeout, broken stream), by provider",
            m.upstream_errors.clone(),
        );
        registry.register(
            "budget_refusals",
            "Calls refused because a budget or prepaid balance would be exceeded",
            m.budget_refusals.clone(),
        );
        registry.register(
            "budget_lease_admissions",
            "Budgeted calls admitted from this replica's budget leases, without a reservation round trip (PostgreSQL, TOLLGATE_BUDGET_LEASE_CALLS)",
            m.budget_lease_admissions.clone(),
        );
        registry.register(
            "budget_leases_granted",
            "Budget leases the database granted to this replica",
            m.budget_leases_granted.clone(),
        );
        registry.register(
            "budget_leases_refused",
            "Budget leases the database refused (the account was within a lease of its limit; its calls are then reserved one by one)",
            m.budget_leases_refused.clone(),
        );
        registry.register(
            "metering_queue_depth",
            "Records and reservations waiting for the metering writer",
            m.queue_depth.clone(),
        );
        registry.register(
            "metering_batch_size",
            "Usage records per committed batch",
            m.batch_size.clone(),
        );
        registry.register_with_unit(
            "metering_commit_duration",
            "Time to commit one batch of usage records",
            Unit::Seconds,
            m.commit_seconds.clone(),
        );
        registry.register(
            "open_streams",
            "Streamed answers being relayed now",
            m.open_streams.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Metrics whose model labels are limited to `catalog`'s models (the gateway's).
    pub fn for_catalog(catalog: Catalog) -> Self {
        Metrics {
            catalog: Some(catalog),
            ..Self::new()
        }
    }

    /// A record's model label: its model id when the catalog has that model, else
    /// [`UNKNOWN_MODEL`]. A refused call is recorded under the name its caller sent, and one
    /// series per name would let any key holder grow `/metrics` (and this process) without
    /// bound; the ledger keeps the name.
    fn model_label(&self, model_id: &str) -> String {
        match &self.catalog {
            Some(c) if c.snapshot().get(model_id).is_none() => UNKNOWN_MODEL.to_string(),
            _ => model_id.to_string(),
        }
    }

    /// Counts a committed usage record.
    pub fn record(&self, r: &UsageRecord) {
        let model = self.model_label(&r.model_id);
        let provider = r.provider_id.clone().unwrap_or_default();
        let team = r.team_id.clone().unwrap_or_default();
        let endpoint = r.endpoint.as_str();
        self.requests
            .get_or_create(&CallLabels {
                endpoint,
                model: model.clone(),
                provider: provider.clone(),
                status: r.status.as_str(),
            })
            .inc();
        let seconds = |ms: u64| ms as f64 / 1000.0;
        let latency = LatencyLabels {
            endpoint,
            model: model.clone(),
        };
        self.latency
            .get_or_create(&latency)
            .observe(seconds(r.latency_ms));
        if let Some(t) = r.ttft_ms {
            self.ttft.get_or_create(&latency).observe(seconds(t));
        }
        let u = &r.usage;
        for (kind, n) in [
            ("input", u.input_tokens),
            ("cached_input", u.cached_input_tokens),
            ("cache_write", u.cache_write_tokens),
            ("output", u.output_tokens),
            ("reasoning", u.reasoning_tokens),
        ] {
            if n > 0 {
                self.tokens
                    .get_or_create(&TokenLabels {
                        model: model.clone(),
                        provider: provider.clone(),
                        team: team.clone(),
                        kind,
                    })
                    .inc_by(n);
            }
        }
        if !r.cost.is_zero() {
            let usd = rust_decimal::prelude::ToPrimitive::to_f64(&r.cost).unwrap_or(0.0);
            self.cost
                .get_or_create(&CostLabels {
                    model,
                    provider: provider.clone(),
                    team,
                })
                .inc_by(usd);
        }
        match r.status {
            CallStatus::UpstreamError | CallStatus::Timeout | CallStatus::StreamError => {
                let status = r
                    .upstream_status
                    .map_or_else(|| r.status.as_str().to_string(), |s| s.to_string());
                self.upstream_errors
                    .get_or_create(&UpstreamLabels { provider, status })
                    .inc();
            }
            CallStatus::Rejected if r.http_status == 402 => {
                self.budget_refusals.inc();
            }
            _ => {}
        }
    }

    /// The metrics in the Prometheus/OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
