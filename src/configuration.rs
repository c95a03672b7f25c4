//! Settings of `tollgate serve`: every one is a CLI flag and an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// How to run the server.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "TOLLGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Database URL; the SQLite file is created if missing.
    #[arg(
        long,
        env = "TOLLGATE_DATABASE_URL",
        default_value = "sqlite://tollgate.db"
    )]
    pub database_url: String,

    /// Bearer token of the admin API; generated and printed once at start when unset.
    #[arg(long, env = "TOLLGATE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Directory of seed catalog files (*.toml), loaded into an empty catalog at start.
    /// When it does not exist, the seeds built into the binary are used.
    #[arg(long, env = "TOLLGATE_SEEDS_DIR", default_value = "seeds")]
    pub seeds_dir: PathBuf,

    /// Largest request body accepted, in bytes (image payloads can be large).
    #[arg(long, env = "TOLLGATE_MAX_BODY_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Base URL shown in model pages and examples; `http://<listen>` when unset.
    #[arg(long, env = "TOLLGATE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// How long shutdown waits for in-flight requests, in seconds.
    #[arg(long, env = "TOLLGATE_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// Default upstream connect timeout, milliseconds (a provider may set its own).
    #[arg(
        long,
        env = "TOLLGATE_UPSTREAM_CONNECT_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub upstream_connect_timeout_ms: u64,

    /// Default time to the first byte of a streamed upstream answer, milliseconds.
    #[arg(
        long,
        env = "TOLLGATE_UPSTREAM_FIRST_BYTE_TIMEOUT_MS",
        default_value_t = 60_000
    )]
    pub upstream_first_byte_timeout_ms: u64,

    /// Default limit on a whole upstream call, milliseconds.
    #[arg(
        long,
        env = "TOLLGATE_UPSTREAM_TOTAL_TIMEOUT_MS",
        default_value_t = 600_000
    )]
    pub upstream_total_timeout_ms: u64,

    /// A budget on all calls, as JSON: `{"limit_usd":"1000","period":"monthly","mode":"hard"}`.
    #[arg(long, env = "TOLLGATE_GLOBAL_BUDGET")]
    pub global_budget: Option<String>,

    /// IANA time zone of daily, weekly and monthly budget periods.
    #[arg(long, env = "TOLLGATE_BUDGET_TZ", default_value = "UTC")]
    pub budget_tz: String,

    /// Credit granted to every new key, USD.
    #[arg(long, env = "TOLLGATE_FREE_TIER_USD", default_value = "0")]
    pub free_tier_usd: String,

    /// Alert when a prepaid balance falls below this, USD.
    #[arg(long, env = "TOLLGATE_LOW_BALANCE_USD", default_value = "1.00")]
    pub low_balance_usd: String,

    /// Where alerts go when neither the key nor its team names a webhook.
    #[arg(long, env = "TOLLGATE_ALERT_WEBHOOK_URL")]
    pub alert_webhook_url: Option<String>,

    /// Secret of the HMAC-SHA256 `x-tollgate-signature` on alert webhooks.
    #[arg(
        long,
        env = "TOLLGATE_WEBHOOK_SECRET",
        hide_env_values = true,
        default_value = ""
    )]
    pub webhook_secret: String,

    /// How often the alert outbox is polled, milliseconds.
    #[arg(long, env = "TOLLGATE_ALERT_POLL_MS", default_value_t = 1000)]
    pub alert_poll_ms: u64,

    /// PostgreSQL replicas: a replica silent for this long is dead, and the others close out its
    /// calls in flight and release its budget reservations. Seconds.
    #[arg(long, env = "TOLLGATE_INSTANCE_LEASE_SECS", default_value_t = 10)]
    pub instance_lease_secs: u64,

    /// PostgreSQL: budget leases. A replica reserves this many calls' worth of an account's
    /// headroom at once and admits calls against it in memory, so a budgeted call is forwarded
    /// without a database round trip; near the limit calls are checked one by one as without.
    /// 0 (the default): off, every budgeted call reserves its own row (docs/budgets.md).
    #[arg(long, env = "TOLLGATE_BUDGET_LEASE_CALLS", default_value_t = 0)]
    pub budget_lease_calls: u32,

    /// When set, `GET /metrics` requires this bearer token (Prometheus: `authorization`).
    #[arg(long, env = "TOLLGATE_METRICS_TOKEN")]
    pub metrics_token: Option<String>,

    /// Log format: `text` (human-readable) or `json` (one object per line, with the call's
    /// span fields: call id, key, model).
    #[arg(long, env = "TOLLGATE_LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// Export traces (the `request` and `call` spans) over OTLP/HTTP to this collector base URL,
    /// e.g. `http://localhost:4318` (`/v1/traces` is appended). Off when unset, unless the
    /// standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set;
    /// `OTEL_SDK_DISABLED=true` turns it off (docs/operations.md).
    #[arg(long, env = "TOLLGATE_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Re-import this price list on a schedule (off when unset): LiteLLM's
    /// model_prices_and_context_window.json or OpenRouter's /api/v1/models.
    #[arg(long, env = "TOLLGATE_CATALOG_SYNC_URL")]
    pub catalog_sync_url: Option<String>,

    /// The sync URL's format: litellm or openrouter.
    #[arg(long, env = "TOLLGATE_CATALOG_SYNC_FORMAT", default_value = "litellm")]
    pub catalog_sync_format: String,

    /// Seconds between catalog syncs (the first runs at start).
    #[arg(
        long,
        env = "TOLLGATE_CATALOG_SYNC_INTERVAL_SECS",
        default_value_t = 86_400
    )]
    pub catalog_sync_interval_secs: u64,

    /// Log filter (tracing-subscriber EnvFilter syntax), e.g. `info` or `tollgate=debug`.
    #[arg(long, env = "TOLLGATE_LOG", default_value = "info")]
    pub log: String,

    /// Time a client has to send a whole request head (request line and headers), in
    /// milliseconds, counted from its connection or from the request's first byte. Slower
    /// connections are closed.
    #[arg(
        long,
        env = "TOLLGATE_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub header_read_timeout_ms: u64,

    /// How long a connection with no request in progress stays open (HTTP/1.1 keep-alive and
    /// HTTP/2 alike), in milliseconds.
    #[arg(long, env = "TOLLGATE_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,

    /// Longest wait for the next piece of a request body, in milliseconds; a body that stalls
    /// longer is refused.
    #[arg(long, env = "TOLLGATE_BODY_READ_TIMEOUT_MS", default_value_t = 30_000)]
    pub body_read_timeout_ms: u64,

    /// Most client connections open at once; further ones wait in the listen backlog. When
    /// unset: half the open-file limit (each call may also hold an upstream socket), at most
    /// 10,000.
    #[arg(long, env = "TOLLGATE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Largest body read before authentication on ModelsLab paths when the key is sent as
    /// `"key"` in the body (no `Authorization`/`x-api-key` header), in bytes.
    #[arg(long, env = "TOLLGATE_BODY_KEY_MAX_BYTES", default_value_t = 64 * 1024)]
    pub body_key_max_bytes: usize,

    /// Largest amount of text `count_tokens` tokenizes, in bytes (413 above it).
    #[arg(long, env = "TOLLGATE_COUNT_TOKENS_MAX_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub count_tokens_max_bytes: usize,

    /// How many `count_tokens` requests are tokenized at once (on blocking threads, off the
    /// async runtime); further ones wait. When unset: the number of CPU cores.
    #[arg(long, env = "TOLLGATE_TOKENIZER_CONCURRENCY")]
    pub tokenizer_concurrency: Option<usize>,

    /// Load the tokenizer's vocabulary at start instead of on first use. It holds about 58 MB
    /// and a call only needs it when its upstream reports no usage (or for `count_tokens` and
    /// estimates); loading it takes about 0.2 s, off the async runtime either way.
    #[arg(long, env = "TOLLGATE_TOKENIZER_PRELOAD", default_value_t = false)]
    pub tokenizer_preload: bool,
}

