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

    /// Log filter (tracing-subscriber EnvFilter syntax), e.g. `info` or `tollgate=debug`.
    #[arg(long, env = "TOLLGATE_LOG", default_value = "info")]
    pub log: String,
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
            log: "info".into(),
        }
    }
}
