//! Every SQL statement of Tollgate lives under this module.
//!
//! One store, a backend per database: [`Pool`] is an enum of a SQLite and a PostgreSQL pool,
//! and a statement whose SQL is the same on both is written once and compiled for each
//! ([`on_pool!`]: static dispatch, no trait objects). The SQL is kept portable where it can be:
//! `$n` placeholders, no engine-specific functions, times as integer milliseconds, money as
//! integer picodollars (sums cast back to `BIGINT`, which PostgreSQL would widen to
//! `NUMERIC`), JSON documents as TEXT. Statements that must differ (SQLite's write-lock
//! scripts, PostgreSQL's row locks) are written per backend.
//!
//! The PostgreSQL backend is being built store file by store file: a statement not yet written
//! for it reaches the SQLite pool through [`Store::sqlite`], which answers
//! [`StoreError::Unsupported`] on PostgreSQL.

mod batch;
pub mod budgets;
mod catalog;
pub mod copy;
mod holds;
pub mod instances;
pub mod keys;
mod pg_ledger;
mod pg_reserve;
mod pg_settle;
pub mod ratelimits;
pub mod reports;
pub mod reserve_many;
mod shared;
mod teams;
mod tx;
mod usage;

pub use usage::LedgerConnection;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};

/// What can go wrong in the store, in terms the API can map to statuses.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A well-formed request that breaks a rule of the data (an unknown reference, a price
    /// version dated before the latest one).
    #[error("{message}")]
    Unprocessable { field: String, message: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A feature the PostgreSQL backend does not have yet.
    #[error("not yet supported on PostgreSQL: {0}")]
    Unsupported(&'static str),
}

impl StoreError {
    fn unprocessable(field: &str, message: impl Into<String>) -> Self {
        StoreError::Unprocessable {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The connection pool of one backend.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever backend it is: the same
/// statement, compiled once per backend.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
#[allow(unused_imports)] // used by the store files as they gain their PostgreSQL statements
pub(crate) use on_pool;

/// True when `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The database behind Tollgate.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// This process's instance id: the call starts and reservations it writes carry it, so
    /// crash recovery on a shared database touches only what a dead instance left.
    instance: std::sync::Arc<str>,
    /// SQLite: the reservations of this process's calls in flight (see [`holds`]).
    holds: std::sync::Arc<holds::Holds>,
}

fn new_instance_id() -> std::sync::Arc<str> {
    format!("inst_{}", uuid::Uuid::now_v7().simple()).into()
}

impl Store {
    /// Opens the database at `url` and runs pending migrations: PostgreSQL for a
    /// `postgres://` or `postgresql://` URL, else SQLite (the file created if missing).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if is_postgres_url(url) {
            return Self::connect_postgres(url).await;
        }
        Self::connect_sqlite(url).await
    }

    /// PostgreSQL, with `synchronous_commit` as the server has it (on by default): a commit
    /// that returned is on disk, so the metering promise holds as on SQLite.
    async fn connect_postgres(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Store {
            pool: Pool::Postgres(pool),
            instance: new_instance_id(),
            holds: Default::default(),
        })
    }

    /// WAL with `synchronous=NORMAL` makes every committed transaction survive a killed
    /// process (not a power cut), which is the durability the metering path promises.
    async fn connect_sqlite(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Reads map the file instead of copying each page into every connection's cache:
            // reports and audit pages over a large ledger read many pages, on several
            // connections at once. (Address space only; the OS page cache is shared.)
            .pragma("mmap_size", "1073741824")
            .busy_timeout(Duration::from_secs(10))
            .log_statements(log::LevelFilter::Off)
            // Off: the metering writer's batch scripts are long, and a slow one would be logged whole.
            .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(1));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Store {
            pool: Pool::Sqlite(pool),
            instance: new_instance_id(),
            holds: Default::default(),
        })
    }

    /// Claims a SQLite database file for this process: an exclusive lock on `<file>-tollgate.lock`
    /// beside it, held as long as the returned file is open (the OS drops it when the process
    /// dies, even by `kill -9`). One process owns a SQLite database — its budget reservations
    /// live in that process's memory ([`holds`]), its start closes out what was in flight —, so
    /// a second server on the same file is refused instead of letting budgets be passed.
    /// `None` for PostgreSQL and in-memory databases.
    pub fn claim_sqlite_file(&self) -> Result<Option<std::fs::File>, StoreError> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Ok(None);
        };
        let db = pool.connect_options().get_filename().to_path_buf();
        if db.as_os_str().is_empty() || db.to_string_lossy().contains(":memory:") {
            return Ok(None);
        }
        let mut name = db.clone().into_os_string();
        name.push("-tollgate.lock");
        let io =
            |e: std::io::Error| StoreError::Conflict(format!("cannot lock {}: {e}", db.display()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&name)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Conflict(format!(
                "another Tollgate server is using {}: a SQLite database belongs to one process \
                 (use PostgreSQL to run several replicas on one database)",
                db.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// This process's instance id.
    pub fn instance_id(&self) -> &str {
        &self.instance
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite pool, for statements that exist only for SQLite so far.
    pub(crate) fn sqlite(&self) -> Result<&SqlitePool, StoreError> {
        match &self.pool {
            Pool::Sqlite(p) => Ok(p),
            Pool::Postgres(_) => Err(StoreError::Unsupported(
                "this operation is not yet written for PostgreSQL",
            )),
        }
    }

    /// Opens an existing Tollgate database for a read-only command (`tollgate spend`, `tollgate
    /// usage export`): never creates a file, never migrates, never changes the journal mode.
    /// A missing file, a file that is not a Tollgate database, or one whose schema is older
    /// than this build is an error that says so.
    pub async fn open_existing(url: &str) -> Result<Self, StoreError> {
        if is_postgres_url(url) {
            return Self::open_existing_postgres(url).await;
        }
        let refuse = |message: String| StoreError::Unprocessable {
            field: "database_url".into(),
            message,
        };
        let options = SqliteConnectOptions::from_str(url)?;
        let file = options.get_filename().to_path_buf();
        if file.as_os_str() != ":memory:" && !file.is_file() {
            return Err(refuse(format!(
                "database file '{}' does not exist (check --database-url or TOLLGATE_DATABASE_URL; \
                 read-only commands never create one)",
                file.display()
            )));
        }
        let options = options
            .create_if_missing(false)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .log_statements(log::LevelFilter::Off);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        let not_tollgate = || {
            refuse(format!(
                "'{}' is not a Tollgate database (no migration history)",
                file.display()
            ))
        };
        let (tables,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&pool)
        .await
        .map_err(|_| not_tollgate())?;
        if tables == 0 {
            pool.close().await;
            return Err(not_tollgate());
        }
        let (applied,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await?;
        let latest = sqlx::migrate!("./migrations/sqlite")
            .iter()
            .map(|m| m.version)
            .max();
        if applied < latest {
            pool.close().await;
            return Err(refuse(format!(
                "the schema of '{}' is older than this tollgate; run `tollgate serve` on it once to migrate it",
                file.display()
            )));
        }
        Ok(Store {
            pool: Pool::Sqlite(pool),
            instance: new_instance_id(),
            holds: Default::default(),
        })
    }

    /// [`Store::open_existing`] on PostgreSQL: the database must exist and be migrated.
    async fn open_existing_postgres(url: &str) -> Result<Self, StoreError> {
        let refuse = |message: String| StoreError::Unprocessable {
            field: "database_url".into(),
            message,
        };
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(url)
            .await
            .map_err(|e| refuse(format!("cannot open the PostgreSQL database: {e}")))?;
        let (applied,): (Option<i64>,) = sqlx::query_as(
            "SELECT CASE WHEN to_regclass('_sqlx_migrations') IS NULL THEN NULL \
             ELSE (SELECT MAX(version) FROM _sqlx_migrations WHERE success) END",
        )
        .fetch_one(&pool)
        .await?;
        let latest = sqlx::migrate!("./migrations/postgres")
            .iter()
            .map(|m| m.version)
            .max();
        match applied {
            None => Err(refuse(
                "this PostgreSQL database is not a Tollgate database (no migration history)".into(),
            )),
            Some(v) if Some(v) < latest => Err(refuse(
                "the schema of this PostgreSQL database is older than this tollgate; run `tollgate serve` on it once to migrate it".into(),
            )),
            Some(_) => Ok(Store {
                pool: Pool::Postgres(pool),
                instance: new_instance_id(),
            holds: Default::default(),
            }),
        }
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes SQLite's write lock up front, so a
    /// transaction that reads before it writes (a conditional reservation, an append after a
    /// check) waits its turn instead of failing to upgrade while another writer holds the lock.
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.sqlite()?.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Copies committed WAL frames into the database file without waiting for readers or
    /// writers (`PASSIVE`), so the WAL stays short although the metering writer never
    /// checkpoints; see [`LedgerConnection`]. Returns the WAL frames (pages) still to copy.
    /// PostgreSQL checkpoints by itself: 0.
    pub async fn checkpoint(&self) -> Result<i64, StoreError> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Ok(0);
        };
        let (_busy, log, copied): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(pool)
                .await?;
        Ok(log - copied)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// The migrations this build has that the database has not applied (readiness: a
    /// database behind the code would fail its statements).
    pub async fn migrations_pending(&self) -> Result<usize, StoreError> {
        let applied: Vec<(i64,)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT version FROM _sqlx_migrations WHERE success"
        )
        .fetch_all(pool)
        .await)?;
        let applied: std::collections::HashSet<i64> = applied.into_iter().map(|(v,)| v).collect();
        let known: Vec<i64> = match &self.pool {
            Pool::Sqlite(_) => sqlx::migrate!("./migrations/sqlite")
                .iter()
                .map(|m| m.version)
                .collect(),
            Pool::Postgres(_) => sqlx::migrate!("./migrations/postgres")
                .iter()
                .map(|m| m.version)
                .collect(),
        };
        Ok(known.iter().filter(|v| !applied.contains(v)).count())
    }

    /// Closes every connection, waiting for those in use.
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await);
    }
}

pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("bad timestamp {ms}")))
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("catalog values serialize")
}