impl Settings {
    /// Defaults for a database URL, ignoring the environment (for tests and tools).
    pub fn with_database(database_url: &str) -> Self {
        Settings {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            database_url: database_url.to_string(),
            admin_token: None,
            seeds_dir: PathBuf::from("seeds"),
            max_body_bytes: 20 * 1024 * 1024,
            public_url: None,
            shutdown_grace_secs: 30,
            upstream_connect_timeout_ms: 10_000,
            upstream_first_byte_timeout_ms: 60_000,
            upstream_total_timeout_ms: 600_000,
            global_budget: None,
            budget_tz: "UTC".into(),
            free_tier_usd: "0".into(),
            low_balance_usd: "1.00".into(),
            alert_webhook_url: None,
            webhook_secret: String::new(),
            alert_poll_ms: 1000,
            instance_lease_secs: 10,
            budget_lease_calls: 0,
            catalog_sync_url: None,
            metrics_token: None,
            log_format: "text".into(),
            otlp_endpoint: None,
            catalog_sync_format: "litellm".into(),
            catalog_sync_interval_secs: 86_400,
            log: "info".into(),
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            body_read_timeout_ms: 30_000,
            max_connections: None,
            body_key_max_bytes: 64 * 1024,
            count_tokens_max_bytes: 4 * 1024 * 1024,
            tokenizer_concurrency: None,
            tokenizer_preload: false,
        }
    }

    /// The connection limit: the configured one, else half the open-file limit, at most
    /// 10,000.
    pub fn effective_max_connections(&self) -> usize {
        match self.max_connections {
            Some(n) => n.max(1),
            None => open_file_limit()
                .map_or(512, |n| (n.saturating_sub(64) / 2) as usize)
                .clamp(32, 10_000),
        }
    }

    /// How many tokenizations run at once.
    pub fn effective_tokenizer_concurrency(&self) -> usize {
        self.tokenizer_concurrency
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
            })
            .max(1)
    }
}

/// The soft limit on open files (`RLIMIT_NOFILE`), read from `/proc/self/limits` on Linux.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    match line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
    {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

impl Settings {
    /// The scheduled catalog sync, when `TOLLGATE_CATALOG_SYNC_URL` is set.
    pub fn catalog_sync(
        &self,
    ) -> anyhow::Result<Option<crate::catalog::import::sync::SyncSettings>> {
        let Some(url) = self.catalog_sync_url.clone().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let format =
            crate::catalog::import::Format::parse(&self.catalog_sync_format).ok_or_else(|| {
                anyhow::anyhow!(
                    "TOLLGATE_CATALOG_SYNC_FORMAT: expected litellm or openrouter, not {}",
                    self.catalog_sync_format
                )
            })?;
        if self.catalog_sync_interval_secs == 0 {
            anyhow::bail!("TOLLGATE_CATALOG_SYNC_INTERVAL_SECS must be at least 1");
        }
        Ok(Some(crate::catalog::import::sync::SyncSettings {
            url,
            format,
            interval: std::time::Duration::from_secs(self.catalog_sync_interval_secs),
        }))
    }

    /// The budget settings these flags describe.
    pub fn budget_settings(&self) -> anyhow::Result<crate::budgets::BudgetSettings> {
        use std::str::FromStr;
        let usd = |name: &str, v: &str| -> anyhow::Result<i64> {
            let d =
                rust_decimal::Decimal::from_str(v).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            crate::money::to_picos(d).ok_or_else(|| anyhow::anyhow!("{name}: not an amount of USD"))
        };
        let global: Option<crate::budgets::Budget> = match &self.global_budget {
            Some(json) => Some(
                serde_json::from_str(json)
                    .map_err(|e| anyhow::anyhow!("TOLLGATE_GLOBAL_BUDGET: {e}"))?,
            ),
            None => None,
        };
        if let Some(b) = &global {
            b.validate("global_budget")
                .map_err(|e| anyhow::anyhow!("TOLLGATE_GLOBAL_BUDGET: {}", e.message))?;
        }
        Ok(crate::budgets::BudgetSettings {
            global,
            tz: chrono_tz::Tz::from_str(&self.budget_tz).map_err(|_| {
                anyhow::anyhow!("TOLLGATE_BUDGET_TZ: unknown time zone {}", self.budget_tz)
            })?,
            free_tier_picos: usd("TOLLGATE_FREE_TIER_USD", &self.free_tier_usd)?,
            low_balance_picos: usd("TOLLGATE_LOW_BALANCE_USD", &self.low_balance_usd)?,
            webhook_url: self.alert_webhook_url.clone(),
            webhook_secret: self.webhook_secret.clone(),
        })
    }
}
